//! Why TLS material could not be loaded.

use std::path::PathBuf;

/// Why the key store or the trust store is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which store.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not the PEM it should be.
    #[error("{what} {path} is unusable: {why}")]
    Content {
        /// Which store.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The certificate does not name this server as the identity rule requires.
    #[error("the certificate in {path} does not name this server: {why}")]
    NotOurs {
        /// The key store.
        path: PathBuf,
        /// Which name was expected.
        why: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}
