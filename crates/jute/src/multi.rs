//! `multi` and `multiRead`: a sequence of [`MultiHeader`] + record pairs ended
//! by a header with `done = true` (ZooKeeper writes it as `{-1, true, -1}`).
//! Mirrors `MultiOperationRecord` and `MultiResponse`.

use bytes::BytesMut;

use crate::codec::{Reader, Record};
use crate::consts::OpCode;
use crate::error::DecodeError;
use crate::ops::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest,
    DeleteRequest, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    SetDataRequest, SetDataResponse,
};
use crate::proto::{ErrorResponse, MultiHeader};

/// The header that ends a multi request or response.
pub const MULTI_DONE: MultiHeader = MultiHeader {
    op: -1,
    done: true,
    err: -1,
};

/// One operation of a `multi` (writes) or `multiRead` (reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
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
    /// `setData`.
    SetData(SetDataRequest),
    /// `check`.
    Check(CheckVersionRequest),
    /// `getChildren` (multiRead only).
    GetChildren(GetChildrenRequest),
    /// `getData` (multiRead only).
    GetData(GetDataRequest),
}

impl MultiOp {
    /// The opcode written in this op's header.
    pub fn op_code(&self) -> OpCode {
        match self {
            Self::Create(_) => OpCode::Create,
            Self::Create2(_) => OpCode::Create2,
            Self::CreateContainer(_) => OpCode::CreateContainer,
            Self::CreateTtl(_) => OpCode::CreateTtl,
            Self::Delete(_) => OpCode::Delete,
            Self::SetData(_) => OpCode::SetData,
            Self::Check(_) => OpCode::Check,
            Self::GetChildren(_) => OpCode::GetChildren,
            Self::GetData(_) => OpCode::GetData,
        }
    }

    fn encode_body(&self, out: &mut BytesMut) {
        match self {
            Self::Create(r) | Self::Create2(r) | Self::CreateContainer(r) => r.encode(out),
            Self::CreateTtl(r) => r.encode(out),
            Self::Delete(r) => r.encode(out),
            Self::SetData(r) => r.encode(out),
            Self::Check(r) => r.encode(out),
            Self::GetChildren(r) => r.encode(out),
            Self::GetData(r) => r.encode(out),
        }
    }

    fn decode_body(op: i32, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let code = OpCode::try_from(op)?;
        Ok(match code {
            OpCode::Create => Self::Create(CreateRequest::decode(r)?),
            OpCode::Create2 => Self::Create2(CreateRequest::decode(r)?),
            OpCode::CreateContainer => Self::CreateContainer(CreateRequest::decode(r)?),
            OpCode::CreateTtl => Self::CreateTtl(CreateTtlRequest::decode(r)?),
            OpCode::Delete => Self::Delete(DeleteRequest::decode(r)?),
            OpCode::SetData => Self::SetData(SetDataRequest::decode(r)?),
            OpCode::Check => Self::Check(CheckVersionRequest::decode(r)?),
            OpCode::GetChildren => Self::GetChildren(GetChildrenRequest::decode(r)?),
            OpCode::GetData => Self::GetData(GetDataRequest::decode(r)?),
            other => return Err(DecodeError::UnexpectedOpcode(other)),
        })
    }
}

/// The body of a `multi` or `multiRead` request.
///
/// Decoding refuses a mix of read and write ops, as ZooKeeper does; whether
/// the kind matches the header's opcode (`multi` vs `multiRead`) is checked
/// by [`Request::decode_body`](crate::Request::decode_body).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MultiRequest {
    /// The operations, in order.
    pub ops: Vec<MultiOp>,
}

impl MultiRequest {
    /// True if every op is a read (so this is a `multiRead`); an empty multi
    /// counts as a write.
    pub fn is_read(&self) -> bool {
        self.ops
            .first()
            .is_some_and(|o| o.op_code().is_multi_read_op())
    }
}

impl Record for MultiRequest {
    const MIN_SIZE: usize = 9;

    fn encode(&self, out: &mut BytesMut) {
        for op in &self.ops {
            MultiHeader {
                op: op.op_code().code(),
                done: false,
                err: -1,
            }
            .encode(out);
            op.encode_body(out);
        }
        MULTI_DONE.encode(out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut ops: Vec<MultiOp> = Vec::new();
        // Each iteration consumes at least a 9-byte header, so the loop is
        // bounded by the input length.
        loop {
            let h = MultiHeader::decode(r)?;
            if h.done {
                return Ok(Self { ops });
            }
            let op = MultiOp::decode_body(h.op, r)?;
            if let Some(first) = ops.first()
                && first.op_code().is_multi_read_op() != op.op_code().is_multi_read_op()
            {
                return Err(DecodeError::MixedMultiOps);
            }
            ops.push(op);
        }
    }
}

/// One result of a `multi` / `multiRead` response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    /// Result of `create`.
    Create(CreateResponse),
    /// Result of `create2`, `createContainer` and `createTTL` (ZooKeeper
    /// reports all three as `create2`).
    Create2(Create2Response),
    /// Result of `delete` (no body).
    Delete,
    /// Result of `setData`.
    SetData(SetDataResponse),
    /// Result of `check` (no body).
    Check,
    /// Result of `getChildren`.
    GetChildren(GetChildrenResponse),
    /// Result of `getData`.
    GetData(GetDataResponse),
    /// A failed op, or (with `err` 0) an op rolled back because another failed.
    Error(i32),
}

impl MultiResult {
    /// The header written in front of this result: `{type, false, err}` with
    /// type -1 and the code for errors, else the op's type and 0.
    pub fn header(&self) -> MultiHeader {
        let (op, err) = match self {
            Self::Create(_) => (OpCode::Create, 0),
            Self::Create2(_) => (OpCode::Create2, 0),
            Self::Delete => (OpCode::Delete, 0),
            Self::SetData(_) => (OpCode::SetData, 0),
            Self::Check => (OpCode::Check, 0),
            Self::GetChildren(_) => (OpCode::GetChildren, 0),
            Self::GetData(_) => (OpCode::GetData, 0),
            Self::Error(e) => (OpCode::Error, *e),
        };
        MultiHeader {
            op: op.code(),
            done: false,
            err,
        }
    }
}

/// The body of a `multi` / `multiRead` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MultiResponse {
    /// One result per op, in order.
    pub results: Vec<MultiResult>,
}

impl Record for MultiResponse {
    const MIN_SIZE: usize = 9;

    fn encode(&self, out: &mut BytesMut) {
        for res in &self.results {
            res.header().encode(out);
            match res {
                MultiResult::Create(b) => b.encode(out),
                MultiResult::Create2(b) => b.encode(out),
                MultiResult::Delete | MultiResult::Check => {}
                MultiResult::SetData(b) => b.encode(out),
                MultiResult::GetChildren(b) => b.encode(out),
                MultiResult::GetData(b) => b.encode(out),
                MultiResult::Error(e) => ErrorResponse { err: *e }.encode(out),
            }
        }
        MULTI_DONE.encode(out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        loop {
            let h = MultiHeader::decode(r)?;
            if h.done {
                return Ok(Self { results });
            }
            let res = match OpCode::try_from(h.op)? {
                OpCode::Create => MultiResult::Create(CreateResponse::decode(r)?),
                OpCode::Create2 => MultiResult::Create2(Create2Response::decode(r)?),
                OpCode::Delete => MultiResult::Delete,
                OpCode::SetData => MultiResult::SetData(SetDataResponse::decode(r)?),
                OpCode::Check => MultiResult::Check,
                OpCode::GetChildren => MultiResult::GetChildren(GetChildrenResponse::decode(r)?),
                OpCode::GetData => MultiResult::GetData(GetDataResponse::decode(r)?),
                // Like `MultiResponse.deserialize`, the code comes from the body.
                OpCode::Error => MultiResult::Error(ErrorResponse::decode(r)?.err),
                other => return Err(DecodeError::UnexpectedOpcode(other)),
            };
            results.push(res);
        }
    }
}
