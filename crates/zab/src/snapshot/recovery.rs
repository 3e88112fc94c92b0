//! Recovery: the newest valid snapshot, then log replay, each transaction exactly once.

use std::error::Error as StdError;

use tracing::info;

use super::store::{SnapshotError, SnapshotStore};
use crate::state_machine::{RestoreError, StateMachine};
use crate::txn::{Txn, Zxid, follows};

/// Why recovery refused to start.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The snapshot directory could not be read or written.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The transaction log has records but there is no valid snapshot (ZOOKEEPER-2325).
    /// Starting from an empty state would silently drop everything before the log's first
    /// record; restore a snapshot from a backup or another server, or wipe the data
    /// directory and let the leader resync this server.
    #[error(
        "no valid snapshot but the transaction log has records (first zxid {}); refusing to \
         start from an empty state (ZOOKEEPER-2325): restore a snapshot, or wipe the data \
         directory and resync from the leader",
        first_log_zxid.map_or_else(|| "unknown".to_owned(), |z| format!("{z:#x}"))
    )]
    NoSnapshotButLog {
        /// The first record's zxid, if known.
        first_log_zxid: Option<Zxid>,
    },
    /// Snapshot files exist but none is valid (the reasons were logged as warnings).
    #[error(
        "all {count} snapshot files are invalid; refusing to start from an empty state \
         (see the warnings above for each file)"
    )]
    AllSnapshotsInvalid {
        /// How many snapshot files there are.
        count: usize,
    },
    /// The data directory has no snapshot and no log: it is fresh, and
    /// [`init_if_empty`] must write the initial snapshot first.
    #[error("no snapshot in an empty data directory; call init_if_empty first")]
    NoSnapshot,
    /// [`init_if_empty`] was given a state machine that is not empty.
    #[error("initial snapshot requested from a state machine at {0:#x}, not 0")]
    NotFresh(Zxid),
    /// The state machine rejected the snapshot image, although its checksum was good.
    #[error("state machine rejected snapshot {zxid:#x}: {source}")]
    Restore {
        /// The snapshot's zxid.
        zxid: Zxid,
        /// The state machine's reason.
        #[source]
        source: RestoreError,
    },
    /// A log record does not directly follow the previous transaction: some are missing.
    #[error("gap in the transaction log: {found:#x} follows {prev:#x}")]
    Gap {
        /// The last transaction restored or applied.
        prev: Zxid,
        /// The record that does not follow it.
        found: Zxid,
    },
    /// A log record's zxid is not greater than the previous record's.
    #[error("transaction log not increasing: {found:#x} after {prev:#x}")]
    NotIncreasing {
        /// The previous record's zxid.
        prev: Zxid,
        /// This record's zxid.
        found: Zxid,
    },
    /// Reading the log failed.
    #[error("reading the transaction log after {after:#x}: {source}")]
    Log {
        /// The last zxid read successfully (or the snapshot's).
        after: Zxid,
        /// The log's error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// The state machine's `last_applied` is not what it was just given: a bug in it.
    #[error("state machine reports last_applied {actual:#x} where {expected:#x} was expected")]
    StateMachineZxid {
        /// The zxid just restored or applied.
        expected: Zxid,
        /// What `last_applied` returned.
        actual: Zxid,
    },
}

/// What [`recover`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryOutcome {
    /// The zxid of the snapshot restored.
    pub snapshot_zxid: Zxid,
    /// The last transaction applied (the snapshot's zxid if none was replayed); the state
    /// machine's `last_applied`.
    pub last_zxid: Zxid,
    /// Log records applied.
    pub replayed: u64,
    /// Log records skipped because the snapshot already contained them.
    pub skipped: u64,
}

/// Writes the initial snapshot at zxid 0 for a fresh data directory, as ZooKeeper 3.5+
/// does, so that "log records but no snapshot" can always be recognized as data loss
/// (ZOOKEEPER-2325) rather than mistaken for a fresh start.
///
/// Returns `Ok(true)` if it wrote the snapshot, `Ok(false)` if the directory already has
/// snapshot files (valid or not: [`recover`] judges them). `log_is_empty` must say whether
/// the transaction log has any record; if it has, there is no snapshot to start from and
/// this refuses with [`RecoveryError::NoSnapshotButLog`]. `sm` must be empty (at zxid 0).
pub fn init_if_empty<S: StateMachine + ?Sized>(
    store: &SnapshotStore,
    sm: &S,
    log_is_empty: bool,
) -> Result<bool, RecoveryError> {
    if !store.list()?.is_empty() {
        return Ok(false);
    }
    if !log_is_empty {
        return Err(RecoveryError::NoSnapshotButLog {
            first_log_zxid: None,
        });
    }
    if sm.last_applied() != 0 {
        return Err(RecoveryError::NotFresh(sm.last_applied()));
    }
    store.save(sm.snapshot().as_mut())?;
    info!(dir = %store.dir().display(), "initialized a fresh data directory with snapshot 0");
    Ok(true)
}

/// Rebuilds `sm` from `store` and the transaction log: restores the newest valid snapshot
/// (older ones are fallen back to, with warnings, if newer ones are corrupt), then applies,
/// in order, every log record with a zxid greater than the snapshot's. Records at or below
/// it are skipped: the snapshot is a consistent image at exactly its zxid, so each
/// transaction takes effect exactly once.
///
/// `log` yields the log's records in log order. Refuses to start when:
/// - there is no valid snapshot but the log has records (ZOOKEEPER-2325), or snapshot
///   files exist and none is valid ([`RecoveryError::AllSnapshotsInvalid`]), or the
///   directory is fresh ([`RecoveryError::NoSnapshot`]; call [`init_if_empty`] first);
/// - a record's zxid does not exceed the previous record's ([`RecoveryError::NotIncreasing`]);
/// - a record to apply does not directly follow the previous transaction, i.e. the next
///   counter of the same epoch or counter 1 of a later epoch ([`RecoveryError::Gap`]).
///   Notably, a snapshot newer than the log's start whose file is lost or corrupt makes
///   recovery fall back to an older snapshot, and the log's missing stretch is then
///   reported here instead of silently skipped (ZOOKEEPER-3642's data loss).
///
/// On error `sm` is in an unspecified state and must be discarded.
pub fn recover<S, I, E>(
    store: &SnapshotStore,
    log: I,
    sm: &mut S,
) -> Result<RecoveryOutcome, RecoveryError>
where
    S: StateMachine + ?Sized,
    I: IntoIterator<Item = Result<Txn, E>>,
    E: StdError + Send + Sync + 'static,
{
    recover_from(store, sm, |_| Ok::<_, E>(log))
}

/// [`recover`], opening the log only once the snapshot is chosen: `open_log(after)` must
/// return the log's records, in order, starting anywhere at or before the first record
/// with a zxid greater than `after` (e.g. a log reader positioned just after the snapshot,
/// so the records it already contains need not be read). `after` is the restored
/// snapshot's zxid, or 0 when there is no valid snapshot (to check the log is empty).
pub fn recover_from<S, F, I, E>(
    store: &SnapshotStore,
    sm: &mut S,
    open_log: F,
) -> Result<RecoveryOutcome, RecoveryError>
where
    S: StateMachine + ?Sized,
    F: FnOnce(Zxid) -> Result<I, E>,
    I: IntoIterator<Item = Result<Txn, E>>,
    E: StdError + Send + Sync + 'static,
{
    let open = |after: Zxid| {
        open_log(after)
            .map(IntoIterator::into_iter)
            .map_err(|e| RecoveryError::Log {
                after,
                source: Box::new(e),
            })
    };
    let Some((snapshot_zxid, image)) = store.newest_valid()? else {
        return Err(match open(0)?.next() {
            Some(Ok(txn)) => RecoveryError::NoSnapshotButLog {
                first_log_zxid: Some(txn.zxid),
            },
            Some(Err(e)) => RecoveryError::Log {
                after: 0,
                source: Box::new(e),
            },
            None => match store.list()?.len() {
                0 => RecoveryError::NoSnapshot,
                count => RecoveryError::AllSnapshotsInvalid { count },
            },
        });
    };
    sm.restore(snapshot_zxid, image)
        .map_err(|source| RecoveryError::Restore {
            zxid: snapshot_zxid,
            source,
        })?;
    check_applied(sm, snapshot_zxid)?;
    let log = open(snapshot_zxid)?;

    let mut outcome = RecoveryOutcome {
        snapshot_zxid,
        last_zxid: snapshot_zxid,
        replayed: 0,
        skipped: 0,
    };
    let mut prev_record: Option<Zxid> = None;
    for record in log {
        let txn = record.map_err(|e| RecoveryError::Log {
            after: prev_record.unwrap_or(snapshot_zxid),
            source: Box::new(e),
        })?;
        if let Some(prev) = prev_record
            && txn.zxid <= prev
        {
            return Err(RecoveryError::NotIncreasing {
                prev,
                found: txn.zxid,
            });
        }
        prev_record = Some(txn.zxid);
        if txn.zxid <= snapshot_zxid {
            outcome.skipped += 1;
            continue;
        }
        if !follows(outcome.last_zxid, txn.zxid) {
            return Err(RecoveryError::Gap {
                prev: outcome.last_zxid,
                found: txn.zxid,
            });
        }
        // The output (a client reply) has no one to go to during recovery.
        let _ = sm.apply(&txn);
        check_applied(sm, txn.zxid)?;
        outcome.last_zxid = txn.zxid;
        outcome.replayed += 1;
    }
    info!(
        snapshot = format_args!("{snapshot_zxid:#x}"),
        last = format_args!("{:#x}", outcome.last_zxid),
        replayed = outcome.replayed,
        skipped = outcome.skipped,
        "recovered state machine"
    );
    Ok(outcome)
}

fn check_applied<S: StateMachine + ?Sized>(sm: &S, expected: Zxid) -> Result<(), RecoveryError> {
    match sm.last_applied() {
        actual if actual == expected => Ok(()),
        actual => Err(RecoveryError::StateMachineZxid { expected, actual }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::make_zxid;

    #[test]
    fn follows_rule() {
        assert!(follows(make_zxid(1, 4), make_zxid(1, 5)));
        assert!(follows(make_zxid(1, 4), make_zxid(3, 1)));
        assert!(follows(0, make_zxid(1, 1)));
        assert!(!follows(make_zxid(1, 4), make_zxid(1, 6)));
        assert!(!follows(make_zxid(1, 4), make_zxid(2, 2)));
        assert!(!follows(make_zxid(1, 4), make_zxid(1, 4)));
        assert!(!follows(make_zxid(1, u32::MAX), make_zxid(2, 0)));
    }
}
