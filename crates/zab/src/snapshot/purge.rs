//! The `autopurge.purgeInterval` timer.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::store::{MIN_RETAIN, PurgeReport, SnapshotError, SnapshotStore};

/// ZooKeeper's autopurge settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurgeConfig {
    /// `autopurge.snapRetainCount`: how many snapshots to keep (at least 3; default 3).
    pub snap_retain_count: usize,
    /// `autopurge.purgeInterval`: hours between purges; 0 (the default) disables them.
    pub purge_interval_hours: u64,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        Self {
            snap_retain_count: MIN_RETAIN,
            purge_interval_hours: 0,
        }
    }
}

impl PurgeConfig {
    /// The time between purges, or `None` when autopurge is off.
    pub fn interval(&self) -> Option<Duration> {
        match self.purge_interval_hours {
            0 => None,
            h => Some(Duration::from_secs(h.saturating_mul(3600))),
        }
    }
}

/// A tokio task purging old snapshots periodically: once at start, then every interval.
///
/// Each purge runs on the blocking pool and its [`PurgeReport`] is sent to
/// [`next_report`](Self::next_report), so the caller can remove the log segments that
/// [`PurgeReport::oldest_retained`] makes unnecessary. Reports the caller has not read are
/// dropped when 16 are pending (a newer report supersedes them). The task stops when this
/// handle is dropped.
#[derive(Debug)]
pub struct PurgeTask {
    handle: JoinHandle<()>,
    reports: mpsc::Receiver<Result<PurgeReport, SnapshotError>>,
}

impl PurgeTask {
    /// Starts purging `store` per `config`, or returns `None` when autopurge is off. Must be
    /// called within a tokio runtime.
    pub fn spawn(store: SnapshotStore, config: PurgeConfig) -> Option<Self> {
        let interval = config.interval()?;
        Some(Self::spawn_every(store, config.snap_retain_count, interval))
    }

    /// Starts purging `store`, keeping `retain` snapshots, every `period` (the first purge
    /// runs at once). Must be called within a tokio runtime.
    pub fn spawn_every(store: SnapshotStore, retain: usize, period: Duration) -> Self {
        let (tx, reports) = mpsc::channel(16);
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let store = store.clone();
                let result = match tokio::task::spawn_blocking(move || store.purge(retain)).await {
                    Ok(result) => result,
                    Err(err) => Err(SnapshotError::Background(format!(
                        "purge task failed: {err}"
                    ))),
                };
                if let Err(err) = &result {
                    warn!(error = %err, "snapshot autopurge failed");
                }
                match tx.try_send(result) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        debug!("purge report dropped: the caller is not reading them");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        });
        Self { handle, reports }
    }

    /// The next purge's report; `None` if the task has ended.
    pub async fn next_report(&mut self) -> Option<Result<PurgeReport, SnapshotError>> {
        self.reports.recv().await
    }
}

impl Drop for PurgeTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
