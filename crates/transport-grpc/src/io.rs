//! Byte streams over gRPC message streams: the kit reads and writes bytes, the RPC carries
//! [`Chunk`]s.
//!
//! - [`chunk_reader`]: the bytes of the incoming chunks, in order. A stream that ends with an
//!   OK status is EOF; a reset, a broken connection or an error status is a read error, so
//!   the kit sees the link go down either way.
//! - [`ChunkWriter`]: every write becomes one chunk (at most [`MAX_CHUNK`] bytes) in a
//!   bounded queue that the outgoing message stream drains; when the queue is full the write
//!   waits (HTTP/2 flow control reaches back to the kit's send queue). Dropping or shutting
//!   down the writer ends the outgoing stream.

use crate::pb::Chunk;
use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_util::io::StreamReader;
use tokio_util::sync::PollSender;
use tonic::{Status, Streaming};
use zk_transport::streams::BoxReader;

/// The largest chunk a write produces: well under gRPC's default 4 MiB message limit, large
/// enough that a batch of frames costs few messages.
pub(crate) const MAX_CHUNK: usize = 256 * 1024;

/// How many chunks may wait for the outgoing stream (at most 2 MiB per link): bounded, so a
/// stalled peer pushes back on the link's send queue instead of growing memory.
pub(crate) const QUEUED_CHUNKS: usize = 8;

/// The bytes of an incoming message stream.
pub(crate) fn chunk_reader(stream: Streaming<Chunk>) -> BoxReader {
    Box::new(StreamReader::new(stream.map(|r| match r {
        Ok(chunk) => Ok(chunk.data),
        Err(status) => Err(status_to_io(&status)),
    })))
}

/// A stream's error status as a read error, with its cause.
fn status_to_io(status: &Status) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("stream failed: {}", describe_status(status)),
    )
}

/// A status, its code and the chain of its causes, for a log line.
pub(crate) fn describe_status(status: &Status) -> String {
    let mut out = format!("{:?}", status.code());
    if !status.message().is_empty() {
        out.push_str(": ");
        out.push_str(status.message());
    }
    append_sources(&mut out, std::error::Error::source(status));
    out
}

/// An error and the chain of its causes, skipping repeats (wrappers often print their cause).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    append_sources(&mut out, e.source());
    out
}

fn append_sources(out: &mut String, mut next: Option<&(dyn std::error::Error + 'static)>) {
    while let Some(e) = next {
        let s = e.to_string();
        if !s.is_empty() && !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        next = e.source();
    }
}

/// The write half of a stream: chunks into the bounded queue of an outgoing message stream.
/// `wrap` turns a chunk into the queue's item (the server's response stream carries
/// `Result<Chunk, Status>`, the client's request stream plain chunks).
pub(crate) struct ChunkWriter<T: Send + 'static> {
    tx: PollSender<T>,
    wrap: fn(Chunk) -> T,
}

impl<T: Send + 'static> ChunkWriter<T> {
    /// A writer feeding `tx`.
    pub(crate) fn new(tx: mpsc::Sender<T>, wrap: fn(Chunk) -> T) -> Self {
        Self {
            tx: PollSender::new(tx),
            wrap,
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the stream to the peer is closed",
    )
}

impl<T: Send + 'static> AsyncWrite for ChunkWriter<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(self.tx.poll_reserve(cx)).map_err(|_| closed())?;
        let n = buf.len().min(MAX_CHUNK);
        let item = (self.wrap)(Chunk {
            data: Bytes::copy_from_slice(&buf[..n]),
        });
        self.tx.send_item(item).map_err(|_| closed())?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Queued chunks go out as soon as HTTP/2 flow control lets them: nothing is held back.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Dropping the only sender ends the outgoing stream once the queue drains.
        self.tx.close();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio_stream::wrappers::ReceiverStream;

    #[tokio::test]
    async fn writes_become_bounded_chunks_and_shutdown_ends_the_stream() {
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let mut w = ChunkWriter::new(tx, |c| c);
        let big = vec![7u8; MAX_CHUNK + 10];
        let reader = tokio::spawn(async move {
            ReceiverStream::new(rx)
                .map(|c| c.data.len())
                .collect::<Vec<_>>()
                .await
        });
        w.write_all(b"hello").await.unwrap();
        w.write_all(&big).await.unwrap();
        w.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap(), vec![5, MAX_CHUNK, 10]);
        assert_eq!(
            w.write(b"late").await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }

    #[tokio::test]
    async fn a_dropped_receiver_is_a_broken_pipe() {
        let (tx, rx) = mpsc::channel(1);
        let mut w = ChunkWriter::new(tx, Ok::<Chunk, Status>);
        drop(rx);
        assert_eq!(
            w.write(b"x").await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
