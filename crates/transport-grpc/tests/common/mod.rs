//! A three-node gRPC test network on free loopback ports, with an ensemble CA and one
//! certificate per server in a temporary directory.

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
use std::path::PathBuf;
use std::time::Duration;
use zk_tls::certs::{Ca, Validity};
use zk_tls::{IdentityRule, TlsFiles, TlsStore};
use zk_transport::streams::Backoff;
use zk_transport::testing::Harness;
use zk_transport::{ChannelSpecs, PeerId};
use zk_transport_grpc::{GrpcBackend, GrpcConfig, GrpcInbound, GrpcTransport};

pub use zk_transport::testing::logs::{lines as log_lines, to_test_output as logs};

/// Capture this backend's log lines (debug and up) so tests can look for them.
pub fn capture_logs() {
    zk_transport::testing::logs::capture("zk_transport_grpc=debug,zk_transport=debug");
}

pub use zk_transport::testing::logs::free_tcp_addrs as free_addrs;

/// Certificates in a temporary directory (removed when this is dropped).
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The ensemble CA every honest server trusts.
    pub ca: Ca,
}

impl Pki {
    /// A fresh ensemble CA, its certificate written as `ca.pem`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::generate(Validity::days(1)).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        Self { dir, ca }
    }

    /// Write `content` as `name` in the directory.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// A certificate for `id` from the ensemble CA, written as `name`.
    pub fn issue(&self, name: &str, id: PeerId, validity: Validity) -> PathBuf {
        self.write(name, &self.ca.issue(id, "127.0.0.1", validity).unwrap())
    }

    /// The ensemble trust store.
    pub fn trust(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A store for server `me` (the id its certificate must name) from these files, in an
    /// ensemble of servers 1..=3 on loopback.
    pub fn store(&self, me: PeerId, key_store: PathBuf, trust_store: PathBuf) -> TlsStore {
        let hosts = (1..=3)
            .map(|i| (PeerId(i), "127.0.0.1".to_owned()))
            .collect();
        TlsStore::load(
            TlsFiles {
                key_store,
                trust_store,
            },
            me,
            IdentityRule::ServerId,
            hosts,
        )
        .unwrap()
    }

    /// An honest server's store: a valid certificate of the ensemble CA.
    pub fn honest(&self, me: PeerId) -> TlsStore {
        let key = self.issue(&format!("server-{me}.pem"), me, Validity::days(1));
        self.store(me, key, self.trust())
    }
}

/// The configuration of node `id` of `peers` (short backoff so tests stay quick).
pub fn config(
    id: PeerId,
    peers: &BTreeMap<PeerId, String>,
    tls: TlsStore,
    specs: ChannelSpecs,
) -> GrpcConfig {
    let mut cfg = GrpcConfig::new(id, peers.clone(), tls);
    cfg.channels = specs;
    cfg.handshake_timeout = Duration::from_secs(2);
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.backoff = Backoff {
        max: Duration::from_millis(500),
        ..Backoff::default()
    };
    cfg
}

/// Nodes 1..=3 on fresh loopback ports, each with its own certificate and its own store; a
/// node started again reuses its port.
pub struct GrpcHarness {
    pub peers: BTreeMap<PeerId, String>,
    pub pki: Pki,
}

impl GrpcHarness {
    /// Pick three free ports and make the certificates.
    pub fn new() -> Self {
        let peers = (1..=3u64)
            .zip(free_addrs(3))
            .map(|(i, a)| (PeerId(i), a.to_string()))
            .collect();
        Self {
            peers,
            pki: Pki::new(),
        }
    }
}

impl Harness for GrpcHarness {
    type Tx = GrpcTransport;
    type Rx = GrpcInbound;

    async fn start(&mut self, id: PeerId, specs: ChannelSpecs) -> (GrpcTransport, GrpcInbound) {
        let tls = self.pki.honest(id);
        GrpcBackend::start(config(id, &self.peers, tls, specs))
            .await
            .unwrap()
    }
}
