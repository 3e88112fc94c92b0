//! The request workloads: every session keeps `--inflight` requests outstanding on its
//! connection (write, create-delete, read, mixed), or creates nodes from a shared counter
//! until `--znodes` are done (populate).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;
use zk_jute::{DeleteRequest, ErrorCode, GetDataRequest, Request, SetDataRequest};

use crate::cli::Workload;
use crate::conn::Event;
use crate::session::Session;
use crate::stats::{Batch, micros, op_name};
use crate::workloads::Ctx;
use crate::workloads::admin::{create_request, populate_path};

/// What the sessions of a pipelined workload add up to.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    /// Successful operations (warm-up included).
    pub(crate) ok: u64,
    /// The last reply of any session.
    pub(crate) last_reply: Option<Instant>,
}

/// Runs every session to the end of the window (or until populate is done).
pub(crate) async fn run(ctx: Arc<Ctx>) -> Totals {
    let tasks: Vec<_> = (0..ctx.config.sessions)
        .map(|i| tokio::spawn(session(Arc::clone(&ctx), i)))
        .collect();
    let mut totals = Totals::default();
    for t in tasks {
        match t.await {
            Ok(s) => {
                totals.ok += s.ok;
                totals.last_reply = totals.last_reply.max(s.last_reply);
            }
            Err(e) => ctx.note(format!("a session task failed: {e}")),
        }
    }
    totals
}

/// The requests one session sends.
#[derive(Debug)]
struct Generator {
    ctx: Arc<Ctx>,
    own: String,
    index: usize,
    rng: u64,
    created: u64,
    to_delete: Option<String>,
}

impl Generator {
    fn new(ctx: Arc<Ctx>, index: usize) -> Self {
        let own = ctx.path(&format!("s{index}"));
        Self {
            ctx,
            own,
            index,
            // SplitMix64 seed, distinct per session.
            rng: 0x9E37_79B9_7F4A_7C15 ^ (index as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            created: 0,
            to_delete: None,
        }
    }

    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn read(&self) -> Request {
        Request::GetData(GetDataRequest {
            path: self.own.clone(),
            watch: false,
        })
    }

    fn write(&self) -> Request {
        Request::SetData(SetDataRequest {
            path: self.own.clone(),
            data: Some(self.ctx.value.clone()),
            version: -1,
        })
    }

    /// The next request, or `None` when there is no more work (populate is done).
    fn next(&mut self) -> Option<Request> {
        Some(match self.ctx.config.workload {
            Workload::Write => self.write(),
            Workload::Read => self.read(),
            Workload::Mixed => {
                if self.next_random() % 100 < u64::from(self.ctx.config.read_pct) {
                    self.read()
                } else {
                    self.write()
                }
            }
            Workload::CreateDelete => match self.to_delete.take() {
                Some(path) => Request::Delete(DeleteRequest { path, version: -1 }),
                None => {
                    self.created += 1;
                    let path = self
                        .ctx
                        .path(&format!("cd-{}-{}", self.index, self.created));
                    self.to_delete = Some(path.clone());
                    create_request(path, &self.ctx.value)
                }
            },
            Workload::Populate => {
                let i = self.ctx.next_node.fetch_add(1, Ordering::Relaxed);
                if i >= self.ctx.config.znodes {
                    return None;
                }
                create_request(populate_path(&self.ctx.config.root, i), &self.ctx.value)
            }
            Workload::WatchStorm => return None,
        })
    }

    /// After a lost connection: a create whose delete was not sent yet may or may not
    /// have happened, so its delete is skipped (cleanup removes the node if it exists).
    fn reset(&mut self) {
        self.to_delete = None;
    }
}

/// What one session did.
#[derive(Clone, Copy, Debug, Default)]
struct SessionTotals {
    ok: u64,
    last_reply: Option<Instant>,
}

/// One session: keep the pipeline full until the window ends, then wait for the replies in
/// flight. A connection that fails is reported and re-established; a session whose replies
/// stop for a whole session timeout while requests are outstanding is reported as stalled
/// and treated the same way.
async fn session(ctx: Arc<Ctx>, index: usize) -> SessionTotals {
    let mut s = Session::new(index);
    let mut generator = Generator::new(Arc::clone(&ctx), index);
    let mut batch = Batch::default();
    let mut events = Vec::new();
    let mut totals = SessionTotals::default();
    let limit = ctx.config.inflight;
    let populate = ctx.config.workload == Workload::Populate;
    let stall_limit = ctx.config.session_timeout;
    let mut exhausted = false;
    // Give up reconnecting once the window (and a grace period) is over.
    let give_up = (!populate).then(|| ctx.clock.until + stall_limit);
    'connect: loop {
        if !s.ensure(&ctx, give_up).await {
            break;
        }
        let Some(conn) = s.conn.as_mut() else { break };
        let mut last_progress = Instant::now();
        loop {
            let now = Instant::now();
            let issuing = !exhausted && !ctx.stop.is_set() && (populate || now < ctx.clock.until);
            if issuing {
                while conn.inflight() < limit {
                    match generator.next() {
                        Some(req) => {
                            conn.queue(&req, 0);
                        }
                        None => {
                            exhausted = true;
                            break;
                        }
                    }
                }
            }
            if conn.inflight() == 0 {
                if issuing {
                    continue;
                }
                break 'connect;
            }
            let stall_at = last_progress + stall_limit;
            if now >= stall_at {
                ctx.note(format!(
                    "session {index}: no reply for {:?} with {} requests outstanding (stall)",
                    stall_limit,
                    conn.inflight()
                ));
                let err = crate::error::ConnError::Timeout(stall_limit);
                s.lost(&ctx, &err, &mut batch);
                if issuing {
                    generator.reset();
                    continue 'connect;
                }
                break 'connect;
            }
            let wake = if issuing && !populate {
                ctx.clock.until.min(stall_at)
            } else {
                stall_at
            };
            if let Err(e) = conn.pump(&mut events, Some(wake)).await {
                s.lost(&ctx, &e, &mut batch);
                generator.reset();
                if issuing {
                    continue 'connect;
                }
                break 'connect;
            }
            for ev in events.drain(..) {
                if let Event::Reply(r) = ev {
                    last_progress = r.at;
                    totals.last_reply = Some(r.at);
                    if r.err == ErrorCode::Ok.code() {
                        totals.ok += 1;
                        let sample = ctx.clock.in_window(r.sent, r.at).then(|| {
                            (
                                op_name(r.op),
                                micros(r.at.saturating_duration_since(r.sent)),
                            )
                        });
                        batch.ok(sample);
                    } else {
                        batch.error(r.err);
                    }
                }
            }
            batch.publish(&ctx.rec, &ctx.live);
        }
    }
    batch.flush(&ctx.rec, &ctx.live);
    s.close().await;
    totals
}
