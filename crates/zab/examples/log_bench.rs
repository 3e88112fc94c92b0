//! Transaction log benchmark on this machine's disk.
//!
//! 1. Raw fsync latency: 4 KiB appended to a preallocated file, then `fdatasync`, N times;
//!    prints p50/p99/max.
//! 2. Group commit: 1, 8 and 32 appenders, each in a closed loop (append one 100-byte txn,
//!    wait until it is durable, repeat) against one [`GroupCommit`] with fsync on; prints
//!    txns/s, fsyncs/s and txns per fsync.
//!
//! Runs in a temporary directory under the current directory, so it measures the disk the
//! command runs on. `cargo run --release -p zk-zab --example log_bench [seconds per run]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zk_zab::log::{CommitOptions, GroupCommit, LogError, LogOptions, TxnLog};
use zk_zab::txn::Txn;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn raw_fsync(dir: &std::path::Path, n: usize) {
    let path = dir.join("raw");
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .unwrap();
    file.set_len((n as u64 + 1) * 4096).unwrap();
    file.sync_all().unwrap();
    let block = vec![0xabu8; 4096];
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "raw fsync (4 KiB write + fdatasync, preallocated file), n={n}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3,
    );
}

fn group_commit(dir: &std::path::Path, appenders: usize, run: Duration) {
    let sub = dir.join(format!("gc{appenders}"));
    let (log, _) = TxnLog::open(&sub, LogOptions::default()).unwrap();
    let gc = GroupCommit::start(log, CommitOptions::default()).unwrap();
    let next = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let payload = bytes::Bytes::from(vec![0x42u8; 100]);
    let before = gc.stats();
    let started = Instant::now();
    let threads: Vec<_> = (0..appenders)
        .map(|_| {
            let handle = gc.handle();
            let (next, stop, done, payload) = (
                Arc::clone(&next),
                Arc::clone(&stop),
                Arc::clone(&done),
                payload.clone(),
            );
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let z = loop {
                        let mut n = next.lock().unwrap();
                        match handle.append(vec![Txn::new(*n + 1, payload.clone())]) {
                            Ok(z) => {
                                *n = z;
                                break z;
                            }
                            Err(LogError::QueueFull) => {
                                drop(n);
                                std::thread::yield_now();
                            }
                            Err(e) => panic!("{e}"),
                        }
                    };
                    handle.wait_durable(z, Duration::from_secs(60)).unwrap();
                    lat.push(t.elapsed());
                    done.fetch_add(1, Ordering::Relaxed);
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(run);
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let after = gc.stats();
    gc.shutdown().unwrap();
    lat.sort();
    let txns = done.load(Ordering::Relaxed) as f64;
    let fsyncs = (after.fsyncs - before.fsyncs) as f64;
    println!(
        "group commit, {appenders:>2} appenders, 100-byte txns, fsync on: {:>8.0} txns/s, {:>6.0} fsyncs/s, {:>5.1} txns/fsync, latency p50 {:.2} ms p99 {:.2} ms",
        txns / elapsed,
        fsyncs / elapsed,
        if fsyncs > 0.0 { txns / fsyncs } else { 0.0 },
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
    );
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::Builder::new()
        .prefix(".log_bench")
        .tempdir_in(".")
        .unwrap();
    println!("directory: {}", dir.path().display());
    raw_fsync(dir.path(), 1000);
    for appenders in [1, 8, 32] {
        group_commit(dir.path(), appenders, Duration::from_secs(secs));
    }
}
