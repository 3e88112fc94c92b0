//! The node map (copy-on-write shards) and the primitive changes transactions make to it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use crate::acl::{Acl, SharedAcl};
use crate::error::ErrorCode;
use crate::path::{is_special_path, java_len, split, validate_path};
use crate::result::TxnResult;
use crate::stat::{
    CONTAINER_EPHEMERAL_OWNER, MAX_TTL, NodeType, Stat, StatPersisted, ttl_ephemeral_owner,
};
use crate::txn::{CreateKind, CreateTxn, TxnKind};

/// One znode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) data: Bytes,
    pub(crate) acl: SharedAcl,
    pub(crate) stat: StatPersisted,
    pub(crate) children: BTreeSet<Arc<str>>,
}

impl Node {
    pub(crate) fn stat(&self) -> Stat {
        Stat::from_parts(&self.stat, self.data.len(), self.children.len())
    }
}

type Shard = BTreeMap<Arc<str>, Arc<Node>>;

/// How many copy-on-write shards the node map is split into. A snapshot shares every
/// shard; the next write to a shard copies only that shard (about `nodes / SHARDS`
/// entries of two `Arc`s each), not the whole map.
const SHARDS: usize = 1024;

fn shard_of(path: &str) -> usize {
    // FNV-1a: deterministic across processes, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % SHARDS as u64) as usize
}

/// The node map: path to node, in copy-on-write shards; cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Nodes {
    shards: Vec<Arc<Shard>>,
    len: usize,
    /// Sum over nodes of path length (UTF-16 units) + data length.
    pub(crate) data_size: u64,
}

/// A change to the node set that the per-session / container / TTL indexes must follow.
pub(crate) enum Effect {
    Added(Arc<str>, i64),
    Removed(Arc<str>, i64),
}

impl Nodes {
    pub(crate) fn empty() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Arc::new(Shard::new())).collect(),
            len: 0,
            data_size: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Node> {
        self.shards[shard_of(path)].get(path).map(|n| &**n)
    }

    fn get_mut(&mut self, path: &str) -> Option<&mut Node> {
        let shard = &mut self.shards[shard_of(path)];
        if !shard.contains_key(path) {
            return None;
        }
        Arc::make_mut(shard).get_mut(path).map(Arc::make_mut)
    }

    pub(crate) fn insert(&mut self, path: Arc<str>, node: Node) {
        let path_len = java_len(&path);
        self.data_size += path_len + node.data.len() as u64;
        let old = Arc::make_mut(&mut self.shards[shard_of(&path)]).insert(path, Arc::new(node));
        match old {
            Some(old) => self.data_size -= path_len + old.data.len() as u64,
            None => self.len += 1,
        }
    }

    /// Adds `child` to the existing node at `parent` (restore only).
    pub(crate) fn add_child(&mut self, parent: &str, child: Arc<str>) {
        if let Some(p) = self.get_mut(parent) {
            p.children.insert(child);
        }
    }

    fn remove(&mut self, path: &str) -> Option<Arc<Node>> {
        let shard = &mut self.shards[shard_of(path)];
        if !shard.contains_key(path) {
            return None;
        }
        let old = Arc::make_mut(shard).remove(path)?;
        self.len -= 1;
        self.data_size -= java_len(path) + old.data.len() as u64;
        Some(old)
    }

    /// Every (path, node), in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<Node>)> {
        self.shards.iter().flat_map(|s| s.iter())
    }

    /// The shards, for a snapshot to share.
    pub(crate) fn shards(&self) -> &[Arc<Shard>] {
        &self.shards
    }

    /// Applies one non-multi, non-session op at `zxid`/`time`. Validates fully before
    /// changing anything, so an `Err` leaves the map untouched.
    pub(crate) fn apply_op(
        &mut self,
        zxid: i64,
        time: i64,
        op: &TxnKind,
        acls: &mut AclCache,
        effects: &mut Vec<Effect>,
    ) -> Result<TxnResult, ErrorCode> {
        match op {
            TxnKind::Create(c) => self.create(zxid, time, c, acls, effects),
            TxnKind::Delete { path } => self.delete(zxid, path, effects),
            TxnKind::SetData {
                path,
                data,
                version,
            } => {
                let node = self.get_mut(path).ok_or(ErrorCode::NO_NODE)?;
                let old_len = node.data.len() as u64;
                node.data = data.clone();
                node.stat.mtime = time;
                node.stat.mzxid = zxid;
                node.stat.version = *version;
                let stat = node.stat();
                self.data_size = self.data_size - old_len + data.len() as u64;
                Ok(TxnResult::DataSet {
                    path: path.clone(),
                    stat,
                })
            }
            TxnKind::SetAcl { path, acl, version } => {
                if self.get(path).is_none() {
                    return Err(ErrorCode::NO_NODE);
                }
                let acl = acls.intern(acl);
                let node = self.get_mut(path).ok_or(ErrorCode::NO_NODE)?;
                node.acl = acl;
                node.stat.aversion = *version;
                Ok(TxnResult::AclSet {
                    path: path.clone(),
                    stat: node.stat(),
                })
            }
            TxnKind::Check { path, .. } => match self.get(path) {
                Some(_) => Ok(TxnResult::Checked { path: path.clone() }),
                None => Err(ErrorCode::NO_NODE),
            },
            TxnKind::Error { code } => Err(*code),
            TxnKind::Multi(_) | TxnKind::CreateSession { .. } | TxnKind::CloseSession { .. } => {
                Err(ErrorCode::BAD_ARGUMENTS)
            }
        }
    }

    fn create(
        &mut self,
        zxid: i64,
        time: i64,
        c: &CreateTxn,
        acls: &mut AclCache,
        effects: &mut Vec<Effect>,
    ) -> Result<TxnResult, ErrorCode> {
        validate_path(&c.path).map_err(|_| ErrorCode::BAD_ARGUMENTS)?;
        let (parent_path, child) = split(&c.path).ok_or(ErrorCode::BAD_ARGUMENTS)?;
        if child.is_empty() || self.get(&c.path).is_some() {
            return Err(ErrorCode::NODE_EXISTS);
        }
        let parent = self.get(parent_path).ok_or(ErrorCode::NO_NODE)?;
        if matches!(
            NodeType::of_owner(parent.stat.ephemeral_owner),
            NodeType::Ephemeral(_)
        ) {
            return Err(ErrorCode::NO_CHILDREN_FOR_EPHEMERALS);
        }
        let owner = match c.kind {
            CreateKind::Persistent => 0,
            CreateKind::Ephemeral => c.ephemeral_owner,
            CreateKind::Container => CONTAINER_EPHEMERAL_OWNER,
            CreateKind::Ttl(ttl) if ttl > 0 && ttl <= MAX_TTL => ttl_ephemeral_owner(ttl),
            CreateKind::Ttl(_) => return Err(ErrorCode::BAD_ARGUMENTS),
        };
        let new_cversion = if c.parent_cversion == -1 {
            parent.stat.cversion.wrapping_add(1)
        } else {
            c.parent_cversion
        };
        let path: Arc<str> = Arc::from(c.path.as_str());
        let child: Arc<str> = Arc::from(child);
        let parent_path = parent_path.to_owned();
        let parent = self.get_mut(&parent_path).ok_or(ErrorCode::NO_NODE)?;
        // ZooKeeper 3.8 only raises cversion when the txn's value is larger, a guard for
        // replaying txns over a fuzzy snapshot. Our snapshots are exact (see
        // `zk_zab::state_machine`), so the leader's value is taken as is, and a cversion
        // of i32::MAX wraps to i32::MIN as ZooKeeper's documentation describes.
        parent.stat.cversion = new_cversion;
        parent.stat.pzxid = zxid;
        parent.children.insert(child);
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
        };
        let node = Node {
            data: c.data.clone(),
            acl: acls.intern(&c.acl),
            stat,
            children: BTreeSet::new(),
        };
        let out = node.stat();
        self.insert(Arc::clone(&path), node);
        effects.push(Effect::Added(path, owner));
        Ok(TxnResult::Created {
            path: c.path.clone(),
            stat: out,
        })
    }

    fn delete(
        &mut self,
        zxid: i64,
        path: &str,
        effects: &mut Vec<Effect>,
    ) -> Result<TxnResult, ErrorCode> {
        let (parent_path, child) = split(path).ok_or(ErrorCode::BAD_ARGUMENTS)?;
        if is_special_path(path) {
            return Err(ErrorCode::BAD_ARGUMENTS);
        }
        let node = self.get(path).ok_or(ErrorCode::NO_NODE)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NOT_EMPTY);
        }
        if self.get(parent_path).is_none() {
            return Err(ErrorCode::NO_NODE);
        }
        let parent_path = parent_path.to_owned();
        let child = child.to_owned();
        let parent = self.get_mut(&parent_path).ok_or(ErrorCode::NO_NODE)?;
        parent.children.remove(child.as_str());
        // ZooKeeper's deleteNode: pzxid only moves forward, and cversion is NOT changed
        // by a delete (only creates bump it, through CreateTxn.parentCVersion).
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        let removed = self.remove(path).ok_or(ErrorCode::NO_NODE)?;
        effects.push(Effect::Removed(
            Arc::from(path),
            removed.stat.ephemeral_owner,
        ));
        Ok(TxnResult::Deleted {
            path: path.to_owned(),
        })
    }
}

/// Deduplicates ACL lists, like ZooKeeper's `ReferenceCountedACLCache`: nodes with equal
/// ACLs share one allocation; lists no node uses any more are purged now and then.
#[derive(Clone, Debug, Default)]
pub(crate) struct AclCache {
    set: HashSet<SharedAcl>,
    purge_at: usize,
}

impl AclCache {
    pub(crate) fn intern(&mut self, acl: &[Acl]) -> SharedAcl {
        if let Some(a) = self.set.get(acl) {
            return Arc::clone(a);
        }
        if self.set.len() >= self.purge_at {
            // Amortized: entries only the cache holds are unused.
            self.set.retain(|a| Arc::strong_count(a) > 1);
            self.purge_at = (self.set.len() * 2).max(64);
        }
        let a: SharedAcl = Arc::from(acl);
        self.set.insert(Arc::clone(&a));
        a
    }

    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}
