//! The codec, snapshots and determinism: what replication relies on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{Leader, Rng, create_req};
use zk_datatree::snapshot::decode_image;
use zk_datatree::{
    Acl, CreateKind, CreateMode, CreateTxn, DataTree, DecodeError, ErrorCode, Request, TxnKind,
    TxnRecord, TxnResult,
};
use zk_zab::state_machine::StateMachine;
use zk_zab::txn::Txn;

fn every_kind() -> Vec<TxnRecord> {
    let create = |kind| {
        TxnKind::Create(CreateTxn {
            path: "/a/b".into(),
            data: Bytes::from_static(b"data"),
            acl: vec![
                Acl::new(31, "world", "anyone"),
                Acl::new(1, "digest", "u:h"),
            ],
            ephemeral_owner: 0x1234,
            kind,
            parent_cversion: -7,
        })
    };
    let kinds = vec![
        create(CreateKind::Persistent),
        create(CreateKind::Ephemeral),
        create(CreateKind::Container),
        create(CreateKind::Ttl(60_000)),
        TxnKind::Delete { path: "/x".into() },
        TxnKind::SetData {
            path: "/x".into(),
            data: Bytes::new(),
            version: i32::MIN,
        },
        TxnKind::SetAcl {
            path: "/x".into(),
            acl: Acl::read_unsafe(),
            version: 3,
        },
        TxnKind::Check {
            path: "/\u{e9}".into(),
            version: 1,
        },
        TxnKind::Multi(vec![]),
        TxnKind::Multi(vec![
            create(CreateKind::Persistent),
            TxnKind::Delete { path: "/y".into() },
            TxnKind::Error {
                code: ErrorCode::RUNTIME_INCONSISTENCY,
            },
        ]),
        TxnKind::CreateSession {
            session: -1,
            timeout: 4000,
        },
        TxnKind::CloseSession { session: i64::MAX },
        TxnKind::Error {
            code: ErrorCode(-999),
        },
    ];
    kinds.into_iter().map(|k| TxnRecord::new(-3, k)).collect()
}

#[test]
fn codec_round_trips_every_kind_and_rejects_damage() {
    for rec in every_kind() {
        let bytes = rec.encode();
        assert_eq!(bytes[0], zk_datatree::TXN_FORMAT_VERSION);
        assert_eq!(TxnRecord::decode(&bytes).unwrap(), rec);
        for cut in 0..bytes.len() {
            assert!(
                TxnRecord::decode(&bytes[..cut]).is_err(),
                "{rec:?} cut at {cut}"
            );
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(TxnRecord::decode(&long), Err(DecodeError::TrailingBytes(1)));
    }
    assert_eq!(
        TxnRecord::decode(&[2]),
        Err(DecodeError::UnsupportedVersion(2))
    );
    // A session op nested in a multi is refused.
    let mut nested = vec![1u8];
    nested.extend_from_slice(&0i64.to_be_bytes());
    nested.push(6);
    nested.extend_from_slice(&1u32.to_be_bytes());
    nested.push(8);
    nested.extend_from_slice(&0i64.to_be_bytes());
    assert_eq!(
        TxnRecord::decode(&nested),
        Err(DecodeError::NotAllowedInMulti(8))
    );
    // A huge count is refused without allocating.
    let mut huge = vec![1u8];
    huge.extend_from_slice(&0i64.to_be_bytes());
    huge.push(6);
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        TxnRecord::decode(&huge),
        Err(DecodeError::BadLength { .. })
    ));
}

fn populated() -> Leader {
    let mut l = Leader::new();
    l.run(Request::CreateSession { timeout: 5000 }, 11).unwrap();
    l.run(Request::CreateSession { timeout: 6000 }, 12).unwrap();
    l.create("/app", CreateMode::Persistent, 11);
    l.run(create_req("/app/cfg", b"v=1", CreateMode::Persistent), 11)
        .unwrap();
    l.create("/app/lock-", CreateMode::EphemeralSequential, 11);
    l.create("/app/lock-", CreateMode::EphemeralSequential, 12);
    l.create("/c", CreateMode::Container, 11);
    l.create("/c/k", CreateMode::Persistent, 11);
    l.run(
        Request::Create {
            path: "/ttl".into(),
            data: Bytes::from_static(b"t"),
            acl: vec![Acl::new(1, "digest", "bob:xyz")],
            mode: CreateMode::PersistentWithTtl,
            ttl: 500,
        },
        11,
    )
    .unwrap();
    l.run(
        Request::SetData {
            path: "/app".into(),
            data: Bytes::from_static(b"x"),
            version: 0,
        },
        11,
    )
    .unwrap();
    l.run(
        Request::SetAcl {
            path: "/app/cfg".into(),
            acl: Acl::read_unsafe(),
            version: 0,
        },
        11,
    )
    .unwrap();
    l
}

fn image_of(tree: &DataTree) -> Vec<u8> {
    let mut src = tree.snapshot();
    assert_eq!(src.zxid(), tree.last_applied());
    let mut out = Vec::new();
    src.write_to(&mut out).unwrap();
    out
}

#[test]
fn snapshot_restore_round_trips() {
    let l = populated();
    let image = image_of(&l.tree);
    let mut other = DataTree::new();
    other
        .restore(l.tree.last_applied(), Bytes::from(image.clone()))
        .unwrap();
    assert_eq!(other, l.tree);
    assert_eq!(other.ephemerals(11), l.tree.ephemerals(11));
    assert_eq!(other.containers(), ["/c"]);
    assert_eq!(other.ttls(), ["/ttl"]);
    assert_eq!(other.sessions(), [(11, 5000), (12, 6000)]);
    assert_eq!(other.node_count(), l.tree.node_count());
    assert_eq!(
        other.approximate_data_size(),
        l.tree.approximate_data_size()
    );
    assert_eq!(other.stat("/app"), l.tree.stat("/app"));
    // Re-imaging the restored tree gives the same bytes.
    assert_eq!(image_of(&other), image);
    // The wrong zxid is refused.
    assert!(other.restore(1, Bytes::from(image)).is_err());
}

#[test]
fn snapshot_is_a_consistent_image_while_apply_continues() {
    let mut l = populated();
    let frozen = l.tree.clone();
    let mut src = l.tree.snapshot();
    // Keep applying after the capture.
    for i in 0..50 {
        l.create(&format!("/after{i}"), CreateMode::Persistent, 11);
    }
    l.run(
        Request::SetData {
            path: "/app".into(),
            data: Bytes::new(),
            version: -1,
        },
        11,
    )
    .unwrap();
    l.run(Request::CloseSession, 11).unwrap();
    let mut image = Vec::new();
    src.write_to(&mut image).unwrap();
    let restored = decode_image(frozen.last_applied(), &image).unwrap();
    assert_eq!(restored, frozen);
    assert_ne!(restored, l.tree);
}

#[test]
fn damaged_images_are_refused_without_panics() {
    let l = populated();
    let zxid = l.tree.last_applied();
    let image = image_of(&l.tree);
    for cut in 0..image.len() {
        assert!(decode_image(zxid, &image[..cut]).is_err(), "cut at {cut}");
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut bad = image.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bad.len() as u64) as usize;
            bad[at] = rng.next() as u8;
        }
        // Must not panic; may decode if only data bytes changed.
        let _ = decode_image(zxid, &bad);
    }
    assert_eq!(decode_image(zxid, b"nope"), Err(DecodeError::BadMagic));
}

#[test]
fn random_payloads_never_panic() {
    let mut rng = Rng(42);
    let mut tree = DataTree::new();
    let valid: Vec<Vec<u8>> = every_kind().iter().map(|r| r.encode().to_vec()).collect();
    for i in 0..10_000u64 {
        let bytes: Vec<u8> = match i % 3 {
            // Pure noise.
            0 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
            // Noise after a valid version byte and time.
            1 => {
                let mut b = vec![1u8];
                b.extend((0..8 + rng.below(64)).map(|_| rng.next() as u8));
                b
            }
            // A valid record with a few bytes changed.
            _ => {
                let mut b = valid[rng.below(valid.len() as u64) as usize].clone();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(b.len() as u64) as usize;
                    b[at] = rng.next() as u8;
                }
                b
            }
        };
        let zxid = i + 1;
        let _ = tree.apply(&Txn::new(zxid, bytes));
        assert_eq!(tree.last_applied(), zxid);
    }
    // Whatever happened, the tree is still a consistent tree: its image restores.
    let image = image_of(&tree);
    assert_eq!(decode_image(tree.last_applied(), &image).unwrap(), tree);
}

/// A random workload over a small path universe, prepared at the leader.
fn random_workload(seed: u64, steps: usize) -> Leader {
    let mut l = Leader::new();
    let mut rng = Rng(seed);
    let names = ["/a", "/a/b", "/a/b/c", "/d", "/d/e", "/c", "/c/x"];
    let pick = |rng: &mut Rng| names[rng.below(names.len() as u64) as usize].to_owned();
    for _ in 0..steps {
        let session = 100 + rng.below(3) as i64;
        let version = rng.below(3) as i32 - 1;
        let one = |rng: &mut Rng| match rng.below(6) {
            0 | 1 => {
                let mode = [
                    CreateMode::Persistent,
                    CreateMode::PersistentSequential,
                    CreateMode::Ephemeral,
                    CreateMode::EphemeralSequential,
                    CreateMode::Container,
                ][rng.below(5) as usize];
                create_req(&pick(rng), b"z", mode)
            }
            2 => Request::Delete {
                path: pick(rng),
                version,
            },
            3 => Request::SetData {
                path: pick(rng),
                data: Bytes::from(vec![7; 3]),
                version,
            },
            4 => Request::Check {
                path: pick(rng),
                version,
            },
            _ => Request::SetAcl {
                path: pick(rng),
                acl: Acl::read_unsafe(),
                version,
            },
        };
        let req = match rng.below(10) {
            0 => Request::CreateSession { timeout: 3000 },
            1 => Request::CloseSession,
            2 | 3 => Request::Multi(
                (0..1 + rng.below(4))
                    .map(|_| {
                        loop {
                            let r = one(&mut rng);
                            if !matches!(r, Request::SetAcl { .. }) {
                                break r;
                            }
                        }
                    })
                    .collect(),
            ),
            _ => one(&mut rng),
        };
        // Failed single requests are logged as Error txns, as ZooKeeper does.
        if let Err(code) = l.run(req, session) {
            let now = l.now;
            l.commit(&TxnRecord::new(now, TxnKind::Error { code }));
        }
    }
    l
}

#[test]
fn replicas_applying_the_same_log_are_equal() {
    let mut created = 0;
    let mut failed_multis = 0;
    for seed in 1..=20u64 {
        let l = random_workload(seed, 400);
        let mut replica = DataTree::new();
        let mut from_snap = DataTree::new();
        let mid = l.log.len() / 2;
        for (i, txn) in l.log.iter().enumerate() {
            let a = replica.apply(txn);
            if i == mid {
                let image = image_of(&replica);
                from_snap
                    .restore(replica.last_applied(), Bytes::from(image))
                    .unwrap();
            } else if i > mid {
                assert_eq!(from_snap.apply(txn), a, "seed {seed} txn {i}");
            }
            assert!(!matches!(a, TxnResult::Undecodable(_)));
            created += usize::from(matches!(a, TxnResult::Created { .. }));
            failed_multis +=
                usize::from(matches!(&a, TxnResult::Multi(_)) && !a.error_code().is_ok());
        }
        assert_eq!(replica, l.tree, "seed {seed}");
        assert_eq!(from_snap, l.tree, "seed {seed}");
        // The derived counts agree with a walk of the tree.
        let mut walked = 0;
        let mut stack = vec!["/".to_owned()];
        while let Some(p) = stack.pop() {
            walked += 1;
            let stat = replica.stat(&p).unwrap();
            let kids = replica.children(&p).unwrap();
            assert_eq!(stat.num_children as usize, kids.len());
            for k in kids {
                stack.push(if p == "/" {
                    format!("/{k}")
                } else {
                    format!("{p}/{k}")
                });
            }
        }
        assert_eq!(walked + 1, replica.node_count(), "seed {seed}");
    }
    // The workload exercises both paths.
    assert!(
        created > 500 && failed_multis > 50,
        "{created} {failed_multis}"
    );
}

#[test]
fn create_txn_for_missing_parent_is_an_error_result_not_a_panic() {
    let mut l = Leader::new();
    let r = l.commit(&TxnRecord::new(
        0,
        TxnKind::Create(CreateTxn {
            path: "/no/parent".into(),
            data: Bytes::new(),
            acl: vec![],
            ephemeral_owner: 0,
            kind: CreateKind::Ttl(-5),
            parent_cversion: 0,
        }),
    ));
    assert_eq!(r, TxnResult::Error(ErrorCode::NO_NODE));
    let r = l.commit(&TxnRecord::new(
        0,
        TxnKind::Delete {
            path: "/zookeeper".into(),
        },
    ));
    assert_eq!(r, TxnResult::Error(ErrorCode::BAD_ARGUMENTS));
}
