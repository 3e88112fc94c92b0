//! The leader: discovery, synchronization of every learner, then broadcast.
//!
//! - **Discovery.** FOLLOWERINFOs from a quorum (this server included) fix the epoch
//!   `max(accepted) + 1`; it is persisted as accepted before LEADERINFO goes out. Counted
//!   ACKEPOCHs from a quorum (this server included) follow; if one of them is more recent
//!   than this server (current epoch, then last zxid) the leader steps down. Otherwise it
//!   persists the epoch as current and syncs every learner that acked.
//! - **Synchronization.** Per learner: DIFF, TRUNC or SNAP ([`super::sync::History::plan`]),
//!   then the txns of our history after that point as PROPOSALs, a COMMIT after each txn
//!   known committed, then NEWLEADER. Txns of earlier epochs we hold but never saw committed
//!   are committed only once a quorum (this server included, once its own log is durable)
//!   acked NEWLEADER: the leader is then **established**, delivers them, and sends UPTODATE.
//! - **Broadcast.** Proposals are numbered `(epoch, 1..)`; any number may be in flight. ACKs
//!   are cumulative (a learner logs in order); the leader's own ack counts once its append is
//!   durable. The lowest pending proposal is committed when a quorum acked it, strictly in
//!   zxid order; voters get COMMIT, observers INFORM. Learners joining late are synced the
//!   same way and receive every later proposal after their sync stream.
//! - When the counter would reach `0xffffffff` the leader stops and a new election starts
//!   (ZOOKEEPER-1277): nothing committed is lost, the new epoch resumes numbering.
//! - Liveness: PING every `tick / 2`; the leader steps down if it is not established within
//!   `initLimit` ticks, or once established it stops hearing a quorum for `syncLimit` ticks.

use super::message::Message;
use super::server::{Action, Phase, Role, Server, ServerConfig};
use super::sync::SyncPlan;
use crate::txn::{Txn, Zxid, epoch_of, make_zxid};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use zk_election::Millis;
use zk_election::fle;
use zk_transport::PeerId;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// Sent LEADERINFO (or will, once the epoch is chosen); waiting for ACKEPOCH.
    AwaitAckEpoch,
    /// Acked the epoch; waiting for the epoch quorum before syncing.
    AckedEpoch,
    /// Waiting for a snapshot image to send SNAP.
    AwaitSnapshot,
    /// NEWLEADER sent: receives broadcast traffic; waiting for its ACK.
    AwaitNewLeaderAck,
    /// Acked NEWLEADER; UPTODATE sent once established.
    Synced,
}

#[derive(Debug)]
struct Session {
    observer: bool,
    last_zxid: Zxid,
    stage: Stage,
    last_heard: Millis,
}

/// The leader role's state.
#[derive(Debug)]
pub(super) struct LeaderState {
    started: Millis,
    next_ping: Millis,
    /// Voters' accepted epochs, before the epoch is chosen.
    infos: BTreeMap<PeerId, u64>,
    epoch: Option<u64>,
    sessions: BTreeMap<PeerId, Session>,
    /// Voters whose counted ACKEPOCH arrived (this server included), with (current, last).
    epoch_acks: BTreeMap<PeerId, (u64, Zxid)>,
    /// The epoch quorum is in: current epoch persisted, syncing.
    syncing: bool,
    /// Our last zxid of the previous epochs (what NEWLEADER stands for).
    sync_point: Zxid,
    /// Voters that acked NEWLEADER (this server included once durable).
    newleader_acks: BTreeSet<PeerId>,
    pub(super) established: bool,
    next_counter: u32,
    /// Zxids handed out in [`Action::Prepare`] and not yet answered, oldest first.
    preparing: VecDeque<Zxid>,
    /// Cumulative acks of this epoch's proposals, by voter.
    acks: BTreeMap<PeerId, Zxid>,
    snapshot_requested: bool,
}

impl LeaderState {
    pub(super) fn phase(&self) -> Phase {
        if self.established {
            Phase::Broadcast
        } else if self.syncing {
            Phase::Synchronization
        } else {
            Phase::Discovery
        }
    }

    pub(super) fn deadline(&self, cfg: &ServerConfig) -> Millis {
        if self.established {
            self.next_ping
        } else {
            self.next_ping.min(self.started + cfg.tick * cfg.init_limit)
        }
    }

    fn forward_set(&self) -> impl Iterator<Item = (&PeerId, &Session)> {
        self.sessions
            .iter()
            .filter(|(_, s)| matches!(s.stage, Stage::AwaitNewLeaderAck | Stage::Synced))
    }
}

fn ping_interval(cfg: &ServerConfig) -> Duration {
    (cfg.tick / 2).max(Duration::from_millis(1))
}

impl Server {
    fn leader(&mut self) -> Option<&mut LeaderState> {
        match &mut self.role {
            Role::Leader(l) => Some(l),
            _ => None,
        }
    }

    pub(super) fn begin_leading(&mut self, now: Millis) {
        let mut infos = BTreeMap::new();
        infos.insert(self.cfg.me, self.accepted_epoch);
        self.role = Role::Leader(LeaderState {
            started: now,
            next_ping: now + ping_interval(&self.cfg),
            infos,
            epoch: None,
            sessions: BTreeMap::new(),
            epoch_acks: BTreeMap::new(),
            syncing: false,
            sync_point: self.hist.last(),
            newleader_acks: BTreeSet::new(),
            established: false,
            next_counter: 1,
            preparing: VecDeque::new(),
            acks: BTreeMap::new(),
            snapshot_requested: false,
        });
        for (from, m) in std::mem::take(&mut self.early_infos) {
            self.leader_message(now, from, m);
        }
        self.maybe_choose_epoch(now);
    }

    pub(super) fn leader_link_down(&mut self, peer: PeerId) {
        if let Some(l) = self.leader() {
            l.sessions.remove(&peer);
            l.acks.remove(&peer);
        }
    }

    pub(super) fn leader_message(&mut self, now: Millis, from: PeerId, m: Message) {
        let voter = self.is_voter(from);
        let last_logged = self.hist.last();
        let Some(l) = self.leader() else { return };
        if let Some(s) = l.sessions.get_mut(&from) {
            s.last_heard = now;
        }
        match m {
            Message::FollowerInfo {
                accepted_epoch,
                last_zxid,
            }
            | Message::ObserverInfo {
                accepted_epoch,
                last_zxid,
            } => {
                // Every FOLLOWERINFO starts a new session: the learner left its previous one
                // (a stream never repeats frames; a learner re-registers after giving up).
                let observer = matches!(m, Message::ObserverInfo { .. }) || !voter;
                l.acks.remove(&from);
                l.sessions.insert(
                    from,
                    Session {
                        observer,
                        last_zxid,
                        stage: Stage::AwaitAckEpoch,
                        last_heard: now,
                    },
                );
                match l.epoch {
                    _ if accepted_epoch > u64::from(u32::MAX) => {
                        // A damaged epoch file on that server: no epoch can ever follow it,
                        // so serve without it instead of stepping down for it.
                        l.sessions.remove(&from);
                        tracing::warn!(peer = %from, accepted_epoch, "learner reports an epoch beyond 32 bits: not accepted");
                    }
                    Some(epoch) if accepted_epoch > epoch && observer => {
                        // An observer does not decide epochs; it retries with the next leader.
                        l.sessions.remove(&from);
                        tracing::info!(peer = %from, accepted_epoch, epoch, "observer accepted a later epoch: not synced");
                    }
                    Some(epoch) if accepted_epoch > epoch => {
                        // It can never ack our epoch; a new election will pick a larger one.
                        self.lose(now, "a learner accepted a later epoch");
                    }
                    Some(epoch) => self.send(from, Message::LeaderInfo { new_epoch: epoch }),
                    None => {
                        // Observers do not count towards the quorum, but their accepted
                        // epochs raise the new one, as in ZooKeeper's getEpochToPropose.
                        l.infos.insert(from, accepted_epoch);
                        self.maybe_choose_epoch(now);
                    }
                }
            }
            Message::AckEpoch {
                counted,
                current_epoch,
                last_zxid,
            } => {
                let Some(s) = l.sessions.get_mut(&from) else {
                    return;
                };
                if s.stage != Stage::AwaitAckEpoch || l.epoch.is_none() {
                    return;
                }
                s.stage = Stage::AckedEpoch;
                s.last_zxid = last_zxid;
                if counted && voter {
                    l.epoch_acks.insert(from, (current_epoch, last_zxid));
                }
                if l.syncing {
                    self.start_sync(now, from);
                } else {
                    self.maybe_epoch_quorum(now);
                }
            }
            Message::Ack { zxid } => {
                let Some(epoch) = l.epoch else { return };
                let Some(s) = l.sessions.get_mut(&from) else {
                    return;
                };
                match s.stage {
                    Stage::AwaitNewLeaderAck if zxid == make_zxid(epoch as u32, 0) => {
                        s.stage = Stage::Synced;
                        if l.established {
                            self.send(from, Message::UpToDate);
                        } else if !s.observer {
                            l.newleader_acks.insert(from);
                            self.maybe_establish(now);
                        }
                    }
                    Stage::Synced if !s.observer && zxid > make_zxid(epoch as u32, 0) => {
                        // An ACK can only cover what this leader proposed: a bogus huge one
                        // must not count for proposals not made yet.
                        let a = l.acks.entry(from).or_insert(0);
                        *a = (*a).max(zxid.min(last_logged));
                        self.try_commit(now);
                    }
                    // An ACK before the NEWLEADER ACK (ZOOKEEPER-4685), or a stale one:
                    // ignored, never fatal.
                    _ => {}
                }
            }
            Message::Ping => {}
            Message::Request { payload } => self.request_prepare(now, payload),
            Message::Note { payload } => {
                if l.sessions
                    .get(&from)
                    .is_some_and(|s| s.stage == Stage::Synced)
                {
                    self.actions
                        .push_back(Action::LearnerNote { from, payload });
                }
            }
            Message::Sync { id } => {
                if l.established {
                    let zxid = self.applied;
                    self.send(from, Message::SyncDone { id, zxid });
                }
            }
            other => {
                tracing::debug!(from = %from, kind = other.kind(), "unexpected message to leader")
            }
        }
    }

    fn maybe_choose_epoch(&mut self, now: Millis) {
        let verifier = self.cfg.verifier.clone();
        let Some(l) = self.leader() else { return };
        if l.epoch.is_some() || !verifier.contains_quorum(l.infos.keys()) {
            return;
        }
        let epoch = l.infos.values().copied().max().unwrap_or(0) + 1;
        if epoch > u64::from(u32::MAX) {
            return;
        }
        l.epoch = Some(epoch);
        let to: Vec<PeerId> = l.sessions.keys().copied().collect();
        self.accepted_epoch = epoch;
        self.actions.push_back(Action::PersistAcceptedEpoch(epoch));
        let me = self.cfg.me;
        let mine = (self.current_epoch, self.hist.last());
        if let Some(l) = self.leader() {
            l.epoch_acks.insert(me, mine);
        }
        for p in to {
            self.send(p, Message::LeaderInfo { new_epoch: epoch });
        }
        self.maybe_epoch_quorum(now);
    }

    fn maybe_epoch_quorum(&mut self, now: Millis) {
        let verifier = self.cfg.verifier.clone();
        let mine = (self.current_epoch, self.hist.last());
        let last = self.hist.last();
        let Some(l) = self.leader() else { return };
        if l.epoch.is_none() || l.syncing || !verifier.contains_quorum(l.epoch_acks.keys()) {
            return;
        }
        if l.epoch_acks.values().any(|&theirs| theirs > mine) {
            self.lose(now, "a follower is more recent than the leader");
            return;
        }
        l.syncing = true;
        l.sync_point = last;
        let ready: Vec<PeerId> = l
            .sessions
            .iter()
            .filter(|(_, s)| s.stage == Stage::AckedEpoch)
            .map(|(p, _)| *p)
            .collect();
        // `currentEpoch` is written only once this leader's own history is durable (in
        // `self_newleader_ack`), as a learner does on NEWLEADER: written earlier, a crash
        // could leave a higher currentEpoch over a shorter log, and that server would win the
        // next election and truncate committed txns (the leader-side twin of ZOOKEEPER-4643).
        self.self_newleader_ack();
        for p in ready {
            self.start_sync(now, p);
        }
        self.maybe_establish(now);
    }

    /// The leader's own NEWLEADER step, in the learner's order: once its history up to the
    /// sync point is durable, persist `currentEpoch`, then count its own ack.
    fn self_newleader_ack(&mut self) {
        let me = self.cfg.me;
        let durable = self.durable;
        let Some(l) = self.leader() else { return };
        if !l.syncing || durable < l.sync_point || l.newleader_acks.contains(&me) {
            return;
        }
        let Some(epoch) = l.epoch else { return };
        l.newleader_acks.insert(me);
        if self.current_epoch != epoch {
            self.current_epoch = epoch;
            self.actions.push_back(Action::PersistCurrentEpoch(epoch));
        }
    }

    fn start_sync(&mut self, _now: Millis, peer: PeerId) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let Some(s) = l.sessions.get_mut(&peer) else {
            return;
        };
        match self.hist.plan(s.last_zxid) {
            SyncPlan::Snap => {
                s.stage = Stage::AwaitSnapshot;
                if !l.snapshot_requested {
                    l.snapshot_requested = true;
                    self.actions.push_back(Action::TakeSnapshot);
                }
            }
            SyncPlan::Diff { from } => {
                self.send(peer, Message::Diff { zxid: from });
                self.send_stream(peer, from);
            }
            SyncPlan::Trunc { to } => {
                self.send(peer, Message::Trunc { zxid: to });
                self.send_stream(peer, to);
            }
        }
    }

    /// PROPOSALs (and COMMITs for committed ones) after `from`, then NEWLEADER.
    fn send_stream(&mut self, peer: PeerId, from: Zxid) {
        let Some(l) = self.leader() else { return };
        let Some(epoch) = l.epoch else { return };
        let established = l.established;
        let Some(s) = l.sessions.get_mut(&peer) else {
            return;
        };
        s.stage = Stage::AwaitNewLeaderAck;
        // An observer of an established leader learns the rest through INFORM.
        let limit = if s.observer && established {
            self.applied
        } else {
            self.hist.last()
        };
        let applied = self.applied;
        let msgs: Vec<Message> = self
            .hist
            .after(from)
            .take_while(|t| t.zxid <= limit)
            .flat_map(|t| {
                let p = Message::Proposal { txn: t.clone() };
                if t.zxid <= applied {
                    vec![p, Message::Commit { zxid: t.zxid }]
                } else {
                    vec![p]
                }
            })
            .collect();
        for m in msgs {
            self.send(peer, m);
        }
        self.send(peer, Message::NewLeader { epoch });
    }

    pub(super) fn leader_snapshot(&mut self, _now: Millis, zxid: Zxid, image: Bytes) {
        let base = self.hist.base();
        let Some(l) = self.leader() else { return };
        l.snapshot_requested = false;
        let waiting: Vec<PeerId> = l
            .sessions
            .iter()
            .filter(|(_, s)| s.stage == Stage::AwaitSnapshot)
            .map(|(p, _)| *p)
            .collect();
        if waiting.is_empty() {
            return;
        }
        if zxid < base || zxid > self.applied {
            // The window moved past the image: ask again.
            if let Some(l) = self.leader() {
                l.snapshot_requested = true;
            }
            self.actions.push_back(Action::TakeSnapshot);
            return;
        }
        for p in waiting {
            self.send(
                p,
                Message::Snap {
                    zxid,
                    image: image.clone(),
                },
            );
            self.send_stream(p, zxid);
        }
    }

    fn maybe_establish(&mut self, now: Millis) {
        let verifier = self.cfg.verifier.clone();
        let me = self.cfg.me;
        let Some(l) = self.leader() else { return };
        let Some(epoch) = l.epoch else { return };
        // The leader's own ack (history durable, currentEpoch written) comes first, as in
        // ZooKeeper; followers' acks alone must not establish it.
        if l.established
            || !l.syncing
            || !l.newleader_acks.contains(&me)
            || !verifier.contains_quorum(&l.newleader_acks)
        {
            return;
        }
        l.established = true;
        let synced: Vec<PeerId> = l
            .sessions
            .iter()
            .filter(|(_, s)| s.stage == Stage::Synced)
            .map(|(p, _)| *p)
            .collect();
        let sync_point = l.sync_point;
        tracing::info!(me = %self.cfg.me, epoch, "leader established");
        // Everything of the earlier epochs we hold is now committed.
        if !self.deliver_up_to(sync_point) {
            self.lose(now, "history incomplete at establishment");
            return;
        }
        for p in synced {
            self.send(p, Message::UpToDate);
        }
        self.fle.handle(now, fle::Input::Established { epoch });
    }

    /// Reserves the next zxid for a client request and asks the driver to prepare it.
    pub(super) fn request_prepare(&mut self, now: Millis, request: Bytes) {
        let limit = self.cfg.counter_limit;
        let Some(l) = self.leader() else { return };
        let Some(epoch) = l.epoch.filter(|_| l.established) else {
            tracing::debug!("write dropped: leader not established");
            return;
        };
        if l.next_counter >= limit {
            // ZOOKEEPER-1277: the counter is exhausted; a new epoch must start.
            self.lose(now, "zxid counter exhausted");
            return;
        }
        let zxid = make_zxid(epoch as u32, l.next_counter);
        l.next_counter += 1;
        l.preparing.push_back(zxid);
        self.actions.push_back(Action::Prepare { zxid, request });
    }

    /// Proposes the prepared transaction for the oldest reserved zxid.
    pub(super) fn propose(&mut self, now: Millis, zxid: Zxid, payload: Bytes) {
        let Some(l) = self.leader() else {
            return tracing::debug!("prepared txn dropped: no longer leading");
        };
        match l.preparing.front() {
            Some(&z) if z == zxid => {
                l.preparing.pop_front();
            }
            // A reservation of a leadership this server no longer holds.
            _ if l.epoch.is_none_or(|e| epoch_of(zxid) != e as u32) => {
                return tracing::debug!("prepared txn of another epoch dropped");
            }
            // The driver broke the call contract; a gap in the zxids is never allowed.
            _ => return self.lose(now, "prepared transactions answered out of order"),
        }
        let to: Vec<PeerId> = l
            .forward_set()
            .filter(|(_, s)| !s.observer)
            .map(|(p, _)| *p)
            .collect();
        let txn = Txn {
            zxid,
            data: payload,
        };
        self.hist.push(txn.clone());
        self.actions.push_back(Action::Append {
            txns: vec![txn.clone()],
        });
        for p in to {
            self.send(p, Message::Proposal { txn: txn.clone() });
        }
    }

    pub(super) fn leader_durable(&mut self, now: Millis) {
        let established = self.leader().is_some_and(|l| l.established);
        if established {
            self.try_commit(now);
        } else {
            self.self_newleader_ack();
            self.maybe_establish(now);
        }
    }

    /// Commit pending proposals, lowest first, while a quorum acked them.
    fn try_commit(&mut self, _now: Millis) {
        let verifier = self.cfg.verifier.clone();
        let me = self.cfg.me;
        loop {
            let durable = self.durable;
            let Some(next) = self.hist.after(self.applied).next().cloned() else {
                return;
            };
            let Some(l) = self.leader() else { return };
            if !l.established {
                return;
            }
            let mut ackers: BTreeSet<PeerId> = l
                .acks
                .iter()
                .filter(|(_, z)| **z >= next.zxid)
                .map(|(p, _)| *p)
                .collect();
            if durable >= next.zxid {
                ackers.insert(me);
            }
            if !verifier.contains_quorum(&ackers) {
                return;
            }
            let voters: Vec<PeerId> = l
                .forward_set()
                .filter(|(_, s)| !s.observer)
                .map(|(p, _)| *p)
                .collect();
            let observers: Vec<PeerId> = l
                .forward_set()
                .filter(|(_, s)| s.observer)
                .map(|(p, _)| *p)
                .collect();
            self.applied = next.zxid;
            self.actions
                .push_back(Action::Deliver { txn: next.clone() });
            for p in voters {
                self.send(p, Message::Commit { zxid: next.zxid });
            }
            for p in observers {
                self.send(p, Message::Inform { txn: next.clone() });
            }
            self.hist.trim(self.applied, self.cfg.committed_log_window);
        }
    }

    pub(super) fn leader_timeout(&mut self, now: Millis) {
        let cfg = self.cfg.clone();
        let me = self.cfg.me;
        let Some(l) = self.leader() else { return };
        if !l.established && now >= l.started + cfg.tick * cfg.init_limit {
            self.lose(now, "not established within initLimit");
            return;
        }
        if now < l.next_ping {
            return;
        }
        l.next_ping = now + ping_interval(&cfg);
        if l.established {
            let sync = cfg.tick * cfg.sync_limit;
            let mut heard: BTreeSet<PeerId> = l
                .sessions
                .iter()
                .filter(|(_, s)| s.stage == Stage::Synced && now.since(s.last_heard) < sync)
                .map(|(p, _)| *p)
                .collect();
            heard.insert(me);
            if !cfg.verifier.contains_quorum(&heard) {
                self.lose(now, "lost contact with a quorum within syncLimit");
                return;
            }
        }
        let Some(l) = self.leader() else { return };
        let to: Vec<PeerId> = l
            .sessions
            .iter()
            .filter(|(_, s)| matches!(s.stage, Stage::AwaitNewLeaderAck | Stage::Synced))
            .map(|(p, _)| *p)
            .collect();
        for p in to {
            self.send(p, Message::Ping);
        }
    }
}
