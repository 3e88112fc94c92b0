//! Elect a leader among your own processes over TCP, with no ZAB and no server.
//!
//! Run three terminals (or `&` them):
//!
//! ```sh
//! PEERS=1=127.0.0.1:4101:4201,2=127.0.0.1:4102:4202,3=127.0.0.1:4103:4203
//! cargo run -p zk-election --example elect -- 1 $PEERS
//! cargo run -p zk-election --example elect -- 2 $PEERS
//! cargo run -p zk-election --example elect -- 3 $PEERS
//! ```
//!
//! Each process prints its role whenever it changes (`LEADING epoch 1`, `FOLLOWING 3 epoch
//! 1`, ...). Stop the leader (Ctrl-C or `kill -9`): the other two notice through the lost
//! link or missing heartbeats, elect again, and print their new roles. Start it again and it
//! joins the established leader as a follower.
//!
//! Each entry of the peer list is `id=host:electionPort:quorumPort`. Epochs are kept in
//! `./elect-data-<id>` so a restarted process never acknowledges an epoch twice.

use std::collections::BTreeMap;
use std::time::Duration;
use zk_election::driver::{Driver, EpochStore, FileEpochStore};
use zk_election::{PeerConfig, QuorumVerifier, ServerState};
use zk_transport::{PeerId, Transport};
use zk_transport_tcp::{PeerAddrs, TcpBackend, TcpConfig};

fn usage() -> ! {
    eprintln!("usage: elect <my-id> <id=host:electionPort:quorumPort,...>");
    std::process::exit(2)
}

/// Parse `1=127.0.0.1:4101:4201,2=...`.
fn parse_peers(list: &str) -> Option<BTreeMap<PeerId, PeerAddrs>> {
    let mut peers = BTreeMap::new();
    for entry in list.split(',') {
        let (id, addrs) = entry.split_once('=')?;
        let (host, ports) = addrs.split_once(':')?;
        let (election, quorum) = ports.split_once(':')?;
        let id = PeerId(id.trim().parse().ok()?);
        peers.insert(
            id,
            PeerAddrs::new(format!("{host}:{election}"), format!("{host}:{quorum}")),
        );
    }
    Some(peers)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [me, peers] = args.as_slice() else {
        usage()
    };
    let me = PeerId(me.parse().unwrap_or_else(|_| usage()));
    let peers = parse_peers(peers).unwrap_or_else(|| usage());

    // Everyone votes; no observers. Use QuorumVerifier::hierarchical for weighted groups.
    let verifier = QuorumVerifier::majority(peers.keys().copied(), [])?;
    let store = FileEpochStore::open(format!("elect-data-{me}"))?;
    let epochs = store.load()?;
    let mut config = PeerConfig::new(me, verifier);
    config.tick = Duration::from_millis(500);
    config.accepted_epoch = epochs.accepted;
    config.current_epoch = epochs.current;

    let (tx, rx) = TcpBackend::start(TcpConfig::new(me, peers)).await?;
    let driver = Driver::new(config, tx.clone(), rx, store);
    let mut status = driver.status();
    let election = tokio::spawn(driver.run());
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() { break; }
                let s = status.borrow_and_update().clone();
                match (s.state, s.leader, s.established_epoch) {
                    (ServerState::Leading, _, Some(e)) => println!("{me}: LEADING epoch {e}"),
                    (ServerState::Following, Some(l), Some(e)) => println!("{me}: FOLLOWING {l} epoch {e}"),
                    (ServerState::Looking, ..) => println!("{me}: LOOKING (round {})", s.election_round),
                    _ => {} // decided, not yet established
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tx.shutdown().await;
    election.abort();
    Ok(())
}
