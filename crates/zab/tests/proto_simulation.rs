//! Seeded whole-ensemble simulation of [`zk_zab::proto::Server`] cores.
//!
//! Safety phase: 20 simulated seconds of crashes and restarts (losing non-durable appends),
//! partitions, one-way blocks, loss (a quorum-channel loss resets the link), duplication,
//! delay, snapshots, and clients writing and syncing at random servers. Every invariant in
//! `proto_common` is checked after every step. Liveness phase: faults stop, everyone
//! restarts; within 60 s a leader must be established with every server following it, and a
//! client write must then be applied by every server.
//!
//! `SIM_SEED=n` replays one seed (and prints its tail); `SIM_SEEDS=n` sets how many seeds each
//! configuration runs. By default 2,200 seeds run in all (800 + 400 + 400 + 150 + 250 + 200).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod proto_common;

use proto_common::{Params, Sim};
use std::panic::{AssertUnwindSafe, catch_unwind};
use zk_election::QuorumVerifier;
use zk_transport::PeerId;

const FAULT_PHASE_MS: u64 = 20_000;
const LIVENESS_BOUND_MS: u64 = 60_000;

fn run_one(seed: u64, name: &str, verifier: QuorumVerifier, params: Params) {
    let mut sim = Sim::new(seed, name, verifier, params);
    sim.boot_all();
    sim.start_chaos();
    sim.run_until(FAULT_PHASE_MS, |_| false);
    sim.stop_faults();
    sim.clients = false;
    let deadline = FAULT_PHASE_MS + LIVENESS_BOUND_MS;
    if !sim.run_until(deadline, |s| s.converged()) {
        sim.fail("liveness: no established leader followed by everyone within the bound");
    }
    // A write at a random server must reach every server.
    let ids = sim.ids();
    let mut done = false;
    while !done && sim.now < deadline {
        let target = ids[sim.rng.below(ids.len() as u64) as usize];
        let w = sim.write(target);
        let until = (sim.now + 3_000).min(deadline);
        done = sim.run_until(until, |s| s.ids().iter().all(|&i| s.has_applied(i, &w)));
    }
    if !done {
        sim.fail("liveness: a client write was not applied everywhere within the bound");
    }
    if std::env::var("SIM_SEED").is_ok() {
        eprintln!(
            "seed {seed} {name}: ok at {} ms; committed {} txns; epochs {:?}; syncs done {}; \
             DIFF/TRUNC/SNAP {:?}",
            sim.now,
            sim.committed.len(),
            sim.established,
            sim.syncs_done,
            sim.sync_modes
        );
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn run_seeds(name: &str, verifier: QuorumVerifier, default_seeds: u64) {
    run_seeds_with(name, verifier, Params::default(), default_seeds);
}

/// The committed-txn window varies with the seed (4, 16 or 100 txns) so that DIFF, TRUNC
/// and SNAP syncs all occur.
fn window_for(seed: u64, params: &Params) -> Params {
    let mut p = params.clone();
    if p.window == Params::default().window {
        p.window = [4, 16, 100][(seed % 3) as usize];
    }
    p
}

fn run_seeds_with(name: &str, verifier: QuorumVerifier, params: Params, default_seeds: u64) {
    let seeds: Vec<u64> = match env_u64("SIM_SEED") {
        Some(s) => vec![s],
        None => (0..env_u64("SIM_SEEDS").unwrap_or(default_seeds)).collect(),
    };
    for seed in seeds {
        let v = verifier.clone();
        let p = window_for(seed, &params);
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| run_one(seed, name, v, p))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("seed {seed} (replay with SIM_SEED={seed}), config {name}: {msg}");
        }
    }
}

fn ids(v: &[u64]) -> Vec<PeerId> {
    v.iter().map(|&i| PeerId(i)).collect()
}

#[test]
fn three_voters() {
    let v = QuorumVerifier::majority(ids(&[1, 2, 3]), []).unwrap();
    run_seeds("3 voters", v, 800);
}

#[test]
fn five_voters() {
    let v = QuorumVerifier::majority(ids(&[1, 2, 3, 4, 5]), []).unwrap();
    run_seeds("5 voters", v, 400);
}

#[test]
fn three_voters_one_observer() {
    let v = QuorumVerifier::majority(ids(&[1, 2, 3]), ids(&[4])).unwrap();
    run_seeds("3 voters + 1 observer", v, 400);
}

#[test]
fn hierarchical_with_weight_zero_and_observer() {
    let v = QuorumVerifier::hierarchical(
        [(1, ids(&[1, 2])), (2, ids(&[3, 4])), (3, ids(&[5, 6]))],
        [(PeerId(6), 0), (PeerId(1), 2)],
        ids(&[7]),
    )
    .unwrap();
    run_seeds(
        "hierarchical 3 groups, weight-0 server 6, observer 7",
        v,
        150,
    );
}

/// Slow disks (appends durable after up to 200 ms) and a window of 2 committed txns, so
/// learners are often synced by SNAP and ACKs lag far behind proposals.
#[test]
fn three_voters_slow_disks_small_window() {
    let v = QuorumVerifier::majority(ids(&[1, 2, 3]), []).unwrap();
    let params = Params {
        window: 2,
        durable_max_ms: 200,
        ..Params::default()
    };
    run_seeds_with("3 voters, slow disks, window 2", v, params, 250);
}

/// Very slow disks (appends durable after up to 800 ms): leaders are often elected with
/// history still in flight, the window in which `currentEpoch` must wait for it.
#[test]
fn three_voters_very_slow_disks() {
    let v = QuorumVerifier::majority(ids(&[1, 2, 3]), []).unwrap();
    let params = Params {
        durable_max_ms: 800,
        ..Params::default()
    };
    run_seeds_with("3 voters, disks up to 800 ms", v, params, 200);
}
