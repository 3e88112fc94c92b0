//! Transcript tests of the Fast Leader Election core: one test per rule, each asserting the
//! exact actions after every input. Read them as the specification of [`Fle`].
//!
//! Notation: `send [2, 3] LOOKING v(3, 0x5, e1) r1` is one notification (state, vote as
//! leader/zxid/peer epoch, election round) sent to servers 2 and 3 (consecutive identical
//! sends are grouped); `decide FOLLOWING v(...) r1 by [1, 2]` is a decision and its supporters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use std::time::Duration;
use zk_election::fle::{Action, Input};
use zk_election::{Fle, FleConfig, Millis, Notification, QuorumVerifier, ServerState, Vote};
use zk_transport::PeerId;

fn ids(v: &[u64]) -> Vec<PeerId> {
    v.iter().map(|&i| PeerId(i)).collect()
}

fn majority(voters: &[u64], observers: &[u64]) -> QuorumVerifier {
    QuorumVerifier::majority(ids(voters), ids(observers)).unwrap()
}

fn fle(me: u64, q: QuorumVerifier) -> Fle {
    let mut cfg = FleConfig::new(PeerId(me), q);
    cfg.max_notification_interval = Duration::from_millis(1000);
    Fle::new(cfg)
}

fn v(leader: u64, zxid: u64, epoch: u64) -> Vote {
    Vote::new(PeerId(leader), zxid, epoch)
}

fn state_name(s: ServerState) -> &'static str {
    match s {
        ServerState::Looking => "LOOKING",
        Following => "FOLLOWING",
        Leading => "LEADING",
        Observing => "OBSERVING",
    }
}

fn show_vote(v: &Vote) -> String {
    format!("v({}, {:#x}, e{})", v.leader, v.zxid, v.peer_epoch)
}

fn show_note(n: &Notification) -> String {
    format!(
        "{} {} r{}",
        state_name(n.state),
        show_vote(&n.vote),
        n.election_epoch
    )
}

/// Feed `input` at `t` ms and render every resulting action.
fn step(f: &mut Fle, t: u64, input: Input) -> Vec<String> {
    f.handle(Millis(t), input);
    let mut out: Vec<(Vec<u64>, String)> = Vec::new();
    while let Some(a) = f.poll_action() {
        match a {
            Action::Send { to, notification } => {
                let text = show_note(&notification);
                match out.last_mut() {
                    Some((tos, last)) if *last == text && !tos.is_empty() => tos.push(to.0),
                    _ => out.push((vec![to.0], text)),
                }
            }
            Action::Decided(d) => {
                let by: Vec<u64> = d.supporters.iter().map(|p| p.0).collect();
                let text = format!(
                    "decide {} {} r{} by {:?}",
                    state_name(d.state),
                    show_vote(&d.vote),
                    d.election_epoch,
                    by
                );
                out.push((vec![], text));
            }
        }
    }
    out.into_iter()
        .map(|(tos, text)| {
            if tos.is_empty() {
                text
            } else {
                format!("send {tos:?} {text}")
            }
        })
        .collect()
}

fn note(from: u64, state: ServerState, vote: Vote, round: u64) -> Input {
    Input::Notification {
        from: PeerId(from),
        frame: Notification::new(state, vote, round).encode(),
    }
}

fn looking(from: u64, vote: Vote, round: u64) -> Input {
    note(from, ServerState::Looking, vote, round)
}

fn start(zxid: u64, epoch: u64) -> Input {
    Input::Start {
        last_zxid: zxid,
        peer_epoch: epoch,
    }
}

const NONE: [&str; 0] = [];
use ServerState::{Following, Leading, Observing};

#[test]
fn start_bumps_the_round_and_sends_our_own_vote_to_every_other_voter() {
    let mut f = fle(1, majority(&[1, 2, 3], &[9]));
    assert_eq!(f.poll_timeout(), None, "idle before Start");
    assert_eq!(
        step(&mut f, 0, looking(2, v(2, 9, 1), 1)),
        NONE,
        "inputs before Start are ignored"
    );
    assert_eq!(
        step(&mut f, 0, start(5, 1)),
        ["send [2, 3] LOOKING v(1, 0x5, e1) r1"]
    );
    assert_eq!(
        f.poll_timeout(),
        Some(Millis(200)),
        "first notification timeout"
    );
    assert_eq!(
        step(&mut f, 10, start(5, 1)),
        ["send [2, 3] LOOKING v(1, 0x5, e1) r2"],
        "a new round"
    );
}

#[test]
fn a_better_vote_in_the_same_round_is_adopted_and_re_sent_a_worse_one_is_not() {
    let mut f = fle(2, majority(&[1, 2, 3, 4, 5], &[]));
    step(&mut f, 0, start(5, 1));
    assert_eq!(
        step(&mut f, 1, looking(1, v(1, 4, 1), 1)),
        NONE,
        "lower zxid: keep ours"
    );
    assert_eq!(
        step(&mut f, 2, looking(1, v(1, 9, 0), 1)),
        NONE,
        "lower peer epoch wins nothing"
    );
    assert_eq!(
        step(&mut f, 3, looking(3, v(3, 5, 1), 1)),
        ["send [1, 3, 4, 5] LOOKING v(3, 0x5, e1) r1"],
        "same epoch and zxid, larger id"
    );
    assert_eq!(f.vote(), v(3, 5, 1));
    assert!(!f.is_finalizing(), "2 and 3 agree: 2 of 5 is no quorum");
}

#[test]
fn a_stale_round_is_ignored_but_its_sender_is_told_our_vote() {
    let mut f = fle(1, majority(&[1, 2, 3], &[]));
    step(&mut f, 0, start(5, 1));
    step(&mut f, 1, start(5, 1)); // round 2
    assert_eq!(
        step(&mut f, 2, looking(2, v(2, 99, 7), 1)),
        ["send [2] LOOKING v(1, 0x5, e1) r2"],
        "even a better vote from round 1 is not adopted"
    );
    assert_eq!(f.vote(), v(1, 5, 1));
    assert!(!f.is_finalizing());
}

#[test]
fn a_newer_round_is_joined_with_the_better_of_its_vote_and_our_initial_vote() {
    let mut f = fle(1, majority(&[1, 2, 3], &[]));
    step(&mut f, 0, start(5, 1));
    assert_eq!(
        step(&mut f, 1, looking(3, v(3, 7, 1), 1)),
        ["send [2, 3] LOOKING v(3, 0x7, e1) r1"]
    );
    assert!(f.is_finalizing(), "1 and 3 agree on 3");
    // A better vote (round 4) cancels the finalize wait; we jump to round 4. Its vote for 2
    // (zxid 6) is worse than 3's but better than our initial vote: we adopt it, and forget 3.
    assert_eq!(
        step(&mut f, 2, looking(2, v(2, 6, 2), 4)),
        ["send [2, 3] LOOKING v(2, 0x6, e2) r4"]
    );
    assert_eq!(f.logical_clock(), 4);
    assert!(f.is_finalizing(), "1 and 2 agree in round 4");
    // A newer round whose vote is worse than our initial vote: we propose ourselves again.
    let mut g = fle(1, majority(&[1, 2, 3], &[]));
    step(&mut g, 0, start(5, 1));
    assert_eq!(
        step(&mut g, 1, looking(2, v(2, 1, 1), 9)),
        ["send [2, 3] LOOKING v(1, 0x5, e1) r9"]
    );
    assert!(!g.is_finalizing(), "2 voted for itself; only we vote for 1");
}

#[test]
fn a_quorum_starts_the_finalize_wait_and_decides_at_its_deadline() {
    let mut f = fle(1, majority(&[1, 2, 3], &[]));
    step(&mut f, 0, start(5, 1));
    assert_eq!(
        step(&mut f, 50, looking(2, v(1, 5, 1), 1)),
        NONE,
        "2 agrees with us: quorum"
    );
    assert!(f.is_finalizing());
    assert_eq!(
        f.poll_timeout(),
        Some(Millis(250)),
        "finalize wait of 200 ms"
    );
    assert_eq!(step(&mut f, 249, Input::Timeout), NONE, "not yet");
    assert_eq!(
        step(&mut f, 250, Input::Timeout),
        ["decide LEADING v(1, 0x5, e1) r1 by [1, 2]"]
    );
    assert_eq!(f.state(), Leading);
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn a_better_vote_during_the_finalize_wait_cancels_it_and_is_processed() {
    let mut f = fle(1, majority(&[1, 2, 3], &[]));
    step(&mut f, 0, start(5, 1));
    step(&mut f, 10, looking(2, v(1, 5, 1), 1));
    assert!(f.is_finalizing());
    assert_eq!(
        step(&mut f, 20, looking(3, v(1, 5, 1), 1)),
        NONE,
        "not better: dropped during the wait"
    );
    assert_eq!(
        step(&mut f, 30, looking(3, v(3, 5, 1), 1)),
        ["send [2, 3] LOOKING v(3, 0x5, e1) r1"]
    );
    assert!(f.is_finalizing(), "1 and 3 now agree on 3: a fresh wait");
    assert_eq!(f.poll_timeout(), Some(Millis(230)));
    assert_eq!(
        step(&mut f, 230, Input::Timeout),
        ["decide FOLLOWING v(3, 0x5, e1) r1 by [1, 3]"]
    );
}

#[test]
fn silence_re_sends_and_doubles_the_notification_timeout_up_to_the_cap() {
    let mut f = fle(1, majority(&[1, 2, 3], &[]));
    step(&mut f, 0, start(5, 1));
    let sent = ["send [2, 3] LOOKING v(1, 0x5, e1) r1"];
    let mut deadlines = Vec::new();
    for _ in 0..5 {
        let at = f.poll_timeout().unwrap();
        deadlines.push(at.0);
        assert_eq!(step(&mut f, at.0, Input::Timeout), sent);
    }
    // 200, then +400, +800, then the 1000 ms cap of this test's config.
    assert_eq!(deadlines, [200, 600, 1400, 2400, 3400]);
    assert_eq!(f.notification_interval(), Duration::from_millis(1000));
    // A notification restarts the wait with the current interval (ZooKeeper's poll).
    step(&mut f, 3500, looking(2, v(2, 1, 0), 1));
    assert_eq!(f.poll_timeout(), Some(Millis(4500)));
}

#[test]
fn an_established_leader_is_joined_through_the_out_of_election_votes() {
    let mut f = fle(4, majority(&[1, 2, 3, 4, 5], &[]));
    step(&mut f, 0, start(0, 0));
    assert_eq!(step(&mut f, 1, note(1, Following, v(3, 8, 2), 7)), NONE);
    assert_eq!(
        step(&mut f, 2, note(2, Following, v(3, 8, 2), 7)),
        NONE,
        "only 2 votes"
    );
    assert_eq!(
        step(&mut f, 3, note(3, Leading, v(3, 8, 2), 7)),
        ["decide FOLLOWING v(3, 0x8, e2) r7 by [1, 2, 3]"],
        "a quorum follows 3 and 3 itself leads"
    );
    assert_eq!(
        f.logical_clock(),
        7,
        "we take the leader's round, no new round"
    );
}

#[test]
fn check_leader_refuses_a_leader_that_never_said_leading() {
    let mut f = fle(4, majority(&[1, 2, 3, 4, 5], &[]));
    step(&mut f, 0, start(0, 0));
    for from in [1, 2, 3] {
        assert_eq!(
            step(&mut f, from, note(from, Following, v(5, 8, 2), 7)),
            NONE
        );
    }
    assert_eq!(
        f.state(),
        ServerState::Looking,
        "a quorum follows 5, but 5 is not LEADING"
    );
    assert_eq!(
        step(&mut f, 9, note(5, Leading, v(5, 8, 2), 7)),
        ["decide FOLLOWING v(5, 0x8, e2) r7 by [1, 2, 3, 5]"]
    );
}

#[test]
fn same_round_following_votes_decide_with_our_own_agreeing_vote() {
    // The in-round path: our LOOKING vote for 3 and 3's LEADING vote of the same round agree.
    let mut f = fle(1, majority(&[1, 2, 3], &[]));
    step(&mut f, 0, start(5, 1));
    assert_eq!(
        step(&mut f, 1, note(3, Leading, v(3, 5, 1), 2)),
        NONE,
        "another round: out of election only"
    );
    step(&mut f, 2, start(5, 1)); // round 2
    assert_eq!(
        step(&mut f, 3, looking(2, v(3, 5, 1), 2)),
        ["send [2, 3] LOOKING v(3, 0x5, e1) r2"]
    );
    assert!(f.is_finalizing());
    assert_eq!(
        step(&mut f, 4, note(3, Leading, v(3, 5, 1), 1)),
        NONE,
        "not better: dropped while finalizing"
    );
}

#[test]
fn a_decided_server_answers_looking_voters_and_ignores_the_rest() {
    let mut f = fle(1, majority(&[1, 2, 3], &[]));
    step(&mut f, 0, start(5, 1));
    step(&mut f, 1, looking(2, v(2, 6, 1), 1));
    step(&mut f, 201, Input::Timeout);
    assert_eq!(f.state(), Following);
    assert_eq!(
        step(&mut f, 300, looking(3, v(3, 1, 0), 5)),
        ["send [3] FOLLOWING v(2, 0x6, e1) r1"]
    );
    assert_eq!(step(&mut f, 301, note(3, Following, v(2, 6, 1), 1)), NONE);
    assert_eq!(
        step(&mut f, 302, Input::Timeout),
        NONE,
        "no timers once decided"
    );
    assert_eq!(
        step(&mut f, 303, Input::LinkUp { peer: PeerId(3) }),
        ["send [3] FOLLOWING v(2, 0x6, e1) r1"]
    );
}

#[test]
fn a_link_coming_up_gets_our_current_vote() {
    let mut f = fle(1, majority(&[1, 2, 3], &[9]));
    step(&mut f, 0, start(5, 1));
    assert_eq!(
        step(&mut f, 1, Input::LinkUp { peer: PeerId(2) }),
        ["send [2] LOOKING v(1, 0x5, e1) r1"]
    );
    assert_eq!(
        step(&mut f, 2, Input::LinkUp { peer: PeerId(9) }),
        ["send [9] LOOKING v(1, 0x5, e1) r1"]
    );
    assert_eq!(
        step(&mut f, 3, Input::LinkUp { peer: PeerId(77) }),
        NONE,
        "not a member"
    );
}

#[test]
fn observers_are_answered_but_never_counted_nor_elected() {
    let mut f = fle(1, majority(&[1, 2, 3], &[9]));
    step(&mut f, 0, start(5, 1));
    assert_eq!(
        step(&mut f, 1, looking(9, v(9, 99, 9), 1)),
        ["send [9] LOOKING v(1, 0x5, e1) r1"],
        "the observer is told our vote, nothing else"
    );
    assert_eq!(
        step(&mut f, 2, looking(2, v(9, 99, 9), 1)),
        NONE,
        "a vote for an observer is invalid"
    );
    assert!(!f.is_finalizing());
    assert_eq!(
        step(&mut f, 3, note(9, Following, v(1, 5, 1), 1)),
        ["send [9] LOOKING v(1, 0x5, e1) r1"],
        "an observer's vote never counts toward a quorum"
    );
    assert!(!f.is_finalizing());

    // The observer's own core: sends only to voters, learns the leader from them.
    let mut o = fle(9, majority(&[1, 2, 3], &[9]));
    assert_eq!(
        step(&mut o, 0, start(0, 0)),
        ["send [1, 2, 3] LOOKING v(9, 0x0, e0) r1"]
    );
    assert_eq!(
        step(&mut o, 1, looking(1, v(3, 5, 1), 1)),
        NONE,
        "observers take no part in LOOKING votes"
    );
    assert_eq!(step(&mut o, 2, looking(2, v(3, 5, 1), 1)), NONE);
    assert_eq!(step(&mut o, 3, note(1, Following, v(3, 5, 1), 4)), NONE);
    assert_eq!(
        step(&mut o, 4, note(3, Leading, v(3, 5, 1), 4)),
        ["decide OBSERVING v(3, 0x5, e1) r4 by [1, 3]"]
    );
    assert_eq!(o.state(), Observing);
}

#[test]
fn a_weight_zero_server_is_never_adopted_as_leader() {
    // One group {1, 2, 3}, server 3 of weight 0: the group weighs 2, a quorum is {1, 2}.
    let q = QuorumVerifier::hierarchical([(1, ids(&[1, 2, 3]))], [(PeerId(3), 0)], []).unwrap();
    let mut f = fle(1, q.clone());
    step(&mut f, 0, start(5, 1));
    assert_eq!(
        step(&mut f, 1, looking(2, v(3, 99, 9), 1)),
        NONE,
        "3 would win the order but has weight 0"
    );
    assert_eq!(f.vote(), v(1, 5, 1));
    assert_eq!(
        step(&mut f, 2, looking(2, v(2, 6, 1), 1)),
        ["send [2, 3] LOOKING v(2, 0x6, e1) r1"]
    );
    assert!(
        f.is_finalizing(),
        "1 and 2 agree; 3's support is not needed"
    );

    // The weight-0 server itself proposes itself, but its vote alone never decides.
    let mut z = fle(3, q);
    step(&mut z, 0, start(99, 9));
    step(&mut z, 1, looking(1, v(3, 99, 9), 1));
    assert!(
        !z.is_finalizing(),
        "weight 0 plus weight 1 of 2 is not more than half"
    );
}

#[test]
fn a_hierarchical_quorum_needs_a_majority_in_a_majority_of_groups() {
    let q = QuorumVerifier::hierarchical(
        [
            (1, ids(&[1, 2, 3])),
            (2, ids(&[4, 5, 6])),
            (3, ids(&[7, 8, 9])),
        ],
        [],
        [],
    )
    .unwrap();
    let mut f = fle(1, q);
    step(&mut f, 0, start(0, 0));
    assert_eq!(
        step(&mut f, 1, looking(9, v(9, 0, 0), 1)),
        ["send [2, 3, 4, 5, 6, 7, 8, 9] LOOKING v(9, 0x0, e0) r1"]
    );
    step(&mut f, 2, looking(2, v(9, 0, 0), 1));
    step(&mut f, 3, looking(4, v(9, 0, 0), 1));
    assert!(
        !f.is_finalizing(),
        "group 1 has a majority (1, 2); groups 2 and 3 do not"
    );
    step(&mut f, 4, looking(5, v(9, 0, 0), 1));
    assert!(
        f.is_finalizing(),
        "groups 1 and 2 each have a majority: 2 of 3 groups"
    );
    assert_eq!(
        step(&mut f, 204, Input::Timeout),
        ["decide FOLLOWING v(9, 0x0, e0) r1 by [1, 2, 4, 5, 9]"]
    );
}

#[test]
fn a_lone_voter_elects_itself_after_the_finalize_wait() {
    let mut f = fle(1, majority(&[1], &[]));
    assert_eq!(step(&mut f, 0, start(3, 2)), NONE);
    assert_eq!(
        step(&mut f, 200, Input::Timeout),
        ["decide LEADING v(1, 0x3, e2) r1 by [1]"]
    );
}

#[test]
fn malformed_frames_and_strangers_are_dropped() {
    let mut f = fle(1, majority(&[1, 2, 3], &[]));
    step(&mut f, 0, start(5, 1));
    let junk = Input::Notification {
        from: PeerId(2),
        frame: Bytes::from_static(&[0xff; 30]),
    };
    assert_eq!(step(&mut f, 1, junk), NONE);
    assert_eq!(
        step(&mut f, 2, looking(42, v(42, 9, 9), 9)),
        NONE,
        "not a member"
    );
    assert_eq!(f.logical_clock(), 1);
}
