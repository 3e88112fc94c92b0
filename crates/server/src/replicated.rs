//! What the server replicates until the data tree exists (the client-protocol issue).
//!
//! ZAB needs a state machine to hand committed transactions to and to snapshot. Until the
//! data tree arrives, the server replicates a small key-value map ([`KvStateMachine`], whose
//! payloads are `set <key> <value>` lines), shared as [`SharedKv`] between the replication
//! driver (which applies) and the test port ([`crate::test_port`], which reads). This state
//! is **temporary**: the data tree replaces it when ZooKeeper's client protocol lands.

use bytes::Bytes;
use std::sync::{Arc, Mutex, MutexGuard};
use zk_zab::state_machine::testing::{KvOutput, KvStateMachine};
use zk_zab::state_machine::{RestoreError, SnapshotSource, StateMachine};
use zk_zab::txn::{Txn, Zxid};

/// A [`KvStateMachine`] behind a shared lock: the driver applies through [`StateMachine`],
/// readers [`lock`](Self::lock) a clone of the handle. Cheap to clone (one `Arc`).
#[derive(Clone, Debug, Default)]
pub struct SharedKv {
    inner: Arc<Mutex<KvStateMachine>>,
}

/// What [`SharedKv::digest`] reports: the same entries give the same digest on every server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvDigest {
    /// The last applied (or restored) zxid.
    pub last_applied: Zxid,
    /// How many keys the map holds.
    pub keys: usize,
    /// FNV-1a over every entry in key order (key, NUL, value, NUL).
    pub hash: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl SharedKv {
    /// An empty map at zxid 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Locks the map for reading. A panic while the lock was held cannot leave it half
    /// updated (`apply` is atomic), so a poisoned lock is used as is.
    pub fn lock(&self) -> MutexGuard<'_, KvStateMachine> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.lock().get(key).map(str::to_owned)
    }

    /// The last applied zxid, the key count and a stable hash of every entry.
    pub fn digest(&self) -> KvDigest {
        let kv = self.lock();
        let mut hash = FNV_OFFSET;
        for (k, v) in kv.entries() {
            for b in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
                hash = (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
        }
        KvDigest {
            last_applied: kv.last_applied(),
            keys: kv.entries().len(),
            hash,
        }
    }
}

impl StateMachine for SharedKv {
    type Output = KvOutput;

    fn apply(&mut self, txn: &Txn) -> KvOutput {
        self.lock().apply(txn)
    }

    fn last_applied(&self) -> Zxid {
        self.lock().last_applied()
    }

    fn snapshot(&self) -> Box<dyn SnapshotSource> {
        self.lock().snapshot()
    }

    fn restore(&mut self, zxid: Zxid, image: Bytes) -> Result<(), RestoreError> {
        self.lock().restore(zxid, image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(txns: &[(u64, &str)]) -> SharedKv {
        let mut sm = SharedKv::new();
        for (z, d) in txns {
            sm.apply(&Txn::new(*z, Bytes::copy_from_slice(d.as_bytes())));
        }
        sm
    }

    #[test]
    fn readers_see_what_the_driver_applies_and_digests_agree() {
        let a = applied(&[(1, "set a 1"), (2, "set b two words")]);
        let reader = a.clone();
        assert_eq!(reader.get("b").as_deref(), Some("two words"));
        assert_eq!(reader.get("c"), None);
        let d = a.digest();
        assert_eq!((d.last_applied, d.keys), (2, 2));
        // Same entries, other history: same hash (the zxid differs).
        let b = applied(&[(1, "set b two words"), (2, "set a 0"), (3, "set a 1")]);
        assert_eq!(b.digest().hash, d.hash);
        assert_ne!(applied(&[(1, "set a 1")]).digest().hash, d.hash);
        // Entry boundaries count: ("ab", "c") differs from ("a", "bc").
        assert_ne!(
            applied(&[(1, "set ab c")]).digest().hash,
            applied(&[(1, "set a bc")]).digest().hash
        );
    }

    #[test]
    fn image_round_trips_through_the_shared_handle() {
        let a = applied(&[(1, "set a 1"), (2, "set b 2")]);
        let mut image = Vec::new();
        a.snapshot().write_to(&mut image).unwrap();
        let mut b = SharedKv::new();
        b.restore(2, Bytes::from(image)).unwrap();
        assert_eq!(b.digest(), a.digest());
        assert!(b.restore(3, Bytes::from_static(b"short")).is_err());
    }
}
