//! The classic TCP peer transport of zk-rs, wire-compatible in its handshake with ZooKeeper's
//! `QuorumCnxManager`.
//!
//! - One TCP connection per peer pair and channel; each channel has its own listener (the
//!   election port, ZooKeeper's 3888, and the quorum port, 2888).
//! - Every connection starts with ZooKeeper's handshake from the initiator: `int64` protocol
//!   version (`-65536`), `int64` sender id, `int32` address length (1..=2048), the sender's
//!   UTF-8 `host:port`. The declared id is checked against the peer table
//!   ([`Authn::Declared`](zk_transport::Authn::Declared)).
//! - Then frames: `int32` big-endian length in `0..=max_frame` of the channel, then the payload.
//! - Of two connections between a pair the one opened by the **larger id** survives. A smaller
//!   id that wants a link dials only to prompt: it sends its handshake and closes, and the
//!   larger side dials back.
//! - A wanted link is re-dialed with capped exponential backoff and seeded jitter; every new
//!   connection is a new incarnation.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use zk_transport::{Channel, Inbound, LinkEvent, PeerId, Transport};
//! use zk_transport_tcp::{PeerAddrs, TcpBackend, TcpConfig};
//!
//! # async fn run() -> Result<(), zk_transport::StartError> {
//! let peers = BTreeMap::from([
//!     (PeerId(1), PeerAddrs::new("127.0.0.1:3888", "127.0.0.1:2888")),
//!     (PeerId(2), PeerAddrs::new("127.0.0.1:3889", "127.0.0.1:2889")),
//! ]);
//! let (tx, mut rx) = TcpBackend::start(TcpConfig::new(PeerId(1), peers)).await?;
//! tx.connect(PeerId(2), Channel::Election);
//! while let Some(ev) = rx.next().await {
//!     if let LinkEvent::Up { link, .. } = ev {
//!         tx.try_send(link, bytes::Bytes::from_static(b"hello")).ok();
//!     }
//! }
//! # Ok(()) }
//! ```

mod accept;
mod config;
mod connector;
mod handshake;
mod tls;

pub use config::{PeerAddrs, TcpConfig};
pub use zk_transport::streams::Backoff;

pub use connector::TcpConnector;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::TcpListener;
use zk_transport::streams::{StreamConfig, StreamHandle, StreamInbound, StreamTransport, bind_tcp};
use zk_transport::{Channel, StartError};

/// The TCP backend: turns a [`TcpConfig`] into a running node.
#[derive(Debug, Clone, Copy)]
pub struct TcpBackend;

impl TcpBackend {
    /// Bind both listeners and start serving. Must run inside a tokio runtime (with the
    /// `time` and `net` drivers enabled).
    ///
    /// Fails with [`StartError::Config`] when this node's id is missing from the peer table or
    /// above `i64::MAX`, an own address is empty or too long for the handshake, a channel's
    /// `max_frame` does not fit the `int32` length prefix, or `backoff.initial` is zero; and
    /// with [`StartError::Bind`] when a listen address cannot be resolved or bound.
    pub async fn start(config: TcpConfig) -> Result<(TcpTransport, TcpInbound), StartError> {
        let me = config.me;
        let own = config.peers.get(&me).cloned().ok_or_else(|| {
            StartError::Config(format!("server {me} is missing from the peer table"))
        })?;
        if i64::try_from(me.0).is_err() {
            return Err(StartError::Config(format!(
                "server id {me} does not fit ZooKeeper's int64 sid"
            )));
        }
        for ch in Channel::ALL {
            if own.get(ch).is_empty() || own.get(ch).len() > handshake::MAX_ADDR_LEN {
                return Err(StartError::Config(format!(
                    "the {ch:?} address of server {me} must be 1..={} bytes",
                    handshake::MAX_ADDR_LEN
                )));
            }
        }
        let mut listeners = Vec::with_capacity(2);
        for ch in Channel::ALL {
            let spec = config.listen.as_ref().unwrap_or(&own).get(ch).to_owned();
            let listener = bind_tcp(&spec, config.listen.is_none() && config.listen_on_all_ips)
                .await
                .map_err(|source| StartError::Bind {
                    addr: spec.clone(),
                    channel: ch,
                    source,
                })?;
            listeners.push((ch, listener));
        }
        let local = [local_addr(&listeners, 0), local_addr(&listeners, 1)];
        let stream_config = StreamConfig {
            me,
            peers: config.peers.keys().copied().filter(|&p| p != me).collect(),
            channels: config.channels,
            backoff: config.backoff.clone(),
            connect_timeout: config.connect_timeout,
            inbound_capacity: config.inbound_capacity,
            span_name: "tcp",
            local_addrs: local,
        };
        let tls = match config.tls.clone() {
            Some(store) => Some(
                tls::Tls::new(store).map_err(|e| StartError::Config(format!("sslQuorum: {e}")))?,
            ),
            None => None,
        };
        let connector = TcpConnector {
            me,
            peers: config.peers.clone(),
            tls: tls.clone(),
        };
        let (tx, rx, handle) = StreamHandle::start(stream_config, connector)?;
        tracing::info!(parent: handle.span(), election = %local[0], quorum = %local[1], "listening");
        for (ch, listener) in listeners {
            accept::serve(&handle, ch, listener, config.handshake_timeout, tls.clone());
        }
        Ok((tx, rx))
    }
}

fn local_addr(listeners: &[(Channel, TcpListener)], i: usize) -> SocketAddr {
    listeners
        .get(i)
        .and_then(|(_, l)| l.local_addr().ok())
        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
}

/// The sending half of a TCP node: cheap to clone, no method blocks;
/// [`StreamTransport::local_addr`] tells where it listens.
pub type TcpTransport = StreamTransport<TcpConnector>;

/// The receiving half of a TCP node: `Up`, `Frame` and `Down` events of all its links, in
/// one bounded queue. Ends (`None`) once the node shuts down.
pub type TcpInbound = StreamInbound;
