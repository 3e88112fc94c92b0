//! Configuration of a gRPC node: who it is, where every peer's gRPC listener is, its TLS
//! identity, and the timing knobs.

use std::collections::BTreeMap;
use std::time::Duration;
use zk_tls::TlsStore;
use zk_transport::streams::Backoff;
use zk_transport::{ChannelSpecs, PeerId};

/// Everything a gRPC node needs to start.
///
/// ```no_run
/// use std::collections::BTreeMap;
/// use zk_tls::{IdentityRule, TlsFiles, TlsStore};
/// use zk_transport::PeerId;
/// use zk_transport_grpc::GrpcConfig;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let peers = BTreeMap::from([
///     (PeerId(1), "zk1.example:2890".to_owned()),
///     (PeerId(2), "zk2.example:2890".to_owned()),
///     (PeerId(3), "zk3.example:2890".to_owned()),
/// ]);
/// let hosts = BTreeMap::from([
///     (PeerId(1), "zk1.example".to_owned()),
///     (PeerId(2), "zk2.example".to_owned()),
///     (PeerId(3), "zk3.example".to_owned()),
/// ]);
/// let files = TlsFiles {
///     key_store: "/etc/zk/server-1.pem".into(),
///     trust_store: "/etc/zk/ca.pem".into(),
/// };
/// let tls = TlsStore::load(files, PeerId(1), IdentityRule::ServerId, hosts)?;
/// let config = GrpcConfig::new(PeerId(1), peers, tls);
/// # let _ = config; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct GrpcConfig {
    /// This server's id.
    pub me: PeerId,
    /// The `host:port` of every server's gRPC listener, this one included (its entry is the
    /// listen address unless `listen` is set). Hostnames are resolved at each dial.
    pub peers: BTreeMap<PeerId, String>,
    /// This server's certificate and the ensemble's CA; peers' ids come from their
    /// certificates.
    pub tls: TlsStore,
    /// Queue and frame policy per channel.
    pub channels: ChannelSpecs,
    /// Reconnect pacing.
    pub backoff: Backoff,
    /// How long one dial (resolution, TLS handshake, HTTP/2 set-up and the response headers
    /// of the stream) may take. Default 5 s, as ZooKeeper's `cnxTimeout`.
    pub connect_timeout: Duration,
    /// How long an accepted connection may take to complete its TLS handshake before it is
    /// dropped, so a silent socket cannot hold a slot. Default 5 s.
    pub handshake_timeout: Duration,
    /// Capacity of the node's inbound event queue; when it is full, link readers stop reading
    /// and HTTP/2 flow control pushes back on the senders. Default 1024.
    pub inbound_capacity: usize,
    /// Bind the listener here instead of the own entry of `peers`.
    pub listen: Option<String>,
    /// How often an HTTP/2 connection is pinged (by both ends, idle or not). Default 1 s:
    /// keeps NAT bindings and notices a dead peer without waiting for TCP.
    pub keepalive_interval: Duration,
    /// A ping not answered within this time closes the connection, and with it every link
    /// on it. Default 10 s (syncLimit 5 x tickTime 2 s).
    pub keepalive_timeout: Duration,
}

impl GrpcConfig {
    /// A configuration with the default channel specs and timings.
    pub fn new(me: PeerId, peers: BTreeMap<PeerId, String>, tls: TlsStore) -> Self {
        Self {
            me,
            peers,
            tls,
            channels: ChannelSpecs::default(),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            inbound_capacity: 1024,
            listen: None,
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(10),
        }
    }

    /// Keepalive from ZooKeeper's `tickTime` and `syncLimit`: a connection is pinged every
    /// half tick, and one whose ping goes unanswered for `syncLimit` ticks is dead.
    pub fn with_ticks(mut self, tick: Duration, sync_limit: u32) -> Self {
        self.keepalive_timeout = tick * sync_limit.max(1);
        self.keepalive_interval = (tick / 2).max(Duration::from_millis(50));
        self
    }
}
