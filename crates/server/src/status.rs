//! What this server is doing now, as the four-letter words report it: its role, the packet
//! counters, the statistics of every client connection ([`ConnRegistry`]), the request
//! latency, a summary of the configuration ([`ConfInfo`]) and what the replication layer can
//! tell about learners and session deadlines ([`QuorumProbe`]).
//!
//! Everything here hangs off [`Counters`], which the client port and every client
//! connection share, so the four-letter words reach it without more plumbing.

use crate::config::{Config, LearnerRole};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The server's role, in ZooKeeper's words.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Electing: not serving.
    Looking,
    /// Leading an established ensemble.
    Leader,
    /// Following the leader.
    Follower,
    /// Observing the leader.
    Observer,
    /// A single server, no ensemble.
    Standalone,
}

impl Mode {
    /// The word `srvr` prints after `Mode:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Looking => "looking",
            Self::Leader => "leader",
            Self::Follower => "follower",
            Self::Observer => "observer",
            Self::Standalone => "standalone",
        }
    }
}

/// A snapshot of the server's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Role.
    pub mode: Mode,
    /// Whether clients are being served (a leader or learner of an established epoch).
    pub serving: bool,
    /// The last zxid this server has processed.
    pub zxid: u64,
    /// The leader's id, when known.
    pub leader: Option<u64>,
    /// The established epoch, when known.
    pub epoch: u64,
}

impl Status {
    /// Not serving yet: electing.
    pub fn looking() -> Self {
        Self {
            mode: Mode::Looking,
            serving: false,
            zxid: 0,
            leader: None,
            epoch: 0,
        }
    }
}

/// ZooKeeper's default trace mask (`ZooTrace`'s request, client ping and session
/// traces), what `gtmk` prints until `stmk` changes it.
pub const DEFAULT_TRACE_MASK: u64 = 306;

/// Counters the four-letter words report, shared by every client connection.
#[derive(Debug)]
pub struct Counters {
    /// Packets (and four-letter words) received.
    pub received: AtomicU64,
    /// Packets sent.
    pub sent: AtomicU64,
    /// Client connections open now.
    pub connections: AtomicU64,
    /// Every client connection's statistics, and the server-wide request latency.
    pub conns: ConnRegistry,
    /// ZooKeeper's trace mask, read by `gtmk` and set by `stmk` (it changes nothing else).
    pub trace_mask: AtomicU64,
    started: Instant,
    conf: OnceLock<ConfInfo>,
    probe: OnceLock<Arc<dyn QuorumProbe>>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            conns: ConnRegistry::default(),
            trace_mask: AtomicU64::new(DEFAULT_TRACE_MASK),
            started: Instant::now(),
            conf: OnceLock::new(),
            probe: OnceLock::new(),
        }
    }
}

impl Counters {
    /// Fresh counters.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Read a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// How long since these counters were made (mntr's `zk_uptime`).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records the configuration `conf` prints; `false` if it was already set.
    pub fn set_conf(&self, conf: ConfInfo) -> bool {
        self.conf.set(conf).is_ok()
    }

    /// The configuration, once [`Counters::set_conf`] was called.
    pub fn conf(&self) -> Option<&ConfInfo> {
        self.conf.get()
    }

    /// Installs what the replication layer can tell (learners, session deadlines);
    /// `false` if one was already installed.
    pub fn set_probe(&self, probe: Arc<dyn QuorumProbe>) -> bool {
        self.probe.set(probe).is_ok()
    }

    /// The probe, once [`Counters::set_probe`] was called.
    pub fn probe(&self) -> Option<&Arc<dyn QuorumProbe>> {
        self.probe.get()
    }

    /// `srst`: zeroes the packet counters and the server-wide latency, as ZooKeeper's
    /// `ServerStats.reset()`.
    pub fn reset_server_stats(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        self.conns.latency.reset();
    }
}

/// Milliseconds on a monotonic clock, from an origin fixed at the first call in this
/// process: ZooKeeper's `Time.currentElapsedTime()` (`cons` prints it as `lresp`).
pub fn elapsed_ms() -> u64 {
    u64::try_from(clock_origin().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `at` on the [`elapsed_ms`] scale (negative before the origin).
pub fn elapsed_ms_at(at: Instant) -> i64 {
    let origin = clock_origin();
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match at.checked_duration_since(origin) {
        Some(after) => ms(after),
        None => -ms(origin.saturating_duration_since(at)),
    }
}

/// Milliseconds since the Unix epoch (Java's `System.currentTimeMillis()`).
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn clock_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Request latencies in milliseconds: minimum, maximum, total and count.
#[derive(Debug)]
pub struct Latency {
    min: AtomicU64,
    max: AtomicU64,
    total: AtomicU64,
    count: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        Self {
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            total: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Latency {
    /// Counts one request answered after `ms` milliseconds.
    pub fn record(&self, ms: u64) {
        self.min.fetch_min(ms, Ordering::Relaxed);
        self.max.fetch_max(ms, Ordering::Relaxed);
        self.total.fetch_add(ms, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets every request.
    pub fn reset(&self) {
        self.min.store(u64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
    }

    /// The current values.
    pub fn stats(&self) -> LatencyStats {
        LatencyStats {
            min: self.min.load(Ordering::Relaxed),
            max: self.max.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of [`Latency`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyStats {
    /// The smallest latency (`u64::MAX` when nothing was counted).
    pub min: u64,
    /// The largest latency.
    pub max: u64,
    /// The sum of all latencies.
    pub total: u64,
    /// How many requests were counted.
    pub count: u64,
}

impl Default for LatencyStats {
    fn default() -> Self {
        Self {
            min: u64::MAX,
            max: 0,
            total: 0,
            count: 0,
        }
    }
}

impl LatencyStats {
    /// The minimum as ZooKeeper prints it: 0 when nothing was counted.
    pub fn min_or_zero(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// The server-wide average as ZooKeeper's `AvgMinMaxCounter.getAvg()`: rounded half
    /// up to four decimals, 0 when nothing was counted.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        // Exact in integers: round(total * 10000 / count) half up, then scale back.
        let scaled = (u128::from(self.total) * 10_000 * 2 + u128::from(self.count))
            / (u128::from(self.count) * 2);
        scaled as f64 / 10_000.0
    }

    /// A connection's average as ZooKeeper's `ServerCnxn.getAvgLatency()`: integer
    /// division, 0 when nothing was counted.
    pub fn avg_truncated(&self) -> u64 {
        self.total.checked_div(self.count).unwrap_or(0)
    }
}

/// ZooKeeper's name for the last operation of a connection (`cons`' `lop=`), as its
/// `FinalRequestProcessor` sets it for opcode `op`; `NA` for anything it does not name.
pub fn op_name(op: i32) -> &'static str {
    match op {
        11 => "PING",
        -10 => "SESS",
        -11 => "CLOS",
        14 => "MULT",
        22 => "MLTR",
        1 | 15 | 19 | 21 => "CREA",
        2 | 20 => "DELE",
        5 => "SETD",
        16 => "RECO",
        7 => "SETA",
        9 => "SYNC",
        13 => "CHEC",
        3 => "EXIS",
        4 => "GETD",
        101 => "SETW",
        105 => "STW2",
        106 => "ADDW",
        6 => "GETA",
        8 | 12 => "GETC",
        104 => "GETACN",
        17 => "CHKW",
        18 => "REMW",
        103 => "GETE",
        107 => "HOMI",
        _ => "NA",
    }
}

/// ZooKeeper's `zookeeper.nio.sessionlessCnxnTimeout` (ms): how long a connection
/// without a session may stay idle, and the bucket width of `dump`'s connection list.
pub const SESSIONLESS_CNXN_TIMEOUT_MS: u64 = 10_000;

/// The statistics of one client connection, as ZooKeeper's `ServerCnxn` keeps them.
#[derive(Debug)]
pub struct ConnStats {
    id: u64,
    peer: SocketAddr,
    established: u64,
    session: AtomicI64,
    timeout: AtomicI32,
    received: AtomicU64,
    sent: AtomicU64,
    queued: AtomicU64,
    last_activity: AtomicU64,
    last: Mutex<LastOp>,
    server_latency: Arc<Latency>,
}

#[derive(Clone, Copy, Debug)]
struct LastOp {
    op: &'static str,
    cxid: i64,
    zxid: i64,
    response: u64,
    latency: u64,
    stats: LatencyStats,
}

impl Default for LastOp {
    fn default() -> Self {
        Self {
            op: "NA",
            cxid: -1,
            zxid: -1,
            response: 0,
            latency: 0,
            stats: LatencyStats::default(),
        }
    }
}

impl ConnStats {
    /// A request frame arrived (counts it, and the connection is active now).
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.last_activity.store(elapsed_ms(), Ordering::Relaxed);
    }

    /// A frame (reply or watch event) was sent to the client.
    pub fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// The connection now serves `session`, with the negotiated `timeout` (ms).
    pub fn established(&self, session: i64, timeout: i32) {
        self.session.store(session, Ordering::Relaxed);
        self.timeout.store(timeout, Ordering::Relaxed);
        self.last_activity.store(elapsed_ms(), Ordering::Relaxed);
    }

    /// `n` requests of this connection are waiting for their answer (`cons`' `queued=`,
    /// summed into `srvr`'s `Outstanding:`).
    pub fn set_queued(&self, n: usize) {
        self.queued
            .store(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The request `cxid` with opcode `op` was answered with `zxid` after `elapsed`
    /// (ZooKeeper's `updateStatsForResponse`, and the server-wide latency). A negative
    /// `cxid` (ping, auth, set-watches) keeps the previous `lcxid`.
    pub fn replied(&self, op: i32, cxid: i32, zxid: i64, elapsed: Duration) {
        let ms = millis(elapsed);
        self.server_latency.record(ms);
        let mut last = self.lock_last();
        if cxid >= 0 {
            last.cxid = i64::from(cxid);
        }
        last.zxid = zxid;
        last.op = op_name(op);
        last.response = elapsed_ms();
        last.latency = ms;
        let s = &mut last.stats;
        s.min = s.min.min(ms);
        s.max = s.max.max(ms);
        s.total = s.total.saturating_add(ms);
        s.count += 1;
    }

    /// `crst`: forgets the counts and latencies (ZooKeeper's `ServerCnxn.resetStats`).
    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        *self.lock_last() = LastOp::default();
    }

    /// What `cons`, `stat` and `dump` print about this connection.
    pub fn snapshot(&self) -> ConnSnapshot {
        let last = *self.lock_last();
        let session = self.session.load(Ordering::Relaxed);
        ConnSnapshot {
            id: self.id,
            peer: self.peer,
            interest_ops: 1,
            queued: self.queued.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            session,
            last_op: last.op,
            established: self.established,
            timeout: self.timeout.load(Ordering::Relaxed),
            last_cxid: last.cxid,
            last_zxid: last.zxid,
            last_response: last.response,
            last_latency: last.latency,
            min_latency: last.stats.min_or_zero(),
            avg_latency: last.stats.avg_truncated(),
            max_latency: last.stats.max,
            expires: self.expiry(session),
        }
    }

    fn expiry(&self, session: i64) -> u64 {
        let timeout = if session == 0 {
            SESSIONLESS_CNXN_TIMEOUT_MS
        } else {
            u64::try_from(self.timeout.load(Ordering::Relaxed)).unwrap_or(0)
        };
        round_to_next_interval(
            self.last_activity
                .load(Ordering::Relaxed)
                .saturating_add(timeout),
            SESSIONLESS_CNXN_TIMEOUT_MS,
        )
    }

    fn lock_last(&self) -> MutexGuard<'_, LastOp> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// ZooKeeper's `ExpiryQueue.roundToNextInterval`: the end of the bucket `time` falls in.
pub fn round_to_next_interval(time: u64, interval: u64) -> u64 {
    if interval == 0 {
        return time;
    }
    (time / interval + 1) * interval
}

/// One connection as `cons`, `stat` and `dump` print it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnSnapshot {
    /// The connection's id (the hub's `ConnId`).
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// NIO interest ops as ZooKeeper prints them: 1 (read) for a client connection,
    /// 0 for the four-letter-word connection answering.
    pub interest_ops: u32,
    /// Requests waiting for their answer.
    pub queued: u64,
    /// Frames received.
    pub received: u64,
    /// Frames sent.
    pub sent: u64,
    /// The session (0 before the handshake).
    pub session: i64,
    /// The last operation's name (`NA` before any).
    pub last_op: &'static str,
    /// When the connection was accepted, in ms since the Unix epoch.
    pub established: u64,
    /// The negotiated session timeout (ms).
    pub timeout: i32,
    /// The last request's xid (-1 before any).
    pub last_cxid: i64,
    /// The zxid of the last answer (-1 before any).
    pub last_zxid: i64,
    /// When the last answer was sent, on the [`elapsed_ms`] scale.
    pub last_response: u64,
    /// The last request's latency (ms).
    pub last_latency: u64,
    /// The smallest latency (ms).
    pub min_latency: u64,
    /// The average latency (ms, truncated).
    pub avg_latency: u64,
    /// The largest latency (ms).
    pub max_latency: u64,
    /// When ZooKeeper would expire the idle connection, on the [`elapsed_ms`] scale,
    /// rounded up to [`SESSIONLESS_CNXN_TIMEOUT_MS`] as its `cnxnExpiryQueue` does.
    pub expires: u64,
}

/// The client connections of this server, by connection id.
#[derive(Clone, Debug, Default)]
pub struct ConnRegistry {
    table: Arc<Mutex<BTreeMap<u64, Arc<ConnStats>>>>,
    /// The latency of every request answered on this server (`srvr`'s `Latency`).
    pub latency: Arc<Latency>,
}

impl ConnRegistry {
    /// Registers the connection `conn` from `peer`, accepted now; it stays listed until
    /// the returned guard is dropped.
    pub fn register(&self, conn: u64, peer: SocketAddr) -> ConnGuard {
        let stats = Arc::new(ConnStats {
            id: conn,
            peer,
            established: wall_ms(),
            session: AtomicI64::new(0),
            timeout: AtomicI32::new(0),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            last_activity: AtomicU64::new(elapsed_ms()),
            last: Mutex::new(LastOp::default()),
            server_latency: self.latency.clone(),
        });
        self.lock().insert(conn, stats.clone());
        ConnGuard {
            stats,
            table: Arc::downgrade(&self.table),
        }
    }

    /// Every registered connection, by id.
    pub fn snapshot(&self) -> Vec<ConnSnapshot> {
        let conns: Vec<Arc<ConnStats>> = self.lock().values().cloned().collect();
        conns.iter().map(|c| c.snapshot()).collect()
    }

    /// `crst`: resets every connection's statistics.
    pub fn reset_all(&self) {
        let conns: Vec<Arc<ConnStats>> = self.lock().values().cloned().collect();
        for c in conns {
            c.reset();
        }
    }

    /// How many connections are registered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<ConnStats>>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A registered connection's statistics; dropping it unregisters the connection.
#[derive(Debug)]
pub struct ConnGuard {
    stats: Arc<ConnStats>,
    table: Weak<Mutex<BTreeMap<u64, Arc<ConnStats>>>>,
}

impl std::ops::Deref for ConnGuard {
    type Target = ConnStats;

    fn deref(&self) -> &ConnStats {
        &self.stats
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
            if t.get(&self.stats.id)
                .is_some_and(|s| Arc::ptr_eq(s, &self.stats))
            {
                t.remove(&self.stats.id);
            }
        }
    }
}

/// What the replication layer can tell the four-letter words. Every method has a
/// default that reports nothing, so an implementation provides what it knows.
pub trait QuorumProbe: Send + Sync + fmt::Debug {
    /// This server's view of its learners, while it leads (`mntr`'s `zk_learners`,
    /// `zk_synced_followers`, ...; `srvr`'s proposal sizes).
    fn leader(&self) -> Option<LeaderInfo> {
        None
    }

    /// Every session's expiry deadline, on the leader or a standalone server (`dump`'s
    /// session buckets). `None` lets `dump` assume each session was heard of just now.
    fn session_deadlines(&self) -> Option<Vec<(i64, Instant)>> {
        None
    }
}

/// A leader's learners and proposals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderInfo {
    /// Every connected learner (ZooKeeper's `learners`).
    pub learners: Vec<LearnerInfo>,
    /// `sync` requests waiting for a quorum (`zk_pending_syncs`).
    pub pending_syncs: u64,
    /// When this server started leading (`zk_leader_uptime`).
    pub since: Instant,
    /// The sizes of the proposals sent (`Proposal sizes last/min/max`), if any.
    pub proposal_sizes: Option<ProposalSizes>,
}

/// One learner connected to the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnerInfo {
    /// Its server id.
    pub id: u64,
    /// Participant (follower) or observer.
    pub role: LearnerRole,
    /// Whether it finished synchronizing and receives proposals (ZooKeeper's
    /// `forwardingFollowers` / `observingLearners`).
    pub synced: bool,
}

/// ZooKeeper's `BufferStats` of the proposals a leader sent, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProposalSizes {
    /// The last proposal's size.
    pub last: u64,
    /// The smallest.
    pub min: u64,
    /// The largest.
    pub max: u64,
}

/// The configuration as `conf` prints it, made with [`ConfInfo::from_config`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfInfo {
    /// `clientPort`.
    pub client_port: u16,
    /// `secureClientPort` (-1: none; zk-rs has no TLS client port).
    pub secure_client_port: i32,
    /// Where snapshots are (`dataDir`).
    pub data_dir: PathBuf,
    /// Where the transaction log is (`dataLogDir`).
    pub data_log_dir: PathBuf,
    /// `tickTime` (ms).
    pub tick_time: u64,
    /// `maxClientCnxns`.
    pub max_client_cnxns: u32,
    /// `minSessionTimeout` (ms).
    pub min_session_timeout: i32,
    /// `maxSessionTimeout` (ms).
    pub max_session_timeout: i32,
    /// `clientPortListenBacklog` (-1: the system's default).
    pub client_port_listen_backlog: i32,
    /// `myid` (0 standalone).
    pub server_id: u64,
    /// The ensemble, absent in standalone mode.
    pub quorum: Option<QuorumConf>,
}

/// The ensemble part of [`ConfInfo`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumConf {
    /// `initLimit` (ticks).
    pub init_limit: u32,
    /// `syncLimit` (ticks).
    pub sync_limit: u32,
    /// `electionAlg` (always 3, Fast Leader Election).
    pub election_alg: u32,
    /// This server's election port.
    pub election_port: u16,
    /// This server's quorum port.
    pub quorum_port: u16,
    /// `peerType`: 0 participant, 1 observer (ZooKeeper's `LearnerType` ordinal).
    pub peer_type: u32,
    /// How many servers vote (mntr's `zk_quorum_size`).
    pub voters: u64,
    /// The `membership:` block: `server.N=` lines, `group.`/`weight.` lines of a
    /// hierarchical quorum, then `version=0` (no trailing newline, as ZooKeeper).
    pub membership: String,
}

impl ConfInfo {
    /// The summary of `config`.
    pub fn from_config(config: &Config) -> Self {
        let quorum = config.my_id.map(|id| {
            let me = config.servers.get(&id);
            QuorumConf {
                init_limit: config.init_limit,
                sync_limit: config.sync_limit,
                election_alg: 3,
                election_port: me.map_or(0, |s| s.election_port),
                quorum_port: me.map_or(0, |s| s.quorum_port),
                peer_type: match config.role {
                    LearnerRole::Participant => 0,
                    LearnerRole::Observer => 1,
                },
                voters: config
                    .servers
                    .values()
                    .filter(|s| s.role == LearnerRole::Participant)
                    .count() as u64,
                membership: membership(config),
            }
        });
        Self {
            client_port: config.client_port,
            secure_client_port: -1,
            data_dir: absolute(&config.data_dir),
            data_log_dir: absolute(&config.data_log_dir),
            tick_time: millis(config.tick),
            max_client_cnxns: config.max_client_cnxns,
            min_session_timeout: config.min_session_timeout,
            max_session_timeout: config.max_session_timeout,
            client_port_listen_backlog: -1,
            server_id: config.my_id.unwrap_or(0),
            quorum,
        }
    }
}

fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `QuorumVerifier.toString()`: `QuorumMaj` or `QuorumHierarchical`.
fn membership(config: &Config) -> String {
    let bracket = |h: &str| {
        if h.contains(':') {
            format!("[{h}]")
        } else {
            h.to_string()
        }
    };
    let mut out = String::new();
    for s in config.servers.values() {
        let role = match s.role {
            LearnerRole::Participant => "participant",
            LearnerRole::Observer => "observer",
        };
        out.push_str(&format!(
            "server.{}={}:{}:{}:{role}",
            s.id,
            bracket(&s.host),
            s.quorum_port,
            s.election_port
        ));
        if let Some((host, port)) = &s.client {
            let host = host.as_deref().unwrap_or("0.0.0.0");
            out.push_str(&format!(";{}:{port}", bracket(host)));
        }
        out.push('\n');
    }
    if let Some(g) = &config.groups {
        for (gid, members) in &g.groups {
            let ids: Vec<String> = members.iter().map(u64::to_string).collect();
            out.push_str(&format!("group.{gid}={}\n", ids.join(":")));
        }
        // Every participant has a weight, 1 unless given (`validateAndAssignWeights`).
        let mut weights = g.weights.clone();
        for s in config.servers.values() {
            if s.role == LearnerRole::Participant {
                weights.entry(s.id).or_insert(1);
            }
        }
        for (sid, w) in &weights {
            out.push_str(&format!("weight.{sid}={w}\n"));
        }
    }
    out.push_str("version=0");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:4000".parse().unwrap()
    }

    #[test]
    fn a_connection_is_listed_until_its_guard_drops() {
        let reg = ConnRegistry::default();
        let g = reg.register(7, addr());
        g.received();
        g.established(0x10, 30_000);
        g.replied(4, 5, 0x100, Duration::from_millis(3));
        g.replied(11, -2, 0x101, Duration::from_millis(1));
        g.sent();
        g.set_queued(2);
        let s = reg.snapshot();
        assert_eq!(s.len(), 1);
        let c = &s[0];
        assert_eq!((c.id, c.session, c.timeout, c.queued), (7, 0x10, 30_000, 2));
        assert_eq!((c.received, c.sent), (1, 1));
        assert_eq!((c.last_op, c.last_cxid, c.last_zxid), ("PING", 5, 0x101));
        assert_eq!(
            (c.min_latency, c.avg_latency, c.max_latency, c.last_latency),
            (1, 2, 3, 1)
        );
        assert_eq!(reg.latency.stats().count, 2);
        reg.reset_all();
        let c = &reg.snapshot()[0];
        assert_eq!((c.received, c.last_op, c.last_cxid), (0, "NA", -1));
        drop(g);
        assert!(reg.is_empty());
    }

    #[test]
    fn averages_round_as_zookeeper() {
        let s = LatencyStats {
            min: 0,
            max: 11,
            total: 19,
            count: 7,
        };
        assert_eq!(s.avg(), 2.7143);
        assert_eq!(s.avg_truncated(), 2);
        assert_eq!(LatencyStats::default().avg(), 0.0);
        assert_eq!(LatencyStats::default().min_or_zero(), 0);
    }

    #[test]
    fn expiry_buckets_round_up() {
        assert_eq!(round_to_next_interval(0, 10_000), 10_000);
        assert_eq!(round_to_next_interval(19_999, 10_000), 20_000);
        assert_eq!(round_to_next_interval(20_000, 10_000), 30_000);
    }

    #[test]
    fn op_names_follow_final_request_processor() {
        assert_eq!(op_name(3), "EXIS");
        assert_eq!(op_name(12), "GETC");
        assert_eq!(op_name(-10), "SESS");
        assert_eq!(op_name(999), "NA");
    }

    #[test]
    fn counters_reset_server_stats() {
        let c = Counters::default();
        c.received.store(5, Ordering::Relaxed);
        c.conns.latency.record(4);
        c.reset_server_stats();
        assert_eq!(Counters::get(&c.received), 0);
        assert_eq!(c.conns.latency.stats().count, 0);
        assert_eq!(Counters::get(&c.trace_mask), DEFAULT_TRACE_MASK);
    }
}
