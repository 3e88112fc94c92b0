//! The tokio driver with real files in temp directories over the in-memory transport: three
//! servers elect, serve, replicate writes in one order, answer `sync`, survive a full
//! restart, catch a restarted follower up (DIFF and SNAP), and lose no applied write when
//! the leader dies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use zk_election::driver::{EpochStore, FileEpochStore};
use zk_election::{QuorumVerifier, ServerState};
use zk_transport::mem::{MemNetwork, MemTransport};
use zk_transport::{ChannelSpecs, PeerId, Transport};
use zk_zab::driver::{ClientError, ClientHandle, Driver, DriverConfig, DriverError};
use zk_zab::log::LogOptions;
use zk_zab::proto::{Phase, ServerConfig};
use zk_zab::state_machine::testing::{KvOutput, KvStateMachine};
use zk_zab::state_machine::{RestoreError, SnapshotSource, StateMachine};
use zk_zab::txn::{Txn, Zxid};

const IDS: [PeerId; 3] = [PeerId(1), PeerId(2), PeerId(3)];

/// What a [`Recorder`] saw, readable from the test while the driver owns the machine.
#[derive(Clone, Debug, Default)]
struct Seen {
    /// Every txn applied since the process (re)started, in order.
    applied: Vec<Txn>,
    /// The zxid of every snapshot restored (at start-up, or a leader's SNAP).
    restores: Vec<Zxid>,
    /// The map after the last apply or restore.
    map: BTreeMap<String, String>,
    /// How long each apply takes (to make a server lag).
    apply_delay: Duration,
}

/// A [`KvStateMachine`] that publishes what it does.
#[derive(Debug)]
struct Recorder {
    inner: KvStateMachine,
    seen: Arc<Mutex<Seen>>,
}

impl StateMachine for Recorder {
    type Output = KvOutput;

    fn apply(&mut self, txn: &Txn) -> KvOutput {
        let delay = self.seen.lock().unwrap().apply_delay;
        std::thread::sleep(delay);
        let out = self.inner.apply(txn);
        assert_eq!(out, KvOutput::Applied, "every test write applies");
        let mut s = self.seen.lock().unwrap();
        s.applied.push(txn.clone());
        s.map = self.inner.entries().clone();
        out
    }

    fn last_applied(&self) -> Zxid {
        self.inner.last_applied()
    }

    fn snapshot(&self) -> Box<dyn SnapshotSource> {
        self.inner.snapshot()
    }

    fn restore(&mut self, zxid: Zxid, image: Bytes) -> Result<(), RestoreError> {
        self.inner.restore(zxid, image)?;
        let mut s = self.seen.lock().unwrap();
        s.restores.push(zxid);
        s.map = self.inner.entries().clone();
        Ok(())
    }
}

struct Node {
    id: PeerId,
    data_dir: PathBuf,
    log_dir: PathBuf,
    client: ClientHandle,
    transport: MemTransport,
    task: JoinHandle<Result<(), DriverError>>,
    seen: Arc<Mutex<Seen>>,
}

impl Node {
    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    fn map(&self) -> BTreeMap<String, String> {
        self.seen.lock().unwrap().map.clone()
    }

    fn applied(&self) -> Zxid {
        *self.client.applied().borrow()
    }

    fn serving(&self) -> bool {
        self.client.status().borrow().phase == Phase::Broadcast
    }

    /// Stops the node like a crash of its process: links cut, task dropped.
    async fn stop(self) {
        self.transport.shutdown().await;
        self.task.abort();
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("driver {} failed: {e}", self.id),
            Err(e) => assert!(e.is_cancelled(), "driver {} panicked: {e}", self.id),
        }
    }
}

struct Cluster {
    net: MemNetwork,
    root: tempfile::TempDir,
    verifier: QuorumVerifier,
    /// Settings applied to every server's config.
    window: usize,
    snap_count: u64,
}

impl Cluster {
    fn new(window: usize, snap_count: u64) -> Self {
        Self {
            net: MemNetwork::new(),
            root: tempfile::tempdir().unwrap(),
            verifier: QuorumVerifier::majority(IDS, []).unwrap(),
            window,
            snap_count,
        }
    }

    fn start(&self, id: PeerId) -> Node {
        let mut server = ServerConfig::new(id, self.verifier.clone());
        server.tick = Duration::from_millis(100);
        server.init_limit = 20;
        server.sync_limit = 10;
        server.finalize_wait = Duration::from_millis(50);
        server.min_notification_interval = Duration::from_millis(50);
        server.max_notification_interval = Duration::from_millis(800);
        server.committed_log_window = self.window;
        let data_dir = self.root.path().join(format!("data{}", id.0));
        let log_dir = self.root.path().join(format!("log{}", id.0));
        let mut cfg = DriverConfig::new(server, data_dir.clone(), log_dir.clone());
        cfg.log = LogOptions {
            segment_bytes: 64 << 10,
            preallocate_bytes: 16 << 10,
            force_sync: false,
        };
        cfg.snap_count = self.snap_count;
        let (transport, inbound) = self.net.start(id, ChannelSpecs::default());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sm = Recorder {
            inner: KvStateMachine::new(),
            seen: Arc::clone(&seen),
        };
        let (driver, client) = Driver::open(cfg, transport.clone(), inbound, sm).unwrap();
        Node {
            id,
            data_dir,
            log_dir,
            client,
            transport,
            task: tokio::spawn(driver.run()),
            seen,
        }
    }

    fn start_all(&self) -> Vec<Node> {
        IDS.iter().map(|&id| self.start(id)).collect()
    }
}

/// Polls `f` every 20 ms until it returns `Some`, for at most 30 s.
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let wait = async {
        loop {
            if let Some(t) = f() {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), wait).await {
        Ok(t) => t,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Waits until every node in `nodes` serves under one leader among them; returns its index.
async fn serving(nodes: &[&Node]) -> usize {
    eventually("one leader, everyone serving", || {
        let st: Vec<_> = nodes
            .iter()
            .map(|n| n.client.status().borrow().clone())
            .collect();
        let leader = st[0].leader?;
        let all = st
            .iter()
            .all(|s| s.phase == Phase::Broadcast && s.leader == Some(leader));
        let idx = nodes.iter().position(|n| n.id == leader)?;
        (all && st[idx].state == ServerState::Leading).then_some(idx)
    })
    .await
}

fn payload(i: u32) -> String {
    format!("set k{i} {i}\nincr n")
}

/// Submits write `i` to `node`, retrying while the queue is full.
async fn write(node: &Node, i: u32) {
    loop {
        match node.client.write(payload(i)) {
            Ok(()) => return,
            Err(ClientError::Busy) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => panic!("write {i} to {}: {e}", node.id),
        }
    }
}

/// Whether `map` holds writes `0..n` exactly once each.
fn holds(map: &BTreeMap<String, String>, n: u32) -> bool {
    map.get("n").map(String::as_str) == Some(&n.to_string())
        && (0..n).all(|i| map.get(&format!("k{i}")) == Some(&i.to_string()))
}

async fn all_hold(nodes: &[&Node], n: u32) {
    eventually(&format!("{n} writes applied everywhere"), || {
        nodes.iter().all(|node| holds(&node.map(), n)).then_some(())
    })
    .await;
}

fn epochs(node: &Node) -> (u64, u64) {
    let e = FileEpochStore::open(&node.data_dir)
        .unwrap()
        .load()
        .unwrap();
    (e.accepted, e.current)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_replicate_in_one_order_and_sync_waits() {
    let c = Cluster::new(500, 1000);
    let nodes = c.start_all();
    let refs: Vec<&Node> = nodes.iter().collect();
    let l = serving(&refs).await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != l).collect();
    // Interleave writes to a follower (forwarded) and to the leader.
    for i in 0..40 {
        let to = if i % 2 == 0 { followers[0] } else { l };
        write(&nodes[to], i).await;
    }
    all_hold(&refs, 40).await;
    let orders: Vec<Vec<Txn>> = nodes.iter().map(|n| n.seen().applied).collect();
    assert_eq!(orders[0].len(), 40);
    assert_eq!(orders[0], orders[1], "same txns in the same order");
    assert_eq!(orders[0], orders[2], "same txns in the same order");
    assert!(orders[0].windows(2).all(|w| w[0].zxid < w[1].zxid));

    // sync on a follower: once it returns, the follower applied everything the leader had
    // applied when the sync was issued. The follower applies slowly, so it lags.
    let f = &nodes[followers[1]];
    f.seen.lock().unwrap().apply_delay = Duration::from_millis(5);
    for round in 0..5u32 {
        for i in 0..20 {
            write(&nodes[l], 40 + round * 20 + i).await;
        }
        let n = 60 + round * 20;
        eventually("leader applied the batch", || {
            holds(&nodes[l].map(), n).then_some(())
        })
        .await;
        let leader_applied = nodes[l].applied();
        assert!(!holds(&f.map(), n), "the follower should lag");
        let at = f.client.sync().await.unwrap();
        assert!(
            at >= leader_applied,
            "sync answered at {at:#x} before {leader_applied:#x}"
        );
        assert!(
            holds(&f.map(), n),
            "follower {} lacks writes after sync",
            f.id
        );
    }
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_restart_recovers_every_applied_write_and_the_epochs() {
    // A small snapCount: recovery starts from a background snapshot plus a log tail.
    let c = Cluster::new(500, 8);
    let nodes = c.start_all();
    let refs: Vec<&Node> = nodes.iter().collect();
    let l = serving(&refs).await;
    for i in 0..30 {
        write(&nodes[l], i).await;
    }
    all_hold(&refs, 30).await;
    let before = nodes[0].map();
    let epoch = nodes[0].client.status().borrow().current_epoch;
    assert!(epoch >= 1);
    let mut snapshots = 0;
    for n in &nodes {
        assert_eq!(epochs(n), (epoch, epoch), "epochs persisted on {}", n.id);
        snapshots += std::fs::read_dir(&n.data_dir)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                let name = name.to_string_lossy();
                name.starts_with("snapshot.") && name != "snapshot.0000000000000000"
            })
            .count();
        assert!(std::fs::read_dir(&n.log_dir).unwrap().count() > 0);
    }
    assert!(snapshots > 0, "background snapshots were written");
    for n in nodes {
        n.stop().await;
    }

    let nodes = c.start_all();
    let refs: Vec<&Node> = nodes.iter().collect();
    // Each restored a snapshot at start-up, at or below what it applied before.
    for n in &nodes {
        let seen = n.seen();
        assert_eq!(seen.restores.len(), 1);
    }
    let l = serving(&refs).await;
    all_hold(&refs, 30).await;
    for n in &nodes {
        assert_eq!(n.map(), before, "state of {} after restart", n.id);
    }
    let epoch2 = nodes[l].client.status().borrow().current_epoch;
    assert!(epoch2 > epoch, "a new epoch after the restart");
    // And the ensemble keeps serving writes on top.
    for i in 30..40 {
        write(&nodes[l], i).await;
    }
    all_hold(&refs, 40).await;
    for n in &nodes {
        assert_eq!(epochs(n), (epoch2, epoch2));
    }
    for n in nodes {
        n.stop().await;
    }
}

/// Stops a follower, writes on, restarts it and checks it catches up; then restarts it once
/// more to check what it logged while catching up is a consistent history. Returns the
/// zxids of the snapshots the follower restored on its first restart.
async fn follower_catches_up(window: usize) -> Vec<Zxid> {
    let c = Cluster::new(window, 1000);
    let mut nodes: Vec<Option<Node>> = c.start_all().into_iter().map(Some).collect();
    let refs: Vec<&Node> = nodes.iter().flatten().collect();
    let l = serving(&refs).await;
    let leader_id = refs[l].id;
    for i in 0..10 {
        write(refs[l], i).await;
    }
    all_hold(&refs, 10).await;
    let f = (0..3).find(|&i| i != l).unwrap();
    nodes[f].take().unwrap().stop().await;
    {
        let leader = nodes[l].as_ref().unwrap();
        eventually("leader still serving", || leader.serving().then_some(())).await;
        for i in 10..40 {
            write(leader, i).await;
        }
        let others: Vec<&Node> = nodes.iter().flatten().collect();
        all_hold(&others, 40).await;
    }
    nodes[f] = Some(c.start(IDS[f]));
    let refs: Vec<&Node> = nodes.iter().flatten().collect();
    let l2 = serving(&refs).await;
    assert_eq!(refs[l2].id, leader_id, "the leader kept leading");
    all_hold(&refs, 40).await;
    let restores = nodes[f].as_ref().unwrap().seen().restores;
    assert_eq!(
        nodes[f].as_ref().unwrap().map(),
        nodes[l].as_ref().unwrap().map()
    );

    // More writes, logged by the follower after its sync; then restart it again: its
    // snapshot + log must recover cleanly (no gap, nothing applied twice), and the
    // ensemble keeps serving writes sent to it.
    for i in 40..50 {
        write(nodes[l].as_ref().unwrap(), i).await;
    }
    all_hold(&refs, 50).await;
    nodes[f].take().unwrap().stop().await;
    nodes[f] = Some(c.start(IDS[f]));
    let refs: Vec<&Node> = nodes.iter().flatten().collect();
    serving(&refs).await;
    for i in 50..60 {
        write(nodes[f].as_ref().unwrap(), i).await;
    }
    all_hold(&refs, 60).await;
    for n in nodes.into_iter().flatten() {
        n.stop().await;
    }
    restores
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_follower_catches_up_by_diff() {
    let restores = follower_catches_up(500).await;
    assert_eq!(
        restores.len(),
        1,
        "only the start-up restore: a DIFF, no SNAP ({restores:x?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_follower_catches_up_by_snap() {
    // A tiny in-memory window: the leader cannot DIFF 30 txns and sends a SNAP.
    let restores = follower_catches_up(4).await;
    assert_eq!(restores.len(), 2, "a SNAP was installed ({restores:x?})");
    assert!(restores[1] > restores[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_stopped_mid_stream_loses_no_applied_write() {
    let c = Cluster::new(500, 1000);
    let mut nodes: Vec<Option<Node>> = c.start_all().into_iter().map(Some).collect();
    let refs: Vec<&Node> = nodes.iter().flatten().collect();
    let l = serving(&refs).await;
    let old_leader = refs[l].id;
    let leader_client = refs[l].client.clone();
    // A stream of writes to the leader, until it stops taking them.
    let stream = tokio::spawn(async move {
        let mut i = 0u32;
        loop {
            match leader_client.write(payload(i)) {
                Ok(()) => i += 1,
                Err(ClientError::Busy) => {}
                Err(_) => return i,
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    eventually("writes flowing", || {
        nodes
            .iter()
            .flatten()
            .all(|n| n.seen().applied.len() >= 30)
            .then_some(())
    })
    .await;
    let leader = nodes[l].take().unwrap();
    leader.stop().await;
    let submitted = stream.await.unwrap();
    // Everything applied anywhere (a fortiori on a quorum) was committed.
    let mut committed: BTreeMap<Zxid, Txn> = BTreeMap::new();
    let mut on_quorum = 0;
    for n in nodes.iter().flatten() {
        let seen = n.seen().applied;
        on_quorum = on_quorum.max(seen.len());
        for t in seen {
            committed.insert(t.zxid, t);
        }
    }
    assert!(on_quorum >= 30);
    let refs: Vec<&Node> = nodes.iter().flatten().collect();
    let l2 = serving(&refs).await;
    assert_ne!(refs[l2].id, old_leader, "a new leader among the survivors");
    let want = committed.len();
    eventually("survivors applied everything committed before", || {
        refs.iter()
            .all(|n| n.seen().applied.len() >= want)
            .then_some(())
    })
    .await;
    for n in &refs {
        let seen = n.seen().applied;
        for (i, t) in committed.values().enumerate() {
            assert_eq!(&seen[i], t, "{} lost or reordered a committed txn", n.id);
        }
    }
    // The survivors serve new writes, in one order.
    let base = submitted + 1000;
    for i in 0..10 {
        write(refs[l2], base + i).await;
    }
    eventually("new writes applied on both survivors", || {
        refs.iter()
            .all(|n| (0..10).all(|i| n.map().contains_key(&format!("k{}", base + i))))
            .then_some(())
    })
    .await;
    let a = refs[0].seen().applied;
    let b = refs[1].seen().applied;
    let common = a.len().min(b.len());
    assert_eq!(a[..common], b[..common], "survivors applied one order");
    let n = refs[0].map().get("n").cloned();
    eventually("counters agree", || {
        (refs[0].map().get("n") == refs[1].map().get("n")).then_some(())
    })
    .await;
    assert!(n.is_some());
    for n in nodes.into_iter().flatten() {
        n.stop().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn open_fails_with_the_path_and_the_cause() {
    let c = Cluster::new(500, 1000);
    // A log directory with a damaged segment: start-up stops with the log's own error.
    let log_dir = c.root.path().join("log1");
    std::fs::create_dir_all(&log_dir).unwrap();
    std::fs::write(
        log_dir.join("log.0000000000000001"),
        b"not a segment at all",
    )
    .unwrap();
    let mut server = ServerConfig::new(IDS[0], c.verifier.clone());
    server.tick = Duration::from_millis(100);
    let cfg = DriverConfig::new(server, c.root.path().join("data1"), log_dir.clone());
    let (transport, inbound) = c.net.start(IDS[0], ChannelSpecs::default());
    let sm = Recorder {
        inner: KvStateMachine::new(),
        seen: Arc::default(),
    };
    let err = Driver::open(cfg, transport, inbound, sm).unwrap_err();
    assert!(matches!(err, DriverError::Log { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("log.0000000000000001"), "{text}");
    assert!(text.contains(&log_dir.display().to_string()), "{text}");
}

/// ZOOKEEPER-1653: epoch files that disagree must not stop start-up or weaken the epoch
/// rule. A leftover temp file from a crash mid-write is ignored (the old value stands), and
/// an `acceptedEpoch` below `currentEpoch` is raised to it before anything is acknowledged.
#[tokio::test(flavor = "current_thread")]
async fn zookeeper_1653_inconsistent_epoch_files_are_repaired_on_open() {
    let c = Cluster::new(500, 1000);
    let data_dir = c.root.path().join("data1");
    let mut store = FileEpochStore::open(&data_dir).unwrap();
    store.save_current(7).unwrap();
    store.save_accepted(3).unwrap();
    std::fs::write(data_dir.join("currentEpoch.tmp"), b"garbage from a crash").unwrap();
    let mut server = ServerConfig::new(IDS[0], c.verifier.clone());
    server.tick = Duration::from_millis(100);
    let cfg = DriverConfig::new(server, data_dir.clone(), c.root.path().join("log1"));
    let (transport, inbound) = c.net.start(IDS[0], ChannelSpecs::default());
    let sm = Recorder {
        inner: KvStateMachine::new(),
        seen: Arc::default(),
    };
    let (_driver, client) = Driver::open(cfg, transport, inbound, sm).unwrap();
    let epochs = FileEpochStore::open(&data_dir).unwrap().load().unwrap();
    assert_eq!((epochs.accepted, epochs.current), (7, 7));
    let status = client.status().borrow().clone();
    assert_eq!((status.accepted_epoch, status.current_epoch), (7, 7));
}

/// Epoch files lost while the log holds transactions of epoch 2 (a restored data directory):
/// the epochs are derived from the newest transaction, not read as 0.
#[tokio::test(flavor = "current_thread")]
async fn missing_epoch_files_are_derived_from_the_newest_transaction() {
    use zk_zab::log::TxnLog;
    use zk_zab::snapshot::SnapshotStore;
    use zk_zab::txn::make_zxid;
    let c = Cluster::new(500, 1000);
    let data_dir = c.root.path().join("data1");
    let log_dir = c.root.path().join("log1");
    let store = SnapshotStore::open(&data_dir).unwrap();
    store.save(&mut *KvStateMachine::new().snapshot()).unwrap();
    let (mut log, _) = TxnLog::open(&log_dir, LogOptions::default()).unwrap();
    log.append(&[
        Txn::new(make_zxid(2, 1), &b"set a 1"[..]),
        Txn::new(make_zxid(2, 2), &b"set b 2"[..]),
    ])
    .unwrap();
    log.sync().unwrap();
    drop(log);
    let mut server = ServerConfig::new(IDS[0], c.verifier.clone());
    server.tick = Duration::from_millis(100);
    let cfg = DriverConfig::new(server, data_dir.clone(), log_dir);
    let (transport, inbound) = c.net.start(IDS[0], ChannelSpecs::default());
    let sm = Recorder {
        inner: KvStateMachine::new(),
        seen: Arc::default(),
    };
    let (_driver, client) = Driver::open(cfg, transport, inbound, sm).unwrap();
    let epochs = FileEpochStore::open(&data_dir).unwrap().load().unwrap();
    assert_eq!((epochs.accepted, epochs.current), (2, 2));
    let status = client.status().borrow().clone();
    assert_eq!((status.accepted_epoch, status.current_epoch), (2, 2));
}
