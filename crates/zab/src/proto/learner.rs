//! The learner (follower or observer): registration, sync, then broadcast.
//!
//! - **Registration.** Once the quorum link to the elected leader is up: FOLLOWERINFO (or
//!   OBSERVERINFO) with the accepted epoch and last logged zxid. On LEADERINFO: an epoch
//!   above our accepted one is persisted as accepted *before* the counted ACKEPOCH; an equal
//!   one is acked without counting (an epoch is never acked twice); a lower one sends us
//!   back to election.
//! - **Sync.** DIFF (our last zxid must be the leader's point), TRUNC (exact truncation;
//!   never below what we applied) or SNAP (installed durably at once, ZOOKEEPER-3642), then
//!   PROPOSALs, which must be contiguous (ZOOKEEPER-4925) and may repeat (a duplicate is
//!   ignored), and COMMITs, which are applied in order at once (ZOOKEEPER-4394). On
//!   NEWLEADER: append every synced txn, wait until durable, persist the current epoch, and
//!   only then ACK (ZOOKEEPER-3911/3023/4643/4646/4785).
//! - **Between the NEWLEADER ACK and UPTODATE**, PROPOSALs are logged and acked and COMMITs
//!   applied as in broadcast (ZOOKEEPER-4685). UPTODATE commits the txns of earlier epochs
//!   we hold (the leader committed them by establishing).
//! - **Broadcast.** Log each PROPOSAL, ACK cumulatively once durable, apply COMMITs (or, for
//!   an observer, INFORMs) in order. Writes are forwarded as REQUEST; a `sync` completes once
//!   we applied what the leader had committed when it saw the request.
//! - Any loss (link down, silence for `initLimit` ticks before UPTODATE or `syncLimit` after,
//!   a protocol violation) sends us back to election at once.

use super::message::Message;
use super::server::{Action, Phase, Role, Server, ServerConfig};
use crate::txn::{Txn, Zxid, make_zxid};
use zk_election::Millis;
use zk_election::fle;
use zk_transport::PeerId;

/// Answered syncs a learner holds until it has applied far enough; a bound against a
/// faulty leader (a driver queues at most a few thousand client requests).
const MAX_WAITING_SYNCS: usize = 65_536;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Connecting,
    AwaitLeaderInfo,
    AwaitSyncMode,
    Syncing,
    AwaitDurable,
    AwaitUpToDate,
    Broadcast,
}

/// The learner role's state.
#[derive(Debug)]
pub(super) struct LearnerState {
    pub(super) leader: PeerId,
    observer: bool,
    stage: Stage,
    epoch: u64,
    /// Synced txns not appended yet (appended on NEWLEADER).
    pending: Vec<Txn>,
    need_durable: Zxid,
    acked: Zxid,
    last_heard: Millis,
    /// Sync barriers answered by the leader: (id, leader's committed zxid).
    syncs: Vec<(u64, Zxid)>,
}

impl LearnerState {
    pub(super) fn phase(&self) -> Phase {
        match self.stage {
            Stage::Connecting | Stage::AwaitLeaderInfo => Phase::Discovery,
            Stage::Broadcast => Phase::Broadcast,
            _ => Phase::Synchronization,
        }
    }

    pub(super) fn deadline(&self, cfg: &ServerConfig) -> Millis {
        if self.stage == Stage::Broadcast {
            self.last_heard + cfg.tick * cfg.sync_limit
        } else {
            self.last_heard + cfg.tick * cfg.init_limit
        }
    }

    /// The synced txns not appended yet.
    pub(super) fn take_pending(&mut self) -> Vec<Txn> {
        std::mem::take(&mut self.pending)
    }

    /// In session with the leader: writes and syncs can be forwarded.
    pub(super) fn registered(&self) -> bool {
        self.stage >= Stage::AwaitUpToDate
    }

    /// In broadcast: the leader's epoch is established.
    pub(super) fn serving(&self) -> bool {
        self.stage == Stage::Broadcast
    }
}

impl Server {
    fn learner(&mut self) -> Option<&mut LearnerState> {
        match &mut self.role {
            Role::Learner(l) => Some(l),
            _ => None,
        }
    }

    pub(super) fn begin_learning(&mut self, now: Millis, leader: PeerId, observer: bool) {
        self.early_infos.clear();
        self.role = Role::Learner(LearnerState {
            leader,
            observer,
            stage: Stage::Connecting,
            epoch: 0,
            pending: Vec::new(),
            need_durable: 0,
            acked: 0,
            last_heard: now,
            syncs: Vec::new(),
        });
        if self.links_up.contains(&leader) {
            self.send_info(now);
        }
    }

    pub(super) fn learner_link_up(&mut self, now: Millis, peer: PeerId) {
        if let Some(l) = self.learner()
            && l.leader == peer
            && l.stage == Stage::Connecting
        {
            self.send_info(now);
        }
    }

    fn send_info(&mut self, now: Millis) {
        let accepted_epoch = self.accepted_epoch;
        let last_zxid = self.hist.last();
        let Some(l) = self.learner() else { return };
        l.stage = Stage::AwaitLeaderInfo;
        l.last_heard = now;
        let to = l.leader;
        let m = if l.observer {
            Message::ObserverInfo {
                accepted_epoch,
                last_zxid,
            }
        } else {
            Message::FollowerInfo {
                accepted_epoch,
                last_zxid,
            }
        };
        self.send(to, m);
    }

    pub(super) fn learner_message(&mut self, now: Millis, m: Message) {
        let Some(l) = self.learner() else { return };
        l.last_heard = now;
        let (stage, epoch, leader, observer) = (l.stage, l.epoch, l.leader, l.observer);
        match m {
            Message::LeaderInfo { new_epoch } => {
                if stage != Stage::AwaitLeaderInfo {
                    if new_epoch != epoch {
                        self.lose(now, "LEADERINFO for another epoch mid-session");
                    }
                    return;
                }
                if new_epoch > u64::from(u32::MAX) {
                    // No leader proposes such an epoch (zxids hold 32 bits of it); persisting
                    // it would make every later leader look stale to this server.
                    self.lose(now, "LEADERINFO with an epoch beyond 32 bits: ignored");
                    return;
                }
                let counted = if new_epoch > self.accepted_epoch {
                    self.accepted_epoch = new_epoch;
                    self.actions
                        .push_back(Action::PersistAcceptedEpoch(new_epoch));
                    true
                } else if new_epoch == self.accepted_epoch {
                    false
                } else {
                    self.lose(now, "leader proposed an epoch below our accepted epoch");
                    return;
                };
                if let Some(l) = self.learner() {
                    l.stage = Stage::AwaitSyncMode;
                    l.epoch = new_epoch;
                }
                let current_epoch = self.current_epoch;
                let last_zxid = self.hist.last();
                self.send(
                    leader,
                    Message::AckEpoch {
                        counted,
                        current_epoch,
                        last_zxid,
                    },
                );
            }
            Message::Diff { zxid } if stage == Stage::AwaitSyncMode => {
                if zxid != self.hist.last() {
                    self.lose(now, "DIFF from a point we are not at");
                    return;
                }
                self.set_stage(Stage::Syncing);
            }
            Message::Trunc { zxid } if stage == Stage::AwaitSyncMode => {
                if zxid < self.applied || zxid > self.hist.last() || !self.hist.truncate(zxid) {
                    self.lose(now, "TRUNC to a point we cannot truncate to");
                    return;
                }
                self.durable = self.durable.min(zxid);
                self.actions.push_back(Action::Truncate { after: zxid });
                self.set_stage(Stage::Syncing);
            }
            Message::Snap { zxid, image } if stage == Stage::AwaitSyncMode => {
                self.hist.reset(zxid);
                self.durable = zxid;
                self.applied = zxid;
                self.actions
                    .push_back(Action::InstallSnapshot { zxid, image });
                self.set_stage(Stage::Syncing);
            }
            Message::Diff { .. } | Message::Trunc { .. } | Message::Snap { .. } => {
                if stage < Stage::Syncing {
                    self.lose(now, "sync mode out of order");
                }
            }
            Message::Proposal { txn } if stage >= Stage::Syncing && !observer => {
                self.learner_txn(now, txn, stage == Stage::Syncing);
            }
            Message::Inform { txn } if stage >= Stage::AwaitDurable && observer => {
                let zxid = txn.zxid;
                if self.learner_txn(now, txn, false) && !self.deliver_up_to(zxid) {
                    self.lose(now, "INFORM of a txn we cannot apply");
                }
                self.check_syncs();
            }
            Message::Proposal { txn } if stage >= Stage::Syncing && observer => {
                // Observers receive proposals only in the sync stream.
                self.learner_txn(now, txn, stage == Stage::Syncing);
            }
            Message::Commit { zxid } if stage >= Stage::Syncing => {
                if !self.deliver_up_to(zxid) {
                    self.lose(now, "COMMIT of a txn we do not have");
                    return;
                }
                self.check_syncs();
            }
            Message::NewLeader { epoch: e } if stage == Stage::Syncing => {
                if e != epoch {
                    self.lose(now, "NEWLEADER for another epoch");
                    return;
                }
                let need = self.hist.last();
                let Some(l) = self.learner() else { return };
                let txns = std::mem::take(&mut l.pending);
                l.need_durable = need;
                l.stage = Stage::AwaitDurable;
                if !txns.is_empty() {
                    self.actions.push_back(Action::Append { txns });
                }
                self.learner_durable(now);
            }
            Message::NewLeader { .. } if stage > Stage::Syncing => {}
            Message::UpToDate if stage == Stage::AwaitUpToDate => {
                let new_epoch = make_zxid(epoch as u32, 0);
                let old = self
                    .hist
                    .after(self.applied)
                    .take_while(|t| t.zxid < new_epoch)
                    .last()
                    .map(|t| t.zxid);
                if let Some(z) = old
                    && !self.deliver_up_to(z)
                {
                    self.lose(now, "cannot apply the synced history");
                    return;
                }
                self.set_stage(Stage::Broadcast);
                self.fle.handle(now, fle::Input::Established { epoch });
                self.check_syncs();
            }
            Message::UpToDate if stage == Stage::Broadcast => {}
            Message::Ping => self.send(leader, Message::Ping),
            Message::SyncDone { id, zxid } => {
                let Some(l) = self.learner() else { return };
                if l.syncs.len() >= MAX_WAITING_SYNCS {
                    // Far more than a driver's client queue can have asked for.
                    self.lose(now, "the leader answered more syncs than were asked");
                    return;
                }
                l.syncs.push((id, zxid));
                self.check_syncs();
            }
            other => {
                tracing::debug!(
                    kind = other.kind(),
                    ?stage,
                    "unexpected message from leader"
                );
                self.lose(now, "unexpected message from the leader");
            }
        }
    }

    fn set_stage(&mut self, stage: Stage) {
        if let Some(l) = self.learner() {
            l.stage = stage;
        }
    }

    /// Take one txn from the leader. Before NEWLEADER it waits in `pending`; after, it is
    /// appended at once. A duplicate is ignored. False if it was not new.
    fn learner_txn(&mut self, now: Millis, txn: Txn, before_newleader: bool) -> bool {
        if txn.zxid <= self.hist.last() {
            let same = txn.zxid <= self.hist.base()
                || self.hist.get(txn.zxid).is_some_and(|t| t.data == txn.data);
            if !same {
                self.lose(now, "a different txn for a zxid we hold");
            }
            return false;
        }
        if !self.hist.accepts(&txn) {
            self.lose(now, "discontinuous proposal");
            return false;
        }
        self.hist.push(txn.clone());
        if before_newleader {
            if let Some(l) = self.learner() {
                l.pending.push(txn);
            }
        } else {
            self.actions.push_back(Action::Append { txns: vec![txn] });
        }
        true
    }

    pub(super) fn learner_durable(&mut self, _now: Millis) {
        let durable = self.durable;
        let current = self.current_epoch;
        let Some(l) = self.learner() else { return };
        let leader = l.leader;
        let epoch = l.epoch;
        if l.stage == Stage::AwaitDurable && durable >= l.need_durable {
            // ZOOKEEPER-4643/4646/4785: txns durable, then the epoch, then the ACK.
            l.stage = Stage::AwaitUpToDate;
            l.acked = make_zxid(epoch as u32, 0);
            if current != epoch {
                self.current_epoch = epoch;
                self.actions.push_back(Action::PersistCurrentEpoch(epoch));
            }
            self.send(
                leader,
                Message::Ack {
                    zxid: make_zxid(epoch as u32, 0),
                },
            );
        }
        let Some(l) = self.learner() else { return };
        if l.stage >= Stage::AwaitUpToDate && !l.observer && durable > l.acked {
            l.acked = durable;
            self.send(leader, Message::Ack { zxid: durable });
        }
    }

    fn check_syncs(&mut self) {
        let applied = self.applied;
        let Some(l) = self.learner() else { return };
        let mut done = Vec::new();
        l.syncs.retain(|&(id, z)| {
            if z <= applied {
                done.push(id);
                false
            } else {
                true
            }
        });
        for id in done {
            self.actions.push_back(Action::SyncDone { id });
        }
    }

    pub(super) fn learner_timeout(&mut self, now: Millis) {
        let cfg = self.cfg.clone();
        if let Some(l) = self.learner()
            && now >= l.deadline(&cfg)
        {
            self.lose(now, "the leader was silent too long");
        }
    }
}
