//! Timings of snapshot capture and copy-on-write at 100k nodes (a measurement, not a test):
//! `cargo run --release -p zk-datatree --example snapshot_scale`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use bytes::Bytes;
use zk_datatree::{Acl, CreateKind, CreateTxn, DataTree, TxnKind, TxnRecord};
use zk_zab::state_machine::StateMachine;
use zk_zab::txn::Txn;

fn main() {
    let mut tree = DataTree::new();
    let mut zxid = 0u64;
    let mut create = |tree: &mut DataTree, path: String| {
        zxid += 1;
        let rec = TxnRecord::new(
            0,
            TxnKind::Create(CreateTxn {
                path,
                data: Bytes::from_static(&[0u8; 32]),
                acl: Acl::open_unsafe(),
                ephemeral_owner: 0,
                kind: CreateKind::Persistent,
                parent_cversion: -1,
            }),
        );
        tree.apply(&Txn::new(zxid, rec.encode()));
    };
    let t = Instant::now();
    for d in 0..100 {
        create(&mut tree, format!("/d{d}"));
        for i in 0..1000 {
            create(&mut tree, format!("/d{d}/n{i}"));
        }
    }
    println!("build 100k nodes: {:?}", t.elapsed());
    let t = Instant::now();
    let mut src = tree.snapshot();
    println!("snapshot capture: {:?}", t.elapsed());
    let t = Instant::now();
    create(&mut tree, "/d5/after".into());
    println!(
        "first apply after capture (copies 1 shard + 1 parent): {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    for i in 0..1000 {
        create(&mut tree, format!("/d{}/more{i}", i % 100));
    }
    println!("next 1000 applies: {:?}", t.elapsed());
    let t = Instant::now();
    let full = tree.clone();
    println!("DataTree::clone (indexes included): {:?}", t.elapsed());
    drop(full);
    let t = Instant::now();
    let mut image = Vec::new();
    src.write_to(&mut image).unwrap();
    println!("write_to: {:?}, {} bytes", t.elapsed(), image.len());
    let t = Instant::now();
    let restored = zk_datatree::snapshot::decode_image(src.zxid(), &image).unwrap();
    println!(
        "restore: {:?}, {} nodes",
        t.elapsed(),
        restored.node_count()
    );
}
