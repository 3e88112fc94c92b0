//! One client connection: the connect handshake, then every request in the client's
//! order. Reads are answered from this server's tree when they reach the head of the
//! connection's queue; writes and syncs wait there for ZAB. Watch events are written as
//! soon as they arrive, so they always precede any later reply.

use super::auth::{self, AuthInfo};
use super::convert;
use super::envelope::{Forwarded, Note};
use super::reads::Reader as TreeReader;
use super::sessions::password;
use super::shared::{CONN_QUEUE, Out};
use super::watches::{ConnId, SetWatchesLists};
use super::{ClientContext, set_watches};
use crate::status::ConnGuard;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use zk_datatree::TxnResult;
use zk_jute::{
    ClientRequest, ClientRequestDecoder, ConnectRequest, ConnectResponse, ErrorCode, Framer,
    OpCode, ReplyHeader, Request, Response, SetWatches2, encode_frame_with, encode_response, xid,
};

/// Requests of one connection queued at most before it is no longer read.
const MAX_OUTSTANDING: usize = 1000;
/// How many waiting replies and events one write may gather (one syscall, not one each).
const REPLY_BATCH: usize = 256;

/// Why a connection ends (for the log line).
type Close = String;

/// A request waiting in the connection's queue.
struct Queued {
    /// Its opcode, and when it arrived (for the connection statistics).
    op: i32,
    arrived: Instant,
    item: Item,
}

enum Item {
    /// Answered from the tree at the head of the queue.
    Read { xid: i32, request: Request },
    /// Waiting for its transaction.
    Write {
        xid: i32,
        request: Request,
        done: Option<(i64, TxnResult)>,
    },
    /// Waiting for the leader's barrier.
    Sync {
        xid: i32,
        path: String,
        done: Option<i64>,
    },
}

struct Conn {
    ctx: Arc<ClientContext>,
    id: ConnId,
    peer: SocketAddr,
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    framer: Framer,
    decoder: ClientRequestDecoder,
    session: i64,
    timeout: Duration,
    auth: AuthInfo,
    queue: VecDeque<Queued>,
    /// This connection's statistics (`cons`, `stat`, `wchc`).
    stats: ConnGuard,
    rx: mpsc::Receiver<Out>,
    /// Handed to the hub when the session is attached: once the hub drops it (the client
    /// stopped reading, or another connection took the session), `rx` ends.
    tx: Option<mpsc::Sender<Out>>,
    syncs_tx: mpsc::Sender<(i32, Option<i64>)>,
    syncs_rx: mpsc::Receiver<(i32, Option<i64>)>,
    closing: Option<Close>,
}

/// Serves a client-protocol connection whose first four bytes (the connect frame's
/// length) were already read.
pub async fn serve(ctx: Arc<ClientContext>, stream: TcpStream, peer: SocketAddr, first: [u8; 4]) {
    let id = ctx.next_conn.fetch_add(1, Ordering::Relaxed);
    let stats = ctx.counters.conns.register(id, peer);
    // Replies are small and latency-bound (ZooKeeper sets TCP_NODELAY too).
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let (tx, rx) = mpsc::channel(CONN_QUEUE);
    let (syncs_tx, syncs_rx) = mpsc::channel(CONN_QUEUE);
    let mut rbuf = BytesMut::with_capacity(4096);
    rbuf.extend_from_slice(&first);
    let max = ctx.limits.max_buffer;
    let mut conn = Conn {
        auth: AuthInfo::new(peer.ip()),
        ctx,
        id,
        peer,
        stream,
        rbuf,
        wbuf: BytesMut::with_capacity(4096),
        framer: Framer::new(max),
        decoder: ClientRequestDecoder::new()
            .with_max_len(max)
            .allow_trailing(true),
        session: 0,
        timeout: Duration::ZERO,
        queue: VecDeque::new(),
        stats,
        rx,
        tx: Some(tx),
        syncs_tx,
        syncs_rx,
        closing: None,
    };
    let why = match conn.handshake().await {
        Ok(()) => conn.run().await.err().unwrap_or_default(),
        Err(why) => why,
    };
    if conn.session != 0 {
        conn.ctx.shared.hub().detach(conn.id);
    }
    let _ = conn.stream.flush().await;
    tracing::info!(peer = %conn.peer, session = format_args!("{:#x}", conn.session), "client connection closed: {why}");
}

impl Conn {
    async fn next_frame(&mut self, deadline: Instant) -> Result<Bytes, Close> {
        loop {
            match self.framer.next_frame(&mut self.rbuf) {
                Ok(Some(f)) => return Ok(f),
                Ok(None) => {}
                Err(e) => return Err(format!("bad frame: {e}")),
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.rbuf)).await {
                Err(_) => return Err("no request within the session timeout".into()),
                Ok(Ok(0)) => return Err("client closed the connection".into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("read failed: {e}")),
            }
        }
    }

    async fn write_out(&mut self) -> Result<(), Close> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let buf = self.wbuf.split();
        self.stream
            .write_all(&buf)
            .await
            .map_err(|e| format!("write failed: {e}"))
    }

    fn last_zxid(&self) -> i64 {
        self.ctx.shared.tree().last_applied() as i64
    }

    async fn handshake(&mut self) -> Result<(), Close> {
        let connected = Instant::now();
        let deadline = connected + self.ctx.limits.connect_timeout;
        let frame = self.next_frame(deadline).await?;
        self.stats.received();
        let req: ConnectRequest = match self.decoder.decode(&frame) {
            Ok(ClientRequest::Connect(c)) => c,
            Ok(_) => return Err("expected a connect request".into()),
            Err(e) => return Err(format!("malformed connect request: {e}")),
        };
        if !self.ctx.serving() {
            return Err("this server is not serving (no quorum or electing)".into());
        }
        let ours = self.last_zxid();
        if req.last_zxid_seen > ours {
            return Err(format!(
                "refusing the session: the client has seen zxid {:#x}, this server only {ours:#x}",
                req.last_zxid_seen
            ));
        }
        let l = &self.ctx.limits;
        let timeout = req
            .time_out
            .clamp(l.min_session_timeout, l.max_session_timeout);
        let (session, timeout) = if req.session_id == 0 {
            let session = self.ctx.new_session_id();
            self.attach(session);
            self.submit(
                session,
                0,
                OpCode::CreateSession.code(),
                Bytes::copy_from_slice(&timeout.to_be_bytes()),
            )
            .await?;
            self.await_session_created(deadline).await?;
            let zxid = self.last_zxid();
            self.stats
                .replied(OpCode::CreateSession.code(), 0, zxid, connected.elapsed());
            (session, timeout)
        } else {
            let known = self.ctx.shared.tree().session_timeout(req.session_id);
            match known {
                Some(t) if req.passwd[..] == password(req.session_id) => {
                    self.attach(req.session_id);
                    self.revalidate(req.session_id).await?;
                    (req.session_id, t)
                }
                _ => {
                    tracing::info!(peer = %self.peer, session = format_args!("{:#x}", req.session_id), "reconnect to an expired or unknown session (or a wrong password): answering expired");
                    let resp = ConnectResponse {
                        protocol_version: 0,
                        time_out: 0,
                        session_id: 0,
                        passwd: Bytes::from_static(&[0; 16]),
                        read_only: req.read_only.map(|_| false),
                    };
                    encode_frame_with(&mut self.wbuf, |out| zk_jute::Record::encode(&resp, out));
                    self.stats.sent();
                    self.write_out().await?;
                    return Err("session expired".into());
                }
            }
        };
        self.timeout = Duration::from_millis(u64::try_from(timeout).unwrap_or(0));
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: timeout,
            session_id: session,
            passwd: Bytes::copy_from_slice(&password(session)),
            read_only: req.read_only.map(|_| false),
        };
        encode_frame_with(&mut self.wbuf, |out| zk_jute::Record::encode(&resp, out));
        self.stats.sent();
        self.stats.established(session, timeout);
        self.write_out().await?;
        tracing::debug!(peer = %self.peer, session = format_args!("{session:#x}"), timeout, "session established");
        Ok(())
    }

    /// Tells the leader the session now lives here, and waits until it has heard (a
    /// sync behind the note, on the same link): from then on it refuses writes of the
    /// session's earlier connections elsewhere (ZooKeeper's REVALIDATE).
    async fn revalidate(&mut self, session: i64) -> Result<(), Close> {
        self.ctx
            .zab
            .note_to_leader(Note::Claim(session).encode())
            .map_err(|e| format!("cannot resume the session: {e}"))?;
        let deadline = Instant::now() + self.ctx.limits.connect_timeout;
        match tokio::time::timeout_at(deadline, self.ctx.zab.sync()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("cannot resume the session: {e}")),
            Err(_) => Err("the leader did not confirm the resumed session in time".into()),
        }
    }

    fn attach(&mut self, session: i64) {
        self.session = session;
        if let Some(tx) = self.tx.take() {
            self.ctx
                .shared
                .hub()
                .attach(self.id, session, tx, self.auth.clone());
        }
    }

    async fn await_session_created(&mut self, deadline: Instant) -> Result<(), Close> {
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return Err("the session was not created in time".into()),
                Ok(None) => return Err("disconnected".into()),
                Ok(Some(Out::Reply {
                    result: TxnResult::SessionCreated { .. },
                    ..
                })) => return Ok(()),
                Ok(Some(Out::Reply { result, .. })) => {
                    return Err(format!(
                        "creating the session failed: {:?}",
                        result.error_code()
                    ));
                }
                Ok(Some(_)) => {}
            }
        }
    }

    /// Hands a write to ZAB, waiting while the server's request queue is full (this
    /// connection is then not read: backpressure, as ZooKeeper throttles).
    async fn submit(&self, session: i64, cxid: i32, op: i32, body: Bytes) -> Result<(), Close> {
        let f = Forwarded {
            from: self.ctx.server_id,
            conn: self.id,
            session,
            cxid,
            op,
            auth: self.auth.ids().to_vec(),
            body,
        };
        self.ctx
            .zab
            .write_wait(f.encode())
            .await
            .map_err(|e| format!("cannot submit a write: {e}"))
    }

    async fn run(&mut self) -> Result<(), Close> {
        let mut serving = self.ctx.status.clone();
        let mut deadline = Instant::now() + self.timeout;
        loop {
            tokio::select! {
                // Backpressure: a client with too many requests in flight is not read
                // until some are answered (ZooKeeper's globalOutstandingLimit).
                r = self.stream.read_buf(&mut self.rbuf), if self.queue.len() < MAX_OUTSTANDING => match r {
                    Ok(0) => return Err("client closed the connection".into()),
                    Ok(_) => {
                        // Clients ping every third of the timeout; silence means gone.
                        deadline = Instant::now() + self.timeout;
                        self.frames().await?
                    }
                    Err(e) => return Err(format!("read failed: {e}")),
                },
                out = self.rx.recv() => match out {
                    Some(out) => {
                        self.out(out)?;
                        // What is already here goes out in the same write, in the same order
                        // as one at a time (each reply or event is queued before the next).
                        for _ in 0..REPLY_BATCH {
                            self.flush_queue()?;
                            match self.rx.try_recv() {
                                Ok(more) => self.out(more)?,
                                Err(_) => break,
                            }
                        }
                    }
                    None => return Err("disconnected by the server (queue full, or the session moved to another connection)".into()),
                },
                Some((xid, done)) = self.syncs_rx.recv() => self.sync_done(xid, done)?,
                () = tokio::time::sleep_until(deadline) => return Err("no request within the session timeout".into()),
                changed = serving.changed() => {
                    if changed.is_err() || !self.ctx.serving() {
                        return Err("this server stopped serving".into());
                    }
                }
            }
            self.flush_queue()?;
            self.stats.set_queued(self.queue.len());
            self.write_out().await?;
            if let Some(why) = self.closing.take() {
                return Err(why);
            }
        }
    }

    async fn frames(&mut self) -> Result<(), Close> {
        loop {
            let frame = match self.framer.next_frame(&mut self.rbuf) {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("bad frame: {e}")),
            };
            self.ctx.counters.received.fetch_add(1, Ordering::Relaxed);
            self.stats.received();
            self.ctx.shared.hub().touch(self.session);
            let (header, request) = match self.decoder.decode(&frame) {
                Ok(ClientRequest::Op { header, request }) => (header, request),
                Ok(ClientRequest::Connect(_)) => return Err("a second connect request".into()),
                Err(e) => return Err(format!("malformed request: {e}")),
            };
            self.request(header.xid, header.op, request, frame.slice(8..))
                .await?;
        }
    }

    fn reply(&mut self, xid: i32, zxid: i64, err: i32, body: &Response) {
        let header = ReplyHeader { xid, zxid, err };
        encode_frame_with(&mut self.wbuf, |out| encode_response(&header, body, out));
        self.ctx.counters.sent.fetch_add(1, Ordering::Relaxed);
        self.stats.sent();
    }

    async fn request(
        &mut self,
        xid: i32,
        op: i32,
        request: Request,
        body: Bytes,
    ) -> Result<(), Close> {
        match request {
            Request::Auth(p) => {
                let added = auth::add_auth(&self.ctx.auth, &mut self.auth, &p.scheme, &p.auth);
                self.ctx.shared.hub().set_auth(self.id, self.auth.clone());
                // The reply echoes the request's xid (the Java client sends -4, others
                // their next xid) with zxid 0, as ZooKeeper's processPacket does.
                match added {
                    Ok(()) => self.reply(xid, 0, 0, &Response::Empty),
                    Err(e) => {
                        self.reply(xid, 0, ErrorCode::AuthFailed.code(), &Response::Empty);
                        self.closing = Some(format!("authentication failed: {e}"));
                    }
                }
            }
            // Version 1 is version 2 without the persistent lists.
            Request::SetWatches(w) => self.set_watches(
                xid,
                &SetWatches2 {
                    relative_zxid: w.relative_zxid,
                    data_watches: w.data_watches,
                    exist_watches: w.exist_watches,
                    child_watches: w.child_watches,
                    persistent_watches: Vec::new(),
                    persistent_recursive_watches: Vec::new(),
                },
            )?,
            Request::SetWatches2(w) => self.set_watches(xid, &w)?,
            Request::Sync(s) => {
                self.enqueue(
                    op,
                    Item::Sync {
                        xid,
                        path: s.path,
                        done: None,
                    },
                );
                let zab = self.ctx.zab.clone();
                let tx = self.syncs_tx.clone();
                tokio::spawn(async move {
                    let done = zab.sync().await.ok().map(|z| z as i64);
                    let _ = tx.send((xid, done)).await;
                });
            }
            Request::CloseSession => {
                self.submit(self.session, xid, OpCode::CloseSession.code(), Bytes::new())
                    .await?;
                self.enqueue(
                    op,
                    Item::Write {
                        xid,
                        request,
                        done: None,
                    },
                );
            }
            Request::Sasl(_) | Request::Reconfig(_) => {
                let code = if matches!(request, Request::Reconfig(_)) {
                    ErrorCode::ReconfigDisabled
                } else {
                    ErrorCode::Unimplemented
                };
                self.enqueue(
                    op,
                    Item::Write {
                        xid,
                        request,
                        done: Some((0, TxnResult::Error(zk_datatree::ErrorCode(code.code())))),
                    },
                );
            }
            r if convert::write_request(&r).is_some() => {
                self.submit(self.session, xid, op, body).await?;
                self.enqueue(
                    op,
                    Item::Write {
                        xid,
                        request: r,
                        done: None,
                    },
                );
            }
            r => self.enqueue(op, Item::Read { xid, request: r }),
        }
        Ok(())
    }

    /// Re-registers a reconnecting client's watches; their catch-up events are queued
    /// before the reply, which echoes the request's xid (the Java client sends -8).
    fn set_watches(&mut self, xid: i32, w: &SetWatches2) -> Result<(), Close> {
        let lists = SetWatchesLists {
            relative_zxid: w.relative_zxid,
            data_watches: &w.data_watches,
            exist_watches: &w.exist_watches,
            child_watches: &w.child_watches,
            persistent_watches: &w.persistent_watches,
            persistent_recursive_watches: &w.persistent_recursive_watches,
        };
        set_watches(&self.ctx, self.id, &lists);
        // Its catch-up events were just queued: they precede the reply.
        self.drain_events()?;
        let zxid = self.last_zxid();
        self.reply(xid, zxid, 0, &Response::Empty);
        Ok(())
    }

    /// Handles everything the hub has queued for this connection so far (watch events
    /// first of all), before a reply that must not overtake them.
    fn drain_events(&mut self) -> Result<(), Close> {
        while let Ok(out) = self.rx.try_recv() {
            self.out(out)?;
        }
        Ok(())
    }

    fn enqueue(&mut self, op: i32, item: Item) {
        self.queue.push_back(Queued {
            op,
            arrived: Instant::now(),
            item,
        });
    }

    fn out(&mut self, out: Out) -> Result<(), Close> {
        match out {
            Out::Event(e) => {
                self.reply(xid::NOTIFICATION, -1, 0, &Response::Notification(e));
            }
            Out::Reply { cxid, zxid, result } => {
                let slot = self.queue.iter_mut().find_map(|q| match &mut q.item {
                    Item::Write {
                        xid,
                        done: d @ None,
                        ..
                    } => Some((*xid, d)),
                    _ => None,
                });
                match slot {
                    Some((xid, d)) if xid == cxid => *d = Some((zxid, result)),
                    // A write sent over an earlier connection of this session: its
                    // client gave up on it when that connection dropped.
                    _ => tracing::debug!(
                        cxid,
                        "reply to a request of an earlier connection: dropped"
                    ),
                }
            }
            Out::SessionClosed => {
                self.closing
                    .get_or_insert_with(|| "the session was closed or expired".into());
            }
        }
        Ok(())
    }

    fn sync_done(&mut self, xid: i32, done: Option<i64>) -> Result<(), Close> {
        let Some(zxid) = done else {
            return Err("this server stopped serving during a sync".into());
        };
        for q in &mut self.queue {
            if let Item::Sync {
                xid: x,
                done: d @ None,
                ..
            } = &mut q.item
                && *x == xid
            {
                *d = Some(zxid);
                return Ok(());
            }
        }
        Ok(())
    }

    /// Answers from the head of the queue while the head is answerable.
    fn flush_queue(&mut self) -> Result<(), Close> {
        loop {
            let ready = match self.queue.front().map(|q| &q.item) {
                None => return Ok(()),
                Some(Item::Read { .. }) => true,
                Some(Item::Write { done, .. }) => done.is_some(),
                Some(Item::Sync { done, .. }) => done.is_some(),
            };
            if !ready {
                return Ok(());
            }
            let Some(q) = self.queue.pop_front() else {
                return Ok(());
            };
            let (xid, zxid) = match q.item {
                Item::Read { xid, request } => {
                    let (zxid, err, body) = {
                        let shared = self.ctx.shared.clone();
                        let tree = shared.tree();
                        // An apply queues its events before it releases the write lock:
                        // with the read lock held, the events of every change this read
                        // sees are queued, and go out before its reply.
                        self.drain_events()?;
                        let mut hub = shared.hub();
                        let reader = TreeReader {
                            conn: self.id,
                            session: self.session,
                            auth: &self.auth,
                        };
                        let (err, body) = reader.answer(&tree, &mut hub, &request);
                        (tree.last_applied() as i64, err, body)
                    };
                    let xid = if matches!(request, Request::Ping) {
                        xid::PING
                    } else {
                        xid
                    };
                    self.reply(xid, zxid, err, &body);
                    (xid, zxid)
                }
                Item::Write {
                    xid,
                    request,
                    done: Some((zxid, result)),
                } => {
                    let (err, body) = convert::write_reply(&request, &result);
                    self.reply(xid, zxid, err, &body);
                    if matches!(request, Request::CloseSession) {
                        self.closing = Some("the client closed its session".into());
                    }
                    (xid, zxid)
                }
                Item::Sync {
                    xid,
                    path,
                    done: Some(zxid),
                } => {
                    // The sync completed on another channel: the events of everything it
                    // waited for were queued before it did, and go out first.
                    self.drain_events()?;
                    let body = Response::Sync(zk_jute::SyncResponse { path });
                    self.reply(xid, zxid, 0, &body);
                    (xid, zxid)
                }
                // Not ready: ruled out above.
                Item::Write { .. } | Item::Sync { .. } => return Ok(()),
            };
            self.stats.replied(q.op, xid, zxid, q.arrived.elapsed());
        }
    }
}
