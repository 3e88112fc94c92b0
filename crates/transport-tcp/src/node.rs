//! The running node: its link table, listeners, dialers and the rule of which connection
//! survives.
//!
//! For every (peer, channel) the surviving connection is the one opened by the larger id:
//! - the larger side dials for real and its link is up as soon as its handshake is written;
//! - the smaller side, when it wants the link, dials only to *prompt*: it sends its handshake
//!   and closes, and the larger side answers by dialing back (ZooKeeper's `connectOne`);
//! - an acceptor takes connections only from larger ids; a new one supersedes the old link.

mod accept;
mod dial;

use crate::config::TcpConfig;
use crate::link::{self, Link};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use zk_transport::rng::SeededRng;
use zk_transport::{Authn, Channel, DownReason, LinkEvent, LinkId, PeerId, SendError};

/// How many accepted connections may be waiting for their handshake at once; more are closed
/// at once, so a flood of silent sockets cannot exhaust the node.
const MAX_PENDING_HANDSHAKES: usize = 64;

/// A (peer, channel) pair: at most one live link each.
type Key = (PeerId, Channel);

/// Wake-ups of one (peer, channel), shared with the tasks that wait on it.
#[derive(Debug, Default)]
struct Signals {
    /// A link was installed or removed.
    changed: Notify,
    /// The peer prompted us: dial now instead of waiting out the backoff.
    kick: Notify,
    /// Held while dialing for real, so two dials never race into two links.
    dial: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Slot {
    link: Option<Arc<Link>>,
    /// `connect` was called: a maintainer task keeps the link up.
    wanted: bool,
    /// A one-off dial-back (answering a prompt) is pending.
    dialing_back: bool,
    signals: Arc<Signals>,
}

#[derive(Debug, Default)]
struct State {
    slots: HashMap<Key, Slot>,
    shut: bool,
}

/// One running TCP node, shared by its transport handles and its tasks.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) me: PeerId,
    cfg: TcpConfig,
    state: Mutex<State>,
    incarnation: AtomicU64,
    events: mpsc::Sender<LinkEvent>,
    pub(crate) shutdown: CancellationToken,
    tracker: TaskTracker,
    rng: Mutex<SeededRng>,
    /// Permits for connections still in their handshake.
    handshakes: Arc<Semaphore>,
    pub(crate) span: tracing::Span,
    /// The bound listen addresses, election then quorum.
    pub(crate) local: [SocketAddr; 2],
}

impl Node {
    pub(crate) fn new(
        cfg: TcpConfig,
        events: mpsc::Sender<LinkEvent>,
        shutdown: CancellationToken,
        local: [SocketAddr; 2],
    ) -> Self {
        let me = cfg.me;
        let seed = cfg.backoff.seed.unwrap_or(me.0 ^ 0x7a6b_2d72_732d_7463);
        Self {
            me,
            state: Mutex::new(State::default()),
            incarnation: AtomicU64::new(0),
            events,
            shutdown,
            tracker: TaskTracker::new(),
            rng: Mutex::new(SeededRng::new(seed)),
            handshakes: Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES)),
            span: tracing::info_span!("zk-tcp", me = me.0),
            local,
            cfg,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn<F>(&self, fut: F)
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

    fn live(&self, key: Key) -> Option<Arc<Link>> {
        self.lock().slots.get(&key).and_then(|s| s.link.clone())
    }

    // ---- the Transport operations ----

    pub(crate) fn connect(self: &Arc<Self>, peer: PeerId, channel: Channel) {
        if peer == self.me {
            tracing::warn!(%peer, ?channel, "connect to our own id ignored");
            return;
        }
        if !self.cfg.peers.contains_key(&peer) {
            tracing::warn!(%peer, ?channel, "connect to a server not in the peer table ignored");
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

    pub(crate) fn try_send(&self, link: LinkId, frame: bytes::Bytes) -> Result<(), SendError> {
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
            zk_transport::queue::PushError::Full => SendError::Full(link),
            zk_transport::queue::PushError::Closed => SendError::NotUp(link),
        })
    }

    pub(crate) async fn ready(&self, link: LinkId) -> Result<(), SendError> {
        let l = self.current(link)?;
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Err(SendError::Shutdown),
            r = l.queue.ready() => r.map_err(|_| SendError::NotUp(link)),
        }
    }

    pub(crate) fn close(&self, link: LinkId, reason: DownReason) {
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

    pub(crate) async fn shutdown(&self) {
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

    /// Make `stream` the link of `key`, superseding the current one. `None` after shutdown.
    fn install(
        self: &Arc<Self>,
        key: Key,
        stream: TcpStream,
        remote: SocketAddr,
    ) -> Option<Arc<Link>> {
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
        if let Some(prev) = &prev {
            tracing::info!(old = %prev.id, new = %link.id, "link superseded by a new connection");
            prev.kill(DownReason::Superseded);
        }
        tracing::info!(link = %link.id, %remote, "link up");
        let (rd, wr) = stream.into_split();
        let writer_link = link.clone();
        let span = tracing::info_span!(parent: &self.span, "link", link = %link.id);
        self.tracker
            .spawn(async move { link::writer(&writer_link, wr).await }.instrument(span.clone()));
        let node = self.clone();
        let reader_link = link.clone();
        self.tracker
            .spawn(async move { node.run_reader(reader_link, prev, rd).await }.instrument(span));
        Some(link)
    }

    /// Announce `link` (after the `Down` of the link it replaced), read it until it ends, then
    /// announce its end.
    async fn run_reader(
        self: Arc<Self>,
        link: Arc<Link>,
        prev: Option<Arc<Link>>,
        rd: tokio::net::tcp::OwnedReadHalf,
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
                authn: Authn::Declared,
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
