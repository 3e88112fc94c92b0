//! The QUIC peer transport of zk-rs: quinn with mutual TLS (rustls, ring).
//!
//! - **One connection per peer pair**, opened by the larger id; a **bidirectional stream per
//!   link**, each starting with a small header (version, channel, purpose, sender id). A
//!   smaller id that wants a link prompts (on the larger id's connection if it has one,
//!   else on a short-lived connection of its own) and the larger id opens the stream, the
//!   rule of ZooKeeper's `QuorumCnxManager` kept by the [`zk_transport::streams`] kit.
//! - **Identity from the certificate.** Both sides present a certificate chaining to the
//!   ensemble CA ([`zk_tls::TlsStore`]); the dialer checks that the server's certificate
//!   names the server dialed, the acceptor reads the id from the client's certificate and
//!   refuses a stream whose header claims another. No 0-RTT. ALPN [`ALPN`] names the
//!   protocol and its version: a peer speaking anything else fails the handshake, logged.
//! - **Liveness**: keep-alive and idle timeout from `tickTime`/`syncLimit`
//!   ([`QuicConfig::with_ticks`]), so a WAN link stays up and a dead peer is noticed within
//!   `syncLimit` ticks. Certificates are re-read when their files change; existing
//!   connections stay up.
//!
//! The UDP port is the quorum port of the server's `server.N` line.

mod accept;
mod config;
mod connector;
mod header;

pub use config::QuicConfig;

pub use connector::QuicConnector;
use std::sync::Arc;
use tokio::sync::mpsc;
use zk_transport::streams::{StreamConfig, StreamHandle, StreamInbound, StreamTransport};
use zk_transport::{Channel, StartError};

/// The ALPN protocol of zk-rs peer links over QUIC, version 1.
pub const ALPN: &[u8] = b"zk-rs-quorum/1";

/// The QUIC backend: turns a [`QuicConfig`] into a running node.
#[derive(Debug, Clone, Copy)]
pub struct QuicBackend;

impl QuicBackend {
    /// Bind the UDP socket and start serving. Must run inside a tokio runtime.
    ///
    /// Fails with [`StartError::Config`] when this node is missing from the peer table or the
    /// TLS configuration is unusable, and with [`StartError::Bind`] when the address cannot be
    /// resolved or bound.
    pub async fn start(config: QuicConfig) -> Result<(QuicTransport, QuicInbound), StartError> {
        let me = config.me;
        let own = config.peers.get(&me).cloned().ok_or_else(|| {
            StartError::Config(format!("server {me} is missing from the peer table"))
        })?;
        let spec = config.listen.clone().unwrap_or(own);
        let bind_err = |source| StartError::Bind {
            addr: spec.clone(),
            channel: Channel::Quorum,
            source,
        };
        let addr = tokio::net::lookup_host(spec.as_str())
            .await
            .map_err(bind_err)?
            .next()
            .ok_or_else(|| {
                bind_err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "resolved to no address",
                ))
            })?;
        let socket = std::net::UdpSocket::bind(addr).map_err(bind_err)?;
        let (server, client) = quic_configs(&config)?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(bind_err)?;
        let local = endpoint.local_addr().map_err(bind_err)?;
        let (dialed_tx, dialed_rx) = mpsc::channel(64);
        let connector = QuicConnector::new(
            me,
            config.peers.clone(),
            config.tls.clone(),
            endpoint.clone(),
            client,
            dialed_tx,
        );
        let stream_config = StreamConfig {
            me,
            peers: config.peers.keys().copied().filter(|&p| p != me).collect(),
            channels: config.channels,
            backoff: config.backoff.clone(),
            connect_timeout: config.connect_timeout,
            inbound_capacity: config.inbound_capacity,
            span_name: "quic",
            local_addrs: [local, local],
        };
        let (tx, rx, handle) = StreamHandle::start(stream_config, connector)?;
        tracing::info!(parent: handle.span(), %local, "listening (QUIC)");
        accept::serve(&handle, endpoint, dialed_rx, config.handshake_timeout);
        Ok((tx, rx))
    }
}

fn quic_configs(
    config: &QuicConfig,
) -> Result<(quinn::ServerConfig, quinn::ClientConfig), StartError> {
    let tls_err = |e: String| StartError::Config(format!("QUIC TLS configuration: {e}"));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(config.keep_alive));
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(config.idle_timeout).map_err(|e| tls_err(e.to_string()))?,
    ));
    let transport = Arc::new(transport);
    let server_tls = config
        .tls
        .server_config(&[ALPN])
        .map_err(|e| tls_err(e.to_string()))?;
    let server_tls = quinn::crypto::rustls::QuicServerConfig::try_from(server_tls)
        .map_err(|e| tls_err(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
    server.transport_config(transport.clone());
    let client_tls = config
        .tls
        .client_config(&[ALPN])
        .map_err(|e| tls_err(e.to_string()))?;
    let client_tls = quinn::crypto::rustls::QuicClientConfig::try_from(client_tls)
        .map_err(|e| tls_err(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(client_tls));
    client.transport_config(transport);
    Ok((server, client))
}

/// The sending half of a QUIC node: cheap to clone, no method blocks;
/// [`StreamTransport::local_addr`] tells where it listens.
pub type QuicTransport = StreamTransport<QuicConnector>;

/// The receiving half of a QUIC node: `Up`, `Frame` and `Down` events of all its links, in
/// one bounded queue. Ends (`None`) once the node shuts down.
pub type QuicInbound = StreamInbound;
