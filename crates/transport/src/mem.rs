//! An in-process backend: every node of a test network lives in one process.
//!
//! It keeps the whole [`Transport`] contract (incarnations, bounded queues,
//! one link per pair and channel, `Down` on close and shutdown), so cores and drivers can be
//! tested without sockets, and wrapped in [`crate::fault::Faulty`] for loss and partitions.
//! A link comes up as soon as one side wants it and both sides are running; a link that was
//! closed comes back after [`MemNetwork::with_retry`]'s delay if either side still wants it.

use crate::queue::{LinkQueue, PushError};
use crate::{
    Authn, Channel, ChannelSpecs, DownReason, Inbound, LinkEvent, LinkId, PeerId, SendError,
    Transport,
};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// Default capacity of each node's inbound event queue.
const INBOUND_EVENTS: usize = 1024;

/// One direction of a link: frames queued by the sender, pumped to the receiver.
#[derive(Debug)]
struct Half {
    queue: Arc<LinkQueue>,
    /// Why the link ended, as the receiver of this half will be told.
    reason: Arc<Mutex<Option<DownReason>>>,
}

#[derive(Debug)]
struct Node {
    /// Distinguishes restarts of the same id.
    generation: u64,
    /// The runtime the node was started in: its tasks run there, whoever calls.
    rt: Handle,
    events: mpsc::Sender<LinkEvent>,
    specs: ChannelSpecs,
    wanted: HashSet<(PeerId, Channel)>,
    /// This node's current links, by its own link id: the half it sends on.
    sending: HashMap<LinkId, Half>,
}

#[derive(Debug, Default)]
struct Hub {
    nodes: HashMap<PeerId, Node>,
    next_incarnation: u64,
    next_generation: u64,
}

/// The in-process network that in-memory nodes join.
#[derive(Clone, Debug)]
pub struct MemNetwork {
    hub: Arc<Mutex<Hub>>,
    retry: Duration,
    inbound_events: usize,
}

impl Default for MemNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl MemNetwork {
    /// An empty network; closed links are re-established after 50 ms.
    pub fn new() -> Self {
        Self {
            hub: Arc::new(Mutex::new(Hub::default())),
            retry: Duration::from_millis(50),
            inbound_events: INBOUND_EVENTS,
        }
    }

    /// The delay before a closed but still wanted link comes back.
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    /// The capacity of each node's inbound event queue (at least 1).
    pub fn with_inbound_events(mut self, events: usize) -> Self {
        self.inbound_events = events.max(1);
        self
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start node `me` (again, if it was shut down; a running `me` is shut down first).
    ///
    /// Must be called inside a tokio runtime (it panics otherwise); the node's tasks run on
    /// that runtime, so its [`MemTransport`] may then be used from any thread.
    pub fn start(&self, me: PeerId, specs: ChannelSpecs) -> (MemTransport, MemInbound) {
        let rt = Handle::current();
        let (events, rx) = mpsc::channel(self.inbound_events);
        let generation;
        let mut pending = Vec::new();
        {
            let mut hub = self.hub();
            if let Some(old) = hub.nodes.remove(&me) {
                close_node_links(&mut hub, me, old, DownReason::Shutdown);
            }
            hub.next_generation += 1;
            generation = hub.next_generation;
            hub.nodes.insert(
                me,
                Node {
                    generation,
                    rt,
                    events,
                    specs,
                    wanted: HashSet::new(),
                    sending: HashMap::new(),
                },
            );
            for (&id, node) in &hub.nodes {
                for &(peer, channel) in &node.wanted {
                    if peer == me {
                        pending.push((id, channel));
                    }
                }
            }
            for (peer, channel) in pending {
                establish(&mut hub, me, peer, channel);
            }
        }
        let tx = MemTransport {
            net: self.clone(),
            me,
            generation,
        };
        (tx, MemInbound { rx })
    }
}

/// Bring up a link between `a` and `b` on `channel` unless one exists or a side is absent.
fn establish(hub: &mut Hub, a: PeerId, b: PeerId, channel: Channel) {
    if a == b || !hub.nodes.contains_key(&a) || !hub.nodes.contains_key(&b) {
        return;
    }
    let exists = hub.nodes.get(&a).is_some_and(|n| {
        n.sending
            .keys()
            .any(|l| l.peer == b && l.channel == channel)
    });
    if exists {
        return;
    }
    hub.next_incarnation += 1;
    let at_a = LinkId {
        peer: b,
        channel,
        incarnation: hub.next_incarnation,
    };
    hub.next_incarnation += 1;
    let at_b = LinkId {
        peer: a,
        channel,
        incarnation: hub.next_incarnation,
    };
    let (Some(na), Some(nb)) = (hub.nodes.get(&a), hub.nodes.get(&b)) else {
        return;
    };
    let a_to_b = Half {
        queue: Arc::new(LinkQueue::new(na.specs.get(channel))),
        reason: Arc::new(Mutex::new(None)),
    };
    let b_to_a = Half {
        queue: Arc::new(LinkQueue::new(nb.specs.get(channel))),
        reason: Arc::new(Mutex::new(None)),
    };
    nb.rt.spawn(pump(
        a_to_b.queue.clone(),
        a_to_b.reason.clone(),
        nb.events.clone(),
        at_b,
    ));
    na.rt.spawn(pump(
        b_to_a.queue.clone(),
        b_to_a.reason.clone(),
        na.events.clone(),
        at_a,
    ));
    if let Some(na) = hub.nodes.get_mut(&a) {
        na.sending.insert(at_a, a_to_b);
    }
    if let Some(nb) = hub.nodes.get_mut(&b) {
        nb.sending.insert(at_b, b_to_a);
    }
}

/// Deliver one direction of a link: `Up`, the frames in order, then `Down`.
async fn pump(
    queue: Arc<LinkQueue>,
    reason: Arc<Mutex<Option<DownReason>>>,
    to: mpsc::Sender<LinkEvent>,
    link: LinkId,
) {
    if to
        .send(LinkEvent::Up {
            link,
            authn: Authn::InProcess,
        })
        .await
        .is_err()
    {
        return;
    }
    while let Some(frame) = queue.pop().await {
        if to.send(LinkEvent::Frame { link, frame }).await.is_err() {
            return;
        }
    }
    let reason = reason.lock().unwrap_or_else(|e| e.into_inner()).take();
    let _ = to
        .send(LinkEvent::Down {
            link,
            reason: reason.unwrap_or(DownReason::Closed),
        })
        .await;
}

/// Close one half: its receiver is told `reason`.
fn end_half(half: &Half, reason: DownReason) {
    *half.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    half.queue.close();
}

/// Close the link `link` of node `me`, both directions; false if it is not current.
fn close_link(
    hub: &mut Hub,
    me: PeerId,
    link: LinkId,
    mine: DownReason,
    theirs: DownReason,
) -> bool {
    let Some(node) = hub.nodes.get_mut(&me) else {
        return false;
    };
    let Some(half) = node.sending.remove(&link) else {
        return false;
    };
    // The half we send on is what the peer receives.
    end_half(&half, theirs);
    end_peer_half(hub, me, link, mine);
    true
}

/// End the peer's half of `me`'s `link`: `me` is told `reason`.
fn end_peer_half(hub: &mut Hub, me: PeerId, link: LinkId, reason: DownReason) {
    if let Some(peer) = hub.nodes.get_mut(&link.peer) {
        let back = peer
            .sending
            .keys()
            .find(|l| l.peer == me && l.channel == link.channel)
            .copied();
        if let Some(back) = back.and_then(|b| peer.sending.remove(&b)) {
            end_half(&back, reason);
        }
    }
}

fn close_node_links(hub: &mut Hub, me: PeerId, node: Node, reason: DownReason) {
    for (link, half) in node.sending {
        end_half(&half, reason.clone());
        end_peer_half(hub, me, link, reason.clone());
    }
}

/// The sending half of an in-memory node.
#[derive(Clone, Debug)]
pub struct MemTransport {
    net: MemNetwork,
    me: PeerId,
    generation: u64,
}

impl MemTransport {
    /// Run `f` on this node's entry, unless it was shut down (or restarted since).
    fn with_node<R>(&self, hub: &mut Hub, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        match hub.nodes.get_mut(&self.me) {
            Some(node) if node.generation == self.generation => Some(f(node)),
            _ => None,
        }
    }

    fn queue_of(&self, link: LinkId) -> Result<(Arc<LinkQueue>, usize), SendError> {
        let mut hub = self.net.hub();
        self.with_node(&mut hub, |node| {
            let max = node.specs.get(link.channel).max_frame;
            node.sending
                .get(&link)
                .map(|h| (h.queue.clone(), max))
                .ok_or(SendError::NotUp(link))
        })
        .unwrap_or(Err(SendError::Shutdown))
    }
}

impl Transport for MemTransport {
    fn local_id(&self) -> PeerId {
        self.me
    }

    fn connect(&self, peer: PeerId, channel: Channel) {
        let mut hub = self.net.hub();
        if self
            .with_node(&mut hub, |node| node.wanted.insert((peer, channel)))
            .is_some()
        {
            establish(&mut hub, self.me, peer, channel);
        }
    }

    fn try_send(&self, link: LinkId, frame: Bytes) -> Result<(), SendError> {
        let (queue, max) = self.queue_of(link)?;
        if frame.len() > max {
            return Err(SendError::TooLarge {
                len: frame.len(),
                max,
            });
        }
        queue.push(frame).map_err(|e| match e {
            PushError::Full => SendError::Full(link),
            PushError::Closed => SendError::NotUp(link),
        })
    }

    fn ready(&self, link: LinkId) -> impl Future<Output = Result<(), SendError>> + Send {
        let queue = self.queue_of(link);
        async move {
            let (queue, _) = queue?;
            queue.ready().await.map_err(|_| SendError::NotUp(link))
        }
    }

    fn close(&self, link: LinkId, reason: DownReason) {
        let retry_on = {
            let mut hub = self.net.hub();
            let Some(rt) = self.with_node(&mut hub, |n| n.rt.clone()) else {
                return;
            };
            if !close_link(&mut hub, self.me, link, reason.clone(), reason) {
                // Not a current incarnation: nothing closed, nothing to bring back.
                return;
            }
            let wanted_here = self
                .with_node(&mut hub, |n| n.wanted.contains(&(link.peer, link.channel)))
                .unwrap_or(false);
            let wanted_there = hub
                .nodes
                .get(&link.peer)
                .is_some_and(|n| n.wanted.contains(&(self.me, link.channel)));
            (wanted_here || wanted_there).then_some(rt)
        };
        if let Some(rt) = retry_on {
            let net = self.net.clone();
            let (me, generation) = (self.me, self.generation);
            rt.spawn(async move {
                tokio::time::sleep(net.retry).await;
                let mut hub = net.hub();
                if hub
                    .nodes
                    .get(&me)
                    .is_some_and(|n| n.generation == generation)
                {
                    establish(&mut hub, me, link.peer, link.channel);
                }
            });
        }
    }

    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        let mut hub = self.net.hub();
        let mine = hub
            .nodes
            .get(&self.me)
            .is_some_and(|n| n.generation == self.generation);
        if mine && let Some(node) = hub.nodes.remove(&self.me) {
            close_node_links(&mut hub, self.me, node, DownReason::Shutdown);
        }
        std::future::ready(())
    }
}

/// The receiving half of an in-memory node.
#[derive(Debug)]
pub struct MemInbound {
    rx: mpsc::Receiver<LinkEvent>,
}

impl Inbound for MemInbound {
    fn next(&mut self) -> impl Future<Output = Option<LinkEvent>> + Send {
        self.rx.recv()
    }
}
