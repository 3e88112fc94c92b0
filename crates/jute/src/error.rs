//! Typed decoding and framing errors. Decoders return these; they never panic.

use crate::consts::OpCode;

/// Why a jute record could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the record did.
    #[error("truncated: needed {needed} bytes, {remaining} remaining")]
    Truncated {
        /// Bytes the next field (or the announced length) needs.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A length or count below -1 (-1 alone means null).
    #[error("negative length {0}")]
    NegativeLength(i32),
    /// A length or count above the configured cap.
    #[error("length {len} exceeds the limit {limit}")]
    TooLong {
        /// The announced length.
        len: usize,
        /// The cap in force.
        limit: usize,
    },
    /// A `ustring` that is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    BadUtf8,
    /// Bytes left over after a complete record.
    #[error("{0} trailing bytes after the record")]
    Trailing(usize),
    /// An opcode ZooKeeper does not define.
    #[error("unknown opcode {0}")]
    UnknownOpcode(i32),
    /// An enumerated value (event type, create mode, ...) outside its range.
    #[error("unknown {what} value {value}")]
    UnknownValue {
        /// The enumeration.
        what: &'static str,
        /// The value read.
        value: i32,
    },
    /// A defined opcode that is not valid in this position (for example a
    /// `notification` sent as a request, or `delete` inside `multiRead`).
    #[error("opcode {0:?} is not valid here")]
    UnexpectedOpcode(OpCode),
    /// A `multi` mixing write operations with read operations (ZooKeeper's
    /// `MultiOperationRecord` refuses these on decode too).
    #[error("multi mixes read and write operations")]
    MixedMultiOps,
}

/// Why a length-prefixed frame was refused. The input buffer is left untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The 4-byte length prefix is negative.
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    /// The length prefix exceeds the configured maximum.
    #[error("frame length {len} exceeds the maximum {max}")]
    TooLong {
        /// The announced body length.
        len: usize,
        /// The maximum in force.
        max: usize,
    },
}
