//! What applying a transaction produces.

use crate::error::{DecodeError, ErrorCode};
use crate::stat::Stat;
use crate::txn::TxnKind;

/// What applying one transaction produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnResult {
    /// A node was created, at this (final) path.
    Created {
        /// The path, with any sequential suffix.
        path: String,
        /// The new node's stat.
        stat: Stat,
    },
    /// A node was deleted.
    Deleted {
        /// The path.
        path: String,
    },
    /// A node's data was set.
    DataSet {
        /// The path.
        path: String,
        /// The node's stat afterwards.
        stat: Stat,
    },
    /// A node's ACL was set.
    AclSet {
        /// The path.
        path: String,
        /// The node's stat afterwards.
        stat: Stat,
    },
    /// A check op passed.
    Checked {
        /// The path.
        path: String,
    },
    /// Per-op results of a multi. If the multi failed, every entry is
    /// [`TxnResult::Error`]: `OK` (0) for the ops before the failing one, its error code
    /// for the failing op, and `RUNTIME_INCONSISTENCY` (-2) after it, exactly as
    /// ZooKeeper's `DataTree.processTxn` reports them; nothing took effect.
    Multi(Vec<Self>),
    /// A session was created.
    SessionCreated {
        /// The session.
        session: i64,
        /// Its timeout (ms).
        timeout: i32,
    },
    /// A session was closed; these ephemeral nodes were deleted (sorted).
    SessionClosed {
        /// The session.
        session: i64,
        /// Its deleted ephemerals.
        deleted: Vec<String>,
    },
    /// The transaction failed with this code (or was an `Error` txn); no change.
    Error(ErrorCode),
    /// The payload could not be decoded; no change (the zxid still advanced).
    Undecodable(DecodeError),
}

impl TxnResult {
    /// The ZooKeeper error code of the result: `OK` for success, a multi's first
    /// non-zero sub-result (as `ProcessTxnResult.err`), else the failure's code.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Error(c) => *c,
            Self::Undecodable(_) => ErrorCode::MARSHALLING_ERROR,
            Self::Multi(rs) => rs
                .iter()
                .map(Self::error_code)
                .find(|c| !c.is_ok())
                .unwrap_or(ErrorCode::OK),
            _ => ErrorCode::OK,
        }
    }
}

/// The shape of a failed multi's results (see [`TxnResult::Multi`]).
pub(crate) fn failed_multi(ops: &[TxnKind], failed_at: usize, code: ErrorCode) -> TxnResult {
    let mut post_failed = false;
    TxnResult::Multi(
        ops.iter()
            .enumerate()
            .map(|(i, op)| {
                let c = match op {
                    TxnKind::Error { code } if i >= failed_at => {
                        post_failed = true;
                        *code
                    }
                    _ if i == failed_at => {
                        post_failed = true;
                        code
                    }
                    _ if post_failed => ErrorCode::RUNTIME_INCONSISTENCY,
                    _ => ErrorCode::OK,
                };
                TxnResult::Error(c)
            })
            .collect(),
    )
}
