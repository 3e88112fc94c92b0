//! The peer transport of zk-rs.
//!
//! Fast Leader Election and ZAB talk to their peers through this crate and care about nothing
//! below it: no sockets, no certificates. A backend (in-memory here; TCP, QUIC and gRPC in
//! their own crates) gives every node two halves:
//!
//! - a [`Transport`] to send with: cheap to clone, never blocking;
//! - an [`Inbound`] stream of [`LinkEvent`]s: `Up`, then the frames of that link in send
//!   order, then `Down`.
//!
//! # The contract every backend keeps
//!
//! - **Authenticated ids.** The [`PeerId`] in every [`LinkId`] was established by the backend
//!   (a handshake checked against the peer list, or a certificate), never taken on trust from
//!   a frame.
//! - **Two channels**, [`Channel::Election`] and [`Channel::Quorum`], each an independent
//!   link per peer: FIFO, reliable and whole-framed *within one incarnation*.
//! - **Incarnations.** A link that breaks is never silently resumed. Its replacement gets a
//!   larger [`LinkId::incarnation`]; frames sent on the old one may be lost, and sending on it
//!   fails with [`SendError::NotUp`]. ZAB treats that as a lost session.
//! - **One link per pair and channel.** Of two simultaneous connections the one opened by the
//!   larger id survives, as in ZooKeeper's `QuorumCnxManager`.
//! - **Bounded queues.** Each link has its own send queue of [`ChannelSpec::queue_frames`];
//!   a slow peer fills only its own queue ([`SendError::Full`], or the oldest frame is dropped
//!   on latest-wins channels) and never blocks the others.
//! - **Clean shutdown.** [`Transport::shutdown`] closes every link (peers see `Down`) and ends
//!   the [`Inbound`] stream.
//!
//! The [`mem`] backend runs in-process; [`fault::Faulty`] wraps any backend with seeded loss,
//! delay, duplication and partitions; the `testing` feature ships `testing::suite`, the
//! conformance suite each backend runs in one line.
//!
//! ```
//! use zk_transport::{mem::MemNetwork, Channel, ChannelSpecs, Inbound, LinkEvent, PeerId, Transport};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let net = MemNetwork::new();
//! let (tx1, _rx1) = net.start(PeerId(1), ChannelSpecs::default());
//! let (_tx2, mut rx2) = net.start(PeerId(2), ChannelSpecs::default());
//! tx1.connect(PeerId(2), Channel::Election);
//! // Node 2 learns of the link, with node 1's id established by the backend.
//! let Some(LinkEvent::Up { link, .. }) = rx2.next().await else { unreachable!() };
//! assert_eq!(link.peer, PeerId(1));
//! # }
//! ```

mod error;
pub mod fault;
pub mod links;
pub mod mem;
pub mod queue;
pub mod rng;
mod spec;
#[cfg(feature = "streams")]
pub mod streams;
#[cfg(feature = "testing")]
pub mod testing;
mod vocab;

pub use error::{SendError, StartError};
pub use spec::{ChannelSpec, ChannelSpecs, OnFull};
pub use vocab::{Authn, Channel, DownReason, LinkEvent, LinkId, PeerId};

use bytes::Bytes;
use std::future::Future;

/// The sending half of a node's transport: cheap to clone, never blocks.
pub trait Transport: Clone + Send + Sync + 'static {
    /// This node's id.
    fn local_id(&self) -> PeerId;

    /// Keep a link to `peer` on `channel` wanted: dial, retry with capped backoff after every
    /// failure or break, and resolve simultaneous opens. Idempotent. Each link that comes up
    /// is announced as [`LinkEvent::Up`] on the [`Inbound`] half.
    fn connect(&self, peer: PeerId, channel: Channel);

    /// Queue one frame on exactly this incarnation.
    fn try_send(&self, link: LinkId, frame: Bytes) -> Result<(), SendError>;

    /// Resolves when `link` can take one more frame.
    fn ready(&self, link: LinkId) -> impl Future<Output = Result<(), SendError>> + Send;

    /// Close this incarnation (for example after a protocol violation). Both ends see
    /// [`LinkEvent::Down`]; if the link is still wanted a new incarnation follows.
    fn close(&self, link: LinkId, reason: DownReason);

    /// Close every link, stop dialing and listening, and end the [`Inbound`] stream.
    /// Resolves once the node's sockets are released, so it can be started again at once.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}

/// The receiving half: one ordered stream of events for this node.
pub trait Inbound: Send + 'static {
    /// The next event; `None` after shutdown.
    fn next(&mut self) -> impl Future<Output = Option<LinkEvent>> + Send;
}
