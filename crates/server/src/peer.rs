//! The peer transport of an ensemble member, built from the config: classic TCP (with
//! `sslQuorum`, TLS), QUIC or gRPC, the last two always with mutual TLS.

use crate::config::{Config, TransportKind};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use zk_tls::{IdentityRule, PeerHosts, TlsFiles, TlsStore};
use zk_transport::PeerId;
use zk_transport_grpc::GrpcConfig;
use zk_transport_quic::QuicConfig;
use zk_transport_tcp::{PeerAddrs, TcpConfig};

/// The TLS store this server's transport needs, if any: QUIC and gRPC always, TCP with
/// `sslQuorum=true`. Refuses to go on without the `ssl.quorum.*` keys, naming the missing one.
pub fn tls_store(config: &Config, me: PeerId) -> Result<Option<TlsStore>> {
    let t = &config.quorum_tls;
    let why = match config.transport {
        TransportKind::Tcp if !t.ssl_quorum => return Ok(None),
        TransportKind::Tcp => "sslQuorum=true".to_owned(),
        other => format!("quorum.transport={other} (always mutual TLS)"),
    };
    let missing = |key: &str, what: &str| {
        anyhow::anyhow!(
            "{why} needs {key} in {} ({what}, PEM); `zk-server certs --config {} --out DIR` writes a CA and one certificate per server",
            config.path.display(),
            config.path.display()
        )
    };
    let key_store = t.key_store.clone().ok_or_else(|| {
        missing(
            "ssl.quorum.keyStore.location",
            "this server's certificate chain and private key",
        )
    })?;
    let trust_store = t
        .trust_store
        .clone()
        .ok_or_else(|| missing("ssl.quorum.trustStore.location", "the ensemble's CA"))?;
    let rule = if t.hostname_verification {
        IdentityRule::Hostname
    } else {
        IdentityRule::ServerId
    };
    let store = TlsStore::load(
        TlsFiles {
            key_store,
            trust_store,
        },
        me,
        rule,
        hosts(config),
    )
    .with_context(|| format!("loading the quorum TLS certificates ({why})"))?;
    Ok(Some(store))
}

/// The host of every `server.N`.
pub fn hosts(config: &Config) -> PeerHosts {
    config
        .servers
        .values()
        .map(|s| (PeerId(s.id), s.host.clone()))
        .collect()
}

/// The classic transport's configuration: election and quorum ports of every server.
pub fn tcp_config(config: &Config, me: PeerId, tls: Option<TlsStore>) -> TcpConfig {
    let peers: BTreeMap<PeerId, PeerAddrs> = config
        .servers
        .values()
        .map(|s| {
            (
                PeerId(s.id),
                PeerAddrs::new(s.addr(s.election_port), s.addr(s.quorum_port)),
            )
        })
        .collect();
    let mut c = TcpConfig::new(me, peers);
    c.tls = tls;
    c
}

/// The quorum port of every server: QUIC (UDP) and gRPC (TCP) carry both channels there.
pub fn quorum_addrs(config: &Config) -> BTreeMap<PeerId, String> {
    config
        .servers
        .values()
        .map(|s| (PeerId(s.id), s.addr(s.quorum_port)))
        .collect()
}

/// The QUIC transport's configuration, keep-alive and idle timeout from tickTime/syncLimit.
pub fn quic_config(config: &Config, me: PeerId, tls: Option<TlsStore>) -> Result<QuicConfig> {
    let Some(tls) = tls else {
        bail!("QUIC needs the quorum TLS certificates");
    };
    Ok(QuicConfig::new(me, quorum_addrs(config), tls).with_ticks(config.tick, config.sync_limit))
}

/// The gRPC transport's configuration, HTTP/2 keep-alive from tickTime/syncLimit.
pub fn grpc_config(config: &Config, me: PeerId, tls: Option<TlsStore>) -> Result<GrpcConfig> {
    let Some(tls) = tls else {
        bail!("gRPC needs the quorum TLS certificates");
    };
    Ok(GrpcConfig::new(me, quorum_addrs(config), tls).with_ticks(config.tick, config.sync_limit))
}

/// Re-read the certificates on SIGHUP (they are also re-read when their files change).
pub fn reload_on_sighup(store: TlsStore) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match store.reload() {
                Ok(true) => {}
                Ok(false) => tracing::info!("SIGHUP: the quorum certificates did not change"),
                Err(e) => tracing::warn!("SIGHUP: keeping the current quorum certificates: {e}"),
            }
        }
    });
}
