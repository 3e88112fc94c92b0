//! Per-transport figures for bench/README.md: cold-start election, write throughput and
//! latency (zk-bench), and the failover window after `kill -9` of the leader, for a 3-node
//! ensemble over each peer transport, on plain loopback and across the emulated WAN
//! (50 ms RTT, 1 % loss; see `zk_tests::netem`).
//!
//! ```text
//! cargo build --release -p zk-server -p zk-bench -p zk-tests
//! target/release/transport_bench --server target/release/zk-server \
//!     --bench target/release/zk-bench [--seconds 5] [--tick-ms 2000]
//! ```

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use zk_tests::netem::WanConditions;
use zk_tests::process::PeerTransport;
use zk_tests::{Ensemble, EnsembleSpec};

struct Args {
    server: PathBuf,
    bench: PathBuf,
    seconds: u64,
    tick_ms: u64,
}

fn args() -> Result<Args> {
    let mut a = Args {
        server: PathBuf::from("target/release/zk-server"),
        bench: PathBuf::from("target/release/zk-bench"),
        seconds: 5,
        tick_ms: 2000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--server" => a.server = value.into(),
            "--bench" => a.bench = value.into(),
            "--seconds" => a.seconds = value.parse()?,
            "--tick-ms" => a.tick_ms = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

struct Row {
    transport: &'static str,
    network: &'static str,
    election_s: f64,
    ops: f64,
    p50_ms: f64,
    p99_ms: f64,
    failover_s: f64,
}

fn measure(a: &Args, transport: PeerTransport, wan: Option<WanConditions>) -> Result<Row> {
    let spec = EnsembleSpec {
        transport,
        wan,
        tick_ms: a.tick_ms,
        ..EnsembleSpec::voters(3)
    };
    let started = Instant::now();
    let mut e = Ensemble::start(&a.server, &spec)?;
    let leader = e.wait_for_single_leader(&[1, 2, 3], Duration::from_secs(60))?;
    let election_s = started.elapsed().as_secs_f64();

    let hosts: Vec<String> = (1..=3)
        .map(|id| format!("127.0.0.1:{}", e.node(id).client_port))
        .collect();
    let json = e.dir.path().join("bench.json");
    let status = Command::new(&a.bench)
        .args(["--hosts", &hosts.join(","), "--workload", "write"])
        .args(["--sessions", "32", "--inflight", "1", "--value-size", "128"])
        .args([
            "--duration",
            &a.seconds.to_string(),
            "--warmup",
            "1",
            "--no-progress",
        ])
        .arg("--json")
        .arg(&json)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running zk-bench")?;
    if !status.success() {
        bail!("zk-bench failed: {status}");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let ops = num(&report["ops_per_sec"]);
    let p50_ms = num(&report["latency_us"]["p50"]) / 1000.0;
    let p99_ms = num(&report["latency_us"]["p99"]) / 1000.0;

    let killed = Instant::now();
    e.kill9(leader);
    let rest: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let new_leader = e.wait_for_single_leader(&rest, Duration::from_secs(120))?;
    // Serving means taking writes: the window ends with the first committed write.
    let deadline = Instant::now() + Duration::from_secs(60);
    while e.set(new_leader, "after-failover", "x").is_err() {
        if Instant::now() > deadline {
            bail!("no write after the failover");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let failover_s = killed.elapsed().as_secs_f64();
    Ok(Row {
        transport: match transport {
            PeerTransport::Tcp => "tcp",
            PeerTransport::TcpTls => "tcp+TLS",
            PeerTransport::Quic => "quic",
            PeerTransport::Grpc => "grpc",
        },
        network: if wan.is_some() {
            "WAN 50 ms RTT, 1% loss"
        } else {
            "loopback"
        },
        election_s,
        ops,
        p50_ms,
        p99_ms,
        failover_s,
    })
}

fn main() -> Result<()> {
    let a = args()?;
    println!(
        "| transport | network | cold-start election (s) | writes/s (32x1) | p50 (ms) | p99 (ms) | kill -9 leader -> first write (s) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for wan in [None, Some(WanConditions::cross_datacenter())] {
        for t in [
            PeerTransport::Tcp,
            PeerTransport::TcpTls,
            PeerTransport::Quic,
            PeerTransport::Grpc,
        ] {
            let r = measure(&a, t, wan)?;
            println!(
                "| {} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |",
                r.transport, r.network, r.election_s, r.ops, r.p50_ms, r.p99_ms, r.failover_s
            );
        }
    }
    Ok(())
}
