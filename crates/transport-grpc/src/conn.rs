//! An accepted connection after its TLS handshake, as tonic serves it: the TLS stream plus
//! what the RPC handler needs to know about it (the remote address and the client's verified
//! certificate chain), and a switch that ends it when a graceful shutdown takes too long.

use rustls_pki_types::CertificateDer;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;

/// What the handler of a request learns about its connection (a request extension).
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    /// The remote end.
    pub(crate) remote: SocketAddr,
    /// The client's certificate chain, leaf first, verified against the trust store during
    /// the handshake.
    pub(crate) certs: Arc<[CertificateDer<'static>]>,
}

/// A TLS connection handed to tonic.
pub(crate) struct TlsConn {
    inner: TlsStream<TcpStream>,
    info: ConnInfo,
    /// Resolves when the node gives up waiting for its connections to close.
    abort: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl TlsConn {
    /// Wrap a completed handshake; `abort` ends the connection when cancelled.
    pub(crate) fn new(
        inner: TlsStream<TcpStream>,
        remote: SocketAddr,
        abort: CancellationToken,
    ) -> Self {
        let certs = inner
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        Self {
            inner,
            info: ConnInfo { remote, certs },
            abort: Box::pin(abort.cancelled_owned()),
        }
    }

    /// An error once the node aborts its connections (registering the waker otherwise, so
    /// an idle connection wakes up to fail).
    fn aborted(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.abort.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the node is shutting down",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl Connected for TlsConn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.aborted(cx)?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.aborted(cx)?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.aborted(cx)?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.aborted(cx)?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
