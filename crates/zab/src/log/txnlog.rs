//! [`TxnLog`]: segments, appends, fsync, start-up repair, truncation and purging.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::format::{self, HEADER_LEN, HeaderProblem, MAX_PAYLOAD, RECORD_OVERHEAD, Stop};
use super::{CutTail, LogError, LogOptions, Recovery};
use crate::txn::{Txn, Zxid};

/// Buffered appends are written to the file once they reach this size.
const FLUSH_BYTES: usize = 1 << 20;

/// One segment of the log.
#[derive(Clone, Debug)]
struct Segment {
    path: PathBuf,
    /// Zxid of its first record (the one in its name).
    first: Zxid,
    /// Zxid of its last record.
    last: Zxid,
    /// Offset just past its last record, counting appends still buffered.
    end: u64,
}

/// The open file of the last segment.
#[derive(Debug)]
struct Active {
    file: File,
    /// Offset of the file cursor: bytes up to here have been written to the OS.
    written: u64,
    /// Size of the file.
    len: u64,
    /// Written since the last fsync.
    dirty: bool,
}

/// The transaction log: a directory of segment files with a single owner.
///
/// [`append`](Self::append) only buffers; nothing is durable until [`sync`](Self::sync)
/// returns a zxid at or above it. After any failed write or fsync every later mutating call
/// returns [`LogError::Failed`].
#[derive(Debug)]
pub struct TxnLog {
    dir: PathBuf,
    opts: LogOptions,
    segments: Vec<Segment>,
    /// The file of `segments.last()`, once opened for writing.
    active: Option<Active>,
    buf: Vec<u8>,
    last_zxid: Zxid,
    durable_zxid: Zxid,
    failed: Option<String>,
    fsyncs: u64,
}

fn io_err(op: &'static str, path: &Path, error: io::Error) -> LogError {
    LogError::Io {
        op,
        path: path.to_owned(),
        error,
    }
}

/// The zxid in a segment file name `log.<hex>`, if it is one.
fn parse_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix("log.")?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn segment_path(dir: &Path, first: Zxid) -> PathBuf {
    dir.join(format!("log.{first:016x}"))
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync directory", dir, e))
}

/// Fsyncs every segment and the directory; returns how many fsyncs that took.
fn sync_segments(dir: &Path, segments: &[Segment], force_sync: bool) -> Result<u64, LogError> {
    if !force_sync {
        return Ok(0);
    }
    for seg in segments {
        File::open(&seg.path)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err("fsync", &seg.path, e))?;
    }
    sync_dir(dir)?;
    Ok(segments.len() as u64 + 1)
}

/// Offset just past the last non-zero byte of `buf` at or after `from`, or `from`.
fn nonzero_end(buf: &[u8], from: usize) -> usize {
    buf[from..]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(from, |i| from + i + 1)
}

/// Zeroes `path` from `offset` to its end (keeping its size) and fsyncs it.
fn cut_file(path: &Path, offset: u64) -> Result<(), LogError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err("open", path, e))?;
    let len = file.metadata().map_err(|e| io_err("stat", path, e))?.len();
    file.set_len(offset)
        .map_err(|e| io_err("truncate", path, e))?;
    if len > offset {
        file.set_len(len).map_err(|e| io_err("extend", path, e))?;
    }
    file.sync_all().map_err(|e| io_err("fsync", path, e))
}

impl TxnLog {
    /// Opens (creating if needed) the log in `dir`, scanning and validating every segment.
    ///
    /// A bad record in the last segment that no valid record follows is a torn tail: it is
    /// cut off (zeroed and fsynced), logged with `tracing::warn!` and reported in
    /// [`Recovery::cut`]. A bad record anywhere else fails with [`LogError::Corrupt`] without
    /// changing anything on disk; a file named `log.<hex>` of another format fails with
    /// [`LogError::UnknownFormat`].
    pub fn open(dir: impl AsRef<Path>, opts: LogOptions) -> Result<(Self, Recovery), LogError> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(|e| io_err("create directory", &dir, e))?;
        let mut found: Vec<(Zxid, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io_err("list", &dir, e))? {
            let entry = entry.map_err(|e| io_err("list", &dir, e))?;
            let Some(first) = entry.file_name().to_str().and_then(parse_name) else {
                continue;
            };
            found.push((first, entry.path()));
        }
        found.sort();
        for pair in found.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(LogError::UnknownFormat {
                    segment: pair[1].1.clone(),
                    reason: format!("it names the same first zxid as {}", pair[0].1.display()),
                });
            }
        }

        let mut recovery = Recovery::default();
        let mut segments = Vec::new();
        let mut prev: Zxid = 0;
        let count = found.len();
        for (i, (first, path)) in found.into_iter().enumerate() {
            let is_last = i + 1 == count;
            let buf = fs::read(&path).map_err(|e| io_err("read", &path, e))?;
            let corrupt = |offset: usize, reason: String| LogError::Corrupt {
                segment: path.clone(),
                offset: offset as u64,
                reason,
            };
            match format::check_header(&buf) {
                Ok(()) => {}
                Err(HeaderProblem::Missing) if is_last && buf.iter().all(|&b| b == 0) => {
                    tracing::warn!(
                        segment = %path.display(),
                        "transaction log: removing segment {} with no header and no data \
                         (its creation was interrupted by a crash)",
                        path.display()
                    );
                    fs::remove_file(&path).map_err(|e| io_err("remove", &path, e))?;
                    sync_dir(&dir)?;
                    recovery.removed_segments.push(path);
                    continue;
                }
                Err(HeaderProblem::Missing) => {
                    return Err(corrupt(
                        0,
                        "the segment header is missing (zeros)".to_owned(),
                    ));
                }
                Err(HeaderProblem::Foreign(reason)) => {
                    return Err(LogError::UnknownFormat {
                        segment: path,
                        reason,
                    });
                }
            }
            let (records, stop) = format::scan_records(&buf, prev);
            if let Some(r) = records.first()
                && r.zxid != first
            {
                return Err(corrupt(
                    r.offset,
                    format!(
                        "the first record has zxid {:#x} but the file name says {first:#x}",
                        r.zxid
                    ),
                ));
            }
            let end = records.last().map_or(HEADER_LEN, |r| r.end);
            let last_good = records.last().map_or(prev, |r| r.zxid);
            // What, if anything, must be cut at `end`.
            let cut_reason = match stop {
                // A segment before the last was fsynced whole before the next one began: it
                // cannot have a torn tail, so anything after its end marker is damage.
                Stop::End if !is_last && nonzero_end(&buf, end) > end => {
                    return Err(corrupt(
                        end,
                        "the records end here (zero length) but data follows, in a segment \
                         before the last"
                            .to_owned(),
                    ));
                }
                Stop::End if !is_last => None,
                Stop::End => {
                    let garbage_end = nonzero_end(&buf, end);
                    if garbage_end == end {
                        None
                    } else if let Some(r) = format::find_valid_after(&buf, end, last_good) {
                        return Err(corrupt(
                            end,
                            format!(
                                "the records end here (zero length), but a valid record \
                                 (zxid {:#x}) follows at offset {}",
                                r.zxid, r.offset
                            ),
                        ));
                    } else {
                        Some("non-zero bytes after the last record".to_owned())
                    }
                }
                Stop::Bad(reason) if !is_last => {
                    return Err(corrupt(
                        end,
                        format!("{reason} (in a segment before the last)"),
                    ));
                }
                Stop::Bad(reason) => {
                    if let Some(r) = format::find_valid_after(&buf, end + 1, last_good) {
                        return Err(corrupt(
                            end,
                            format!(
                                "{reason}; a valid record (zxid {:#x}) follows at offset {}, \
                                 so this is not a torn tail",
                                r.zxid, r.offset
                            ),
                        ));
                    }
                    Some(reason)
                }
            };
            if records.is_empty() && !is_last {
                return Err(corrupt(
                    HEADER_LEN,
                    "the segment holds no records but later segments exist".to_owned(),
                ));
            }
            if let Some(reason) = cut_reason {
                let bytes = (nonzero_end(&buf, end) - end) as u64;
                tracing::warn!(
                    segment = %path.display(),
                    offset = end,
                    bytes,
                    last_good_zxid = last_good,
                    "transaction log: cutting torn tail of {} at offset {end}: {bytes} bytes \
                     ({reason}); last good record has zxid {last_good:#x}",
                    path.display()
                );
                cut_file(&path, end as u64)?;
                recovery.cut = Some(CutTail {
                    segment: path.clone(),
                    offset: end as u64,
                    bytes,
                    last_good_zxid: last_good,
                    reason,
                });
            }
            if records.is_empty() {
                tracing::warn!(
                    segment = %path.display(),
                    "transaction log: removing segment {} that holds no record",
                    path.display()
                );
                fs::remove_file(&path).map_err(|e| io_err("remove", &path, e))?;
                sync_dir(&dir)?;
                recovery.removed_segments.push(path);
                continue;
            }
            recovery.records += records.len() as u64;
            prev = last_good;
            segments.push(Segment {
                path,
                first,
                last: last_good,
                end: end as u64,
            });
        }
        recovery.last_zxid = prev;
        recovery.segments = segments.len();
        // What was read back may still sit only in the page cache (a process killed between
        // write and fsync, or a failed fsync before a restart): make it durable before
        // reporting it so, or a learner could acknowledge NEWLEADER over it.
        let fsyncs = sync_segments(&dir, &segments, opts.force_sync)?;
        let mut log = Self {
            dir,
            opts,
            segments,
            active: None,
            buf: Vec::new(),
            last_zxid: prev,
            durable_zxid: prev,
            failed: None,
            fsyncs,
        };
        log.open_active()?;
        Ok((log, recovery))
    }

    /// Opens the last segment for writing at its end, if there is one and it is not open.
    fn open_active(&mut self) -> Result<(), LogError> {
        if self.active.is_some() {
            return Ok(());
        }
        let Some(seg) = self.segments.last() else {
            return Ok(());
        };
        let path = &seg.path;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io_err("open", path, e))?;
        let len = file.metadata().map_err(|e| io_err("stat", path, e))?.len();
        file.seek(SeekFrom::Start(seg.end))
            .map_err(|e| io_err("seek", path, e))?;
        self.active = Some(Active {
            file,
            written: seg.end,
            len,
            dirty: false,
        });
        Ok(())
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &LogOptions {
        &self.opts
    }

    /// The zxid of the last appended record, durable or not (0 if the log is empty).
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// The zxid up to which the log is known durable (as of the last [`sync`](Self::sync)).
    pub fn durable_zxid(&self) -> Zxid {
        self.durable_zxid
    }

    /// The zxid of the first record in the log, if any.
    pub fn first_zxid(&self) -> Option<Zxid> {
        self.segments.first().map(|s| s.first)
    }

    /// The segment files, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    /// How many fsyncs (of files and of the directory) the log has done.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs
    }

    /// The reason of the failure that stopped the log, if one did.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    fn check_failed(&self) -> Result<(), LogError> {
        match &self.failed {
            Some(reason) => Err(LogError::Failed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Records `err` as the failure that stops the log, and returns it.
    fn fail(&mut self, err: LogError) -> LogError {
        if self.failed.is_none() {
            let reason = err.to_string();
            tracing::error!("transaction log: no longer accepting writes: {reason}");
            self.failed = Some(reason);
        }
        err
    }

    /// Buffers `txns` for writing. Every zxid must be above the previous one, else nothing is
    /// appended and [`LogError::ZxidOrder`] is returned. Not durable until [`sync`](Self::sync).
    pub fn append(&mut self, txns: &[Txn]) -> Result<(), LogError> {
        self.check_failed()?;
        check_batch(self.last_zxid, txns)?;
        for t in txns {
            let rec_len = (RECORD_OVERHEAD + t.data.len()) as u64;
            let roll = match self.segments.last() {
                None => true,
                Some(seg) => {
                    seg.end > HEADER_LEN as u64 && seg.end + rec_len > self.opts.segment_bytes
                }
            };
            if roll {
                self.roll(t.zxid).map_err(|e| self.fail(e))?;
            }
            format::encode_record(&mut self.buf, t.zxid, &t.data);
            if let Some(seg) = self.segments.last_mut() {
                seg.end += rec_len;
                seg.last = t.zxid;
            }
            self.last_zxid = t.zxid;
            if self.buf.len() >= FLUSH_BYTES {
                self.write_buf().map_err(|e| self.fail(e))?;
            }
        }
        Ok(())
    }

    /// Writes the buffered records to the OS (no fsync), extending the file as needed.
    fn write_buf(&mut self) -> Result<(), LogError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let (Some(active), Some(seg)) = (self.active.as_mut(), self.segments.last()) else {
            return Err(io_err(
                "write",
                &self.dir,
                io::Error::other("records buffered without an open segment"),
            ));
        };
        let path = &seg.path;
        let needed = active.written + self.buf.len() as u64;
        if self.opts.preallocate_bytes > 0 && needed > active.len {
            let new_len = needed.max(active.len + self.opts.preallocate_bytes);
            active
                .file
                .set_len(new_len)
                .map_err(|e| io_err("preallocate", path, e))?;
            active.len = new_len;
        }
        active.dirty = true;
        active
            .file
            .write_all(&self.buf)
            .map_err(|e| io_err("write", path, e))?;
        active.written = needed;
        active.len = active.len.max(needed);
        self.buf.clear();
        Ok(())
    }

    /// Fsyncs the active segment if anything was written to it since its last fsync.
    fn sync_active(&mut self) -> Result<(), LogError> {
        let (Some(active), Some(seg)) = (self.active.as_mut(), self.segments.last()) else {
            return Ok(());
        };
        if self.opts.force_sync && active.dirty {
            active
                .file
                .sync_data()
                .map_err(|e| io_err("fsync", &seg.path, e))?;
            self.fsyncs += 1;
        }
        active.dirty = false;
        Ok(())
    }

    /// Makes the current segment durable and starts a new one whose first record is `first`.
    fn roll(&mut self, first: Zxid) -> Result<(), LogError> {
        self.write_buf()?;
        self.sync_active()?;
        self.active = None;
        let path = segment_path(&self.dir, first);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err("create", &path, e))?;
        file.write_all(&format::header())
            .map_err(|e| io_err("write", &path, e))?;
        let mut len = HEADER_LEN as u64;
        if self.opts.preallocate_bytes > len {
            file.set_len(self.opts.preallocate_bytes)
                .map_err(|e| io_err("preallocate", &path, e))?;
            len = self.opts.preallocate_bytes;
        }
        if self.opts.force_sync {
            // The header and the new name are durable before any record is written, so a
            // crash leaves either no file, an empty one, or a valid segment.
            file.sync_all().map_err(|e| io_err("fsync", &path, e))?;
            sync_dir(&self.dir)?;
            self.fsyncs += 2;
        }
        self.segments.push(Segment {
            path,
            first,
            last: first,
            end: HEADER_LEN as u64,
        });
        self.active = Some(Active {
            file,
            written: HEADER_LEN as u64,
            len,
            dirty: false,
        });
        Ok(())
    }

    /// Writes everything appended and fsyncs it (unless `force_sync` is off), then returns
    /// the zxid up to which the log is durable. Does nothing if nothing was appended since
    /// the last sync. On failure nothing appended since the last sync is durable, and the
    /// log accepts no more writes.
    pub fn sync(&mut self) -> Result<Zxid, LogError> {
        self.check_failed()?;
        self.write_buf().map_err(|e| self.fail(e))?;
        self.sync_active().map_err(|e| self.fail(e))?;
        self.durable_zxid = self.last_zxid;
        Ok(self.durable_zxid)
    }

    /// Removes every record with a zxid above `zxid`, durably (ZAB's TRUNC), and returns the
    /// new last zxid. Later segments are deleted first (newest first), then the segment
    /// holding `zxid` is cut, so a crash part-way leaves a prefix of the old log.
    pub fn truncate_after(&mut self, zxid: Zxid) -> Result<Zxid, LogError> {
        self.check_failed()?;
        self.write_buf().map_err(|e| self.fail(e))?;
        if zxid >= self.last_zxid {
            return self.sync();
        }
        self.truncate_inner(zxid).map_err(|e| self.fail(e))?;
        self.last_zxid = self.segments.last().map_or(0, |s| s.last);
        self.durable_zxid = self.last_zxid;
        Ok(self.last_zxid)
    }

    fn truncate_inner(&mut self, zxid: Zxid) -> Result<(), LogError> {
        while let Some(seg) = self.segments.last() {
            if seg.first <= zxid {
                break;
            }
            self.active = None;
            fs::remove_file(&seg.path).map_err(|e| io_err("remove", &seg.path, e))?;
            self.segments.pop();
            // One directory fsync per unlink, newest first: unlinks are not ordered among
            // themselves, and a crash must leave a prefix of the log, never a hole.
            if self.opts.force_sync {
                sync_dir(&self.dir)?;
                self.fsyncs += 1;
            }
        }
        self.open_active()?;
        let (Some(seg), Some(active)) = (self.segments.last_mut(), self.active.as_mut()) else {
            return Ok(());
        };
        if seg.last > zxid {
            let path = &seg.path;
            let mut buf = vec![0u8; seg.end as usize];
            active
                .file
                .seek(SeekFrom::Start(0))
                .map_err(|e| io_err("seek", path, e))?;
            active
                .file
                .read_exact(&mut buf)
                .map_err(|e| io_err("read", path, e))?;
            let (records, _) = format::scan_records(&buf, 0);
            let keep: Vec<_> = records.iter().take_while(|r| r.zxid <= zxid).collect();
            let (cut, last) = match keep.last() {
                Some(r) => (r.end as u64, r.zxid),
                None => (HEADER_LEN as u64, 0),
            };
            active
                .file
                .set_len(cut)
                .map_err(|e| io_err("truncate", path, e))?;
            if active.len > cut {
                active
                    .file
                    .set_len(active.len)
                    .map_err(|e| io_err("extend", path, e))?;
            }
            active
                .file
                .seek(SeekFrom::Start(cut))
                .map_err(|e| io_err("seek", path, e))?;
            active.written = cut;
            seg.end = cut;
            seg.last = last;
            // The cut changed the file's blocks, not only its data: a full fsync, so the
            // truncated records cannot come back on any filesystem.
            if self.opts.force_sync {
                active
                    .file
                    .sync_all()
                    .map_err(|e| io_err("fsync", path, e))?;
                self.fsyncs += 1;
                active.dirty = false;
            } else {
                active.dirty = true;
            }
        }
        self.sync_active()
    }

    /// Deletes the oldest segments whose records are all below `zxid`, keeping the segment
    /// that holds `zxid` (or the last one below it) and everything after: every record
    /// `>= zxid` stays readable. The last segment is never deleted. Returns how many were.
    pub fn purge_before(&mut self, zxid: Zxid) -> Result<usize, LogError> {
        self.check_failed()?;
        let mut n = 0;
        while self.segments.len() >= 2 && self.segments[1].first <= zxid {
            let seg = self.segments.remove(0);
            fs::remove_file(&seg.path).map_err(|e| io_err("remove", &seg.path, e))?;
            n += 1;
        }
        if n > 0 && self.opts.force_sync {
            sync_dir(&self.dir)?;
            self.fsyncs += 1;
        }
        Ok(n)
    }

    /// Reads every record with a zxid above `after`, in order, across segments. Records
    /// appended but not yet synced are written to the OS first and included. The reader
    /// opens the files now and reads them on its own: it does not see later appends, a
    /// later purge does not affect it, but a later truncation of what it has yet to read
    /// makes it fail (a leader, which reads its log for DIFF, never truncates).
    pub fn read_from(&mut self, after: Zxid) -> Result<LogReader, LogError> {
        self.check_failed()?;
        self.write_buf().map_err(|e| self.fail(e))?;
        let start = self
            .segments
            .partition_point(|s| s.first <= after.saturating_add(1));
        // Open every file now: a purge (which unlinks files) then cannot break the reader.
        let mut segments = VecDeque::new();
        for s in &self.segments[start.saturating_sub(1)..] {
            let file = File::open(&s.path).map_err(|e| io_err("open", &s.path, e))?;
            segments.push_back((s.path.clone(), file, s.end));
        }
        Ok(LogReader {
            segments,
            current: None,
            after,
            done: false,
        })
    }
}

impl Drop for TxnLog {
    fn drop(&mut self) {
        // Hand buffered records to the OS; they were never reported durable, so this is a
        // courtesy for `force_sync = false`, not a promise.
        if self.failed.is_none() {
            let _ = self.write_buf();
        }
    }
}

/// The file being read by a [`LogReader`].
#[derive(Debug)]
struct ReadingSegment {
    path: PathBuf,
    file: BufReader<File>,
    pos: u64,
    end: u64,
}

/// An iterator over the records of a [`TxnLog`] after a zxid; see [`TxnLog::read_from`].
///
/// Yields [`LogError::Corrupt`] (and then stops) if a record fails its CRC.
#[derive(Debug)]
pub struct LogReader {
    /// Segments still to read: path, open file and the offset where their records end.
    segments: VecDeque<(PathBuf, File, u64)>,
    current: Option<ReadingSegment>,
    after: Zxid,
    done: bool,
}

impl LogReader {
    fn open_next(&mut self) -> Result<bool, LogError> {
        let Some((path, mut file, end)) = self.segments.pop_front() else {
            return Ok(false);
        };
        file.seek(SeekFrom::Start(HEADER_LEN as u64))
            .map_err(|e| io_err("seek", &path, e))?;
        self.current = Some(ReadingSegment {
            path,
            file: BufReader::new(file),
            pos: HEADER_LEN as u64,
            end,
        });
        Ok(true)
    }

    fn next_record(&mut self) -> Result<Option<Txn>, LogError> {
        loop {
            let Some(seg) = self.current.as_mut() else {
                if self.open_next()? {
                    continue;
                }
                return Ok(None);
            };
            if seg.pos >= seg.end {
                self.current = None;
                continue;
            }
            let offset = seg.pos;
            let corrupt = |reason: String| LogError::Corrupt {
                segment: seg.path.clone(),
                offset,
                reason,
            };
            let mut head = [0u8; 8];
            seg.file
                .read_exact(&mut head)
                .map_err(|e| io_err("read", &seg.path, e))?;
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as u64;
            let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            if len < 8 || offset + 8 + len > seg.end {
                return Err(corrupt(format!("record length {len} is invalid")));
            }
            let mut body = vec![0u8; len as usize];
            seg.file
                .read_exact(&mut body)
                .map_err(|e| io_err("read", &seg.path, e))?;
            if format::crc_of(&body) != crc {
                return Err(corrupt("CRC mismatch".to_owned()));
            }
            seg.pos = offset + 8 + len;
            let mut z = [0u8; 8];
            z.copy_from_slice(&body[..8]);
            let zxid = u64::from_le_bytes(z);
            if zxid <= self.after {
                continue;
            }
            let data = Bytes::from(body).slice(8..);
            return Ok(Some(Txn { zxid, data }));
        }
    }
}

impl Iterator for LogReader {
    type Item = Result<Txn, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Checks that `txns` may follow `prev`: zxids strictly increasing, payloads within the limit.
/// Returns the batch's last zxid (`prev` for an empty batch).
pub(crate) fn check_batch(prev: Zxid, txns: &[Txn]) -> Result<Zxid, LogError> {
    let mut prev = prev;
    for t in txns {
        if t.zxid <= prev {
            return Err(LogError::ZxidOrder {
                last: prev,
                got: t.zxid,
            });
        }
        if t.data.len() > MAX_PAYLOAD {
            return Err(LogError::TooLarge {
                zxid: t.zxid,
                len: t.data.len(),
            });
        }
        prev = t.zxid;
    }
    Ok(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse_name("log.0000000100000001"), Some(0x1_0000_0001));
        assert_eq!(parse_name("log.100000001"), Some(0x1_0000_0001));
        assert_eq!(parse_name("log."), None);
        assert_eq!(parse_name("log.xyz"), None);
        assert_eq!(parse_name("snapshot.1"), None);
        assert_eq!(parse_name("log.00000000000000001"), None);
    }
}
