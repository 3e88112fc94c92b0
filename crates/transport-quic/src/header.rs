//! The header that opens every stream: which protocol version, which channel, why it was
//! opened and who claims to send it.
//!
//! ```text
//! u8   version      1
//! u8   channel      Channel::tag (1 election, 2 quorum)
//! u8   purpose      0 link, 1 prompt
//! u64  sender id    big-endian; checked against the certificate
//! ```

use zk_transport::streams::Purpose;
use zk_transport::{Channel, PeerId};

/// The stream header version this build speaks.
pub(crate) const VERSION: u8 = 1;
/// The header's length in bytes.
pub(crate) const LEN: usize = 11;

/// A parsed header.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) channel: Channel,
    pub(crate) purpose: Purpose,
    pub(crate) sender: PeerId,
}

pub(crate) fn encode(h: Header) -> [u8; LEN] {
    let mut b = [0u8; LEN];
    b[0] = VERSION;
    b[1] = h.channel.tag();
    b[2] = match h.purpose {
        Purpose::Link => 0,
        Purpose::Prompt => 1,
    };
    b[3..].copy_from_slice(&h.sender.0.to_be_bytes());
    b
}

pub(crate) fn decode(b: &[u8; LEN]) -> Result<Header, String> {
    if b[0] != VERSION {
        return Err(format!(
            "peer speaks stream protocol version {}, this server speaks {VERSION}",
            b[0]
        ));
    }
    let channel = Channel::from_tag(b[1]).ok_or_else(|| format!("unknown channel tag {}", b[1]))?;
    let purpose = match b[2] {
        0 => Purpose::Link,
        1 => Purpose::Prompt,
        p => return Err(format!("unknown stream purpose {p}")),
    };
    let mut id = [0u8; 8];
    id.copy_from_slice(&b[3..]);
    Ok(Header {
        channel,
        purpose,
        sender: PeerId(u64::from_be_bytes(id)),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let h = Header {
            channel: Channel::Quorum,
            purpose: Purpose::Prompt,
            sender: PeerId(7),
        };
        assert_eq!(decode(&encode(h)).unwrap(), h);
        let mut b = encode(h);
        b[0] = 2;
        assert!(decode(&b).unwrap_err().contains("version 2"));
        let mut b = encode(h);
        b[1] = 9;
        assert!(decode(&b).is_err());
    }
}
