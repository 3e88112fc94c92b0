//! Requests answered from this server's committed tree (ZooKeeper's `FinalRequestProcessor`
//! for reads): no ZAB round, never waiting on other clients' writes.

use super::auth::{AuthInfo, check_acl};
use super::convert::{acl_out, stat};
use super::shared::Hub;
use super::watches::{ConnId, WatchKind};
use zk_datatree::{DataTree, perms};
use zk_jute::{self as jute, ErrorCode, MultiOp, MultiResult, Response};

/// Who is reading.
#[derive(Debug)]
pub struct Reader<'a> {
    /// The connection (the watcher).
    pub conn: ConnId,
    /// Its session.
    pub session: i64,
    /// Its identities.
    pub auth: &'a AuthInfo,
}

fn err(code: ErrorCode) -> (i32, Response) {
    (code.code(), Response::Empty)
}

impl Reader<'_> {
    fn may(&self, tree: &DataTree, path: &str, perm: i32) -> bool {
        tree.acl(path)
            .is_some_and(|(acl, _)| check_acl(self.auth, &acl, perm))
    }

    /// The reply to the read `request` (error code, body), registering any watch it asks
    /// for. The caller holds the tree's read lock and passes the hub locked after it.
    pub fn answer(
        &self,
        tree: &DataTree,
        hub: &mut Hub,
        request: &jute::Request,
    ) -> (i32, Response) {
        use jute::Request as Q;
        match request {
            Q::Exists(r) => {
                // Exists is not ACL-checked, and watches a missing node for its creation.
                if r.watch {
                    hub.watch(self.conn, &r.path, WatchKind::Data);
                }
                match tree.stat(&r.path) {
                    Some(s) => (0, Response::Exists(jute::ExistsResponse { stat: stat(&s) })),
                    None => err(ErrorCode::NoNode),
                }
            }
            Q::GetData(r) => match self.get_data(tree, hub, &r.path, r.watch) {
                Ok(b) => (0, Response::GetData(b)),
                Err(e) => err(e),
            },
            Q::GetChildren(r) => match self.children(tree, hub, &r.path, r.watch) {
                Ok((children, _)) => (
                    0,
                    Response::GetChildren(jute::GetChildrenResponse { children }),
                ),
                Err(e) => err(e),
            },
            Q::GetChildren2(r) => match self.children(tree, hub, &r.path, r.watch) {
                Ok((children, s)) => (
                    0,
                    Response::GetChildren2(jute::GetChildren2Response { children, stat: s }),
                ),
                Err(e) => err(e),
            },
            Q::GetAcl(r) => match tree.acl(&r.path) {
                None => err(ErrorCode::NoNode),
                // 3.8 asks for READ or ADMIN (ZOOKEEPER-1392), and shows digest hashes
                // only with ADMIN: `user:hash` reads `user:x` otherwise.
                Some((mut acl, s)) if check_acl(self.auth, &acl, perms::READ | perms::ADMIN) => {
                    if !check_acl(self.auth, &acl, perms::ADMIN) {
                        for a in acl.iter_mut().filter(|a| a.scheme == "digest") {
                            let user = a.id.split(':').next().unwrap_or_default();
                            a.id = format!("{user}:x");
                        }
                    }
                    (
                        0,
                        Response::GetAcl(jute::GetAclResponse {
                            acl: acl_out(&acl),
                            stat: stat(&s),
                        }),
                    )
                }
                Some(_) => err(ErrorCode::NoAuth),
            },
            Q::GetEphemerals(r) => {
                let mut ephemerals: Vec<String> = tree
                    .ephemerals(self.session)
                    .into_iter()
                    .filter(|p| r.prefix_path == "/" || p.starts_with(&r.prefix_path))
                    .collect();
                ephemerals.sort();
                (
                    0,
                    Response::GetEphemerals(jute::GetEphemeralsResponse { ephemerals }),
                )
            }
            Q::GetAllChildrenNumber(r) => {
                if !tree.exists(&r.path) {
                    return err(ErrorCode::NoNode);
                }
                if !self.may(tree, &r.path, perms::READ) {
                    return err(ErrorCode::NoAuth);
                }
                let n = tree.all_children_number(&r.path);
                (
                    0,
                    Response::GetAllChildrenNumber(jute::GetAllChildrenNumberResponse {
                        total_number: i32::try_from(n).unwrap_or(i32::MAX),
                    }),
                )
            }
            Q::MultiRead(m) => {
                let results = m
                    .ops
                    .iter()
                    .map(|op| self.multi_read_op(tree, hub, op))
                    .collect();
                (0, Response::Multi(jute::MultiResponse { results }))
            }
            Q::WhoAmI => {
                // Every identity, named by its provider's user name: `user` of a digest's
                // `user:hash`, the id itself otherwise (`ClientInfo` in 3.8).
                let client_info = self
                    .auth
                    .ids()
                    .iter()
                    .map(|(scheme, id)| jute::ClientInfo {
                        auth_scheme: scheme.clone(),
                        user: if scheme == "digest" {
                            id.split(':').next().unwrap_or_default().to_owned()
                        } else {
                            id.clone()
                        },
                    })
                    .collect();
                (0, Response::WhoAmI(jute::WhoAmIResponse { client_info }))
            }
            Q::AddWatch(r) => {
                let Some(kind) = WatchKind::from_add_watch_mode(r.mode) else {
                    // ZooKeeper's catch-all for an unknown mode.
                    return err(ErrorCode::MarshallingError);
                };
                hub.watch(self.conn, &r.path, kind);
                (0, Response::Error(jute::ErrorResponse { err: 0 }))
            }
            Q::CheckWatches(r) => self.remove_watches(hub, &r.path, r.watcher_type, true),
            Q::RemoveWatches(r) => self.remove_watches(hub, &r.path, r.watcher_type, false),
            Q::Ping => (0, Response::Empty),
            _ => err(ErrorCode::Unimplemented),
        }
    }

    fn remove_watches(
        &self,
        hub: &mut Hub,
        path: &str,
        kind: i32,
        dry_run: bool,
    ) -> (i32, Response) {
        match hub.watches.remove_watches(self.conn, path, kind, dry_run) {
            Ok(()) => (0, Response::Empty),
            Err(e) => (e.error_code(), Response::Empty),
        }
    }

    fn get_data(
        &self,
        tree: &DataTree,
        hub: &mut Hub,
        path: &str,
        watch: bool,
    ) -> Result<jute::GetDataResponse, ErrorCode> {
        let (data, s) = tree.get_data(path).ok_or(ErrorCode::NoNode)?;
        if !self.may(tree, path, perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        if watch {
            hub.watch(self.conn, path, WatchKind::Data);
        }
        Ok(jute::GetDataResponse {
            data: Some(data),
            stat: stat(&s),
        })
    }

    fn children(
        &self,
        tree: &DataTree,
        hub: &mut Hub,
        path: &str,
        watch: bool,
    ) -> Result<(Vec<String>, jute::Stat), ErrorCode> {
        let children = tree.children(path).ok_or(ErrorCode::NoNode)?;
        let s = tree.stat(path).ok_or(ErrorCode::NoNode)?;
        if !self.may(tree, path, perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        if watch {
            hub.watch(self.conn, path, WatchKind::Child);
        }
        Ok((children, stat(&s)))
    }

    fn multi_read_op(&self, tree: &DataTree, hub: &mut Hub, op: &MultiOp) -> MultiResult {
        match op {
            MultiOp::GetData(r) => match self.get_data(tree, hub, &r.path, r.watch) {
                Ok(b) => MultiResult::GetData(b),
                Err(e) => MultiResult::Error(e.code()),
            },
            MultiOp::GetChildren(r) => match self.children(tree, hub, &r.path, r.watch) {
                Ok((children, _)) => {
                    MultiResult::GetChildren(jute::GetChildrenResponse { children })
                }
                Err(e) => MultiResult::Error(e.code()),
            },
            _ => MultiResult::Error(ErrorCode::MarshallingError.code()),
        }
    }
}
