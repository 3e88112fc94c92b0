//! The request metadata that opens every stream: who calls, for which channel, why, and in
//! which version of this protocol.
//!
//! ```text
//! zk-server-id     the caller's server id, decimal (checked against its certificate)
//! zk-channel       election | quorum
//! zk-purpose       link | prompt
//! zk-peer-version  1
//! ```

use tonic::Status;
use tonic::metadata::{MetadataMap, MetadataValue};
use zk_transport::streams::Purpose;
use zk_transport::{Channel, PeerId};

/// The caller's server id.
pub(crate) const SERVER_ID: &str = "zk-server-id";
/// The channel the stream carries.
pub(crate) const CHANNEL: &str = "zk-channel";
/// Why the stream is opened.
pub(crate) const PURPOSE: &str = "zk-purpose";
/// The version of this protocol the caller speaks.
pub(crate) const VERSION: &str = "zk-peer-version";
/// The only version there is.
pub(crate) const PEER_VERSION: &str = "1";

/// What a caller announces.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hello {
    /// The id the caller claims (its certificate must agree).
    pub(crate) sid: PeerId,
    /// The channel of the stream.
    pub(crate) channel: Channel,
    /// Link or prompt (the kit decides by the ids; this is for the log).
    pub(crate) purpose: Purpose,
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Election => "election",
        Channel::Quorum => "quorum",
    }
}

fn purpose_name(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Link => "link",
        Purpose::Prompt => "prompt",
    }
}

/// Put `hello` into a request's metadata.
pub(crate) fn put(md: &mut MetadataMap, hello: Hello) {
    md.insert(VERSION, MetadataValue::from_static(PEER_VERSION));
    md.insert(SERVER_ID, MetadataValue::from(hello.sid.0));
    md.insert(
        CHANNEL,
        MetadataValue::from_static(channel_name(hello.channel)),
    );
    md.insert(
        PURPOSE,
        MetadataValue::from_static(purpose_name(hello.purpose)),
    );
}

/// The value of `key`, if present and printable.
fn text<'a>(md: &'a MetadataMap, key: &str) -> Result<Option<&'a str>, Status> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| Status::invalid_argument(format!("the {key} header is not ASCII text"))),
    }
}

/// Read a caller's announcement. The version comes first, so a peer of another version is
/// told what we speak rather than that some header is missing.
pub(crate) fn read(md: &MetadataMap) -> Result<Hello, Status> {
    match text(md, VERSION)? {
        Some(PEER_VERSION) => {}
        Some(other) => {
            return Err(Status::failed_precondition(format!(
                "the peer speaks {VERSION} {other:?}; this server speaks {VERSION} {PEER_VERSION}"
            )));
        }
        None => {
            return Err(Status::failed_precondition(format!(
                "the peer sent no {VERSION} header; this server speaks {VERSION} {PEER_VERSION}"
            )));
        }
    }
    let sid = text(md, SERVER_ID)?
        .ok_or_else(|| Status::invalid_argument(format!("no {SERVER_ID} header")))?;
    let sid = sid
        .parse::<u64>()
        .map(PeerId)
        .map_err(|_| Status::invalid_argument(format!("{SERVER_ID} {sid:?} is not a server id")))?;
    let channel = match text(md, CHANNEL)? {
        Some("election") => Channel::Election,
        Some("quorum") => Channel::Quorum,
        other => {
            return Err(Status::invalid_argument(format!(
                "{CHANNEL} {other:?} is neither \"election\" nor \"quorum\""
            )));
        }
    };
    let purpose = match text(md, PURPOSE)? {
        Some("link") => Purpose::Link,
        Some("prompt") => Purpose::Prompt,
        other => {
            return Err(Status::invalid_argument(format!(
                "{PURPOSE} {other:?} is neither \"link\" nor \"prompt\""
            )));
        }
    };
    Ok(Hello {
        sid,
        channel,
        purpose,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tonic::Code;

    #[test]
    fn round_trip() {
        for channel in Channel::ALL {
            for purpose in [Purpose::Link, Purpose::Prompt] {
                let hello = Hello {
                    sid: PeerId(42),
                    channel,
                    purpose,
                };
                let mut md = MetadataMap::new();
                put(&mut md, hello);
                assert_eq!(read(&md).unwrap(), hello);
            }
        }
    }

    #[test]
    fn versions_are_checked_first() {
        let mut md = MetadataMap::new();
        let e = read(&md).unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
        assert!(e.message().contains("no zk-peer-version"), "{e}");

        md.insert(VERSION, MetadataValue::from_static("2"));
        let e = read(&md).unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
        assert!(e.message().contains("\"2\""), "{e}");
        assert!(e.message().contains("speaks zk-peer-version 1"), "{e}");
    }

    #[test]
    fn bad_fields_are_refused() {
        let mut md = MetadataMap::new();
        put(
            &mut md,
            Hello {
                sid: PeerId(1),
                channel: Channel::Quorum,
                purpose: Purpose::Link,
            },
        );
        let mut bad = md.clone();
        bad.insert(SERVER_ID, MetadataValue::from_static("-1"));
        assert_eq!(read(&bad).unwrap_err().code(), Code::InvalidArgument);
        let mut bad = md.clone();
        bad.insert(CHANNEL, MetadataValue::from_static("gossip"));
        assert_eq!(read(&bad).unwrap_err().code(), Code::InvalidArgument);
        let mut bad = md;
        bad.remove(PURPOSE);
        assert_eq!(read(&bad).unwrap_err().code(), Code::InvalidArgument);
    }
}
