//! Between the wire records of `zk-jute` and the data tree's types: stats, ACLs, write
//! requests, and the replies to committed transactions.

use bytes::Bytes;
use zk_datatree::{Acl, CreateMode, ErrorCode, Request, Stat, TxnResult};
use zk_jute::{self as jute, MultiOp, MultiResult, OpCode};

/// A tree stat as the wire's.
pub fn stat(s: &Stat) -> jute::Stat {
    jute::Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner,
        data_length: s.data_length,
        num_children: s.num_children,
        pzxid: s.pzxid,
    }
}

/// Wire ACLs as the tree's.
pub fn acl_in(acl: &[jute::Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| Acl::new(a.perms, a.id.scheme.clone(), a.id.id.clone()))
        .collect()
}

/// Tree ACLs as the wire's.
pub fn acl_out(acl: &[Acl]) -> Vec<jute::Acl> {
    acl.iter()
        .map(|a| jute::Acl {
            perms: a.perms,
            id: jute::Id {
                scheme: a.scheme.clone(),
                id: a.id.clone(),
            },
        })
        .collect()
}

fn data(d: &Option<Bytes>) -> Bytes {
    d.clone().unwrap_or_default()
}

fn create(r: &jute::CreateRequest, container: bool) -> Result<Request, ErrorCode> {
    let mode = if container {
        // createContainer must say so in its flags too (ZooKeeper checks the mode).
        match CreateMode::from_flag(r.flags) {
            Some(CreateMode::Container) => CreateMode::Container,
            _ => return Err(ErrorCode::BAD_ARGUMENTS),
        }
    } else {
        CreateMode::from_flag(r.flags).ok_or(ErrorCode::BAD_ARGUMENTS)?
    };
    Ok(Request::Create {
        path: r.path.clone(),
        data: data(&r.data),
        acl: acl_in(&r.acl),
        mode,
        ttl: -1,
    })
}

fn create_ttl(r: &jute::CreateTtlRequest) -> Result<Request, ErrorCode> {
    Ok(Request::Create {
        path: r.path.clone(),
        data: data(&r.data),
        acl: acl_in(&r.acl),
        mode: CreateMode::from_flag(r.flags).ok_or(ErrorCode::BAD_ARGUMENTS)?,
        ttl: r.ttl,
    })
}

fn multi_op(op: &MultiOp) -> Result<Request, ErrorCode> {
    match op {
        MultiOp::Create(r) | MultiOp::Create2(r) => create(r, false),
        MultiOp::CreateContainer(r) => create(r, true),
        MultiOp::CreateTtl(r) => create_ttl(r),
        MultiOp::Delete(r) => Ok(Request::Delete {
            path: r.path.clone(),
            version: r.version,
        }),
        MultiOp::SetData(r) => Ok(Request::SetData {
            path: r.path.clone(),
            data: data(&r.data),
            version: r.version,
        }),
        MultiOp::Check(r) => Ok(Request::Check {
            path: r.path.clone(),
            version: r.version,
        }),
        MultiOp::GetChildren(_) | MultiOp::GetData(_) => Err(ErrorCode::MARSHALLING_ERROR),
    }
}

/// The tree request for a client write, or why it cannot be one. `None` for requests
/// that are not writes.
pub fn write_request(r: &jute::Request) -> Option<Result<Request, ErrorCode>> {
    Some(match r {
        jute::Request::Create(c) | jute::Request::Create2(c) => create(c, false),
        jute::Request::CreateContainer(c) => create(c, true),
        jute::Request::CreateTtl(c) => create_ttl(c),
        jute::Request::Delete(d) => Ok(Request::Delete {
            path: d.path.clone(),
            version: d.version,
        }),
        jute::Request::SetData(s) => Ok(Request::SetData {
            path: s.path.clone(),
            data: data(&s.data),
            version: s.version,
        }),
        jute::Request::SetAcl(s) => Ok(Request::SetAcl {
            path: s.path.clone(),
            acl: acl_in(&s.acl),
            version: s.version,
        }),
        // A check outside a multi: ZooKeeper 3.8 runs it through the pipeline as a write.
        jute::Request::Check(c) => Ok(Request::Check {
            path: c.path.clone(),
            version: c.version,
        }),
        jute::Request::Multi(m) => m
            .ops
            .iter()
            .map(multi_op)
            .collect::<Result<Vec<_>, _>>()
            .map(Request::Multi),
        _ => return None,
    })
}

fn multi_result(op: &MultiOp, r: &TxnResult) -> MultiResult {
    match (op, r) {
        // ZooKeeper 3.8 answers create2 inside a multi like create, with the path only
        // (ZOOKEEPER-4026, fixed in 3.9); containers and TTL nodes get their stat.
        (MultiOp::Create(_) | MultiOp::Create2(_), TxnResult::Created { path, .. }) => {
            MultiResult::Create(jute::CreateResponse { path: path.clone() })
        }
        (_, TxnResult::Created { path, stat: s }) => MultiResult::Create2(jute::Create2Response {
            path: path.clone(),
            stat: stat(s),
        }),
        (_, TxnResult::Deleted { .. }) => MultiResult::Delete,
        (_, TxnResult::DataSet { stat: s, .. }) => {
            MultiResult::SetData(jute::SetDataResponse { stat: stat(s) })
        }
        (_, TxnResult::Checked { .. }) => MultiResult::Check,
        (_, other) => MultiResult::Error(other.error_code().code()),
    }
}

/// The reply (error code and body) to the client write `request` whose transaction
/// produced `result`.
pub fn write_reply(request: &jute::Request, result: &TxnResult) -> (i32, jute::Response) {
    use jute::Response as R;
    if let (jute::Request::Multi(m), TxnResult::Multi(results)) = (request, result) {
        let results = m
            .ops
            .iter()
            .zip(results)
            .map(|(op, r)| multi_result(op, r))
            .collect();
        // A failed multi is answered with err 0 and per-op errors, as ZooKeeper does.
        return (0, R::Multi(jute::MultiResponse { results }));
    }
    let body = match (request, result) {
        (jute::Request::Create(_), TxnResult::Created { path, .. }) => {
            R::Create(jute::CreateResponse { path: path.clone() })
        }
        (_, TxnResult::Created { path, stat: s }) => R::Create2(jute::Create2Response {
            path: path.clone(),
            stat: stat(s),
        }),
        (_, TxnResult::DataSet { stat: s, .. }) => {
            R::SetData(jute::SetDataResponse { stat: stat(s) })
        }
        (_, TxnResult::AclSet { stat: s, .. }) => R::SetAcl(jute::SetAclResponse { stat: stat(s) }),
        (_, TxnResult::Deleted { .. } | TxnResult::Checked { .. }) => R::Empty,
        (_, TxnResult::SessionClosed { .. } | TxnResult::SessionCreated { .. }) => R::Empty,
        (_, other) => return (other.error_code().code(), R::Empty),
    };
    (0, body)
}

/// Whether `op` is answered from this server's tree without ZAB.
pub fn is_read(op: OpCode) -> bool {
    matches!(
        op,
        OpCode::Exists
            | OpCode::GetData
            | OpCode::GetAcl
            | OpCode::GetChildren
            | OpCode::GetChildren2
            | OpCode::MultiRead
            | OpCode::GetEphemerals
            | OpCode::GetAllChildrenNumber
            | OpCode::WhoAmI
            | OpCode::Ping
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::AddWatch
            | OpCode::SetWatches
            | OpCode::SetWatches2
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_multi_answers_ok_with_per_op_errors() {
        let ops = vec![
            MultiOp::Check(jute::CheckVersionRequest {
                path: "/a".into(),
                version: 1,
            }),
            MultiOp::Delete(jute::DeleteRequest {
                path: "/b".into(),
                version: -1,
            }),
        ];
        let request = jute::Request::Multi(jute::MultiRequest { ops });
        let result = TxnResult::Multi(vec![
            TxnResult::Error(ErrorCode::BAD_VERSION),
            TxnResult::Error(ErrorCode::RUNTIME_INCONSISTENCY),
        ]);
        let (err, body) = write_reply(&request, &result);
        assert_eq!(err, 0);
        assert_eq!(
            body,
            jute::Response::Multi(jute::MultiResponse {
                results: vec![MultiResult::Error(-103), MultiResult::Error(-2)]
            })
        );
    }

    #[test]
    fn create_answers_the_path_and_create2_the_stat_too() {
        let c = jute::CreateRequest {
            path: "/a".into(),
            data: None,
            acl: vec![],
            flags: 0,
        };
        let res = TxnResult::Created {
            path: "/a".into(),
            stat: Stat::default(),
        };
        assert!(matches!(
            write_reply(&jute::Request::Create(c.clone()), &res).1,
            jute::Response::Create(_)
        ));
        assert!(matches!(
            write_reply(&jute::Request::Create2(c), &res).1,
            jute::Response::Create2(_)
        ));
        let failed = TxnResult::Error(ErrorCode::NODE_EXISTS);
        let d = jute::Request::Delete(jute::DeleteRequest {
            path: "/a".into(),
            version: -1,
        });
        assert_eq!(write_reply(&d, &failed).0, -110);
    }
}
