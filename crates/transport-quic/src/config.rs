//! Configuration of a QUIC node.

use std::collections::BTreeMap;
use std::time::Duration;
use zk_tls::TlsStore;
use zk_transport::streams::Backoff;
use zk_transport::{ChannelSpecs, PeerId};

/// Everything a QUIC node needs to start.
#[derive(Clone, Debug)]
pub struct QuicConfig {
    /// This server's id.
    pub me: PeerId,
    /// The UDP `host:port` of every server, this one included (its entry is the listen
    /// address unless `listen` is set). Hostnames are resolved at each dial.
    pub peers: BTreeMap<PeerId, String>,
    /// This server's certificate and the ensemble's CA.
    pub tls: TlsStore,
    /// Queue and frame policy per channel.
    pub channels: ChannelSpecs,
    /// Reconnect pacing.
    pub backoff: Backoff,
    /// How long one dial (resolution, handshake, stream header) may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long an accepted stream may take to deliver its header. Default 5 s.
    pub handshake_timeout: Duration,
    /// Capacity of the node's inbound event queue. Default 1024.
    pub inbound_capacity: usize,
    /// Bind here instead of the own entry of `peers`.
    pub listen: Option<String>,
    /// How often an idle connection is pinged. Default 1 s (half of ZooKeeper's default
    /// tickTime): keeps NAT bindings and lets a lossy WAN link prove it is alive.
    pub keep_alive: Duration,
    /// A connection from which nothing arrived for this long is dead. Default 10 s (syncLimit
    /// 5 x tickTime 2 s).
    pub idle_timeout: Duration,
}

impl QuicConfig {
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
            keep_alive: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(10),
        }
    }

    /// Keep-alive and idle timeout from ZooKeeper's `tickTime` and `syncLimit`: a dead peer
    /// is noticed within `syncLimit` ticks, and an idle link is pinged every half tick.
    pub fn with_ticks(mut self, tick: Duration, sync_limit: u32) -> Self {
        self.idle_timeout = tick * sync_limit.max(1);
        self.keep_alive = (tick / 2).max(Duration::from_millis(50));
        self
    }
}
