//! The leader's container and TTL reaper (ZooKeeper's `ContainerManager`): every
//! `znode.container.checkIntervalMs` it deletes empty containers that have had children
//! (or were never used for `znode.container.maxNeverUsedIntervalMs`, when set) and TTL
//! nodes without children whose TTL passed since their last change. Deletions go through
//! ZAB as `deleteContainer` requests, which the leader re-checks when it prepares them, so
//! a node that gained a child or changed kind in between survives.

use super::envelope::Forwarded;
use super::shared::Shared;
use crate::status::{Mode, Status};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use zk_jute::OpCode;
use zk_zab::driver::ClientHandle;

/// At most this many deletions per check (ZooKeeper's `maxPerMinute` default is 10,000).
const MAX_PER_CHECK: usize = 10_000;

/// Reaper settings from `zoo.cfg`.
#[derive(Clone, Copy, Debug)]
pub struct ReaperConfig {
    /// `znode.container.checkIntervalMs`.
    pub interval: Duration,
    /// `znode.container.maxNeverUsedIntervalMs` (zero: never-used containers stay).
    pub max_never_used: Duration,
}

/// The `deleteContainer` request for `path`, made by the server (session 0).
pub fn delete_container(path: &str) -> Forwarded {
    Forwarded {
        from: 0,
        conn: 0,
        session: 0,
        cxid: 0,
        op: OpCode::DeleteContainer.code(),
        auth: Vec::new(),
        body: Bytes::copy_from_slice(path.as_bytes()),
    }
}

/// Runs until `stop` turns true; does work only while this server leads.
pub async fn run(
    shared: Arc<Shared>,
    zab: ClientHandle,
    status: watch::Receiver<Status>,
    config: ReaperConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(config.interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = every.tick() => {}
        }
        let s = status.borrow().clone();
        if !(s.serving && matches!(s.mode, Mode::Leader | Mode::Standalone)) {
            continue;
        }
        let now = i64::try_from(crate::status::wall_ms()).unwrap_or(i64::MAX);
        let never = i64::try_from(config.max_never_used.as_millis()).unwrap_or(i64::MAX);
        let candidates = shared.tree().reaper_candidates(now, never);
        for path in candidates.into_iter().take(MAX_PER_CHECK) {
            tracing::debug!(%path, "reaping an empty container or expired TTL node");
            if let Err(e) = zab.write(delete_container(&path).encode()) {
                tracing::debug!(error = %e, "reaper request not submitted; retried at the next check");
                break;
            }
        }
    }
}
