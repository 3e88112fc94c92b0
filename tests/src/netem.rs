//! A small WAN emulator for loopback tests (the kernel's netem is not available everywhere):
//! a proxy in front of one address that forwards TCP and UDP to another after a one-way
//! delay, with random loss.
//!
//! - **UDP** (QUIC): each datagram is dropped with probability `loss`, else delivered after
//!   `delay`, in each direction. QUIC sees real loss and recovers from it.
//! - **TCP**: bytes are delivered in order after `delay`; a lost segment cannot be emulated
//!   above the kernel's TCP, so with probability `loss` a chunk is held back for an extra
//!   retransmission timeout (200 ms), and everything behind it waits, as TCP's head-of-line
//!   blocking after a loss would.
//!
//! The proxies run on their own runtime thread and stop when the [`Netem`] is dropped.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Delay and loss, per direction.
#[derive(Copy, Clone, Debug)]
pub struct WanConditions {
    /// One-way delay (the round trip is twice this).
    pub delay: Duration,
    /// Probability of losing a datagram (UDP) or a segment (TCP, modelled as a retransmission).
    pub loss: f64,
}

impl WanConditions {
    /// 50 ms round trip, 1 % loss.
    pub fn cross_datacenter() -> Self {
        Self {
            delay: Duration::from_millis(25),
            loss: 0.01,
        }
    }
}

/// The extra wait of a "lost" TCP segment.
const TCP_RTO: Duration = Duration::from_millis(200);

/// Running proxies; dropping it stops them.
#[derive(Debug)]
pub struct Netem {
    runtime: Option<tokio::runtime::Runtime>,
    forwarded: Arc<AtomicU64>,
}

impl Netem {
    /// Proxy each `(listen, target)` pair, TCP and UDP both, under `conditions`.
    pub fn start(routes: &[(SocketAddr, SocketAddr)], conditions: WanConditions) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the netem runtime")?;
        let forwarded = Arc::new(AtomicU64::new(0));
        for (i, &(listen, target)) in routes.iter().enumerate() {
            let seed = 0x9e37_79b9_7f4a_7c15 ^ i as u64;
            let tcp = runtime
                .block_on(TcpListener::bind(listen))
                .with_context(|| format!("netem: binding TCP {listen}"))?;
            let udp = runtime
                .block_on(UdpSocket::bind(listen))
                .with_context(|| format!("netem: binding UDP {listen}"))?;
            runtime.spawn(tcp_proxy(tcp, target, conditions, seed, forwarded.clone()));
            runtime.spawn(udp_proxy(
                Arc::new(udp),
                target,
                conditions,
                seed ^ 1,
                forwarded.clone(),
            ));
        }
        Ok(Self {
            runtime: Some(runtime),
            forwarded,
        })
    }

    /// Bytes delivered so far, both protocols and directions (proof that traffic went through).
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for Netem {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A tiny seeded generator (xorshift): loss decisions replay per seed.
struct Coin(u64);

impl Coin {
    fn lose(&mut self, p: f64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

async fn tcp_proxy(
    listener: TcpListener,
    target: SocketAddr,
    c: WanConditions,
    seed: u64,
    count: Arc<AtomicU64>,
) {
    let mut n = 0u64;
    while let Ok((client, _)) = listener.accept().await {
        n += 1;
        let Ok(server) = TcpStream::connect(target).await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        tokio::spawn(pump(cr, sw, c, seed ^ (n << 1), count.clone()));
        tokio::spawn(pump(sr, cw, c, seed ^ (n << 1 | 1), count.clone()));
    }
}

/// Copy `from` to `to`, each chunk after the delay (and a rare retransmission wait), in order.
async fn pump<R, W>(mut from: R, mut to: W, c: WanConditions, seed: u64, count: Arc<AtomicU64>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(1024);
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
            count.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        let _ = to.shutdown().await;
    });
    let mut coin = Coin(seed | 1);
    let mut last_due = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut due = Instant::now() + c.delay;
        if coin.lose(c.loss) {
            due += TCP_RTO;
        }
        // In order: nothing overtakes a chunk that is held back.
        due = due.max(last_due);
        last_due = due;
        if tx.send((due, buf[..n].to_vec())).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

async fn udp_proxy(
    front: Arc<UdpSocket>,
    target: SocketAddr,
    c: WanConditions,
    seed: u64,
    count: Arc<AtomicU64>,
) {
    let mut sessions: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut coin = Coin(seed | 1);
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, client)) = front.recv_from(&mut buf).await {
        let back = match sessions.get(&client) {
            Some(s) => s.clone(),
            None => {
                let Ok(s) = UdpSocket::bind("127.0.0.1:0").await else {
                    continue;
                };
                if s.connect(target).await.is_err() {
                    continue;
                }
                let s = Arc::new(s);
                sessions.insert(client, s.clone());
                tokio::spawn(udp_return(
                    s.clone(),
                    front.clone(),
                    client,
                    c,
                    seed ^ sessions.len() as u64,
                    count.clone(),
                ));
                s
            }
        };
        if coin.lose(c.loss) {
            continue;
        }
        let datagram = buf[..n].to_vec();
        let count = count.clone();
        tokio::spawn(async move {
            tokio::time::sleep(c.delay).await;
            if back.send(&datagram).await.is_ok() {
                count.fetch_add(datagram.len() as u64, Ordering::Relaxed);
            }
        });
    }
}

async fn udp_return(
    back: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    c: WanConditions,
    seed: u64,
    count: Arc<AtomicU64>,
) {
    let mut coin = Coin(seed | 1);
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = back.recv(&mut buf).await {
        if coin.lose(c.loss) {
            continue;
        }
        let datagram = buf[..n].to_vec();
        let front = front.clone();
        let count = count.clone();
        tokio::spawn(async move {
            tokio::time::sleep(c.delay).await;
            if front.send_to(&datagram, client).await.is_ok() {
                count.fetch_add(datagram.len() as u64, Ordering::Relaxed);
            }
        });
    }
}
