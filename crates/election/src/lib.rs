//! Fast Leader Election for zk-rs: ZooKeeper's election, as deterministic state machines.
//!
//! Any Rust program can elect a leader among N processes with this crate, and zk-rs servers
//! speak ZooKeeper 3.8's election wire format with it.
//!
//! # Layers
//!
//! - [`vote`]: [`ServerState`], [`Vote`] and its total order (peer epoch, zxid, server id),
//!   and [`zxid`] helpers.
//! - [`codec`]: the exact FLE notification wire format (`int32 state, int64 leader, int64
//!   zxid, int64 electionEpoch, int64 peerEpoch, int32 version, int32 configLength, config`),
//!   legacy 28- and 40-byte forms included.
//! - [`quorum`]: [`QuorumVerifier`]: majority or hierarchical (`group.N`/`weight.N`) quorums,
//!   observers, weight-0 servers.
//! - [`fle`]: [`Fle`], the election core (`lookForLeader` and `WorkerReceiver` semantics).
//! - [`leadership`] and [`message`]: leader liveness for programs that use the election
//!   alone (zk-server runs ZAB from `zk-zab` instead). After an election the leader runs
//!   discovery with ZAB's epoch rule (so no two leaders are established in one epoch) and
//!   heartbeats over the quorum channel; a lost leader or quorum starts a new election.
//! - [`peer`]: [`Peer`], both cores behind one sans-IO interface. This is what a driver or a
//!   simulation runs.
//! - [`driver`]: a tokio [`driver::Driver`] running a `Peer` over any
//!   [`zk_transport::Transport`], persisting epochs through an [`driver::EpochStore`] and
//!   publishing [`Status`] on a `watch` channel.
//!
//! # The sans-IO contract
//!
//! Cores never read a clock, never sleep, never draw random numbers and never do I/O. Time
//! is an input ([`Millis`], milliseconds since an origin the caller picks). For every event:
//!
//! 1. `handle(now, input)`;
//! 2. drain `poll_action()` and perform every action in order. A persist action must be
//!    durable before any later action is performed;
//! 3. call `poll_timeout()` and feed `Input::Timeout` once that time has come.
//!
//! # Example: three servers, delivered by hand
//!
//! ```
//! use std::collections::VecDeque;
//! use zk_election::peer::{Action, Input};
//! use zk_election::{Millis, Peer, PeerConfig, QuorumVerifier, ServerState};
//! use zk_transport::{Channel, PeerId};
//!
//! let ids = [PeerId(1), PeerId(2), PeerId(3)];
//! let q = QuorumVerifier::majority(ids, []).unwrap();
//! let mut now = Millis(0);
//! let mut peers: Vec<Peer> = ids.iter().map(|&id| Peer::new(PeerConfig::new(id, q.clone()), now)).collect();
//! // Every link comes up; a real transport would announce these.
//! for (i, p) in peers.iter_mut().enumerate() {
//!     for &other in &ids {
//!         if other != ids[i] {
//!             for channel in Channel::ALL {
//!                 p.handle(now, Input::LinkUp { peer: other, channel });
//!             }
//!         }
//!     }
//! }
//! // A lossless, instant network: deliver frames until quiet, then advance to the next timer.
//! let mut in_flight = VecDeque::new();
//! for _ in 0..200 {
//!     for (i, p) in peers.iter_mut().enumerate() {
//!         while let Some(action) = p.poll_action() {
//!             if let Action::Send { to, channel, frame } = action {
//!                 in_flight.push_back((ids[i], to, channel, frame));
//!             }
//!         }
//!     }
//!     if let Some((from, to, channel, frame)) = in_flight.pop_front() {
//!         let p = &mut peers[(to.0 - 1) as usize];
//!         p.handle(now, Input::Frame { peer: from, channel, frame });
//!     } else if let Some(t) = peers.iter().filter_map(|p| p.poll_timeout()).min() {
//!         now = t;
//!         for p in &mut peers {
//!             if p.poll_timeout() <= Some(now) {
//!                 p.handle(now, Input::Timeout);
//!             }
//!         }
//!     }
//! }
//! // Server 3 has the best vote (same epoch and zxid, largest id): it leads.
//! let leader = peers.iter().find(|p| p.status().state == ServerState::Leading).unwrap();
//! assert_eq!(leader.status().me, PeerId(3));
//! assert!(peers.iter().all(|p| p.status().leader == Some(PeerId(3))));
//! assert!(peers.iter().all(|p| p.status().established_epoch == Some(1)));
//! ```
//!
//! # Differences from ZooKeeper, on purpose
//!
//! - Notifications are latest-wins by construction: the core re-sends its current vote on
//!   every election link that comes up, instead of ZooKeeper's resend of the last message.
//! - A decided observer never answers notifications (looking voters ignore OBSERVING votes,
//!   and voters answer every observer frame: replying would loop forever).
//! - Once established, decided servers report the established epoch as their vote's peer
//!   epoch, so members that decided in different rounds agree for late joiners.
//! - The [`leadership`] placeholder steps down when a learner has accepted a later epoch
//!   than the one the leader chose, instead of leaving that learner retrying forever.

pub mod codec;
pub mod driver;
pub mod fle;
pub mod leadership;
pub mod message;
pub mod peer;
pub mod quorum;
mod time;
pub mod vote;

pub use codec::{DecodeError, Notification};
pub use fle::{Decision, Fle, FleConfig};
pub use peer::{Peer, PeerConfig, Status};
pub use quorum::{QuorumError, QuorumVerifier};
pub use time::Millis;
pub use vote::{ServerState, Vote, zxid};
