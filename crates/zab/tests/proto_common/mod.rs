//! A deterministic simulation harness for ensembles of [`Server`] cores, shared by
//! `proto_simulation.rs` (seeded chaos) and `proto_regressions.rs` (scripted schedules).
//!
//! - Virtual time and one priority queue of events; every random choice comes from the seed.
//! - The network: FIFO per link; the election channel is lossy (drop, duplicate, delay,
//!   partitions, from a [`FaultPlan`]); the quorum channel is a reliable stream per link
//!   incarnation, as TCP is, so a frame the plan drops **resets the link** (both ends see it
//!   go down; it comes back up later, or once a partition heals). Idempotent quorum frames
//!   (PROPOSAL, COMMIT, ACK, PING) may also be duplicated. Frames reorder across links.
//! - Storage per node: a durable snapshot (the applied sequence at some zxid), a durable log,
//!   and pending appends that become durable after a random delay (in order), reported with
//!   `Input::Durable`. A crash loses pending appends and all memory; epochs, the snapshot and
//!   the durable log survive.
//! - The state machine: the sequence of applied txns.
//!
//! Invariant checkers, one function each, run after every step (see `check_all`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

pub mod script;

use bytes::{BufMut, Bytes, BytesMut};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::time::Duration;
use zk_election::{Millis, QuorumVerifier, ServerState};
use zk_transport::fault::{FaultConfig, FaultPlan};
use zk_transport::rng::SeededRng;
use zk_transport::{Channel, PeerId};
use zk_zab::proto::sync::follows;
use zk_zab::proto::{Action, Input, Message, Phase, Server, ServerConfig, StartState};
use zk_zab::txn::{Txn, Zxid, epoch_of, make_zxid};

/// Timing and window settings of every server in a simulation.
#[derive(Clone, Debug)]
pub struct Params {
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub window: usize,
    /// Durable completes 1..=max ms after an append.
    pub durable_max_ms: u64,
    pub counter_limit: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            tick_ms: 200,
            init_limit: 5,
            sync_limit: 3,
            window: 8,
            durable_max_ms: 30,
            counter_limit: u32::MAX,
        }
    }
}

/// What survives a crash.
#[derive(Clone, Debug, Default)]
pub struct Store {
    pub accepted: u64,
    pub current: u64,
    pub snap_zxid: Zxid,
    pub snap: Vec<Txn>,
    pub log: Vec<Txn>,
    /// Appended, not yet durable.
    pub pending: VecDeque<Txn>,
}

impl Store {
    pub fn last_durable(&self) -> Zxid {
        self.log.last().map_or(self.snap_zxid, |t| t.zxid)
    }

    /// Whether `txn` is durable here (in the snapshot or the log).
    pub fn holds(&self, txn: &Txn) -> bool {
        if txn.zxid <= self.snap_zxid {
            return self.snap.iter().any(|t| t == txn);
        }
        self.log
            .binary_search_by_key(&txn.zxid, |t| t.zxid)
            .is_ok_and(|i| self.log[i] == *txn)
    }
}

#[derive(Debug)]
pub struct Node {
    pub server: Option<Server>,
    pub store: Store,
    pub applied: Vec<Txn>,
    pub up: BTreeSet<PeerId>,
    pub boot: u64,
    /// How much of `applied` the prefix checker has seen.
    checked: usize,
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
        a: PeerId,
        b: PeerId,
        generation: u64,
    },
    Flush {
        node: PeerId,
        boot: u64,
        up_to: Zxid,
    },
    Snapshot {
        node: PeerId,
        boot: u64,
        zxid: Zxid,
        image: Bytes,
    },
    Chaos,
    Client,
}

/// A frame the script wants dropped (the link resets, like any quorum drop).
pub type DropRule = Box<dyn FnMut(PeerId, PeerId, &Message) -> bool>;

pub struct Sim {
    pub seed: u64,
    pub name: String,
    pub verifier: QuorumVerifier,
    pub params: Params,
    pub now: u64,
    pub rng: SeededRng,
    pub plan: FaultPlan,
    pub nodes: BTreeMap<PeerId, Node>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    seq: u64,
    generation: BTreeMap<(PeerId, PeerId), u64>,
    last_due: BTreeMap<(PeerId, PeerId, Channel), u64>,
    /// The global committed sequence: everything ever delivered, in order.
    pub committed: Vec<Txn>,
    /// zxid → payload of every proposal a leader made.
    pub proposed: BTreeMap<Zxid, Bytes>,
    /// epoch → the leader established in it.
    pub established: BTreeMap<u64, PeerId>,
    pub writes: BTreeSet<Bytes>,
    write_seq: u64,
    sync_seq: u64,
    /// sync id → the zxid its answer must reach (the leader's applied when it saw it).
    sync_expect: BTreeMap<u64, Zxid>,
    pub syncs_done: u64,
    /// How often each sync mode was used (DIFF, TRUNC, SNAP), for coverage reports.
    pub sync_modes: [u64; 3],
    trace: VecDeque<String>,
    pub chaos: bool,
    pub clients: bool,
    /// Nodes whose appends never become durable while listed (a stuck disk).
    pub hold_durable: BTreeSet<PeerId>,
    pub drop_rules: Vec<DropRule>,
    /// Nodes whose Durable completions are stalled until released.
    pub max_trace: usize,
    /// Note every quorum frame delivered (`SIM_VERBOSE=1`).
    pub verbose: bool,
    /// Every action of every node, when `record` is set.
    pub record: bool,
    pub action_log: Vec<(PeerId, Action)>,
}

pub fn pair(a: PeerId, b: PeerId) -> (PeerId, PeerId) {
    if a < b { (a, b) } else { (b, a) }
}

pub fn encode_image(txns: &[Txn]) -> Bytes {
    let mut b = BytesMut::new();
    for t in txns {
        b.put_u64(t.zxid);
        b.put_u32(t.data.len() as u32);
        b.put_slice(&t.data);
    }
    b.freeze()
}

pub fn decode_image(mut b: &[u8]) -> Vec<Txn> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let zxid = u64::from_be_bytes(b[..8].try_into().unwrap());
        let n = u32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
        out.push(Txn::new(zxid, Bytes::copy_from_slice(&b[12..12 + n])));
        b = &b[12 + n..];
    }
    out
}

impl Sim {
    pub fn new(seed: u64, name: &str, verifier: QuorumVerifier, params: Params) -> Self {
        let rng = SeededRng::new(seed ^ 0x2ab_5eed);
        let mut nodes = BTreeMap::new();
        for id in verifier.members() {
            nodes.insert(
                id,
                Node {
                    server: None,
                    store: Store::default(),
                    applied: Vec::new(),
                    up: BTreeSet::new(),
                    boot: 0,
                    checked: 0,
                },
            );
        }
        Self {
            seed,
            name: name.to_string(),
            verifier,
            params,
            now: 0,
            rng,
            plan: FaultPlan::new(seed),
            nodes,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            generation: BTreeMap::new(),
            last_due: BTreeMap::new(),
            committed: Vec::new(),
            proposed: BTreeMap::new(),
            established: BTreeMap::new(),
            writes: BTreeSet::new(),
            write_seq: 0,
            sync_seq: 0,
            sync_expect: BTreeMap::new(),
            syncs_done: 0,
            sync_modes: [0; 3],
            trace: VecDeque::new(),
            chaos: false,
            clients: false,
            hold_durable: BTreeSet::new(),
            drop_rules: Vec::new(),
            max_trace: 80,
            verbose: std::env::var("SIM_VERBOSE").is_ok(),
            record: false,
            action_log: Vec::new(),
        }
    }

    pub fn ids(&self) -> Vec<PeerId> {
        self.nodes.keys().copied().collect()
    }

    pub fn fail(&self, what: &str) -> ! {
        let trace: Vec<&str> = self.trace.iter().map(|s| s.as_str()).collect();
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|(id, n)| {
                format!(
                    "{id}: up {:?} {:?} store(acc {}, cur {}, snap {:#x}, log..{:#x}, pending {}) applied..{:#x}",
                    n.up,
                    n.server.as_ref().map(|s| s.status()),
                    n.store.accepted,
                    n.store.current,
                    n.store.snap_zxid,
                    n.store.last_durable(),
                    n.store.pending.len(),
                    n.applied.last().map_or(0, |t| t.zxid)
                )
            })
            .collect();
        panic!(
            "invariant violated: {what}\n  seed {} (replay with SIM_SEED={}), config {}\n  at {} ms\n  nodes:\n    {}\n  last events:\n    {}",
            self.seed,
            self.seed,
            self.name,
            self.now,
            nodes.join("\n    "),
            trace.join("\n    ")
        );
    }

    pub fn note(&mut self, s: String) {
        if self.trace.len() >= self.max_trace {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>6} {s}", self.now));
    }

    fn schedule(&mut self, delay: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + delay, self.seq)));
        self.events.insert(self.seq, ev);
    }

    pub fn alive(&self, id: PeerId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.server.is_some())
    }

    pub fn server(&self, id: PeerId) -> Option<&Server> {
        self.nodes.get(&id).and_then(|n| n.server.as_ref())
    }

    fn server_config(&self, id: PeerId) -> ServerConfig {
        let mut c = ServerConfig::new(id, self.verifier.clone());
        c.tick = Duration::from_millis(self.params.tick_ms);
        c.init_limit = self.params.init_limit;
        c.sync_limit = self.params.sync_limit;
        c.max_notification_interval = Duration::from_millis(3_000);
        c.committed_log_window = self.params.window;
        c.counter_limit = self.params.counter_limit;
        c
    }

    /// Start (or restart) a node from its durable state; its links come up a bit later.
    pub fn boot(&mut self, id: PeerId) {
        let cfg = self.server_config(id);
        let node = self.nodes.get_mut(&id).unwrap();
        let st = &node.store;
        let start = StartState {
            accepted_epoch: st.accepted,
            current_epoch: st.current,
            log_base: st.snap_zxid,
            log: st.log.clone(),
            last_applied: st.snap_zxid,
        };
        node.applied = st.snap.clone();
        node.checked = 0;
        node.boot += 1;
        node.up.clear();
        node.server = Some(Server::new(cfg, start, Millis(self.now)));
        self.note(format!("boot {id}"));
        self.drain(id);
        for o in self.alive_others(id) {
            self.reconnect(id, o);
        }
    }

    fn alive_others(&self, id: PeerId) -> Vec<PeerId> {
        self.ids()
            .into_iter()
            .filter(|&o| o != id && self.alive(o))
            .collect()
    }

    /// A new link incarnation between `a` and `b`, up after a short delay.
    fn reconnect(&mut self, a: PeerId, b: PeerId) {
        let g = self.generation.entry(pair(a, b)).or_insert(0);
        *g += 1;
        let generation = *g;
        let d = self.rng.range(1, 30);
        self.schedule(d, Ev::Up { a, b, generation });
    }

    /// Both ends see the link go down; it comes back after a delay.
    pub fn reset_link(&mut self, a: PeerId, b: PeerId) {
        *self.generation.entry(pair(a, b)).or_insert(0) += 1;
        for (x, y) in [(a, b), (b, a)] {
            let was_up = self.nodes.get_mut(&x).unwrap().up.remove(&y);
            if was_up {
                for channel in Channel::ALL {
                    self.input(x, Input::LinkDown { peer: y, channel });
                }
            }
        }
        if self.alive(a) && self.alive(b) {
            self.reconnect(a, b);
        }
    }

    pub fn crash(&mut self, id: PeerId) {
        if !self.alive(id) {
            return;
        }
        self.note(format!("crash {id}"));
        let node = self.nodes.get_mut(&id).unwrap();
        node.server = None;
        node.store.pending.clear();
        node.up.clear();
        for o in self.alive_others(id) {
            *self.generation.entry(pair(id, o)).or_insert(0) += 1;
            let was_up = self.nodes.get_mut(&o).unwrap().up.remove(&id);
            if was_up {
                for channel in Channel::ALL {
                    self.input(o, Input::LinkDown { peer: id, channel });
                }
            }
        }
    }

    pub fn input(&mut self, id: PeerId, input: Input) {
        let now = Millis(self.now);
        let Some(s) = self.nodes.get_mut(&id).and_then(|n| n.server.as_mut()) else {
            return;
        };
        s.handle(now, input);
        self.drain(id);
    }

    fn drain(&mut self, id: PeerId) {
        loop {
            let Some(a) = self
                .nodes
                .get_mut(&id)
                .and_then(|n| n.server.as_mut())
                .and_then(|s| s.poll_action())
            else {
                return;
            };
            self.act(id, a);
        }
    }

    fn act(&mut self, id: PeerId, a: Action) {
        if self.record {
            self.action_log.push((id, a.clone()));
        }
        match a {
            Action::Send { to, channel, frame } => {
                if channel == Channel::Quorum
                    && let Ok(Message::Ack { zxid }) = Message::decode(&frame)
                {
                    check_ack_durable(self, id, zxid);
                }
                self.route(id, to, channel, frame)
            }
            Action::Append { txns } => {
                let leading = self
                    .server(id)
                    .is_some_and(|s| s.status().state == ServerState::Leading);
                let up_to = txns.last().map_or(0, |t| t.zxid);
                for t in txns {
                    if leading {
                        if let Some(d) = self.proposed.get(&t.zxid)
                            && *d != t.data
                        {
                            self.fail(&format!("Leadership: two proposals for zxid {:#x}", t.zxid));
                        }
                        self.proposed.insert(t.zxid, t.data.clone());
                    }
                    let n = self.nodes.get_mut(&id).unwrap();
                    if t.zxid <= n.store.snap_zxid {
                        continue; // already in the snapshot (applied before it was logged)
                    }
                    let last = n
                        .store
                        .pending
                        .back()
                        .map_or(n.store.last_durable(), |t| t.zxid)
                        .max(n.store.snap_zxid);
                    if !follows(last, t.zxid) {
                        self.fail(&format!(
                            "{id} appended {:#x} after {last:#x}: a gap",
                            t.zxid
                        ));
                    }
                    self.nodes.get_mut(&id).unwrap().store.pending.push_back(t);
                }
                let boot = self.nodes[&id].boot;
                let d = self.rng.range(1, self.params.durable_max_ms + 1);
                self.schedule(
                    d,
                    Ev::Flush {
                        node: id,
                        boot,
                        up_to,
                    },
                );
            }
            Action::Truncate { after } => {
                self.note(format!("{id} truncate after {after:#x}"));
                let st = &mut self.nodes.get_mut(&id).unwrap().store;
                if after < st.snap_zxid {
                    self.fail(&format!("{id} truncated below its snapshot"));
                }
                st.log.retain(|t| t.zxid <= after);
                st.pending.retain(|t| t.zxid <= after);
                check_committed_durable(self, Some(after));
            }
            Action::InstallSnapshot { zxid, image } => {
                self.note(format!("{id} install snapshot {zxid:#x}"));
                let txns = decode_image(&image);
                if txns.last().map_or(0, |t| t.zxid) != zxid {
                    self.fail(&format!("{id}: image does not end at {zxid:#x}"));
                }
                let n = self.nodes.get_mut(&id).unwrap();
                n.store.snap_zxid = zxid;
                n.store.snap = txns.clone();
                n.store.log.clear();
                n.store.pending.clear();
                n.applied = txns;
                n.checked = 0;
                check_committed_durable(self, Some(0));
            }
            Action::PersistAcceptedEpoch(e) => {
                let st = &mut self.nodes.get_mut(&id).unwrap().store;
                if e < st.accepted {
                    let was = st.accepted;
                    self.fail(&format!("{id} lowered acceptedEpoch {was} to {e}"));
                }
                st.accepted = e;
            }
            Action::PersistCurrentEpoch(e) => {
                let st = &mut self.nodes.get_mut(&id).unwrap().store;
                if e < st.current || e > st.accepted {
                    let (c, acc) = (st.current, st.accepted);
                    self.fail(&format!(
                        "{id} set currentEpoch {e} (current {c}, accepted {acc})"
                    ));
                }
                st.current = e;
                // The NEWLEADER order, for leaders and learners alike: every txn of an
                // earlier epoch is durable before currentEpoch moves past it.
                if st.pending.iter().any(|t| t.zxid < make_zxid(e as u32, 0)) {
                    self.fail(&format!(
                        "{id} persisted currentEpoch {e} with earlier-epoch txns not durable"
                    ));
                }
            }
            Action::Deliver { txn } => {
                let n = self.nodes.get_mut(&id).unwrap();
                n.applied.push(txn);
            }
            Action::TakeSnapshot => {
                let n = &self.nodes[&id];
                let zxid = n.applied.last().map_or(0, |t| t.zxid);
                let image = encode_image(&n.applied);
                let boot = n.boot;
                let d = self.rng.range(0, 50);
                self.schedule(
                    d,
                    Ev::Snapshot {
                        node: id,
                        boot,
                        zxid,
                        image,
                    },
                );
            }
            Action::SyncDone { id: sid } => {
                let applied = self.nodes[&id].applied.last().map_or(0, |t| t.zxid);
                if let Some(&need) = self.sync_expect.get(&sid) {
                    if applied < need {
                        self.fail(&format!(
                            "sync {sid} at {id} done at {applied:#x}, leader had committed {need:#x}"
                        ));
                    }
                    self.syncs_done += 1;
                }
            }
            // The identity preparation: the request is the txn (the call contract: answered
            // at once, in order).
            Action::Prepare { zxid, request } => self.input(
                id,
                Input::Prepared {
                    zxid,
                    payload: request,
                },
            ),
            Action::LearnerNote { .. } => {}
            Action::StateChanged(s) => {
                self.note(format!(
                    "{id} {:?} {:?} leader {:?} acc {} cur {}",
                    s.state, s.phase, s.leader, s.accepted_epoch, s.current_epoch
                ));
            }
        }
    }

    fn route(&mut self, from: PeerId, to: PeerId, channel: Channel, frame: Bytes) {
        if !self.nodes[&from].up.contains(&to) {
            return;
        }
        let mut verdict = self.plan.decide(from, to, channel);
        if channel == Channel::Quorum {
            let msg = Message::decode(&frame).ok();
            if let Some(m) = &msg {
                let mut rules = std::mem::take(&mut self.drop_rules);
                let drop = rules.iter_mut().any(|r| r(from, to, m));
                self.drop_rules = rules;
                if drop {
                    verdict.copies = 0;
                }
            }
            if verdict.copies == 0 {
                self.note(format!(
                    "{from}->{to} {:?} lost: link reset",
                    msg.map(|m| m.kind())
                ));
                self.reset_link(from, to);
                return;
            }
            let idempotent = matches!(
                msg,
                Some(
                    Message::Proposal { .. }
                        | Message::Commit { .. }
                        | Message::Ack { .. }
                        | Message::Ping
                )
            );
            if !idempotent {
                verdict.copies = 1;
            }
        }
        let generation = self.generation.get(&pair(from, to)).copied().unwrap_or(0);
        let base = self.rng.range(1, 3) + verdict.delay.as_millis() as u64;
        let key = (from, to, channel);
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

    /// A client write to `id` (dropped by the server if it has no leader in session).
    pub fn write(&mut self, id: PeerId) -> Bytes {
        self.write_seq += 1;
        let payload = Bytes::from(format!("w{}", self.write_seq));
        self.writes.insert(payload.clone());
        self.input(
            id,
            Input::Write {
                payload: payload.clone(),
            },
        );
        payload
    }

    pub fn sync(&mut self, id: PeerId) -> u64 {
        self.sync_seq += 1;
        let sid = self.sync_seq;
        if self
            .server(id)
            .is_some_and(|s| s.status().state == ServerState::Leading)
        {
            let z = self.nodes[&id].applied.last().map_or(0, |t| t.zxid);
            self.sync_expect.insert(sid, z);
        }
        self.input(id, Input::Sync { id: sid });
        sid
    }

    /// Take a durable snapshot of `id`'s state machine (the log before it is dropped).
    pub fn snapshot(&mut self, id: PeerId) {
        let n = self.nodes.get_mut(&id).unwrap();
        if n.server.is_none() {
            return;
        }
        let zxid = n.applied.last().map_or(0, |t| t.zxid);
        if zxid < n.store.snap_zxid {
            return;
        }
        n.store.snap_zxid = zxid;
        n.store.snap = n.applied.clone();
        n.store.log.retain(|t| t.zxid > zxid);
        self.note(format!("{id} snapshot at {zxid:#x}"));
    }

    fn chaos(&mut self) {
        if !self.chaos {
            return;
        }
        let ids = self.ids();
        let pick = |sim: &mut Self| ids[sim.rng.below(ids.len() as u64) as usize];
        match self.rng.below(12) {
            0 | 1 => {
                let id = pick(self);
                if self.alive(id) {
                    self.crash(id);
                } else {
                    self.boot(id);
                }
            }
            2 => {
                for id in ids.clone() {
                    if !self.alive(id) {
                        self.boot(id);
                    }
                }
            }
            3 | 4 => {
                let (mut a, mut b) = (Vec::new(), Vec::new());
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
                if x != y {
                    self.note(format!("block {x} -> {y}"));
                    self.plan.block(x, y);
                }
            }
            6 | 7 => {
                self.note("heal".into());
                self.plan.heal();
            }
            8 | 9 => {
                let id = pick(self);
                self.snapshot(id);
            }
            _ => {
                let config = FaultConfig {
                    drop: [0.0, 0.002, 0.01, 0.05][self.rng.below(4) as usize],
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

    /// Start the chaos and client event streams.
    pub fn start_chaos(&mut self) {
        self.chaos = true;
        self.clients = true;
        let d = self.rng.range(50, 500);
        self.schedule(d, Ev::Chaos);
        self.schedule(10, Ev::Client);
    }

    pub fn stop_faults(&mut self) {
        self.note("faults stop: heal, lossless, everyone up".into());
        self.chaos = false;
        self.plan.heal();
        self.plan.set_config(FaultConfig {
            delay_max: Duration::from_millis(5),
            ..FaultConfig::default()
        });
        for id in self.ids() {
            if !self.alive(id) {
                self.boot(id);
            }
        }
    }

    fn client(&mut self) {
        if !self.clients {
            return;
        }
        let ids = self.ids();
        let id = ids[self.rng.below(ids.len() as u64) as usize];
        if self.rng.chance(0.1) {
            self.sync(id);
        } else {
            self.write(id);
        }
        let next = self.rng.range(5, 80);
        self.schedule(next, Ev::Client);
    }

    fn handle_event(&mut self, ev: Ev) {
        match ev {
            Ev::Chaos => self.chaos(),
            Ev::Client => self.client(),
            Ev::Up { a, b, generation } => {
                let current = self.generation.get(&pair(a, b)).copied().unwrap_or(0);
                if generation != current || !self.alive(a) || !self.alive(b) {
                    return;
                }
                if self.plan.is_blocked(a, b) || self.plan.is_blocked(b, a) {
                    // Cannot connect through a partition: try again later.
                    let d = self.rng.range(50, 300);
                    self.schedule(d, Ev::Up { a, b, generation });
                    return;
                }
                for (x, y) in [(a, b), (b, a)] {
                    self.nodes.get_mut(&x).unwrap().up.insert(y);
                    for channel in Channel::ALL {
                        self.input(x, Input::LinkUp { peer: y, channel });
                    }
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
                if channel == Channel::Quorum
                    && let Ok(Message::Sync { id }) = Message::decode(&frame)
                    && self
                        .server(to)
                        .is_some_and(|s| s.status().state == ServerState::Leading)
                {
                    let z = self.nodes[&to].applied.last().map_or(0, |t| t.zxid);
                    self.sync_expect.insert(id, z);
                }
                if channel == Channel::Quorum {
                    match Message::decode(&frame) {
                        Ok(Message::Diff { .. }) => self.sync_modes[0] += 1,
                        Ok(Message::Trunc { .. }) => self.sync_modes[1] += 1,
                        Ok(Message::Snap { .. }) => self.sync_modes[2] += 1,
                        _ => {}
                    }
                }
                if channel == Channel::Quorum && self.verbose {
                    let m = Message::decode(&frame);
                    self.note(format!("{from}->{to} {m:?}"));
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
            Ev::Flush { node, boot, up_to } => {
                if self.nodes[&node].boot != boot || !self.alive(node) {
                    return;
                }
                if self.hold_durable.contains(&node) {
                    self.schedule(10, Ev::Flush { node, boot, up_to });
                    return;
                }
                let st = &mut self.nodes.get_mut(&node).unwrap().store;
                while st.pending.front().is_some_and(|t| t.zxid <= up_to) {
                    let t = st.pending.pop_front().unwrap();
                    if t.zxid > st.snap_zxid {
                        st.log.push(t);
                    }
                }
                self.input(node, Input::Durable { up_to });
            }
            Ev::Snapshot {
                node,
                boot,
                zxid,
                image,
            } => {
                if self.nodes[&node].boot == boot {
                    self.input(node, Input::SnapshotTaken { zxid, image });
                }
            }
        }
    }

    fn next_timer(&self) -> Option<(u64, PeerId)> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| {
                n.server
                    .as_ref()
                    .and_then(|s| s.poll_timeout())
                    .map(|t| (t.0.max(self.now), *id))
            })
            .min()
    }

    /// The time of the next step, if any.
    pub fn next_at(&self) -> Option<u64> {
        let ev = self.queue.peek().map(|Reverse((t, _))| *t);
        let timer = self.next_timer().map(|t| t.0);
        match (ev, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One event or timer, then every invariant.
    pub fn step(&mut self) -> bool {
        let ev_time = self.queue.peek().map(|Reverse((t, _))| *t);
        let timer = self.next_timer();
        let take_timer = match (ev_time, timer) {
            (Some(e), Some((t, _))) => t < e,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if take_timer {
            let (t, id) = timer.unwrap();
            self.now = t;
            self.input(id, Input::Timeout);
        } else if let Some(Reverse((t, seq))) = self.queue.pop() {
            self.now = t;
            if let Some(ev) = self.events.remove(&seq) {
                self.handle_event(ev);
            }
        } else {
            return false;
        }
        check_all(self);
        true
    }

    /// Step until `until` ms or until `done` holds; true if `done` held.
    pub fn run_until(&mut self, until: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        let mut steps = 0u64;
        loop {
            if done(self) {
                return true;
            }
            match self.next_at() {
                Some(t) if t <= until => {}
                _ => {
                    self.now = self.now.max(until);
                    return done(self);
                }
            }
            steps += 1;
            if steps > 2_000_000 {
                self.fail("more than 2M steps: an event storm");
            }
            self.step();
        }
    }

    /// Bring every link between live nodes up now-ish (scripted tests).
    pub fn boot_all(&mut self) {
        for id in self.ids() {
            if !self.alive(id) {
                self.boot(id);
            }
        }
    }

    pub fn leader(&self) -> Option<PeerId> {
        self.nodes.iter().find_map(|(id, n)| {
            n.server.as_ref().and_then(|s| {
                let st = s.status();
                (st.state == ServerState::Leading && st.phase == Phase::Broadcast).then_some(*id)
            })
        })
    }

    /// Every node is up and in broadcast with one leader.
    pub fn converged(&self) -> bool {
        let Some(leader) = self.leader() else {
            return false;
        };
        self.nodes.values().all(|n| {
            n.server.as_ref().is_some_and(|s| {
                let st = s.status();
                st.phase == Phase::Broadcast && st.leader == Some(leader)
            })
        })
    }

    pub fn applied_payloads(&self, id: PeerId) -> Vec<Bytes> {
        self.nodes[&id]
            .applied
            .iter()
            .map(|t| t.data.clone())
            .collect()
    }

    pub fn has_applied(&self, id: PeerId, payload: &Bytes) -> bool {
        self.nodes[&id].applied.iter().any(|t| t.data == *payload)
    }
}

// ---------------------------------------------------------------------------------------
// Invariants. Each is one function; `check_all` runs them after every step.
// ---------------------------------------------------------------------------------------

pub fn check_all(sim: &mut Sim) {
    check_leadership(sim);
    check_prefix_agreement(sim);
    check_integrity(sim);
    check_local_primary_order(sim);
    check_global_primary_order(sim);
    check_primary_integrity(sim);
    for id in sim.ids() {
        sim.nodes.get_mut(&id).unwrap().checked = sim.nodes[&id].applied.len();
    }
}

/// Leadership: at most one leader is established per epoch.
pub fn check_leadership(sim: &mut Sim) {
    let leaders: Vec<(PeerId, u64)> = sim
        .nodes
        .iter()
        .filter_map(|(id, n)| {
            let st = n.server.as_ref()?.status();
            (st.state == ServerState::Leading && st.phase == Phase::Broadcast)
                .then_some((*id, st.current_epoch))
        })
        .collect();
    for (id, epoch) in leaders {
        match sim.established.get(&epoch) {
            Some(&other) if other != id => sim.fail(&format!(
                "Leadership: {other} and {id} both established in epoch {epoch}"
            )),
            Some(_) => {}
            None => {
                sim.note(format!("{id} ESTABLISHED in epoch {epoch}"));
                sim.established.insert(epoch, id);
            }
        }
    }
}

/// PrefixConsistency / Agreement / TotalOrder, and "no committed txn ever lost or changed":
/// every node's applied sequence is a prefix of the one global committed sequence, across
/// crashes, restarts and snapshot installs. A txn first delivered anywhere joins the global
/// sequence and must then be durable on a quorum of voters.
pub fn check_prefix_agreement(sim: &mut Sim) {
    for id in sim.ids() {
        let n = &sim.nodes[&id];
        let from = n.checked.min(n.applied.len());
        let new: Vec<(usize, Txn)> = n.applied[from..]
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, t)| (from + i, t))
            .collect();
        for (i, t) in new {
            if i < sim.committed.len() {
                if sim.committed[i] != t {
                    let g = sim.committed[i].clone();
                    sim.fail(&format!(
                        "Agreement: {id} applied {:#x}={:?} at position {i}, committed there is {:#x}={:?}",
                        t.zxid, t.data, g.zxid, g.data
                    ));
                }
            } else if i == sim.committed.len() {
                sim.committed.push(t.clone());
                check_committed_durable_one(sim, &t);
            } else {
                sim.fail(&format!("{id} applied past the committed sequence"));
            }
        }
    }
}

/// A newly committed txn must be durable on a quorum of voters.
fn check_committed_durable_one(sim: &Sim, t: &Txn) {
    let holders: BTreeSet<PeerId> = sim
        .nodes
        .iter()
        .filter(|(id, n)| sim.verifier.is_voter(**id) && n.store.holds(t))
        .map(|(id, _)| *id)
        .collect();
    if !sim.verifier.contains_quorum(&holders) {
        sim.fail(&format!(
            "Durability: txn {:#x} committed while durable only on {holders:?}",
            t.zxid
        ));
    }
}

/// After a truncation or snapshot install: every committed txn above `after` is still
/// durable on a quorum of voters.
pub fn check_committed_durable(sim: &Sim, after: Option<Zxid>) {
    let after = after.unwrap_or(0);
    let start = sim.committed.partition_point(|t| t.zxid <= after);
    for t in &sim.committed[start..] {
        check_committed_durable_one(sim, t);
    }
}

/// An ACK is sent only for what is durable: ACK `(e, 0)` (NEWLEADER) once every txn of the
/// earlier epochs the node holds is durable and `currentEpoch` is `e`; ACK `z` once `z` is.
pub fn check_ack_durable(sim: &Sim, id: PeerId, zxid: Zxid) {
    if std::env::var("SIM_NO_ACK_CHECK").is_ok() {
        return; // to show the end-to-end invariants catch an early ACK on their own
    }
    let st = &sim.nodes[&id].store;
    if zk_zab::txn::counter_of(zxid) == 0 {
        let e = u64::from(epoch_of(zxid));
        if st.current != e || st.pending.iter().any(|t| t.zxid < zxid) {
            sim.fail(&format!(
                "{id} acked NEWLEADER {e} before its synced txns and currentEpoch were durable"
            ));
        }
    } else if st.pending.iter().any(|t| t.zxid <= zxid)
        || st.last_durable().max(st.snap_zxid) < zxid
    {
        sim.fail(&format!("{id} acked {zxid:#x} before it was durable"));
    }
}

/// Integrity: only txns a leader proposed (for client writes) are delivered.
pub fn check_integrity(sim: &mut Sim) {
    for id in sim.ids() {
        let n = &sim.nodes[&id];
        for t in &n.applied[n.checked.min(n.applied.len())..] {
            if sim.proposed.get(&t.zxid) != Some(&t.data) || !sim.writes.contains(&t.data) {
                sim.fail(&format!(
                    "Integrity: {id} delivered {:#x}={:?}, never proposed so",
                    t.zxid, t.data
                ));
            }
        }
    }
}

/// LocalPrimaryOrder: each node applies in strictly increasing zxid order, each write once.
pub fn check_local_primary_order(sim: &mut Sim) {
    for id in sim.ids() {
        let n = &sim.nodes[&id];
        let from = n.checked.min(n.applied.len()).saturating_sub(1);
        for w in n.applied[from..].windows(2) {
            if w[1].zxid <= w[0].zxid {
                sim.fail(&format!(
                    "LocalPrimaryOrder: {id} applied {:#x} after {:#x}",
                    w[1].zxid, w[0].zxid
                ));
            }
        }
    }
}

/// GlobalPrimaryOrder: the committed sequence is in zxid order (so txns of an earlier
/// epoch always come before those of a later one), and no write is committed twice.
pub fn check_global_primary_order(sim: &mut Sim) {
    let n = sim.committed.len();
    if n >= 2 && sim.committed[n - 1].zxid <= sim.committed[n - 2].zxid {
        sim.fail("GlobalPrimaryOrder: committed sequence out of zxid order");
    }
}

/// PrimaryIntegrity: an established leader of epoch e has applied every committed txn of
/// the earlier epochs.
pub fn check_primary_integrity(sim: &mut Sim) {
    for (id, n) in &sim.nodes {
        let Some(st) = n.server.as_ref().map(|s| s.status()) else {
            continue;
        };
        if st.state != ServerState::Leading || st.phase != Phase::Broadcast {
            continue;
        }
        let e = st.current_epoch as u32;
        let older = sim.committed.partition_point(|t| epoch_of(t.zxid) < e);
        if n.applied.len() < older {
            sim.fail(&format!(
                "PrimaryIntegrity: {id} leads epoch {e} having applied {} of {older} earlier-epoch txns",
                n.applied.len()
            ));
        }
    }
}

pub fn zx(e: u32, c: u32) -> Zxid {
    make_zxid(e, c)
}
