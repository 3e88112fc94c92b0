//! Helpers for scripted schedules (the named regression tests): start an ensemble, wait,
//! commit a write everywhere, check what survived.

use super::{Params, Sim};
use bytes::Bytes;
use zk_election::QuorumVerifier;
use zk_transport::PeerId;

pub fn ensemble(name: &str, n: u64, params: Params) -> Sim {
    let ids: Vec<PeerId> = (1..=n).map(PeerId).collect();
    let v = QuorumVerifier::majority(ids, []).unwrap();
    let mut s = Sim::new(7, name, v, params);
    s.boot_all();
    assert!(s.run_until(10_000, |s| s.converged()), "no initial leader");
    s
}

pub fn run_for(s: &mut Sim, ms: u64) {
    let t = s.now + ms;
    s.run_until(t, |_| false);
}

pub fn wait(s: &mut Sim, ms: u64, cond: impl FnMut(&Sim) -> bool) -> bool {
    let t = s.now + ms;
    s.run_until(t, cond)
}

pub fn alive(s: &Sim) -> Vec<PeerId> {
    s.ids().into_iter().filter(|&i| s.alive(i)).collect()
}

/// Write at `at` and wait until every live server applied it.
pub fn commit(s: &mut Sim, at: PeerId) -> Bytes {
    let w = s.write(at);
    let ok = wait(s, 5_000, |s| alive(s).iter().all(|&i| s.has_applied(i, &w)));
    if !ok {
        s.fail(&format!("write {w:?} at {at} not applied everywhere"));
    }
    w
}

pub fn stored(s: &Sim, id: PeerId, w: &Bytes) -> bool {
    let st = &s.nodes[&id].store;
    st.snap.iter().chain(st.log.iter()).any(|t| t.data == *w)
}

pub fn epoch(s: &Sim, id: PeerId) -> u64 {
    s.server(id).unwrap().status().current_epoch
}

pub fn others(s: &Sim, id: PeerId) -> Vec<PeerId> {
    s.ids().into_iter().filter(|&i| i != id).collect()
}

pub fn converge(s: &mut Sim) {
    if !wait(s, 20_000, |s| s.converged()) {
        s.fail("no convergence");
    }
}

pub fn everyone_has(s: &mut Sim, ws: &[Bytes]) {
    for id in s.ids() {
        for w in ws {
            if !s.has_applied(id, w) {
                s.fail(&format!("{id} lost committed write {w:?}"));
            }
        }
    }
}

/// The closing check of a scripted fault: the ensemble converges again, a new write commits
/// at the new leader, and every write in `ws` (the new one included) is applied everywhere.
pub fn recover_and_check(s: &mut Sim, ws: &mut Vec<Bytes>) {
    converge(s);
    let nl = s.leader().unwrap();
    ws.push(commit(s, nl));
    everyone_has(s, ws);
}
