//! The conformance suite every backend runs: `testing::suite(|| MyHarness::new()).await`.
//!
//! Each case starts a fresh harness (fresh addresses) and checks one duty of the
//! [`Transport`] contract over real links of the backend under test. A failure panics with
//! the case name and what was expected.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod logs;

use crate::{
    Channel, ChannelSpec, ChannelSpecs, DownReason, Inbound, LinkEvent, LinkId, OnFull, PeerId,
    SendError, Transport,
};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::Duration;
use tokio::time::timeout;

/// How long a case waits for an event that must come.
const WAIT: Duration = Duration::from_secs(20);
/// How long a case watches for an event that must not come.
const QUIET: Duration = Duration::from_millis(700);

/// Starts the nodes of a three-node test network for one suite case.
pub trait Harness: Send + 'static {
    /// The sending half of a node.
    type Tx: Transport;
    /// The receiving half of a node.
    type Rx: Inbound;
    /// Start node `id` of a test network of ids 1..=3 in which every node knows every other;
    /// starting an id again after its shutdown reuses its addresses.
    fn start(
        &mut self,
        id: PeerId,
        specs: ChannelSpecs,
    ) -> impl Future<Output = (Self::Tx, Self::Rx)> + Send;
}

/// Run every conformance case, each on a fresh harness from `make`.
pub async fn suite<H: Harness>(mut make: impl FnMut() -> H) {
    up_carries_the_authenticated_id(make()).await;
    frames_arrive_whole_and_in_order(make()).await;
    too_large_frames_are_refused(make()).await;
    close_reaches_the_peer_and_ends_the_incarnation(make()).await;
    reconnect_after_restart_is_a_new_incarnation(make()).await;
    simultaneous_open_leaves_one_link(make()).await;
    full_queue_is_reported_and_other_peers_unaffected(make()).await;
    shutdown_is_clean(make()).await;
}

fn id(n: u64) -> PeerId {
    PeerId(n)
}

/// The per-link grammar every event a node receives must follow, whatever the case checks:
/// one `Up`, then frames, then one `Down`, then nothing more of that link. An `Up` never
/// reuses an incarnation number at this node, and has a larger one than every earlier link
/// to the same peer and channel.
#[derive(Default)]
struct Grammar {
    /// Every link seen, and whether its `Down` came.
    links: HashMap<LinkId, bool>,
    /// The largest incarnation seen per peer and channel.
    last: HashMap<(PeerId, Channel), u64>,
}

impl Grammar {
    fn check(&mut self, ev: &LinkEvent) {
        let link = ev.link();
        match (ev, self.links.get(&link).copied()) {
            (LinkEvent::Up { .. }, None) => {
                assert!(
                    self.links.keys().all(|l| l.incarnation != link.incarnation),
                    "Up of {link} reuses an incarnation number"
                );
                let last = self
                    .last
                    .insert((link.peer, link.channel), link.incarnation);
                assert!(
                    last.is_none_or(|l| link.incarnation > l),
                    "Up of {link} after #{last:?} of the same peer and channel"
                );
                self.links.insert(link, false);
            }
            (LinkEvent::Frame { .. }, Some(false)) => {}
            (LinkEvent::Down { .. }, Some(false)) => {
                self.links.insert(link, true);
            }
            (_, None) => panic!("{ev:?} before the Up of {link}"),
            (_, Some(false)) => panic!("second Up of {link}: {ev:?}"),
            (_, Some(true)) => panic!("{ev:?} after the Down of {link}"),
        }
    }
}

/// A node's inbound stream with a backlog: events skipped by one wait stay for the next.
/// Every event is checked against the [`Grammar`] as it arrives.
struct Events<R> {
    rx: R,
    backlog: VecDeque<LinkEvent>,
    grammar: Grammar,
}

impl<R: Inbound> Events<R> {
    fn new(rx: R) -> Self {
        Self {
            rx,
            backlog: VecDeque::new(),
            grammar: Grammar::default(),
        }
    }

    /// The next event from the backend itself, checked.
    async fn recv(&mut self) -> Option<LinkEvent> {
        let ev = self.rx.next().await;
        if let Some(ev) = &ev {
            self.grammar.check(ev);
        }
        ev
    }

    async fn next(&mut self) -> Option<LinkEvent> {
        match self.backlog.pop_front() {
            Some(ev) => Some(ev),
            None => self.recv().await,
        }
    }

    /// The first event matching `pred`, waiting up to `WAIT`; others stay in the backlog.
    async fn wait_for(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&LinkEvent) -> bool,
    ) -> LinkEvent {
        if let Some(i) = self.backlog.iter().position(&mut pred) {
            return self.backlog.remove(i).unwrap();
        }
        let mut skipped = Vec::new();
        let found = timeout(WAIT, async {
            while let Some(ev) = self.recv().await {
                if pred(&ev) {
                    return Some(ev);
                }
                skipped.push(ev);
            }
            None
        })
        .await;
        self.backlog.extend(skipped);
        match found {
            Ok(Some(ev)) => ev,
            Ok(None) => panic!("inbound ended while waiting for {what}"),
            Err(_) => panic!(
                "timed out after {WAIT:?} waiting for {what}; saw {:?}",
                self.backlog
            ),
        }
    }

    async fn wait_up(&mut self, peer: PeerId, channel: Channel) -> LinkId {
        let what = format!("Up from {peer} on {channel:?}");
        self.wait_for(&what, |ev| matches!(ev, LinkEvent::Up { link, .. } if link.peer == peer && link.channel == channel))
            .await
            .link()
    }

    /// Every event arriving within `QUIET`, after the backlog.
    async fn collect_quiet(&mut self) -> Vec<LinkEvent> {
        let mut out: Vec<LinkEvent> = self.backlog.drain(..).collect();
        let _ = timeout(QUIET, async {
            while let Some(ev) = self.recv().await {
                out.push(ev);
            }
        })
        .await;
        out
    }
}

/// Send, waiting for room when the queue is full.
async fn send<T: Transport>(tx: &T, link: LinkId, frame: Bytes) {
    loop {
        match tx.try_send(link, frame.clone()) {
            Ok(()) => return,
            Err(SendError::Full(_)) => tx.ready(link).await.expect("link stays up while sending"),
            Err(e) => panic!("send on {link} failed: {e}"),
        }
    }
}

fn pattern(seq: u32, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len.max(4));
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend((4..len).map(|i| (i as u32 ^ seq) as u8));
    Bytes::from(v)
}

async fn start<H: Harness>(h: &mut H, n: u64, specs: ChannelSpecs) -> (H::Tx, Events<H::Rx>) {
    let (tx, rx) = h.start(id(n), specs).await;
    (tx, Events::new(rx))
}

type Node<H> = (<H as Harness>::Tx, Events<<H as Harness>::Rx>);

async fn pair<H: Harness>(h: &mut H, specs: ChannelSpecs) -> (Node<H>, Node<H>) {
    (start(h, 1, specs).await, start(h, 2, specs).await)
}

async fn up_carries_the_authenticated_id<H: Harness>(mut h: H) {
    let ((tx1, mut rx1), (tx2, mut rx2)) = pair(&mut h, ChannelSpecs::default()).await;
    for ch in Channel::ALL {
        tx1.connect(id(2), ch);
    }
    for ch in Channel::ALL {
        let at2 = rx2.wait_up(id(1), ch).await;
        let at1 = rx1.wait_up(id(2), ch).await;
        assert_eq!(
            (at2.peer, at1.peer),
            (id(1), id(2)),
            "up_carries_the_authenticated_id"
        );
    }
    tx1.shutdown().await;
    tx2.shutdown().await;
}

async fn frames_arrive_whole_and_in_order<H: Harness>(mut h: H) {
    let ((tx1, mut rx1), (tx2, mut rx2)) = pair(&mut h, ChannelSpecs::default()).await;
    tx1.connect(id(2), Channel::Quorum);
    tx2.connect(id(1), Channel::Election);
    let q12 = rx1.wait_up(id(2), Channel::Quorum).await;
    let q21 = rx2.wait_up(id(1), Channel::Quorum).await;
    let e12 = rx1.wait_up(id(2), Channel::Election).await;
    const N: u32 = 400;
    let sizes = |i: u32| (i as usize * 7919) % 70_000 + 4;
    let sender = {
        let tx1 = tx1.clone();
        tokio::spawn(async move {
            for i in 0..N {
                send(&tx1, q12, pattern(i, sizes(i))).await;
                // Election is latest-wins: frames may be dropped, never reordered.
                let _ = tx1.try_send(e12, pattern(i, 64));
            }
        })
    };
    let mut next_quorum = 0u32;
    let mut last_election: Option<u32> = None;
    let done = timeout(WAIT, async {
        while next_quorum < N {
            match rx2.next().await {
                Some(LinkEvent::Frame { link, frame }) if link == q21 => {
                    assert_eq!(
                        frame,
                        pattern(next_quorum, sizes(next_quorum)),
                        "quorum frame {next_quorum} whole and in order"
                    );
                    next_quorum += 1;
                }
                Some(LinkEvent::Frame { link, frame }) if link.channel == Channel::Election => {
                    let seq = u32::from_be_bytes(frame[..4].try_into().unwrap());
                    assert_eq!(frame, pattern(seq, 64), "election frame whole");
                    assert!(
                        last_election.is_none_or(|l| seq > l),
                        "election frames in order"
                    );
                    last_election = Some(seq);
                }
                Some(LinkEvent::Down { link, reason }) => {
                    panic!("link {link} went down mid-stream: {reason:?}")
                }
                Some(_) => {}
                None => panic!("inbound ended"),
            }
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "frames_arrive_whole_and_in_order: got {next_quorum} of {N} quorum frames"
    );
    sender.await.unwrap();
    tx1.shutdown().await;
    tx2.shutdown().await;
}

async fn too_large_frames_are_refused<H: Harness>(mut h: H) {
    let mut specs = ChannelSpecs::default();
    specs.quorum.max_frame = 1024;
    let ((tx1, mut rx1), (tx2, mut rx2)) = pair(&mut h, specs).await;
    tx1.connect(id(2), Channel::Quorum);
    let link = rx1.wait_up(id(2), Channel::Quorum).await;
    let at2 = rx2.wait_up(id(1), Channel::Quorum).await;
    let err = tx1
        .try_send(link, Bytes::from(vec![0u8; 1025]))
        .unwrap_err();
    assert_eq!(
        err,
        SendError::TooLarge {
            len: 1025,
            max: 1024
        },
        "too_large_frames_are_refused"
    );
    tx1.try_send(link, Bytes::from(vec![7u8; 1024])).unwrap();
    let ev = rx2
        .wait_for("the frame after a refused one", |e| {
            matches!(e, LinkEvent::Frame { .. } | LinkEvent::Down { .. })
        })
        .await;
    assert_eq!(
        ev,
        LinkEvent::Frame {
            link: at2,
            frame: Bytes::from(vec![7u8; 1024])
        },
        "link survives a refused frame"
    );
    tx1.shutdown().await;
    tx2.shutdown().await;
}

async fn close_reaches_the_peer_and_ends_the_incarnation<H: Harness>(mut h: H) {
    let ((tx1, mut rx1), (tx2, mut rx2)) = pair(&mut h, ChannelSpecs::default()).await;
    tx2.connect(id(1), Channel::Quorum);
    let at1 = rx1.wait_up(id(2), Channel::Quorum).await;
    let at2 = rx2.wait_up(id(1), Channel::Quorum).await;
    tx1.close(at1, DownReason::Protocol("test closes".into()));
    assert!(
        matches!(tx1.try_send(at1, Bytes::from_static(b"x")), Err(SendError::NotUp(l)) if l == at1),
        "NotUp on a closed link"
    );
    rx2.wait_for(
        "Down at the peer",
        |e| matches!(e, LinkEvent::Down { link, .. } if *link == at2),
    )
    .await;
    rx1.wait_for(
        "Down at the closing side",
        |e| matches!(e, LinkEvent::Down { link, .. } if *link == at1),
    )
    .await;
    // The peer still wants the link: a new incarnation follows, and nothing of the old one.
    let new1 = rx1.wait_up(id(2), Channel::Quorum).await;
    assert!(
        new1.incarnation > at1.incarnation,
        "a reconnect is a new incarnation"
    );
    let late = rx1.collect_quiet().await;
    assert!(
        late.iter().all(|e| e.link() != at1),
        "nothing of {at1} after its Down: {late:?}"
    );
    assert!(
        matches!(
            tx2.try_send(at2, Bytes::from_static(b"x")),
            Err(SendError::NotUp(_))
        ),
        "NotUp on the old incarnation"
    );
    tx1.shutdown().await;
    tx2.shutdown().await;
}

async fn reconnect_after_restart_is_a_new_incarnation<H: Harness>(mut h: H) {
    let specs = ChannelSpecs::default();
    let ((tx1, mut rx1), (tx2, rx2)) = pair(&mut h, specs).await;
    for ch in Channel::ALL {
        tx1.connect(id(2), ch);
    }
    let mut old = HashMap::new();
    for ch in Channel::ALL {
        old.insert(ch, rx1.wait_up(id(2), ch).await);
    }
    tx2.shutdown().await;
    drop(rx2);
    for ch in Channel::ALL {
        let old_link = old[&ch];
        rx1.wait_for(
            "Down when the peer stops",
            |e| matches!(e, LinkEvent::Down { link, .. } if *link == old_link),
        )
        .await;
    }
    let (tx2, mut rx2) = start(&mut h, 2, specs).await;
    for ch in Channel::ALL {
        let new = rx1.wait_up(id(2), ch).await;
        assert!(
            new.incarnation > old[&ch].incarnation,
            "reconnect_after_restart_is_a_new_incarnation"
        );
        assert!(matches!(
            tx1.try_send(old[&ch], Bytes::from_static(b"old")),
            Err(SendError::NotUp(_))
        ));
        let at2 = rx2.wait_up(id(1), ch).await;
        tx1.try_send(new, Bytes::from_static(b"new")).unwrap();
        let ev = rx2
            .wait_for("a frame on the new incarnation", |e| {
                matches!(e, LinkEvent::Frame { .. })
            })
            .await;
        assert_eq!(
            ev,
            LinkEvent::Frame {
                link: at2,
                frame: Bytes::from_static(b"new")
            }
        );
    }
    tx1.shutdown().await;
    tx2.shutdown().await;
}

async fn simultaneous_open_leaves_one_link<H: Harness>(mut h: H) {
    let ((tx1, mut rx1), (tx2, mut rx2)) = pair(&mut h, ChannelSpecs::default()).await;
    for ch in Channel::ALL {
        tx1.connect(id(2), ch);
        tx2.connect(id(1), ch);
    }
    let mut links1 = HashMap::new();
    let mut links2 = HashMap::new();
    for ch in Channel::ALL {
        links1.insert(ch, rx1.wait_up(id(2), ch).await);
        links2.insert(ch, rx2.wait_up(id(1), ch).await);
    }
    for (rx, side) in [(&mut rx1, 1), (&mut rx2, 2)] {
        let extra = rx.collect_quiet().await;
        let churn: Vec<_> = extra
            .iter()
            .filter(|e| !matches!(e, LinkEvent::Frame { .. }))
            .collect();
        assert!(
            churn.is_empty(),
            "simultaneous_open_leaves_one_link: node {side} saw {churn:?}"
        );
    }
    for ch in Channel::ALL {
        tx1.try_send(links1[&ch], Bytes::from_static(b"ping"))
            .unwrap();
        tx2.try_send(links2[&ch], Bytes::from_static(b"pong"))
            .unwrap();
        let got2 = rx2
            .wait_for("frame from 1", |e| matches!(e, LinkEvent::Frame { .. }))
            .await;
        let got1 = rx1
            .wait_for("frame from 2", |e| matches!(e, LinkEvent::Frame { .. }))
            .await;
        assert_eq!(
            got2,
            LinkEvent::Frame {
                link: links2[&ch],
                frame: Bytes::from_static(b"ping")
            }
        );
        assert_eq!(
            got1,
            LinkEvent::Frame {
                link: links1[&ch],
                frame: Bytes::from_static(b"pong")
            }
        );
    }
    tx1.shutdown().await;
    tx2.shutdown().await;
}

async fn full_queue_is_reported_and_other_peers_unaffected<H: Harness>(mut h: H) {
    let specs = ChannelSpecs {
        quorum: ChannelSpec {
            queue_frames: 4,
            queue_bytes: 1 << 20,
            max_frame: 64 * 1024,
            on_full: OnFull::Reject,
        },
        ..ChannelSpecs::default()
    };
    let ((tx1, mut rx1), (tx2, mut rx2)) = pair(&mut h, specs).await;
    let (tx3, mut rx3) = start(&mut h, 3, specs).await;
    tx1.connect(id(2), Channel::Quorum);
    tx1.connect(id(3), Channel::Quorum);
    let to2 = rx1.wait_up(id(2), Channel::Quorum).await;
    let to3 = rx1.wait_up(id(3), Channel::Quorum).await;
    rx2.wait_up(id(1), Channel::Quorum).await;
    let at3 = rx3.wait_up(id(1), Channel::Quorum).await;
    // Node 2 stops reading its inbound: its backlog must end in `Full`, not in memory growth.
    let big = Bytes::from(vec![1u8; 64 * 1024]);
    let mut full_after = None;
    for i in 0..200_000u32 {
        match tx1.try_send(to2, big.clone()) {
            Ok(()) => {
                if i % 16 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Err(SendError::Full(l)) => {
                assert_eq!(l, to2);
                full_after = Some(i);
                break;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(
        full_after.is_some(),
        "full_queue_is_reported: never Full after 200000 frames of 64 KiB"
    );
    // Another peer is unaffected by the stuck one.
    tx1.try_send(to3, Bytes::from_static(b"still flowing"))
        .unwrap();
    let ev = rx3
        .wait_for("a frame to the healthy peer", |e| {
            matches!(e, LinkEvent::Frame { .. })
        })
        .await;
    assert_eq!(
        ev,
        LinkEvent::Frame {
            link: at3,
            frame: Bytes::from_static(b"still flowing")
        }
    );
    // Once node 2 reads again, the queue drains and `ready` resolves.
    let drain = tokio::spawn(async move { while let Some(_ev) = rx2.next().await {} });
    timeout(WAIT, tx1.ready(to2))
        .await
        .expect("ready after the peer drains")
        .unwrap();
    tx1.shutdown().await;
    tx2.shutdown().await;
    tx3.shutdown().await;
    let _ = timeout(WAIT, drain).await;
}

async fn shutdown_is_clean<H: Harness>(mut h: H) {
    let specs = ChannelSpecs::default();
    let ((tx1, mut rx1), (tx2, mut rx2)) = pair(&mut h, specs).await;
    let (tx3, mut rx3) = start(&mut h, 3, specs).await;
    tx1.connect(id(2), Channel::Election);
    tx1.connect(id(3), Channel::Quorum);
    let l2 = rx2.wait_up(id(1), Channel::Election).await;
    let l3 = rx3.wait_up(id(1), Channel::Quorum).await;
    let to2 = rx1.wait_up(id(2), Channel::Election).await;
    tx1.shutdown().await;
    rx2.wait_for(
        "Down at node 2",
        |e| matches!(e, LinkEvent::Down { link, .. } if *link == l2),
    )
    .await;
    rx3.wait_for(
        "Down at node 3",
        |e| matches!(e, LinkEvent::Down { link, .. } if *link == l3),
    )
    .await;
    let ended = timeout(WAIT, async { while rx1.next().await.is_some() {} }).await;
    assert!(
        ended.is_ok(),
        "shutdown_is_clean: inbound of the stopped node never ended"
    );
    assert_eq!(
        tx1.try_send(to2, Bytes::from_static(b"x")),
        Err(SendError::Shutdown)
    );
    // The stopped node's addresses are free at once.
    let (tx1, mut rx1) = start(&mut h, 1, specs).await;
    tx1.connect(id(2), Channel::Election);
    rx1.wait_up(id(2), Channel::Election).await;
    tx1.shutdown().await;
    tx2.shutdown().await;
    tx3.shutdown().await;
}
