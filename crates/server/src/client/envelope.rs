//! What travels through ZAB for the client protocol, and the session heartbeat note.
//!
//! - [`Forwarded`]: a client request as the server holding the connection hands it to ZAB
//!   ([`ClientHandle::write`](zk_zab::driver::ClientHandle::write)); a learner forwards it
//!   to the leader unchanged, where it is prepared into a transaction. It carries the
//!   session's identities because the leader checks ACLs (ZooKeeper's `QuorumPacket`
//!   carries `authinfo` for the same reason).
//! - [`Committed`]: the transaction ZAB replicates: the requester (session, cxid) and the
//!   leader's [`TxnRecord`], so the server holding the connection can answer it.
//! - [`Note`]: what a server tells its leader beside requests: the sessions it kept alive
//!   (every half tick; ZooKeeper puts them in its PING) and the sessions clients resumed
//!   on it (ZooKeeper's REVALIDATE).
//!
//! Every layout starts with a version byte; integers are big-endian; strings and byte
//! strings are a `u32` length and the bytes. Decoding never panics.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zk_datatree::TxnRecord;

/// The codec version of every layout here.
const VERSION: u8 = 1;

/// Why an envelope could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The version byte is not ours.
    #[error("unknown envelope version {0}")]
    Version(u8),
    /// The bytes ended inside a field, or a length is impossible.
    #[error("truncated envelope")]
    Truncated,
    /// A string is not UTF-8.
    #[error("envelope string is not UTF-8")]
    Utf8,
    /// The transaction record inside is malformed.
    #[error("transaction record: {0}")]
    Record(String),
}

/// A client request on its way to the leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// The server the client is connected to (the session's owner, as it believes).
    pub from: u64,
    /// The connection on that server (0: none, a request the server made).
    pub conn: u64,
    /// The requesting session.
    pub session: i64,
    /// The client's xid for it (0 for server-made requests such as expiry).
    pub cxid: i32,
    /// ZooKeeper's opcode (`createSession` -10 and `closeSession` -11 included).
    pub op: i32,
    /// The session's identities `(scheme, id)`, for ACL checks at the leader.
    pub auth: Vec<(String, String)>,
    /// The request body as the client sent it (after the header); for `createSession`, the
    /// negotiated timeout as an `i32`.
    pub body: Bytes,
}

/// A transaction as ZAB replicates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The server holding the requesting connection.
    pub from: u64,
    /// The requesting connection there (0: none); its reply goes to this connection
    /// only, never to a later connection of the same session.
    pub conn: u64,
    /// The requesting session (0 when the server made the request).
    pub session: i64,
    /// The client's xid.
    pub cxid: i32,
    /// What the leader decided.
    pub record: TxnRecord,
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    // Bodies are capped by jute.maxbuffer (a few MiB), far below u32::MAX.
    out.put_u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
    out.put_slice(b);
}

/// The version byte and who asked: server, connection, session, xid.
fn put_origin(out: &mut BytesMut, from: u64, conn: u64, session: i64, cxid: i32) {
    out.put_u8(VERSION);
    out.put_u64(from);
    out.put_u64(conn);
    out.put_i64(session);
    out.put_i32(cxid);
}

struct Reader {
    buf: Bytes,
}

impl Reader {
    fn need(&self, n: usize) -> Result<(), EnvelopeError> {
        if self.buf.remaining() < n {
            Err(EnvelopeError::Truncated)
        } else {
            Ok(())
        }
    }
    fn version(&mut self) -> Result<(), EnvelopeError> {
        self.need(1)?;
        match self.buf.get_u8() {
            VERSION => Ok(()),
            v => Err(EnvelopeError::Version(v)),
        }
    }
    /// What [`put_origin`] wrote.
    fn origin(&mut self) -> Result<(u64, u64, i64, i32), EnvelopeError> {
        self.version()?;
        Ok((
            self.i64()? as u64,
            self.i64()? as u64,
            self.i64()?,
            self.i32()?,
        ))
    }
    fn i32(&mut self) -> Result<i32, EnvelopeError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }
    fn u32(&mut self) -> Result<u32, EnvelopeError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }
    fn i64(&mut self) -> Result<i64, EnvelopeError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }
    fn bytes(&mut self) -> Result<Bytes, EnvelopeError> {
        let n = self.u32()? as usize;
        self.need(n)?;
        Ok(self.buf.split_to(n))
    }
    fn string(&mut self) -> Result<String, EnvelopeError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| EnvelopeError::Utf8)
    }
}

impl Forwarded {
    /// The bytes handed to ZAB.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(32 + self.body.len());
        put_origin(&mut out, self.from, self.conn, self.session, self.cxid);
        out.put_i32(self.op);
        out.put_u32(u32::try_from(self.auth.len()).unwrap_or(u32::MAX));
        for (scheme, id) in &self.auth {
            put_bytes(&mut out, scheme.as_bytes());
            put_bytes(&mut out, id.as_bytes());
        }
        put_bytes(&mut out, &self.body);
        out.freeze()
    }

    /// Parses what [`encode`](Self::encode) wrote.
    pub fn decode(buf: Bytes) -> Result<Self, EnvelopeError> {
        let mut r = Reader { buf };
        let (from, conn, session, cxid) = r.origin()?;
        let op = r.i32()?;
        let n = r.u32()? as usize;
        // Each identity takes at least 8 bytes: a count beyond that is a lie.
        r.need(n.saturating_mul(8))?;
        let mut auth = Vec::with_capacity(n);
        for _ in 0..n {
            auth.push((r.string()?, r.string()?));
        }
        let body = r.bytes()?;
        Ok(Self {
            from,
            conn,
            session,
            cxid,
            op,
            auth,
            body,
        })
    }
}

impl Committed {
    /// The payload of the ZAB transaction.
    pub fn encode(&self) -> Bytes {
        let record = self.record.encode();
        let mut out = BytesMut::with_capacity(29 + record.len());
        put_origin(&mut out, self.from, self.conn, self.session, self.cxid);
        out.put_slice(&record);
        out.freeze()
    }

    /// Parses what [`encode`](Self::encode) wrote.
    pub fn decode(buf: Bytes) -> Result<Self, EnvelopeError> {
        let mut r = Reader { buf };
        let (from, conn, session, cxid) = r.origin()?;
        let record = TxnRecord::decode(&r.buf).map_err(|e| EnvelopeError::Record(e.to_string()))?;
        Ok(Self {
            from,
            conn,
            session,
            cxid,
            record,
        })
    }
}

/// What a server tells its leader beside requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// These sessions were active here since the last note.
    Touches(Vec<i64>),
    /// A client resumed this session here: the leader refuses writes of its earlier
    /// connections elsewhere (`SessionMoved`), as ZooKeeper's session owner check does.
    Claim(i64),
}

impl Note {
    /// The note's bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_u8(VERSION);
        match self {
            Self::Touches(sessions) => {
                out.put_u8(1);
                out.put_u32(u32::try_from(sessions.len()).unwrap_or(u32::MAX));
                for s in sessions {
                    out.put_i64(*s);
                }
            }
            Self::Claim(session) => {
                out.put_u8(2);
                out.put_i64(*session);
            }
        }
        out.freeze()
    }

    /// Parses what [`encode`](Self::encode) wrote.
    pub fn decode(buf: Bytes) -> Result<Self, EnvelopeError> {
        let mut r = Reader { buf };
        r.version()?;
        r.need(1)?;
        match r.buf.get_u8() {
            1 => {
                let n = r.u32()? as usize;
                r.need(n.saturating_mul(8))?;
                Ok(Self::Touches(
                    (0..n).map(|_| r.i64()).collect::<Result<_, _>>()?,
                ))
            }
            2 => Ok(Self::Claim(r.i64()?)),
            _ => Err(EnvelopeError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_datatree::{ErrorCode, TxnKind};

    #[test]
    fn forwarded_round_trips_and_rejects_every_truncation() {
        let f = Forwarded {
            from: 3,
            conn: 9,
            session: 0x0100_0000_0000_0001,
            cxid: 7,
            op: 1,
            auth: vec![("ip".into(), "127.0.0.1".into())],
            body: Bytes::from_static(b"body"),
        };
        let bytes = f.encode();
        assert_eq!(Forwarded::decode(bytes.clone()), Ok(f));
        for cut in 0..bytes.len() {
            assert!(
                Forwarded::decode(bytes.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn committed_round_trips() {
        let c = Committed {
            from: 2,
            conn: 4,
            session: -5,
            cxid: 9,
            record: TxnRecord::new(
                123,
                TxnKind::Error {
                    code: ErrorCode::NO_NODE,
                },
            ),
        };
        assert_eq!(Committed::decode(c.encode()), Ok(c));
        assert!(Committed::decode(Bytes::from_static(&[2])).is_err());
    }

    #[test]
    fn notes_round_trip_and_a_lying_count_is_refused() {
        for n in [Note::Touches(vec![1, -2, 3]), Note::Claim(7)] {
            assert_eq!(Note::decode(n.encode()), Ok(n));
        }
        let lie = Bytes::from_static(&[1, 1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(Note::decode(lie), Err(EnvelopeError::Truncated));
    }
}
