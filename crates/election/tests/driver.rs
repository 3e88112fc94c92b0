//! The tokio driver over the in-memory transport: three servers elect and establish a leader.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;
use zk_election::driver::{Driver, EpochStore, MemEpochStore};
use zk_election::{PeerConfig, QuorumVerifier, ServerState};
use zk_transport::mem::MemNetwork;
use zk_transport::{ChannelSpecs, PeerId};

#[tokio::test(flavor = "current_thread")]
async fn three_drivers_elect_and_establish_one_leader() {
    let ids = [PeerId(1), PeerId(2), PeerId(3)];
    let q = QuorumVerifier::majority(ids, []).unwrap();
    let net = MemNetwork::new();
    let mut statuses = Vec::new();
    let mut stores = Vec::new();
    for &id in &ids {
        let (tx, rx) = net.start(id, ChannelSpecs::default());
        let mut cfg = PeerConfig::new(id, q.clone());
        cfg.tick = Duration::from_millis(100);
        let store = MemEpochStore::default();
        stores.push(store.clone());
        let driver = Driver::new(cfg, tx, rx, store);
        statuses.push(driver.status());
        tokio::spawn(driver.run());
    }
    let done = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let s: Vec<_> = statuses.iter().map(|r| r.borrow().clone()).collect();
            let leaders = s.iter().filter(|s| s.state == ServerState::Leading).count();
            if leaders == 1
                && s.iter()
                    .all(|s| s.leader == Some(PeerId(3)) && s.established_epoch == Some(1))
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the ensemble should converge");
    assert_eq!(done[2].state, ServerState::Leading);
    for store in &stores {
        let e = store.load().unwrap();
        assert_eq!(
            (e.accepted, e.current),
            (1, 1),
            "epochs were persisted through the store"
        );
    }
}
