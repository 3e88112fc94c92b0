//! The snapshot directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tracing::{info, warn};

use super::format::{self, HEADER_LEN, LEN_OFFSET};
use crate::state_machine::{BytesSource, SnapshotSource};
use crate::txn::Zxid;

const PREFIX: &str = "snapshot.";
const TMP_SUFFIX: &str = ".tmp";

/// ZooKeeper's minimum for `autopurge.snapRetainCount`.
pub(super) const MIN_RETAIN: usize = 3;

/// Why a snapshot file was not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReason {
    /// Shorter than its header says (or than a header): a torn or interrupted write.
    #[error("truncated: {len} bytes")]
    Truncated {
        /// The file's length.
        len: u64,
    },
    /// Longer than its header says.
    #[error("{len} bytes where the header implies {expected}")]
    TrailingBytes {
        /// The file's length.
        len: u64,
        /// The length its header implies.
        expected: u64,
    },
    /// Not a zk-rs snapshot (e.g. a ZooKeeper one, or garbage).
    #[error("bad magic: not a zk-rs snapshot")]
    BadMagic,
    /// A format version this build does not read.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u32),
    /// The header's zxid is not the one in the file name.
    #[error("header zxid {header:#x} differs from the file name's")]
    ZxidMismatch {
        /// The zxid in the header.
        header: Zxid,
    },
    /// The CRC32 trailer does not match the contents.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadChecksum {
        /// The CRC in the trailer.
        stored: u32,
        /// The CRC of the contents.
        computed: u32,
    },
}

/// An error of the snapshot store.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file-system operation failed.
    #[error("snapshot I/O on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The [`SnapshotSource`] failed while writing its image; nothing was published.
    #[error("snapshot source failed writing the image at zxid {zxid:#x}: {source}")]
    Source {
        /// The zxid of the image.
        zxid: Zxid,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A snapshot file is not usable.
    #[error("snapshot {} is invalid: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: InvalidReason,
    },
    /// A background snapshot could not run or report.
    #[error("background snapshot: {0}")]
    Background(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One snapshot file, as named in the directory (not yet validated).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotFile {
    /// The zxid in its name.
    pub zxid: Zxid,
    /// Its path.
    pub path: PathBuf,
}

/// What [`SnapshotStore::purge`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// The zxid of the oldest snapshot kept, if any valid one exists. Log records with a
    /// zxid `<=` this are no longer needed by recovery: a log segment whose *last* record is
    /// `<=` this zxid may be removed (a segment straddling it must stay).
    pub oldest_retained: Option<Zxid>,
    /// The files removed, oldest first.
    pub removed: Vec<SnapshotFile>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    tmp_seq: AtomicU64,
}

/// The directory of snapshot files, `snapshot.<zxid as 16 hex digits>`.
///
/// Cheap to clone; clones share the directory, so a [`super::Snapshotter`] thread can write
/// while the owner reads or purges. Each file is written to a temp file, fsynced, renamed to
/// its final name and the directory fsynced, so a crash at any point leaves either the old
/// set of files or the old set plus the new, complete file (and perhaps a stray temp file,
/// which [`open`](Self::open) removes).
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    inner: Arc<Inner>,
}

impl SnapshotStore {
    /// Opens (creating if needed) the snapshot directory `dir`, removing temp files left by
    /// an interrupted [`save`](Self::save).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, SnapshotError> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
                let path = entry.path();
                warn!(path = %path.display(), "removing temp file of an interrupted snapshot");
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        // Always: a snapshot renamed into place just before a crash, whose directory fsync
        // never ran, must not be trusted until the rename itself is durable.
        sync_dir(&dir)?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                tmp_seq: AtomicU64::new(0),
            }),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The path of the snapshot at `zxid`.
    pub fn path_for(&self, zxid: Zxid) -> PathBuf {
        self.inner.dir.join(format!("{PREFIX}{zxid:016x}"))
    }

    /// Every file named like a snapshot, oldest (lowest zxid) first, without validating
    /// them. Temp files are not listed.
    pub fn list(&self) -> Result<Vec<SnapshotFile>, SnapshotError> {
        let dir = &self.inner.dir;
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
                continue;
            };
            // 16 digits is what we write; fewer are accepted so that a ZooKeeper snapshot
            // (`snapshot.<zxid in hex>`, unpadded) is seen and reported as foreign.
            if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let Ok(zxid) = Zxid::from_str_radix(hex, 16) else {
                continue;
            };
            files.push(SnapshotFile {
                zxid,
                path: entry.path(),
            });
        }
        files.sort();
        Ok(files)
    }

    /// Reads and validates one file, returning its body.
    pub fn load(&self, file: &SnapshotFile) -> Result<Bytes, SnapshotError> {
        let data = fs::read(&file.path).map_err(io_err(&file.path))?;
        match format::validate(&data, file.zxid) {
            Ok(body) => Ok(Bytes::from(data).slice(body)),
            Err(reason) => Err(SnapshotError::Invalid {
                path: file.path.clone(),
                reason,
            }),
        }
    }

    /// The newest snapshot that is valid, as its zxid and body; `None` if there is none.
    ///
    /// Files that are truncated, corrupt, foreign or unreadable are skipped with a warning
    /// naming the file and the reason, falling back to older ones. Only a failure to list
    /// the directory is an error.
    pub fn newest_valid(&self) -> Result<Option<(Zxid, Bytes)>, SnapshotError> {
        for file in self.list()?.into_iter().rev() {
            match self.load(&file) {
                Ok(body) => return Ok(Some((file.zxid, body))),
                Err(err) => warn!(
                    path = %file.path.display(),
                    error = %err,
                    "skipping unusable snapshot, falling back to an older one"
                ),
            }
        }
        Ok(None)
    }

    /// Writes `source`'s image as the snapshot at `source.zxid()`, atomically; returns the
    /// zxid. An existing snapshot at the same zxid is replaced atomically.
    pub fn save(&self, source: &mut dyn SnapshotSource) -> Result<Zxid, SnapshotError> {
        let zxid = source.zxid();
        let seq = self.inner.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self.inner.dir.join(format!(
            "{PREFIX}{zxid:016x}.{}-{seq}{TMP_SUFFIX}",
            std::process::id()
        ));
        let result = self.write_tmp(&tmp, source).and_then(|()| {
            let path = self.path_for(zxid);
            fs::rename(&tmp, &path).map_err(io_err(&path))?;
            sync_dir(&self.inner.dir)?;
            info!(path = %path.display(), zxid = format_args!("{zxid:#x}"), "snapshot written");
            Ok(zxid)
        });
        if result.is_err() {
            // Best effort: a leftover is removed by the next open anyway.
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Persists an already-serialized image at `zxid`, e.g. one received in a SNAP sync,
    /// which must be durable before the learner acknowledges NEWLEADER (ZOOKEEPER-3642).
    pub fn save_image(&self, zxid: Zxid, image: impl Into<Bytes>) -> Result<(), SnapshotError> {
        self.save(&mut BytesSource::new(zxid, image)).map(drop)
    }

    fn write_tmp(&self, tmp: &Path, source: &mut dyn SnapshotSource) -> Result<(), SnapshotError> {
        let zxid = source.zxid();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(io_err(tmp))?;
        let mut body = BodyWriter {
            inner: BufWriter::new(file),
            crc: crc32fast::Hasher::new(),
            len: 0,
        };
        body.inner
            .write_all(&format::header(zxid, 0))
            .map_err(io_err(tmp))?;
        source
            .write_to(&mut body)
            .map_err(|source| SnapshotError::Source { zxid, source })?;
        let BodyWriter {
            inner,
            crc: body_crc,
            len,
        } = body;
        let mut file = inner.into_inner().map_err(|e| SnapshotError::Io {
            path: tmp.to_owned(),
            source: e.into_error(),
        })?;
        let header = format::header(zxid, len);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        crc.combine(&body_crc);
        let write = |file: &mut File| -> io::Result<()> {
            file.seek(SeekFrom::Start(LEN_OFFSET))?;
            file.write_all(&header[LEN_OFFSET as usize..HEADER_LEN])?;
            file.seek(SeekFrom::End(0))?;
            file.write_all(&crc.finalize().to_le_bytes())?;
            file.sync_all()
        };
        write(&mut file).map_err(io_err(tmp))
    }

    /// Removes old snapshots, keeping the newest `retain` *valid* ones
    /// (`autopurge.snapRetainCount`; values below ZooKeeper's minimum of 3 are raised to 3).
    ///
    /// Everything older than the oldest kept snapshot is removed, valid or not; invalid
    /// files newer than it are left alone. If fewer than `retain` valid snapshots exist,
    /// nothing is removed. Validity is checked by reading each candidate, so a run of
    /// corrupt recent files can never make purge delete the last good snapshots.
    pub fn purge(&self, retain: usize) -> Result<PurgeReport, SnapshotError> {
        let retain = if retain < MIN_RETAIN {
            warn!(
                retain,
                min = MIN_RETAIN,
                "snapRetainCount below the minimum, using the minimum"
            );
            MIN_RETAIN
        } else {
            retain
        };
        let files = self.list()?;
        let mut valid = 0;
        let mut oldest_retained = None;
        let mut cut = None;
        for (i, file) in files.iter().enumerate().rev() {
            match self.load(file) {
                Ok(_) => {
                    valid += 1;
                    oldest_retained = Some(file.zxid);
                    if valid == retain {
                        cut = Some(i);
                        break;
                    }
                }
                Err(err) => warn!(path = %file.path.display(), error = %err, "unusable snapshot"),
            }
        }
        let mut report = PurgeReport {
            oldest_retained,
            removed: Vec::new(),
        };
        let Some(cut) = cut else { return Ok(report) };
        for file in &files[..cut] {
            fs::remove_file(&file.path).map_err(io_err(&file.path))?;
            info!(path = %file.path.display(), "purged old snapshot");
            report.removed.push(file.clone());
        }
        if !report.removed.is_empty() {
            sync_dir(&self.inner.dir)?;
        }
        Ok(report)
    }
}

/// Streams the body to the file, counting it and computing its CRC.
struct BodyWriter {
    inner: BufWriter<File>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn sync_dir(dir: &Path) -> Result<(), SnapshotError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}
