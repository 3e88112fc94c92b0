//! One server process: the peer transport, ZAB (election, sync, broadcast, the durable log
//! and snapshots) replicating the temporary key-value state ([`SharedKv`]), the client port,
//! and, only when `zkrs.testClientPort` is set, the test port ([`crate::test_port`]), wired
//! from a validated [`Config`], running until SIGTERM or Ctrl-C.

use crate::client_port::ClientPort;
use crate::config::{Config, LearnerRole, TransportKind};
use crate::replicated::SharedKv;
use crate::status::{Mode, Status};
use crate::test_port::TestPort;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;
use zk_election::quorum::QuorumVerifier;
use zk_election::vote::ServerState;
use zk_transport::{PeerId, Transport};
use zk_transport_tcp::{PeerAddrs, TcpBackend, TcpConfig};
use zk_zab::driver::{Driver, DriverConfig};
use zk_zab::proto::{self, server::Phase, server::ServerConfig};
use zk_zab::snapshot::PurgeConfig;

/// Run the server described by `config` until a stop signal.
pub async fn run(config: Config) -> Result<()> {
    let span = match config.my_id {
        Some(id) => tracing::info_span!("zk-server", server = id),
        None => tracing::info_span!("zk-server", server = "standalone"),
    };
    run_inner(config).instrument(span).await
}

async fn run_inner(config: Config) -> Result<()> {
    let client = bind_client_port(&config).await?;
    let (status_tx, status_rx) = watch::channel(Status::looking());
    let (stop_tx, stop_rx) = watch::channel(false);
    let port = ClientPort::new(config.whitelist.clone(), status_rx, config.max_client_cnxns);
    let client_task = tokio::spawn(port.serve(client, stop_rx).in_current_span());

    let outcome = match config.my_id {
        None => standalone(&config, &status_tx).await,
        Some(me) => ensemble(&config, PeerId(me), status_tx).await,
    };
    let _ = stop_tx.send(true);
    let _ = client_task.await;
    outcome
}

async fn bind_client_port(config: &Config) -> Result<TcpListener> {
    let host = config
        .client_address
        .clone()
        .unwrap_or_else(|| "0.0.0.0".into());
    let addr = if host.contains(':') {
        format!("[{host}]:{}", config.client_port)
    } else {
        format!("{host}:{}", config.client_port)
    };
    let listener = TcpListener::bind(&addr).await.with_context(|| {
        format!(
            "cannot listen on the client port {addr} (clientPort/clientPortAddress in {})",
            config.path.display()
        )
    })?;
    tracing::info!(%addr, "client port open");
    Ok(listener)
}

async fn standalone(config: &Config, status: &watch::Sender<Status>) -> Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating dataDir {}", config.data_dir.display()))?;
    status.send_replace(Status {
        mode: Mode::Standalone,
        serving: true,
        zxid: 0,
        leader: None,
        epoch: 0,
    });
    if config.test_client_port.is_some() {
        tracing::warn!("zkrs.testClientPort is ignored in standalone mode (nothing is replicated)");
    }
    tracing::info!("serving in standalone mode");
    stop_signal().await
}

/// The voting rule from `server.N`, `group.N` and `weight.N`.
pub fn verifier(config: &Config) -> Result<QuorumVerifier> {
    let ids = |role| {
        config
            .servers
            .values()
            .filter(move |s| s.role == role)
            .map(|s| PeerId(s.id))
    };
    let voters: Vec<PeerId> = ids(LearnerRole::Participant).collect();
    let observers: Vec<PeerId> = ids(LearnerRole::Observer).collect();
    let q = match &config.groups {
        None => QuorumVerifier::majority(voters, observers),
        Some(g) => QuorumVerifier::hierarchical_for(
            voters,
            g.groups
                .iter()
                .map(|(gid, members)| (*gid, members.iter().map(|&m| PeerId(m)).collect())),
            g.weights.iter().map(|(&s, &w)| (PeerId(s), w)),
            observers,
        ),
    };
    q.with_context(|| {
        format!(
            "the quorum described in {} is unusable",
            config.path.display()
        )
    })
}

fn tcp_config(config: &Config, me: PeerId) -> TcpConfig {
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
    TcpConfig::new(me, peers)
}

async fn ensemble(config: &Config, me: PeerId, status: watch::Sender<Status>) -> Result<()> {
    let verifier = verifier(config)?;
    let mut server = ServerConfig::new(me, verifier);
    server.tick = config.tick;
    server.init_limit = config.init_limit;
    server.sync_limit = config.sync_limit;
    match config.transport {
        TransportKind::Tcp => {}
        other => bail!(
            "quorum transport '{other}' is not available in this build yet (only tcp); set quorum.transport=tcp or pass --transport tcp"
        ),
    }
    let (tx, rx) = TcpBackend::start(tcp_config(config, me))
        .await
        .context("starting the TCP peer transport")?;
    let mut driver_config =
        DriverConfig::new(server, config.data_dir.clone(), config.data_log_dir.clone());
    driver_config.log.force_sync = config.force_sync;
    driver_config.snap_count = config.snap_count;
    driver_config.server.committed_log_window = config.committed_log_window;
    driver_config.purge = PurgeConfig {
        snap_retain_count: config.snap_retain_count,
        purge_interval_hours: config.purge_interval_hours,
    };
    let kv = SharedKv::new();
    let (driver, client) = match Driver::open(driver_config, tx.clone(), rx, kv.clone()) {
        Ok(opened) => opened,
        Err(e) => {
            tx.shutdown().await;
            return Err(anyhow::Error::new(e).context("recovering from the data directories"));
        }
    };
    let (test_stop_tx, test_stop) = watch::channel(false);
    let test_port = match config.test_client_port {
        None => None,
        Some(port) => {
            let host = config.client_address.as_deref().unwrap_or("127.0.0.1");
            match TestPort::bind(host, port, kv, client.clone()).await {
                Ok(p) => Some(tokio::spawn(p.serve(test_stop).in_current_span())),
                Err(e) => {
                    tx.shutdown().await;
                    return Err(anyhow::Error::new(e).context(format!(
                        "cannot listen on the test port {host}:{port} (zkrs.testClientPort in {})",
                        config.path.display()
                    )));
                }
            }
        }
    };
    tracing::info!(transport = %config.transport, "joining the ensemble");
    let mut driver_task = tokio::spawn(driver.run().in_current_span());
    let mirror = tokio::spawn(mirror_status(client.status(), status));
    let result = tokio::select! {
        r = stop_signal() => r,
        r = &mut driver_task => match r {
            Ok(Ok(())) => bail!("the replication driver stopped unexpectedly"),
            Ok(Err(e)) => Err(anyhow::Error::new(e).context("replication stopped")),
            Err(e) => Err(anyhow::Error::new(e).context("the replication task failed")),
        },
    };
    let _ = test_stop_tx.send(true);
    if let Some(task) = test_port {
        let _ = task.await;
    }
    tx.shutdown().await;
    mirror.abort();
    driver_task.abort();
    result
}

/// Keep the four-letter-word status in step with the replication core's.
async fn mirror_status(
    mut zab: watch::Receiver<proto::server::Status>,
    status: watch::Sender<Status>,
) {
    loop {
        let s = zab.borrow_and_update().clone();
        status.send_replace(to_status(&s));
        if zab.changed().await.is_err() {
            return;
        }
    }
}

/// How a replication status reads in `srvr`: serving in the broadcast phase.
pub fn to_status(s: &proto::server::Status) -> Status {
    let mode = match s.state {
        ServerState::Looking => Mode::Looking,
        ServerState::Leading => Mode::Leader,
        ServerState::Following => Mode::Follower,
        ServerState::Observing => Mode::Observer,
    };
    let serving = s.phase == Phase::Broadcast && mode != Mode::Looking;
    Status {
        mode,
        serving,
        // As ZooKeeper's srvr: a new epoch reads as (epoch, 0) until its first transaction.
        zxid: s.last_applied.max(s.current_epoch << 32),
        leader: s.leader.map(|p| p.0),
        epoch: s.current_epoch,
    }
}

async fn stop_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        r = tokio::signal::ctrl_c() => { r.context("waiting for Ctrl-C")?; tracing::info!("Ctrl-C: stopping"); }
    }
    Ok(())
}
