//! Deterministic seeded simulation of whole ensembles of [`Peer`] cores.
//!
//! Virtual time, a priority queue of events, and a network whose every frame is judged by a
//! [`FaultPlan`] (loss, delay, duplication, reordering across links, symmetric and one-way
//! partitions), plus crashes and restarts (a restart keeps the persisted epochs and nothing
//! else; survivors see the links go down, and both ends see them come back up).
//!
//! Invariants, checked after every step:
//! - (a) no two distinct leaders are ever established in the same epoch, and every
//!   establishment rests on counted acks a quorum actually sent;
//! - (b) every decision is supported by a quorum of votes the node actually received;
//!   observers and weight-0 servers never lead; persisted epochs never go backwards;
//! - (c) liveness: once faults stop (healed, lossless, everyone up) all servers follow one
//!   established leader within 60 simulated seconds.
//!
//! `SIM_SEED=n` replays one seed; `SIM_SEEDS=n` sets how many seeds each config runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;
use zk_election::message::Message;
use zk_election::peer::{Action, Input};
use zk_election::{Millis, Peer, PeerConfig, QuorumVerifier, ServerState, codec, zxid};
use zk_transport::fault::{FaultConfig, FaultPlan};
use zk_transport::rng::SeededRng;
use zk_transport::{Channel, PeerId};

const FAULT_PHASE_MS: u64 = 20_000;
const LIVENESS_BOUND_MS: u64 = 60_000;
const MAX_STEPS: u64 = 1_000_000;

#[derive(Clone, Debug)]
struct SimConfig {
    name: &'static str,
    verifier: QuorumVerifier,
}

#[derive(Debug)]
struct Node {
    peer: Option<Peer>,
    accepted: u64,
    current: u64,
    last_zxid: u64,
    /// (sender → (leader, peer epoch)) of every notification delivered since the last start.
    seen: BTreeMap<PeerId, BTreeSet<(PeerId, u64)>>,
    /// Peers this node has seen come up (both channels), since its last start.
    up: BTreeSet<PeerId>,
}

#[derive(Debug)]
enum Ev {
    Deliver {
        from: PeerId,
        to: PeerId,
        channel: Channel,
        generation: u64,
        frame: Bytes,
    },
    Up {
        at: PeerId,
        peer: PeerId,
        generation: u64,
    },
    Chaos,
}

struct Sim {
    seed: u64,
    cfg: SimConfig,
    now: u64,
    rng: SeededRng,
    plan: FaultPlan,
    nodes: BTreeMap<PeerId, Node>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    seq: u64,
    generation: BTreeMap<(PeerId, PeerId), u64>,
    last_due: BTreeMap<(PeerId, PeerId, Channel), u64>,
    established: BTreeMap<u64, PeerId>,
    counted_acks: BTreeSet<(PeerId, PeerId, u64)>,
    trace: VecDeque<String>,
    faults_on: bool,
}

fn pair(a: PeerId, b: PeerId) -> (PeerId, PeerId) {
    if a < b { (a, b) } else { (b, a) }
}

impl Sim {
    fn new(seed: u64, cfg: SimConfig) -> Self {
        let mut rng = SeededRng::new(seed ^ 0x5151_5eed);
        let mut nodes = BTreeMap::new();
        let ids: Vec<PeerId> = cfg.verifier.members().collect();
        for &id in &ids {
            // Varied histories make the vote order matter: some servers saw more.
            let epoch = rng.below(3);
            let node = Node {
                peer: None,
                accepted: epoch,
                current: epoch,
                last_zxid: zxid::make(epoch, rng.below(4)),
                seen: BTreeMap::new(),
                up: BTreeSet::new(),
            };
            nodes.insert(id, node);
        }
        let plan = FaultPlan::new(seed);
        let mut sim = Self {
            seed,
            cfg,
            now: 0,
            rng,
            plan,
            nodes,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            generation: BTreeMap::new(),
            last_due: BTreeMap::new(),
            established: BTreeMap::new(),
            counted_acks: BTreeSet::new(),
            trace: VecDeque::new(),
            faults_on: true,
        };
        for id in ids {
            sim.boot(id);
        }
        let first = sim.rng.range(50, 500);
        sim.schedule(first, Ev::Chaos);
        sim
    }

    fn fail(&self, what: &str) -> ! {
        let trace: Vec<&String> = self.trace.iter().collect();
        panic!(
            "simulation invariant violated: {what}\n  seed {} (replay with SIM_SEED={}), config {} ({:?})\n  at {} ms\n  last events:\n    {}",
            self.seed,
            self.seed,
            self.cfg.name,
            self.cfg.verifier,
            self.now,
            trace
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n    ")
        );
    }

    fn note(&mut self, s: String) {
        if self.trace.len() >= 60 {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>6} {s}", self.now));
    }

    fn schedule(&mut self, delay: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + delay, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn alive(&self, id: PeerId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.peer.is_some())
    }

    /// Start (or restart) a node from its durable state, and bring its links up.
    fn boot(&mut self, id: PeerId) {
        let node = &self.nodes[&id];
        let mut pc = PeerConfig::new(id, self.cfg.verifier.clone());
        pc.tick = Duration::from_millis(200);
        pc.init_limit = 5;
        pc.sync_limit = 3;
        pc.max_notification_interval = Duration::from_millis(3_000);
        pc.accepted_epoch = node.accepted;
        pc.current_epoch = node.current;
        pc.last_zxid = node.last_zxid;
        let peer = Peer::new(pc, Millis(self.now));
        let node = self.nodes.get_mut(&id).unwrap();
        node.peer = Some(peer);
        node.seen.clear();
        node.up.clear();
        self.note(format!("boot {id}"));
        self.drain(id);
        let others = self.alive_others(id);
        for o in others {
            let g = self.generation.entry(pair(id, o)).or_insert(0);
            *g += 1;
            let generation = *g;
            let d = self.rng.range(1, 30);
            self.schedule(
                d,
                Ev::Up {
                    at: id,
                    peer: o,
                    generation,
                },
            );
            self.schedule(
                d,
                Ev::Up {
                    at: o,
                    peer: id,
                    generation,
                },
            );
        }
    }

    /// Every running node but `id`.
    fn alive_others(&self, id: PeerId) -> Vec<PeerId> {
        self.nodes
            .keys()
            .copied()
            .filter(|&o| o != id && self.alive(o))
            .collect()
    }

    fn crash(&mut self, id: PeerId) {
        self.note(format!("crash {id}"));
        let node = self.nodes.get_mut(&id).unwrap();
        node.peer = None;
        node.up.clear();
        let others = self.alive_others(id);
        for o in others {
            *self.generation.entry(pair(id, o)).or_insert(0) += 1;
            let was_up = self.nodes.get_mut(&o).unwrap().up.remove(&id);
            if was_up {
                for channel in Channel::ALL {
                    self.input(o, Input::LinkDown { peer: id, channel });
                }
            }
        }
    }

    fn input(&mut self, id: PeerId, input: Input) {
        let now = Millis(self.now);
        let Some(peer) = self.nodes.get_mut(&id).and_then(|n| n.peer.as_mut()) else {
            return;
        };
        peer.handle(now, input);
        self.drain(id);
    }

    fn drain(&mut self, id: PeerId) {
        loop {
            let Some(action) = self
                .nodes
                .get_mut(&id)
                .and_then(|n| n.peer.as_mut())
                .and_then(|p| p.poll_action())
            else {
                return;
            };
            self.act(id, action);
        }
    }

    fn act(&mut self, id: PeerId, action: Action) {
        let q = self.cfg.verifier.clone();
        match action {
            Action::Send { to, channel, frame } => {
                if channel == Channel::Quorum
                    && let Ok(Message::AckEpoch {
                        epoch,
                        counted: true,
                    }) = Message::decode(&frame)
                {
                    self.counted_acks.insert((id, to, epoch));
                }
                self.route(id, to, channel, frame);
            }
            Action::PersistAcceptedEpoch(e) => {
                let node = self.nodes.get_mut(&id).unwrap();
                if e < node.accepted {
                    self.fail(&format!(
                        "{id} lowered its accepted epoch {} to {e}",
                        self.nodes[&id].accepted
                    ));
                }
                node.accepted = e;
            }
            Action::PersistCurrentEpoch(e) => {
                let node = &self.nodes[&id];
                if e < node.current || e > node.accepted {
                    self.fail(&format!(
                        "{id} set current epoch {e} (current {}, accepted {})",
                        node.current, node.accepted
                    ));
                }
                self.nodes.get_mut(&id).unwrap().current = e;
            }
            Action::Elected(d) => {
                self.note(format!(
                    "{id} elected {:?} {} r{} by {:?}",
                    d.state, d.vote, d.election_epoch, d.supporters
                ));
                if !q.contains_quorum(&d.supporters) {
                    self.fail(&format!(
                        "{id} decided {} without a quorum: {:?}",
                        d.vote, d.supporters
                    ));
                }
                for s in &d.supporters {
                    let held = *s == id
                        || self.nodes[&id]
                            .seen
                            .get(s)
                            .is_some_and(|v| v.contains(&(d.vote.leader, d.vote.peer_epoch)));
                    if !held {
                        self.fail(&format!(
                            "{id} counted {s} for {} but never received such a vote from it",
                            d.vote
                        ));
                    }
                }
                if d.state == ServerState::Leading && !q.can_lead(id) {
                    self.fail(&format!("{id} (observer or weight 0) decided to lead"));
                }
                if !q.can_lead(d.vote.leader) {
                    self.fail(&format!("{id} elected {} which cannot lead", d.vote.leader));
                }
            }
            Action::Established { epoch, quorum } => {
                self.note(format!("{id} ESTABLISHED epoch {epoch} by {quorum:?}"));
                if !q.contains_quorum(&quorum) || !quorum.contains(&id) {
                    self.fail(&format!(
                        "{id} established epoch {epoch} without a quorum: {quorum:?}"
                    ));
                }
                for m in &quorum {
                    if *m != id && !self.counted_acks.contains(&(*m, id, epoch)) {
                        self.fail(&format!(
                            "{id} counted an ack from {m} for epoch {epoch} that was never sent"
                        ));
                    }
                }
                if let Some(&other) = self.established.get(&epoch)
                    && other != id
                {
                    self.fail(&format!(
                        "two leaders established in epoch {epoch}: {other} and {id}"
                    ));
                }
                self.established.insert(epoch, id);
            }
            Action::StateChanged(_) => {}
        }
    }

    fn route(&mut self, from: PeerId, to: PeerId, channel: Channel, frame: Bytes) {
        if !self.nodes[&from].up.contains(&to) {
            return; // NotUp: the transport refuses, the core shrugs.
        }
        let verdict = self.plan.decide(from, to, channel);
        let generation = self.generation.get(&pair(from, to)).copied().unwrap_or(0);
        let base = self.rng.range(1, 3) + verdict.delay.as_millis() as u64;
        let key = (from, to, channel);
        // FIFO per link: never overtake an earlier frame on the same link.
        let due = (self.now + base).max(self.last_due.get(&key).copied().unwrap_or(0));
        self.last_due.insert(key, due);
        for _ in 0..verdict.copies {
            let ev = Ev::Deliver {
                from,
                to,
                channel,
                generation,
                frame: frame.clone(),
            };
            self.schedule(due - self.now, ev);
        }
    }

    fn chaos(&mut self) {
        if !self.faults_on {
            return;
        }
        let ids: Vec<PeerId> = self.nodes.keys().copied().collect();
        let pick = |sim: &mut Self| ids[sim.rng.below(ids.len() as u64) as usize];
        match self.rng.below(10) {
            0 | 1 => {
                let id = pick(self);
                if self.alive(id) {
                    self.crash(id);
                } else {
                    self.boot(id);
                }
            }
            2 => {
                let dead: Vec<PeerId> = ids.iter().copied().filter(|&i| !self.alive(i)).collect();
                for id in dead {
                    self.boot(id);
                }
            }
            3 | 4 => {
                let mut a = Vec::new();
                let mut b = Vec::new();
                for &id in &ids {
                    if self.rng.chance(0.5) {
                        a.push(id)
                    } else {
                        b.push(id)
                    }
                }
                self.note(format!("partition {a:?} | {b:?}"));
                self.plan.partition(&a, &b);
            }
            5 => {
                let (x, y) = (pick(self), pick(self));
                self.note(format!("block {x} -> {y}"));
                self.plan.block(x, y);
            }
            6 | 7 => {
                self.note("heal".into());
                self.plan.heal();
            }
            _ => {
                let config = FaultConfig {
                    drop: [0.0, 0.05, 0.2, 0.5][self.rng.below(4) as usize],
                    duplicate: [0.0, 0.05, 0.2][self.rng.below(3) as usize],
                    delay_min: Duration::ZERO,
                    delay_max: Duration::from_millis([0, 20, 150][self.rng.below(3) as usize]),
                };
                self.note(format!("faults {config:?}"));
                self.plan.set_config(config);
            }
        }
        let next = self.rng.range(50, 1_500);
        self.schedule(next, Ev::Chaos);
    }

    fn stop_faults(&mut self) {
        self.note("faults stop: heal, lossless, everyone up".into());
        self.faults_on = false;
        self.plan.heal();
        self.plan.set_config(FaultConfig {
            delay_max: Duration::from_millis(5),
            ..FaultConfig::default()
        });
        let dead: Vec<PeerId> = self
            .nodes
            .keys()
            .copied()
            .filter(|&i| !self.alive(i))
            .collect();
        for id in dead {
            self.boot(id);
        }
    }

    fn handle_event(&mut self, ev: Ev) {
        match ev {
            Ev::Chaos => self.chaos(),
            Ev::Up {
                at,
                peer,
                generation,
            } => {
                let current = self.generation.get(&pair(at, peer)).copied().unwrap_or(0);
                if generation != current || !self.alive(at) || !self.alive(peer) {
                    return;
                }
                self.nodes.get_mut(&at).unwrap().up.insert(peer);
                for channel in Channel::ALL {
                    self.input(at, Input::LinkUp { peer, channel });
                }
            }
            Ev::Deliver {
                from,
                to,
                channel,
                generation,
                frame,
            } => {
                let current = self.generation.get(&pair(from, to)).copied().unwrap_or(0);
                if generation != current || !self.alive(to) || !self.nodes[&to].up.contains(&from) {
                    return;
                }
                if channel == Channel::Election
                    && let Ok(n) = codec::decode(&frame)
                {
                    let seen = self
                        .nodes
                        .get_mut(&to)
                        .unwrap()
                        .seen
                        .entry(from)
                        .or_default();
                    seen.insert((n.vote.leader, n.vote.peer_epoch));
                }
                self.input(
                    to,
                    Input::Frame {
                        peer: from,
                        channel,
                        frame,
                    },
                );
            }
        }
    }

    fn next_timer(&self) -> Option<(u64, PeerId)> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| {
                n.peer
                    .as_ref()
                    .and_then(|p| p.poll_timeout())
                    .map(|t| (t.0.max(self.now), *id))
            })
            .min()
    }

    /// Everyone up follows one established leader in its epoch.
    fn converged(&self) -> bool {
        let statuses: Vec<_> = self
            .nodes
            .values()
            .filter_map(|n| n.peer.as_ref().map(|p| p.status()))
            .collect();
        if statuses.len() != self.nodes.len() {
            return false;
        }
        let Some(leader) = statuses.iter().find(|s| s.state == ServerState::Leading) else {
            return false;
        };
        let Some(epoch) = leader.established_epoch else {
            return false;
        };
        statuses.iter().all(|s| {
            s.leader == Some(leader.me)
                && s.established_epoch == Some(epoch)
                && (s.me == leader.me
                    || s.state
                        == if self.cfg.verifier.is_voter(s.me) {
                            ServerState::Following
                        } else {
                            ServerState::Observing
                        })
        })
    }

    fn run(&mut self) {
        let end = FAULT_PHASE_MS + LIVENESS_BOUND_MS;
        let mut steps = 0u64;
        loop {
            steps += 1;
            if steps > MAX_STEPS {
                self.fail(&format!(
                    "more than {MAX_STEPS} steps: an event storm or a timer that never advances"
                ));
            }
            let ev_time = self.queue.peek().map(|Reverse((t, _))| *t);
            let timer = self.next_timer();
            let take_timer = match (ev_time, timer) {
                (Some(e), Some((t, _))) => t < e,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            let at = if take_timer {
                timer.map(|t| t.0)
            } else {
                ev_time
            };
            let Some(at) = at else { break };
            if self.faults_on && at >= FAULT_PHASE_MS {
                self.now = FAULT_PHASE_MS;
                self.stop_faults();
                continue;
            }
            if at > end {
                break;
            }
            self.now = at;
            if take_timer {
                if let Some((_, id)) = timer {
                    self.input(id, Input::Timeout);
                }
            } else if let Some(Reverse((_, seq))) = self.queue.pop()
                && let Some(ev) = self.events.remove(&seq)
            {
                self.handle_event(ev);
            }
            if !self.faults_on && self.converged() {
                if std::env::var("SIM_SEED").is_ok() {
                    eprintln!(
                        "seed {} {}: converged at {} ms after {steps} steps; epochs established: {:?}",
                        self.seed, self.cfg.name, self.now, self.established
                    );
                    for line in &self.trace {
                        eprintln!("  {line}");
                    }
                }
                return;
            }
        }
        let statuses: Vec<String> = self
            .nodes
            .values()
            .map(|n| {
                n.peer
                    .as_ref()
                    .map_or("down".to_string(), |p| format!("{:?}", p.status()))
            })
            .collect();
        self.fail(&format!(
            "no convergence within {LIVENESS_BOUND_MS} ms after faults stopped:\n    {}",
            statuses.join("\n    ")
        ));
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn run_seeds(cfg: SimConfig, default_seeds: u64) {
    let seeds: Vec<u64> = match env_u64("SIM_SEED") {
        Some(s) => vec![s],
        None => (0..env_u64("SIM_SEEDS").unwrap_or(default_seeds)).collect(),
    };
    for seed in seeds {
        let c = cfg.clone();
        let result = catch_unwind(AssertUnwindSafe(|| Sim::new(seed, c).run()));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "seed {seed} (replay with SIM_SEED={seed}), config {}: {msg}",
                cfg.name
            );
        }
    }
}

fn ids(v: &[u64]) -> Vec<PeerId> {
    v.iter().map(|&i| PeerId(i)).collect()
}

fn majority(name: &'static str, voters: &[u64], observers: &[u64]) -> SimConfig {
    SimConfig {
        name,
        verifier: QuorumVerifier::majority(ids(voters), ids(observers)).unwrap(),
    }
}

#[test]
fn three_voters() {
    run_seeds(majority("3 voters", &[1, 2, 3], &[]), 800);
}

#[test]
fn five_voters() {
    run_seeds(majority("5 voters", &[1, 2, 3, 4, 5], &[]), 600);
}

#[test]
fn seven_voters() {
    run_seeds(majority("7 voters", &[1, 2, 3, 4, 5, 6, 7], &[]), 300);
}

#[test]
fn five_voters_two_observers() {
    run_seeds(
        majority("5 voters + 2 observers", &[1, 2, 3, 4, 5], &[6, 7]),
        400,
    );
}

#[test]
fn hierarchical_with_weight_zero_and_observer() {
    let verifier = QuorumVerifier::hierarchical(
        [(1, ids(&[1, 2])), (2, ids(&[3, 4])), (3, ids(&[5, 6]))],
        [(PeerId(6), 0), (PeerId(1), 2)],
        ids(&[7]),
    )
    .unwrap();
    run_seeds(
        SimConfig {
            name: "hierarchical 3 groups, weight-0 server 6, observer 7",
            verifier,
        },
        400,
    );
}
