//! The ZooKeeper client wire protocol (version 3.8) for zk-rs.
//!
//! - [`codec`]: jute's big-endian primitives and a [`Reader`] that checks
//!   every length against the bytes remaining and a cap before allocating.
//! - [`data`], [`proto`], [`ops`], [`multi`]: the records of `zookeeper.jute`
//!   that clients exchange, each implementing [`Record`].
//! - [`consts`]: opcodes, error codes, watcher events and states, create
//!   modes, permissions, special xids.
//! - [`frame`]: length-prefixed framing with ZooKeeper's `jute.maxbuffer` bound.
//! - [`packet`]: whole client requests ([`ClientRequestDecoder`], [`Request`])
//!   and server replies ([`Response`], [`encode_response`]).
//!
//! Nothing here panics on hostile input: decoders return [`DecodeError`].

pub mod codec;
pub mod consts;
pub mod data;
pub mod error;
pub mod frame;
pub mod multi;
pub mod ops;
pub mod packet;
pub mod proto;

pub use codec::{DEFAULT_MAX_LEN, Reader, Record};
pub use consts::{
    AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, OpCode, WatcherType, perms, xid,
};
pub use data::{Acl, ClientInfo, Id, Stat};
pub use error::{DecodeError, FrameError};
pub use frame::{DEFAULT_MAX_FRAME, Framer, encode_frame, encode_frame_with};
pub use multi::{MULTI_DONE, MultiOp, MultiRequest, MultiResponse, MultiResult};
pub use ops::*;
pub use packet::{
    ClientRequest, ClientRequestDecoder, Request, Response, decode_response, encode_response,
};
pub use proto::{
    AuthPacket, ConnectRequest, ConnectResponse, ErrorResponse, MultiHeader, ReplyHeader,
    RequestHeader, SetWatches, SetWatches2, WatcherEvent, WhoAmIResponse,
};
