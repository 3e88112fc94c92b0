//! Server-side watch bookkeeping with the semantics of ZooKeeper 3.8.
//!
//! This models what ZooKeeper 3.8's `DataTree` does with its two
//! `WatchManager`s (`dataWatches` and `childWatches`, both made by
//! `WatchManagerFactory`; the default manager is `WatchManager`), including
//! the per-(watcher, path) `WatcherMode` kept by `WatcherModeManager`, the
//! ancestor walk of `PathParentIterator`, `removeWatches` / `checkWatches`,
//! the four-letter-word reports and `setWatches` / `setWatches2`.
//!
//! # The model
//!
//! * There are two independent managers, *data* and *child*. Each maps a
//!   path to a set of connections, and keeps exactly **one mode per
//!   (connection, path)**: standard (one-shot), persistent or persistent
//!   recursive. Registering again on the same (connection, path) in the same
//!   manager *replaces* the mode (`WatcherModeManager.setWatcherMode`).
//! * `getData` / `exists` watches go to the data manager, `getChildren`
//!   watches to the child manager ([`WatchKind::Data`], [`WatchKind::Child`]).
//!   `addWatch` (and `setWatches2`) puts a persistent or a persistent-recursive
//!   watch into **both** managers (3.8 `DataTree.addWatch`; 3.9 stopped adding
//!   recursive watches to the child manager).
//! * Which manager an event consults (`DataTree.createNode` / `deleteNode` /
//!   `setData`): `NodeCreated` and `NodeDataChanged` only the data manager,
//!   `NodeChildrenChanged` only the child manager, `NodeDeleted` the data
//!   manager then the child manager, a connection notified by the first not
//!   being notified again by the second.
//! * Inside a manager (`WatchManager.triggerWatch`), for an event at `P`:
//!   standard and persistent watches fire only when registered exactly on `P`
//!   (standard ones are removed when they fire); recursive watches fire when
//!   registered on `P` or on any ancestor of `P`, for every event type but
//!   `NodeChildrenChanged`. The ancestor walk is skipped entirely while the
//!   manager holds no recursive watch.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::error::Error;
use std::fmt;

/// A watcher: one client connection, as in ZooKeeper where the watcher is the
/// `ServerCnxn` (so a watch dies with the connection, not with the session).
pub type ConnId = u64;

/// The kind of watch a request registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// A one-shot watch of `getData` or `exists` (the data manager).
    Data,
    /// A one-shot watch of `getChildren` / `getChildren2` (the child manager).
    Child,
    /// `addWatch` with `AddWatchModes.persistent` (0): persistent, on the path
    /// only, in both managers.
    Persistent,
    /// `addWatch` with `AddWatchModes.persistentRecursive` (1): persistent, on
    /// the path and all its descendants, in both managers.
    PersistentRecursive,
}

impl WatchKind {
    /// The kind for an `AddWatchRequest.mode` (`ZooDefs.AddWatchModes`):
    /// 0 is persistent, 1 persistent recursive. `None` for anything else, for
    /// which ZooKeeper 3.8 answers `MARSHALLINGERROR` (-5): `WatcherMode.fromZooDef`
    /// throws and `FinalRequestProcessor` maps the exception to that code.
    pub fn from_add_watch_mode(mode: i32) -> Option<Self> {
        match mode {
            0 => Some(Self::Persistent),
            1 => Some(Self::PersistentRecursive),
            _ => None,
        }
    }
}

/// The node events a change produces (`Watcher.Event.EventType`; the codes
/// are those of `zk_jute::consts::EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// `NodeCreated` (1).
    NodeCreated,
    /// `NodeDeleted` (2).
    NodeDeleted,
    /// `NodeDataChanged` (3).
    NodeDataChanged,
    /// `NodeChildrenChanged` (4).
    NodeChildrenChanged,
}

impl EventKind {
    /// The wire code (`WatcherEvent.type`).
    pub const fn code(self) -> i32 {
        match self {
            Self::NodeCreated => 1,
            Self::NodeDeleted => 2,
            Self::NodeDataChanged => 3,
            Self::NodeChildrenChanged => 4,
        }
    }

    /// The kind for a wire code; `None` for codes that are not node events.
    pub const fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(Self::NodeCreated),
            2 => Some(Self::NodeDeleted),
            3 => Some(Self::NodeDataChanged),
            4 => Some(Self::NodeChildrenChanged),
            _ => None,
        }
    }
}

/// `Watcher.WatcherType` codes of ZooKeeper 3.8, the `type` of
/// `RemoveWatchesRequest` and `CheckWatchesRequest`. 3.8 knows only these
/// three; `Persistent` (4) and `PersistentRecursive` (5) were added in 3.9
/// (ZOOKEEPER-4472) and are rejected by 3.8 (see [`RemoveWatchesError`]).
pub mod watcher_type {
    /// `Children`: the child manager.
    pub const CHILDREN: i32 = 1;
    /// `Data`: the data manager (data and exist watches).
    pub const DATA: i32 = 2;
    /// `Any`: both managers.
    pub const ANY: i32 = 3;
}

/// Why `removeWatches` / `checkWatches` fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveWatchesError {
    /// Nothing matched: ZooKeeper answers `NOWATCHER` (-121).
    NoWatcher,
    /// A `type` that 3.8's `WatcherType.fromInt` rejects (anything but 1, 2,
    /// 3, including 3.9's 4 and 5): the exception reaches
    /// `FinalRequestProcessor`'s catch-all, which answers `MARSHALLINGERROR`
    /// (-5).
    UnknownWatcherType(i32),
}

impl RemoveWatchesError {
    /// The `ReplyHeader.err` ZooKeeper 3.8 sends for this failure.
    pub const fn error_code(self) -> i32 {
        match self {
            Self::NoWatcher => -121,
            Self::UnknownWatcherType(_) => -5,
        }
    }
}

impl fmt::Display for RemoveWatchesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoWatcher => f.write_str("no matching watcher"),
            Self::UnknownWatcherType(t) => write!(f, "unknown watcher type {t}"),
        }
    }
}

impl Error for RemoveWatchesError {}

/// What `wchs` prints and what the admin `watch_summary` command returns
/// (`WatchesSummary` of the **data manager only**, `DataTree.getWatchesSummary`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WatchesSummary {
    /// Connections the data manager knows: every connection that registered a
    /// data-manager watch and has not closed, even when all of its watches
    /// have since fired or been removed (ZooKeeper keeps the empty entry).
    pub connections: usize,
    /// Paths with at least one data-manager watch.
    pub paths: usize,
    /// Data-manager watches, one per (connection, path).
    pub total_watches: usize,
}

impl fmt::Display for WatchesSummary {
    /// `WatchManager.toString`, the body of `wchs` (the command then adds a
    /// newline).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connections watching {} paths\nTotal watches:{}",
            self.connections, self.paths, self.total_watches
        )
    }
}

/// A notification to send: `WatcherEvent { type, state: SyncConnected, path }`
/// with xid -1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The event type.
    pub kind: EventKind,
    /// The path as the server knows it (chroot included).
    pub path: String,
}

/// The stat fields `setWatches` compares with `relativeZxid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeZxids {
    /// `mzxid`: the zxid of the last `setData` (or of the create).
    pub mzxid: i64,
    /// `pzxid`: the zxid of the last change to the children (or of the
    /// create).
    pub pzxid: i64,
}

/// The lists of a `SetWatches` (opcode 101) or `SetWatches2` (opcode 105)
/// request. For `SetWatches` pass empty `persistent_watches` and
/// `persistent_recursive_watches`, as ZooKeeper does.
#[derive(Clone, Copy, Debug)]
pub struct SetWatchesLists<'a> {
    /// `relativeZxid`: the last zxid the client has seen.
    pub relative_zxid: i64,
    /// `dataWatches`: paths with a `getData` watch.
    pub data_watches: &'a [String],
    /// `existWatches`: paths with an `exists` watch on an absent node.
    pub exist_watches: &'a [String],
    /// `childWatches`: paths with a `getChildren` watch.
    pub child_watches: &'a [String],
    /// `persistentWatches` (`SetWatches2` only).
    pub persistent_watches: &'a [String],
    /// `persistentRecursiveWatches` (`SetWatches2` only).
    pub persistent_recursive_watches: &'a [String],
}

/// The result of [`set_watches_events`]: events to send now, and watches to
/// register, both in ZooKeeper's order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SetWatchesOutcome {
    /// Notifications to send at once, before the (empty, xid -8) reply.
    pub events: Vec<WatchEvent>,
    /// Watches to register, in order (a later registration on the same
    /// connection, path and manager replaces the mode of an earlier one).
    pub register: Vec<(String, WatchKind)>,
}

/// Works out what ZooKeeper 3.8's `DataTree.setWatches` does with the lists
/// of a `SetWatches` / `SetWatches2` sent on reconnect, without touching any
/// state. `lookup` returns the node's zxids, or `None` if it does not exist.
///
/// The lists are handled in this order, each path at most one outcome:
///
/// * `dataWatches`: node absent → `NodeDeleted`; else `mzxid > relativeZxid`
///   → `NodeDataChanged`; else register a data watch ([`WatchKind::Data`]).
/// * `existWatches`: node present → `NodeCreated` (whatever its zxids); else
///   register a data watch.
/// * `childWatches`: node absent → `NodeDeleted`; else `pzxid > relativeZxid`
///   → `NodeChildrenChanged`; else register a child watch
///   ([`WatchKind::Child`]).
/// * `persistentWatches`: always registered (child and data managers,
///   persistent mode), never an event, even if the node changed or is gone.
/// * `persistentRecursiveWatches`: always registered (3.8: both managers,
///   recursive mode), never an event.
///
/// A fired watch is not registered (it was a one-shot that has now fired).
/// The events are sent straight to the connection (`ServerCnxn.process`)
/// while the request is processed, so they precede the reply; they carry no
/// ACL, so the 3.8.4+ READ check on notifications lets them all through.
pub fn set_watches_events<F>(lists: &SetWatchesLists<'_>, lookup: F) -> SetWatchesOutcome
where
    F: Fn(&str) -> Option<NodeZxids>,
{
    let mut out = SetWatchesOutcome::default();
    let rel = lists.relative_zxid;
    let mut event = |kind: EventKind, path: &str| {
        out.events.push(WatchEvent {
            kind,
            path: path.to_owned(),
        });
    };
    let mut register = Vec::new();
    for path in lists.data_watches {
        match lookup(path) {
            None => event(EventKind::NodeDeleted, path),
            Some(z) if z.mzxid > rel => event(EventKind::NodeDataChanged, path),
            Some(_) => register.push((path.clone(), WatchKind::Data)),
        }
    }
    for path in lists.exist_watches {
        match lookup(path) {
            Some(_) => event(EventKind::NodeCreated, path),
            None => register.push((path.clone(), WatchKind::Data)),
        }
    }
    for path in lists.child_watches {
        match lookup(path) {
            None => event(EventKind::NodeDeleted, path),
            Some(z) if z.pzxid > rel => event(EventKind::NodeChildrenChanged, path),
            Some(_) => register.push((path.clone(), WatchKind::Child)),
        }
    }
    for path in lists.persistent_watches {
        register.push((path.clone(), WatchKind::Persistent));
    }
    for path in lists.persistent_recursive_watches {
        register.push((path.clone(), WatchKind::PersistentRecursive));
    }
    out.register = register;
    out
}

/// The mode of one (connection, path) in one manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Standard,
    Persistent,
    Recursive,
}

/// The watchers of one path in one manager, split so that the ancestor walk
/// only visits recursive watchers.
#[derive(Debug, Default)]
struct PathWatchers {
    /// Standard (`false`) and persistent (`true`) watchers.
    exact: HashMap<ConnId, bool>,
    /// Persistent-recursive watchers.
    recursive: HashSet<ConnId>,
}

impl PathWatchers {
    fn len(&self) -> usize {
        self.exact.len() + self.recursive.len()
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.recursive.is_empty()
    }

    fn remove(&mut self, conn: ConnId) -> Option<Mode> {
        if self.recursive.remove(&conn) {
            return Some(Mode::Recursive);
        }
        self.exact.remove(&conn).map(|persistent| {
            if persistent {
                Mode::Persistent
            } else {
                Mode::Standard
            }
        })
    }

    /// Sets the mode, returning the previous one.
    fn insert(&mut self, conn: ConnId, mode: Mode) -> Option<Mode> {
        let old = self.remove(conn);
        match mode {
            Mode::Recursive => {
                self.recursive.insert(conn);
            }
            Mode::Persistent => {
                self.exact.insert(conn, true);
            }
            Mode::Standard => {
                self.exact.insert(conn, false);
            }
        }
        old
    }

    fn conns(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.exact.keys().chain(self.recursive.iter()).copied()
    }
}

/// One `WatchManager` (with its `WatcherModeManager`).
#[derive(Debug, Default)]
struct Manager {
    /// `watchTable`: path → watchers; never holds an empty entry.
    table: HashMap<String, PathWatchers>,
    /// `watch2Paths`: connection → paths. An entry is created by the first
    /// registration and dropped only when the connection closes, so it may be
    /// empty (this shows in `wchs` and `wchc`).
    paths_of: HashMap<ConnId, HashSet<String>>,
    /// `WatcherModeManager.recursiveQty`.
    recursive_qty: usize,
    /// Path lookups plus watchers visited by `trigger` (for the cost tests).
    probes: u64,
}

impl Manager {
    fn add(&mut self, path: &str, conn: ConnId, mode: Mode) {
        let old = match self.table.get_mut(path) {
            Some(pw) => pw.insert(conn, mode),
            None => {
                let mut pw = PathWatchers::default();
                pw.insert(conn, mode);
                self.table.insert(path.to_owned(), pw);
                None
            }
        };
        let was_rec = old == Some(Mode::Recursive);
        let is_rec = mode == Mode::Recursive;
        if was_rec && !is_rec {
            self.recursive_qty = self.recursive_qty.saturating_sub(1);
        } else if is_rec && !was_rec {
            self.recursive_qty += 1;
        }
        let paths = self.paths_of.entry(conn).or_default();
        if !paths.contains(path) {
            paths.insert(path.to_owned());
        }
    }

    /// `removeWatcher(path, watcher)`: whatever the mode.
    fn remove(&mut self, path: &str, conn: ConnId) -> bool {
        let Some(paths) = self.paths_of.get_mut(&conn) else {
            return false;
        };
        if !paths.remove(path) {
            return false;
        }
        let Some(pw) = self.table.get_mut(path) else {
            return false;
        };
        let Some(old) = pw.remove(conn) else {
            return false;
        };
        if pw.is_empty() {
            self.table.remove(path);
        }
        if old == Mode::Recursive {
            self.recursive_qty = self.recursive_qty.saturating_sub(1);
        }
        true
    }

    /// `removeWatcher(watcher)`: the connection closed.
    fn remove_conn(&mut self, conn: ConnId) {
        let Some(paths) = self.paths_of.remove(&conn) else {
            return;
        };
        for path in paths {
            if let Some(pw) = self.table.get_mut(&path) {
                if pw.remove(conn) == Some(Mode::Recursive) {
                    self.recursive_qty = self.recursive_qty.saturating_sub(1);
                }
                if pw.is_empty() {
                    self.table.remove(&path);
                }
            }
        }
    }

    /// 3.8 `containsWatcher(path, watcher)`: true when *any* connection has a
    /// watch on exactly `path` in this manager (the watcher argument only
    /// matters through its own mode, and a connection with a watch on `path`
    /// is already covered by the first test).
    fn contains_any(&self, path: &str) -> bool {
        self.table.contains_key(path)
    }

    /// `triggerWatch`: adds the connections to notify to `fired`.
    fn trigger(&mut self, path: &str, event: EventKind, fired: &mut BTreeSet<ConnId>) {
        let walk_ancestors = self.recursive_qty > 0;
        for (level, local) in self_and_ancestors(path).enumerate() {
            if level > 0 && !walk_ancestors {
                break;
            }
            self.probes += 1;
            let Some(pw) = self.table.get_mut(local) else {
                continue;
            };
            if event != EventKind::NodeChildrenChanged {
                self.probes += pw.recursive.len() as u64;
                fired.extend(pw.recursive.iter().copied());
            }
            if level == 0 {
                self.probes += pw.exact.len() as u64;
                let mut one_shot = Vec::new();
                for (&conn, &persistent) in &pw.exact {
                    fired.insert(conn);
                    if !persistent {
                        one_shot.push(conn);
                    }
                }
                for conn in one_shot {
                    pw.exact.remove(&conn);
                    if let Some(paths) = self.paths_of.get_mut(&conn) {
                        paths.remove(local);
                    }
                }
                if pw.is_empty() {
                    self.table.remove(local);
                }
            }
        }
    }

    /// `size()`: watches summed over paths.
    fn size(&self) -> usize {
        self.table.values().map(PathWatchers::len).sum()
    }
}

/// `PathParentIterator.forAll`: the path, then each parent up to `/`.
fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = (!path.is_empty()).then_some(path);
    std::iter::from_fn(move || {
        let cur = next?;
        next = if cur == "/" {
            None
        } else {
            match cur.rfind('/') {
                Some(0) => Some("/"),
                Some(i) => Some(&cur[..i]),
                None => None,
            }
        };
        Some(cur)
    })
}

/// All the watches of a server, as ZooKeeper 3.8's `DataTree` keeps them.
///
/// Not thread-safe by itself: keep it behind the lock that orders the
/// changes of the tree, and call [`Watches::trigger`] in commit order.
#[derive(Debug, Default)]
pub struct Watches {
    data: Manager,
    child: Manager,
}

impl Watches {
    /// No watches.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a watch of `conn` on `path`.
    ///
    /// What the server calls, as ZooKeeper 3.8 does:
    /// * `getData(watch)`: [`WatchKind::Data`], only when the node exists
    ///   (`NONODE` registers nothing);
    /// * `exists(watch)`: [`WatchKind::Data`], whether or not the node exists;
    /// * `getChildren` / `getChildren2(watch)`: [`WatchKind::Child`], only when
    ///   the node exists;
    /// * `addWatch`: [`WatchKind::Persistent`] or
    ///   [`WatchKind::PersistentRecursive`], with no check that the node
    ///   exists.
    ///
    /// Never call it for a closed connection (ZooKeeper ignores a stale
    /// `ServerCnxn`): a later [`Watches::remove_conn`] would not undo it.
    ///
    /// There is one mode per (connection, path, manager), and a new
    /// registration replaces it (3.8; 3.9 keeps them apart, ZOOKEEPER-4466).
    /// So a one-shot `getData`/`exists` watch on a path the connection watches
    /// persistently turns the data side of that watch into a one-shot (the
    /// child side stays persistent), `getChildren` does the same to the child
    /// side, and `addWatch` turns an existing one-shot into a persistent or
    /// recursive watch.
    pub fn add(&mut self, conn: ConnId, path: &str, kind: WatchKind) {
        match kind {
            WatchKind::Data => self.data.add(path, conn, Mode::Standard),
            WatchKind::Child => self.child.add(path, conn, Mode::Standard),
            WatchKind::Persistent => {
                self.data.add(path, conn, Mode::Persistent);
                self.child.add(path, conn, Mode::Persistent);
            }
            WatchKind::PersistentRecursive => {
                self.data.add(path, conn, Mode::Recursive);
                self.child.add(path, conn, Mode::Recursive);
            }
        }
    }

    /// The connections to notify of `(event, path)`, each once, in ascending
    /// order; one-shot watches that fire are removed, persistent ones stay.
    ///
    /// Call it as ZooKeeper 3.8's `DataTree` does, after applying the change:
    /// * create of `P`: `trigger(P, NodeCreated)`, then
    ///   `trigger(parent(P), NodeChildrenChanged)` (`/` for a child of the
    ///   root);
    /// * delete of `P`: `trigger(P, NodeDeleted)`, then
    ///   `trigger(parent(P), NodeChildrenChanged)`;
    /// * `setData` of `P`: `trigger(P, NodeDataChanged)`;
    /// * `setACL` triggers nothing.
    ///
    /// Which watches fire:
    /// * `NodeCreated`, `NodeDataChanged` (data manager): data/exist one-shots
    ///   and persistent watches on `P`, recursive watches on `P` or an
    ///   ancestor;
    /// * `NodeDeleted` (data then child manager): the same plus child
    ///   one-shots on `P`; a connection with both a data and a child watch on
    ///   `P` gets one event, and both watches are consumed;
    /// * `NodeChildrenChanged` (child manager): child one-shots and persistent
    ///   watches on `P`; never a recursive watch, not even one on `P`.
    ///
    /// Since 3.8.4 (ZOOKEEPER-4799, CVE-2024-23944) ZooKeeper delivers each of
    /// these notifications only if the connection's auth passes a READ check
    /// against the ACL of the node the event is about (the created, deleted
    /// or changed node; the parent for `NodeChildrenChanged`); a failed check
    /// drops the notification silently, and the one-shot watch is consumed
    /// anyway. That check is the caller's job.
    pub fn trigger(&mut self, path: &str, event: EventKind) -> Vec<ConnId> {
        let mut fired = BTreeSet::new();
        match event {
            EventKind::NodeCreated | EventKind::NodeDataChanged => {
                self.data.trigger(path, event, &mut fired);
            }
            EventKind::NodeDeleted => {
                // `childWatches.triggerWatch(path, NodeDeleted, processed)`:
                // the child manager's watches are consumed too, the
                // connections already notified are only not notified twice.
                self.data.trigger(path, event, &mut fired);
                self.child.trigger(path, event, &mut fired);
            }
            EventKind::NodeChildrenChanged => {
                self.child.trigger(path, event, &mut fired);
            }
        }
        fired.into_iter().collect()
    }

    /// `removeWatches` (`dry_run == false`) or `checkWatches`
    /// (`dry_run == true`) for a ZooKeeper 3.8 `WatcherType` code; `false`
    /// when ZooKeeper would not answer OK. See [`Watches::remove_watches`] for
    /// the error code to send (`NOWATCHER` or, for a type 3.8 does not know,
    /// `MARSHALLINGERROR`).
    pub fn remove(&mut self, conn: ConnId, path: &str, watcher_type: i32, dry_run: bool) -> bool {
        self.remove_watches(conn, path, watcher_type, dry_run)
            .is_ok()
    }

    /// `removeWatches` / `checkWatches` as ZooKeeper 3.8's
    /// `DataTree.removeWatch` / `containsWatcher`:
    ///
    /// * `Children` (1): the child manager, `Data` (2): the data manager,
    ///   `Any` (3): both (a success on either is a success). Any other code
    ///   (3.9's `Persistent` 4, `PersistentRecursive` 5, ...) fails with
    ///   [`RemoveWatchesError::UnknownWatcherType`].
    /// * Removing takes the connection's watch on exactly `path` out of the
    ///   chosen manager(s) **whatever its mode**: `Data` on a persistent watch
    ///   removes its data side and leaves a persistent child-side watch that
    ///   still fires for `NodeChildrenChanged` and `NodeDeleted`; `Any` removes
    ///   persistent and recursive watches completely. It never touches
    ///   watches on other paths (a recursive watch on an ancestor is not
    ///   "removed" for a descendant path).
    /// * Checking (`dry_run`) removes nothing and, in 3.8, succeeds when *any
    ///   connection* has a watch on exactly `path` in the chosen manager(s)
    ///   (`WatchManager.containsWatcher` tests the path's watcher set for
    ///   emptiness, not for this connection).
    ///
    /// The server sends no notification for a removal; clients raise their
    /// `DataWatchRemoved` / `ChildWatchRemoved` events themselves.
    pub fn remove_watches(
        &mut self,
        conn: ConnId,
        path: &str,
        watcher_type: i32,
        dry_run: bool,
    ) -> Result<(), RemoveWatchesError> {
        let (data, child) = match watcher_type {
            watcher_type::CHILDREN => (false, true),
            watcher_type::DATA => (true, false),
            watcher_type::ANY => (true, true),
            other => return Err(RemoveWatchesError::UnknownWatcherType(other)),
        };
        let mut found = false;
        if dry_run {
            found |= child && self.child.contains_any(path);
            found |= data && self.data.contains_any(path);
        } else {
            if child {
                found |= self.child.remove(path, conn);
            }
            if data {
                found |= self.data.remove(path, conn);
            }
        }
        if found {
            Ok(())
        } else {
            Err(RemoveWatchesError::NoWatcher)
        }
    }

    /// Drops every watch of a closed connection (`DataTree.removeCnxn`).
    pub fn remove_conn(&mut self, conn: ConnId) {
        self.data.remove_conn(conn);
        self.child.remove_conn(conn);
    }

    /// `mntr`'s `zk_watch_count` (`DataTree.getWatchCount`): data-manager
    /// plus child-manager watches, one per (connection, path) in each. A
    /// persistent or recursive watch counts 2, a one-shot 1.
    pub fn count(&self) -> usize {
        self.data.size() + self.child.size()
    }

    /// The paths `wchs` reports ("... watching N paths"): paths with a watch
    /// in the data manager (child-only paths are not counted).
    pub fn paths_count(&self) -> usize {
        self.data.table.len()
    }

    /// `wchs` / admin `watch_summary`: the data manager only.
    pub fn summary(&self) -> WatchesSummary {
        WatchesSummary {
            connections: self.data.paths_of.len(),
            paths: self.data.table.len(),
            total_watches: self.data.paths_of.values().map(HashSet::len).sum(),
        }
    }

    /// `wchc` / admin `watches`: data-manager paths by connection, sorted.
    /// Child watches do not appear (ZooKeeper dumps only the data manager);
    /// a connection whose data watches all fired or were removed is listed
    /// with no paths, until it closes.
    pub fn by_conn(&self) -> BTreeMap<ConnId, Vec<String>> {
        self.data
            .paths_of
            .iter()
            .map(|(&conn, paths)| {
                let mut paths: Vec<String> = paths.iter().cloned().collect();
                paths.sort();
                (conn, paths)
            })
            .collect()
    }

    /// `wchp` / admin `watches_by_path`: data-manager connections by path,
    /// sorted (child watches do not appear).
    pub fn by_path(&self) -> BTreeMap<String, Vec<ConnId>> {
        self.data
            .table
            .iter()
            .map(|(path, pw)| {
                let mut conns: Vec<ConnId> = pw.conns().collect();
                conns.sort_unstable();
                (path.clone(), conns)
            })
            .collect()
    }

    /// Handles `SetWatches` / `SetWatches2` for `conn`: registers what
    /// [`set_watches_events`] says to register and returns the events to send
    /// now (before the reply).
    pub fn set_watches<F>(
        &mut self,
        conn: ConnId,
        lists: &SetWatchesLists<'_>,
        lookup: F,
    ) -> Vec<WatchEvent>
    where
        F: Fn(&str) -> Option<NodeZxids>,
    {
        let outcome = set_watches_events(lists, lookup);
        for (path, kind) in &outcome.register {
            self.add(conn, path, *kind);
        }
        outcome.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventKind::*;
    use WatchKind::*;

    fn v(conns: &[ConnId]) -> Vec<ConnId> {
        conns.to_vec()
    }

    #[test]
    fn parent_iteration_matches_path_parent_iterator() {
        let all: Vec<&str> = self_and_ancestors("/a/b/c").collect();
        assert_eq!(all, ["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(self_and_ancestors("/").collect::<Vec<_>>(), ["/"]);
        assert_eq!(self_and_ancestors("/a").collect::<Vec<_>>(), ["/a", "/"]);
        assert_eq!(self_and_ancestors("").count(), 0);
    }

    #[test]
    fn data_watch_is_one_shot_and_fires_on_data_changed() {
        let mut w = Watches::new();
        w.add(1, "/a", Data);
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[1]));
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[]));
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn exists_watch_fires_on_created_and_not_on_parent_children_changed() {
        let mut w = Watches::new();
        w.add(1, "/a", Data);
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[]));
        assert_eq!(w.trigger("/a", NodeCreated), v(&[1]));
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn child_watch_fires_only_on_children_changed_and_deleted() {
        let mut w = Watches::new();
        w.add(1, "/a", Child);
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[]));
        assert_eq!(w.trigger("/a", NodeCreated), v(&[]));
        assert_eq!(w.trigger("/a/x", NodeCreated), v(&[]));
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[1]));
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[]));
        w.add(1, "/a", Child);
        assert_eq!(w.trigger("/a", NodeDeleted), v(&[1]));
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn root_child_watch_fires_for_child_of_root() {
        let mut w = Watches::new();
        w.add(1, "/", Child);
        assert_eq!(w.trigger("/", NodeChildrenChanged), v(&[1]));
    }

    #[test]
    fn delete_notifies_data_and_child_watchers_once_and_consumes_both() {
        let mut w = Watches::new();
        w.add(1, "/a", Data);
        w.add(1, "/a", Child);
        w.add(2, "/a", Child);
        w.add(3, "/a", Data);
        assert_eq!(w.count(), 4);
        assert_eq!(w.trigger("/a", NodeDeleted), v(&[1, 2, 3]));
        // Conn 1's child watch was consumed although the data side already
        // notified it.
        assert_eq!(w.count(), 0);
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[]));
    }

    #[test]
    fn persistent_fires_for_all_events_on_its_path_only_and_stays() {
        let mut w = Watches::new();
        w.add(1, "/a", Persistent);
        for ev in [
            NodeCreated,
            NodeDataChanged,
            NodeChildrenChanged,
            NodeDeleted,
        ] {
            assert_eq!(w.trigger("/a", ev), v(&[1]), "{ev:?}");
            assert_eq!(w.trigger("/a", ev), v(&[1]), "{ev:?} again");
        }
        for ev in [
            NodeCreated,
            NodeDataChanged,
            NodeChildrenChanged,
            NodeDeleted,
        ] {
            assert_eq!(w.trigger("/a/b", ev), v(&[]), "child {ev:?}");
            assert_eq!(w.trigger("/", ev), v(&[]), "parent {ev:?}");
        }
        assert_eq!(w.count(), 2);
    }

    #[test]
    fn recursive_fires_on_self_and_descendants_but_not_children_changed() {
        let mut w = Watches::new();
        w.add(1, "/a", PersistentRecursive);
        for p in ["/a", "/a/b", "/a/b/c"] {
            for ev in [NodeCreated, NodeDataChanged, NodeDeleted] {
                assert_eq!(w.trigger(p, ev), v(&[1]), "{p} {ev:?}");
            }
            assert_eq!(w.trigger(p, NodeChildrenChanged), v(&[]), "{p}");
        }
        // Not for siblings, prefixes-that-are-not-ancestors, or ancestors.
        assert_eq!(w.trigger("/ab", NodeCreated), v(&[]));
        assert_eq!(w.trigger("/", NodeDataChanged), v(&[]));
        assert_eq!(w.count(), 2);
    }

    #[test]
    fn recursive_on_root_sees_everything_but_children_changed() {
        let mut w = Watches::new();
        w.add(7, "/", PersistentRecursive);
        assert_eq!(w.trigger("/x/y/z", NodeCreated), v(&[7]));
        assert_eq!(w.trigger("/", NodeDataChanged), v(&[7]));
        assert_eq!(w.trigger("/x", NodeChildrenChanged), v(&[]));
    }

    #[test]
    fn one_shot_and_persistent_watches_on_ancestors_do_not_fire() {
        let mut w = Watches::new();
        w.add(1, "/a", Data);
        w.add(2, "/a", Persistent);
        w.add(3, "/q", PersistentRecursive); // forces the ancestor walk
        assert_eq!(w.trigger("/a/b", NodeDataChanged), v(&[]));
        assert_eq!(w.trigger("/a/b", NodeDeleted), v(&[]));
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[1, 2]));
    }

    #[test]
    fn one_connection_is_notified_once_per_trigger() {
        let mut w = Watches::new();
        w.add(1, "/", PersistentRecursive);
        w.add(1, "/a/b", Persistent);
        w.add(1, "/a", PersistentRecursive);
        w.add(2, "/a/b", Data);
        assert_eq!(w.trigger("/a/b", NodeDataChanged), v(&[1, 2]));
        assert_eq!(w.trigger("/a/b", NodeDeleted), v(&[1]));
    }

    #[test]
    fn persistent_replaces_one_shot_on_same_path() {
        let mut w = Watches::new();
        w.add(1, "/a", Data);
        w.add(1, "/a", Persistent);
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[1]));
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[1]));
        assert_eq!(w.count(), 2);
    }

    #[test]
    fn one_shot_downgrades_one_side_of_persistent() {
        // 3.8: getData with a watch on a persistently watched path makes the
        // data side a one-shot; the child side stays persistent.
        let mut w = Watches::new();
        w.add(1, "/a", Persistent);
        w.add(1, "/a", Data);
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[1]));
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[]));
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[1]));
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[1]));
        assert_eq!(w.count(), 1);
        // And getChildren does the same to the child side.
        let mut w = Watches::new();
        w.add(1, "/a", Persistent);
        w.add(1, "/a", Child);
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[1]));
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[]));
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[1]));
    }

    #[test]
    fn exists_on_recursive_path_leaves_only_the_child_side_recursive() {
        let mut w = Watches::new();
        w.add(1, "/a", PersistentRecursive);
        w.add(1, "/a", Data);
        assert_eq!(w.data.recursive_qty, 0);
        assert_eq!(w.child.recursive_qty, 1);
        // The data side no longer covers descendants...
        assert_eq!(w.trigger("/a/b", NodeDataChanged), v(&[]));
        assert_eq!(w.trigger("/a/b", NodeCreated), v(&[]));
        // ...but the recursive child side still answers deletes.
        assert_eq!(w.trigger("/a/b", NodeDeleted), v(&[1]));
        // The data side is a one-shot now.
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[1]));
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[]));
    }

    #[test]
    fn recursive_replaces_persistent_in_both_managers() {
        let mut w = Watches::new();
        w.add(1, "/a", Persistent);
        w.add(1, "/a", PersistentRecursive);
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[]));
        assert_eq!(w.trigger("/a/b", NodeDataChanged), v(&[1]));
        // And back: persistent replaces recursive, the counter follows.
        w.add(1, "/a", Persistent);
        assert_eq!((w.data.recursive_qty, w.child.recursive_qty), (0, 0));
        assert_eq!(w.trigger("/a/b", NodeDataChanged), v(&[]));
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[1]));
    }

    #[test]
    fn trigger_cost_does_not_scan_unrelated_watches() {
        let mut w = Watches::new();
        for i in 0..10_000u64 {
            w.add(i, &format!("/n{i}"), Data);
            w.add(i, "/", Child); // one-shots on the root: not visited by walks
        }
        let before = w.data.probes;
        assert_eq!(w.trigger("/deep/a/b/c/d", NodeDataChanged), v(&[]));
        // No recursive watch: exactly one lookup, no ancestor walk.
        assert_eq!(w.data.probes - before, 1);

        w.add(99_999, "/deep", PersistentRecursive);
        let before = (w.data.probes, w.child.probes);
        assert_eq!(w.trigger("/deep/a/b/c/d", NodeDeleted), v(&[99_999]));
        // 6 levels looked up in each manager, plus the one recursive watcher
        // visited in each; the 10 000 root one-shots are not visited.
        assert_eq!(w.data.probes - before.0, 6 + 1);
        assert_eq!(w.child.probes - before.1, 6 + 1);
    }

    #[test]
    fn remove_by_type() {
        let mut w = Watches::new();
        w.add(1, "/a", Data);
        w.add(1, "/a", Child);
        assert!(w.remove(1, "/a", watcher_type::DATA, false));
        assert!(!w.remove(1, "/a", watcher_type::DATA, false));
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[1]));

        w.add(1, "/b", Child);
        assert_eq!(
            w.remove_watches(1, "/b", watcher_type::DATA, false),
            Err(RemoveWatchesError::NoWatcher)
        );
        assert!(w.remove(1, "/b", watcher_type::CHILDREN, false));
        assert_eq!(w.count(), 0);

        // Any: succeeds if either side had one.
        w.add(1, "/c", Data);
        assert!(w.remove(1, "/c", watcher_type::ANY, false));
        assert!(!w.remove(1, "/c", watcher_type::ANY, false));
        // Another connection's watch is not ours to remove.
        w.add(2, "/d", Data);
        assert!(!w.remove(1, "/d", watcher_type::ANY, false));
        assert_eq!(w.trigger("/d", NodeDataChanged), v(&[2]));
    }

    #[test]
    fn remove_persistent_by_data_leaves_child_side_and_any_removes_all() {
        let mut w = Watches::new();
        w.add(1, "/a", Persistent);
        assert!(w.remove(1, "/a", watcher_type::DATA, false));
        assert_eq!(w.trigger("/a", NodeDataChanged), v(&[]));
        assert_eq!(w.trigger("/a", NodeChildrenChanged), v(&[1]));
        assert_eq!(w.trigger("/a", NodeDeleted), v(&[1]));

        let mut w = Watches::new();
        w.add(1, "/a", PersistentRecursive);
        assert!(w.remove(1, "/a", watcher_type::ANY, false));
        assert_eq!((w.data.recursive_qty, w.child.recursive_qty), (0, 0));
        assert_eq!(w.trigger("/a/b", NodeDeleted), v(&[]));
        assert_eq!(w.count(), 0);
        // A recursive watch on an ancestor is not a watch on the descendant.
        w.add(1, "/a", PersistentRecursive);
        assert!(!w.remove(1, "/a/b", watcher_type::ANY, false));
    }

    #[test]
    fn remove_rejects_types_unknown_to_3_8() {
        let mut w = Watches::new();
        w.add(1, "/a", Persistent);
        for t in [0, 4, 5] {
            assert_eq!(
                w.remove_watches(1, "/a", t, false),
                Err(RemoveWatchesError::UnknownWatcherType(t))
            );
            assert!(!w.remove(1, "/a", t, true));
        }
        assert_eq!(RemoveWatchesError::UnknownWatcherType(4).error_code(), -5);
        assert_eq!(RemoveWatchesError::NoWatcher.error_code(), -121);
        assert_eq!(w.count(), 2);
    }

    #[test]
    fn check_watches_removes_nothing_and_matches_any_connection() {
        let mut w = Watches::new();
        w.add(1, "/a", Data);
        assert!(w.remove(1, "/a", watcher_type::DATA, true));
        assert!(w.remove(1, "/a", watcher_type::ANY, true));
        assert!(!w.remove(1, "/a", watcher_type::CHILDREN, true));
        assert_eq!(w.count(), 1);
        // 3.8's containsWatcher only asks whether the path is watched.
        assert!(w.remove(2, "/a", watcher_type::DATA, true));
        assert!(!w.remove(2, "/a", watcher_type::DATA, false));
        assert!(!w.remove(1, "/b", watcher_type::ANY, true));
    }

    #[test]
    fn remove_conn_drops_everything_of_that_connection() {
        let mut w = Watches::new();
        w.add(1, "/a", Data);
        w.add(1, "/a", Child);
        w.add(1, "/r", PersistentRecursive);
        w.add(2, "/a", Data);
        w.remove_conn(1);
        assert_eq!((w.data.recursive_qty, w.child.recursive_qty), (0, 0));
        assert_eq!(w.count(), 1);
        assert_eq!(w.trigger("/r/x", NodeCreated), v(&[]));
        assert_eq!(w.trigger("/a", NodeDeleted), v(&[2]));
        assert!(!w.by_conn().contains_key(&1));
    }

    #[test]
    fn counts_and_reports_follow_zookeeper() {
        let mut w = Watches::new();
        w.add(1, "/d", Data);
        w.add(1, "/c", Child);
        w.add(2, "/p", Persistent);
        w.add(3, "/r", PersistentRecursive);
        w.add(4, "/c", Child); // a child-only connection
        // zk_watch_count: data + child managers.
        assert_eq!(w.count(), 1 + 1 + 2 + 2 + 1);
        // wchs / wchc / wchp: data manager only.
        assert_eq!(
            w.summary(),
            WatchesSummary {
                connections: 3,
                paths: 3,
                total_watches: 3
            }
        );
        assert_eq!(w.paths_count(), 3);
        assert_eq!(
            w.summary().to_string(),
            "3 connections watching 3 paths\nTotal watches:3"
        );
        let by_conn = w.by_conn();
        assert_eq!(by_conn.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(by_conn[&1], ["/d"]);
        let by_path = w.by_path();
        assert_eq!(
            by_path.keys().cloned().collect::<Vec<_>>(),
            ["/d", "/p", "/r"]
        );
        assert_eq!(by_path["/r"], [3]);

        // A fired data watch leaves its connection listed with no paths.
        assert_eq!(w.trigger("/d", NodeDataChanged), v(&[1]));
        assert_eq!(w.by_conn()[&1], Vec::<String>::new());
        assert_eq!(
            w.summary(),
            WatchesSummary {
                connections: 3,
                paths: 2,
                total_watches: 2
            }
        );
        // Removal too; only closing the connection drops it.
        assert!(w.remove(2, "/p", watcher_type::ANY, false));
        assert_eq!(w.by_conn()[&2], Vec::<String>::new());
        w.remove_conn(1);
        w.remove_conn(2);
        assert_eq!(w.summary().connections, 1);
    }

    #[test]
    fn set_watches_decides_per_list() {
        let nodes: HashMap<&str, NodeZxids> = [
            ("/old", NodeZxids { mzxid: 5, pzxid: 5 }),
            (
                "/data-new",
                NodeZxids {
                    mzxid: 11,
                    pzxid: 5,
                },
            ),
            (
                "/kids-new",
                NodeZxids {
                    mzxid: 5,
                    pzxid: 11,
                },
            ),
            (
                "/eq",
                NodeZxids {
                    mzxid: 10,
                    pzxid: 10,
                },
            ),
        ]
        .into_iter()
        .collect();
        let lookup = |p: &str| nodes.get(p).copied();
        let s = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let data = s(&["/gone", "/data-new", "/kids-new", "/eq"]);
        let exist = s(&["/old", "/gone"]);
        let child = s(&["/gone", "/kids-new", "/data-new", "/eq"]);
        let persistent = s(&["/gone", "/data-new"]);
        let recursive = s(&["/gone2"]);
        let lists = SetWatchesLists {
            relative_zxid: 10,
            data_watches: &data,
            exist_watches: &exist,
            child_watches: &child,
            persistent_watches: &persistent,
            persistent_recursive_watches: &recursive,
        };
        let out = set_watches_events(&lists, lookup);
        let ev = |kind, path: &str| WatchEvent {
            kind,
            path: path.to_owned(),
        };
        assert_eq!(
            out.events,
            [
                ev(NodeDeleted, "/gone"),
                ev(NodeDataChanged, "/data-new"),
                ev(NodeCreated, "/old"),
                ev(NodeDeleted, "/gone"),
                ev(NodeChildrenChanged, "/kids-new"),
            ]
        );
        assert_eq!(
            out.register,
            [
                ("/kids-new".to_owned(), Data),
                ("/eq".to_owned(), Data),
                ("/gone".to_owned(), Data),
                ("/data-new".to_owned(), Child),
                ("/eq".to_owned(), Child),
                ("/gone".to_owned(), Persistent),
                ("/data-new".to_owned(), Persistent),
                ("/gone2".to_owned(), PersistentRecursive),
            ]
        );

        let mut w = Watches::new();
        let events = w.set_watches(9, &lists, lookup);
        assert_eq!(events, out.events);
        // /gone: exist watch (data one-shot) then persistent: persistent wins.
        assert_eq!(w.trigger("/gone", NodeCreated), v(&[9]));
        assert_eq!(w.trigger("/gone", NodeCreated), v(&[9]));
        assert_eq!(w.trigger("/eq", NodeDataChanged), v(&[9]));
        assert_eq!(w.trigger("/eq", NodeDataChanged), v(&[]));
        assert_eq!(w.trigger("/gone2/x", NodeDeleted), v(&[9]));
    }

    #[test]
    fn codes() {
        for ev in [
            NodeCreated,
            NodeDeleted,
            NodeDataChanged,
            NodeChildrenChanged,
        ] {
            assert_eq!(EventKind::from_code(ev.code()), Some(ev));
        }
        assert_eq!(NodeChildrenChanged.code(), 4);
        assert_eq!(EventKind::from_code(-1), None);
        assert_eq!(WatchKind::from_add_watch_mode(0), Some(Persistent));
        assert_eq!(WatchKind::from_add_watch_mode(1), Some(PersistentRecursive));
        assert_eq!(WatchKind::from_add_watch_mode(2), None);
    }
}
