//! The transaction log: round trips, zxid order, segments, truncation and purging.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use zk_zab::log::{LogError, LogOptions, TxnLog};
use zk_zab::txn::{Txn, Zxid, make_zxid};

fn txn(z: Zxid) -> Txn {
    Txn::new(z, format!("payload-{z:08}").into_bytes())
}

fn txns(range: std::ops::RangeInclusive<Zxid>) -> Vec<Txn> {
    range.map(txn).collect()
}

/// Small segments: 16-byte header + 7 records of 32 bytes = 240 bytes, so 7 per segment.
fn small() -> LogOptions {
    LogOptions {
        segment_bytes: 256,
        preallocate_bytes: 512,
        force_sync: true,
    }
}

fn read_all(log: &mut TxnLog, after: Zxid) -> Vec<Txn> {
    log.read_from(after)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn zxids(t: &[Txn]) -> Vec<Zxid> {
    t.iter().map(|t| t.zxid).collect()
}

fn open(dir: &Path, opts: LogOptions) -> TxnLog {
    let (log, rec) = TxnLog::open(dir, opts).unwrap();
    assert_eq!(rec.cut, None, "no tail should be cut in these tests");
    log
}

#[test]
fn round_trip_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, rec) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!((rec.last_zxid, rec.records, rec.segments), (0, 0, 0));
    assert_eq!(log.last_zxid(), 0);
    let big = vec![7u8; 3 << 20]; // larger than the 1 MiB write buffer
    let written = vec![
        Txn::new(make_zxid(1, 1), &b"create /a"[..]),
        Txn::new(make_zxid(1, 2), Vec::new()), // empty payloads are fine
        Txn::new(make_zxid(1, 3), big.clone()),
        Txn::new(make_zxid(2, 1), &b"set /a"[..]),
    ];
    log.append(&written[..2]).unwrap();
    log.append(&written[2..]).unwrap();
    assert_eq!(log.last_zxid(), make_zxid(2, 1));
    assert_eq!(log.durable_zxid(), 0);
    assert_eq!(log.sync().unwrap(), make_zxid(2, 1));
    assert_eq!(log.durable_zxid(), make_zxid(2, 1));
    assert_eq!(read_all(&mut log, 0), written);
    assert_eq!(read_all(&mut log, make_zxid(1, 2)), written[2..]);
    assert_eq!(read_all(&mut log, make_zxid(2, 1)), vec![]);
    drop(log);

    let (mut log, rec) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(rec.last_zxid, make_zxid(2, 1));
    assert_eq!(rec.records, 4);
    assert_eq!(rec.segments, 1);
    assert_eq!(rec.cut, None);
    assert_eq!(log.last_zxid(), make_zxid(2, 1));
    assert_eq!(read_all(&mut log, 0), written);
    // The segment is named by its first zxid and preallocated.
    let paths = log.segment_paths();
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].file_name().unwrap(), "log.0000000100000001");
    assert!(std::fs::metadata(&paths[0]).unwrap().len() >= 64 << 20);
    // Appending after reopen continues the same log.
    log.append(&[Txn::new(make_zxid(2, 2), &b"x"[..])]).unwrap();
    log.sync().unwrap();
    drop(log);
    let mut log = open(dir.path(), LogOptions::default());
    assert_eq!(
        read_all(&mut log, make_zxid(2, 1)),
        vec![Txn::new(make_zxid(2, 2), &b"x"[..])]
    );
}

#[test]
fn zxids_must_strictly_increase() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small());
    assert!(matches!(
        log.append(&[txn(0)]),
        Err(LogError::ZxidOrder { last: 0, got: 0 })
    ));
    log.append(&[txn(5)]).unwrap();
    assert!(matches!(
        log.append(&[txn(5)]),
        Err(LogError::ZxidOrder { last: 5, got: 5 })
    ));
    assert!(matches!(
        log.append(&[txn(4)]),
        Err(LogError::ZxidOrder { last: 5, got: 4 })
    ));
    // A batch out of order inside is refused whole.
    let err = log.append(&[txn(6), txn(8), txn(7)]).unwrap_err();
    assert!(
        matches!(err, LogError::ZxidOrder { last: 8, got: 7 }),
        "{err}"
    );
    assert!(err.to_string().contains("strictly increase"));
    assert_eq!(log.last_zxid(), 5);
    log.append(&[txn(6)]).unwrap();
    log.sync().unwrap();
    assert_eq!(zxids(&read_all(&mut log, 0)), vec![5, 6]);
}

#[test]
fn segments_roll_and_reads_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small());
    for z in 1..=30 {
        log.append(&[txn(z)]).unwrap();
    }
    log.sync().unwrap();
    let names: Vec<String> = log
        .segment_paths()
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        vec![
            "log.0000000000000001",
            "log.0000000000000008",
            "log.000000000000000f",
            "log.0000000000000016",
            "log.000000000000001d",
        ]
    );
    assert_eq!(read_all(&mut log, 0), txns(1..=30));
    // Reads starting in the middle, at a boundary and just before one.
    assert_eq!(read_all(&mut log, 7), txns(8..=30));
    assert_eq!(read_all(&mut log, 8), txns(9..=30));
    assert_eq!(read_all(&mut log, 20), txns(21..=30));
    assert_eq!(read_all(&mut log, 29), txns(30..=30));
    drop(log);
    let (mut log, rec) = TxnLog::open(dir.path(), small()).unwrap();
    assert_eq!((rec.records, rec.segments, rec.last_zxid), (30, 5, 30));
    assert_eq!(read_all(&mut log, 0), txns(1..=30));
    // A record larger than a segment gets a segment of its own.
    let big = Txn::new(31, vec![1u8; 1000]);
    log.append(std::slice::from_ref(&big)).unwrap();
    log.append(&[txn(32)]).unwrap();
    log.sync().unwrap();
    assert_eq!(log.segment_paths().len(), 7);
    drop(log);
    let mut log = open(dir.path(), small());
    let all = read_all(&mut log, 29);
    assert_eq!(all, vec![txn(30), big, txn(32)]);
}

#[test]
fn truncate_after_across_segments_then_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small());
    log.append(&txns(1..=30)).unwrap();
    log.sync().unwrap();
    assert_eq!(log.segment_paths().len(), 5);
    // Nothing to do above the last zxid.
    assert_eq!(log.truncate_after(30).unwrap(), 30);
    assert_eq!(log.truncate_after(100).unwrap(), 30);
    // 10 is the third record of the second segment: three segments go, one is cut.
    assert_eq!(log.truncate_after(10).unwrap(), 10);
    assert_eq!(log.last_zxid(), 10);
    assert_eq!(log.durable_zxid(), 10);
    assert_eq!(log.segment_paths().len(), 2);
    assert_eq!(read_all(&mut log, 0), txns(1..=10));
    // Appending again: one new txn only, shorter than what was cut, with a new epoch.
    let new = Txn::new(make_zxid(1, 1), &b"new epoch"[..]);
    log.append(std::slice::from_ref(&new)).unwrap();
    log.sync().unwrap();
    drop(log);
    // Reopen: the cut records must not come back (and must not look like corruption).
    let mut log = open(dir.path(), small());
    let mut expected = txns(1..=10);
    expected.push(new.clone());
    assert_eq!(read_all(&mut log, 0), expected);
    // Truncating to a segment boundary removes the segment that started after it.
    assert_eq!(log.truncate_after(7).unwrap(), 7);
    assert_eq!(log.segment_paths().len(), 1);
    drop(log);
    let mut log = open(dir.path(), small());
    assert_eq!(read_all(&mut log, 0), txns(1..=7));
    // Truncating everything leaves an empty log that accepts any zxid again.
    assert_eq!(log.truncate_after(0).unwrap(), 0);
    assert_eq!(log.segment_paths().len(), 0);
    log.append(&txns(3..=4)).unwrap();
    log.sync().unwrap();
    drop(log);
    let mut log = open(dir.path(), small());
    assert_eq!(read_all(&mut log, 0), txns(3..=4));
}

#[test]
fn truncate_after_includes_unsynced_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small());
    log.append(&txns(1..=5)).unwrap();
    // Not synced: the truncation writes, cuts and syncs.
    assert_eq!(log.truncate_after(3).unwrap(), 3);
    drop(log);
    let mut log = open(dir.path(), small());
    assert_eq!(read_all(&mut log, 0), txns(1..=3));
}

#[test]
fn purge_before_keeps_what_is_needed() {
    for keep_from in [1, 7, 8, 9, 15, 16, 29, 30, 31, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small());
        log.append(&txns(1..=30)).unwrap();
        log.sync().unwrap();
        let before = log.segment_paths().len();
        let removed = log.purge_before(keep_from).unwrap();
        let kept = log.segment_paths();
        assert_eq!(before - removed, kept.len());
        assert!(!kept.is_empty(), "the last segment is never purged");
        // Every record >= keep_from is still readable ...
        let first = log.first_zxid().unwrap();
        assert!(
            first <= keep_from.min(30),
            "keep_from {keep_from}: first {first}"
        );
        assert_eq!(
            read_all(&mut log, keep_from - 1),
            txns(keep_from.min(31)..=30)
        );
        // ... and no segment was kept that is not needed: the first kept segment holds
        // keep_from, or is the last one.
        if kept.len() > 1 {
            let second = zxids(&read_all(&mut log, 0))
                .into_iter()
                .find(|&z| {
                    kept[1].file_name().unwrap().to_str().unwrap() == format!("log.{z:016x}")
                })
                .unwrap();
            assert!(
                second > keep_from,
                "keep_from {keep_from}: needless segment kept"
            );
        }
        drop(log);
        let (mut log, rec) = TxnLog::open(dir.path(), small()).unwrap();
        assert_eq!(rec.last_zxid, 30);
        assert_eq!(read_all(&mut log, 0).first().map(|t| t.zxid), Some(first));
    }
}

#[test]
fn force_sync_off_is_still_correct_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        force_sync: false,
        ..small()
    };
    let (mut log, _) = TxnLog::open(dir.path(), opts.clone()).unwrap();
    log.append(&txns(1..=20)).unwrap();
    assert_eq!(log.sync().unwrap(), 20);
    assert_eq!(log.truncate_after(15).unwrap(), 15);
    log.append(&txns(16..=25)).unwrap();
    log.sync().unwrap();
    assert_eq!(log.fsyncs(), 0, "force_sync = false must not fsync");
    drop(log);
    let (mut log, rec) = TxnLog::open(dir.path(), opts).unwrap();
    assert_eq!(rec.cut, None);
    assert_eq!(read_all(&mut log, 0), txns(1..=25));
    // And with fsync on, sync does fsync, once per call that has something new.
    drop(log);
    let mut log = open(dir.path(), small());
    let before = log.fsyncs();
    log.append(&txns(26..=27)).unwrap();
    log.sync().unwrap();
    log.sync().unwrap();
    assert_eq!(log.fsyncs(), before + 1);
}

#[test]
fn no_preallocation_works_too() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        preallocate_bytes: 0,
        ..small()
    };
    let mut log = open(dir.path(), opts.clone());
    log.append(&txns(1..=20)).unwrap();
    log.sync().unwrap();
    assert_eq!(log.truncate_after(12).unwrap(), 12);
    log.append(&txns(13..=14)).unwrap();
    log.sync().unwrap();
    let last = log.segment_paths().pop().unwrap();
    assert_eq!(std::fs::metadata(&last).unwrap().len(), 16 + 7 * 32);
    drop(log);
    let mut log = open(dir.path(), opts);
    assert_eq!(read_all(&mut log, 0), txns(1..=14));
}

#[test]
fn a_reader_survives_a_purge() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small());
    log.append(&txns(1..=30)).unwrap();
    log.sync().unwrap();
    let reader = log.read_from(0).unwrap();
    assert_eq!(log.purge_before(30).unwrap(), 4);
    let got = reader.collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(got, txns(1..=30));
    assert_eq!(read_all(&mut log, 0), txns(29..=30));
}
