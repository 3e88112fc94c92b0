//! The leader's side: turning a client request into a transaction, as ZooKeeper's
//! `PrepRequestProcessor` does.
//!
//! Validation order and error codes follow `PrepRequestProcessor.pRequest2Txn` (3.8), so a
//! client sees the same error for the same bad request. Permission checks call
//! [`PrepareOptions::authorize`] with the ACL ZooKeeper would check and the permission it
//! needs; the server supplies it from the session's auth info (`super`, `digest`, ...).
//! The server also supplies [`PrepareOptions::fixup_acl`], which expands the `auth` ACL
//! scheme into the session's identities.
//!
//! # Prepare against the leader's *speculative* tree
//!
//! ZooKeeper prepares each request against the committed tree *plus* every change still
//! in flight (`outstandingChanges`): two sequential creates proposed back to back must
//! get different names, and a delete after an uncommitted create must see the node. The
//! leader should therefore keep a second `DataTree` to which it applies each record right
//! after preparing it (cloning a `DataTree` is cheap: its node map is copy-on-write), and
//! pass that tree to [`prepare`]. When proposals are abandoned (a new epoch), it rebuilds
//! the speculative tree as a clone of the committed one.
//!
//! A request that fails returns `Err(code)`. ZooKeeper still logs an `ErrorTxn` for a
//! failed write (advancing the zxid); a server that wants that can propose
//! [`TxnKind::Error`]. A failed *multi* is a transaction: see [`prepare`].

use bytes::Bytes;

use crate::acl::{Acl, perms};
use crate::error::ErrorCode;
use crate::nodes::{AclCache, Nodes};
use crate::path::{is_special_path, split, validate_path};
use crate::stat::{MAX_TTL, NodeType};
use crate::tree::DataTree;
use crate::txn::{CreateKind, CreateTxn, TxnKind, TxnRecord};

/// ZooKeeper's `CreateMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateMode {
    /// Flag 0.
    Persistent,
    /// Flag 2.
    PersistentSequential,
    /// Flag 1.
    Ephemeral,
    /// Flag 3.
    EphemeralSequential,
    /// Flag 4.
    Container,
    /// Flag 5.
    PersistentWithTtl,
    /// Flag 6.
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// The mode with ZooKeeper's wire flag, if any.
    pub fn from_flag(flag: i32) -> Option<Self> {
        Some(match flag {
            0 => Self::Persistent,
            1 => Self::Ephemeral,
            2 => Self::PersistentSequential,
            3 => Self::EphemeralSequential,
            4 => Self::Container,
            5 => Self::PersistentWithTtl,
            6 => Self::PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    /// Whether the name gets a sequence suffix.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            Self::PersistentSequential
                | Self::EphemeralSequential
                | Self::PersistentSequentialWithTtl
        )
    }

    /// Whether the node has a TTL.
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            Self::PersistentWithTtl | Self::PersistentSequentialWithTtl
        )
    }
}

/// A write request, as decoded from the client protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `create`, `create2`, `createContainer`, `createTTL`.
    Create {
        /// The requested path (before any sequential suffix).
        path: String,
        /// The data.
        data: Bytes,
        /// The ACL.
        acl: Vec<Acl>,
        /// The mode.
        mode: CreateMode,
        /// The TTL (ms) for TTL modes; -1 otherwise, as ZooKeeper passes it.
        ttl: i64,
    },
    /// `delete`.
    Delete {
        /// The path.
        path: String,
        /// The expected version, -1 for any.
        version: i32,
    },
    /// `deleteContainer`: what the container reaper sends.
    DeleteContainer {
        /// The path.
        path: String,
    },
    /// `setData`.
    SetData {
        /// The path.
        path: String,
        /// The data.
        data: Bytes,
        /// The expected version, -1 for any.
        version: i32,
    },
    /// `setACL`.
    SetAcl {
        /// The path.
        path: String,
        /// The ACL.
        acl: Vec<Acl>,
        /// The expected aversion, -1 for any.
        version: i32,
    },
    /// `check` (only meaningful inside a multi).
    Check {
        /// The path.
        path: String,
        /// The expected version, -1 for any.
        version: i32,
    },
    /// `multi`: only `Create`, `Delete`, `SetData` and `Check` may appear inside.
    Multi(Vec<Self>),
    /// `createSession`.
    CreateSession {
        /// The negotiated timeout (ms).
        timeout: i32,
    },
    /// `closeSession` (or the leader expiring the session).
    CloseSession,
}

fn allow_all(_: &[Acl], _: i32) -> bool {
    true
}

/// ZooKeeper's `fixupACL`: the ACL to store for a requested one, or the error.
pub type FixupAcl<'a> = dyn Fn(&[Acl]) -> Result<Vec<Acl>, ErrorCode> + 'a;

/// Settings for [`prepare`].
#[derive(Clone, Copy)]
pub struct PrepareOptions<'a> {
    /// ZooKeeper's `zookeeper.extendedTypesEnabled`: TTL nodes are refused with
    /// `UNIMPLEMENTED` unless set (ZooKeeper's default is off).
    pub extended_types_enabled: bool,
    /// Whether the requesting session may do `perm` (a [`perms`] bit) on a node with
    /// this ACL (ZooKeeper's `checkACL`); `NO_AUTH` if not. Default: allow all.
    pub authorize: &'a dyn Fn(&[Acl], i32) -> bool,
    /// ZooKeeper's `fixupACL` for a `create` or `setACL` (inside a multi too, so a bad
    /// ACL fails just its op): the ACL to store, or the error. The server supplies it
    /// from the session's identities (it expands the `auth` scheme). Default: refuse an
    /// empty list or an invalid id, and drop duplicates.
    pub fixup_acl: &'a FixupAcl<'a>,
}

impl Default for PrepareOptions<'_> {
    fn default() -> Self {
        Self {
            extended_types_enabled: false,
            authorize: &allow_all,
            fixup_acl: &fixup_acl,
        }
    }
}

impl std::fmt::Debug for PrepareOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrepareOptions")
            .field("extended_types_enabled", &self.extended_types_enabled)
            .finish_non_exhaustive()
    }
}

/// `checkAndIncVersion`: BAD_VERSION unless `expected` is -1 or `current`; the next
/// version, skipping -1 on wrap-around (ZOOKEEPER-4743).
fn check_and_inc_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BAD_VERSION);
    }
    Ok(match current.wrapping_add(1) {
        -1 => 0,
        v => v,
    })
}

/// `fixupACL` without the `auth` expansion: refuses an empty list or an invalid id,
/// and removes duplicates keeping the first occurrence.
fn fixup_acl(acl: &[Acl]) -> Result<Vec<Acl>, ErrorCode> {
    if acl.is_empty() {
        return Err(ErrorCode::INVALID_ACL);
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        let valid = match a.scheme.as_str() {
            "world" => a.id == "anyone",
            // Java's `id.split(":").length == 2`, which drops trailing empty parts.
            "digest" => {
                let mut parts: Vec<&str> = a.id.split(':').collect();
                while parts.last() == Some(&"") {
                    parts.pop();
                }
                parts.len() == 2
            }
            "ip" | "x509" | "sasl" | "super" => !a.id.is_empty(),
            _ => false,
        };
        if !valid {
            return Err(ErrorCode::INVALID_ACL);
        }
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    Ok(out)
}

fn check_acl(opts: &PrepareOptions<'_>, acl: &[Acl], perm: i32) -> Result<(), ErrorCode> {
    if (opts.authorize)(acl, perm) {
        Ok(())
    } else {
        Err(ErrorCode::NO_AUTH)
    }
}

fn valid_path(path: &str) -> Result<(), ErrorCode> {
    validate_path(path).map_err(|_| ErrorCode::BAD_ARGUMENTS)
}

/// `getParentPathAndValidate`.
fn parent_for_delete(path: &str) -> Result<&str, ErrorCode> {
    if path.contains('\0') || is_special_path(path) {
        return Err(ErrorCode::BAD_ARGUMENTS);
    }
    split(path)
        .map(|(parent, _)| parent)
        .ok_or(ErrorCode::BAD_ARGUMENTS)
}

fn prepare_op(
    nodes: &Nodes,
    request: &Request,
    session: i64,
    opts: &PrepareOptions<'_>,
) -> Result<TxnKind, ErrorCode> {
    match request {
        Request::Create {
            path,
            data,
            acl,
            mode,
            ttl,
        } => {
            // validateCreateRequest
            if mode.is_ttl() {
                if !opts.extended_types_enabled {
                    return Err(ErrorCode::UNIMPLEMENTED);
                }
                if *ttl <= 0 || *ttl > MAX_TTL {
                    return Err(ErrorCode::BAD_ARGUMENTS);
                }
            } else if *ttl >= 0 {
                return Err(ErrorCode::BAD_ARGUMENTS);
            }
            // validatePathForCreate
            if path.contains('\0') {
                return Err(ErrorCode::BAD_ARGUMENTS);
            }
            let (parent_path, _) = split(path).ok_or(ErrorCode::BAD_ARGUMENTS)?;
            let acl = (opts.fixup_acl)(acl)?;
            let parent = nodes.get(parent_path).ok_or(ErrorCode::NO_NODE)?;
            check_acl(opts, &parent.acl, perms::CREATE)?;
            let parent_cversion = parent.stat.cversion;
            let path = if mode.is_sequential() {
                // String.format("%010d", parentCVersion): Rust's zero padding is sign
                // aware like Java's, so -1 gives "-000000001".
                format!("{path}{parent_cversion:010}")
            } else {
                path.clone()
            };
            valid_path(&path)?;
            if nodes.get(&path).is_some() {
                return Err(ErrorCode::NODE_EXISTS);
            }
            if matches!(
                NodeType::of_owner(parent.stat.ephemeral_owner),
                NodeType::Ephemeral(_)
            ) {
                return Err(ErrorCode::NO_CHILDREN_FOR_EPHEMERALS);
            }
            let kind = match mode {
                CreateMode::Persistent | CreateMode::PersistentSequential => CreateKind::Persistent,
                CreateMode::Ephemeral | CreateMode::EphemeralSequential => CreateKind::Ephemeral,
                CreateMode::Container => CreateKind::Container,
                CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl => {
                    CreateKind::Ttl(*ttl)
                }
            };
            Ok(TxnKind::Create(CreateTxn {
                path,
                data: data.clone(),
                acl,
                ephemeral_owner: if kind == CreateKind::Ephemeral {
                    session
                } else {
                    0
                },
                kind,
                parent_cversion: parent_cversion.wrapping_add(1),
            }))
        }
        Request::Delete { path, version } => {
            let parent_path = parent_for_delete(path)?;
            let parent = nodes.get(parent_path).ok_or(ErrorCode::NO_NODE)?;
            check_acl(opts, &parent.acl, perms::DELETE)?;
            let node = nodes.get(path).ok_or(ErrorCode::NO_NODE)?;
            check_and_inc_version(node.stat.version, *version)?;
            if !node.children.is_empty() {
                return Err(ErrorCode::NOT_EMPTY);
            }
            Ok(TxnKind::Delete { path: path.clone() })
        }
        Request::DeleteContainer { path } => {
            // ZooKeeper's order and codes; it refuses only ephemerals (BAD_VERSION) and
            // would delete a persistent node. zk-rs also refuses persistent nodes, with
            // the same code, so a container re-created as a persistent node between the
            // reaper's query and its request survives.
            let parent_path = parent_for_delete(path)?;
            nodes.get(parent_path).ok_or(ErrorCode::NO_NODE)?;
            let node = nodes.get(path).ok_or(ErrorCode::NO_NODE)?;
            if !node.children.is_empty() {
                return Err(ErrorCode::NOT_EMPTY);
            }
            if !matches!(
                NodeType::of_owner(node.stat.ephemeral_owner),
                NodeType::Container | NodeType::Ttl(_)
            ) {
                return Err(ErrorCode::BAD_VERSION);
            }
            Ok(TxnKind::Delete { path: path.clone() })
        }
        Request::SetData {
            path,
            data,
            version,
        } => {
            valid_path(path)?;
            let node = nodes.get(path).ok_or(ErrorCode::NO_NODE)?;
            check_acl(opts, &node.acl, perms::WRITE)?;
            let version = check_and_inc_version(node.stat.version, *version)?;
            Ok(TxnKind::SetData {
                path: path.clone(),
                data: data.clone(),
                version,
            })
        }
        Request::SetAcl { path, acl, version } => {
            valid_path(path)?;
            let acl = (opts.fixup_acl)(acl)?;
            let node = nodes.get(path).ok_or(ErrorCode::NO_NODE)?;
            check_acl(opts, &node.acl, perms::ADMIN)?;
            let version = check_and_inc_version(node.stat.aversion, *version)?;
            Ok(TxnKind::SetAcl {
                path: path.clone(),
                acl,
                version,
            })
        }
        Request::Check { path, version } => {
            valid_path(path)?;
            let node = nodes.get(path).ok_or(ErrorCode::NO_NODE)?;
            check_acl(opts, &node.acl, perms::READ)?;
            let version = check_and_inc_version(node.stat.version, *version)?;
            Ok(TxnKind::Check {
                path: path.clone(),
                version,
            })
        }
        Request::CreateSession { timeout } => Ok(TxnKind::CreateSession {
            session,
            timeout: *timeout,
        }),
        Request::CloseSession => Ok(TxnKind::CloseSession { session }),
        Request::Multi(_) => Err(ErrorCode::MARSHALLING_ERROR),
    }
}

/// Prepares `request` from `session` against `tree` at the leader's clock `now_ms`.
///
/// For a multi, each op is validated against a scratch copy of the tree to which the
/// earlier ops have been applied, so later ops see earlier ones. If op *i* fails, the
/// result is still `Ok`: a [`TxnKind::Multi`] holding the prepared ops before *i*, an
/// [`TxnKind::Error`] with op *i*'s code, and `Error(RUNTIME_INCONSISTENCY)` for every
/// later op, exactly as ZooKeeper builds its `MultiTxn`; applying it changes nothing and
/// reports per-op results as [`TxnResult::Multi`](crate::TxnResult::Multi) describes.
/// A multi holding an op a multi cannot hold (`SetAcl`, a session op, a nested multi)
/// fails whole with `MARSHALLING_ERROR`, as ZooKeeper cannot even decode it.
pub fn prepare(
    tree: &DataTree,
    request: &Request,
    session: i64,
    now_ms: i64,
    opts: &PrepareOptions<'_>,
) -> Result<TxnRecord, ErrorCode> {
    let kind = match request {
        Request::Multi(reqs) => {
            if reqs.iter().any(|r| {
                !matches!(
                    r,
                    Request::Create { .. }
                        | Request::Delete { .. }
                        | Request::SetData { .. }
                        | Request::Check { .. }
                )
            }) {
                return Err(ErrorCode::MARSHALLING_ERROR);
            }
            let mut scratch = tree.nodes.clone();
            let mut scratch_acls = AclCache::default();
            let zxid = (tree.last_applied() as i64).wrapping_add(1);
            let mut ops = Vec::with_capacity(reqs.len());
            let mut failed = false;
            for r in reqs {
                if failed {
                    ops.push(TxnKind::Error {
                        code: ErrorCode::RUNTIME_INCONSISTENCY,
                    });
                    continue;
                }
                let applied = prepare_op(&scratch, r, session, opts).and_then(|op| {
                    scratch
                        .apply_op(zxid, now_ms, &op, &mut scratch_acls, &mut Vec::new())
                        .map(|_| op)
                });
                match applied {
                    Ok(op) => ops.push(op),
                    Err(code) => {
                        failed = true;
                        ops.push(TxnKind::Error { code });
                    }
                }
            }
            TxnKind::Multi(ops)
        }
        r => prepare_op(&tree.nodes, r, session, opts)?,
    };
    Ok(TxnRecord::new(now_ms, kind))
}
