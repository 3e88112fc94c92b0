//! The live progress line on stderr, once a second: the phase, operations per second over
//! the last second, and the error and disconnect counts so far.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::cli::Workload;
use crate::stats::Live;
use crate::workloads::Ctx;

/// Starts printing; abort the handle to stop.
pub(crate) fn spawn(ctx: Arc<Ctx>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(
            Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_ops = 0u64;
        let mut last_at = Instant::now();
        loop {
            tick.tick().await;
            let now = Instant::now();
            // The phase of the second just ended, judged at its middle.
            let mid = last_at + now.duration_since(last_at) / 2;
            let ops = Live::get(&ctx.live.ops);
            let per_sec =
                ops.saturating_sub(last_ops) as f64 / now.duration_since(last_at).as_secs_f64();
            last_ops = ops;
            let c = &ctx.clock;
            let phase = if ctx.config.workload == Workload::Populate {
                format!("populate {ops}/{}", ctx.config.znodes)
            } else if mid < c.from {
                "warmup".to_string()
            } else if mid < c.until {
                "measure".to_string()
            } else {
                "drain".to_string()
            };
            let what = if ctx.config.workload == Workload::WatchStorm {
                "notifications/s"
            } else {
                "ops/s"
            };
            eprintln!(
                "[{:>6.1}s] {phase:<9} {per_sec:>10.0} {what}  errors {}  disconnects {}",
                now.duration_since(c.start).as_secs_f64(),
                Live::get(&ctx.live.errors),
                Live::get(&ctx.live.disconnects),
            );
            last_at = now;
        }
    })
}
