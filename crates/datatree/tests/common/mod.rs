//! Shared helpers for the data tree's integration tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub,
    missing_docs
)]

use bytes::Bytes;
use zk_datatree::{
    Acl, CreateMode, DataTree, ErrorCode, PrepareOptions, Request, TxnRecord, TxnResult, prepare,
};
use zk_zab::state_machine::StateMachine;
use zk_zab::txn::Txn;

/// A tree plus the zxid counter a leader would keep.
pub struct Leader {
    pub tree: DataTree,
    pub zxid: u64,
    pub now: i64,
    pub extended: bool,
    /// Every committed transaction, to replay on other trees.
    pub log: Vec<Txn>,
}

impl Leader {
    pub fn new() -> Self {
        Self {
            tree: DataTree::new(),
            zxid: 0x1_0000_0000,
            now: 1_000_000,
            extended: true,
            log: Vec::new(),
        }
    }

    /// Prepares `req` for `session`; on success commits it and returns the apply result.
    pub fn run(&mut self, req: Request, session: i64) -> Result<TxnResult, ErrorCode> {
        self.now += 7;
        let opts = PrepareOptions {
            extended_types_enabled: self.extended,
            ..PrepareOptions::default()
        };
        let rec = prepare(&self.tree, &req, session, self.now, &opts)?;
        Ok(self.commit(&rec))
    }

    /// Commits an arbitrary record through the codec and `StateMachine::apply`.
    pub fn commit(&mut self, rec: &TxnRecord) -> TxnResult {
        self.zxid += 1;
        let txn = Txn::new(self.zxid, rec.encode());
        self.log.push(txn.clone());
        self.tree.apply(&txn)
    }

    pub fn create(&mut self, path: &str, mode: CreateMode, session: i64) -> String {
        match self.run(create_req(path, b"", mode), session) {
            Ok(TxnResult::Created { path, .. }) => path,
            other => panic!("create {path}: {other:?}"),
        }
    }
}

pub fn create_req(path: &str, data: &[u8], mode: CreateMode) -> Request {
    Request::Create {
        path: path.to_owned(),
        data: Bytes::copy_from_slice(data),
        acl: Acl::open_unsafe(),
        mode,
        ttl: -1,
    }
}

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
