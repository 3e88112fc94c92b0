//! One server's side of a differential run: its sessions, and every answer written down in
//! a form that does not depend on which server gave it.
//!
//! What is written per step (a list of lines):
//! - the answer or the error code of the operation, and of the look-ups that resolved its
//!   arguments (the version a "current version" names, which sequential child a pick names);
//! - every Stat as `cz mz pz v cv av eo dl nc`: zxids renamed `zN` in their order of first
//!   appearance in the run, with `@r` on a first appearance giving its rank among the zxids
//!   seen so far (so equalities and the order of zxids must agree); `ephemeralOwner` as the
//!   session's role (`A`, `B`, `C`, `E1`, `E2`…) or in hex (container and TTL encodings);
//!   times are left out; a create inside a multi is written down by its path alone unless
//!   [`Runner::compare_multi_create_stats`] asks for its Stat;
//! - children and ephemerals as sorted sets, paths relative to the run's root;
//! - the watch events the step caused: session B's one-shot watches (sorted: they arrive on
//!   separate channels), then session C's persistent watches (recursive on the root, and
//!   plain on `/d`), in the order received (sorted for a session close, whose deletions
//!   ZooKeeper makes in hash order).

mod multi;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use zookeeper_client::{
    Acl, AddWatchMode, Client, PersistentWatcher, SessionState, Stat, WatchedEvent,
};

use super::ops::{Op, Target, Ver, Who};
use super::vocab::{Zxids, acl_list, create_options, hex};

/// How long any single request may take before the step records a time-out.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A request's answer, or its error (or time-out) as text.
async fn call<T>(f: impl Future<Output = Result<T, zookeeper_client::Error>>) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{e:?}")),
        Err(_) => Err(format!("timed out after {CALL_TIMEOUT:?}")),
    }
}

async fn connect(addr: &str) -> anyhow::Result<Client> {
    let c = Client::connector().with_session_timeout(Duration::from_secs(10));
    let client = tokio::time::timeout(CALL_TIMEOUT, c.connect(addr))
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {addr} timed out"))??;
    Ok(client)
}

/// A one-shot watch of session B not yet fired.
struct Pending {
    label: String,
    event: Pin<Box<dyn Future<Output = WatchedEvent>>>,
}

/// Poll once, without waiting: the events a server sent before the answer to a later
/// request are in their channels once that answer is in.
fn poll_now<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    f.poll(&mut cx)
}

/// One server's sessions and naming state.
pub struct Runner {
    /// "ZooKeeper" or "zk-rs".
    pub name: &'static str,
    addr: String,
    root: String,
    a: Client,
    b: Client,
    c: Client,
    e: Option<Client>,
    e_generation: u32,
    labels: HashMap<i64, String>,
    zxids: Zxids,
    pending: Vec<Pending>,
    c_tree: PersistentWatcher,
    c_d: PersistentWatcher,
    /// Whether a create inside a multi is written down with its Stat (see
    /// [`Runner::compare_multi_create_stats`]).
    multi_create_stats: bool,
}

impl Runner {
    /// Open the sessions of a run whose nodes live under `root` (which must not exist).
    pub async fn new(name: &'static str, addr: &str, root: &str) -> anyhow::Result<Self> {
        let a = connect(addr).await?;
        let b = connect(addr).await?;
        let c = connect(addr).await?;
        let e = connect(addr).await?;
        let mut labels = HashMap::new();
        labels.insert(a.session_id().0, "A".to_string());
        labels.insert(b.session_id().0, "B".to_string());
        labels.insert(c.session_id().0, "C".to_string());
        labels.insert(e.session_id().0, "E1".to_string());
        let c_tree = call(c.watch(root, AddWatchMode::PersistentRecursive))
            .await
            .map_err(|e| anyhow::anyhow!("{name}: addWatch {root} recursive: {e}"))?;
        let c_d = call(c.watch(&format!("{root}/d"), AddWatchMode::Persistent))
            .await
            .map_err(|e| anyhow::anyhow!("{name}: addWatch {root}/d: {e}"))?;
        Ok(Self {
            name,
            addr: addr.to_string(),
            root: root.to_string(),
            a,
            b,
            c,
            e: Some(e),
            e_generation: 1,
            labels,
            zxids: Zxids::default(),
            pending: Vec::new(),
            c_tree,
            c_d,
            multi_create_stats: false,
        })
    }

    /// Also compare the Stat of a create inside a multi. Off by default: Apache ZooKeeper
    /// 3.8 answers every create inside a multi with a plain `CreateResponse`, the path
    /// without a Stat (ZOOKEEPER-4026, fixed in 3.9.0), and zk-rs answers with one; left on,
    /// every random run would stop at its first multi create.
    pub fn compare_multi_create_stats(&mut self) {
        self.multi_create_stats = true;
    }

    fn abs(&self, rel: &str) -> String {
        format!("{}{rel}", self.root)
    }

    fn rel(&self, abs: &str) -> String {
        match abs.strip_prefix(&self.root) {
            Some("") => "<root>".into(),
            Some(r) => r.to_string(),
            None => format!("<outside the root> {abs}"),
        }
    }

    fn client(&self, who: Who) -> &Client {
        match who {
            Who::A => &self.a,
            Who::B => &self.b,
            Who::E => self.e.as_ref().unwrap_or(&self.a),
        }
    }

    fn owner(&self, owner: i64) -> String {
        if owner == 0 {
            return "0".into();
        }
        match self.labels.get(&owner) {
            Some(l) => l.clone(),
            None => format!("{owner:#x}"),
        }
    }

    fn stat(&mut self, s: &Stat) -> String {
        let cz = self.zxids.name(s.czxid);
        let mz = self.zxids.name(s.mzxid);
        let pz = self.zxids.name(s.pzxid);
        format!(
            "[cz={cz} mz={mz} pz={pz} v={} cv={} av={} eo={} dl={} nc={}]",
            s.version,
            s.cversion,
            s.aversion,
            self.owner(s.ephemeral_owner),
            s.data_length,
            s.num_children
        )
    }

    fn children(&self, mut names: Vec<String>) -> String {
        names.sort();
        format!("{names:?}")
    }

    fn acls(acls: &[Acl]) -> String {
        let parts: Vec<String> = acls
            .iter()
            .map(|a| format!("{}:{}/{}", a.scheme(), a.id(), a.permission()))
            .collect();
        parts.join(",")
    }

    /// The path a target names now (relative), resolved through session A.
    async fn resolve(&mut self, t: &Target, out: &mut Vec<String>) -> String {
        match t {
            Target::Path(p) => p.clone(),
            Target::Seq {
                parent,
                prefix,
                pick,
            } => {
                let missing = format!("{parent}/{prefix}9999999999");
                let listed = call(self.a.list_children(&self.abs(parent))).await;
                let path = match listed {
                    Ok(mut names) => {
                        names.retain(|n| {
                            n.strip_prefix(prefix.as_str()).is_some_and(|digits| {
                                digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit())
                            })
                        });
                        names.sort();
                        if names.is_empty() {
                            missing
                        } else {
                            let i = (*pick as usize) % names.len();
                            format!("{parent}/{}", names[i])
                        }
                    }
                    Err(e) => {
                        out.push(format!("resolve: list {parent}: {e}"));
                        missing
                    }
                };
                out.push(format!("resolve: {path}"));
                path
            }
        }
    }

    /// The version to send (`-1` for any), resolved through session A.
    async fn version(&mut self, path: &str, ver: Ver, acl: bool, out: &mut Vec<String>) -> i32 {
        match ver {
            Ver::Any => -1,
            Ver::Fixed(v) => v,
            Ver::Current | Ver::Wrong => {
                let now = match call(self.a.check_stat(&self.abs(path))).await {
                    Ok(Some(s)) => {
                        if acl {
                            s.aversion
                        } else {
                            s.version
                        }
                    }
                    Ok(None) => 0,
                    Err(e) => {
                        out.push(format!("resolve: exists {path}: {e}"));
                        0
                    }
                };
                let v = if ver == Ver::Wrong { now + 1 } else { now };
                out.push(format!("resolve: version of {path} is {now}, sending {v}"));
                v
            }
        }
    }

    fn watch(&mut self, label: String, w: zookeeper_client::OneshotWatcher) {
        self.pending.push(Pending {
            label,
            event: Box::pin(w.changed()),
        });
    }

    /// Run one step and write down what it answered and which events it caused.
    pub async fn run(&mut self, op: &Op) -> Vec<String> {
        let mut out = Vec::new();
        self.step(op, &mut out).await;
        self.settle(&mut out, matches!(op, Op::CloseE)).await;
        out
    }

    async fn step(&mut self, op: &Op, out: &mut Vec<String>) {
        match op {
            Op::Create {
                who,
                path,
                data,
                mode,
                acl,
            } => {
                let acls = acl_list(*acl);
                let opts = create_options(*mode, &acls);
                let abs = self.abs(path);
                let r = call(self.client(*who).create(&abs, data, &opts)).await;
                match r {
                    Ok((stat, seq)) => {
                        let name = if mode.sequential() {
                            format!("{path}{seq}")
                        } else {
                            path.clone()
                        };
                        let s = self.stat(&stat);
                        out.push(format!("created {name} {s}"));
                    }
                    Err(e) => out.push(format!("error {e}")),
                }
            }
            Op::Delete { who, target, ver } => {
                let path = self.resolve(target, out).await;
                let v = self.version(&path, *ver, false, out).await;
                let v = (v != -1).then_some(v);
                let r = call(self.client(*who).delete(&self.abs(&path), v)).await;
                out.push(match r {
                    Ok(()) => "deleted".into(),
                    Err(e) => format!("error {e}"),
                });
            }
            Op::SetData {
                who,
                target,
                data,
                ver,
            } => {
                let path = self.resolve(target, out).await;
                let v = self.version(&path, *ver, false, out).await;
                let v = (v != -1).then_some(v);
                let r = call(self.client(*who).set_data(&self.abs(&path), data, v)).await;
                match r {
                    Ok(stat) => {
                        let s = self.stat(&stat);
                        out.push(format!("set {s}"));
                    }
                    Err(e) => out.push(format!("error {e}")),
                }
            }
            Op::Exists { who, target, watch } => {
                let path = self.resolve(target, out).await;
                let abs = self.abs(&path);
                let r = if *watch {
                    match call(self.client(*who).check_and_watch_stat(&abs)).await {
                        Ok((s, w)) => {
                            self.watch(format!("exists {path}"), w);
                            Ok(s)
                        }
                        Err(e) => Err(e),
                    }
                } else {
                    call(self.client(*who).check_stat(&abs)).await
                };
                match r {
                    Ok(Some(stat)) => {
                        let s = self.stat(&stat);
                        out.push(format!("exists {s}"));
                    }
                    Ok(None) => out.push("exists: none".into()),
                    Err(e) => out.push(format!("error {e}")),
                }
            }
            Op::GetData { who, target, watch } => {
                let path = self.resolve(target, out).await;
                let abs = self.abs(&path);
                let r = if *watch {
                    match call(self.client(*who).get_and_watch_data(&abs)).await {
                        Ok((d, s, w)) => {
                            self.watch(format!("getData {path}"), w);
                            Ok((d, s))
                        }
                        Err(e) => Err(e),
                    }
                } else {
                    call(self.client(*who).get_data(&abs)).await
                };
                match r {
                    Ok((data, stat)) => {
                        let s = self.stat(&stat);
                        out.push(format!("data {} {s}", hex(&data)));
                    }
                    Err(e) => out.push(format!("error {e}")),
                }
            }
            Op::GetChildren { who, target, watch } => {
                let path = self.resolve(target, out).await;
                let abs = self.abs(&path);
                let r = if *watch {
                    match call(self.client(*who).get_and_watch_children(&abs)).await {
                        Ok((c, s, w)) => {
                            self.watch(format!("getChildren {path}"), w);
                            Ok((c, s))
                        }
                        Err(e) => Err(e),
                    }
                } else {
                    call(self.client(*who).get_children(&abs)).await
                };
                match r {
                    Ok((children, stat)) => {
                        let s = self.stat(&stat);
                        out.push(format!("children {} {s}", self.children(children)));
                    }
                    Err(e) => out.push(format!("error {e}")),
                }
            }
            Op::ListChildren { who, target, watch } => {
                let path = self.resolve(target, out).await;
                let abs = self.abs(&path);
                let r = if *watch {
                    match call(self.client(*who).list_and_watch_children(&abs)).await {
                        Ok((c, w)) => {
                            self.watch(format!("listChildren {path}"), w);
                            Ok(c)
                        }
                        Err(e) => Err(e),
                    }
                } else {
                    call(self.client(*who).list_children(&abs)).await
                };
                out.push(match r {
                    Ok(children) => format!("children {}", self.children(children)),
                    Err(e) => format!("error {e}"),
                });
            }
            Op::GetAcl { who, target } => {
                let path = self.resolve(target, out).await;
                let r = call(self.client(*who).get_acl(&self.abs(&path))).await;
                match r {
                    Ok((acls, stat)) => {
                        let s = self.stat(&stat);
                        out.push(format!("acl {} {s}", Self::acls(&acls)));
                    }
                    Err(e) => out.push(format!("error {e}")),
                }
            }
            Op::SetAcl {
                who,
                target,
                acl,
                ver,
            } => {
                let path = self.resolve(target, out).await;
                let v = self.version(&path, *ver, true, out).await;
                let v = (v != -1).then_some(v);
                let acls = acl_list(*acl);
                let r = call(self.client(*who).set_acl(&self.abs(&path), &acls, v)).await;
                match r {
                    Ok(stat) => {
                        let s = self.stat(&stat);
                        out.push(format!("acl set {s}"));
                    }
                    Err(e) => out.push(format!("error {e}")),
                }
            }
            Op::Multi { who, ops } => self.multi(*who, ops, out).await,
            Op::MultiRead { who, ops } => self.multi_read(*who, ops, out).await,
            Op::GetEphemerals { who, prefix } => {
                let r = call(self.client(*who).list_ephemerals(&self.abs(prefix))).await;
                out.push(match r {
                    Ok(paths) => {
                        let rel: Vec<String> = paths.iter().map(|p| self.rel(p)).collect();
                        format!("ephemerals {}", self.children(rel))
                    }
                    Err(e) => format!("error {e}"),
                });
            }
            Op::GetAllChildrenNumber { who, target } => {
                let path = self.resolve(target, out).await;
                let r = call(self.client(*who).count_descendants_number(&self.abs(&path))).await;
                out.push(match r {
                    Ok(n) => format!("descendants {n}"),
                    Err(e) => format!("error {e}"),
                });
            }
            Op::Sync { who, path } => {
                let r = call(self.client(*who).sync(&self.abs(path))).await;
                out.push(match r {
                    Ok(()) => "synced".into(),
                    Err(e) => format!("error {e}"),
                });
            }
            Op::CloseE => self.close_e(out).await,
            Op::AddAuth { who } => {
                let r = call(self.client(*who).auth("digest", b"alice:secret")).await;
                out.push(match r {
                    Ok(()) => "authenticated".into(),
                    Err(e) => format!("error {e}"),
                });
            }
        }
    }

    async fn close_e(&mut self, out: &mut Vec<String>) {
        if let Some(e) = self.e.take() {
            let mut state = e.state_watcher();
            drop(e);
            let closed = tokio::time::timeout(CALL_TIMEOUT, async {
                while state.peek_state() != SessionState::Closed {
                    state.changed().await;
                }
            })
            .await;
            out.push(match closed {
                Ok(()) => format!("closed E{}", self.e_generation),
                Err(_) => format!("E{} did not close in {CALL_TIMEOUT:?}", self.e_generation),
            });
        }
        match connect(&self.addr).await {
            Ok(e) => {
                self.e_generation += 1;
                self.labels
                    .insert(e.session_id().0, format!("E{}", self.e_generation));
                self.e = Some(e);
                out.push(format!("opened E{}", self.e_generation));
            }
            Err(err) => out.push(format!("reopening E failed: {err}")),
        }
    }

    /// Collect the events the step caused: a round trip on B and on C first, so that every
    /// notification sent before it has reached the client's channels.
    async fn settle(&mut self, out: &mut Vec<String>, unordered: bool) {
        if let Err(e) = call(self.b.check_stat(&self.root)).await {
            out.push(format!("B round trip: {e}"));
        }
        if let Err(e) = call(self.c.check_stat(&self.root)).await {
            out.push(format!("C round trip: {e}"));
        }
        let root = self.root.clone();
        let rel = |p: &str| match p.strip_prefix(&root) {
            Some("") => "<root>".to_string(),
            Some(r) => r.to_string(),
            None => format!("<outside the root> {p}"),
        };
        let mut events = Vec::new();
        self.pending
            .retain_mut(|p| match poll_now(p.event.as_mut()) {
                Poll::Ready(ev) => {
                    events.push(format!(
                        "B event [{}] {:?} {}",
                        p.label,
                        ev.event_type,
                        rel(&ev.path)
                    ));
                    false
                }
                Poll::Pending => true,
            });
        events.sort();
        out.extend(events);
        let mut persistent = Vec::new();
        for (name, w) in [("C tree", &mut self.c_tree), ("C /d", &mut self.c_d)] {
            loop {
                let next = std::pin::pin!(w.changed());
                match poll_now(next) {
                    Poll::Ready(ev) => persistent.push(format!(
                        "{name} event {:?} {}",
                        ev.event_type,
                        rel(&ev.path)
                    )),
                    Poll::Pending => break,
                }
            }
        }
        if unordered {
            persistent.sort();
        }
        out.extend(persistent);
    }
}
