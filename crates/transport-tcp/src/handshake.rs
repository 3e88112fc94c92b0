//! ZooKeeper's `QuorumCnxManager` connection handshake, initiator to acceptor.
//!
//! ```text
//! int64  protocol version   PROTOCOL_VERSION_V1 = -65536 (V2 = -65535 is accepted too)
//! int64  sender's server id
//! int32  address length     0 < len <= 2048
//! bytes  address            UTF-8 "host:port" the sender listens on for this channel
//!                           (V2: "h1:p1|h2:p2|...")
//! ```
//!
//! All integers are big-endian, as Java's `DataOutputStream` writes them.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The handshake version zk-rs sends: one `host:port` (ZooKeeper 3.5+).
pub(crate) const PROTOCOL_VERSION_V1: i64 = -65536;
/// ZooKeeper 3.6's multi-address version, accepted on receipt.
pub(crate) const PROTOCOL_VERSION_V2: i64 = -65535;
/// ZooKeeper's `maxBuffer` for the announced address.
pub(crate) const MAX_ADDR_LEN: usize = 2048;

/// A handshake as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Handshake {
    /// The id the sender declares.
    pub(crate) sid: u64,
    /// The address the sender says it listens on.
    pub(crate) addr: String,
}

/// Why a handshake was refused.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The socket failed or closed before the handshake was complete.
    Io(io::Error),
    /// The first field is not a protocol version this node speaks.
    Version(i64),
    /// A negative server id.
    Sid(i64),
    /// The address length is outside `1..=2048`.
    AddrLen(i32),
    /// The address is not UTF-8.
    AddrUtf8,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                write!(f, "connection closed during the handshake")
            }
            Self::Io(e) => write!(f, "handshake read failed: {e}"),
            Self::Version(v) => {
                let first = v.to_be_bytes();
                if first[0] == 0x16 && first[1] == 0x03 {
                    write!(
                        f,
                        "the peer speaks TLS but this server runs plain TCP (the peer has sslQuorum=true or quorum.transport=grpc; all servers must agree)"
                    )
                } else if &first == b"PRI * HT" {
                    write!(
                        f,
                        "the peer speaks HTTP/2 (gRPC) but this server runs the tcp transport (quorum.transport differs between the servers)"
                    )
                } else {
                    write!(
                        f,
                        "unsupported protocol version {v} (expected {PROTOCOL_VERSION_V1} or {PROTOCOL_VERSION_V2})"
                    )
                }
            }
            Self::Sid(s) => write!(f, "invalid server id {s}"),
            Self::AddrLen(n) => {
                write!(
                    f,
                    "invalid address length {n} (must be in 1..={MAX_ADDR_LEN})"
                )
            }
            Self::AddrUtf8 => write!(f, "address is not UTF-8"),
        }
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// The bytes of a V1 handshake from `sid` announcing `addr`.
pub(crate) fn encode(sid: u64, addr: &str) -> Bytes {
    let addr = addr.as_bytes();
    let mut b = BytesMut::with_capacity(20 + addr.len());
    b.put_i64(PROTOCOL_VERSION_V1);
    // Server ids are Java longs; ids above i64::MAX do not exist in ZooKeeper.
    b.put_u64(sid);
    // The own address comes from the configuration; `start` checked its length.
    b.put_u32(addr.len() as u32);
    b.put_slice(addr);
    b.freeze()
}

/// Read one handshake, reading exactly its bytes (frames that follow stay in the socket).
pub(crate) async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Result<Handshake, HandshakeError> {
    let version = r.read_i64().await?;
    if version != PROTOCOL_VERSION_V1 && version != PROTOCOL_VERSION_V2 {
        return Err(HandshakeError::Version(version));
    }
    let sid = r.read_i64().await?;
    let sid = u64::try_from(sid).map_err(|_| HandshakeError::Sid(sid))?;
    let len = r.read_i32().await?;
    let n = match usize::try_from(len) {
        Ok(n) if (1..=MAX_ADDR_LEN).contains(&n) => n,
        _ => return Err(HandshakeError::AddrLen(len)),
    };
    let mut addr = vec![0u8; n];
    r.read_exact(&mut addr).await?;
    let addr = String::from_utf8(addr).map_err(|_| HandshakeError::AddrUtf8)?;
    Ok(Handshake { sid, addr })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn round_trip_and_exact_layout() {
        let b = encode(3, "10.0.0.3:3888");
        assert_eq!(&b[..8], &(-65536i64).to_be_bytes());
        assert_eq!(&b[8..16], &3i64.to_be_bytes());
        assert_eq!(&b[16..20], &13i32.to_be_bytes());
        assert_eq!(&b[20..], b"10.0.0.3:3888");
        let mut r = &b[..];
        let h = read(&mut r).await.unwrap();
        assert_eq!(
            h,
            Handshake {
                sid: 3,
                addr: "10.0.0.3:3888".into()
            }
        );
    }

    #[tokio::test]
    async fn refusals() {
        let mut bad = BytesMut::new();
        bad.put_i64(5);
        assert!(matches!(
            read(&mut &bad[..]).await,
            Err(HandshakeError::Version(5))
        ));

        let mut neg = BytesMut::new();
        neg.put_i64(PROTOCOL_VERSION_V1);
        neg.put_i64(-2);
        assert!(matches!(
            read(&mut &neg[..]).await,
            Err(HandshakeError::Sid(-2))
        ));

        for len in [0, -1, 2049] {
            let mut b = BytesMut::new();
            b.put_i64(PROTOCOL_VERSION_V2);
            b.put_i64(1);
            b.put_i32(len);
            assert!(matches!(read(&mut &b[..]).await, Err(HandshakeError::AddrLen(l)) if l == len));
        }

        // Another transport's first bytes are named for what they are.
        let tls = [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
        let e = read(&mut &tls[..]).await.unwrap_err();
        assert!(e.to_string().contains("speaks TLS"), "{e}");
        let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let e = read(&mut &h2[..]).await.unwrap_err();
        assert!(e.to_string().contains("HTTP/2 (gRPC)"), "{e}");

        let short = encode(1, "a:1");
        let e = read(&mut &short[..short.len() - 1]).await.unwrap_err();
        assert!(e.to_string().contains("closed during the handshake"), "{e}");
    }
}
