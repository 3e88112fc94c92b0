//! The leader's preparation contract (`Action::Prepare` / `Input::Prepared`) and learner
//! notes, on a quorum of one (zk-rs's standalone mode), driven by hand.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use zk_election::{Millis, QuorumVerifier, ServerState};
use zk_transport::PeerId;
use zk_zab::proto::server::{Action, Input, Phase, Server, ServerConfig, StartState};
use zk_zab::txn::{Txn, Zxid};

const ME: PeerId = PeerId(1);

/// Everything a test looks at after feeding inputs.
#[derive(Default)]
struct Seen {
    prepares: Vec<(Zxid, Bytes)>,
    appended: Vec<Txn>,
    delivered: Vec<Txn>,
    notes: Vec<(PeerId, Bytes)>,
    states: Vec<(ServerState, Phase)>,
}

/// Performs actions, answering appends with durability; `prepare` answers each Prepare
/// (or `None` to leave it unanswered for the test).
fn pump(
    s: &mut Server,
    now: &mut u64,
    seen: &mut Seen,
    prepare: &mut dyn FnMut(Zxid, Bytes) -> Option<Bytes>,
) {
    while let Some(a) = s.poll_action() {
        match a {
            Action::Append { txns } => {
                let up_to = txns.last().map_or(0, |t| t.zxid);
                seen.appended.extend(txns);
                s.handle(Millis(*now), Input::Durable { up_to });
            }
            Action::Deliver { txn } => seen.delivered.push(txn),
            Action::Prepare { zxid, request } => {
                seen.prepares.push((zxid, request.clone()));
                if let Some(payload) = prepare(zxid, request) {
                    s.handle(Millis(*now), Input::Prepared { zxid, payload });
                }
            }
            Action::LearnerNote { from, payload } => seen.notes.push((from, payload)),
            Action::StateChanged(st) => seen.states.push((st.state, st.phase)),
            _ => {}
        }
    }
}

/// A quorum of one, leading and established.
fn leader(seen: &mut Seen, now: &mut u64) -> Server {
    let cfg = ServerConfig::new(ME, QuorumVerifier::majority([ME], []).unwrap());
    let mut s = Server::new(cfg, StartState::default(), Millis(0));
    let mut identity = |_, r| Some(r);
    for _ in 0..100 {
        pump(&mut s, now, seen, &mut identity);
        if s.status().phase == Phase::Broadcast {
            return s;
        }
        *now += 100;
        s.handle(Millis(*now), Input::Timeout);
    }
    panic!("a quorum of one never established: {:?}", s.status());
}

/// A leader that was just given `writes` (not yet prepared).
fn leader_with_writes(seen: &mut Seen, now: &mut u64, writes: &[&'static str]) -> Server {
    let mut s = leader(seen, now);
    for w in writes {
        s.handle(
            Millis(*now),
            Input::Write {
                payload: Bytes::from_static(w.as_bytes()),
            },
        );
    }
    s
}

#[test]
fn the_leader_proposes_what_the_preparer_made_of_each_request_in_order() {
    let (mut seen, mut now) = (Seen::default(), 0);
    let mut s = leader_with_writes(&mut seen, &mut now, &["a", "b"]);
    let mut prepared = |z: Zxid, r: Bytes| {
        Some(Bytes::from(format!(
            "{z:x}:{}",
            String::from_utf8_lossy(&r)
        )))
    };
    pump(&mut s, &mut now, &mut seen, &mut prepared);
    let zxids: Vec<Zxid> = seen.prepares.iter().map(|p| p.0).collect();
    assert_eq!(zxids.len(), 2);
    assert_eq!(zxids[1], zxids[0] + 1, "consecutive reservations");
    let data: Vec<Bytes> = seen.delivered.iter().map(|t| t.data.clone()).collect();
    assert_eq!(
        data,
        vec![
            Bytes::from(format!("{:x}:a", zxids[0])),
            Bytes::from(format!("{:x}:b", zxids[1]))
        ],
        "the prepared payloads, at the reserved zxids, are what is committed"
    );
    assert_eq!(
        seen.delivered.iter().map(|t| t.zxid).collect::<Vec<_>>(),
        zxids
    );
}

#[test]
fn answers_out_of_order_make_the_leader_step_down_rather_than_leave_a_gap() {
    let (mut seen, mut now) = (Seen::default(), 0);
    let mut s = leader_with_writes(&mut seen, &mut now, &["a", "b"]);
    let mut hold = |_, _| None;
    pump(&mut s, &mut now, &mut seen, &mut hold);
    let (first, second) = (seen.prepares[0].0, seen.prepares[1].0);
    seen.states.clear();
    s.handle(
        Millis(now),
        Input::Prepared {
            zxid: second,
            payload: Bytes::from("b"),
        },
    );
    pump(&mut s, &mut now, &mut seen, &mut hold);
    assert!(
        seen.appended.iter().all(|t| t.zxid != second),
        "nothing proposed past the gap"
    );
    assert!(
        seen.states
            .iter()
            .any(|(st, _)| *st == ServerState::Looking),
        "stepped down: {:?}",
        seen.states
    );
    // The stale answer for the first reservation is ignored by the new term.
    s.handle(
        Millis(now),
        Input::Prepared {
            zxid: first,
            payload: Bytes::from("a"),
        },
    );
    pump(&mut s, &mut now, &mut seen, &mut hold);
    assert!(seen.appended.iter().all(|t| t.zxid != first));
}

#[test]
fn a_note_to_the_leader_comes_back_as_a_learner_note_from_itself() {
    let (mut seen, mut now) = (Seen::default(), 0);
    let mut s = leader(&mut seen, &mut now);
    s.handle(
        Millis(now),
        Input::NoteToLeader {
            payload: Bytes::from("touch"),
        },
    );
    pump(&mut s, &mut now, &mut seen, &mut |_, r| Some(r));
    assert_eq!(seen.notes, vec![(ME, Bytes::from("touch"))]);
}
