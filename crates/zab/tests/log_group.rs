//! Group commit: batching, ordering with truncation, and failure on a full disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zk_zab::log::{CommitOptions, Durability, GroupCommit, LogError, LogOptions, TxnLog};
use zk_zab::txn::{Txn, Zxid};

const WAIT: Duration = Duration::from_secs(30);

fn txn(z: Zxid) -> Txn {
    Txn::new(z, format!("payload-{z:08}").into_bytes())
}

fn read_all(log: &mut TxnLog) -> Vec<Txn> {
    log.read_from(0)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn start(dir: &Path, opts: LogOptions, queue: usize) -> GroupCommit {
    let (log, _) = TxnLog::open(dir, opts).unwrap();
    GroupCommit::start(
        log,
        CommitOptions {
            queue_capacity: queue,
        },
    )
    .unwrap()
}

#[test]
fn many_appenders_share_fsyncs() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 250;
    const TOTAL: u64 = THREADS * PER_THREAD;
    let dir = tempfile::tempdir().unwrap();
    let gc = start(dir.path(), LogOptions::default(), 4096);
    // Zxids are assigned in queue order, as a ZAB leader does: under one lock.
    let next = Arc::new(Mutex::new(0u64));
    let queued = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));

    // A watcher checks that nothing is ever reported durable before it was appended.
    let watcher = {
        let handle = gc.handle();
        let queued = Arc::clone(&queued);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut seen = 0;
            let mut observations = 0;
            while done.load(Ordering::SeqCst) < THREADS {
                let Durability::Durable(d) = handle.durability() else {
                    panic!("log failed")
                };
                let q = queued.load(Ordering::SeqCst);
                assert!(d <= q, "durable {d} above the {q} appended");
                assert!(d >= seen, "durability went back from {seen} to {d}");
                seen = d;
                observations += 1;
                std::thread::yield_now();
            }
            observations
        })
    };
    let appenders: Vec<_> = (0..THREADS)
        .map(|_| {
            let handle = gc.handle();
            let next = Arc::clone(&next);
            let queued = Arc::clone(&queued);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for _ in 0..PER_THREAD {
                    loop {
                        let mut n = next.lock().unwrap();
                        match handle.append(vec![txn(*n + 1)]) {
                            Ok(z) => {
                                *n += 1;
                                assert_eq!(z, *n);
                                queued.store(z, Ordering::SeqCst);
                                mine.push(z);
                                drop(n);
                                // Every 10th append waits, as a client would: more batches.
                                if mine.len() % 10 == 0 {
                                    assert!(handle.wait_durable(z, WAIT).unwrap() >= z);
                                }
                                break;
                            }
                            Err(LogError::QueueFull) => {
                                drop(n);
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                let last = *mine.last().unwrap();
                assert!(handle.wait_durable(last, WAIT).unwrap() >= last);
                done.fetch_add(1, Ordering::SeqCst);
                mine
            })
        })
        .collect();
    let mut all: Vec<Zxid> = appenders
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let observations = watcher.join().unwrap();
    assert!(observations > 0);
    all.sort_unstable();
    assert_eq!(all, (1..=TOTAL).collect::<Vec<_>>());
    assert_eq!(gc.durability(), Durability::Durable(TOTAL));
    let stats = gc.stats();
    eprintln!("{TOTAL} appends: {stats:?}");
    assert_eq!(stats.txns_durable, TOTAL);
    assert!(
        stats.batches >= 2,
        "appenders waited, so there were several batches: {stats:?}"
    );
    assert!(
        stats.fsyncs <= TOTAL / 4,
        "group commit should batch: {stats:?}"
    );
    // Zxid order is still enforced at the handle.
    assert!(matches!(
        gc.append(vec![txn(5)]),
        Err(LogError::ZxidOrder {
            last: TOTAL,
            got: 5
        })
    ));
    let mut log = gc.shutdown().unwrap();
    let got = read_all(&mut log);
    assert_eq!(got, (1..=TOTAL).map(txn).collect::<Vec<_>>());
    drop(log);
    let (mut log, rec) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!((rec.records, rec.last_zxid, rec.cut), (TOTAL, TOTAL, None));
    assert_eq!(read_all(&mut log).len(), TOTAL as usize);
}

#[test]
fn batches_preserve_order_with_truncate_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        segment_bytes: 256,
        preallocate_bytes: 512,
        force_sync: true,
    };
    let gc = start(dir.path(), opts.clone(), 64);
    for z in 1..=20 {
        gc.append(vec![txn(z)]).unwrap();
    }
    // Queued behind the appends: sees all of them.
    let reader = gc.read_from(0).unwrap().wait().unwrap();
    let got: Vec<Zxid> = reader.map(|t| t.unwrap().zxid).collect();
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
    // More appends, then a truncation queued behind them cuts back to 12.
    for z in 21..=25 {
        gc.append(vec![txn(z)]).unwrap();
    }
    let trunc = gc.truncate_after(12).unwrap();
    // Later appends must be above 12; 13 with new contents is fine.
    assert!(matches!(
        gc.append(vec![txn(12)]),
        Err(LogError::ZxidOrder { last: 12, got: 12 })
    ));
    let new13 = Txn::new(13, &b"after truncation"[..]);
    gc.append(vec![new13.clone()]).unwrap();
    assert_eq!(trunc.wait().unwrap(), 12);
    assert_eq!(gc.wait_durable(13, WAIT).unwrap(), 13);
    let mut log = gc.shutdown().unwrap();
    let mut expected: Vec<Txn> = (1..=12).map(txn).collect();
    expected.push(new13);
    assert_eq!(read_all(&mut log), expected);
    drop(log);
    let (mut log, rec) = TxnLog::open(dir.path(), opts).unwrap();
    assert_eq!(rec.cut, None);
    assert_eq!(read_all(&mut log), expected);
}

#[test]
fn async_waiters_see_durability() {
    let dir = tempfile::tempdir().unwrap();
    let gc = start(dir.path(), LogOptions::default(), 16);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = gc.handle();
    let z = rt.block_on(async move {
        handle.append(vec![txn(1), txn(2), txn(3)]).unwrap();
        handle.durable(3).await
    });
    assert_eq!(z.unwrap(), 3);
    assert_eq!(*gc.subscribe().borrow(), Durability::Durable(3));
}

/// A 256 KiB tmpfs mounted over a temporary directory, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().to_owned();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&path)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!("mount refused: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Some(Self { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // A concurrent test's fork may briefly hold a file open here (EBUSY): retry, then
        // detach lazily so no mount outlives the test.
        for _ in 0..20 {
            let ok = Command::new("umount").arg(&self.path).status();
            if ok.is_ok_and(|s| s.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[test]
fn full_disk_while_writing_records_fails_the_log() {
    // One segment bigger than the filesystem: the failing write is the batch's own.
    fill_disk(LogOptions {
        segment_bytes: 1 << 20,
        preallocate_bytes: 1 << 20,
        force_sync: true,
    });
}

#[test]
fn full_disk_while_creating_a_segment_fails_the_log() {
    // Small segments: the failing write may be a new segment's header.
    fill_disk(LogOptions {
        segment_bytes: 64 << 10,
        preallocate_bytes: 64 << 10,
        force_sync: true,
    });
}

/// Appends 4 KB txns one at a time, waiting for each, on a 256 KiB tmpfs until it is full.
fn fill_disk(opts: LogOptions) {
    let Some(fs) = Tmpfs::mount() else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let gc = start(&fs.path, opts.clone(), 16);
    let payload = vec![0x5au8; 4000];
    let mut acked = Vec::new();
    let mut failure = None;
    for z in 1..=200 {
        match gc.append(vec![Txn::new(z, payload.clone())]) {
            Ok(_) => {}
            Err(e) => panic!("append {z} refused before any failure was published: {e}"),
        }
        match gc.wait_durable(z, WAIT) {
            Ok(d) => {
                assert!(d >= z);
                acked.push(z);
            }
            Err(e) => {
                failure = Some((z, e));
                break;
            }
        }
    }
    let (failed_zxid, err) = failure.expect("a 256 KiB filesystem must fill up");
    let reason = match &err {
        LogError::Failed { reason } => reason.clone(),
        other => panic!("expected Failed, got {other:?}"),
    };
    eprintln!("failed at zxid {failed_zxid}: {reason}");
    assert!(reason.contains("No space left on device"), "{reason}");
    assert!(
        acked.len() > 10,
        "some txns fit before the disk filled: {acked:?}"
    );
    assert_eq!(acked, (1..failed_zxid).collect::<Vec<_>>());
    // The failed txn is never reported durable, and the log refuses all later writes.
    assert_eq!(gc.durability(), Durability::Failed(reason.clone()));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(gc.durability(), Durability::Failed(reason.clone()));
    assert!(matches!(
        gc.append(vec![Txn::new(failed_zxid + 1, &b"x"[..])]),
        Err(LogError::Failed { .. })
    ));
    assert!(matches!(gc.truncate_after(1), Err(LogError::Failed { .. })));
    assert!(matches!(
        gc.wait_durable(failed_zxid, WAIT),
        Err(LogError::Failed { .. })
    ));
    assert!(matches!(gc.shutdown(), Err(LogError::Failed { .. })));

    // After a restart, everything acknowledged is there, in order; a torn tail (if the
    // failed write left one) is cut.
    let (mut log, rec) = TxnLog::open(&fs.path, opts).unwrap();
    eprintln!("reopened: {rec:?}");
    let got: Vec<Zxid> = read_all(&mut log).iter().map(|t| t.zxid).collect();
    assert!(got.len() >= acked.len());
    assert_eq!(got[..acked.len()], acked[..]);
    drop(log);
    drop(fs);
}

#[test]
fn txn_log_refuses_everything_after_a_failed_write() {
    let Some(fs) = Tmpfs::mount() else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let opts = LogOptions {
        segment_bytes: 1 << 20,
        preallocate_bytes: 0,
        force_sync: true,
    };
    let (mut log, _) = TxnLog::open(&fs.path, opts).unwrap();
    let mut durable = 0;
    let mut failed_at = None;
    for z in 1..=200 {
        log.append(&[Txn::new(z, vec![1u8; 4000])]).unwrap();
        match log.sync() {
            Ok(d) => durable = d,
            Err(e) => {
                assert!(matches!(e, LogError::Io { op: "write", .. }), "{e}");
                failed_at = Some(z);
                break;
            }
        }
    }
    let failed_at = failed_at.expect("the filesystem must fill up");
    assert_eq!(durable, failed_at - 1);
    assert_eq!(log.durable_zxid(), failed_at - 1);
    assert!(log.failure().unwrap().contains("No space left on device"));
    // No retry: sync, append, truncate and purge all refuse now.
    assert!(matches!(log.sync(), Err(LogError::Failed { .. })));
    assert!(matches!(
        log.append(&[Txn::new(failed_at + 1, &b"x"[..])]),
        Err(LogError::Failed { .. })
    ));
    assert!(matches!(
        log.truncate_after(1),
        Err(LogError::Failed { .. })
    ));
    assert!(matches!(log.purge_before(1), Err(LogError::Failed { .. })));
    assert_eq!(log.durable_zxid(), failed_at - 1);
    drop(log);
    drop(fs);
}

#[test]
fn purge_through_the_queue_removes_only_segments_below_the_point() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        segment_bytes: 256,
        preallocate_bytes: 512,
        force_sync: true,
    };
    let gc = start(dir.path(), opts.clone(), 64);
    for z in 1..=40 {
        gc.append(vec![txn(z)]).unwrap();
    }
    assert_eq!(gc.wait_durable(40, WAIT).unwrap(), 40);
    // Queued behind the appends; every record >= 25 must survive it.
    let removed = gc.purge_before(25).unwrap().wait().unwrap();
    assert!(
        removed > 0,
        "small segments below zxid 25 exist and must go"
    );
    let mut log = gc.shutdown().unwrap();
    let left = read_all(&mut log);
    assert!(
        left.first().unwrap().zxid <= 25,
        "records from 25 on are kept: {:?}",
        left.first()
    );
    assert_eq!(left.last().unwrap().zxid, 40);
    assert!(
        left.windows(2).all(|w| w[1].zxid == w[0].zxid + 1),
        "no gap after a purge"
    );
}
