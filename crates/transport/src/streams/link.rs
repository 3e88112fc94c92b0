//! One link incarnation: its send queue, its writer (queue to socket) and its reader (socket
//! to the node's inbound events).
//!
//! Frames on the wire are `int32 length` (big-endian) + payload, length in `0..=max_frame`.

use super::{BoxReader, BoxWriter};
use crate::queue::LinkQueue;
use crate::{ChannelSpec, DownReason, LinkEvent, LinkId};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames at least this large are written straight from their buffer, not copied.
const DIRECT_WRITE: usize = 16 * 1024;
/// A batch buffer is written out once it holds this much.
const BATCH_BYTES: usize = 256 * 1024;
/// Frames up to this size are copied out of the read buffer rather than sharing it.
const COPY_BELOW: usize = 4 * 1024;
/// How much the reader asks the socket for at a time (at least).
const READ_CHUNK: usize = 64 * 1024;

/// The shared state of one incarnation.
#[derive(Debug)]
pub(super) struct Link {
    /// Which incarnation this is.
    pub(super) id: LinkId,
    /// Frames waiting for the writer.
    pub(super) queue: LinkQueue,
    /// The largest frame sent or accepted.
    pub(super) max_frame: usize,
    /// Cancelled to end the incarnation (a child of the node's shutdown token).
    stop: CancellationToken,
    /// Why it ended: the first reason given wins.
    reason: Mutex<Option<DownReason>>,
    /// Cancelled once the reader has pushed its last event (its `Down`, or nothing if its
    /// `Up` was never delivered).
    pub(super) finished: CancellationToken,
    /// When it was installed.
    pub(super) since: Instant,
}

impl Link {
    pub(super) fn new(id: LinkId, spec: ChannelSpec, stop: CancellationToken) -> Self {
        Self {
            id,
            queue: LinkQueue::new(spec),
            max_frame: spec.max_frame,
            stop,
            reason: Mutex::new(None),
            finished: CancellationToken::new(),
            since: Instant::now(),
        }
    }

    fn reason_slot(&self) -> MutexGuard<'_, Option<DownReason>> {
        self.reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// End this incarnation for `reason` (unless it already ended for another one): the
    /// queue is closed, the writer and reader stop.
    pub(super) fn kill(&self, reason: DownReason) {
        self.reason_slot().get_or_insert(reason);
        self.queue.close();
        self.stop.cancel();
    }

    /// Why it ended (`Shutdown` when only the node's shutdown stopped it).
    pub(super) fn down_reason(&self) -> DownReason {
        self.reason_slot().clone().unwrap_or(DownReason::Shutdown)
    }

    /// Resolves once the incarnation was told to stop.
    pub(super) async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    /// Whether the incarnation was told to stop.
    pub(super) fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }
}

/// Pop frames from the link's queue and write them, batching what is queued into one write.
/// Ends (dropping the write half, which sends FIN) when the queue closes or a write fails.
pub(super) async fn writer(link: &Link, mut wr: BoxWriter) {
    let mut out = BytesMut::with_capacity(BATCH_BYTES);
    while let Some(first) = link.queue.pop().await {
        let batch = std::iter::once(first).chain(link.queue.drain_now());
        let mut result = Ok(());
        for frame in batch {
            // `try_send` refused frames over `max_frame`, and `start` capped it at i32::MAX.
            out.put_u32(frame.len() as u32);
            if frame.len() >= DIRECT_WRITE {
                result = write(link, &mut wr, &out).await;
                out.clear();
                if result.is_ok() {
                    result = write(link, &mut wr, &frame).await;
                }
            } else {
                out.extend_from_slice(&frame);
                if out.len() >= BATCH_BYTES {
                    result = write(link, &mut wr, &out).await;
                    out.clear();
                }
            }
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() && !out.is_empty() {
            result = write(link, &mut wr, &out).await;
        }
        out.clear();
        if result.is_ok() {
            // Buffered writers (TLS, QUIC) must not hold a batch back.
            result = flush(link, &mut wr).await;
        }
        match result {
            Ok(()) => {}
            Err(Some(e)) => {
                tracing::debug!(link = %link.id, "write failed: {e}");
                link.kill(DownReason::Reset);
                return;
            }
            Err(None) => return,
        }
    }
}

/// Write all of `buf` unless the link stops first (`Err(None)`).
async fn write(link: &Link, wr: &mut BoxWriter, buf: &[u8]) -> Result<(), Option<std::io::Error>> {
    if buf.is_empty() {
        return Ok(());
    }
    tokio::select! {
        biased;
        () = link.stopped() => Err(None),
        r = wr.write_all(buf) => r.map_err(Some),
    }
}

/// Flush the writer unless the link stops first (`Err(None)`).
async fn flush(link: &Link, wr: &mut BoxWriter) -> Result<(), Option<std::io::Error>> {
    tokio::select! {
        biased;
        () = link.stopped() => Err(None),
        r = wr.flush() => r.map_err(Some),
    }
}

/// Read frames until the link stops, the peer closes, or the framing breaks; push each as a
/// `Frame` event (waiting for room in the inbound queue, which stops reading the socket and so
/// pushes back on the sender). Ends the link with the reason it found.
pub(super) async fn reader(link: &Link, mut rd: BoxReader, events: &mpsc::Sender<LinkEvent>) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        // Deliver every whole frame already buffered.
        while buf.len() >= 4 {
            let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            let n = match usize::try_from(len) {
                Ok(n) if n <= link.max_frame => n,
                Ok(n) => {
                    let why = format!(
                        "frame of {n} bytes exceeds the {}-byte limit of the {:?} channel",
                        link.max_frame, link.id.channel
                    );
                    tracing::warn!(link = %link.id, "closing link: {why}");
                    link.kill(DownReason::Protocol(why));
                    return;
                }
                Err(_) => {
                    let why = format!("invalid frame length {len}");
                    tracing::warn!(link = %link.id, "closing link: {why}");
                    link.kill(DownReason::Protocol(why));
                    return;
                }
            };
            if buf.len() < 4 + n {
                buf.reserve(4 + n - buf.len());
                break;
            }
            buf.advance(4);
            // Small frames get their own allocation, so a frame the application keeps does not
            // pin a whole read buffer.
            let frame = if n <= COPY_BELOW {
                let f = Bytes::copy_from_slice(&buf[..n]);
                buf.advance(n);
                f
            } else {
                buf.split_to(n).freeze()
            };
            let ev = LinkEvent::Frame {
                link: link.id,
                frame,
            };
            tokio::select! {
                biased;
                () = link.stopped() => return,
                r = events.send(ev) => if r.is_err() {
                    link.kill(DownReason::Shutdown);
                    return;
                },
            }
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            biased;
            () = link.stopped() => return,
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) => {
                    if !buf.is_empty() {
                        tracing::debug!(link = %link.id, "peer closed mid-frame ({} bytes pending)", buf.len());
                    }
                    link.kill(DownReason::Closed);
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(link = %link.id, "read failed: {e}");
                    link.kill(DownReason::Reset);
                    return;
                }
            },
        }
    }
}
