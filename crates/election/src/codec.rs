//! The ZooKeeper 3.8 Fast Leader Election notification wire format.
//!
//! Big-endian, as `FastLeaderElection.buildMsg` writes it and `WorkerReceiver` reads it:
//!
//! ```text
//! int32 state          LOOKING=0, FOLLOWING=1, LEADING=2, OBSERVING=3
//! int64 leader         proposed leader sid
//! int64 zxid           proposed leader's last zxid
//! int64 electionEpoch  the sender's logical clock (round)
//! int64 peerEpoch      proposed leader's epoch              (absent in the 28-byte form)
//! int32 version        0x2                                   (absent in 28- and 40-byte forms)
//! int32 configLength   only when version > 1; 0..=remaining
//! bytes config         dynamic-config text (we send none)
//! ```
//!
//! [`decode`] accepts the legacy 28-byte form (the peer epoch is then the zxid's epoch) and the
//! 40-byte form (version 0), and rejects everything else with a typed [`DecodeError`]; it
//! never panics, whatever the bytes.

use crate::vote::{ServerState, Vote, zxid};
use bytes::{BufMut, Bytes, BytesMut};
use zk_transport::PeerId;

/// The notification version we write (`Notification.CURRENTVERSION`).
pub const CURRENT_VERSION: i32 = 0x2;

/// Length of the legacy form without peer epoch.
pub const LEGACY_28: usize = 28;
/// Length of the legacy form without version.
pub const LEGACY_40: usize = 40;
/// Length of the current form's fixed part (before the config bytes).
pub const HEADER_44: usize = 44;

/// One election notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The sender's state.
    pub state: ServerState,
    /// The sender's vote (proposal while looking; the elected leader otherwise).
    pub vote: Vote,
    /// The sender's election round (`logicalclock`), or the round its vote was decided in.
    pub election_epoch: u64,
    /// The format version (0 for the legacy forms).
    pub version: i32,
    /// Dynamic-configuration bytes carried by version-2 notifications (we send none).
    pub config: Bytes,
}

impl Notification {
    /// A current-version notification with no config.
    pub fn new(state: ServerState, vote: Vote, election_epoch: u64) -> Self {
        Self {
            state,
            vote,
            election_epoch,
            version: CURRENT_VERSION,
            config: Bytes::new(),
        }
    }

    /// The wire bytes: always the current (version 2) form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER_44 + self.config.len());
        b.put_i32(self.state.to_wire());
        b.put_u64(self.vote.leader.0);
        b.put_u64(self.vote.zxid);
        b.put_u64(self.election_epoch);
        b.put_u64(self.vote.peer_epoch);
        b.put_i32(CURRENT_VERSION);
        // A config longer than i32::MAX cannot be described; send none rather than a lie.
        let len = i32::try_from(self.config.len()).unwrap_or(0);
        b.put_i32(len);
        if len > 0 {
            b.put_slice(&self.config);
        }
        b.freeze()
    }
}

/// Why a notification was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the 28-byte minimum.
    #[error("notification of {0} bytes is shorter than 28")]
    TooShort(usize),
    /// A length that is none of the known forms (28, 40, or 44 and more).
    #[error("notification of {0} bytes matches no known form")]
    BadLength(usize),
    /// A state value outside 0..=3.
    #[error("unknown server state {0}")]
    BadState(i32),
    /// A config length that is negative or longer than the bytes that follow.
    #[error("config length {len} is invalid with {available} bytes remaining")]
    BadConfigLength {
        /// The declared length.
        len: i32,
        /// The bytes actually remaining.
        available: usize,
    },
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    i32::from_be_bytes(a)
}

/// Parse one notification frame.
pub fn decode(b: &[u8]) -> Result<Notification, DecodeError> {
    let len = b.len();
    if len < LEGACY_28 {
        return Err(DecodeError::TooShort(len));
    }
    if len != LEGACY_28 && len != LEGACY_40 && len < HEADER_44 {
        return Err(DecodeError::BadLength(len));
    }
    let raw_state = be_i32(b, 0);
    let state = ServerState::from_wire(raw_state).ok_or(DecodeError::BadState(raw_state))?;
    let leader = PeerId(be_u64(b, 4));
    let zx = be_u64(b, 12);
    let election_epoch = be_u64(b, 20);
    let (peer_epoch, version) = match len {
        LEGACY_28 => (zxid::epoch(zx), 0),
        LEGACY_40 => (be_u64(b, 28), 0),
        _ => (be_u64(b, 28), be_i32(b, 36)),
    };
    let mut config = Bytes::new();
    if len >= HEADER_44 && version > 1 {
        let clen = be_i32(b, 40);
        let available = len - HEADER_44;
        let ok = usize::try_from(clen).ok().filter(|&c| c <= available);
        let Some(c) = ok else {
            return Err(DecodeError::BadConfigLength {
                len: clen,
                available,
            });
        };
        config = Bytes::copy_from_slice(&b[HEADER_44..HEADER_44 + c]);
    }
    Ok(Notification {
        state,
        vote: Vote::new(leader, zx, peer_epoch),
        election_epoch,
        version,
        config,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use zk_transport::rng::SeededRng;

    fn sample() -> Notification {
        Notification::new(
            ServerState::Following,
            Vote::new(PeerId(3), zxid::make(2, 9), 2),
            7,
        )
    }

    #[test]
    fn encodes_the_exact_zookeeper_layout() {
        let bytes = sample().encode();
        let mut want = Vec::new();
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&3u64.to_be_bytes());
        want.extend_from_slice(&0x0000_0002_0000_0009u64.to_be_bytes());
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(&2u64.to_be_bytes());
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(&bytes[..], &want[..]);
        assert_eq!(bytes.len(), 44);
    }

    #[test]
    fn round_trips_every_state_and_with_config() {
        for state in [
            ServerState::Looking,
            ServerState::Following,
            ServerState::Leading,
            ServerState::Observing,
        ] {
            let mut n = sample();
            n.state = state;
            assert_eq!(decode(&n.encode()), Ok(n.clone()));
            n.config = Bytes::from_static(b"server.1=a:2888:3888\nversion=1");
            assert_eq!(decode(&n.encode()), Ok(n));
        }
    }

    #[test]
    fn legacy_forms_decode() {
        let full = sample().encode();
        // 28 bytes: no peer epoch; it comes from the zxid's high half.
        let n = decode(&full[..28]).unwrap();
        assert_eq!(n.vote.peer_epoch, 2);
        assert_eq!(n.version, 0);
        assert_eq!(n.election_epoch, 7);
        // 40 bytes: peer epoch present, no version.
        let mut forty = full[..40].to_vec();
        forty[28..36].copy_from_slice(&5u64.to_be_bytes());
        let n = decode(&forty).unwrap();
        assert_eq!((n.vote.peer_epoch, n.version), (5, 0));
    }

    #[test]
    fn version_one_ignores_trailing_bytes() {
        let mut b = sample().encode().to_vec();
        b[36..40].copy_from_slice(&1i32.to_be_bytes());
        b[40..44].copy_from_slice(&(-5i32).to_be_bytes());
        let n = decode(&b).unwrap();
        assert_eq!(n.version, 1);
        assert!(n.config.is_empty());
    }

    #[test]
    fn rejects_malformed_frames_with_typed_errors() {
        let full = sample().encode().to_vec();
        assert_eq!(decode(&full[..27]), Err(DecodeError::TooShort(27)));
        assert_eq!(decode(&[]), Err(DecodeError::TooShort(0)));
        assert_eq!(decode(&full[..30]), Err(DecodeError::BadLength(30)));
        assert_eq!(decode(&full[..43]), Err(DecodeError::BadLength(43)));
        let mut bad = full.clone();
        bad[0..4].copy_from_slice(&4i32.to_be_bytes());
        assert_eq!(decode(&bad), Err(DecodeError::BadState(4)));
        let mut neg = full.clone();
        neg[40..44].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            decode(&neg),
            Err(DecodeError::BadConfigLength {
                len: -1,
                available: 0
            })
        );
        let mut long = full.clone();
        long[40..44].copy_from_slice(&3i32.to_be_bytes());
        long.extend_from_slice(b"ab");
        assert_eq!(
            decode(&long),
            Err(DecodeError::BadConfigLength {
                len: 3,
                available: 2
            })
        );
    }

    #[test]
    fn decode_never_panics_on_random_bytes() {
        let mut rng = SeededRng::new(0x5eed);
        let base = sample().encode().to_vec();
        let mut accepted = 0;
        for i in 0..20_000 {
            let bytes: Vec<u8> = if i % 2 == 0 {
                let len = rng.below(80) as usize;
                (0..len).map(|_| rng.next_u64() as u8).collect()
            } else {
                // Mutate a valid frame: flip bytes, truncate or extend.
                let mut b = base.clone();
                for _ in 0..rng.range(1, 4) {
                    let at = rng.below(b.len() as u64) as usize;
                    b[at] = rng.next_u64() as u8;
                }
                b.truncate(rng.range(20, 60) as usize);
                b
            };
            if let Ok(n) = decode(&bytes) {
                accepted += 1;
                // Whatever decodes re-encodes to something that decodes to the same content.
                let again = decode(&n.encode()).unwrap();
                assert_eq!(
                    (again.state, again.vote, again.election_epoch),
                    (n.state, n.vote, n.election_epoch)
                );
            }
        }
        assert!(
            accepted > 100,
            "the mutation half should mostly stay valid: {accepted}"
        );
    }
}
