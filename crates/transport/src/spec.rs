//! Per-channel queue and frame policy, fixed at start-up.

use crate::Channel;

/// What a full send queue does with one more frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OnFull {
    /// Refuse it with [`crate::SendError::Full`]; the caller decides (quorum channel).
    Reject,
    /// Drop the oldest queued frame to make room (election channel: votes are latest-wins).
    DropOldest,
}

/// The policy of one channel.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// How many frames may wait per link before [`ChannelSpec::on_full`] applies.
    pub queue_frames: usize,
    /// How many bytes of frames may wait per link before [`ChannelSpec::on_full`] applies (an
    /// empty queue still takes one frame of up to `max_frame`).
    pub queue_bytes: usize,
    /// The largest frame, in bytes, sent or accepted.
    pub max_frame: usize,
    /// What a full queue does.
    pub on_full: OnFull,
}

/// The policies of both channels.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpecs {
    /// The election channel. Default: 16 frames or 1 MiB queued, frames up to 512 KiB
    /// (ZooKeeper's `PACKETMAXSIZE`), drop oldest.
    pub election: ChannelSpec,
    /// The quorum channel. Default: 65,536 frames or 64 MiB queued (a learner that far
    /// behind is cut off and resyncs), frames up to 64 MiB, reject.
    pub quorum: ChannelSpec,
}

impl ChannelSpecs {
    /// The policy of `channel`.
    pub fn get(&self, channel: Channel) -> ChannelSpec {
        match channel {
            Channel::Election => self.election,
            Channel::Quorum => self.quorum,
        }
    }
}

impl Default for ChannelSpecs {
    fn default() -> Self {
        Self {
            election: ChannelSpec {
                queue_frames: 16,
                queue_bytes: 1024 * 1024,
                max_frame: 512 * 1024,
                on_full: OnFull::DropOldest,
            },
            quorum: ChannelSpec {
                queue_frames: 65_536,
                queue_bytes: 64 * 1024 * 1024,
                max_frame: 64 * 1024 * 1024,
                on_full: OnFull::Reject,
            },
        }
    }
}
