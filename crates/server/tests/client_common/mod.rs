//! Shared by `client_ops.rs`, `client_watches.rs` and `client_sessions.rs`: real `zk-server`
//! processes (standalone, or a 3-node ensemble whose leader and followers are found with
//! `srvr`), `zookeeper-client` sessions on them, a raw jute connection for what that client
//! hides (connect handshakes, the order of frames on the wire, `checkWatches` and
//! `removeWatches` error codes, multi results), and a TCP proxy that moves a client from one
//! server to another.
//!
//! `ZKRS_CLIENT_TESTS_REFERENCE=1` runs the same tests against Apache ZooKeeper 3.8 (the
//! Debian package), to check what the tests expect: the harness then starts, instead of
//! `zk-server`, a small script that execs `QuorumPeerMain` on the same `zoo.cfg` (its
//! `zookeeper.*` and `znode.*` lines become JVM system properties, as ZooKeeper reads them).

#![allow(dead_code, unreachable_pub)]

use bytes::{Bytes, BytesMut};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zk_jute::{
    ConnectRequest, ConnectResponse, OpCode, Record, ReplyHeader, Request, Response, WatcherEvent,
    decode_response, encode_frame_with, xid,
};
use zk_tests::process::mode;
use zk_tests::{Ensemble, EnsembleSpec};
use zookeeper_client::{Acls, Client, CreateMode, CreateOptions};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_zk-server");
/// Elections take about a second here; busy machines are slower (Java more so).
pub const ELECT: Duration = Duration::from_secs(60);
/// How long a test waits for something that should happen at once (an event, a reply).
pub const SOON: Duration = Duration::from_secs(10);

/// `superDigest` for the user `super` with the password `test`.
pub const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";
/// `zoo.cfg` lines: TTL nodes on, the super user, the container/TTL reaper every 200 ms.
pub const EXTENDED: &str = "zookeeper.extendedTypesEnabled=true\n\
    zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n\
    znode.container.checkIntervalMs=200\n";

/// Whether the tests run against Apache ZooKeeper instead of `zk-server`.
pub fn reference() -> bool {
    std::env::var_os("ZKRS_CLIENT_TESTS_REFERENCE").is_some_and(|v| v != "0")
}

/// The program the harness starts with `--config <zoo.cfg>`.
fn server_binary() -> PathBuf {
    if !reference() {
        return PathBuf::from(BIN);
    }
    static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
    SCRIPT
        .get_or_init(|| {
            let path = std::env::temp_dir().join(format!(
                "zkrs-client-tests-reference-{}.sh",
                std::process::id()
            ));
            let script = r#"#!/bin/sh
# --config FILE: Apache ZooKeeper 3.8 on the same zoo.cfg.
cfg="$2"
flags=""
while IFS= read -r line; do
    case "$line" in
        zookeeper.*=* | znode.*=*) flags="$flags -D$line" ;;
    esac
done < "$cfg"
exec java -Xmx256m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Djava.net.preferIPv4Stack=true -Dzookeeper.admin.enableServer=false $flags \
    -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
"#;
            std::fs::write(&path, script).expect("write the reference script");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod the reference script");
            path
        })
        .clone()
}

/// Standalone or a 3-node ensemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One server, no quorum.
    Standalone,
    /// Three voters.
    Ensemble,
}

/// Running servers, with the leader known.
#[derive(Debug)]
pub struct Cluster {
    /// The processes.
    pub ens: Ensemble,
    /// The leader's id (the only node's id when standalone).
    pub leader: u64,
    /// Every node id.
    pub ids: Vec<u64>,
}

/// One server a test body runs against, and another one to watch it from.
#[derive(Clone, Debug)]
pub struct Target {
    /// `standalone`, `leader` or `follower`.
    pub label: &'static str,
    /// The client port of the server under test.
    pub port: u16,
    /// Another server's client port (the same one when standalone).
    pub other: u16,
    /// A fresh path for this target's nodes.
    pub root: String,
}

impl Cluster {
    /// Starts `topology` with `extra` lines in every `zoo.cfg` and waits until it serves.
    pub fn start(topology: Topology, extra: &str) -> Self {
        Self::start_with(topology, extra, 200)
    }

    /// As [`Cluster::start`] with another `tickTime`.
    pub fn start_with(topology: Topology, extra: &str, tick_ms: u64) -> Self {
        let voters = match topology {
            Topology::Standalone => 1,
            Topology::Ensemble => 3,
        };
        let spec = EnsembleSpec {
            extra: extra.to_string(),
            tick_ms,
            ..EnsembleSpec::voters(voters)
        };
        let ens = Ensemble::start(&server_binary(), &spec).expect("start the servers");
        let ids: Vec<u64> = (1..=voters).collect();
        let leader = if voters == 1 {
            wait_serving(&ens, 1);
            1
        } else {
            ens.wait_for_single_leader(&ids, ELECT).expect("one leader")
        };
        Self { ens, leader, ids }
    }

    /// Node `id`'s client port.
    pub fn port(&self, id: u64) -> u16 {
        self.ens.node(id).client_port
    }

    /// The followers' ids.
    pub fn followers(&self) -> Vec<u64> {
        self.ids
            .iter()
            .copied()
            .filter(|&id| id != self.leader)
            .collect()
    }

    /// The servers to run a body against: the standalone server, or the leader and then a
    /// follower.
    pub fn targets(&self, test: &str) -> Vec<Target> {
        if self.ids.len() == 1 {
            let p = self.port(1);
            return vec![Target {
                label: "standalone",
                port: p,
                other: p,
                root: format!("/{test}-standalone"),
            }];
        }
        let f = self.followers();
        let (l, f1) = (self.port(self.leader), self.port(f[0]));
        vec![
            Target {
                label: "leader",
                port: l,
                other: f1,
                root: format!("/{test}-leader"),
            },
            Target {
                label: "follower",
                port: f1,
                other: l,
                root: format!("/{test}-follower"),
            },
        ]
    }

    /// Every client port as a connect string.
    pub fn hosts(&self) -> String {
        self.ids
            .iter()
            .map(|&id| format!("127.0.0.1:{}", self.port(id)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The last log lines of every node, for failure messages.
    pub fn logs(&self) -> String {
        self.ens.log_tails(&self.ids)
    }
}

/// Waits until node `id` answers `srvr` with a mode.
pub fn wait_serving(ens: &Ensemble, id: u64) {
    let deadline = Instant::now() + ELECT;
    while Instant::now() < deadline {
        if mode(ens.node(id).client_port).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "node {id} not serving within {ELECT:?}\n{}",
        ens.log_tails(&[id])
    );
}

/// Runs `body` once per target of `cluster` (each with its own root path), failing the test
/// with the servers' log tails if one takes over a minute.
#[macro_export]
macro_rules! per_target {
    ($cluster:expr, $name:expr, $body:expr) => {{
        let cluster: &$crate::client_common::Cluster = $cluster;
        for t in cluster.targets($name) {
            let label = t.label;
            let fut = $body(cluster, t);
            if tokio::time::timeout(std::time::Duration::from_secs(60), fut)
                .await
                .is_err()
            {
                panic!(
                    "{} on the {label}: no end within 60 s\n{}",
                    $name,
                    cluster.logs()
                );
            }
        }
    }};
}

/// Generates `process_<name>_standalone` and `process_<name>_ensemble`, each starting its
/// servers with `extra` in `zoo.cfg` and running `async fn body(&Cluster, Target)` for each
/// target.
#[macro_export]
macro_rules! both_topologies {
    ($standalone:ident, $ensemble:ident, $extra:expr, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $standalone() {
            let c = $crate::client_common::Cluster::start(
                $crate::client_common::Topology::Standalone,
                $extra,
            );
            $crate::per_target!(&c, stringify!($body), $body);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $ensemble() {
            let c = $crate::client_common::Cluster::start(
                $crate::client_common::Topology::Ensemble,
                $extra,
            );
            $crate::per_target!(&c, stringify!($body), $body);
        }
    };
}

// ------------------------------------------------------------------ zookeeper-client helpers

/// A session on `port` (4 s session timeout: the most 20 ticks of 200 ms allow).
pub async fn connect(port: u16) -> Client {
    connect_to(&format!("127.0.0.1:{port}"), Duration::from_secs(4)).await
}

/// A session on any of `hosts` asking for `timeout`.
pub async fn connect_to(hosts: &str, timeout: Duration) -> Client {
    let fut = Client::connector()
        .with_session_timeout(timeout)
        .connect(hosts);
    match tokio::time::timeout(SOON * 2, fut).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => panic!("connecting to {hosts}: {e}"),
        Err(_) => panic!("connecting to {hosts}: no session within {:?}", SOON * 2),
    }
}

/// Persistent, world:anyone ALL.
pub fn persistent() -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

/// `mode`, world:anyone ALL.
pub fn mode_all(mode: CreateMode) -> CreateOptions<'static> {
    mode.with_acls(Acls::anyone_all())
}

/// Creates `path` (persistent, open ACL, empty), tolerating that it exists.
pub async fn mkdir(c: &Client, path: &str) {
    match c.create(path, b"", &persistent()).await {
        Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
        Err(e) => panic!("create {path}: {e}"),
    }
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `within`.
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("{what}: not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `fut`, panicking with `what` after `within`.
pub async fn within<T>(within: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(within, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing within {within:?}"),
    }
}

/// The digest id of `user:password` (`user:base64(sha1(user:password))`).
pub fn digest_id(user_password: &str) -> String {
    use base64::Engine as _;
    let user = user_password.split(':').next().unwrap_or_default();
    let hash = sha1_smol::Sha1::from(user_password).digest().bytes();
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

// ------------------------------------------------------------------ raw jute connections

/// A frame a [`Raw`] connection received, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A watch notification.
    Event(WatcherEvent),
    /// The reply to the request with this xid.
    Reply {
        /// The request's xid.
        xid: i32,
        /// The reply header's zxid.
        zxid: i64,
        /// The error code.
        err: i32,
    },
}

/// What the server did with a connect request.
#[derive(Debug)]
pub enum Handshake {
    /// A session (new or resumed).
    Accepted(Raw),
    /// A connect response with session id 0 (expired or bad password), then the close.
    Refused(ConnectResponse),
    /// The connection closed with no connect response.
    Closed,
}

/// A connect request.
pub fn connect_request(
    timeout_ms: i32,
    session: i64,
    passwd: &[u8],
    last_zxid: i64,
) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: last_zxid,
        time_out: timeout_ms,
        session_id: session,
        passwd: Bytes::copy_from_slice(passwd),
        read_only: Some(false),
    }
}

/// One connection speaking jute directly: every received frame is kept in
/// [`Raw::frames`], so a test can check what came before what.
#[derive(Debug)]
pub struct Raw {
    stream: TcpStream,
    next_xid: i32,
    /// The session id.
    pub session: i64,
    /// The session password.
    pub passwd: Bytes,
    /// The negotiated session timeout (ms).
    pub timeout: i32,
    /// Every frame received so far, in order.
    pub frames: Vec<Frame>,
    /// Events received and not yet taken by [`Raw::next_event`].
    pending: std::collections::VecDeque<WatcherEvent>,
}

async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = usize::try_from(i32::from_be_bytes(len))
        .map_err(|_| std::io::Error::other("negative frame length"))?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Opens a connection to `port` and sends `req`. A connection reset or closed before the
/// connect response (even during the TCP handshake) is [`Handshake::Closed`]; a refused
/// one (nothing listening) panics.
pub async fn handshake(port: u16, req: &ConnectRequest) -> Handshake {
    let mut stream = match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            panic!("connecting to {port}: {e}")
        }
        Err(_) => return Handshake::Closed,
    };
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::new();
    encode_frame_with(&mut buf, |out| req.encode(out));
    if stream.write_all(&buf).await.is_err() {
        return Handshake::Closed;
    }
    let frame = match tokio::time::timeout(SOON, read_frame(&mut stream)).await {
        Err(_) => panic!("no connect response nor close from {port} within {SOON:?}"),
        Ok(Err(_)) => return Handshake::Closed,
        Ok(Ok(f)) => f,
    };
    let mut r = zk_jute::Reader::new(&frame);
    let resp = ConnectResponse::decode(&mut r).expect("a connect response");
    if resp.session_id == 0 {
        return Handshake::Refused(resp);
    }
    Handshake::Accepted(Raw {
        stream,
        next_xid: 1,
        session: resp.session_id,
        passwd: resp.passwd.clone(),
        timeout: resp.time_out,
        frames: Vec::new(),
        pending: Default::default(),
    })
}

impl Raw {
    /// A new session on `port` asking for `timeout_ms`.
    pub async fn connect(port: u16, timeout_ms: i32) -> Self {
        match handshake(port, &connect_request(timeout_ms, 0, &[0; 16], 0)).await {
            Handshake::Accepted(r) => r,
            other => panic!("a new session on {port}: {other:?}"),
        }
    }

    async fn read_one(&mut self, op_for: Option<(i32, OpCode)>) -> (ReplyHeader, Response) {
        let frame = read_frame(&mut self.stream)
            .await
            .expect("a frame from the server");
        let (h, body) = decode_response(&frame, |x| {
            op_for.and_then(|(want, op)| (want == x).then_some(op))
        })
        .expect("a decodable reply");
        if h.xid == xid::NOTIFICATION {
            let Response::Notification(ev) = &body else {
                panic!("notification without an event: {body:?}");
            };
            self.frames.push(Frame::Event(ev.clone()));
            self.pending.push_back(ev.clone());
        } else {
            self.frames.push(Frame::Reply {
                xid: h.xid,
                zxid: h.zxid,
                err: h.err,
            });
        }
        (h, body)
    }

    /// Sends `request` and waits (at most [`SOON`]) for its reply, keeping every event
    /// that arrives first; returns the reply header and body.
    pub async fn call(&mut self, request: &Request) -> (ReplyHeader, Response) {
        let x = request.special_xid().unwrap_or_else(|| {
            let x = self.next_xid;
            self.next_xid += 1;
            x
        });
        self.call_xid(x, request).await
    }

    /// As [`Raw::call`] with the xid `x` (ZooKeeper answers with the request's xid, whatever
    /// it is; clients other than Java's send `auth` and `setWatches` with ordinary xids).
    /// Panics if the reply that comes carries another xid.
    pub async fn call_xid(&mut self, x: i32, request: &Request) -> (ReplyHeader, Response) {
        let mut buf = BytesMut::new();
        encode_frame_with(&mut buf, |out| request.encode_with_xid(x, out));
        self.stream.write_all(&buf).await.expect("send a request");
        let op = request.op_code();
        let fut = async {
            loop {
                let (h, body) = self.read_one(Some((x, op))).await;
                if h.xid == x {
                    return (h, body);
                }
                assert_eq!(
                    h.xid,
                    xid::NOTIFICATION,
                    "the reply to {op:?} sent with xid {x} came with xid {}: {h:?}",
                    h.xid
                );
            }
        };
        within(SOON, &format!("the reply to {op:?}"), fut).await
    }

    /// Sends every request at once (pipelined), then reads until all are answered: each
    /// reply with its index in [`Raw::frames`].
    pub async fn pipeline(&mut self, requests: &[Request]) -> Vec<(usize, ReplyHeader, Response)> {
        let mut buf = BytesMut::new();
        let mut ops = std::collections::HashMap::new();
        for r in requests {
            let x = self.next_xid;
            self.next_xid += 1;
            ops.insert(x, r.op_code());
            encode_frame_with(&mut buf, |out| r.encode_with_xid(x, out));
        }
        self.stream.write_all(&buf).await.expect("send requests");
        let fut = async {
            let mut out = Vec::new();
            while out.len() < requests.len() {
                let frame = read_frame(&mut self.stream)
                    .await
                    .expect("a frame from the server");
                let (h, body) =
                    decode_response(&frame, |x| ops.get(&x).copied()).expect("a decodable reply");
                if h.xid == xid::NOTIFICATION {
                    let Response::Notification(ev) = &body else {
                        panic!("notification without an event: {body:?}");
                    };
                    self.frames.push(Frame::Event(ev.clone()));
                    self.pending.push_back(ev.clone());
                    continue;
                }
                assert!(ops.contains_key(&h.xid), "a reply to no request: {h:?}");
                self.frames.push(Frame::Reply {
                    xid: h.xid,
                    zxid: h.zxid,
                    err: h.err,
                });
                out.push((self.frames.len() - 1, h, body));
            }
            out
        };
        within(SOON, "the pipelined replies", fut).await
    }

    /// As [`Raw::call`], but `None` if the server closes the connection first.
    pub async fn try_call(&mut self, request: &Request) -> Option<(ReplyHeader, Response)> {
        let x = self.next_xid;
        self.next_xid += 1;
        let mut buf = BytesMut::new();
        encode_frame_with(&mut buf, |out| request.encode_with_xid(x, out));
        if self.stream.write_all(&buf).await.is_err() {
            return None;
        }
        let op = request.op_code();
        let fut = async {
            loop {
                let frame = read_frame(&mut self.stream).await.ok()?;
                let (h, body) = decode_response(&frame, |got| (got == x).then_some(op))
                    .expect("a decodable reply");
                if h.xid == x {
                    return Some((h, body));
                }
            }
        };
        within(SOON, &format!("the reply to {op:?} or a close"), fut).await
    }

    /// The next watch event, waiting up to `wait`; `None` if none came.
    pub async fn next_event(&mut self, wait: Duration) -> Option<WatcherEvent> {
        if let Some(ev) = self.pending.pop_front() {
            return Some(ev);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.read_one(None)).await {
                Err(_) => return None,
                Ok(_) => {
                    if let Some(ev) = self.pending.pop_front() {
                        return Some(ev);
                    }
                }
            }
        }
    }

    /// Drops the events received so far (they stay in [`Raw::frames`]).
    pub fn clear_events(&mut self) {
        self.pending.clear();
    }

    /// The events received so far and not taken.
    pub fn pending_events(&self) -> Vec<WatcherEvent> {
        self.pending.iter().cloned().collect()
    }

    /// `closeSession`, then the connection ends.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(SOON, self.call(&Request::CloseSession)).await;
    }

    /// Whether the server closed the connection (EOF or reset) within `wait`, skipping
    /// anything it sends first.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, read_frame(&mut self.stream)).await {
                Err(_) => return false,
                Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// A `(path, watch)` get-data request.
pub fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData(zk_jute::GetDataRequest {
        path: path.into(),
        watch,
    })
}

/// A world:anyone ALL ACL list.
pub fn open_acl() -> Vec<zk_jute::Acl> {
    vec![zk_jute::Acl {
        perms: zk_jute::perms::ALL,
        id: zk_jute::Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

// ------------------------------------------------------------------ a TCP proxy

/// A loopback TCP proxy whose upstream can be changed: a client that only knows the
/// proxy's port is moved to another server by [`Proxy::retarget`] + [`Proxy::cut`].
#[derive(Debug)]
pub struct Proxy {
    /// The port clients connect to.
    pub port: u16,
    target: Arc<Mutex<u16>>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `target` (a client port on 127.0.0.1).
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(Mutex::new(target));
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (t, cs) = (target.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let to = *t.lock().unwrap();
                let task = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(("127.0.0.1", to)).await {
                        let _ = up.set_nodelay(true);
                        let _ = down.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                cs.lock().unwrap().push(task);
            }
        });
        Self {
            port,
            target,
            conns,
            accept,
        }
    }

    /// New connections go to `target` from now on.
    pub fn retarget(&self, target: u16) {
        *self.target.lock().unwrap() = target;
    }

    /// Closes every connection made so far.
    pub fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
