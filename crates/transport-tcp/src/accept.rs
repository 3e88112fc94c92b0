//! Accepting: one listener per channel, the handshake within its time limit, then the stream
//! goes to the kit, which applies the survivor rule.

use crate::handshake;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use zk_transport::streams::{Connector, Opened, StreamHandle};
use zk_transport::{Authn, Channel, PeerId};

/// How many accepted connections may be waiting for their handshake at once; more are closed
/// at once, so a flood of silent sockets cannot exhaust the node.
pub(crate) const MAX_PENDING_HANDSHAKES: usize = 64;

/// Accept connections on `listener` for `channel` until the node shuts down.
pub(crate) fn serve<C: Connector>(
    handle: &StreamHandle<C>,
    channel: Channel,
    listener: TcpListener,
    handshake_timeout: Duration,
) {
    let permits = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    let node = handle.clone();
    handle.spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = node.cancelled() => break,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, remote)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::warn!(%remote, ?channel, "refusing connection: {MAX_PENDING_HANDSHAKES} connections are already awaiting their handshake");
                        continue;
                    };
                    let n = node.clone();
                    node.spawn(async move {
                        handshake_then_hand_over(&n, channel, stream, remote, handshake_timeout).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(?channel, "accept failed: {e}");
                    tokio::select! {
                        () = node.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
        }
        drop(listener);
    });
}

async fn handshake_then_hand_over<C: Connector>(
    node: &StreamHandle<C>,
    channel: Channel,
    mut stream: TcpStream,
    remote: SocketAddr,
    limit: Duration,
) {
    let _ = stream.set_nodelay(true);
    let hs = tokio::select! {
        () = node.cancelled() => return,
        r = tokio::time::timeout(limit, handshake::read(&mut stream)) => r,
    };
    let refuse = |why: String| {
        tracing::warn!(%remote, ?channel, "refusing connection: {why}");
    };
    let hs = match hs {
        Err(_) => return refuse(format!("no handshake within {limit:?}")),
        Ok(Err(e)) => return refuse(e.to_string()),
        Ok(Ok(hs)) => hs,
    };
    tracing::trace!(%remote, ?channel, sid = hs.sid, addr = %hs.addr, "handshake");
    let (rd, wr) = stream.into_split();
    node.accepted(
        PeerId(hs.sid),
        channel,
        Opened {
            reader: Box::new(rd),
            writer: Box::new(wr),
            remote: remote.to_string(),
            authn: Authn::Declared,
        },
    );
}
