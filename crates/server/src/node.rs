//! One server process: the peer transport (an in-memory one for standalone mode, a quorum
//! of one), ZAB (election, sync, broadcast, the durable log and snapshots) replicating the
//! data tree, the client port with ZooKeeper's client protocol and four-letter words, and
//! the session heartbeats, wired from a validated [`Config`], running until SIGTERM or
//! Ctrl-C.

use crate::client::auth::AuthConfig;
use crate::client::reaper::{self, ReaperConfig};
use crate::client::replica::{ReplicatedTree, TreeOptions};
use crate::client::sessions::SessionTracker;
use crate::client::shared::Shared;
use crate::client::{ClientContext, Limits, heartbeats};
use crate::client_port::ClientPort;
use crate::config::{Config, LearnerRole, TransportKind};
use crate::peer;
use crate::status::{ConfInfo, Counters, Mode, QuorumProbe, Status};
use anyhow::{Context, Result, bail};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;
use zk_election::quorum::QuorumVerifier;
use zk_election::vote::ServerState;
use zk_transport::mem::MemNetwork;
use zk_transport::{ChannelSpecs, PeerId, Transport};
use zk_transport_grpc::GrpcBackend;
use zk_transport_quic::QuicBackend;
use zk_transport_tcp::TcpBackend;
use zk_zab::driver::{Driver, DriverConfig};
use zk_zab::proto::{self, server::Phase, server::ServerConfig};
use zk_zab::snapshot::PurgeConfig;

/// How long a new client connection may take to complete its handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Run the server described by `config` until a stop signal.
pub async fn run(config: Config) -> Result<()> {
    let span = match config.my_id {
        Some(id) => tracing::info_span!("zk-server", server = id),
        None => tracing::info_span!("zk-server", server = "standalone"),
    };
    run_inner(config).instrument(span).await
}

async fn run_inner(config: Config) -> Result<()> {
    let listener = bind_client_port(&config).await?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating dataDir {}", config.data_dir.display()))?;
    match config.my_id {
        // Standalone is a quorum of one over the same log and snapshots (as in ZooKeeper).
        None => {
            let me = PeerId(0);
            let network = MemNetwork::new();
            let (tx, rx) = network.start(me, ChannelSpecs::default());
            let verifier =
                QuorumVerifier::majority([me], []).context("the standalone quorum of one")?;
            serve(&config, me, verifier, tx, rx, listener, true, stop_signal()).await
        }
        Some(me) => {
            let me = PeerId(me);
            let verifier = verifier(&config)?;
            let tls = peer::tls_store(&config, me)?;
            if let Some(store) = &tls {
                peer::reload_on_sighup(store.clone());
            }
            match config.transport {
                TransportKind::Tcp => {
                    let started = TcpBackend::start(peer::tcp_config(&config, me, tls)).await;
                    serve_member(&config, me, verifier, listener, started, "TCP").await
                }
                TransportKind::Quic => {
                    let started = QuicBackend::start(peer::quic_config(&config, me, tls)?).await;
                    serve_member(&config, me, verifier, listener, started, "QUIC").await
                }
                TransportKind::Grpc => {
                    let started = GrpcBackend::start(peer::grpc_config(&config, me, tls)?).await;
                    serve_member(&config, me, verifier, listener, started, "gRPC").await
                }
            }
        }
    }
}

/// Run ensemble member `config.my_id` over a transport the caller started (for example an
/// in-memory one in tests) until `stop` resolves or replication fails.
pub async fn run_over<T: Transport, R: zk_transport::Inbound>(
    config: Config,
    tx: T,
    rx: R,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    let me = PeerId(
        config
            .my_id
            .context("run_over needs an ensemble member (myid)")?,
    );
    let listener = bind_client_port(&config).await?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating dataDir {}", config.data_dir.display()))?;
    let verifier = verifier(&config)?;
    let stop = async {
        stop.await;
        Ok(())
    };
    serve(&config, me, verifier, tx, rx, listener, false, stop).await
}

/// Serve as ensemble member `me` over a peer transport that was just started, or say which
/// transport could not start.
async fn serve_member<T: Transport, R: zk_transport::Inbound>(
    config: &Config,
    me: PeerId,
    verifier: QuorumVerifier,
    listener: TcpListener,
    started: Result<(T, R), zk_transport::StartError>,
    name: &str,
) -> Result<()> {
    let (tx, rx) = started.with_context(|| format!("starting the {name} peer transport"))?;
    serve(config, me, verifier, tx, rx, listener, false, stop_signal()).await
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

/// What the four-letter words learn from the replication side.
#[derive(Debug)]
struct NodeProbe {
    tracker: Arc<Mutex<SessionTracker>>,
}

impl QuorumProbe for NodeProbe {
    fn session_deadlines(&self) -> Option<Vec<(i64, std::time::Instant)>> {
        Some(
            self.tracker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .deadlines(),
        )
    }
}

/// Runs ZAB over `tx`/`rx` with the replicated data tree, the client port and the
/// session heartbeats, until a stop signal or a replication failure.
// The transport pair, its quorum and the stop signal differ per caller; the rest is config.
#[allow(clippy::too_many_arguments)]
async fn serve<T: Transport, R: zk_transport::Inbound>(
    config: &Config,
    me: PeerId,
    verifier: QuorumVerifier,
    tx: T,
    rx: R,
    listener: TcpListener,
    standalone: bool,
    stop: impl Future<Output = Result<()>>,
) -> Result<()> {
    let mut server = ServerConfig::new(me, verifier);
    server.tick = config.tick;
    server.init_limit = config.init_limit;
    server.sync_limit = config.sync_limit;
    let mut driver_config =
        DriverConfig::new(server, config.data_dir.clone(), config.data_log_dir.clone());
    driver_config.log.force_sync = config.force_sync;
    driver_config.snap_count = config.snap_count;
    driver_config.server.committed_log_window = config.committed_log_window;
    driver_config.purge = PurgeConfig {
        snap_retain_count: config.snap_retain_count,
        purge_interval_hours: config.purge_interval_hours,
    };
    let shared = Arc::new(Shared::new());
    let tracker = Arc::new(Mutex::new(SessionTracker::new()));
    let tree = ReplicatedTree::new(
        shared.clone(),
        tracker.clone(),
        TreeOptions {
            extended_types_enabled: config.extended_types_enabled,
            max_buffer: config.max_buffer,
            server_id: me.0,
        },
    );
    let (driver, zab) = match Driver::open(driver_config, tx.clone(), rx, tree) {
        Ok(opened) => opened,
        Err(e) => {
            tx.shutdown().await;
            return Err(anyhow::Error::new(e).context("recovering from the data directories"));
        }
    };
    let (status_tx, status_rx) = watch::channel(Status::looking());
    let (stop_tx, stop_rx) = watch::channel(false);
    let counters = Counters::new();
    counters.set_conf(ConfInfo::from_config(config));
    counters.set_probe(Arc::new(NodeProbe {
        tracker: tracker.clone(),
    }));
    let ctx = Arc::new(ClientContext::new(
        shared.clone(),
        zab.clone(),
        status_rx.clone(),
        Limits {
            min_session_timeout: config.min_session_timeout,
            max_session_timeout: config.max_session_timeout,
            max_buffer: config.max_buffer,
            connect_timeout: CONNECT_TIMEOUT,
        },
        AuthConfig {
            super_digest: config.super_digest.clone(),
        },
        counters.clone(),
        me.0,
    ));
    let port = ClientPort::new(
        config.whitelist.clone(),
        status_rx.clone(),
        config.max_client_cnxns,
        counters,
        Some(ctx),
    );
    let client_task = tokio::spawn(port.serve(listener, stop_rx.clone()).in_current_span());
    let beats = tokio::spawn(
        heartbeats::run(
            shared.clone(),
            tracker,
            zab.clone(),
            status_rx.clone(),
            config.tick,
            me.0,
            stop_rx.clone(),
        )
        .in_current_span(),
    );
    let reaper = tokio::spawn(
        reaper::run(
            shared.clone(),
            zab.clone(),
            status_rx.clone(),
            ReaperConfig {
                interval: config.container_check_interval,
                max_never_used: config.container_max_never_used,
            },
            stop_rx.clone(),
        )
        .in_current_span(),
    );
    if standalone {
        tracing::info!("serving in standalone mode");
    } else {
        tracing::info!(transport = %config.transport, "joining the ensemble");
    }
    let mut driver_task = tokio::spawn(driver.run().in_current_span());
    let mirror = tokio::spawn(mirror_status(zab.status(), status_tx, standalone));
    let result = tokio::select! {
        r = stop => r,
        r = &mut driver_task => match r {
            Ok(Ok(())) => bail!("the replication driver stopped unexpectedly"),
            Ok(Err(e)) => Err(anyhow::Error::new(e).context("replication stopped")),
            Err(e) => Err(anyhow::Error::new(e).context("the replication task failed")),
        },
    };
    let _ = stop_tx.send(true);
    let _ = client_task.await;
    let _ = beats.await;
    let _ = reaper.await;
    tx.shutdown().await;
    mirror.abort();
    driver_task.abort();
    result
}

/// Keep the four-letter-word status in step with the replication core's.
async fn mirror_status(
    mut zab: watch::Receiver<proto::server::Status>,
    status: watch::Sender<Status>,
    standalone: bool,
) {
    loop {
        let s = zab.borrow_and_update().clone();
        let mut mirrored = to_status(&s);
        if standalone && mirrored.mode == Mode::Leader {
            mirrored.mode = Mode::Standalone;
        }
        status.send_replace(mirrored);
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
