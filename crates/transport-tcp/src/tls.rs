//! `sslQuorum`: TLS under ZooKeeper's handshake, the declared id checked against the
//! certificate.

use std::sync::Arc;
use tokio::net::TcpStream;
use zk_tls::TlsStore;
use zk_transport::PeerId;
use zk_transport::streams::{BoxReader, BoxWriter};

/// The TLS side of a node: a connector and an acceptor built on its store.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) store: TlsStore,
    connector: tokio_rustls::TlsConnector,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("store", &self.store).finish()
    }
}

impl Tls {
    pub(crate) fn new(store: TlsStore) -> Result<Self, zk_tls::TlsError> {
        // No ALPN: ZooKeeper's own sslQuorum does not use it.
        let client = store.client_config(&[])?;
        let server = store.server_config(&[])?;
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            store,
        })
    }

    /// Run the client handshake to `peer`, checking its certificate names it.
    pub(crate) async fn connect(
        &self,
        peer: PeerId,
        stream: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let name = self
            .store
            .expected_name(peer)
            .ok_or_else(|| format!("no certificate name to expect from server {peer}"))?;
        self.connector
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS handshake failed: {}", describe(&e)))
    }

    /// Run the server handshake (a client certificate chaining to the CA is required).
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
    ) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
        self.acceptor
            .accept(stream)
            .await
            .map_err(|e| format!("TLS handshake failed: {}", describe(&e)))
    }
}

/// rustls' reason, with a hint where the raw one misleads.
fn describe(e: &std::io::Error) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidMessage(_)) => format!(
            "{e} (the peer does not speak TLS: a plain-TCP server? sslQuorum must match on every server)"
        ),
        _ => e.to_string(),
    }
}

/// The halves of a TLS stream for the kit.
pub(crate) fn halves<S>(stream: S) -> (BoxReader, BoxWriter)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    (Box::new(rd), Box::new(wr))
}
