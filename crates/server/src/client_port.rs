//! The client port: ZooKeeper's client protocol ([`crate::client::conn`]) and the
//! four-letter words, told apart by a connection's first four bytes as ZooKeeper does.

use crate::client::{ClientContext, conn};
use crate::config::Whitelist;
use crate::fourlw;
use crate::status::{Counters, Status};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a new connection may take to send its first four bytes.
const FIRST_BYTES: Duration = Duration::from_secs(5);

/// What every client connection needs.
#[derive(Debug)]
pub struct ClientPort {
    /// `4lw.commands.whitelist`.
    pub whitelist: Whitelist,
    /// The server's current role.
    pub status: watch::Receiver<Status>,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// `maxClientCnxns` per client IP (0 = unlimited).
    pub max_per_ip: u32,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    /// The client protocol; `None` answers four-letter words only.
    client: Option<Arc<ClientContext>>,
}

impl ClientPort {
    /// State for a client listener.
    pub fn new(
        whitelist: Whitelist,
        status: watch::Receiver<Status>,
        max_per_ip: u32,
        counters: Arc<Counters>,
        client: Option<Arc<ClientContext>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            whitelist,
            status,
            counters,
            max_per_ip,
            per_ip: Mutex::new(HashMap::new()),
            client,
        })
    }

    /// Accept connections until `stop` turns true.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let this = self.clone();
                        tokio::spawn(async move { this.connection(stream, peer).await });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: keep serving the others.
                        tracing::warn!(error = %e, "accept on the client port failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }

    fn admit(&self, ip: IpAddr) -> bool {
        let mut m = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if self.max_per_ip != 0 && *n >= self.max_per_ip {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self, ip: IpAddr) {
        let mut m = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }

    async fn connection(&self, stream: TcpStream, peer: SocketAddr) {
        if !self.admit(peer.ip()) {
            tracing::warn!(%peer, max = self.max_per_ip, "too many connections from this address (maxClientCnxns); closing");
            return;
        }
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        self.handle(stream, peer).await;
        self.counters.connections.fetch_sub(1, Ordering::Relaxed);
        self.release(peer.ip());
    }

    async fn handle(&self, mut stream: TcpStream, peer: SocketAddr) {
        let mut first = [0u8; 4];
        match tokio::time::timeout(FIRST_BYTES, stream.read_exact(&mut first)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return tracing::debug!(%peer, error = %e, "client left before sending a request");
            }
            Err(_) => {
                return tracing::debug!(%peer, "client sent nothing within {FIRST_BYTES:?}; closing");
            }
        }
        let Some(cmd) = fourlw::parse(&first) else {
            match &self.client {
                Some(ctx) => conn::serve(ctx.clone(), stream, peer, first).await,
                None => {
                    tracing::info!(%peer, "a client-protocol connection on a port without it; closing")
                }
            }
            return;
        };
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        // `stmk` carries the new trace mask in the 8 bytes after the word; without them
        // ZooKeeper closes the connection unanswered.
        let mut trace_mask = None;
        if cmd == "stmk" && self.whitelist.allows(cmd) {
            let mut mask = [0u8; 8];
            match tokio::time::timeout(FIRST_BYTES, stream.read_exact(&mut mask)).await {
                Ok(Ok(_)) => trace_mask = Some(u64::from_be_bytes(mask)),
                _ => return tracing::debug!(%peer, "stmk without its 8-byte mask; closing"),
            }
        }
        let mut status = self.status.borrow().clone();
        if let Some(ctx) = &self.client {
            // The role's status changes rarely; the applied zxid with every txn.
            status.zxid = status.zxid.max(ctx.shared.tree().last_applied());
        }
        let (whitelist, counters, client) = (
            self.whitelist.clone(),
            self.counters.clone(),
            self.client.clone(),
        );
        // The answer reads locks, /proc and the data directories: off the async workers.
        let reply = tokio::task::spawn_blocking(move || {
            fourlw::answer(
                cmd,
                &fourlw::Query {
                    whitelist: &whitelist,
                    status: &status,
                    counters: &counters,
                    client: client.as_deref(),
                    peer,
                    trace_mask,
                },
            )
        })
        .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                return tracing::warn!(%peer, cmd, error = %e, "answering a four-letter word failed");
            }
        };
        tracing::info!(%peer, cmd, "four-letter word");
        if let Err(e) = stream.write_all(reply.as_bytes()).await {
            return tracing::debug!(%peer, error = %e, "could not write the answer");
        }
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        let _ = stream.shutdown().await;
    }
}
