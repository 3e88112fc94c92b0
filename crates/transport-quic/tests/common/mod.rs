//! A three-node QUIC test network on free loopback UDP ports, with a fresh ensemble PKI.

#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::Duration;
use zk_tls::certs::TestPki;
use zk_tls::{IdentityRule, TlsStore};
use zk_transport::testing::Harness;
use zk_transport::{ChannelSpecs, PeerId};
use zk_transport_quic::{QuicBackend, QuicConfig, QuicInbound, QuicTransport};

pub use zk_transport::testing::logs::{lines as log_lines, to_test_output as logs};

/// Capture this backend's log lines (debug and up) so tests can look for them.
pub fn capture_logs() {
    zk_transport::testing::logs::capture("zk_transport_quic=debug,zk_transport=debug,zk_tls=debug");
}

/// `n` loopback UDP addresses that were free a moment ago.
pub fn free_udp(n: usize) -> Vec<String> {
    let held: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|s| s.local_addr().unwrap().to_string())
        .collect()
}

/// Nodes 1..=3 on fresh ports with certificates from one CA.
pub struct QuicHarness {
    pub peers: BTreeMap<PeerId, String>,
    pub pki: TestPki,
    _dir: tempfile::TempDir,
}

impl QuicHarness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::new(dir.path(), 3, "127.0.0.1").unwrap();
        let peers = (1..=3u64).map(PeerId).zip(free_udp(3)).collect();
        Self {
            peers,
            pki,
            _dir: dir,
        }
    }

    pub fn hosts(&self) -> BTreeMap<PeerId, String> {
        self.peers
            .keys()
            .map(|&p| (p, "127.0.0.1".to_owned()))
            .collect()
    }

    pub fn config(&self, id: PeerId, specs: ChannelSpecs) -> QuicConfig {
        let tls =
            TlsStore::load(self.pki.files(id), id, IdentityRule::ServerId, self.hosts()).unwrap();
        let mut cfg = QuicConfig::new(id, self.peers.clone(), tls);
        cfg.channels = specs;
        cfg.handshake_timeout = Duration::from_secs(2);
        cfg
    }
}

impl Harness for QuicHarness {
    type Tx = QuicTransport;
    type Rx = QuicInbound;

    async fn start(&mut self, id: PeerId, specs: ChannelSpecs) -> (QuicTransport, QuicInbound) {
        QuicBackend::start(self.config(id, specs)).await.unwrap()
    }
}
