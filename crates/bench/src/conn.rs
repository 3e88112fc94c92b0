//! One client connection to one server, speaking ZooKeeper's client protocol with `zk-jute`:
//! the connect handshake, pipelined requests (any number queued before their replies
//! arrive), replies matched to requests in order, watch notifications (xid -1), and pings
//! (xid -2) whenever nothing was sent for a third of the session timeout.
//!
//! [`Conn::pump`] does one step of I/O (a write, a read and the decoding of every complete
//! frame, or a timer) and is cancel-safe, so a caller may `select!` it against a channel.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, Sleep};
use zk_jute::{
    ConnectRequest, ConnectResponse, Framer, OpCode, Reader, Record, Request, RequestHeader,
    Response, WatcherEvent, decode_response, encode_frame_with, xid,
};

use crate::error::ConnError;

/// What a session needs to resume on another connection.
#[derive(Clone, Debug)]
pub struct Resume {
    /// The session id.
    pub session_id: i64,
    /// Its password.
    pub passwd: Bytes,
    /// The last zxid seen on the session (the server refuses a client that saw more than it
    /// has).
    pub last_zxid: i64,
    /// The next xid: a session's xids keep counting across connections, as in ZooKeeper's
    /// client, so a late reply meant for the old connection cannot pass for a new one.
    pub next_xid: i32,
}

/// A reply to one request.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The request's xid.
    pub xid: i32,
    /// The request's opcode.
    pub op: OpCode,
    /// The caller's tag given to [`Conn::queue`].
    pub tag: u64,
    /// The error code (0 for success).
    pub err: i32,
    /// The zxid in the reply header.
    pub zxid: i64,
    /// When the request was queued.
    pub sent: Instant,
    /// When the reply was read.
    pub at: Instant,
    /// The decoded body ([`Response::Empty`] on error).
    pub body: Response,
}

/// Something that arrived from the server.
#[derive(Clone, Debug)]
pub enum Event {
    /// A reply to a queued request.
    Reply(Reply),
    /// A watch notification.
    Notification {
        /// The event.
        event: WatcherEvent,
        /// When it was read.
        at: Instant,
    },
}

/// A request sent and not answered yet.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    /// Its xid.
    pub xid: i32,
    /// Its opcode.
    pub op: OpCode,
    /// When it was queued.
    pub sent: Instant,
    /// The caller's tag.
    pub tag: u64,
}

/// Read buffer headroom kept free before each read.
const READ_CHUNK: usize = 64 * 1024;
/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An established connection with its session.
#[derive(Debug)]
pub struct Conn {
    host: String,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    rbuf: BytesMut,
    wbuf: BytesMut,
    framer: Framer,
    pending: VecDeque<Pending>,
    next_xid: i32,
    session_id: i64,
    passwd: Bytes,
    timeout: Duration,
    last_zxid: i64,
    last_send: Instant,
    last_recv: Instant,
    timer: Pin<Box<Sleep>>,
}

/// What one select in [`Conn::pump`] produced.
enum Step {
    Wrote(std::io::Result<usize>),
    Read(std::io::Result<usize>),
    Timer,
}

impl Conn {
    /// Connects to `host` and opens a session asking for `timeout`, or resumes `resume`.
    pub async fn connect(
        host: &str,
        timeout: Duration,
        resume: Option<&Resume>,
    ) -> Result<Self, ConnError> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(host))
            .await
            .map_err(|_| {
                ConnError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "TCP connect timed out",
                ))
            })??;
        stream.set_nodelay(true)?;
        let (rd, wr) = stream.into_split();
        let now = Instant::now();
        let mut c = Self {
            host: host.to_string(),
            rd,
            wr,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            framer: Framer::default(),
            pending: VecDeque::new(),
            next_xid: resume.map_or(1, |r| r.next_xid),
            session_id: 0,
            passwd: Bytes::new(),
            timeout,
            last_zxid: 0,
            last_send: now,
            last_recv: now,
            timer: Box::pin(tokio::time::sleep_until(now + timeout)),
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: resume.map_or(0, |r| r.last_zxid),
            time_out: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            session_id: resume.map_or(0, |r| r.session_id),
            passwd: resume.map_or_else(|| Bytes::from_static(&[0; 16]), |r| r.passwd.clone()),
            read_only: Some(false),
        };
        encode_frame_with(&mut c.wbuf, |out| req.encode(out));
        let wbuf = c.wbuf.split();
        c.wr.write_all(&wbuf).await?;
        let frame = tokio::time::timeout(timeout, c.read_frame())
            .await
            .map_err(|_| ConnError::HandshakeTimeout(timeout))??;
        let resp = ConnectResponse::decode(&mut Reader::new(&frame))?;
        if resp.session_id == 0 || resp.time_out <= 0 {
            return Err(ConnError::SessionRefused);
        }
        c.session_id = resp.session_id;
        c.passwd = resp.passwd;
        c.timeout = Duration::from_millis(u64::try_from(resp.time_out).unwrap_or(1));
        c.last_zxid = resume.map_or(0, |r| r.last_zxid);
        let now = Instant::now();
        c.last_send = now;
        c.last_recv = now;
        Ok(c)
    }

    /// Reads one whole frame (the handshake's).
    async fn read_frame(&mut self) -> Result<Bytes, ConnError> {
        loop {
            if let Some(frame) = self.framer.next_frame(&mut self.rbuf)? {
                return Ok(frame);
            }
            self.rbuf.reserve(READ_CHUNK);
            if self.rd.read_buf(&mut self.rbuf).await? == 0 {
                return Err(ConnError::Closed);
            }
        }
    }

    /// The server this connection goes to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The session id.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// The negotiated session timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What resuming this session elsewhere needs.
    pub fn resume(&self) -> Resume {
        Resume {
            session_id: self.session_id,
            passwd: self.passwd.clone(),
            last_zxid: self.last_zxid,
            next_xid: self.next_xid,
        }
    }

    /// Requests sent and not answered.
    pub fn inflight(&self) -> usize {
        self.pending.len()
    }

    /// Takes the unanswered requests (after the connection failed).
    pub fn take_pending(&mut self) -> Vec<Pending> {
        self.pending.drain(..).collect()
    }

    /// Queues `request` (it is written by the following [`pump`](Self::pump) calls); returns
    /// its xid. `tag` comes back in its [`Reply`].
    pub fn queue(&mut self, request: &Request, tag: u64) -> i32 {
        let x = self.next_xid;
        self.next_xid = if x >= i32::MAX - 1 { 1 } else { x + 1 };
        encode_frame_with(&mut self.wbuf, |out| request.encode_with_xid(x, out));
        self.pending.push_back(Pending {
            xid: x,
            op: request.op_code(),
            sent: Instant::now(),
            tag,
        });
        x
    }

    fn queue_ping(&mut self, now: Instant) {
        encode_frame_with(&mut self.wbuf, |out| {
            RequestHeader {
                xid: xid::PING,
                op: OpCode::Ping.code(),
            }
            .encode(out);
        });
        self.last_send = now;
    }

    /// Two thirds of the session timeout: silence for longer means the connection is lost.
    fn read_timeout(&self) -> Duration {
        self.timeout * 2 / 3
    }

    /// A third of the session timeout: a ping goes out after this long without sending.
    fn ping_interval(&self) -> Duration {
        self.timeout / 3
    }

    /// Does one step of I/O: writes queued bytes, or reads and decodes every complete frame
    /// (appending to `events`), or handles a timer (ping due, read timeout). Returns at the
    /// latest at `wake_at` (at once when it has passed). Cancel-safe.
    pub async fn pump(
        &mut self,
        events: &mut Vec<Event>,
        wake_at: Option<Instant>,
    ) -> Result<(), ConnError> {
        let now = Instant::now();
        if wake_at.is_some_and(|w| w <= now) {
            return Ok(());
        }
        // A ping that fell due while the caller was busy goes out first; the read timeout
        // is only judged below, after a read had its chance.
        if now >= self.last_send + self.ping_interval() && self.wbuf.is_empty() {
            self.queue_ping(now);
        }
        let mut deadline = self.last_recv + self.read_timeout();
        if self.wbuf.is_empty() {
            deadline = deadline.min(self.last_send + self.ping_interval());
        }
        if let Some(w) = wake_at {
            deadline = deadline.min(w);
        }
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 2 {
            self.rbuf.reserve(READ_CHUNK);
        }
        let step = tokio::select! {
            biased;
            w = self.wr.write(&self.wbuf), if !self.wbuf.is_empty() => Step::Wrote(w),
            r = self.rd.read_buf(&mut self.rbuf) => Step::Read(r),
            () = &mut self.timer => Step::Timer,
        };
        let now = Instant::now();
        match step {
            Step::Wrote(w) => {
                let n = w?;
                if n == 0 {
                    return Err(ConnError::Closed);
                }
                self.wbuf.advance(n);
                self.last_send = now;
            }
            Step::Read(r) => {
                if r? == 0 {
                    return Err(ConnError::Closed);
                }
                self.last_recv = now;
                self.decode_frames(events, now)?;
            }
            Step::Timer => self.check_timers(now)?,
        }
        Ok(())
    }

    fn check_timers(&mut self, now: Instant) -> Result<(), ConnError> {
        let silent = now.saturating_duration_since(self.last_recv);
        if silent >= self.read_timeout() {
            return Err(ConnError::Timeout(silent));
        }
        if now >= self.last_send + self.ping_interval() && self.wbuf.is_empty() {
            self.queue_ping(now);
        }
        Ok(())
    }

    fn decode_frames(&mut self, events: &mut Vec<Event>, now: Instant) -> Result<(), ConnError> {
        while let Some(frame) = self.framer.next_frame(&mut self.rbuf)? {
            let reply_xid = frame
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(i32::from_be_bytes);
            let front = self.pending.front().copied();
            if let Some(x) = reply_xid
                && x > 0
                && front.is_none_or(|p| p.xid != x)
            {
                return Err(ConnError::XidOutOfOrder {
                    got: x,
                    expected: front.map(|p| p.xid),
                });
            }
            let (header, body) =
                decode_response(&frame, |x| front.filter(|p| p.xid == x).map(|p| p.op))?;
            if header.zxid > self.last_zxid {
                self.last_zxid = header.zxid;
            }
            match header.xid {
                xid::NOTIFICATION => {
                    if let Response::Notification(event) = body {
                        events.push(Event::Notification { event, at: now });
                    }
                }
                x if x > 0 => {
                    if let Some(p) = self.pending.pop_front() {
                        events.push(Event::Reply(Reply {
                            xid: p.xid,
                            op: p.op,
                            tag: p.tag,
                            err: header.err,
                            zxid: header.zxid,
                            sent: p.sent,
                            at: now,
                            body,
                        }));
                    }
                }
                // Pings, auth and setWatches replies: nothing to do.
                _ => {}
            }
        }
        Ok(())
    }

    /// Sends `request` and waits (pumping) for its reply, at most `within`. Notifications
    /// and replies to earlier requests that arrive meanwhile are appended to `other`.
    pub async fn call(
        &mut self,
        request: &Request,
        within: Duration,
        other: &mut Vec<Event>,
    ) -> Result<Reply, ConnError> {
        let x = self.queue(request, 0);
        let deadline = Instant::now() + within;
        let mut events = Vec::new();
        loop {
            if Instant::now() >= deadline {
                return Err(ConnError::Timeout(within));
            }
            self.pump(&mut events, Some(deadline)).await?;
            let mut found = None;
            for ev in events.drain(..) {
                match ev {
                    Event::Reply(r) if r.xid == x => found = Some(r),
                    ev => other.push(ev),
                }
            }
            if let Some(r) = found {
                return Ok(r);
            }
        }
    }

    /// Closes the session (`closeSession`), waiting at most `within` for the reply; replies
    /// still owed are dropped.
    pub async fn close(mut self, within: Duration) {
        let mut other = Vec::new();
        let _ = self.call(&Request::CloseSession, within, &mut other).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;
    use zk_jute::{ConnectResponse, GetDataRequest, ReplyHeader, encode_response};

    /// A fake server: accepts one connection, answers the handshake, reads `requests`
    /// request frames, then writes `script` (raw bytes) and keeps the socket open.
    /// The session timeout it grants is `time_out` ms.
    async fn fake_server(requests: usize, script: Vec<u8>, time_out: i32) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = BytesMut::new();
            let framer = Framer::default();
            let mut frames = 0;
            while frames < 1 + requests {
                s.read_buf(&mut buf).await.unwrap();
                while framer.next_frame(&mut buf).unwrap().is_some() {
                    frames += 1;
                    if frames == 1 {
                        let resp = ConnectResponse {
                            protocol_version: 0,
                            time_out,
                            session_id: 42,
                            passwd: Bytes::from_static(&[7; 16]),
                            read_only: Some(false),
                        };
                        let mut out = BytesMut::new();
                        encode_frame_with(&mut out, |o| resp.encode(o));
                        s.write_all(&out).await.unwrap();
                    }
                }
            }
            s.write_all(&script).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        addr
    }

    fn reply(xid: i32, err: i32, body: &Response) -> Vec<u8> {
        let mut out = BytesMut::new();
        let h = ReplyHeader { xid, zxid: 9, err };
        encode_frame_with(&mut out, |o| encode_response(&h, body, o));
        out.to_vec()
    }

    fn get(path: &str) -> Request {
        Request::GetData(GetDataRequest {
            path: path.into(),
            watch: true,
        })
    }

    async fn pump_until_error(c: &mut Conn, events: &mut Vec<Event>) -> ConnError {
        loop {
            if let Err(e) = c.pump(events, None).await {
                return e;
            }
        }
    }

    #[tokio::test]
    async fn replies_notifications_and_an_out_of_order_xid() {
        let event = WatcherEvent {
            event_type: 3,
            state: 3,
            path: "/a".into(),
        };
        let mut script = reply(-1, 0, &Response::Notification(event.clone()));
        script.extend(reply(1, -101, &Response::Empty));
        script.extend(reply(7, -101, &Response::Empty));
        let addr = fake_server(2, script, 3000).await;
        let mut c = Conn::connect(&addr, Duration::from_secs(3), None)
            .await
            .unwrap();
        assert_eq!(c.session_id(), 42);
        assert_eq!(c.timeout(), Duration::from_secs(3));
        c.queue(&get("/a"), 0);
        c.queue(&get("/b"), 0);
        let mut events = Vec::new();
        let err = pump_until_error(&mut c, &mut events).await;
        assert!(
            matches!(
                err,
                ConnError::XidOutOfOrder {
                    got: 7,
                    expected: Some(2)
                }
            ),
            "{err}"
        );
        assert!(matches!(&events[0], Event::Notification { event: e, .. } if *e == event));
        assert!(matches!(&events[1], Event::Reply(r) if r.xid == 1 && r.err == -101));
        assert_eq!(c.inflight(), 1);
        let r = c.resume();
        assert_eq!((r.session_id, r.last_zxid, r.next_xid), (42, 9, 3));
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_panic() {
        // A reply whose body is cut short, then a negative frame length.
        let mut script = vec![0, 0, 0, 20];
        script.extend_from_slice(&1i32.to_be_bytes());
        script.extend_from_slice(&9i64.to_be_bytes());
        script.extend_from_slice(&0i32.to_be_bytes());
        script.extend_from_slice(&[0, 0, 0, 1]);
        let addr = fake_server(1, script, 3000).await;
        let mut c = Conn::connect(&addr, Duration::from_secs(3), None)
            .await
            .unwrap();
        c.queue(&get("/a"), 0);
        let err = pump_until_error(&mut c, &mut Vec::new()).await;
        assert!(matches!(err, ConnError::Decode(_)), "{err}");

        let addr = fake_server(1, (-5i32).to_be_bytes().to_vec(), 3000).await;
        let mut c = Conn::connect(&addr, Duration::from_secs(3), None)
            .await
            .unwrap();
        c.queue(&get("/a"), 0);
        let err = pump_until_error(&mut c, &mut Vec::new()).await;
        assert!(matches!(err, ConnError::Frame(_)), "{err}");
    }

    #[tokio::test]
    async fn silence_is_a_lost_connection() {
        // The server grants 300 ms (whatever was asked): pings after 100 ms go unanswered,
        // and the connection counts as lost after 200 ms of silence.
        let addr = fake_server(1, Vec::new(), 300).await;
        let mut c = Conn::connect(&addr, Duration::from_secs(10), None)
            .await
            .unwrap();
        assert_eq!(c.timeout(), Duration::from_millis(300));
        c.queue(&get("/a"), 0);
        let started = Instant::now();
        let err = pump_until_error(&mut c, &mut Vec::new()).await;
        assert!(matches!(err, ConnError::Timeout(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
