//! What the server replicates until the data tree exists (the client-protocol issue).
//!
//! ZAB needs a state machine to hand committed transactions to and to snapshot. Until the
//! data tree arrives, the server keeps a [`TxnDigest`]: how many transactions were applied
//! and a running digest of them, so two servers that applied the same sequence agree, and
//! snapshots and recovery are exercised on every start.

use bytes::Bytes;
use zk_zab::state_machine::{BytesSource, RestoreError, SnapshotSource, StateMachine};
use zk_zab::txn::{Txn, Zxid};

/// The applied-transaction digest: zxid, count, and an FNV-1a digest chained over payloads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnDigest {
    last: Zxid,
    count: u64,
    digest: u64,
}

const IMAGE_LEN: usize = 24;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl TxnDigest {
    /// Transactions applied since the beginning.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The chained digest of every applied transaction.
    pub fn digest(&self) -> u64 {
        self.digest
    }
}

impl StateMachine for TxnDigest {
    type Output = ();

    fn apply(&mut self, txn: &Txn) {
        let mut h = if self.count == 0 {
            FNV_OFFSET
        } else {
            self.digest
        };
        for b in txn.zxid.to_be_bytes().iter().chain(txn.data.iter()) {
            h = (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME);
        }
        self.digest = h;
        self.count += 1;
        self.last = txn.zxid;
    }

    fn last_applied(&self) -> Zxid {
        self.last
    }

    fn snapshot(&self) -> Box<dyn SnapshotSource> {
        let mut image = Vec::with_capacity(IMAGE_LEN);
        image.extend_from_slice(&self.last.to_be_bytes());
        image.extend_from_slice(&self.count.to_be_bytes());
        image.extend_from_slice(&self.digest.to_be_bytes());
        Box::new(BytesSource::new(self.last, image))
    }

    fn restore(&mut self, zxid: Zxid, image: Bytes) -> Result<(), RestoreError> {
        let field = |i: usize| -> Result<u64, RestoreError> {
            let bytes: [u8; 8] = image
                .get(i * 8..i * 8 + 8)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| {
                    format!("a digest image is {IMAGE_LEN} bytes, got {}", image.len())
                })?;
            Ok(u64::from_be_bytes(bytes))
        };
        if image.len() != IMAGE_LEN {
            return Err(format!("a digest image is {IMAGE_LEN} bytes, got {}", image.len()).into());
        }
        let (last, count, digest) = (field(0)?, field(1)?, field(2)?);
        if last != zxid {
            return Err(format!("image claims zxid {last:#x} but was stored as {zxid:#x}").into());
        }
        *self = Self {
            last,
            count,
            digest,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(txns: &[(u64, &str)]) -> TxnDigest {
        let mut sm = TxnDigest::default();
        for (z, d) in txns {
            sm.apply(&Txn::new(*z, Bytes::copy_from_slice(d.as_bytes())));
        }
        sm
    }

    #[test]
    fn same_sequence_same_digest_and_order_matters() {
        let a = applied(&[(1, "a"), (2, "b")]);
        assert_eq!(a, applied(&[(1, "a"), (2, "b")]));
        assert_ne!(a.digest(), applied(&[(1, "b"), (2, "a")]).digest());
        assert_eq!((a.count(), a.last_applied()), (2, 2));
    }

    #[test]
    fn image_round_trips_and_rejects_bad_input() {
        let a = applied(&[(1, "a"), (2, "b")]);
        let mut src = a.snapshot();
        let mut image = Vec::new();
        src.write_to(&mut image).unwrap();
        let mut b = TxnDigest::default();
        b.restore(2, Bytes::from(image.clone())).unwrap();
        assert_eq!(a, b);
        assert!(b.restore(3, Bytes::from(image)).is_err());
        assert!(b.restore(2, Bytes::from_static(b"short")).is_err());
    }
}
