//! Snapshots of the replicated state machine, and recovery.
//!
//! - [`SnapshotStore`]: the directory of snapshot files `snapshot.<zxid as 16 hex digits>`,
//!   each written atomically (temp file, fsync, rename, directory fsync) and checked on read
//!   (magic, format version, zxid, body length, CRC32), with fallback to older files and
//!   purging of old ones (`autopurge.snapRetainCount`).
//! - [`Snapshotter`] and [`SnapshotTrigger`]: a background snapshot every `snapCount`
//!   applied transactions, the threshold randomized in `[snapCount/2, snapCount]` from a
//!   seed as ZooKeeper does, so that the servers of an ensemble do not all snapshot at once.
//! - [`PurgeTask`]: the `autopurge.purgeInterval` timer.
//! - [`recover`] / [`recover_from`] and [`init_if_empty`]: newest valid snapshot + log
//!   replay, each transaction exactly once; refusal to start from nothing when a log exists.
//!
//! Snapshots are consistent point-in-time images, not ZooKeeper's fuzzy ones; see
//! [`crate::state_machine`] for why.

mod format;
mod purge;
mod recovery;
mod snapshotter;
mod store;

pub use format::{FORMAT_VERSION, MAGIC};
pub use purge::{PurgeConfig, PurgeTask};
pub use recovery::{RecoveryError, RecoveryOutcome, init_if_empty, recover, recover_from};
pub use snapshotter::{SnapshotTicket, SnapshotTrigger, Snapshotter};
pub use store::{InvalidReason, PurgeReport, SnapshotError, SnapshotFile, SnapshotStore};
