//! What the client connections and the replicated tree share: the committed tree, the
//! connections by session, the watches, and the sessions touched since the last heartbeat.
//!
//! Lock order, everywhere: `tree` before `hub`. An apply holds the tree's write lock while
//! it queues the watch events and replies, and a read holds its read lock while it
//! registers a watch, so no change can slip between a read and its watch, and a client
//! always receives a change's events before any reply that reflects it (the connection
//! drains its queue before answering a read).

use super::auth::{AuthInfo, check_acl};
use super::watches::{ConnId, EventKind, WatchEvent, WatchKind, Watches};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::mpsc;
use zk_datatree::{Acl, DataTree, TxnResult, perms};
use zk_jute::{KeeperState, WatcherEvent};

/// What an apply sends a connection.
#[derive(Debug)]
pub enum Out {
    /// The transaction of the request `cxid` of this connection's session was applied.
    Reply {
        /// The request's xid.
        cxid: i32,
        /// The transaction's zxid.
        zxid: i64,
        /// What applying it produced.
        result: TxnResult,
    },
    /// A watch fired.
    Event(WatcherEvent),
    /// The session was closed or expired: close the connection.
    SessionClosed,
}

/// A node's ACL by path, when it is known.
pub type AclOf<'a> = dyn Fn(&str) -> Option<Vec<Acl>> + 'a;

/// How many messages may wait for one connection; past that the client is not reading
/// and is disconnected (it reconnects and re-registers its watches).
pub const CONN_QUEUE: usize = 4096;

#[derive(Debug)]
struct Conn {
    session: i64,
    tx: mpsc::Sender<Out>,
    /// Its identities: a watch fires only for a node it may read.
    auth: AuthInfo,
}

/// The connection registry and the watches.
#[derive(Debug, Default)]
pub struct Hub {
    conns: HashMap<ConnId, Conn>,
    by_session: HashMap<i64, ConnId>,
    /// Sessions with activity since the last heartbeat note.
    touched: HashSet<i64>,
    /// Every watch of every connection.
    pub watches: Watches,
}

impl Hub {
    /// `conn` now serves `session`; a previous connection of the session here is cut off.
    pub fn attach(&mut self, conn: ConnId, session: i64, tx: mpsc::Sender<Out>, auth: AuthInfo) {
        if let Some(old) = self.by_session.insert(session, conn)
            && old != conn
        {
            self.detach(old);
            self.by_session.insert(session, conn);
        }
        self.conns.insert(conn, Conn { session, tx, auth });
        self.touched.insert(session);
    }

    /// `conn`'s identities changed (an `auth` packet).
    pub fn set_auth(&mut self, conn: ConnId, auth: AuthInfo) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.auth = auth;
        }
    }

    /// `conn` closed: forget it and its watches.
    pub fn detach(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn)
            && self.by_session.get(&c.session) == Some(&conn)
        {
            self.by_session.remove(&c.session);
        }
        self.watches.remove_conn(conn);
    }

    /// `session` was active here.
    pub fn touch(&mut self, session: i64) {
        self.touched.insert(session);
    }

    /// The sessions touched since the last call.
    pub fn take_touched(&mut self) -> Vec<i64> {
        let mut v: Vec<i64> = self.touched.drain().collect();
        v.sort_unstable();
        v
    }

    /// How many client sessions are connected here.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    fn send(&mut self, conn: ConnId, out: Out) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.tx.try_send(out).is_err() {
            // Full (the client stopped reading) or gone: disconnect it.
            tracing::warn!(
                session = format_args!("{:#x}", c.session),
                "client connection queue full or closed: disconnecting it"
            );
            self.detach(conn);
        }
    }

    /// Notifies the watchers of `path`. The watches are consumed either way, but only a
    /// connection that may READ the node (`acl`, the parent's for a child change) is told,
    /// as ZooKeeper does since CVE-2024-23944 (in Debian's 3.8.0 too).
    fn fire(&mut self, path: &str, kind: EventKind, acl: &AclOf<'_>) {
        let watchers = self.watches.trigger(path, kind);
        if watchers.is_empty() {
            return;
        }
        // Looked up only when someone watches: most writes notify nobody.
        let acl = acl(path);
        for conn in watchers {
            let allowed = match (&acl, self.conns.get(&conn)) {
                (Some(acl), Some(c)) => check_acl(&c.auth, acl, perms::READ),
                _ => true,
            };
            if allowed {
                self.send(conn, event(kind, path.to_owned()));
            }
        }
    }

    fn fire_for(&mut self, result: &TxnResult, acl: &AclOf<'_>) {
        match result {
            TxnResult::Created { path, .. } => {
                self.fire(path, EventKind::NodeCreated, acl);
                self.fire(parent(path), EventKind::NodeChildrenChanged, acl);
            }
            TxnResult::Deleted { path } => self.fire_deleted(path, acl),
            TxnResult::DataSet { path, .. } => self.fire(path, EventKind::NodeDataChanged, acl),
            TxnResult::SessionClosed { deleted, .. } => {
                for path in deleted {
                    self.fire_deleted(path, acl);
                }
            }
            TxnResult::Multi(results) => {
                for r in results {
                    self.fire_for(r, acl);
                }
            }
            _ => {}
        }
    }

    fn fire_deleted(&mut self, path: &str, acl: &AclOf<'_>) {
        self.fire(path, EventKind::NodeDeleted, acl);
        self.fire(parent(path), EventKind::NodeChildrenChanged, acl);
    }

    /// After the transaction `(session, cxid)` at `zxid` produced `result`: its watch
    /// events to every watcher, then the reply to the requester if it is connected here,
    /// and a closed session's connection is told to close.
    /// `acl` gives a node's ACL (for a deleted node, the one it had).
    pub fn applied(
        &mut self,
        conn: Option<ConnId>,
        session: i64,
        cxid: i32,
        zxid: i64,
        result: TxnResult,
        acl: &AclOf<'_>,
    ) {
        self.fire_for(&result, acl);
        let closed = match &result {
            TxnResult::SessionClosed { session, .. } => Some(*session),
            _ => None,
        };
        // The reply goes to the connection that asked, if it is still here and still
        // serves the session; a later connection of the session never gets it.
        if let Some(conn) = conn
            && self.conns.get(&conn).is_some_and(|c| c.session == session)
        {
            self.send(conn, Out::Reply { cxid, zxid, result });
        }
        if let Some(s) = closed
            && let Some(conn) = self.by_session.remove(&s)
        {
            self.send(conn, Out::SessionClosed);
            self.conns.remove(&conn);
            self.watches.remove_conn(conn);
        }
    }

    /// Sends `events` to `conn` (the immediate events of `setWatches`).
    pub fn send_events(&mut self, conn: ConnId, events: Vec<WatchEvent>) {
        for e in events {
            self.send(conn, event(e.kind, e.path));
        }
    }

    /// Registers a watch (while the caller holds the tree's read lock).
    pub fn watch(&mut self, conn: ConnId, path: &str, kind: WatchKind) {
        self.watches.add(conn, path, kind);
    }
}

fn event(kind: EventKind, path: String) -> Out {
    Out::Event(WatcherEvent {
        event_type: kind.code(),
        state: KeeperState::SyncConnected.code(),
        path,
    })
}

/// The parent of an absolute path (`/` for top-level nodes and for `/` itself).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The committed tree and the hub, shared by the state machine and the connections.
#[derive(Debug, Default)]
pub struct Shared {
    tree: RwLock<DataTree>,
    hub: Mutex<Hub>,
}

impl Shared {
    /// An empty tree with no connections.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the committed tree.
    pub fn tree(&self) -> RwLockReadGuard<'_, DataTree> {
        // A panic while holding the lock cannot leave a half-applied txn visible: apply
        // is one call on the tree, so the poisoned value is still consistent.
        self.tree.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the committed tree (the state machine only).
    pub fn tree_mut(&self) -> RwLockWriteGuard<'_, DataTree> {
        self.tree.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The hub (after the tree, if both are needed).
    pub fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> AuthInfo {
        AuthInfo::new(std::net::IpAddr::from([127, 0, 0, 1]))
    }

    #[test]
    fn a_watch_on_a_node_the_watcher_may_not_read_is_consumed_silently() {
        let mut hub = Hub::default();
        let (tx, mut rx) = mpsc::channel(8);
        hub.attach(1, 0x10, tx, ip());
        hub.watch(1, "/secret", WatchKind::Data);
        hub.watch(1, "/open", WatchKind::Data);
        let secret = vec![Acl::new(perms::ALL, "digest", "alice:hash")];
        let acl_of = |p: &str| (p == "/secret").then(|| secret.clone());
        let set = |path: &str| TxnResult::DataSet {
            path: path.into(),
            stat: zk_datatree::Stat::default(),
        };
        hub.applied(None, 0x20, 1, 1, set("/secret"), &acl_of);
        hub.applied(None, 0x20, 2, 2, set("/open"), &acl_of);
        assert!(matches!(rx.try_recv(), Ok(Out::Event(e)) if e.path == "/open"));
        assert!(rx.try_recv().is_err(), "nothing about /secret");
        assert!(
            hub.watches
                .trigger("/secret", EventKind::NodeDataChanged)
                .is_empty(),
            "consumed"
        );
    }

    #[test]
    fn parent_of_paths() {
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/"), "/");
    }

    #[test]
    fn a_reply_follows_its_events_and_a_closed_session_is_told() {
        let mut hub = Hub::default();
        let (tx, mut rx) = mpsc::channel(8);
        hub.attach(1, 0x10, tx, ip());
        hub.watch(1, "/e", WatchKind::Data);
        hub.applied(
            Some(1),
            0x10,
            5,
            7,
            TxnResult::SessionClosed {
                session: 0x10,
                deleted: vec!["/e".into()],
            },
            &|_| None,
        );
        assert!(matches!(rx.try_recv(), Ok(Out::Event(e)) if e.path == "/e" && e.event_type == 2));
        assert!(matches!(
            rx.try_recv(),
            Ok(Out::Reply {
                cxid: 5,
                zxid: 7,
                ..
            })
        ));
        assert!(matches!(rx.try_recv(), Ok(Out::SessionClosed)));
        assert_eq!(hub.connections(), 0);
    }

    #[test]
    fn a_connection_that_stops_reading_is_cut_off() {
        let mut hub = Hub::default();
        let (tx, _rx) = mpsc::channel(1);
        hub.attach(1, 0x10, tx, ip());
        for _ in 0..2 {
            hub.applied(
                Some(1),
                0x10,
                1,
                1,
                TxnResult::Error(zk_datatree::ErrorCode::NO_NODE),
                &|_| None,
            );
        }
        assert_eq!(hub.connections(), 0);
    }
}
