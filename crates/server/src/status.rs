//! What this server is doing now, as the four-letter words report it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The server's role, in ZooKeeper's words.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Electing: not serving.
    Looking,
    /// Leading an established ensemble.
    Leader,
    /// Following the leader.
    Follower,
    /// Observing the leader.
    Observer,
    /// A single server, no ensemble.
    Standalone,
}

impl Mode {
    /// The word `srvr` prints after `Mode:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Looking => "looking",
            Self::Leader => "leader",
            Self::Follower => "follower",
            Self::Observer => "observer",
            Self::Standalone => "standalone",
        }
    }
}

/// A snapshot of the server's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Role.
    pub mode: Mode,
    /// Whether clients are being served (a leader or learner of an established epoch).
    pub serving: bool,
    /// The last zxid this server has processed.
    pub zxid: u64,
    /// The leader's id, when known.
    pub leader: Option<u64>,
    /// The established epoch, when known.
    pub epoch: u64,
}

impl Status {
    /// Not serving yet: electing.
    pub fn looking() -> Self {
        Self {
            mode: Mode::Looking,
            serving: false,
            zxid: 0,
            leader: None,
            epoch: 0,
        }
    }
}

/// Counters the four-letter words report, shared by every client connection.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets (and four-letter words) received.
    pub received: AtomicU64,
    /// Packets sent.
    pub sent: AtomicU64,
    /// Client connections open now.
    pub connections: AtomicU64,
}

impl Counters {
    /// Fresh counters.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Read a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
