//! The durable transaction log.
//!
//! Transactions are written to segment files `log.<first zxid, 16 hex digits>` in one
//! directory. Each segment starts with a 16-byte header (magic `ZKRSTXLG`, format version)
//! followed by records `[u32 len][u32 crc32][u64 zxid][payload]` (little-endian; `len`
//! counts zxid and payload, the CRC covers them) and then zeros: segments are preallocated
//! with `set_len`, so a zero length marks the end of the records.
//!
//! - [`TxnLog`] is the synchronous log with a single owner: [`TxnLog::append`] buffers,
//!   [`TxnLog::sync`] writes and fsyncs and returns the durable zxid. Opening it scans every
//!   segment: a torn tail (an incomplete last write) is cut off with a warning, and
//!   corruption anywhere else stops start-up with [`LogError::Corrupt`].
//! - [`GroupCommit`] runs a `TxnLog` on a dedicated thread fed by a bounded queue. It writes
//!   everything queued, does one fsync for the lot and then publishes the durable zxid
//!   ([`Durability`]), so many proposals share one fsync. After a failed write or fsync it
//!   publishes [`Durability::Failed`] and refuses every later write: it never retries an
//!   fsync, because after a failed one the state of the page cache is unknown.
//!
//! A zxid of 0 means "no transaction": zxids in the log are strictly increasing and above 0.
//!
//! # Start-up repair
//!
//! A bad record (short, length past the file, CRC mismatch, zxid not increasing) in the
//! last segment with no valid record anywhere after it, or non-zero bytes after the last
//! record, is a torn tail: it is zeroed, fsynced and reported ([`Recovery::cut`] and a
//! `tracing` warning naming segment, offset, bytes and last good zxid). A bad record that a
//! valid record follows, or any bad record in an earlier segment (a segment is fsynced
//! before the next one is created), is [`LogError::Corrupt`]: start-up stops and nothing is
//! changed. The rule is conservative: if an unsynced batch reached the disk out of order (a
//! later page written, an earlier one not) before a power loss, it is reported as corrupt
//! although nothing in it was acknowledged; the operator then resyncs the node.

mod format;
mod group;
mod txnlog;

use std::io;
use std::path::PathBuf;

use crate::txn::Zxid;

pub use group::{CommitHandle, CommitOptions, CommitStats, Durability, GroupCommit, Reply};
pub use txnlog::{LogReader, TxnLog};

/// Settings of a [`TxnLog`].
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// A new segment is started when a record would take the current one past this size
    /// (a segment holds at least one record, so one large record may exceed it).
    /// Default 64 MiB.
    pub segment_bytes: u64,
    /// Segment files are extended in steps of this many bytes (zero-filled with `set_len`),
    /// like ZooKeeper's `preAllocSize`, so appends rarely change the file size. 0 disables
    /// preallocation. Default 64 MiB.
    pub preallocate_bytes: u64,
    /// Whether [`TxnLog::sync`] fsyncs (fdatasync). `false` is ZooKeeper's `forceSync=no`:
    /// data reaches the OS but not necessarily the disk. For tests only.
    pub force_sync: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            preallocate_bytes: 64 << 20,
            force_sync: true,
        }
    }
}

/// What [`TxnLog::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The zxid of the last valid record (0 if the log is empty).
    pub last_zxid: Zxid,
    /// Valid records in the log.
    pub records: u64,
    /// Segments in the log after repair.
    pub segments: usize,
    /// The torn tail that was cut off, if there was one.
    pub cut: Option<CutTail>,
    /// Segments deleted because they held no record (a crash while creating one, or a torn
    /// first record).
    pub removed_segments: Vec<PathBuf>,
}

/// A torn tail cut off the last segment at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Offset in the file where the valid records end and the cut starts.
    pub offset: u64,
    /// Bytes of torn data cut: from `offset` to the last non-zero byte.
    pub bytes: u64,
    /// The zxid of the last valid record before the cut (0 if none).
    pub last_good_zxid: Zxid,
    /// What was wrong at `offset`.
    pub reason: String,
}

/// Errors of the transaction log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An I/O operation failed. The log stops accepting writes after a failed write or fsync.
    #[error("transaction log: {op} {}: {error}", path.display())]
    Io {
        /// What was being done ("write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// A segment is damaged somewhere other than its torn tail, so records that may have been
    /// acknowledged cannot be read. Nothing on disk was changed.
    #[error(
        "transaction log segment {} is corrupt at byte offset {offset}: {reason}. This is not \
         a torn tail from a crash, so start-up stops instead of discarding records that may \
         have been acknowledged. To recover: stop this server, move its data directory aside \
         (keep it for diagnosis) and restart it empty so it resyncs from the leader; or \
         restore the directory from a backup",
        segment.display()
    )]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Offset of the bad record in the file.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A file named like a segment is not one this build can read.
    #[error(
        "{} is not a readable zk-rs transaction log segment: {reason}. Move it out of the \
         log directory if it does not belong there",
        segment.display()
    )]
    UnknownFormat {
        /// The file.
        segment: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A zxid not above the previous one was appended.
    #[error("zxid {got:#x} appended after {last:#x}: zxids in the log must strictly increase")]
    ZxidOrder {
        /// The last zxid in (or queued for) the log.
        last: Zxid,
        /// The zxid that was refused.
        got: Zxid,
    },
    /// A payload too large for one record.
    #[error("txn {zxid:#x} has a {len}-byte payload, above the record limit")]
    TooLarge {
        /// Its zxid.
        zxid: Zxid,
        /// Its payload size.
        len: usize,
    },
    /// An earlier write or fsync failed; the log accepts no more writes.
    #[error("transaction log no longer accepts writes after an earlier failure: {reason}")]
    Failed {
        /// The first failure.
        reason: String,
    },
    /// The group commit queue is full.
    #[error("transaction log queue is full; retry when earlier appends are durable")]
    QueueFull,
    /// The group commit writer has stopped.
    #[error("transaction log writer has shut down")]
    Closed,
}
