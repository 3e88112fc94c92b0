//! The transaction record shared by the log, snapshots and the protocol.
//!
//! ZAB orders and replicates transactions without looking inside them: the payload is
//! opaque bytes that the replicated state machine (the data tree, in the server) interprets.

use bytes::Bytes;

/// A ZooKeeper transaction id: the epoch in the high 32 bits, a counter in the low 32.
pub type Zxid = u64;

/// The epoch of `zxid`.
pub fn epoch_of(zxid: Zxid) -> u32 {
    (zxid >> 32) as u32
}

/// The counter of `zxid`.
pub fn counter_of(zxid: Zxid) -> u32 {
    zxid as u32
}

/// The zxid with `epoch` and `counter`.
pub fn make_zxid(epoch: u32, counter: u32) -> Zxid {
    (u64::from(epoch) << 32) | u64::from(counter)
}

/// Whether `next` may directly follow `prev` in a log: the next counter of the same epoch,
/// or the first (counter 1) of a later epoch. Gaps are refused everywhere a log is read or
/// extended (ZOOKEEPER-4925 rejects discontinuous proposals).
pub fn follows(prev: Zxid, next: Zxid) -> bool {
    let (pe, pc) = (epoch_of(prev), counter_of(prev));
    let (ne, nc) = (epoch_of(next), counter_of(next));
    (ne == pe && pc.checked_add(1) == Some(nc)) || (ne > pe && nc == 1)
}

/// One transaction: its position in the total order and its opaque payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    /// Its zxid; zxids of a log strictly increase.
    pub zxid: Zxid,
    /// What the state machine applies.
    pub data: Bytes,
}

impl Txn {
    /// A transaction with `zxid` and `data`.
    pub fn new(zxid: Zxid, data: impl Into<Bytes>) -> Self {
        Self {
            zxid,
            data: data.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_halves() {
        let z = make_zxid(3, 7);
        assert_eq!((epoch_of(z), counter_of(z)), (3, 7));
        assert_eq!(z, 0x0000_0003_0000_0007);
    }
}
