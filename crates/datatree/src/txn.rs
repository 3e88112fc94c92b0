//! The data tree's transactions and their versioned binary codec.
//!
//! A [`TxnRecord`] is what ZAB replicates as the opaque payload of a
//! [`zk_zab::txn::Txn`]; the zxid comes from the enclosing `Txn`. Like the output of
//! ZooKeeper's `PrepRequestProcessor`, a record carries every decision the leader made
//! (the final name of a sequential node, the parent's new `cversion`, the new version of a
//! `setData`, the leader's clock) so that applying it is deterministic on every server.
//!
//! # Encoding (version 1), all integers big-endian
//!
//! ```text
//! record   = version:u8 (=1)  time_ms:i64  kind
//! kind     = tag:u8 fields
//!   1 Create        path:str data:bytes acl ephemeral_owner:i64 create_kind parent_cversion:i32
//!   2 Delete        path:str
//!   3 SetData       path:str data:bytes version:i32
//!   4 SetAcl        path:str acl version:i32
//!   5 Check         path:str version:i32
//!   6 Multi         count:u32 kind*   (only tags 1, 2, 3, 5, 9 inside)
//!   7 CreateSession session:i64 timeout_ms:i32
//!   8 CloseSession  session:i64
//!   9 Error         code:i32
//! create_kind = 0 Persistent | 1 Ephemeral | 2 Container | 3 Ttl ttl_ms:i64
//! str, bytes  = len:u32 octets (str is UTF-8)
//! acl         = count:u32 (perms:i32 scheme:str id:str)*
//! ```

use bytes::Bytes;

use crate::acl::Acl;
use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, ErrorCode};

/// The codec version this build writes and reads.
pub const TXN_FORMAT_VERSION: u8 = 1;

/// What kind of node a [`CreateTxn`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    /// A persistent node.
    Persistent,
    /// An ephemeral node owned by [`CreateTxn::ephemeral_owner`].
    Ephemeral,
    /// A container node (deleted by the reaper once its last child is gone).
    Container,
    /// A persistent node with a time-to-live in milliseconds.
    Ttl(i64),
}

/// A node creation, as the leader decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTxn {
    /// The final path (with the sequential suffix already appended).
    pub path: String,
    /// The node's data.
    pub data: Bytes,
    /// The node's ACL.
    pub acl: Vec<Acl>,
    /// The owning session of an ephemeral node; 0 otherwise (ignored for other kinds).
    pub ephemeral_owner: i64,
    /// What kind of node.
    pub kind: CreateKind,
    /// The parent's `cversion` after this create, as ZooKeeper's `CreateTxn` records it;
    /// -1 means "the parent's current cversion + 1".
    pub parent_cversion: i32,
}

/// One transaction kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnKind {
    /// Create a node.
    Create(CreateTxn),
    /// Delete a node.
    Delete {
        /// The node.
        path: String,
    },
    /// Replace a node's data.
    SetData {
        /// The node.
        path: String,
        /// The new data.
        data: Bytes,
        /// The node's *new* version (ZooKeeper's `SetDataTxn.version`).
        version: i32,
    },
    /// Replace a node's ACL.
    SetAcl {
        /// The node.
        path: String,
        /// The new ACL.
        acl: Vec<Acl>,
        /// The node's *new* aversion.
        version: i32,
    },
    /// A version check inside a multi (a no-op when applied).
    Check {
        /// The node.
        path: String,
        /// The checked version + 1, as ZooKeeper's `CheckVersionTxn` records it.
        version: i32,
    },
    /// Operations applied all-or-nothing at one zxid. If any op is an
    /// [`Error`](Self::Error), none take effect.
    Multi(Vec<Self>),
    /// A session was created.
    CreateSession {
        /// The session id.
        session: i64,
        /// Its negotiated timeout in milliseconds.
        timeout: i32,
    },
    /// A session was closed or expired; its ephemeral nodes are deleted.
    CloseSession {
        /// The session id.
        session: i64,
    },
    /// A failed request: a no-op that still takes a zxid, as ZooKeeper logs `ErrorTxn`.
    Error {
        /// The error code.
        code: ErrorCode,
    },
}

impl TxnKind {
    fn tag(&self) -> u8 {
        match self {
            Self::Create(_) => 1,
            Self::Delete { .. } => 2,
            Self::SetData { .. } => 3,
            Self::SetAcl { .. } => 4,
            Self::Check { .. } => 5,
            Self::Multi(_) => 6,
            Self::CreateSession { .. } => 7,
            Self::CloseSession { .. } => 8,
            Self::Error { .. } => 9,
        }
    }

    /// Whether ZooKeeper allows this kind inside a multi.
    pub fn allowed_in_multi(&self) -> bool {
        matches!(
            self,
            Self::Create(_)
                | Self::Delete { .. }
                | Self::SetData { .. }
                | Self::Check { .. }
                | Self::Error { .. }
        )
    }

    fn encode_into(&self, w: &mut Writer) {
        w.u8(self.tag());
        match self {
            Self::Create(c) => {
                w.str(&c.path);
                w.bytes(&c.data);
                w.acl(&c.acl);
                w.i64(c.ephemeral_owner);
                match c.kind {
                    CreateKind::Persistent => w.u8(0),
                    CreateKind::Ephemeral => w.u8(1),
                    CreateKind::Container => w.u8(2),
                    CreateKind::Ttl(ttl) => {
                        w.u8(3);
                        w.i64(ttl);
                    }
                }
                w.i32(c.parent_cversion);
            }
            Self::Delete { path } => w.str(path),
            Self::SetData {
                path,
                data,
                version,
            } => {
                w.str(path);
                w.bytes(data);
                w.i32(*version);
            }
            Self::SetAcl { path, acl, version } => {
                w.str(path);
                w.acl(acl);
                w.i32(*version);
            }
            Self::Check { path, version } => {
                w.str(path);
                w.i32(*version);
            }
            Self::Multi(ops) => {
                w.u32(u32::try_from(ops.len()).unwrap_or(u32::MAX));
                for op in ops.iter().take(u32::MAX as usize) {
                    op.encode_into(w);
                }
            }
            Self::CreateSession { session, timeout } => {
                w.i64(*session);
                w.i32(*timeout);
            }
            Self::CloseSession { session } => w.i64(*session),
            Self::Error { code } => w.i32(code.0),
        }
    }

    fn decode_from(r: &mut Reader<'_>, in_multi: bool) -> Result<Self, DecodeError> {
        let tag = r.u8()?;
        if in_multi && !matches!(tag, 1 | 2 | 3 | 5 | 9) {
            return Err(DecodeError::NotAllowedInMulti(tag));
        }
        Ok(match tag {
            1 => {
                let path = r.string()?;
                let data = r.data()?;
                let acl = r.acl()?;
                let ephemeral_owner = r.i64()?;
                let kind = match r.u8()? {
                    0 => CreateKind::Persistent,
                    1 => CreateKind::Ephemeral,
                    2 => CreateKind::Container,
                    3 => CreateKind::Ttl(r.i64()?),
                    k => return Err(DecodeError::UnknownCreateKind(k)),
                };
                let parent_cversion = r.i32()?;
                Self::Create(CreateTxn {
                    path,
                    data,
                    acl,
                    ephemeral_owner,
                    kind,
                    parent_cversion,
                })
            }
            2 => Self::Delete { path: r.string()? },
            3 => Self::SetData {
                path: r.string()?,
                data: r.data()?,
                version: r.i32()?,
            },
            4 => Self::SetAcl {
                path: r.string()?,
                acl: r.acl()?,
                version: r.i32()?,
            },
            5 => Self::Check {
                path: r.string()?,
                version: r.i32()?,
            },
            6 => {
                let n = r.count(5)?;
                let mut ops = Vec::with_capacity(n);
                for _ in 0..n {
                    ops.push(Self::decode_from(r, true)?);
                }
                Self::Multi(ops)
            }
            7 => Self::CreateSession {
                session: r.i64()?,
                timeout: r.i32()?,
            },
            8 => Self::CloseSession { session: r.i64()? },
            9 => Self::Error {
                code: ErrorCode(r.i32()?),
            },
            t => return Err(DecodeError::UnknownKind(t)),
        })
    }
}

/// A transaction payload: the leader's clock and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnRecord {
    /// The leader's wall clock in milliseconds when it prepared the request; becomes
    /// `ctime`/`mtime` (ZooKeeper's `TxnHeader.time`).
    pub time: i64,
    /// What to do.
    pub kind: TxnKind,
}

impl TxnRecord {
    /// A record of `kind` prepared at `time` (ms).
    pub fn new(time: i64, kind: TxnKind) -> Self {
        Self { time, kind }
    }

    /// Encodes the record (the layout is in the [module docs](crate::txn)).
    pub fn encode(&self) -> Bytes {
        let mut w = Writer::new();
        w.u8(TXN_FORMAT_VERSION);
        w.i64(self.time);
        self.kind.encode_into(&mut w);
        Bytes::from(w.buf)
    }

    /// Decodes a record; never panics, whatever the input.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let version = r.u8()?;
        if version != TXN_FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let time = r.i64()?;
        let kind = TxnKind::decode_from(&mut r, false)?;
        r.finish()?;
        Ok(Self { time, kind })
    }
}
