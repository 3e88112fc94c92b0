//! Mutual TLS for zk-rs peer links, shared by the TCP (`sslQuorum`), QUIC and gRPC backends.
//!
//! - [`TlsFiles`]: ZooKeeper's `ssl.quorum.keyStore.location` (a PEM file holding the
//!   certificate chain and the private key) and `ssl.quorum.trustStore.location` (a PEM CA
//!   bundle).
//! - [`TlsStore`]: the loaded material and the rustls configurations built on it. The files
//!   are re-read when they change on disk (checked at most once per
//!   [`TlsStore::RECHECK`], or at once with [`TlsStore::reload`], e.g. on SIGHUP): new
//!   connections use the new certificate, existing ones stay up.
//! - [`IdentityRule`]: how a certificate names a server. By default (strict) the certificate
//!   must carry the DNS name [`server_name`]`(id)`, `server-<id>.zk-rs.invalid`, and the id is
//!   read from it; with `ssl.quorum.hostnameVerification=true` it must name the host of that
//!   server's `server.N` line instead, as in ZooKeeper.
//! - [`certs`]: a new ensemble CA and one certificate per server (`zk-server certs`).
//!
//! Only TLS 1.3, only the `ring` provider.

pub mod certs;
mod error;
mod files;
mod identity;
mod store;
mod verify;

pub use error::TlsError;
pub use files::TlsFiles;
pub use identity::{IdentityError, IdentityRule, PeerHosts, server_name};
pub use store::TlsStore;

use std::sync::Arc;

/// The crypto provider every zk-rs TLS configuration is built with.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
