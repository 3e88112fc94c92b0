//! The results of a run: throughput and latency percentiles per operation, errors by code,
//! connection losses, and the watch-storm and populate figures; shown as a table and as
//! JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::cli::BenchConfig;
use crate::error::BenchError;
use crate::stats::{Recorder, error_name, new_histogram};

/// Latency percentiles of one histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl LatencySummary {
    /// The percentiles of `h` (all zero when it is empty). Each value is the highest value
    /// equivalent to the quantile's bucket, as `hdrhistogram` reports it.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }

    /// As JSON: `{"count", "min", "mean", "p50", "p90", "p99", "p99_9", "max"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "count": self.count,
            "min": self.min,
            "mean": round2(self.mean),
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "p99_9": self.p999,
            "max": self.max,
        })
    }
}

/// Throughput and latency of one kind of operation (or of all of them).
#[derive(Clone, Debug, PartialEq)]
pub struct OpStats {
    /// `setData`, `getData`, ..., or `all`.
    pub name: String,
    /// Successful operations measured.
    pub ops: u64,
    /// Per second of the window.
    pub ops_per_sec: f64,
    /// Their latencies.
    pub latency: LatencySummary,
}

impl OpStats {
    fn new(name: &str, h: &Histogram<u64>, window: Duration) -> Self {
        let latency = LatencySummary::from_histogram(h);
        Self {
            name: name.to_string(),
            ops: latency.count,
            ops_per_sec: rate(latency.count, window),
            latency,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "ops": self.ops,
            "ops_per_sec": round2(self.ops_per_sec),
            "latency_us": self.latency.to_json(),
        })
    }
}

/// `count` per second of `window` (0 for an empty window).
pub fn rate(count: u64, window: Duration) -> f64 {
    let s = window.as_secs_f64();
    if s > 0.0 { count as f64 / s } else { 0.0 }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Figures of the watch-storm workload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StormStats {
    /// Watching sessions.
    pub watchers: usize,
    /// Rounds measured (one `setData` each).
    pub rounds: u64,
    /// Notifications received in the measured rounds.
    pub notifications: u64,
    /// Time from sending the `setData` until the last watcher had its notification.
    pub round: LatencySummary,
    /// Time from sending the `setData` until each notification arrived.
    pub notify: LatencySummary,
    /// Notifications that did not arrive within the round's time limit.
    pub missed: u64,
}

/// Figures of the populate workload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PopulateStats {
    /// Nodes asked for.
    pub requested: u64,
    /// Nodes created.
    pub created: u64,
    /// Time from the first create to the last reply.
    pub elapsed: Duration,
    /// Whether the nodes were left in place (`--keep`).
    pub kept: bool,
}

/// Counts gathered outside the histograms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Connections lost.
    pub disconnects: u64,
    /// Sessions found expired on reconnect.
    pub expired: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
}

/// Everything a run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The settings, as JSON.
    pub settings: Value,
    /// The measured time.
    pub window: Duration,
    /// All operations together.
    pub total: OpStats,
    /// Each kind of operation.
    pub per_op: Vec<OpStats>,
    /// Errors of the whole run (warm-up included) by name, e.g. `NoNode(-101)`.
    pub errors: BTreeMap<String, u64>,
    /// Connection losses.
    pub conn: ConnStats,
    /// The watch-storm figures, for that workload.
    pub storm: Option<StormStats>,
    /// The populate figures, for that workload.
    pub populate: Option<PopulateStats>,
}

/// Histogram names that are not operations (the watch-storm's).
pub const STORM_ROUND: &str = "storm.round";
/// Per-notification latency of the watch-storm.
pub const STORM_NOTIFY: &str = "storm.notify";

impl Report {
    /// Builds the report of a run of `config` whose window was `window`.
    pub fn new(config: &BenchConfig, window: Duration, rec: &Recorder, conn: ConnStats) -> Self {
        let mut all = new_histogram();
        let mut per_op = Vec::new();
        for (name, h) in rec.histograms() {
            if name.starts_with("storm.") {
                continue;
            }
            per_op.push(OpStats::new(name, h, window));
            for v in h.iter_recorded() {
                all.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        let errors = rec
            .errors()
            .iter()
            .map(|(code, n)| (error_name(*code), *n))
            .collect();
        Self {
            settings: settings_json(config),
            window,
            total: OpStats::new("all", &all, window),
            per_op,
            errors,
            conn,
            storm: None,
            populate: None,
        }
    }

    /// Errors of the whole run.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The results as JSON (see the crate docs for the shape).
    pub fn to_json(&self) -> Value {
        let per_op: serde_json::Map<String, Value> = self
            .per_op
            .iter()
            .map(|o| (o.name.clone(), o.to_json()))
            .collect();
        let mut v = json!({
            "tool": "zk-bench",
            "version": env!("CARGO_PKG_VERSION"),
            "settings": self.settings,
            "window_s": round3(self.window.as_secs_f64()),
            "ops": self.total.ops,
            "ops_per_sec": round2(self.total.ops_per_sec),
            "latency_us": self.total.latency.to_json(),
            "per_op": per_op,
            "errors": {
                "total": self.error_count(),
                "by_code": self.errors,
            },
            "disconnects": self.conn.disconnects,
            "sessions_expired": self.conn.expired,
            "connect_failures": self.conn.connect_failures,
        });
        if let (Some(s), Some(obj)) = (&self.storm, v.as_object_mut()) {
            obj.insert(
                "watch_storm".into(),
                json!({
                    "watchers": s.watchers,
                    "rounds": s.rounds,
                    "rounds_per_sec": round2(rate(s.rounds, self.window)),
                    "notifications": s.notifications,
                    "notifications_per_sec": round2(rate(s.notifications, self.window)),
                    "missed_notifications": s.missed,
                    "round_us": s.round.to_json(),
                    "notify_us": s.notify.to_json(),
                }),
            );
        }
        if let (Some(p), Some(obj)) = (&self.populate, v.as_object_mut()) {
            obj.insert(
                "populate".into(),
                json!({
                    "requested": p.requested,
                    "created": p.created,
                    "elapsed_s": round3(p.elapsed.as_secs_f64()),
                    "creates_per_sec": round2(rate(p.created, p.elapsed)),
                    "kept": p.kept,
                }),
            );
        }
        v
    }

    /// Writes [`to_json`](Self::to_json) to `path`, pretty-printed.
    pub fn write_json(&self, path: &std::path::Path) -> Result<(), BenchError> {
        let mut text = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        text.push('\n');
        std::fs::write(path, text).map_err(|source| BenchError::Output {
            path: path.display().to_string(),
            source,
        })
    }

    /// The results as a text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let workload = s["workload"].as_str().unwrap_or("?");
        let shape = match workload {
            "watch-storm" => format!("watchers {} value {} B", s["watchers"], s["value_size"]),
            _ => format!(
                "sessions {} inflight {} value {} B",
                s["sessions"], s["inflight"], s["value_size"]
            ),
        };
        let time = match workload {
            "populate" => format!("{} nodes", s["znodes"]),
            _ => format!(
                "warmup {} s, measured {:.2} s",
                s["warmup_s"],
                self.window.as_secs_f64()
            ),
        };
        let _ = writeln!(
            out,
            "zk-bench {workload} against {} | {shape} | {time}",
            s["hosts"].as_str().unwrap_or("?"),
        );
        let _ = writeln!(
            out,
            "{:<14} {:>10} {:>12} {:>9} {:>9} {:>9} {:>10} {:>10}",
            "op", "ops", "ops/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us"
        );
        let mut rows: Vec<&OpStats> = self.per_op.iter().collect();
        if self.per_op.len() != 1 {
            rows.push(&self.total);
        }
        for o in rows {
            let l = &o.latency;
            let _ = writeln!(
                out,
                "{:<14} {:>10} {:>12.1} {:>9} {:>9} {:>9} {:>10} {:>10}",
                o.name, o.ops, o.ops_per_sec, l.p50, l.p90, l.p99, l.p999, l.max
            );
        }
        if let Some(st) = &self.storm {
            let _ = writeln!(
                out,
                "watch-storm: {} watchers, {} rounds ({:.1}/s), {} notifications ({:.1}/s), {} missed",
                st.watchers,
                st.rounds,
                rate(st.rounds, self.window),
                st.notifications,
                rate(st.notifications, self.window),
                st.missed
            );
            for (name, l) in [("all notified", &st.round), ("each notified", &st.notify)] {
                let _ = writeln!(
                    out,
                    "{:<14} {:>10} {:>12} {:>9} {:>9} {:>9} {:>10} {:>10}",
                    name, l.count, "", l.p50, l.p90, l.p99, l.p999, l.max
                );
            }
        }
        if let Some(p) = &self.populate {
            let _ = writeln!(
                out,
                "populate: {} of {} nodes created in {:.3} s = {:.1} creates/s{}",
                p.created,
                p.requested,
                p.elapsed.as_secs_f64(),
                rate(p.created, p.elapsed),
                if p.kept { " (kept)" } else { "" }
            );
        }
        if self.errors.is_empty() {
            let _ = writeln!(out, "errors: none");
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = writeln!(out, "errors: {} ({})", self.error_count(), list.join(", "));
        }
        let _ = writeln!(
            out,
            "disconnects: {}, sessions expired: {}, failed connection attempts: {}",
            self.conn.disconnects, self.conn.expired, self.conn.connect_failures
        );
        out
    }
}

/// The settings of `config` as JSON.
pub fn settings_json(c: &BenchConfig) -> Value {
    json!({
        "workload": c.workload.name(),
        "hosts": c.hosts.join(","),
        "sessions": c.sessions,
        "inflight": c.inflight,
        "value_size": c.value_size,
        "duration_s": c.duration.as_secs_f64(),
        "warmup_s": c.warmup.as_secs_f64(),
        "read_pct": c.read_pct,
        "znodes": c.znodes,
        "watchers": c.watchers,
        "root": c.root,
        "session_timeout_ms": u64::try_from(c.session_timeout.as_millis()).unwrap_or(u64::MAX),
        "xid_per_connection": c.xid_per_connection,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Workload;

    fn uniform_1_to_1000() -> Histogram<u64> {
        let mut h = new_histogram();
        for v in 1..=1000 {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let s = LatencySummary::from_histogram(&uniform_1_to_1000());
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, 1);
        assert_eq!(s.p50, 500);
        assert_eq!(s.p90, 900);
        assert_eq!(s.p99, 990);
        assert_eq!(s.p999, 999);
        assert_eq!(s.max, 1000);
        assert!((s.mean - 500.5).abs() < 0.01, "{}", s.mean);
    }

    #[test]
    fn percentiles_keep_three_digits_at_large_values() {
        let mut h = new_histogram();
        for _ in 0..999 {
            h.record(100).unwrap();
        }
        h.record(5_000_000).unwrap();
        let s = LatencySummary::from_histogram(&h);
        assert_eq!(s.p50, 100);
        assert_eq!(s.p99, 100);
        assert_eq!(s.p999, 100);
        // 5 s within 0.1 %.
        assert!(s.max.abs_diff(5_000_000) <= 5_000, "{}", s.max);
    }

    #[test]
    fn empty_histogram_is_all_zero() {
        assert_eq!(
            LatencySummary::from_histogram(&new_histogram()),
            LatencySummary::default()
        );
    }

    #[test]
    fn rate_per_second() {
        assert_eq!(rate(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
    }

    fn sample_report() -> Report {
        let config = BenchConfig::new("127.0.0.1:2181,127.0.0.1:2182", Workload::Mixed).unwrap();
        let mut rec = Recorder::default();
        for v in 1..=300 {
            rec.record("getData", v);
        }
        for v in 1..=100 {
            rec.record("setData", v * 10);
        }
        rec.error(-101);
        rec.error(-101);
        rec.error(-4);
        let conn = ConnStats {
            disconnects: 1,
            expired: 0,
            connect_failures: 2,
        };
        Report::new(&config, Duration::from_secs(2), &rec, conn)
    }

    #[test]
    fn totals_merge_every_op() {
        let r = sample_report();
        assert_eq!(r.per_op.len(), 2);
        assert_eq!(r.total.ops, 400);
        assert_eq!(r.total.ops_per_sec, 200.0);
        assert_eq!(r.total.latency.max, 1000);
        assert_eq!(r.per_op[0].name, "getData");
        assert_eq!(r.per_op[0].ops_per_sec, 150.0);
        assert_eq!(r.error_count(), 3);
    }

    #[test]
    fn json_shape() {
        let mut r = sample_report();
        r.storm = Some(StormStats {
            watchers: 3,
            rounds: 4,
            ..Default::default()
        });
        let v = r.to_json();
        assert_eq!(v["tool"], "zk-bench");
        assert_eq!(v["settings"]["workload"], "mixed");
        assert_eq!(v["settings"]["hosts"], "127.0.0.1:2181,127.0.0.1:2182");
        assert_eq!(v["settings"]["read_pct"], 90);
        assert_eq!(v["ops"], 400);
        assert_eq!(v["ops_per_sec"], 200.0);
        assert_eq!(v["window_s"], 2.0);
        for key in ["count", "min", "mean", "p50", "p90", "p99", "p99_9", "max"] {
            assert!(v["latency_us"][key].is_number(), "latency_us.{key}");
            assert!(v["per_op"]["setData"]["latency_us"][key].is_number());
        }
        assert_eq!(v["per_op"]["getData"]["ops"], 300);
        assert_eq!(v["per_op"]["setData"]["latency_us"]["max"], 1000);
        assert_eq!(v["errors"]["total"], 3);
        assert_eq!(v["errors"]["by_code"]["NoNode(-101)"], 2);
        assert_eq!(v["errors"]["by_code"]["ConnectionLoss(-4)"], 1);
        assert_eq!(v["disconnects"], 1);
        assert_eq!(v["sessions_expired"], 0);
        assert_eq!(v["connect_failures"], 2);
        assert_eq!(v["watch_storm"]["rounds"], 4);
        assert_eq!(v["watch_storm"]["rounds_per_sec"], 2.0);
        assert!(v["watch_storm"]["round_us"]["p99_9"].is_number());
        assert!(v.get("populate").is_none());
        // Round-trips through text.
        let text = serde_json::to_string(&v).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn json_file_and_table() {
        let mut r = sample_report();
        r.populate = Some(PopulateStats {
            requested: 10,
            created: 10,
            elapsed: Duration::from_millis(500),
            kept: false,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        r.write_json(&path).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["populate"]["creates_per_sec"], 20.0);
        let t = r.table();
        assert!(t.contains("getData"), "{t}");
        assert!(t.contains("all"), "{t}");
        assert!(t.contains("NoNode(-101): 2"), "{t}");
        assert!(t.contains("20.0 creates/s"), "{t}");
    }
}
