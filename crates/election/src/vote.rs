//! Server states, votes and their total order, and zxid helpers.

use std::cmp::Ordering;
use std::fmt;
use zk_transport::PeerId;

/// The role a server plays, as in ZooKeeper's `QuorumPeer.ServerState`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// Running an election.
    Looking,
    /// Following an elected leader.
    Following,
    /// Leading the ensemble.
    Leading,
    /// Observing an elected leader (never votes, never counts in a quorum).
    Observing,
}

impl ServerState {
    /// The wire value (ZooKeeper's enum ordinal): LOOKING=0, FOLLOWING=1, LEADING=2, OBSERVING=3.
    pub fn to_wire(self) -> i32 {
        match self {
            Self::Looking => 0,
            Self::Following => 1,
            Self::Leading => 2,
            Self::Observing => 3,
        }
    }

    /// The state for a wire value, or `None` for an unknown one.
    pub fn from_wire(v: i32) -> Option<Self> {
        match v {
            0 => Some(Self::Looking),
            1 => Some(Self::Following),
            2 => Some(Self::Leading),
            3 => Some(Self::Observing),
            _ => None,
        }
    }

    /// ZooKeeper's spelling, as `srvr` prints it (`looking`, `follower`, `leader`, `observer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Looking => "looking",
            Self::Following => "follower",
            Self::Leading => "leader",
            Self::Observing => "observer",
        }
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Helpers for ZooKeeper transaction ids: `zxid = epoch << 32 | counter`.
pub mod zxid {
    /// The epoch half (high 32 bits).
    pub fn epoch(zxid: u64) -> u64 {
        zxid >> 32
    }

    /// The counter half (low 32 bits).
    pub fn counter(zxid: u64) -> u64 {
        zxid & 0xffff_ffff
    }

    /// The zxid of `counter` in `epoch` (each truncated to 32 bits).
    pub fn make(epoch: u64, counter: u64) -> u64 {
        ((epoch & 0xffff_ffff) << 32) | (counter & 0xffff_ffff)
    }
}

/// A proposal for leader: who, with which last zxid, in which peer epoch.
///
/// Votes are totally ordered as in ZooKeeper's `totalOrderPredicate`: by `peer_epoch`, then
/// `zxid`, then `leader` id; the greatest vote wins. (Weight-0 servers are excluded by the
/// election, not by this order: see [`crate::QuorumVerifier::can_lead`].)
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Vote {
    /// The proposed leader.
    pub leader: PeerId,
    /// The proposed leader's last logged zxid.
    pub zxid: u64,
    /// The proposed leader's current epoch.
    pub peer_epoch: u64,
}

impl Vote {
    /// A vote.
    pub fn new(leader: PeerId, zxid: u64, peer_epoch: u64) -> Self {
        Self {
            leader,
            zxid,
            peer_epoch,
        }
    }
}

impl Ord for Vote {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.peer_epoch, self.zxid, self.leader).cmp(&(other.peer_epoch, other.zxid, other.leader))
    }
}

impl PartialOrd for Vote {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(leader {}, zxid {:#x}, epoch {})",
            self.leader, self.zxid, self.peer_epoch
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_epoch_then_zxid_then_id() {
        let v = |l, z, e| Vote::new(PeerId(l), z, e);
        assert!(v(1, 0, 2) > v(9, 100, 1), "peer epoch dominates");
        assert!(v(1, 5, 1) > v(9, 4, 1), "then zxid");
        assert!(v(2, 5, 1) > v(1, 5, 1), "then id");
        assert_eq!(v(2, 5, 1).cmp(&v(2, 5, 1)), Ordering::Equal);
    }

    #[test]
    fn zxid_halves() {
        let z = zxid::make(3, 7);
        assert_eq!(z, 0x0000_0003_0000_0007);
        assert_eq!(zxid::epoch(z), 3);
        assert_eq!(zxid::counter(z), 7);
    }

    #[test]
    fn state_wire_values_round_trip() {
        for s in [
            ServerState::Looking,
            ServerState::Following,
            ServerState::Leading,
            ServerState::Observing,
        ] {
            assert_eq!(ServerState::from_wire(s.to_wire()), Some(s));
        }
        assert_eq!(ServerState::from_wire(4), None);
        assert_eq!(ServerState::from_wire(-1), None);
    }
}
