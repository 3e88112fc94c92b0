//! Regression tests for protocol bugs found by review of zk-rs's own ZAB core (not in
//! ZooKeeper's table), each a scripted schedule on the simulation harness with every
//! invariant checked after every step.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod proto_common;

use bytes::Bytes;
use proto_common::script::*;
use proto_common::{Params, Sim};
use zk_election::{QuorumVerifier, ServerState};
use zk_transport::{Channel, PeerId};
use zk_zab::proto::{Input, Message, Phase};

/// Frames that would let a new leader complete a sync with anyone.
fn sync_frame(m: &Message) -> bool {
    matches!(
        m,
        Message::Diff { .. }
            | Message::Trunc { .. }
            | Message::Snap { .. }
            | Message::NewLeader { .. }
    )
}

/// A new leader whose own history is not durable yet (a slow disk holds a committed txn as a
/// pending append) must not persist the new `currentEpoch`: with it, a crash would leave a
/// higher epoch over a shorter log, that server would win the next election and truncate the
/// committed txn everywhere. Here the follower `b` becomes leader with such a history.
#[test]
fn new_leader_persists_current_epoch_only_after_its_history_is_durable() {
    let mut s = ensemble("lead-epoch", 3, Params::default());
    let a = s.leader().unwrap();
    let f = others(&s, a);
    let b = *f.iter().max().unwrap();
    let c = *f.iter().min().unwrap();
    let mut ws: Vec<Bytes> = (0..2).map(|_| commit(&mut s, a)).collect();
    let e0 = s.nodes[&b].store.current;
    s.hold_durable.insert(b);
    let w = s.write(a);
    assert!(
        wait(&mut s, 2_000, |s| s.has_applied(a, &w)),
        "w committed by a + c"
    );
    assert!(stored(&s, c, &w) && !stored(&s, b, &w));
    ws.push(w.clone());
    s.drop_rules.push(Box::new(move |from, to, m| {
        from == b && to == c && sync_frame(m)
    }));
    s.crash(a);
    assert!(
        wait(&mut s, 5_000, |s| s
            .server(b)
            .is_some_and(|x| x.status().state == ServerState::Leading)),
        "b leads"
    );
    run_for(&mut s, 3_000);
    assert_eq!(
        s.nodes[&b].store.current, e0,
        "b persisted the new currentEpoch over a history that is not durable"
    );
    s.crash(b);
    s.hold_durable.clear();
    s.drop_rules.clear();
    s.boot(a);
    s.boot(b);
    recover_and_check(&mut s, &mut ws);
}

/// The same for a leader re-elected after a brief quorum loss while its own proposal is
/// still only in memory.
#[test]
fn reelected_leader_persists_current_epoch_only_after_its_own_proposal_is_durable() {
    let mut s = ensemble("reelect", 3, Params::default());
    let a = s.leader().unwrap();
    let f = others(&s, a);
    let mut ws: Vec<Bytes> = (0..2).map(|_| commit(&mut s, a)).collect();
    let e0 = s.nodes[&a].store.current;
    s.hold_durable.insert(a);
    let w = s.write(a);
    assert!(
        wait(&mut s, 2_000, |s| s.has_applied(a, &w)),
        "w committed by the followers"
    );
    assert!(!stored(&s, a, &w));
    ws.push(w.clone());
    s.drop_rules
        .push(Box::new(move |from, _to, m| from == a && sync_frame(m)));
    for &x in &f {
        s.reset_link(a, x);
    }
    run_for(&mut s, 5_000);
    assert_eq!(
        s.nodes[&a].store.current, e0,
        "a persisted the new currentEpoch before its own proposal was durable"
    );
    s.crash(a);
    s.hold_durable.clear();
    s.drop_rules.clear();
    s.boot(a);
    recover_and_check(&mut s, &mut ws);
}

/// One LEADERINFO with an epoch beyond 32 bits (a faulty peer) is refused, not persisted,
/// so it cannot make every later leader look stale.
#[test]
fn leaderinfo_epoch_beyond_32_bits_is_refused() {
    let ids: Vec<PeerId> = (1..=3).map(PeerId).collect();
    let v = QuorumVerifier::majority(ids, []).unwrap();
    let mut s = Sim::new(7, "huge", v, Params::default());
    s.boot_all();
    let mut victim = None;
    for _ in 0..100_000 {
        if !s.step() {
            break;
        }
        for id in s.ids() {
            let st = s.server(id).unwrap().status();
            if st.state == ServerState::Following
                && st.phase == Phase::Discovery
                && let Some(ld) = st.leader
                && s.nodes[&id].up.contains(&ld)
            {
                victim = Some((id, ld));
            }
        }
        if victim.is_some() {
            break;
        }
    }
    let (victim, ld) = victim.expect("a follower in discovery");
    let frame = Message::LeaderInfo { new_epoch: 1 << 40 }.encode();
    s.input(
        victim,
        Input::Frame {
            peer: ld,
            channel: Channel::Quorum,
            frame,
        },
    );
    assert!(
        s.nodes[&victim].store.accepted <= u64::from(u32::MAX),
        "the epoch was persisted"
    );
    assert!(
        s.run_until(s.now + 30_000, |s| s.converged()),
        "ensemble wedged by one LEADERINFO"
    );
    let w = s.write(PeerId(3));
    assert!(s.run_until(s.now + 5_000, |s| {
        s.ids().iter().all(|&i| s.has_applied(i, &w))
    }));
}

/// A forged ACK far beyond anything proposed (a faulty peer) must not count for proposals
/// made later: while neither follower can make anything durable (so neither acks), the
/// leader commits nothing on its own ack plus the forged one.
#[test]
fn forged_ack_beyond_the_log_does_not_commit_later_proposals() {
    let mut s = ensemble("forged-ack", 3, Params::default());
    let l = s.leader().unwrap();
    commit(&mut s, l);
    let f = others(&s, l);
    let frame = Message::Ack { zxid: u64::MAX }.encode();
    s.input(
        l,
        Input::Frame {
            peer: f[0],
            channel: Channel::Quorum,
            frame,
        },
    );
    for &x in &f {
        s.hold_durable.insert(x);
    }
    let w = s.write(l);
    let committed = wait(&mut s, 500, |s| s.has_applied(l, &w));
    assert!(
        !committed,
        "the leader committed a txn that no follower acknowledged"
    );
}

/// A leader answering far more syncs than were asked (a faulty peer) cannot grow a
/// learner's memory without bound: past the limit the learner leaves the session, and the
/// ensemble recovers.
#[test]
fn unasked_sync_answers_are_bounded() {
    let mut s = ensemble("syncdone-flood", 3, Params::default());
    let l = s.leader().unwrap();
    let f = others(&s, l)[0];
    for id in 0..=65_536u64 {
        let frame = Message::SyncDone { id, zxid: u64::MAX }.encode();
        s.input(
            f,
            Input::Frame {
                peer: l,
                channel: Channel::Quorum,
                frame,
            },
        );
        if s.server(f).unwrap().status().phase != Phase::Broadcast {
            break;
        }
    }
    assert_ne!(
        s.server(f).unwrap().status().phase,
        Phase::Broadcast,
        "the flood was absorbed"
    );
    converge(&mut s);
    commit(&mut s, l);
}
