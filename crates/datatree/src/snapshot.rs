//! The [`StateMachine`] implementation and the snapshot image format.
//!
//! # Image format (version 1), integers big-endian
//!
//! ```text
//! magic "ZKRSTREE"  version:u8 (=1)  zxid:u64
//! node_count:u64  node*          (sorted by path bytes, so every parent precedes its children)
//!   node = path:str data:bytes acl czxid:i64 mzxid:i64 ctime:i64 mtime:i64
//!          version:i32 cversion:i32 aversion:i32 ephemeral_owner:i64 pzxid:i64
//! session_count:u64 (session:i64 timeout_ms:i32)*   (sorted by session id)
//! ```
//!
//! Children, `numChildren`, the per-session ephemeral sets and the container/TTL sets
//! are rebuilt on restore, as ZooKeeper does. Restore checks every structural rule (the
//! root first, strictly increasing valid paths, an existing non-ephemeral parent for
//! every other node, no trailing bytes) and returns a typed [`DecodeError`].

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use zk_zab::state_machine::{RestoreError, SnapshotSource, StateMachine};
use zk_zab::txn::{Txn, Zxid};

use crate::codec::{Reader, Writer};
use crate::error::DecodeError;
use crate::nodes::{AclCache, Node, Nodes};
use crate::path::{split, validate_path};
use crate::result::TxnResult;
use crate::stat::{NodeType, StatPersisted};
use crate::tree::DataTree;
use crate::txn::TxnRecord;

const MAGIC: &[u8; 8] = b"ZKRSTREE";
/// The image format version this build writes and reads.
pub const IMAGE_FORMAT_VERSION: u8 = 1;
/// The smallest encoded node: 3 empty length prefixes and the fixed stat fields.
const MIN_NODE_BYTES: usize = 4 + 4 + 4 + 8 * 6 + 4 * 3;

impl StateMachine for DataTree {
    type Output = TxnResult;

    fn apply(&mut self, txn: &Txn) -> TxnResult {
        match TxnRecord::decode(&txn.data) {
            Ok(record) => self.apply_record(txn.zxid, &record),
            Err(e) => {
                tracing::warn!(zxid = txn.zxid, error = %e, "undecodable transaction");
                self.last_applied = txn.zxid;
                TxnResult::Undecodable(e)
            }
        }
    }

    fn last_applied(&self) -> Zxid {
        self.last_applied
    }

    fn snapshot(&self) -> Box<dyn SnapshotSource> {
        Box::new(TreeImage {
            zxid: self.last_applied,
            nodes: self.nodes.clone(),
            sessions: Arc::clone(&self.sessions),
        })
    }

    fn restore(&mut self, zxid: Zxid, image: Bytes) -> Result<(), RestoreError> {
        *self = decode_image(zxid, &image)?;
        Ok(())
    }
}

/// A consistent image of a [`DataTree`]: shares the tree's copy-on-write shards.
struct TreeImage {
    zxid: Zxid,
    nodes: Nodes,
    sessions: Arc<BTreeMap<i64, i32>>,
}

impl SnapshotSource for TreeImage {
    fn zxid(&self) -> Zxid {
        self.zxid
    }

    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        let mut entries: Vec<(&Arc<str>, &Arc<Node>)> =
            self.nodes.shards().iter().flat_map(|s| s.iter()).collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut w = Writer::new();
        w.buf.extend_from_slice(MAGIC);
        w.u8(IMAGE_FORMAT_VERSION);
        w.u64(self.zxid);
        w.u64(entries.len() as u64);
        for (path, node) in entries {
            w.str(path);
            w.bytes(&node.data);
            w.acl(&node.acl);
            let s = &node.stat;
            w.i64(s.czxid);
            w.i64(s.mzxid);
            w.i64(s.ctime);
            w.i64(s.mtime);
            w.i32(s.version);
            w.i32(s.cversion);
            w.i32(s.aversion);
            w.i64(s.ephemeral_owner);
            w.i64(s.pzxid);
            if w.buf.len() >= 1 << 16 {
                out.write_all(&w.buf)?;
                w.buf.clear();
            }
        }
        w.u64(self.sessions.len() as u64);
        for (session, timeout) in self.sessions.iter() {
            w.i64(*session);
            w.i32(*timeout);
        }
        out.write_all(&w.buf)
    }
}

fn invalid(msg: String) -> DecodeError {
    DecodeError::InvalidImage(msg)
}

/// Decodes an image written by a [`DataTree`] snapshot consistent at `zxid`.
pub fn decode_image(zxid: Zxid, image: &[u8]) -> Result<DataTree, DecodeError> {
    let mut r = Reader::new(image);
    if image.len() < MAGIC.len() || &image[..MAGIC.len()] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    for _ in 0..MAGIC.len() {
        r.u8()?;
    }
    let version = r.u8()?;
    if version != IMAGE_FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let image_zxid = r.u64()?;
    if image_zxid != zxid {
        return Err(invalid(format!(
            "image is at zxid {image_zxid:#x}, expected {zxid:#x}"
        )));
    }
    let count = r.u64()?;
    if count.saturating_mul(MIN_NODE_BYTES as u64) > r.remaining() as u64 {
        return Err(invalid(format!("node count {count} exceeds the image")));
    }
    let mut nodes = Nodes::empty();
    let mut acls = AclCache::default();
    let mut prev: Option<String> = None;
    for _ in 0..count {
        let path = r.string()?;
        let data = r.data()?;
        let acl = r.acl()?;
        let stat = StatPersisted {
            czxid: r.i64()?,
            mzxid: r.i64()?,
            ctime: r.i64()?,
            mtime: r.i64()?,
            version: r.i32()?,
            cversion: r.i32()?,
            aversion: r.i32()?,
            ephemeral_owner: r.i64()?,
            pzxid: r.i64()?,
        };
        validate_path(&path).map_err(|e| invalid(format!("bad path {path:?}: {e}")))?;
        match &prev {
            None if path != "/" => return Err(invalid("the root is not first".into())),
            Some(p) if p.as_str() >= path.as_str() => {
                return Err(invalid(format!("path {path:?} out of order after {p:?}")));
            }
            _ => {}
        }
        if path != "/" {
            let (parent, child) =
                split(&path).ok_or_else(|| invalid(format!("bad path {path:?}")))?;
            let parent_owner = nodes
                .get(parent)
                .map(|n| n.stat.ephemeral_owner)
                .ok_or_else(|| invalid(format!("parent of {path:?} missing")))?;
            if matches!(NodeType::of_owner(parent_owner), NodeType::Ephemeral(_)) {
                return Err(invalid(format!("{path:?} has an ephemeral parent")));
            }
            let parent = parent.to_owned();
            nodes.add_child(&parent, Arc::from(child));
        }
        let node = Node {
            data,
            acl: acls.intern(&acl),
            stat,
            children: Default::default(),
        };
        nodes.insert(Arc::from(path.as_str()), node);
        prev = Some(path);
    }
    let n = r.u64()?;
    if n.saturating_mul(12) > r.remaining() as u64 {
        return Err(invalid(format!("session count {n} exceeds the image")));
    }
    let mut sessions = BTreeMap::new();
    for _ in 0..n {
        let session = r.i64()?;
        let timeout = r.i32()?;
        if sessions.insert(session, timeout).is_some() {
            return Err(invalid(format!("session {session:#x} twice")));
        }
    }
    r.finish()?;
    if nodes.len() == 0 {
        return Err(invalid("no root".into()));
    }
    Ok(DataTree::from_parts(nodes, sessions, acls, zxid))
}
