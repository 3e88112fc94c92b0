//! A kit for connection-oriented backends (TCP, TCP+TLS, QUIC, gRPC): everything above "give
//! me an authenticated byte stream to peer P for channel C".
//!
//! A backend implements [`Connector`] (dial and announce this node) and hands every stream it
//! accepts, once it has authenticated the remote id, to [`StreamHandle::accepted`]. The kit
//! keeps the rest of the [`Transport`](crate::Transport) contract, the same for every backend:
//!
//! - **One link per pair and channel; the larger id's stream survives.** The larger side
//!   dials for real. The smaller side, when it wants a link, dials only to *prompt* (it opens
//!   a stream with [`Purpose::Prompt`] and drops it) and the larger side dials back, as in
//!   ZooKeeper's `QuorumCnxManager.connectOne`. An accepted stream from a larger id
//!   supersedes the current link.
//! - **Maintainers.** A wanted link is re-dialed with capped exponential backoff and seeded
//!   jitter; every stream is a new incarnation.
//! - **Frames**: `int32` big-endian length in `0..=max_frame`, then the payload; the writer
//!   batches what is queued into one write, the reader pushes back through the bounded
//!   inbound queue.

mod dial;
mod link;
mod node;

pub use node::{StreamHandle, StreamInbound, StreamTransport};

use crate::{Authn, Channel, ChannelSpecs, PeerId};
use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};

/// The read half of an established stream.
pub type BoxReader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of an established stream.
pub type BoxWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// Why a stream is opened.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To carry a link (this node has the larger id, or it answers a prompt).
    Link,
    /// To prompt a larger id to dial back; the stream is dropped right after it opens.
    Prompt,
}

/// An established, authenticated stream.
pub struct Opened {
    /// Bytes from the peer.
    pub reader: BoxReader,
    /// Bytes to the peer.
    pub writer: BoxWriter,
    /// The remote end, for logs (an address, or a connection name).
    pub remote: String,
    /// How the remote id was established.
    pub authn: Authn,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("remote", &self.remote)
            .field("authn", &self.authn)
            .finish_non_exhaustive()
    }
}

/// How a backend reaches its peers: open a stream and announce this node on it.
pub trait Connector: Send + Sync + 'static {
    /// Open a stream to `peer` for `channel` and announce this node on it (with whatever
    /// handshake the backend speaks). The kit bounds the attempt by
    /// [`StreamConfig::connect_timeout`]. The error says why, for the log.
    fn open(
        &self,
        peer: PeerId,
        channel: Channel,
        purpose: Purpose,
    ) -> impl Future<Output = Result<Opened, String>> + Send;
}

/// Reconnect pacing: capped exponential backoff with seeded jitter.
///
/// The first attempt after a link is wanted or lost waits `initial` (with jitter), every
/// failure doubles the wait up to `max`; a link that stayed up for at least `max` resets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait. Default 50 ms.
    pub initial: Duration,
    /// The largest wait. Default 2 s.
    pub max: Duration,
    /// Seed of the jitter generator (each wait is drawn from 50–100 % of its nominal value).
    /// Default: derived from the node id, so runs replay.
    pub seed: Option<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(2),
            seed: None,
        }
    }
}

/// What the kit needs to know about a node.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// This node's id.
    pub me: PeerId,
    /// Every other server this node may link with.
    pub peers: BTreeSet<PeerId>,
    /// Queue and frame policy per channel.
    pub channels: ChannelSpecs,
    /// Reconnect pacing.
    pub backoff: Backoff,
    /// How long one [`Connector::open`] may take.
    pub connect_timeout: Duration,
    /// Capacity of the node's inbound event queue; when full, link readers stop reading and
    /// flow control pushes back on the senders.
    pub inbound_capacity: usize,
    /// The name of the backend in the node's tracing span (`tcp`, `quic`, ...).
    pub span_name: &'static str,
    /// Where the backend's listeners are bound, election channel then quorum channel (the
    /// same address twice for backends with one listener); see
    /// [`StreamTransport::local_addr`].
    pub local_addrs: [std::net::SocketAddr; 2],
}

/// Resolve `spec` (`host:port`) and bind a TCP listener on the first address that works (on
/// the unspecified address of its family and its port when `all_ips`), with `SO_REUSEADDR` (a
/// restarted node binds again at once) and keepalive (accepted sockets inherit it).
pub async fn bind_tcp(spec: &str, all_ips: bool) -> std::io::Result<TcpListener> {
    let mut last = None;
    for mut addr in tokio::net::lookup_host(spec).await? {
        if all_ips {
            let any = if addr.is_ipv4() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            };
            addr.set_ip(any);
        }
        let attempt = (|| {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            socket.set_keepalive(true)?;
            socket.bind(addr)?;
            socket.listen(1024)
        })();
        match attempt {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{spec} resolved to no address"),
        )
    }))
}
