//! Dialing: one QUIC connection per peer, a new bidirectional stream per link, and the
//! connection bookkeeping both directions share.

use crate::header::{self, Header};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use zk_tls::TlsStore;
use zk_transport::streams::{Connector, Opened, Purpose};
use zk_transport::{Authn, Channel, PeerId};

/// Application close codes.
pub(crate) mod code {
    /// The node shuts down.
    pub(crate) const SHUTDOWN: u32 = 0;
    /// A newer connection from the same server replaced this one.
    pub(crate) const SUPERSEDED: u32 = 1;
    /// The prompt on this connection was read; the answer comes on our own connection.
    pub(crate) const PROMPT_ANSWERED: u32 = 2;
    /// The peer prompted on a fresh connection, so it no longer has this one.
    pub(crate) const ABANDONED: u32 = 3;
    /// The peer broke the stream rules or its certificate names another server.
    pub(crate) const REFUSED: u32 = 4;
}

/// An outbound connection younger than this is never taken for abandoned: the peer may not
/// have seen its handshake complete when it prompted.
const ABANDON_GRACE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Conns {
    /// Connections this node dialed, and when.
    outbound: HashMap<PeerId, (quinn::Connection, Instant)>,
    /// The newest connection each larger id dialed to us.
    inbound: HashMap<PeerId, quinn::Connection>,
}

/// How a QUIC node dials its peers (the [`Connector`] behind [`crate::QuicTransport`]).
pub struct QuicConnector {
    pub(crate) me: PeerId,
    peers: BTreeMap<PeerId, String>,
    pub(crate) tls: TlsStore,
    endpoint: Mutex<Option<quinn::Endpoint>>,
    client: quinn::ClientConfig,
    conns: Mutex<Conns>,
    /// One dial per peer at a time.
    dials: Mutex<HashMap<PeerId, Arc<tokio::sync::Mutex<()>>>>,
    /// Connections this node dialed go to the acceptor, which reads the streams the peer
    /// opens on them (a smaller id prompts on our connection).
    pub(crate) dialed: mpsc::Sender<quinn::Connection>,
}

impl QuicConnector {
    pub(crate) fn new(
        me: PeerId,
        peers: BTreeMap<PeerId, String>,
        tls: TlsStore,
        endpoint: quinn::Endpoint,
        client: quinn::ClientConfig,
        dialed: mpsc::Sender<quinn::Connection>,
    ) -> Self {
        Self {
            me,
            peers,
            tls,
            endpoint: Mutex::new(Some(endpoint)),
            client,
            conns: Mutex::new(Conns::default()),
            dials: Mutex::new(HashMap::new()),
            dialed,
        }
    }

    fn conns(&self) -> MutexGuard<'_, Conns> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live_outbound(&self, peer: PeerId) -> Option<quinn::Connection> {
        let mut c = self.conns();
        match c.outbound.get(&peer) {
            Some((conn, _)) if conn.close_reason().is_none() => Some(conn.clone()),
            Some(_) => {
                c.outbound.remove(&peer);
                None
            }
            None => None,
        }
    }

    fn live_inbound(&self, peer: PeerId) -> Option<quinn::Connection> {
        let c = self.conns();
        c.inbound
            .get(&peer)
            .filter(|conn| conn.close_reason().is_none())
            .cloned()
    }

    /// Our connection to `peer`, dialing one if there is none.
    async fn connection(&self, peer: PeerId) -> Result<quinn::Connection, String> {
        if let Some(conn) = self.live_outbound(peer) {
            return Ok(conn);
        }
        let lock = self
            .dials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(peer)
            .or_default()
            .clone();
        let _dialing = lock.lock().await;
        if let Some(conn) = self.live_outbound(peer) {
            return Ok(conn);
        }
        let conn = self.dial(peer).await?;
        self.conns()
            .outbound
            .insert(peer, (conn.clone(), Instant::now()));
        if self.dialed.try_send(conn.clone()).is_err() {
            tracing::warn!(%peer, "too many new connections at once; streams the peer opens on this one are not read");
        }
        Ok(conn)
    }

    async fn dial(&self, peer: PeerId) -> Result<quinn::Connection, String> {
        let target = self
            .peers
            .get(&peer)
            .ok_or_else(|| format!("server {peer} is not in the peer table"))?;
        let name = self
            .tls
            .expected_name(peer)
            .ok_or_else(|| format!("no certificate name to expect from server {peer}"))?
            .to_str()
            .into_owned();
        let endpoint = self
            .endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or("shutting down")?;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(target.as_str())
            .await
            .map_err(|e| format!("cannot resolve {target}: {e}"))?
            .collect();
        let mut last = format!("{target} resolved to no address");
        for addr in addrs {
            let connecting = match endpoint.connect_with(self.client.clone(), addr, &name) {
                Ok(c) => c,
                Err(e) => {
                    last = format!("cannot connect to {target} ({addr}): {e}");
                    continue;
                }
            };
            match connecting.await {
                Ok(conn) => return Ok(conn),
                Err(e) => last = format!("QUIC handshake with {target} ({addr}) failed: {e}"),
            }
        }
        Err(last)
    }

    /// A stream from `peer` arrived on `conn` (`inbound`: a connection the peer dialed).
    /// Keeps one connection per peer: a newer connection from a larger id replaces the older
    /// one, and a prompt on a fresh connection means the peer lost the one we dialed.
    pub(crate) fn note_stream(
        &self,
        peer: PeerId,
        conn: &quinn::Connection,
        inbound: bool,
        purpose: Purpose,
    ) {
        if !inbound {
            return;
        }
        let mut c = self.conns();
        if peer > self.me {
            if let Some(old) = c.inbound.insert(peer, conn.clone())
                && old.stable_id() != conn.stable_id()
            {
                tracing::info!(%peer, "a new connection from server {peer} replaces its old one");
                old.close(code::SUPERSEDED.into(), b"superseded by a newer connection");
            }
        } else if purpose == Purpose::Prompt {
            let abandoned = c.outbound.get(&peer).is_some_and(|(out, since)| {
                out.stable_id() != conn.stable_id() && since.elapsed() >= ABANDON_GRACE
            });
            if abandoned && let Some((out, _)) = c.outbound.remove(&peer) {
                tracing::info!(%peer, "server {peer} prompted on a new connection; closing the one we dialed, which it no longer has");
                out.close(code::ABANDONED.into(), b"abandoned by the peer");
            }
        }
    }

    /// Close the endpoint and every connection; resolves once they are closed (bounded).
    pub(crate) async fn shutdown(&self) {
        let endpoint = self
            .endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        {
            let mut c = self.conns();
            c.outbound.clear();
            c.inbound.clear();
        }
        let Some(endpoint) = endpoint else { return };
        endpoint.close(code::SHUTDOWN.into(), b"shutdown");
        // Closed connections drain for three probe timeouts (seconds for one that never
        // finished its handshake) and hold the socket meanwhile.
        let _ = tokio::time::timeout(Duration::from_secs(10), endpoint.wait_idle()).await;
        let local = endpoint.local_addr();
        drop(endpoint);
        // quinn's driver task owns the socket and drops it once it sees the last handle go:
        // wait for that (bounded), so a node can be started again on the same port at once.
        if let Ok(local) = local {
            for _ in 0..500 {
                match std::net::UdpSocket::bind(local) {
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    _ => return,
                }
            }
            tracing::warn!(%local, "the UDP port is still held 5 s after shutdown");
        }
    }

    /// The name the dialed peer's certificate was checked for.
    fn authn(&self, peer: PeerId) -> Authn {
        let name = self
            .tls
            .expected_name(peer)
            .map(|n| n.to_str().into_owned())
            .unwrap_or_default();
        Authn::Certificate { name }
    }
}

impl Connector for QuicConnector {
    async fn open(
        &self,
        peer: PeerId,
        channel: Channel,
        purpose: Purpose,
    ) -> Result<Opened, String> {
        // A prompt rides on the connection the larger id dialed to us, if there is one.
        let conn = match purpose {
            Purpose::Prompt => match self.live_inbound(peer) {
                Some(conn) => conn,
                None => self.connection(peer).await?,
            },
            Purpose::Link => self.connection(peer).await?,
        };
        let (mut send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| format!("cannot open a stream to server {peer}: {e}"))?;
        let hello = header::encode(Header {
            channel,
            purpose,
            sender: self.me,
        });
        send.write_all(&hello)
            .await
            .map_err(|e| format!("stream header to server {peer} failed: {e}"))?;
        Ok(Opened {
            reader: Box::new(recv),
            writer: Box::new(send),
            remote: conn.remote_address().to_string(),
            authn: self.authn(peer),
        })
    }
}
