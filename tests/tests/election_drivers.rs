//! The election driver over real transports: the in-memory backend wrapped in the fault layer
//! (partitions), and the TCP backend (a leader that dies).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zk_election::driver::{Driver, MemEpochStore};
use zk_election::{PeerConfig, QuorumVerifier, ServerState, Status};
use zk_transport::fault::{FaultPlan, Faulty};
use zk_transport::mem::MemNetwork;
use zk_transport::{ChannelSpecs, PeerId, Transport};
use zk_transport_tcp::{PeerAddrs, TcpBackend, TcpConfig};

const IDS: [PeerId; 3] = [PeerId(1), PeerId(2), PeerId(3)];

fn config(me: PeerId) -> PeerConfig {
    let mut c = PeerConfig::new(me, QuorumVerifier::majority(IDS, []).unwrap());
    c.tick = Duration::from_millis(100);
    c
}

/// Wait until the given nodes agree on one established leader; returns (leader, epoch).
async fn agreed(
    status: &BTreeMap<PeerId, watch::Receiver<Status>>,
    nodes: &[PeerId],
    within: Duration,
) -> (PeerId, u64) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let snap: Vec<Status> = nodes.iter().map(|n| status[n].borrow().clone()).collect();
        let leaders: Vec<&Status> = snap
            .iter()
            .filter(|s| s.state == ServerState::Leading)
            .collect();
        if let [l] = leaders.as_slice()
            && let Some(epoch) = l.established_epoch
            && snap
                .iter()
                .all(|s| s.leader == Some(l.me) && s.established_epoch == Some(epoch))
        {
            return (l.me, epoch);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no agreement among {nodes:?} within {within:?}: {snap:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn partitioned_leader_steps_down_and_rejoins_after_heal() {
    let net = MemNetwork::new();
    let plan = FaultPlan::new(7);
    let mut status = BTreeMap::new();
    let mut tasks: Vec<JoinHandle<_>> = Vec::new();
    for id in IDS {
        let (tx, rx) = net.start(id, ChannelSpecs::default());
        let driver = Driver::new(
            config(id),
            Faulty::new(tx, plan.clone()),
            rx,
            MemEpochStore::default(),
        );
        status.insert(id, driver.status());
        tasks.push(tokio::spawn(driver.run()));
    }
    let (first, epoch1) = agreed(&status, &IDS, Duration::from_secs(30)).await;
    // Cut the leader off: frames are silently lost, links stay up, only heartbeats can tell.
    let others: Vec<PeerId> = IDS.into_iter().filter(|&p| p != first).collect();
    plan.isolate(first, &others);
    let (second, epoch2) = agreed(&status, &others, Duration::from_secs(30)).await;
    assert_ne!(second, first);
    assert!(
        epoch2 > epoch1,
        "the new leader's epoch {epoch2} must exceed {epoch1}"
    );
    // The isolated leader cannot hear a quorum: it must have stopped leading.
    assert_ne!(
        status[&first].borrow().state,
        ServerState::Leading,
        "an isolated leader kept leading"
    );
    plan.heal();
    let (leader, epoch) = agreed(&status, &IDS, Duration::from_secs(30)).await;
    assert_eq!(
        (leader, epoch),
        (second, epoch2),
        "after the heal the old leader follows the new one"
    );
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tcp_a_dead_leader_is_replaced_and_comes_back_as_follower() {
    let ports: Vec<(u16, u16)> = IDS
        .iter()
        .map(|_| (zk_tests::ports::free_port(), zk_tests::ports::free_port()))
        .collect();
    let peers: BTreeMap<PeerId, PeerAddrs> = IDS
        .iter()
        .zip(&ports)
        .map(|(&id, (e, q))| {
            (
                id,
                PeerAddrs::new(format!("127.0.0.1:{e}"), format!("127.0.0.1:{q}")),
            )
        })
        .collect();
    let stores: BTreeMap<PeerId, MemEpochStore> = IDS
        .iter()
        .map(|&id| (id, MemEpochStore::default()))
        .collect();
    let mut status = BTreeMap::new();
    let mut nodes = BTreeMap::new();
    for id in IDS {
        let (tx, rx) = TcpBackend::start(TcpConfig::new(id, peers.clone()))
            .await
            .unwrap();
        let driver = Driver::new(config(id), tx.clone(), rx, stores[&id].clone());
        status.insert(id, driver.status());
        nodes.insert(id, (tx, tokio::spawn(driver.run())));
    }
    let (first, epoch1) = agreed(&status, &IDS, Duration::from_secs(30)).await;
    assert_eq!(
        first,
        PeerId(3),
        "equal epochs and zxids: the largest id leads"
    );
    let (tx, task) = nodes.remove(&first).unwrap();
    tx.shutdown().await;
    task.abort();
    let others: Vec<PeerId> = IDS.into_iter().filter(|&p| p != first).collect();
    let (second, epoch2) = agreed(&status, &others, Duration::from_secs(30)).await;
    assert_ne!(second, first);
    assert!(epoch2 > epoch1);
    // Restart the dead node with its durable epochs: it joins the established leader.
    let mut cfg = config(first);
    let epochs = stores[&first].epochs();
    cfg.accepted_epoch = epochs.accepted;
    cfg.current_epoch = epochs.current;
    let (tx, rx) = TcpBackend::start(TcpConfig::new(first, peers.clone()))
        .await
        .unwrap();
    let driver = Driver::new(cfg, tx.clone(), rx, stores[&first].clone());
    status.insert(first, driver.status());
    nodes.insert(first, (tx, tokio::spawn(driver.run())));
    let (leader, epoch) = agreed(&status, &IDS, Duration::from_secs(30)).await;
    assert_eq!((leader, epoch), (second, epoch2));
    for (_, (tx, task)) in nodes {
        tx.shutdown().await;
        task.abort();
    }
}
