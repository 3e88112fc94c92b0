//! The snapshot directory: format, atomic writes, fallback over bad files, purge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use zk_zab::snapshot::{FORMAT_VERSION, InvalidReason, MAGIC, SnapshotError, SnapshotStore};
use zk_zab::state_machine::testing::KvStateMachine;
use zk_zab::state_machine::{BytesSource, SnapshotSource, StateMachine};
use zk_zab::txn::{Txn, Zxid};

/// Captures WARN events (message and fields, flattened to text).
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Flatten<'a>(&'a mut String);

impl tracing::field::Visit for Flatten<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut s = String::new();
            event.record(&mut Flatten(&mut s));
            self.0.lock().unwrap().push(s);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn with_warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let w = Warnings::default();
    let out = tracing::subscriber::with_default(w.clone(), f);
    (out, w.take())
}

/// A state machine with `n` keys, at zxid `zxid`.
fn kv(zxid: Zxid, n: usize) -> KvStateMachine {
    let mut sm = KvStateMachine::new();
    sm.apply(&Txn::new(
        zxid,
        (0..n)
            .map(|i| format!("set k{i} v{i}-{zxid}\n"))
            .collect::<String>(),
    ));
    sm
}

fn image_of(sm: &KvStateMachine) -> Vec<u8> {
    let mut out = Vec::new();
    sm.snapshot().write_to(&mut out).unwrap();
    out
}

fn save_kv(store: &SnapshotStore, zxid: Zxid) -> Vec<u8> {
    let sm = kv(zxid, 20);
    assert_eq!(store.save(sm.snapshot().as_mut()).unwrap(), zxid);
    image_of(&sm)
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert!(store.newest_valid().unwrap().is_none());
    let image = save_kv(&store, 0x1_0000_0007);

    assert_eq!(file_names(dir.path()), ["snapshot.0000000100000007"]);
    let (zxid, body) = store.newest_valid().unwrap().unwrap();
    assert_eq!(zxid, 0x1_0000_0007);
    assert_eq!(&body[..], &image[..]);

    // Layout: magic, version, zxid, body length, body, CRC32 of everything before it.
    let raw = fs::read(store.path_for(zxid)).unwrap();
    assert_eq!(raw[0..8], MAGIC);
    assert_eq!(raw[8..12], FORMAT_VERSION.to_le_bytes());
    assert_eq!(raw[12..20], zxid.to_le_bytes());
    assert_eq!(raw[20..28], (image.len() as u64).to_le_bytes());
    assert_eq!(&raw[28..raw.len() - 4], &image[..]);
    let crc = crc32fast::hash(&raw[..raw.len() - 4]);
    assert_eq!(raw[raw.len() - 4..], crc.to_le_bytes());

    // The image restores to the same state.
    let mut restored = KvStateMachine::new();
    restored.restore(zxid, body).unwrap();
    assert_eq!(restored.entries(), kv(zxid, 20).entries());
    assert_eq!(restored.last_applied(), zxid);

    // A received image (SNAP sync) saved as is, and an empty body, round-trip too.
    store
        .save_image(0x2_0000_0001, Bytes::from_static(b"opaque image"))
        .unwrap();
    store.save_image(0x2_0000_0002, Bytes::new()).unwrap();
    let (zxid, body) = store.newest_valid().unwrap().unwrap();
    assert_eq!((zxid, &body[..]), (0x2_0000_0002, &b""[..]));
    let listed: Vec<Zxid> = store.list().unwrap().iter().map(|f| f.zxid).collect();
    assert_eq!(listed, [0x1_0000_0007, 0x2_0000_0001, 0x2_0000_0002]);
}

#[test]
fn half_written_temp_file_is_ignored_and_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let image = save_kv(&store, 5);
    // A crash mid-save leaves a temp file (the rename never happened) of a newer snapshot.
    let tmp = dir.path().join("snapshot.0000000000000009.123-0.tmp");
    fs::write(&tmp, &fs::read(store.path_for(5)).unwrap()[..20]).unwrap();
    assert_eq!(
        store.list().unwrap().len(),
        1,
        "temp files are never listed"
    );
    drop(store);

    let (store, warnings) = with_warnings(|| SnapshotStore::open(dir.path()).unwrap());
    assert!(!tmp.exists(), "open removes the stray temp file");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("snapshot.0000000000000009.123-0.tmp")),
        "{warnings:?}"
    );
    assert_eq!(file_names(dir.path()), ["snapshot.0000000000000005"]);
    let (zxid, body) = store.newest_valid().unwrap().unwrap();
    assert_eq!((zxid, &body[..]), (5, &image[..]));
}

/// A source that fails halfway through writing its image.
struct FailingSource;

impl SnapshotSource for FailingSource {
    fn zxid(&self) -> Zxid {
        42
    }
    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        out.write_all(&[7; 10_000])?;
        Err(io::Error::other("disk on fire"))
    }
}

#[test]
fn failed_save_publishes_nothing_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    save_kv(&store, 5);
    let err = store.save(&mut FailingSource).unwrap_err();
    assert!(
        matches!(err, SnapshotError::Source { zxid: 42, .. }),
        "{err}"
    );
    assert_eq!(file_names(dir.path()), ["snapshot.0000000000000005"]);
    assert_eq!(store.newest_valid().unwrap().unwrap().0, 5);
}

#[test]
fn truncated_newest_falls_back_to_previous_with_warning() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    save_kv(&store, 1);
    let second = save_kv(&store, 2);
    save_kv(&store, 3);
    let newest = store.path_for(3);
    let len = fs::metadata(&newest).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(len - 9)
        .unwrap();

    let (found, warnings) = with_warnings(|| store.newest_valid().unwrap().unwrap());
    assert_eq!((found.0, &found.1[..]), (2, &second[..]));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("snapshot.0000000000000003"),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("truncated"), "{warnings:?}");
    let err = store.load(&store.list().unwrap()[2]).unwrap_err();
    assert!(matches!(
        err,
        SnapshotError::Invalid {
            reason: InvalidReason::Truncated { .. },
            ..
        }
    ));
}

#[test]
fn bit_flips_anywhere_are_detected_and_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let first = save_kv(&store, 1);
    save_kv(&store, 2);
    let path = store.path_for(2);
    let good = fs::read(&path).unwrap();
    let mut reasons = Vec::new();
    for pos in 0..good.len() {
        let mut bad = good.clone();
        bad[pos] ^= 0x10;
        fs::write(&path, &bad).unwrap();
        let (found, warnings) = with_warnings(|| store.newest_valid().unwrap().unwrap());
        assert_eq!(
            (found.0, &found.1[..]),
            (1, &first[..]),
            "flip at {pos} not detected"
        );
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("snapshot.0000000000000002"),
            "{warnings:?}"
        );
        let SnapshotError::Invalid { reason, .. } =
            store.load(&store.list().unwrap()[1]).unwrap_err()
        else {
            panic!("not Invalid")
        };
        reasons.push(reason);
    }
    assert!(reasons.contains(&InvalidReason::BadMagic));
    assert!(reasons.contains(&InvalidReason::UnsupportedVersion(FORMAT_VERSION ^ 0x10)));
    assert!(
        reasons
            .iter()
            .any(|r| matches!(r, InvalidReason::ZxidMismatch { .. }))
    );
    assert!(
        reasons
            .iter()
            .any(|r| matches!(r, InvalidReason::BadChecksum { .. }))
    );
    fs::write(&path, &good).unwrap();
    assert_eq!(store.newest_valid().unwrap().unwrap().0, 2);
}

#[test]
fn foreign_and_garbage_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    save_kv(&store, 0x10);
    // A ZooKeeper snapshot (unpadded hex name, its own magic) newer than ours.
    fs::write(
        dir.path().join("snapshot.1f"),
        b"ZKSN\0\0\0\x02 rest of a java snapshot",
    )
    .unwrap();
    // Unrelated files are not even listed.
    fs::write(dir.path().join("snapshot.notazxid"), b"x").unwrap();
    fs::write(dir.path().join("acceptedEpoch"), b"3").unwrap();
    assert_eq!(store.list().unwrap().len(), 2);
    let (found, warnings) = with_warnings(|| store.newest_valid().unwrap().unwrap());
    assert_eq!(found.0, 0x10);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("snapshot.1f") && w.contains("magic")),
        "{warnings:?}"
    );
}

#[test]
fn all_invalid_gives_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    save_kv(&store, 1);
    fs::write(store.path_for(1), b"garbage").unwrap();
    assert!(store.newest_valid().unwrap().is_none());
}

#[test]
fn saving_the_same_zxid_again_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    store.save(&mut BytesSource::new(9, &b"first"[..])).unwrap();
    store
        .save(&mut BytesSource::new(9, &b"second"[..]))
        .unwrap();
    assert_eq!(file_names(dir.path()), ["snapshot.0000000000000009"]);
    assert_eq!(&store.newest_valid().unwrap().unwrap().1[..], b"second");
}

#[test]
fn purge_keeps_exactly_the_newest_n() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    for z in 1..=10 {
        save_kv(&store, z * 100);
    }
    let report = store.purge(5).unwrap();
    assert_eq!(report.oldest_retained, Some(600));
    let removed: Vec<Zxid> = report.removed.iter().map(|f| f.zxid).collect();
    assert_eq!(removed, [100, 200, 300, 400, 500]);
    let left: Vec<Zxid> = store.list().unwrap().iter().map(|f| f.zxid).collect();
    assert_eq!(left, [600, 700, 800, 900, 1000]);

    // Idempotent.
    let again = store.purge(5).unwrap();
    assert_eq!((again.oldest_retained, again.removed.len()), (Some(600), 0));

    // Below ZooKeeper's minimum of 3, 3 are kept.
    let report = store.purge(1).unwrap();
    assert_eq!(report.oldest_retained, Some(800));
    let left: Vec<Zxid> = store.list().unwrap().iter().map(|f| f.zxid).collect();
    assert_eq!(left, [800, 900, 1000]);
}

#[test]
fn purge_counts_only_valid_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    for z in 1..=7 {
        save_kv(&store, z);
    }
    // The two newest are corrupt: purge must keep three *valid* ones below them.
    fs::write(store.path_for(7), b"junk").unwrap();
    fs::write(store.path_for(6), b"junk").unwrap();
    let report = store.purge(3).unwrap();
    assert_eq!(report.oldest_retained, Some(3));
    let left: Vec<Zxid> = store.list().unwrap().iter().map(|f| f.zxid).collect();
    assert_eq!(left, [3, 4, 5, 6, 7]);

    // Fewer valid snapshots than asked for: nothing is removed.
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    for z in 1..=3 {
        save_kv(&store, z);
    }
    fs::write(store.path_for(3), b"junk").unwrap();
    let report = store.purge(3).unwrap();
    assert_eq!((report.oldest_retained, report.removed.len()), (Some(1), 0));
    assert_eq!(store.list().unwrap().len(), 3);
    assert_eq!(
        SnapshotStore::open(dir.path())
            .unwrap()
            .purge(3)
            .unwrap()
            .removed
            .len(),
        0
    );
}
