//! A zk-rs-specific, **test-only** TCP port over the replicated key-value state, until
//! ZooKeeper's client protocol exists. Off unless `zoo.cfg` sets `zkrs.testClientPort=N`; it
//! accepts unauthenticated writes, so it must never be enabled in production.
//!
//! One request per line (`\n`, an optional `\r` before it), one reply line each:
//!
//! - `SET <key> <value>`: replicates `set <key> <value>` through ZAB and answers `OK <zxid>`
//!   once the write is applied **on this server** (the key holds the value; `zxid` is the
//!   last applied zxid at that moment, at or after the write's own), or `ERR <reason>`: not
//!   serving, busy, stopped, or `timeout` after [`WRITE_TIMEOUT`] (the write may still be
//!   applied later). Keys are one word; a key already holding the value answers at once, so
//!   tests use unique keys.
//! - `GET <key>`: `VALUE <value>` or `NONE`, read locally.
//! - `SYNC`: `OK <zxid>` once this server applied everything the leader had committed, or
//!   `ERR <reason>` (not serving, or `timeout` after [`WRITE_TIMEOUT`]).
//! - `DIGEST`: `<last applied zxid> <number of keys> <hash of every entry>`.
//!
//! Zxids are decimal. A malformed request gets `ERR <reason>` and the connection stays
//! usable; a line longer than [`MAX_LINE`] bytes closes the connection. At most
//! [`MAX_CONNECTIONS`] connections are served at once; more are closed on accept.

use crate::replicated::SharedKv;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tracing::Instrument;
use zk_zab::driver::{ClientError, ClientHandle};
use zk_zab::state_machine::StateMachine;

/// The longest request line accepted, in bytes (without the newline).
pub const MAX_LINE: usize = 64 * 1024;
/// How long `SET` waits for its write to be applied here, and `SYNC` for its answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// The test port: a listener, the replicated map, and the driver's client handle.
#[derive(Debug)]
pub struct TestPort {
    listener: TcpListener,
    kv: SharedKv,
    client: ClientHandle,
}

impl TestPort {
    /// Binds `host:port` (`host` may be an IPv6 literal without brackets).
    pub async fn bind(
        host: &str,
        port: u16,
        kv: SharedKv,
        client: ClientHandle,
    ) -> std::io::Result<Self> {
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let listener = TcpListener::bind(&addr).await?;
        tracing::warn!(
            %addr,
            "zkrs.testClientPort is open: a test-only port that accepts unauthenticated writes; never use it in production"
        );
        Ok(Self {
            listener,
            kv,
            client,
        })
    }

    /// Serves connections until `stop` turns true.
    pub async fn serve(self, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = stop.wait_for(|s| *s) => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!(error = %e, "test port accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                drop(stream);
                continue;
            };
            let (kv, client) = (self.kv.clone(), self.client.clone());
            tokio::spawn(
                async move {
                    if let Err(e) = connection(stream, kv, client).await {
                        tracing::debug!(error = %e, "test port connection ended");
                    }
                    drop(permit);
                }
                .in_current_span(),
            );
        }
    }
}

async fn connection(stream: TcpStream, kv: SharedKv, client: ClientHandle) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let limit = u64::try_from(MAX_LINE + 2).unwrap_or(u64::MAX);
        let n = (&mut read).take(limit).read_until(b'\n', &mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        // Without a newline this is the end of the stream (answered, then closed) or a line
        // over the limit.
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if buf.len() > MAX_LINE {
            write.write_all(b"ERR line too long\n").await?;
            return Ok(());
        }
        let mut reply = match std::str::from_utf8(&buf) {
            Ok(line) => handle(line, &kv, &client).await,
            Err(_) => "ERR request is not UTF-8".to_owned(),
        };
        reply.push('\n');
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The reply to one request line.
async fn handle(line: &str, kv: &SharedKv, client: &ClientHandle) -> String {
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    match cmd {
        "SET" => {
            let Some((key, value)) = rest.split_once(' ') else {
                return "ERR usage: SET <key> <value>".to_owned();
            };
            if key.is_empty() || key.chars().any(char::is_whitespace) {
                return "ERR usage: SET <key> <value> (the key is one word)".to_owned();
            }
            set(kv, client, key, value).await
        }
        "GET" => {
            if rest.is_empty() || rest.chars().any(char::is_whitespace) {
                return "ERR usage: GET <key>".to_owned();
            }
            match kv.get(rest) {
                Some(v) => format!("VALUE {v}"),
                None => "NONE".to_owned(),
            }
        }
        "SYNC" if rest.is_empty() => match tokio::time::timeout(WRITE_TIMEOUT, client.sync()).await
        {
            Ok(Ok(zxid)) => format!("OK {zxid}"),
            Ok(Err(e)) => err(&e),
            Err(_) => "ERR timeout: the sync was not answered in time".to_owned(),
        },
        "DIGEST" if rest.is_empty() => {
            let d = kv.digest();
            format!("{} {} {}", d.last_applied, d.keys, d.hash)
        }
        "SYNC" | "DIGEST" => format!("ERR usage: {cmd} takes no argument"),
        _ => "ERR unknown command; use SET, GET, SYNC or DIGEST".to_owned(),
    }
}

async fn set(kv: &SharedKv, client: &ClientHandle, key: &str, value: &str) -> String {
    let mut applied = client.applied();
    if let Err(e) = client.write(format!("set {key} {value}")) {
        return err(&e);
    }
    let deadline = Instant::now() + WRITE_TIMEOUT;
    loop {
        {
            let state = kv.lock();
            if state.get(key) == Some(value) {
                return format!("OK {}", state.last_applied());
            }
        }
        match tokio::time::timeout_at(deadline, applied.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return err(&ClientError::Stopped),
            Err(_) => return "ERR timeout: the write was not applied here in time".to_owned(),
        }
    }
}

fn err(e: &ClientError) -> String {
    let reason = match e {
        ClientError::NotServing => "not serving",
        ClientError::Busy => "busy",
        ClientError::Stopped => "stopped",
        _ => "unavailable",
    };
    format!("ERR {reason}: {e}")
}
