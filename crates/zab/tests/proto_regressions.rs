//! Named regression tests for ZooKeeper's replication bugs (ENGINEERING.md §4), each a
//! scripted, deterministic schedule on the simulation harness. Every invariant of
//! `proto_common` (agreement, durability of committed txns on a quorum, ACK only after
//! durable, ...) is checked after every step, on top of each test's own assertions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod proto_common;

use bytes::Bytes;
use proto_common::script::*;
use proto_common::{Params, Sim};
use zk_election::{QuorumVerifier, ServerState};
use zk_transport::{Channel, PeerId};
use zk_zab::proto::{Action, Input, Message, Phase};
use zk_zab::txn::{counter_of, epoch_of, make_zxid};

/// ZOOKEEPER-1154/1156: the most up-to-date server (an uncommitted txn of its own) is absent
/// while the others elect and commit; when it rejoins it is truncated exactly: its
/// uncommitted txn goes, nothing committed does.
#[test]
fn zk1154_up_to_date_server_absent_then_rejoins_truncated_exactly() {
    let mut s = ensemble("1154", 3, Params::default());
    let l = s.leader().unwrap();
    let f = others(&s, l);
    let mut ws: Vec<Bytes> = (0..3).map(|_| commit(&mut s, l)).collect();
    s.plan.isolate(l, &f);
    let lost = s.write(l);
    run_for(&mut s, 50);
    assert!(stored(&s, l, &lost), "the leader logged its proposal");
    s.crash(l);
    s.plan.heal();
    assert!(wait(&mut s, 10_000, |s| s.leader().is_some()));
    let nl = s.leader().unwrap();
    ws.push(commit(&mut s, nl));
    s.boot(l);
    converge(&mut s);
    ws.push(commit(&mut s, nl));
    everyone_has(&mut s, &ws);
    assert!(!stored(&s, l, &lost), "the uncommitted txn was truncated");
    assert!(s.ids().iter().all(|&i| !s.has_applied(i, &lost)));
}

/// ZOOKEEPER-2832: a follower holding an uncommitted txn beyond the last zxid of a new
/// leader (whose history is shorter) must be truncated to the leader's history.
#[test]
fn zk2832_uncommitted_txn_beyond_a_shorter_leader_is_truncated() {
    let mut s = ensemble("2832", 3, Params::default());
    let l = s.leader().unwrap();
    let f = others(&s, l);
    let (f1, f2) = (f[0], f[1]);
    let mut ws: Vec<Bytes> = (0..2).map(|_| commit(&mut s, l)).collect();
    // f1 logs a proposal that cannot commit: the leader's disk is stuck, f2 is cut off.
    s.hold_durable.insert(l);
    s.plan.isolate(f2, &[l, f1]);
    let w = s.write(l);
    assert!(wait(&mut s, 1_000, |s| stored(s, f1, &w)));
    run_for(&mut s, 100);
    assert!(
        s.ids().iter().all(|&i| !s.has_applied(i, &w)),
        "not committed"
    );
    s.crash(l);
    s.crash(f1);
    s.hold_durable.clear();
    s.plan.heal();
    s.boot(l);
    assert!(wait(&mut s, 10_000, |s| s.leader().is_some()));
    let nl = s.leader().unwrap();
    assert!(s.server(nl).unwrap().status().last_logged < make_zxid(1, 100));
    s.boot(f1);
    converge(&mut s);
    assert!(
        !stored(&s, f1, &w),
        "f1 was truncated to the leader's history"
    );
    ws.push(commit(&mut s, nl));
    everyone_has(&mut s, &ws);
}

/// ZOOKEEPER-1282/1291/1264: acceptedEpoch is durable before ACKEPOCH (and before the leader
/// sends LEADERINFO); currentEpoch is durable on NEWLEADER, before its ACK, not on
/// UPTODATE: a follower that never sees UPTODATE still has the new current epoch.
#[test]
fn zk1282_1291_1264_epoch_files_written_in_order() {
    let ids: Vec<PeerId> = (1..=3).map(PeerId).collect();
    let v = QuorumVerifier::majority(ids, []).unwrap();
    let mut s = Sim::new(11, "1282", v, Params::default());
    s.record = true;
    s.boot_all();
    converge(&mut s);
    let l = s.leader().unwrap();
    let e = epoch(&s, l);
    let log: Vec<(PeerId, Action)> = s.action_log.clone();
    let pos = |who: PeerId, pred: &dyn Fn(&Action) -> bool| {
        log.iter()
            .position(|(i, a)| *i == who && pred(a))
            .unwrap_or(usize::MAX)
    };
    let sends = |m: fn(&Message) -> bool| {
        move |a: &Action| match a {
            Action::Send {
                channel: Channel::Quorum,
                frame,
                ..
            } => Message::decode(frame).is_ok_and(|x| m(&x)),
            _ => false,
        }
    };
    let acc = pos(l, &|a| *a == Action::PersistAcceptedEpoch(e));
    let info = pos(l, &sends(|m| matches!(m, Message::LeaderInfo { .. })));
    assert!(acc < info, "leader: acceptedEpoch before LEADERINFO");
    for f in others(&s, l) {
        let acc = pos(f, &|a| *a == Action::PersistAcceptedEpoch(e));
        let ack = pos(f, &sends(|m| matches!(m, Message::AckEpoch { .. })));
        assert!(
            acc < ack && ack < usize::MAX,
            "{f}: acceptedEpoch before ACKEPOCH"
        );
        let cur = pos(f, &|a| *a == Action::PersistCurrentEpoch(e));
        let nl_ack = pos(
            f,
            &sends(|m| matches!(m, Message::Ack { zxid } if counter_of(*zxid) == 0)),
        );
        assert!(
            cur < nl_ack && nl_ack < usize::MAX,
            "{f}: currentEpoch before the NEWLEADER ACK"
        );
    }
    // A follower whose UPTODATE is lost (its link resets) already holds the new epoch.
    let f1 = others(&s, l)[0];
    s.crash(l);
    let mut dropped = false;
    s.drop_rules.push(Box::new(move |_, to, m| {
        if to == f1 && matches!(m, Message::UpToDate) && !dropped {
            dropped = true;
            return true;
        }
        false
    }));
    s.boot(l);
    converge(&mut s);
    let e2 = epoch(&s, s.leader().unwrap());
    assert!(e2 > e);
    assert_eq!(s.nodes[&f1].store.current, e2);
}

/// ZOOKEEPER-3642: the leader crashes after sending SNAP and before NEWLEADER. The learner
/// installed the snapshot durably, so a later restart of it loses nothing.
#[test]
fn zk3642_leader_crash_between_snap_and_newleader() {
    let params = Params {
        window: 2,
        ..Params::default()
    };
    let mut s = ensemble("3642", 3, params);
    let l = s.leader().unwrap();
    let f = others(&s, l);
    let (f1, f2) = (f[0], f[1]);
    s.crash(f2);
    let mut ws: Vec<Bytes> = (0..6).map(|_| commit(&mut s, l)).collect();
    let before = s.nodes[&f2].store.snap_zxid;
    s.boot(f2);
    assert!(
        wait(&mut s, 10_000, |s| s.nodes[&f2].store.snap_zxid > before),
        "the lagging follower got a SNAP"
    );
    s.crash(l); // before NEWLEADER reaches f2
    for w in &ws {
        assert!(stored(&s, f2, w), "the snapshot is durable on f2");
    }
    assert!(wait(&mut s, 10_000, |s| s.leader().is_some()));
    let nl = s.leader().unwrap();
    assert!(nl == f1 || nl == f2);
    ws.push(commit(&mut s, nl));
    s.crash(f2);
    s.boot(f2);
    s.boot(l);
    recover_and_check(&mut s, &mut ws);
}

/// ZOOKEEPER-3911/3023: synced txns must be durable on the learners before the NEWLEADER
/// quorum counts; a whole-quorum crash right after establishment then loses nothing. While a
/// learner's disk is stuck the leader cannot establish at all.
#[test]
fn zk3911_3023_whole_quorum_crash_right_after_sync() {
    let mut s = ensemble("3911", 3, Params::default());
    let l = s.leader().unwrap();
    let f = others(&s, l);
    let (f1, f2) = (f[0], f[1]);
    s.crash(f1);
    let ws: Vec<Bytes> = (0..3).map(|_| commit(&mut s, l)).collect();
    s.crash(l);
    s.hold_durable.insert(f1);
    s.boot(f1);
    // f2 (the longer history) leads; f1 needs the three txns by DIFF and cannot log them.
    assert!(wait(&mut s, 3_000, |s| s
        .server(f2)
        .is_some_and(|x| x.status().state == ServerState::Leading)));
    run_for(&mut s, 800);
    assert!(
        s.leader().is_none(),
        "no establishment without durable learners"
    );
    s.hold_durable.clear();
    assert!(wait(&mut s, 10_000, |s| s.leader().is_some()));
    s.crash(f1);
    s.crash(f2);
    s.boot_all();
    converge(&mut s);
    everyone_has(&mut s, &ws);
}

/// ZOOKEEPER-4394: a COMMIT reaching a learner after NEWLEADER but before UPTODATE (here
/// its disk is slow, so it has not acked NEWLEADER yet) is applied, in order.
#[test]
fn zk4394_commit_before_uptodate_applied_in_order() {
    let mut s = ensemble("4394", 3, Params::default());
    let l = s.leader().unwrap();
    let f2 = others(&s, l)[1];
    s.crash(f2);
    let mut ws: Vec<Bytes> = (0..3).map(|_| commit(&mut s, l)).collect();
    s.hold_durable.insert(f2);
    s.boot(f2);
    assert!(wait(&mut s, 5_000, |s| !s.nodes[&f2]
        .store
        .pending
        .is_empty()));
    let w = s.write(l);
    assert!(wait(&mut s, 2_000, |s| s.has_applied(f2, &w)));
    let st = s.server(f2).unwrap().status();
    assert_eq!(st.phase, Phase::Synchronization, "applied before UPTODATE");
    ws.push(w);
    s.hold_durable.clear();
    converge(&mut s);
    everyone_has(&mut s, &ws);
}

/// ZOOKEEPER-4643: a follower that crashes after NEWLEADER but before its synced txns are
/// durable has not written the new currentEpoch either, so it cannot later pass for more
/// up to date than it is; nothing committed is truncated.
#[test]
fn zk4643_crash_before_synced_txns_durable() {
    let mut s = ensemble("4643", 3, Params::default());
    let l = s.leader().unwrap();
    let f1 = others(&s, l)[0];
    let old = epoch(&s, l);
    s.crash(f1);
    let mut ws: Vec<Bytes> = (0..3).map(|_| commit(&mut s, l)).collect();
    s.crash(l);
    s.hold_durable.insert(f1);
    s.boot(l);
    s.boot(f1);
    assert!(wait(&mut s, 5_000, |s| s.nodes[&f1].store.accepted > old
        && !s.nodes[&f1].store.pending.is_empty()));
    run_for(&mut s, 50);
    assert_eq!(
        s.nodes[&f1].store.current, old,
        "currentEpoch waits for the txns"
    );
    s.crash(f1);
    s.hold_durable.clear();
    s.boot(f1);
    recover_and_check(&mut s, &mut ws);
}

/// ZOOKEEPER-4646: followers crash right after their NEWLEADER ACK, the new leader having
/// committed its uncommitted tail of the previous epoch through that quorum. The tail was
/// durable on them before they acked, so it survives a restart of everyone.
#[test]
fn zk4646_followers_crash_right_after_newleader_ack() {
    let mut s = ensemble("4646", 3, Params::default());
    let l = s.leader().unwrap();
    let f = others(&s, l);
    let mut ws: Vec<Bytes> = (0..2).map(|_| commit(&mut s, l)).collect();
    s.plan.isolate(l, &f);
    let tail = s.write(l);
    run_for(&mut s, 50);
    assert!(stored(&s, l, &tail));
    s.crash(l);
    for &x in &f {
        s.crash(x);
    }
    s.plan.heal();
    s.boot_all();
    assert!(wait(&mut s, 10_000, |s| s.leader().is_some()));
    assert_eq!(s.leader(), Some(l), "the longest history leads");
    // Crash the followers at once: the tail is committed and must be on a quorum's disk.
    for &x in &f {
        s.crash(x);
    }
    s.crash(l);
    s.boot_all();
    converge(&mut s);
    ws.push(tail);
    everyone_has(&mut s, &ws);
}

/// ZOOKEEPER-4685: an ACK for a proposal arriving before the learner's NEWLEADER ACK is
/// ignored, not fatal; a PROPOSAL reaching a learner between NEWLEADER and UPTODATE is
/// logged and acked after the NEWLEADER ACK.
#[test]
fn zk4685_early_proposal_ack_tolerated() {
    let mut s = ensemble("4685", 3, Params::default());
    s.record = true;
    let l = s.leader().unwrap();
    let f2 = others(&s, l)[1];
    let e = epoch(&s, l);
    s.crash(f2);
    let mut ws: Vec<Bytes> = (0..2).map(|_| commit(&mut s, l)).collect();
    s.hold_durable.insert(f2);
    s.boot(f2);
    assert!(wait(&mut s, 5_000, |s| !s.nodes[&f2]
        .store
        .pending
        .is_empty()));
    let forged = Message::Ack {
        zxid: make_zxid(e as u32, 7),
    };
    s.input(
        l,
        Input::Frame {
            peer: f2,
            channel: Channel::Quorum,
            frame: forged.encode(),
        },
    );
    assert_eq!(s.leader(), Some(l), "the leader survives an early ACK");
    let w = s.write(l);
    run_for(&mut s, 100);
    s.hold_durable.clear();
    converge(&mut s);
    ws.push(w.clone());
    everyone_has(&mut s, &ws);
    let acks: Vec<u64> = s
        .action_log
        .iter()
        .filter_map(|(i, a)| match a {
            Action::Send { frame, .. } if *i == f2 => match Message::decode(frame) {
                Ok(Message::Ack { zxid }) => Some(zxid),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        counter_of(acks[0]),
        0,
        "NEWLEADER is acked first: {acks:x?}"
    );
    assert!(acks.iter().skip(1).all(|&z| counter_of(z) > 0));
}

/// ZOOKEEPER-4785: a follower bounced in the middle of a DIFF sync (after the txns, before
/// NEWLEADER) and then crashed loses nothing once it re-syncs, even through a later crash
/// of everyone.
#[test]
fn zk4785_follower_bounced_during_diff_sync() {
    let mut s = ensemble("4785", 3, Params::default());
    let l = s.leader().unwrap();
    let f1 = others(&s, l)[0];
    s.crash(f1);
    let mut ws: Vec<Bytes> = (0..3).map(|_| commit(&mut s, l)).collect();
    s.boot(f1);
    // The first DIFF txns arrived; the link resets before NEWLEADER does.
    assert!(wait(&mut s, 5_000, |s| s
        .server(f1)
        .is_some_and(|x| x.status().last_logged > 0)));
    assert_eq!(s.server(f1).unwrap().status().phase, Phase::Synchronization);
    s.reset_link(l, f1);
    assert_eq!(s.server(f1).unwrap().status().state, ServerState::Looking);
    s.crash(f1);
    s.boot(f1);
    converge(&mut s);
    ws.push(commit(&mut s, l));
    for id in s.ids() {
        s.crash(id);
    }
    s.boot_all();
    converge(&mut s);
    everyone_has(&mut s, &ws);
}

/// ZOOKEEPER-4925: a discontinuous PROPOSAL is rejected (the learner leaves and re-syncs)
/// instead of leaving a hole; a follower synced by SNAP that then leads propagates no hole
/// (the harness fails any append that does not follow the log's last zxid).
#[test]
fn zk4925_discontinuous_proposal_rejected_and_stale_leader_has_no_hole() {
    let params = Params {
        window: 2,
        ..Params::default()
    };
    let mut s = ensemble("4925", 3, params);
    let l = s.leader().unwrap();
    let f = others(&s, l);
    let (f1, f2) = (f[0], f[1]);
    let mut ws: Vec<Bytes> = (0..2).map(|_| commit(&mut s, l)).collect();
    let e = epoch(&s, l) as u32;
    let bad = zk_zab::txn::Txn::new(make_zxid(e, 40), &b"hole"[..]);
    s.input(
        f1,
        Input::Frame {
            peer: l,
            channel: Channel::Quorum,
            frame: Message::Proposal { txn: bad }.encode(),
        },
    );
    assert_eq!(
        s.server(f1).unwrap().status().state,
        ServerState::Looking,
        "rejected: back to election"
    );
    converge(&mut s);
    // f2 falls behind the window, is synced by SNAP, then leads.
    s.crash(f2);
    for _ in 0..5 {
        ws.push(commit(&mut s, l));
    }
    s.boot(f2);
    converge(&mut s);
    s.crash(l);
    s.crash(f1);
    s.boot(f1);
    assert!(wait(&mut s, 10_000, |s| s.leader().is_some()));
    let nl = s.leader().unwrap();
    ws.push(commit(&mut s, nl));
    s.boot(l);
    converge(&mut s);
    everyone_has(&mut s, &ws);
    assert!(
        s.ids()
            .iter()
            .all(|&i| !s.applied_payloads(i).contains(&Bytes::from("hole")))
    );
}

/// ZOOKEEPER-1277: when the zxid counter would reach the limit the leader stops proposing
/// and a new epoch starts; nothing committed is lost and writes resume in the new epoch.
#[test]
fn zk1277_counter_exhaustion_starts_a_new_epoch() {
    let params = Params {
        counter_limit: 4,
        ..Params::default()
    };
    let mut s = ensemble("1277", 3, params);
    let l = s.leader().unwrap();
    let e = epoch(&s, l);
    let mut ws: Vec<Bytes> = (0..3).map(|_| commit(&mut s, l)).collect();
    let _refused = s.write(l);
    assert_ne!(
        s.server(l).unwrap().status().state,
        ServerState::Leading,
        "the leader stepped down"
    );
    assert!(wait(&mut s, 10_000, |s| s.converged()));
    let nl = s.leader().unwrap();
    assert!(epoch(&s, nl) > e);
    let w = commit(&mut s, nl);
    let z = s.nodes[&nl].applied.last().unwrap().zxid;
    assert_eq!((epoch_of(z) as u64, counter_of(z)), (epoch(&s, nl), 1));
    ws.push(w);
    everyone_has(&mut s, &ws);
}

/// A learner whose registration fails on the peer path (here: the connection is reset before
/// LEADERINFO arrives, as a proxy or sidecar can do, three times in a row) retries at once:
/// all three failures together cost less than one `initLimit`.
#[test]
fn registration_failures_on_the_peer_path_are_retried_promptly() {
    let params = Params::default();
    let init_limit_ms = u64::from(params.init_limit) * params.tick_ms;
    let mut s = ensemble("register-retry", 3, params);
    let l = s.leader().unwrap();
    commit(&mut s, l);
    let f = others(&s, l)[0];
    s.crash(f);
    let drops = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let counter = drops.clone();
    s.drop_rules.push(Box::new(move |_, to, m| {
        if to == f && matches!(m, Message::LeaderInfo { .. }) && counter.get() < 3 {
            counter.set(counter.get() + 1);
            return true;
        }
        false
    }));
    let booted = s.now;
    s.boot(f);
    let rejoined = wait(&mut s, init_limit_ms, |s| s.converged());
    assert_eq!(drops.get(), 3, "the three LEADERINFOs were cut");
    assert!(
        rejoined,
        "after 3 failed registrations the learner was not serving within one initLimit ({init_limit_ms} ms)"
    );
    let took = s.now - booted;
    assert!(took < init_limit_ms, "rejoined after {took} ms");
    let w = commit(&mut s, f);
    assert!(s.has_applied(f, &w));
}
