//! Background snapshots every `snapCount` applied transactions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use zk_transport::rng::SeededRng;

use tokio::sync::oneshot;
use tracing::{error, warn};

use super::store::{SnapshotError, SnapshotStore};
use crate::state_machine::{SnapshotSource, StateMachine};
use crate::txn::Zxid;

/// When to snapshot: after a number of applied transactions drawn, after every snapshot,
/// uniformly from `[snapCount/2, snapCount]`.
///
/// ZooKeeper randomizes the threshold so that the servers of an ensemble, which apply the
/// same transactions at about the same time, do not all snapshot at once. The randomness
/// comes from `seed` (give each server a different one, e.g. derived from its id), through a
/// small deterministic generator: no global RNG, and a run is reproducible from its seed.
#[derive(Clone, Debug)]
pub struct SnapshotTrigger {
    snap_count: u64,
    rng: SeededRng,
    threshold: u64,
    since_last: u64,
}

impl SnapshotTrigger {
    /// ZooKeeper's minimum `snapCount`.
    pub const MIN_SNAP_COUNT: u64 = 2;
    /// ZooKeeper's default `snapCount`.
    pub const DEFAULT_SNAP_COUNT: u64 = 100_000;

    /// A trigger for `snap_count` (ZooKeeper's `snapCount`, default 100000; values below 2
    /// are raised to 2, as ZooKeeper does), randomized from `seed`.
    pub fn new(snap_count: u64, seed: u64) -> Self {
        let snap_count = if snap_count < Self::MIN_SNAP_COUNT {
            warn!(snap_count, "snapCount below 2, using 2");
            Self::MIN_SNAP_COUNT
        } else {
            snap_count
        };
        let mut t = Self {
            snap_count,
            rng: SeededRng::new(seed),
            threshold: 0,
            since_last: 0,
        };
        t.roll();
        t
    }

    /// The `snapCount` in force.
    pub fn snap_count(&self) -> u64 {
        self.snap_count
    }

    /// The number of applied transactions after which the next snapshot is due, always in
    /// `[snap_count / 2, snap_count]`.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// Transactions applied since the last snapshot was due.
    pub fn since_last(&self) -> u64 {
        self.since_last
    }

    /// Counts one applied transaction; returns true when a snapshot is due, in which case the
    /// count restarts from 0 with a freshly drawn threshold.
    pub fn record_applied(&mut self) -> bool {
        self.since_last += 1;
        if self.since_last < self.threshold {
            return false;
        }
        self.since_last = 0;
        self.roll();
        true
    }

    fn roll(&mut self) {
        let lo = self.snap_count / 2;
        let span = self.snap_count - lo + 1;
        self.threshold = lo + self.rng.below(span);
    }
}

/// The pending result of one background snapshot.
#[derive(Debug)]
pub struct SnapshotTicket {
    zxid: Zxid,
    rx: oneshot::Receiver<Result<Zxid, SnapshotError>>,
}

impl SnapshotTicket {
    /// The zxid the snapshot is consistent at.
    pub fn zxid(&self) -> Zxid {
        self.zxid
    }

    /// Waits for the snapshot to be durable (or to fail).
    pub async fn done(self) -> Result<Zxid, SnapshotError> {
        self.rx.await.unwrap_or_else(|_| Err(lost()))
    }

    /// Blocks until the snapshot is durable (or has failed). Must not be called from
    /// within an async context (use [`done`](Self::done) there).
    pub fn wait(self) -> Result<Zxid, SnapshotError> {
        self.rx.blocking_recv().unwrap_or_else(|_| Err(lost()))
    }

    /// The result if the snapshot has finished, without waiting.
    pub fn try_done(&mut self) -> Option<Result<Zxid, SnapshotError>> {
        match self.rx.try_recv() {
            Ok(result) => Some(result),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(lost())),
        }
    }
}

fn lost() -> SnapshotError {
    SnapshotError::Background("snapshot thread ended without reporting (did it panic?)".into())
}

/// Takes snapshots in the background: [`after_apply`](Self::after_apply), called after
/// every applied transaction, captures the state machine's image when the
/// [`SnapshotTrigger`] says one is due and writes it to the [`SnapshotStore`] on its own
/// thread, while `apply` continues.
///
/// At most one snapshot is written at a time; when one is due while the previous one is
/// still being written, it is skipped with a warning (as ZooKeeper does).
#[derive(Debug)]
pub struct Snapshotter {
    store: SnapshotStore,
    trigger: SnapshotTrigger,
    busy: Arc<AtomicBool>,
}

impl Snapshotter {
    /// A snapshotter writing to `store` when `trigger` fires.
    pub fn new(store: SnapshotStore, trigger: SnapshotTrigger) -> Self {
        Self {
            store,
            trigger,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The trigger.
    pub fn trigger(&self) -> &SnapshotTrigger {
        &self.trigger
    }

    /// The store.
    pub fn store(&self) -> &SnapshotStore {
        &self.store
    }

    /// Whether a snapshot is being written.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// Call after `sm` applied a transaction: starts a background snapshot when one is due
    /// and none is in progress, returning its ticket.
    pub fn after_apply<S: StateMachine + ?Sized>(&mut self, sm: &S) -> Option<SnapshotTicket> {
        if !self.trigger.record_applied() {
            return None;
        }
        match self.snapshot_now(sm) {
            Ok(ticket) => Some(ticket),
            Err(err) => {
                warn!(error = %err, "skipping a due snapshot");
                None
            }
        }
    }

    /// Starts a background snapshot of `sm` now, unless one is in progress.
    pub fn snapshot_now<S: StateMachine + ?Sized>(
        &mut self,
        sm: &S,
    ) -> Result<SnapshotTicket, SnapshotError> {
        if self.is_busy() {
            return Err(SnapshotError::Background(
                "too busy: a snapshot is in progress".into(),
            ));
        }
        let source = sm.snapshot();
        // The image must claim exactly the last transaction applied in full, never a later
        // or partial one (ZOOKEEPER-3127); a state machine breaking this is a bug.
        if source.zxid() != sm.last_applied() {
            error!(
                source = format_args!("{:#x}", source.zxid()),
                last_applied = format_args!("{:#x}", sm.last_applied()),
                "state machine produced an image not at last_applied; refusing to write it"
            );
            return Err(SnapshotError::Background(format!(
                "image at {:#x} but last_applied is {:#x}",
                source.zxid(),
                sm.last_applied()
            )));
        }
        self.submit(source)
    }

    /// Writes `source` on a background thread, unless a snapshot is in progress.
    pub fn submit(
        &self,
        mut source: Box<dyn SnapshotSource>,
    ) -> Result<SnapshotTicket, SnapshotError> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(SnapshotError::Background(
                "too busy: a snapshot is in progress".into(),
            ));
        }
        let zxid = source.zxid();
        let (tx, rx) = oneshot::channel();
        let store = self.store.clone();
        let busy = BusyGuard(Arc::clone(&self.busy));
        let spawned = std::thread::Builder::new().name("zk-snapshot".into()).spawn(move || {
            let result = store.save(source.as_mut());
            if let Err(err) = &result {
                error!(zxid = format_args!("{zxid:#x}"), error = %err, "background snapshot failed");
            }
            // Clear `busy` before reporting, so a caller woken by the report can start the
            // next snapshot at once.
            drop(busy);
            let _ = tx.send(result);
        });
        match spawned {
            Ok(_) => Ok(SnapshotTicket { zxid, rx }),
            Err(err) => Err(SnapshotError::Background(format!(
                "cannot spawn the snapshot thread: {err}"
            ))),
        }
    }
}

/// Clears the busy flag when the snapshot thread ends, even by panicking.
struct BusyGuard(Arc<AtomicBool>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_threshold_in_range_and_reproducible() {
        for snap_count in [2u64, 3, 10, 101, 100_000] {
            for seed in 0..50 {
                let mut a = SnapshotTrigger::new(snap_count, seed);
                let mut b = SnapshotTrigger::new(snap_count, seed);
                for _ in 0..20 {
                    let t = a.threshold();
                    assert!(
                        (snap_count / 2..=snap_count).contains(&t),
                        "{t} for {snap_count}"
                    );
                    assert_eq!(t, b.threshold());
                    for i in 1..=t {
                        assert_eq!(a.record_applied(), i == t);
                        b.record_applied();
                    }
                }
            }
        }
    }
}
