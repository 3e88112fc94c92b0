//! The Fast Leader Election core: a deterministic state machine with ZooKeeper's semantics.
//!
//! # Call contract
//!
//! [`Fle`] does no I/O and reads no clock. Its owner:
//!
//! 1. calls [`Fle::handle`] with the current time and one [`Input`] (a notification, a link
//!    coming up, a timer expiry, or [`Input::Start`] to begin a new election round);
//! 2. then drains [`Fle::poll_action`] until it returns `None`, performing each [`Action`] in
//!    order (sending notifications, acting on a decision);
//! 3. then asks [`Fle::poll_timeout`] for the next deadline, and feeds [`Input::Timeout`] once
//!    that time has come (early or spurious timeouts are harmless: nothing happens before a
//!    deadline is due).
//!
//! Inputs before the first `Start` are ignored. The core never panics on peer input: a
//! malformed notification is logged at debug level and dropped.
//!
//! # The rules (ZooKeeper's `FastLeaderElection.lookForLeader` and `WorkerReceiver`)
//!
//! - **Start:** bump the round (`logicalclock`), vote for ourselves (last zxid, current epoch),
//!   send the vote to every other voter. Observers send their (meaningless) vote only to be
//!   answered, and are never counted.
//! - **LOOKING, newer round:** jump to it, forget the votes received, adopt the better of the
//!   sender's vote and our own initial vote, re-send.
//! - **LOOKING, older round:** ignored, but the sender is told our vote so it catches up.
//! - **LOOKING, same round:** adopt the vote if better, re-send. Record it. When the votes
//!   received for our proposal (ours included) form a quorum, wait `finalize_wait`: a better
//!   vote arriving meanwhile cancels the wait and is processed; other votes are dropped;
//!   at the deadline the election is decided.
//! - **FOLLOWING/LEADING:** same-round votes are recorded with the others and decide when a
//!   quorum agrees and the leader is confirmed (`checkLeader`: the proposed leader itself said
//!   LEADING, or it is us in the same round). Every such vote is also kept in an
//!   out-of-election set, which decides the same way and joins an established leader without
//!   a new round (taking its round number).
//! - **Decided:** any LOOKING voter that writes to a decided voter is told its vote and state;
//!   observers are answered by voters in every state (a decided observer stays silent).
//! - **Timeout:** if nothing arrives for the notification interval, re-send and double the
//!   interval, up to `max_notification_interval`.
//! - **Link up:** our current vote is re-sent to that peer (replacing ZooKeeper's resend of
//!   the last message).
//! - Votes for non-voters are ignored; servers of weight 0 are never adopted as leader.
//! - **Established** (zk-rs addition): once the leader is established in an epoch, a decided
//!   server reports that epoch as its vote's peer epoch. Members that decided in different
//!   rounds (some joined late) then all agree, and a late server can join them.

use crate::codec::{self, Notification};
use crate::quorum::QuorumVerifier;
use crate::time::Millis;
use crate::vote::{ServerState, Vote};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use zk_transport::PeerId;

/// Election settings.
#[derive(Clone, Debug)]
pub struct FleConfig {
    /// This server's id.
    pub me: PeerId,
    /// The voters, observers and quorum rule.
    pub verifier: QuorumVerifier,
    /// How long to wait for a better vote once a quorum agrees (ZooKeeper: 200 ms).
    pub finalize_wait: Duration,
    /// The first notification timeout (ZooKeeper: 200 ms).
    pub min_notification_interval: Duration,
    /// The cap of the doubling notification timeout (ZooKeeper: 60 s).
    pub max_notification_interval: Duration,
}

impl FleConfig {
    /// ZooKeeper's defaults for server `me`.
    pub fn new(me: PeerId, verifier: QuorumVerifier) -> Self {
        Self {
            me,
            verifier,
            finalize_wait: Duration::from_millis(200),
            min_notification_interval: Duration::from_millis(200),
            max_notification_interval: Duration::from_secs(60),
        }
    }
}

/// What happens to the election core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Begin a new election round (at start-up, or after losing the leader).
    Start {
        /// Our last logged zxid.
        last_zxid: u64,
        /// Our current epoch: the peer epoch of our own vote.
        peer_epoch: u64,
    },
    /// The election link to `peer` came up (a new incarnation).
    LinkUp {
        /// The peer.
        peer: PeerId,
    },
    /// A notification frame from `from` (authenticated by the transport).
    Notification {
        /// The sender.
        from: PeerId,
        /// The frame, still encoded.
        frame: Bytes,
    },
    /// A deadline returned by [`Fle::poll_timeout`] has passed.
    Timeout,
    /// The leader we decided on (possibly us) is now established in `epoch`. From now on
    /// our vote reports `epoch` as the leader's peer epoch, so that every member of the
    /// session answers looking servers with the same (leader, epoch) pair, whichever round
    /// each of them decided in; otherwise a late server may never see a quorum agree.
    Established {
        /// The established epoch.
        epoch: u64,
    },
}

/// The outcome of an election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Our new state: leading, following or observing.
    pub state: ServerState,
    /// The elected leader's vote.
    pub vote: Vote,
    /// The round it was decided in.
    pub election_epoch: u64,
    /// The voters whose recorded votes agreed (a quorum).
    pub supporters: BTreeSet<PeerId>,
}

/// What the election core asks its owner to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `notification` to `to` on the election channel (encode with
    /// [`Notification::encode`]).
    Send {
        /// The receiver.
        to: PeerId,
        /// The message.
        notification: Notification,
    },
    /// The election is over.
    Decided(Decision),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Entry {
    vote: Vote,
    election_epoch: u64,
    state: ServerState,
    version: i32,
}

impl Entry {
    /// ZooKeeper's `Vote.equals`: full comparison when either side is LOOKING, otherwise the
    /// leader and its epoch (only the leader across notification versions).
    fn matches(&self, target: &Self) -> bool {
        if self.state == ServerState::Looking || target.state == ServerState::Looking {
            self.vote == target.vote && self.election_epoch == target.election_epoch
        } else if (self.version > 0) != (target.version > 0) {
            self.vote.leader == target.vote.leader
        } else {
            self.vote.leader == target.vote.leader && self.vote.peer_epoch == target.vote.peer_epoch
        }
    }
}

/// The Fast Leader Election state machine. See the [module docs](self) for the call contract.
#[derive(Debug)]
pub struct Fle {
    cfg: FleConfig,
    started: bool,
    state: ServerState,
    logical_clock: u64,
    init_vote: Vote,
    /// Our proposal while looking; the elected vote once decided.
    proposal: Vote,
    /// The round the current vote was decided in (once decided).
    decided_epoch: u64,
    recv: BTreeMap<PeerId, Entry>,
    out_of_election: BTreeMap<PeerId, Entry>,
    finalize_at: Option<Millis>,
    notify_interval: Duration,
    notify_at: Option<Millis>,
    actions: VecDeque<Action>,
}

impl Fle {
    /// An idle core; nothing happens until [`Input::Start`].
    pub fn new(cfg: FleConfig) -> Self {
        let me = cfg.me;
        let interval = cfg.min_notification_interval;
        Self {
            cfg,
            started: false,
            state: ServerState::Looking,
            logical_clock: 0,
            init_vote: Vote::new(me, 0, 0),
            proposal: Vote::new(me, 0, 0),
            decided_epoch: 0,
            recv: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            finalize_at: None,
            notify_interval: interval,
            notify_at: None,
            actions: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FleConfig {
        &self.cfg
    }

    /// Looking, or the state decided by the last election.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// The current round (`logicalclock`).
    pub fn logical_clock(&self) -> u64 {
        self.logical_clock
    }

    /// Our proposal while looking, or the elected vote once decided.
    pub fn vote(&self) -> Vote {
        self.proposal
    }

    /// The current notification timeout (doubles while nothing arrives).
    pub fn notification_interval(&self) -> Duration {
        self.notify_interval
    }

    /// Whether a quorum agrees and the finalize wait is running.
    pub fn is_finalizing(&self) -> bool {
        self.finalize_at.is_some()
    }

    /// Feed one input. See the [module docs](self).
    pub fn handle(&mut self, now: Millis, input: Input) {
        match input {
            Input::Start {
                last_zxid,
                peer_epoch,
            } => self.start(now, last_zxid, peer_epoch),
            _ if !self.started => {}
            Input::LinkUp { peer } => self.on_link_up(peer),
            Input::Notification { from, frame } => match codec::decode(&frame) {
                Ok(n) => self.on_notification(now, from, n),
                Err(e) => {
                    tracing::debug!(from = %from, error = %e, "dropping malformed notification")
                }
            },
            Input::Timeout => self.on_timeout(now),
            Input::Established { epoch } => {
                if self.state != ServerState::Looking {
                    self.proposal.peer_epoch = epoch;
                }
            }
        }
    }

    /// The next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to feed [`Input::Timeout`] next, if anything is pending.
    pub fn poll_timeout(&self) -> Option<Millis> {
        if !self.started || self.state != ServerState::Looking {
            return None;
        }
        self.finalize_at.or(self.notify_at)
    }

    fn me(&self) -> PeerId {
        self.cfg.me
    }

    fn is_voter(&self) -> bool {
        self.cfg.verifier.is_voter(self.cfg.me)
    }

    /// `totalOrderPredicate`: is `new` better than `cur`? Never for a weight-0 leader.
    fn better(&self, new: &Vote, cur: &Vote) -> bool {
        self.cfg.verifier.can_lead(new.leader) && new > cur
    }

    fn start(&mut self, now: Millis, last_zxid: u64, peer_epoch: u64) {
        self.started = true;
        self.state = ServerState::Looking;
        self.logical_clock += 1;
        self.init_vote = Vote::new(self.me(), last_zxid, peer_epoch);
        self.proposal = self.init_vote;
        self.recv.clear();
        self.out_of_election.clear();
        self.finalize_at = None;
        self.notify_interval = self.cfg.min_notification_interval;
        tracing::debug!(round = self.logical_clock, vote = %self.proposal, "starting election");
        self.broadcast(now);
        self.check_looking_quorum(now);
    }

    /// Our notification as the world should see it now.
    fn my_notification(&self) -> Notification {
        let epoch = if self.state == ServerState::Looking {
            self.logical_clock
        } else {
            self.decided_epoch
        };
        Notification::new(self.state, self.proposal, epoch)
    }

    fn send(&mut self, to: PeerId) {
        let notification = self.my_notification();
        self.actions.push_back(Action::Send { to, notification });
    }

    /// Send our proposal to every other voter, record it as our own vote, and restart the
    /// notification timer.
    fn broadcast(&mut self, now: Millis) {
        let others: Vec<PeerId> = self
            .cfg
            .verifier
            .voters()
            .filter(|&v| v != self.me())
            .collect();
        for to in others {
            self.send(to);
        }
        if self.is_voter() {
            let entry = Entry {
                vote: self.proposal,
                election_epoch: self.logical_clock,
                state: ServerState::Looking,
                version: codec::CURRENT_VERSION,
            };
            self.recv.insert(self.me(), entry);
        }
        self.notify_at = Some(now + self.notify_interval);
    }

    fn on_link_up(&mut self, peer: PeerId) {
        let v = &self.cfg.verifier;
        let wanted = peer != self.me()
            && if self.is_voter() {
                v.is_member(peer)
            } else {
                v.is_voter(peer)
            };
        if wanted {
            self.send(peer);
        }
    }

    fn on_timeout(&mut self, now: Millis) {
        if self.state != ServerState::Looking {
            return;
        }
        if let Some(at) = self.finalize_at {
            if now >= at {
                let target = self.looking_target();
                let supporters = self.agreeing(&self.recv, &target);
                self.decide(self.proposal, self.logical_clock, supporters);
            }
            return;
        }
        if self.notify_at.is_some_and(|at| now >= at) {
            tracing::debug!(
                interval_ms = self.notify_interval.as_millis() as u64,
                "no notification: re-sending"
            );
            self.notify_interval =
                (self.notify_interval * 2).min(self.cfg.max_notification_interval);
            self.broadcast(now);
        }
    }

    fn on_notification(&mut self, now: Millis, from: PeerId, n: Notification) {
        let v = &self.cfg.verifier;
        if from == self.me() || !v.is_member(from) {
            tracing::debug!(from = %from, "notification from a stranger or ourselves: ignored");
            return;
        }
        if !v.is_voter(from) {
            // An observer: it never counts, but it learns our vote (as ZooKeeper answers it).
            if self.is_voter() {
                self.send(from);
            }
            return;
        }
        if self.state != ServerState::Looking {
            // A decided voter tells a looking voter whom it follows. A decided observer stays
            // silent: looking voters ignore OBSERVING votes, and they answer every observer
            // frame, so a reply would start an endless exchange.
            if n.state == ServerState::Looking && self.is_voter() {
                self.send(from);
            }
            return;
        }
        // Looking. WorkerReceiver: a voter still in an older round is told our vote.
        if n.state == ServerState::Looking
            && n.election_epoch < self.logical_clock
            && self.is_voter()
        {
            self.send(from);
        }
        if self.finalize_at.is_some() {
            if self.better(&n.vote, &self.proposal) {
                tracing::debug!(from = %from, vote = %n.vote, "better vote during finalize wait");
                self.finalize_at = None;
            } else {
                return;
            }
        }
        self.notify_at = Some(now + self.notify_interval);
        if !self.cfg.verifier.is_voter(n.vote.leader) {
            return;
        }
        match n.state {
            ServerState::Looking if self.is_voter() => self.on_looking(now, from, &n),
            ServerState::Looking | ServerState::Observing => {}
            ServerState::Following | ServerState::Leading => self.on_established(from, &n),
        }
    }

    fn on_looking(&mut self, now: Millis, from: PeerId, n: &Notification) {
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.recv.clear();
            self.proposal = if self.better(&n.vote, &self.init_vote) {
                n.vote
            } else {
                self.init_vote
            };
            self.broadcast(now);
        } else if n.election_epoch < self.logical_clock {
            return;
        } else if self.better(&n.vote, &self.proposal) {
            self.proposal = n.vote;
            self.broadcast(now);
        }
        let entry = Entry {
            vote: n.vote,
            election_epoch: n.election_epoch,
            state: n.state,
            version: n.version,
        };
        self.recv.insert(from, entry);
        self.check_looking_quorum(now);
    }

    fn looking_target(&self) -> Entry {
        Entry {
            vote: self.proposal,
            election_epoch: self.logical_clock,
            state: ServerState::Looking,
            version: codec::CURRENT_VERSION,
        }
    }

    fn check_looking_quorum(&mut self, now: Millis) {
        if self.state != ServerState::Looking || self.finalize_at.is_some() {
            return;
        }
        let target = self.looking_target();
        let agreeing = self.agreeing(&self.recv, &target);
        if self.cfg.verifier.contains_quorum(&agreeing) {
            tracing::debug!(vote = %self.proposal, "quorum agrees: finalize wait");
            self.finalize_at = Some(now + self.cfg.finalize_wait);
        }
    }

    fn agreeing(&self, set: &BTreeMap<PeerId, Entry>, target: &Entry) -> BTreeSet<PeerId> {
        set.iter()
            .filter(|(_, e)| e.matches(target))
            .map(|(&id, _)| id)
            .collect()
    }

    /// `checkLeader`: the leader itself reported LEADING, or it is us in this very round.
    fn check_leader(
        &self,
        set: &BTreeMap<PeerId, Entry>,
        leader: PeerId,
        election_epoch: u64,
    ) -> bool {
        if leader != self.me() {
            set.get(&leader)
                .is_some_and(|e| e.state == ServerState::Leading)
        } else {
            self.logical_clock == election_epoch
        }
    }

    fn on_established(&mut self, from: PeerId, n: &Notification) {
        let entry = Entry {
            vote: n.vote,
            election_epoch: n.election_epoch,
            state: n.state,
            version: n.version,
        };
        let quorum = |fle: &Self, set: &BTreeMap<PeerId, Entry>| {
            let agreeing = fle.agreeing(set, &entry);
            let ok = fle.cfg.verifier.contains_quorum(&agreeing)
                && fle.check_leader(set, n.vote.leader, n.election_epoch);
            ok.then_some(agreeing)
        };
        if n.election_epoch == self.logical_clock {
            self.recv.insert(from, entry);
            if let Some(supporters) = quorum(self, &self.recv) {
                self.decide(n.vote, n.election_epoch, supporters);
                return;
            }
        }
        self.out_of_election.insert(from, entry);
        if let Some(supporters) = quorum(self, &self.out_of_election) {
            tracing::debug!(leader = %n.vote.leader, round = n.election_epoch, "joining an established leader");
            self.logical_clock = n.election_epoch;
            self.decide(n.vote, n.election_epoch, supporters);
        }
    }

    fn decide(&mut self, vote: Vote, election_epoch: u64, supporters: BTreeSet<PeerId>) {
        let state = if vote.leader == self.me() {
            ServerState::Leading
        } else if self.is_voter() {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        tracing::debug!(%state, %vote, round = election_epoch, "election decided");
        self.state = state;
        self.proposal = vote;
        self.decided_epoch = election_epoch;
        self.finalize_at = None;
        self.notify_at = None;
        self.recv.clear();
        self.out_of_election.clear();
        self.actions.push_back(Action::Decided(Decision {
            state,
            vote,
            election_epoch,
            supporters,
        }));
    }
}
