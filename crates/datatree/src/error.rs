//! ZooKeeper error codes and the codec's decode errors.

use std::fmt;

/// A ZooKeeper error code (`KeeperException.Code`), as carried on the wire.
///
/// A newtype rather than an enum so that any code a peer logs in an
/// [`Error`](crate::TxnKind::Error) transaction round-trips unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    /// Success; what a multi reports for the ops before the one that failed.
    pub const OK: Self = Self(0);
    /// A system error.
    pub const SYSTEM_ERROR: Self = Self(-1);
    /// What a multi reports for the ops after the one that failed.
    pub const RUNTIME_INCONSISTENCY: Self = Self(-2);
    /// A data inconsistency was found.
    pub const DATA_INCONSISTENCY: Self = Self(-3);
    /// Error while marshalling or unmarshalling data.
    pub const MARSHALLING_ERROR: Self = Self(-5);
    /// Operation is unimplemented (e.g. a TTL node while extended types are disabled).
    pub const UNIMPLEMENTED: Self = Self(-6);
    /// Invalid arguments (a bad path, a bad TTL, deleting a special node).
    pub const BAD_ARGUMENTS: Self = Self(-8);
    /// The session does not exist.
    pub const UNKNOWN_SESSION: Self = Self(-12);
    /// API errors (never returned itself; codes below it are user-level).
    pub const API_ERROR: Self = Self(-100);
    /// The node does not exist.
    pub const NO_NODE: Self = Self(-101);
    /// Not authorized.
    pub const NO_AUTH: Self = Self(-102);
    /// The version does not match.
    pub const BAD_VERSION: Self = Self(-103);
    /// Ephemeral nodes may not have children.
    pub const NO_CHILDREN_FOR_EPHEMERALS: Self = Self(-108);
    /// The node already exists.
    pub const NODE_EXISTS: Self = Self(-110);
    /// The node has children.
    pub const NOT_EMPTY: Self = Self(-111);
    /// The session has been expired by the server.
    pub const SESSION_EXPIRED: Self = Self(-112);
    /// Invalid ACL specified.
    pub const INVALID_ACL: Self = Self(-114);
    /// The session moved to another server, so this operation is refused.
    pub const SESSION_MOVED: Self = Self(-118);

    /// The raw code.
    pub fn code(self) -> i32 {
        self.0
    }

    /// Whether this is [`ErrorCode::OK`].
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::OK => "OK",
            Self::SYSTEM_ERROR => "SYSTEMERROR",
            Self::RUNTIME_INCONSISTENCY => "RUNTIMEINCONSISTENCY",
            Self::DATA_INCONSISTENCY => "DATAINCONSISTENCY",
            Self::MARSHALLING_ERROR => "MARSHALLINGERROR",
            Self::UNIMPLEMENTED => "UNIMPLEMENTED",
            Self::BAD_ARGUMENTS => "BADARGUMENTS",
            Self::UNKNOWN_SESSION => "UNKNOWNSESSION",
            Self::NO_NODE => "NONODE",
            Self::NO_AUTH => "NOAUTH",
            Self::BAD_VERSION => "BADVERSION",
            Self::NO_CHILDREN_FOR_EPHEMERALS => "NOCHILDRENFOREPHEMERALS",
            Self::NODE_EXISTS => "NODEEXISTS",
            Self::NOT_EMPTY => "NOTEMPTY",
            Self::SESSION_EXPIRED => "SESSIONEXPIRED",
            Self::INVALID_ACL => "INVALIDACL",
            Self::SESSION_MOVED => "SESSIONMOVED",
            _ => return write!(f, "error {}", self.0),
        };
        write!(f, "{name} ({})", self.0)
    }
}

impl std::error::Error for ErrorCode {}

/// Why a transaction payload or a snapshot image could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before a field was complete.
    #[error("truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Where the field started.
        offset: usize,
        /// How many bytes it still needed.
        needed: usize,
    },
    /// The format version is not one this build reads.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// An unknown transaction kind tag.
    #[error("unknown transaction kind {0}")]
    UnknownKind(u8),
    /// An unknown create-kind tag.
    #[error("unknown create kind {0}")]
    UnknownCreateKind(u8),
    /// A multi contained an operation that a multi may not contain.
    #[error("transaction kind {0} is not allowed inside a multi")]
    NotAllowedInMulti(u8),
    /// A string was not UTF-8.
    #[error("string at offset {0} is not UTF-8")]
    InvalidUtf8(usize),
    /// A length prefix was negative or larger than the input.
    #[error("length {len} at offset {offset} exceeds the input")]
    BadLength {
        /// Where the length was read.
        offset: usize,
        /// The length read.
        len: u64,
    },
    /// Bytes were left over after the record.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// A snapshot image did not start with the magic bytes.
    #[error("bad snapshot magic")]
    BadMagic,
    /// A snapshot image is structurally invalid.
    #[error("invalid snapshot: {0}")]
    InvalidImage(String),
}
