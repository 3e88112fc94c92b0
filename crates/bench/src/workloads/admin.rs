//! Setup and cleanup of a run's root node, over a session of their own.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use zk_jute::{
    Acl, CreateRequest, DeleteRequest, ErrorCode, GetChildrenRequest, Id, Request, Response, perms,
};

use crate::cli::{BenchConfig, Workload};
use crate::conn::{Conn, Event};
use crate::error::BenchError;
use crate::stats::error_name;

/// Nodes per bucket of the populate workload (`<root>/b<k>/n<j>`), so that no child list
/// outgrows `jute.maxbuffer`.
pub(crate) const BUCKET: u64 = 1000;
/// Requests kept in flight by setup and cleanup.
const WINDOW: usize = 256;
/// How long setup and cleanup wait without any reply before giving up.
const STALL: Duration = Duration::from_secs(30);

/// `world:anyone` may do anything.
pub(crate) fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

/// A persistent node with `data`.
pub(crate) fn create_request(path: String, data: &Bytes) -> Request {
    Request::Create(CreateRequest {
        path,
        data: Some(data.clone()),
        acl: open_acl(),
        flags: 0,
    })
}

/// Node `i` of the populate workload.
pub(crate) fn populate_path(root: &str, i: u64) -> String {
    format!("{root}/b{}/n{}", i / BUCKET, i % BUCKET)
}

/// A session on the first server of `config` that accepts one.
async fn connect_any(config: &BenchConfig) -> Result<Conn, BenchError> {
    let mut last = None;
    for host in &config.hosts {
        match Conn::connect(host, config.session_timeout, None).await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some((host.clone(), e)),
        }
    }
    match last {
        Some((host, source)) => Err(BenchError::Connect { host, source }),
        None => Err(BenchError::Config("no server".into())),
    }
}

/// Sends every request of `reqs` with up to [`WINDOW`] in flight; a reply with an error
/// code outside `tolerate` fails the whole (after the replies in flight).
async fn pipeline(
    conn: &mut Conn,
    reqs: impl IntoIterator<Item = Request>,
    tolerate: &[ErrorCode],
    what: &str,
) -> Result<(), BenchError> {
    let mut reqs = reqs.into_iter();
    let mut events = Vec::new();
    let mut first_error = None;
    let mut last_progress = Instant::now();
    let host = conn.host().to_string();
    loop {
        while conn.inflight() < WINDOW && first_error.is_none() {
            let Some(r) = reqs.next() else { break };
            conn.queue(&r, 0);
        }
        if conn.inflight() == 0 {
            break;
        }
        let stall_at = last_progress + STALL;
        if Instant::now() >= stall_at {
            return Err(BenchError::Stalled(what.to_string()));
        }
        conn.pump(&mut events, Some(stall_at))
            .await
            .map_err(|source| BenchError::Connect {
                host: host.clone(),
                source,
            })?;
        for ev in events.drain(..) {
            if let Event::Reply(r) = ev {
                last_progress = r.at;
                if r.err != 0
                    && !tolerate.iter().any(|c| c.code() == r.err)
                    && first_error.is_none()
                {
                    first_error = Some(r.err);
                }
            }
        }
    }
    match first_error {
        None => Ok(()),
        Some(code) => Err(BenchError::Server {
            what: what.to_string(),
            code,
            name: error_name(code),
        }),
    }
}

/// Creates the root and the nodes the workload starts from.
pub(crate) async fn setup(config: &BenchConfig, value: &Bytes) -> Result<(), BenchError> {
    let mut conn = connect_any(config).await?;
    let result = create_tree(&mut conn, config, value).await;
    conn.close(Duration::from_secs(2)).await;
    result
}

async fn create_tree(
    conn: &mut Conn,
    config: &BenchConfig,
    value: &Bytes,
) -> Result<(), BenchError> {
    let root = &config.root;
    let mut other = Vec::new();
    let reply = conn
        .call(
            &create_request(root.clone(), &Bytes::new()),
            STALL,
            &mut other,
        )
        .await
        .map_err(|source| BenchError::Connect {
            host: conn.host().to_string(),
            source,
        })?;
    match ErrorCode::try_from(reply.err) {
        Ok(ErrorCode::Ok) => {}
        Ok(ErrorCode::NoNode) => {
            return Err(BenchError::Config(format!(
                "the parent of {root} does not exist; create it or choose another --root"
            )));
        }
        Ok(ErrorCode::NodeExists) => {
            return Err(BenchError::Config(format!(
                "{root} exists already; choose another --root (or remove it)"
            )));
        }
        _ => {
            return Err(BenchError::Server {
                what: format!("creating {root}"),
                code: reply.err,
                name: error_name(reply.err),
            });
        }
    }
    match config.workload {
        Workload::Write | Workload::Read | Workload::Mixed => {
            let reqs = (0..config.sessions).map(|i| create_request(format!("{root}/s{i}"), value));
            pipeline(conn, reqs, &[], "creating the session nodes").await?;
        }
        Workload::Populate => {
            let buckets = config.znodes.div_ceil(BUCKET);
            let reqs = (0..buckets).map(|k| create_request(format!("{root}/b{k}"), &Bytes::new()));
            pipeline(conn, reqs, &[], "creating the populate buckets").await?;
        }
        Workload::WatchStorm => {
            let reqs = [create_request(format!("{root}/storm"), value)];
            pipeline(conn, reqs, &[], "creating the watched node").await?;
        }
        Workload::CreateDelete => {}
    }
    Ok(())
}

/// Removes the root and everything under it.
pub(crate) async fn cleanup(config: &BenchConfig) -> Result<(), BenchError> {
    let mut conn = connect_any(config).await?;
    let result = delete_tree(&mut conn, &config.root).await;
    conn.close(Duration::from_secs(2)).await;
    result
}

async fn delete_tree(conn: &mut Conn, root: &str) -> Result<(), BenchError> {
    let host = conn.host().to_string();
    // Depth-first, parents before children; reversed, every node comes after all of its
    // descendants, so the deletes (answered in order) never meet a non-empty node.
    let mut order = Vec::new();
    let mut stack = vec![root.to_string()];
    let mut other = Vec::new();
    while let Some(path) = stack.pop() {
        let req = Request::GetChildren(GetChildrenRequest {
            path: path.clone(),
            watch: false,
        });
        let reply =
            conn.call(&req, STALL, &mut other)
                .await
                .map_err(|source| BenchError::Connect {
                    host: host.clone(),
                    source,
                })?;
        if let Response::GetChildren(c) = reply.body {
            for child in c.children {
                stack.push(format!("{path}/{child}"));
            }
        } else if reply.err != ErrorCode::NoNode.code() {
            return Err(BenchError::Server {
                what: format!("listing {path}"),
                code: reply.err,
                name: error_name(reply.err),
            });
        }
        order.push(path);
    }
    order.reverse();
    let reqs = order
        .into_iter()
        .map(|path| Request::Delete(DeleteRequest { path, version: -1 }));
    pipeline(conn, reqs, &[ErrorCode::NoNode], "removing the root").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn populate_paths_fill_buckets() {
        assert_eq!(populate_path("/r", 0), "/r/b0/n0");
        assert_eq!(populate_path("/r", 999), "/r/b0/n999");
        assert_eq!(populate_path("/r", 1000), "/r/b1/n0");
    }
}
