//! A three-node TCP test network on free loopback ports.

#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use zk_transport::testing::Harness;
use zk_transport::{ChannelSpecs, PeerId};
use zk_transport_tcp::{PeerAddrs, TcpBackend, TcpConfig, TcpInbound, TcpTransport};

pub use zk_transport::testing::logs::{lines as log_lines, to_test_output as logs};

/// Capture this backend's log lines (debug and up) so tests can look for them.
pub fn capture_logs() {
    zk_transport::testing::logs::capture("zk_transport_tcp=debug,zk_transport=debug");
}

pub use zk_transport::testing::logs::free_tcp_addrs as free_addrs;

/// Nodes 1..=3 on fresh loopback ports; a node started again reuses its ports.
pub struct TcpHarness {
    pub peers: BTreeMap<PeerId, PeerAddrs>,
}

impl TcpHarness {
    /// Pick six free ports.
    pub fn new() -> Self {
        let a = free_addrs(6);
        let peers = (1..=3u64)
            .zip(a.chunks(2))
            .map(|(i, pair)| (PeerId(i), PeerAddrs::new(pair[0], pair[1])))
            .collect();
        Self { peers }
    }

    /// The configuration of node `id` (short backoff so tests stay quick).
    pub fn config(&self, id: PeerId, specs: ChannelSpecs) -> TcpConfig {
        let mut cfg = TcpConfig::new(id, self.peers.clone());
        cfg.channels = specs;
        cfg.handshake_timeout = Duration::from_secs(2);
        cfg
    }
}

impl Harness for TcpHarness {
    type Tx = TcpTransport;
    type Rx = TcpInbound;

    async fn start(&mut self, id: PeerId, specs: ChannelSpecs) -> (TcpTransport, TcpInbound) {
        TcpBackend::start(self.config(id, specs)).await.unwrap()
    }
}

/// The TCP harness with `sslQuorum`: certificates from one fresh CA in a temporary dir.
pub struct TlsTcpHarness {
    pub tcp: TcpHarness,
    pub pki: zk_tls::certs::TestPki,
    _dir: tempfile::TempDir,
}

impl TlsTcpHarness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = zk_tls::certs::TestPki::new(dir.path(), 3, "127.0.0.1").unwrap();
        Self {
            tcp: TcpHarness::new(),
            pki,
            _dir: dir,
        }
    }

    /// Node `id`'s TLS store under the strict rule.
    pub fn store(&self, id: PeerId) -> zk_tls::TlsStore {
        let hosts = (1..=3)
            .map(|i| (PeerId(i), "127.0.0.1".to_owned()))
            .collect();
        zk_tls::TlsStore::load(
            self.pki.files(id),
            id,
            zk_tls::IdentityRule::ServerId,
            hosts,
        )
        .unwrap()
    }
}

impl Harness for TlsTcpHarness {
    type Tx = TcpTransport;
    type Rx = TcpInbound;

    async fn start(&mut self, id: PeerId, specs: ChannelSpecs) -> (TcpTransport, TcpInbound) {
        let mut cfg = self.tcp.config(id, specs);
        cfg.tls = Some(self.store(id));
        TcpBackend::start(cfg).await.unwrap()
    }
}
