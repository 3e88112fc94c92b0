//! One server's whole election story: [`Fle`] plus the [`Leadership`] placeholder.
//!
//! # Call contract
//!
//! [`Peer`] is sans-IO, like its parts. [`Peer::new`] starts the first election at once.
//! Then, for every event:
//!
//! 1. [`Peer::handle`] with the current [`Millis`] and one [`Input`];
//! 2. drain [`Peer::poll_action`], performing the actions **in order**. A
//!    [`Action::PersistAcceptedEpoch`] or [`Action::PersistCurrentEpoch`] must be durable
//!    before any later action is performed (the core assumes it is once emitted);
//! 3. sleep until [`Peer::poll_timeout`] (or the next event) and feed [`Input::Timeout`].
//!
//! [`Peer::status`] is a read-only summary for `srvr`-style reporting; every change to it is
//! also announced as [`Action::StateChanged`].

use crate::fle::{self, Decision, Fle, FleConfig};
use crate::leadership::{self, Leadership, LeadershipConfig};
use crate::quorum::QuorumVerifier;
use crate::time::Millis;
use crate::vote::ServerState;
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;
use zk_transport::{Channel, PeerId};

/// Everything a server needs to take part in elections.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// This server's id (`myid`).
    pub me: PeerId,
    /// The voters, observers and quorum rule.
    pub verifier: QuorumVerifier,
    /// `tickTime` (default 2000 ms).
    pub tick: Duration,
    /// `initLimit` in ticks (default 10).
    pub init_limit: u32,
    /// `syncLimit` in ticks (default 5).
    pub sync_limit: u32,
    /// FLE finalize wait (default 200 ms).
    pub finalize_wait: Duration,
    /// First FLE notification timeout (default 200 ms).
    pub min_notification_interval: Duration,
    /// Cap of the FLE notification timeout (default 60 s).
    pub max_notification_interval: Duration,
    /// Durable `acceptedEpoch` at start.
    pub accepted_epoch: u64,
    /// Durable `currentEpoch` at start.
    pub current_epoch: u64,
    /// Last logged zxid at start.
    pub last_zxid: u64,
}

impl PeerConfig {
    /// ZooKeeper's defaults, epochs and zxid zero.
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
            accepted_epoch: 0,
            current_epoch: 0,
            last_zxid: 0,
        }
    }
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
        /// The channel it came on.
        channel: Channel,
        /// The payload.
        frame: Bytes,
    },
    /// The deadline from [`Peer::poll_timeout`] has passed.
    Timeout,
}

/// A read-only summary of a server's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This server.
    pub me: PeerId,
    /// Looking, following, leading or observing.
    pub state: ServerState,
    /// The elected leader, once decided.
    pub leader: Option<PeerId>,
    /// The election round (`logicalclock`).
    pub election_round: u64,
    /// The leader's epoch once established (leader) or joined (learner).
    pub established_epoch: Option<u64>,
    /// The durable accepted epoch.
    pub accepted_epoch: u64,
    /// The durable current epoch.
    pub current_epoch: u64,
}

/// What a server asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `frame` to `to` on `channel`. Failing to send (link down, queue full) is not an
    /// error: timeouts recover.
    Send {
        /// The receiver.
        to: PeerId,
        /// The channel.
        channel: Channel,
        /// The payload.
        frame: Bytes,
    },
    /// Make `acceptedEpoch` durable before performing any later action.
    PersistAcceptedEpoch(u64),
    /// Make `currentEpoch` durable before performing any later action.
    PersistCurrentEpoch(u64),
    /// An election decided (also reflected in the status).
    Elected(Decision),
    /// This server, as leader, was established in `epoch` by `quorum`'s acks.
    Established {
        /// The epoch.
        epoch: u64,
        /// The voters whose acks counted, this server included.
        quorum: BTreeSet<PeerId>,
    },
    /// The status changed (the new value).
    StateChanged(Status),
}

/// One server: election plus leader/learner placeholder. See the [module docs](self).
#[derive(Debug)]
pub struct Peer {
    me: PeerId,
    last_zxid: u64,
    fle: Fle,
    lead: Leadership,
    actions: VecDeque<Action>,
    last_status: Status,
}

impl Peer {
    /// A server that starts its first election at `now`.
    pub fn new(cfg: PeerConfig, now: Millis) -> Self {
        let fle_cfg = FleConfig {
            me: cfg.me,
            verifier: cfg.verifier.clone(),
            finalize_wait: cfg.finalize_wait,
            min_notification_interval: cfg.min_notification_interval,
            max_notification_interval: cfg.max_notification_interval,
        };
        let lead_cfg = LeadershipConfig {
            me: cfg.me,
            verifier: cfg.verifier,
            tick: cfg.tick,
            init_limit: cfg.init_limit,
            sync_limit: cfg.sync_limit,
        };
        let fle = Fle::new(fle_cfg);
        let lead = Leadership::new(lead_cfg, cfg.accepted_epoch, cfg.current_epoch);
        let last_status = Status {
            me: cfg.me,
            state: ServerState::Looking,
            leader: None,
            election_round: 0,
            established_epoch: None,
            accepted_epoch: cfg.accepted_epoch,
            current_epoch: cfg.current_epoch,
        };
        let mut peer = Self {
            me: cfg.me,
            last_zxid: cfg.last_zxid,
            fle,
            lead,
            actions: VecDeque::new(),
            last_status,
        };
        peer.start_election(now);
        peer
    }

    /// The current summary.
    pub fn status(&self) -> Status {
        let state = self.fle.state();
        Status {
            me: self.me,
            state,
            leader: (state != ServerState::Looking).then(|| self.fle.vote().leader),
            election_round: self.fle.logical_clock(),
            established_epoch: self.lead.established_epoch(),
            accepted_epoch: self.lead.accepted_epoch(),
            current_epoch: self.lead.current_epoch(),
        }
    }

    /// The election core (read-only).
    pub fn fle(&self) -> &Fle {
        &self.fle
    }

    /// The leadership core (read-only).
    pub fn leadership(&self) -> &Leadership {
        &self.lead
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
                self.lead.handle(now, leadership::Input::LinkUp { peer });
            }
            Input::LinkDown {
                channel: Channel::Election,
                ..
            } => {}
            Input::LinkDown {
                peer,
                channel: Channel::Quorum,
            } => {
                self.lead.handle(now, leadership::Input::LinkDown { peer });
            }
            Input::Frame {
                peer,
                channel: Channel::Election,
                frame,
            } => {
                self.fle
                    .handle(now, fle::Input::Notification { from: peer, frame });
            }
            Input::Frame {
                peer,
                channel: Channel::Quorum,
                frame,
            } => {
                self.lead
                    .handle(now, leadership::Input::Frame { from: peer, frame });
            }
            Input::Timeout => {
                self.fle.handle(now, fle::Input::Timeout);
                self.lead.handle(now, leadership::Input::Timeout);
            }
        }
        self.pump(now);
    }

    /// The next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to feed [`Input::Timeout`] next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        match (self.fle.poll_timeout(), self.lead.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn start_election(&mut self, now: Millis) {
        self.lead.handle(now, leadership::Input::Stop);
        let peer_epoch = self.lead.current_epoch();
        self.fle.handle(
            now,
            fle::Input::Start {
                last_zxid: self.last_zxid,
                peer_epoch,
            },
        );
        self.pump(now);
    }

    /// Move actions from both cores to the queue until neither has more.
    fn pump(&mut self, now: Millis) {
        loop {
            let mut progressed = false;
            while let Some(a) = self.fle.poll_action() {
                progressed = true;
                match a {
                    fle::Action::Send { to, notification } => {
                        let frame = notification.encode();
                        self.actions.push_back(Action::Send {
                            to,
                            channel: Channel::Election,
                            frame,
                        });
                    }
                    fle::Action::Decided(d) => {
                        let leader = d.vote.leader;
                        self.actions.push_back(Action::Elected(d));
                        self.lead.handle(now, leadership::Input::Begin { leader });
                    }
                }
            }
            while let Some(a) = self.lead.poll_action() {
                progressed = true;
                match a {
                    leadership::Action::Send { to, msg } => {
                        let frame = msg.encode();
                        self.actions.push_back(Action::Send {
                            to,
                            channel: Channel::Quorum,
                            frame,
                        });
                    }
                    leadership::Action::PersistAcceptedEpoch(e) => {
                        self.actions.push_back(Action::PersistAcceptedEpoch(e))
                    }
                    leadership::Action::PersistCurrentEpoch(e) => {
                        self.actions.push_back(Action::PersistCurrentEpoch(e))
                    }
                    leadership::Action::Established { epoch, quorum } => {
                        self.fle.handle(now, fle::Input::Established { epoch });
                        self.actions
                            .push_back(Action::Established { epoch, quorum });
                    }
                    leadership::Action::Joined { epoch } => {
                        self.fle.handle(now, fle::Input::Established { epoch })
                    }
                    leadership::Action::Lost { reason } => {
                        tracing::info!(reason, "back to looking");
                        self.lead.handle(now, leadership::Input::Stop);
                        let peer_epoch = self.lead.current_epoch();
                        self.fle.handle(
                            now,
                            fle::Input::Start {
                                last_zxid: self.last_zxid,
                                peer_epoch,
                            },
                        );
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        let status = self.status();
        if status != self.last_status {
            self.last_status = status.clone();
            self.actions.push_back(Action::StateChanged(status));
        }
    }
}
