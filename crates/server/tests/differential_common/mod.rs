//! Differential runs: one list of operations against Apache ZooKeeper 3.8 and against zk-rs,
//! each server with its own sessions, the normalized answers compared step by step.

// A helper module of one test binary: `pub` is for its sibling modules, and not every
// binary that includes it uses every item.
#![allow(dead_code, unreachable_pub)]

pub mod ops;
pub mod runner;
pub mod vocab;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use zk_tests::reference::{Reference, ReferenceSpec};
use zk_tests::{Ensemble, EnsembleSpec};

use ops::Op;
use runner::Runner;

const BIN: &str = env!("CARGO_BIN_EXE_zk-server");
/// Both servers: sessions up to 20 ticks (10 s), so a busy machine does not expire them.
const TICK_MS: u64 = 500;
/// Nothing is reaped during a run (containers, TTL nodes): the first check is an hour away
/// on both servers, so the reaper's timing cannot make them differ.
const CONTAINER_CHECK_MS: u64 = 3_600_000;

/// The two servers under comparison.
pub struct Servers {
    pub zk: Reference,
    pub rs: Ensemble,
}

impl Servers {
    /// Start Apache ZooKeeper (from the Debian package) and a standalone zk-rs, both with
    /// TTL and container nodes enabled.
    pub fn start() -> Self {
        let mut spec = ReferenceSpec {
            tick_ms: TICK_MS,
            ..ReferenceSpec::default()
        };
        spec.properties.push((
            "znode.container.checkIntervalMs".into(),
            CONTAINER_CHECK_MS.to_string(),
        ));
        let zk = Reference::start_with(&spec).unwrap_or_else(|e| {
            panic!("the reference Apache ZooKeeper 3.8 must run for differential tests: {e:#}")
        });
        let mut rs_spec = EnsembleSpec::voters(1);
        rs_spec.tick_ms = TICK_MS;
        rs_spec.extra = format!(
            "zookeeper.extendedTypesEnabled=true\nznode.container.checkIntervalMs={CONTAINER_CHECK_MS}\n"
        );
        let rs = Ensemble::start(Path::new(BIN), &rs_spec).expect("start zk-rs");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while zk_tests::process::mode(rs.node(1).client_port).is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "zk-rs did not serve within 30 s\n{}",
                rs.log_tails(&[1])
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { zk, rs }
    }

    pub fn zk_addr(&self) -> String {
        self.zk.connect_string()
    }

    pub fn rs_addr(&self) -> String {
        format!("127.0.0.1:{}", self.rs.node(1).client_port)
    }
}

/// The first step where the servers disagreed.
#[derive(Debug)]
pub struct Divergence {
    pub step: usize,
    pub op: Op,
    pub zk: Vec<String>,
    pub rs: Vec<String>,
    /// The steps just before it, with the answers both agreed on.
    pub context: Vec<(usize, Op, Vec<String>)>,
}

impl Divergence {
    /// A report naming the run, the step, the operation and both answers.
    pub fn report(&self, run: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "=== {run}: divergence at step {} ===", self.step);
        if !self.context.is_empty() {
            let _ = writeln!(s, "--- the steps before (both servers agreed) ---");
            for (i, op, lines) in &self.context {
                let _ = writeln!(s, "step {i}: {op:?}");
                for l in lines {
                    let _ = writeln!(s, "    {l}");
                }
            }
        }
        let _ = writeln!(s, "--- step {}: {:?}", self.step, self.op);
        let _ = writeln!(s, "Apache ZooKeeper answered:");
        for l in &self.zk {
            let _ = writeln!(s, "    {l}");
        }
        let _ = writeln!(s, "zk-rs answered:");
        for l in &self.rs {
            let _ = writeln!(s, "    {l}");
        }
        s
    }
}

/// How many agreed steps a report shows before the divergence.
const CONTEXT: usize = 6;

/// Run `ops` on both servers under the root `/{root}`: the divergences, at most
/// `DIFF_KEEP_GOING` of them (1 unless set; after the first, the servers' states may
/// differ, so later ones can be consequences of it).
pub async fn run_both(servers: &Servers, root: &str, ops: &[Op]) -> Vec<Divergence> {
    run_both_with(servers, root, ops, |_| {}).await
}

/// [`run_both`], with `setup` applied to both runners first.
pub async fn run_both_with(
    servers: &Servers,
    root: &str,
    ops: &[Op],
    setup: impl Fn(&mut Runner),
) -> Vec<Divergence> {
    let keep_going = env_count("DIFF_KEEP_GOING", 1).max(1);
    let root = format!("/{root}");
    let mut zk = Runner::new("ZooKeeper", &servers.zk_addr(), &root)
        .await
        .expect("sessions on Apache ZooKeeper");
    let mut rs = Runner::new("zk-rs", &servers.rs_addr(), &root)
        .await
        .expect("sessions on zk-rs");
    setup(&mut zk);
    setup(&mut rs);
    let mut history: Vec<(usize, Op, Vec<String>)> = Vec::new();
    let mut found = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let a = zk.run(op).await;
        let b = rs.run(op).await;
        if a != b {
            let from = history.len().saturating_sub(CONTEXT);
            found.push(Divergence {
                step,
                op: op.clone(),
                zk: a.clone(),
                rs: b,
                context: history[from..].to_vec(),
            });
            if found.len() >= keep_going {
                break;
            }
        }
        history.push((step, op.clone(), a));
    }
    found
}

/// The reports of every divergence of a run, the first one first.
pub fn reports(run: &str, found: &[Divergence]) -> String {
    let mut s = String::new();
    for (i, d) in found.iter().enumerate() {
        if i == 0 {
            s.push_str(&d.report(run));
        } else {
            s.push_str(&d.report(&format!("{run} (after an earlier divergence)")));
        }
    }
    s
}

/// A seed from `DIFF_SEED` (decimal or `0x` hex), if set.
pub fn env_seed() -> Option<u64> {
    let s = std::env::var("DIFF_SEED").ok()?;
    let s = s.trim();
    let parsed = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("DIFF_SEED={s}: {e}")))
}

/// A count from the environment, or `default`.
pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|e| panic!("{var}={v}: {e}"))
        })
        .unwrap_or(default)
}

/// A runtime for the clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
