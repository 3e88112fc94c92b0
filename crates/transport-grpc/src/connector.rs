//! Dialing: one HTTP/2 connection (a tonic `Channel`) per peer, over TLS this crate sets up
//! itself, and one `Link` call per stream the kit opens.

use crate::header::{self, Hello};
use crate::io::{ChunkWriter, QUEUED_CHUNKS, chunk_reader, describe_status, error_chain};
use crate::pb::Chunk;
use crate::pb::peer_client::PeerClient;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel as GrpcChannel, Endpoint, Uri};
use tonic::{Code, Request};
use zk_tls::TlsStore;
use zk_transport::streams::{Connector, Opened, Purpose};
use zk_transport::{Authn, Channel, PeerId};

/// The dialing settings of a node.
#[derive(Clone, Debug)]
pub(crate) struct DialConfig {
    pub(crate) connect_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    pub(crate) keepalive_timeout: Duration,
}

/// A connection in use, numbered so a failed call forgets only the connection it failed on.
#[derive(Clone)]
struct Cached {
    generation: u64,
    channel: GrpcChannel,
}

/// One peer: where it listens and the connection to it.
struct Slot {
    addr: String,
    cached: Mutex<Option<Cached>>,
    /// Held while connecting, so the streams of both channels share one new connection.
    connecting: tokio::sync::Mutex<()>,
}

impl Slot {
    fn cached(&self) -> MutexGuard<'_, Option<Cached>> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forget connection `generation` (if it is still the cached one): the next open dials.
    fn forget(&self, generation: u64) {
        let mut cached = self.cached();
        if cached.as_ref().is_some_and(|c| c.generation == generation) {
            *cached = None;
        }
    }
}

/// Forgets a connection unless disarmed: an open that fails, or is abandoned by the kit's
/// connect timeout while the call hangs on a dead connection, must not leave it cached.
struct ForgetUnlessDisarmed<'a> {
    slot: &'a Slot,
    generation: Option<u64>,
}

impl Drop for ForgetUnlessDisarmed<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.generation {
            self.slot.forget(g);
        }
    }
}

/// How a gRPC node dials its peers (the [`Connector`] behind [`crate::GrpcTransport`]).
pub struct GrpcConnector {
    me: PeerId,
    slots: BTreeMap<PeerId, Slot>,
    tls: TlsStore,
    tls_connector: TlsConnector,
    dial: DialConfig,
    generation: AtomicU64,
}

impl std::fmt::Debug for GrpcConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcConnector")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl GrpcConnector {
    /// A connector for `peers` (this node's entry excluded by the caller or not: it is never
    /// dialed).
    pub(crate) fn new(
        me: PeerId,
        peers: &BTreeMap<PeerId, String>,
        tls: TlsStore,
        client_config: Arc<rustls::ClientConfig>,
        dial: DialConfig,
    ) -> Self {
        let slots = peers
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(id, addr)| {
                let slot = Slot {
                    addr: addr.clone(),
                    cached: Mutex::new(None),
                    connecting: tokio::sync::Mutex::new(()),
                };
                (*id, slot)
            })
            .collect();
        Self {
            me,
            slots,
            tls,
            tls_connector: TlsConnector::from(client_config),
            dial,
            generation: AtomicU64::new(0),
        }
    }

    /// Drop every cached connection (at shutdown: they close once their streams end).
    pub(crate) fn forget_all(&self) {
        for slot in self.slots.values() {
            *slot.cached() = None;
        }
    }

    /// The connection to `peer`, dialing it if there is none.
    async fn channel(
        &self,
        peer: PeerId,
        slot: &Slot,
        name: ServerName<'static>,
    ) -> Result<Cached, String> {
        if let Some(c) = slot.cached().clone() {
            return Ok(c);
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(c) = slot.cached().clone() {
            return Ok(c);
        }
        let addr = slot.addr.clone();
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| {
                format!(
                    "server {peer}'s address {addr:?} is unusable: {}",
                    error_chain(&e)
                )
            })?
            .connect_timeout(self.dial.connect_timeout)
            .http2_keep_alive_interval(self.dial.keepalive_interval)
            .keep_alive_timeout(self.dial.keepalive_timeout)
            .keep_alive_while_idle(true);
        let tls = self.tls_connector.clone();
        let dialer = tower::service_fn(move |_: Uri| dial(addr.clone(), name.clone(), tls.clone()));
        let channel = endpoint
            .connect_with_connector(dialer)
            .await
            .map_err(|e| format!("cannot connect to server {peer}: {}", error_chain(&e)))?;
        let cached = Cached {
            generation: self.generation.fetch_add(1, Ordering::Relaxed),
            channel,
        };
        *slot.cached() = Some(cached.clone());
        Ok(cached)
    }
}

/// Connect to `addr` and do the client side of the TLS handshake, expecting `name` in the
/// server's certificate (rustls checks it, so the dialed server's identity is proven).
pub(crate) async fn dial(
    addr: String,
    name: ServerName<'static>,
    tls: TlsConnector,
) -> io::Result<TokioIo<TlsStream<TcpStream>>> {
    let tcp = TcpStream::connect(addr.as_str())
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("TCP connect to {addr} failed: {e}")))?;
    tcp.set_nodelay(true)?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake with {addr} failed: {e}")))?;
    Ok(TokioIo::new(stream))
}

impl Connector for GrpcConnector {
    async fn open(
        &self,
        peer: PeerId,
        channel: Channel,
        purpose: Purpose,
    ) -> Result<Opened, String> {
        let slot = self
            .slots
            .get(&peer)
            .ok_or_else(|| format!("server {peer} is not in the peer table"))?;
        let name = self.tls.expected_name(peer).ok_or_else(|| {
            format!("no certificate name to expect of server {peer} (no host known for it?)")
        })?;
        let authn = Authn::Certificate {
            name: name.to_str().into_owned(),
        };
        let conn = self.channel(peer, slot, name).await?;
        let mut forget = ForgetUnlessDisarmed {
            slot,
            generation: Some(conn.generation),
        };
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let mut request = Request::new(ReceiverStream::new(rx));
        header::put(
            request.metadata_mut(),
            Hello {
                sid: self.me,
                channel,
                purpose,
            },
        );
        match PeerClient::new(conn.channel).link(request).await {
            Ok(response) => {
                forget.generation = None;
                Ok(Opened {
                    reader: chunk_reader(response.into_inner()),
                    writer: Box::new(ChunkWriter::new(tx, |c: Chunk| c)),
                    remote: slot.addr.clone(),
                    authn,
                })
            }
            Err(status) => {
                // The peer's handler refused us: the connection itself is fine.
                if matches!(
                    status.code(),
                    Code::PermissionDenied | Code::FailedPrecondition | Code::InvalidArgument
                ) {
                    forget.generation = None;
                }
                Err(format!(
                    "server {peer} at {} did not open the stream: {}",
                    slot.addr,
                    describe_status(&status)
                ))
            }
        }
    }
}
