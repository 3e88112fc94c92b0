//! Accepting: the listener, the TLS handshake (done here rather than in tonic, so rotated
//! certificates apply to the next handshake and every refusal is logged with its reason),
//! tonic serving the connections, and the `Link` handler that checks the caller and hands
//! its stream to the kit.

use crate::conn::{ConnInfo, TlsConn};
use crate::connector::GrpcConnector;
use crate::header;
use crate::io::{ChunkWriter, QUEUED_CHUNKS, chunk_reader};
use crate::pb::Chunk;
use crate::pb::peer_server::{Peer, PeerServer};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use zk_tls::TlsStore;
use zk_transport::Authn;
use zk_transport::streams::{Opened, StreamHandle};

/// How many accepted connections may be in their TLS handshake at once; more are closed at
/// once, so a flood of silent sockets cannot exhaust the node.
pub(crate) const MAX_PENDING_HANDSHAKES: usize = 64;

/// How long shutdown waits for HTTP/2 connections to close gracefully (the kit has closed
/// every link by then, so they normally close at once) before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The node handle of this backend.
pub(crate) type Handle = StreamHandle<GrpcConnector>;

/// What the accepting side needs.
pub(crate) struct ServeConfig {
    pub(crate) tls: TlsStore,
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) handshake_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    pub(crate) keepalive_timeout: Duration,
}

/// Accept connections on `listener` and serve the `Peer` service on them until the node
/// shuts down. Both loops are tasks of the node, so shutdown waits for the listener to close.
pub(crate) fn serve(handle: &Handle, listener: TcpListener, cfg: ServeConfig) {
    let (conns_tx, conns_rx) = mpsc::channel::<io::Result<TlsConn>>(16);
    let abort = CancellationToken::new();
    accept_loop(handle, listener, conns_tx, &cfg, abort.clone());

    let svc = PeerService {
        node: handle.clone(),
        tls: cfg.tls,
    };
    let node = handle.clone();
    let server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(cfg.keepalive_interval))
        .http2_keepalive_timeout(Some(cfg.keepalive_timeout))
        .add_service(PeerServer::new(svc))
        .serve_with_incoming_shutdown(ReceiverStream::new(conns_rx), async move {
            node.cancelled().await;
        });
    let node = handle.clone();
    handle.spawn(async move {
        tokio::pin!(server);
        let give_up = async {
            node.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            r = &mut server => {
                if let Err(e) = r {
                    tracing::warn!("the gRPC server stopped: {}", crate::io::error_chain(&e));
                }
            }
            () = give_up => {
                tracing::debug!("connections still open {SHUTDOWN_GRACE:?} after shutdown; cutting them");
                abort.cancel();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, server).await;
            }
        }
    });
}

/// The listener: each connection gets its TLS handshake in a task of its own, then goes to
/// tonic through `conns`.
fn accept_loop(
    handle: &Handle,
    listener: TcpListener,
    conns: mpsc::Sender<io::Result<TlsConn>>,
    cfg: &ServeConfig,
    abort: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    let node = handle.clone();
    let acceptor = cfg.acceptor.clone();
    let limit = cfg.handshake_timeout;
    handle.spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = node.cancelled() => break,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, remote)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::warn!(%remote, "refusing connection: {MAX_PENDING_HANDSHAKES} connections are already in their TLS handshake");
                        continue;
                    };
                    let n = node.clone();
                    let acceptor = acceptor.clone();
                    let conns = conns.clone();
                    let abort = abort.clone();
                    node.spawn(async move {
                        let shaken = tokio::select! {
                            () = n.cancelled() => return,
                            r = tokio::time::timeout(limit, handshake(&acceptor, stream)) => r,
                        };
                        drop(permit);
                        match shaken {
                            Err(_) => tracing::warn!(%remote, "refusing connection: no TLS handshake within {limit:?}"),
                            Ok(Err(reason)) => tracing::warn!(%remote, "refusing connection: {reason}"),
                            Ok(Ok(tls)) => {
                                tracing::trace!(%remote, "TLS handshake done");
                                // Fails only when the server stopped: the connection is dropped.
                                let _ = conns.send(Ok(TlsConn::new(tls, remote, abort))).await;
                            }
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
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

/// The server side of the TLS handshake, with a reason for the log when it fails.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
    let _ = stream.set_nodelay(true);
    // Look before the handshake, so a plain-TCP peer is named as such rather than by the
    // parse error it causes.
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) => return Err("the peer closed the connection before the TLS handshake".into()),
        Ok(_) if first[0] != TLS_HANDSHAKE_RECORD => {
            return Err(format!(
                "not TLS: the first byte is {:#04x} (a TLS handshake starts with {TLS_HANDSHAKE_RECORD:#04x}); a plain TCP peer?",
                first[0]
            ));
        }
        Ok(_) => {}
        Err(e) => return Err(format!("reading the TLS handshake failed: {e}")),
    }
    acceptor
        .accept(stream)
        .await
        .map_err(|e| match rustls_error(&e) {
            Some(rustls::Error::InvalidMessage(_)) => format!("not TLS: {e}"),
            Some(_) => format!("TLS handshake failed: {e}"),
            None => format!("TLS handshake failed (I/O): {e}"),
        })
}

/// The rustls error inside an I/O error of a handshake.
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The response stream of a `Link` call: the chunks the node's writer sends.
type Responses = ReceiverStream<Result<Chunk, Status>>;

/// The `Peer` service of one node.
#[derive(Clone)]
struct PeerService {
    node: Handle,
    tls: TlsStore,
}

impl PeerService {
    /// Check the caller and build its stream, or say why not.
    fn admit(
        &self,
        request: Request<Streaming<Chunk>>,
        info: &ConnInfo,
    ) -> Result<(header::Hello, Opened, Responses), Status> {
        let hello = header::read(request.metadata())?;
        let (peer, name) = self
            .tls
            .identify(&info.certs, Some(hello.sid))
            .map_err(|e| Status::permission_denied(e.to_string()))?;
        // `identify` returns the claimed id or refuses; a mismatch here would be a bug there.
        if peer != hello.sid {
            return Err(Status::permission_denied(format!(
                "the certificate names server {peer} but the peer claims to be server {}",
                hello.sid
            )));
        }
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let opened = Opened {
            reader: chunk_reader(request.into_inner()),
            writer: Box::new(ChunkWriter::new(tx, Ok)),
            remote: info.remote.to_string(),
            authn: Authn::Certificate { name },
        };
        Ok((hello, opened, ReceiverStream::new(rx)))
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    type LinkStream = Responses;

    async fn link(
        &self,
        request: Request<Streaming<Chunk>>,
    ) -> Result<Response<Self::LinkStream>, Status> {
        let Some(info) = request.extensions().get::<ConnInfo>().cloned() else {
            // Every connection tonic serves comes from the accept loop, with its info.
            return Err(Status::internal("no connection info"));
        };
        let span = self.node.span();
        match self.admit(request, &info) {
            Ok((hello, opened, responses)) => {
                tracing::debug!(parent: span, remote = %info.remote, peer = %hello.sid, channel = ?hello.channel, purpose = ?hello.purpose, "stream accepted");
                self.node.accepted(hello.sid, hello.channel, opened);
                Ok(Response::new(responses))
            }
            Err(status) => {
                tracing::warn!(parent: span, remote = %info.remote, "refusing connection: {}", status.message());
                Err(status)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::header::{self, Hello};
    use crate::pb::Chunk;
    use crate::pb::peer_client::PeerClient;
    use crate::{GrpcBackend, GrpcConfig, GrpcInbound, GrpcTransport};
    use rustls_pki_types::ServerName;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::io::AsyncReadExt;
    use tonic::metadata::MetadataValue;
    use tonic::transport::{Endpoint, Uri};
    use tonic::{Code, Request};
    use zk_tls::certs::{Ca, Validity};
    use zk_tls::{IdentityRule, TlsFiles, TlsStore};
    use zk_transport::streams::Purpose;
    use zk_transport::{Channel, PeerId, Transport};

    fn store(dir: &std::path::Path, ca: &Ca, id: PeerId) -> TlsStore {
        let key_store = dir.join(format!("server-{id}.pem"));
        std::fs::write(
            &key_store,
            ca.issue(id, "127.0.0.1", Validity::days(1)).unwrap(),
        )
        .unwrap();
        let trust_store = dir.join("ca.pem");
        std::fs::write(&trust_store, ca.cert_pem()).unwrap();
        let hosts = (1..=3)
            .map(|i| (PeerId(i), "127.0.0.1".to_owned()))
            .collect();
        TlsStore::load(
            TlsFiles {
                key_store,
                trust_store,
            },
            id,
            IdentityRule::ServerId,
            hosts,
        )
        .unwrap()
    }

    /// Node 2 of servers 1 and 2 (node 1 is never started), on a free port; and the TLS
    /// client side of server 1, to dial it with.
    async fn node2_and_client1(
        dir: &std::path::Path,
    ) -> (
        GrpcTransport,
        GrpcInbound,
        String,
        tokio_rustls::TlsConnector,
        ServerName<'static>,
    ) {
        let ca = Ca::generate(Validity::days(1)).unwrap();
        let peers = BTreeMap::from([
            (PeerId(1), "127.0.0.1:1".to_owned()),
            (PeerId(2), "127.0.0.1:0".to_owned()),
        ]);
        let (tx, rx) = GrpcBackend::start(GrpcConfig::new(
            PeerId(2),
            peers,
            store(dir, &ca, PeerId(2)),
        ))
        .await
        .unwrap();
        let addr = tx.local_addr(Channel::Quorum).to_string();
        let me = store(dir, &ca, PeerId(1));
        let tls = tokio_rustls::TlsConnector::from(Arc::new(me.client_config(&[b"h2"]).unwrap()));
        let name = me.expected_name(PeerId(2)).unwrap();
        (tx, rx, addr, tls, name)
    }

    /// Callers that pass TLS but announce another version or another id get a status that
    /// says why; a proper caller gets its stream.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_are_told_why_they_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx, addr, tls, name) = node2_and_client1(dir.path()).await;
        let target = addr.clone();
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                crate::connector::dial(target.clone(), name.clone(), tls.clone())
            }))
            .await
            .unwrap();
        let mut client = PeerClient::new(channel);
        let call = |hello: Option<Hello>, version: Option<&'static str>| {
            let mut r = Request::new(tokio_stream::iter(Vec::<Chunk>::new()));
            if let Some(h) = hello {
                header::put(r.metadata_mut(), h);
            }
            match version {
                Some(v) => {
                    r.metadata_mut()
                        .insert(header::VERSION, MetadataValue::from_static(v));
                }
                None => {
                    r.metadata_mut().remove(header::VERSION);
                }
            }
            r
        };
        let hello = |sid| Hello {
            sid: PeerId(sid),
            channel: Channel::Quorum,
            purpose: Purpose::Prompt,
        };

        let e = client
            .link(call(Some(hello(1)), Some("2")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert!(e.message().contains("\"2\""), "{e:?}");
        assert!(e.message().contains("speaks zk-peer-version 1"), "{e:?}");

        let e = client.link(call(Some(hello(1)), None)).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert!(e.message().contains("no zk-peer-version"), "{e:?}");

        let e = client
            .link(call(Some(hello(3)), Some("1")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        assert!(
            e.message()
                .contains("names server 1 but the peer claims to be server 3"),
            "{e:?}"
        );

        // A prompt from the smaller id is taken (and answered by dialing back).
        let ok = client.link(call(Some(hello(1)), Some("1"))).await;
        assert!(ok.is_ok(), "{ok:?}");
        tx.shutdown().await;
    }

    /// A peer that completes TLS and then says nothing (no HTTP/2 preface) does not hold up
    /// shutdown, and its connection is closed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_connection_does_not_hold_up_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx, addr, tls, name) = node2_and_client1(dir.path()).await;
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut silent = tls.connect(name, tcp).await.unwrap();
        // Let the node hand the connection to tonic.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), tx.shutdown())
            .await
            .expect("shutdown finished");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "shutdown took {:?}",
            t.elapsed()
        );
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match silent.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {} // the server's settings and GOAWAY
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the silent connection is still open");
        // The port is free again at once.
        std::net::TcpListener::bind(&addr).unwrap();
    }
}
