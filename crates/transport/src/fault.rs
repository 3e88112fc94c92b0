//! A fault layer for any backend: seeded loss, delay, duplication, reordering across links,
//! and symmetric or one-way partitions.
//!
//! [`FaultPlan`] is the sans-IO part: given a frame's sender, receiver and channel it returns
//! a [`Verdict`], drawing from a [`SeededRng`] so a schedule replays from its seed. Both the
//! async wrapper [`Faulty`] and deterministic simulations (which deliver frames themselves)
//! use it.
//!
//! Delays keep each link FIFO (a frame never overtakes an earlier one on the same link), but
//! frames on different links are delayed independently, so they reorder across links. A
//! partition drops frames; the links stay up, as they do when a real network silently eats
//! packets, so protocols must notice through their own timeouts.

use crate::rng::SeededRng;
use crate::{Channel, DownReason, LinkId, PeerId, SendError, Transport};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Fault probabilities and delays. All zero means "deliver everything at once".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability that a frame is lost.
    pub drop: f64,
    /// Probability that a delivered frame is delivered twice.
    pub duplicate: f64,
    /// Smallest extra delay per frame.
    pub delay_min: Duration,
    /// Largest extra delay per frame (uniform between min and max).
    pub delay_max: Duration,
}

/// What happens to one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// How many copies arrive: 0 (lost), 1, or 2 (duplicated).
    pub copies: u8,
    /// How long the frame travels beyond the backend's own latency.
    pub delay: Duration,
}

#[derive(Debug)]
struct PlanState {
    rng: SeededRng,
    config: FaultConfig,
    /// (from, to) pairs whose frames are dropped.
    blocked: HashSet<(PeerId, PeerId)>,
}

/// The shared, seeded fault schedule of one test network.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    state: Arc<Mutex<PlanState>>,
}

impl FaultPlan {
    /// A plan with no faults yet, whose random choices follow `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: Arc::new(Mutex::new(PlanState {
                rng: SeededRng::new(seed),
                config: FaultConfig::default(),
                blocked: HashSet::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PlanState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replace the probabilities and delays.
    pub fn set_config(&self, config: FaultConfig) {
        self.lock().config = config;
    }

    /// The current probabilities and delays.
    pub fn config(&self) -> FaultConfig {
        self.lock().config.clone()
    }

    /// Drop every frame from `from` to `to` (a one-way partition).
    pub fn block(&self, from: PeerId, to: PeerId) {
        self.lock().blocked.insert((from, to));
    }

    /// Cut every path between the two sides, both ways (a symmetric partition).
    pub fn partition(&self, side_a: &[PeerId], side_b: &[PeerId]) {
        let mut s = self.lock();
        for &a in side_a {
            for &b in side_b {
                s.blocked.insert((a, b));
                s.blocked.insert((b, a));
            }
        }
    }

    /// Cut `node` off from every node in `others`, both ways.
    pub fn isolate(&self, node: PeerId, others: &[PeerId]) {
        self.partition(&[node], others);
    }

    /// Remove every partition (probabilities stay).
    pub fn heal(&self) {
        self.lock().blocked.clear();
    }

    /// Whether frames from `from` to `to` are being dropped by a partition.
    pub fn is_blocked(&self, from: PeerId, to: PeerId) -> bool {
        self.lock().blocked.contains(&(from, to))
    }

    /// Decide the fate of one frame.
    pub fn decide(&self, from: PeerId, to: PeerId, _channel: Channel) -> Verdict {
        let mut s = self.lock();
        if s.blocked.contains(&(from, to)) {
            return Verdict {
                copies: 0,
                delay: Duration::ZERO,
            };
        }
        let PlanState { rng, config, .. } = &mut *s;
        if rng.chance(config.drop) {
            return Verdict {
                copies: 0,
                delay: Duration::ZERO,
            };
        }
        let copies = if rng.chance(config.duplicate) { 2 } else { 1 };
        let lo = config.delay_min.as_micros() as u64;
        let hi = config.delay_max.as_micros() as u64;
        let delay = Duration::from_micros(rng.range(lo, hi.max(lo)));
        Verdict { copies, delay }
    }

    /// A uniformly random number in `0..n` from the plan's generator, for simulations that
    /// want every random choice to come from one seed.
    pub fn below(&self, n: u64) -> u64 {
        self.lock().rng.below(n)
    }
}

/// How many frames may wait in one link's delay line before further ones are lost.
const DELAY_LINE_FRAMES: usize = 4096;

#[derive(Debug, Default)]
struct DelayLines {
    lines: HashMap<LinkId, mpsc::Sender<(Instant, Bytes)>>,
    /// The delivery time of the last frame queued per link, to keep links FIFO.
    last_due: HashMap<LinkId, Instant>,
}

/// Any [`Transport`] with a [`FaultPlan`] applied to everything it sends.
///
/// Wrap every node of a test network with the same plan; receiving halves need no wrapper.
#[derive(Clone, Debug)]
pub struct Faulty<T> {
    inner: T,
    plan: FaultPlan,
    lines: Arc<Mutex<DelayLines>>,
}

impl<T: Transport> Faulty<T> {
    /// Wrap `inner`; its sends follow `plan`.
    pub fn new(inner: T, plan: FaultPlan) -> Self {
        Self {
            inner,
            plan,
            lines: Arc::new(Mutex::new(DelayLines::default())),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn lines(&self) -> MutexGuard<'_, DelayLines> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send_copies(&self, link: LinkId, frame: Bytes, copies: u8) -> Result<(), SendError> {
        for _ in 1..copies {
            // A duplicate that does not fit is simply not duplicated.
            let _ = self.inner.try_send(link, frame.clone());
        }
        self.inner.try_send(link, frame)
    }

    fn delayed(&self, link: LinkId, frame: Bytes, copies: u8, delay: Duration) {
        let mut lines = self.lines();
        let now = Instant::now();
        let due = lines
            .last_due
            .get(&link)
            .map_or(now + delay, |&last| (now + delay).max(last));
        lines.last_due.insert(link, due);
        let tx = lines.lines.entry(link).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(DELAY_LINE_FRAMES);
            tokio::spawn(run_delay_line(self.inner.clone(), link, rx));
            tx
        });
        for _ in 0..copies {
            if tx.try_send((due, frame.clone())).is_err() {
                tracing::trace!(%link, "delay line full, frame lost");
            }
        }
    }
}

async fn run_delay_line<T: Transport>(
    inner: T,
    link: LinkId,
    mut rx: mpsc::Receiver<(Instant, Bytes)>,
) {
    while let Some((due, frame)) = rx.recv().await {
        tokio::time::sleep_until(due).await;
        if let Err(SendError::NotUp(_) | SendError::Shutdown) = inner.try_send(link, frame) {
            // The incarnation ended; later frames of it can only be lost too.
            break;
        }
    }
}

impl<T: Transport> Transport for Faulty<T> {
    fn local_id(&self) -> PeerId {
        self.inner.local_id()
    }

    fn connect(&self, peer: PeerId, channel: Channel) {
        self.inner.connect(peer, channel);
    }

    fn try_send(&self, link: LinkId, frame: Bytes) -> Result<(), SendError> {
        let verdict = self
            .plan
            .decide(self.inner.local_id(), link.peer, link.channel);
        if verdict.copies == 0 {
            // Lost on the way: the sender cannot tell.
            return Ok(());
        }
        let backlog = self
            .lines()
            .last_due
            .get(&link)
            .is_some_and(|&d| d > Instant::now());
        if verdict.delay.is_zero() && !backlog {
            return self.send_copies(link, frame, verdict.copies);
        }
        self.delayed(link, frame, verdict.copies, verdict.delay);
        Ok(())
    }

    fn ready(&self, link: LinkId) -> impl Future<Output = Result<(), SendError>> + Send {
        self.inner.ready(link)
    }

    fn close(&self, link: LinkId, reason: DownReason) {
        self.inner.close(link, reason);
    }

    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        self.inner.shutdown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_block_exactly_the_named_directions() {
        let plan = FaultPlan::new(1);
        plan.block(PeerId(1), PeerId(2));
        assert_eq!(plan.decide(PeerId(1), PeerId(2), Channel::Quorum).copies, 0);
        assert_eq!(plan.decide(PeerId(2), PeerId(1), Channel::Quorum).copies, 1);
        plan.partition(&[PeerId(3)], &[PeerId(1), PeerId(2)]);
        assert!(plan.is_blocked(PeerId(2), PeerId(3)));
        assert!(plan.is_blocked(PeerId(3), PeerId(1)));
        plan.heal();
        assert_eq!(plan.decide(PeerId(1), PeerId(2), Channel::Quorum).copies, 1);
    }

    #[test]
    fn verdicts_replay_from_the_seed() {
        let config = FaultConfig {
            drop: 0.3,
            duplicate: 0.2,
            delay_min: Duration::from_millis(1),
            delay_max: Duration::from_millis(50),
        };
        let run = |seed| {
            let plan = FaultPlan::new(seed);
            plan.set_config(config.clone());
            (0..100)
                .map(|_| plan.decide(PeerId(1), PeerId(2), Channel::Election))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
        let v = run(9);
        assert!(v.iter().any(|v| v.copies == 0) && v.iter().any(|v| v.copies == 2));
        assert!(v.iter().all(|v| v.delay <= Duration::from_millis(50)));
    }
}
