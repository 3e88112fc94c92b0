//! Replication across real `zk-server` processes, through ZooKeeper's client protocol on
//! each server's client port (`zk_tests::process::TestClient`): acknowledged writes
//! survive `kill -9` of the leader and of the whole ensemble, a follower catches up by DIFF
//! or SNAP, and the client port shrugs off hostile clients. Every node fsyncs (`forceSync=yes`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use zk_tests::process::{Digest, TestClient};
use zk_tests::{Ensemble, EnsembleSpec};

const BIN: &str = env!("CARGO_BIN_EXE_zk-server");
/// Generous: elections take about a second here, but CI machines get busy.
const ELECT: Duration = Duration::from_secs(40);
/// The committed-log window of these ensembles: a learner behind by fewer txns gets a DIFF,
/// one behind by more a SNAP.
const WINDOW: usize = 100;

fn start(voters: u64) -> Ensemble {
    let spec = EnsembleSpec {
        extra: format!("forceSync=yes\nzkrs.committedLogWindow={WINDOW}\n"),
        ..EnsembleSpec::voters(voters)
    };
    assert_eq!(spec.tick_ms, 200);
    Ensemble::start(std::path::Path::new(BIN), &spec).expect("start the ensemble")
}

/// Acknowledged writes: key to value.
type Acked = BTreeMap<String, String>;

/// `count` writes of unique keys `{prefix}{i}`, round-robin over `ids`, each acknowledged.
fn write_all(e: &Ensemble, ids: &[u64], prefix: &str, count: usize, acked: &mut Acked) {
    let mut clients: Vec<TestClient> = ids
        .iter()
        .map(|&id| TestClient::connect(e.node(id).client_port).unwrap())
        .collect();
    for i in 0..count {
        let (key, value) = (format!("{prefix}{i}"), format!("value-{prefix}{i}"));
        let n = i % clients.len();
        clients[n]
            .set(&key, &value)
            .unwrap_or_else(|err| panic!("{key} on node {}: {err:#}", ids[n]));
        acked.insert(key, value);
    }
}

/// Every acknowledged key holds its value on node `id`, after a `SYNC` there.
fn assert_has_all(e: &Ensemble, id: u64, acked: &Acked) {
    let zxid = retry(Duration::from_secs(20), || e.sync(id))
        .unwrap_or_else(|err| panic!("SYNC on node {id}: {err:#}\n{}", e.log_tails(&[id])));
    let mut c = TestClient::connect(e.node(id).client_port).unwrap();
    let missing: Vec<(&String, Option<String>)> = acked
        .iter()
        .map(|(k, v)| (k, v, c.get(k).unwrap()))
        .filter(|(_, v, got)| got.as_deref() != Some(v.as_str()))
        .map(|(k, _, got)| (k, got))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "node {id} (synced at {zxid:#x}) lacks acknowledged writes (first 10, with what it holds): {missing:?}"
    );
}

/// Retry `f` until it succeeds or `within` passes; the last error otherwise.
fn retry<T>(within: Duration, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + within;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Waits until every listed node reports the same keys and values after a `sync`; returns
/// the first node's digest. (Zxids differ: each check opens and closes a session, which
/// are transactions too.)
fn assert_digests_agree(e: &Ensemble, ids: &[u64]) -> Digest {
    let mut last = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        last = ids
            .iter()
            .map(|&id| {
                TestClient::connect(e.node(id).client_port)
                    .and_then(|mut c| c.sync().and_then(|_| c.digest()))
                    .map_err(|e| e.to_string())
            })
            .collect::<Vec<_>>();
        if let Some(Ok(first)) = last.first()
            && last.iter().all(|d| {
                d.as_ref()
                    .is_ok_and(|d| (d.keys, d.hash) == (first.keys, first.hash))
            })
        {
            return *first;
        }
        thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "digests of {ids:?} never agreed: {last:?}\n{}",
        e.log_tails(ids)
    );
}

/// A thread writing unique keys round-robin over `ports` until stopped, recording every `OK`.
struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
    handle: thread::JoinHandle<u64>,
}

impl Writer {
    fn start(ports: Vec<u16>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Acked::new()));
        let (s, a) = (Arc::clone(&stop), Arc::clone(&acked));
        let handle = thread::spawn(move || {
            let mut clients: Vec<Option<TestClient>> = ports.iter().map(|_| None).collect();
            let mut attempts = 0u64;
            let mut i = 0usize;
            while !s.load(Ordering::SeqCst) {
                let n = i % ports.len();
                let (key, value) = (format!("stream{i}"), format!("v{i}-via{n}"));
                i += 1;
                attempts += 1;
                if clients[n].is_none() {
                    clients[n] = TestClient::connect_timeout(ports[n], Duration::from_secs(3)).ok();
                }
                let Some(c) = clients[n].as_mut() else {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                };
                match c.set(&key, &value) {
                    Ok(_) => {
                        a.lock().unwrap().insert(key, value);
                    }
                    Err(_) => {
                        // Not serving, timed out or gone: this write is unacknowledged
                        // (it may or may not be applied); start over on a fresh connection.
                        clients[n] = None;
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            attempts
        });
        Self {
            stop,
            acked,
            handle,
        }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until at least `n` writes were acknowledged.
    fn wait_for(&self, n: usize, within: Duration, e: &Ensemble, ids: &[u64]) {
        let deadline = Instant::now() + within;
        while self.acked_count() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} writes acknowledged within {within:?}\n{}",
                self.acked_count(),
                e.log_tails(ids)
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(self) -> (Acked, u64) {
        self.stop.store(true, Ordering::SeqCst);
        let attempts = self.handle.join().unwrap();
        let acked = self.acked.lock().unwrap().clone();
        (acked, attempts)
    }
}

#[test]
fn process_leader_kill9_during_writes_loses_no_acknowledged_write() {
    let mut e = start(3);
    let all = [1, 2, 3];
    let leader = e.wait_for_single_leader(&all, ELECT).unwrap();
    let ports: Vec<u16> = all.iter().map(|&id| e.node(id).client_port).collect();
    let writer = Writer::start(ports);
    writer.wait_for(40, Duration::from_secs(20), &e, &all);

    e.kill9(leader);
    let before_kill = writer.acked_count();
    let survivors: Vec<u64> = all.iter().copied().filter(|&id| id != leader).collect();
    let second = e.wait_for_single_leader(&survivors, ELECT).unwrap();
    assert_ne!(second, leader);
    // The stream goes on through the new leader.
    writer.wait_for(before_kill + 30, Duration::from_secs(20), &e, &survivors);
    let (acked, attempts) = writer.stop();
    assert!(acked.len() >= before_kill + 30, "{} acked", acked.len());
    eprintln!(
        "{} of {attempts} writes acknowledged, {before_kill} before the kill",
        acked.len()
    );

    for &id in &survivors {
        assert_has_all(&e, id, &acked);
    }
    assert_digests_agree(&e, &survivors);

    e.start_node(leader).unwrap();
    assert_eq!(e.wait_for_single_leader(&all, ELECT).unwrap(), second);
    assert_has_all(&e, leader, &acked);
    let d = assert_digests_agree(&e, &all);
    assert!(d.keys as usize >= acked.len(), "{d:?}");
}

/// Writes through every node, stops the whole ensemble with `stop`, restarts it: every
/// acknowledged write is back on every node and the digests agree.
fn stop_all_and_restart(stop: impl Fn(&mut Ensemble, u64)) {
    let mut e = start(3);
    let all = [1, 2, 3];
    e.wait_for_single_leader(&all, ELECT).unwrap();
    let mut acked = Acked::new();
    write_all(&e, &all, "before", 60, &mut acked);
    let before = assert_digests_agree(&e, &all);
    // The last write was acknowledged just now: stop at once.
    write_all(&e, &all, "last", 1, &mut acked);
    for id in all {
        stop(&mut e, id);
    }
    for id in all {
        e.start_node(id).unwrap();
    }
    e.wait_for_single_leader(&all, ELECT).unwrap();
    for id in all {
        assert_has_all(&e, id, &acked);
    }
    let after = assert_digests_agree(&e, &all);
    assert_eq!(after.keys as usize, acked.len(), "{after:?}");
    assert!(after.zxid > before.zxid, "{before:?} -> {after:?}");

    // And the restarted ensemble takes new writes.
    write_all(&e, &all, "after", 6, &mut acked);
    for id in all {
        assert_has_all(&e, id, &acked);
    }
}

#[test]
fn process_all_nodes_kill9_then_restart_keep_every_acknowledged_write() {
    stop_all_and_restart(|e, id| e.kill9(id));
}

#[test]
fn process_all_nodes_sigterm_then_restart_keep_every_acknowledged_write() {
    stop_all_and_restart(|e, id| {
        assert!(
            e.terminate(id).unwrap(),
            "node {id} exits cleanly on SIGTERM"
        );
    });
}

/// A follower is down while `behind` writes happen; it comes back with everything. Returns
/// whether it installed a snapshot from the leader to get there.
fn follower_down_for(behind: usize) -> bool {
    let mut e = start(3);
    let all = [1, 2, 3];
    let leader = e.wait_for_single_leader(&all, ELECT).unwrap();
    let follower = all.iter().copied().find(|&id| id != leader).unwrap();
    let up: Vec<u64> = all.iter().copied().filter(|&id| id != follower).collect();
    let mut acked = Acked::new();
    write_all(&e, &all, "early", 5, &mut acked);
    assert_has_all(&e, follower, &acked);

    e.kill9(follower);
    let snapshots_before = e.snapshots(follower).unwrap();
    write_all(&e, &up, "missed", behind, &mut acked);
    e.start_node(follower).unwrap();
    assert_eq!(e.wait_for_single_leader(&all, ELECT).unwrap(), leader);
    assert_has_all(&e, follower, &acked);
    assert_digests_agree(&e, &all);

    let new_snapshots: Vec<String> = e
        .snapshots(follower)
        .unwrap()
        .difference(&snapshots_before)
        .cloned()
        .collect();
    let logged = e.installed_snapshot(follower);
    assert_eq!(
        !new_snapshots.is_empty(),
        logged,
        "a snapshot file appears exactly when the log says a SNAP was installed: {new_snapshots:?}"
    );
    // Keeps working afterwards.
    write_all(&e, &all, "later", 3, &mut acked);
    assert_has_all(&e, follower, &acked);
    logged
}

#[test]
fn process_follower_briefly_down_catches_up_by_diff() {
    assert!(
        !follower_down_for(50),
        "50 txns behind with a {WINDOW}-txn window: a DIFF, not a SNAP"
    );
}

#[test]
fn process_follower_long_down_catches_up_by_snap() {
    assert!(
        follower_down_for(WINDOW + 50),
        "{} txns behind with a {WINDOW}-txn window: a SNAP",
        WINDOW + 50
    );
}

/// Whether the server closes `s` (end of stream or reset) within a few seconds.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match std::io::Read::read(s, &mut buf) {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
}

#[test]
fn process_client_port_survives_hostile_clients() {
    let mut e = start(3);
    let all = [1, 2, 3];
    e.wait_for_single_leader(&all, ELECT).unwrap();
    let port = e.node(1).client_port;
    let mut c = TestClient::connect(port).unwrap();
    assert!(c.set("k", "a value with spaces").unwrap() > 0);
    let raw = || TcpStream::connect(("127.0.0.1", port)).unwrap();

    // A connect frame of garbage, a length beyond jute.maxbuffer, a negative length:
    // each connection is closed.
    for bytes in [
        b"\x00\x00\x00\x08garbage!".to_vec(),
        0x0100_0000_i32.to_be_bytes().to_vec(),
        (-5_i32).to_be_bytes().to_vec(),
    ] {
        let mut s = raw();
        s.write_all(&bytes).unwrap();
        assert!(closed_by_server(&mut s), "{bytes:?} was not refused");
    }
    // After a good handshake, a request with an unknown opcode, and one whose body is
    // cut short: closed too.
    for body in [
        [&1_i32.to_be_bytes()[..], &999_i32.to_be_bytes()[..]].concat(),
        [
            &1_i32.to_be_bytes()[..],
            &4_i32.to_be_bytes()[..],
            &[0, 0, 0, 9, b'/'],
        ]
        .concat(),
    ] {
        let mut bad = TestClient::connect(port).unwrap();
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        bad.send_raw(&frame).unwrap();
        assert!(
            bad.call(&zk_jute::Request::Ping).is_err(),
            "{body:?} was answered"
        );
    }
    // Half a frame, then gone; connected and closed at once; many sessions at once
    // (below maxClientCnxns, 60 per address by default).
    let mut half = raw();
    half.write_all(&[0, 0, 0, 40, 0, 0]).unwrap();
    drop(half);
    drop(raw());
    let mut many: Vec<TestClient> = (0..40)
        .map(|_| TestClient::connect(port).unwrap())
        .collect();
    for m in &mut many {
        assert_eq!(m.get("k").unwrap().as_deref(), Some("a value with spaces"));
    }
    drop(many);

    // The server still serves, and so do the others.
    assert!(e.is_running(1));
    assert_eq!(c.get("k").unwrap().as_deref(), Some("a value with spaces"));
    let mut acked = Acked::from([("k".to_string(), "a value with spaces".to_string())]);
    write_all(&e, &all, "after", 6, &mut acked);
    for id in all {
        assert_has_all(&e, id, &acked);
    }
    assert_digests_agree(&e, &all);
}

/// A tmpfs of a fixed size, unmounted (lazily) on drop. Mounting needs root, which CI has.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs at {} needs root",
            dir.display()
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A server whose transaction log runs out of space stops, as ZooKeeper does on an
/// unrecoverable log error, and says why; the rest of the ensemble keeps committing and
/// nothing acknowledged is lost.
#[test]
fn process_full_disk_stops_that_server_and_the_others_keep_serving() {
    let mut e = start(3);
    let leader = e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap();
    let victim = (1..=3).find(|&id| id != leader).unwrap();
    let others: Vec<u64> = (1..=3).filter(|&id| id != victim).collect();
    // Move the victim's transaction log to a 256 KiB disk.
    e.kill9(victim);
    let small = e.dir.path().join("small-disk");
    let _disk = Tmpfs::mount(&small, "256k");
    let mut cfg = std::fs::OpenOptions::new()
        .append(true)
        .open(&e.node(victim).config)
        .unwrap();
    writeln!(cfg, "dataLogDir={}", small.display()).unwrap();
    drop(cfg);
    e.start_node(victim).unwrap();
    e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap();
    // 8 KiB values fill the small disk after about thirty writes.
    let value = "x".repeat(8 * 1024);
    let mut acked = Acked::new();
    let mut client = TestClient::connect(e.node(leader).client_port).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    while e.is_running(victim) {
        assert!(
            Instant::now() < deadline,
            "node {victim} kept running with a full log disk after {i} writes\n{}",
            e.log_tails(&[victim])
        );
        let key = format!("big{i}");
        client
            .set(&key, &value)
            .unwrap_or_else(|err| panic!("{key}: {err:#}"));
        acked.insert(key, value.clone());
        i += 1;
    }
    let log = std::fs::read_to_string(&e.node(victim).log).unwrap();
    assert!(
        log.contains("No space left on device"),
        "node {victim} stopped without naming the full disk:\n{}",
        e.log_tails(&[victim])
    );
    write_all(&e, &others, "after", 10, &mut acked);
    for &id in &others {
        assert_has_all(&e, id, &acked);
    }
    assert_digests_agree(&e, &others);
}
