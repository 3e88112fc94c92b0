//! Command-line flags ([`Args`]) and the validated settings of a run ([`BenchConfig`]).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::BenchError;

/// What the sessions do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// `setData` on one node per session.
    Write,
    /// `create` of a fresh node, then its `delete`.
    CreateDelete,
    /// `getData` of one node per session.
    Read,
    /// `getData` (`--read-pct` percent of the requests) and `setData` on one node per session.
    Mixed,
    /// Create `--znodes` nodes of `--value-size` bytes as fast as allowed, then stop.
    Populate,
    /// `--watchers` sessions set a data watch on one node, another session sets its data,
    /// and the time until every notification arrived is measured; repeated.
    WatchStorm,
}

impl Workload {
    /// The name used on the command line and in the results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::CreateDelete => "create-delete",
            Self::Read => "read",
            Self::Mixed => "mixed",
            Self::Populate => "populate",
            Self::WatchStorm => "watch-storm",
        }
    }
}

/// `zk-bench`'s command line.
#[derive(Clone, Debug, clap::Parser)]
#[command(
    name = "zk-bench",
    version,
    about = "Load generator for ZooKeeper-protocol servers (zk-rs, Apache ZooKeeper)",
    // A flag given twice takes the last value (scripts append overrides).
    args_override_self = true
)]
pub struct Args {
    /// Servers, as a ZooKeeper connect string; sessions are spread over them round-robin.
    #[arg(long, default_value = "127.0.0.1:2181")]
    pub hosts: String,
    /// The workload.
    #[arg(long, value_enum, default_value_t = Workload::Write)]
    pub workload: Workload,
    /// Concurrent sessions (the watch-storm uses `--watchers` instead).
    #[arg(long, default_value_t = 16)]
    pub sessions: usize,
    /// Requests each session keeps in flight (pipelined on its connection).
    #[arg(long, default_value_t = 32)]
    pub inflight: usize,
    /// Bytes of data per node written.
    #[arg(long, default_value_t = 128)]
    pub value_size: usize,
    /// How long to measure (after the warm-up), e.g. `10s`, `500ms`, `2m`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before measuring; requests started during it are not in the results.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Percentage of reads in the `mixed` workload.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub read_pct: u8,
    /// Nodes the `populate` workload creates.
    #[arg(long, default_value_t = 100_000)]
    pub znodes: u64,
    /// Watching sessions in the `watch-storm` workload.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The node under which the run works; created at the start and removed at the end.
    /// Default: a unique `/zk-bench-<pid>-<ms>`.
    #[arg(long)]
    pub root: Option<String>,
    /// Session timeout asked of the server.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub session_timeout: Duration,
    /// Leave the root and its nodes in place at the end (to measure a populated server).
    #[arg(long)]
    pub keep: bool,
    /// Tokio worker threads (default: one per CPU).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress line on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// Restart xids at 1 on every new connection of a session, as some clients do (kazoo),
    /// instead of continuing them as ZooKeeper's Java and C clients do.
    #[arg(long)]
    pub xid_per_connection: bool,
}

/// The validated settings of one run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// `host:port` of every server.
    pub hosts: Vec<String>,
    /// The workload.
    pub workload: Workload,
    /// Concurrent sessions.
    pub sessions: usize,
    /// Requests in flight per session.
    pub inflight: usize,
    /// Bytes of data per node written.
    pub value_size: usize,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// Percent of reads in `mixed`.
    pub read_pct: u8,
    /// Nodes `populate` creates.
    pub znodes: u64,
    /// Watching sessions in `watch-storm`.
    pub watchers: usize,
    /// Where to write the JSON results.
    pub json: Option<PathBuf>,
    /// The run's root node.
    pub root: String,
    /// Session timeout asked of the server.
    pub session_timeout: Duration,
    /// Keep the root at the end.
    pub keep: bool,
    /// Print the progress line.
    pub progress: bool,
    /// Restart xids on every connection (see [`Args::xid_per_connection`]).
    pub xid_per_connection: bool,
}

/// The largest `--value-size`: ZooKeeper's default `jute.maxbuffer` less room for the
/// rest of a request.
pub const MAX_VALUE_SIZE: usize = 0xfffff - 4096;

impl BenchConfig {
    /// Settings with the command line's defaults for `workload` against `hosts`.
    pub fn new(hosts: &str, workload: Workload) -> Result<Self, BenchError> {
        use clap::Parser;
        let args = Args::try_parse_from(["zk-bench", "--hosts", hosts])
            .map_err(|e| BenchError::Config(e.to_string()))?;
        Self::from_args(Args { workload, ..args })
    }

    /// Validates the command line.
    pub fn from_args(args: Args) -> Result<Self, BenchError> {
        let hosts = parse_hosts(&args.hosts)?;
        if args.sessions == 0 {
            return Err(BenchError::Config("--sessions must be at least 1".into()));
        }
        if args.inflight == 0 {
            return Err(BenchError::Config("--inflight must be at least 1".into()));
        }
        if args.watchers == 0 {
            return Err(BenchError::Config("--watchers must be at least 1".into()));
        }
        if args.value_size > MAX_VALUE_SIZE {
            return Err(BenchError::Config(format!(
                "--value-size {} exceeds {MAX_VALUE_SIZE} (jute.maxbuffer)",
                args.value_size
            )));
        }
        if args.duration.is_zero() && args.workload != Workload::Populate {
            return Err(BenchError::Config("--duration must be positive".into()));
        }
        let timeout_ms = args.session_timeout.as_millis();
        if !(100..=i32::MAX as u128).contains(&timeout_ms) {
            return Err(BenchError::Config(
                "--session-timeout must be at least 100ms".into(),
            ));
        }
        let root = match args.root {
            Some(r) => {
                check_root(&r)?;
                r
            }
            None => default_root(),
        };
        Ok(Self {
            hosts,
            workload: args.workload,
            sessions: args.sessions,
            inflight: args.inflight,
            value_size: args.value_size,
            duration: args.duration,
            warmup: args.warmup,
            read_pct: args.read_pct,
            znodes: args.znodes,
            watchers: args.watchers,
            json: args.json,
            root,
            session_timeout: args.session_timeout,
            keep: args.keep,
            progress: !args.no_progress,
            xid_per_connection: args.xid_per_connection,
        })
    }
}

/// Splits a connect string (`h1:p1,h2:p2`, an optional `/chroot` suffix is refused).
pub fn parse_hosts(s: &str) -> Result<Vec<String>, BenchError> {
    if s.contains('/') {
        return Err(BenchError::Config(format!(
            "--hosts {s:?}: a chroot suffix is not supported; use --root"
        )));
    }
    let hosts: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                h.to_string()
            } else {
                format!("{h}:2181")
            }
        })
        .collect();
    if hosts.is_empty() {
        return Err(BenchError::Config("--hosts names no server".into()));
    }
    Ok(hosts)
}

fn check_root(r: &str) -> Result<(), BenchError> {
    let ok = r.starts_with('/')
        && r.len() > 1
        && !r.ends_with('/')
        && !r.contains("//")
        && !r.split('/').any(|c| c == "." || c == "..");
    if ok {
        Ok(())
    } else {
        Err(BenchError::Config(format!(
            "--root {r:?} is not a valid absolute znode path (and may not be `/`)"
        )))
    }
}

fn default_root() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("/zk-bench-{}-{ms}", std::process::id())
}

/// Parses `10`, `10s`, `1.5s`, `500ms`, `2m` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 10s, 500ms, 2m)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?} is not a non-negative duration"));
    }
    Duration::try_from_secs_f64(v * scale).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn hosts() {
        assert_eq!(
            parse_hosts("127.0.0.1:2181, 127.0.0.1:2182").unwrap(),
            vec!["127.0.0.1:2181", "127.0.0.1:2182"]
        );
        assert_eq!(parse_hosts("localhost").unwrap(), vec!["localhost:2181"]);
        assert!(parse_hosts("a:1/chroot").is_err());
        assert!(parse_hosts(" , ").is_err());
    }

    #[test]
    fn roots() {
        assert!(check_root("/a/b").is_ok());
        for bad in ["", "/", "a", "/a/", "/a//b", "/a/../b"] {
            assert!(check_root(bad).is_err(), "{bad}");
        }
        assert!(default_root().starts_with("/zk-bench-"));
    }

    #[test]
    fn last_flag_wins() {
        use clap::Parser;
        let a = Args::try_parse_from(["zk-bench", "--inflight", "4", "--inflight", "8"]).unwrap();
        assert_eq!(a.inflight, 8);
    }

    #[test]
    fn defaults() {
        let c = BenchConfig::new("127.0.0.1:2181", Workload::Mixed).unwrap();
        assert_eq!(c.workload, Workload::Mixed);
        assert_eq!(c.read_pct, 90);
        assert_eq!(c.hosts, vec!["127.0.0.1:2181"]);
    }
}
