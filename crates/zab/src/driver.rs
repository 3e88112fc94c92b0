//! A tokio driver: runs one server's ZAB core ([`Server`](crate::proto::Server)) over a [`Transport`], with the
//! durable transaction log ([`GroupCommit`]), snapshots ([`SnapshotStore`], [`Snapshotter`]),
//! the epoch files ([`FileEpochStore`]) and a [`StateMachine`].
//!
//! [`Driver::open`] recovers the durable state and returns the driver with a
//! [`ClientHandle`]; [`Driver::run`] then shuttles events until the transport shuts down:
//! link events, the core's deadline, the log's durability, client requests and snapshot
//! images in; the core's actions out, performed strictly in order (see the call contract in
//! [`crate::proto::server`]).
//!
//! # Recovery and what is applied at start
//!
//! `open` restores the newest valid snapshot into the state machine, but does **not** replay
//! the log tail after it: that tail may end with proposals that were logged and acked but
//! never committed (they may be truncated by the next leader's TRUNC, which the core refuses
//! below what was applied). The tail goes to the core as its history
//! ([`StartState::log`]), with [`StartState::last_applied`] at the snapshot; the core
//! delivers the committed part again once an epoch is established (the leader commits its
//! whole history, learners are synced), so every write applied before a restart is applied
//! again after it, exactly once per start.
//!
//! # Durability
//!
//! Epochs, truncations and snapshot installs are durable before the next action is
//! performed; appends are reported through [`Input::Durable`](crate::proto::Input::Durable) once the group commit made
//! them durable. If the log fails ([`Durability::Failed`]) the driver stops with
//! [`DriverError::LogFailed`]: the server must stop accepting writes, and the error says why.

mod client;
mod run;

use client::Request;
pub use client::{ClientError, ClientHandle};

use crate::log::{CommitOptions, Durability, GroupCommit, LogError, LogOptions, TxnLog};
use crate::proto::server::{Phase, ServerConfig, StartState, Status};
use crate::snapshot::{
    PurgeConfig, PurgeTask, RecoveryError, SnapshotError, SnapshotStore, SnapshotTrigger,
    Snapshotter, init_if_empty, recover_from,
};
use crate::state_machine::{RestoreError, StateMachine};
use crate::txn::{Txn, Zxid, follows};
use std::io;
use std::path::PathBuf;
use tokio::sync::{mpsc, watch};
use zk_election::ServerState;
use zk_election::driver::{
    ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE, EpochStore, Epochs, FileEpochStore,
};
use zk_transport::{Inbound, Transport};

/// Everything [`Driver::open`] needs besides the transport and the state machine.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The protocol settings (id, quorum, ticks).
    pub server: ServerConfig,
    /// `dataDir`: the snapshots and the epoch files.
    pub data_dir: PathBuf,
    /// `dataLogDir`: the transaction log segments.
    pub data_log_dir: PathBuf,
    /// Settings of the transaction log.
    pub log: LogOptions,
    /// `snapCount`: a background snapshot after about this many applied txns.
    pub snap_count: u64,
    /// Seed of the randomized snapshot threshold (differ per server, e.g. its id).
    pub snapshot_seed: u64,
    /// Client requests ([`ClientHandle::write`], [`ClientHandle::sync`]) queued at most.
    pub client_queue: usize,
    /// `autopurge.snapRetainCount` / `autopurge.purgeInterval`: old snapshots, and the log
    /// segments only they needed, are removed periodically (off by default, as in ZooKeeper).
    pub purge: PurgeConfig,
}

impl DriverConfig {
    /// A config with ZooKeeper's defaults for the log and `snapCount`, seeded by the id.
    pub fn new(server: ServerConfig, data_dir: PathBuf, data_log_dir: PathBuf) -> Self {
        let snapshot_seed = server.me.0;
        Self {
            server,
            data_dir,
            data_log_dir,
            log: LogOptions::default(),
            snap_count: SnapshotTrigger::DEFAULT_SNAP_COUNT,
            snapshot_seed,
            client_queue: 1024,
            purge: PurgeConfig::default(),
        }
    }
}

/// Why the driver could not start, or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The epoch files could not be opened or read.
    #[error("epoch files in {}: {source}", path.display())]
    EpochFiles {
        /// The data directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An epoch could not be made durable; continuing could break the epoch rule.
    #[error("cannot persist {which} in {}: {source}", path.display())]
    Persist {
        /// `acceptedEpoch` or `currentEpoch`.
        which: &'static str,
        /// The data directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The transaction log could not be opened, read, truncated or written (a corrupt
    /// segment is reported with the log's own message, which names it).
    #[error("transaction log in {}: {source}", path.display())]
    Log {
        /// The log directory.
        path: PathBuf,
        /// The log's error.
        #[source]
        source: LogError,
    },
    /// The transaction log failed a write or fsync: this server accepts no more writes.
    #[error(
        "transaction log in {} failed; this server stopped and accepts no more writes: {reason}",
        path.display()
    )]
    LogFailed {
        /// The log directory.
        path: PathBuf,
        /// The first failure, naming the OS error.
        reason: String,
    },
    /// The snapshot directory could not be opened or a snapshot could not be saved.
    #[error("snapshots in {}: {source}", path.display())]
    Snapshot {
        /// The data directory.
        path: PathBuf,
        /// The snapshot store's error (it names the file).
        #[source]
        source: SnapshotError,
    },
    /// Recovery refused to start (no valid snapshot, a gap in the log, ...).
    #[error("recovery from {} and {}: {source}", data_dir.display(), data_log_dir.display())]
    Recovery {
        /// The data directory.
        data_dir: PathBuf,
        /// The log directory.
        data_log_dir: PathBuf,
        /// Why.
        #[source]
        source: RecoveryError,
    },
    /// The state machine rejected a snapshot image sent by the leader.
    #[error("state machine rejected the leader's snapshot {zxid:#x}: {source}")]
    Restore {
        /// The image's zxid.
        zxid: Zxid,
        /// The state machine's reason.
        #[source]
        source: RestoreError,
    },
}

/// One server: its ZAB core and its storage, run over a transport. Build with
/// [`Driver::open`], then `.await` [`Driver::run`] (typically in a spawned task).
#[derive(Debug)]
pub struct Driver<T, R, SM> {
    config: DriverConfig,
    transport: T,
    inbound: R,
    sm: SM,
    start: StartState,
    epochs: FileEpochStore,
    store: SnapshotStore,
    commit: GroupCommit,
    client_rx: mpsc::Receiver<Request>,
    status_tx: watch::Sender<Status>,
    applied_tx: watch::Sender<Zxid>,
}

impl<T: Transport, R: Inbound, SM: StateMachine + 'static> Driver<T, R, SM> {
    /// Recovers the durable state of `config`'s directories into `sm` (which must be empty)
    /// and starts the log writer. See the [module docs](self) for what is applied.
    ///
    /// A fresh data directory gets the initial snapshot at zxid 0. Every failure names the
    /// directory and the cause; a corrupt log segment stops start-up with the log's message.
    pub fn open(
        config: DriverConfig,
        transport: T,
        inbound: R,
        mut sm: SM,
    ) -> Result<(Self, ClientHandle), DriverError> {
        let data_dir = config.data_dir.clone();
        let log_dir = config.data_log_dir.clone();
        let mut epochs =
            FileEpochStore::open(&data_dir).map_err(|source| DriverError::EpochFiles {
                path: data_dir.clone(),
                source,
            })?;
        let e = repair_epochs(&mut epochs).map_err(|source| DriverError::EpochFiles {
            path: data_dir.clone(),
            source,
        })?;
        let store = SnapshotStore::open(&data_dir).map_err(|source| DriverError::Snapshot {
            path: data_dir.clone(),
            source,
        })?;
        let log_err = |source| DriverError::Log {
            path: log_dir.clone(),
            source,
        };
        let (mut log, found) = TxnLog::open(&log_dir, config.log.clone()).map_err(log_err)?;
        let recovery_err = |source| DriverError::Recovery {
            data_dir: data_dir.clone(),
            data_log_dir: log_dir.clone(),
            source,
        };
        init_if_empty(&store, &sm, found.records == 0).map_err(recovery_err)?;
        // Restore the snapshot only; keep the log tail for the core (see the module docs).
        let mut tail: Vec<Txn> = Vec::new();
        let outcome = recover_from(&store, &mut sm, |after| {
            for txn in log.read_from(after)? {
                tail.push(txn?);
            }
            Ok::<_, LogError>(Vec::<Result<Txn, LogError>>::new())
        })
        .map_err(|e| match e {
            RecoveryError::Log { source, .. } => match source.downcast::<LogError>() {
                Ok(source) => log_err(*source),
                Err(source) => recovery_err(RecoveryError::Log { after: 0, source }),
            },
            e => recovery_err(e),
        })?;
        let base = outcome.snapshot_zxid;
        let mut prev = base;
        for txn in &tail {
            if txn.zxid <= prev {
                return Err(recovery_err(RecoveryError::NotIncreasing {
                    prev,
                    found: txn.zxid,
                }));
            }
            if !follows(prev, txn.zxid) {
                return Err(recovery_err(RecoveryError::Gap {
                    prev,
                    found: txn.zxid,
                }));
            }
            prev = txn.zxid;
        }
        let e = epochs_for_data(&mut epochs, &data_dir, e, prev.max(base)).map_err(|source| {
            DriverError::EpochFiles {
                path: data_dir.clone(),
                source,
            }
        })?;
        tracing::info!(
            server = %config.server.me,
            snapshot = format_args!("{base:#x}"),
            last_logged = format_args!("{prev:#x}"),
            accepted_epoch = e.accepted,
            current_epoch = e.current,
            "recovered"
        );
        let commit = GroupCommit::start(log, CommitOptions::default()).map_err(log_err)?;
        if let Durability::Failed(reason) = commit.handle().durability() {
            return Err(DriverError::LogFailed {
                path: log_dir,
                reason,
            });
        }
        let start = StartState {
            accepted_epoch: e.accepted,
            current_epoch: e.current,
            log_base: base,
            log: tail,
            last_applied: base,
        };
        let initial = Status {
            me: config.server.me,
            state: ServerState::Looking,
            phase: Phase::Election,
            leader: None,
            accepted_epoch: e.accepted,
            current_epoch: e.current,
            last_logged: prev,
            last_durable: prev,
            last_applied: base,
        };
        let (status_tx, status) = watch::channel(initial);
        let (applied_tx, applied) = watch::channel(base);
        let (tx, client_rx) = mpsc::channel(config.client_queue.max(1));
        let driver = Self {
            config,
            transport,
            inbound,
            sm,
            start,
            epochs,
            store,
            commit,
            client_rx,
            status_tx,
            applied_tx,
        };
        let client = ClientHandle {
            tx,
            status,
            applied,
        };
        Ok((driver, client))
    }

    /// Runs until the inbound stream ends (transport shutdown: `Ok`), or storage fails.
    pub async fn run(self) -> Result<(), DriverError> {
        let snapshotter = Snapshotter::new(
            self.store.clone(),
            SnapshotTrigger::new(self.config.snap_count, self.config.snapshot_seed),
        );
        let purge = PurgeTask::spawn(self.store.clone(), self.config.purge);
        let running = run::Running::new(run::Parts {
            purge,
            me: self.config.server.me,
            data_dir: self.config.data_dir,
            log_dir: self.config.data_log_dir,
            transport: self.transport,
            sm: self.sm,
            epochs: self.epochs,
            store: self.store,
            commit: self.commit,
            snapshotter,
            status_tx: self.status_tx,
            applied_tx: self.applied_tx,
        });
        running
            .run(self.config.server, self.start, self.inbound, self.client_rx)
            .await
    }
}

/// Loads the epochs, raising `acceptedEpoch` to `currentEpoch` when it is lower.
///
/// The protocol always persists an epoch as accepted before it becomes current, so
/// `accepted >= current` holds unless a file was lost or restored from elsewhere
/// (ZOOKEEPER-1653 is the crash-time variant, which atomic writes rule out here). Raising
/// `acceptedEpoch` is the safe repair: this server then refuses to acknowledge any epoch it
/// may already have been part of, while ZooKeeper refuses to start at all.
fn repair_epochs(store: &mut FileEpochStore) -> io::Result<Epochs> {
    let mut e = store.load()?;
    if e.accepted < e.current {
        tracing::warn!(
            accepted = e.accepted,
            current = e.current,
            "acceptedEpoch is below currentEpoch (a lost or replaced file): raising it to currentEpoch"
        );
        store.save_accepted(e.current)?;
        e.accepted = e.current;
    }
    Ok(e)
}

/// Epoch files that are missing while the data directory holds transactions are derived
/// from the newest one, as ZooKeeper does, instead of being read as 0: with epoch 0 this
/// server would vote as if it held nothing of later epochs and could lose an election it
/// must win. Files that exist are kept as they are.
fn epochs_for_data(
    store: &mut FileEpochStore,
    data_dir: &std::path::Path,
    mut e: Epochs,
    newest: Zxid,
) -> io::Result<Epochs> {
    let data_epoch = u64::from(crate::txn::epoch_of(newest));
    let missing = |name: &str| !data_dir.join(name).exists();
    if missing(CURRENT_EPOCH_FILE) && data_epoch > e.current {
        tracing::warn!(
            epoch = data_epoch,
            "currentEpoch file missing: derived from the newest transaction"
        );
        store.save_current(data_epoch)?;
        e.current = data_epoch;
    }
    if missing(ACCEPTED_EPOCH_FILE) && e.current > e.accepted {
        tracing::warn!(
            epoch = e.current,
            "acceptedEpoch file missing: derived from currentEpoch"
        );
        store.save_accepted(e.current)?;
        e.accepted = e.current;
    }
    Ok(e)
}
