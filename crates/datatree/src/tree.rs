//! The znode tree: applying transactions, the derived indexes, and reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use zk_zab::txn::Zxid;

use crate::acl::{Acl, SharedAcl};
use crate::error::ErrorCode;
use crate::nodes::{AclCache, Effect, Node, Nodes};
use crate::result::{TxnResult, failed_multi};
use crate::stat::{NodeType, Stat, StatPersisted};
use crate::txn::{TxnKind, TxnRecord};

/// The znode tree that ZAB replicates; see the [crate docs](crate).
#[derive(Clone, Debug)]
pub struct DataTree {
    pub(crate) nodes: Nodes,
    pub(crate) sessions: Arc<BTreeMap<i64, i32>>,
    ephemerals: BTreeMap<i64, BTreeSet<Arc<str>>>,
    containers: BTreeSet<Arc<str>>,
    ttls: BTreeSet<Arc<str>>,
    pub(crate) acls: AclCache,
    pub(crate) last_applied: Zxid,
}

impl PartialEq for DataTree {
    fn eq(&self, other: &Self) -> bool {
        // The ACL cache is an allocation detail, not state.
        self.last_applied == other.last_applied
            && self.nodes == other.nodes
            && self.sessions == other.sessions
            && self.ephemerals == other.ephemerals
            && self.containers == other.containers
            && self.ttls == other.ttls
    }
}

impl Eq for DataTree {}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A fresh tree as ZooKeeper 3.8 starts one: `/`, `/zookeeper`, `/zookeeper/quota` and
    /// `/zookeeper/config` (ACL `world:anyone:r`, aversion -1), all with zero stats.
    pub fn new() -> Self {
        let mut acls = AclCache::default();
        let open = acls.intern(&Acl::open_unsafe());
        let node = |children: &[&str], acl: &SharedAcl, aversion| Node {
            data: Bytes::new(),
            acl: Arc::clone(acl),
            stat: StatPersisted {
                aversion,
                ..StatPersisted::default()
            },
            children: children.iter().map(|c| Arc::from(*c)).collect(),
        };
        let mut nodes = Nodes::empty();
        nodes.insert(Arc::from("/"), node(&["zookeeper"], &open, 0));
        nodes.insert(
            Arc::from("/zookeeper"),
            node(&["quota", "config"], &open, 0),
        );
        nodes.insert(Arc::from("/zookeeper/quota"), node(&[], &open, 0));
        // DataTree.addConfigNode: setACL(configZookeeper, READ_ACL_UNSAFE, -1) sets the
        // aversion to the -1 it is given.
        let read = acls.intern(&Acl::read_unsafe());
        nodes.insert(Arc::from("/zookeeper/config"), node(&[], &read, -1));
        Self::from_parts(nodes, BTreeMap::new(), acls, 0)
    }

    /// Builds a tree from a node map, rebuilding the derived indexes.
    pub(crate) fn from_parts(
        nodes: Nodes,
        sessions: BTreeMap<i64, i32>,
        acls: AclCache,
        last_applied: Zxid,
    ) -> Self {
        let mut tree = Self {
            nodes,
            sessions: Arc::new(sessions),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acls,
            last_applied,
        };
        let added: Vec<Effect> = tree
            .nodes
            .iter()
            .map(|(p, n)| Effect::Added(Arc::clone(p), n.stat.ephemeral_owner))
            .collect();
        for e in added {
            tree.index(e);
        }
        tree
    }

    fn index(&mut self, effect: Effect) {
        match effect {
            Effect::Added(path, owner) => match NodeType::of_owner(owner) {
                NodeType::Persistent => {}
                NodeType::Ephemeral(s) => {
                    self.ephemerals.entry(s).or_default().insert(path);
                }
                NodeType::Container => {
                    self.containers.insert(path);
                }
                NodeType::Ttl(_) => {
                    self.ttls.insert(path);
                }
            },
            Effect::Removed(path, owner) => match NodeType::of_owner(owner) {
                NodeType::Persistent => {}
                NodeType::Ephemeral(s) => {
                    if let Some(set) = self.ephemerals.get_mut(&s) {
                        set.remove(&path);
                        if set.is_empty() {
                            self.ephemerals.remove(&s);
                        }
                    }
                }
                NodeType::Container => {
                    self.containers.remove(&path);
                }
                NodeType::Ttl(_) => {
                    self.ttls.remove(&path);
                }
            },
        }
    }

    /// Applies `txn`, decoded from a ZAB transaction's payload, at `zxid`; afterwards
    /// [`last_applied`](Self::last_applied) is `zxid`. Never panics; a failing
    /// transaction changes nothing but `last_applied`.
    pub fn apply_record(&mut self, zxid: Zxid, txn: &TxnRecord) -> TxnResult {
        self.last_applied = zxid;
        let z = zxid as i64;
        let time = txn.time;
        match &txn.kind {
            TxnKind::Multi(ops) => self.apply_multi(z, time, ops),
            TxnKind::CreateSession { session, timeout } => {
                Arc::make_mut(&mut self.sessions).insert(*session, *timeout);
                TxnResult::SessionCreated {
                    session: *session,
                    timeout: *timeout,
                }
            }
            TxnKind::CloseSession { session } => {
                let paths = self.ephemerals.remove(session).unwrap_or_default();
                let mut deleted = Vec::with_capacity(paths.len());
                for path in paths {
                    let mut effects = Vec::new();
                    let op = TxnKind::Delete {
                        path: path.to_string(),
                    };
                    match self
                        .nodes
                        .apply_op(z, time, &op, &mut self.acls, &mut effects)
                    {
                        Ok(_) => deleted.push(path.to_string()),
                        Err(code) => tracing::warn!(%path, %code, "ephemeral not deleted"),
                    }
                    for e in effects {
                        self.index(e);
                    }
                }
                if self.sessions.contains_key(session) {
                    Arc::make_mut(&mut self.sessions).remove(session);
                }
                TxnResult::SessionClosed {
                    session: *session,
                    deleted,
                }
            }
            TxnKind::Error { code } => TxnResult::Error(*code),
            op => {
                let mut effects = Vec::new();
                match self
                    .nodes
                    .apply_op(z, time, op, &mut self.acls, &mut effects)
                {
                    Ok(r) => {
                        for e in effects {
                            self.index(e);
                        }
                        r
                    }
                    Err(code) => TxnResult::Error(code),
                }
            }
        }
    }

    fn apply_multi(&mut self, zxid: i64, time: i64, ops: &[TxnKind]) -> TxnResult {
        if let Some(i) = ops
            .iter()
            .position(|op| matches!(op, TxnKind::Error { .. }))
        {
            let code = match &ops[i] {
                TxnKind::Error { code } => *code,
                _ => ErrorCode::SYSTEM_ERROR,
            };
            return failed_multi(ops, i, code);
        }
        // Applied to a copy-on-write clone, swapped in only if every op succeeds.
        let mut scratch = self.nodes.clone();
        let mut effects = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            if !op.allowed_in_multi() {
                return failed_multi(ops, i, ErrorCode::BAD_ARGUMENTS);
            }
            match scratch.apply_op(zxid, time, op, &mut self.acls, &mut effects) {
                Ok(r) => results.push(r),
                Err(code) => return failed_multi(ops, i, code),
            }
        }
        self.nodes = scratch;
        for e in effects {
            self.index(e);
        }
        TxnResult::Multi(results)
    }

    /// The zxid of the last transaction applied (or restored).
    pub fn last_applied(&self) -> Zxid {
        self.last_applied
    }

    /// The node's data and stat.
    pub fn get_data(&self, path: &str) -> Option<(Bytes, Stat)> {
        self.nodes.get(path).map(|n| (n.data.clone(), n.stat()))
    }

    /// The node's stat.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(Node::stat)
    }

    /// Whether the node exists.
    pub fn exists(&self, path: &str) -> bool {
        self.nodes.get(path).is_some()
    }

    /// The node's child names, **sorted** (ZooKeeper returns its `HashSet`'s iteration
    /// order, which is unspecified; clients must not rely on any order, so sorted is a
    /// faithful, deterministic choice).
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes
            .get(path)
            .map(|n| n.children.iter().map(|c| c.to_string()).collect())
    }

    /// The node's ACL and stat.
    pub fn acl(&self, path: &str) -> Option<(Vec<Acl>, Stat)> {
        self.nodes.get(path).map(|n| (n.acl.to_vec(), n.stat()))
    }

    /// The paths of `session`'s ephemeral nodes, sorted.
    pub fn ephemerals(&self, session: i64) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    }

    /// How many ephemeral nodes exist (mntr's `zk_ephemerals_count`).
    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    /// The sessions with ephemeral nodes.
    pub fn sessions_with_ephemerals(&self) -> Vec<i64> {
        self.ephemerals.keys().copied().collect()
    }

    /// The live sessions (id, timeout ms), created by `CreateSession` and not yet closed.
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        self.sessions.iter().map(|(s, t)| (*s, *t)).collect()
    }

    /// The timeout of `session`, if it is live.
    pub fn session_timeout(&self, session: i64) -> Option<i32> {
        self.sessions.get(&session).copied()
    }

    /// The node count as ZooKeeper reports it (`srvr`'s "Node count", mntr's
    /// `zk_znode_count`): ZooKeeper's map holds the root twice (as `""` and `"/"`), so a
    /// fresh tree of 4 nodes reports 5; so does this.
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// How many nodes are below `path` at any depth (`getAllChildrenNumber`).
    pub fn all_children_number(&self, path: &str) -> usize {
        if path == "/" {
            return self.nodes.len().saturating_sub(1);
        }
        let prefix = format!("{path}/");
        self.nodes
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix))
            .count()
    }

    /// ZooKeeper's `approximateDataSize` (mntr's `zk_approximate_data_size`): the sum over
    /// its node map of path length + data length, the root counted under both its keys.
    pub fn approximate_data_size(&self) -> u64 {
        let root = self.nodes.get("/").map_or(0, |n| n.data.len() as u64);
        self.nodes.data_size + root
    }

    /// The number of distinct ACL lists in use (ZooKeeper's `aclCacheSize`, roughly).
    pub fn acl_cache_size(&self) -> usize {
        self.acls.len()
    }

    /// All container nodes, sorted.
    pub fn containers(&self) -> Vec<String> {
        self.containers.iter().map(|p| p.to_string()).collect()
    }

    /// All TTL nodes, sorted.
    pub fn ttls(&self) -> Vec<String> {
        self.ttls.iter().map(|p| p.to_string()).collect()
    }

    /// The nodes the container reaper should delete at `now_ms`, sorted, by
    /// ZooKeeper's `ContainerManager.getCandidates`: containers without children that
    /// have had children (`cversion > 0`) or, if `max_never_used_ms != 0`, were last
    /// modified more than that long ago; and TTL nodes without children whose TTL has
    /// passed since their `mtime`. The reaper deletes them with
    /// [`Request::DeleteContainer`](crate::Request::DeleteContainer), which re-checks.
    pub fn reaper_candidates(&self, now_ms: i64, max_never_used_ms: i64) -> Vec<String> {
        let mut out = Vec::new();
        for path in &self.containers {
            if let Some(n) = self.nodes.get(path) {
                let elapsed = now_ms.saturating_sub(n.stat.mtime);
                if n.children.is_empty()
                    && (n.stat.cversion > 0
                        || (max_never_used_ms != 0 && elapsed > max_never_used_ms))
                {
                    out.push(path.to_string());
                }
            }
        }
        for path in &self.ttls {
            if let Some(n) = self.nodes.get(path)
                && let NodeType::Ttl(ttl) = NodeType::of_owner(n.stat.ephemeral_owner)
                && n.children.is_empty()
                && ttl != 0
                && now_ms.saturating_sub(n.stat.mtime) > ttl
            {
                out.push(path.to_string());
            }
        }
        out.sort();
        out
    }
}
