//! Errors of the transport trait.

use crate::LinkId;

/// Why a frame could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The link is down, or this is not its current incarnation.
    #[error("link {0} is not up (or not the current incarnation)")]
    NotUp(LinkId),
    /// The link's bounded send queue is full (only for [`crate::OnFull::Reject`] channels).
    #[error("send queue to {0} is full")]
    Full(LinkId),
    /// The frame exceeds the channel's limit.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The channel's `max_frame`.
        max: usize,
    },
    /// The transport was shut down.
    #[error("transport is shut down")]
    Shutdown,
}

/// Why a backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr} for the {channel:?} channel: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The channel the listener serves.
        channel: crate::Channel,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("invalid transport configuration: {0}")]
    Config(String),
}
