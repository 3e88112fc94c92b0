//! The current incarnation of each link, as a driver between a transport and a core sees it.
//!
//! Cores (election, ZAB) think in peers and channels, not incarnations. [`CurrentLinks`]
//! keeps the one rule every driver needs: only the newest incarnation of a (peer, channel)
//! link counts; a frame or `Down` of an older one is stale and must not reach the core.

use crate::{Channel, DownReason, LinkEvent, LinkId, PeerId, SendError, Transport};
use bytes::Bytes;
use std::collections::HashMap;

/// What a link event means to a core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkChange {
    /// A new incarnation to `peer` on `channel`. `replaced` means an older one was still
    /// current: the core should treat it as down first.
    Up {
        /// The peer.
        peer: PeerId,
        /// The channel.
        channel: Channel,
        /// Whether a live incarnation was replaced.
        replaced: bool,
    },
    /// A frame on the current incarnation.
    Frame {
        /// The sender.
        peer: PeerId,
        /// The channel.
        channel: Channel,
        /// The payload.
        frame: Bytes,
    },
    /// The current incarnation went down.
    Down {
        /// The peer.
        peer: PeerId,
        /// The channel.
        channel: Channel,
        /// Why.
        reason: DownReason,
    },
    /// An event of an incarnation that is no longer current: ignore it.
    Stale(LinkId),
}

/// The current incarnation per (peer, channel).
#[derive(Debug, Default)]
pub struct CurrentLinks {
    current: HashMap<(PeerId, Channel), LinkId>,
}

impl CurrentLinks {
    /// No links yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record `ev` and say what it means.
    pub fn observe(&mut self, ev: LinkEvent) -> LinkChange {
        let link = ev.link();
        let key = (link.peer, link.channel);
        match ev {
            LinkEvent::Up { link, .. } => {
                let replaced = self
                    .current
                    .insert(key, link)
                    .is_some_and(|old| old != link);
                LinkChange::Up {
                    peer: link.peer,
                    channel: link.channel,
                    replaced,
                }
            }
            LinkEvent::Frame { link, frame } if self.current.get(&key) == Some(&link) => {
                LinkChange::Frame {
                    peer: link.peer,
                    channel: link.channel,
                    frame,
                }
            }
            LinkEvent::Down { link, reason } if self.current.get(&key) == Some(&link) => {
                self.current.remove(&key);
                LinkChange::Down {
                    peer: link.peer,
                    channel: link.channel,
                    reason,
                }
            }
            LinkEvent::Frame { link, .. } | LinkEvent::Down { link, .. } => LinkChange::Stale(link),
        }
    }

    /// The current incarnation to `peer` on `channel`, if one is up.
    pub fn get(&self, peer: PeerId, channel: Channel) -> Option<LinkId> {
        self.current.get(&(peer, channel)).copied()
    }

    /// Send `frame` to `peer` on `channel` over the current incarnation.
    pub fn send<T: Transport>(
        &self,
        transport: &T,
        peer: PeerId,
        channel: Channel,
        frame: Bytes,
    ) -> Result<(), SendError> {
        match self.get(peer, channel) {
            Some(link) => transport.try_send(link, frame),
            None => Err(SendError::NotUp(LinkId {
                peer,
                channel,
                incarnation: 0,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Authn;

    fn link(inc: u64) -> LinkId {
        LinkId {
            peer: PeerId(2),
            channel: Channel::Quorum,
            incarnation: inc,
        }
    }

    #[test]
    fn only_the_newest_incarnation_counts() {
        let mut links = CurrentLinks::new();
        let up = |inc| LinkEvent::Up {
            link: link(inc),
            authn: Authn::InProcess,
        };
        let frame = |inc| LinkEvent::Frame {
            link: link(inc),
            frame: Bytes::from_static(b"x"),
        };
        let down = |inc| LinkEvent::Down {
            link: link(inc),
            reason: DownReason::Reset,
        };
        assert!(matches!(
            links.observe(up(1)),
            LinkChange::Up {
                replaced: false,
                ..
            }
        ));
        assert!(matches!(links.observe(frame(1)), LinkChange::Frame { .. }));
        // A replacement arrives before the old incarnation's Down.
        assert!(matches!(
            links.observe(up(2)),
            LinkChange::Up { replaced: true, .. }
        ));
        assert_eq!(links.observe(frame(1)), LinkChange::Stale(link(1)));
        assert_eq!(links.observe(down(1)), LinkChange::Stale(link(1)));
        assert_eq!(links.get(PeerId(2), Channel::Quorum), Some(link(2)));
        assert!(matches!(links.observe(down(2)), LinkChange::Down { .. }));
        assert_eq!(links.get(PeerId(2), Channel::Quorum), None);
        assert_eq!(links.observe(frame(2)), LinkChange::Stale(link(2)));
    }
}
