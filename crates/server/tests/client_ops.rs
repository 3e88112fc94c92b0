//! Every client operation through `zookeeper-client` (and raw jute where that client hides
//! the wire), each test once against a standalone server and once against a 3-node ensemble,
//! there both through the leader and through a follower. The expected answers are Apache
//! ZooKeeper 3.8's (check them with `ZKRS_CLIENT_TESTS_REFERENCE=1`, see `client_common`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client_common;

use bytes::Bytes;
use client_common::{
    Cluster, EXTENDED, Raw, SOON, Target, connect, digest_id, mkdir, mode_all, open_acl,
    persistent, wait_until, within,
};
use std::time::Duration;
use zk_jute::{MultiOp, MultiRequest, MultiResult, Request, Response};
use zookeeper_client::{
    Acl, Acls, AuthId, AuthUser, CreateMode, Error, MultiReadResult, MultiWriteError,
    MultiWriteResult, Permission,
};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn auth_packet(scheme: &str, auth: &'static [u8]) -> Request {
    Request::Auth(zk_jute::AuthPacket {
        auth_type: 0,
        scheme: scheme.into(),
        auth: Bytes::from_static(auth),
    })
}

/// `addAuth`, failing fast if no answer comes.
async fn auth(zk: &zookeeper_client::Client, scheme: &str, data: &[u8]) {
    within(SOON, &format!("addAuth {scheme}"), zk.auth(scheme, data))
        .await
        .unwrap_or_else(|e| panic!("addAuth {scheme}: {e}"));
}

async fn raw_err(raw: &mut Raw, req: Request) -> i32 {
    raw.call(&req).await.0.err
}

fn raw_create(path: &str, acl: Vec<zk_jute::Acl>) -> Request {
    Request::Create2(zk_jute::CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"s")),
        acl,
        flags: 0,
    })
}

fn jute_acl(perms: i32, scheme: &str, id: &str) -> zk_jute::Acl {
    zk_jute::Acl {
        perms,
        id: zk_jute::Id {
            scheme: scheme.into(),
            id: id.into(),
        },
    }
}

// ------------------------------------------------------------------ create

both_topologies!(
    process_create_modes_standalone,
    process_create_modes_ensemble,
    EXTENDED,
    create_modes
);

/// Persistent, ephemeral, sequential (numbered from the parent's cversion, which deletes
/// advance too), ephemeral-sequential, container (reaped once emptied) and TTL (reaped once
/// expired and childless) nodes.
async fn create_modes(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let root = t.root.as_str();
    mkdir(&zk, root).await;

    let p = format!("{root}/p");
    let (stat, seq) = zk.create(&p, b"data", &persistent()).await.unwrap();
    assert_eq!(seq.into_i64(), -1);
    assert_eq!(stat.ephemeral_owner, 0, "{}: persistent owner", t.label);
    assert_eq!(zk.get_data(&p).await.unwrap().0, b"data");
    assert_eq!(
        zk.create(&p, b"", &persistent()).await.unwrap_err(),
        Error::NodeExists
    );
    assert_eq!(
        zk.create(&format!("{root}/missing/child"), b"", &persistent())
            .await
            .unwrap_err(),
        Error::NoNode
    );

    let e = format!("{root}/e");
    let (stat, _) = zk
        .create(&e, b"", &mode_all(CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!(stat.ephemeral_owner, zk.session_id().0, "{}", t.label);
    assert_eq!(
        zk.create(&format!("{e}/child"), b"", &persistent())
            .await
            .unwrap_err(),
        Error::NoChildrenForEphemerals
    );

    // Sequential: the suffix counts the children ever created under the parent (ZooKeeper
    // keeps that count and reports cversion as `2 * creates - numChildren`, so deletes
    // advance the reported cversion but not the numbering).
    let s = format!("{root}/seq");
    mkdir(&zk, &s).await;
    let seq_opts = mode_all(CreateMode::PersistentSequential);
    let cversion = async || zk.get_children(&s).await.unwrap().1.cversion;
    let (_, n0) = zk.create(&format!("{s}/a-"), b"", &seq_opts).await.unwrap();
    assert_eq!(n0.into_i64(), 0);
    zk.create(&format!("{s}/x"), b"", &persistent())
        .await
        .unwrap();
    assert_eq!(cversion().await, 2);
    zk.delete(&format!("{s}/x"), None).await.unwrap();
    assert_eq!(
        cversion().await,
        3,
        "{}: a child delete advances cversion",
        t.label
    );
    let (_, n1) = zk.create(&format!("{s}/a-"), b"", &seq_opts).await.unwrap();
    assert_eq!(
        n1.into_i64(),
        2,
        "{}: numbered by the creates so far, not by cversion",
        t.label
    );
    let (st, n2) = zk
        .create(
            &format!("{s}/e-"),
            b"",
            &mode_all(CreateMode::EphemeralSequential),
        )
        .await
        .unwrap();
    assert_eq!(n2.into_i64(), 3);
    assert_eq!(st.ephemeral_owner, zk.session_id().0);
    zk.delete(&format!("{s}/a-0000000000"), None).await.unwrap();
    let (_, n3) = zk.create(&format!("{s}/b-"), b"", &seq_opts).await.unwrap();
    assert_eq!(n3.into_i64(), 4);
    let (children, pstat) = zk.get_children(&s).await.unwrap();
    assert_eq!(
        sorted(children),
        ["a-0000000002", "b-0000000004", "e-0000000003"],
        "{}: ten-digit suffixes",
        t.label
    );
    assert_eq!((pstat.cversion, pstat.num_children), (7, 3), "{}", t.label);

    // Container: reaped by the leader once its last child is gone.
    let ct = format!("{root}/container");
    let (stat, _) = zk
        .create(&ct, b"", &mode_all(CreateMode::Container))
        .await
        .unwrap();
    // ZooKeeper keeps a marker owner for containers and TTL nodes but reports 0.
    assert_eq!(stat.ephemeral_owner, 0, "{}: container", t.label);
    zk.create(&format!("{ct}/child"), b"", &persistent())
        .await
        .unwrap();
    zk.delete(&format!("{ct}/child"), None).await.unwrap();
    wait_until(SOON, "the emptied container is reaped", || async {
        zk.check_stat(&ct).await.unwrap().is_none()
    })
    .await;

    // TTL: reaped once childless and untouched for its TTL; one with a child stays.
    let ttl = format!("{root}/ttl");
    let kept = format!("{root}/ttl-with-child");
    let opts = persistent().with_ttl(Duration::from_millis(300));
    let (stat, _) = zk.create(&ttl, b"", &opts).await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0, "{}: TTL node", t.label);
    zk.create(&kept, b"", &opts).await.unwrap();
    zk.create(&format!("{kept}/c"), b"", &persistent())
        .await
        .unwrap();
    let (_, ttl_seq) = zk
        .create(
            &format!("{root}/ttl-seq-"),
            b"",
            &mode_all(CreateMode::PersistentSequential).with_ttl(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    let ttl_seq = format!("{root}/ttl-seq-{ttl_seq}");
    let unused = format!("{root}/unused-container");
    zk.create(&unused, b"", &mode_all(CreateMode::Container))
        .await
        .unwrap();
    wait_until(SOON, "the expired TTL nodes are reaped", || async {
        zk.check_stat(&ttl).await.unwrap().is_none()
            && zk.check_stat(&ttl_seq).await.unwrap().is_none()
    })
    .await;
    assert!(
        zk.check_stat(&unused).await.unwrap().is_some(),
        "{}: a container that never had a child is kept",
        t.label
    );
    assert!(
        zk.check_stat(&kept).await.unwrap().is_some(),
        "{}: a TTL node with children is never reaped",
        t.label
    );
}

both_topologies!(
    process_ttl_disabled_standalone,
    process_ttl_disabled_ensemble,
    "",
    ttl_disabled
);

/// Without `zookeeper.extendedTypesEnabled`, TTL creates are `Unimplemented`.
async fn ttl_disabled(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    mkdir(&zk, &t.root).await;
    let path = format!("{}/ttl", t.root);
    let opts = persistent().with_ttl(Duration::from_secs(10));
    assert_eq!(
        zk.create(&path, b"", &opts).await.unwrap_err(),
        Error::Unimplemented,
        "{}",
        t.label
    );
    assert_eq!(zk.check_stat(&path).await.unwrap(), None);
}

both_topologies!(
    process_create2_stat_standalone,
    process_create2_stat_ensemble,
    "",
    create2_stat
);

/// The stat `create2` returns, and what the create does to the parent's stat.
async fn create2_stat(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let root = t.root.as_str();
    mkdir(&zk, root).await;
    let (_, before) = zk.get_children(root).await.unwrap();

    let n = format!("{root}/n");
    let (st, _) = zk.create(&n, b"hello", &persistent()).await.unwrap();
    let label = t.label;
    assert_eq!(st.czxid, st.mzxid, "{label}: {st:?}");
    assert_eq!(st.czxid, st.pzxid, "{label}: {st:?}");
    assert!(st.czxid > before.pzxid, "{label}: {st:?} {before:?}");
    assert_eq!(
        (st.version, st.cversion, st.aversion),
        (0, 0, 0),
        "{label}: {st:?}"
    );
    assert_eq!((st.data_length, st.num_children), (5, 0), "{label}: {st:?}");
    assert_eq!(st.ephemeral_owner, 0);
    assert_eq!(st.ctime, st.mtime, "{label}: {st:?}");
    assert!(
        (now_ms() - st.ctime).abs() < 60_000,
        "{label}: ctime {st:?}"
    );
    let (data, got) = zk.get_data(&n).await.unwrap();
    assert_eq!(data, b"hello");
    assert_eq!(got, st, "{label}: getData's stat is create2's");
    assert_eq!(zk.check_stat(&n).await.unwrap(), Some(st));

    let (_, parent) = zk.get_children(root).await.unwrap();
    assert_eq!(parent.pzxid, st.czxid, "{label}: parent pzxid");
    assert_eq!(parent.cversion, before.cversion + 1);
    assert_eq!(parent.num_children, before.num_children + 1);
    assert_eq!(
        parent.mzxid, before.mzxid,
        "{label}: a child create is no data change"
    );
    assert_eq!(parent.version, before.version);

    let e = format!("{root}/e");
    let (est, _) = zk
        .create(&e, b"", &mode_all(CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!(est.ephemeral_owner, zk.session_id().0, "{label}: {est:?}");
    assert_eq!(est.data_length, 0);
    assert!(est.czxid > st.czxid);
    assert_eq!(
        (est.czxid, est.mzxid, est.pzxid),
        (est.czxid, est.czxid, est.czxid)
    );
}

both_topologies!(
    process_bad_arguments_standalone,
    process_bad_arguments_ensemble,
    EXTENDED,
    bad_arguments
);

/// On the wire (the client library refuses these itself): malformed paths and TTL misuse
/// are BadArguments (-8), and nothing is created.
async fn bad_arguments(_c: &Cluster, t: Target) {
    let label = t.label;
    let mut raw = Raw::connect(t.port, 4000).await;
    assert_eq!(raw_err(&mut raw, raw_create(&t.root, open_acl())).await, 0);
    // (Only names whose parent exists: ZooKeeper looks the parent up first, so
    // `/root//x` is NoNode.)
    for path in [
        "relative".to_string(),
        format!("{}/", t.root),
        format!("{}/.", t.root),
        format!("{}/..", t.root),
        String::new(),
    ] {
        assert_eq!(
            raw_err(&mut raw, raw_create(&path, open_acl())).await,
            -8,
            "{label}: create {path:?}"
        );
    }
    let ttl = |flags: i32, ttl: i64, path: String| {
        Request::CreateTtl(zk_jute::CreateTtlRequest {
            path,
            data: None,
            acl: open_acl(),
            flags,
            ttl,
        })
    };
    let p = format!("{}/t", t.root);
    for (flags, ttl_ms, what) in [
        (1, 1000, "an ephemeral with a TTL"),
        (0, 1000, "a plain persistent mode with a TTL"),
        (5, 0, "a zero TTL"),
        (5, -5, "a negative TTL"),
        (5, 0x0100_0000_0000, "a TTL above 2^40 - 1 ms"),
    ] {
        assert_eq!(
            raw_err(&mut raw, ttl(flags, ttl_ms, p.clone())).await,
            -8,
            "{label}: {what}"
        );
    }
    let plain_with_ttl_mode = Request::Create2(zk_jute::CreateRequest {
        path: p.clone(),
        data: None,
        acl: open_acl(),
        flags: 5,
    });
    assert_eq!(
        raw_err(&mut raw, plain_with_ttl_mode).await,
        -8,
        "{label}: a TTL mode through create2 (no TTL)"
    );
    assert_eq!(
        raw_err(&mut raw, ttl(5, 60_000, p.clone())).await,
        0,
        "{label}"
    );
    let (_, body) = raw
        .call(&Request::GetChildren(zk_jute::GetChildrenRequest {
            path: t.root.clone(),
            watch: false,
        }))
        .await;
    let Response::GetChildren(kids) = body else {
        panic!("{label}: {body:?}")
    };
    assert_eq!(kids.children, ["t"], "{label}: only the valid create");
    raw.close().await;
}

// ------------------------------------------------------------------ delete, data

both_topologies!(
    process_delete_versions_standalone,
    process_delete_versions_ensemble,
    "",
    delete_versions
);

/// `delete` with versions: BadVersion (checked before NotEmpty), NotEmpty, NoNode.
async fn delete_versions(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let root = t.root.as_str();
    mkdir(&zk, root).await;
    let n = format!("{root}/n");
    zk.create(&n, b"", &persistent()).await.unwrap();
    zk.set_data(&n, b"1", None).await.unwrap();
    assert_eq!(zk.delete(&n, Some(0)).await.unwrap_err(), Error::BadVersion);
    assert_eq!(zk.delete(&n, Some(7)).await.unwrap_err(), Error::BadVersion);
    let child = format!("{n}/c");
    zk.create(&child, b"", &persistent()).await.unwrap();
    assert_eq!(zk.delete(&n, Some(1)).await.unwrap_err(), Error::NotEmpty);
    assert_eq!(zk.delete(&n, None).await.unwrap_err(), Error::NotEmpty);
    assert_eq!(
        zk.delete(&n, Some(0)).await.unwrap_err(),
        Error::BadVersion,
        "{}: the version is checked before the children",
        t.label
    );
    zk.delete(&child, None).await.unwrap();
    zk.delete(&n, Some(1)).await.unwrap();
    assert_eq!(zk.check_stat(&n).await.unwrap(), None);
    assert_eq!(zk.delete(&n, None).await.unwrap_err(), Error::NoNode);
    assert_eq!(zk.delete(&n, Some(1)).await.unwrap_err(), Error::NoNode);
    assert_eq!(
        zk.delete(&format!("{root}/no/such"), None)
            .await
            .unwrap_err(),
        Error::NoNode
    );
}

both_topologies!(
    process_data_ops_standalone,
    process_data_ops_ensemble,
    "",
    data_ops
);

/// `exists`, `getData`, `setData`: versions, mzxid, mtime, dataLength.
async fn data_ops(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let root = t.root.as_str();
    mkdir(&zk, root).await;
    let n = format!("{root}/n");
    let label = t.label;
    assert_eq!(zk.check_stat(&n).await.unwrap(), None);
    assert_eq!(zk.get_data(&n).await.unwrap_err(), Error::NoNode);
    assert_eq!(
        zk.set_data(&n, b"x", None).await.unwrap_err(),
        Error::NoNode
    );

    let (s0, _) = zk.create(&n, b"v0", &persistent()).await.unwrap();
    let s1 = zk.set_data(&n, b"v1!", None).await.unwrap();
    assert_eq!(s1.version, 1, "{label}: {s1:?}");
    assert!(s1.mzxid > s0.mzxid, "{label}: {s1:?}");
    assert_eq!(s1.czxid, s0.czxid);
    assert_eq!(s1.pzxid, s0.pzxid, "{label}: setData leaves pzxid");
    assert_eq!(s1.ctime, s0.ctime);
    assert!(s1.mtime >= s1.ctime, "{label}: {s1:?}");
    assert_eq!(s1.data_length, 3);

    assert_eq!(
        zk.set_data(&n, b"no", Some(0)).await.unwrap_err(),
        Error::BadVersion
    );
    assert_eq!(zk.get_data(&n).await.unwrap(), (b"v1!".to_vec(), s1));
    let s2 = zk.set_data(&n, b"", Some(1)).await.unwrap();
    assert_eq!((s2.version, s2.data_length), (2, 0), "{label}: {s2:?}");
    assert!(s2.mzxid > s1.mzxid);
    assert_eq!(zk.get_data(&n).await.unwrap(), (Vec::new(), s2));
    assert_eq!(zk.check_stat(&n).await.unwrap(), Some(s2));

    // A large value, byte for byte.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let s3 = zk.set_data(&n, &big, Some(2)).await.unwrap();
    assert_eq!(s3.data_length, big.len() as i32);
    assert_eq!(zk.get_data(&n).await.unwrap().0, big);
}

// ------------------------------------------------------------------ ACLs

both_topologies!(
    process_acl_ops_standalone,
    process_acl_ops_ensemble,
    "",
    acl_ops
);

/// `getACL`/`setACL`: aversion, BadVersion, InvalidACL (empty, malformed, unknown scheme,
/// `auth` with no authenticated id), NoAuth.
async fn acl_ops(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let root = t.root.as_str();
    mkdir(&zk, root).await;
    let label = t.label;
    let n = format!("{root}/n");
    let (created, _) = zk.create(&n, b"", &persistent()).await.unwrap();
    let (acl, st) = zk.get_acl(&n).await.unwrap();
    assert_eq!(acl, vec![Acl::new(Permission::ALL, AuthId::anyone())]);
    assert_eq!(st.aversion, 0);
    assert_eq!(st, created);

    let rw = [Acl::new(
        Permission::READ | Permission::WRITE | Permission::ADMIN,
        AuthId::anyone(),
    )];
    let st1 = zk.set_acl(&n, &rw, Some(0)).await.unwrap();
    assert_eq!(st1.aversion, 1, "{label}: {st1:?}");
    assert_eq!(st1.version, 0, "{label}: setACL is no data change");
    assert_eq!(st1.mzxid, created.mzxid, "{label}: setACL leaves mzxid");
    assert_eq!(zk.get_acl(&n).await.unwrap(), (rw.to_vec(), st1));
    assert_eq!(
        zk.set_acl(&n, &rw, Some(0)).await.unwrap_err(),
        Error::BadVersion
    );
    assert_eq!(
        zk.set_acl(&n, &[], None).await.unwrap_err(),
        Error::InvalidAcl,
        "{label}: empty ACL"
    );
    let bad_digest = [Acl::new(Permission::ALL, AuthId::new("digest", "nocolon"))];
    assert_eq!(
        zk.set_acl(&n, &bad_digest, None).await.unwrap_err(),
        Error::InvalidAcl,
        "{label}: digest id without a colon"
    );
    let unknown = [Acl::new(Permission::ALL, AuthId::new("nosuch", "x"))];
    assert_eq!(
        zk.set_acl(&n, &unknown, None).await.unwrap_err(),
        Error::InvalidAcl,
        "{label}: unknown scheme"
    );
    assert_eq!(
        zk.create(
            &format!("{root}/creator"),
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all())
        )
        .await
        .unwrap_err(),
        Error::InvalidAcl,
        "{label}: auth scheme without an authenticated id"
    );
    assert_eq!(
        zk.create(
            &format!("{root}/empty-acl"),
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&bad_digest))
        )
        .await
        .unwrap_err(),
        Error::InvalidAcl
    );
    assert_eq!(zk.get_acl(&n).await.unwrap().1.aversion, 1, "unchanged");
    assert_eq!(
        zk.set_acl(&format!("{root}/none"), &rw, None)
            .await
            .unwrap_err(),
        Error::NoNode
    );
    assert_eq!(
        zk.get_acl(&format!("{root}/none")).await.unwrap_err(),
        Error::NoNode
    );

    // Without CREATE nobody may add a child; without ADMIN nobody may change the ACL.
    assert_eq!(
        zk.create(&format!("{n}/c"), b"", &persistent())
            .await
            .unwrap_err(),
        Error::NoAuth
    );
    zk.set_data(&n, b"w", None).await.unwrap();
    let read_only = [Acl::new(Permission::READ, AuthId::anyone())];
    zk.set_acl(&n, &read_only, None).await.unwrap();
    assert_eq!(
        zk.set_acl(&n, &rw, None).await.unwrap_err(),
        Error::NoAuth,
        "{label}: setACL needs ADMIN"
    );
    // Neither READ nor ADMIN: getACL is refused too.
    let w = format!("{root}/write-only");
    let write_only = [Acl::new(Permission::WRITE, AuthId::anyone())];
    zk.create(
        &w,
        b"",
        &CreateMode::Persistent.with_acls(Acls::new(&write_only)),
    )
    .await
    .unwrap();
    assert_eq!(zk.get_acl(&w).await.unwrap_err(), Error::NoAuth, "{label}");
    assert_eq!(zk.get_data(&w).await.unwrap_err(), Error::NoAuth);
    zk.set_data(&w, b"ok", None).await.unwrap();
    assert!(
        zk.check_stat(&w).await.unwrap().is_some(),
        "exists needs no permission"
    );
}

both_topologies!(
    process_digest_auth_standalone,
    process_digest_auth_ensemble,
    EXTENDED,
    digest_auth
);

/// `addAuth digest`, digest ACLs, the `auth` scheme, the super user, and an unknown scheme.
async fn digest_auth(_c: &Cluster, t: Target) {
    let label = t.label;
    // ZooKeeper answers `auth` with the request's xid (only the Java client uses -4).
    let mut raw = Raw::connect(t.port, 4000).await;
    for x in [-4, 7] {
        let (h, _) = raw
            .call_xid(x, &auth_packet("digest", b"alice:secret"))
            .await;
        assert_eq!((h.xid, h.err), (x, 0), "{label}: auth sent with xid {x}");
    }
    raw.close().await;

    let alice = connect(t.port).await;
    auth(&alice, "digest", b"alice:secret").await;
    mkdir(&alice, &t.root).await;
    let secret = format!("{}/secret", t.root);
    let only_alice = [Acl::new(
        Permission::ALL,
        AuthId::new("digest", &digest_id("alice:secret")),
    )];
    alice
        .create(
            &secret,
            b"s",
            &CreateMode::Persistent.with_acls(Acls::new(&only_alice)),
        )
        .await
        .unwrap();
    assert_eq!(alice.get_data(&secret).await.unwrap().0, b"s");

    let anon = connect(t.other).await;
    anon.sync(&secret).await.unwrap();
    assert_eq!(
        anon.get_data(&secret).await.unwrap_err(),
        Error::NoAuth,
        "{label}"
    );
    assert_eq!(
        anon.set_data(&secret, b"x", None).await.unwrap_err(),
        Error::NoAuth
    );
    assert_eq!(
        anon.list_children(&secret).await.unwrap_err(),
        Error::NoAuth
    );
    assert_eq!(anon.get_acl(&secret).await.unwrap_err(), Error::NoAuth);
    assert_eq!(
        anon.create(&format!("{secret}/c"), b"", &persistent())
            .await
            .unwrap_err(),
        Error::NoAuth
    );
    assert!(anon.check_stat(&secret).await.unwrap().is_some());

    let bob = connect(t.other).await;
    auth(&bob, "digest", b"bob:pw").await;
    assert_eq!(bob.get_data(&secret).await.unwrap_err(), Error::NoAuth);
    let wrong = connect(t.other).await;
    auth(&wrong, "digest", b"alice:wrong").await;
    assert_eq!(wrong.get_data(&secret).await.unwrap_err(), Error::NoAuth);

    let alice2 = connect(t.other).await;
    auth(&alice2, "digest", b"alice:secret").await;
    assert_eq!(alice2.get_data(&secret).await.unwrap().0, b"s");
    alice2.set_data(&secret, b"s2", None).await.unwrap();

    // The `auth` scheme stands for the creator's authenticated ids.
    let mine = format!("{}/mine", t.root);
    alice
        .create(
            &mine,
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    let (acl, _) = alice.get_acl(&mine).await.unwrap();
    assert_eq!(acl, only_alice.to_vec(), "{label}: auth expands to digest");
    bob.sync(&mine).await.unwrap();
    assert_eq!(bob.get_data(&mine).await.unwrap_err(), Error::NoAuth);

    // The super user passes every ACL check; a wrong super password passes none.
    let root_user = connect(t.other).await;
    auth(&root_user, "digest", b"super:test").await;
    assert_eq!(root_user.get_data(&secret).await.unwrap().0, b"s2");
    root_user.set_data(&secret, b"s3", None).await.unwrap();
    let (_, st) = root_user.get_acl(&secret).await.unwrap();
    root_user
        .set_acl(&secret, &only_alice, Some(st.aversion))
        .await
        .unwrap();
    let not_root = connect(t.other).await;
    auth(&not_root, "digest", b"super:nope").await;
    assert_eq!(not_root.get_data(&secret).await.unwrap_err(), Error::NoAuth);

    // An unknown scheme fails the auth and ends the session.
    let odd = connect(t.port).await;
    assert_eq!(
        within(
            SOON,
            "auth with an unknown scheme",
            odd.auth("nosuch", b"x")
        )
        .await
        .unwrap_err(),
        Error::AuthFailed,
        "{label}"
    );
    assert!(odd.get_data("/").await.is_err());
}

both_topologies!(
    process_digest_auth_wire_standalone,
    process_digest_auth_wire_ensemble,
    EXTENDED,
    digest_auth_wire
);

/// The digest checks of `digest_auth` on the wire, with `auth` sent as the Java, C and
/// Python clients send it (xid -4): error codes NoAuth (-102), InvalidACL (-114),
/// AuthFailed (-115, then the connection closes).
async fn digest_auth_wire(_c: &Cluster, t: Target) {
    let label = t.label;
    let root = t.root.as_str();
    let alice_id = digest_id("alice:secret");
    let all = zk_jute::perms::ALL;
    let secret = format!("{root}/secret");
    let mine = format!("{root}/mine");

    let mut alice = Raw::connect(t.port, 4000).await;
    assert_eq!(raw_err(&mut alice, raw_create(root, open_acl())).await, 0);
    assert_eq!(
        raw_err(
            &mut alice,
            raw_create(&mine, vec![jute_acl(all, "auth", "")])
        )
        .await,
        -114,
        "{label}: the auth scheme with no authenticated id"
    );
    assert_eq!(
        raw_err(&mut alice, auth_packet("digest", b"alice:secret")).await,
        0
    );
    let only_alice = vec![jute_acl(all, "digest", &alice_id)];
    assert_eq!(
        raw_err(&mut alice, raw_create(&secret, only_alice.clone())).await,
        0
    );
    assert_eq!(
        raw_err(&mut alice, client_common::get_data(&secret, false)).await,
        0
    );
    assert_eq!(
        raw_err(
            &mut alice,
            raw_create(&mine, vec![jute_acl(all, "auth", "")])
        )
        .await,
        0
    );
    let (h, body) = alice
        .call(&Request::GetAcl(zk_jute::GetAclRequest {
            path: mine.clone(),
        }))
        .await;
    assert_eq!(h.err, 0);
    let Response::GetAcl(acl) = body else {
        panic!("{label}: {body:?}")
    };
    assert_eq!(
        acl.acl, only_alice,
        "{label}: auth expands to the digest id"
    );

    let mut anon = Raw::connect(t.other, 4000).await;
    let sync = Request::Sync(zk_jute::SyncRequest { path: root.into() });
    assert_eq!(raw_err(&mut anon, sync).await, 0);
    let guarded = |path: &str| {
        vec![
            client_common::get_data(path, false),
            Request::GetChildren(zk_jute::GetChildrenRequest {
                path: path.into(),
                watch: false,
            }),
            Request::GetAcl(zk_jute::GetAclRequest { path: path.into() }),
            Request::SetData(zk_jute::SetDataRequest {
                path: path.into(),
                data: None,
                version: -1,
            }),
            raw_create(&format!("{path}/c"), open_acl()),
        ]
    };
    for req in guarded(&secret) {
        assert_eq!(
            raw_err(&mut anon, req.clone()).await,
            -102,
            "{label}: {req:?}"
        );
    }
    let exists = Request::Exists(zk_jute::ExistsRequest {
        path: secret.clone(),
        watch: false,
    });
    assert_eq!(
        raw_err(&mut anon, exists).await,
        0,
        "{label}: exists needs no permission"
    );
    assert_eq!(
        raw_err(&mut anon, auth_packet("digest", b"bob:pw")).await,
        0
    );
    assert_eq!(
        raw_err(&mut anon, client_common::get_data(&secret, false)).await,
        -102
    );
    assert_eq!(
        raw_err(&mut anon, auth_packet("digest", b"super:nope")).await,
        0
    );
    assert_eq!(
        raw_err(&mut anon, client_common::get_data(&mine, false)).await,
        -102
    );
    assert_eq!(
        raw_err(&mut anon, auth_packet("digest", b"alice:secret")).await,
        0
    );
    assert_eq!(
        raw_err(&mut anon, client_common::get_data(&secret, false)).await,
        0,
        "{label}: alice's password from another connection"
    );
    anon.close().await;

    let mut root_user = Raw::connect(t.other, 4000).await;
    assert_eq!(
        raw_err(&mut root_user, auth_packet("digest", b"super:test")).await,
        0
    );
    for req in guarded(&secret) {
        assert_eq!(
            raw_err(&mut root_user, req.clone()).await,
            0,
            "{label}: super {req:?}"
        );
    }
    root_user.close().await;

    let mut odd = Raw::connect(t.port, 4000).await;
    let (h, _) = odd.call(&auth_packet("nosuch", b"x")).await;
    assert_eq!(h.err, -115, "{label}: unknown scheme");
    assert!(
        odd.closed_within(SOON).await,
        "{label}: the connection closes after AuthFailed"
    );
    alice.close().await;
}

both_topologies!(
    process_who_am_i_standalone,
    process_who_am_i_ensemble,
    EXTENDED,
    who_am_i
);

/// `whoAmI`: the connection's ip identity, then every id added with `addAuth`.
async fn who_am_i(_c: &Cluster, t: Target) {
    // On the wire, with `auth` sent as the Java client does (xid -4).
    let mut raw = Raw::connect(t.port, 4000).await;
    let (h, _) = raw.call(&auth_packet("digest", b"alice:secret")).await;
    assert_eq!(h.err, 0, "{}", t.label);
    let (h, body) = raw.call(&Request::WhoAmI).await;
    assert_eq!(h.err, 0, "{}", t.label);
    let Response::WhoAmI(who) = body else {
        panic!("{}: {body:?}", t.label)
    };
    let mut ids: Vec<(String, String)> = who
        .client_info
        .into_iter()
        .map(|c| (c.auth_scheme, c.user))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            ("digest".to_string(), "alice".to_string()),
            ("ip".to_string(), "127.0.0.1".to_string())
        ],
        "{}",
        t.label
    );
    raw.close().await;

    let zk = connect(t.port).await;
    assert_eq!(
        within(SOON, "whoAmI", zk.list_auth_users()).await.unwrap(),
        vec![AuthUser::new("ip", "127.0.0.1")],
        "{}",
        t.label
    );
    auth(&zk, "digest", b"alice:secret").await;
    let mut users = zk.list_auth_users().await.unwrap();
    users.sort_by(|a, b| (a.scheme(), a.user()).cmp(&(b.scheme(), b.user())));
    assert_eq!(
        users,
        vec![
            AuthUser::new("digest", "alice"),
            AuthUser::new("ip", "127.0.0.1")
        ],
        "{}",
        t.label
    );
}

both_topologies!(
    process_ip_acl_standalone,
    process_ip_acl_ensemble,
    EXTENDED,
    ip_acl
);

/// `ip` ACLs: 127.0.0.1 and 127.0.0.0/8 match a loopback client, 10.0.0.0/8 does not;
/// malformed addresses are InvalidACL; the super user passes anyway.
async fn ip_acl(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let root = t.root.as_str();
    mkdir(&zk, root).await;
    let with = |perm: Permission, id: &str| vec![Acl::new(perm, AuthId::new("ip", id))];
    let create = async |name: &str, acl: &[Acl]| {
        let path = format!("{root}/{name}");
        zk.create(
            &path,
            b"d",
            &CreateMode::Persistent.with_acls(Acls::new(acl)),
        )
        .await
        .map(|_| path)
    };
    let local = create("local", &with(Permission::ALL, "127.0.0.1"))
        .await
        .unwrap();
    let subnet = create("subnet", &with(Permission::READ, "127.0.0.0/8"))
        .await
        .unwrap();
    let far = create("far", &with(Permission::ALL, "10.0.0.0/8"))
        .await
        .unwrap();

    let other = connect(t.other).await;
    other.sync(root).await.unwrap();
    for c in [&zk, &other] {
        assert_eq!(c.get_data(&local).await.unwrap().0, b"d");
        c.set_data(&local, b"d", None).await.unwrap();
        assert_eq!(c.get_data(&subnet).await.unwrap().0, b"d");
        assert_eq!(
            c.set_data(&subnet, b"x", None).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            c.get_data(&far).await.unwrap_err(),
            Error::NoAuth,
            "{}",
            t.label
        );
        assert_eq!(
            c.set_data(&far, b"x", None).await.unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(c.get_acl(&far).await.unwrap_err(), Error::NoAuth);
    }
    for bad in ["999.1.1.1", "10.0.0.0/33", "not-an-ip"] {
        assert_eq!(
            create("bad", &with(Permission::ALL, bad))
                .await
                .unwrap_err(),
            Error::InvalidAcl,
            "{}: ip:{bad}",
            t.label
        );
    }
    let mut root_user = Raw::connect(t.other, 4000).await;
    assert_eq!(
        raw_err(&mut root_user, auth_packet("digest", b"super:test")).await,
        0
    );
    assert_eq!(
        raw_err(&mut root_user, client_common::get_data(&far, false)).await,
        0,
        "{}: the super user passes ip ACLs",
        t.label
    );
    root_user.close().await;
}

both_topologies!(
    process_world_read_only_standalone,
    process_world_read_only_ensemble,
    "",
    world_read_only
);

/// world:anyone READ: reads pass, writes, creates and setACL are NoAuth; deleting the node
/// itself is up to its parent's ACL.
async fn world_read_only(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    mkdir(&zk, &t.root).await;
    let ro = format!("{}/ro", t.root);
    zk.create(
        &ro,
        b"r",
        &CreateMode::Persistent.with_acls(Acls::anyone_read()),
    )
    .await
    .unwrap();
    let other = connect(t.other).await;
    other.sync(&ro).await.unwrap();
    for c in [&zk, &other] {
        assert_eq!(c.get_data(&ro).await.unwrap().0, b"r");
        assert_eq!(c.list_children(&ro).await.unwrap(), Vec::<String>::new());
        assert_eq!(
            c.get_acl(&ro).await.unwrap().0,
            vec![Acl::new(Permission::READ, AuthId::anyone())]
        );
        assert_eq!(
            c.set_data(&ro, b"x", None).await.unwrap_err(),
            Error::NoAuth,
            "{}",
            t.label
        );
        assert_eq!(
            c.create(&format!("{ro}/c"), b"", &persistent())
                .await
                .unwrap_err(),
            Error::NoAuth
        );
        assert_eq!(
            c.set_acl(&ro, &[Acl::new(Permission::ALL, AuthId::anyone())], None)
                .await
                .unwrap_err(),
            Error::NoAuth
        );
    }
    other.delete(&ro, None).await.unwrap();
    zk.sync(&t.root).await.unwrap();
    assert_eq!(zk.check_stat(&ro).await.unwrap(), None);
}

// ------------------------------------------------------------------ children

both_topologies!(
    process_children_ops_standalone,
    process_children_ops_ensemble,
    "",
    children_ops
);

/// `getChildren`/`getChildren2`, and the parent's cversion, numChildren and pzxid after a
/// child's create and delete (pzxid = the delete's zxid, read from a raw reply header).
async fn children_ops(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let root = t.root.as_str();
    mkdir(&zk, root).await;
    let label = t.label;
    let p = format!("{root}/p");
    zk.create(&p, b"", &persistent()).await.unwrap();
    let (kids, s0) = zk.get_children(&p).await.unwrap();
    assert!(kids.is_empty());
    assert_eq!((s0.cversion, s0.num_children), (0, 0));

    let (a, _) = zk
        .create(&format!("{p}/a"), b"", &persistent())
        .await
        .unwrap();
    let (b, _) = zk
        .create(&format!("{p}/b"), b"", &mode_all(CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!(sorted(zk.list_children(&p).await.unwrap()), ["a", "b"]);
    let (kids, s1) = zk.get_children(&p).await.unwrap();
    assert_eq!(sorted(kids), ["a", "b"]);
    assert_eq!((s1.cversion, s1.num_children), (2, 2), "{label}: {s1:?}");
    assert_eq!(s1.pzxid, b.czxid, "{label}");
    assert!(a.czxid < b.czxid);
    assert_eq!((s1.mzxid, s1.version), (s0.mzxid, s0.version));

    zk.set_data(&format!("{p}/a"), b"x", None).await.unwrap();
    let (_, s2) = zk.get_children(&p).await.unwrap();
    assert_eq!(s2, s1, "{label}: a child's data change leaves the parent");

    let mut raw = Raw::connect(t.port, 4000).await;
    let (h, _) = raw
        .call(&Request::Delete(zk_jute::DeleteRequest {
            path: format!("{p}/a"),
            version: -1,
        }))
        .await;
    assert_eq!(h.err, 0);
    let delete_zxid = h.zxid;
    raw.close().await;
    let (kids, s3) = zk.get_children(&p).await.unwrap();
    assert_eq!(kids, ["b"]);
    assert_eq!((s3.cversion, s3.num_children), (3, 1), "{label}: {s3:?}");
    assert_eq!(s3.pzxid, delete_zxid, "{label}: pzxid is the delete's zxid");

    assert_eq!(
        zk.list_children(&format!("{root}/none")).await.unwrap_err(),
        Error::NoNode
    );
    assert_eq!(
        zk.get_children(&format!("{root}/none")).await.unwrap_err(),
        Error::NoNode
    );
    assert!(
        zk.list_children(&format!("{p}/b"))
            .await
            .unwrap()
            .is_empty()
    );
}

both_topologies!(
    process_ephemerals_and_counts_standalone,
    process_ephemerals_and_counts_ensemble,
    "",
    ephemerals_and_counts
);

/// `getEphemerals` (this session's, by path prefix) and `getAllChildrenNumber`.
async fn ephemerals_and_counts(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let other = connect(t.other).await;
    let g = format!("{}/g", t.root);
    mkdir(&zk, &t.root).await;
    mkdir(&zk, &g).await;
    let eph = mode_all(CreateMode::Ephemeral);
    zk.create(&format!("{g}/e1"), b"", &eph).await.unwrap();
    zk.create(&format!("{g}/sub"), b"", &persistent())
        .await
        .unwrap();
    zk.create(&format!("{g}/sub/e2"), b"", &eph).await.unwrap();
    zk.create(&format!("{g}/p"), b"", &persistent())
        .await
        .unwrap();
    other.sync(&g).await.unwrap();
    other.create(&format!("{g}/o"), b"", &eph).await.unwrap();

    assert_eq!(
        sorted(zk.list_ephemerals(&g).await.unwrap()),
        [format!("{g}/e1"), format!("{g}/sub/e2")],
        "{}",
        t.label
    );
    assert_eq!(
        zk.list_ephemerals(&format!("{g}/e")).await.unwrap(),
        [format!("{g}/e1")],
        "{}: a path prefix, not a subtree",
        t.label
    );
    let all = zk.list_ephemerals("/").await.unwrap();
    assert_eq!(sorted(all), [format!("{g}/e1"), format!("{g}/sub/e2")]);
    assert_eq!(other.list_ephemerals(&g).await.unwrap(), [format!("{g}/o")]);
    assert!(
        zk.list_ephemerals(&format!("{g}/p"))
            .await
            .unwrap()
            .is_empty()
    );

    zk.sync(&g).await.unwrap();
    assert_eq!(
        zk.count_descendants_number(&g).await.unwrap(),
        5,
        "{}",
        t.label
    );
    assert_eq!(
        zk.count_descendants_number(&format!("{g}/sub"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        zk.count_descendants_number(&format!("{g}/p"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        zk.count_descendants_number(&format!("{g}/none"))
            .await
            .unwrap_err(),
        Error::NoNode
    );
}

// ------------------------------------------------------------------ multi, sync

both_topologies!(
    process_multi_ops_standalone,
    process_multi_ops_ensemble,
    "",
    multi_ops
);

/// `multi` with `check`: all-or-nothing, one zxid for all, results per op; on failure the
/// ops before the failing one answer 0, the failing one its error, the ones after
/// RuntimeInconsistency (-2), and nothing is applied.
async fn multi_ops(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let label = t.label;
    let m = format!("{}/m", t.root);
    mkdir(&zk, &t.root).await;
    mkdir(&zk, &m).await;
    zk.create(&format!("{m}/b"), b"", &persistent())
        .await
        .unwrap();
    zk.create(&format!("{m}/c"), b"", &persistent())
        .await
        .unwrap();

    let mut w = zk.new_multi_writer();
    w.add_check_version(&m, 0).unwrap();
    w.add_create(&format!("{m}/a"), b"A", &persistent())
        .unwrap();
    w.add_set_data(&format!("{m}/b"), b"B", Some(0)).unwrap();
    w.add_delete(&format!("{m}/c"), None).unwrap();
    w.add_create(
        &format!("{m}/s-"),
        b"",
        &mode_all(CreateMode::PersistentSequential),
    )
    .unwrap();
    w.add_create(&format!("{m}/d"), b"", &persistent()).unwrap();
    w.add_create(&format!("{m}/d/e"), b"", &persistent())
        .unwrap();
    let results = w.commit().await.unwrap();
    assert_eq!(results.len(), 7, "{label}: {results:?}");
    assert_eq!(results[0], MultiWriteResult::Check);
    let MultiWriteResult::Create { path, stat: a_stat } = &results[1] else {
        panic!("{label}: {results:?}");
    };
    assert_eq!(path, &format!("{m}/a"));
    let MultiWriteResult::SetData { stat: b_stat } = &results[2] else {
        panic!("{label}: {results:?}");
    };
    assert_eq!(b_stat.version, 1);
    let (_, a_now) = zk.get_data(&format!("{m}/a")).await.unwrap();
    assert_eq!(
        a_now.czxid, b_stat.mzxid,
        "{label}: one transaction, one zxid"
    );
    // ZooKeeper 3.8 answers a create2 inside a multi with a plain create result (no stat,
    // ZOOKEEPER-4026, fixed in 3.9); a 3.9-style stat must at least be the right one.
    assert!(
        a_stat.is_invalid() || *a_stat == a_now,
        "{label}: {a_stat:?} vs {a_now:?}"
    );
    assert_eq!(results[3], MultiWriteResult::Delete);
    let MultiWriteResult::Create { path, .. } = &results[4] else {
        panic!("{label}: {results:?}");
    };
    assert_eq!(
        path,
        &format!("{m}/s-0000000003"),
        "{label}: numbered after the multi's own create (deletes do not count)"
    );
    assert_eq!(zk.get_data(&format!("{m}/a")).await.unwrap().0, b"A");
    assert_eq!(zk.get_data(&format!("{m}/b")).await.unwrap().0, b"B");
    assert_eq!(zk.check_stat(&format!("{m}/c")).await.unwrap(), None);
    assert!(zk.check_stat(&format!("{m}/d/e")).await.unwrap().is_some());

    // A failing multi changes nothing.
    let (_, before) = zk.get_children(&m).await.unwrap();
    let mut w = zk.new_multi_writer();
    w.add_create(&format!("{m}/x"), b"", &persistent()).unwrap();
    w.add_set_data(&format!("{m}/b"), b"no", Some(0)).unwrap();
    w.add_delete(&format!("{m}/a"), None).unwrap();
    assert_eq!(
        w.commit().await.unwrap_err(),
        MultiWriteError::OperationFailed {
            index: 1,
            source: Error::BadVersion
        },
        "{label}"
    );
    assert_eq!(zk.check_stat(&format!("{m}/x")).await.unwrap(), None);
    assert!(zk.check_stat(&format!("{m}/a")).await.unwrap().is_some());
    assert_eq!(zk.get_data(&format!("{m}/b")).await.unwrap().0, b"B");
    assert_eq!(zk.get_children(&m).await.unwrap().1, before);

    let mut w = zk.new_multi_writer();
    w.add_check_version(&format!("{m}/none"), -1).unwrap();
    assert_eq!(
        w.commit().await.unwrap_err(),
        MultiWriteError::OperationFailed {
            index: 0,
            source: Error::NoNode
        }
    );
    let mut w = zk.new_multi_writer();
    w.add_create(&format!("{m}/tmp"), b"", &persistent())
        .unwrap();
    w.add_delete(&format!("{m}/tmp"), None).unwrap();
    w.commit().await.unwrap();
    assert_eq!(zk.check_stat(&format!("{m}/tmp")).await.unwrap(), None);

    // The same failure on the wire.
    let mut raw = Raw::connect(t.port, 4000).await;
    let create = |path: String| {
        MultiOp::Create2(zk_jute::CreateRequest {
            path,
            data: Some(Bytes::new()),
            acl: open_acl(),
            flags: 0,
        })
    };
    let ops = vec![
        create(format!("{m}/y")),
        MultiOp::Check(zk_jute::CheckVersionRequest {
            path: format!("{m}/b"),
            version: 0,
        }),
        MultiOp::Delete(zk_jute::DeleteRequest {
            path: format!("{m}/a"),
            version: -1,
        }),
        create(format!("{m}/z")),
    ];
    let (h, body) = raw.call(&Request::Multi(MultiRequest { ops })).await;
    assert_eq!(
        h.err, 0,
        "{label}: a failed multi's reply header carries no error"
    );
    let Response::Multi(res) = body else {
        panic!("{label}: {body:?}");
    };
    assert_eq!(
        res.results,
        vec![
            MultiResult::Error(0),
            MultiResult::Error(-103),
            MultiResult::Error(-2),
            MultiResult::Error(-2)
        ],
        "{label}"
    );
    raw.close().await;
    assert_eq!(zk.check_stat(&format!("{m}/y")).await.unwrap(), None);
}

both_topologies!(
    process_multi_read_standalone,
    process_multi_read_ensemble,
    "",
    multi_read
);

/// `multiRead`: each op answers on its own, errors included.
async fn multi_read(_c: &Cluster, t: Target) {
    let zk = connect(t.port).await;
    let r = format!("{}/r", t.root);
    mkdir(&zk, &t.root).await;
    mkdir(&zk, &r).await;
    let (a_stat, _) = zk
        .create(&format!("{r}/a"), b"A", &persistent())
        .await
        .unwrap();
    zk.create(&format!("{r}/b"), b"", &persistent())
        .await
        .unwrap();
    let mut rd = zk.new_multi_reader();
    rd.add_get_data(&format!("{r}/a")).unwrap();
    rd.add_get_children(&r).unwrap();
    rd.add_get_data(&format!("{r}/none")).unwrap();
    rd.add_get_children(&format!("{r}/none")).unwrap();
    let res = rd.commit().await.unwrap();
    assert_eq!(res.len(), 4, "{}: {res:?}", t.label);
    match &res[0] {
        MultiReadResult::Data { data, stat } => {
            assert_eq!(data, b"A");
            assert_eq!(stat, &a_stat);
        }
        other => panic!("{}: {other:?}", t.label),
    }
    match &res[1] {
        MultiReadResult::Children { children } => {
            assert_eq!(sorted(children.clone()), ["a", "b"]);
        }
        other => panic!("{}: {other:?}", t.label),
    }
    for r in &res[2..] {
        assert!(
            matches!(r, MultiReadResult::Error { err: Error::NoNode }),
            "{}: {r:?}",
            t.label
        );
    }
}

both_topologies!(
    process_sync_standalone,
    process_sync_ensemble,
    "",
    sync_then_read
);

/// After `sync`, a read on this server sees every write acknowledged (through another
/// server) before the sync was sent.
async fn sync_then_read(_c: &Cluster, t: Target) {
    let writer = connect(t.other).await;
    let reader = connect(t.port).await;
    let s = format!("{}/s", t.root);
    mkdir(&writer, &t.root).await;
    mkdir(&writer, &s).await;
    for i in 0..20 {
        let path = format!("{s}/{i}");
        let (st, _) = writer
            .create(&path, i.to_string().as_bytes(), &persistent())
            .await
            .unwrap();
        reader.sync(&s).await.unwrap();
        let (data, got) = reader
            .get_data(&path)
            .await
            .unwrap_or_else(|e| panic!("{}: {path} not visible after sync: {e}", t.label));
        assert_eq!((data, got), (i.to_string().into_bytes(), st));
    }
    reader.sync("/no/such/node").await.unwrap();
}

// ------------------------------------------------------------------ closeSession

both_topologies!(
    process_close_session_standalone,
    process_close_session_ensemble,
    "",
    close_session
);

/// Closing a session deletes its ephemerals at once (not after the timeout), seen by
/// another client's watches.
async fn close_session(_c: &Cluster, t: Target) {
    let owner = connect(t.port).await;
    let watcher = connect(t.other).await;
    let d = format!("{}/d", t.root);
    mkdir(&owner, &t.root).await;
    mkdir(&owner, &d).await;
    let eph = format!("{d}/eph");
    owner
        .create(&eph, b"", &mode_all(CreateMode::Ephemeral))
        .await
        .unwrap();
    owner
        .create(
            &format!("{d}/seq-"),
            b"",
            &mode_all(CreateMode::EphemeralSequential),
        )
        .await
        .unwrap();
    watcher.sync(&d).await.unwrap();
    let (st, w_eph) = watcher.check_and_watch_stat(&eph).await.unwrap();
    assert!(st.is_some());
    let (kids, w_kids) = watcher.list_and_watch_children(&d).await.unwrap();
    assert_eq!(kids.len(), 2);

    let started = std::time::Instant::now();
    drop(owner);
    let ev = within(SOON, "NodeDeleted after closeSession", w_eph.changed()).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zookeeper_client::EventType::NodeDeleted, eph.as_str()),
        "{}",
        t.label
    );
    let ev = within(
        SOON,
        "NodeChildrenChanged after closeSession",
        w_kids.changed(),
    )
    .await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zookeeper_client::EventType::NodeChildrenChanged, d.as_str())
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{}: ephemerals went after {:?}: an expiry, not the close",
        t.label,
        started.elapsed()
    );
    assert!(watcher.list_children(&d).await.unwrap().is_empty());
    assert_eq!(watcher.check_stat(&eph).await.unwrap(), None);
}
