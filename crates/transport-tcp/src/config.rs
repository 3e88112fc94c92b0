//! Configuration of a TCP node: who it is, where every peer listens, and the timing knobs.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use zk_transport::streams::Backoff;
use zk_transport::{Channel, ChannelSpecs, PeerId};

/// Where one server listens: its election port (ZooKeeper's 3888) and quorum port (2888).
///
/// Each address is `host:port`: an IP literal (`10.0.0.1:2888`, `[::1]:2888`) or a hostname
/// (`zk1.example:2888`), resolved every time it is dialed, so a peer whose DNS entry moves is
/// found again. The own entry is also what this node sends in its handshakes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddrs {
    /// The election channel's address.
    pub election: String,
    /// The quorum channel's address.
    pub quorum: String,
}

impl PeerAddrs {
    /// Addresses from anything printable as `host:port` (strings, `SocketAddr`s).
    pub fn new(election: impl fmt::Display, quorum: impl fmt::Display) -> Self {
        Self {
            election: election.to_string(),
            quorum: quorum.to_string(),
        }
    }

    /// The address of `channel`.
    pub fn get(&self, channel: Channel) -> &str {
        match channel {
            Channel::Election => &self.election,
            Channel::Quorum => &self.quorum,
        }
    }
}

/// Everything a TCP node needs to start.
///
/// ```
/// use std::collections::BTreeMap;
/// use zk_transport::PeerId;
/// use zk_transport_tcp::{PeerAddrs, TcpConfig};
///
/// let peers = BTreeMap::from([
///     (PeerId(1), PeerAddrs::new("zk1.example:3888", "zk1.example:2888")),
///     (PeerId(2), PeerAddrs::new("zk2.example:3888", "zk2.example:2888")),
///     (PeerId(3), PeerAddrs::new("zk3.example:3888", "zk3.example:2888")),
/// ]);
/// let mut config = TcpConfig::new(PeerId(1), peers);
/// config.listen_on_all_ips = true; // ZooKeeper's quorumListenOnAllIPs
/// ```
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// This server's id (`myid`).
    pub me: PeerId,
    /// Every server of the ensemble, this one included (its entry gives the listen addresses
    /// and the address announced in handshakes).
    pub peers: BTreeMap<PeerId, PeerAddrs>,
    /// Queue and frame policy per channel.
    pub channels: ChannelSpecs,
    /// Reconnect pacing.
    pub backoff: Backoff,
    /// How long one dial (resolution included) may take. Default 5 s, as ZooKeeper's
    /// `cnxTimeout`.
    pub connect_timeout: Duration,
    /// How long an accepted connection may take to deliver its handshake before it is
    /// dropped, so a silent socket cannot hold a slot. Default 5 s.
    pub handshake_timeout: Duration,
    /// Capacity of the node's single inbound event queue. When it is full, link readers stop
    /// reading their sockets and TCP flow control pushes back on the senders. Default 1024.
    pub inbound_capacity: usize,
    /// Bind the listeners to these addresses instead of the own entry of `peers`.
    pub listen: Option<PeerAddrs>,
    /// Bind the listeners to the unspecified address (`0.0.0.0`, or `::` for an IPv6 own
    /// address) on the own entry's ports: ZooKeeper's `quorumListenOnAllIPs`. Ignored when
    /// `listen` is set.
    pub listen_on_all_ips: bool,
    /// ZooKeeper's `sslQuorum=true`: every connection runs TLS 1.3 with certificates from
    /// this store on both sides, and a peer's declared id must be the one its certificate
    /// names ([`Authn::Certificate`](zk_transport::Authn::Certificate)). `None`: plain TCP.
    pub tls: Option<zk_tls::TlsStore>,
}

impl TcpConfig {
    /// A configuration with the default channel specs and timings.
    pub fn new(me: PeerId, peers: BTreeMap<PeerId, PeerAddrs>) -> Self {
        Self {
            me,
            peers,
            channels: ChannelSpecs::default(),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            inbound_capacity: 1024,
            listen: None,
            listen_on_all_ips: false,
            tls: None,
        }
    }
}
