//! Differential tests: the same sequences of operations against Apache ZooKeeper 3.8 (the
//! Debian package, started by the test) and against a standalone zk-rs. Answers, error
//! codes, Stat fields (zxids by their order of appearance, times aside), sets of children
//! and the watch events a second session receives must agree step by step; see
//! `differential_common/runner.rs` for exactly what is written down and compared.
//!
//! Replay: `DIFF_SEED=0x5eed0001 cargo nextest run -p zk-server --test differential`
//! (even seeds authenticate session A first, odd ones do not);
//! `DIFF_OPS` sets the steps per seed, `DIFF_SEEDS` adds that many seeds drawn from the clock,
//! `DIFF_KEEP_GOING=n` reports up to n divergences per run instead of stopping at the first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod differential_common;

use differential_common::ops::{AclChoice, Gen, Mode, MultiOp, Op, ReadOp, Target, Ver, Who};
use differential_common::{
    Servers, env_count, env_seed, reports, run_both, run_both_with, runtime,
};

/// The seeds every run checks (and `DIFF_SEEDS` more from the clock).
const SEEDS: [u64; 4] = [0x5eed_0001, 0x5eed_0002, 0x5eed_0003, 0x5eed_0004];
/// Steps per seed.
const OPS: usize = 300;

/// Whether a seed's run authenticates session A as alice first (even seeds do), so that
/// digest and `auth` ACLs grant it rights; odd seeds run unauthenticated.
fn authenticated(seed: u64) -> bool {
    seed.is_multiple_of(2)
}

#[test]
fn process_differential_random_sequences() {
    let seeds: Vec<u64> = match env_seed() {
        Some(s) => vec![s],
        None => {
            let mut seeds = SEEDS.to_vec();
            let extra = env_count("DIFF_SEEDS", 0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            let mut rng = zk_transport::rng::SeededRng::new(now);
            seeds.extend((0..extra).map(|_| rng.next_u64()));
            seeds
        }
    };
    let n = env_count("DIFF_OPS", OPS);
    let servers = Servers::start();
    let rt = runtime();
    let mut failures = Vec::new();
    // A mode (authenticated or not) whose prologue diverged once is not run again: every
    // seed would stop at the same step.
    let mut broken_prologue = [false, false];
    for seed in &seeds {
        let auth = authenticated(*seed);
        let mode = if auth {
            "authenticated"
        } else {
            "unauthenticated"
        };
        if broken_prologue[usize::from(auth)] {
            failures.push(format!(
                "seed {seed:#x} ({mode}) not run: the {mode} prologue diverged above\n"
            ));
            continue;
        }
        let ops = Gen::new(*seed, auth).sequence(n);
        let root = format!("diff-{seed:x}");
        let found = rt.block_on(run_both(&servers, &root, &ops));
        if let Some(first) = found.first() {
            if first.step < Gen::prologue(auth).len() {
                broken_prologue[usize::from(auth)] = true;
            }
            failures.push(format!(
                "{}replay: DIFF_SEED={seed:#x} cargo nextest run -p zk-server --test differential process_differential_random_sequences\n",
                reports(&format!("seed {seed:#x} ({mode})"), &found)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "zk-rs disagrees with Apache ZooKeeper on {} of {} seeds ({n} steps each):\n\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

fn p(path: &str) -> Target {
    Target::Path(path.into())
}

fn seq(parent: &str, prefix: &str, pick: u64) -> Target {
    Target::Seq {
        parent: parent.into(),
        prefix: prefix.into(),
        pick,
    }
}

fn create(who: Who, path: &str, mode: Mode) -> Op {
    Op::Create {
        who,
        path: path.into(),
        data: b"x".to_vec(),
        mode,
        acl: AclChoice::AnyoneAll,
    }
}

fn create_acl(who: Who, path: &str, acl: AclChoice) -> Op {
    Op::Create {
        who,
        path: path.into(),
        data: b"x".to_vec(),
        mode: Mode::Persistent,
        acl,
    }
}

fn set(who: Who, target: Target, data: &[u8], ver: Ver) -> Op {
    Op::SetData {
        who,
        target,
        data: data.to_vec(),
        ver,
    }
}

fn delete(who: Who, target: Target, ver: Ver) -> Op {
    Op::Delete { who, target, ver }
}

fn exists_w(target: Target) -> Op {
    Op::Exists {
        who: Who::B,
        target,
        watch: true,
    }
}

fn get_w(target: Target) -> Op {
    Op::GetData {
        who: Who::B,
        target,
        watch: true,
    }
}

fn children_w(target: Target) -> Op {
    Op::GetChildren {
        who: Who::B,
        target,
        watch: true,
    }
}

fn get(who: Who, target: Target) -> Op {
    Op::GetData {
        who,
        target,
        watch: false,
    }
}

fn children(who: Who, target: Target) -> Op {
    Op::GetChildren {
        who,
        target,
        watch: false,
    }
}

fn set_acl(who: Who, target: Target, acl: AclChoice, ver: Ver) -> Op {
    Op::SetAcl {
        who,
        target,
        acl,
        ver,
    }
}

fn get_acl(who: Who, target: Target) -> Op {
    Op::GetAcl { who, target }
}

fn m_create(path: &str, mode: Mode) -> MultiOp {
    MultiOp::Create {
        path: path.into(),
        data: b"m".to_vec(),
        mode,
        acl: AclChoice::AnyoneAll,
    }
}

fn m_create_acl(path: &str, acl: AclChoice) -> MultiOp {
    MultiOp::Create {
        path: path.into(),
        data: b"m".to_vec(),
        mode: Mode::Persistent,
        acl,
    }
}

fn m_set(target: Target, ver: Ver) -> MultiOp {
    MultiOp::SetData {
        target,
        data: b"mm".to_vec(),
        ver,
    }
}

fn m_check(target: Target, ver: Ver) -> MultiOp {
    MultiOp::Check { target, ver }
}

fn m_delete(target: Target, ver: Ver) -> MultiOp {
    MultiOp::Delete { target, ver }
}

/// Every create mode, create2 Stats, sequential names, versions, counts and ephemerals.
fn scenario_nodes() -> Vec<Op> {
    use Mode::*;
    use Who::*;
    let mut ops = Gen::prologue(false);
    ops.extend([
        create(A, "/d/a", Persistent),
        create(A, "/d/a", Persistent),      // NodeExists
        create(A, "/d/nope/x", Persistent), // NoNode
        create(A, "/d/s-", PersistentSequential),
        create(E, "/d/s-", EphemeralSequential),
        create(A, "/d/s-", TtlSequential(60_000)),
        create(A, "/d/c", Container),
        create(A, "/d/c/", PersistentSequential),
        create(A, "/d/c/", PersistentSequential),
        create(A, "/d/e", Ttl(5)),
        create(A, "/d/a/b", Ephemeral),
        create(A, "/d/a/b/x", Persistent), // NoChildrenForEphemerals
        create(E, "/d/a/q-", EphemeralSequential),
        children(A, p("/d")),
        children(A, p("/d/a")),
        children(A, p("/d/c")),
        get(A, p("/d/e")),
        get(A, p("/d/c")),
        get(A, seq("/d", "s-", 2)),
        Op::GetEphemerals {
            who: A,
            prefix: String::new(),
        },
        Op::GetEphemerals {
            who: E,
            prefix: "/d/s".into(),
        },
        Op::GetEphemerals {
            who: E,
            prefix: "/d/a".into(),
        },
        Op::GetAllChildrenNumber {
            who: A,
            target: p("/d"),
        },
        Op::GetAllChildrenNumber {
            who: B,
            target: p("/d/nope"),
        },
        Op::Sync {
            who: B,
            path: "/d/nope".into(),
        },
        Op::Sync {
            who: A,
            path: "/d".into(),
        },
        delete(A, p("/d/c"), Ver::Any), // NotEmpty
        delete(A, seq("/d/c", "", 0), Ver::Any),
        delete(A, seq("/d/c", "", 0), Ver::Any),
        get(A, p("/d/c")), // a container emptied, not reaped during the run
        children(A, p("/d")),
        Op::CloseE,
        children(A, p("/d")),
        children(A, p("/d/a")),
        create(A, "/d/s-", PersistentSequential),
    ]);
    ops
}

/// setData, delete and setACL with right and wrong versions.
fn scenario_versions() -> Vec<Op> {
    use Who::*;
    let mut ops = Gen::prologue(false);
    ops.extend([
        create(A, "/d/a", Mode::Persistent),
        set(A, p("/d/a"), b"1", Ver::Current),
        set(A, p("/d/a"), b"2", Ver::Wrong),
        set(A, p("/d/a"), b"3", Ver::Fixed(1)),
        set(A, p("/d/a"), b"", Ver::Any),
        set(A, p("/d/nope"), b"", Ver::Any),
        set(A, p("/d/nope"), b"", Ver::Fixed(3)),
        delete(A, p("/d/a"), Ver::Wrong),
        delete(A, p("/d/a"), Ver::Fixed(0)),
        delete(A, p("/d/nope"), Ver::Fixed(0)),
        set_acl(A, p("/d/a"), AclChoice::AnyoneAll, Ver::Wrong),
        set_acl(A, p("/d/a"), AclChoice::AnyoneAll, Ver::Current),
        set_acl(A, p("/d/a"), AclChoice::AnyoneAll, Ver::Fixed(0)),
        get(A, p("/d/a")),
        delete(A, p("/d/a"), Ver::Current),
        get(A, p("/d")),
        children(A, p("/d")),
    ]);
    ops
}

/// One-shot watches of session B, fired by A's writes and by closing E.
fn scenario_watches() -> Vec<Op> {
    use Mode::*;
    use Who::*;
    let mut ops = Gen::prologue(false);
    ops.extend([
        exists_w(p("/d/a")),
        children_w(p("/d")),
        create(A, "/d/a", Persistent),
        get_w(p("/d/a")),
        exists_w(p("/d/a")),
        children_w(p("/d/a")),
        set(A, p("/d/a"), b"new", Ver::Any),
        set(A, p("/d/a"), b"again", Ver::Any), // nothing left to fire
        get_w(p("/d/a")),
        children_w(p("/d/a")),
        children_w(p("/d")),
        create(A, "/d/a/b", Persistent),
        delete(A, p("/d/a/b"), Ver::Any),
        children_w(p("/d/a")),
        get_w(p("/d/a")),
        delete(A, p("/d/a"), Ver::Any),
        create(E, "/d/e", Ephemeral),
        create(E, "/d/s-", EphemeralSequential),
        get_w(p("/d/e")),
        exists_w(seq("/d", "s-", 0)),
        children_w(p("/d")),
        Op::CloseE,
        exists_w(p("/d/e")),
        Op::Multi {
            who: A,
            ops: vec![
                m_create("/d/e", Persistent),
                m_set(p("/d/e"), Ver::Fixed(0)),
                m_create("/d/e/x", Persistent),
            ],
        },
        set_acl(A, p("/d/e"), AclChoice::AnyoneRead, Ver::Any), // no watch fires
        get_w(p("/d/e")),
        Op::Multi {
            who: A,
            ops: vec![
                m_delete(p("/d/e/x"), Ver::Any),
                m_delete(p("/d/e"), Ver::Any),
            ],
        },
    ]);
    ops
}

/// multi that succeeds and that fails at each kind of op; multiRead with errors.
fn scenario_multi() -> Vec<Op> {
    use Mode::*;
    use Who::*;
    let mut ops = Gen::prologue(false);
    ops.extend([
        Op::Multi {
            who: A,
            ops: vec![
                m_create("/d/a", Persistent),
                m_create("/d/a/q-", PersistentSequential),
                m_set(p("/d/a"), Ver::Fixed(0)),
                m_check(p("/d/a"), Ver::Fixed(1)),
            ],
        },
        Op::Multi {
            who: A,
            ops: vec![
                m_create("/d/c", Container),
                m_create("/d/c/x", Ephemeral),
                m_check(p("/d/a"), Ver::Fixed(0)), // BadVersion: nothing happens
                m_create("/d/e", Persistent),
            ],
        },
        children(A, p("/d")),
        Op::Multi {
            who: A,
            ops: vec![m_delete(p("/d/a"), Ver::Any)], // NotEmpty
        },
        Op::Multi {
            who: A,
            ops: vec![
                m_set(p("/d/a"), Ver::Current),
                m_create("/d/a", Persistent), // NodeExists
            ],
        },
        Op::Multi {
            who: A,
            ops: vec![
                m_delete(seq("/d/a", "q-", 0), Ver::Current),
                m_delete(p("/d/a"), Ver::Any),
                m_check(p("/d/a"), Ver::Any), // NoNode after the delete
            ],
        },
        Op::Multi {
            who: A,
            ops: vec![
                m_create("/d/e", Ttl(1000)),
                m_create("/d/e/s-", TtlSequential(1000)),
                m_create("/d/c", Container),
                m_create("/d/c/q-", EphemeralSequential),
            ],
        },
        Op::MultiRead {
            who: B,
            ops: vec![
                ReadOp::Data(p("/d/a")),
                ReadOp::Children(p("/d")),
                ReadOp::Data(p("/d/nope")),
                ReadOp::Children(p("/d/nope")),
                ReadOp::Data(seq("/d/a", "q-", 0)),
            ],
        },
        Op::Multi {
            who: A,
            ops: vec![
                m_delete(seq("/d/a", "q-", 0), Ver::Any),
                m_delete(p("/d/a"), Ver::Any),
            ],
        },
        children(A, p("/d")),
        get(A, p("/d")),
    ]);
    ops
}

/// setACL/getACL, NoAuth for the unauthenticated sessions, invalid ACLs.
fn scenario_acl() -> Vec<Op> {
    use AclChoice::*;
    use Who::*;
    let mut ops = Gen::prologue(true);
    ops.extend([
        create_acl(A, "/d/a", CreatorAll),
        create_acl(E, "/d/b", CreatorAll), // InvalidACL: E has no authenticated id
        create_acl(A, "/d/c", UnknownScheme),
        create_acl(A, "/d/c", WorldNobody),
        create_acl(A, "/d/c", AnyoneReadAliceAll),
        create_acl(A, "/d/e", AnyoneCreateDelete),
        get_acl(A, p("/d/a")),
        get_acl(B, p("/d/a")),
        get_acl(B, p("/d/c")),
        get(B, p("/d/a")),
        get(B, p("/d/c")),
        get(A, p("/d/e")),
        children(A, p("/d/e")),
        create(B, "/d/e/x", Mode::Persistent),
        delete(B, p("/d/e/x"), Ver::Any),
        set(B, p("/d/c"), b"no", Ver::Any),
        set(A, p("/d/c"), b"yes", Ver::Any),
        set_acl(B, p("/d/c"), AnyoneAll, Ver::Any),
        set_acl(A, p("/d/c"), LoopbackAll, Ver::Current),
        get(B, p("/d/c")),
        set_acl(B, p("/d/c"), AnyoneNoAdmin, Ver::Any),
        set_acl(A, p("/d/c"), AnyoneNoAdmin, Ver::Any),
        set_acl(A, p("/d/c"), AnyoneAll, Ver::Any),
        get_acl(A, p("/d/c")),
        set_acl(A, p("/d/a"), AliceAll, Ver::Fixed(0)),
        set_acl(A, p("/d/a"), UnknownScheme, Ver::Any),
        set_acl(A, p("/d/a"), CreatorAll, Ver::Any),
        get_acl(A, p("/d/a")),
        Op::Exists {
            who: B,
            target: p("/d/a"),
            watch: true,
        },
        Op::GetAllChildrenNumber {
            who: B,
            target: p("/d/a"),
        },
        Op::ListChildren {
            who: B,
            target: p("/d/a"),
            watch: true,
        },
        set_acl(A, p("/d/a"), AnyoneRead, Ver::Any),
        delete(A, p("/d/a"), Ver::Any), // delete needs DELETE on the parent only
    ]);
    ops
}

/// Watch events go only to sessions that may read the node: Debian's 3.8.0 carries the fix
/// of CVE-2024-23944 (ZOOKEEPER-4799), which checks READ on the node's ACL when a watch
/// fires, for one-shot and persistent watches alike.
fn scenario_watch_acl() -> Vec<Op> {
    use AclChoice::*;
    use Who::*;
    let mut ops = Gen::prologue(false);
    ops.extend([
        create(A, "/d/a", Mode::Persistent),
        get_w(p("/d/a")),
        children_w(p("/d/a")),
        set_acl(A, p("/d/a"), AnyoneCreateDelete, Ver::Any), // nobody may read /d/a now
        create(A, "/d/a/b", Mode::Persistent),               // B's child watch stays silent
        delete(A, p("/d/a/b"), Ver::Any),
        exists_w(p("/d/e")),
        create_acl(A, "/d/e", AliceAll), // neither B's exists watch nor C's recursive one
        delete(A, p("/d/e"), Ver::Any),
        delete(A, p("/d/a"), Ver::Any), // B's data watch on /d/a stays silent
        exists_w(p("/d/a")),
        create(A, "/d/a", Mode::Persistent), // readable again: every watch fires
    ]);
    ops
}

/// A create with an invalid ACL fails its multi like any other failing op: a multi answer
/// with an error per op, the first failing op naming its error (not an error header).
fn scenario_multi_invalid_acl() -> Vec<Op> {
    use AclChoice::*;
    use Who::*;
    let mut ops = Gen::prologue(false);
    ops.extend([
        create(A, "/d/a", Mode::Persistent),
        Op::Multi {
            who: A,
            ops: vec![
                m_set(p("/d/a"), Ver::Any),
                m_create_acl("/d/c", UnknownScheme),
            ],
        },
        Op::Multi {
            who: A,
            ops: vec![
                m_create("/d/a", Mode::Persistent), // NodeExists comes first
                m_create_acl("/d/c", WorldNobody),
            ],
        },
        Op::Multi {
            who: A,
            ops: vec![m_create_acl("/d/c", CreatorAll)], // no authenticated id
        },
        get(A, p("/d/a")),
        children(A, p("/d")),
    ]);
    ops
}

/// The Stat of creates inside a multi, compared too (see
/// `Runner::compare_multi_create_stats`: Apache ZooKeeper 3.8 sends none).
fn scenario_multi_create_stat() -> Vec<Op> {
    use Mode::*;
    let mut ops = Gen::prologue(false);
    ops.push(Op::Multi {
        who: Who::A,
        ops: vec![
            m_create("/d/a", Persistent),
            m_create("/d/a/q-", PersistentSequential),
            m_create("/d/c", Container),
            m_create("/d/e", Ttl(60_000)),
        ],
    });
    ops
}

#[test]
fn process_differential_scripted_scenarios() {
    let servers = Servers::start();
    let rt = runtime();
    // (name, steps, whether creates inside a multi are compared with their Stat)
    let scenarios: [(&str, Vec<Op>, bool); 8] = [
        ("nodes", scenario_nodes(), false),
        ("versions", scenario_versions(), false),
        ("watches", scenario_watches(), false),
        ("multi", scenario_multi(), false),
        ("acl", scenario_acl(), false),
        ("watch-acl", scenario_watch_acl(), false),
        ("multi-invalid-acl", scenario_multi_invalid_acl(), false),
        ("multi-create-stat", scenario_multi_create_stat(), true),
    ];
    let mut failures = Vec::new();
    for (name, ops, stats) in &scenarios {
        let root = format!("scripted-{name}");
        let found = rt.block_on(run_both_with(&servers, &root, ops, |r| {
            if *stats {
                r.compare_multi_create_stats();
            }
        }));
        if !found.is_empty() {
            failures.push(reports(&format!("scenario {name}"), &found));
        }
    }
    assert!(
        failures.is_empty(),
        "zk-rs disagrees with Apache ZooKeeper in {} of {} scenarios:\n\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
}
