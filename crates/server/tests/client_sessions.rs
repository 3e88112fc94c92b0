//! Sessions as ZooKeeper 3.8 keeps them: timeouts negotiated into [2, 20] ticks (or
//! `minSessionTimeout`/`maxSessionTimeout`); a client that dies without closing is expired
//! by the leader after its timeout, its ephemerals deleted; a session resumes on another
//! server with its id and password; a server behind the client's last zxid refuses it;
//! `maxClientCnxns`; clients of a `kill -9`ed leader reconnect and keep their sessions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client_common;

use client_common::{
    Cluster, Handshake, Raw, SOON, Target, Topology, connect, connect_request, connect_to,
    handshake, mkdir, mode_all, open_acl, persistent, wait_until, within,
};
use std::time::{Duration, Instant};
use zk_jute::Request;
use zookeeper_client::{Client, CreateMode, Error, EventType, SessionInfo, SessionState};

/// A `zookeeper-client` session living on its own runtime (in its own thread), that can be
/// killed: the runtime is dropped, so the socket closes with no `closeSession`.
struct Victim {
    session: SessionInfo,
    timeout: Duration,
    kill: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Victim {
    /// Connects to `hosts` asking for `timeout` and creates the ephemeral `path`.
    async fn start(hosts: String, timeout: Duration, path: String) -> Self {
        let (info_tx, info_rx) = std::sync::mpsc::channel();
        let (kill, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let client = rt.block_on(async {
                let c = connect_to(&hosts, timeout).await;
                c.create(&path, b"", &mode_all(CreateMode::Ephemeral))
                    .await
                    .unwrap();
                c
            });
            info_tx
                .send((client.session().clone(), client.session_timeout()))
                .unwrap();
            let _ = kill_rx.recv();
            rt.shutdown_background();
            drop(client);
        });
        let (session, timeout) = tokio::task::spawn_blocking(move || info_rx.recv())
            .await
            .unwrap()
            .expect("the victim's session");
        Self {
            session,
            timeout,
            kill,
            thread,
        }
    }

    fn kill(self) {
        self.kill.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

fn timeout_of(h: Handshake) -> i32 {
    match h {
        Handshake::Accepted(r) => r.timeout,
        other => panic!("expected a session: {other:?}"),
    }
}

// ------------------------------------------------------------------ timeout negotiation

both_topologies!(
    process_session_timeout_negotiation_standalone,
    process_session_timeout_negotiation_ensemble,
    "",
    timeout_negotiation
);

/// With a 200 ms tick, asked timeouts are clamped into [400, 4000] ms.
async fn timeout_negotiation(_c: &Cluster, t: Target) {
    for (asked, given) in [
        (1, 400),
        (100, 400),
        (400, 400),
        (1000, 1000),
        (2345, 2345),
        (4000, 4000),
        (60_000, 4000),
    ] {
        let h = handshake(t.port, &connect_request(asked, 0, &[0; 16], 0)).await;
        assert_eq!(timeout_of(h), given, "{}: asked {asked} ms", t.label);
    }
    let zk = connect_to(&format!("127.0.0.1:{}", t.port), Duration::from_secs(60)).await;
    assert_eq!(zk.session_timeout(), Duration::from_secs(4), "{}", t.label);
}

both_topologies!(
    process_session_timeout_bounds_from_config_standalone,
    process_session_timeout_bounds_from_config_ensemble,
    "minSessionTimeout=1000\nmaxSessionTimeout=3000\n",
    timeout_bounds_from_config
);

/// `minSessionTimeout`/`maxSessionTimeout` replace the 2- and 20-tick bounds.
async fn timeout_bounds_from_config(_c: &Cluster, t: Target) {
    for (asked, given) in [
        (100, 1000),
        (1000, 1000),
        (2000, 2000),
        (3000, 3000),
        (60_000, 3000),
    ] {
        let h = handshake(t.port, &connect_request(asked, 0, &[0; 16], 0)).await;
        assert_eq!(timeout_of(h), given, "{}: asked {asked} ms", t.label);
    }
}

// ------------------------------------------------------------------ expiry

both_topologies!(
    process_killed_client_expires_standalone,
    process_killed_client_expires_ensemble,
    "",
    killed_client_expires
);

/// A client killed without closing: its session expires after the timeout (not before),
/// its ephemeral goes (a NodeDeleted for a watcher on another server), and the session can
/// no longer be resumed.
async fn killed_client_expires(c: &Cluster, t: Target) {
    let observer = connect(t.other).await;
    mkdir(&observer, &t.root).await;
    let eph = format!("{}/victim", t.root);
    let victim = Victim::start(
        format!("127.0.0.1:{}", t.port),
        Duration::from_millis(1000),
        eph.clone(),
    )
    .await;
    let (session, timeout) = (victim.session.clone(), victim.timeout);
    assert_eq!(timeout, Duration::from_millis(1000));
    observer.sync(&t.root).await.unwrap();
    let (st, w) = observer.check_and_watch_stat(&eph).await.unwrap();
    assert_eq!(
        st.map(|s| s.ephemeral_owner),
        Some(session.id().0),
        "{}",
        t.label
    );

    let killed = Instant::now();
    tokio::task::spawn_blocking(move || victim.kill())
        .await
        .unwrap();
    let e = within(
        timeout * 3 + SOON,
        "the victim's session expiry",
        w.changed(),
    )
    .await;
    let after = killed.elapsed();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, eph.as_str()),
        "{}",
        t.label
    );
    assert!(
        after >= timeout / 2,
        "{}: expired {after:?} after the kill, timeout {timeout:?}",
        t.label
    );
    assert!(
        after <= timeout * 2 + Duration::from_secs(2),
        "{}: expired only {after:?} after the kill, timeout {timeout:?}\n{}",
        t.label,
        c.logs()
    );
    assert_eq!(observer.check_stat(&eph).await.unwrap(), None);

    for port in [t.port, t.other] {
        let resumed = Client::connector()
            .with_session(session.clone())
            .with_fail_eagerly()
            .connect(&format!("127.0.0.1:{port}"))
            .await;
        assert_eq!(
            resumed.err(),
            Some(Error::SessionExpired),
            "{}: resuming the expired session on {port}",
            t.label
        );
    }
}

// ------------------------------------------------------------------ resume elsewhere

both_topologies!(
    process_session_resumes_on_another_server_standalone,
    process_session_resumes_on_another_server_ensemble,
    "",
    session_resumes_elsewhere
);

/// A session whose connection dropped resumes on another server with its id and password
/// and keeps its ephemerals past its timeout; a wrong password is refused (session id 0,
/// timeout 0); closing the resumed session deletes every ephemeral.
async fn session_resumes_elsewhere(_c: &Cluster, t: Target) {
    let label = t.label;
    let observer = connect(t.other).await;
    mkdir(&observer, &t.root).await;
    let eph = format!("{}/e", t.root);
    let eph2 = format!("{}/e2", t.root);

    let a = Client::connector()
        .with_detached()
        .with_session_timeout(Duration::from_millis(1000))
        .connect(&format!("127.0.0.1:{}", t.port))
        .await
        .unwrap();
    a.create(&eph, b"", &mode_all(CreateMode::Ephemeral))
        .await
        .unwrap();
    let info = a.session().clone();
    drop(a);

    let b = Client::connector()
        .with_session(info.clone())
        .with_session_timeout(Duration::from_millis(1000))
        .connect(&format!("127.0.0.1:{}", t.other))
        .await
        .unwrap_or_else(|e| panic!("{label}: resuming on another server: {e}"));
    assert_eq!(b.session_id(), info.id(), "{label}");
    let (_, st) = b.get_data(&eph).await.unwrap();
    assert_eq!(st.ephemeral_owner, info.id().0, "{label}");
    // Kept alive by the new connection well past its timeout.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    observer.sync(&t.root).await.unwrap();
    assert!(
        observer.check_stat(&eph).await.unwrap().is_some(),
        "{label}: the resumed session lost its ephemeral"
    );
    b.create(&eph2, b"", &mode_all(CreateMode::Ephemeral))
        .await
        .unwrap();

    // Raw: the right password resumes, a wrong one is refused.
    let r = Raw::connect(t.port, 2000).await;
    let (id, passwd) = (r.session, r.passwd.clone());
    drop(r);
    let mut bad = passwd.to_vec();
    bad[0] ^= 0xff;
    match handshake(t.other, &connect_request(2000, id, &bad, 0)).await {
        Handshake::Refused(resp) => {
            assert_eq!((resp.session_id, resp.time_out), (0, 0), "{label}");
        }
        other => panic!("{label}: a wrong password: {other:?}"),
    }
    match handshake(t.other, &connect_request(2000, id, &passwd, 0)).await {
        Handshake::Accepted(r) => {
            assert_eq!((r.session, r.timeout), (id, 2000), "{label}");
            r.close().await;
        }
        other => panic!("{label}: the right password: {other:?}"),
    }

    drop(b);
    wait_until(SOON, "the closed session's ephemerals go", || async {
        observer.sync(&t.root).await.unwrap();
        observer.check_stat(&eph).await.unwrap().is_none()
            && observer.check_stat(&eph2).await.unwrap().is_none()
    })
    .await;
}

both_topologies!(
    process_session_moved_standalone,
    process_session_moved_ensemble,
    "",
    session_moved
);

/// A session resumed on a new connection while the old one is still open: on the same
/// server the old connection is closed at once; on another server the old connection's
/// next write is refused (ZooKeeper 3.8 closes that connection; SessionMoved, -118, would
/// do too). Either way the old connection changes nothing.
async fn session_moved(_c: &Cluster, t: Target) {
    let label = t.label;
    let mut old = Raw::connect(t.port, 4000).await;
    let (h, _) = old
        .call(&Request::Create(zk_jute::CreateRequest {
            path: t.root.clone(),
            data: None,
            acl: open_acl(),
            flags: 0,
        }))
        .await;
    assert_eq!(h.err, 0);
    let mut new =
        match handshake(t.other, &connect_request(4000, old.session, &old.passwd, 0)).await {
            Handshake::Accepted(r) => r,
            h => panic!("{label}: resuming: {h:?}"),
        };
    assert_eq!(new.session, old.session);
    if t.port == t.other {
        assert!(
            old.closed_within(SOON).await,
            "{label}: the old connection of a resumed session stays open"
        );
    } else {
        let write = Request::SetData(zk_jute::SetDataRequest {
            path: t.root.clone(),
            data: Some(bytes::Bytes::from_static(b"old")),
            version: -1,
        });
        // ZooKeeper 3.8 closes the connection; an answer may only be SessionMoved.
        if let Some((h, _)) = old.try_call(&write).await {
            assert_eq!(
                h.err, -118,
                "{label}: a write from the moved-away connection"
            );
        }
    }
    let (h, body) = new.call(&client_common::get_data(&t.root, false)).await;
    assert_eq!(h.err, 0);
    let zk_jute::Response::GetData(d) = body else {
        panic!("{body:?}")
    };
    assert_eq!(d.stat.version, 0, "{label}: the old connection wrote");
    new.close().await;
}

// ------------------------------------------------------------------ lastZxidSeen

both_topologies!(
    process_client_ahead_is_refused_standalone,
    process_client_ahead_is_refused_ensemble,
    "",
    client_ahead_is_refused
);

/// A server whose last zxid is below the client's `lastZxidSeen` closes the connection
/// without a session (the client must try another server); at or below, it accepts.
async fn client_ahead_is_refused(_c: &Cluster, t: Target) {
    let label = t.label;
    let mut raw = Raw::connect(t.port, 4000).await;
    let (h, _) = raw
        .call(&Request::Create(zk_jute::CreateRequest {
            path: t.root.clone(),
            data: None,
            acl: open_acl(),
            flags: 0,
        }))
        .await;
    assert_eq!(h.err, 0, "{label}");
    let zxid = h.zxid;
    let other = connect(t.other).await;
    other.sync(&t.root).await.unwrap();
    for port in [t.port, t.other] {
        assert!(
            matches!(
                handshake(port, &connect_request(4000, 0, &[0; 16], zxid + 1000)).await,
                Handshake::Closed
            ),
            "{label}: a client ahead of server {port} must be turned away"
        );
        // Resuming an existing session from ahead is refused the same way...
        assert!(
            matches!(
                handshake(
                    port,
                    &connect_request(4000, raw.session, &raw.passwd, zxid + 1000)
                )
                .await,
                Handshake::Closed
            ),
            "{label}: resuming from ahead on {port}"
        );
        // ...and at the server's zxid it is fine.
        match handshake(port, &connect_request(4000, 0, &[0; 16], zxid)).await {
            Handshake::Accepted(r) => r.close().await,
            other => panic!("{label}: lastZxidSeen {zxid:#x} on {port}: {other:?}"),
        }
    }
    // The refused resumption left the session alone.
    let (h, _) = raw.call(&client_common::get_data(&t.root, false)).await;
    assert_eq!(h.err, 0, "{label}");
    raw.close().await;
}

// ------------------------------------------------------------------ maxClientCnxns

both_topologies!(
    process_max_client_cnxns_standalone,
    process_max_client_cnxns_ensemble,
    "maxClientCnxns=3\n",
    max_client_cnxns
);

/// `maxClientCnxns=3`: a fourth connection from the same address is closed at once; once
/// one closes, a new one is accepted.
async fn max_client_cnxns(_c: &Cluster, t: Target) {
    let label = t.label;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Raw::connect(t.port, 4000).await);
    }
    assert!(
        matches!(
            handshake(t.port, &connect_request(4000, 0, &[0; 16], 0)).await,
            Handshake::Closed
        ),
        "{label}: a fourth connection from 127.0.0.1"
    );
    held.pop().unwrap().close().await;
    let deadline = Instant::now() + SOON;
    loop {
        match handshake(t.port, &connect_request(4000, 0, &[0; 16], 0)).await {
            Handshake::Accepted(r) => {
                held.push(r);
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "{label}: no room after a close: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in held {
        r.close().await;
    }
}

// ------------------------------------------------------------------ leader crash

/// `kill -9` of the leader: a client connected to it (through a proxy that then points at
/// a follower) and a client of a follower reconnect and keep their sessions, ephemerals
/// and watches; a session that was left without a client is expired by the new leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn process_leader_kill9_clients_keep_sessions() {
    let mut c = Cluster::start(Topology::Ensemble, "maxSessionTimeout=10000\n");
    let old_leader = c.leader;
    let followers = c.followers();
    let (f1, f2) = (followers[0], followers[1]);
    let proxy = client_common::Proxy::start(c.port(old_leader)).await;

    let on_leader = connect_to(&format!("127.0.0.1:{}", proxy.port), Duration::from_secs(8)).await;
    assert_eq!(on_leader.session_timeout(), Duration::from_secs(8));
    let on_follower =
        connect_to(&format!("127.0.0.1:{}", c.port(f1)), Duration::from_secs(8)).await;
    let k = "/k";
    mkdir(&on_leader, k).await;
    let eph = mode_all(CreateMode::Ephemeral);
    on_leader.create("/k/leader-eph", b"", &eph).await.unwrap();
    on_leader
        .create("/k/data", b"0", &persistent())
        .await
        .unwrap();
    on_follower
        .create("/k/follower-eph", b"", &eph)
        .await
        .unwrap();
    let (_, _, watch) = on_leader.get_and_watch_data("/k/data").await.unwrap();
    // A session left without a client when the leader dies.
    let orphan = Victim::start(
        format!("127.0.0.1:{}", c.port(old_leader)),
        Duration::from_millis(2000),
        "/k/orphan".to_string(),
    )
    .await;
    let (sid_leader, sid_follower) = (on_leader.session_id(), on_follower.session_id());
    let mut states = on_leader.state_watcher();

    proxy.retarget(c.port(f2));
    tokio::task::spawn_blocking(move || orphan.kill())
        .await
        .unwrap();
    c.ens.kill9(old_leader);
    proxy.cut();
    let new_leader = tokio::task::block_in_place(|| {
        c.ens
            .wait_for_single_leader(&[f1, f2], client_common::ELECT)
            .expect("a new leader")
    });
    c.leader = new_leader;

    // Disconnected, then connected again (the two may coalesce into the latter).
    within(SOON * 2, "the leader's client reconnects", async {
        loop {
            match states.changed().await {
                SessionState::SyncConnected => break,
                SessionState::Disconnected => {}
                other => panic!("the leader's client: {other:?}\n{}", c.logs()),
            }
        }
    })
    .await;
    assert_eq!(on_leader.session_id(), sid_leader);
    assert_eq!(on_follower.session_id(), sid_follower);

    // Both sessions still own their ephemerals and can write.
    let owner = |path: &'static str, client: &Client| {
        let client = client.clone();
        async move {
            within(SOON * 2, path, async {
                loop {
                    match client.get_data(path).await {
                        Ok((_, st)) => return st.ephemeral_owner,
                        Err(Error::ConnectionLoss) => {
                            tokio::time::sleep(Duration::from_millis(100)).await
                        }
                        Err(e) => panic!("{path}: {e}"),
                    }
                }
            })
            .await
        }
    };
    assert_eq!(owner("/k/leader-eph", &on_leader).await, sid_leader.0);
    assert_eq!(owner("/k/follower-eph", &on_follower).await, sid_follower.0);
    on_leader.create("/k/after", b"", &eph).await.unwrap();

    // The data watch set through the dead leader was re-registered on reconnection.
    on_follower.set_data("/k/data", b"1", None).await.unwrap();
    let e = within(SOON, "the re-registered data watch", watch.changed()).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/k/data")
    );

    // The orphan's session expires under the new leader; the others' ephemerals stay.
    wait_until(
        Duration::from_secs(20),
        "the orphan's ephemeral expires",
        || async { on_follower.check_stat("/k/orphan").await.unwrap().is_none() },
    )
    .await;
    for path in ["/k/leader-eph", "/k/follower-eph", "/k/after"] {
        assert!(
            on_follower.check_stat(path).await.unwrap().is_some(),
            "{path} lost\n{}",
            c.logs()
        );
    }
}
