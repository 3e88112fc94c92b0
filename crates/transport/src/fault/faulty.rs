//! [`Faulty`]: the async wrapper that applies a [`FaultPlan`] to a real backend's sends.
//!
//! A frame with no delay goes straight to the wrapped transport, unless earlier frames of
//! the same link are still in its delay line: then it queues behind them, so nothing ever
//! overtakes an earlier frame of its link. Delayed frames wait in one bounded delay line
//! (a task) per link, which hands them on in order once due, waiting for room when the
//! backend's queue is full rather than losing them.

use super::FaultPlan;
use crate::{Channel, DownReason, LinkId, PeerId, SendError, Transport};
use bytes::Bytes;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How many frames may wait in one link's delay line before further ones are lost.
const DELAY_LINE_FRAMES: usize = 4096;

/// The delay line of one link.
#[derive(Debug)]
struct Line {
    tx: mpsc::Sender<(Instant, Bytes)>,
    /// Frames queued on the line and not yet handed to the backend (or lost).
    pending: usize,
    /// When the last queued frame is due; later frames are never due earlier.
    last_due: Instant,
}

type Lines = Arc<Mutex<HashMap<LinkId, Line>>>;

fn lock(lines: &Lines) -> MutexGuard<'_, HashMap<LinkId, Line>> {
    lines.lock().unwrap_or_else(|e| e.into_inner())
}

/// Any [`Transport`] with a [`FaultPlan`] applied to everything it sends.
///
/// Wrap every node of a test network with the same plan; receiving halves need no wrapper.
///
/// A lost or delayed frame is reported as sent (`Ok`), as on a real network, except that
/// sending on a link the backend already knows to be gone still fails with
/// [`SendError::NotUp`] or [`SendError::Shutdown`]. A delayed frame is not checked against
/// the channel's `max_frame` until it is due (a too large one is then lost), and a delay
/// line that already holds `DELAY_LINE_FRAMES` (4096) frames loses further ones.
#[derive(Clone, Debug)]
pub struct Faulty<T> {
    inner: T,
    plan: FaultPlan,
    lines: Lines,
}

impl<T: Transport> Faulty<T> {
    /// Wrap `inner`; its sends follow `plan`.
    pub fn new(inner: T, plan: FaultPlan) -> Self {
        Self {
            inner,
            plan,
            lines: Arc::default(),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The plan this wrapper follows.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// `NotUp` or `Shutdown` if the backend already knows `link` is gone, without waiting:
    /// polls [`Transport::ready`] once.
    fn probe(&self, link: LinkId) -> Result<(), SendError> {
        let ready = pin!(self.inner.ready(link));
        match ready.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Err(e @ (SendError::NotUp(_) | SendError::Shutdown))) => Err(e),
            _ => Ok(()),
        }
    }

    fn send_copies(&self, link: LinkId, frame: Bytes, copies: u8) -> Result<(), SendError> {
        for _ in 1..copies {
            // A duplicate that does not fit is simply not duplicated.
            let _ = self.inner.try_send(link, frame.clone());
        }
        self.inner.try_send(link, frame)
    }

    /// Queue `copies` of `frame` on the delay line of `link`, starting the line if needed.
    fn delay(
        &self,
        lines: &mut HashMap<LinkId, Line>,
        link: LinkId,
        frame: Bytes,
        copies: u8,
        delay: Duration,
    ) {
        let now = Instant::now();
        let line = match lines.entry(link) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let (tx, rx) = mpsc::channel(DELAY_LINE_FRAMES);
                let task = run_line(self.inner.clone(), self.lines.clone(), link, rx);
                tokio::spawn(task);
                e.insert(Line {
                    tx,
                    pending: 0,
                    last_due: now,
                })
            }
        };
        let due = (now + delay).max(line.last_due);
        line.last_due = due;
        for _ in 0..copies {
            if line.tx.try_send((due, frame.clone())).is_ok() {
                line.pending += 1;
            } else {
                tracing::trace!(%link, "delay line full, frame lost");
            }
        }
    }
}

/// Hand the frames of one link's delay line to the backend once due, in order. Ends (and
/// forgets the line) when the incarnation ends.
async fn run_line<T: Transport>(
    inner: T,
    lines: Lines,
    link: LinkId,
    mut rx: mpsc::Receiver<(Instant, Bytes)>,
) {
    while let Some((due, frame)) = rx.recv().await {
        tokio::time::sleep_until(due).await;
        let alive = loop {
            match inner.try_send(link, frame.clone()) {
                Ok(()) => break true,
                Err(SendError::Full(_)) => {
                    if inner.ready(link).await.is_err() {
                        break false;
                    }
                }
                Err(SendError::TooLarge { len, max }) => {
                    tracing::trace!(%link, len, max, "delayed frame too large, lost");
                    break true;
                }
                Err(SendError::NotUp(_) | SendError::Shutdown) => break false,
            }
        };
        let mut lines = lock(&lines);
        if !alive {
            // The incarnation ended; later frames of it can only be lost too.
            lines.remove(&link);
            return;
        }
        // Only now, after the frame reached the backend, may a later undelayed frame of
        // this link bypass the line.
        if let Some(line) = lines.get_mut(&link) {
            line.pending = line.pending.saturating_sub(1);
        }
    }
}

impl<T: Transport> Transport for Faulty<T> {
    fn local_id(&self) -> PeerId {
        self.inner.local_id()
    }

    fn connect(&self, peer: PeerId, channel: Channel) {
        self.inner.connect(peer, channel);
    }

    fn try_send(&self, link: LinkId, frame: Bytes) -> Result<(), SendError> {
        self.probe(link)?;
        let verdict = self
            .plan
            .decide(self.inner.local_id(), link.peer, link.channel);
        if verdict.copies == 0 {
            // Lost on the way: the sender cannot tell.
            return Ok(());
        }
        let mut lines = lock(&self.lines);
        let backlog = lines.get(&link).is_some_and(|l| l.pending > 0);
        if verdict.delay.is_zero() && !backlog {
            drop(lines);
            return self.send_copies(link, frame, verdict.copies);
        }
        if !lines.contains_key(&link) && tokio::runtime::Handle::try_current().is_err() {
            // No runtime to start a delay line in, and none to queue behind: deliver now.
            drop(lines);
            return self.send_copies(link, frame, verdict.copies);
        }
        self.delay(&mut lines, link, frame, verdict.copies, verdict.delay);
        Ok(())
    }

    fn ready(&self, link: LinkId) -> impl Future<Output = Result<(), SendError>> + Send {
        self.inner.ready(link)
    }

    fn close(&self, link: LinkId, reason: DownReason) {
        self.inner.close(link, reason);
    }

    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        self.inner.shutdown()
    }
}
