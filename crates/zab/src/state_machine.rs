//! The replicated state machine trait.
//!
//! ZAB hands committed transactions, in zxid order, to a [`StateMachine`]; it asks it for
//! snapshots ([`StateMachine::snapshot`]) and to restore from one ([`StateMachine::restore`]).
//! ZAB knows nothing of znodes: the server's data tree implements this trait, and
//! [`testing::KvStateMachine`] is a small ordered-map implementation for tests and the
//! protocol simulation.
//!
//! # Snapshots are consistent point-in-time images, not fuzzy ones
//!
//! ZooKeeper serializes its data tree *while* transactions keep being applied, so a snapshot
//! spans several zxids ("fuzzy") and is made correct by replaying every transaction from the
//! zxid at which serialization *started*, relying on every transaction being idempotent.
//! That scheme failed in ZOOKEEPER-3127: `lastProcessedZxid` was advanced while a multi-op
//! transaction was only partly applied, the snapshot claimed that zxid, and a restore
//! skipped the rest of the multi. Idempotence is also a burden on every transaction type
//! (sequential nodes, `cversion`, counters) that is easy to get subtly wrong.
//!
//! zk-rs takes the other road: [`StateMachine::snapshot`] returns a [`SnapshotSource`] that
//! is an immutable image of the state *exactly* after [`StateMachine::last_applied`] and
//! carries that zxid ([`SnapshotSource::zxid`]). Because `snapshot` takes `&self` and
//! `apply` takes `&mut self`, the borrow checker guarantees that `snapshot` never runs while
//! an `apply` is half done, so the image can never contain part of a transaction
//! (a multi is one [`Txn`], applied by one `apply` call). The implementer makes capturing
//! cheap — an `Arc` clone of a persistent or copy-on-write structure, as
//! [`testing::KvStateMachine`] does — and the expensive part, serializing the image to an
//! [`io::Write`], runs on a background thread (see [`crate::snapshot::Snapshotter`]) while
//! `apply` continues on the live state.
//!
//! Recovery ([`crate::snapshot::recover`]) then restores the image at zxid `z` and applies
//! exactly the logged transactions with zxid `> z`, each exactly once. Transactions need
//! not be idempotent.
//!
//! # Only committed transactions, and durable before acknowledged
//!
//! `apply` is only ever given *committed* transactions, so a snapshot can never contain an
//! uncommitted one (the "dirty snapshot" of ZOOKEEPER-1549). A learner that receives a
//! SNAP from its leader must [`restore`](StateMachine::restore) it *and* persist it
//! ([`crate::snapshot::SnapshotStore::save_image`]) before it acknowledges NEWLEADER:
//! advancing `last_applied` on an image that exists only in memory is ZOOKEEPER-3642, where a
//! restart then silently lost every transaction up to that zxid.

use std::error::Error as StdError;
use std::io;

use bytes::Bytes;

use crate::txn::{Txn, Zxid};

/// Why a [`StateMachine::restore`] rejected an image.
pub type RestoreError = Box<dyn StdError + Send + Sync + 'static>;

/// An immutable image of a state machine at one zxid, which can be written out on any
/// thread.
///
/// Produced by [`StateMachine::snapshot`]. Writing it must not touch the live state
/// machine: the source owns (a cheap, shared, immutable handle to) everything it writes.
pub trait SnapshotSource: Send {
    /// The zxid this image is consistent at: it contains the effect of every transaction
    /// with a zxid `<=` this one, and of no other.
    fn zxid(&self) -> Zxid;

    /// Serializes the image to `out`. Called at most once per source; the output is
    /// exactly what [`StateMachine::restore`] is later given.
    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()>;
}

/// A [`SnapshotSource`] over an image that is already serialized, such as one received from
/// the leader in a SNAP sync, which must be persisted before it is acknowledged
/// (ZOOKEEPER-3642).
#[derive(Clone, Debug)]
pub struct BytesSource {
    zxid: Zxid,
    image: Bytes,
}

impl BytesSource {
    /// A source writing `image`, consistent at `zxid`.
    pub fn new(zxid: Zxid, image: impl Into<Bytes>) -> Self {
        Self {
            zxid,
            image: image.into(),
        }
    }
}

impl SnapshotSource for BytesSource {
    fn zxid(&self) -> Zxid {
        self.zxid
    }

    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        out.write_all(&self.image)
    }
}

/// The replicated state machine that ZAB drives.
///
/// See the [module docs](self) for why snapshots are consistent images and why replay is
/// exactly-once.
pub trait StateMachine: Send {
    /// What applying one transaction produces, e.g. the reply for the client that sent it.
    ///
    /// `apply` is deliberately infallible. A *deterministic* rejection (ZooKeeper's
    /// `NoNode`, `BadVersion`, a multi whose check fails) is an ordinary result that every
    /// replica computes identically, so it is part of `Output`, and replication must carry
    /// on. A *non-deterministic* failure (out of memory, a bug) cannot be recovered by
    /// carrying on, since this replica would silently diverge from the others; the
    /// implementer must abort the process instead, and recovery replays the transaction on
    /// restart.
    type Output;

    /// Applies one committed transaction.
    ///
    /// Called strictly in zxid order, each transaction exactly once, with
    /// `txn.zxid > self.last_applied()`; afterwards `last_applied()` must be `txn.zxid`.
    /// The transaction is applied atomically: [`snapshot`](Self::snapshot) can never
    /// observe part of it.
    fn apply(&mut self, txn: &Txn) -> Self::Output;

    /// The zxid of the last transaction applied (or restored); 0 for an empty state.
    fn last_applied(&self) -> Zxid;

    /// Captures an immutable image of the current state, consistent at exactly
    /// [`last_applied`](Self::last_applied), which the returned source reports as its
    /// [`zxid`](SnapshotSource::zxid).
    ///
    /// This runs between two `apply` calls and blocks them, so it must be cheap (an `Arc`
    /// clone of a persistent or copy-on-write structure); serialization happens later, in
    /// [`SnapshotSource::write_to`], on another thread, while `apply` continues.
    fn snapshot(&self) -> Box<dyn SnapshotSource>;

    /// Replaces the whole state with `image`, which a source consistent at `zxid` wrote.
    /// Afterwards `last_applied()` is `zxid`. On error the state is unspecified and the
    /// caller must not use it.
    fn restore(&mut self, zxid: Zxid, image: Bytes) -> Result<(), RestoreError>;

    /// Leader only: turns a client request (the payload of a
    /// [`ClientHandle::write`](crate::driver::ClientHandle::write) here or on a learner)
    /// into the transaction that will be proposed at `zxid`, as ZooKeeper's
    /// `PrepRequestProcessor` does. Requests are prepared in zxid order; the state the
    /// request is checked against must include every earlier prepared transaction, not only
    /// the applied ones (they may still be in flight). A new epoch (`zxid`'s upper half)
    /// abandons whatever was prepared and not applied. The default proposes the request
    /// itself.
    fn prepare(&mut self, zxid: Zxid, request: Bytes) -> Bytes {
        let _ = zxid;
        request
    }

    /// Leader only: a note sent by a learner (or this server) with
    /// [`ClientHandle::note_to_leader`](crate::driver::ClientHandle::note_to_leader), such
    /// as the sessions it kept alive. The default ignores it.
    fn learner_note(&mut self, from: zk_transport::PeerId, note: Bytes) {
        let _ = (from, note);
    }
}

pub mod testing {
    //! A small in-memory [`StateMachine`] for tests and the protocol simulation.
    //!
    //! [`KvStateMachine`] is an ordered map from keys to values. A transaction's payload is
    //! UTF-8 text of one or more operations, one per line, applied atomically as a multi:
    //!
    //! - `set <key> <value>` sets `key` (the value is the rest of the line);
    //! - `del <key>` removes `key` (an error if it is absent);
    //! - `incr <key>` adds 1 to the decimal integer at `key` (absent counts as 0); it is
    //!   deliberately *not* idempotent, so a transaction replayed twice shows up.
    //!
    //! If any operation fails, none of the transaction's operations take effect and
    //! [`apply`](StateMachine::apply) returns [`KvOutput::Rejected`], like ZooKeeper's multi.

    use std::collections::BTreeMap;
    use std::io;
    use std::sync::Arc;

    use bytes::Bytes;

    use super::{RestoreError, SnapshotSource, StateMachine};
    use crate::txn::{Txn, Zxid};

    /// The result of applying one transaction to a [`KvStateMachine`].
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum KvOutput {
        /// Every operation took effect.
        Applied,
        /// No operation took effect, for this deterministic reason.
        Rejected(String),
    }

    /// An ordered map applying `set`/`del`/`incr` payloads; see the [module docs](self).
    ///
    /// Snapshots are copy-on-write: [`snapshot`](StateMachine::snapshot) clones an `Arc`,
    /// and the next `apply` copies the map once if a snapshot still holds it.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct KvStateMachine {
        map: Arc<BTreeMap<String, String>>,
        last_applied: Zxid,
        applied: u64,
        rejected: u64,
    }

    impl KvStateMachine {
        /// An empty map at zxid 0.
        pub fn new() -> Self {
            Self::default()
        }

        /// The value at `key`.
        pub fn get(&self, key: &str) -> Option<&str> {
            self.map.get(key).map(String::as_str)
        }

        /// The whole map.
        pub fn entries(&self) -> &BTreeMap<String, String> {
            &self.map
        }

        /// How many transactions [`apply`](StateMachine::apply) took since creation or the
        /// last restore (applied and rejected alike).
        pub fn applied_count(&self) -> u64 {
            self.applied
        }

        /// How many of those were rejected.
        pub fn rejected_count(&self) -> u64 {
            self.rejected
        }

        /// Runs `payload` on `map`, pushing each touched key's previous value to `undo`.
        fn run(
            map: &mut BTreeMap<String, String>,
            payload: &str,
            undo: &mut Vec<(String, Option<String>)>,
        ) -> Result<(), String> {
            for line in payload.lines().filter(|l| !l.trim().is_empty()) {
                let (op, rest) = line.split_once(' ').unwrap_or((line, ""));
                match op {
                    "set" => {
                        let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                        if k.is_empty() {
                            return Err(format!("set without a key: {line:?}"));
                        }
                        undo.push((k.to_owned(), map.insert(k.to_owned(), v.to_owned())));
                    }
                    "del" => match map.remove(rest) {
                        None => return Err(format!("del of absent key {rest:?}")),
                        old => undo.push((rest.to_owned(), old)),
                    },
                    "incr" => {
                        let cur = match map.get(rest) {
                            None => 0,
                            Some(v) => v
                                .parse::<i64>()
                                .map_err(|_| format!("incr of non-integer {rest:?}={v:?}"))?,
                        };
                        let next = cur
                            .checked_add(1)
                            .ok_or_else(|| format!("incr overflow at {rest:?}"))?;
                        undo.push((
                            rest.to_owned(),
                            map.insert(rest.to_owned(), next.to_string()),
                        ));
                    }
                    _ => return Err(format!("unknown operation {line:?}")),
                }
            }
            Ok(())
        }
    }

    impl StateMachine for KvStateMachine {
        type Output = KvOutput;

        fn apply(&mut self, txn: &Txn) -> KvOutput {
            debug_assert!(
                txn.zxid > self.last_applied,
                "apply out of order: {:#x} after {:#x}",
                txn.zxid,
                self.last_applied
            );
            self.applied += 1;
            self.last_applied = txn.zxid;
            let Ok(payload) = std::str::from_utf8(&txn.data) else {
                self.rejected += 1;
                return KvOutput::Rejected("payload is not UTF-8".to_owned());
            };
            // Copy-on-write: clones the map only if a snapshot still shares it.
            let map = Arc::make_mut(&mut self.map);
            let mut undo = Vec::new();
            match Self::run(map, payload, &mut undo) {
                Ok(()) => KvOutput::Applied,
                Err(reason) => {
                    // Roll back, newest first, so a failed multi leaves no trace.
                    for (k, old) in undo.into_iter().rev() {
                        match old {
                            Some(v) => map.insert(k, v),
                            None => map.remove(&k),
                        };
                    }
                    self.rejected += 1;
                    KvOutput::Rejected(reason)
                }
            }
        }

        fn last_applied(&self) -> Zxid {
            self.last_applied
        }

        fn snapshot(&self) -> Box<dyn SnapshotSource> {
            Box::new(KvSnapshot {
                zxid: self.last_applied,
                map: Arc::clone(&self.map),
            })
        }

        fn restore(&mut self, zxid: Zxid, image: Bytes) -> Result<(), RestoreError> {
            let map = decode(&image)?;
            *self = Self {
                map: Arc::new(map),
                last_applied: zxid,
                applied: 0,
                rejected: 0,
            };
            Ok(())
        }
    }

    /// The image of a [`KvStateMachine`]: entry count (u64 LE), then per entry key length
    /// (u32 LE), key, value length (u32 LE), value.
    struct KvSnapshot {
        zxid: Zxid,
        map: Arc<BTreeMap<String, String>>,
    }

    impl SnapshotSource for KvSnapshot {
        fn zxid(&self) -> Zxid {
            self.zxid
        }

        fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
            out.write_all(&(self.map.len() as u64).to_le_bytes())?;
            for (k, v) in self.map.iter() {
                for s in [k, v] {
                    let len = u32::try_from(s.len()).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "entry too long")
                    })?;
                    out.write_all(&len.to_le_bytes())?;
                    out.write_all(s.as_bytes())?;
                }
            }
            Ok(())
        }
    }

    fn decode(mut buf: &[u8]) -> Result<BTreeMap<String, String>, RestoreError> {
        fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], RestoreError> {
            if buf.len() < n {
                return Err("kv image truncated".into());
            }
            let (head, tail) = buf.split_at(n);
            *buf = tail;
            Ok(head)
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(take(&mut buf, 8)?);
        let count = u64::from_le_bytes(count);
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let mut pair = [String::new(), String::new()];
            for s in &mut pair {
                let mut len = [0u8; 4];
                len.copy_from_slice(take(&mut buf, 4)?);
                let bytes = take(&mut buf, u32::from_le_bytes(len) as usize)?;
                *s = String::from_utf8(bytes.to_vec())?;
            }
            let [k, v] = pair;
            map.insert(k, v);
        }
        if !buf.is_empty() {
            return Err(format!("{} trailing bytes after kv image", buf.len()).into());
        }
        Ok(map)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn multi_is_atomic_and_image_round_trips() {
            let mut sm = KvStateMachine::new();
            assert_eq!(sm.apply(&Txn::new(1, "set a 1\nincr n")), KvOutput::Applied);
            let out = sm.apply(&Txn::new(2, "set b 2\ndel missing"));
            assert!(matches!(out, KvOutput::Rejected(_)));
            assert_eq!(sm.get("b"), None);
            assert_eq!(sm.last_applied(), 2);

            let mut image = Vec::new();
            let mut src = sm.snapshot();
            assert_eq!(src.zxid(), 2);
            src.write_to(&mut image).unwrap();
            let mut other = KvStateMachine::new();
            other.restore(2, Bytes::from(image)).unwrap();
            assert_eq!(other.entries(), sm.entries());
            assert_eq!(other.last_applied(), 2);
        }
    }
}
