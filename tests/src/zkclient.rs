//! A small blocking ZooKeeper client over `zk-jute`, for process tests: one session, one
//! request at a time, watch events skipped. Real third-party clients are tested elsewhere;
//! this one lets a test say `set`/`get`/`sync`/`digest` against any server's client port.

use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use zk_jute::{
    ConnectRequest, ConnectResponse, CreateRequest, GetChildrenRequest, GetDataRequest, OpCode,
    Record, Request, Response, SetDataRequest, SyncRequest, decode_response, encode_frame_with,
    xid,
};

impl Drop for TestClient {
    /// Closes the session, so its ephemerals go at once and the leader has nothing to
    /// expire; best effort (the server may be gone).
    fn drop(&mut self) {
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = self.call(&Request::CloseSession);
    }
}

/// The test nodes live under this parent (created on first use).
const ROOT: &str = "/kv";

/// What [`TestClient::digest`] reports about a server's tree under [`ROOT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    /// The server's last applied zxid at the time of the read.
    pub zxid: u64,
    /// How many keys.
    pub keys: u64,
    /// A hash of every (key, value), equal on servers holding equal entries.
    pub hash: u64,
}

/// A ZooKeeper error code answered to a request.
#[derive(Debug, thiserror::Error)]
#[error("{op:?} {path}: ZooKeeper error {code}")]
pub struct ZkError {
    /// The request.
    pub op: OpCode,
    /// Its path.
    pub path: String,
    /// The error code.
    pub code: i32,
}

/// One session on one server.
#[derive(Debug)]
pub struct TestClient {
    stream: TcpStream,
    next_xid: i32,
    /// The session id the server gave.
    pub session: i64,
}

impl TestClient {
    /// Connects to `port` on loopback; a reply taking over 15 s is an error.
    pub fn connect(port: u16) -> Result<Self> {
        Self::connect_timeout(port, Duration::from_secs(15))
    }

    /// Connects with a read timeout of `timeout`; the session asks for 10 s.
    pub fn connect_timeout(port: u16, timeout: Duration) -> Result<Self> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .with_context(|| format!("connecting to the client port {port}"))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut c = Self {
            stream,
            next_xid: 1,
            session: 0,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 10_000,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        let mut buf = BytesMut::new();
        encode_frame_with(&mut buf, |out| req.encode(out));
        c.stream.write_all(&buf)?;
        let frame = c.read_frame().context("reading the connect response")?;
        let mut r = zk_jute::Reader::new(&frame);
        let resp = ConnectResponse::decode(&mut r).context("decoding the connect response")?;
        if resp.session_id == 0 {
            bail!("the server refused the session");
        }
        c.session = resp.session_id;
        Ok(c)
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    fn read_frame(&mut self) -> Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = usize::try_from(i32::from_be_bytes(len)).context("negative frame length")?;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        Ok(body)
    }

    /// Sends `request` and returns (zxid, error code, body) of its reply, skipping watch
    /// events.
    pub fn call(&mut self, request: &Request) -> Result<(u64, i32, Response)> {
        let x = self.next_xid;
        self.next_xid += 1;
        let mut buf = BytesMut::new();
        encode_frame_with(&mut buf, |out| request.encode_with_xid(x, out));
        self.stream.write_all(&buf)?;
        let op = request.op_code();
        loop {
            let frame = self.read_frame()?;
            let (h, body) = decode_response(&frame, |got| (got == x).then_some(op))
                .context("decoding a reply")?;
            if h.xid == xid::NOTIFICATION {
                continue;
            }
            if h.xid != x {
                bail!("reply xid {} while waiting for {x}", h.xid);
            }
            return Ok((h.zxid as u64, h.err, body));
        }
    }

    fn ok(&mut self, request: &Request, path: &str) -> Result<(u64, Response)> {
        let (zxid, err, body) = self.call(request)?;
        if err != 0 {
            return Err(ZkError {
                op: request.op_code(),
                path: path.to_owned(),
                code: err,
            }
            .into());
        }
        Ok((zxid, body))
    }

    fn create(&mut self, path: &str, data: &[u8]) -> Result<(u64, i32)> {
        let r = Request::Create(CreateRequest {
            path: path.to_owned(),
            data: Some(Bytes::copy_from_slice(data)),
            acl: vec![zk_jute::Acl {
                perms: zk_jute::perms::ALL,
                id: zk_jute::Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            }],
            flags: 0,
        });
        let (zxid, err, _) = self.call(&r)?;
        Ok((zxid, err))
    }

    /// Sets `key` to `value` (creating `/kv/key`): the zxid of the write, which the server
    /// applied before answering.
    pub fn set(&mut self, key: &str, value: &str) -> Result<u64> {
        let path = format!("{ROOT}/{key}");
        let (zxid, err) = self.create(&path, value.as_bytes())?;
        match err {
            0 => return Ok(zxid),
            -101 => {
                // No parent yet: create it (racing creators are fine) and retry.
                let (_, e) = self.create(ROOT, b"")?;
                if e != 0 && e != -110 {
                    bail!("creating {ROOT}: ZooKeeper error {e}");
                }
                let (zxid, err) = self.create(&path, value.as_bytes())?;
                if err == 0 {
                    return Ok(zxid);
                }
                if err != -110 {
                    bail!("creating {path}: ZooKeeper error {err}");
                }
            }
            -110 => {}
            e => bail!("creating {path}: ZooKeeper error {e}"),
        }
        let r = Request::SetData(SetDataRequest {
            path: path.clone(),
            data: Some(Bytes::copy_from_slice(value.as_bytes())),
            version: -1,
        });
        Ok(self.ok(&r, &path)?.0)
    }

    /// The value of `key` read on this server.
    pub fn get(&mut self, key: &str) -> Result<Option<String>> {
        let path = format!("{ROOT}/{key}");
        let r = Request::GetData(GetDataRequest {
            path: path.clone(),
            watch: false,
        });
        match self.call(&r)? {
            (_, 0, Response::GetData(d)) => Ok(Some(
                String::from_utf8_lossy(&d.data.unwrap_or_default()).into_owned(),
            )),
            (_, -101, _) => Ok(None),
            (_, e, _) => bail!("getData {path}: ZooKeeper error {e}"),
        }
    }

    /// `sync`: the zxid applied here once this server caught up with the leader.
    pub fn sync(&mut self) -> Result<u64> {
        let r = Request::Sync(SyncRequest { path: "/".into() });
        Ok(self.ok(&r, "/")?.0)
    }

    /// The keys and values under [`ROOT`] on this server, as a [`Digest`].
    pub fn digest(&mut self) -> Result<Digest> {
        let r = Request::GetChildren(GetChildrenRequest {
            path: ROOT.into(),
            watch: false,
        });
        let (zxid, err, body) = self.call(&r)?;
        let mut children = match (err, body) {
            (0, Response::GetChildren(c)) => c.children,
            (-101, _) => Vec::new(),
            (e, _) => bail!("getChildren {ROOT}: ZooKeeper error {e}"),
        };
        children.sort();
        // FNV-1a over every key and value.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |b: &[u8]| {
            for &x in b {
                hash ^= u64::from(x);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            hash ^= 0xff;
        };
        for k in &children {
            let v = self.get(k)?.unwrap_or_default();
            mix(k.as_bytes());
            mix(v.as_bytes());
        }
        Ok(Digest {
            zxid,
            keys: children.len() as u64,
            hash,
        })
    }
}
