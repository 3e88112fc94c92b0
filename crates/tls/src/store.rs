//! The loaded key and trust material, re-read when the files change, and the rustls
//! configurations built on it.

use crate::files::{self, Stamp, stamp};
use crate::identity::{self, IdentityError, IdentityRule, PeerHosts};
use crate::verify::{ClientResolver, PeerClientVerifier, PeerServerVerifier, ServerResolver};
use crate::{TlsError, TlsFiles};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use zk_transport::PeerId;

/// One generation of loaded material.
pub(crate) struct Loaded {
    pub(crate) key: Arc<CertifiedKey>,
    pub(crate) server_verifier: Arc<WebPkiServerVerifier>,
    pub(crate) client_verifier: Arc<dyn ClientCertVerifier>,
    stamps: (Stamp, Stamp),
}

pub(crate) struct Inner {
    files: TlsFiles,
    me: PeerId,
    rule: IdentityRule,
    hosts: PeerHosts,
    pub(crate) provider: Arc<CryptoProvider>,
    loaded: RwLock<Arc<Loaded>>,
    last_check: Mutex<Instant>,
}

/// This server's TLS identity and trust, shared by every link of a backend. Cheap to clone.
#[derive(Clone)]
pub struct TlsStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TlsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStore")
            .field("files", &self.inner.files)
            .field("me", &self.inner.me)
            .field("rule", &self.inner.rule)
            .finish_non_exhaustive()
    }
}

impl TlsStore {
    /// How often a handshake may look at the files' modification times.
    pub const RECHECK: Duration = Duration::from_secs(1);

    /// Load the key and trust stores of server `me`. `hosts` holds the host of every
    /// `server.N` (this one included). Fails when a file is missing or unusable, or when
    /// this server's certificate does not name it under `rule`.
    pub fn load(
        files: TlsFiles,
        me: PeerId,
        rule: IdentityRule,
        hosts: PeerHosts,
    ) -> Result<Self, TlsError> {
        let provider = crate::provider();
        let loaded = load(&files, me, rule, &hosts, &provider)?;
        Ok(Self {
            inner: Arc::new(Inner {
                files,
                me,
                rule,
                hosts,
                provider,
                loaded: RwLock::new(Arc::new(loaded)),
                last_check: Mutex::new(Instant::now()),
            }),
        })
    }

    /// Re-read the files now if they changed since they were loaded. `Ok(true)` when new
    /// material is in use; on an error the previous material stays in use.
    pub fn reload(&self) -> Result<bool, TlsError> {
        self.inner.reload()
    }

    /// The rule binding certificates to server ids.
    pub fn rule(&self) -> IdentityRule {
        self.inner.rule
    }

    /// The server configuration for accepting peers: TLS 1.3, a client certificate chaining
    /// to the trust store required, this server's certificate, the given ALPN protocols.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.inner.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_client_cert_verifier(Arc::new(PeerClientVerifier(self.inner.clone())))
            .with_cert_resolver(Arc::new(ServerResolver(self.inner.clone())));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config.max_early_data_size = 0;
        Ok(config)
    }

    /// The client configuration for dialing peers: TLS 1.3, the server's certificate must
    /// chain to the trust store and name the server dialed, this server's certificate as the
    /// client certificate, the given ALPN protocols.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<rustls::ClientConfig, TlsError> {
        let mut config = rustls::ClientConfig::builder_with_provider(self.inner.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PeerServerVerifier(self.inner.clone())))
            .with_client_cert_resolver(Arc::new(ClientResolver(self.inner.clone())));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config.enable_early_data = false;
        Ok(config)
    }

    /// The name `peer`'s certificate must carry, as a TLS server name for dialing it.
    pub fn expected_name(&self, peer: PeerId) -> Option<ServerName<'static>> {
        identity::expected_name(self.inner.rule, &self.inner.hosts, peer)
    }

    /// The server a chain-verified peer certificate belongs to (and the name it was
    /// recognised by), given the id the peer claims, if it claims one.
    pub fn identify(
        &self,
        certs: &[CertificateDer<'_>],
        claimed: Option<PeerId>,
    ) -> Result<(PeerId, String), IdentityError> {
        identity::identify(self.inner.rule, &self.inner.hosts, certs, claimed)
    }
}

impl Inner {
    /// The material in use, after a rate-limited look at the files.
    pub(crate) fn current(&self) -> Arc<Loaded> {
        let due = {
            let mut last = self.last_check.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.elapsed() >= TlsStore::RECHECK;
            if due {
                *last = Instant::now();
            }
            due
        };
        if due && let Err(e) = self.reload() {
            tracing::warn!("keeping the current TLS certificates: {e}");
        }
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn reload(&self) -> Result<bool, TlsError> {
        let stamps = (stamp(&self.files.key_store), stamp(&self.files.trust_store));
        if self.loaded.read().unwrap_or_else(|e| e.into_inner()).stamps == stamps {
            return Ok(false);
        }
        let fresh = load(&self.files, self.me, self.rule, &self.hosts, &self.provider)?;
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        tracing::info!(
            key_store = %self.files.key_store.display(),
            trust_store = %self.files.trust_store.display(),
            "TLS certificates re-read; new connections use them"
        );
        Ok(true)
    }
}

fn load(
    files: &TlsFiles,
    me: PeerId,
    rule: IdentityRule,
    hosts: &PeerHosts,
    provider: &Arc<CryptoProvider>,
) -> Result<Loaded, TlsError> {
    // Stamp first: a write racing the read is seen as a change at the next check.
    let stamps = (stamp(&files.key_store), stamp(&files.trust_store));
    let ks = files::key_store(&files.key_store)?;
    let roots = Arc::new(files::trust_store(&files.trust_store)?);
    identity::identify(rule, hosts, &ks.chain, Some(me)).map_err(|e| TlsError::NotOurs {
        path: files.key_store.clone(),
        why: format!("server {me}: {e}"),
    })?;
    let key =
        CertifiedKey::from_der(ks.chain, ks.key, provider).map_err(|e| TlsError::Content {
            what: "key store (ssl.quorum.keyStore.location)",
            path: files.key_store.clone(),
            why: format!("the private key does not fit the certificate: {e}"),
        })?;
    let server_verifier =
        WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let client_verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(Loaded {
        key: Arc::new(key),
        server_verifier,
        client_verifier,
        stamps,
    })
}
