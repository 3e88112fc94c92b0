//! The driver's event loop and the performing of the core's actions.

use super::{ClientError, DriverError, Request};
use crate::log::{CommitHandle, Durability, GroupCommit, LogError, Reply};
use crate::proto::server::{Action, Input, Phase, Server, ServerConfig, StartState, Status};
use crate::snapshot::{PurgeReport, PurgeTask, SnapshotError, SnapshotStore, Snapshotter};
use crate::state_machine::StateMachine;
use crate::txn::{Txn, Zxid};
use bytes::Bytes;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::Instrument;
use zk_election::driver::{EpochStore, FileEpochStore};
use zk_election::{Millis, ServerState};
use zk_transport::links::{CurrentLinks, LinkChange};
use zk_transport::{Channel, DownReason, Inbound, LinkEvent, PeerId, SendError, Transport};

/// How long to wait before retrying an append or truncation the full log queue refused.
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(1);

/// What [`Running`] is built from.
pub(super) struct Parts<T, SM> {
    pub(super) me: PeerId,
    pub(super) data_dir: PathBuf,
    pub(super) log_dir: PathBuf,
    pub(super) transport: T,
    pub(super) sm: SM,
    pub(super) epochs: FileEpochStore,
    pub(super) store: SnapshotStore,
    pub(super) commit: GroupCommit,
    pub(super) snapshotter: Snapshotter,
    pub(super) purge: Option<PurgeTask>,
    pub(super) status_tx: watch::Sender<Status>,
    pub(super) applied_tx: watch::Sender<Zxid>,
}

/// One thing that happened, handled inside the role span.
enum Event {
    Link(LinkEvent),
    Timeout,
    Durability(Durability),
    Client(Request),
    Image(Zxid, Bytes),
    Purged(Result<PurgeReport, SnapshotError>),
}

pub(super) struct Running<T, SM> {
    p: Parts<T, SM>,
    handle: CommitHandle,
    origin: Instant,
    links: CurrentLinks,
    /// The span of the current role; replaced when the role changes.
    span: tracing::Span,
    outer: tracing::Span,
    syncs: HashMap<u64, oneshot::Sender<Result<Zxid, ClientError>>>,
    next_sync: u64,
    images_tx: mpsc::Sender<(Zxid, Bytes)>,
    images_rx: mpsc::Receiver<(Zxid, Bytes)>,
}

/// Serialized images waiting for the event loop.
const IMAGE_QUEUE: usize = 4;

/// The next purge report, or never when autopurge is off.
async fn next_purge(purge: &mut Option<PurgeTask>) -> Option<Result<PurgeReport, SnapshotError>> {
    match purge {
        Some(task) => task.next_report().await,
        None => std::future::pending().await,
    }
}

fn role_span(outer: &tracing::Span, me: PeerId, role: ServerState) -> tracing::Span {
    tracing::info_span!(parent: outer, "zab", server = %me, role = role.as_str())
}

async fn sleep_or_forever(until: Option<Instant>) {
    match until {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

impl<T: Transport, SM: StateMachine + 'static> Running<T, SM> {
    pub(super) fn new(p: Parts<T, SM>) -> Self {
        let outer = tracing::Span::current();
        // Images wait here for the loop; their writers block when it is full.
        let (images_tx, images_rx) = mpsc::channel(IMAGE_QUEUE);
        Self {
            handle: p.commit.handle(),
            origin: Instant::now(),
            links: CurrentLinks::new(),
            span: role_span(&outer, p.me, ServerState::Looking),
            outer,
            syncs: HashMap::new(),
            next_sync: 0,
            images_tx,
            images_rx,
            p,
        }
    }

    fn now(&self) -> Millis {
        Millis(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn log_failed(&self, reason: String) -> DriverError {
        DriverError::LogFailed {
            path: self.p.log_dir.clone(),
            reason,
        }
    }

    fn log_error(&self, e: LogError) -> DriverError {
        match e {
            LogError::Failed { reason } => self.log_failed(reason),
            source => DriverError::Log {
                path: self.p.log_dir.clone(),
                source,
            },
        }
    }

    pub(super) async fn run<R: Inbound>(
        mut self,
        config: ServerConfig,
        start: StartState,
        mut inbound: R,
        mut client_rx: mpsc::Receiver<Request>,
    ) -> Result<(), DriverError> {
        let me = config.me;
        for p in config.verifier.members().filter(|&p| p != me) {
            for ch in Channel::ALL {
                self.p.transport.connect(p, ch);
            }
        }
        let mut durability = self.handle.subscribe();
        let mut server = Server::new(config.clone(), start, self.now());
        let mut clients_open = true;
        loop {
            let span = self.span.clone();
            self.perform(&mut server).instrument(span).await?;
            let sleep_until = server
                .poll_timeout()
                .map(|d| self.origin + Duration::from_millis(d.0));
            let event = tokio::select! {
                ev = inbound.next() => match ev {
                    None => {
                        self.span.in_scope(|| tracing::debug!("inbound stream ended: stopping"));
                        return Ok(());
                    }
                    Some(ev) => Event::Link(ev),
                },
                () = sleep_or_forever(sleep_until) => Event::Timeout,
                changed = durability.changed() => match changed {
                    Err(_) => Event::Durability(Durability::Failed("the log writer stopped".to_owned())),
                    Ok(()) => Event::Durability(durability.borrow_and_update().clone()),
                },
                req = client_rx.recv(), if clients_open => match req {
                    None => {
                        clients_open = false;
                        continue;
                    }
                    Some(req) => Event::Client(req),
                },
                Some((zxid, image)) = self.images_rx.recv() => Event::Image(zxid, image),
                Some(report) = next_purge(&mut self.p.purge) => Event::Purged(report),
            };
            let span = self.span.clone();
            let _entered = span.enter();
            let now = self.now();
            match event {
                Event::Link(ev) => self.on_event(&mut server, &config, ev),
                Event::Timeout => server.handle(now, Input::Timeout),
                Event::Durability(Durability::Durable(up_to)) => {
                    server.handle(now, Input::Durable { up_to });
                }
                Event::Durability(Durability::Failed(reason)) => {
                    tracing::error!(%reason, "transaction log failed: stopping");
                    return Err(self.log_failed(reason));
                }
                Event::Client(req) => self.on_request(&mut server, req),
                Event::Image(zxid, image) => {
                    server.handle(now, Input::SnapshotTaken { zxid, image });
                }
                Event::Purged(report) => self.purge_log(report),
            }
        }
    }

    fn on_request(&mut self, server: &mut Server, req: Request) {
        let now = self.now();
        match req {
            Request::Write(payload) => server.handle(now, Input::Write { payload }),
            Request::Note(payload) => server.handle(now, Input::NoteToLeader { payload }),
            Request::Sync(reply) => {
                if self.p.status_tx.borrow().phase != Phase::Broadcast {
                    let _ = reply.send(Err(ClientError::NotServing));
                    return;
                }
                let id = self.next_sync;
                self.next_sync += 1;
                self.syncs.insert(id, reply);
                server.handle(now, Input::Sync { id });
            }
        }
    }

    fn on_event(&mut self, server: &mut Server, config: &ServerConfig, ev: LinkEvent) {
        let link = ev.link();
        if link.peer == config.me || !config.verifier.is_member(link.peer) {
            tracing::debug!(%link, "event from an unconfigured server: ignored");
            return;
        }
        let now = self.now();
        match self.links.observe(ev) {
            LinkChange::Up {
                peer,
                channel,
                replaced,
            } => {
                if replaced {
                    server.handle(now, Input::LinkDown { peer, channel });
                }
                server.handle(now, Input::LinkUp { peer, channel });
            }
            LinkChange::Frame {
                peer,
                channel,
                frame,
            } => {
                server.handle(
                    now,
                    Input::Frame {
                        peer,
                        channel,
                        frame,
                    },
                );
            }
            LinkChange::Down {
                peer,
                channel,
                reason,
            } => {
                tracing::debug!(%peer, ?channel, ?reason, "link down");
                server.handle(now, Input::LinkDown { peer, channel });
            }
            LinkChange::Stale(link) => {
                tracing::debug!(%link, "event of a stale incarnation: dropped")
            }
        }
    }

    /// Performs every queued action, in order.
    async fn perform(&mut self, server: &mut Server) -> Result<(), DriverError> {
        while let Some(action) = server.poll_action() {
            match action {
                Action::Send { to, channel, frame } => {
                    match self.links.send(&self.p.transport, to, channel, frame) {
                        Ok(()) => {}
                        // A peer this far behind would see a gap in the proposals; cut the
                        // link instead, so it comes back through a clean sync.
                        Err(SendError::Full(link)) => {
                            tracing::warn!(peer = %to, %link, "the peer's send queue is full (it is too far behind): closing the link; it resyncs on reconnect");
                            self.p.transport.close(
                                link,
                                DownReason::Protocol(
                                    "send queue full: the peer is too far behind".into(),
                                ),
                            );
                        }
                        Err(e) => {
                            tracing::debug!(peer = %to, ?channel, error = %e, "send failed: frame dropped");
                        }
                    }
                }
                Action::Append { txns } => self.append(txns).await?,
                Action::Truncate { after } => {
                    let now_last = self.truncate(after).await?;
                    tracing::info!(
                        after = format_args!("{after:#x}"),
                        last = format_args!("{now_last:#x}"),
                        "log truncated"
                    );
                }
                Action::InstallSnapshot { zxid, image } => self.install(zxid, image).await?,
                Action::PersistAcceptedEpoch(e) => {
                    self.p
                        .epochs
                        .save_accepted(e)
                        .map_err(|source| DriverError::Persist {
                            which: "acceptedEpoch",
                            path: self.p.data_dir.clone(),
                            source,
                        })?
                }
                Action::PersistCurrentEpoch(e) => {
                    self.p
                        .epochs
                        .save_current(e)
                        .map_err(|source| DriverError::Persist {
                            which: "currentEpoch",
                            path: self.p.data_dir.clone(),
                            source,
                        })?
                }
                Action::Deliver { txn } => self.deliver(&txn),
                Action::TakeSnapshot => self.take_snapshot(),
                Action::SyncDone { id } => {
                    if let Some(reply) = self.syncs.remove(&id) {
                        let _ = reply.send(Ok(*self.p.applied_tx.borrow()));
                    }
                }
                Action::StateChanged(status) => self.state_changed(status),
                Action::Prepare { zxid, request } => {
                    // Answered before anything else reaches the core (the call contract).
                    let payload = self.p.sm.prepare(zxid, request);
                    server.handle(self.now(), Input::Prepared { zxid, payload });
                }
                Action::LearnerNote { from, payload } => self.p.sm.learner_note(from, payload),
            }
        }
        Ok(())
    }

    /// Queues `txns` to the group commit; a full queue is waited out, never skipped, so the
    /// log keeps the core's order.
    async fn append(&mut self, txns: Vec<Txn>) -> Result<(), DriverError> {
        loop {
            match self.handle.append(txns.clone()) {
                Ok(_) => return Ok(()),
                Err(LogError::QueueFull) => {
                    tracing::debug!("log queue full: waiting to append");
                    tokio::time::sleep(QUEUE_FULL_RETRY).await;
                }
                Err(e) => return Err(self.log_error(e)),
            }
        }
    }

    /// Durably drops every record after `after` (queued appends included).
    async fn truncate(&mut self, after: Zxid) -> Result<Zxid, DriverError> {
        let reply: Reply<Zxid> = loop {
            match self.handle.truncate_after(after) {
                Ok(reply) => break reply,
                Err(LogError::QueueFull) => tokio::time::sleep(QUEUE_FULL_RETRY).await,
                Err(e) => return Err(self.log_error(e)),
            }
        };
        reply.recv().await.map_err(|e| self.log_error(e))
    }

    /// A SNAP from the leader. Afterwards the log holds nothing after `zxid`, and the image
    /// is the newest snapshot: a restart restores it and reads only the log after it, so
    /// records at or below `zxid` left in the log (possibly of another history) are never
    /// used again, and later appends (all above `zxid`) follow it contiguously. The log is
    /// cut first: a crash before the image is saved then leaves an older, consistent state
    /// (what was cut was not in the leader's history, so not committed).
    async fn install(&mut self, zxid: Zxid, image: Bytes) -> Result<(), DriverError> {
        self.truncate(zxid).await?;
        self.p
            .sm
            .restore(zxid, image.clone())
            .map_err(|source| DriverError::Restore { zxid, source })?;
        let store = self.p.store.clone();
        let saved = tokio::task::spawn_blocking(move || store.save_image(zxid, image)).await;
        let saved = saved.unwrap_or_else(|e| {
            Err(SnapshotError::Background(format!(
                "snapshot save task failed: {e}"
            )))
        });
        saved.map_err(|source| DriverError::Snapshot {
            path: self.p.data_dir.clone(),
            source,
        })?;
        tracing::info!(
            zxid = format_args!("{zxid:#x}"),
            "installed the leader's snapshot"
        );
        self.p.applied_tx.send_replace(zxid);
        Ok(())
    }

    fn deliver(&mut self, txn: &Txn) {
        // The output would go to the client that sent the write; this driver has none.
        let _ = self.p.sm.apply(txn);
        self.p.applied_tx.send_replace(txn.zxid);
        if let Some(ticket) = self.p.snapshotter.after_apply(&self.p.sm) {
            let zxid = ticket.zxid();
            tokio::spawn(
                async move {
                    match ticket.done().await {
                        Ok(_) => tracing::info!(zxid = format_args!("{zxid:#x}"), "snapshot taken"),
                        Err(e) => tracing::warn!(zxid = format_args!("{zxid:#x}"), error = %e, "background snapshot failed"),
                    }
                }
                .instrument(self.span.clone()),
            );
        }
    }

    /// After old snapshots were purged, drop the log segments only they needed.
    fn purge_log(&self, report: Result<PurgeReport, SnapshotError>) {
        let report = match report {
            Ok(r) => r,
            Err(e) => return tracing::warn!(error = %e, "snapshot purge failed"),
        };
        let Some(oldest) = report.oldest_retained else {
            return;
        };
        match self.handle.purge_before(oldest) {
            Ok(reply) => {
                let span = self.span.clone();
                tokio::spawn(
                    async move {
                        match reply.recv().await {
                            Ok(n) => tracing::info!(
                                snapshots = report.removed.len(),
                                segments = n,
                                "purged"
                            ),
                            Err(e) => tracing::warn!(error = %e, "log purge failed"),
                        }
                    }
                    .instrument(span),
                );
            }
            Err(e) => tracing::warn!(error = %e, "log purge not queued; retried at the next purge"),
        }
    }

    /// Serializes the state machine's image on a blocking thread for a leader's SNAP.
    fn take_snapshot(&mut self) {
        let mut source = self.p.sm.snapshot();
        let tx = self.images_tx.clone();
        let span = self.span.clone();
        tokio::task::spawn_blocking(move || {
            let zxid = source.zxid();
            let mut buf = Vec::new();
            match source.write_to(&mut buf) {
                Ok(()) => {
                    let _ = tx.blocking_send((zxid, Bytes::from(buf)));
                }
                Err(e) => span.in_scope(|| {
                    tracing::warn!(zxid = format_args!("{zxid:#x}"), error = %e, "cannot serialize the image for a SNAP sync");
                }),
            }
        });
    }

    fn state_changed(&mut self, status: Status) {
        let before = self.p.status_tx.borrow().clone();
        if status.state != before.state {
            self.span = role_span(&self.outer, self.p.me, status.state);
        }
        let serving = |s: &Status| s.phase == Phase::Broadcast;
        match (serving(&before), serving(&status)) {
            (false, true) => self.span.in_scope(|| {
                tracing::info!(epoch = status.current_epoch, leader = ?status.leader.map(|l| l.0), "serving")
            }),
            (true, false) => self.span.in_scope(|| {
                tracing::info!(epoch = before.current_epoch, "stopped serving: the leader or the quorum was lost");
            }),
            _ => {}
        }
        if !serving(&status) {
            // The core forgets syncs it has not answered when it leaves broadcast.
            for (_, reply) in self.syncs.drain() {
                let _ = reply.send(Err(ClientError::NotServing));
            }
        }
        tracing::debug!(?status, "status");
        self.p.status_tx.send_replace(status);
    }
}
