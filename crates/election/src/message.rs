//! The tiny versioned codec of the placeholder leadership protocol (quorum channel).
//!
//! Every frame is `[version = 1][kind][epoch: u64 big-endian]`, plus one flag byte for the
//! kinds that carry one. Decoding is strict (exact lengths, known version and kind) and
//! returns a typed [`MessageError`]; it never panics.

use bytes::{BufMut, Bytes, BytesMut};

/// The codec version written in the first byte.
pub const MESSAGE_VERSION: u8 = 1;

/// One leadership message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Learner → leader: "I follow you; the last epoch I accepted is `accepted_epoch`".
    FollowerInfo {
        /// The learner's accepted epoch.
        accepted_epoch: u64,
        /// Whether the learner is an observer (its acks never count).
        observer: bool,
    },
    /// Leader → learner: the epoch the leader proposes.
    LeaderInfo {
        /// The proposed epoch.
        epoch: u64,
    },
    /// Learner → leader: epoch accepted. `counted` is false when the learner had already
    /// accepted this very epoch (it may follow, but must not count twice).
    AckEpoch {
        /// The acknowledged epoch.
        epoch: u64,
        /// Whether the ack counts toward the leader's quorum.
        counted: bool,
    },
    /// Leader → learner: a quorum acknowledged `epoch`; it is now the current epoch.
    Established {
        /// The established epoch.
        epoch: u64,
    },
    /// Leader → learner heartbeat.
    Ping {
        /// The leader's established epoch.
        epoch: u64,
    },
    /// Learner → leader heartbeat answer.
    Pong {
        /// The epoch the learner follows.
        epoch: u64,
    },
}

/// Why a leadership frame was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Empty frame.
    #[error("empty frame")]
    Empty,
    /// A version this build does not speak.
    #[error("unsupported message version {0}")]
    Version(u8),
    /// An unknown kind byte.
    #[error("unknown message kind {0}")]
    Kind(u8),
    /// The length does not fit the kind.
    #[error("message kind {kind} needs {want} bytes, got {got}")]
    Length {
        /// The kind byte.
        kind: u8,
        /// The expected length.
        want: usize,
        /// The actual length.
        got: usize,
    },
    /// A flag byte other than 0 or 1.
    #[error("bad flag byte {0}")]
    Flag(u8),
}

const FOLLOWER_INFO: u8 = 11;
const LEADER_INFO: u8 = 17;
const ACK_EPOCH: u8 = 18;
const ESTABLISHED: u8 = 10;
const PING: u8 = 5;
const PONG: u8 = 6;

impl Message {
    fn kind_epoch_flag(&self) -> (u8, u64, Option<bool>) {
        match *self {
            Self::FollowerInfo {
                accepted_epoch,
                observer,
            } => (FOLLOWER_INFO, accepted_epoch, Some(observer)),
            Self::LeaderInfo { epoch } => (LEADER_INFO, epoch, None),
            Self::AckEpoch { epoch, counted } => (ACK_EPOCH, epoch, Some(counted)),
            Self::Established { epoch } => (ESTABLISHED, epoch, None),
            Self::Ping { epoch } => (PING, epoch, None),
            Self::Pong { epoch } => (PONG, epoch, None),
        }
    }

    /// The wire bytes.
    pub fn encode(&self) -> Bytes {
        let (kind, epoch, flag) = self.kind_epoch_flag();
        let mut b = BytesMut::with_capacity(11);
        b.put_u8(MESSAGE_VERSION);
        b.put_u8(kind);
        b.put_u64(epoch);
        if let Some(f) = flag {
            b.put_u8(u8::from(f));
        }
        b.freeze()
    }

    /// Parse one frame.
    pub fn decode(b: &[u8]) -> Result<Self, MessageError> {
        let (&version, rest) = b.split_first().ok_or(MessageError::Empty)?;
        if version != MESSAGE_VERSION {
            return Err(MessageError::Version(version));
        }
        let (&kind, body) = rest.split_first().ok_or(MessageError::Length {
            kind: 0,
            want: 10,
            got: b.len(),
        })?;
        let flagged = match kind {
            FOLLOWER_INFO | ACK_EPOCH => true,
            LEADER_INFO | ESTABLISHED | PING | PONG => false,
            other => return Err(MessageError::Kind(other)),
        };
        let want = 10 + usize::from(flagged);
        if b.len() != want {
            return Err(MessageError::Length {
                kind,
                want,
                got: b.len(),
            });
        }
        let mut e = [0u8; 8];
        e.copy_from_slice(&body[..8]);
        let epoch = u64::from_be_bytes(e);
        let flag = match body.get(8) {
            None | Some(0) => false,
            Some(1) => true,
            Some(&f) => return Err(MessageError::Flag(f)),
        };
        Ok(match kind {
            FOLLOWER_INFO => Self::FollowerInfo {
                accepted_epoch: epoch,
                observer: flag,
            },
            LEADER_INFO => Self::LeaderInfo { epoch },
            ACK_EPOCH => Self::AckEpoch {
                epoch,
                counted: flag,
            },
            ESTABLISHED => Self::Established { epoch },
            PING => Self::Ping { epoch },
            _ => Self::Pong { epoch },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use zk_transport::rng::SeededRng;

    #[test]
    fn round_trips() {
        for m in [
            Message::FollowerInfo {
                accepted_epoch: 7,
                observer: true,
            },
            Message::FollowerInfo {
                accepted_epoch: 0,
                observer: false,
            },
            Message::LeaderInfo { epoch: u64::MAX },
            Message::AckEpoch {
                epoch: 3,
                counted: false,
            },
            Message::AckEpoch {
                epoch: 3,
                counted: true,
            },
            Message::Established { epoch: 4 },
            Message::Ping { epoch: 5 },
            Message::Pong { epoch: 6 },
        ] {
            assert_eq!(Message::decode(&m.encode()), Ok(m));
        }
        assert_eq!(
            &Message::Ping { epoch: 1 }.encode()[..],
            &[1, 5, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Message::decode(&[]), Err(MessageError::Empty));
        assert_eq!(Message::decode(&[2, 5]), Err(MessageError::Version(2)));
        assert_eq!(Message::decode(&[1, 99, 0]), Err(MessageError::Kind(99)));
        assert_eq!(
            Message::decode(&[1, 5, 0]),
            Err(MessageError::Length {
                kind: 5,
                want: 10,
                got: 3
            })
        );
        let mut b = Message::AckEpoch {
            epoch: 1,
            counted: true,
        }
        .encode()
        .to_vec();
        b[10] = 7;
        assert_eq!(Message::decode(&b), Err(MessageError::Flag(7)));
        assert!(Message::decode(&[1]).is_err());
    }

    #[test]
    fn decode_never_panics() {
        let mut rng = SeededRng::new(42);
        for _ in 0..20_000 {
            let len = rng.below(14) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Some(first) = b.first_mut()
                && rng.chance(0.7)
            {
                *first = 1;
            }
            if let Ok(m) = Message::decode(&b) {
                assert_eq!(Message::decode(&m.encode()), Ok(m));
            }
        }
    }
}
