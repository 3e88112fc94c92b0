//! Leader liveness without ZAB (for programs using the election alone; zk-server runs ZAB):
//! after an election, discovery with ZAB's epoch rule, then heartbeats.
//!
//! This is what keeps an elected leader honest until the real ZAB crate replaces it:
//!
//! - **Discovery.** Each learner sends `FollowerInfo{accepted_epoch}`. Once infos from a quorum
//!   (the leader included) are in, the leader proposes `max(accepted) + 1`, accepts it itself
//!   and sends `LeaderInfo{epoch}`. A learner acks only an epoch *greater* than the one it
//!   accepted, persisting it first; for an *equal* one it sends a non-counting ack; for a lower
//!   one it abandons the leader. The leader is **established** once acks from a quorum (itself
//!   included) are in: it persists the epoch as its current epoch and tells its learners,
//!   which do the same. Since an ack is never counted twice for one epoch, no two leaders can
//!   be established by quorums in the same epoch.
//! - **Heartbeats.** The leader pings every `tick / 2`; learners answer. A learner that hears
//!   nothing for `sync_limit` ticks, loses its link to the leader, or cannot finish discovery
//!   within `init_limit` ticks gives up; so does a leader that cannot establish within
//!   `init_limit` ticks or stops hearing a quorum for `sync_limit` ticks.
//!
//! One zk-rs addition: a leader whose epoch is already chosen steps down when a learner
//! reports a larger accepted epoch (that learner could never ack, and would
//! retry forever); the next election then chooses a larger epoch.
//!
//! Giving up is reported as [`Action::Lost`]; the owner then starts a new election round.
//! The call contract is the same as [`crate::fle::Fle`]'s: `handle`, drain `poll_action`,
//! then `poll_timeout`.

use crate::message::Message;
use crate::quorum::QuorumVerifier;
use crate::time::Millis;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use zk_transport::PeerId;

/// Leadership settings (ZooKeeper's `tickTime`, `initLimit`, `syncLimit`).
#[derive(Clone, Debug)]
pub struct LeadershipConfig {
    /// This server's id.
    pub me: PeerId,
    /// The voters, observers and quorum rule.
    pub verifier: QuorumVerifier,
    /// `tickTime` (ZooKeeper default 2000 ms).
    pub tick: Duration,
    /// `initLimit`, in ticks: how long discovery may take.
    pub init_limit: u32,
    /// `syncLimit`, in ticks: how long a heartbeat may go unanswered.
    pub sync_limit: u32,
}

/// What the leadership core is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The election decided: lead (when `leader` is us) or learn from `leader`.
    Begin {
        /// The elected leader.
        leader: PeerId,
    },
    /// Stop whatever role is running (a new election started).
    Stop,
    /// The quorum link to `peer` came up.
    LinkUp {
        /// The peer.
        peer: PeerId,
    },
    /// The quorum link to `peer` went down.
    LinkDown {
        /// The peer.
        peer: PeerId,
    },
    /// A quorum-channel frame from `from`.
    Frame {
        /// The sender.
        from: PeerId,
        /// The frame, still encoded.
        frame: Bytes,
    },
    /// A deadline returned by `poll_timeout` has passed.
    Timeout,
}

/// What the leadership core asks its owner to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `msg` to `to` on the quorum channel.
    Send {
        /// The receiver.
        to: PeerId,
        /// The message.
        msg: Message,
    },
    /// Durably record the accepted epoch before performing any later action.
    PersistAcceptedEpoch(u64),
    /// Durably record the current epoch before performing any later action.
    PersistCurrentEpoch(u64),
    /// (Leader) established in `epoch` by the counted acks of `quorum`.
    Established {
        /// The epoch.
        epoch: u64,
        /// The voters whose acks counted, the leader included.
        quorum: BTreeSet<PeerId>,
    },
    /// (Learner) joined the leader's established `epoch`.
    Joined {
        /// The epoch.
        epoch: u64,
    },
    /// The role ended; start a new election.
    Lost {
        /// Why, for logs.
        reason: &'static str,
    },
}

#[derive(Debug)]
struct LeaderRole {
    init_deadline: Millis,
    next_ping: Millis,
    /// Voters' accepted epochs, while the epoch is not chosen yet.
    infos: BTreeMap<PeerId, u64>,
    /// Learners in session (sent an info on a live link).
    learners: BTreeSet<PeerId>,
    epoch: Option<u64>,
    /// Learners that acked the epoch (counted or not).
    acked: BTreeSet<PeerId>,
    /// Voters whose acks count, the leader included.
    counted: BTreeSet<PeerId>,
    established: bool,
    last_heard: BTreeMap<PeerId, Millis>,
}

#[derive(Debug)]
struct LearnerRole {
    leader: PeerId,
    init_deadline: Millis,
    info_sent: bool,
    acked: Option<u64>,
    established: Option<u64>,
    last_heard: Millis,
}

#[derive(Debug)]
enum Role {
    Idle,
    Leader(LeaderRole),
    Learner(LearnerRole),
}

/// The leader/learner placeholder core. See the [module docs](self).
#[derive(Debug)]
pub struct Leadership {
    cfg: LeadershipConfig,
    accepted_epoch: u64,
    current_epoch: u64,
    role: Role,
    links_up: BTreeSet<PeerId>,
    /// Infos that arrived before we knew we lead (latest per live link).
    early_infos: BTreeMap<PeerId, u64>,
    actions: VecDeque<Action>,
}

impl Leadership {
    /// An idle core starting from the durable epochs.
    pub fn new(cfg: LeadershipConfig, accepted_epoch: u64, current_epoch: u64) -> Self {
        Self {
            cfg,
            accepted_epoch,
            current_epoch,
            role: Role::Idle,
            links_up: BTreeSet::new(),
            early_infos: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }

    /// The last epoch accepted (acked, or proposed as leader).
    pub fn accepted_epoch(&self) -> u64 {
        self.accepted_epoch
    }

    /// The last epoch established (the peer epoch of our future votes).
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    /// The epoch of the running leader or learner session, once established.
    pub fn established_epoch(&self) -> Option<u64> {
        match &self.role {
            Role::Leader(l) if l.established => l.epoch,
            Role::Learner(l) => l.established,
            _ => None,
        }
    }

    /// The learners currently in session with us as leader (empty otherwise).
    pub fn learners(&self) -> BTreeSet<PeerId> {
        match &self.role {
            Role::Leader(l) => l.learners.clone(),
            _ => BTreeSet::new(),
        }
    }

    /// The next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to feed [`Input::Timeout`] next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        match &self.role {
            Role::Idle => None,
            Role::Leader(l) if l.established => Some(l.next_ping),
            Role::Leader(l) => Some(l.next_ping.min(l.init_deadline)),
            Role::Learner(l) => match l.established {
                Some(_) => Some(l.last_heard + self.sync_timeout()),
                None => Some(l.init_deadline),
            },
        }
    }

    fn me(&self) -> PeerId {
        self.cfg.me
    }

    fn init_timeout(&self) -> Duration {
        self.cfg.tick * self.cfg.init_limit
    }

    fn sync_timeout(&self) -> Duration {
        self.cfg.tick * self.cfg.sync_limit
    }

    fn ping_interval(&self) -> Duration {
        (self.cfg.tick / 2).max(Duration::from_millis(1))
    }

    fn send(&mut self, to: PeerId, msg: Message) {
        self.actions.push_back(Action::Send { to, msg });
    }

    /// Feed one input.
    pub fn handle(&mut self, now: Millis, input: Input) {
        match input {
            Input::Begin { leader } => self.begin(now, leader),
            Input::Stop => self.role = Role::Idle,
            Input::LinkUp { peer } => {
                self.links_up.insert(peer);
                if let Role::Learner(l) = &self.role
                    && l.leader == peer
                    && !l.info_sent
                {
                    self.send_info(now);
                }
            }
            Input::LinkDown { peer } => self.link_down(peer),
            Input::Frame { from, frame } => match Message::decode(&frame) {
                Ok(m) => self.on_message(now, from, m),
                Err(e) => {
                    tracing::debug!(from = %from, error = %e, "dropping malformed quorum frame")
                }
            },
            Input::Timeout => self.on_timeout(now),
        }
    }

    fn lose(&mut self, reason: &'static str) {
        tracing::debug!(reason, "leaving the leader/learner role");
        self.role = Role::Idle;
        self.actions.push_back(Action::Lost { reason });
    }

    fn begin(&mut self, now: Millis, leader: PeerId) {
        if leader == self.me() {
            let mut infos: BTreeMap<PeerId, u64> = BTreeMap::new();
            infos.insert(self.me(), self.accepted_epoch);
            let mut learners = BTreeSet::new();
            let mut last_heard = BTreeMap::new();
            for (p, e) in std::mem::take(&mut self.early_infos) {
                learners.insert(p);
                last_heard.insert(p, now);
                if self.cfg.verifier.is_voter(p) {
                    infos.insert(p, e);
                }
            }
            self.role = Role::Leader(LeaderRole {
                init_deadline: now + self.init_timeout(),
                next_ping: now + self.ping_interval(),
                infos,
                learners,
                epoch: None,
                acked: BTreeSet::new(),
                counted: BTreeSet::new(),
                established: false,
                last_heard,
            });
            self.maybe_choose_epoch();
        } else {
            self.early_infos.clear();
            self.role = Role::Learner(LearnerRole {
                leader,
                init_deadline: now + self.init_timeout(),
                info_sent: false,
                acked: None,
                established: None,
                last_heard: now,
            });
            if self.links_up.contains(&leader) {
                self.send_info(now);
            }
        }
    }

    fn send_info(&mut self, now: Millis) {
        let observer = !self.cfg.verifier.is_voter(self.me());
        let accepted_epoch = self.accepted_epoch;
        if let Role::Learner(l) = &mut self.role {
            l.info_sent = true;
            l.last_heard = now;
            let to = l.leader;
            self.send(
                to,
                Message::FollowerInfo {
                    accepted_epoch,
                    observer,
                },
            );
        }
    }

    fn link_down(&mut self, peer: PeerId) {
        self.links_up.remove(&peer);
        self.early_infos.remove(&peer);
        match &mut self.role {
            Role::Learner(l) if l.leader == peer => self.lose("link to the leader went down"),
            Role::Leader(l) => {
                l.learners.remove(&peer);
                l.acked.remove(&peer);
                if l.epoch.is_none() {
                    l.infos.remove(&peer);
                }
            }
            _ => {}
        }
    }

    fn on_message(&mut self, now: Millis, from: PeerId, m: Message) {
        if !self.cfg.verifier.is_member(from) || from == self.me() {
            tracing::debug!(from = %from, "quorum frame from a stranger: ignored");
            return;
        }
        match &self.role {
            Role::Idle => {
                if let Message::FollowerInfo { accepted_epoch, .. } = m
                    && self.links_up.contains(&from)
                {
                    self.early_infos.insert(from, accepted_epoch);
                }
            }
            Role::Leader(_) => self.leader_message(now, from, m),
            Role::Learner(l) if l.leader == from => self.learner_message(now, m),
            Role::Learner(_) => {}
        }
    }

    fn leader_message(&mut self, now: Millis, from: PeerId, m: Message) {
        let is_voter = self.cfg.verifier.is_voter(from);
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        l.last_heard.insert(from, now);
        match m {
            Message::FollowerInfo { accepted_epoch, .. } => {
                l.learners.insert(from);
                l.acked.remove(&from);
                match l.epoch {
                    Some(epoch) if accepted_epoch > epoch => {
                        // This learner already accepted a later epoch from another
                        // leader: it can never ack us, and would retry forever. Stepping down
                        // lets a new election choose an epoch above it (zk-rs addition).
                        self.lose("a learner already accepted a later epoch");
                    }
                    Some(epoch) => self.send(from, Message::LeaderInfo { epoch }),
                    None => {
                        if is_voter {
                            l.infos.insert(from, accepted_epoch);
                        }
                        self.maybe_choose_epoch();
                    }
                }
            }
            Message::AckEpoch { epoch, counted }
                if Some(epoch) == l.epoch && l.learners.contains(&from) =>
            {
                l.acked.insert(from);
                if counted && is_voter {
                    l.counted.insert(from);
                }
                if l.established {
                    self.send(from, Message::Established { epoch });
                } else {
                    self.maybe_establish();
                }
            }
            _ => {}
        }
    }

    fn maybe_choose_epoch(&mut self) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if l.epoch.is_some() || !self.cfg.verifier.contains_quorum(l.infos.keys()) {
            return;
        }
        let epoch = l
            .infos
            .values()
            .copied()
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        l.epoch = Some(epoch);
        l.counted.insert(self.cfg.me);
        let learners: Vec<PeerId> = l.learners.iter().copied().collect();
        self.accepted_epoch = epoch;
        tracing::debug!(epoch, "proposing epoch");
        self.actions.push_back(Action::PersistAcceptedEpoch(epoch));
        for to in learners {
            self.send(to, Message::LeaderInfo { epoch });
        }
        self.maybe_establish();
    }

    fn maybe_establish(&mut self) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let Some(epoch) = l.epoch else { return };
        if l.established || !self.cfg.verifier.contains_quorum(&l.counted) {
            return;
        }
        l.established = true;
        let quorum = l.counted.clone();
        let acked: Vec<PeerId> = l.acked.iter().copied().collect();
        self.current_epoch = epoch;
        tracing::debug!(epoch, ?quorum, "leader established");
        self.actions.push_back(Action::PersistCurrentEpoch(epoch));
        self.actions
            .push_back(Action::Established { epoch, quorum });
        for to in acked {
            self.send(to, Message::Established { epoch });
        }
    }

    fn learner_message(&mut self, now: Millis, m: Message) {
        let Role::Learner(l) = &mut self.role else {
            return;
        };
        l.last_heard = now;
        let leader = l.leader;
        match m {
            Message::LeaderInfo { epoch } => {
                if l.acked == Some(epoch) {
                    return; // a duplicate
                }
                if epoch > self.accepted_epoch {
                    l.acked = Some(epoch);
                    self.accepted_epoch = epoch;
                    self.actions.push_back(Action::PersistAcceptedEpoch(epoch));
                    self.send(
                        leader,
                        Message::AckEpoch {
                            epoch,
                            counted: true,
                        },
                    );
                } else if epoch == self.accepted_epoch {
                    l.acked = Some(epoch);
                    self.send(
                        leader,
                        Message::AckEpoch {
                            epoch,
                            counted: false,
                        },
                    );
                } else {
                    self.lose("leader proposed an epoch below our accepted epoch");
                }
            }
            Message::Established { epoch } | Message::Ping { epoch } => {
                if l.established.is_none() && l.acked == Some(epoch) {
                    l.established = Some(epoch);
                    self.current_epoch = epoch;
                    tracing::debug!(epoch, leader = %leader, "following an established leader");
                    self.actions.push_back(Action::PersistCurrentEpoch(epoch));
                    self.actions.push_back(Action::Joined { epoch });
                }
                if matches!(m, Message::Ping { .. }) && l.established == Some(epoch) {
                    self.send(leader, Message::Pong { epoch });
                }
            }
            _ => {}
        }
    }

    fn on_timeout(&mut self, now: Millis) {
        let ping = self.ping_interval();
        let sync = self.sync_timeout();
        match &mut self.role {
            Role::Idle => {}
            Role::Learner(l) => {
                if l.established.is_none() && now >= l.init_deadline {
                    self.lose("discovery did not finish within initLimit");
                } else if l.established.is_some() && now >= l.last_heard + sync {
                    self.lose("no heartbeat from the leader within syncLimit");
                }
            }
            Role::Leader(l) => {
                if !l.established && now >= l.init_deadline {
                    self.lose("could not establish within initLimit");
                    return;
                }
                if now < l.next_ping {
                    return;
                }
                l.next_ping = now + ping;
                let Some(epoch) = l.epoch.filter(|_| l.established) else {
                    return;
                };
                let mut synced: BTreeSet<PeerId> = l
                    .last_heard
                    .iter()
                    .filter(|(p, t)| l.acked.contains(p) && now.since(**t) < sync)
                    .map(|(p, _)| *p)
                    .collect();
                synced.insert(self.cfg.me);
                if !self.cfg.verifier.contains_quorum(&synced) {
                    self.lose("lost contact with a quorum within syncLimit");
                    return;
                }
                let to: Vec<PeerId> = l
                    .acked
                    .iter()
                    .copied()
                    .filter(|p| self.links_up.contains(p))
                    .collect();
                for p in to {
                    self.send(p, Message::Ping { epoch });
                }
            }
        }
    }
}
