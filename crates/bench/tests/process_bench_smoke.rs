//! `zk-bench` against a real standalone `zk-server` process: every workload for about a
//! second, each with nonzero throughput, no errors, no lost connections, and its root
//! removed afterwards.
//!
//! The server binary is `target/<profile>/zk-server` beside this test's own executable
//! (another package's binary has no `CARGO_BIN_EXE_*` here), or `$ZK_SERVER_BIN`.

// Test helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use zk_bench::conn::Conn;
use zk_bench::{BenchConfig, Stop, Workload, run};
use zk_jute::{GetChildrenRequest, Request, Response};
use zk_tests::process::mode;
use zk_tests::{Ensemble, EnsembleSpec};

/// The `zk-server` binary built for this profile.
fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ZK_SERVER_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<this test> -> target/<profile>/zk-server
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join("zk-server");
    assert!(
        bin.is_file(),
        "{} does not exist: build the server first (`cargo build -p zk-server`), \
         or point ZK_SERVER_BIN at a zk-server binary",
        bin.display()
    );
    bin
}

fn wait_serving(ens: &Ensemble, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if mode(port).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("zk-server not serving within 60 s\n{}", ens.log_tails(&[1]));
}

/// The children of `/` (to check that every run removed its root).
async fn root_children(hosts: &str) -> Vec<String> {
    let mut c = Conn::connect(hosts, Duration::from_secs(10), None)
        .await
        .expect("connect");
    let req = Request::GetChildren(GetChildrenRequest {
        path: "/".into(),
        watch: false,
    });
    let reply = c
        .call(&req, Duration::from_secs(10), &mut Vec::new())
        .await
        .expect("getChildren /");
    c.close(Duration::from_secs(2)).await;
    match reply.body {
        Response::GetChildren(r) => r.children,
        other => panic!("getChildren / answered {} {other:?}", reply.err),
    }
}

#[test]
fn process_bench_smoke() {
    let bin = server_binary();
    let ens = Ensemble::start(&bin, &EnsembleSpec::voters(1)).expect("start zk-server");
    let port = ens.node(1).client_port;
    wait_serving(&ens, port);
    let hosts = format!("127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let workloads = [
        Workload::Write,
        Workload::CreateDelete,
        Workload::Read,
        Workload::Mixed,
        Workload::Populate,
        Workload::WatchStorm,
    ];
    for workload in workloads {
        let mut c = BenchConfig::new(&hosts, workload).expect("config");
        c.sessions = 4;
        c.inflight = 16;
        c.value_size = 64;
        c.duration = Duration::from_secs(1);
        c.warmup = Duration::from_millis(200);
        c.znodes = 2500;
        c.watchers = 8;
        c.progress = false;
        let name = workload.name();
        let report = rt
            .block_on(run(&c, Stop::new()))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", ens.log_tails(&[1])));
        println!("{}", report.table());
        let logs = || ens.log_tails(&[1]);
        assert!(report.total.ops > 0, "{name}: no operations\n{}", logs());
        assert_eq!(
            report.error_count(),
            0,
            "{name}: {:?}\n{}",
            report.errors,
            logs()
        );
        assert_eq!(
            report.conn.disconnects,
            0,
            "{name}: lost connections\n{}",
            logs()
        );
        assert_eq!(
            report.conn.connect_failures,
            0,
            "{name}: failed connection attempts\n{}",
            logs()
        );
        match workload {
            Workload::Populate => {
                let p = report.populate.as_ref().expect("populate figures");
                assert_eq!(p.created, 2500, "{name}");
                assert!(p.elapsed > Duration::ZERO);
            }
            Workload::WatchStorm => {
                let s = report.storm.as_ref().expect("watch-storm figures");
                assert!(s.rounds > 0, "{name}: no rounds");
                assert_eq!(s.missed, 0, "{name}: missed notifications");
                assert_eq!(s.notifications, s.rounds * 8);
                assert!(s.round.max > 0);
            }
            Workload::Mixed => {
                let names: Vec<&str> = report.per_op.iter().map(|o| o.name.as_str()).collect();
                assert_eq!(names, ["getData", "setData"], "{name}");
            }
            Workload::CreateDelete => {
                let names: Vec<&str> = report.per_op.iter().map(|o| o.name.as_str()).collect();
                assert_eq!(names, ["create", "delete"], "{name}");
            }
            _ => assert_eq!(report.per_op.len(), 1, "{name}"),
        }
        let path = dir.path().join(format!("{name}.json"));
        report.write_json(&path).expect("write JSON");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read JSON"))
                .expect("parse JSON");
        assert_eq!(v["settings"]["workload"], name);
        assert!(v["ops_per_sec"].as_f64().is_some_and(|x| x > 0.0), "{v}");
        assert!(
            v["latency_us"]["p99_9"].as_u64().is_some_and(|x| x > 0),
            "{v}"
        );
        assert_eq!(v["errors"]["total"], 0);
        let left = rt.block_on(root_children(&hosts));
        assert!(
            !left.iter().any(|c| c.starts_with("zk-bench-")),
            "{name}: root not removed: {left:?}"
        );
    }
}
