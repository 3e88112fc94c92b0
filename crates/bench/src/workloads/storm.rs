//! The watch-storm: `--watchers` sessions each set a data watch on one node (`getData` with
//! `watch = true`); once all have, another session sets the node's data, and the time from
//! sending that `setData` until every notification arrived is one round. Rounds repeat
//! until the window ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use zk_jute::{EventType, GetDataRequest, Request, SetDataRequest};

use crate::conn::{Event, Reply};
use crate::error::ConnError;
use crate::report::{LatencySummary, STORM_NOTIFY, STORM_ROUND, StormStats};
use crate::session::Session;
use crate::stats::{Batch, micros, new_histogram, op_name};
use crate::workloads::Ctx;

/// How long a round waits for every watcher to set its watch.
const ARM_LIMIT: Duration = Duration::from_secs(10);
/// How long a round waits for every notification.
const ROUND_LIMIT: Duration = Duration::from_secs(10);
/// The round number that tells the watchers to finish.
const FINISH: u64 = u64::MAX;

/// What a watcher tells the coordinator.
#[derive(Clone, Copy, Debug)]
enum Msg {
    /// Its watch is set for this round.
    Armed { round: u64 },
    /// Its notification for this round arrived at `at`.
    Fired { round: u64, at: Instant },
}

/// What woke the coordinator.
#[derive(Debug)]
enum Wake {
    Msg(Msg),
    Replied(Reply),
    Lost,
    Timeout,
    /// Every watcher is gone.
    Closed,
}

/// Runs the watch-storm; the latencies go to the shared recorder under [`STORM_ROUND`]
/// and [`STORM_NOTIFY`].
pub(crate) async fn run(ctx: Arc<Ctx>) -> StormStats {
    let w = ctx.config.watchers;
    let node = ctx.path("storm");
    let (round_tx, round_rx) = watch::channel(0u64);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watchers: Vec<_> = (0..w)
        .map(|i| {
            tokio::spawn(watcher(
                Arc::clone(&ctx),
                i,
                node.clone(),
                round_rx.clone(),
                tx.clone(),
            ))
        })
        .collect();
    drop(tx);
    drop(round_rx);
    let mut trigger = Session::new(w);
    let mut batch = Batch::default();
    let mut events = Vec::new();
    let mut stats = StormStats {
        watchers: w,
        ..StormStats::default()
    };
    let give_up = ctx.clock.until;
    let mut round = 0u64;
    while !ctx.stop.is_set() && Instant::now() < ctx.clock.until {
        if !trigger.ensure(&ctx, Some(give_up)).await {
            break;
        }
        round += 1;
        round_tx.send_replace(round);
        let deadline = Instant::now() + ARM_LIMIT;
        let mut armed = 0;
        while armed < w {
            match next_wake(
                &mut trigger,
                &ctx,
                &mut batch,
                &mut events,
                &mut rx,
                deadline,
            )
            .await
            {
                Wake::Msg(Msg::Armed { round: r }) if r == round => armed += 1,
                Wake::Msg(_) | Wake::Replied(_) | Wake::Lost => {}
                Wake::Timeout | Wake::Closed => break,
            }
        }
        if armed < w {
            ctx.note(format!(
                "watch-storm round {round}: {armed} of {w} watchers set their watch within {ARM_LIMIT:?}"
            ));
        }
        let Some(conn) = trigger.conn.as_mut() else {
            continue;
        };
        let t0 = Instant::now();
        conn.queue(
            &Request::SetData(SetDataRequest {
                path: node.clone(),
                data: Some(ctx.value.clone()),
                version: -1,
            }),
            0,
        );
        let deadline = t0 + ROUND_LIMIT;
        let mut fired = Vec::with_capacity(w);
        let mut replied = false;
        while !replied || fired.len() < armed {
            match next_wake(
                &mut trigger,
                &ctx,
                &mut batch,
                &mut events,
                &mut rx,
                deadline,
            )
            .await
            {
                Wake::Replied(r) => {
                    replied = true;
                    if r.err == 0 {
                        let us = micros(r.at.saturating_duration_since(r.sent));
                        if ctx.clock.in_window(r.sent, r.at) {
                            batch.sample(op_name(r.op), us);
                        }
                    } else {
                        batch.error(r.err);
                    }
                }
                Wake::Msg(Msg::Fired { round: r, at }) if r == round => fired.push(at),
                Wake::Msg(_) => {}
                Wake::Lost => replied = true,
                Wake::Timeout | Wake::Closed => break,
            }
        }
        let missed = (w - fired.len().min(w)) as u64;
        if missed > 0 {
            ctx.note(format!(
                "watch-storm round {round}: {missed} of {w} notifications missing after {ROUND_LIMIT:?}"
            ));
        }
        let last = fired.iter().max().copied();
        if last.is_some_and(|l| ctx.clock.in_window(t0, l)) {
            stats.rounds += 1;
            stats.notifications += fired.len() as u64;
            stats.missed += missed;
            let mut rec = ctx
                .rec
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if missed == 0
                && let Some(l) = last
            {
                rec.record(STORM_ROUND, micros(l.saturating_duration_since(t0)));
            }
            for at in &fired {
                rec.record(STORM_NOTIFY, micros(at.saturating_duration_since(t0)));
            }
        }
        batch.flush(&ctx.rec, &ctx.live);
    }
    round_tx.send_replace(FINISH);
    for t in watchers {
        if let Err(e) = t.await {
            ctx.note(format!("a watcher task failed: {e}"));
        }
    }
    batch.flush(&ctx.rec, &ctx.live);
    trigger.close().await;
    let rec = ctx
        .rec
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let empty = new_histogram();
    stats.round =
        LatencySummary::from_histogram(rec.histograms().get(STORM_ROUND).unwrap_or(&empty));
    stats.notify =
        LatencySummary::from_histogram(rec.histograms().get(STORM_NOTIFY).unwrap_or(&empty));
    stats
}

/// Waits for a watcher's message, the trigger's reply, or `deadline`, keeping the
/// trigger's connection alive (pings) meanwhile.
async fn next_wake(
    trigger: &mut Session,
    ctx: &Ctx,
    batch: &mut Batch,
    events: &mut Vec<Event>,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    deadline: Instant,
) -> Wake {
    loop {
        while let Some(ev) = events.pop() {
            if let Event::Reply(r) = ev {
                return Wake::Replied(r);
            }
        }
        let Some(conn) = trigger.conn.as_mut() else {
            return tokio::select! {
                m = rx.recv() => m.map_or(Wake::Closed, Wake::Msg),
                () = tokio::time::sleep_until(deadline) => Wake::Timeout,
            };
        };
        let lost: Option<ConnError> = tokio::select! {
            m = rx.recv() => return m.map_or(Wake::Closed, Wake::Msg),
            r = conn.pump(events, None) => r.err(),
            () = tokio::time::sleep_until(deadline) => return Wake::Timeout,
        };
        if let Some(e) = lost {
            trigger.lost(ctx, &e, batch);
            return Wake::Lost;
        }
    }
}

/// One watching session: for each round, set the watch, tell the coordinator, and report
/// when the notification arrives.
async fn watcher(
    ctx: Arc<Ctx>,
    index: usize,
    node: String,
    mut rounds: watch::Receiver<u64>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let mut s = Session::new(index);
    let mut batch = Batch::default();
    let mut events = Vec::new();
    // The round the watch is set for (0: none), and the last round notified.
    let mut armed = 0u64;
    let mut done = 0u64;
    let give_up = ctx.clock.until + ctx.config.session_timeout;
    let data_changed = EventType::NodeDataChanged.code();
    loop {
        let target = *rounds.borrow_and_update();
        if target == FINISH || ctx.stop.is_set() {
            break;
        }
        if !s.ensure(&ctx, Some(give_up)).await {
            break;
        }
        let Some(conn) = s.conn.as_mut() else { break };
        if target > done && target != armed && target > 0 {
            let req = Request::GetData(GetDataRequest {
                path: node.clone(),
                watch: true,
            });
            match conn
                .call(&req, ctx.config.session_timeout, &mut events)
                .await
            {
                Ok(r) if r.err == 0 => {
                    armed = target;
                    if ctx.clock.in_window(r.sent, r.at) {
                        batch.sample(
                            op_name(r.op),
                            micros(r.at.saturating_duration_since(r.sent)),
                        );
                    }
                    let _ = tx.send(Msg::Armed { round: target });
                }
                Ok(r) => {
                    batch.error(r.err);
                    batch.flush(&ctx.rec, &ctx.live);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => {
                    s.lost(&ctx, &e, &mut batch);
                    armed = 0;
                    continue;
                }
            }
        }
        for ev in events.drain(..) {
            if let Event::Notification { event, at } = ev
                && event.path == node
                && event.event_type == data_changed
                && armed != 0
            {
                let _ = tx.send(Msg::Fired { round: armed, at });
                batch.ok(None);
                done = armed;
                armed = 0;
            }
        }
        batch.publish(&ctx.rec, &ctx.live);
        let Some(conn) = s.conn.as_mut() else {
            continue;
        };
        let step: Result<Option<ConnError>, ()> = tokio::select! {
            r = conn.pump(&mut events, None) => Ok(r.err()),
            c = rounds.changed() => c.map(|()| None).map_err(|_| ()),
        };
        match step {
            Ok(None) => {}
            Ok(Some(e)) => {
                s.lost(&ctx, &e, &mut batch);
                armed = 0;
            }
            Err(()) => break,
        }
    }
    batch.flush(&ctx.rec, &ctx.live);
    s.close().await;
}
