//! Peers that must be refused: each one tries to link with an honest node 2, which must never
//! announce a link from it and must log why it refused.
//!
//! The other node has the larger id (3), so it is the one that dials for real and its stream
//! would be the link: only node 2's checks stand between it and an `Up`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Pki, capture_logs, config, free_addrs, log_lines};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_tls::TlsStore;
use zk_tls::certs::{Ca, Validity};
use zk_transport::{Channel, ChannelSpecs, Inbound, LinkEvent, PeerId, Transport};
use zk_transport_grpc::{GrpcBackend, GrpcInbound, GrpcTransport};

/// How long the honest node is watched for a link that must not come.
const WATCH: Duration = Duration::from_secs(3);
/// How long a log line that must come may take.
const LOG_WAIT: Duration = Duration::from_secs(10);

const HONEST: PeerId = PeerId(2);
const OTHER: PeerId = PeerId(3);

/// Nodes 2 and 3 on loopback.
fn peers() -> BTreeMap<PeerId, String> {
    [OTHER, HONEST]
        .into_iter()
        .zip(free_addrs(2))
        .map(|(id, a)| (id, a.to_string()))
        .collect()
}

async fn start(
    id: PeerId,
    peers: &BTreeMap<PeerId, String>,
    tls: TlsStore,
) -> (GrpcTransport, GrpcInbound) {
    GrpcBackend::start(config(id, peers, tls, ChannelSpecs::default()))
        .await
        .unwrap()
}

/// Start honest node 2 and node 3 with `other_tls`, and have both want links on both
/// channels (node 3 dials node 2; node 2 prompts node 3). Returns the first `Up` node 2
/// announces within `within`, if any.
async fn meet(pki: &Pki, other_tls: TlsStore, within: Duration) -> Option<LinkEvent> {
    let peers = peers();
    let (tx2, mut rx2) = start(HONEST, &peers, pki.honest(HONEST)).await;
    let (tx3, mut rx3) = start(OTHER, &peers, other_tls).await;
    // Node 3's own events are not checked, only drained.
    let drain = tokio::spawn(async move { while rx3.next().await.is_some() {} });
    for ch in Channel::ALL {
        tx2.connect(OTHER, ch);
        tx3.connect(HONEST, ch);
    }
    let up = tokio::time::timeout(within, async {
        loop {
            match rx2.next().await {
                Some(ev @ LinkEvent::Up { .. }) => return ev,
                Some(_) => {}
                None => panic!("inbound of node 2 ended"),
            }
        }
    })
    .await
    .ok();
    tx3.shutdown().await;
    tx2.shutdown().await;
    drain.await.unwrap();
    up
}

/// Wait for a warning of node 2 that refuses a connection and contains `reason`.
async fn refusal_logged(reason: &str) -> Vec<String> {
    let needles = ["WARN", "me=2", "refusing connection", reason];
    let deadline = tokio::time::Instant::now() + LOG_WAIT;
    loop {
        let lines = log_lines(&needles);
        if !lines.is_empty() {
            eprintln!("refusal logged:\n{}", lines.join("\n"));
            return lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no log line with {needles:?}; node 2 logged:\n{}",
            log_lines(&["me=2"]).join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The refusal must be about node 2's refusal, and node 2 must not link.
async fn refused(pki: &Pki, other_tls: TlsStore, reason: &str) {
    capture_logs();
    let up = meet(pki, other_tls, WATCH).await;
    assert!(up.is_none(), "node 2 linked with the impostor: {up:?}");
    refusal_logged(reason).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_peers_link() {
    // The control case: the set-up of every refusal below links when node 3 is honest.
    capture_logs();
    let pki = Pki::new();
    let other = pki.honest(OTHER);
    let up = meet(&pki, other, Duration::from_secs(10)).await;
    match up {
        Some(LinkEvent::Up { link, authn }) => {
            assert_eq!(link.peer, OTHER);
            assert_eq!(
                authn,
                zk_transport::Authn::Certificate {
                    name: zk_tls::server_name(OTHER)
                }
            );
        }
        other => panic!("honest nodes did not link: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let rogue = Ca::generate(Validity::days(1)).unwrap();
    // It trusts the ensemble CA (public knowledge), so it completes its side of the
    // handshake and presents its own certificate.
    let key = pki.write(
        "rogue.pem",
        &rogue.issue(OTHER, "127.0.0.1", Validity::days(1)).unwrap(),
    );
    let tls = pki.store(OTHER, key, pki.trust());
    refused(&pki, tls, "UnknownIssuer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_of_another_server_is_refused() {
    let pki = Pki::new();
    // A genuine certificate of server 1, used by a node that claims to be server 3.
    let key = pki.issue("server-1.pem", PeerId(1), Validity::days(1));
    let tls = pki.store(PeerId(1), key, pki.trust());
    refused(
        &pki,
        tls,
        "the certificate names server 1 but the peer claims to be server 3",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificate_is_refused() {
    let pki = Pki::new();
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = Validity {
        not_before: now - 2 * day,
        not_after: now - day,
    };
    let key = pki.issue("expired.pem", OTHER, expired);
    let tls = pki.store(OTHER, key, pki.trust());
    refused(&pki, tls, "expired").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_tcp_is_refused() {
    capture_logs();
    let pki = Pki::new();
    let peers = peers();
    let (tx2, mut rx2) = start(HONEST, &peers, pki.honest(HONEST)).await;
    let mut s = TcpStream::connect(tx2.local_addr(Channel::Quorum))
        .await
        .unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: zk\r\n\r\ngarbage garbage garbage")
        .await
        .unwrap();
    // The node closes the connection without a word.
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(LOG_WAIT, s.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "answered a plain TCP peer: {n:?}"
    );
    refusal_logged("not TLS").await;
    let ev = tokio::time::timeout(Duration::from_millis(300), rx2.next()).await;
    assert!(ev.is_err(), "an event after a plain TCP connection: {ev:?}");
    tx2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_without_certificate_is_refused() {
    capture_logs();
    let pki = Pki::new();
    let peers = peers();
    let (tx2, mut rx2) = start(HONEST, &peers, pki.honest(HONEST)).await;
    // A TLS client that trusts the ensemble CA but has no certificate of its own.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(zk_tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(tx2.local_addr(Channel::Quorum))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from(zk_tls::server_name(HONEST)).unwrap();
    // TLS 1.3: the client finishes its side first; the refusal shows on the next read.
    if let Ok(mut tls) = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
    {
        let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        let mut buf = [0u8; 64];
        let r = tokio::time::timeout(LOG_WAIT, tls.read(&mut buf))
            .await
            .unwrap();
        assert!(
            matches!(r, Ok(0) | Err(_)),
            "served a client without a certificate: {r:?}"
        );
    }
    refusal_logged("peer sent no certificates").await;
    let ev = tokio::time::timeout(Duration::from_millis(300), rx2.next()).await;
    assert!(ev.is_err(), "an event after a refused handshake: {ev:?}");
    tx2.shutdown().await;
}
