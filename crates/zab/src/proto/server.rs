//! [`Server`]: one ZooKeeper server's replication core, from election to broadcast.
//!
//! # Call contract
//!
//! [`Server`] is sans-IO, like [`zk_election::Peer`]. [`Server::new`] starts the first
//! election at once. Then, for every event:
//!
//! 1. [`Server::handle`] with the current [`Millis`] and one [`Input`];
//! 2. drain [`Server::poll_action`], performing the actions **in order**:
//!    - [`Action::PersistAcceptedEpoch`], [`Action::PersistCurrentEpoch`],
//!      [`Action::Truncate`] and [`Action::InstallSnapshot`] must be durable before any
//!      later action is performed;
//!    - [`Action::Append`] may complete later: report it with [`Input::Durable`] (appends
//!      complete in order; `Durable { up_to }` covers every txn appended so far with a zxid
//!      at most `up_to`). A restart forgets appends that never became durable;
//!    - [`Action::Deliver`] hands a committed txn to the state machine, in zxid order,
//!      exactly once per start (after a restart, delivery resumes after
//!      [`StartState::last_applied`]);
//!    - [`Action::TakeSnapshot`] asks for the state machine's image: answer with
//!      [`Input::SnapshotTaken`] (the zxid of the last txn the image contains);
//! 3. sleep until [`Server::poll_timeout`] (or the next event) and feed [`Input::Timeout`].
//!
//! Writes ([`Input::Write`]) are prepared and proposed by an established leader
//! ([`Action::Prepare`], answered at once by [`Input::Prepared`]), forwarded to the leader
//! by a learner in session, and dropped otherwise (the client retries elsewhere).

use super::leader::LeaderState;
use super::learner::LearnerState;
use super::message::Message;
use super::sync::History;
use crate::txn::{Txn, Zxid};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use zk_election::fle::{self, Fle, FleConfig};
use zk_election::{Millis, QuorumVerifier, ServerState};
use zk_transport::{Channel, PeerId};

/// Everything a server needs to replicate.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// This server's id (`myid`).
    pub me: PeerId,
    /// The voters, observers and quorum rule.
    pub verifier: QuorumVerifier,
    /// `tickTime` (default 2000 ms).
    pub tick: Duration,
    /// `initLimit` in ticks: bounds discovery and sync (default 10).
    pub init_limit: u32,
    /// `syncLimit` in ticks: how long a peer may stay silent in broadcast (default 5).
    pub sync_limit: u32,
    /// FLE finalize wait (default 200 ms).
    pub finalize_wait: Duration,
    /// First FLE notification timeout (default 200 ms).
    pub min_notification_interval: Duration,
    /// Cap of the FLE notification timeout (default 60 s).
    pub max_notification_interval: Duration,
    /// How many committed txns are kept in memory for DIFF syncs (default 500).
    pub committed_log_window: usize,
    /// A leader stops proposing and a new epoch starts when the zxid counter would reach
    /// this value (default `0xffffffff`, ZOOKEEPER-1277; lower it only to test rollover).
    pub counter_limit: u32,
}

impl ServerConfig {
    /// ZooKeeper's defaults.
    pub fn new(me: PeerId, verifier: QuorumVerifier) -> Self {
        Self {
            me,
            verifier,
            tick: Duration::from_millis(2000),
            init_limit: 10,
            sync_limit: 5,
            finalize_wait: Duration::from_millis(200),
            min_notification_interval: Duration::from_millis(200),
            max_notification_interval: Duration::from_secs(60),
            committed_log_window: 500,
            counter_limit: u32::MAX,
        }
    }
}

/// The durable state a server starts from.
#[derive(Clone, Debug, Default)]
pub struct StartState {
    /// The durable `acceptedEpoch`.
    pub accepted_epoch: u64,
    /// The durable `currentEpoch`.
    pub current_epoch: u64,
    /// The zxid just before `log[0]` on this server's history (its snapshot's zxid, or 0).
    pub log_base: Zxid,
    /// The durable log after `log_base`, in order. It must hold every logged txn after
    /// `last_applied`; older ones serve DIFF syncs.
    pub log: Vec<Txn>,
    /// The last txn the state machine holds (`log_base <= last_applied <= last logged`).
    pub last_applied: Zxid,
}

/// What happens to a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A link to `peer` on `channel` came up (a new incarnation).
    LinkUp {
        /// The peer.
        peer: PeerId,
        /// The channel.
        channel: Channel,
    },
    /// The link to `peer` on `channel` went down.
    LinkDown {
        /// The peer.
        peer: PeerId,
        /// The channel.
        channel: Channel,
    },
    /// A frame from `peer` on `channel`.
    Frame {
        /// The authenticated sender.
        peer: PeerId,
        /// The channel.
        channel: Channel,
        /// The payload.
        frame: Bytes,
    },
    /// The deadline from [`Server::poll_timeout`] has passed.
    Timeout,
    /// Every txn appended so far with zxid at most `up_to` is durable.
    Durable {
        /// The highest durable zxid.
        up_to: Zxid,
    },
    /// The answer to [`Action::TakeSnapshot`].
    SnapshotTaken {
        /// The last zxid in the image.
        zxid: Zxid,
        /// The image.
        image: Bytes,
    },
    /// A client write arrived at this server.
    Write {
        /// The opaque write.
        payload: Bytes,
    },
    /// A client `sync` arrived at this server; answered by [`Action::SyncDone`].
    Sync {
        /// The caller's id for it.
        id: u64,
    },
    /// The answer to [`Action::Prepare`]: the transaction to propose at `zxid`. It must be
    /// given right after that action is taken, before any other input, and answers must
    /// come in the order of the actions.
    Prepared {
        /// The zxid named by the [`Action::Prepare`].
        zxid: Zxid,
        /// The transaction's payload.
        payload: Bytes,
    },
    /// An opaque note for the leader, e.g. session heartbeats: a learner in broadcast sends
    /// it to its leader, a leader hands it to itself; both end as [`Action::LearnerNote`]
    /// at the leader. Dropped when no leader is in session.
    NoteToLeader {
        /// The note.
        payload: Bytes,
    },
}

/// Where a server is in ZAB.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Electing.
    Election,
    /// Agreeing on the new epoch.
    Discovery,
    /// Syncing histories (leader: waiting for a NEWLEADER quorum).
    Synchronization,
    /// Serving: the epoch is established.
    Broadcast,
}

/// A read-only summary of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This server.
    pub me: PeerId,
    /// Looking, following, leading or observing.
    pub state: ServerState,
    /// The ZAB phase.
    pub phase: Phase,
    /// The leader, once elected.
    pub leader: Option<PeerId>,
    /// The durable accepted epoch.
    pub accepted_epoch: u64,
    /// The durable current epoch.
    pub current_epoch: u64,
    /// The last logged zxid (durable or not).
    pub last_logged: Zxid,
    /// The last zxid known durable.
    pub last_durable: Zxid,
    /// The last delivered zxid.
    pub last_applied: Zxid,
}

/// What a server asks its driver to do. See the [module docs](self) for the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `frame` to `to` on `channel`; failing to send is not an error.
    Send {
        /// The receiver.
        to: PeerId,
        /// The channel.
        channel: Channel,
        /// The payload.
        frame: Bytes,
    },
    /// Append `txns` to the log; report with [`Input::Durable`].
    Append {
        /// The txns, in order.
        txns: Vec<Txn>,
    },
    /// Drop every logged txn after `after` (pending appends included), durably.
    Truncate {
        /// The last zxid kept.
        after: Zxid,
    },
    /// Replace the state machine with `image` and the log with nothing after `zxid`, durably.
    InstallSnapshot {
        /// The image's last zxid.
        zxid: Zxid,
        /// The image.
        image: Bytes,
    },
    /// Make `acceptedEpoch` durable before any later action.
    PersistAcceptedEpoch(u64),
    /// Make `currentEpoch` durable before any later action.
    PersistCurrentEpoch(u64),
    /// `txn` is committed: apply it.
    Deliver {
        /// The txn.
        txn: Txn,
    },
    /// Produce a state machine image ([`Input::SnapshotTaken`]).
    TakeSnapshot,
    /// The `sync` with this id is complete.
    SyncDone {
        /// Its id.
        id: u64,
    },
    /// Leader only: turn the client request `request` (from [`Input::Write`], here or
    /// forwarded by a learner) into the transaction that will get `zxid`, and answer at
    /// once with [`Input::Prepared`] (ZooKeeper's `PrepRequestProcessor`: the request is
    /// validated against the state including every earlier proposal).
    Prepare {
        /// The zxid the transaction will have.
        zxid: Zxid,
        /// The request as the client's server sent it.
        request: Bytes,
    },
    /// Leader only: a note a learner (or this server) sent with [`Input::NoteToLeader`].
    LearnerNote {
        /// Who sent it.
        from: PeerId,
        /// The note.
        payload: Bytes,
    },
    /// The role, phase, leader or an epoch changed (the new status).
    StateChanged(Status),
}

#[derive(Debug)]
pub(super) enum Role {
    Looking,
    Leader(LeaderState),
    Learner(LearnerState),
}

/// One server's replication core. See the [module docs](self).
#[derive(Debug)]
pub struct Server {
    pub(super) cfg: ServerConfig,
    pub(super) fle: Fle,
    pub(super) accepted_epoch: u64,
    pub(super) current_epoch: u64,
    pub(super) hist: History,
    pub(super) durable: Zxid,
    pub(super) applied: Zxid,
    pub(super) links_up: BTreeSet<PeerId>,
    /// FOLLOWERINFOs that arrived while looking (latest per live link).
    pub(super) early_infos: BTreeMap<PeerId, Message>,
    pub(super) role: Role,
    pub(super) actions: VecDeque<Action>,
    last_status: Option<Status>,
}

impl Server {
    /// A server that starts its first election at `now` from durable `start` state.
    pub fn new(cfg: ServerConfig, start: StartState, now: Millis) -> Self {
        let fle = Fle::new(FleConfig {
            me: cfg.me,
            verifier: cfg.verifier.clone(),
            finalize_wait: cfg.finalize_wait,
            min_notification_interval: cfg.min_notification_interval,
            max_notification_interval: cfg.max_notification_interval,
        });
        let hist = History::new(start.log_base, start.log);
        let durable = hist.last();
        let mut s = Self {
            cfg,
            fle,
            accepted_epoch: start.accepted_epoch,
            current_epoch: start.current_epoch,
            hist,
            durable,
            applied: start.last_applied,
            links_up: BTreeSet::new(),
            early_infos: BTreeMap::new(),
            role: Role::Looking,
            actions: VecDeque::new(),
            last_status: None,
        };
        s.start_election(now);
        s
    }

    /// The current summary.
    pub fn status(&self) -> Status {
        let state = self.fle.state();
        let phase = match &self.role {
            Role::Looking => Phase::Election,
            Role::Leader(l) => l.phase(),
            Role::Learner(l) => l.phase(),
        };
        Status {
            me: self.cfg.me,
            state,
            phase,
            leader: (state != ServerState::Looking).then(|| self.fle.vote().leader),
            accepted_epoch: self.accepted_epoch,
            current_epoch: self.current_epoch,
            last_logged: self.hist.last(),
            last_durable: self.durable,
            last_applied: self.applied,
        }
    }

    /// The election core (read-only).
    pub fn fle(&self) -> &Fle {
        &self.fle
    }

    /// The next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to feed [`Input::Timeout`] next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let role = match &self.role {
            Role::Looking => None,
            Role::Leader(l) => Some(l.deadline(&self.cfg)),
            Role::Learner(l) => Some(l.deadline(&self.cfg)),
        };
        match (self.fle.poll_timeout(), role) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Feed one input. See the [module docs](self).
    pub fn handle(&mut self, now: Millis, input: Input) {
        match input {
            Input::LinkUp {
                peer,
                channel: Channel::Election,
            } => self.fle.handle(now, fle::Input::LinkUp { peer }),
            Input::LinkUp {
                peer,
                channel: Channel::Quorum,
            } => {
                self.links_up.insert(peer);
                self.learner_link_up(now, peer);
            }
            Input::LinkDown {
                channel: Channel::Election,
                ..
            } => {}
            Input::LinkDown {
                peer,
                channel: Channel::Quorum,
            } => {
                self.links_up.remove(&peer);
                self.early_infos.remove(&peer);
                match &self.role {
                    Role::Leader(_) => self.leader_link_down(peer),
                    Role::Learner(l) if l.leader == peer => {
                        self.lose(now, "link to the leader went down")
                    }
                    _ => {}
                }
            }
            Input::Frame {
                peer,
                channel: Channel::Election,
                frame,
            } => self
                .fle
                .handle(now, fle::Input::Notification { from: peer, frame }),
            Input::Frame {
                peer,
                channel: Channel::Quorum,
                frame,
            } => match Message::decode(&frame) {
                Ok(m) => self.on_message(now, peer, m),
                Err(e) => tracing::debug!(from = %peer, error = %e, "malformed quorum frame"),
            },
            Input::Timeout => {
                self.fle.handle(now, fle::Input::Timeout);
                match &self.role {
                    Role::Leader(_) => self.leader_timeout(now),
                    Role::Learner(_) => self.learner_timeout(now),
                    Role::Looking => {}
                }
            }
            Input::Durable { up_to } => {
                let up_to = up_to.min(self.hist.last());
                if up_to > self.durable {
                    self.durable = up_to;
                    match &self.role {
                        Role::Leader(_) => self.leader_durable(now),
                        Role::Learner(_) => self.learner_durable(now),
                        Role::Looking => {}
                    }
                }
            }
            Input::SnapshotTaken { zxid, image } => {
                if matches!(self.role, Role::Leader(_)) {
                    self.leader_snapshot(now, zxid, image);
                }
            }
            Input::Write { payload } => match &self.role {
                Role::Leader(_) => self.request_prepare(now, payload),
                Role::Learner(l) if l.registered() => {
                    let to = l.leader;
                    self.send(to, Message::Request { payload });
                }
                _ => tracing::debug!("write dropped: no leader in session"),
            },
            Input::Sync { id } => match &mut self.role {
                Role::Leader(l) if l.established => self.actions.push_back(Action::SyncDone { id }),
                Role::Learner(l) if l.registered() => {
                    let to = l.leader;
                    self.send(to, Message::Sync { id });
                }
                _ => tracing::debug!("sync dropped: no leader in session"),
            },
            Input::Prepared { zxid, payload } => self.propose(now, zxid, payload),
            Input::NoteToLeader { payload } => match &self.role {
                Role::Leader(l) if l.established => {
                    let from = self.cfg.me;
                    self.actions
                        .push_back(Action::LearnerNote { from, payload });
                }
                Role::Learner(l) if l.serving() => {
                    let to = l.leader;
                    self.send(to, Message::Note { payload });
                }
                _ => tracing::debug!("note dropped: no leader in session"),
            },
        }
        self.pump(now);
    }

    fn on_message(&mut self, now: Millis, from: PeerId, m: Message) {
        if !self.cfg.verifier.is_member(from) || from == self.cfg.me {
            return;
        }
        match &self.role {
            Role::Looking => {
                if matches!(
                    m,
                    Message::FollowerInfo { .. } | Message::ObserverInfo { .. }
                ) && self.links_up.contains(&from)
                {
                    self.early_infos.insert(from, m);
                }
            }
            Role::Leader(_) => self.leader_message(now, from, m),
            Role::Learner(l) if l.leader == from => self.learner_message(now, m),
            Role::Learner(_) => {}
        }
    }

    pub(super) fn send(&mut self, to: PeerId, m: Message) {
        self.actions.push_back(Action::Send {
            to,
            channel: Channel::Quorum,
            frame: m.encode(),
        });
    }

    pub(super) fn is_voter(&self, id: PeerId) -> bool {
        self.cfg.verifier.is_voter(id)
    }

    /// Deliver every kept txn in `(applied, up_to]`, in order. False if one is missing.
    pub(super) fn deliver_up_to(&mut self, up_to: Zxid) -> bool {
        if up_to <= self.applied {
            return true;
        }
        if up_to > self.hist.last() || self.applied < self.hist.base() {
            return false;
        }
        let txns: Vec<Txn> = self
            .hist
            .after(self.applied)
            .take_while(|t| t.zxid <= up_to)
            .cloned()
            .collect();
        for txn in txns {
            self.applied = txn.zxid;
            self.actions.push_back(Action::Deliver { txn });
        }
        self.hist.trim(self.applied, self.cfg.committed_log_window);
        true
    }

    /// Leave the current role and start a new election.
    pub(super) fn lose(&mut self, now: Millis, reason: &'static str) {
        tracing::info!(me = %self.cfg.me, reason, "back to election");
        // Synced txns still waiting for NEWLEADER are already in our in-memory history (and
        // perhaps applied): log them, so the log and the history stay one contiguous prefix
        // of the leader's history.
        if let Role::Learner(l) = &mut self.role {
            let txns = l.take_pending();
            if !txns.is_empty() {
                self.actions.push_back(Action::Append { txns });
            }
        }
        self.start_election(now);
    }

    fn start_election(&mut self, now: Millis) {
        self.role = Role::Looking;
        self.fle.handle(
            now,
            fle::Input::Start {
                last_zxid: self.hist.last(),
                peer_epoch: self.current_epoch,
            },
        );
        self.pump(now);
    }

    /// Move the election's actions to the queue, start roles, announce status changes.
    pub(super) fn pump(&mut self, now: Millis) {
        while let Some(a) = self.fle.poll_action() {
            match a {
                fle::Action::Send { to, notification } => {
                    self.actions.push_back(Action::Send {
                        to,
                        channel: Channel::Election,
                        frame: notification.encode(),
                    });
                }
                fle::Action::Decided(d) => {
                    if !matches!(self.role, Role::Looking) {
                        continue;
                    }
                    if d.vote.leader == self.cfg.me {
                        self.begin_leading(now);
                    } else {
                        let observer = d.state == ServerState::Observing;
                        self.begin_learning(now, d.vote.leader, observer);
                    }
                }
            }
        }
        // Announce role changes, not every zxid that moves.
        let status = self.status();
        let key = |s: &Status| {
            (
                s.state,
                s.phase,
                s.leader,
                s.accepted_epoch,
                s.current_epoch,
            )
        };
        if self.last_status.as_ref().map(key) != Some(key(&status)) {
            self.last_status = Some(status.clone());
            self.actions.push_back(Action::StateChanged(status));
        }
    }
}
