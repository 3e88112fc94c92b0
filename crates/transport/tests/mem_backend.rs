//! Duties of the in-memory backend beyond the conformance suite.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use std::time::Duration;
use tokio::time::timeout;
use zk_transport::mem::{MemInbound, MemNetwork};
use zk_transport::{
    Channel, ChannelSpecs, DownReason, Inbound, LinkEvent, LinkId, PeerId, Transport,
};

async fn next(rx: &mut MemInbound) -> LinkEvent {
    timeout(Duration::from_secs(5), rx.next())
        .await
        .expect("an event within 5 s")
        .expect("inbound still open")
}

async fn up(rx: &mut MemInbound) -> LinkId {
    match next(rx).await {
        LinkEvent::Up { link, .. } => link,
        other => panic!("expected Up, got {other:?}"),
    }
}

/// Regression: `connect` and `close` spawned on the caller's runtime, so calling them from a
/// thread outside tokio (the transport is `Send + Sync`) panicked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_close_work_from_threads_outside_the_runtime() {
    let net = MemNetwork::new().with_retry(Duration::from_millis(10));
    let (tx1, mut rx1) = net.start(PeerId(1), ChannelSpecs::default());
    let (_tx2, mut rx2) = net.start(PeerId(2), ChannelSpecs::default());
    let t = tx1.clone();
    std::thread::spawn(move || t.connect(PeerId(2), Channel::Quorum))
        .join()
        .expect("connect from a plain thread");
    let at1 = up(&mut rx1).await;
    let at2 = up(&mut rx2).await;
    let t = tx1.clone();
    std::thread::spawn(move || t.try_send(at1, Bytes::from_static(b"x")))
        .join()
        .expect("send from a plain thread")
        .expect("send");
    // Wait for the frame first: closing discards whatever is still queued.
    assert!(matches!(next(&mut rx2).await, LinkEvent::Frame { link, .. } if link == at2));
    let t = tx1.clone();
    std::thread::spawn(move || t.close(at1, DownReason::Closed))
        .join()
        .expect("close from a plain thread");
    assert!(matches!(next(&mut rx2).await, LinkEvent::Down { link, .. } if link == at2));
    // Still wanted: the retry (also spawned off-runtime) brings a new incarnation.
    assert!(up(&mut rx2).await.incarnation > at2.incarnation);
}
