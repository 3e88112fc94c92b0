//! The znode tree of zk-rs: what ZAB replicates.
//!
//! - [`TxnRecord`] / [`TxnKind`]: the transactions, with a versioned binary codec
//!   ([`TxnRecord::encode`], [`TxnRecord::decode`]) that ZAB carries as the opaque payload
//!   of a [`zk_zab::txn::Txn`]. The zxid is the `Txn`'s; the payload carries the leader's
//!   clock and every decision the leader made, so applying is deterministic everywhere.
//! - [`prepare`]: the leader's side (ZooKeeper's `PrepRequestProcessor`): validates a
//!   [`Request`] against the tree and produces the transaction.
//! - [`DataTree`]: the nodes, their [`Stat`]s exactly as ZooKeeper fills them, ephemerals
//!   per session, containers and TTL nodes for the reaper, and reads. It implements
//!   [`zk_zab::state_machine::StateMachine`]: [`apply`](zk_zab::state_machine::StateMachine::apply)
//!   never panics and returns a [`TxnResult`]; snapshots share the tree's copy-on-write
//!   shards (capturing one clones 1024 `Arc`s) and serialize on the caller's thread of
//!   choice ([`snapshot`] documents the image format).
//!
//! Where zk-rs differs from ZooKeeper 3.8, on purpose:
//! - `children` are returned sorted (ZooKeeper: `HashSet` order, unspecified).
//! - A parent's `cversion` is set to the create txn's value unconditionally, so it wraps
//!   from `i32::MAX` to `i32::MIN` as ZooKeeper documents for sequential names; 3.8's
//!   "only if larger" guard exists for fuzzy-snapshot replay, which zk-rs does not do.
//! - A multi whose ops fail at *apply* time (only possible for a transaction the leader's
//!   [`prepare`] would never produce) is rolled back whole rather than left half-applied.

mod acl;
mod codec;
mod error;
mod nodes;
mod path;
mod prepare;
mod result;
pub mod snapshot;
mod stat;
mod tree;
pub mod txn;

pub use acl::{Acl, SharedAcl, perms};
pub use error::{DecodeError, ErrorCode};
pub use path::{is_special_path, validate_path};
pub use prepare::{CreateMode, FixupAcl, PrepareOptions, Request, prepare};
pub use result::TxnResult;
pub use stat::{
    CONTAINER_EPHEMERAL_OWNER, MAX_TTL, NodeType, Stat, StatPersisted, ttl_ephemeral_owner,
};
pub use tree::DataTree;
pub use txn::{CreateKind, CreateTxn, TXN_FORMAT_VERSION, TxnKind, TxnRecord};
