//! ZAB for zk-rs: discovery, synchronization and atomic broadcast, and the durable storage
//! under them.
//!
//! - [`txn`]: the opaque transaction record every part shares.
//! - [`log`]: the durable transaction log (segments, CRC, group commit, torn-tail repair).
//! - [`snapshot`] and [`state_machine`]: the replicated state machine trait, snapshots of it,
//!   and recovery (newest valid snapshot + log replay).
//! - [`proto`]: the ZAB protocol itself, as sans-IO cores for leader, follower and observer.

pub mod driver;
pub mod log;
pub mod proto;
pub mod snapshot;
pub mod state_machine;
pub mod txn;
