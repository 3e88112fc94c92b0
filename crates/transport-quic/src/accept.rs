//! Accepting: incoming connections (mutual TLS, checked by rustls against the trust store),
//! the streams peers open on any connection, their headers, and the certificate → id rule.

use crate::connector::{QuicConnector, code};
use crate::header;
use rustls_pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use zk_transport::streams::{Opened, StreamHandle};

type Handle = StreamHandle<QuicConnector>;

/// Serve `endpoint`'s incoming connections, and the connections this node dials (from
/// `dialed`), until the node shuts down; then close the endpoint.
pub(crate) fn serve(
    handle: &Handle,
    endpoint: quinn::Endpoint,
    mut dialed: mpsc::Receiver<quinn::Connection>,
    header_timeout: Duration,
) {
    let node = handle.clone();
    handle.spawn(async move {
        loop {
            let incoming = tokio::select! {
                () = node.cancelled() => break,
                i = endpoint.accept() => i,
                Some(conn) = dialed.recv() => {
                    let n = node.clone();
                    node.spawn(async move { streams(&n, conn, false, header_timeout).await });
                    continue;
                }
            };
            let Some(incoming) = incoming else { break };
            let remote = incoming.remote_address();
            let n = node.clone();
            node.spawn(async move {
                let conn = tokio::select! {
                    () = n.cancelled() => return,
                    c = async { incoming.accept()?.await } => c,
                };
                match conn {
                    Ok(conn) => streams(&n, conn, true, header_timeout).await,
                    Err(e) => {
                        tracing::warn!(%remote, "refusing connection: {}", describe(&e));
                    }
                }
            });
        }
        // Connections dialed but not yet taken from the queue hold the endpoint (and so the
        // socket) too: drop them before waiting for the socket to be released.
        dialed.close();
        while dialed.try_recv().is_ok() {}
        drop(dialed);
        drop(endpoint);
        node.connector().shutdown().await;
    });
}

/// Why a connection attempt failed, in an operator's words.
fn describe(e: &quinn::ConnectionError) -> String {
    match e {
        quinn::ConnectionError::TransportError(t) => format!("TLS/QUIC handshake failed: {t}"),
        quinn::ConnectionError::ConnectionClosed(c) => {
            format!("the peer aborted the handshake: {c}")
        }
        other => other.to_string(),
    }
}

/// The peer's verified certificate chain.
fn certificates(conn: &quinn::Connection) -> Vec<CertificateDer<'static>> {
    conn.peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .map(|b| *b)
        .unwrap_or_default()
}

/// Accept the streams the peer opens on `conn` until it closes.
async fn streams(node: &Handle, conn: quinn::Connection, inbound: bool, header_timeout: Duration) {
    let remote = conn.remote_address();
    let certs = Arc::new(certificates(&conn));
    loop {
        let accepted = tokio::select! {
            () = node.cancelled() => return,
            s = conn.accept_bi() => s,
        };
        let Ok((send, mut recv)) = accepted else {
            return;
        };
        let n = node.clone();
        let conn = conn.clone();
        let certs = certs.clone();
        node.spawn(async move {
            let mut buf = [0u8; header::LEN];
            let read = tokio::select! {
                () = n.cancelled() => return,
                r = tokio::time::timeout(header_timeout, recv.read_exact(&mut buf)) => r,
            };
            let refuse = |why: String| {
                tracing::warn!(%remote, "refusing connection: {why}");
                conn.close(code::REFUSED.into(), why.as_bytes());
            };
            let h = match read {
                Err(_) => return refuse(format!("no stream header within {header_timeout:?}")),
                Ok(Err(e)) => return refuse(format!("stream header unreadable: {e}")),
                Ok(Ok(_)) => match header::decode(&buf) {
                    Ok(h) => h,
                    Err(e) => return refuse(e),
                },
            };
            let (peer, name) = match n.connector().tls.identify(&certs, Some(h.sender)) {
                Ok(found) => found,
                Err(e) => return refuse(e.to_string()),
            };
            let connector = n.connector();
            connector.note_stream(peer, &conn, inbound, h.purpose);
            n.accepted(
                peer,
                h.channel,
                Opened {
                    reader: Box::new(recv),
                    writer: Box::new(send),
                    remote: remote.to_string(),
                    authn: zk_transport::Authn::Certificate { name },
                },
            );
            if inbound && peer < connector.me {
                // A smaller id dialed only to prompt; our answer goes over our own connection.
                conn.close(code::PROMPT_ANSWERED.into(), b"prompt answered");
            }
        });
    }
}
