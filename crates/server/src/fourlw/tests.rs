//! Every word against what Apache ZooKeeper 3.8.0 printed (`testdata/`, captured from the
//! Debian package's server with `echo WORD | nc`).
//!
//! A sample starts with `# ` comment lines (where and how it was captured), stripped
//! before comparing. In a sample line, `*` matches any text: it masks what changes from
//! run to run (ports, clocks, the JVM) and metrics zk-rs does not measure. Where
//! ZooKeeper prints a hash set (sessions of an expiry bucket, a session's ephemerals or
//! watches), runs of tab-indented lines are compared sorted; ZooKeeper's emptied expiry
//! buckets (`0 expire at`), which it keeps until their time passes, are dropped from the
//! sample, since zk-rs lists no empty bucket.

use super::*;
use crate::config::{Config, LearnerRole};
use crate::status::{
    ConfInfo, LatencyStats, LeaderInfo, LearnerInfo, ProposalSizes, QuorumConf, QuorumProbe,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn sample(text: &str) -> String {
    let mut rest = text;
    while rest.starts_with("# ") {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.to_string()
}

/// Whether `line` matches `pattern`, where `*` matches any text.
fn glob(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// Compares `actual` with the masked `expected`, line by line (a trailing newline, or its
/// absence, must match too).
#[track_caller]
fn assert_matches(actual: &str, expected: &str) {
    let a: Vec<&str> = actual.split('\n').collect();
    let e: Vec<&str> = expected.split('\n').collect();
    for (i, (x, p)) in a.iter().zip(&e).enumerate() {
        assert!(
            glob(p, x),
            "line {}: {x:?} does not match ZooKeeper's {p:?}\n--- zk-rs:\n{actual}\n--- ZooKeeper:\n{expected}",
            i + 1
        );
    }
    assert_eq!(
        a.len(),
        e.len(),
        "line count differs\n--- zk-rs:\n{actual}\n--- ZooKeeper:\n{expected}"
    );
}

/// Sorts every run of tab-indented lines (ZooKeeper prints hash sets).
fn sort_tab_runs(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let flush = |run: &mut Vec<&str>, out: &mut Vec<String>| {
        run.sort_unstable();
        out.extend(run.drain(..).map(str::to_string));
    };
    for line in text.split('\n') {
        if line.starts_with('\t') {
            run.push(line);
        } else {
            flush(&mut run, &mut out);
            out.push(line.to_string());
        }
    }
    flush(&mut run, &mut out);
    out.join("\n")
}

/// Drops ZooKeeper's emptied expiry buckets and recounts the `Sets (n)` headers.
fn drop_empty_buckets(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some((prefix, rest)) = line.split_once("Sets (") {
            // Count the non-empty buckets of this queue.
            let mut j = i + 1;
            let mut buckets = 0;
            while j < lines.len()
                && (lines[j].contains(" expire at ") || lines[j].starts_with('\t'))
            {
                if lines[j].contains(" expire at ") && !lines[j].starts_with("0 expire at") {
                    buckets += 1;
                }
                j += 1;
            }
            let elements = rest.split_once(")/").map_or("", |(_, e)| e);
            out.push(format!("{prefix}Sets ({buckets})/{elements}"));
        } else if !line.starts_with("0 expire at ") {
            out.push(line.to_string());
        }
        i += 1;
    }
    out.join("\n")
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------- mntr

fn mntr_view(mode: Mode) -> mntr::MntrView {
    mntr::MntrView {
        version: version(),
        mode,
        leader_id: None,
        ephemerals_count: 0,
        alive_connections: 1,
        latency: LatencyStats::default(),
        outstanding: 0,
        znode_count: 5,
        global_sessions: 0,
        packets_sent: 1,
        packets_received: 2,
        watch_count: 0,
        max_fds: Some(20000),
        open_fds: Some(40),
        approximate_data_size: 0,
        uptime_ms: 1234,
        quorum_size: None,
        leader: None,
    }
}

/// The sample without the per-namespace summaries, which zk-rs does not keep.
fn mntr_sample(text: &str) -> String {
    sample(text)
        .split('\n')
        .filter(|l| !l.contains("_per_namespace\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn mntr_standalone_matches_zookeeper() {
    let mut v = mntr_view(Mode::Standalone);
    v.approximate_data_size = 44;
    let expected = mntr_sample(include_str!("testdata/mntr_standalone.txt"));
    assert_matches(&mntr::render(&v), &expected);
}

#[test]
fn mntr_follower_matches_zookeeper() {
    let mut v = mntr_view(Mode::Follower);
    v.approximate_data_size = 182;
    v.quorum_size = Some(3);
    v.leader_id = Some(3);
    let expected = mntr_sample(include_str!("testdata/mntr_follower.txt"));
    assert_matches(&mntr::render(&v), &expected);
}

#[test]
fn mntr_observer_matches_zookeeper() {
    let mut v = mntr_view(Mode::Observer);
    v.approximate_data_size = 335;
    v.quorum_size = Some(3);
    v.leader_id = Some(3);
    let expected = mntr_sample(include_str!("testdata/mntr_observer.txt"));
    assert_matches(&mntr::render(&v), &expected);
}

fn learner(id: u64, role: LearnerRole) -> LearnerInfo {
    LearnerInfo {
        id,
        role,
        synced: true,
    }
}

#[test]
fn mntr_leader_matches_zookeeper() {
    let mut v = mntr_view(Mode::Leader);
    v.approximate_data_size = 335;
    v.quorum_size = Some(3);
    v.leader = Some(mntr::LeaderView {
        learners: vec![
            learner(1, LearnerRole::Participant),
            learner(2, LearnerRole::Participant),
            learner(4, LearnerRole::Observer),
        ],
        pending_syncs: 0,
        uptime_ms: 59_125,
        proposal_sizes: None,
    });
    let expected = mntr_sample(include_str!("testdata/mntr_leader.txt"));
    assert_matches(&mntr::render(&v), &expected);
}

#[test]
fn mntr_leader_without_learner_facts_omits_those_keys_only() {
    let mut v = mntr_view(Mode::Leader);
    v.quorum_size = Some(3);
    let out = mntr::render(&v);
    for absent in [
        "zk_learners\t",
        "zk_synced_followers\t",
        "zk_pending_syncs\t",
        "zk_leader_uptime\t",
    ] {
        assert!(!out.contains(absent), "{absent}");
    }
    assert!(out.contains("\nzk_min_proposal_size\t-1\n"));
    assert!(out.contains("\nzk_peer_state\tleading - broadcast\n"));
}

#[test]
fn mntr_values_are_tab_separated_and_latency_is_a_double() {
    let mut v = mntr_view(Mode::Standalone);
    v.latency = LatencyStats {
        min: 1,
        max: 25,
        total: 44,
        count: 6,
    };
    let out = mntr::render(&v);
    assert!(out.starts_with("zk_version\t3.8.0-zk-rs-"));
    assert!(out.contains("\nzk_avg_latency\t7.3333\n"));
    assert!(out.contains("\nzk_min_latency\t1\n"));
    assert!(out.contains("\nzk_max_latency\t25\n"));
    assert!(
        out.lines()
            .all(|l| l.starts_with("zk_") && l.matches('\t').count() == 1)
    );
}

// ---------------------------------------------------------------- srvr / stat / cons

fn stat_view() -> stat::StatView {
    stat::StatView {
        version: version(),
        clients: None,
        latency: LatencyStats::default(),
        received: 13,
        sent: 14,
        connections: 1,
        outstanding: 0,
        zxid: 0x1_0000_0000,
        mode: Mode::Leader,
        node_count: 5,
        proposal_sizes: None,
    }
}

#[test]
fn srvr_leader_matches_zookeeper() {
    assert_matches(
        &stat::render(&stat_view()),
        &sample(include_str!("testdata/srvr_leader.txt")),
    );
}

/// The leader's client session of the `stat`/`cons` samples.
fn session_conn(received: u64) -> ConnSnapshot {
    ConnSnapshot {
        id: 1,
        peer: addr(37954),
        interest_ops: 1,
        queued: 0,
        received,
        sent: received,
        session: 0x300009cff290000,
        last_op: "PING",
        established: 1_795_315_972_485,
        timeout: 30_000,
        last_cxid: 5,
        last_zxid: 0x2_0000_0005,
        last_response: 10_743_565,
        last_latency: 0,
        min_latency: 0,
        avg_latency: 8,
        max_latency: 31,
        expires: 0,
    }
}

#[test]
fn stat_leader_with_a_session_matches_zookeeper() {
    let mut v = stat_view();
    v.clients = Some(conns::clients(&[session_conn(10), asking(addr(43654))]));
    v.latency = LatencyStats {
        min: 0,
        max: 31,
        total: 38,
        count: 5,
    };
    (v.received, v.sent, v.connections) = (21, 20, 2);
    v.zxid = 0x2_0000_0005;
    v.node_count = 9;
    v.proposal_sizes = Some(ProposalSizes {
        last: 87,
        min: 48,
        max: 88,
    });
    assert_matches(
        &stat::render(&v),
        &sample(include_str!("testdata/stat_leader.txt")),
    );
}

#[test]
fn cons_leader_with_a_session_matches_zookeeper() {
    let out = conns::cons(&[session_conn(9), asking(addr(52580))]);
    assert_matches(&out, &sample(include_str!("testdata/cons_leader.txt")));
}

#[test]
fn cons_of_a_connection_before_its_handshake_and_after_crst() {
    let mut c = session_conn(0);
    c.session = 0;
    assert_eq!(
        conns::connection(&c, false),
        " /127.0.0.1:37954[1](queued=0,recved=0,sent=0)"
    );
    let mut c = session_conn(0);
    (c.last_op, c.last_cxid, c.last_zxid) = ("NA", -1, -1);
    assert!(
        conns::connection(&c, false)
            .contains(",lop=NA,est=1795315972485,to=30000,lzxid=0xffffffffffffffff,")
    );
}

// ---------------------------------------------------------------- dump

fn zk_dump(text: &str) -> String {
    sort_tab_runs(&drop_empty_buckets(&sample(text)))
}

#[test]
fn dump_leader_matches_zookeeper() {
    let v = conns::DumpView {
        sessions: conns::SessionsDump::Tracker(conns::buckets(vec![
            (1_795_315_267_000, 0x30000959e4a0000),
            (1_795_315_267_000, 0x10000959e710000),
        ])),
        ephemerals: vec![
            (
                0x10000959e710000,
                vec!["/app/eph".into(), "/app/eph2".into()],
            ),
            (0x30000959e4a0000, vec!["/l1".into()]),
        ],
        connections: vec![(1_795_315_279_000, vec![(addr(38406), 0)])],
    };
    let out = conns::dump(&v);
    assert_matches(
        &sort_tab_runs(&out),
        &zk_dump(include_str!("testdata/dump_leader.txt")),
    );
    assert!(out.contains("2 expire at Sun Nov 22 02:41:07 UTC 2026:\n"));
}

#[test]
fn dump_follower_matches_zookeeper() {
    let v = conns::DumpView {
        sessions: conns::SessionsDump::Learner(vec![
            (0x10000959e710000, 30_000),
            (0x30000959e4a0000, 30_000),
        ]),
        ephemerals: vec![
            (
                0x10000959e710000,
                vec!["/app/eph".into(), "/app/eph2".into()],
            ),
            (0x30000959e4a0000, vec!["/l1".into()]),
        ],
        connections: conns::buckets(vec![
            (1_795_315_249_000, (addr(51452), 0)),
            (1_795_315_269_000, (addr(56868), 0x10000959e710000)),
        ]),
    };
    assert_matches(
        &sort_tab_runs(&conns::dump(&v)),
        &zk_dump(include_str!("testdata/dump_follower.txt")),
    );
}

#[test]
fn dump_standalone_matches_zookeeper() {
    let s = 0x100009599290000;
    let v = conns::DumpView {
        sessions: conns::SessionsDump::Tracker(vec![(1_795_315_257_000, vec![s])]),
        ephemerals: vec![(s, vec!["/sa/e".into()])],
        connections: conns::buckets(vec![
            (1_795_315_249_000, (addr(60262), 0)),
            (1_795_315_259_000, (addr(46170), s)),
        ]),
    };
    assert_matches(
        &sort_tab_runs(&conns::dump(&v)),
        &zk_dump(include_str!("testdata/dump_standalone.txt")),
    );
}

// ---------------------------------------------------------------- watches

#[test]
fn watch_words_match_zookeeper() {
    let summary = crate::client::watches::WatchesSummary {
        connections: 1,
        paths: 2,
        total_watches: 2,
    };
    assert_matches(
        &watches::wchs(&summary),
        &sample(include_str!("testdata/wchs.txt")),
    );
    let s = 0x300009cff290000;
    assert_matches(
        &sort_tab_runs(&watches::wchc(&[(s, vec!["/d1".into(), "/w".into()])])),
        &sort_tab_runs(&sample(include_str!("testdata/wchc.txt"))),
    );
    let f = 0x10000959e710000;
    assert_matches(
        &watches::wchp(&[("/app".into(), vec![f]), ("/zookeeper".into(), vec![f])]),
        &sample(include_str!("testdata/wchp.txt")),
    );
    // No watches: ZooKeeper prints an empty line.
    assert_eq!(watches::wchc(&[]), "\n");
    assert_eq!(watches::wchp(&[]), "\n");
    assert_eq!(
        watches::wchs(&Default::default()),
        "0 connections watching 0 paths\nTotal watches:0\n"
    );
}

// ---------------------------------------------------------------- conf / dirs / envi

fn config(text: &str, myid: &str) -> Config {
    let myid = myid.to_string();
    Config::parse(Path::new("/etc/zk/zoo.cfg"), text, move |_| Ok(myid)).unwrap()
}

#[test]
fn conf_standalone_matches_zookeeper() {
    let c = config(
        "tickTime=2000\ndataDir=/var/lib/zk/version-2\nclientPort=12181\n",
        "",
    );
    let info = ConfInfo::from_config(&c);
    assert_eq!(info.quorum, None);
    let sizes = conf::DirSizes {
        data_dir_size: 457,
        log_dir_size: 457,
    };
    assert_matches(
        &conf::conf(&info, sizes),
        &sample(include_str!("testdata/conf_standalone.txt")),
    );
}

#[test]
fn conf_quorum_matches_zookeeper() {
    let c = config(
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/zk/version-2\n\
         clientPort=12193\n\
         server.1=127.0.0.1:12891:13891\n\
         server.2=127.0.0.1:12892:13892\n\
         server.3=127.0.0.1:12893:13893\n",
        "3",
    );
    let info = ConfInfo::from_config(&c);
    assert_eq!(info.quorum.as_ref().map(|q| q.voters), Some(3));
    let sizes = conf::DirSizes {
        data_dir_size: 597,
        log_dir_size: 597,
    };
    assert_matches(
        &conf::conf(&info, sizes),
        &sample(include_str!("testdata/conf_quorum.txt")),
    );
}

#[test]
fn conf_hierarchical_observer_matches_zookeeper() {
    let c = config(
        "tickTime=1000\ninitLimit=10\nsyncLimit=5\n\
         dataDir=/var/lib/zk/data/version-2\ndataLogDir=/var/lib/zk/log/version-2\n\
         maxClientCnxns=10\nminSessionTimeout=3000\npeerType=observer\n\
         server.1=127.0.0.1:12881:13881;12201\n\
         server.2=127.0.0.1:12882:13882:participant;127.0.0.1:12202\n\
         server.3=127.0.0.1:12883:13883;12203\n\
         server.4=127.0.0.1:12884:13884:observer;12204\n\
         group.1=1:2\ngroup.2=3\nweight.1=1\nweight.2=1\n",
        "4",
    );
    let info = ConfInfo::from_config(&c);
    let sizes = conf::DirSizes {
        data_dir_size: 0,
        log_dir_size: 1498,
    };
    // weight.3 is not given: every participant has a weight, 1 by default.
    assert_matches(
        &conf::conf(&info, sizes),
        &sample(include_str!("testdata/conf_observer.txt")),
    );
}

#[test]
fn dirs_matches_zookeeper_and_measures_the_directories() {
    let sizes = conf::DirSizes {
        data_dir_size: 457,
        log_dir_size: 457,
    };
    assert_matches(
        &conf::dirs(sizes),
        &sample(include_str!("testdata/dirs.txt")),
    );

    let snap = tempfile::tempdir().unwrap();
    let log = tempfile::tempdir().unwrap();
    std::fs::write(snap.path().join("snapshot.0"), [0u8; 7]).unwrap();
    std::fs::write(log.path().join("log.1"), [0u8; 100]).unwrap();
    let c = config(
        &format!(
            "tickTime=2000\ndataDir={}\ndataLogDir={}\nclientPort=2181\n",
            snap.path().display(),
            log.path().display()
        ),
        "",
    );
    // As ZooKeeper: `datadir_size` measures the log directory, `logdir_size` the snapshots.
    assert_eq!(
        conf::DirSizes::measure(&ConfInfo::from_config(&c)),
        conf::DirSizes {
            data_dir_size: 100,
            log_dir_size: 7
        }
    );
}

#[test]
fn envi_prints_zookeepers_keys_in_order() {
    let out = envi::render(&envi::gather(&version()));
    assert_matches(&out, &sample(include_str!("testdata/envi.txt")));
    assert!(out.contains(&format!("\nzookeeper.version={}\n", version())));
    assert!(out.contains("\njava.compiler=<NA>\n"));
    assert!(
        out.lines()
            .any(|l| l.starts_with("os.memory.total=") && l.ends_with("MB"))
    );
}

// ---------------------------------------------------------------- answer()

#[derive(Debug)]
struct Probe;

impl QuorumProbe for Probe {
    fn leader(&self) -> Option<LeaderInfo> {
        Some(LeaderInfo {
            learners: vec![learner(2, LearnerRole::Participant)],
            pending_syncs: 1,
            since: Instant::now(),
            proposal_sizes: Some(ProposalSizes {
                last: 10,
                min: 5,
                max: 20,
            }),
        })
    }
}

fn serving(mode: Mode) -> Status {
    Status {
        mode,
        serving: true,
        zxid: 0x1_0000_0000,
        leader: Some(1),
        epoch: 1,
    }
}

fn ask(cmd: &str, whitelist: &Whitelist, status: &Status, counters: &Counters) -> String {
    answer(
        cmd,
        &Query {
            whitelist,
            status,
            counters,
            client: None,
            peer: addr(50000),
            trace_mask: None,
        },
    )
}

#[test]
fn ruok_answers_imok_when_whitelisted_only() {
    let c = Counters::default();
    assert_eq!(ask("ruok", &Whitelist::All, &Status::looking(), &c), "imok");
    assert_eq!(
        ask("ruok", &Whitelist::default(), &serving(Mode::Leader), &c),
        "ruok is not executed because it is not in the whitelist.\n"
    );
}

#[test]
fn srvr_follows_zookeepers_layout() {
    let c = Counters::default();
    let out = ask("srvr", &Whitelist::default(), &serving(Mode::Follower), &c);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Zookeeper version: 3.8.0"));
    assert_eq!(
        &lines[1..],
        [
            "Latency min/avg/max: 0/0.0/0",
            "Received: 0",
            "Sent: 0",
            "Connections: 0",
            "Outstanding: 0",
            "Zxid: 0x100000000",
            "Mode: follower",
            "Node count: 0",
        ]
    );
    let leader = ask("srvr", &Whitelist::default(), &serving(Mode::Leader), &c);
    assert!(
        leader.ends_with("Mode: leader\nNode count: 0\nProposal sizes last/min/max: -1/-1/-1\n")
    );
    c.set_probe(Arc::new(Probe));
    let leader = ask("srvr", &Whitelist::default(), &serving(Mode::Leader), &c);
    assert!(leader.ends_with("Proposal sizes last/min/max: 10/5/20\n"));
}

#[test]
fn stat_lists_the_registered_connections_and_the_asking_one() {
    let c = Counters::default();
    let g = c.conns.register(3, addr(41000));
    g.received();
    g.established(0x42, 10_000);
    g.set_queued(2);
    let out = ask("stat", &Whitelist::All, &serving(Mode::Observer), &c);
    assert!(out.contains(
        "\nClients:\n /127.0.0.1:41000[1](queued=2,recved=1,sent=0)\n /127.0.0.1:50000[0](queued=0,recved=1,sent=0)\n\n"
    ));
    assert!(out.contains("\nOutstanding: 2\n") && out.contains("Mode: observer\n"));
    let cons = ask("cons", &Whitelist::All, &serving(Mode::Observer), &c);
    assert!(cons.starts_with(" /127.0.0.1:41000[1](queued=2,recved=1,sent=0,sid=0x42,lop=NA,"));
    assert!(cons.ends_with(" /127.0.0.1:50000[0](queued=0,recved=1,sent=0)\n\n"));
    assert_eq!(
        ask("crst", &Whitelist::All, &serving(Mode::Observer), &c),
        "Connection stats reset.\n"
    );
    assert_eq!(c.conns.snapshot()[0].received, 0);
}

#[test]
fn mntr_reports_the_probe_and_the_configuration() {
    let c = Counters::default();
    c.set_probe(Arc::new(Probe));
    c.set_conf(ConfInfo {
        client_port: 2181,
        secure_client_port: -1,
        data_dir: PathBuf::from("/d"),
        data_log_dir: PathBuf::from("/d"),
        tick_time: 2000,
        max_client_cnxns: 60,
        min_session_timeout: 4000,
        max_session_timeout: 40000,
        client_port_listen_backlog: -1,
        server_id: 1,
        quorum: Some(QuorumConf {
            init_limit: 10,
            sync_limit: 5,
            election_alg: 3,
            election_port: 3888,
            quorum_port: 2888,
            peer_type: 0,
            voters: 3,
            membership: "version=0".into(),
        }),
    });
    let out = ask("mntr", &Whitelist::All, &serving(Mode::Leader), &c);
    for line in [
        "zk_server_state\tleader",
        "zk_learners\t1",
        "zk_synced_followers\t1",
        "zk_synced_observers\t0",
        "zk_pending_syncs\t1",
        "zk_last_proposal_size\t10",
        "zk_quorum_size\t3",
        "zk_avg_2_learner_handler_qp_size\t0.0",
    ] {
        assert!(out.contains(&format!("\n{line}\n")), "{line}");
    }
    let conf = ask("conf", &Whitelist::All, &serving(Mode::Leader), &c);
    assert!(conf.starts_with("clientPort=2181\n") && conf.ends_with("membership: \nversion=0"));
}

#[test]
fn every_word_on_a_server_not_serving_answers_as_zookeeper() {
    // What ZooKeeper 3.8.0 answered while electing (two of three servers down).
    let c = Counters::default();
    let looking = Status::looking();
    let not_serving = "This ZooKeeper instance is not currently serving requests\n";
    for cmd in [
        "mntr", "conf", "cons", "crst", "wchs", "wchc", "wchp", "dump", "dirs", "srvr", "stat",
        "srst",
    ] {
        assert_eq!(
            ask(cmd, &Whitelist::All, &looking, &c),
            not_serving,
            "{cmd}"
        );
    }
    assert_eq!(
        ask("hash", &Whitelist::All, &looking, &c),
        not_serving.trim_end()
    );
    assert_eq!(ask("isro", &Whitelist::All, &looking, &c), "null");
    assert_eq!(ask("ruok", &Whitelist::All, &looking, &c), "imok");
    assert_eq!(ask("gtmk", &Whitelist::All, &looking, &c), "306");
    assert!(
        ask("envi", &Whitelist::All, &looking, &c).starts_with("Environment:\nzookeeper.version=")
    );
}

#[test]
fn small_words_answer_as_zookeeper() {
    let c = Counters::default();
    let s = serving(Mode::Standalone);
    assert_eq!(ask("isro", &Whitelist::All, &s, &c), "rw");
    assert_eq!(ask("hash", &Whitelist::All, &s, &c), "");
    c.received.store(9, Ordering::Relaxed);
    assert_eq!(
        ask("srst", &Whitelist::All, &s, &c),
        "Server stats reset.\n"
    );
    assert_eq!(Counters::get(&c.received), 0);
    let q = Query {
        whitelist: &Whitelist::All,
        status: &s,
        counters: &c,
        client: None,
        peer: addr(1),
        trace_mask: Some(7),
    };
    assert_eq!(answer("stmk", &q), "7");
    assert_eq!(ask("gtmk", &Whitelist::All, &s, &c), "7");
    // Without the client protocol and configuration, the words still answer.
    assert_eq!(ask("wchc", &Whitelist::All, &s, &c), "\n");
    assert!(ask("dump", &Whitelist::All, &s, &c).starts_with(
        "SessionTracker dump:\nSession Sets (0)/(0):\nephemeral nodes dump:\nSessions with Ephemerals (0):\nConnections dump:\nConnections Sets (1)/(1):\n1 expire at "
    ));
}

#[test]
fn only_known_words_parse() {
    assert_eq!(parse(b"srvr"), Some("srvr"));
    assert_eq!(parse(b"\x00\x00\x00\x2c"), None);
    assert_eq!(parse(b"SRVR"), None);
}

#[test]
fn the_glob_masks_only_what_it_should() {
    assert!(glob("a*c", "abbbc"));
    assert!(glob("*", ""));
    assert!(!glob("a*c", "abd"));
    assert!(glob("x=*,y=*", "x=1,y=2"));
    assert!(!glob("abc", "abcd"));
}
