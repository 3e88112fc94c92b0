//! ZooKeeper's four-letter words, answered on the client port in ZooKeeper's formats.
//!
//! Monitoring tools parse these (`zkServer.sh status` reads `Mode:` from `srvr`, exporters
//! read `mntr`), so the layout follows ZooKeeper 3.8 line for line; the tests compare each
//! word with what the real ZooKeeper 3.8.0 printed. Each answer is written in one go,
//! because some clients read it with a single receive.
//!
//! The words: `ruok`, `srvr`, `stat`, `mntr`, `conf`, `cons`, `crst`, `srst`, `envi`,
//! `dump`, `wchs`, `wchc`, `wchp`, `dirs`, `isro`, `gtmk`, `stmk` and `hash` (zk-rs keeps
//! no digest log, so `hash` prints what an idle ZooKeeper prints: nothing).
//!
//! - [`mntr`](self::mntr): the monitoring keys in ZooKeeper's order;
//! - [`stat`](self::stat): `srvr` and `stat`; [`conns`](self::conns): `cons`, `dump`;
//! - [`watches`](self::watches): `wchs`, `wchc`, `wchp`; [`conf`](self::conf): `conf`,
//!   `dirs`; [`envi`](self::envi): `envi`;
//! - [`java`](self::java): how Java prints addresses, dates and numbers;
//!   [`sys`](self::sys): what `/proc` says about this process.

mod conf;
mod conns;
mod envi;
mod java;
mod mntr;
mod stat;
mod sys;
mod watches;

use crate::client::ClientContext;
use crate::config::Whitelist;
use crate::status::{
    ConnSnapshot, Counters, Mode, SESSIONLESS_CNXN_TIMEOUT_MS, Status, elapsed_ms, elapsed_ms_at,
    round_to_next_interval, wall_ms,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use zk_datatree::DataTree;

/// The four-letter words ZooKeeper 3.8 knows.
pub const KNOWN: &[&str] = &[
    "conf", "cons", "crst", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat", "wchc",
    "wchp", "wchs", "mntr", "isro", "dirs", "hash",
];

/// What ZooKeeper prints when a server is not serving clients (for example while electing).
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The tick ZooKeeper's session buckets use when the configuration is unknown (ms).
const DEFAULT_TICK_MS: u64 = 2000;

/// The version line: the ZooKeeper protocol version zk-rs speaks, then zk-rs's own.
pub fn version() -> String {
    format!("3.8.0-zk-rs-{}, built on rust", env!("CARGO_PKG_VERSION"))
}

/// Whether the first four bytes of a connection are a four-letter word.
pub fn parse(first: &[u8; 4]) -> Option<&'static str> {
    let word = std::str::from_utf8(first).ok()?;
    KNOWN.iter().copied().find(|k| *k == word)
}

/// Everything a four-letter word may look at.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// `4lw.commands.whitelist`.
    pub whitelist: &'a Whitelist,
    /// The server's role now.
    pub status: &'a Status,
    /// Packet counters, connection statistics, the configuration and the probe.
    pub counters: &'a Counters,
    /// The client protocol's state (tree, watches); `None` on a port without it.
    pub client: Option<&'a ClientContext>,
    /// The connection asking: `cons`, `stat` and `dump` list it, as ZooKeeper lists the
    /// four-letter-word connection itself.
    pub peer: SocketAddr,
    /// `stmk`'s argument, the new trace mask (the 8 bytes after the word).
    pub trace_mask: Option<u64>,
}

/// The answer to `cmd`, given the server's state. Words that change state (`crst`,
/// `srst`, `stmk`) change it here.
pub fn answer(cmd: &str, q: &Query<'_>) -> String {
    if !q.whitelist.allows(cmd) {
        return format!("{cmd} is not executed because it is not in the whitelist.\n");
    }
    let serving = q.status.serving;
    match cmd {
        "ruok" => "imok".to_string(),
        "envi" => envi::render(&envi::gather(&version())),
        "gtmk" => Counters::get(&q.counters.trace_mask).to_string(),
        "stmk" => {
            if let Some(mask) = q.trace_mask {
                q.counters.trace_mask.store(mask, Ordering::Relaxed);
            }
            Counters::get(&q.counters.trace_mask).to_string()
        }
        "isro" => if serving { "rw" } else { "null" }.to_string(),
        "hash" if !serving => NOT_SERVING.to_string(),
        _ if !serving => format!("{NOT_SERVING}\n"),
        "hash" => String::new(),
        "srvr" => stat::render(&stat_view(q, false)),
        "stat" => stat::render(&stat_view(q, true)),
        "mntr" => mntr::render(&mntr_view(q)),
        "cons" => conns::cons(&connections(q)),
        "crst" => {
            q.counters.conns.reset_all();
            "Connection stats reset.\n".to_string()
        }
        "srst" => {
            q.counters.reset_server_stats();
            "Server stats reset.\n".to_string()
        }
        "dump" => conns::dump(&dump_view(q)),
        "wchs" => watches::wchs(
            &q.client
                .map(|c| c.shared.hub().watches.summary())
                .unwrap_or_default(),
        ),
        "wchc" => watches::wchc(&watches_by_session(q)),
        "wchp" => watches::wchp(&watches_by_path(q)),
        "conf" => q
            .counters
            .conf()
            .map_or_else(String::new, |c| conf::conf(c, conf::DirSizes::measure(c))),
        "dirs" => q
            .counters
            .conf()
            .map_or_else(String::new, |c| conf::dirs(conf::DirSizes::measure(c))),
        _ => format!("{cmd} is not supported by zk-rs yet.\n"),
    }
}

/// Runs `f` on the committed tree, if this port serves the client protocol.
fn with_tree<R>(q: &Query<'_>, f: impl FnOnce(&DataTree) -> R) -> Option<R> {
    q.client.map(|c| f(&c.shared.tree()))
}

/// The registered client connections, then the asking four-letter-word connection.
fn connections(q: &Query<'_>) -> Vec<ConnSnapshot> {
    let mut conns = q.counters.conns.snapshot();
    conns.push(asking(q.peer));
    conns
}

/// The four-letter-word connection answering, as ZooKeeper shows it: the word received,
/// nothing sent yet, no session.
fn asking(peer: SocketAddr) -> ConnSnapshot {
    ConnSnapshot {
        id: u64::MAX,
        peer,
        interest_ops: 0,
        queued: 0,
        received: 1,
        sent: 0,
        session: 0,
        last_op: "NA",
        established: wall_ms(),
        timeout: 0,
        last_cxid: -1,
        last_zxid: -1,
        last_response: 0,
        last_latency: 0,
        min_latency: 0,
        avg_latency: 0,
        max_latency: 0,
        expires: round_to_next_interval(
            elapsed_ms() + SESSIONLESS_CNXN_TIMEOUT_MS,
            SESSIONLESS_CNXN_TIMEOUT_MS,
        ),
    }
}

fn outstanding(q: &Query<'_>) -> u64 {
    q.counters.conns.snapshot().iter().map(|c| c.queued).sum()
}

fn stat_view(q: &Query<'_>, with_clients: bool) -> stat::StatView {
    let c = q.counters;
    stat::StatView {
        version: version(),
        clients: with_clients.then(|| conns::clients(&connections(q))),
        latency: c.conns.latency.stats(),
        received: Counters::get(&c.received),
        sent: Counters::get(&c.sent),
        connections: Counters::get(&c.connections),
        outstanding: outstanding(q),
        zxid: q.status.zxid,
        mode: q.status.mode,
        node_count: with_tree(q, |t| t.node_count() as u64).unwrap_or(0),
        proposal_sizes: c
            .probe()
            .and_then(|p| p.leader())
            .and_then(|l| l.proposal_sizes),
    }
}

fn mntr_view(q: &Query<'_>) -> mntr::MntrView {
    let c = q.counters;
    let (ephemerals, nodes, sessions, size) = with_tree(q, |t| {
        (
            t.ephemerals_count() as u64,
            t.node_count() as u64,
            t.sessions().len() as u64,
            t.approximate_data_size(),
        )
    })
    .unwrap_or((0, 0, 0, 0));
    let mode = q.status.mode;
    let leader = if mode == Mode::Leader {
        c.probe()
            .and_then(|p| p.leader())
            .map(|l| mntr::LeaderView {
                learners: l.learners,
                pending_syncs: l.pending_syncs,
                uptime_ms: u64::try_from(l.since.elapsed().as_millis()).unwrap_or(u64::MAX),
                proposal_sizes: l.proposal_sizes,
            })
    } else {
        None
    };
    mntr::MntrView {
        version: version(),
        mode,
        leader_id: q.status.leader,
        ephemerals_count: ephemerals,
        alive_connections: Counters::get(&c.connections),
        latency: c.conns.latency.stats(),
        outstanding: outstanding(q),
        znode_count: nodes,
        global_sessions: sessions,
        packets_sent: Counters::get(&c.sent),
        packets_received: Counters::get(&c.received),
        watch_count: q
            .client
            .map_or(0, |cl| cl.shared.hub().watches.count() as u64),
        max_fds: sys::max_fds(),
        open_fds: sys::open_fds(),
        approximate_data_size: size,
        uptime_ms: u64::try_from(c.uptime().as_millis()).unwrap_or(u64::MAX),
        quorum_size: c
            .conf()
            .and_then(|cf| cf.quorum.as_ref())
            .map(|qc| qc.voters),
        leader,
    }
}

/// An [`elapsed_ms`]-scale time as ms since the epoch.
fn to_wall(elapsed: i64) -> i64 {
    let now_wall = i64::try_from(wall_ms()).unwrap_or(i64::MAX);
    let now = i64::try_from(elapsed_ms()).unwrap_or(i64::MAX);
    now_wall.saturating_add(elapsed - now)
}

fn dump_view(q: &Query<'_>) -> conns::DumpView {
    let (sessions, ephemerals) = with_tree(q, |t| {
        let eph: Vec<(i64, Vec<String>)> = {
            let mut ids = t.sessions_with_ephemerals();
            ids.sort_unstable();
            ids.into_iter().map(|s| (s, t.ephemerals(s))).collect()
        };
        let mut sessions = t.sessions();
        sessions.sort_unstable();
        (sessions, eph)
    })
    .unwrap_or_default();
    let tracker = matches!(q.status.mode, Mode::Leader | Mode::Standalone);
    let sessions = if tracker {
        let tick = q
            .counters
            .conf()
            .map_or(DEFAULT_TICK_MS, |c| c.tick_time)
            .max(1);
        let now = i64::try_from(elapsed_ms()).unwrap_or(i64::MAX);
        let deadlines: Vec<(i64, i64)> =
            match q.counters.probe().and_then(|p| p.session_deadlines()) {
                Some(d) => d
                    .into_iter()
                    .map(|(s, at)| (s, elapsed_ms_at(at)))
                    .collect(),
                // Unknown: as if every session was heard of just now.
                None => sessions
                    .iter()
                    .map(|&(s, timeout)| (s, now + i64::from(timeout)))
                    .collect(),
            };
        let keyed = deadlines
            .into_iter()
            .map(|(s, at)| {
                let bucket = round_to_next_interval(u64::try_from(at).unwrap_or(0), tick);
                (to_wall(i64::try_from(bucket).unwrap_or(i64::MAX)), s)
            })
            .collect();
        conns::SessionsDump::Tracker(conns::buckets(keyed))
    } else {
        conns::SessionsDump::Learner(sessions)
    };
    let keyed = connections(q)
        .into_iter()
        .map(|c| {
            (
                to_wall(i64::try_from(c.expires).unwrap_or(i64::MAX)),
                (c.peer, c.session),
            )
        })
        .collect();
    conns::DumpView {
        sessions,
        ephemerals,
        connections: conns::buckets(keyed),
    }
}

/// The session of each registered connection (0 for one not registered).
fn sessions_by_conn(q: &Query<'_>) -> HashMap<u64, i64> {
    q.counters
        .conns
        .snapshot()
        .into_iter()
        .map(|c| (c.id, c.session))
        .collect()
}

fn watches_by_session(q: &Query<'_>) -> Vec<(i64, Vec<String>)> {
    let Some(client) = q.client else {
        return Vec::new();
    };
    let sessions = sessions_by_conn(q);
    let by_conn = client.shared.hub().watches.by_conn();
    let mut out: Vec<(i64, Vec<String>)> = by_conn
        .into_iter()
        .map(|(conn, paths)| (sessions.get(&conn).copied().unwrap_or(0), paths))
        .collect();
    out.sort();
    out
}

fn watches_by_path(q: &Query<'_>) -> Vec<(String, Vec<i64>)> {
    let Some(client) = q.client else {
        return Vec::new();
    };
    let sessions = sessions_by_conn(q);
    let by_path = client.shared.hub().watches.by_path();
    by_path
        .into_iter()
        .map(|(path, conns)| {
            let mut s: Vec<i64> = conns
                .into_iter()
                .map(|c| sessions.get(&c).copied().unwrap_or(0))
                .collect();
            s.sort_unstable();
            (path, s)
        })
        .collect()
}

#[cfg(test)]
mod tests;
