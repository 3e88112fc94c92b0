//! Counting while a run goes on: live counters for the progress line ([`Live`]), the
//! measurement window ([`Clock`]), latency histograms and error counts ([`Recorder`]), and
//! the per-session buffer that feeds them with one lock per few hundred replies ([`Batch`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;
use zk_jute::{ErrorCode, OpCode};

/// The largest latency a histogram holds, in microseconds (10 minutes); larger values are
/// recorded as this.
pub const HIGHEST_US: u64 = 600_000_000;
/// Significant decimal digits kept by the histograms.
pub const SIGFIGS: u8 = 3;

/// A latency histogram in microseconds, 1 µs to [`HIGHEST_US`], [`SIGFIGS`] digits.
// The bounds are constants that hdrhistogram accepts: this cannot fail.
#[allow(clippy::expect_used)]
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGFIGS).expect("valid histogram bounds")
}

/// A duration in whole microseconds (at least 1, so it fits the histogram).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// The name of an opcode in results (ZooKeeper's spelling).
pub fn op_name(op: OpCode) -> &'static str {
    match op {
        OpCode::Create => "create",
        OpCode::Create2 => "create2",
        OpCode::Delete => "delete",
        OpCode::GetData => "getData",
        OpCode::SetData => "setData",
        OpCode::Exists => "exists",
        OpCode::GetChildren => "getChildren",
        OpCode::CloseSession => "closeSession",
        _ => "other",
    }
}

/// The name of an error code in results: `NoNode(-101)`, or `error(-999)` for a code
/// ZooKeeper does not define.
pub fn error_name(code: i32) -> String {
    match ErrorCode::try_from(code) {
        Ok(c) => format!("{c:?}({code})"),
        Err(_) => format!("error({code})"),
    }
}

/// Counters every session bumps, read by the progress line.
#[derive(Debug, Default)]
pub struct Live {
    /// Successful operations (notifications in the watch-storm), warm-up included.
    pub ops: AtomicU64,
    /// Failed operations (server error codes, and requests lost with a connection).
    pub errors: AtomicU64,
    /// Connections lost.
    pub disconnects: AtomicU64,
    /// Sessions found expired on reconnect (a new session was opened instead).
    pub expired: AtomicU64,
    /// Connection attempts that failed (refused, closed or reset during the handshake).
    pub connect_failures: AtomicU64,
}

impl Live {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The measurement window: requests sent at or after `from` and answered by `until` count.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// When the run started (the warm-up with it).
    pub start: Instant,
    /// When measuring starts (after the warm-up).
    pub from: Instant,
    /// When measuring stops, and no new request is sent.
    pub until: Instant,
}

impl Clock {
    /// A window starting after `warmup` and lasting `duration`, from now.
    pub fn new(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now();
        let from = start + warmup;
        Self {
            start,
            from,
            until: from + duration,
        }
    }

    /// Whether an operation sent at `sent` and done at `at` is measured.
    pub fn in_window(&self, sent: Instant, at: Instant) -> bool {
        sent >= self.from && at <= self.until
    }

    /// The measured time.
    pub fn window(&self) -> Duration {
        self.until.saturating_duration_since(self.from)
    }
}

/// Latency histograms by name and error counts by code.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    hist: BTreeMap<&'static str, Histogram<u64>>,
    errors: BTreeMap<i32, u64>,
}

impl Recorder {
    /// Records one latency (µs) under `name`.
    pub fn record(&mut self, name: &'static str, us: u64) {
        self.hist
            .entry(name)
            .or_insert_with(new_histogram)
            .saturating_record(us);
    }

    /// Counts one error with `code`.
    pub fn error(&mut self, code: i32) {
        *self.errors.entry(code).or_default() += 1;
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &Self) {
        for (name, h) in &other.hist {
            let mine = self.hist.entry(name).or_insert_with(new_histogram);
            for v in h.iter_recorded() {
                mine.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        for (code, n) in &other.errors {
            *self.errors.entry(*code).or_default() += n;
        }
    }

    /// The histograms, by name.
    pub fn histograms(&self) -> &BTreeMap<&'static str, Histogram<u64>> {
        &self.hist
    }

    /// The error counts, by code.
    pub fn errors(&self) -> &BTreeMap<i32, u64> {
        &self.errors
    }
}

/// Samples a session collected and has not yet handed to the shared [`Recorder`].
#[derive(Debug, Default)]
pub struct Batch {
    samples: Vec<(&'static str, u64)>,
    errors: Vec<i32>,
    ok: u64,
    /// Errors not yet added to [`Live::errors`].
    new_errors: u64,
}

/// Samples kept before a [`Batch`] flushes by itself.
const BATCH: usize = 512;

impl Batch {
    /// Counts a success (for the progress line); `sample` is its latency if measured.
    pub fn ok(&mut self, sample: Option<(&'static str, u64)>) {
        self.ok += 1;
        if let Some(s) = sample {
            self.samples.push(s);
        }
    }

    /// Records a latency without counting an operation for the progress line.
    pub fn sample(&mut self, name: &'static str, us: u64) {
        self.samples.push((name, us));
    }

    /// Counts a failure with `code`.
    pub fn error(&mut self, code: i32) {
        self.errors.push(code);
        self.new_errors += 1;
    }

    /// Adds the successes and failures counted since the last call to the live counters
    /// (cheap: call it after every batch of replies), and flushes everything to `rec` if
    /// the batch is full.
    pub fn publish(&mut self, rec: &Mutex<Recorder>, live: &Live) {
        Live::add(&live.ops, self.ok);
        Live::add(&live.errors, self.new_errors);
        self.ok = 0;
        self.new_errors = 0;
        if self.is_full() {
            self.flush(rec, live);
        }
    }

    /// Whether the batch is full enough to flush.
    pub fn is_full(&self) -> bool {
        self.samples.len() + self.errors.len() >= BATCH
    }

    /// Hands everything to `rec` and the live counters.
    pub fn flush(&mut self, rec: &Mutex<Recorder>, live: &Live) {
        Live::add(&live.ops, self.ok);
        Live::add(&live.errors, self.new_errors);
        self.ok = 0;
        self.new_errors = 0;
        if self.samples.is_empty() && self.errors.is_empty() {
            return;
        }
        let mut r = rec
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, us) in self.samples.drain(..) {
            r.record(name, us);
        }
        for code in self.errors.drain(..) {
            r.error(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_flushes_into_recorder_and_live() {
        let rec = Mutex::new(Recorder::default());
        let live = Live::default();
        let mut b = Batch::default();
        b.ok(Some(("getData", 10)));
        b.ok(None);
        b.error(-101);
        b.publish(&rec, &live);
        assert_eq!(Live::get(&live.ops), 2);
        assert_eq!(Live::get(&live.errors), 1);
        assert!(rec.lock().unwrap().errors().is_empty(), "not full yet");
        b.flush(&rec, &live);
        assert_eq!(Live::get(&live.ops), 2);
        assert_eq!(Live::get(&live.errors), 1);
        let r = rec.lock().unwrap();
        assert_eq!(r.histograms()["getData"].len(), 1);
        assert_eq!(r.errors()[&-101], 1);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        a.record("x", 5);
        b.record("x", 7);
        b.record("y", 1_000_000_000_000);
        b.error(-4);
        a.merge(&b);
        assert_eq!(a.histograms()["x"].len(), 2);
        assert_eq!(
            a.histograms()["y"].max(),
            a.histograms()["y"].highest_equivalent(HIGHEST_US)
        );
        assert_eq!(a.errors()[&-4], 1);
    }

    #[test]
    fn names() {
        assert_eq!(error_name(-101), "NoNode(-101)");
        assert_eq!(error_name(-999), "error(-999)");
        assert_eq!(op_name(OpCode::SetData), "setData");
        assert_eq!(micros(Duration::from_nanos(10)), 1);
    }

    #[test]
    fn window() {
        let c = Clock::new(Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(c.window(), Duration::from_secs(2));
        assert!(!c.in_window(c.start, c.from));
        assert!(c.in_window(c.from, c.until));
        assert!(!c.in_window(c.from, c.until + Duration::from_millis(1)));
    }
}
