//! The periodic session work: every half tick, the sessions touched here go to the leader
//! as a note (the leader's own come back to it the same way), and the leader closes every
//! session it has not heard of within its timeout, through ZAB like a client's
//! `closeSession`.

use super::envelope::{Forwarded, Note};
use super::sessions::SessionTracker;
use super::shared::Shared;
use crate::status::{Mode, Status};
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use zk_jute::OpCode;
use zk_zab::driver::ClientHandle;

/// Runs until `stop` turns true.
pub async fn run(
    shared: Arc<Shared>,
    tracker: Arc<Mutex<SessionTracker>>,
    zab: ClientHandle,
    status: watch::Receiver<Status>,
    tick: Duration,
    me: u64,
    mut stop: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval((tick / 2).max(Duration::from_millis(10)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut led_epoch = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = every.tick() => {}
        }
        let touched = shared.hub().take_touched();
        if !touched.is_empty() {
            // Dropped while no leader is in session: the leader restarts every deadline.
            let _ = zab.note_to_leader(Note::Touches(touched).encode());
        }
        let s = status.borrow().clone();
        let leading = s.serving && matches!(s.mode, Mode::Leader | Mode::Standalone);
        let mut t = tracker.lock().unwrap_or_else(|e| e.into_inner());
        if !leading {
            t.clear();
            led_epoch = None;
            continue;
        }
        if led_epoch != Some(s.epoch) {
            // A new leadership: every session gets a full timeout from now.
            t.clear();
            led_epoch = Some(s.epoch);
        }
        let now = Instant::now().into_std();
        t.sync(&shared.tree().sessions(), now);
        for session in t.expired(now) {
            tracing::info!(
                session = format_args!("{session:#x}"),
                "session expired: closing it"
            );
            let close = Forwarded {
                from: me,
                conn: 0,
                session,
                cxid: 0,
                op: OpCode::CloseSession.code(),
                auth: Vec::new(),
                body: Bytes::new(),
            };
            if let Err(e) = zab.write(close.encode()) {
                tracing::debug!(error = %e, "expiry not submitted; retried after another timeout");
            }
        }
    }
}
