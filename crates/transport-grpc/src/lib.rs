//! The gRPC peer transport of zk-rs: one tonic bidirectional stream per peer pair and
//! channel, over mutual TLS, the peer's id taken from its certificate.
//!
//! - Each server runs one gRPC listener (`zkrs.peer.v1.Peer`, see `proto/peer.proto`) and
//!   keeps one HTTP/2 connection to each peer it dials.
//! - TLS is done by this crate with tokio-rustls on the configurations of [`zk_tls::TlsStore`]
//!   (TLS 1.3 only, client certificates required, ring provider), not by tonic: rotated
//!   certificates apply to the next handshake, and every refused handshake is logged with its
//!   reason (unknown CA, expired, no client certificate, not TLS at all).
//! - A stream is one `Link` call. The caller announces itself in the request metadata
//!   (`zk-server-id`, `zk-channel`, `zk-purpose`, `zk-peer-version: 1`); the server checks
//!   the version and that the client certificate names the claimed id
//!   ([`TlsStore::identify`](zk_tls::TlsStore::identify)), and refuses the call otherwise
//!   (`FAILED_PRECONDITION`, `PERMISSION_DENIED`). The dialer proves the server's identity
//!   by the name it expects in the server certificate
//!   ([`TlsStore::expected_name`](zk_tls::TlsStore::expected_name)).
//! - Both directions then carry the link's bytes in `Chunk` messages: the streams kit's
//!   `int32`-length-prefixed frames, cut anywhere. The kit keeps the rest of the
//!   [`Transport`] contract as for every stream backend: the larger id's stream survives (a
//!   smaller id only prompts), reconnects with backoff, incarnations, bounded queues.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use zk_tls::{IdentityRule, TlsFiles, TlsStore};
//! use zk_transport::{Channel, Inbound, LinkEvent, PeerId, Transport};
//! use zk_transport_grpc::{GrpcBackend, GrpcConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let peers = BTreeMap::from([
//!     (PeerId(1), "127.0.0.1:2890".to_owned()),
//!     (PeerId(2), "127.0.0.1:2891".to_owned()),
//! ]);
//! // The host of every `server.N` line; the strict rule reads the ids from this table.
//! let hosts = BTreeMap::from([
//!     (PeerId(1), "127.0.0.1".to_owned()),
//!     (PeerId(2), "127.0.0.1".to_owned()),
//! ]);
//! let files = TlsFiles {
//!     key_store: "server-1.pem".into(),
//!     trust_store: "ca.pem".into(),
//! };
//! let tls = TlsStore::load(files, PeerId(1), IdentityRule::ServerId, hosts)?;
//! let (tx, mut rx) = GrpcBackend::start(GrpcConfig::new(PeerId(1), peers, tls)).await?;
//! tx.connect(PeerId(2), Channel::Election);
//! while let Some(ev) = rx.next().await {
//!     if let LinkEvent::Up { link, .. } = ev {
//!         tx.try_send(link, bytes::Bytes::from_static(b"hello")).ok();
//!     }
//! }
//! # Ok(()) }
//! ```

mod config;
mod conn;
mod connector;
mod header;
mod io;
mod server;

/// The code generated from `proto/peer.proto`.
#[allow(
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    clippy::all,
    clippy::pedantic,
    clippy::use_self
)]
mod pb {
    tonic::include_proto!("zkrs.peer.v1");
}

pub use config::GrpcConfig;
pub use zk_transport::streams::Backoff;

use connector::DialConfig;
pub use connector::GrpcConnector;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use zk_transport::streams::{StreamConfig, StreamHandle, StreamInbound, StreamTransport, bind_tcp};
use zk_transport::{Channel, StartError};

/// The ALPN protocol of every connection: HTTP/2.
const ALPN_H2: &[u8] = b"h2";

/// The gRPC backend: turns a [`GrpcConfig`] into a running node.
#[derive(Debug, Clone, Copy)]
pub struct GrpcBackend;

impl GrpcBackend {
    /// Bind the listener and start serving. Must run inside a tokio runtime (with the `time`
    /// and `net` drivers enabled).
    ///
    /// Fails with [`StartError::Config`] when this node's id is missing from the peer table
    /// or its address is empty, a keepalive setting is zero, the TLS configuration is
    /// unusable, a channel's `max_frame` does not fit the `int32` length prefix, or
    /// `backoff.initial` is zero; and with [`StartError::Bind`] when the listen address
    /// cannot be resolved or bound.
    pub async fn start(config: GrpcConfig) -> Result<(GrpcTransport, GrpcInbound), StartError> {
        let me = config.me;
        let own = config.peers.get(&me).cloned().ok_or_else(|| {
            StartError::Config(format!("server {me} is missing from the peer table"))
        })?;
        if own.is_empty() {
            return Err(StartError::Config(format!(
                "the gRPC address of server {me} is empty"
            )));
        }
        if config.keepalive_interval.is_zero() || config.keepalive_timeout.is_zero() {
            return Err(StartError::Config(
                "keepalive_interval and keepalive_timeout must be above zero".into(),
            ));
        }
        let tls_err = |e: zk_tls::TlsError| StartError::Config(e.to_string());
        let mut server_tls = config.tls.server_config(&[ALPN_H2]).map_err(tls_err)?;
        // No resumption: every connection verifies the peer's certificate afresh, so an
        // expired or replaced certificate is never carried over from an earlier session.
        server_tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        server_tls.send_tls13_tickets = 0;
        let mut client_tls = config.tls.client_config(&[ALPN_H2]).map_err(tls_err)?;
        client_tls.resumption = rustls::client::Resumption::disabled();

        let spec = config.listen.clone().unwrap_or(own);
        let listener = bind_tcp(&spec, false)
            .await
            .map_err(|source| StartError::Bind {
                addr: spec.clone(),
                // One listener serves both channels.
                channel: Channel::Quorum,
                source,
            })?;
        let local = listener
            .local_addr()
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));

        let stream_config = StreamConfig {
            me,
            peers: config.peers.keys().copied().filter(|&p| p != me).collect(),
            channels: config.channels,
            backoff: config.backoff.clone(),
            connect_timeout: config.connect_timeout,
            inbound_capacity: config.inbound_capacity,
            span_name: "grpc",
            local_addrs: [local, local],
        };
        let connector = GrpcConnector::new(
            me,
            &config.peers,
            config.tls.clone(),
            Arc::new(client_tls),
            DialConfig {
                connect_timeout: config.connect_timeout,
                keepalive_interval: config.keepalive_interval,
                keepalive_timeout: config.keepalive_timeout,
            },
        );
        let (tx, rx, handle) = StreamHandle::start(stream_config, connector)?;
        tracing::info!(parent: handle.span(), addr = %local, "listening");
        server::serve(
            &handle,
            listener,
            server::ServeConfig {
                tls: config.tls,
                acceptor: TlsAcceptor::from(Arc::new(server_tls)),
                handshake_timeout: config.handshake_timeout,
                keepalive_interval: config.keepalive_interval,
                keepalive_timeout: config.keepalive_timeout,
            },
        );
        // At shutdown the cached connections go too: they close once their streams end.
        let node = handle.clone();
        handle.spawn(async move {
            node.cancelled().await;
            node.connector().forget_all();
        });
        Ok((tx, rx))
    }
}

/// The sending half of a gRPC node: cheap to clone, no method blocks;
/// [`StreamTransport::local_addr`] tells where it listens.
pub type GrpcTransport = StreamTransport<GrpcConnector>;

/// The receiving half of a gRPC node: `Up`, `Frame` and `Down` events of all its links, in
/// one bounded queue. Ends (`None`) once the node shuts down.
pub type GrpcInbound = StreamInbound;
