//! The leader ↔ learner messages of ZAB 1.0 and their versioned hand codec.
//!
//! Every frame is `version: u8` ([`VERSION`]), `kind: u8` (ZooKeeper's `Leader.java` packet
//! codes where one exists), then the fields in order: integers big-endian, byte strings as a
//! `u32` length followed by the bytes. A frame must be consumed exactly; decoding never
//! panics and reports a typed [`DecodeError`].

use crate::txn::{Txn, Zxid};
use bytes::{BufMut, Bytes, BytesMut};

/// The codec version written in the first byte of every frame.
pub const VERSION: u8 = 1;

/// One leader ↔ learner message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Learner → leader: a follower registers (code 11).
    FollowerInfo {
        /// The learner's durable accepted epoch.
        accepted_epoch: u64,
        /// The learner's last logged zxid.
        last_zxid: Zxid,
    },
    /// Learner → leader: an observer registers (code 16).
    ObserverInfo {
        /// The learner's durable accepted epoch.
        accepted_epoch: u64,
        /// The learner's last logged zxid.
        last_zxid: Zxid,
    },
    /// Leader → learner: the proposed epoch (code 17).
    LeaderInfo {
        /// The new epoch.
        new_epoch: u64,
    },
    /// Learner → leader: the epoch is accepted (code 18). `counted` is false when the learner
    /// had already accepted this epoch (ZooKeeper sends `-1`): such an ack never counts.
    AckEpoch {
        /// Whether this ack may count towards the epoch quorum.
        counted: bool,
        /// The learner's durable current epoch.
        current_epoch: u64,
        /// The learner's last logged zxid.
        last_zxid: Zxid,
    },
    /// Leader → learner: the txns after `zxid` follow as proposals (code 13).
    Diff {
        /// The learner's last zxid, on the leader's history.
        zxid: Zxid,
    },
    /// Leader → learner: drop every logged txn after `zxid`, then proposals follow (code 14).
    Trunc {
        /// The last zxid to keep.
        zxid: Zxid,
    },
    /// Leader → learner: replace the state with this image, then proposals follow (code 15).
    Snap {
        /// The last zxid the image contains.
        zxid: Zxid,
        /// The state machine image.
        image: Bytes,
    },
    /// A transaction to log (code 2); also carries the txns of a DIFF.
    Proposal {
        /// The transaction.
        txn: Txn,
    },
    /// Everything up to `zxid` is committed (code 4).
    Commit {
        /// The committed zxid.
        zxid: Zxid,
    },
    /// Leader → learner: end of the sync stream for `epoch` (code 10).
    NewLeader {
        /// The new epoch.
        epoch: u64,
    },
    /// Learner → leader: logged durably up to `zxid` (code 3). `zxid = (epoch, 0)` acks
    /// NEWLEADER.
    Ack {
        /// The acknowledged zxid.
        zxid: Zxid,
    },
    /// Leader → learner: the epoch is established; serve (code 12).
    UpToDate,
    /// Heartbeat, both ways (code 5).
    Ping,
    /// Learner → leader: a forwarded client write (code 1).
    Request {
        /// The opaque write.
        payload: Bytes,
    },
    /// Learner → leader: a sync barrier (code 7).
    Sync {
        /// The learner's request id.
        id: u64,
    },
    /// Leader → learner: the barrier's answer: the leader's committed zxid when it arrived
    /// (zk-rs code 32).
    SyncDone {
        /// The learner's request id.
        id: u64,
        /// The leader's last committed zxid at the time.
        zxid: Zxid,
    },
    /// Leader → observer: a committed transaction (code 8).
    Inform {
        /// The transaction.
        txn: Txn,
    },
    /// Learner → leader: an opaque note for the leader's state machine, such as the
    /// sessions this learner kept alive (zk-rs code 33; ZooKeeper puts session touches in
    /// its PING).
    Note {
        /// The note.
        payload: Bytes,
    },
}

/// Why a frame could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is empty.
    #[error("empty frame")]
    Empty,
    /// The version byte is not one we speak.
    #[error("unknown codec version {0}")]
    Version(u8),
    /// The kind byte is unknown.
    #[error("unknown message kind {0}")]
    Kind(u8),
    /// The frame ended inside a field.
    #[error("frame truncated")]
    Truncated,
    /// Bytes remain after the last field.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A boolean field holds something other than 0 or 1.
    #[error("invalid boolean {0}")]
    Bool(u8),
}

mod kind {
    pub(super) const REQUEST: u8 = 1;
    pub(super) const PROPOSAL: u8 = 2;
    pub(super) const ACK: u8 = 3;
    pub(super) const COMMIT: u8 = 4;
    pub(super) const PING: u8 = 5;
    pub(super) const SYNC: u8 = 7;
    pub(super) const INFORM: u8 = 8;
    pub(super) const NEWLEADER: u8 = 10;
    pub(super) const FOLLOWERINFO: u8 = 11;
    pub(super) const UPTODATE: u8 = 12;
    pub(super) const DIFF: u8 = 13;
    pub(super) const TRUNC: u8 = 14;
    pub(super) const SNAP: u8 = 15;
    pub(super) const OBSERVERINFO: u8 = 16;
    pub(super) const LEADERINFO: u8 = 17;
    pub(super) const ACKEPOCH: u8 = 18;
    pub(super) const SYNCDONE: u8 = 32;
    pub(super) const NOTE: u8 = 33;
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        let n = u32::from_be_bytes(a) as usize;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }

    fn txn(&mut self) -> Result<Txn, DecodeError> {
        let zxid = self.u64()?;
        let data = self.bytes()?;
        Ok(Txn { zxid, data })
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::Bool(b)),
        }
    }
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_u32(b.len() as u32);
    out.put_slice(b);
}

fn put_txn(out: &mut BytesMut, t: &Txn) {
    out.put_u64(t.zxid);
    put_bytes(out, &t.data);
}

impl Message {
    /// The packet kind byte.
    pub fn kind(&self) -> u8 {
        match self {
            Self::FollowerInfo { .. } => kind::FOLLOWERINFO,
            Self::ObserverInfo { .. } => kind::OBSERVERINFO,
            Self::LeaderInfo { .. } => kind::LEADERINFO,
            Self::AckEpoch { .. } => kind::ACKEPOCH,
            Self::Diff { .. } => kind::DIFF,
            Self::Trunc { .. } => kind::TRUNC,
            Self::Snap { .. } => kind::SNAP,
            Self::Proposal { .. } => kind::PROPOSAL,
            Self::Commit { .. } => kind::COMMIT,
            Self::NewLeader { .. } => kind::NEWLEADER,
            Self::Ack { .. } => kind::ACK,
            Self::UpToDate => kind::UPTODATE,
            Self::Ping => kind::PING,
            Self::Request { .. } => kind::REQUEST,
            Self::Sync { .. } => kind::SYNC,
            Self::SyncDone { .. } => kind::SYNCDONE,
            Self::Inform { .. } => kind::INFORM,
            Self::Note { .. } => kind::NOTE,
        }
    }

    /// The frame for this message.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(32);
        out.put_u8(VERSION);
        out.put_u8(self.kind());
        match self {
            Self::FollowerInfo {
                accepted_epoch,
                last_zxid,
            }
            | Self::ObserverInfo {
                accepted_epoch,
                last_zxid,
            } => {
                out.put_u64(*accepted_epoch);
                out.put_u64(*last_zxid);
            }
            Self::LeaderInfo { new_epoch } => out.put_u64(*new_epoch),
            Self::AckEpoch {
                counted,
                current_epoch,
                last_zxid,
            } => {
                out.put_u8(u8::from(*counted));
                out.put_u64(*current_epoch);
                out.put_u64(*last_zxid);
            }
            Self::Diff { zxid } | Self::Trunc { zxid } | Self::Commit { zxid } => {
                out.put_u64(*zxid)
            }
            Self::Ack { zxid } => out.put_u64(*zxid),
            Self::Snap { zxid, image } => {
                out.put_u64(*zxid);
                put_bytes(&mut out, image);
            }
            Self::Proposal { txn } | Self::Inform { txn } => put_txn(&mut out, txn),
            Self::NewLeader { epoch } => out.put_u64(*epoch),
            Self::UpToDate | Self::Ping => {}
            Self::Request { payload } | Self::Note { payload } => put_bytes(&mut out, payload),
            Self::Sync { id } => out.put_u64(*id),
            Self::SyncDone { id, zxid } => {
                out.put_u64(*id);
                out.put_u64(*zxid);
            }
        }
        out.freeze()
    }

    /// Parse a frame. Never panics.
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { buf: frame };
        let version = r.u8().map_err(|_| DecodeError::Empty)?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let k = r.u8()?;
        let m = match k {
            kind::FOLLOWERINFO => Self::FollowerInfo {
                accepted_epoch: r.u64()?,
                last_zxid: r.u64()?,
            },
            kind::OBSERVERINFO => Self::ObserverInfo {
                accepted_epoch: r.u64()?,
                last_zxid: r.u64()?,
            },
            kind::LEADERINFO => Self::LeaderInfo {
                new_epoch: r.u64()?,
            },
            kind::ACKEPOCH => Self::AckEpoch {
                counted: r.bool()?,
                current_epoch: r.u64()?,
                last_zxid: r.u64()?,
            },
            kind::DIFF => Self::Diff { zxid: r.u64()? },
            kind::TRUNC => Self::Trunc { zxid: r.u64()? },
            kind::SNAP => Self::Snap {
                zxid: r.u64()?,
                image: r.bytes()?,
            },
            kind::PROPOSAL => Self::Proposal { txn: r.txn()? },
            kind::COMMIT => Self::Commit { zxid: r.u64()? },
            kind::NEWLEADER => Self::NewLeader { epoch: r.u64()? },
            kind::ACK => Self::Ack { zxid: r.u64()? },
            kind::UPTODATE => Self::UpToDate,
            kind::PING => Self::Ping,
            kind::REQUEST => Self::Request {
                payload: r.bytes()?,
            },
            kind::SYNC => Self::Sync { id: r.u64()? },
            kind::SYNCDONE => Self::SyncDone {
                id: r.u64()?,
                zxid: r.u64()?,
            },
            kind::INFORM => Self::Inform { txn: r.txn()? },
            kind::NOTE => Self::Note {
                payload: r.bytes()?,
            },
            other => return Err(DecodeError::Kind(other)),
        };
        if !r.buf.is_empty() {
            return Err(DecodeError::Trailing(r.buf.len()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Message> {
        let txn = Txn::new(0x0000_0003_0000_0007, &b"hello"[..]);
        vec![
            Message::FollowerInfo {
                accepted_epoch: 4,
                last_zxid: 77,
            },
            Message::ObserverInfo {
                accepted_epoch: u64::MAX,
                last_zxid: 0,
            },
            Message::LeaderInfo { new_epoch: 9 },
            Message::AckEpoch {
                counted: true,
                current_epoch: 3,
                last_zxid: 12,
            },
            Message::AckEpoch {
                counted: false,
                current_epoch: 0,
                last_zxid: 1,
            },
            Message::Diff { zxid: 5 },
            Message::Trunc { zxid: 6 },
            Message::Snap {
                zxid: 7,
                image: Bytes::from_static(b"image"),
            },
            Message::Snap {
                zxid: 0,
                image: Bytes::new(),
            },
            Message::Proposal { txn: txn.clone() },
            Message::Commit { zxid: 8 },
            Message::NewLeader { epoch: 2 },
            Message::Ack { zxid: 9 },
            Message::UpToDate,
            Message::Ping,
            Message::Request {
                payload: Bytes::from_static(b"w"),
            },
            Message::Sync { id: 10 },
            Message::SyncDone { id: 11, zxid: 12 },
            Message::Inform { txn },
            Message::Note {
                payload: Bytes::from_static(b"n"),
            },
        ]
    }

    #[test]
    fn round_trip() {
        for m in samples() {
            let f = m.encode();
            assert_eq!(f[0], VERSION);
            assert_eq!(Message::decode(&f), Ok(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn truncations_and_trailing_bytes_are_typed_errors() {
        for m in samples() {
            let f = m.encode();
            for cut in 0..f.len() {
                let e = Message::decode(&f[..cut]).unwrap_err();
                let expected = if cut == 0 {
                    DecodeError::Empty
                } else {
                    DecodeError::Truncated
                };
                assert_eq!(e, expected, "{m:?} cut at {cut}");
            }
            let mut long = f.to_vec();
            long.push(0);
            assert_eq!(Message::decode(&long), Err(DecodeError::Trailing(1)));
        }
    }

    #[test]
    fn bad_header_bytes() {
        assert_eq!(Message::decode(&[2, 5]), Err(DecodeError::Version(2)));
        assert_eq!(Message::decode(&[VERSION, 99]), Err(DecodeError::Kind(99)));
        let mut f = Message::AckEpoch {
            counted: true,
            current_epoch: 1,
            last_zxid: 1,
        }
        .encode()
        .to_vec();
        f[2] = 7;
        assert_eq!(Message::decode(&f), Err(DecodeError::Bool(7)));
        // A length field far beyond the frame.
        let f = [VERSION, 1, 0xff, 0xff, 0xff, 0xff, 1];
        assert_eq!(Message::decode(&f), Err(DecodeError::Truncated));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut f: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len > 1 && next() % 2 == 0 {
                f[0] = VERSION;
            }
            if let Ok(m) = Message::decode(&f) {
                assert_eq!(m.encode().as_ref(), &f[..]);
            }
        }
    }
}
