//! One ensemble suite, run over every peer transport: election, writes through a follower,
//! reads everywhere, `kill -9` of the leader, a new leader, the old one restarted from its
//! data directory and caught up. And for the TLS transports: a member whose certificate is
//! bad is refused (with a log line naming why) while the honest members elect and serve.
//!
//! The transport is the one parameter; each `mod` below runs the same functions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};
use zk_tests::netem::WanConditions;
use zk_tests::process::{BadCertificate, Members, PeerTransport, mode};
use zk_tests::{Ensemble, EnsembleSpec};

const BIN: &str = env!("CARGO_BIN_EXE_zk-server");
/// Generous: elections take well under a second here, but CI machines get busy.
const ELECT: Duration = Duration::from_secs(40);

fn start(spec: &EnsembleSpec) -> Ensemble {
    Ensemble::start(std::path::Path::new(BIN), spec).expect("start the ensemble")
}

fn elect_replicate_fail_over_and_restart(transport: PeerTransport) {
    elect_replicate_fail_over_and_restart_with(EnsembleSpec {
        transport,
        ..EnsembleSpec::voters(3)
    });
}

/// The same across an emulated WAN: 50 ms round trips and 1 % loss between the servers.
fn across_a_wan(transport: PeerTransport) {
    elect_replicate_fail_over_and_restart_with(EnsembleSpec {
        transport,
        wan: Some(WanConditions::cross_datacenter()),
        ..EnsembleSpec::voters(3)
    });
}

fn elect_replicate_fail_over_and_restart_with(spec: EnsembleSpec) {
    let mut e = start(&spec);
    elect_replicate_fail_over_and_restart_on(&mut e);
    if let Some(netem) = &e.netem {
        assert!(
            netem.forwarded() > 10_000,
            "the servers did not talk through the WAN proxies ({} bytes)",
            netem.forwarded()
        );
    }
}

/// The suite's main scenario, on any three-member ensemble.
fn elect_replicate_fail_over_and_restart_on(e: &mut impl Members) {
    let all = [1, 2, 3];
    let leader = e.leader_among(&all, ELECT).unwrap();
    assert_eq!(leader, 3, "a fresh ensemble elects its largest id");
    e.write(1, "k1", "v1").expect("a write through a follower");
    for id in all {
        e.catch_up(id).unwrap();
        assert_eq!(
            e.read(id, "k1").unwrap().as_deref(),
            Some("v1"),
            "node {id}"
        );
    }

    e.crash(leader);
    let second = e.leader_among(&[1, 2], ELECT).unwrap();
    assert_eq!(second, 2);
    e.write(1, "k2", "v2").expect("a write after the failover");
    e.write(2, "k3", "v3").expect("a write at the new leader");

    e.restart(leader).unwrap();
    let after = e.leader_among(&all, ELECT).unwrap();
    assert_eq!(after, second, "the restarted node rejoins as a follower");
    e.catch_up(3).unwrap();
    for (k, v) in [("k1", "v1"), ("k2", "v2"), ("k3", "v3")] {
        assert_eq!(
            e.read(3, k).unwrap().as_deref(),
            Some(v),
            "{k} on the restarted node"
        );
    }
    // Each digest opens a session (a transaction of its own): compare the data, not the zxids.
    let digests: Vec<_> = all
        .iter()
        .map(|&id| {
            let d = e.data_digest(id).unwrap();
            (d.keys, d.hash)
        })
        .collect();
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {digests:?}"
    );
}

fn a_member_with_a_bad_certificate_is_refused(
    transport: PeerTransport,
    bad: BadCertificate,
    reason: &str,
) {
    let e = start(&EnsembleSpec {
        transport,
        bad_certificate: Some((3, bad)),
        ..EnsembleSpec::voters(3)
    });
    // The honest two are a quorum of three: they elect (2 leads) and serve throughout.
    let leader = e.wait_for_single_leader(&[1, 2], ELECT).unwrap();
    assert_eq!(leader, 2);
    e.set(1, "honest", "yes").unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(
            mode(e.node(3).client_port),
            None,
            "the node with the bad certificate must not serve"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(e.get(1, "honest").unwrap().as_deref(), Some("yes"));
    for id in [1, 2] {
        let log = std::fs::read_to_string(&e.node(id).log).unwrap();
        assert!(
            log.lines()
                .any(|l| l.contains("refusing connection") && l.contains(reason)),
            "node {id} logs no refusal naming {reason:?}:\n{}",
            e.log_tails(&[id])
        );
        assert!(
            !log.lines()
                .any(|l| l.contains("link up") && l.contains("link=3/")),
            "node {id} brought a link up with the bad node:\n{}",
            e.log_tails(&[id])
        );
    }
}

/// Node 1's certificate is replaced on disk twice while the ensemble runs: first by an expired
/// one (new connections from node 1 are then refused, which shows the new file is used),
/// then by a valid one (the next connection succeeds). Existing links stay up and the
/// leader is never lost.
fn a_rotated_certificate_is_used_by_the_next_connection(transport: PeerTransport) {
    use zk_tls::certs::Validity;
    let mut e = start(&EnsembleSpec {
        transport,
        ..EnsembleSpec::voters(3)
    });
    assert_eq!(e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap(), 3);
    let leader_held = |e: &Ensemble| {
        assert_eq!(
            mode(e.node(3).client_port).as_deref(),
            Some("leader"),
            "{}",
            e.log_tails(&[1, 2, 3])
        );
    };
    let now = std::time::SystemTime::now();
    let day = Duration::from_secs(86_400);
    e.rotate_certificate(
        1,
        Validity {
            not_before: now - 2 * day,
            not_after: now - day,
        },
    )
    .unwrap();
    // Existing links keep node 1 serving; a write through it still commits.
    std::thread::sleep(Duration::from_millis(1500));
    e.set(1, "during", "expired").unwrap();
    leader_held(&e);
    // Node 2 restarts: its new connections with node 1 meet node 1's new, expired
    // certificate. (Hearing only from the leader, node 2 cannot join: FLE wants a quorum.)
    e.kill9(2);
    e.start_node(2).unwrap();
    let refused = |e: &Ensemble| {
        let log = std::fs::read_to_string(&e.node(2).log).unwrap();
        log.lines().any(|l| l.contains("certificate expired"))
            || std::fs::read_to_string(&e.node(1).log)
                .unwrap()
                .lines()
                .any(|l| l.contains("refusing connection") && l.contains("certificate expired"))
    };
    let until = Instant::now() + Duration::from_secs(20);
    while !refused(&e) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        refused(&e),
        "node 1's expired certificate was never presented:\n{}",
        e.log_tails(&[1, 2])
    );
    leader_held(&e);
    e.set(1, "still", "serving").unwrap();
    // A valid certificate: the next connection between 1 and 2 succeeds and 2 joins.
    e.rotate_certificate(1, Validity::days(1)).unwrap();
    assert_eq!(e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap(), 3);
    leader_held(&e);
    e.sync(2).unwrap();
    assert_eq!(e.get(2, "during").unwrap().as_deref(), Some("expired"));
}

/// A server configured with another transport than its peers (TLS against plain TCP, gRPC
/// against TCP) never links with them and says why, on both sides; it keeps running and
/// retrying, and the others elect and serve.
fn a_member_speaking_another_transport_is_told_apart(
    odd: PeerTransport,
    at_peers: &str,
    at_odd: &str,
) {
    let mut e = start(&EnsembleSpec {
        odd_one_out: Some((3, odd)),
        ..EnsembleSpec::voters(3)
    });
    assert_eq!(e.wait_for_single_leader(&[1, 2], ELECT).unwrap(), 2);
    e.set(1, "k", "v").unwrap();
    let logged = |id: u64, what: &str| {
        std::fs::read_to_string(&e.node(id).log)
            .unwrap()
            .lines()
            .any(|l| l.contains("refusing connection") && l.contains(what))
    };
    let until = Instant::now() + Duration::from_secs(20);
    while !(logged(1, at_peers) && logged(3, at_odd)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(logged(1, at_peers), "node 1:\n{}", e.log_tails(&[1]));
    assert!(logged(3, at_odd), "node 3:\n{}", e.log_tails(&[3]));
    assert!(e.is_running(3), "the misconfigured node must keep running");
    assert_eq!(mode(e.node(3).client_port), None);
}

#[test]
fn process_backend_tls_against_plain_tcp_is_named() {
    a_member_speaking_another_transport_is_told_apart(
        PeerTransport::TcpTls,
        "the peer speaks TLS",
        "does not speak TLS",
    );
}

#[test]
fn process_backend_grpc_against_tcp_is_named() {
    a_member_speaking_another_transport_is_told_apart(
        PeerTransport::Grpc,
        "the peer speaks TLS",
        "not TLS",
    );
}

/// SIGHUP re-reads the certificates at once (and says so), without a restart.
#[test]
fn process_backend_sighup_rereads_the_certificates() {
    use nix::sys::signal::Signal;
    let mut e = start(&EnsembleSpec {
        transport: PeerTransport::Quic,
        ..EnsembleSpec::voters(3)
    });
    assert_eq!(e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap(), 3);
    let logged = |e: &Ensemble, what: &str| {
        std::fs::read_to_string(&e.node(1).log)
            .unwrap()
            .lines()
            .any(|l| l.contains(what))
    };
    let wait_for = |e: &Ensemble, what: &str| {
        let until = Instant::now() + Duration::from_secs(10);
        while !logged(e, what) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            logged(e, what),
            "no {what:?} in node 1's log:\n{}",
            e.log_tails(&[1])
        );
    };
    e.signal(1, Signal::SIGHUP).unwrap();
    wait_for(&e, "SIGHUP: the quorum certificates did not change");
    e.rotate_certificate(1, zk_tls::certs::Validity::days(2))
        .unwrap();
    e.signal(1, Signal::SIGHUP).unwrap();
    wait_for(&e, "TLS certificates re-read");
    assert!(e.is_running(1));
    assert_eq!(e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap(), 3);
    e.set(1, "after-sighup", "ok").unwrap();
}

/// The in-memory member of the suite: three nodes in this process, each on its own runtime
/// (a crash drops the runtime with every task of the node), over one `MemNetwork`.
mod mem {
    use super::*;
    use std::collections::HashMap;
    use tokio::runtime::Runtime;
    use zk_server::config::Config;
    use zk_transport::mem::{MemNetwork, MemTransport};
    use zk_transport::{ChannelSpecs, PeerId, Transport};

    struct Running {
        rt: Runtime,
        tx: MemTransport,
    }

    struct MemEnsemble {
        network: MemNetwork,
        configs: HashMap<u64, std::path::PathBuf>,
        ports: HashMap<u64, u16>,
        running: HashMap<u64, Running>,
        _dir: tempfile::TempDir,
    }

    impl MemEnsemble {
        fn start(n: u64) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let ports: HashMap<u64, u16> = (1..=n)
                .map(|id| (id, zk_tests::ports::free_port()))
                .collect();
            let servers: String = (1..=n)
                .map(|id| {
                    // Peer ports are unused in memory; the config still names every member.
                    format!("server.{id}=127.0.0.1:{}:{}\n", 40000 + id, 41000 + id)
                })
                .collect();
            let mut configs = HashMap::new();
            for id in 1..=n {
                let data = dir.path().join(format!("node-{id}/data"));
                std::fs::create_dir_all(&data).unwrap();
                std::fs::write(data.join("myid"), format!("{id}\n")).unwrap();
                let path = dir.path().join(format!("node-{id}/zoo.cfg"));
                std::fs::write(
                    &path,
                    format!(
                        "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n{servers}",
                        data.display(),
                        ports[&id]
                    ),
                )
                .unwrap();
                configs.insert(id, path);
            }
            let mut e = Self {
                network: MemNetwork::new(),
                configs,
                ports,
                running: HashMap::new(),
                _dir: dir,
            };
            for id in 1..=n {
                e.restart(id).unwrap();
            }
            e
        }
    }

    impl Members for MemEnsemble {
        fn client_port(&self, id: u64) -> u16 {
            self.ports[&id]
        }

        fn crash(&mut self, id: u64) {
            if let Some(r) = self.running.remove(&id) {
                // Peers see the links drop (as a kernel resets a killed process's sockets),
                // then every task of the node is dropped where it stands.
                r.rt.block_on(r.tx.shutdown());
                r.rt.shutdown_background();
            }
        }

        fn restart(&mut self, id: u64) -> anyhow::Result<()> {
            let config = Config::load(&self.configs[&id])?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let (tx, rx) = {
                let _in = rt.enter();
                self.network.start(PeerId(id), ChannelSpecs::default())
            };
            rt.spawn(zk_server::node::run_over(
                config,
                tx.clone(),
                rx,
                std::future::pending::<()>(),
            ));
            self.running.insert(id, Running { rt, tx });
            Ok(())
        }
    }

    impl Drop for MemEnsemble {
        fn drop(&mut self) {
            for (_, r) in self.running.drain() {
                r.rt.shutdown_background();
            }
        }
    }

    #[test]
    fn process_backend_elect_replicate_fail_over_and_restart() {
        let mut e = MemEnsemble::start(3);
        elect_replicate_fail_over_and_restart_on(&mut e);
    }
}

mod tcp {
    use super::*;

    #[test]
    fn process_backend_across_a_wan() {
        across_a_wan(PeerTransport::Tcp);
    }

    #[test]
    fn process_backend_elect_replicate_fail_over_and_restart() {
        elect_replicate_fail_over_and_restart(PeerTransport::Tcp);
    }
}

mod tcp_tls {
    use super::*;

    #[test]
    fn process_backend_across_a_wan() {
        across_a_wan(PeerTransport::TcpTls);
    }

    #[test]
    fn process_backend_a_rotated_certificate_is_used_by_the_next_connection() {
        a_rotated_certificate_is_used_by_the_next_connection(PeerTransport::TcpTls);
    }

    #[test]
    fn process_backend_elect_replicate_fail_over_and_restart() {
        elect_replicate_fail_over_and_restart(PeerTransport::TcpTls);
    }

    #[test]
    fn process_backend_expired_certificate_is_refused() {
        a_member_with_a_bad_certificate_is_refused(
            PeerTransport::TcpTls,
            BadCertificate::Expired,
            "certificate expired",
        );
    }
}

mod quic {
    use super::*;

    #[test]
    fn process_backend_across_a_wan() {
        across_a_wan(PeerTransport::Quic);
    }

    #[test]
    fn process_backend_a_rotated_certificate_is_used_by_the_next_connection() {
        a_rotated_certificate_is_used_by_the_next_connection(PeerTransport::Quic);
    }

    #[test]
    fn process_backend_elect_replicate_fail_over_and_restart() {
        elect_replicate_fail_over_and_restart(PeerTransport::Quic);
    }

    #[test]
    fn process_backend_certificate_from_another_ca_is_refused() {
        a_member_with_a_bad_certificate_is_refused(
            PeerTransport::Quic,
            BadCertificate::OtherCa,
            "UnknownIssuer",
        );
    }
}

mod grpc {
    use super::*;

    #[test]
    fn process_backend_across_a_wan() {
        across_a_wan(PeerTransport::Grpc);
    }

    #[test]
    fn process_backend_a_rotated_certificate_is_used_by_the_next_connection() {
        a_rotated_certificate_is_used_by_the_next_connection(PeerTransport::Grpc);
    }

    #[test]
    fn process_backend_elect_replicate_fail_over_and_restart() {
        elect_replicate_fail_over_and_restart(PeerTransport::Grpc);
    }

    #[test]
    fn process_backend_certificate_from_another_ca_is_refused() {
        a_member_with_a_bad_certificate_is_refused(
            PeerTransport::Grpc,
            BadCertificate::OtherCa,
            "UnknownIssuer",
        );
    }
}
