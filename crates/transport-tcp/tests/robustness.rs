//! Hostile and broken connections against real nodes: each is closed and logged, and an
//! established link between two real nodes keeps working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{TcpHarness, capture_logs, free_addrs, log_lines};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use zk_transport::testing::Harness;
use zk_transport::{
    Channel, ChannelSpecs, DownReason, Inbound, LinkEvent, LinkId, PeerId, SendError, StartError,
    Transport,
};
use zk_transport_tcp::{PeerAddrs, TcpBackend, TcpConfig, TcpInbound, TcpTransport};

const WAIT: Duration = Duration::from_secs(10);

async fn next_matching(
    rx: &mut TcpInbound,
    what: &str,
    mut pred: impl FnMut(&LinkEvent) -> bool,
) -> LinkEvent {
    timeout(WAIT, async {
        loop {
            match rx.next().await {
                Some(ev) if pred(&ev) => return ev,
                Some(_) => {}
                None => panic!("inbound ended while waiting for {what}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        let logs = log_lines(&[]);
        let tail = &logs[logs.len().saturating_sub(40)..];
        panic!(
            "timed out waiting for {what}; last log lines:\n{}",
            tail.join("\n")
        )
    })
}

async fn up(rx: &mut TcpInbound, peer: u64, channel: Channel) -> LinkId {
    next_matching(rx, "Up", |e| {
        matches!(e, LinkEvent::Up { link, .. } if link.peer == PeerId(peer) && link.channel == channel)
    })
    .await
    .link()
}

/// The Ups of `peer` on both channels, in whatever order they come.
async fn both_ups(rx: &mut TcpInbound, peer: u64) -> std::collections::HashMap<Channel, LinkId> {
    let mut ups = std::collections::HashMap::new();
    while ups.len() < 2 {
        let l = next_matching(
            rx,
            "Up",
            |e| matches!(e, LinkEvent::Up { link, .. } if link.peer == PeerId(peer)),
        )
        .await
        .link();
        ups.insert(l.channel, l);
    }
    ups
}

/// Two real nodes (1 and 2) with a quorum link between them.
struct Pair {
    h: TcpHarness,
    tx1: TcpTransport,
    rx1: TcpInbound,
    tx2: TcpTransport,
    rx2: TcpInbound,
    l12: LinkId,
    l21: LinkId,
}

impl Pair {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl Fn(&mut TcpConfig)) -> Self {
        capture_logs();
        let h = TcpHarness::new();
        let mut c1 = h.config(PeerId(1), ChannelSpecs::default());
        tweak(&mut c1);
        let mut c2 = h.config(PeerId(2), ChannelSpecs::default());
        tweak(&mut c2);
        let (tx1, mut rx1) = TcpBackend::start(c1).await.unwrap();
        let (tx2, mut rx2) = TcpBackend::start(c2).await.unwrap();
        tx1.connect(PeerId(2), Channel::Quorum);
        let l12 = up(&mut rx1, 2, Channel::Quorum).await;
        let l21 = up(&mut rx2, 1, Channel::Quorum).await;
        Self {
            h,
            tx1,
            rx1,
            tx2,
            rx2,
            l12,
            l21,
        }
    }

    fn addr(&self, id: u64, channel: Channel) -> String {
        self.h.peers[&PeerId(id)].get(channel).to_owned()
    }

    /// The established link still carries frames both ways.
    async fn still_works(&mut self, tag: &str) {
        let frame = Bytes::from(format!("still up after {tag}"));
        self.tx1.try_send(self.l12, frame.clone()).unwrap();
        let got = next_matching(&mut self.rx2, "frame 1->2", |e| {
            matches!(e, LinkEvent::Frame { .. } | LinkEvent::Down { .. })
        })
        .await;
        assert_eq!(
            got,
            LinkEvent::Frame {
                link: self.l21,
                frame: frame.clone()
            },
            "{tag}"
        );
        self.tx2.try_send(self.l21, frame.clone()).unwrap();
        let got = next_matching(&mut self.rx1, "frame 2->1", |e| {
            matches!(e, LinkEvent::Frame { .. } | LinkEvent::Down { .. })
        })
        .await;
        assert_eq!(
            got,
            LinkEvent::Frame {
                link: self.l12,
                frame
            },
            "{tag}"
        );
    }

    async fn stop(self) {
        self.tx1.shutdown().await;
        self.tx2.shutdown().await;
    }
}

fn handshake(version: i64, sid: i64, addr: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&version.to_be_bytes());
    v.extend_from_slice(&sid.to_be_bytes());
    v.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    v.extend_from_slice(addr);
    v
}

/// Connect to `addr`, send `bytes`, and return once the node has closed the connection (and
/// the local address the node saw, to find its log line).
async fn send_and_expect_close(addr: &str, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let me = s.local_addr().unwrap().to_string();
    // The node may close before reading everything; a failed write is fine.
    let _ = s.write_all(bytes).await;
    let mut buf = [0u8; 256];
    let closed = timeout(WAIT, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the node kept the connection from {me} open"
    );
    me
}

/// The warn line about `remote`, which must contain `reason`.
async fn assert_logged(remote: &str, reason: &str) {
    // The log line is written just before the socket is dropped; give it a moment anyway.
    for _ in 0..50 {
        if !log_lines(&["WARN", remote, reason]).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no WARN line naming {remote} and {reason:?}; lines naming it: {:?}",
        log_lines(&[remote])
    );
}

#[tokio::test]
async fn garbage_is_refused() {
    let mut p = Pair::start().await;
    let addr = p.addr(2, Channel::Quorum);
    let me = send_and_expect_close(&addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_logged(&me, "unsupported protocol version").await;
    p.still_works("garbage").await;
    p.stop().await;
}

#[tokio::test]
async fn bad_version_is_refused() {
    let mut p = Pair::start().await;
    let addr = p.addr(1, Channel::Election);
    // A pre-3.5 style handshake: the first long is the sid.
    let me = send_and_expect_close(&addr, &handshake(3, 3, b"127.0.0.1:1")).await;
    assert_logged(&me, "unsupported protocol version 3").await;
    p.still_works("a bad version").await;
    p.stop().await;
}

#[tokio::test]
async fn unknown_and_own_ids_are_refused() {
    let mut p = Pair::start().await;
    let addr = p.addr(2, Channel::Quorum);
    let me = send_and_expect_close(&addr, &handshake(-65536, 99, b"127.0.0.1:1")).await;
    assert_logged(&me, "server id 99 is not in the peer table").await;
    let me = send_and_expect_close(&addr, &handshake(-65536, 2, b"127.0.0.1:1")).await;
    assert_logged(&me, "claims our own id 2").await;
    let me = send_and_expect_close(&addr, &handshake(-65536, -7, b"127.0.0.1:1")).await;
    assert_logged(&me, "invalid server id -7").await;
    p.still_works("unknown ids").await;
    p.stop().await;
}

#[tokio::test]
async fn bad_address_lengths_are_refused() {
    let mut p = Pair::start().await;
    let addr = p.addr(1, Channel::Quorum);
    for len in [4096i32, 0, -1] {
        let mut hs = Vec::new();
        hs.extend_from_slice(&(-65536i64).to_be_bytes());
        hs.extend_from_slice(&3i64.to_be_bytes());
        hs.extend_from_slice(&len.to_be_bytes());
        let me = send_and_expect_close(&addr, &hs).await;
        assert_logged(&me, &format!("invalid address length {len}")).await;
    }
    p.still_works("bad address lengths").await;
    p.stop().await;
}

#[tokio::test]
async fn silent_and_truncated_handshakes_time_out_or_close() {
    let mut p = Pair::start_with(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    let addr = p.addr(2, Channel::Election);
    let me = send_and_expect_close(&addr, b"").await;
    assert_logged(&me, "no handshake within 300ms").await;
    // Half a handshake, then silence.
    let me = send_and_expect_close(&addr, &handshake(-65536, 3, b"127.0.0.1:1")[..12]).await;
    assert_logged(&me, "no handshake within").await;
    p.still_works("silent sockets").await;
    p.stop().await;
}

#[tokio::test]
async fn oversized_and_negative_frames_close_only_their_link() {
    let mut p = Pair::start().await;
    // A raw client that shakes hands as server 3 (larger than 1, so node 1 accepts it).
    for (len, reason) in [
        (
            512 * 1024 + 1i32,
            "frame of 524289 bytes exceeds the 524288-byte limit of the Election channel",
        ),
        (-5, "invalid frame length -5"),
    ] {
        let addr = p.addr(1, Channel::Election);
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(&handshake(
            -65536,
            3,
            p.addr(3, Channel::Election).as_bytes(),
        ))
        .await
        .unwrap();
        let l13 = up(&mut p.rx1, 3, Channel::Election).await;
        // One good frame first: it arrives whole.
        s.write_all(&[0, 0, 0, 2, b'o', b'k']).await.unwrap();
        let ev = next_matching(&mut p.rx1, "frame from 3", |e| e.link() == l13).await;
        assert_eq!(
            ev,
            LinkEvent::Frame {
                link: l13,
                frame: Bytes::from_static(b"ok")
            }
        );
        let _ = s.write_all(&len.to_be_bytes()).await;
        let ev = next_matching(&mut p.rx1, "Down from 3", |e| e.link() == l13).await;
        assert_eq!(
            ev,
            LinkEvent::Down {
                link: l13,
                reason: DownReason::Protocol(reason.into())
            }
        );
        let mut buf = [0u8; 16];
        let closed = timeout(WAIT, s.read(&mut buf))
            .await
            .expect("socket closed");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        assert!(
            !log_lines(&["WARN", &l13.to_string(), reason]).is_empty(),
            "warn line for {l13}"
        );
        assert_eq!(
            p.tx1.try_send(l13, Bytes::new()),
            Err(SendError::NotUp(l13))
        );
    }
    p.still_works("oversized frames").await;
    p.stop().await;
}

#[tokio::test]
async fn a_larger_id_reconnecting_supersedes_its_old_link() {
    let mut p = Pair::start().await;
    let addr = p.addr(1, Channel::Quorum);
    let hello = handshake(-65536, 3, p.addr(3, Channel::Quorum).as_bytes());
    let mut first = TcpStream::connect(&addr).await.unwrap();
    first.write_all(&hello).await.unwrap();
    let old = up(&mut p.rx1, 3, Channel::Quorum).await;
    let mut second = TcpStream::connect(&addr).await.unwrap();
    second.write_all(&hello).await.unwrap();
    // The old incarnation goes down before the new one comes up.
    let ev = next_matching(&mut p.rx1, "events of server 3", |e| {
        e.link().peer == PeerId(3)
    })
    .await;
    assert_eq!(
        ev,
        LinkEvent::Down {
            link: old,
            reason: DownReason::Superseded
        }
    );
    let new = up(&mut p.rx1, 3, Channel::Quorum).await;
    assert!(new.incarnation > old.incarnation);
    let mut buf = [0u8; 16];
    assert!(matches!(
        timeout(WAIT, first.read(&mut buf)).await.unwrap(),
        Ok(0) | Err(_)
    ));
    // Frames to the new incarnation reach the new socket, length-prefixed.
    p.tx1.try_send(new, Bytes::from_static(b"hi")).unwrap();
    let mut got = [0u8; 6];
    timeout(WAIT, second.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, &[0, 0, 0, 2, b'h', b'i']);
    p.still_works("a superseded link").await;
    p.stop().await;
}

#[tokio::test]
async fn handshake_on_the_wire_is_zookeepers() {
    capture_logs();
    // Node 3 dials a fake node 1 (a plain listener); it must send the V1 handshake first.
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = TcpHarness::new();
    let mut peers = h.peers.clone();
    peers.insert(
        PeerId(1),
        PeerAddrs::new(fake.local_addr().unwrap(), fake.local_addr().unwrap()),
    );
    let mut cfg = TcpConfig::new(PeerId(3), peers.clone());
    cfg.channels = ChannelSpecs::default();
    let (tx3, _rx3) = TcpBackend::start(cfg).await.unwrap();
    tx3.connect(PeerId(1), Channel::Quorum);
    let (mut s, _) = timeout(WAIT, fake.accept()).await.unwrap().unwrap();
    let own = peers[&PeerId(3)].quorum.clone();
    let mut got = vec![0u8; 20 + own.len()];
    timeout(WAIT, s.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, handshake(-65536, 3, own.as_bytes()));
    tx3.shutdown().await;
}

#[tokio::test]
async fn hostnames_resolve_at_dial_time() {
    capture_logs();
    let a = free_addrs(4);
    let peers: BTreeMap<PeerId, PeerAddrs> = (1..=2u64)
        .zip(a.chunks(2))
        .map(|(i, p)| {
            let (e, q) = (p[0].port(), p[1].port());
            (
                PeerId(i),
                PeerAddrs::new(format!("localhost:{e}"), format!("localhost:{q}")),
            )
        })
        .collect();
    let (tx1, mut rx1) = TcpBackend::start(TcpConfig::new(PeerId(1), peers.clone()))
        .await
        .unwrap();
    let (tx2, mut rx2) = TcpBackend::start(TcpConfig::new(PeerId(2), peers))
        .await
        .unwrap();
    for ch in Channel::ALL {
        tx1.connect(PeerId(2), ch);
    }
    let ups1 = both_ups(&mut rx1, 2).await;
    let ups2 = both_ups(&mut rx2, 1).await;
    for ch in Channel::ALL {
        let (l12, l21) = (ups1[&ch], ups2[&ch]);
        tx1.try_send(l12, Bytes::from_static(b"by name")).unwrap();
        let ev = next_matching(&mut rx2, "frame", |e| matches!(e, LinkEvent::Frame { .. })).await;
        assert_eq!(
            ev,
            LinkEvent::Frame {
                link: l21,
                frame: Bytes::from_static(b"by name")
            }
        );
    }
    tx1.shutdown().await;
    tx2.shutdown().await;
}

#[tokio::test]
async fn listen_on_all_ips_binds_the_unspecified_address() {
    let p = Pair::start_with(|c| c.listen_on_all_ips = true).await;
    assert!(p.tx1.local_addr(Channel::Quorum).ip().is_unspecified());
    assert_eq!(
        p.tx1
            .local_addr(Channel::Quorum)
            .to_string()
            .rsplit(':')
            .next(),
        p.addr(1, Channel::Quorum).rsplit(':').next()
    );
    p.stop().await;
}

#[tokio::test]
async fn start_errors() {
    capture_logs();
    let h = TcpHarness::new();
    let err = TcpBackend::start(TcpConfig::new(PeerId(9), h.peers.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, StartError::Config(_)), "{err}");
    let (tx1, _rx1) = TcpBackend::start(h.config(PeerId(1), ChannelSpecs::default()))
        .await
        .unwrap();
    let err = TcpBackend::start(h.config(PeerId(1), ChannelSpecs::default()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StartError::Bind {
                channel: Channel::Election,
                ..
            }
        ),
        "{err}"
    );
    tx1.shutdown().await;
    let mut specs = ChannelSpecs::default();
    specs.quorum.max_frame = usize::MAX;
    let err = TcpBackend::start(h.config(PeerId(2), specs))
        .await
        .unwrap_err();
    assert!(matches!(err, StartError::Config(_)), "{err}");
    let mut cfg = h.config(PeerId(2), ChannelSpecs::default());
    cfg.backoff.initial = Duration::ZERO;
    let err = TcpBackend::start(cfg).await.unwrap_err();
    assert!(matches!(err, StartError::Config(_)), "{err}");
    let mut peers = h.peers.clone();
    peers.insert(PeerId(u64::MAX), h.peers[&PeerId(3)].clone());
    let err = TcpBackend::start(TcpConfig::new(PeerId(u64::MAX), peers)).await;
    assert!(matches!(err, Err(StartError::Config(_))));
}

#[tokio::test]
async fn a_stalled_reader_pushes_back_to_the_sender() {
    // Node 2 reads nothing: with a tiny inbound queue the chain inbound -> socket -> sender's
    // queue fills, `ready` stops resolving, and memory stays bounded.
    let mut p = Pair::start_with(|c| c.inbound_capacity = 4).await;
    let frame = Bytes::from(vec![5u8; 256 * 1024]);
    let mut sent = 0u64;
    loop {
        match timeout(Duration::from_secs(2), p.tx1.ready(p.l12)).await {
            Ok(r) => r.unwrap(),
            Err(_) => break,
        }
        match p.tx1.try_send(p.l12, frame.clone()) {
            Ok(()) => sent += 1,
            Err(SendError::Full(_)) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(
            sent < 20_000,
            "no backpressure after {sent} frames of 256 KiB"
        );
    }
    // Now drain node 2 and count: every frame arrives, in order, none lost.
    let mut got = 0u64;
    let tx1 = p.tx1.clone();
    let l12 = p.l12;
    let last = tokio::spawn(async move {
        tx1.ready(l12).await.unwrap();
        tx1.try_send(l12, Bytes::from_static(b"last")).unwrap();
    });
    loop {
        let ev = next_matching(&mut p.rx2, "frames", |e| {
            matches!(e, LinkEvent::Frame { .. } | LinkEvent::Down { .. })
        })
        .await;
        match ev {
            LinkEvent::Frame { frame, .. } if frame == "last" => break,
            LinkEvent::Frame { frame, .. } => {
                assert_eq!(frame.len(), 256 * 1024);
                got += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, sent);
    last.await.unwrap();
    p.still_works("backpressure").await;
    p.stop().await;
}

#[tokio::test]
async fn a_prompt_from_a_smaller_id_gets_a_dial_back() {
    capture_logs();
    let mut h = TcpHarness::new();
    let (tx3, mut rx3) = h.start(PeerId(3), ChannelSpecs::default()).await;
    // Node 1 does not run: its address is a plain listener that records node 3 dialing back.
    let fake = tokio::net::TcpListener::bind(h.peers[&PeerId(1)].election.as_str())
        .await
        .unwrap();
    let mut s = TcpStream::connect(h.peers[&PeerId(3)].election.as_str())
        .await
        .unwrap();
    s.write_all(&handshake(
        -65536,
        1,
        h.peers[&PeerId(1)].election.as_bytes(),
    ))
    .await
    .unwrap();
    // Node 3 closes the prompt and dials back; it never reports Up for the prompt itself.
    let mut buf = [0u8; 4];
    assert!(matches!(
        timeout(WAIT, s.read(&mut buf)).await.unwrap(),
        Ok(0) | Err(_)
    ));
    let (mut back, _) = timeout(WAIT, fake.accept()).await.unwrap().unwrap();
    let mut got = [0u8; 16];
    back.read_exact(&mut got).await.unwrap();
    assert_eq!(&got[..8], &(-65536i64).to_be_bytes());
    assert_eq!(&got[8..], &3i64.to_be_bytes());
    // The dial-back is node 3's link to 1.
    let l31 = up(&mut rx3, 1, Channel::Election).await;
    back.write_all(&[0, 0, 0, 0]).await.unwrap();
    let ev = next_matching(&mut rx3, "empty frame", |e| {
        matches!(e, LinkEvent::Frame { .. })
    })
    .await;
    assert_eq!(
        ev,
        LinkEvent::Frame {
            link: l31,
            frame: Bytes::new()
        }
    );
    tx3.shutdown().await;
}

#[tokio::test]
async fn close_and_send_after_shutdown() {
    let mut p = Pair::start().await;
    p.tx1.close(p.l12, DownReason::Closed);
    let ev = next_matching(&mut p.rx1, "Down", |e| matches!(e, LinkEvent::Down { .. })).await;
    assert_eq!(
        ev,
        LinkEvent::Down {
            link: p.l12,
            reason: DownReason::Closed
        }
    );
    // Node 1 still wants the link: it comes back as a new incarnation on both sides.
    let again = up(&mut p.rx1, 2, Channel::Quorum).await;
    assert!(again.incarnation > p.l12.incarnation);
    p.tx1.shutdown().await;
    assert_eq!(
        p.tx1.try_send(again, Bytes::new()),
        Err(SendError::Shutdown)
    );
    assert_eq!(p.tx1.ready(again).await, Err(SendError::Shutdown));
    assert!(p.rx1.next().await.is_none());
    // Connect after shutdown is a no-op.
    p.tx1.connect(PeerId(3), Channel::Election);
    p.tx2.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_hangs_up_at_once_is_redialed_with_backoff() {
    capture_logs();
    // "Node 1" accepts every connection and closes it right away: node 3's links come up (its
    // handshake is written) and go down at once; the redials must back off, not spin.
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = TcpHarness::new();
    let mut peers = h.peers.clone();
    let fake_addr = fake.local_addr().unwrap();
    peers.insert(PeerId(1), PeerAddrs::new(fake_addr, fake_addr));
    let (tx3, mut rx3) = TcpBackend::start(TcpConfig::new(PeerId(3), peers))
        .await
        .unwrap();
    tx3.connect(PeerId(1), Channel::Quorum);
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        loop {
            let (s, _) = fake.accept().await.unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(s);
        }
    });
    let events = tokio::spawn(async move {
        let mut downs = 0;
        while let Some(ev) = rx3.next().await {
            if matches!(ev, LinkEvent::Down { .. }) {
                downs += 1;
            }
        }
        downs
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = accepted.load(std::sync::atomic::Ordering::Relaxed);
    // 50 ms doubling (with 50-100 % jitter) fits at most ~8 attempts in 1.5 s.
    assert!((2..=10).contains(&n), "{n} connections in 1.5 s");
    tx3.shutdown().await;
    server.abort();
    let downs = events.await.unwrap();
    assert!(
        downs >= 1 && downs <= n,
        "{downs} Downs for {n} connections"
    );
}
