//! Real `zk-server` processes on loopback, checked the way an operator would: `srvr` on the
//! client port, `kill -9`, restart from the data directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;
use zk_tests::ports::free_port;
use zk_tests::process::{four_letter, mode};
use zk_tests::{Ensemble, EnsembleSpec};

const BIN: &str = env!("CARGO_BIN_EXE_zk-server");
/// Generous: elections take well under a second here, but CI machines get busy.
const ELECT: Duration = Duration::from_secs(40);

fn start(spec: &EnsembleSpec) -> Ensemble {
    Ensemble::start(std::path::Path::new(BIN), spec).expect("start the ensemble")
}

fn zxid(port: u16) -> u64 {
    let out = four_letter(port, "srvr").unwrap();
    let hex = out
        .lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .expect("a Zxid line");
    u64::from_str_radix(hex, 16).unwrap()
}

#[test]
fn process_three_nodes_elect_exactly_one_leader() {
    let e = start(&EnsembleSpec::voters(3));
    let leader = e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap();
    let modes = e.modes(&[1, 2, 3]);
    for (id, m) in &modes {
        let want = if *id == leader { "leader" } else { "follower" };
        assert_eq!(m.as_deref(), Some(want), "{modes:?}");
    }
    // On a fresh ensemble the highest id wins (equal epochs and zxids), as in ZooKeeper.
    assert_eq!(leader, 3);
    // Every member reports the established epoch in its zxid, as ZooKeeper does after NEWLEADER.
    let z: Vec<u64> = (1..=3).map(|id| zxid(e.node(id).client_port)).collect();
    assert!(z.iter().all(|&x| x == z[0] && x >> 32 >= 1), "{z:x?}");
}

#[test]
fn process_five_nodes_elect_exactly_one_leader() {
    let e = start(&EnsembleSpec::voters(5));
    let leader = e.wait_for_single_leader(&[1, 2, 3, 4, 5], ELECT).unwrap();
    assert_eq!(leader, 5);
}

#[test]
fn process_leader_killed_then_new_leader_then_old_one_rejoins_as_follower() {
    let mut e = start(&EnsembleSpec::voters(3));
    let first = e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap();
    let epoch_before = zxid(e.node(first).client_port) >> 32;
    e.kill9(first);
    let survivors: Vec<u64> = (1..=3).filter(|&id| id != first).collect();
    let second = e.wait_for_single_leader(&survivors, ELECT).unwrap();
    assert_ne!(second, first);
    let epoch_after = zxid(e.node(second).client_port) >> 32;
    assert!(
        epoch_after > epoch_before,
        "a new leader starts a new epoch: {epoch_before} -> {epoch_after}"
    );
    e.start_node(first).unwrap();
    let leader = e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap();
    assert_eq!(
        leader, second,
        "the restarted node joins the established leader instead of taking over"
    );
    assert_eq!(mode(e.node(first).client_port).as_deref(), Some("follower"));
    // The restarted node read its epochs back from its data directory.
    let accepted = std::fs::read_to_string(
        e.dir
            .path()
            .join(format!("node-{first}/data/acceptedEpoch")),
    )
    .unwrap();
    assert_eq!(accepted.trim().parse::<u64>().unwrap(), epoch_after);
}

#[test]
fn process_observer_follows_but_never_leads() {
    let spec = EnsembleSpec {
        observers: 1,
        ..EnsembleSpec::voters(3)
    };
    let mut e = start(&spec);
    let first = e.wait_for_single_leader(&[1, 2, 3, 4], ELECT).unwrap();
    assert_ne!(first, 4);
    assert_eq!(mode(e.node(4).client_port).as_deref(), Some("observer"));
    e.kill9(first);
    let rest: Vec<u64> = [1, 2, 3, 4].into_iter().filter(|&id| id != first).collect();
    let second = e.wait_for_single_leader(&rest, ELECT).unwrap();
    assert_ne!(second, 4, "an observer never leads");
    assert_eq!(mode(e.node(4).client_port).as_deref(), Some("observer"));
}

#[test]
fn process_losing_quorum_stops_serving_and_regaining_it_elects_again() {
    let mut e = start(&EnsembleSpec::voters(3));
    let leader = e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap();
    let followers: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    e.kill9(followers[0]);
    e.kill9(followers[1]);
    // Alone, the leader cannot hear a quorum within syncLimit ticks and stops serving.
    let deadline = std::time::Instant::now() + ELECT;
    while mode(e.node(leader).client_port).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "a leader without a quorum kept serving"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    e.start_node(followers[0]).unwrap();
    e.wait_for_single_leader(&[leader, followers[0]], ELECT)
        .unwrap();
}

#[test]
fn process_sigterm_stops_a_server_cleanly() {
    let mut e = start(&EnsembleSpec::voters(3));
    e.wait_for_single_leader(&[1, 2, 3], ELECT).unwrap();
    assert!(
        e.terminate(1).unwrap(),
        "exit status 0 after SIGTERM\n{}",
        e.log_tails(&[1])
    );
}

#[test]
fn process_bad_configs_stop_start_up_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("zoo.cfg");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let base = format!(
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort=2181\n",
        data.display()
    );
    let cases = [
        (
            format!("{base}server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n"),
            "myid",
        ),
        (
            format!("{base}server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2888:3889\n"),
            "zoo.cfg:7 (server.2)",
        ),
        (
            base.replace("syncLimit=5", "syncLimit=soon"),
            "zoo.cfg:3 (syncLimit)",
        ),
    ];
    for (i, (text, want)) in cases.into_iter().enumerate() {
        if i == 1 {
            // The first case is the missing myid; the others have one.
            std::fs::write(data.join("myid"), "1\n").unwrap();
        }
        std::fs::write(&cfg, &text).unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(stderr.contains(want), "want '{want}' in: {stderr}");
    }
}

#[test]
fn process_tls_transports_without_certificates_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("myid"), "1").unwrap();
    let p = || free_port();
    let base = format!(
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\nserver.1=127.0.0.1:{}:{}\nserver.2=127.0.0.1:{}:{}\n",
        data.display(),
        p(),
        p(),
        p(),
        p(),
        p()
    );
    let cfg = dir.path().join("zoo.cfg");
    let run = |text: &str, args: &[&str]| {
        std::fs::write(&cfg, text).unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "started without certificates");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for transport in ["quic", "grpc"] {
        let stderr = run(&base, &["--transport", transport]);
        assert!(
            stderr.contains(&format!("quorum.transport={transport}"))
                && stderr.contains("ssl.quorum.keyStore.location"),
            "{stderr}"
        );
    }
    let stderr = run(&format!("{base}sslQuorum=true\n"), &[]);
    assert!(
        stderr.contains("sslQuorum=true") && stderr.contains("ssl.quorum.keyStore.location"),
        "{stderr}"
    );
    let with_key = format!(
        "{base}ssl.quorum.keyStore.location={}\n",
        dir.path().join("k.pem").display()
    );
    let stderr = run(&with_key, &["--transport", "quic"]);
    assert!(
        stderr.contains("ssl.quorum.trustStore.location"),
        "{stderr}"
    );
}

#[test]
fn process_hierarchical_quorum_from_zoo_cfg_is_obeyed() {
    // Server 5 would win on id alone; with weight 0 it may never lead, so 4 must.
    let extra = "group.1=1:2\ngroup.2=3:4\ngroup.3=5\nweight.5=0\n".to_string();
    let spec = EnsembleSpec {
        extra,
        ..EnsembleSpec::voters(5)
    };
    let e = start(&spec);
    let leader = e.wait_for_single_leader(&[1, 2, 3, 4, 5], ELECT).unwrap();
    assert_eq!(leader, 4, "a weight-0 server never leads");
}

#[test]
fn process_certs_command_writes_a_ca_and_a_certificate_per_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/unused\nclientPort=2181\n\
         server.1=127.0.0.1:2888:3888\nserver.2=zk2.example:2888:3888\nserver.7=10.0.0.7:2888:3888:observer\n",
    )
    .unwrap();
    let out = dir.path().join("certs");
    let run = || {
        Command::new(BIN)
            .args(["certs", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let hosts: std::collections::BTreeMap<_, _> =
        [(1, "127.0.0.1"), (2, "zk2.example"), (7, "10.0.0.7")]
            .into_iter()
            .map(|(id, h)| (zk_transport::PeerId(id), h.to_owned()))
            .collect();
    for id in [1, 2, 7] {
        let files = zk_tls::TlsFiles {
            key_store: out.join(format!("server-{id}.pem")),
            trust_store: out.join("ca.pem"),
        };
        // Each certificate names its server under both rules.
        for rule in [
            zk_tls::IdentityRule::ServerId,
            zk_tls::IdentityRule::Hostname,
        ] {
            zk_tls::TlsStore::load(files.clone(), zk_transport::PeerId(id), rule, hosts.clone())
                .unwrap_or_else(|e| panic!("server {id}, {rule:?}: {e}"));
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("ca-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the CA key is readable by others: {mode:o}"
    );
    // Nothing is overwritten: a second run into the same directory is refused.
    let again = run();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
