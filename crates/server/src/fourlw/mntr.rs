//! `mntr`: ZooKeeper 3.8's monitoring keys, tab-separated, in the order it prints them.
//!
//! ZooKeeper prints its `dumpMonitorValues` (version, state) and then every metric of its
//! metrics provider, in the iteration order of the provider's hash maps. That order is
//! fixed for a given set of metrics, so [`TABLE`] lists every key an idle 3.8.0 server
//! prints, captured from the real server as leader (with followers and an observer),
//! follower, observer and standalone, merged into one sequence; each row says in which
//! roles it appears. zk-rs fills the keys it measures and prints an idle ZooKeeper's value
//! (0, 0.0 or -1) for the rest, so every key a client parses is there.
//!
//! Left out: the per-namespace summaries (`zk_*_<top-level node>_read_per_namespace`,
//! `..._write_per_namespace`), which ZooKeeper adds as traffic reaches new top-level nodes.
//! The leader's learner-handler summaries (`zk_*_<sid>_learner_handler_qp_size`,
//! `..._qp_time_ms`) are printed for the learners the replication layer reports.

use crate::status::{LatencyStats, LearnerInfo, Mode, ProposalSizes};
use std::fmt::Write;

/// Where a key appears.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Scope {
    /// Every role.
    All,
    /// Leader, follower and observer (not standalone).
    Quorum,
    /// The leader only.
    Leader,
    /// An observer only.
    Observer,
}

/// One row of the table.
#[derive(Copy, Clone, Debug)]
enum Row {
    /// One key (without `zk_`), where it appears, and an idle server's value.
    Gauge(&'static str, Scope, &'static str),
    /// A summary: `zk_avg_X`, `zk_min_X`, `zk_max_X`, `zk_cnt_X`, `zk_sum_X`.
    Summary(&'static str),
    /// A summary with percentiles: the five above, then `zk_p50_X`, `zk_p95_X`,
    /// `zk_p99_X`, `zk_p999_X`.
    Percentiles(&'static str),
}

/// Every key of ZooKeeper 3.8.0's `mntr`, in its order.
const TABLE: &[Row] = &[
    Row::Gauge("version", Scope::All, "0"),
    Row::Gauge("server_state", Scope::All, "0"),
    Row::Gauge("peer_state", Scope::Quorum, "0"),
    Row::Gauge("observer_master_id", Scope::Observer, "0"),
    Row::Gauge("ephemerals_count", Scope::All, "0"),
    Row::Gauge("num_alive_connections", Scope::All, "0"),
    Row::Gauge("avg_latency", Scope::All, "0.0"),
    Row::Gauge("min_proposal_size", Scope::Leader, "-1"),
    Row::Gauge("outstanding_requests", Scope::All, "0"),
    Row::Gauge("znode_count", Scope::All, "0"),
    Row::Gauge("global_sessions", Scope::All, "0"),
    Row::Gauge("non_mtls_remote_conn_count", Scope::All, "0"),
    Row::Gauge("last_client_response_size", Scope::All, "-1"),
    Row::Gauge("packets_sent", Scope::All, "0"),
    Row::Gauge("packets_received", Scope::All, "0"),
    Row::Gauge("max_proposal_size", Scope::Leader, "-1"),
    Row::Gauge("max_client_response_size", Scope::All, "-1"),
    Row::Gauge("synced_followers", Scope::Leader, "0"),
    Row::Gauge("connection_drop_probability", Scope::All, "0.0"),
    Row::Gauge("watch_count", Scope::All, "0"),
    Row::Gauge("synced_non_voting_followers", Scope::Leader, "0"),
    Row::Gauge("synced_observers", Scope::Leader, "0"),
    Row::Gauge("auth_failed_count", Scope::All, "0"),
    Row::Gauge("min_latency", Scope::All, "0"),
    Row::Gauge("max_file_descriptor_count", Scope::All, "0"),
    Row::Gauge("approximate_data_size", Scope::All, "0"),
    Row::Gauge("open_file_descriptor_count", Scope::All, "0"),
    Row::Gauge("last_proposal_size", Scope::Leader, "-1"),
    Row::Gauge("pending_syncs", Scope::Leader, "0"),
    Row::Gauge("leader_uptime", Scope::Leader, "0"),
    Row::Gauge("local_sessions", Scope::All, "0"),
    Row::Gauge("uptime", Scope::All, "0"),
    Row::Gauge("max_latency", Scope::All, "0"),
    Row::Gauge("outstanding_tls_handshake", Scope::All, "0"),
    Row::Gauge("learners", Scope::Leader, "0"),
    Row::Gauge("min_client_response_size", Scope::All, "-1"),
    Row::Gauge("non_mtls_local_conn_count", Scope::All, "0"),
    Row::Gauge("quorum_size", Scope::Quorum, "0"),
    Row::Gauge("proposal_count", Scope::All, "0"),
    Row::Gauge("watch_bytes", Scope::All, "0"),
    Row::Gauge("outstanding_changes_removed", Scope::All, "0"),
    Row::Gauge("throttled_ops", Scope::All, "0"),
    Row::Gauge("stale_requests_dropped", Scope::All, "0"),
    Row::Gauge("large_requests_rejected", Scope::All, "0"),
    Row::Gauge("insecure_admin_count", Scope::All, "0"),
    Row::Gauge("connection_rejected", Scope::All, "0"),
    Row::Gauge("cnxn_closed_without_zk_server_running", Scope::All, "0"),
    Row::Gauge("sessionless_connections_expired", Scope::All, "0"),
    Row::Gauge("looking_count", Scope::All, "0"),
    Row::Gauge("dead_watchers_queued", Scope::All, "0"),
    Row::Gauge("stale_requests", Scope::All, "0"),
    Row::Gauge("connection_drop_count", Scope::All, "0"),
    Row::Gauge("learner_proposal_received_count", Scope::All, "0"),
    Row::Gauge("digest_mismatches_count", Scope::All, "0"),
    Row::Gauge("dead_watchers_cleared", Scope::All, "0"),
    Row::Gauge("response_packet_cache_hits", Scope::All, "0"),
    Row::Gauge("bytes_received_count", Scope::All, "0"),
    Row::Gauge("add_dead_watcher_stall_time", Scope::All, "0"),
    Row::Gauge("request_throttle_wait_count", Scope::All, "0"),
    Row::Gauge(
        "requests_not_forwarded_to_commit_processor",
        Scope::All,
        "0",
    ),
    Row::Gauge("response_packet_cache_misses", Scope::All, "0"),
    Row::Gauge("ensemble_auth_success", Scope::All, "0"),
    Row::Gauge("prep_processor_request_queued", Scope::All, "0"),
    Row::Gauge("learner_commit_received_count", Scope::All, "0"),
    Row::Gauge("stale_replies", Scope::All, "0"),
    Row::Gauge("connection_request_count", Scope::All, "0"),
    Row::Gauge("response_bytes", Scope::All, "0"),
    Row::Gauge("ensemble_auth_fail", Scope::All, "0"),
    Row::Gauge("diff_count", Scope::All, "0"),
    Row::Gauge("response_packet_get_children_cache_misses", Scope::All, "0"),
    Row::Gauge("connection_revalidate_count", Scope::All, "0"),
    Row::Gauge("quit_leading_due_to_disloyal_voter", Scope::All, "0"),
    Row::Gauge("snap_count", Scope::All, "0"),
    Row::Gauge("unrecoverable_error_count", Scope::All, "0"),
    Row::Gauge("unsuccessful_handshake", Scope::All, "0"),
    Row::Gauge("commit_count", Scope::All, "0"),
    Row::Gauge("stale_sessions_expired", Scope::All, "0"),
    Row::Gauge("response_packet_get_children_cache_hits", Scope::All, "0"),
    Row::Gauge("sync_processor_request_queued", Scope::All, "0"),
    Row::Gauge("outstanding_changes_queued", Scope::All, "0"),
    Row::Gauge("request_commit_queued", Scope::All, "0"),
    Row::Gauge("ensemble_auth_skip", Scope::All, "0"),
    Row::Gauge(
        "skip_learner_request_to_next_processor_count",
        Scope::All,
        "0",
    ),
    Row::Gauge("tls_handshake_exceeded", Scope::All, "0"),
    Row::Gauge("revalidate_count", Scope::All, "0"),
    Row::Summary("socket_closing_time"),
    Row::Summary("proposal_process_time"),
    Row::Summary("leader_unavailable_time"),
    Row::Summary("node_created_watch_count"),
    Row::Summary("session_queues_drained"),
    Row::Summary("write_commit_proc_req_queued"),
    Row::Summary("connection_token_deficit"),
    Row::Summary("read_commit_proc_req_queued"),
    Row::Summary("node_deleted_watch_count"),
    Row::Summary("startup_txns_load_time"),
    Row::Summary("sync_processor_queue_size"),
    Row::Summary("follower_sync_time"),
    Row::Summary("prep_processor_queue_size"),
    Row::Summary("fsynctime"),
    Row::Summary("inflight_snap_count"),
    Row::Summary("reads_issued_from_session_queue"),
    Row::Summary("learner_request_processor_queue_size"),
    Row::Summary("snapshottime"),
    Row::Summary("unavailable_time"),
    Row::Summary("startup_txns_loaded"),
    Row::Summary("reads_after_write_in_session_queue"),
    Row::Summary("requests_in_session_queue"),
    Row::Summary("write_commit_proc_issued"),
    Row::Summary("prep_process_time"),
    Row::Summary("pending_session_queue_size"),
    Row::Summary("time_waiting_empty_pool_in_commit_processor_read_ms"),
    Row::Summary("commit_process_time"),
    Row::Summary("dbinittime"),
    Row::Summary("inflight_diff_count"),
    Row::Summary("netty_queued_buffer_capacity"),
    Row::Summary("election_time"),
    Row::Summary("commit_commit_proc_req_queued"),
    Row::Summary("sync_processor_batch_size"),
    Row::Summary("node_children_watch_count"),
    Row::Summary("write_batch_time_in_commit_processor"),
    Row::Summary("read_commit_proc_issued"),
    Row::Summary("concurrent_request_processing_in_commit_processor"),
    Row::Summary("observer_sync_time"),
    Row::Summary("node_changed_watch_count"),
    Row::Summary("sync_process_time"),
    Row::Summary("startup_snap_load_time"),
    Row::Percentiles("prep_processor_queue_time_ms"),
    Row::Percentiles("jvm_pause_time_ms"),
    Row::Percentiles("close_session_prep_time"),
    Row::Percentiles("read_commitproc_time_ms"),
    Row::Percentiles("updatelatency"),
    Row::Percentiles("local_write_committed_time_ms"),
    Row::Percentiles("request_throttle_queue_time_ms"),
    Row::Percentiles("readlatency"),
    Row::Percentiles("quorum_ack_latency"),
    Row::Percentiles("om_commit_process_time_ms"),
    Row::Percentiles("read_final_proc_time_ms"),
    Row::Percentiles("commit_propagation_latency"),
    Row::Percentiles("dead_watchers_cleaner_latency"),
    Row::Percentiles("write_final_proc_time_ms"),
    Row::Percentiles("proposal_ack_creation_latency"),
    Row::Percentiles("proposal_latency"),
    Row::Percentiles("om_proposal_process_time_ms"),
    Row::Percentiles("sync_processor_queue_and_flush_time_ms"),
    Row::Percentiles("propagation_latency"),
    Row::Percentiles("server_write_committed_time_ms"),
    Row::Percentiles("sync_processor_queue_time_ms"),
    Row::Percentiles("sync_processor_queue_flush_time_ms"),
    Row::Percentiles("write_commitproc_time_ms"),
];

/// What `mntr` reports.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MntrView {
    /// `zk_version`.
    pub(crate) version: String,
    /// `zk_server_state` (and which role-specific keys appear).
    pub(crate) mode: Mode,
    /// The leader an observer follows (`zk_observer_master_id`).
    pub(crate) leader_id: Option<u64>,
    /// `zk_ephemerals_count`.
    pub(crate) ephemerals_count: u64,
    /// `zk_num_alive_connections`.
    pub(crate) alive_connections: u64,
    /// `zk_avg_latency`, `zk_min_latency`, `zk_max_latency`.
    pub(crate) latency: LatencyStats,
    /// `zk_outstanding_requests`.
    pub(crate) outstanding: u64,
    /// `zk_znode_count`.
    pub(crate) znode_count: u64,
    /// `zk_global_sessions`.
    pub(crate) global_sessions: u64,
    /// `zk_packets_sent`.
    pub(crate) packets_sent: u64,
    /// `zk_packets_received`.
    pub(crate) packets_received: u64,
    /// `zk_watch_count`.
    pub(crate) watch_count: u64,
    /// `zk_max_file_descriptor_count` (-1 when unknown, as ZooKeeper).
    pub(crate) max_fds: Option<u64>,
    /// `zk_open_file_descriptor_count` (-1 when unknown).
    pub(crate) open_fds: Option<u64>,
    /// `zk_approximate_data_size`.
    pub(crate) approximate_data_size: u64,
    /// `zk_uptime` (ms).
    pub(crate) uptime_ms: u64,
    /// `zk_quorum_size`: the voting members (quorum modes).
    pub(crate) quorum_size: Option<u64>,
    /// The leader's keys, when this server leads and the replication layer reports them.
    pub(crate) leader: Option<LeaderView>,
}

/// The leader-only keys.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LeaderView {
    /// Connected learners (`zk_learners`, `zk_synced_*`).
    pub(crate) learners: Vec<LearnerInfo>,
    /// `zk_pending_syncs`.
    pub(crate) pending_syncs: u64,
    /// `zk_leader_uptime` (ms).
    pub(crate) uptime_ms: u64,
    /// `zk_{last,min,max}_proposal_size` (-1 when none).
    pub(crate) proposal_sizes: Option<ProposalSizes>,
}

/// A key's value: measured, an idle ZooKeeper's, or not printed.
enum Value {
    Real(String),
    Idle,
    Omit,
}

fn value(v: &MntrView, key: &str) -> Value {
    use Value::{Idle, Omit, Real};
    let n = |x: u64| Real(x.to_string());
    let opt = |x: Option<u64>| Real(x.map_or_else(|| "-1".to_string(), |x| x.to_string()));
    let leader = v.leader.as_ref();
    let learners = |f: &dyn Fn(&LearnerInfo) -> bool| match leader {
        Some(l) => n(l.learners.iter().filter(|x| f(x)).count() as u64),
        None => Omit,
    };
    let proposal = |f: fn(&ProposalSizes) -> u64| {
        Real(
            leader
                .and_then(|l| l.proposal_sizes.as_ref())
                .map_or_else(|| "-1".to_string(), |p| f(p).to_string()),
        )
    };
    match key {
        "version" => Real(v.version.clone()),
        "server_state" => Real(v.mode.as_str().to_string()),
        "peer_state" => Real(format!("{} - broadcast", peer_state(v.mode))),
        "observer_master_id" => v.leader_id.map_or(Idle, n),
        "ephemerals_count" => n(v.ephemerals_count),
        "num_alive_connections" => n(v.alive_connections),
        "avg_latency" => Real(super::java::double(v.latency.avg())),
        "min_latency" => n(v.latency.min_or_zero()),
        "max_latency" => n(v.latency.max),
        "outstanding_requests" => n(v.outstanding),
        "znode_count" => n(v.znode_count),
        "global_sessions" => n(v.global_sessions),
        "packets_sent" => n(v.packets_sent),
        "packets_received" => n(v.packets_received),
        "watch_count" => n(v.watch_count),
        "max_file_descriptor_count" => opt(v.max_fds),
        "open_file_descriptor_count" => opt(v.open_fds),
        "approximate_data_size" => n(v.approximate_data_size),
        "uptime" => n(v.uptime_ms),
        "quorum_size" => v.quorum_size.map_or(Idle, n),
        "learners" => learners(&|_| true),
        "synced_followers" => {
            learners(&|l| l.synced && l.role == crate::config::LearnerRole::Participant)
        }
        "synced_observers" => {
            learners(&|l| l.synced && l.role == crate::config::LearnerRole::Observer)
        }
        // Participants outside the voting view exist only with dynamic reconfiguration.
        "synced_non_voting_followers" => learners(&|_| false),
        "pending_syncs" => leader.map_or(Omit, |l| n(l.pending_syncs)),
        "leader_uptime" => leader.map_or(Omit, |l| n(l.uptime_ms)),
        "last_proposal_size" => proposal(|p| p.last),
        "min_proposal_size" => proposal(|p| p.min),
        "max_proposal_size" => proposal(|p| p.max),
        _ => Idle,
    }
}

/// `QuorumPeer.getDetailedPeerState()`'s first half (the second is the ZAB phase,
/// always `broadcast` while serving).
fn peer_state(mode: Mode) -> &'static str {
    match mode {
        Mode::Leader => "leading",
        Mode::Follower => "following",
        Mode::Observer => "observing",
        Mode::Looking | Mode::Standalone => "looking",
    }
}

fn shown(scope: Scope, mode: Mode) -> bool {
    match scope {
        Scope::All => true,
        Scope::Quorum => mode != Mode::Standalone,
        Scope::Leader => mode == Mode::Leader,
        Scope::Observer => mode == Mode::Observer,
    }
}

fn line(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "zk_{key}\t{value}");
}

fn summary(out: &mut String, name: &str, percentiles: bool) {
    line(out, &format!("avg_{name}"), "0.0");
    for p in ["min", "max", "cnt", "sum"] {
        line(out, &format!("{p}_{name}"), "0");
    }
    if percentiles {
        for p in ["p50", "p95", "p99", "p999"] {
            line(out, &format!("{p}_{name}"), "0");
        }
    }
}

/// The answer to `mntr` (the server is serving).
pub(crate) fn render(v: &MntrView) -> String {
    let mut out = String::with_capacity(20_000);
    for row in TABLE {
        match *row {
            Row::Gauge(key, scope, idle) => {
                if !shown(scope, v.mode) {
                    continue;
                }
                match value(v, key) {
                    Value::Real(s) => line(&mut out, key, &s),
                    Value::Idle => line(&mut out, key, idle),
                    Value::Omit => {}
                }
            }
            Row::Summary(name) => summary(&mut out, name, false),
            Row::Percentiles(name) => summary(&mut out, name, true),
        }
    }
    if let Some(l) = v.leader.as_ref().filter(|_| v.mode == Mode::Leader) {
        let mut ids: Vec<u64> = l.learners.iter().map(|x| x.id).collect();
        ids.sort_unstable();
        for id in &ids {
            summary(&mut out, &format!("{id}_learner_handler_qp_size"), false);
        }
        for id in &ids {
            summary(&mut out, &format!("{id}_learner_handler_qp_time_ms"), true);
        }
    }
    out
}
