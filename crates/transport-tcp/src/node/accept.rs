//! Accepting: one listener per channel, the handshake check, and the rule that only a larger
//! id's connection is kept.

use super::{MAX_PENDING_HANDSHAKES, Node};
use crate::handshake;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use zk_transport::{Channel, PeerId};

impl Node {
    pub(crate) fn serve(self: &Arc<Self>, channel: Channel, listener: TcpListener) {
        let node = self.clone();
        self.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = node.shutdown.cancelled() => break,
                    r = listener.accept() => r,
                };
                match accepted {
                    Ok((stream, remote)) => {
                        let Ok(permit) = node.handshakes.clone().try_acquire_owned() else {
                            tracing::warn!(%remote, ?channel, "refusing connection: {MAX_PENDING_HANDSHAKES} connections are already awaiting their handshake");
                            continue;
                        };
                        let n = node.clone();
                        node.spawn(async move {
                            n.accepted(channel, stream, remote).await;
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        tracing::warn!(?channel, "accept failed: {e}");
                        tokio::select! {
                            () = node.shutdown.cancelled() => break,
                            () = tokio::time::sleep(Duration::from_millis(100)) => {}
                        }
                    }
                }
            }
            drop(listener);
        });
    }

    async fn accepted(
        self: Arc<Self>,
        channel: Channel,
        mut stream: TcpStream,
        remote: SocketAddr,
    ) {
        let _ = stream.set_nodelay(true);
        let limit = self.cfg.handshake_timeout;
        let hs = tokio::select! {
            () = self.shutdown.cancelled() => return,
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
        let peer = PeerId(hs.sid);
        if peer == self.me {
            return refuse(format!(
                "it claims our own id {peer} (two servers configured with the same id?)"
            ));
        }
        if !self.cfg.peers.contains_key(&peer) {
            return refuse(format!("server id {peer} is not in the peer table"));
        }
        if peer < self.me {
            // ZooKeeper: the smaller id's connection never survives; close it and dial back.
            tracing::debug!(%remote, ?channel, %peer, addr = %hs.addr, "prompt from a smaller id; dialing back");
            drop(stream);
            self.answer_prompt((peer, channel));
            return;
        }
        self.install((peer, channel), stream, remote);
    }
}
