//! A benchmark session: a [`Conn`] that is re-established (on the next server of the
//! connect string, resuming the same ZooKeeper session) whenever it is lost.

use std::time::Duration;

use tokio::time::Instant;
use zk_jute::ErrorCode;

use crate::conn::{Conn, Resume};
use crate::error::ConnError;
use crate::stats::{Batch, Live};
use crate::workloads::Ctx;

/// How long a reconnect waits after a failed attempt, at first and at most.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));
/// How long closing a session waits for the server's reply.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// One session of the run.
#[derive(Debug)]
pub(crate) struct Session {
    /// Its number (it starts on server `index % servers`).
    pub(crate) index: usize,
    host: usize,
    resume: Option<Resume>,
    /// The live connection, if any.
    pub(crate) conn: Option<Conn>,
}

impl Session {
    /// Session number `index`, not connected yet.
    pub(crate) fn new(index: usize) -> Self {
        Self {
            index,
            host: index,
            resume: None,
            conn: None,
        }
    }

    /// Connects unless connected, retrying (with back-off, moving through the servers)
    /// until it works; false when the run is stopped or `give_up_at` passes first.
    pub(crate) async fn ensure(&mut self, ctx: &Ctx, give_up_at: Option<Instant>) -> bool {
        let mut backoff = BACKOFF.0;
        let mut failures = 0u32;
        while self.conn.is_none() {
            if ctx.stop.is_set() || give_up_at.is_some_and(|t| Instant::now() >= t) {
                return false;
            }
            let hosts = &ctx.config.hosts;
            let host = &hosts[self.host % hosts.len()];
            if ctx.config.xid_per_connection
                && let Some(r) = self.resume.as_mut()
            {
                r.next_xid = 1;
            }
            match Conn::connect(host, ctx.config.session_timeout, self.resume.as_ref()).await {
                Ok(c) => {
                    if self.resume.is_some() || failures > 0 {
                        ctx.note(format!(
                            "session {}: connected to {host} (session 0x{:x}) after {failures} failed attempts",
                            self.index,
                            c.session_id()
                        ));
                    }
                    self.resume = Some(c.resume());
                    self.conn = Some(c);
                }
                Err(ConnError::SessionRefused) if self.resume.is_some() => {
                    Live::add(&ctx.live.expired, 1);
                    ctx.note(format!(
                        "session {}: {host} refused to resume the session (expired); opening a new one",
                        self.index
                    ));
                    self.resume = None;
                }
                Err(e) => {
                    Live::add(&ctx.live.connect_failures, 1);
                    failures += 1;
                    if failures == 1 {
                        ctx.note(format!(
                            "session {}: connecting to {host}: {e}; retrying",
                            self.index
                        ));
                    }
                    self.host += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        }
        true
    }

    /// The connection failed with `err`: reports it, counts its unanswered requests as
    /// `ConnectionLoss` errors and moves to the next server for the reconnect.
    pub(crate) fn lost(&mut self, ctx: &Ctx, err: &ConnError, batch: &mut Batch) {
        let Some(mut c) = self.conn.take() else {
            return;
        };
        let pending = c.take_pending();
        for _ in &pending {
            batch.error(ErrorCode::ConnectionLoss.code());
        }
        Live::add(&ctx.live.disconnects, 1);
        ctx.note(format!(
            "session {} (0x{:x}): connection to {} lost: {err}; {} requests unanswered; reconnecting",
            self.index,
            c.session_id(),
            c.host(),
            pending.len()
        ));
        self.resume = Some(c.resume());
        self.host += 1;
        batch.publish(&ctx.rec, &ctx.live);
    }

    /// Closes the session on the server (best effort).
    pub(crate) async fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            c.close(CLOSE_WAIT).await;
        }
    }
}
