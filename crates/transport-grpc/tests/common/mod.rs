//! A three-node gRPC test network on free loopback ports, with an ensemble CA and one
//! certificate per server in a temporary directory.

#![allow(
    dead_code,
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

/// Log to the test output when `RUST_LOG` is set.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// `n` distinct loopback addresses that were free a moment ago.
pub fn free_addrs(n: usize) -> Vec<SocketAddr> {
    // Hold every listener until all are picked, so no port is handed out twice.
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter().map(|l| l.local_addr().unwrap()).collect()
}

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

/// Log lines captured from every node of this test binary (after [`capture_logs`]).
static CAPTURED: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Capture the crate's log lines (debug and up) so tests can look for them.
pub fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("zk_transport_grpc=debug,zk_transport=debug")
        .with_ansi(false)
        .with_writer(|| Capture)
        .try_init();
}

/// The captured log lines that contain every one of `needles`.
pub fn log_lines(needles: &[&str]) -> Vec<String> {
    let all = CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    String::from_utf8_lossy(&all)
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_owned)
        .collect()
}
