//! Reading the PEM key store and trust store.

use crate::TlsError;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where the PEM files are: ZooKeeper's `ssl.quorum.keyStore.location` and
/// `ssl.quorum.trustStore.location` with `type=PEM`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (leaf first) and the private key of this server.
    pub key_store: PathBuf,
    /// The CA certificates peers' certificates must chain to.
    pub trust_store: PathBuf,
}

/// What a key store holds.
pub(crate) struct KeyStore {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

/// A file's modification time, length and inode: changes mean "re-read it" (the inode
/// catches a rename over the file within the file system's time granularity).
pub(crate) type Stamp = Option<(SystemTime, u64, u64)>;

pub(crate) fn stamp(path: &Path) -> Stamp {
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| {
        #[cfg(unix)]
        let ino = m.ino();
        #[cfg(not(unix))]
        let ino = 0;
        (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), ino)
    })
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn certs(
    what: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let content = |why: String| TlsError::Content {
        what,
        path: path.to_owned(),
        why,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(content("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

pub(crate) fn key_store(path: &Path) -> Result<KeyStore, TlsError> {
    const WHAT: &str = "key store (ssl.quorum.keyStore.location)";
    let pem = read(WHAT, path)?;
    let chain = certs(WHAT, path, &pem)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Content {
        what: WHAT,
        path: path.to_owned(),
        why: format!("no usable PRIVATE KEY block: {e}"),
    })?;
    Ok(KeyStore { chain, key })
}

pub(crate) fn trust_store(path: &Path) -> Result<RootCertStore, TlsError> {
    const WHAT: &str = "trust store (ssl.quorum.trustStore.location)";
    let pem = read(WHAT, path)?;
    let mut roots = RootCertStore::empty();
    for cert in certs(WHAT, path, &pem)? {
        roots.add(cert).map_err(|e| TlsError::Content {
            what: WHAT,
            path: path.to_owned(),
            why: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}
