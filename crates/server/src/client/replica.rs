//! [`ReplicatedTree`]: the data tree as ZAB's state machine, with the leader's
//! preparation of requests (ZooKeeper's `PrepRequestProcessor`) and the dispatch of each
//! applied transaction's watch events and reply.

use super::auth::{self, AuthInfo};
use super::convert;
use super::envelope::{Committed, Forwarded, Note};
use super::sessions::SessionTracker;
use super::shared::Shared;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use zk_datatree::{DataTree, ErrorCode, PrepareOptions, Request, TxnKind, TxnRecord, prepare};
use zk_jute::{OpCode, Reader};
use zk_transport::PeerId;
use zk_zab::state_machine::{RestoreError, SnapshotSource, StateMachine};
use zk_zab::txn::{Txn, Zxid, epoch_of};

/// Settings of request preparation.
#[derive(Clone, Debug, Default)]
pub struct TreeOptions {
    /// `extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types_enabled: bool,
    /// `jute.maxbuffer`: the largest record a request may hold.
    pub max_buffer: usize,
    /// This server's id (0 standalone): replies go to connections of this server only.
    pub server_id: u64,
}

/// The replicated data tree. Build one per server; hand it to the ZAB driver and keep
/// [`shared`](Self::shared) for the client connections.
#[derive(Debug)]
pub struct ReplicatedTree {
    shared: Arc<Shared>,
    tracker: Arc<Mutex<SessionTracker>>,
    options: TreeOptions,
    /// The leader's speculative tree: the committed one plus every prepared transaction,
    /// for the epoch it belongs to.
    spec: Option<(u32, DataTree)>,
}

/// The leader's clock for a transaction (ZooKeeper's `TxnHeader.time`).
fn now_ms() -> i64 {
    i64::try_from(crate::status::wall_ms()).unwrap_or(i64::MAX)
}

impl ReplicatedTree {
    /// An empty tree.
    pub fn new(
        shared: Arc<Shared>,
        tracker: Arc<Mutex<SessionTracker>>,
        options: TreeOptions,
    ) -> Self {
        Self {
            shared,
            tracker,
            options,
            spec: None,
        }
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, SessionTracker> {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn prepare_forwarded(&self, spec: &DataTree, f: &Forwarded, now: i64) -> TxnRecord {
        let fail = |code| TxnRecord::new(now, TxnKind::Error { code });
        let request = if f.op == OpCode::CreateSession.code() {
            match <[u8; 4]>::try_from(&f.body[..]) {
                Ok(b) => Request::CreateSession {
                    timeout: i32::from_be_bytes(b),
                },
                Err(_) => return fail(ErrorCode::MARSHALLING_ERROR),
            }
        } else if f.op == OpCode::CloseSession.code() {
            Request::CloseSession
        } else if f.op == OpCode::DeleteContainer.code() {
            // Only the reaper sends it (session 0); clients cannot (jute refuses it).
            match std::str::from_utf8(&f.body) {
                Ok(path) if f.session == 0 => Request::DeleteContainer {
                    path: path.to_owned(),
                },
                _ => return fail(ErrorCode::MARSHALLING_ERROR),
            }
        } else {
            let mut r = Reader::with_max_len(&f.body, self.options.max_buffer.max(1));
            let decoded = zk_jute::Request::decode_body(f.op, &mut r);
            match decoded.ok().and_then(|d| convert::write_request(&d)) {
                Some(Ok(req)) => req,
                Some(Err(code)) => return fail(code),
                None => return fail(ErrorCode::MARSHALLING_ERROR),
            }
        };
        let info = AuthInfo::from_ids(f.auth.clone());
        match &request {
            Request::CreateSession { .. } => self.tracker().claim(f.session, f.from),
            Request::DeleteContainer { .. } | Request::CloseSession => {}
            _ if spec.session_timeout(f.session).is_none() => {
                return fail(ErrorCode::SESSION_EXPIRED);
            }
            // The client resumed its session on another server since it sent this.
            _ if !self.tracker().is_owner(f.session, f.from) => {
                return fail(ErrorCode::SESSION_MOVED);
            }
            _ => {}
        }
        let authorize = |acl: &[zk_datatree::Acl], perm: i32| auth::check_acl(&info, acl, perm);
        let fixup =
            |acl: &[zk_datatree::Acl]| auth::fixup_acl(&info, acl).map_err(|e| e.error_code());
        let opts = PrepareOptions {
            extended_types_enabled: self.options.extended_types_enabled,
            authorize: &authorize,
            fixup_acl: &fixup,
        };
        prepare(spec, &request, f.session, now, &opts)
            .unwrap_or_else(|code| TxnRecord::new(now, TxnKind::Error { code }))
    }
}

/// The ACLs of the nodes `kind` deletes, taken before it is applied: a deleted node's
/// watchers are told only if they could read it.
fn doomed_acls(tree: &DataTree, kind: &TxnKind, out: &mut HashMap<String, Vec<zk_datatree::Acl>>) {
    let mut keep = |path: &str| {
        if let Some((acl, _)) = tree.acl(path) {
            out.insert(path.to_owned(), acl);
        }
    };
    match kind {
        TxnKind::Delete { path } => keep(path),
        TxnKind::CloseSession { session } => {
            for path in tree.ephemerals(*session) {
                keep(&path);
            }
        }
        TxnKind::Multi(ops) => {
            for op in ops {
                doomed_acls(tree, op, out);
            }
        }
        _ => {}
    }
}

impl StateMachine for ReplicatedTree {
    type Output = ();

    fn apply(&mut self, txn: &Txn) {
        let mut tree = self.shared.tree_mut();
        let zxid = txn.zxid as i64;
        let mut doomed = HashMap::new();
        let (conn, session, cxid, result) = match Committed::decode(txn.data.clone()) {
            Ok(c) => {
                doomed_acls(&tree, &c.record.kind, &mut doomed);
                let conn = (c.from == self.options.server_id && c.conn != 0).then_some(c.conn);
                (
                    conn,
                    c.session,
                    c.cxid,
                    tree.apply_record(txn.zxid, &c.record),
                )
            }
            Err(e) => {
                tracing::warn!(zxid = format_args!("{:#x}", txn.zxid), error = %e, "undecodable transaction: skipped");
                let empty = Txn {
                    zxid: txn.zxid,
                    data: Bytes::new(),
                };
                (None, 0, 0, StateMachine::apply(&mut *tree, &empty))
            }
        };
        let acl_of = |path: &str| {
            doomed
                .get(path)
                .cloned()
                .or_else(|| tree.acl(path).map(|(acl, _)| acl))
        };
        self.shared
            .hub()
            .applied(conn, session, cxid, zxid, result, &acl_of);
        // Nothing prepared is in flight any more: drop the speculative copy, whose
        // written shards would otherwise double the leader's memory; the next prepare
        // clones the committed tree again (sharing every shard).
        if self
            .spec
            .as_ref()
            .is_some_and(|(_, spec)| spec.last_applied() <= txn.zxid)
        {
            self.spec = None;
        }
    }

    fn last_applied(&self) -> Zxid {
        self.shared.tree().last_applied()
    }

    fn snapshot(&self) -> Box<dyn SnapshotSource> {
        self.shared.tree().snapshot()
    }

    fn restore(&mut self, zxid: Zxid, image: Bytes) -> Result<(), RestoreError> {
        self.spec = None;
        self.shared.tree_mut().restore(zxid, image)
    }

    fn prepare(&mut self, zxid: Zxid, request: Bytes) -> Bytes {
        let epoch = epoch_of(zxid);
        let mut spec = match self.spec.take() {
            Some((e, tree)) if e == epoch && tree.last_applied() < zxid => tree,
            _ => self.shared.tree().clone(),
        };
        let now = now_ms();
        let committed = match Forwarded::decode(request) {
            Ok(f) => Committed {
                from: f.from,
                conn: f.conn,
                session: f.session,
                cxid: f.cxid,
                record: self.prepare_forwarded(&spec, &f, now),
            },
            Err(e) => {
                tracing::warn!(error = %e, "undecodable forwarded request: answered as a failed txn");
                Committed {
                    from: 0,
                    conn: 0,
                    session: 0,
                    cxid: 0,
                    record: TxnRecord::new(
                        now,
                        TxnKind::Error {
                            code: ErrorCode::MARSHALLING_ERROR,
                        },
                    ),
                }
            }
        };
        spec.apply_record(zxid, &committed.record);
        self.spec = Some((epoch, spec));
        committed.encode()
    }

    fn learner_note(&mut self, from: PeerId, note: Bytes) {
        let note = match Note::decode(note) {
            Ok(n) => n,
            Err(e) => return tracing::debug!(%from, error = %e, "undecodable note"),
        };
        let mut t = self.tracker.lock().unwrap_or_else(|e| e.into_inner());
        match note {
            Note::Touches(sessions) => {
                let now = Instant::now();
                for s in sessions {
                    t.touch(s, now);
                }
            }
            Note::Claim(session) => t.claim(session, from.0),
        }
    }
}
