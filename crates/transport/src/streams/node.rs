//! The running node: its link table, the rule of which stream survives, and the
//! [`Transport`]/[`Inbound`] halves a backend hands out.

use super::link::{self, Link};
use super::{Connector, Opened, StreamConfig};
use crate::rng::SeededRng;
use crate::{
    Authn, Channel, DownReason, Inbound, LinkEvent, LinkId, PeerId, SendError, StartError,
    Transport,
};
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// A (peer, channel) pair: at most one live link each.
pub(super) type Key = (PeerId, Channel);

/// Wake-ups of one (peer, channel), shared with the tasks that wait on it.
#[derive(Debug, Default)]
pub(super) struct Signals {
    /// A link was installed or removed.
    pub(super) changed: Notify,
    /// The peer prompted us: dial now instead of waiting out the backoff.
    pub(super) kick: Notify,
    /// Held while dialing for real, so two dials never race into two links.
    pub(super) dial: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
pub(super) struct Slot {
    pub(super) link: Option<Arc<Link>>,
    /// `connect` was called: a maintainer task keeps the link up.
    pub(super) wanted: bool,
    /// A one-off dial-back (answering a prompt) is pending.
    pub(super) dialing_back: bool,
    pub(super) signals: Arc<Signals>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) slots: HashMap<Key, Slot>,
    pub(super) shut: bool,
}

/// One running node, shared by its transport handles, its tasks and its backend.
pub(super) struct Node<C> {
    pub(super) me: PeerId,
    pub(super) cfg: StreamConfig,
    pub(super) connector: C,
    state: Mutex<State>,
    incarnation: AtomicU64,
    events: mpsc::Sender<LinkEvent>,
    pub(super) shutdown: CancellationToken,
    tracker: TaskTracker,
    pub(super) rng: Mutex<SeededRng>,
    pub(super) span: tracing::Span,
}

/// Start a node over `connector`: the two halves for the cores, and the handle the backend
/// gives its accepted streams to.
fn start<C: Connector>(
    cfg: StreamConfig,
    connector: C,
) -> Result<(StreamTransport<C>, StreamInbound, StreamHandle<C>), StartError> {
    if cfg.backoff.initial.is_zero() {
        return Err(StartError::Config(
            "backoff.initial must be above zero".into(),
        ));
    }
    for ch in Channel::ALL {
        let max = cfg.channels.get(ch).max_frame;
        if i32::try_from(max).is_err() {
            return Err(StartError::Config(format!(
                "max_frame {max} of the {ch:?} channel exceeds the int32 length prefix"
            )));
        }
    }
    let me = cfg.me;
    let seed = cfg.backoff.seed.unwrap_or(me.0 ^ 0x7a6b_2d72_732d_7463);
    let (events, rx) = mpsc::channel(cfg.inbound_capacity.max(1));
    let shutdown = CancellationToken::new();
    let node = Arc::new(Node {
        me,
        state: Mutex::new(State::default()),
        incarnation: AtomicU64::new(0),
        events,
        shutdown: shutdown.clone(),
        tracker: TaskTracker::new(),
        rng: Mutex::new(SeededRng::new(seed)),
        span: tracing::info_span!("zk-peer", me = me.0, transport = cfg.span_name),
        connector,
        cfg,
    });
    Ok((
        StreamTransport { node: node.clone() },
        StreamInbound { rx, shutdown },
        StreamHandle { node },
    ))
}

impl<C: Connector> Node<C> {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(fut.instrument(self.span.clone()));
    }

    /// The current link of `link.peer`/`link.channel` if it is exactly `link`.
    fn current(&self, link: LinkId) -> Result<Arc<Link>, SendError> {
        let st = self.lock();
        if st.shut {
            return Err(SendError::Shutdown);
        }
        st.slots
            .get(&(link.peer, link.channel))
            .and_then(|s| s.link.as_ref())
            .filter(|l| l.id == link && !l.is_stopped())
            .cloned()
            .ok_or(SendError::NotUp(link))
    }

    pub(super) fn live(&self, key: Key) -> Option<Arc<Link>> {
        self.lock().slots.get(&key).and_then(|s| s.link.clone())
    }

    // ---- the Transport operations ----

    fn connect(self: &Arc<Self>, peer: PeerId, channel: Channel) {
        if peer == self.me {
            tracing::warn!(parent: &self.span, %peer, ?channel, "connect to our own id ignored");
            return;
        }
        if !self.cfg.peers.contains(&peer) {
            tracing::warn!(parent: &self.span, %peer, ?channel, "connect to a server not in the peer table ignored");
            return;
        }
        {
            let mut st = self.lock();
            if st.shut {
                return;
            }
            let slot = st.slots.entry((peer, channel)).or_default();
            if slot.wanted {
                return;
            }
            slot.wanted = true;
        }
        let node = self.clone();
        self.spawn(async move { node.maintain((peer, channel)).await });
    }

    fn try_send(&self, link: LinkId, frame: Bytes) -> Result<(), SendError> {
        if self.shutdown.is_cancelled() {
            return Err(SendError::Shutdown);
        }
        let max = self.cfg.channels.get(link.channel).max_frame;
        if frame.len() > max {
            return Err(SendError::TooLarge {
                len: frame.len(),
                max,
            });
        }
        let l = self.current(link)?;
        l.queue.push(frame).map_err(|e| match e {
            crate::queue::PushError::Full => SendError::Full(link),
            crate::queue::PushError::Closed => SendError::NotUp(link),
        })
    }

    async fn ready(&self, link: LinkId) -> Result<(), SendError> {
        let l = self.current(link)?;
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Err(SendError::Shutdown),
            r = l.queue.ready() => r.map_err(|_| SendError::NotUp(link)),
        }
    }

    fn close(&self, link: LinkId, reason: DownReason) {
        let found = {
            let mut st = self.lock();
            st.slots
                .get_mut(&(link.peer, link.channel))
                .and_then(|slot| {
                    if slot.link.as_ref().is_some_and(|l| l.id == link) {
                        slot.signals.changed.notify_waiters();
                        slot.link.take()
                    } else {
                        None
                    }
                })
        };
        if let Some(l) = found {
            tracing::info!(parent: &self.span, link = %link, ?reason, "closing link on request");
            l.kill(reason);
        }
    }

    async fn shutdown(&self) {
        let links: Vec<Arc<Link>> = {
            let mut st = self.lock();
            st.shut = true;
            st.slots
                .values_mut()
                .filter_map(|s| s.link.take())
                .collect()
        };
        if !self.shutdown.is_cancelled() {
            tracing::info!(parent: &self.span, links = links.len(), "shutting down");
        }
        self.shutdown.cancel();
        for l in links {
            l.kill(DownReason::Shutdown);
        }
        self.tracker.close();
        self.tracker.wait().await;
    }

    // ---- links ----

    /// An authenticated stream from `peer` arrived: a prompt from a smaller id is answered
    /// with a dial-back, a stream from a larger id becomes the link.
    fn accepted(self: &Arc<Self>, peer: PeerId, channel: Channel, opened: Opened) {
        let refuse = |why: String| {
            tracing::warn!(parent: &self.span, remote = %opened.remote, ?channel, "refusing connection: {why}");
        };
        if peer == self.me {
            return refuse(format!(
                "it claims our own id {peer} (two servers configured with the same id?)"
            ));
        }
        if !self.cfg.peers.contains(&peer) {
            return refuse(format!("server id {peer} is not in the peer table"));
        }
        if peer < self.me {
            // ZooKeeper: the smaller id's connection never survives; close it and dial back.
            tracing::debug!(parent: &self.span, remote = %opened.remote, ?channel, %peer, "prompt from a smaller id; dialing back");
            drop(opened);
            self.answer_prompt((peer, channel));
            return;
        }
        self.install((peer, channel), opened);
    }

    /// Make `opened` the link of `key`, superseding the current one. `None` after shutdown.
    pub(super) fn install(self: &Arc<Self>, key: Key, opened: Opened) -> Option<Arc<Link>> {
        let spec = self.cfg.channels.get(key.1);
        let (link, prev) = {
            let mut st = self.lock();
            if st.shut {
                return None;
            }
            let id = LinkId {
                peer: key.0,
                channel: key.1,
                incarnation: self.incarnation.fetch_add(1, Ordering::Relaxed) + 1,
            };
            let link = Arc::new(Link::new(id, spec, self.shutdown.child_token()));
            let slot = st.slots.entry(key).or_default();
            let prev = slot.link.replace(link.clone());
            slot.signals.changed.notify_waiters();
            (link, prev)
        };
        let span = tracing::info_span!(parent: &self.span, "link", link = %link.id);
        if let Some(prev) = &prev {
            tracing::info!(parent: &span, old = %prev.id, "link superseded by a new connection");
            prev.kill(DownReason::Superseded);
        }
        tracing::info!(parent: &span, remote = %opened.remote, "link up");
        let Opened {
            reader,
            writer,
            authn,
            ..
        } = opened;
        let writer_link = link.clone();
        self.tracker.spawn(
            async move { link::writer(&writer_link, writer).await }.instrument(span.clone()),
        );
        let node = self.clone();
        let reader_link = link.clone();
        self.tracker.spawn(
            async move { node.run_reader(reader_link, prev, reader, authn).await }.instrument(span),
        );
        Some(link)
    }

    /// Announce `link` (after the `Down` of the link it replaced), read it until it ends, then
    /// announce its end.
    async fn run_reader(
        self: Arc<Self>,
        link: Arc<Link>,
        prev: Option<Arc<Link>>,
        rd: super::BoxReader,
        authn: Authn,
    ) {
        let announced = async {
            if let Some(prev) = prev {
                tokio::select! {
                    biased;
                    () = link.stopped() => return false,
                    () = prev.finished.cancelled() => {}
                }
            }
            let up = LinkEvent::Up {
                link: link.id,
                authn,
            };
            tokio::select! {
                biased;
                () = link.stopped() => false,
                r = self.events.send(up) => r.is_ok(),
            }
        }
        .await;
        if announced {
            link::reader(&link, rd, &self.events).await;
        }
        link.kill(DownReason::Closed);
        self.remove_if_current(&link);
        let reason = link.down_reason();
        if announced && !self.shutdown.is_cancelled() {
            tracing::info!(?reason, "link down");
            let down = LinkEvent::Down {
                link: link.id,
                reason,
            };
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {}
                _ = self.events.send(down) => {}
            }
        }
        link.finished.cancel();
    }

    fn remove_if_current(&self, link: &Arc<Link>) {
        let mut st = self.lock();
        if let Some(slot) = st.slots.get_mut(&(link.id.peer, link.id.channel))
            && slot.link.as_ref().is_some_and(|l| Arc::ptr_eq(l, link))
        {
            slot.link = None;
            slot.signals.changed.notify_waiters();
        }
    }
}

/// The sending half of a stream-based node. Cheap to clone; no method blocks.
pub struct StreamTransport<C> {
    node: Arc<Node<C>>,
}

impl<C> StreamTransport<C> {
    /// The address the listener of `channel` is bound to (useful with port 0).
    pub fn local_addr(&self, channel: Channel) -> std::net::SocketAddr {
        match channel {
            Channel::Election => self.node.cfg.local_addrs[0],
            Channel::Quorum => self.node.cfg.local_addrs[1],
        }
    }
}

impl<C> Clone for StreamTransport<C> {
    fn clone(&self) -> Self {
        Self {
            node: self.node.clone(),
        }
    }
}

impl<C> std::fmt::Debug for StreamTransport<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTransport")
            .field("me", &self.node.me)
            .finish_non_exhaustive()
    }
}

impl<C: Connector> Transport for StreamTransport<C> {
    fn local_id(&self) -> PeerId {
        self.node.me
    }

    fn connect(&self, peer: PeerId, channel: Channel) {
        self.node.connect(peer, channel);
    }

    fn try_send(&self, link: LinkId, frame: Bytes) -> Result<(), SendError> {
        self.node.try_send(link, frame)
    }

    fn ready(&self, link: LinkId) -> impl Future<Output = Result<(), SendError>> + Send {
        let node = self.node.clone();
        async move { node.ready(link).await }
    }

    fn close(&self, link: LinkId, reason: DownReason) {
        self.node.close(link, reason);
    }

    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        let node = self.node.clone();
        async move { node.shutdown().await }
    }
}

/// The receiving half of a stream-based node: `Up`, `Frame` and `Down` events of all its
/// links, in one bounded queue. Ends (`None`) once the node shuts down; events still queued
/// then are discarded.
#[derive(Debug)]
pub struct StreamInbound {
    rx: mpsc::Receiver<LinkEvent>,
    shutdown: CancellationToken,
}

impl Inbound for StreamInbound {
    async fn next(&mut self) -> Option<LinkEvent> {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => None,
            ev = self.rx.recv() => ev,
        }
    }
}

/// What a backend keeps of its node: where it hands accepted streams, how it runs its
/// listener tasks (so shutdown waits for them), and the node's shutdown signal.
pub struct StreamHandle<C> {
    node: Arc<Node<C>>,
}

impl<C> Clone for StreamHandle<C> {
    fn clone(&self) -> Self {
        Self {
            node: self.node.clone(),
        }
    }
}

impl<C> std::fmt::Debug for StreamHandle<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHandle")
            .field("me", &self.node.me)
            .finish_non_exhaustive()
    }
}

impl<C: Connector> StreamHandle<C> {
    /// Start a node over `connector`. Fails when `backoff.initial` is zero or a channel's
    /// `max_frame` does not fit the `int32` length prefix.
    #[allow(clippy::type_complexity)]
    pub fn start(
        cfg: StreamConfig,
        connector: C,
    ) -> Result<(StreamTransport<C>, StreamInbound, Self), StartError> {
        start(cfg, connector)
    }

    /// Hand over a stream accepted from `peer` (already authenticated by the backend) for
    /// `channel`. Streams claiming this node's id or an unknown id are refused with a log
    /// line; a stream from a smaller id is a prompt, answered by dialing back.
    pub fn accepted(&self, peer: PeerId, channel: Channel, opened: Opened) {
        self.node.accepted(peer, channel, opened);
    }

    /// Run `fut` as one of the node's tasks: shutdown waits for it to end.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.node.spawn(fut);
    }

    /// Resolves once the node is shutting down.
    pub async fn cancelled(&self) {
        self.node.shutdown.cancelled().await;
    }

    /// Whether the node is shutting down.
    pub fn is_shut_down(&self) -> bool {
        self.node.shutdown.is_cancelled()
    }

    /// The node's tracing span (its id and backend).
    pub fn span(&self) -> &tracing::Span {
        &self.node.span
    }

    /// The connector, for backends that keep state in it.
    pub fn connector(&self) -> &C {
        &self.node.connector
    }

    /// This node's id.
    pub fn me(&self) -> PeerId {
        self.node.me
    }
}
