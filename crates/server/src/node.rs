//! One server process: the peer transport, the election, and the client port, wired from a
//! validated [`Config`], running until SIGTERM or Ctrl-C.

use crate::client_port::ClientPort;
use crate::config::{Config, LearnerRole, TransportKind};
use crate::status::{Mode, Status};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;
use zk_election::driver::{Driver, EpochStore, FileEpochStore};
use zk_election::peer::{self, PeerConfig};
use zk_election::quorum::QuorumVerifier;
use zk_election::vote::ServerState;
use zk_transport::{PeerId, Transport};
use zk_transport_tcp::{PeerAddrs, TcpBackend, TcpConfig};

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
    let store = FileEpochStore::open(&config.data_dir)
        .with_context(|| format!("opening dataDir {}", config.data_dir.display()))?;
    let epochs = store.load().with_context(|| {
        format!(
            "reading acceptedEpoch/currentEpoch in {}",
            config.data_dir.display()
        )
    })?;
    let mut peer_config = PeerConfig::new(me, verifier);
    peer_config.tick = config.tick;
    peer_config.init_limit = config.init_limit;
    peer_config.sync_limit = config.sync_limit;
    peer_config.accepted_epoch = epochs.accepted;
    peer_config.current_epoch = epochs.current;
    match config.transport {
        TransportKind::Tcp => {}
        other => bail!(
            "quorum transport '{other}' is not available in this build yet (only tcp); set quorum.transport=tcp or pass --transport tcp"
        ),
    }
    let (tx, rx) = TcpBackend::start(tcp_config(config, me))
        .await
        .context("starting the TCP peer transport")?;
    tracing::info!(transport = %config.transport, accepted_epoch = epochs.accepted, current_epoch = epochs.current, "joining the ensemble");
    let driver = Driver::new(peer_config, tx.clone(), rx, store);
    let election = driver.status();
    let mut driver_task = tokio::spawn(driver.run().in_current_span());
    let mirror = tokio::spawn(mirror_status(election, status));
    let result = tokio::select! {
        r = stop_signal() => r,
        r = &mut driver_task => match r {
            Ok(Ok(())) => bail!("the election driver stopped unexpectedly"),
            Ok(Err(e)) => Err(anyhow::Error::new(e).context("the election stopped")),
            Err(e) => Err(anyhow::Error::new(e).context("the election task failed")),
        },
    };
    tx.shutdown().await;
    mirror.abort();
    driver_task.abort();
    result
}

/// Keep the four-letter-word status in step with the election's.
async fn mirror_status(mut election: watch::Receiver<peer::Status>, status: watch::Sender<Status>) {
    loop {
        let s = election.borrow_and_update().clone();
        status.send_replace(to_status(&s));
        if election.changed().await.is_err() {
            return;
        }
    }
}

/// How an election status reads in `srvr`: serving once the leader's epoch is established.
pub fn to_status(s: &peer::Status) -> Status {
    let mode = match s.state {
        ServerState::Looking => Mode::Looking,
        ServerState::Leading => Mode::Leader,
        ServerState::Following => Mode::Follower,
        ServerState::Observing => Mode::Observer,
    };
    let epoch = s.established_epoch.unwrap_or(0);
    Status {
        mode,
        serving: mode != Mode::Looking && s.established_epoch.is_some(),
        // A new epoch starts at counter 0, as ZooKeeper's zxid after NEWLEADER.
        zxid: epoch << 32,
        leader: s.leader.map(|p| p.0),
        epoch,
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
