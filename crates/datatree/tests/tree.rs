//! Stat rules, sequential numbering, sessions, the reaper query and multi, against
//! ZooKeeper 3.8's `DataTree` / `PrepRequestProcessor` behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{Leader, create_req};
use zk_datatree::{
    Acl, CreateKind, CreateMode, CreateTxn, DataTree, ErrorCode, Request, TxnKind, TxnRecord,
    TxnResult, perms, ttl_ephemeral_owner,
};
use zk_zab::state_machine::StateMachine;
use zk_zab::txn::Txn;

#[test]
fn fresh_tree_matches_zookeeper_3_8() {
    let t = DataTree::new();
    // srvr on a fresh 3.8 server: "Node count: 5" ("" and "/" alias the root).
    assert_eq!(t.node_count(), 5);
    assert_eq!(t.all_children_number("/"), 3);
    assert_eq!(t.all_children_number("/zookeeper"), 2);
    assert_eq!(t.children("/").unwrap(), ["zookeeper"]);
    assert_eq!(t.children("/zookeeper").unwrap(), ["config", "quota"]);
    // "" 0 + "/" 1 + "/zookeeper" 10 + "/zookeeper/quota" 16 + "/zookeeper/config" 17.
    assert_eq!(t.approximate_data_size(), 44);
    let root = t.stat("/").unwrap();
    assert_eq!(root.num_children, 1);
    // /zookeeper is added without a create: 0 creations, 1 child, so clients see -1.
    assert_eq!((root.czxid, root.cversion, root.pzxid), (0, -1, 0));
    let (acl, stat) = t.acl("/zookeeper/config").unwrap();
    assert_eq!(acl, Acl::read_unsafe());
    assert_eq!(stat.aversion, -1);
    assert_eq!(t.acl("/zookeeper/quota").unwrap().0, Acl::open_unsafe());
    assert_eq!(t.last_applied(), 0);
}

#[test]
fn stat_fields_follow_zookeeper_rules() {
    let mut l = Leader::new();
    l.run(create_req("/a", b"x", CreateMode::Persistent), 1)
        .unwrap();
    let (z1, t1) = (l.zxid as i64, l.now);
    let a = l.tree.stat("/a").unwrap();
    assert_eq!((a.czxid, a.mzxid, a.pzxid), (z1, z1, z1));
    assert_eq!((a.ctime, a.mtime), (t1, t1));
    assert_eq!((a.version, a.cversion, a.aversion), (0, 0, 0));
    assert_eq!(
        (a.ephemeral_owner, a.data_length, a.num_children),
        (0, 1, 0)
    );
    let root = l.tree.stat("/").unwrap();
    // Clients see 2 * creations - numChildren (DataNode.copyStat): 2 * 1 - 2.
    assert_eq!((root.cversion, root.pzxid, root.num_children), (0, z1, 2));
    assert_eq!(
        root.mzxid, 0,
        "a child create does not touch the parent's mzxid"
    );

    let r = l
        .run(create_req("/a/b", b"", CreateMode::Persistent), 1)
        .unwrap();
    let z2 = l.zxid as i64;
    let TxnResult::Created { path, stat } = r else {
        panic!("{r:?}")
    };
    assert_eq!(path, "/a/b");
    assert_eq!(stat, l.tree.stat("/a/b").unwrap());
    let a = l.tree.stat("/a").unwrap();
    assert_eq!(
        (a.cversion, a.pzxid, a.num_children, a.mzxid),
        (1, z2, 1, z1)
    );

    let set = Request::SetData {
        path: "/a/b".into(),
        data: Bytes::from_static(b"hello"),
        version: 0,
    };
    l.run(set, 1).unwrap();
    let (z3, t3) = (l.zxid as i64, l.now);
    let b = l.tree.stat("/a/b").unwrap();
    assert_eq!((b.czxid, b.mzxid, b.pzxid, b.mtime), (z2, z3, z2, t3));
    assert_eq!((b.version, b.data_length), (1, 5));
    assert_eq!(l.tree.stat("/a").unwrap().pzxid, z2);
    assert_eq!(
        l.tree.get_data("/a/b").unwrap().0,
        Bytes::from_static(b"hello")
    );

    let bad = Request::SetData {
        path: "/a/b".into(),
        data: Bytes::new(),
        version: 0,
    };
    assert_eq!(l.run(bad, 1), Err(ErrorCode::BAD_VERSION));

    let acl = vec![Acl::new(perms::READ | perms::ADMIN, "world", "anyone")];
    l.run(
        Request::SetAcl {
            path: "/a/b".into(),
            acl: acl.clone(),
            version: -1,
        },
        1,
    )
    .unwrap();
    let (got, b) = l.tree.acl("/a/b").unwrap();
    assert_eq!(got, acl);
    assert_eq!(
        (b.aversion, b.mzxid, b.version),
        (1, z3, 1),
        "setACL leaves mzxid"
    );

    assert_eq!(
        l.run(
            Request::Delete {
                path: "/a".into(),
                version: -1
            },
            1
        ),
        Err(ErrorCode::NOT_EMPTY)
    );
    assert_eq!(
        l.run(
            Request::Delete {
                path: "/a/b".into(),
                version: 7
            },
            1
        ),
        Err(ErrorCode::BAD_VERSION)
    );
    l.run(
        Request::Delete {
            path: "/a/b".into(),
            version: 1,
        },
        1,
    )
    .unwrap();
    let z5 = l.zxid as i64;
    let a = l.tree.stat("/a").unwrap();
    // Delete moves pzxid; the persisted cversion counts creations only, and clients
    // see creations plus deletions: 2 * 1 - 0.
    assert_eq!((a.cversion, a.pzxid, a.num_children), (2, z5, 0));
    assert!(!l.tree.exists("/a/b"));
}

#[test]
fn prepare_errors_match_zookeeper() {
    let mut l = Leader::new();
    l.create("/a", CreateMode::Persistent, 1);
    let e = |l: &mut Leader, r| l.run(r, 1).unwrap_err();
    // The server looks the parent up before validating the whole path, as ZooKeeper does:
    // hence NoNode, not BadArguments, for "/a/./b".
    let cases = [
        ("/a", ErrorCode::NODE_EXISTS),
        ("/", ErrorCode::NODE_EXISTS),
        ("/x/y", ErrorCode::NO_NODE),
        ("a", ErrorCode::BAD_ARGUMENTS),
        ("/a/", ErrorCode::BAD_ARGUMENTS),
        ("/a/.", ErrorCode::BAD_ARGUMENTS),
        ("/a/./b", ErrorCode::NO_NODE),
    ];
    for (path, want) in cases {
        let got = e(&mut l, create_req(path, b"", CreateMode::Persistent));
        assert_eq!(got, want, "create {path}");
    }
    let mut no_acl = create_req("/b", b"", CreateMode::Persistent);
    if let Request::Create { acl, .. } = &mut no_acl {
        acl.clear();
    }
    assert_eq!(e(&mut l, no_acl), ErrorCode::INVALID_ACL);
    for (scheme, id) in [
        ("world", "someone"),
        ("digest", "u:"),
        ("digest", "nocolon"),
        ("bogus", "x"),
    ] {
        let mut r = create_req("/b", b"", CreateMode::Persistent);
        if let Request::Create { acl, .. } = &mut r {
            *acl = vec![Acl::new(perms::ALL, scheme, id)];
        }
        assert_eq!(e(&mut l, r), ErrorCode::INVALID_ACL, "{scheme}:{id}");
    }
    // Duplicate entries are removed, keeping the first (removeDuplicates).
    let mut dup = create_req("/dup", b"", CreateMode::Persistent);
    if let Request::Create { acl, .. } = &mut dup {
        *acl = vec![
            Acl::new(1, "digest", "u:h"),
            Acl::new(1, "digest", "u:h"),
            Acl::new(31, "world", "anyone"),
        ];
    }
    l.run(dup, 1).unwrap();
    assert_eq!(
        l.tree.acl("/dup").unwrap().0,
        [
            Acl::new(1, "digest", "u:h"),
            Acl::new(31, "world", "anyone")
        ]
    );
    for special in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/"] {
        assert_eq!(
            e(
                &mut l,
                Request::Delete {
                    path: special.into(),
                    version: -1
                }
            ),
            ErrorCode::BAD_ARGUMENTS,
            "{special}"
        );
    }
    assert_eq!(
        e(
            &mut l,
            Request::Delete {
                path: "/nope".into(),
                version: -1
            }
        ),
        ErrorCode::NO_NODE
    );
    l.create("/eph", CreateMode::Ephemeral, 9);
    assert_eq!(
        e(&mut l, create_req("/eph/c", b"", CreateMode::Persistent)),
        ErrorCode::NO_CHILDREN_FOR_EPHEMERALS
    );
    // TTL needs extended types, a TTL in range, and no TTL on other modes.
    let ttl = |ttl| Request::Create {
        path: "/t".into(),
        data: Bytes::new(),
        acl: Acl::open_unsafe(),
        mode: CreateMode::PersistentWithTtl,
        ttl,
    };
    assert_eq!(e(&mut l, ttl(0)), ErrorCode::BAD_ARGUMENTS);
    l.extended = false;
    assert_eq!(e(&mut l, ttl(100)), ErrorCode::UNIMPLEMENTED);
    let mut wrong = create_req("/t", b"", CreateMode::Persistent);
    if let Request::Create { ttl, .. } = &mut wrong {
        *ttl = 5;
    }
    assert_eq!(e(&mut l, wrong), ErrorCode::BAD_ARGUMENTS);
    // Permission checks go through the authorizer.
    let deny_create = |_: &[Acl], perm: i32| perm != perms::CREATE;
    let opts = zk_datatree::PrepareOptions {
        authorize: &deny_create,
        ..Default::default()
    };
    let r = zk_datatree::prepare(
        &l.tree,
        &create_req("/z", b"", CreateMode::Persistent),
        1,
        0,
        &opts,
    );
    assert_eq!(r, Err(ErrorCode::NO_AUTH));
}

#[test]
fn sequential_numbering_uses_parent_cversion() {
    let mut l = Leader::new();
    l.create("/p", CreateMode::Persistent, 1);
    assert_eq!(
        l.create("/p/s-", CreateMode::PersistentSequential, 1),
        "/p/s-0000000000"
    );
    assert_eq!(
        l.create("/p/s-", CreateMode::PersistentSequential, 1),
        "/p/s-0000000001"
    );
    l.create("/p/x", CreateMode::Persistent, 1);
    assert_eq!(l.tree.stat("/p").unwrap().cversion, 3);
    l.run(
        Request::Delete {
            path: "/p/x".into(),
            version: -1,
        },
        1,
    )
    .unwrap();
    l.run(
        Request::Delete {
            path: "/p/s-0000000000".into(),
            version: -1,
        },
        1,
    )
    .unwrap();
    assert_eq!(
        l.tree.stat("/p").unwrap().cversion,
        5,
        "clients see deletes in cversion (2 * 3 creations - 1 child)..."
    );
    assert_eq!(
        l.create("/p/s-", CreateMode::PersistentSequential, 1),
        "/p/s-0000000003",
        "...but the sequence numbers only count creations"
    );
    let e = l.create("/p/e-", CreateMode::EphemeralSequential, 42);
    assert_eq!(e, "/p/e-0000000004");
    assert_eq!(l.tree.stat(&e).unwrap().ephemeral_owner, 42);
    assert_eq!(l.tree.ephemerals(42), [e]);
    // A trailing slash is allowed for sequential creates: the suffix makes it valid.
    assert_eq!(
        l.create("/p/", CreateMode::PersistentSequential, 1),
        "/p/0000000005"
    );
    assert_eq!(l.tree.children("/p").unwrap().len(), 4);
}

#[test]
fn sequential_numbering_wraps_negative_like_java_format() {
    assert_eq!(format!("{:010}", -1), "-000000001");
    assert_eq!(format!("{:010}", i32::MIN), "-2147483648");
    let mut l = Leader::new();
    l.create("/p", CreateMode::Persistent, 1);
    // Drive /p's cversion to i32::MAX with a leader-decided parent_cversion.
    l.commit(&TxnRecord::new(
        0,
        TxnKind::Create(CreateTxn {
            path: "/p/big".into(),
            data: Bytes::new(),
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            kind: CreateKind::Persistent,
            parent_cversion: i32::MAX,
        }),
    ));
    assert_eq!(
        l.create("/p/s", CreateMode::PersistentSequential, 1),
        "/p/s2147483647"
    );
    assert_eq!(
        l.create("/p/s", CreateMode::PersistentSequential, 1),
        "/p/s-2147483648"
    );
    assert_eq!(
        l.create("/p/s", CreateMode::PersistentSequential, 1),
        "/p/s-2147483647"
    );
}

#[test]
fn close_session_deletes_its_ephemerals() {
    let mut l = Leader::new();
    let r = l
        .run(Request::CreateSession { timeout: 30_000 }, 7)
        .unwrap();
    assert_eq!(
        r,
        TxnResult::SessionCreated {
            session: 7,
            timeout: 30_000
        }
    );
    l.run(Request::CreateSession { timeout: 10_000 }, 8)
        .unwrap();
    l.create("/p", CreateMode::Persistent, 7);
    l.create("/e1", CreateMode::Ephemeral, 7);
    l.create("/p/e2", CreateMode::Ephemeral, 7);
    l.create("/p/other", CreateMode::Ephemeral, 8);
    assert_eq!(l.tree.ephemerals(7), ["/e1", "/p/e2"]);
    assert_eq!(l.tree.ephemerals_count(), 3);
    let before = l.tree.stat("/p").unwrap();
    let r = l.run(Request::CloseSession, 7).unwrap();
    assert_eq!(
        r,
        TxnResult::SessionClosed {
            session: 7,
            deleted: vec!["/e1".into(), "/p/e2".into()]
        }
    );
    assert!(!l.tree.exists("/e1") && !l.tree.exists("/p/e2"));
    assert!(l.tree.ephemerals(7).is_empty());
    assert_eq!(l.tree.sessions(), [(8, 10_000)]);
    let p = l.tree.stat("/p").unwrap();
    // Clients see child changes (creations plus deletions) in cversion.
    assert_eq!(
        (p.pzxid, p.cversion, p.num_children),
        (l.zxid as i64, before.cversion + 1, 1)
    );
    assert_eq!(l.tree.ephemerals(8), ["/p/other"]);
    // Closing again, or an unknown session, is a harmless no-op.
    assert_eq!(
        l.run(Request::CloseSession, 7).unwrap(),
        TxnResult::SessionClosed {
            session: 7,
            deleted: vec![]
        }
    );
}

#[test]
fn reaper_reports_empty_containers_and_expired_ttls() {
    let mut l = Leader::new();
    l.create("/c", CreateMode::Container, 1);
    let c = l.tree.stat("/c").unwrap();
    // Clients see 0 (DataNode.getClientEphemeralOwner); the tree keeps the marker.
    assert_eq!(c.ephemeral_owner, 0);
    assert_eq!(l.tree.containers(), ["/c"]);
    // Never had children: only with maxNeverUsedIntervalMs, once it has elapsed.
    assert!(l.tree.reaper_candidates(c.mtime + 10_000, 0).is_empty());
    assert!(l.tree.reaper_candidates(c.mtime + 500, 1_000).is_empty());
    assert_eq!(l.tree.reaper_candidates(c.mtime + 1_001, 1_000), ["/c"]);
    l.create("/c/x", CreateMode::Persistent, 1);
    assert!(
        l.tree.reaper_candidates(i64::MAX, 1).is_empty(),
        "has a child"
    );
    l.run(
        Request::Delete {
            path: "/c/x".into(),
            version: -1,
        },
        1,
    )
    .unwrap();
    assert_eq!(
        l.tree.reaper_candidates(0, 0),
        ["/c"],
        "had children: reaped at once"
    );

    let ttl_req = |path: &str| Request::Create {
        path: path.into(),
        data: Bytes::new(),
        acl: Acl::open_unsafe(),
        mode: CreateMode::PersistentWithTtl,
        ttl: 1_000,
    };
    l.run(ttl_req("/t"), 1).unwrap();
    let t = l.tree.stat("/t").unwrap();
    // The tree stores ZooKeeper's TTL marker; clients see 0.
    assert_eq!(ttl_ephemeral_owner(1_000) as u64, 0xff00_0000_0000_03e8);
    assert_eq!(t.ephemeral_owner, 0);
    assert_eq!(l.tree.ttls(), ["/t"]);
    assert_eq!(l.tree.reaper_candidates(t.mtime + 1_000, 0), ["/c"]);
    assert_eq!(l.tree.reaper_candidates(t.mtime + 1_001, 0), ["/c", "/t"]);
    // setData refreshes mtime, which restarts the TTL.
    l.run(
        Request::SetData {
            path: "/t".into(),
            data: Bytes::new(),
            version: -1,
        },
        1,
    )
    .unwrap();
    let t2 = l.tree.stat("/t").unwrap();
    assert_eq!(l.tree.reaper_candidates(t.mtime + 1_001, 0), ["/c"]);
    l.create("/t/kid", CreateMode::Persistent, 1);
    assert_eq!(l.tree.reaper_candidates(t2.mtime + 5_000, 0), ["/c"]);

    // deleteContainer re-checks.
    assert_eq!(
        l.run(Request::DeleteContainer { path: "/t".into() }, 0),
        Err(ErrorCode::NOT_EMPTY)
    );
    l.create("/plain", CreateMode::Persistent, 1);
    assert_eq!(
        l.run(
            Request::DeleteContainer {
                path: "/plain".into()
            },
            0
        ),
        Err(ErrorCode::BAD_VERSION)
    );
    l.run(Request::DeleteContainer { path: "/c".into() }, 0)
        .unwrap();
    assert!(l.tree.containers().is_empty());
}

#[test]
fn failed_multi_changes_nothing_and_reports_like_zookeeper() {
    let mut l = Leader::new();
    l.create("/a", CreateMode::Persistent, 1);
    let before = l.tree.clone();
    let multi = Request::Multi(vec![
        create_req("/b", b"", CreateMode::Persistent),
        Request::Check {
            path: "/a".into(),
            version: 5,
        },
        Request::SetData {
            path: "/a".into(),
            data: Bytes::new(),
            version: -1,
        },
    ]);
    let r = l.run(multi, 1).unwrap();
    let err = TxnResult::Error;
    assert_eq!(
        r,
        TxnResult::Multi(vec![
            err(ErrorCode::OK),
            err(ErrorCode::BAD_VERSION),
            err(ErrorCode::RUNTIME_INCONSISTENCY)
        ])
    );
    assert_eq!(r.error_code(), ErrorCode::BAD_VERSION);
    // The logged txn: prepared op, then the error, then RUNTIMEINCONSISTENCY.
    let logged = TxnRecord::decode(&l.log.last().unwrap().data).unwrap();
    let TxnKind::Multi(ops) = logged.kind else {
        panic!()
    };
    assert!(matches!(ops[0], TxnKind::Create(_)));
    assert_eq!(
        ops[1],
        TxnKind::Error {
            code: ErrorCode::BAD_VERSION
        }
    );
    assert_eq!(
        ops[2],
        TxnKind::Error {
            code: ErrorCode::RUNTIME_INCONSISTENCY
        }
    );
    assert!(!l.tree.exists("/b"));
    // Identical to the tree before, given only the zxid advance an Error txn makes.
    let mut expected = before;
    let noop = TxnRecord::new(
        0,
        TxnKind::Error {
            code: ErrorCode::OK,
        },
    );
    expected.apply(&Txn::new(l.zxid, noop.encode()));
    assert_eq!(l.tree, expected);

    // Ops not allowed in a multi fail the request whole.
    let bad = Request::Multi(vec![Request::SetAcl {
        path: "/a".into(),
        acl: Acl::open_unsafe(),
        version: -1,
    }]);
    assert_eq!(l.run(bad, 1), Err(ErrorCode::MARSHALLING_ERROR));
}

#[test]
fn multi_ops_see_earlier_ops_and_apply_atomically() {
    let mut l = Leader::new();
    l.create("/q", CreateMode::Persistent, 1);
    let multi = Request::Multi(vec![
        create_req("/m", b"", CreateMode::Persistent),
        create_req("/m/n-", b"", CreateMode::PersistentSequential),
        create_req("/m/n-", b"", CreateMode::PersistentSequential),
        Request::SetData {
            path: "/m".into(),
            data: Bytes::from_static(b"d"),
            version: 0,
        },
        Request::Check {
            path: "/m".into(),
            version: 1,
        },
        Request::Delete {
            path: "/m/n-0000000000".into(),
            version: -1,
        },
    ]);
    let r = l.run(multi, 1).unwrap();
    let z = l.zxid as i64;
    let TxnResult::Multi(rs) = r else {
        panic!("{r:?}")
    };
    assert_eq!(rs.len(), 6);
    assert!(matches!(&rs[1], TxnResult::Created { path, .. } if path == "/m/n-0000000000"));
    assert!(matches!(&rs[2], TxnResult::Created { path, .. } if path == "/m/n-0000000001"));
    assert!(matches!(&rs[4], TxnResult::Checked { .. }));
    let m = l.tree.stat("/m").unwrap();
    // Every op of a multi shares its zxid.
    assert_eq!(
        (
            m.czxid,
            m.mzxid,
            m.pzxid,
            m.version,
            m.cversion,
            m.num_children
        ),
        (z, z, z, 1, 3, 1)
    );
    assert_eq!(l.tree.children("/m").unwrap(), ["n-0000000001"]);

    // A multi that fails at apply time (never produced by prepare) is rolled back whole.
    let before = l.tree.clone();
    let bogus = TxnRecord::new(
        5,
        TxnKind::Multi(vec![
            TxnKind::Delete { path: "/q".into() },
            TxnKind::Delete {
                path: "/nope".into(),
            },
            TxnKind::Check {
                path: "/m".into(),
                version: 0,
            },
        ]),
    );
    let r = l.commit(&bogus);
    assert_eq!(
        r,
        TxnResult::Multi(vec![
            TxnResult::Error(ErrorCode::OK),
            TxnResult::Error(ErrorCode::NO_NODE),
            TxnResult::Error(ErrorCode::RUNTIME_INCONSISTENCY)
        ])
    );
    let mut expected = before;
    let noop = TxnRecord::new(
        0,
        TxnKind::Error {
            code: ErrorCode::OK,
        },
    );
    expected.apply(&Txn::new(l.zxid, noop.encode()));
    assert_eq!(l.tree, expected);
}

#[test]
fn speculative_tree_numbers_in_flight_sequentials_apart() {
    use zk_datatree::{PrepareOptions, prepare};
    let mut committed = DataTree::new();
    let mut zxid = 0u64;
    let mut commit = |t: &mut DataTree, rec: &TxnRecord| {
        zxid += 1;
        t.apply(&Txn::new(zxid, rec.encode()))
    };
    let p = prepare(
        &committed,
        &create_req("/q", b"", CreateMode::Persistent),
        1,
        5,
        &PrepareOptions::default(),
    )
    .unwrap();
    commit(&mut committed, &p);
    // The leader prepares two requests before either commits.
    let mut speculative = committed.clone();
    let mut in_flight = Vec::new();
    for _ in 0..2 {
        let rec = prepare(
            &speculative,
            &create_req("/q/n-", b"", CreateMode::PersistentSequential),
            1,
            6,
            &PrepareOptions::default(),
        )
        .unwrap();
        speculative.apply(&Txn::new(speculative.last_applied() + 1, rec.encode()));
        in_flight.push(rec);
    }
    let names: Vec<TxnResult> = in_flight
        .iter()
        .map(|r| commit(&mut committed, r))
        .collect();
    assert!(matches!(&names[0], TxnResult::Created { path, .. } if path == "/q/n-0000000000"));
    assert!(matches!(&names[1], TxnResult::Created { path, .. } if path == "/q/n-0000000001"));
    assert_eq!(committed, speculative);
}
