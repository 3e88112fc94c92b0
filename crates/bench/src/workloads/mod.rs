//! Running a workload: the root node's setup and cleanup ([`admin`]), the pipelined
//! request workloads ([`pipelined`]: write, create-delete, read, mixed, populate) and the
//! watch-storm ([`storm`]).

pub(crate) mod admin;
pub(crate) mod pipelined;
pub(crate) mod storm;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::cli::{BenchConfig, Workload};
use crate::error::BenchError;
use crate::progress;
use crate::report::{ConnStats, PopulateStats, Report};
use crate::stats::{Clock, Live, Recorder};

/// Asks a running benchmark to stop early (Ctrl-C): no new requests are sent, what is in
/// flight is awaited, the root is cleaned up and the results so far are reported.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets it.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether it is set.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Connection messages printed before the rest are only counted.
const MAX_NOTES: u64 = 40;

/// What every task of a run shares.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The settings.
    pub(crate) config: BenchConfig,
    /// The measurement window.
    pub(crate) clock: Clock,
    /// Counters for the progress line.
    pub(crate) live: Live,
    /// Histograms and error counts.
    pub(crate) rec: Mutex<Recorder>,
    /// Early stop.
    pub(crate) stop: Stop,
    /// The data written.
    pub(crate) value: Bytes,
    /// The next node number `populate` hands out.
    pub(crate) next_node: AtomicU64,
    notes: AtomicU64,
}

impl Ctx {
    /// Prints a message about a connection on stderr (the first few; later ones are
    /// counted and summarised at the end).
    pub(crate) fn note(&self, msg: String) {
        let n = self.notes.fetch_add(1, Ordering::Relaxed);
        if n < MAX_NOTES {
            eprintln!("zk-bench: {msg}");
        } else if n == MAX_NOTES {
            eprintln!("zk-bench: further connection messages are not shown");
        }
    }

    /// A path under the run's root.
    pub(crate) fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.config.root)
    }
}

/// The data of every written node: `value_size` bytes of a repeating pattern.
fn value(size: usize) -> Bytes {
    (0..size)
        .map(|i| b"zk-bench-value-0123456789abcdef"[i % 31])
        .collect::<Vec<u8>>()
        .into()
}

/// Runs the benchmark `config` describes: creates its root and the nodes the workload
/// needs, runs the sessions (warm-up, then the measured window), removes the root (unless
/// `keep`), and returns the results.
pub async fn run(config: &BenchConfig, stop: Stop) -> Result<Report, BenchError> {
    let value = value(config.value_size);
    if let Err(e) = admin::setup(config, &value).await {
        // A failure after the root was created leaves it behind: remove it (best effort).
        if !matches!(e, BenchError::Config(_)) && !config.keep {
            let _ = admin::cleanup(config).await;
        }
        return Err(e);
    }
    let populate = config.workload == Workload::Populate;
    let clock = if populate {
        // No warm-up and no time limit: the run ends when every node is created.
        Clock::new(Duration::ZERO, Duration::from_secs(100 * 365 * 86_400))
    } else {
        Clock::new(config.warmup, config.duration)
    };
    let ctx = Arc::new(Ctx {
        config: config.clone(),
        clock,
        live: Live::default(),
        rec: Mutex::new(Recorder::default()),
        stop,
        value,
        next_node: AtomicU64::new(0),
        notes: AtomicU64::new(0),
    });
    let progress = config.progress.then(|| progress::spawn(Arc::clone(&ctx)));
    let outcome = match config.workload {
        Workload::WatchStorm => Outcome::Storm(storm::run(Arc::clone(&ctx)).await),
        _ => Outcome::Pipelined(pipelined::run(Arc::clone(&ctx)).await),
    };
    if let Some(p) = progress {
        p.abort();
        let _ = p.await;
    }
    let ended = Instant::now();
    let notes = ctx.notes.load(Ordering::Relaxed);
    if notes > MAX_NOTES {
        eprintln!("zk-bench: {notes} connection messages in all");
    }
    if config.keep {
        eprintln!("zk-bench: keeping {} (--keep)", config.root);
    } else if let Err(e) = admin::cleanup(config).await {
        eprintln!("zk-bench: warning: removing {}: {e}", config.root);
    }
    let conn = ConnStats {
        disconnects: Live::get(&ctx.live.disconnects),
        expired: Live::get(&ctx.live.expired),
        connect_failures: Live::get(&ctx.live.connect_failures),
    };
    let rec = ctx
        .rec
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let report = match outcome {
        Outcome::Pipelined(p) if populate => {
            let elapsed = p
                .last_reply
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(clock.start));
            let mut r = Report::new(config, elapsed, &rec, conn);
            r.populate = Some(PopulateStats {
                requested: config.znodes,
                created: p.ok,
                elapsed,
                kept: config.keep,
            });
            r
        }
        Outcome::Pipelined(_) => {
            let window = ended.min(clock.until).saturating_duration_since(clock.from);
            Report::new(config, window, &rec, conn)
        }
        Outcome::Storm(s) => {
            let window = ended.min(clock.until).saturating_duration_since(clock.from);
            let mut r = Report::new(config, window, &rec, conn);
            r.storm = Some(s);
            r
        }
    };
    Ok(report)
}

/// What a workload hands back besides the shared recorder.
enum Outcome {
    Pipelined(pipelined::Totals),
    Storm(crate::report::StormStats),
}
