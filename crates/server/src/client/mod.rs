//! ZooKeeper's client protocol: sessions, reads, writes through ZAB, watches and ACLs.
//!
//! - [`replica::ReplicatedTree`] is the state machine ZAB drives: the data tree, the
//!   leader's request preparation, and the dispatch of each applied transaction's watch
//!   events and reply to the connection that asked.
//! - [`conn`] serves one client connection; [`reads`] answers reads from the local tree.
//! - [`sessions`]: ids, passwords and the leader's expiry; [`heartbeats`] runs the
//!   periodic work (learners report touched sessions, the leader expires silent ones).
//! - [`reaper`]: the leader deletes empty containers and expired TTL nodes.
//! - [`envelope`]: what travels through ZAB; [`convert`]: wire records ↔ tree types.
//! - [`auth`]: identities and ACL checks; [`watches`]: the watch table.

pub mod auth;
pub mod conn;
pub mod convert;
pub mod envelope;
pub mod heartbeats;
pub mod reads;
pub mod reaper;
pub mod replica;
pub mod sessions;
pub mod shared;
pub mod watches;

use crate::status::{Counters, Status};
use sessions::SessionIds;
use shared::Shared;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use watches::ConnId;
use zk_zab::driver::ClientHandle;

/// Per-connection limits from `zoo.cfg`.
#[derive(Clone, Debug)]
pub struct Limits {
    /// `minSessionTimeout` (ms).
    pub min_session_timeout: i32,
    /// `maxSessionTimeout` (ms).
    pub max_session_timeout: i32,
    /// `jute.maxbuffer`: the largest frame accepted.
    pub max_buffer: usize,
    /// How long a new connection may take to complete its handshake.
    pub connect_timeout: Duration,
}

/// Everything client connections share.
#[derive(Debug)]
pub struct ClientContext {
    /// The tree and the connection hub.
    pub shared: Arc<Shared>,
    /// Writes and syncs go here.
    pub zab: ClientHandle,
    /// Whether this server serves.
    pub status: watch::Receiver<Status>,
    /// The limits.
    pub limits: Limits,
    /// `superDigest` and friends.
    pub auth: auth::AuthConfig,
    /// Packet counters for the four-letter words.
    pub counters: Arc<Counters>,
    /// This server's id (0 standalone).
    pub server_id: u64,
    ids: Mutex<SessionIds>,
    next_conn: AtomicU64,
}

impl ClientContext {
    /// A context for server `server_id` (0 standalone).
    pub fn new(
        shared: Arc<Shared>,
        zab: ClientHandle,
        status: watch::Receiver<Status>,
        limits: Limits,
        auth: auth::AuthConfig,
        counters: Arc<Counters>,
        server_id: u64,
    ) -> Self {
        Self {
            shared,
            zab,
            status,
            limits,
            auth,
            counters,
            server_id,
            ids: Mutex::new(SessionIds::new(server_id)),
            next_conn: AtomicU64::new(1),
        }
    }

    /// Whether clients are served now.
    pub fn serving(&self) -> bool {
        self.status.borrow().serving
    }

    fn new_session_id(&self) -> i64 {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).next_id()
    }
}

/// Re-registers a reconnecting client's watches (`setWatches`/`setWatches2`) and queues
/// at once the events of those whose node changed after the client's last zxid.
pub fn set_watches(ctx: &ClientContext, conn: ConnId, lists: &watches::SetWatchesLists<'_>) {
    let tree = ctx.shared.tree();
    let mut hub = ctx.shared.hub();
    let lookup = |path: &str| {
        tree.stat(path).map(|s| watches::NodeZxids {
            mzxid: s.mzxid,
            pzxid: s.pzxid,
        })
    };
    let events = hub.watches.set_watches(conn, lists, lookup);
    hub.send_events(conn, events);
}
