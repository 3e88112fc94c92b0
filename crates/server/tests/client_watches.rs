//! Watches as ZooKeeper 3.8 delivers them: one-shot data, exist and child watches fire once
//! with the right type and path; persistent and persistent-recursive watches (`addWatch`)
//! keep firing; `checkWatches`/`removeWatches`; an event always precedes the reply of a
//! later read that shows the change; a watch set on a follower fires for a write made
//! through the leader. Each test runs standalone and on a 3-node ensemble (leader and
//! follower), with `zookeeper-client` and, where that client would hide the wire, raw jute.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client_common;

use bytes::Bytes;
use client_common::{
    Cluster, Frame, Raw, SOON, Target, Topology, connect, get_data, mkdir, persistent, within,
};
use std::time::Duration;
use zk_jute::{Request, Response, WatcherEvent};
use zookeeper_client::{AddWatchMode, Client, EventType, WatchedEvent};

const CREATED: i32 = 1;
const DELETED: i32 = 2;
const DATA: i32 = 3;
const CHILDREN: i32 = 4;
/// `KeeperState.SyncConnected`.
const SYNC_CONNECTED: i32 = 3;

fn ev(event_type: i32, path: &str) -> WatcherEvent {
    WatcherEvent {
        event_type,
        state: SYNC_CONNECTED,
        path: path.to_string(),
    }
}

fn kind(e: &WatchedEvent) -> (EventType, &str) {
    (e.event_type, e.path.as_str())
}

/// Every event `raw` will get for writes acknowledged so far anywhere: a `sync` makes its
/// server apply them, and their events precede the sync's reply.
async fn drain(raw: &mut Raw, path: &str) -> Vec<WatcherEvent> {
    let (h, _) = raw
        .call(&Request::Sync(zk_jute::SyncRequest { path: path.into() }))
        .await;
    assert_eq!(h.err, 0);
    let mut out = Vec::new();
    while let Some(e) = raw.next_event(Duration::ZERO).await {
        out.push(e);
    }
    out
}

async fn call_err(raw: &mut Raw, req: Request) -> i32 {
    raw.call(&req).await.0.err
}

fn check_watches(path: &str, watcher_type: i32) -> Request {
    Request::CheckWatches(zk_jute::CheckWatchesRequest {
        path: path.into(),
        watcher_type,
    })
}

fn remove_watches(path: &str, watcher_type: i32) -> Request {
    Request::RemoveWatches(zk_jute::RemoveWatchesRequest {
        path: path.into(),
        watcher_type,
    })
}

/// `ZooDefs.AddWatchModes`: 0 persistent, 1 persistent-recursive.
fn add_watch(path: &str, mode: i32) -> Request {
    Request::AddWatch(zk_jute::AddWatchRequest {
        path: path.into(),
        mode,
    })
}

async fn writer_and_root(t: &Target) -> Client {
    let writer = connect(t.other).await;
    mkdir(&writer, &t.root).await;
    writer
}

// ------------------------------------------------------------------ one-shot watches

both_topologies!(
    process_oneshot_watches_standalone,
    process_oneshot_watches_ensemble,
    "",
    oneshot_watches
);

/// Data, exist and child watches through `zookeeper-client`, the writes made by a client of
/// another server: each fires with its event type and path.
async fn oneshot_watches(_c: &Cluster, t: Target) {
    let writer = writer_and_root(&t).await;
    let zk = connect(t.port).await;
    let root = t.root.as_str();
    let d = format!("{root}/d");
    writer.create(&d, b"0", &persistent()).await.unwrap();
    zk.sync(root).await.unwrap();
    let label = t.label;

    let (_, _, w) = zk.get_and_watch_data(&d).await.unwrap();
    writer.set_data(&d, b"1", None).await.unwrap();
    let e = within(SOON, "data watch on setData", w.changed()).await;
    assert_eq!(
        kind(&e),
        (EventType::NodeDataChanged, d.as_str()),
        "{label}"
    );

    let (_, _, w) = zk.get_and_watch_data(&d).await.unwrap();
    let (_, w_exists) = zk.check_and_watch_stat(&d).await.unwrap();
    writer.delete(&d, None).await.unwrap();
    let e = within(SOON, "data watch on delete", w.changed()).await;
    assert_eq!(kind(&e), (EventType::NodeDeleted, d.as_str()), "{label}");
    let e = within(SOON, "exist watch on delete", w_exists.changed()).await;
    assert_eq!(kind(&e), (EventType::NodeDeleted, d.as_str()), "{label}");

    let (st, w) = zk.check_and_watch_stat(&d).await.unwrap();
    assert!(st.is_none());
    writer.create(&d, b"", &persistent()).await.unwrap();
    let e = within(SOON, "exist watch on create", w.changed()).await;
    assert_eq!(kind(&e), (EventType::NodeCreated, d.as_str()), "{label}");

    let (st, w) = zk.check_and_watch_stat(&d).await.unwrap();
    assert!(st.is_some());
    writer.set_data(&d, b"2", None).await.unwrap();
    let e = within(SOON, "exist watch on setData", w.changed()).await;
    assert_eq!(
        kind(&e),
        (EventType::NodeDataChanged, d.as_str()),
        "{label}"
    );

    let (_, w) = zk.list_and_watch_children(&d).await.unwrap();
    writer
        .create(&format!("{d}/c"), b"", &persistent())
        .await
        .unwrap();
    let e = within(SOON, "child watch on create", w.changed()).await;
    assert_eq!(
        kind(&e),
        (EventType::NodeChildrenChanged, d.as_str()),
        "{label}"
    );

    let (_, _, w) = zk.get_and_watch_children(&d).await.unwrap();
    writer.delete(&format!("{d}/c"), None).await.unwrap();
    let e = within(SOON, "child watch on a child's delete", w.changed()).await;
    assert_eq!(
        kind(&e),
        (EventType::NodeChildrenChanged, d.as_str()),
        "{label}"
    );

    let (_, w) = zk.list_and_watch_children(&d).await.unwrap();
    writer.delete(&d, None).await.unwrap();
    let e = within(SOON, "child watch on the node's delete", w.changed()).await;
    assert_eq!(kind(&e), (EventType::NodeDeleted, d.as_str()), "{label}");
}

both_topologies!(
    process_watches_fire_once_standalone,
    process_watches_fire_once_ensemble,
    "",
    watches_fire_once
);

/// On the wire: a one-shot watch fires once however many changes follow; a data and an
/// exist watch on one path make one event; a child watch ignores data changes; getData on a
/// missing node leaves no watch while exists does.
async fn watches_fire_once(_c: &Cluster, t: Target) {
    let writer = writer_and_root(&t).await;
    let root = t.root.as_str();
    let o = format!("{root}/o");
    writer.create(&o, b"", &persistent()).await.unwrap();
    let mut raw = Raw::connect(t.port, 4000).await;
    drain(&mut raw, root).await;
    let label = t.label;

    assert_eq!(raw.call(&get_data(&o, true)).await.0.err, 0);
    let exists = |path: &str| {
        Request::Exists(zk_jute::ExistsRequest {
            path: path.into(),
            watch: true,
        })
    };
    assert_eq!(raw.call(&exists(&o)).await.0.err, 0);
    let children = Request::GetChildren(zk_jute::GetChildrenRequest {
        path: root.into(),
        watch: true,
    });
    assert_eq!(raw.call(&children).await.0.err, 0);
    let missing = format!("{root}/m1");
    let missing2 = format!("{root}/m2");
    assert_eq!(raw.call(&get_data(&missing, true)).await.0.err, -101);
    assert_eq!(raw.call(&exists(&missing2)).await.0.err, -101);

    writer.set_data(root, b"root data", None).await.unwrap();
    writer.set_data(&o, b"1", None).await.unwrap();
    writer.set_data(&o, b"2", None).await.unwrap();
    writer.create(&missing, b"", &persistent()).await.unwrap();
    writer.create(&missing2, b"", &persistent()).await.unwrap();
    writer.delete(&o, None).await.unwrap();

    let events = drain(&mut raw, root).await;
    assert_eq!(
        events,
        vec![ev(DATA, &o), ev(CHILDREN, root), ev(CREATED, &missing2)],
        "{label}: one event per watch, in zxid order"
    );
    raw.close().await;
}

both_topologies!(
    process_multi_triggers_watches_standalone,
    process_multi_triggers_watches_ensemble,
    "",
    multi_triggers_watches
);

/// A committed multi fires the watches of every op; a failed one fires none.
async fn multi_triggers_watches(_c: &Cluster, t: Target) {
    let writer = writer_and_root(&t).await;
    let root = t.root.as_str();
    let label = t.label;
    let (a, b, c) = (
        format!("{root}/a"),
        format!("{root}/b"),
        format!("{root}/c"),
    );
    for path in [&a, &b] {
        writer.create(path, b"", &persistent()).await.unwrap();
    }
    let mut raw = Raw::connect(t.port, 4000).await;
    drain(&mut raw, root).await;
    for path in [&a, &b] {
        assert_eq!(raw.call(&get_data(path, true)).await.0.err, 0);
    }
    let children = Request::GetChildren(zk_jute::GetChildrenRequest {
        path: root.into(),
        watch: true,
    });
    assert_eq!(raw.call(&children).await.0.err, 0);

    let mut w = writer.new_multi_writer();
    w.add_set_data(&a, b"1", None).unwrap();
    w.add_create(&c, b"", &persistent()).unwrap();
    w.add_set_data(&b, b"1", Some(7)).unwrap();
    assert!(w.commit().await.is_err(), "{label}: BadVersion");
    assert_eq!(
        drain(&mut raw, root).await,
        vec![],
        "{label}: a failed multi"
    );

    let mut w = writer.new_multi_writer();
    w.add_set_data(&a, b"1", None).unwrap();
    w.add_create(&c, b"", &persistent()).unwrap();
    w.add_delete(&b, None).unwrap();
    w.commit().await.unwrap();
    assert_eq!(
        drain(&mut raw, root).await,
        vec![ev(DATA, &a), ev(CHILDREN, root), ev(DELETED, &b)],
        "{label}: a committed multi, in op order"
    );
    raw.close().await;
}

// ------------------------------------------------------------------ persistent watches

both_topologies!(
    process_persistent_watches_standalone,
    process_persistent_watches_ensemble,
    "",
    persistent_watches
);

/// `addWatch` persistent (node data, children, create and delete, over and over) and
/// persistent-recursive (create, data and delete of the node and every descendant; no
/// child events), on the wire.
async fn persistent_watches(_c: &Cluster, t: Target) {
    let writer = writer_and_root(&t).await;
    let root = t.root.as_str();
    let label = t.label;
    let pw = format!("{root}/pw");
    let pr = format!("{root}/pr");
    writer.create(&pw, b"", &persistent()).await.unwrap();
    let mut raw = Raw::connect(t.port, 4000).await;
    drain(&mut raw, root).await;
    let (h, body) = raw.call(&add_watch(&pw, 0)).await;
    assert_eq!(h.err, 0, "{label}");
    assert!(
        matches!(body, Response::Error(zk_jute::ErrorResponse { err: 0 })),
        "{label}: addWatch answers ErrorResponse(0): {body:?}"
    );
    assert_eq!(raw.call(&add_watch(&pr, 1)).await.0.err, 0);

    let child = format!("{pw}/c");
    writer.set_data(&pw, b"1", None).await.unwrap();
    writer.set_data(&pw, b"2", None).await.unwrap();
    writer.create(&child, b"", &persistent()).await.unwrap();
    writer.set_data(&child, b"x", None).await.unwrap();
    writer.delete(&child, None).await.unwrap();
    writer.delete(&pw, None).await.unwrap();
    writer.create(&pw, b"", &persistent()).await.unwrap();
    writer.set_data(&pw, b"3", None).await.unwrap();
    assert_eq!(
        drain(&mut raw, root).await,
        vec![
            ev(DATA, &pw),
            ev(DATA, &pw),
            ev(CHILDREN, &pw),
            ev(CHILDREN, &pw),
            ev(DELETED, &pw),
            ev(CREATED, &pw),
            ev(DATA, &pw),
        ],
        "{label}: persistent watch"
    );

    let (a, b) = (format!("{pr}/a"), format!("{pr}/a/b"));
    writer.create(&pr, b"", &persistent()).await.unwrap();
    writer.create(&a, b"", &persistent()).await.unwrap();
    writer.create(&b, b"", &persistent()).await.unwrap();
    writer.set_data(&b, b"1", None).await.unwrap();
    writer.delete(&b, None).await.unwrap();
    writer.set_data(&pr, b"1", None).await.unwrap();
    writer
        .create(&format!("{root}/pr-sibling"), b"", &persistent())
        .await
        .unwrap();
    writer.set_data(&a, b"2", None).await.unwrap();
    assert_eq!(
        drain(&mut raw, root).await,
        vec![
            ev(CREATED, &pr),
            ev(CREATED, &a),
            ev(CREATED, &b),
            ev(DATA, &b),
            ev(DELETED, &b),
            ev(DATA, &pr),
            ev(DATA, &a),
        ],
        "{label}: persistent-recursive watch"
    );
    raw.close().await;

    // The same through zookeeper-client.
    let zk = connect(t.port).await;
    let mut w = zk
        .watch(&pr, AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    for i in 0..3 {
        writer
            .set_data(&a, i.to_string().as_bytes(), None)
            .await
            .unwrap();
        let e = within(SOON, "recursive watch", w.changed()).await;
        assert_eq!(
            kind(&e),
            (EventType::NodeDataChanged, a.as_str()),
            "{label}"
        );
    }
}

// ------------------------------------------------------------------ check/remove watches

both_topologies!(
    process_check_and_remove_watches_standalone,
    process_check_and_remove_watches_ensemble,
    "",
    check_and_remove_watches
);

/// `checkWatches` and `removeWatches` by type (1 children, 2 data, 3 any): OK while the
/// watch is there, NoWatcher (-121) once removed or fired; a removed watch never fires.
async fn check_and_remove_watches(_c: &Cluster, t: Target) {
    let writer = writer_and_root(&t).await;
    let root = t.root.as_str();
    let label = t.label;
    let rw = format!("{root}/rw");
    writer.create(&rw, b"", &persistent()).await.unwrap();
    let mut raw = Raw::connect(t.port, 4000).await;
    drain(&mut raw, root).await;

    assert_eq!(raw.call(&get_data(&rw, true)).await.0.err, 0);
    let children = Request::GetChildren(zk_jute::GetChildrenRequest {
        path: rw.clone(),
        watch: true,
    });
    assert_eq!(raw.call(&children).await.0.err, 0);
    for ty in [1, 2, 3] {
        assert_eq!(
            call_err(&mut raw, check_watches(&rw, ty)).await,
            0,
            "{label}: type {ty}"
        );
    }
    assert_eq!(
        call_err(&mut raw, remove_watches(&rw, 2)).await,
        0,
        "{label}"
    );
    assert_eq!(
        call_err(&mut raw, check_watches(&rw, 2)).await,
        -121,
        "{label}"
    );
    assert_eq!(
        call_err(&mut raw, check_watches(&rw, 1)).await,
        0,
        "{label}"
    );
    assert_eq!(
        call_err(&mut raw, remove_watches(&rw, 2)).await,
        -121,
        "{label}"
    );

    writer.set_data(&rw, b"1", None).await.unwrap();
    writer
        .create(&format!("{rw}/c"), b"", &persistent())
        .await
        .unwrap();
    assert_eq!(
        drain(&mut raw, root).await,
        vec![ev(CHILDREN, &rw)],
        "{label}: the removed data watch stays silent"
    );
    assert_eq!(
        call_err(&mut raw, check_watches(&rw, 1)).await,
        -121,
        "{label}: fired"
    );
    assert_eq!(
        call_err(&mut raw, remove_watches(&rw, 3)).await,
        -121,
        "{label}"
    );

    let none = format!("{root}/none");
    assert_eq!(call_err(&mut raw, check_watches(&none, 3)).await, -121);
    assert_eq!(call_err(&mut raw, remove_watches(&none, 3)).await, -121);

    // An exist watch on a missing node is a data watch; removing it silences it.
    let x = format!("{root}/x");
    let exists = Request::Exists(zk_jute::ExistsRequest {
        path: x.clone(),
        watch: true,
    });
    assert_eq!(raw.call(&exists).await.0.err, -101);
    assert_eq!(call_err(&mut raw, check_watches(&x, 2)).await, 0, "{label}");
    assert_eq!(
        call_err(&mut raw, check_watches(&x, 1)).await,
        -121,
        "{label}"
    );
    assert_eq!(
        call_err(&mut raw, remove_watches(&x, 3)).await,
        0,
        "{label}"
    );
    writer.create(&x, b"", &persistent()).await.unwrap();
    assert_eq!(drain(&mut raw, root).await, vec![], "{label}");
    raw.close().await;
}

// ------------------------------------------------------------------ setWatches

both_topologies!(
    process_set_watches_standalone,
    process_set_watches_ensemble,
    "",
    set_watches
);

/// `setWatches` on a resumed session (what clients send after reconnecting): a watched
/// node changed, created or whose children changed after `relativeZxid` fires at once;
/// the others are re-armed and fire on the next change. The reply echoes the request's xid.
async fn set_watches(_c: &Cluster, t: Target) {
    let writer = writer_and_root(&t).await;
    let root = t.root.as_str();
    let label = t.label;
    let (n, quiet, p, created, missing, gone) = (
        format!("{root}/n"),
        format!("{root}/quiet"),
        format!("{root}/p"),
        format!("{root}/created"),
        format!("{root}/missing"),
        format!("{root}/gone"),
    );
    for path in [&n, &quiet, &p, &gone] {
        writer.create(path, b"", &persistent()).await.unwrap();
    }
    let mut a = Raw::connect(t.port, 4000).await;
    let (h, _) = a
        .call(&Request::Sync(zk_jute::SyncRequest { path: root.into() }))
        .await;
    let seen = h.zxid;
    let (id, passwd) = (a.session, a.passwd.clone());
    drop(a);

    writer.set_data(&n, b"1", None).await.unwrap();
    writer.create(&created, b"", &persistent()).await.unwrap();
    writer
        .create(&format!("{p}/c"), b"", &persistent())
        .await
        .unwrap();
    writer.delete(&gone, None).await.unwrap();
    writer.sync(root).await.unwrap();
    let other = connect(t.port).await;
    other.sync(root).await.unwrap();

    let mut b = match client_common::handshake(
        t.port,
        &client_common::connect_request(4000, id, &passwd, seen),
    )
    .await
    {
        client_common::Handshake::Accepted(b) => b,
        h => panic!("{label}: resuming the session: {h:?}"),
    };
    let sw = Request::SetWatches(zk_jute::SetWatches {
        relative_zxid: seen,
        data_watches: vec![n.clone(), quiet.clone(), gone.clone()],
        exist_watches: vec![created.clone(), missing.clone()],
        child_watches: vec![p.clone()],
    });
    let (h, _) = b.call_xid(-8, &sw).await;
    assert_eq!(h.err, 0, "{label}");
    let mut got = drain(&mut b, root).await;
    got.sort_by(|x, y| (&x.path, x.event_type).cmp(&(&y.path, y.event_type)));
    let mut want = vec![
        ev(DATA, &n),
        ev(CHILDREN, &p),
        ev(CREATED, &created),
        ev(DELETED, &gone),
    ];
    want.sort_by(|x, y| (&x.path, x.event_type).cmp(&(&y.path, y.event_type)));
    assert_eq!(
        got, want,
        "{label}: watches on what changed since {seen:#x}"
    );

    writer.set_data(&quiet, b"1", None).await.unwrap();
    writer.create(&missing, b"", &persistent()).await.unwrap();
    writer.set_data(&n, b"2", None).await.unwrap();
    assert_eq!(
        drain(&mut b, root).await,
        vec![ev(DATA, &quiet), ev(CREATED, &missing)],
        "{label}: the re-armed watches, and none left on what already fired"
    );

    let empty = Request::SetWatches(zk_jute::SetWatches {
        relative_zxid: seen,
        data_watches: vec![],
        exist_watches: vec![],
        child_watches: vec![],
    });
    let (h, _) = b.call_xid(12, &empty).await;
    assert_eq!((h.xid, h.err), (12, 0), "{label}");
    b.close().await;
}

// ------------------------------------------------------------------ ordering

both_topologies!(
    process_event_precedes_later_read_standalone,
    process_event_precedes_later_read_ensemble,
    "",
    event_precedes_later_read
);

/// A client that reads a change it watched has always received the watch event before
/// that read's reply (ZooKeeper's ordering guarantee), on the wire and through the client.
/// Many rounds, as a violation is a race.
async fn event_precedes_later_read(_c: &Cluster, t: Target) {
    const ROUNDS: u32 = 60;
    let writer = writer_and_root(&t).await;
    let root = t.root.as_str();
    let label = t.label;
    let n = format!("{root}/n");
    writer.create(&n, b"0", &persistent()).await.unwrap();
    let mut raw = Raw::connect(t.port, 4000).await;
    drain(&mut raw, root).await;

    for round in 1..=ROUNDS {
        let (_, body) = raw.call(&get_data(&n, true)).await;
        let Response::GetData(d) = body else {
            panic!("{body:?}")
        };
        assert_eq!(d.data, Some(Bytes::from((round - 1).to_string())));
        let new = round.to_string().into_bytes();
        // The write goes out now; pipelined reads race with its commit here.
        let write = writer.set_data(&n, &new, None);
        let reads: Vec<Request> = (0..20).map(|_| get_data(&n, false)).collect();
        let deadline = std::time::Instant::now() + SOON;
        let first_new = loop {
            let replies = raw.pipeline(&reads).await;
            let hit = replies.into_iter().find_map(|(i, _, body)| match body {
                Response::GetData(d) if d.data.as_deref() == Some(new.as_slice()) => Some(i),
                _ => None,
            });
            if let Some(i) = hit {
                break i;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{label}: the change never showed"
            );
        };
        assert!(
            raw.frames[..first_new].contains(&Frame::Event(ev(DATA, &n))),
            "{label}: round {round}: the reply showing the change came before its event: {:?}",
            &raw.frames[first_new.saturating_sub(3)..]
        );
        write.await.unwrap();
        assert_eq!(raw.next_event(Duration::ZERO).await, Some(ev(DATA, &n)));
        assert_eq!(
            raw.next_event(Duration::ZERO).await,
            None,
            "{label}: one event"
        );
        raw.frames.clear();
    }
    raw.close().await;

    let zk = connect(t.port).await;
    let (_, _, w) = zk.get_and_watch_data(&n).await.unwrap();
    writer.set_data(&n, b"client", None).await.unwrap();
    let deadline = std::time::Instant::now() + SOON;
    while zk.get_data(&n).await.unwrap().0 != b"client" {
        assert!(
            std::time::Instant::now() < deadline,
            "{label}: never showed"
        );
    }
    let e = tokio::time::timeout(Duration::ZERO, w.changed())
        .await
        .unwrap_or_else(|_| panic!("{label}: read the change before its event"));
    assert_eq!(kind(&e), (EventType::NodeDataChanged, n.as_str()));
}

both_topologies!(
    process_event_precedes_sync_reply_standalone,
    process_event_precedes_sync_reply_ensemble,
    "",
    event_precedes_sync_reply
);

/// The events of every write acknowledged before a `sync` was sent reach the client before
/// the sync's reply (the sync's server applied those writes, and their events go out as
/// they are applied). Many rounds, as a violation is a race.
async fn event_precedes_sync_reply(_c: &Cluster, t: Target) {
    const ROUNDS: u32 = 60;
    let writer = writer_and_root(&t).await;
    let root = t.root.as_str();
    let label = t.label;
    let n = format!("{root}/n");
    writer.create(&n, b"", &persistent()).await.unwrap();
    let mut raw = Raw::connect(t.port, 4000).await;
    drain(&mut raw, root).await;
    let sync = Request::Sync(zk_jute::SyncRequest { path: n.clone() });
    for round in 1..=ROUNDS {
        assert_eq!(raw.call(&get_data(&n, true)).await.0.err, 0);
        raw.frames.clear();
        writer
            .set_data(&n, round.to_string().as_bytes(), None)
            .await
            .unwrap();
        let replies = raw.pipeline(std::slice::from_ref(&sync)).await;
        let (at, h, _) = &replies[0];
        assert_eq!(h.err, 0);
        assert!(
            raw.frames[..*at].contains(&Frame::Event(ev(DATA, &n))),
            "{label}: round {round}: the sync reply came before the event of a write acknowledged before the sync: {:?}",
            raw.frames
        );
        assert_eq!(raw.next_event(Duration::ZERO).await, Some(ev(DATA, &n)));
    }
    raw.close().await;
}

// ------------------------------------------------------------------ followers

/// Watches set on both followers fire for writes another client makes through the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn process_follower_watches_fire_for_leader_writes() {
    let c = Cluster::start(Topology::Ensemble, "");
    let writer = connect(c.port(c.leader)).await;
    let root = "/fw";
    let n = "/fw/n";
    let new = "/fw/new";
    mkdir(&writer, root).await;
    writer.create(n, b"", &persistent()).await.unwrap();
    let mut watchers = Vec::new();
    for f in c.followers() {
        let zk = connect(c.port(f)).await;
        zk.sync(root).await.unwrap();
        let (_, _, wd) = zk.get_and_watch_data(n).await.unwrap();
        let (st, we) = zk.check_and_watch_stat(new).await.unwrap();
        assert!(st.is_none());
        let (_, wc) = zk.list_and_watch_children(root).await.unwrap();
        watchers.push((f, zk, wd, we, wc));
    }
    writer.set_data(n, b"1", None).await.unwrap();
    writer.create(new, b"", &persistent()).await.unwrap();
    for (f, _zk, wd, we, wc) in watchers {
        let what = format!("follower {f}");
        let e = within(SOON, &what, wd.changed()).await;
        assert_eq!(kind(&e), (EventType::NodeDataChanged, n), "{what}");
        let e = within(SOON, &what, we.changed()).await;
        assert_eq!(kind(&e), (EventType::NodeCreated, new), "{what}");
        let e = within(SOON, &what, wc.changed()).await;
        assert_eq!(kind(&e), (EventType::NodeChildrenChanged, root), "{what}");
    }
}
