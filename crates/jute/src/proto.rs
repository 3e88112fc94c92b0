//! Session-level records of module `org.apache.zookeeper.proto`: the connect
//! handshake, headers, auth, watch events and watch re-registration.

use bytes::{Bytes, BytesMut};

use crate::codec::{Reader, Record, record};
use crate::data::ClientInfo;
use crate::error::DecodeError;

/// `ConnectRequest`, the first frame a client sends; it has no header.
///
/// Clients since 3.3 append a `bool readOnly` after the jute fields
/// (`ClientCnxn`); older clients omit it. Decoding accepts both and records
/// which one arrived in [`read_only`](Self::read_only); encoding writes the
/// flag only when it is `Some`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Protocol version (0).
    pub protocol_version: i32,
    /// The last zxid the client has seen (0 for a new session).
    pub last_zxid_seen: i64,
    /// Requested session timeout, ms.
    pub time_out: i32,
    /// Session to resume, or 0 for a new one.
    pub session_id: i64,
    /// Session password (16 bytes when resuming).
    pub passwd: Bytes,
    /// The trailing `readOnly` flag, `None` when the client omitted it.
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    const MIN_SIZE: usize = 4 + 8 + 4 + 8 + 4;

    fn encode(&self, out: &mut BytesMut) {
        self.protocol_version.encode(out);
        self.last_zxid_seen.encode(out);
        self.time_out.encode(out);
        self.session_id.encode(out);
        self.passwd.encode(out);
        write_trailing_flag(self.read_only, out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            time_out: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: Bytes::decode(r)?,
            read_only: read_trailing_flag(r)?,
        })
    }
}

/// `ConnectResponse`, the server's first frame; no header.
///
/// Like the request it may carry a trailing `bool readOnly`: ZooKeeper writes
/// it exactly when the client sent one (`!cnxn.isOldClient`), so a server sets
/// [`read_only`](Self::read_only) to `Some(..)` iff the request's was `Some`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectResponse {
    /// Protocol version (0).
    pub protocol_version: i32,
    /// Negotiated session timeout, ms (0 when the session is refused/expired).
    pub time_out: i32,
    /// The session id (0 when refused/expired).
    pub session_id: i64,
    /// The session password.
    pub passwd: Bytes,
    /// Trailing `readOnly` flag: `Some(is_read_only_server)` for new clients.
    pub read_only: Option<bool>,
}

impl Record for ConnectResponse {
    const MIN_SIZE: usize = 4 + 4 + 8 + 4;

    fn encode(&self, out: &mut BytesMut) {
        self.protocol_version.encode(out);
        self.time_out.encode(out);
        self.session_id.encode(out);
        self.passwd.encode(out);
        write_trailing_flag(self.read_only, out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32()?,
            time_out: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: Bytes::decode(r)?,
            read_only: read_trailing_flag(r)?,
        })
    }
}

record! {
    /// `RequestHeader`, in front of every request after the connect.
    pub struct RequestHeader {
        /// Client-chosen id echoed in the reply (or a special xid, see [`crate::xid`]).
        pub xid: i32,
        /// The [`OpCode`](crate::OpCode) as an int.
        pub op: i32,
    }
}

record! {
    /// `ReplyHeader`, in front of every server frame after the connect.
    pub struct ReplyHeader {
        /// The request's xid (or a special xid, see [`crate::xid`]).
        pub xid: i32,
        /// The server's last processed zxid.
        pub zxid: i64,
        /// An [`ErrorCode`](crate::ErrorCode) as an int; a body follows only if 0.
        pub err: i32,
    }
}

record! {
    /// `MultiHeader`, in front of each op (and result) of `multi`/`multiRead`.
    pub struct MultiHeader {
        /// The op's [`OpCode`](crate::OpCode) (-1 for an error result or the terminator).
        pub op: i32,
        /// True on the terminating header.
        pub done: bool,
        /// Error code (-1 in requests and on the terminator).
        pub err: i32,
    }
}

record! {
    /// `AuthPacket` (`addAuthInfo`, xid -4).
    pub struct AuthPacket {
        /// Unused by ZooKeeper (0).
        pub auth_type: i32,
        /// Auth scheme, for example `digest`.
        pub scheme: String,
        /// Scheme-specific credentials, for example `user:password`.
        pub auth: Bytes,
    }
}

record! {
    /// `WatcherEvent`, the body of a notification (reply xid -1).
    pub struct WatcherEvent {
        /// [`EventType`](crate::EventType) as an int.
        pub event_type: i32,
        /// [`KeeperState`](crate::KeeperState) as an int.
        pub state: i32,
        /// The node's path (empty for state events).
        pub path: String,
    }
}

record! {
    /// `SetWatches` (xid -8): re-register watches after a reconnect.
    pub struct SetWatches {
        /// The zxid the client last saw; events after it fire at once.
        pub relative_zxid: i64,
        /// Paths with data watches.
        pub data_watches: Vec<String>,
        /// Paths with exist watches.
        pub exist_watches: Vec<String>,
        /// Paths with child watches.
        pub child_watches: Vec<String>,
    }
}

record! {
    /// `SetWatches2` (xid -8): `SetWatches` plus persistent watches.
    pub struct SetWatches2 {
        /// The zxid the client last saw.
        pub relative_zxid: i64,
        /// Paths with data watches.
        pub data_watches: Vec<String>,
        /// Paths with exist watches.
        pub exist_watches: Vec<String>,
        /// Paths with child watches.
        pub child_watches: Vec<String>,
        /// Paths with persistent watches.
        pub persistent_watches: Vec<String>,
        /// Paths with persistent recursive watches.
        pub persistent_recursive_watches: Vec<String>,
    }
}

record! {
    /// `ErrorResponse`: a failed op inside a multi result; also the body of
    /// an `addWatch` reply (`ErrorResponse(0)`).
    pub struct ErrorResponse {
        /// The error code.
        pub err: i32,
    }
}

record! {
    /// `WhoAmIResponse`: the identities of the session.
    pub struct WhoAmIResponse {
        /// One entry per authenticated identity.
        pub client_info: Vec<ClientInfo>,
    }
}

/// The optional trailing `bool readOnly` of the connect handshake: old clients omit it.
fn read_trailing_flag(r: &mut Reader<'_>) -> Result<Option<bool>, DecodeError> {
    if r.remaining() == 0 {
        Ok(None)
    } else {
        r.read_bool().map(Some)
    }
}

/// Write the trailing `readOnly` flag exactly when the peer's handshake had one.
fn write_trailing_flag(flag: Option<bool>, out: &mut BytesMut) {
    if let Some(ro) = flag {
        ro.encode(out);
    }
}
