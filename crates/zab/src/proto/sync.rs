//! The in-memory history window and the leader's choice of DIFF, TRUNC or SNAP.
//!
//! Every server keeps the tail of its log in memory: all txns after its last applied
//! (committed) zxid, and up to `window` committed txns before that (ZooKeeper's
//! `committedLog`). `base` is the zxid just before the first txn kept: it is on this
//! server's history (a txn of its log, its snapshot point, or zero).
//!
//! Zxids identify txns: two logs that hold the same zxid hold the same txn, and agree on
//! everything before it. So the leader can sync a learner from its last zxid alone:
//!
//! - the learner's last zxid is on the leader's history (in the window, or the base): **DIFF**
//!   from there;
//! - otherwise the learner has txns the leader lacks: **TRUNC** to the largest zxid of the
//!   leader's history below the learner's last (exact: the learner keeps precisely the part
//!   of its log the leader has, ZOOKEEPER-2832), then the rest as for a DIFF; when the
//!   learner's last zxid is beyond the leader's last, that is the leader's last zxid;
//! - when that point is below the window: **SNAP**.

use crate::txn::{Txn, Zxid};
use std::collections::VecDeque;

/// How the leader brings one learner up to its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPlan {
    /// The learner's last zxid is on our history: send what follows it.
    Diff {
        /// The learner's last zxid.
        from: Zxid,
    },
    /// Truncate the learner to `to` (on our history), then send what follows.
    Trunc {
        /// The last zxid the learner keeps.
        to: Zxid,
    },
    /// Send a state image, then what follows it.
    Snap,
}

pub use crate::txn::follows;

/// The tail of a server's log kept in memory. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct History {
    base: Zxid,
    txns: VecDeque<Txn>,
}

impl History {
    /// A window starting after `base` and holding `txns` (in zxid order, all after `base`).
    pub fn new(base: Zxid, txns: impl IntoIterator<Item = Txn>) -> Self {
        let txns: VecDeque<Txn> = txns.into_iter().filter(|t| t.zxid > base).collect();
        Self { base, txns }
    }

    /// The zxid just before the first txn kept.
    pub fn base(&self) -> Zxid {
        self.base
    }

    /// The last logged zxid.
    pub fn last(&self) -> Zxid {
        self.txns.back().map_or(self.base, |t| t.zxid)
    }

    /// The number of txns kept.
    pub fn len(&self) -> usize {
        self.txns.len()
    }

    /// Whether no txn is kept.
    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    fn index(&self, zxid: Zxid) -> Result<usize, usize> {
        self.txns.binary_search_by_key(&zxid, |t| t.zxid)
    }

    /// The txn with `zxid`, if kept.
    pub fn get(&self, zxid: Zxid) -> Option<&Txn> {
        self.index(zxid).ok().and_then(|i| self.txns.get(i))
    }

    /// Whether `zxid` is known to be on this history (the base or a kept txn).
    pub fn contains(&self, zxid: Zxid) -> bool {
        zxid == self.base || self.index(zxid).is_ok()
    }

    /// Whether `txn` may be appended (it follows the last zxid).
    pub fn accepts(&self, txn: &Txn) -> bool {
        follows(self.last(), txn.zxid)
    }

    /// Append `txn`; the caller checked [`History::accepts`] or trusts the source.
    pub fn push(&mut self, txn: Txn) {
        self.txns.push_back(txn);
    }

    /// The kept txns after `zxid`, in order.
    pub fn after(&self, zxid: Zxid) -> impl Iterator<Item = &Txn> {
        let start = match self.index(zxid) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.txns.range(start..)
    }

    /// Drop every txn after `zxid`. False (and nothing dropped) when `zxid < base`.
    pub fn truncate(&mut self, zxid: Zxid) -> bool {
        if zxid < self.base {
            return false;
        }
        while self.txns.back().is_some_and(|t| t.zxid > zxid) {
            self.txns.pop_back();
        }
        true
    }

    /// Forget everything: the history now starts after `base` (a snapshot was installed).
    pub fn reset(&mut self, base: Zxid) {
        self.base = base;
        self.txns.clear();
    }

    /// Keep at most `window` txns at or below `applied`; never drop one above it.
    pub fn trim(&mut self, applied: Zxid, window: usize) {
        let committed = match self.index(applied) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        let mut excess = committed.saturating_sub(window);
        while excess > 0 {
            if let Some(t) = self.txns.pop_front() {
                self.base = t.zxid;
            }
            excess -= 1;
        }
    }

    /// The plan for a learner whose last logged zxid is `learner_last`.
    pub fn plan(&self, learner_last: Zxid) -> SyncPlan {
        if self.contains(learner_last) {
            return SyncPlan::Diff { from: learner_last };
        }
        if learner_last > self.last() {
            return SyncPlan::Trunc { to: self.last() };
        }
        if learner_last < self.base {
            return SyncPlan::Snap;
        }
        let to = match self.index(learner_last) {
            Ok(i) | Err(i) => {
                if i == 0 {
                    self.base
                } else {
                    self.txns.get(i - 1).map_or(self.base, |t| t.zxid)
                }
            }
        };
        SyncPlan::Trunc { to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::make_zxid;

    fn h(base: Zxid, zs: &[(u32, u32)]) -> History {
        History::new(
            base,
            zs.iter()
                .map(|&(e, c)| Txn::new(make_zxid(e, c), &b"x"[..])),
        )
    }

    #[test]
    fn plans() {
        let hist = h(make_zxid(1, 2), &[(1, 3), (1, 4), (3, 1), (3, 2)]);
        assert_eq!(
            hist.plan(make_zxid(1, 4)),
            SyncPlan::Diff {
                from: make_zxid(1, 4)
            }
        );
        assert_eq!(
            hist.plan(make_zxid(1, 2)),
            SyncPlan::Diff {
                from: make_zxid(1, 2)
            }
        );
        // The learner has (2, *) txns the leader never had: truncate to (1, 4), exactly.
        assert_eq!(
            hist.plan(make_zxid(2, 7)),
            SyncPlan::Trunc {
                to: make_zxid(1, 4)
            }
        );
        // Beyond the leader's last: truncate to it (ZOOKEEPER-2832).
        assert_eq!(
            hist.plan(make_zxid(3, 5)),
            SyncPlan::Trunc {
                to: make_zxid(3, 2)
            }
        );
        assert_eq!(hist.plan(make_zxid(1, 1)), SyncPlan::Snap);
        assert_eq!(hist.plan(0), SyncPlan::Snap);
        let empty = h(0, &[]);
        assert_eq!(empty.plan(0), SyncPlan::Diff { from: 0 });
        assert_eq!(empty.plan(make_zxid(1, 1)), SyncPlan::Trunc { to: 0 });
    }

    #[test]
    fn continuity_and_trim() {
        assert!(follows(make_zxid(1, 1), make_zxid(1, 2)));
        assert!(follows(make_zxid(1, 9), make_zxid(4, 1)));
        assert!(follows(0, make_zxid(1, 1)));
        assert!(!follows(make_zxid(1, 1), make_zxid(1, 3)));
        assert!(!follows(make_zxid(2, 1), make_zxid(1, 2)));
        assert!(!follows(make_zxid(1, 1), make_zxid(2, 2)));
        let mut hist = h(0, &[(1, 1), (1, 2), (1, 3), (1, 4)]);
        hist.trim(make_zxid(1, 3), 1);
        assert_eq!(hist.base(), make_zxid(1, 2));
        assert_eq!(hist.len(), 2);
        hist.trim(make_zxid(1, 3), 0);
        assert_eq!(hist.base(), make_zxid(1, 3));
        assert!(hist.truncate(make_zxid(1, 3)));
        assert_eq!(hist.last(), make_zxid(1, 3));
        assert!(!hist.truncate(make_zxid(1, 1)));
    }
}
