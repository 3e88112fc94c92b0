//! The multi and multiRead steps of a [`Runner`].

use zookeeper_client::{Acl, MultiReadResult, MultiWriteError, MultiWriteResult};

use super::{CALL_TIMEOUT, Runner, call};
use crate::differential_common::ops::{Mode, MultiOp, ReadOp, Who};
use crate::differential_common::vocab::{acl_list, create_options, hex};

impl Runner {
    pub(super) async fn multi(&mut self, who: Who, ops: &[MultiOp], out: &mut Vec<String>) {
        // Resolve every argument first (through A), then send the multi as one request.
        enum Ready {
            Create(String, Vec<u8>, Mode, Vec<Acl>),
            Set(String, Vec<u8>, i32),
            Delete(String, i32),
            Check(String, i32),
        }
        let mut ready = Vec::new();
        for op in ops {
            ready.push(match op {
                MultiOp::Create {
                    path,
                    data,
                    mode,
                    acl,
                } => Ready::Create(path.clone(), data.clone(), *mode, acl_list(*acl)),
                MultiOp::SetData { target, data, ver } => {
                    let p = self.resolve(target, out).await;
                    let v = self.version(&p, *ver, false, out).await;
                    Ready::Set(p, data.clone(), v)
                }
                MultiOp::Delete { target, ver } => {
                    let p = self.resolve(target, out).await;
                    let v = self.version(&p, *ver, false, out).await;
                    Ready::Delete(p, v)
                }
                MultiOp::Check { target, ver } => {
                    let p = self.resolve(target, out).await;
                    let v = self.version(&p, *ver, false, out).await;
                    Ready::Check(p, v)
                }
            });
        }
        let client = self.client(who).clone();
        let mut writer = client.new_multi_writer();
        for (i, r) in ready.iter().enumerate() {
            let added = match r {
                Ready::Create(p, d, mode, acls) => {
                    writer.add_create(&self.abs(p), d, &create_options(*mode, acls))
                }
                Ready::Set(p, d, v) => {
                    writer.add_set_data(&self.abs(p), d, (*v != -1).then_some(*v))
                }
                Ready::Delete(p, v) => writer.add_delete(&self.abs(p), (*v != -1).then_some(*v)),
                Ready::Check(p, v) => writer.add_check_version(&self.abs(p), *v),
            };
            if let Err(e) = added {
                out.push(format!("client refused op {i}: {e:?}"));
                return;
            }
        }
        let r = tokio::time::timeout(CALL_TIMEOUT, writer.commit()).await;
        match r {
            Err(_) => out.push("multi timed out".into()),
            Ok(Err(MultiWriteError::OperationFailed { index, source })) => {
                out.push(format!("multi failed at op {index}: {source:?}"));
            }
            Ok(Err(MultiWriteError::RequestFailed { source })) => {
                out.push(format!("multi request failed: {source:?}"));
            }
            Ok(Ok(results)) => {
                for (i, res) in results.iter().enumerate() {
                    let line = match res {
                        MultiWriteResult::Check => "check".to_string(),
                        MultiWriteResult::Delete => "delete".to_string(),
                        MultiWriteResult::Create { path, stat } => {
                            let p = self.rel(path);
                            if self.multi_create_stats {
                                let s = self.stat(stat);
                                format!("create {p} {s}")
                            } else {
                                format!("create {p}")
                            }
                        }
                        MultiWriteResult::SetData { stat } => {
                            let s = self.stat(stat);
                            format!("setData {s}")
                        }
                        #[allow(unreachable_patterns)]
                        other => format!("{other:?}"),
                    };
                    out.push(format!("multi op {i}: {line}"));
                }
            }
        }
    }

    pub(super) async fn multi_read(&mut self, who: Who, ops: &[ReadOp], out: &mut Vec<String>) {
        let mut paths = Vec::new();
        for op in ops {
            match op {
                ReadOp::Data(t) => paths.push((true, self.resolve(t, out).await)),
                ReadOp::Children(t) => paths.push((false, self.resolve(t, out).await)),
            }
        }
        let client = self.client(who).clone();
        let mut reader = client.new_multi_reader();
        for (data, p) in &paths {
            let added = if *data {
                reader.add_get_data(&self.abs(p))
            } else {
                reader.add_get_children(&self.abs(p))
            };
            if let Err(e) = added {
                out.push(format!("client refused {p}: {e:?}"));
                return;
            }
        }
        match call(reader.commit()).await {
            Err(e) => out.push(format!("multiRead error {e}")),
            Ok(results) => {
                for (i, r) in results.into_iter().enumerate() {
                    let line = match r {
                        MultiReadResult::Data { data, stat } => {
                            let s = self.stat(&stat);
                            format!("data {} {s}", hex(&data))
                        }
                        MultiReadResult::Children { children } => {
                            format!("children {}", self.children(children))
                        }
                        MultiReadResult::Error { err } => format!("error {err:?}"),
                        #[allow(unreachable_patterns)]
                        other => format!("{other:?}"),
                    };
                    out.push(format!("read {i}: {line}"));
                }
            }
        }
    }
}
