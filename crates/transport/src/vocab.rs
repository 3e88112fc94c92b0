//! The small vocabulary every backend and every core shares.

use bytes::Bytes;
use std::fmt;

/// A ZooKeeper server id: the `N` of `server.N` and the content of `myid`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A logical channel. Each (peer, channel) pair is an independent ordered link.
///
/// They mirror ZooKeeper's two peer ports: the election port (3888) and the quorum port (2888).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Fast Leader Election notifications: small, latest-wins.
    Election,
    /// Leader/learner traffic (heartbeats now, ZAB later): ordered and reliable.
    Quorum,
}

impl Channel {
    /// Both channels, in a fixed order.
    pub const ALL: [Self; 2] = [Self::Election, Self::Quorum];

    /// A one-byte tag, used by backends that multiplex channels.
    pub fn tag(self) -> u8 {
        match self {
            Self::Election => 1,
            Self::Quorum => 2,
        }
    }

    /// The channel for a tag written by [`Channel::tag`].
    pub fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(Self::Election),
            2 => Some(Self::Quorum),
            _ => None,
        }
    }
}

/// One incarnation of a link to `peer` on `channel`.
///
/// Frames never cross incarnations. A link that broke and came back has a larger
/// `incarnation`; what was in flight on the old one may be lost. Incarnations are local to
/// the node that observes them: the two ends of one connection may number it differently.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId {
    /// The authenticated remote server.
    pub peer: PeerId,
    /// The logical channel.
    pub channel: Channel,
    /// Increases with every new link this node sees.
    pub incarnation: u64,
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:?}#{}", self.peer, self.channel, self.incarnation)
    }
}

/// How the backend established who is at the other end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authn {
    /// Mutual TLS: the id comes from a certificate chaining to the ensemble CA.
    Certificate {
        /// The certificate name the id was read from.
        name: String,
    },
    /// The id as declared in a handshake and checked against the configured peer list.
    Declared,
    /// In-process backends: the id is known by construction.
    InProcess,
}

/// Why a link went down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// The peer closed it, or this side called [`crate::Transport::close`].
    Closed,
    /// The connection broke (reset, EOF, write error).
    Reset,
    /// Nothing arrived for too long.
    IdleTimeout,
    /// The peer broke the framing or handshake rules.
    Protocol(String),
    /// A newer link to the same peer and channel replaced this one.
    Superseded,
    /// This node or the peer is shutting down.
    Shutdown,
}

/// What a node receives from its transport, in one ordered stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A new link incarnation. Precedes every [`LinkEvent::Frame`] of that incarnation.
    Up {
        /// The new link.
        link: LinkId,
        /// How the remote id was established.
        authn: Authn,
    },
    /// One whole frame, in send order for this `link`.
    Frame {
        /// The link it arrived on.
        link: LinkId,
        /// The payload, exactly as sent.
        frame: Bytes,
    },
    /// Nothing more will arrive on this incarnation.
    Down {
        /// The link that ended.
        link: LinkId,
        /// Why it ended.
        reason: DownReason,
    },
}

impl LinkEvent {
    /// The link this event belongs to.
    pub fn link(&self) -> LinkId {
        match self {
            Self::Up { link, .. } | Self::Frame { link, .. } | Self::Down { link, .. } => *link,
        }
    }
}
