//! Recovery: newest valid snapshot + log replay, exactly once; refusals (2325, gaps).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::fs;
use std::io;
use std::sync::mpsc;

use zk_zab::snapshot::{
    RecoveryError, SnapshotStore, SnapshotTrigger, Snapshotter, init_if_empty, recover,
    recover_from,
};
use zk_zab::state_machine::testing::KvStateMachine;
use zk_zab::state_machine::{SnapshotSource, StateMachine};
use zk_zab::txn::{Txn, Zxid, make_zxid};

/// A deterministic workload of `n` transactions over two epochs: plain sets, counters
/// (not idempotent), multis touching several keys, and some deterministic rejections.
fn workload(n: u32) -> Vec<Txn> {
    (1..=n)
        .map(|i| {
            let zxid = if i <= n / 2 {
                make_zxid(1, i)
            } else {
                make_zxid(2, i - n / 2)
            };
            let payload = match i % 5 {
                0 => format!("set k{} v{i}", i % 7),
                1 => "incr total".to_owned(),
                2 => format!("incr c{}\nincr total\nset last {i}", i % 3),
                3 => format!("incr c{}\ndel no-such-key", i % 3), // rejected as a whole
                _ => format!("incr total\nincr total\nset m{} {i}", i % 4),
            };
            Txn::new(zxid, payload)
        })
        .collect()
}

fn apply_all(txns: &[Txn]) -> KvStateMachine {
    let mut sm = KvStateMachine::new();
    for t in txns {
        sm.apply(t);
    }
    sm
}

fn ok_log(txns: &[Txn]) -> impl Iterator<Item = Result<Txn, Infallible>> + '_ {
    txns.iter().cloned().map(Ok)
}

fn fresh_store() -> (tempfile::TempDir, SnapshotStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn snapshot_plus_replay_equals_applying_everything_once() {
    let txns = workload(200);
    let expected = apply_all(&txns);
    for cut in [0usize, 1, 57, 100, 101, 199, 200] {
        let (_dir, store) = fresh_store();
        init_if_empty(&store, &KvStateMachine::new(), true).unwrap();
        let at_cut = apply_all(&txns[..cut]);
        store.save(at_cut.snapshot().as_mut()).unwrap();

        let mut sm = KvStateMachine::new();
        let outcome = recover(&store, ok_log(&txns), &mut sm).unwrap();
        assert_eq!(sm.entries(), expected.entries(), "cut at {cut}");
        assert_eq!(sm.last_applied(), txns[199].zxid);
        let snap = if cut == 0 { 0 } else { txns[cut - 1].zxid };
        assert_eq!(outcome.snapshot_zxid, snap);
        assert_eq!(outcome.last_zxid, txns[199].zxid);
        assert_eq!(outcome.skipped, cut as u64);
        assert_eq!(outcome.replayed, (200 - cut) as u64);
        assert_eq!(
            sm.applied_count(),
            (200 - cut) as u64,
            "each txn applied exactly once"
        );
    }
}

#[test]
fn log_behind_or_starting_after_the_snapshot_is_fine() {
    let txns = workload(100);
    let (_dir, store) = fresh_store();
    store
        .save(apply_all(&txns[..60]).snapshot().as_mut())
        .unwrap();
    // The log was purged up to record 40 and ends at 80.
    let mut sm = KvStateMachine::new();
    let outcome = recover(&store, ok_log(&txns[40..80]), &mut sm).unwrap();
    assert_eq!((outcome.skipped, outcome.replayed), (20, 20));
    assert_eq!(sm.entries(), apply_all(&txns[..80]).entries());
    // The log ends before the snapshot (e.g. after a SNAP sync).
    let mut sm = KvStateMachine::new();
    let outcome = recover(&store, ok_log(&txns[..30]), &mut sm).unwrap();
    assert_eq!((outcome.last_zxid, outcome.replayed), (txns[59].zxid, 0));
    assert_eq!(sm.entries(), apply_all(&txns[..60]).entries());
}

/// A source whose `write_to` blocks until released, so that the test can keep applying
/// while the background thread is mid-snapshot.
struct GatedSource {
    inner: Box<dyn SnapshotSource>,
    gate: mpsc::Receiver<()>,
}

impl SnapshotSource for GatedSource {
    fn zxid(&self) -> Zxid {
        self.inner.zxid()
    }
    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        self.gate.recv().unwrap();
        self.inner.write_to(out)
    }
}

#[test]
fn snapshot_while_apply_continues_recovers_exactly_once() {
    // ZOOKEEPER-3127 style: the snapshot is written while multis keep being applied. A
    // fuzzy image would contain effects of txns after its zxid, which replay would then
    // apply a second time (the counters would be off).
    let txns = workload(300);
    let expected = apply_all(&txns);
    let (_dir, store) = fresh_store();
    init_if_empty(&store, &KvStateMachine::new(), true).unwrap();
    let snapshotter = Snapshotter::new(store.clone(), SnapshotTrigger::new(100_000, 1));

    let mut sm = KvStateMachine::new();
    let mut pending = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        sm.apply(t);
        if i == 99 || i == 201 {
            // Capture now, but hold the background write until more txns are applied.
            let (release, gate) = mpsc::channel();
            let source = GatedSource {
                inner: sm.snapshot(),
                gate,
            };
            pending.push((snapshotter.submit(Box::new(source)).unwrap(), release, i));
        }
        if i == 149 || i == 260 {
            let (ticket, release, at) = pending.pop().unwrap();
            assert!(snapshotter.is_busy());
            release.send(()).unwrap();
            assert_eq!(ticket.wait().unwrap(), txns[at].zxid);
        }
    }
    assert_eq!(sm.entries(), expected.entries());

    // Each snapshot holds exactly the txns up to its zxid, not one more.
    for at in [99usize, 201] {
        let z = txns[at].zxid;
        let file = store
            .list()
            .unwrap()
            .into_iter()
            .find(|f| f.zxid == z)
            .unwrap();
        let mut from_image = KvStateMachine::new();
        from_image.restore(z, store.load(&file).unwrap()).unwrap();
        assert_eq!(
            from_image.entries(),
            apply_all(&txns[..=at]).entries(),
            "image at {at}"
        );
    }

    // Recovery from the newest (zxid of txn 201) with the whole log: exactly once.
    let mut recovered = KvStateMachine::new();
    let outcome = recover(&store, ok_log(&txns), &mut recovered).unwrap();
    assert_eq!(outcome.snapshot_zxid, txns[201].zxid);
    assert_eq!(recovered.entries(), expected.entries());
    assert_eq!(recovered.applied_count(), 300 - 202);

    // And again, falling back to the older snapshot when the newest is corrupt.
    fs::write(store.path_for(txns[201].zxid), b"torn").unwrap();
    let mut recovered = KvStateMachine::new();
    let outcome = recover(&store, ok_log(&txns), &mut recovered).unwrap();
    assert_eq!(outcome.snapshot_zxid, txns[99].zxid);
    assert_eq!(recovered.entries(), expected.entries());
}

#[test]
fn background_snapshots_every_snap_count_all_recover_exactly() {
    let txns = workload(400);
    let expected = apply_all(&txns);
    let (_dir, store) = fresh_store();
    init_if_empty(&store, &KvStateMachine::new(), true).unwrap();
    let mut snapshotter = Snapshotter::new(store.clone(), SnapshotTrigger::new(40, 7));
    let mut sm = KvStateMachine::new();
    let mut done = Vec::new();
    for t in &txns {
        sm.apply(t);
        if let Some(ticket) = snapshotter.after_apply(&sm) {
            done.push(ticket.wait().unwrap());
        }
    }
    // 400 txns with thresholds in [20, 40]: between 10 and 20 snapshots.
    assert!((10..=20).contains(&done.len()), "{done:?}");
    for zxid in done {
        // Each one, as the newest snapshot, recovers the same state.
        let (_d, only) = fresh_store();
        let file = store
            .list()
            .unwrap()
            .into_iter()
            .find(|f| f.zxid == zxid)
            .unwrap();
        only.save_image(zxid, store.load(&file).unwrap()).unwrap();
        let mut recovered = KvStateMachine::new();
        recover(&only, ok_log(&txns), &mut recovered).unwrap();
        assert_eq!(
            recovered.entries(),
            expected.entries(),
            "from snapshot {zxid:#x}"
        );
    }
}

#[test]
fn log_records_without_any_valid_snapshot_are_refused() {
    // ZOOKEEPER-2325: never start from an empty state with a non-empty log.
    let txns = workload(10);
    let (_dir, store) = fresh_store();
    let mut sm = KvStateMachine::new();
    let err = recover(&store, ok_log(&txns[3..]), &mut sm).unwrap_err();
    assert!(
        matches!(err, RecoveryError::NoSnapshotButLog { first_log_zxid: Some(z) } if z == txns[3].zxid),
        "{err}"
    );
    assert!(err.to_string().contains("2325"));
    // init_if_empty refuses too, rather than papering over the loss with snapshot 0.
    let err = init_if_empty(&store, &KvStateMachine::new(), false).unwrap_err();
    assert!(
        matches!(err, RecoveryError::NoSnapshotButLog { .. }),
        "{err}"
    );
    assert!(store.list().unwrap().is_empty());

    // Snapshots that all turn out corrupt are no better than none.
    store
        .save(apply_all(&txns[..2]).snapshot().as_mut())
        .unwrap();
    fs::write(store.path_for(txns[1].zxid), b"corrupt").unwrap();
    let err = recover(&store, ok_log(&txns[3..]), &mut sm).unwrap_err();
    assert!(
        matches!(err, RecoveryError::NoSnapshotButLog { .. }),
        "{err}"
    );
    let err = recover(&store, ok_log(&[]), &mut sm).unwrap_err();
    assert!(
        matches!(err, RecoveryError::AllSnapshotsInvalid { count: 1 }),
        "{err}"
    );
    // ...and init_if_empty does not overwrite them with an empty state.
    assert!(!init_if_empty(&store, &KvStateMachine::new(), true).unwrap());
}

#[test]
fn fresh_directory_is_initialized_once() {
    let txns = workload(20);
    let (_dir, store) = fresh_store();
    let err = recover(&store, ok_log(&[]), &mut KvStateMachine::new()).unwrap_err();
    assert!(matches!(err, RecoveryError::NoSnapshot), "{err}");
    let mut dirty = KvStateMachine::new();
    dirty.apply(&txns[0]);
    assert!(matches!(
        init_if_empty(&store, &dirty, true),
        Err(RecoveryError::NotFresh(_))
    ));

    assert!(init_if_empty(&store, &KvStateMachine::new(), true).unwrap());
    assert!(!init_if_empty(&store, &KvStateMachine::new(), true).unwrap());
    assert_eq!(
        store
            .list()
            .unwrap()
            .iter()
            .map(|f| f.zxid)
            .collect::<Vec<_>>(),
        [0]
    );

    let mut sm = KvStateMachine::new();
    let outcome = recover(&store, ok_log(&txns), &mut sm).unwrap();
    assert_eq!((outcome.snapshot_zxid, outcome.replayed), (0, 20));
    assert_eq!(sm.entries(), apply_all(&txns).entries());
}

#[test]
fn gaps_and_disorder_in_the_log_are_errors() {
    let txns = workload(40); // epoch 1: counters 1..=20, epoch 2: 1..=20
    let (_dir, store) = fresh_store();
    store
        .save(apply_all(&txns[..10]).snapshot().as_mut())
        .unwrap();
    let recover_with = |log: Vec<Txn>| recover(&store, ok_log(&log), &mut KvStateMachine::new());

    // A missing record inside an epoch.
    let mut log = txns.clone();
    log.remove(15);
    let err = recover_with(log).unwrap_err();
    assert!(
        matches!(err, RecoveryError::Gap { prev, found } if prev == txns[14].zxid && found == txns[16].zxid),
        "{err}"
    );
    // The log starting past the snapshot (its next record purged or lost).
    let err = recover_with(txns[11..].to_vec()).unwrap_err();
    assert!(
        matches!(err, RecoveryError::Gap { prev, .. } if prev == txns[9].zxid),
        "{err}"
    );
    // The first record of the next epoch missing (counter 2 of a later epoch).
    let mut log = txns.clone();
    log.remove(20);
    assert!(matches!(
        recover_with(log).unwrap_err(),
        RecoveryError::Gap { .. }
    ));
    // Out of order or duplicated, before or after the snapshot's zxid.
    let mut log = txns.clone();
    log.swap(3, 4);
    assert!(matches!(
        recover_with(log).unwrap_err(),
        RecoveryError::NotIncreasing { .. }
    ));
    let mut log = txns.clone();
    log.swap(25, 26); // 26 directly after 24 is caught as a gap first
    assert!(matches!(
        recover_with(log).unwrap_err(),
        RecoveryError::Gap { .. }
    ));
    let mut log = txns.clone();
    log.insert(26, txns[25].clone());
    assert!(matches!(
        recover_with(log).unwrap_err(),
        RecoveryError::NotIncreasing { .. }
    ));
    let mut log = txns.clone();
    log.insert(5, txns[5].clone());
    assert!(matches!(
        recover_with(log).unwrap_err(),
        RecoveryError::NotIncreasing { .. }
    ));
    // The intact log is fine, crossing the epoch boundary.
    assert_eq!(
        recover_with(txns.clone()).unwrap().last_zxid,
        make_zxid(2, 20)
    );
}

#[test]
fn newest_snapshot_lost_and_log_purged_past_the_older_one_is_a_gap() {
    // The 3642 shape: the state relied on a snapshot that is no longer readable. Falling
    // back to an older snapshot must not silently skip the txns in between.
    let txns = workload(60);
    let (_dir, store) = fresh_store();
    store
        .save(apply_all(&txns[..10]).snapshot().as_mut())
        .unwrap();
    store
        .save(apply_all(&txns[..40]).snapshot().as_mut())
        .unwrap();
    fs::write(store.path_for(txns[39].zxid), b"lost").unwrap();
    let err = recover(&store, ok_log(&txns[40..]), &mut KvStateMachine::new()).unwrap_err();
    assert!(
        matches!(err, RecoveryError::Gap { prev, .. } if prev == txns[9].zxid),
        "{err}"
    );
}

#[test]
fn log_read_errors_and_bad_images_propagate() {
    let txns = workload(10);
    let (_dir, store) = fresh_store();
    store
        .save(apply_all(&txns[..2]).snapshot().as_mut())
        .unwrap();
    let log = txns[..5]
        .iter()
        .cloned()
        .map(Ok)
        .chain(std::iter::once(Err(io::Error::other(
            "crc mismatch in segment 3",
        ))));
    let err = recover(&store, log, &mut KvStateMachine::new()).unwrap_err();
    assert!(
        matches!(err, RecoveryError::Log { after, .. } if after == txns[4].zxid),
        "{err}"
    );
    assert!(err.to_string().contains("segment 3") || format!("{:?}", err).contains("segment 3"));

    // A CRC-valid file whose body the state machine cannot decode.
    store
        .save_image(txns[5].zxid, &b"not a kv image"[..])
        .unwrap();
    let err = recover(&store, ok_log(&txns), &mut KvStateMachine::new()).unwrap_err();
    assert!(
        matches!(err, RecoveryError::Restore { zxid, .. } if zxid == txns[5].zxid),
        "{err}"
    );
}

#[test]
fn recover_from_opens_the_log_just_after_the_snapshot() {
    let txns = workload(50);
    let (_dir, store) = fresh_store();
    store
        .save(apply_all(&txns[..30]).snapshot().as_mut())
        .unwrap();
    let mut asked = Vec::new();
    let mut sm = KvStateMachine::new();
    let outcome = recover_from(&store, &mut sm, |after| {
        asked.push(after);
        // A reader positioned after `after`, as a log would return.
        let records = txns.iter().filter(move |t| t.zxid > after);
        Ok::<_, io::Error>(records.cloned().map(Ok))
    })
    .unwrap();
    assert_eq!(asked, [txns[29].zxid]);
    assert_eq!((outcome.skipped, outcome.replayed), (0, 20));
    assert_eq!(sm.entries(), apply_all(&txns).entries());

    // With no snapshot, the log is opened from 0 to see whether it is empty (2325).
    let (_dir, empty) = fresh_store();
    let mut asked = Vec::new();
    let err = recover_from(&empty, &mut KvStateMachine::new(), |after| {
        asked.push(after);
        Ok::<_, io::Error>(txns.iter().cloned().map(Ok))
    })
    .unwrap_err();
    assert_eq!(asked, [0]);
    assert!(
        matches!(err, RecoveryError::NoSnapshotButLog { .. }),
        "{err}"
    );

    // Failing to open the log is an error, not an empty log.
    let err = recover_from(&store, &mut KvStateMachine::new(), |_| {
        Err::<std::iter::Empty<Result<Txn, io::Error>>, _>(io::Error::other("no log dir"))
    })
    .unwrap_err();
    assert!(matches!(err, RecoveryError::Log { .. }), "{err}");
}
