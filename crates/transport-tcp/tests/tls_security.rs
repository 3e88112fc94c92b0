//! `sslQuorum`: intruders are refused by an honest node, with a log line naming the reason,
//! and never become a link: a certificate from another CA, one naming another server, an
//! expired one, no client certificate, and a plain-TCP peer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TlsTcpHarness, capture_logs, log_lines};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use zk_tls::certs::{TestPki, Validity, write_new};
use zk_tls::{IdentityRule, TlsFiles, TlsStore};
use zk_transport::testing::Harness;
use zk_transport::{Channel, ChannelSpecs, Inbound, LinkEvent, PeerId, Transport};
use zk_transport_tcp::{TcpBackend, TcpInbound};

fn hosts() -> std::collections::BTreeMap<PeerId, String> {
    (1..=3)
        .map(|i| (PeerId(i), "127.0.0.1".to_owned()))
        .collect()
}

/// ZooKeeper's handshake from `sid` (what a plain-TCP peer sends first).
fn plain_handshake(sid: i64) -> Vec<u8> {
    let addr = b"127.0.0.1:1";
    let mut v = Vec::new();
    v.extend_from_slice(&(-65536i64).to_be_bytes());
    v.extend_from_slice(&sid.to_be_bytes());
    v.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    v.extend_from_slice(addr);
    v
}

/// No `Up` reaches the honest node for a while, and it logged a refusal naming `reason`.
async fn assert_refused(rx: &mut TcpInbound, reason: &str) {
    let quiet = timeout(Duration::from_millis(1500), async {
        while let Some(ev) = rx.next().await {
            if let LinkEvent::Up { link, authn } = ev {
                panic!("an intruder got a link: {link} ({authn:?})");
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "the honest node's inbound ended");
    let lines = log_lines(&["refusing connection", reason]);
    assert!(
        !lines.is_empty(),
        "no refusal naming {reason:?}; refusals: {:?}",
        log_lines(&["refusing connection"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intruders_are_refused_naming_the_reason() {
    capture_logs();
    let mut h = TlsTcpHarness::new();
    let (tx2, mut rx2) = h.start(PeerId(2), ChannelSpecs::default()).await;
    let scratch = tempfile::tempdir().unwrap();
    let ca_pem = h.pki.dir.join("ca.pem");

    // A node that calls itself 1 and dials 2, with the TLS store `tls`.
    let intruder = |tls: TlsStore| {
        let mut cfg = h.tcp.config(PeerId(1), ChannelSpecs::default());
        cfg.tls = Some(tls);
        cfg
    };

    // 1. A certificate from another CA (it trusts ours, so only node 2 can object).
    let other = TestPki::new(&scratch.path().join("other"), 3, "127.0.0.1").unwrap();
    let tls = TlsStore::load(
        TlsFiles {
            key_store: other.files(PeerId(1)).key_store,
            trust_store: ca_pem.clone(),
        },
        PeerId(1),
        IdentityRule::ServerId,
        hosts(),
    )
    .unwrap();
    let (tx1, _rx1) = TcpBackend::start(intruder(tls)).await.unwrap();
    tx1.connect(PeerId(2), Channel::Quorum);
    assert_refused(&mut rx2, "UnknownIssuer").await;
    tx1.shutdown().await;

    // 2. A good certificate of server 3, presented by a node that says it is 1.
    let tls = TlsStore::load(
        h.pki.files(PeerId(3)),
        PeerId(3),
        IdentityRule::ServerId,
        hosts(),
    )
    .unwrap();
    let (tx1, _rx1) = TcpBackend::start(intruder(tls)).await.unwrap();
    tx1.connect(PeerId(2), Channel::Quorum);
    assert_refused(
        &mut rx2,
        "names server 3 but the peer claims to be server 1",
    )
    .await;
    tx1.shutdown().await;

    // 3. An expired certificate from our CA.
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = h
        .pki
        .ca
        .issue(
            PeerId(1),
            "127.0.0.1",
            Validity {
                not_before: now - 2 * day,
                not_after: now - day,
            },
        )
        .unwrap();
    let expired_path = scratch.path().join("expired.pem");
    write_new(&expired_path, &expired, true).unwrap();
    let tls = TlsStore::load(
        TlsFiles {
            key_store: expired_path,
            trust_store: ca_pem.clone(),
        },
        PeerId(1),
        IdentityRule::ServerId,
        hosts(),
    )
    .unwrap();
    let (tx1, _rx1) = TcpBackend::start(intruder(tls)).await.unwrap();
    tx1.connect(PeerId(2), Channel::Quorum);
    assert_refused(&mut rx2, "certificate expired").await;
    tx1.shutdown().await;

    // 4. No client certificate at all.
    let addr = h.tcp.peers[&PeerId(2)].quorum.clone();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(&ca_pem).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(zk_tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(zk_tls::server_name(PeerId(2))).unwrap();
    if let Ok(mut s) = connector.connect(name, tcp).await {
        let _ = s.write_all(&plain_handshake(1)).await;
        let _ = s.flush().await;
    }
    assert_refused(&mut rx2, "no certificate").await;

    // 5. A plain-TCP peer (sslQuorum off on its side).
    let mut plain = TcpStream::connect(&addr).await.unwrap();
    plain.write_all(&plain_handshake(3)).await.unwrap();
    assert_refused(&mut rx2, "does not speak TLS").await;

    tx2.shutdown().await;
}

use rustls_pki_types::pem::PemObject as _;
