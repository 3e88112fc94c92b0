//! Which server a certificate belongs to.

use rustls_pki_types::{CertificateDer, ServerName};
use std::collections::BTreeMap;
use zk_transport::PeerId;

/// The DNS name a certificate carries to be server `id`'s under the strict rule:
/// `server-<id>.zk-rs.invalid` (`.invalid` because it names an identity, not a host).
pub fn server_name(id: PeerId) -> String {
    format!("server-{id}.zk-rs.invalid")
}

/// The host of each `server.N` line (for the hostname rule).
pub type PeerHosts = BTreeMap<PeerId, String>;

/// How a certificate is bound to a server id.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum IdentityRule {
    /// The certificate names the id itself ([`server_name`]); the id is read from it.
    #[default]
    ServerId,
    /// The certificate names the host of the peer's `server.N` line (an operator's own PKI,
    /// ZooKeeper's `ssl.quorum.hostnameVerification=true`). The peer's claimed id is accepted
    /// when its certificate names that id's host. Servers sharing a host cannot be told apart
    /// this way.
    Hostname,
}

/// Why a verified certificate was not accepted as a server's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// No certificate was presented.
    #[error("no client certificate")]
    NoCertificate,
    /// The certificate could not be parsed.
    #[error("unparsable certificate: {0}")]
    Unparsable(String),
    /// It names no server of the ensemble.
    #[error(
        "the certificate names no server of this ensemble (expected a DNS name server-<id>.zk-rs.invalid)"
    )]
    NamesNoServer,
    /// It names more than one server.
    #[error("the certificate names several servers ({0:?}); refused as ambiguous")]
    Ambiguous(Vec<PeerId>),
    /// It names another server than the one the peer claims to be.
    #[error("the certificate names server {named} but the peer claims to be server {claimed}")]
    Mismatch {
        /// The id in the certificate.
        named: PeerId,
        /// The id the peer declared.
        claimed: PeerId,
    },
    /// Hostname rule: the certificate does not name the host of the claimed server.
    #[error("the certificate does not name {host}, the host of server {claimed}")]
    WrongHost {
        /// The id the peer declared.
        claimed: PeerId,
        /// That server's host.
        host: String,
    },
    /// Hostname rule: the peer did not say which server it is, or names an unknown one.
    #[error("the peer claims no known server id")]
    NoClaim,
}

/// The name to expect in `peer`'s certificate when dialing it.
pub(crate) fn expected_name(
    rule: IdentityRule,
    hosts: &PeerHosts,
    peer: PeerId,
) -> Option<ServerName<'static>> {
    let name = match rule {
        IdentityRule::ServerId => server_name(peer),
        IdentityRule::Hostname => hosts.get(&peer)?.clone(),
    };
    ServerName::try_from(name).ok()
}

fn valid_for(cert: &webpki::EndEntityCert<'_>, name: &ServerName<'_>) -> bool {
    cert.verify_is_valid_for_subject_name(name).is_ok()
}

/// The server a chain-verified certificate belongs to, and the name it was recognised by.
pub(crate) fn identify(
    rule: IdentityRule,
    hosts: &PeerHosts,
    certs: &[CertificateDer<'_>],
    claimed: Option<PeerId>,
) -> Result<(PeerId, String), IdentityError> {
    let leaf = certs.first().ok_or(IdentityError::NoCertificate)?;
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| IdentityError::Unparsable(e.to_string()))?;
    match rule {
        IdentityRule::ServerId => {
            let named: Vec<PeerId> = hosts
                .keys()
                .copied()
                .filter(|&id| expected_name(rule, hosts, id).is_some_and(|n| valid_for(&cert, &n)))
                .collect();
            let id = match named.as_slice() {
                [] => return Err(IdentityError::NamesNoServer),
                [id] => *id,
                _ => return Err(IdentityError::Ambiguous(named)),
            };
            match claimed {
                Some(claimed) if claimed != id => {
                    Err(IdentityError::Mismatch { named: id, claimed })
                }
                _ => Ok((id, server_name(id))),
            }
        }
        IdentityRule::Hostname => {
            let claimed = claimed
                .filter(|c| hosts.contains_key(c))
                .ok_or(IdentityError::NoClaim)?;
            let host = hosts.get(&claimed).cloned().unwrap_or_default();
            match expected_name(rule, hosts, claimed) {
                Some(n) if valid_for(&cert, &n) => Ok((claimed, host)),
                _ => Err(IdentityError::WrongHost { claimed, host }),
            }
        }
    }
}
