//! `zk-bench`: a load generator speaking ZooKeeper's client protocol, for measuring zk-rs
//! beside Apache ZooKeeper 3.8.
//!
//! Sessions are spread round-robin over the servers of a connect string; each keeps up to
//! `--inflight` requests outstanding on its connection (real pipelining: requests are
//! encoded with `zk-jute` and written back to back; replies are matched in order). Watch
//! notifications and pings are handled as a ZooKeeper client does; a lost connection is
//! reported and the session reconnects (to the next server, resuming its session).
//!
//! - [`cli`]: the flags and the validated [`BenchConfig`].
//! - [`conn`]: one connection: handshake, pipelining, pings, notifications.
//! - [`stats`]: live counters, the measurement window, HDR histograms, error counts.
//! - [`report`]: ops/s and latency percentiles as a table and as JSON.
//! - [`run`]: runs a workload (write, create-delete, read, mixed, populate, watch-storm).
//!
//! The JSON results look like this (latencies in microseconds; `watch_storm` and `populate`
//! appear for those workloads only):
//!
//! ```json
//! { "tool": "zk-bench", "version": "0.1.0",
//!   "settings": { "workload": "mixed", "hosts": "127.0.0.1:2181", "sessions": 16, ... },
//!   "window_s": 10.0, "ops": 123456, "ops_per_sec": 12345.6,
//!   "latency_us": { "count": 123456, "min": 40, "mean": 812.5, "p50": 700, "p90": 1200,
//!                   "p99": 2500, "p99_9": 6000, "max": 12000 },
//!   "per_op": { "getData": { "ops": ..., "ops_per_sec": ..., "latency_us": { ... } }, ... },
//!   "errors": { "total": 0, "by_code": { "NoNode(-101)": 0 } },
//!   "disconnects": 0, "sessions_expired": 0, "connect_failures": 0,
//!   "watch_storm": { "watchers": 100, "rounds": 50, "rounds_per_sec": 5.0,
//!                    "notifications": 5000, "notifications_per_sec": 500.0,
//!                    "missed_notifications": 0, "round_us": { ... }, "notify_us": { ... } },
//!   "populate": { "requested": 100000, "created": 100000, "elapsed_s": 4.2,
//!                 "creates_per_sec": 23809.5, "kept": false } }
//! ```

pub mod cli;
pub mod conn;
pub mod error;
mod progress;
pub mod report;
mod session;
pub mod stats;
mod workloads;

pub use cli::{Args, BenchConfig, Workload};
pub use error::{BenchError, ConnError};
pub use report::Report;
pub use workloads::{Stop, run};
