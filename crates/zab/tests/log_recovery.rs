//! Start-up repair: torn tails are cut with a warning, corruption before the tail stops
//! start-up without touching the disk, foreign files are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata};
use zk_zab::log::{LogError, LogOptions, Recovery, TxnLog};
use zk_zab::txn::{Txn, Zxid};

/// Payloads without zero bytes: `payload-0000000N`, so every record is 32 bytes.
fn txn(z: Zxid) -> Txn {
    Txn::new(z, format!("payload-{z:08}").into_bytes())
}

const REC: u64 = 32;
const HEADER: u64 = 16;

fn opts() -> LogOptions {
    LogOptions {
        segment_bytes: 256,
        preallocate_bytes: 512,
        force_sync: true,
    }
}

/// A log of zxids `1..=n` (7 per segment); returns the path of the last segment.
fn write_log(dir: &Path, n: Zxid) -> PathBuf {
    let (mut log, _) = TxnLog::open(dir, opts()).unwrap();
    log.append(&(1..=n).map(txn).collect::<Vec<_>>()).unwrap();
    log.sync().unwrap();
    log.segment_paths().pop().unwrap()
}

fn read_all(log: &mut TxnLog) -> Vec<Zxid> {
    log.read_from(0).unwrap().map(|t| t.unwrap().zxid).collect()
}

fn snapshot_dir(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let data = fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    files.sort();
    files
}

/// A tracing subscriber that keeps the text of WARN events.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        write!(self.0, "{}={:?} ", field.name(), value).unwrap();
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() == Level::WARN {
            let mut text = Text(String::new());
            event.record(&mut text);
            self.0.lock().unwrap().push(text.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Opens the log, returning what `open` returned and the warnings it logged.
fn open_capturing(dir: &Path) -> (Result<(TxnLog, Recovery), LogError>, Vec<String>) {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let result = tracing::subscriber::with_default(Capture(Arc::clone(&warnings)), || {
        TxnLog::open(dir, opts())
    });
    let warnings = warnings.lock().unwrap().clone();
    (result, warnings)
}

#[derive(Clone, Copy, Debug)]
enum Tear {
    /// The file ends at the tear (no preallocation reached the disk).
    Truncated,
    /// Zeros from the tear to the end of the record (preallocated file).
    Zeroed,
    /// Garbage from the tear to the end of the record.
    Garbage,
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record_is_cut() {
    // 10 records: the last segment holds zxids 8, 9, 10; zxid 10 is its third record.
    let start = HEADER + 2 * REC;
    let end = start + REC;
    for tear in [Tear::Truncated, Tear::Zeroed, Tear::Garbage] {
        for off in start..end {
            let dir = tempfile::tempdir().unwrap();
            let seg = write_log(dir.path(), 10);
            assert_eq!(seg.file_name().unwrap(), "log.0000000000000008");
            let file = OpenOptions::new().write(true).open(&seg).unwrap();
            match tear {
                Tear::Truncated => file.set_len(off).unwrap(),
                Tear::Zeroed | Tear::Garbage => {
                    let mut data = fs::read(&seg).unwrap();
                    let fill = if matches!(tear, Tear::Zeroed) {
                        0
                    } else {
                        0xa5
                    };
                    data[off as usize..end as usize].fill(fill);
                    fs::write(&seg, &data).unwrap();
                }
            }
            drop(file);
            let (result, warnings) = open_capturing(dir.path());
            let (mut log, rec) = result.unwrap_or_else(|e| panic!("{tear:?} at {off}: {e}"));
            let clean_end = off == start && !matches!(tear, Tear::Garbage);
            assert_eq!(rec.last_zxid, 9, "{tear:?} at {off}");
            assert_eq!(rec.records, 9, "{tear:?} at {off}");
            assert_eq!(
                read_all(&mut log),
                (1..=9).collect::<Vec<_>>(),
                "{tear:?} at {off}"
            );
            if clean_end {
                assert_eq!(rec.cut, None);
                assert!(warnings.is_empty(), "{warnings:?}");
            } else {
                let cut = rec
                    .cut
                    .clone()
                    .unwrap_or_else(|| panic!("{tear:?} at {off}: no cut"));
                assert_eq!(cut.segment, seg);
                assert_eq!(cut.offset, start, "{tear:?} at {off}");
                assert_eq!(cut.last_good_zxid, 9);
                assert!(
                    cut.bytes > 0 && cut.bytes <= REC,
                    "{tear:?} at {off}: {cut:?}"
                );
                assert_eq!(warnings.len(), 1, "{warnings:?}");
                let w = &warnings[0];
                assert!(w.contains("torn tail"), "{w}");
                assert!(w.contains(&seg.display().to_string()), "{w}");
                assert!(w.contains(&format!("offset {start}")), "{w}");
                assert!(w.contains(&format!("{} bytes", cut.bytes)), "{w}");
                assert!(w.contains("zxid 0x9"), "{w}");
            }
            // The cut is durable and complete: appending zxid 10 again and reopening is clean.
            log.append(&[txn(10), txn(11)]).unwrap();
            log.sync().unwrap();
            drop(log);
            let (result, warnings) = open_capturing(dir.path());
            let (mut log, rec) = result.unwrap();
            assert_eq!(rec.cut, None, "{tear:?} at {off}");
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(read_all(&mut log), (1..=11).collect::<Vec<_>>());
        }
    }
}

#[test]
fn bit_flip_in_the_last_record_is_cut() {
    let start = HEADER + 2 * REC;
    for byte in 0..REC {
        for bit in [0u8, 3, 7] {
            let dir = tempfile::tempdir().unwrap();
            let seg = write_log(dir.path(), 10);
            let mut data = fs::read(&seg).unwrap();
            data[(start + byte) as usize] ^= 1 << bit;
            fs::write(&seg, &data).unwrap();
            let (result, warnings) = open_capturing(dir.path());
            let (mut log, rec) = result.unwrap_or_else(|e| panic!("byte {byte} bit {bit}: {e}"));
            let cut = rec
                .cut
                .unwrap_or_else(|| panic!("byte {byte} bit {bit}: not cut"));
            assert_eq!((cut.offset, cut.last_good_zxid), (start, 9));
            assert_eq!(warnings.len(), 1);
            assert_eq!(read_all(&mut log), (1..=9).collect::<Vec<_>>());
        }
    }
}

#[test]
fn bit_flip_before_valid_records_is_corruption_and_changes_nothing() {
    // In the last segment (zxids 8..=10), record 9 is damaged and record 10 is valid after it.
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path(), 10);
    let bad = HEADER + REC; // record zxid 9
    let mut data = fs::read(&seg).unwrap();
    data[(bad + 20) as usize] ^= 0x10; // in its payload
    fs::write(&seg, &data).unwrap();
    let before = snapshot_dir(dir.path());
    let (result, warnings) = open_capturing(dir.path());
    let err = result.unwrap_err();
    match &err {
        LogError::Corrupt {
            segment,
            offset,
            reason,
        } => {
            assert_eq!(segment, &seg);
            assert_eq!(*offset, bad);
            assert!(reason.contains("CRC mismatch"), "{reason}");
            assert!(reason.contains("zxid 0xa"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&seg.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("offset {bad}")), "{msg}");
    assert!(msg.contains("resyncs from the leader"), "{msg}");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        snapshot_dir(dir.path()),
        before,
        "nothing may change on disk"
    );
}

#[test]
fn any_damage_in_an_earlier_segment_is_corruption() {
    // Damage to the last record of the first segment (zxid 7), even though it looks like a
    // tail within its own file: later segments exist.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 10);
    let first = dir.path().join("log.0000000000000001");
    let bad = HEADER + 6 * REC;
    let mut data = fs::read(&first).unwrap();
    data[(bad + 31) as usize] ^= 1;
    fs::write(&first, &data).unwrap();
    let before = snapshot_dir(dir.path());
    let (result, _) = open_capturing(dir.path());
    match result.unwrap_err() {
        LogError::Corrupt {
            segment,
            offset,
            reason,
        } => {
            assert_eq!(segment, first);
            assert_eq!(offset, bad);
            assert!(reason.contains("before the last"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(snapshot_dir(dir.path()), before);

    // A record zeroed out in the middle of the last segment: the records "end" there but a
    // valid one follows, so it is not a tail either.
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path(), 10);
    let mut data = fs::read(&seg).unwrap();
    data[(HEADER + REC) as usize..(HEADER + 2 * REC) as usize].fill(0);
    fs::write(&seg, &data).unwrap();
    let before = snapshot_dir(dir.path());
    let (result, _) = open_capturing(dir.path());
    match result.unwrap_err() {
        LogError::Corrupt { offset, reason, .. } => {
            assert_eq!(offset, HEADER + REC);
            assert!(reason.contains("follows at offset 80"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(snapshot_dir(dir.path()), before);
}

#[test]
fn torn_first_record_removes_the_segment() {
    // 8 records: the last segment holds only zxid 8; tearing it empties the segment.
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path(), 8);
    let mut data = fs::read(&seg).unwrap();
    data[(HEADER + 10) as usize] ^= 0xff;
    fs::write(&seg, &data).unwrap();
    let (result, warnings) = open_capturing(dir.path());
    let (mut log, rec) = result.unwrap();
    assert_eq!(rec.removed_segments, vec![seg.clone()]);
    assert_eq!(rec.cut.map(|c| c.offset), Some(HEADER));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(!seg.exists());
    assert_eq!(read_all(&mut log), (1..=7).collect::<Vec<_>>());
    log.append(&[txn(8)]).unwrap();
    log.sync().unwrap();
    assert!(seg.exists());
}

#[test]
fn interrupted_segment_creation_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 5);
    // A crash right after creating the next segment file: empty, or zeros.
    for len in [0u64, 4096] {
        let next = dir.path().join("log.0000000000000006");
        fs::File::create(&next).unwrap().set_len(len).unwrap();
        let (result, warnings) = open_capturing(dir.path());
        let (mut log, rec) = result.unwrap();
        assert_eq!(rec.removed_segments, vec![next.clone()]);
        assert_eq!(rec.last_zxid, 5);
        assert_eq!(warnings.len(), 1);
        assert!(!next.exists());
        assert_eq!(read_all(&mut log), (1..=5).collect::<Vec<_>>());
    }
}

#[test]
fn foreign_and_unknown_files_are_refused() {
    // An Apache ZooKeeper log file (magic "ZKLG", version 2, dbid 0).
    let dir = tempfile::tempdir().unwrap();
    let mut zk = b"ZKLG".to_vec();
    zk.extend_from_slice(&2u32.to_be_bytes());
    zk.extend_from_slice(&0u64.to_be_bytes());
    zk.resize(1024, 0);
    let path = dir.path().join("log.100000001");
    fs::write(&path, &zk).unwrap();
    let err = TxnLog::open(dir.path(), opts()).unwrap_err();
    assert!(matches!(err, LogError::UnknownFormat { ref segment, .. } if *segment == path));
    assert!(err.to_string().contains("Apache ZooKeeper"), "{err}");

    // A future format version of our own.
    let dir = tempfile::tempdir().unwrap();
    let seg = write_log(dir.path(), 3);
    let mut data = fs::read(&seg).unwrap();
    data[8] = 9;
    fs::write(&seg, &data).unwrap();
    let err = TxnLog::open(dir.path(), opts()).unwrap_err();
    assert!(err.to_string().contains("version 9"), "{err}");

    // Other files in the directory are left alone.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 3);
    fs::write(dir.path().join("snapshot.3"), b"not mine").unwrap();
    fs::write(dir.path().join("log.notes"), b"not mine").unwrap();
    let (mut log, rec) = TxnLog::open(dir.path(), opts()).unwrap();
    assert_eq!(rec.records, 3);
    assert_eq!(read_all(&mut log), vec![1, 2, 3]);
}

#[test]
fn reader_reports_corruption_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(dir.path(), opts()).unwrap();
    log.append(&(1..=5).map(txn).collect::<Vec<_>>()).unwrap();
    log.sync().unwrap();
    let seg = log.segment_paths().pop().unwrap();
    let mut data = fs::read(&seg).unwrap();
    data[(HEADER + REC + 20) as usize] ^= 1;
    fs::write(&seg, &data).unwrap();
    let got: Vec<_> = log.read_from(0).unwrap().collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].as_ref().unwrap().zxid, 1);
    assert!(
        matches!(&got[1], Err(LogError::Corrupt { offset, .. }) if *offset == HEADER + REC),
        "{:?}",
        got[1]
    );
}

/// Records written but never fsynced (a process killed between write and fsync) are read
/// back from the page cache on restart; the log makes them durable before it reports them
/// durable, so nothing can be acknowledged over data a power loss would still take away.
#[test]
fn records_read_back_on_open_are_fsynced_before_they_count_as_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = TxnLog::open(dir.path(), opts()).unwrap();
        log.append(&[txn(1), txn(2), txn(3)]).unwrap();
        log.sync().unwrap();
        // Written to the file, never fsynced: the process "dies" here.
        log.append(&[txn(4), txn(5)]).unwrap();
        drop(log);
    }
    let (log, rec) = TxnLog::open(dir.path(), opts()).unwrap();
    assert_eq!((rec.last_zxid, log.durable_zxid()), (5, 5));
    assert!(
        log.fsyncs() >= 2,
        "reported durable without an fsync at open ({} fsyncs)",
        log.fsyncs()
    );
}

/// A zeroed length field inside a segment before the last does not silently end that
/// segment early (which would drop records 4..=7 without a word): it is corruption.
#[test]
fn a_zero_length_inside_an_earlier_segment_is_corruption_not_an_end() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 20);
    let first = dir.path().join("log.0000000000000001");
    let at = HEADER + 3 * REC;
    let mut data = fs::read(&first).unwrap();
    data[at as usize..at as usize + 4].fill(0);
    fs::write(&first, &data).unwrap();
    let (result, _) = open_capturing(dir.path());
    match result.unwrap_err() {
        LogError::Corrupt {
            segment, offset, ..
        } => assert_eq!((segment, offset), (first, at)),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
