//! The ZAB protocol (ZooKeeper's Zab 1.0) as one sans-IO core per server.
//!
//! - [`message`]: the leader ↔ learner messages and their versioned hand codec.
//! - [`sync`]: the in-memory history window and the DIFF / TRUNC / SNAP choice.
//! - [`server`]: [`Server`], which runs Fast Leader Election ([`zk_election::fle::Fle`])
//!   while looking, then leads, follows or observes, and goes back to election on any loss.
//!   The leader and learner rules are documented in the private `leader` and `learner`
//!   modules and summarized on [`Server`]'s module page.
//!
//! Storage and the state machine are driven through [`Action`]s and [`Input`]s: the core
//! asks for appends, truncations, snapshot installs and epoch writes, and is told when
//! appends are durable; it hands committed txns out with [`Action::Deliver`].
//!
//! # Protocol summary
//!
//! Discovery: the leader picks `max(acceptedEpoch of a quorum) + 1`; learners persist it as
//! accepted before ACKEPOCH and never ack an epoch twice. Sync: the leader sends each learner
//! DIFF, TRUNC or SNAP plus its history, then NEWLEADER; a learner makes every synced txn
//! durable, then persists the current epoch, then ACKs. Once a quorum acked NEWLEADER the
//! leader commits its history and sends UPTODATE. Broadcast: proposals are committed in zxid
//! order once a quorum (leader included, after its own append is durable) logged them.
//!
//! # Differences from ZooKeeper, on purpose
//!
//! - ACKs are cumulative (`ACK z`: everything up to `z` is durable), so a leader never needs
//!   one ACK per proposal; an ACK before the NEWLEADER ACK is ignored (ZOOKEEPER-4685).
//! - ACKEPOCH carries an explicit `counted` flag and the real current epoch, instead of
//!   ZooKeeper's `-1` for an epoch acked before.
//! - DIFF carries the learner's zxid it starts from; the learner checks it.
//! - Txns of earlier epochs synced but never seen committed are committed by UPTODATE (the
//!   leader committed them by establishing); a COMMIT is cumulative too.
//! - A learner leaving a session between the sync txns and NEWLEADER logs those txns, keeping
//!   its log one contiguous prefix of the leader's history.
//! - The leader answers SYNC at once with its committed zxid (SYNCDONE, zk-rs code 32); the
//!   learner completes the `sync` once it applied that far.
//! - A leader whose epoch is chosen steps down when a learner reports a larger accepted epoch
//!   (that learner could never join), as the election crate's placeholder did.
//! - `counter_limit` (default `0xffffffff`) makes the ZOOKEEPER-1277 rollover testable.

mod leader;
mod learner;
pub mod message;
pub mod server;
pub mod sync;

pub use message::{DecodeError, Message};
pub use server::{Action, Input, Phase, Server, ServerConfig, StartState, Status};
pub use sync::{History, SyncPlan};
