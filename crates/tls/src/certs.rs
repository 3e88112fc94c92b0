//! Ensemble certificates: a new CA and one certificate per server, naming the server's id
//! ([`server_name`](crate::server_name)) and its host, for both TLS roles.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use zk_transport::PeerId;

/// Why certificates could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Key or certificate generation failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A host name is not usable in a certificate.
    #[error("host {0:?} cannot be put in a certificate")]
    Host(String),
    /// Writing or reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The output would overwrite existing files.
    #[error("{0} already exists; certs writes a new CA into a new directory")]
    Exists(PathBuf),
}

/// A certificate authority that signs server certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca")
    }
}

/// A validity window.
#[derive(Copy, Clone, Debug)]
pub struct Validity {
    /// Not valid before.
    pub not_before: SystemTime,
    /// Not valid after.
    pub not_after: SystemTime,
}

impl Validity {
    /// From an hour ago (clock skew) for `days` days.
    pub fn days(days: u32) -> Self {
        let now = SystemTime::now();
        Self {
            not_before: now - Duration::from_secs(3600),
            not_after: now + Duration::from_secs(u64::from(days) * 86_400),
        }
    }
}

impl Ca {
    /// A new CA with a fresh key, unrelated to any other.
    pub fn generate(validity: Validity) -> Result<Self, CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        // A distinct name per CA: a certificate from another ensemble's CA is then reported
        // as from an unknown issuer, not as a bad signature from ours.
        let tag: String = key
            .public_key_raw()
            .iter()
            .rev()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("zk-rs ensemble CA {tag}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = validity.not_before.into();
        params.not_after = validity.not_after.into();
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate (the trust store), PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A certificate for server `id` reachable as `host`, with a fresh key: the PEM of the
    /// chain (leaf, then the CA) followed by the private key, ready for
    /// `ssl.quorum.keyStore.location`.
    pub fn issue(&self, id: PeerId, host: &str, validity: Validity) -> Result<String, CertError> {
        self.issue_named(id, &[crate::server_name(id), host.to_owned()], validity)
    }

    /// Like [`Ca::issue`] with explicit subject alternative names (DNS names or IP literals).
    pub fn issue_named(
        &self,
        id: PeerId,
        names: &[String],
        validity: Validity,
    ) -> Result<String, CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("zk-rs server {id}"));
        params.subject_alt_names = names
            .iter()
            .filter(|n| !n.is_empty())
            .map(|n| match n.trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n
                    .clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|_| CertError::Host(n.clone())),
            })
            .collect::<Result<_, _>>()?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = validity.not_before.into();
        params.not_after = validity.not_after.into();
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(format!(
            "{}{}{}",
            cert.pem(),
            self.cert_pem,
            key.serialize_pem()
        ))
    }

    /// Write `ca.pem` (the trust store) and `ca-key.pem` (owner-only; keep it off the
    /// servers) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), CertError> {
        write_new(&dir.join("ca.pem"), &self.cert_pem, false)?;
        write_new(&dir.join("ca-key.pem"), &self.key_pem, true)
    }
}

/// Create `path` with `content`, refusing to overwrite; `secret` files are readable by the
/// owner only.
pub fn write_new(path: &Path, content: &str, secret: bool) -> Result<(), CertError> {
    use std::io::Write;
    let io = |source| CertError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CertError::Exists(path.to_owned())
        } else {
            io(e)
        }
    })?;
    file.write_all(content.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Write a new CA and a certificate for each `(id, host)` into `dir` (created if needed):
/// `ca.pem`, `ca-key.pem`, `server-<id>.pem`. Or, with `ca` given, certificates from that
/// CA. Returns the files written.
pub fn write_ensemble(
    dir: &Path,
    servers: &[(PeerId, String)],
    validity: Validity,
    ca: Option<&Ca>,
) -> Result<Vec<PathBuf>, CertError> {
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut written = Vec::new();
    let fresh;
    let ca = match ca {
        Some(ca) => ca,
        None => {
            fresh = Ca::generate(validity)?;
            fresh.write(dir)?;
            written.push(dir.join("ca.pem"));
            written.push(dir.join("ca-key.pem"));
            &fresh
        }
    };
    for (id, host) in servers {
        let path = dir.join(format!("server-{id}.pem"));
        write_new(&path, &ca.issue(*id, host, validity)?, true)?;
        written.push(path);
    }
    Ok(written)
}

/// A CA and key stores for servers `1..=n` on `host`, written into `dir`: what tests and
/// the dev ensemble need.
#[derive(Debug)]
pub struct TestPki {
    /// The CA that signed the servers' certificates.
    pub ca: Ca,
    /// Where the files are.
    pub dir: PathBuf,
}

impl TestPki {
    /// Write `ca.pem` and `server-<id>.pem` for ids `1..=n` into `dir`, valid for a day.
    pub fn new(dir: &Path, n: u64, host: &str) -> Result<Self, CertError> {
        let validity = Validity::days(1);
        let ca = Ca::generate(validity)?;
        let servers: Vec<(PeerId, String)> =
            (1..=n).map(|i| (PeerId(i), host.to_owned())).collect();
        write_ensemble(dir, &servers, validity, Some(&ca))?;
        write_new(&dir.join("ca.pem"), ca.cert_pem(), false)?;
        Ok(Self {
            ca,
            dir: dir.to_owned(),
        })
    }

    /// The files of server `id`.
    pub fn files(&self, id: PeerId) -> crate::TlsFiles {
        crate::TlsFiles {
            key_store: self.dir.join(format!("server-{id}.pem")),
            trust_store: self.dir.join("ca.pem"),
        }
    }
}
