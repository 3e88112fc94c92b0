//! Intruders are refused by an honest QUIC node, with a log line naming the reason, and never
//! become a link: a certificate from another CA, one naming another server, an expired one,
//! no client certificate, and a peer speaking another protocol version (ALPN).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{QuicHarness, capture_logs, log_lines};
use rustls_pki_types::pem::PemObject as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::timeout;
use zk_tls::certs::{TestPki, Validity, write_new};
use zk_tls::{IdentityRule, TlsFiles, TlsStore};
use zk_transport::testing::Harness;
use zk_transport::{Channel, ChannelSpecs, Inbound, LinkEvent, PeerId, Transport};
use zk_transport_quic::{QuicBackend, QuicInbound};

/// No `Up` reaches the honest node for a while, and it logged a refusal naming `reason`.
async fn assert_refused(rx: &mut QuicInbound, reason: &str) {
    let quiet = timeout(Duration::from_millis(1500), async {
        while let Some(ev) = rx.next().await {
            if let LinkEvent::Up { link, authn } = ev {
                panic!("an intruder got a link: {link} ({authn:?})");
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "the honest node's inbound ended");
    assert!(
        !log_lines(&["refusing connection", reason]).is_empty(),
        "no refusal naming {reason:?}; refusals: {:?}",
        log_lines(&["refusing connection"])
    );
}

/// A bare QUIC client: our CA trusted, no client certificate unless given, `alpn` offered.
async fn bare_client(ca: &std::path::Path, to: &str, alpn: &[u8]) {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(zk_tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let name = zk_tls::server_name(PeerId(2));
    if let Ok(connecting) = endpoint.connect(to.parse().unwrap(), &name)
        && let Ok(Ok(conn)) = timeout(Duration::from_secs(2), connecting).await
        && let Ok((mut send, _recv)) = conn.open_bi().await
    {
        let _ = send.write_all(&[1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intruders_are_refused_naming_the_reason() {
    capture_logs();
    let mut h = QuicHarness::new();
    let (tx2, mut rx2) = h.start(PeerId(2), ChannelSpecs::default()).await;
    let scratch = tempfile::tempdir().unwrap();
    let ca_pem = h.pki.dir.join("ca.pem");
    let hosts = h.hosts();
    let intruder = |tls: TlsStore| {
        let mut cfg = h.config(PeerId(1), ChannelSpecs::default());
        cfg.tls = tls;
        cfg
    };

    // 1. A certificate from another CA (it trusts ours, so only node 2 can object).
    let other = TestPki::new(&scratch.path().join("other"), 3, "127.0.0.1").unwrap();
    let files = TlsFiles {
        key_store: other.files(PeerId(1)).key_store,
        trust_store: ca_pem.clone(),
    };
    let tls = TlsStore::load(files, PeerId(1), IdentityRule::ServerId, hosts.clone()).unwrap();
    let (tx1, _rx1) = QuicBackend::start(intruder(tls)).await.unwrap();
    tx1.connect(PeerId(2), Channel::Quorum);
    assert_refused(&mut rx2, "UnknownIssuer").await;
    tx1.shutdown().await;

    // 2. A good certificate of server 3, presented by a node that says it is 1.
    let tls = TlsStore::load(
        h.pki.files(PeerId(3)),
        PeerId(3),
        IdentityRule::ServerId,
        hosts.clone(),
    )
    .unwrap();
    let (tx1, _rx1) = QuicBackend::start(intruder(tls)).await.unwrap();
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
    let validity = Validity {
        not_before: now - 2 * day,
        not_after: now - day,
    };
    let expired = h.pki.ca.issue(PeerId(1), "127.0.0.1", validity).unwrap();
    let expired_path = scratch.path().join("expired.pem");
    write_new(&expired_path, &expired, true).unwrap();
    let files = TlsFiles {
        key_store: expired_path,
        trust_store: ca_pem.clone(),
    };
    let tls = TlsStore::load(files, PeerId(1), IdentityRule::ServerId, hosts.clone()).unwrap();
    let (tx1, _rx1) = QuicBackend::start(intruder(tls)).await.unwrap();
    tx1.connect(PeerId(2), Channel::Quorum);
    assert_refused(&mut rx2, "certificate expired").await;
    tx1.shutdown().await;

    // 4. No client certificate.
    let to = h.peers[&PeerId(2)].clone();
    bare_client(&ca_pem, &to, zk_transport_quic::ALPN).await;
    assert_refused(&mut rx2, "no certificate").await;

    // 5. Another protocol version.
    bare_client(&ca_pem, &to, b"zk-rs-quorum/2").await;
    assert_refused(&mut rx2, "protocol").await;

    tx2.shutdown().await;
}
