//! The snapshot trigger, the background snapshotter and the autopurge timer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io;
use std::sync::mpsc;
use std::time::Duration;

use zk_zab::snapshot::{
    PurgeConfig, PurgeTask, SnapshotError, SnapshotStore, SnapshotTrigger, Snapshotter,
};
use zk_zab::state_machine::testing::KvStateMachine;
use zk_zab::state_machine::{BytesSource, SnapshotSource, StateMachine};
use zk_zab::txn::{Txn, Zxid};

/// The thresholds a trigger draws, observed through `record_applied` alone.
fn observed_thresholds(snap_count: u64, seed: u64, rounds: usize) -> Vec<u64> {
    let mut t = SnapshotTrigger::new(snap_count, seed);
    let mut out = Vec::new();
    let mut n = 0;
    while out.len() < rounds {
        n += 1;
        if t.record_applied() {
            out.push(n);
            n = 0;
        }
    }
    out
}

#[test]
fn trigger_stays_in_range_and_is_reproducible_from_the_seed() {
    for snap_count in [2u64, 5, 100, 100_000] {
        let mut distinct = BTreeSet::new();
        for seed in 0..40 {
            let a = observed_thresholds(snap_count, seed, 30);
            assert_eq!(a, observed_thresholds(snap_count, seed, 30), "seed {seed}");
            for &th in &a {
                assert!(
                    (snap_count / 2..=snap_count).contains(&th),
                    "{th} for {snap_count}"
                );
            }
            distinct.extend(a);
        }
        // Randomized, not constant: a good share of the range shows up.
        let span = snap_count - snap_count / 2 + 1;
        assert!(
            distinct.len() as u64 >= span.min(20),
            "{snap_count}: {distinct:?}"
        );
    }
    // Different servers (seeds) get different schedules.
    assert_ne!(
        observed_thresholds(100_000, 1, 5),
        observed_thresholds(100_000, 2, 5)
    );
    // Below ZooKeeper's minimum snapCount of 2, 2 is used.
    assert_eq!(SnapshotTrigger::new(0, 3).snap_count(), 2);
    assert!(
        observed_thresholds(0, 3, 50)
            .iter()
            .all(|&t| t == 1 || t == 2)
    );
}

#[test]
fn snapshotter_fires_on_the_trigger_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let (snap_count, seed) = (50, 99);
    let mut snapshotter = Snapshotter::new(store.clone(), SnapshotTrigger::new(snap_count, seed));
    let mut sm = KvStateMachine::new();
    let mut written = Vec::new();
    for i in 1..=1000u64 {
        sm.apply(&Txn::new(i, format!("incr n\nset k{} {i}", i % 10)));
        if let Some(ticket) = snapshotter.after_apply(&sm) {
            assert_eq!(ticket.zxid(), i);
            written.push(ticket.wait().unwrap());
        }
    }
    // Cumulative sums of the same seed's thresholds.
    let mut expected = Vec::new();
    let mut at = 0;
    for th in observed_thresholds(snap_count, seed, 100) {
        at += th;
        if at > 1000 {
            break;
        }
        expected.push(at);
    }
    assert_eq!(written, expected);
    let listed: Vec<Zxid> = store.list().unwrap().iter().map(|f| f.zxid).collect();
    assert_eq!(listed, expected);
}

/// Blocks in `write_to` until released.
struct Gated(BytesSource, mpsc::Receiver<()>);

impl SnapshotSource for Gated {
    fn zxid(&self) -> Zxid {
        self.0.zxid()
    }
    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        self.1.recv().unwrap();
        self.0.write_to(out)
    }
}

/// Panics in `write_to`.
struct Panicking;

impl SnapshotSource for Panicking {
    fn zxid(&self) -> Zxid {
        1
    }
    fn write_to(&mut self, _: &mut dyn io::Write) -> io::Result<()> {
        panic!("serializer bug")
    }
}

#[test]
fn one_snapshot_at_a_time_and_busy_clears_even_on_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let mut snapshotter = Snapshotter::new(store.clone(), SnapshotTrigger::new(2, 0));
    let (release, gate) = mpsc::channel();
    let mut ticket = snapshotter
        .submit(Box::new(Gated(BytesSource::new(7, &b"img"[..]), gate)))
        .unwrap();
    assert!(snapshotter.is_busy());
    assert!(ticket.try_done().is_none());
    // A second one while the first is being written is refused, and a due one skipped.
    let err = snapshotter
        .submit(Box::new(BytesSource::new(8, &b"x"[..])))
        .unwrap_err();
    assert!(matches!(err, SnapshotError::Background(_)), "{err}");
    let mut sm = KvStateMachine::new();
    for i in 1..=3 {
        sm.apply(&Txn::new(i, "incr n"));
        assert!(snapshotter.after_apply(&sm).is_none());
    }
    release.send(()).unwrap();
    assert_eq!(ticket.wait().unwrap(), 7);
    assert!(!snapshotter.is_busy());
    assert_eq!(
        store
            .list()
            .unwrap()
            .iter()
            .map(|f| f.zxid)
            .collect::<Vec<_>>(),
        [7]
    );

    // A panicking source reports an error and frees the snapshotter.
    let err = snapshotter
        .submit(Box::new(Panicking))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(matches!(err, SnapshotError::Background(_)), "{err}");
    assert!(!snapshotter.is_busy());
    assert_eq!(snapshotter.snapshot_now(&sm).unwrap().wait().unwrap(), 3);
}

#[test]
fn purge_config_follows_zookeeper() {
    assert_eq!(PurgeConfig::default().interval(), None);
    assert_eq!(PurgeConfig::default().snap_retain_count, 3);
    let c = PurgeConfig {
        snap_retain_count: 5,
        purge_interval_hours: 24,
    };
    assert_eq!(c.interval(), Some(Duration::from_secs(24 * 3600)));
}

#[tokio::test(start_paused = true)]
async fn purge_task_runs_at_start_and_every_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    for z in 1..=6 {
        store.save_image(z, &b"img"[..]).unwrap();
    }
    let off = PurgeConfig {
        snap_retain_count: 3,
        purge_interval_hours: 0,
    };
    assert!(PurgeTask::spawn(store.clone(), off).is_none());

    let on = PurgeConfig {
        snap_retain_count: 3,
        purge_interval_hours: 1,
    };
    let mut task = PurgeTask::spawn(store.clone(), on).unwrap();
    let first = task.next_report().await.unwrap().unwrap();
    assert_eq!(first.oldest_retained, Some(4));
    assert_eq!(first.removed.len(), 3);

    for z in 7..=8 {
        store.save_image(z, &b"img"[..]).unwrap();
    }
    let start = tokio::time::Instant::now();
    let second = task.next_report().await.unwrap().unwrap();
    assert!(start.elapsed() >= Duration::from_secs(3600) - Duration::from_secs(1));
    assert_eq!(second.oldest_retained, Some(6));
    assert_eq!(
        second.removed.iter().map(|f| f.zxid).collect::<Vec<_>>(),
        [4, 5]
    );
    assert_eq!(
        store
            .list()
            .unwrap()
            .iter()
            .map(|f| f.zxid)
            .collect::<Vec<_>>(),
        [6, 7, 8]
    );
}
