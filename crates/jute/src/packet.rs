//! Whole packets: a client's requests (dispatched on the opcode of the
//! [`RequestHeader`]) and a server's replies ([`ReplyHeader`] + body).

use bytes::BytesMut;

use crate::codec::{DEFAULT_MAX_LEN, Reader, Record};
use crate::consts::{OpCode, xid};
use crate::error::DecodeError;
use crate::multi::{MultiRequest, MultiResponse};
use crate::ops::{
    AddWatchRequest, CheckVersionRequest, CheckWatchesRequest, Create2Response, CreateRequest,
    CreateResponse, CreateTtlRequest, DeleteRequest, ExistsRequest, ExistsResponse, GetAclRequest,
    GetAclResponse, GetAllChildrenNumberRequest, GetAllChildrenNumberResponse, GetChildren2Request,
    GetChildren2Response, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    GetEphemeralsRequest, GetEphemeralsResponse, GetSaslRequest, ReconfigRequest,
    RemoveWatchesRequest, SetAclRequest, SetAclResponse, SetDataRequest, SetDataResponse,
    SetSaslResponse, SyncRequest, SyncResponse,
};
use crate::proto::{
    AuthPacket, ConnectRequest, ErrorResponse, ReplyHeader, RequestHeader, SetWatches, SetWatches2,
    WatcherEvent, WhoAmIResponse,
};

/// The body of a client request, one variant per opcode a client may send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `create`.
    Create(CreateRequest),
    /// `create2`.
    Create2(CreateRequest),
    /// `createContainer`.
    CreateContainer(CreateRequest),
    /// `createTTL`.
    CreateTtl(CreateTtlRequest),
    /// `delete`.
    Delete(DeleteRequest),
    /// `exists`.
    Exists(ExistsRequest),
    /// `getData`.
    GetData(GetDataRequest),
    /// `setData`.
    SetData(SetDataRequest),
    /// `getACL`.
    GetAcl(GetAclRequest),
    /// `setACL`.
    SetAcl(SetAclRequest),
    /// `getChildren`.
    GetChildren(GetChildrenRequest),
    /// `getChildren2`.
    GetChildren2(GetChildren2Request),
    /// `sync`.
    Sync(SyncRequest),
    /// `ping` (no body).
    Ping,
    /// `check`.
    Check(CheckVersionRequest),
    /// `multi` (write ops only).
    Multi(MultiRequest),
    /// `multiRead` (read ops only).
    MultiRead(MultiRequest),
    /// `reconfig`.
    Reconfig(ReconfigRequest),
    /// `checkWatches`.
    CheckWatches(CheckWatchesRequest),
    /// `removeWatches`.
    RemoveWatches(RemoveWatchesRequest),
    /// `auth`.
    Auth(AuthPacket),
    /// `setWatches`.
    SetWatches(SetWatches),
    /// `sasl`.
    Sasl(GetSaslRequest),
    /// `getEphemerals`.
    GetEphemerals(GetEphemeralsRequest),
    /// `getAllChildrenNumber`.
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// `setWatches2`.
    SetWatches2(SetWatches2),
    /// `addWatch`.
    AddWatch(AddWatchRequest),
    /// `whoAmI` (no body).
    WhoAmI,
    /// `closeSession` (no body).
    CloseSession,
}

impl Request {
    /// The opcode this request is sent with.
    pub fn op_code(&self) -> OpCode {
        match self {
            Self::Create(_) => OpCode::Create,
            Self::Create2(_) => OpCode::Create2,
            Self::CreateContainer(_) => OpCode::CreateContainer,
            Self::CreateTtl(_) => OpCode::CreateTtl,
            Self::Delete(_) => OpCode::Delete,
            Self::Exists(_) => OpCode::Exists,
            Self::GetData(_) => OpCode::GetData,
            Self::SetData(_) => OpCode::SetData,
            Self::GetAcl(_) => OpCode::GetAcl,
            Self::SetAcl(_) => OpCode::SetAcl,
            Self::GetChildren(_) => OpCode::GetChildren,
            Self::GetChildren2(_) => OpCode::GetChildren2,
            Self::Sync(_) => OpCode::Sync,
            Self::Ping => OpCode::Ping,
            Self::Check(_) => OpCode::Check,
            Self::Multi(_) => OpCode::Multi,
            Self::MultiRead(_) => OpCode::MultiRead,
            Self::Reconfig(_) => OpCode::Reconfig,
            Self::CheckWatches(_) => OpCode::CheckWatches,
            Self::RemoveWatches(_) => OpCode::RemoveWatches,
            Self::Auth(_) => OpCode::Auth,
            Self::SetWatches(_) => OpCode::SetWatches,
            Self::Sasl(_) => OpCode::Sasl,
            Self::GetEphemerals(_) => OpCode::GetEphemerals,
            Self::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Self::SetWatches2(_) => OpCode::SetWatches2,
            Self::AddWatch(_) => OpCode::AddWatch,
            Self::WhoAmI => OpCode::WhoAmI,
            Self::CloseSession => OpCode::CloseSession,
        }
    }

    /// Appends the body (not the header).
    pub fn encode_body(&self, out: &mut BytesMut) {
        match self {
            Self::Create(b) | Self::Create2(b) | Self::CreateContainer(b) => b.encode(out),
            Self::CreateTtl(b) => b.encode(out),
            Self::Delete(b) => b.encode(out),
            Self::Exists(b) => b.encode(out),
            Self::GetData(b) => b.encode(out),
            Self::SetData(b) => b.encode(out),
            Self::GetAcl(b) => b.encode(out),
            Self::SetAcl(b) => b.encode(out),
            Self::GetChildren(b) => b.encode(out),
            Self::GetChildren2(b) => b.encode(out),
            Self::Sync(b) => b.encode(out),
            Self::Ping | Self::WhoAmI | Self::CloseSession => {}
            Self::Check(b) => b.encode(out),
            Self::Multi(b) | Self::MultiRead(b) => b.encode(out),
            Self::Reconfig(b) => b.encode(out),
            Self::CheckWatches(b) => b.encode(out),
            Self::RemoveWatches(b) => b.encode(out),
            Self::Auth(b) => b.encode(out),
            Self::SetWatches(b) => b.encode(out),
            Self::Sasl(b) => b.encode(out),
            Self::GetEphemerals(b) => b.encode(out),
            Self::GetAllChildrenNumber(b) => b.encode(out),
            Self::SetWatches2(b) => b.encode(out),
            Self::AddWatch(b) => b.encode(out),
        }
    }

    /// Decodes the body that follows a header carrying `op`. Opcodes a
    /// client never sends (`notification`, `createSession`, `error`,
    /// `deleteContainer`) are [`DecodeError::UnexpectedOpcode`].
    pub fn decode_body(op: i32, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let code = OpCode::try_from(op)?;
        Ok(match code {
            OpCode::Create => Self::Create(CreateRequest::decode(r)?),
            OpCode::Create2 => Self::Create2(CreateRequest::decode(r)?),
            OpCode::CreateContainer => Self::CreateContainer(CreateRequest::decode(r)?),
            OpCode::CreateTtl => Self::CreateTtl(CreateTtlRequest::decode(r)?),
            OpCode::Delete => Self::Delete(DeleteRequest::decode(r)?),
            OpCode::Exists => Self::Exists(ExistsRequest::decode(r)?),
            OpCode::GetData => Self::GetData(GetDataRequest::decode(r)?),
            OpCode::SetData => Self::SetData(SetDataRequest::decode(r)?),
            OpCode::GetAcl => Self::GetAcl(GetAclRequest::decode(r)?),
            OpCode::SetAcl => Self::SetAcl(SetAclRequest::decode(r)?),
            OpCode::GetChildren => Self::GetChildren(GetChildrenRequest::decode(r)?),
            OpCode::GetChildren2 => Self::GetChildren2(GetChildren2Request::decode(r)?),
            OpCode::Sync => Self::Sync(SyncRequest::decode(r)?),
            OpCode::Ping => Self::Ping,
            OpCode::Check => Self::Check(CheckVersionRequest::decode(r)?),
            OpCode::Multi | OpCode::MultiRead => {
                let m = MultiRequest::decode(r)?;
                // An empty multi fits either kind.
                if !m.ops.is_empty() && m.is_read() != (code == OpCode::MultiRead) {
                    return Err(DecodeError::MixedMultiOps);
                }
                if code == OpCode::Multi {
                    Self::Multi(m)
                } else {
                    Self::MultiRead(m)
                }
            }
            OpCode::Reconfig => Self::Reconfig(ReconfigRequest::decode(r)?),
            OpCode::CheckWatches => Self::CheckWatches(CheckWatchesRequest::decode(r)?),
            OpCode::RemoveWatches => Self::RemoveWatches(RemoveWatchesRequest::decode(r)?),
            OpCode::Auth => Self::Auth(AuthPacket::decode(r)?),
            OpCode::SetWatches => Self::SetWatches(SetWatches::decode(r)?),
            OpCode::Sasl => Self::Sasl(GetSaslRequest::decode(r)?),
            OpCode::GetEphemerals => Self::GetEphemerals(GetEphemeralsRequest::decode(r)?),
            OpCode::GetAllChildrenNumber => {
                Self::GetAllChildrenNumber(GetAllChildrenNumberRequest::decode(r)?)
            }
            OpCode::SetWatches2 => Self::SetWatches2(SetWatches2::decode(r)?),
            OpCode::AddWatch => Self::AddWatch(AddWatchRequest::decode(r)?),
            OpCode::WhoAmI => Self::WhoAmI,
            OpCode::CloseSession => Self::CloseSession,
            OpCode::Notification
            | OpCode::CreateSession
            | OpCode::Error
            | OpCode::DeleteContainer => return Err(DecodeError::UnexpectedOpcode(code)),
        })
    }

    /// Appends header + body for `xid` (not framed).
    pub fn encode_with_xid(&self, xid: i32, out: &mut BytesMut) {
        RequestHeader {
            xid,
            op: self.op_code().code(),
        }
        .encode(out);
        self.encode_body(out);
    }

    /// The xid ZooKeeper's client uses for this request, if it is fixed:
    /// ping -2, auth -4, setWatches/setWatches2 -8.
    pub fn special_xid(&self) -> Option<i32> {
        match self {
            Self::Ping => Some(xid::PING),
            Self::Auth(_) => Some(xid::AUTH),
            Self::SetWatches(_) | Self::SetWatches2(_) => Some(xid::SET_WATCHES),
            _ => None,
        }
    }
}

/// A decoded client frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRequest {
    /// The connection's first frame.
    Connect(ConnectRequest),
    /// Any later frame.
    Op {
        /// Its header.
        header: RequestHeader,
        /// Its body.
        request: Request,
    },
}

/// Decodes the frames of one client connection: the first is a
/// [`ConnectRequest`], every later one a [`RequestHeader`] and the body its
/// opcode names. Bytes left over after a record are refused
/// ([`DecodeError::Trailing`]) unless [`allow_trailing`](Self::allow_trailing)
/// is set (ZooKeeper itself ignores them).
#[derive(Clone, Debug)]
pub struct ClientRequestDecoder {
    connected: bool,
    max_len: usize,
    allow_trailing: bool,
}

impl Default for ClientRequestDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientRequestDecoder {
    /// A decoder for a new connection, with the default length cap.
    pub fn new() -> Self {
        Self {
            connected: false,
            max_len: DEFAULT_MAX_LEN,
            allow_trailing: false,
        }
    }

    /// Caps any length or count inside a record.
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Whether bytes after a complete record are tolerated (ignored).
    pub fn allow_trailing(mut self, allow: bool) -> Self {
        self.allow_trailing = allow;
        self
    }

    /// True once the connect frame has been decoded.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Decodes one frame body (without its length prefix). The connect frame
    /// only counts as seen once it decoded successfully.
    pub fn decode(&mut self, frame: &[u8]) -> Result<ClientRequest, DecodeError> {
        let mut r = Reader::with_max_len(frame, self.max_len);
        let out = if self.connected {
            let header = RequestHeader::decode(&mut r)?;
            let request = Request::decode_body(header.op, &mut r)?;
            ClientRequest::Op { header, request }
        } else {
            ClientRequest::Connect(ConnectRequest::decode(&mut r)?)
        };
        if !self.allow_trailing {
            r.finish()?;
        }
        self.connected = true;
        Ok(out)
    }
}

/// The body of a server reply (what follows the [`ReplyHeader`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// No body: errors, and delete, check, ping, auth, setWatches,
    /// setWatches2, removeWatches, checkWatches, closeSession.
    Empty,
    /// create.
    Create(CreateResponse),
    /// create2, createContainer, createTTL.
    Create2(Create2Response),
    /// exists.
    Exists(ExistsResponse),
    /// getData; also the reply to reconfig.
    GetData(GetDataResponse),
    /// setData.
    SetData(SetDataResponse),
    /// getACL.
    GetAcl(GetAclResponse),
    /// setACL.
    SetAcl(SetAclResponse),
    /// getChildren.
    GetChildren(GetChildrenResponse),
    /// getChildren2.
    GetChildren2(GetChildren2Response),
    /// sync.
    Sync(SyncResponse),
    /// multi, multiRead.
    Multi(MultiResponse),
    /// addWatch (ZooKeeper answers `ErrorResponse(0)`).
    Error(ErrorResponse),
    /// sasl.
    Sasl(SetSaslResponse),
    /// getEphemerals.
    GetEphemerals(GetEphemeralsResponse),
    /// getAllChildrenNumber.
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// whoAmI.
    WhoAmI(WhoAmIResponse),
    /// A watch notification (reply xid -1).
    Notification(WatcherEvent),
}

impl Response {
    /// Appends the body.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Empty => {}
            Self::Create(b) => b.encode(out),
            Self::Create2(b) => b.encode(out),
            Self::Exists(b) => b.encode(out),
            Self::GetData(b) => b.encode(out),
            Self::SetData(b) => b.encode(out),
            Self::GetAcl(b) => b.encode(out),
            Self::SetAcl(b) => b.encode(out),
            Self::GetChildren(b) => b.encode(out),
            Self::GetChildren2(b) => b.encode(out),
            Self::Sync(b) => b.encode(out),
            Self::Multi(b) => b.encode(out),
            Self::Error(b) => b.encode(out),
            Self::Sasl(b) => b.encode(out),
            Self::GetEphemerals(b) => b.encode(out),
            Self::GetAllChildrenNumber(b) => b.encode(out),
            Self::WhoAmI(b) => b.encode(out),
            Self::Notification(b) => b.encode(out),
        }
    }

    /// Decodes the body of a successful (`err == 0`) reply to a request with
    /// opcode `op` (client side; the body's type depends on the request).
    pub fn decode_for(op: OpCode, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match op {
            OpCode::Create => Self::Create(CreateResponse::decode(r)?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Self::Create2(Create2Response::decode(r)?)
            }
            OpCode::Exists => Self::Exists(ExistsResponse::decode(r)?),
            OpCode::GetData | OpCode::Reconfig => Self::GetData(GetDataResponse::decode(r)?),
            OpCode::SetData => Self::SetData(SetDataResponse::decode(r)?),
            OpCode::GetAcl => Self::GetAcl(GetAclResponse::decode(r)?),
            OpCode::SetAcl => Self::SetAcl(SetAclResponse::decode(r)?),
            OpCode::GetChildren => Self::GetChildren(GetChildrenResponse::decode(r)?),
            OpCode::GetChildren2 => Self::GetChildren2(GetChildren2Response::decode(r)?),
            OpCode::Sync => Self::Sync(SyncResponse::decode(r)?),
            OpCode::Multi | OpCode::MultiRead => Self::Multi(MultiResponse::decode(r)?),
            OpCode::AddWatch => Self::Error(ErrorResponse::decode(r)?),
            OpCode::Sasl => Self::Sasl(SetSaslResponse::decode(r)?),
            OpCode::GetEphemerals => Self::GetEphemerals(GetEphemeralsResponse::decode(r)?),
            OpCode::GetAllChildrenNumber => {
                Self::GetAllChildrenNumber(GetAllChildrenNumberResponse::decode(r)?)
            }
            OpCode::WhoAmI => Self::WhoAmI(WhoAmIResponse::decode(r)?),
            OpCode::Notification => Self::Notification(WatcherEvent::decode(r)?),
            OpCode::Delete
            | OpCode::Ping
            | OpCode::Check
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::Auth
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::CloseSession
            | OpCode::DeleteContainer
            | OpCode::CreateSession
            | OpCode::Error => Self::Empty,
        })
    }
}

/// Appends a reply: `header` then `body` (not framed; see
/// [`encode_frame_with`](crate::encode_frame_with)).
pub fn encode_response(header: &ReplyHeader, body: &Response, out: &mut BytesMut) {
    header.encode(out);
    body.encode(out);
}

/// Decodes a whole reply frame on the client side. `op_for_xid` names the
/// opcode of the pending request with that xid; the special xids
/// (notification -1, ping -2, auth -4, setWatches -8) are recognised without
/// it. A body is read only when `err == 0`, as `ClientCnxn` does; a body for
/// an xid `op_for_xid` does not know is left unread and reported as
/// [`DecodeError::Trailing`].
pub fn decode_response(
    frame: &[u8],
    op_for_xid: impl FnOnce(i32) -> Option<OpCode>,
) -> Result<(ReplyHeader, Response), DecodeError> {
    let mut r = Reader::new(frame);
    let header = ReplyHeader::decode(&mut r)?;
    let op = match header.xid {
        xid::NOTIFICATION => Some(OpCode::Notification),
        xid::PING => Some(OpCode::Ping),
        xid::AUTH => Some(OpCode::Auth),
        xid::SET_WATCHES => Some(OpCode::SetWatches),
        other => op_for_xid(other),
    };
    let body = match op {
        Some(op) if header.err == 0 => Response::decode_for(op, &mut r)?,
        _ => Response::Empty,
    };
    r.finish()?;
    Ok((header, body))
}
