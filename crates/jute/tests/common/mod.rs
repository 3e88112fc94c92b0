//! Shared test helpers: a seeded generator and random values of every record.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use bytes::Bytes;
use zk_jute::*;
use zk_transport::rng::SeededRng;

/// The project's seeded generator with the helpers these tests use, so failures replay
/// from a seed.
pub struct Rng(SeededRng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(SeededRng::new(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }
    pub fn bool(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
    pub fn i32(&mut self) -> i32 {
        // Mix edge values in with uniform ones.
        match self.below(6) {
            0 => [0, -1, 1, i32::MAX, i32::MIN][self.below(5)],
            _ => self.next_u64() as i32,
        }
    }
    pub fn i64(&mut self) -> i64 {
        match self.below(6) {
            0 => [0, -1, 1, i64::MAX, i64::MIN][self.below(5)],
            _ => self.next_u64() as i64,
        }
    }
    pub fn bytes(&mut self) -> Bytes {
        let n = self.below(40);
        (0..n)
            .map(|_| self.next_u64() as u8)
            .collect::<Vec<u8>>()
            .into()
    }
    pub fn opt_bytes(&mut self) -> Option<Bytes> {
        if self.below(5) == 0 {
            None
        } else {
            Some(self.bytes())
        }
    }
    pub fn string(&mut self) -> String {
        const PARTS: &[&str] = &["/", "a", "zk", "é", "节点", "-", "0000000001", "🦀", " "];
        let n = self.below(6);
        (0..n).map(|_| PARTS[self.below(PARTS.len())]).collect()
    }
    pub fn opt_string(&mut self) -> Option<String> {
        if self.bool() {
            None
        } else {
            Some(self.string())
        }
    }
    pub fn strings(&mut self) -> Vec<String> {
        let n = self.below(5);
        (0..n).map(|_| self.string()).collect()
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

pub fn stat(r: &mut Rng) -> Stat {
    Stat {
        czxid: r.i64(),
        mzxid: r.i64(),
        ctime: r.i64(),
        mtime: r.i64(),
        version: r.i32(),
        cversion: r.i32(),
        aversion: r.i32(),
        ephemeral_owner: r.i64(),
        data_length: r.i32(),
        num_children: r.i32(),
        pzxid: r.i64(),
    }
}

pub fn id(r: &mut Rng) -> Id {
    Id {
        scheme: r.string(),
        id: r.string(),
    }
}

pub fn acls(r: &mut Rng) -> Vec<Acl> {
    let n = r.below(4);
    (0..n)
        .map(|_| Acl {
            perms: r.i32(),
            id: id(r),
        })
        .collect()
}

pub fn create(r: &mut Rng) -> CreateRequest {
    CreateRequest {
        path: r.string(),
        data: r.opt_bytes(),
        acl: acls(r),
        flags: r.i32(),
    }
}

pub fn create_ttl(r: &mut Rng) -> CreateTtlRequest {
    CreateTtlRequest {
        path: r.string(),
        data: r.opt_bytes(),
        acl: acls(r),
        flags: r.i32(),
        ttl: r.i64(),
    }
}

pub fn multi_op(r: &mut Rng, read: bool) -> MultiOp {
    if read {
        if r.bool() {
            MultiOp::GetData(GetDataRequest {
                path: r.string(),
                watch: r.bool(),
            })
        } else {
            MultiOp::GetChildren(GetChildrenRequest {
                path: r.string(),
                watch: r.bool(),
            })
        }
    } else {
        match r.below(7) {
            0 => MultiOp::Create(create(r)),
            1 => MultiOp::Create2(create(r)),
            2 => MultiOp::CreateContainer(create(r)),
            3 => MultiOp::CreateTtl(create_ttl(r)),
            4 => MultiOp::Delete(DeleteRequest {
                path: r.string(),
                version: r.i32(),
            }),
            5 => MultiOp::SetData(SetDataRequest {
                path: r.string(),
                data: r.opt_bytes(),
                version: r.i32(),
            }),
            _ => MultiOp::Check(CheckVersionRequest {
                path: r.string(),
                version: r.i32(),
            }),
        }
    }
}

pub fn multi_request(r: &mut Rng, read: bool) -> MultiRequest {
    let n = if read { 1 + r.below(4) } else { r.below(5) };
    MultiRequest {
        ops: (0..n).map(|_| multi_op(r, read)).collect(),
    }
}

pub fn multi_response(r: &mut Rng) -> MultiResponse {
    let n = r.below(5);
    MultiResponse {
        results: (0..n)
            .map(|_| match r.below(8) {
                0 => MultiResult::Create(CreateResponse { path: r.string() }),
                1 => MultiResult::Create2(Create2Response {
                    path: r.string(),
                    stat: stat(r),
                }),
                2 => MultiResult::Delete,
                3 => MultiResult::SetData(SetDataResponse { stat: stat(r) }),
                4 => MultiResult::Check,
                5 => MultiResult::GetChildren(GetChildrenResponse {
                    children: r.strings(),
                }),
                6 => MultiResult::GetData(GetDataResponse {
                    data: r.opt_bytes(),
                    stat: stat(r),
                }),
                _ => MultiResult::Error(r.i32()),
            })
            .collect(),
    }
}

pub const REQUEST_KINDS: usize = 29;

/// Request variant number `k` (0..REQUEST_KINDS), with random contents.
pub fn request(r: &mut Rng, k: usize) -> Request {
    match k {
        0 => Request::Create(create(r)),
        1 => Request::Create2(create(r)),
        2 => Request::CreateContainer(create(r)),
        3 => Request::CreateTtl(create_ttl(r)),
        4 => Request::Delete(DeleteRequest {
            path: r.string(),
            version: r.i32(),
        }),
        5 => Request::Exists(ExistsRequest {
            path: r.string(),
            watch: r.bool(),
        }),
        6 => Request::GetData(GetDataRequest {
            path: r.string(),
            watch: r.bool(),
        }),
        7 => Request::SetData(SetDataRequest {
            path: r.string(),
            data: r.opt_bytes(),
            version: r.i32(),
        }),
        8 => Request::GetAcl(GetAclRequest { path: r.string() }),
        9 => Request::SetAcl(SetAclRequest {
            path: r.string(),
            acl: acls(r),
            version: r.i32(),
        }),
        10 => Request::GetChildren(GetChildrenRequest {
            path: r.string(),
            watch: r.bool(),
        }),
        11 => Request::GetChildren2(GetChildren2Request {
            path: r.string(),
            watch: r.bool(),
        }),
        12 => Request::Sync(SyncRequest { path: r.string() }),
        13 => Request::Ping,
        14 => Request::Check(CheckVersionRequest {
            path: r.string(),
            version: r.i32(),
        }),
        15 => Request::Multi(multi_request(r, false)),
        16 => Request::MultiRead(multi_request(r, true)),
        17 => Request::Reconfig(ReconfigRequest {
            joining_servers: r.opt_string(),
            leaving_servers: r.opt_string(),
            new_members: r.opt_string(),
            cur_config_id: r.i64(),
        }),
        18 => Request::CheckWatches(CheckWatchesRequest {
            path: r.string(),
            watcher_type: r.i32(),
        }),
        19 => Request::RemoveWatches(RemoveWatchesRequest {
            path: r.string(),
            watcher_type: r.i32(),
        }),
        20 => Request::Auth(AuthPacket {
            auth_type: r.i32(),
            scheme: r.string(),
            auth: r.bytes(),
        }),
        21 => Request::SetWatches(SetWatches {
            relative_zxid: r.i64(),
            data_watches: r.strings(),
            exist_watches: r.strings(),
            child_watches: r.strings(),
        }),
        22 => Request::Sasl(GetSaslRequest { token: r.bytes() }),
        23 => Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: r.string(),
        }),
        24 => Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: r.string() }),
        25 => Request::SetWatches2(SetWatches2 {
            relative_zxid: r.i64(),
            data_watches: r.strings(),
            exist_watches: r.strings(),
            child_watches: r.strings(),
            persistent_watches: r.strings(),
            persistent_recursive_watches: r.strings(),
        }),
        26 => Request::AddWatch(AddWatchRequest {
            path: r.string(),
            mode: r.i32(),
        }),
        27 => Request::WhoAmI,
        _ => Request::CloseSession,
    }
}

pub const RESPONSE_KINDS: usize = 18;

/// Response variant number `k` with the opcode whose reply it is.
pub fn response(r: &mut Rng, k: usize) -> (OpCode, Response) {
    match k {
        0 => (
            r.pick(&[
                OpCode::Delete,
                OpCode::Ping,
                OpCode::CloseSession,
                OpCode::Auth,
            ]),
            Response::Empty,
        ),
        1 => (
            OpCode::Create,
            Response::Create(CreateResponse { path: r.string() }),
        ),
        2 => (
            r.pick(&[OpCode::Create2, OpCode::CreateContainer, OpCode::CreateTtl]),
            Response::Create2(Create2Response {
                path: r.string(),
                stat: stat(r),
            }),
        ),
        3 => (
            OpCode::Exists,
            Response::Exists(ExistsResponse { stat: stat(r) }),
        ),
        4 => (
            r.pick(&[OpCode::GetData, OpCode::Reconfig]),
            Response::GetData(GetDataResponse {
                data: r.opt_bytes(),
                stat: stat(r),
            }),
        ),
        5 => (
            OpCode::SetData,
            Response::SetData(SetDataResponse { stat: stat(r) }),
        ),
        6 => (
            OpCode::GetAcl,
            Response::GetAcl(GetAclResponse {
                acl: acls(r),
                stat: stat(r),
            }),
        ),
        7 => (
            OpCode::SetAcl,
            Response::SetAcl(SetAclResponse { stat: stat(r) }),
        ),
        8 => (
            OpCode::GetChildren,
            Response::GetChildren(GetChildrenResponse {
                children: r.strings(),
            }),
        ),
        9 => (
            OpCode::GetChildren2,
            Response::GetChildren2(GetChildren2Response {
                children: r.strings(),
                stat: stat(r),
            }),
        ),
        10 => (
            OpCode::Sync,
            Response::Sync(SyncResponse { path: r.string() }),
        ),
        11 => (
            r.pick(&[OpCode::Multi, OpCode::MultiRead]),
            Response::Multi(multi_response(r)),
        ),
        12 => (
            OpCode::AddWatch,
            Response::Error(ErrorResponse { err: r.i32() }),
        ),
        13 => (
            OpCode::Sasl,
            Response::Sasl(SetSaslResponse { token: r.bytes() }),
        ),
        14 => (
            OpCode::GetEphemerals,
            Response::GetEphemerals(GetEphemeralsResponse {
                ephemerals: r.strings(),
            }),
        ),
        15 => (
            OpCode::GetAllChildrenNumber,
            Response::GetAllChildrenNumber(GetAllChildrenNumberResponse {
                total_number: r.i32(),
            }),
        ),
        16 => (
            OpCode::WhoAmI,
            Response::WhoAmI(WhoAmIResponse {
                client_info: (0..r.below(3))
                    .map(|_| ClientInfo {
                        auth_scheme: r.string(),
                        user: r.string(),
                    })
                    .collect(),
            }),
        ),
        _ => (
            OpCode::Notification,
            Response::Notification(WatcherEvent {
                event_type: r.i32(),
                state: r.i32(),
                path: r.string(),
            }),
        ),
    }
}

pub fn connect_request(r: &mut Rng) -> ConnectRequest {
    ConnectRequest {
        protocol_version: r.i32(),
        last_zxid_seen: r.i64(),
        time_out: r.i32(),
        session_id: r.i64(),
        passwd: r.bytes(),
        read_only: if r.bool() { Some(r.bool()) } else { None },
    }
}

pub fn connect_response(r: &mut Rng) -> ConnectResponse {
    ConnectResponse {
        protocol_version: r.i32(),
        time_out: r.i32(),
        session_id: r.i64(),
        passwd: r.bytes(),
        read_only: if r.bool() { Some(r.bool()) } else { None },
    }
}
