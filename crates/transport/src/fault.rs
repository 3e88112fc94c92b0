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

mod faulty;

pub use faulty::Faulty;

use crate::rng::SeededRng;
use crate::{Channel, PeerId};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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
