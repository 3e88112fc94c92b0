//! Accepting: one listener per channel, the handshake within its time limit, then the stream
//! goes to the kit, which applies the survivor rule.

use crate::handshake;
use crate::tls::Tls;
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
    tls: Option<Tls>,
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
                    let tls = tls.clone();
                    node.spawn(async move {
                        handshake_then_hand_over(&n, channel, stream, remote, handshake_timeout, tls).await;
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
    stream: TcpStream,
    remote: SocketAddr,
    limit: Duration,
    tls: Option<Tls>,
) {
    let _ = stream.set_nodelay(true);
    let refuse = |why: String| {
        tracing::warn!(%remote, ?channel, "refusing connection: {why}");
    };
    // The TLS and ZooKeeper handshakes together must finish within the limit.
    let shaken = tokio::select! {
        () = node.cancelled() => return,
        r = tokio::time::timeout(limit, handshakes(stream, tls.as_ref())) => r,
    };
    let (sid, opened) = match shaken {
        Err(_) => return refuse(format!("no handshake within {limit:?}")),
        Ok(Err(why)) => return refuse(why),
        Ok(Ok(done)) => done,
    };
    node.accepted(
        PeerId(sid),
        channel,
        Opened {
            remote: remote.to_string(),
            ..opened
        },
    );
}

/// TLS (with `sslQuorum`), then ZooKeeper's handshake; the declared id, checked against the
/// certificate under TLS.
async fn handshakes(mut stream: TcpStream, tls: Option<&Tls>) -> Result<(u64, Opened), String> {
    let Some(tls) = tls else {
        let hs = handshake::read(&mut stream)
            .await
            .map_err(|e| e.to_string())?;
        tracing::trace!(sid = hs.sid, addr = %hs.addr, "handshake");
        let (rd, wr) = stream.into_split();
        return Ok((
            hs.sid,
            Opened {
                reader: Box::new(rd),
                writer: Box::new(wr),
                remote: String::new(),
                authn: Authn::Declared,
            },
        ));
    };
    let mut stream = tls.accept(stream).await?;
    let hs = handshake::read(&mut stream)
        .await
        .map_err(|e| e.to_string())?;
    let certs = stream.get_ref().1.peer_certificates().unwrap_or_default();
    let (peer, name) = tls
        .store
        .identify(certs, Some(PeerId(hs.sid)))
        .map_err(|e| e.to_string())?;
    let (reader, writer) = crate::tls::halves(stream);
    Ok((
        peer.0,
        Opened {
            reader,
            writer,
            remote: String::new(),
            authn: Authn::Certificate { name },
        },
    ))
}
