//! Dialing a peer: resolve its address, connect, send ZooKeeper's handshake.

use crate::config::PeerAddrs;
use crate::handshake;
use crate::tls::{self, Tls};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use zk_transport::streams::{Connector, Opened, Purpose};
use zk_transport::{Authn, Channel, PeerId};

/// How a TCP node dials its peers (the [`Connector`] behind [`crate::TcpTransport`]).
#[derive(Debug)]
pub struct TcpConnector {
    pub(crate) me: PeerId,
    pub(crate) peers: BTreeMap<PeerId, PeerAddrs>,
    /// `sslQuorum`: TLS under the handshake.
    pub(crate) tls: Option<Tls>,
}

impl Connector for TcpConnector {
    async fn open(&self, peer: PeerId, channel: Channel, _: Purpose) -> Result<Opened, String> {
        let target = self
            .peers
            .get(&peer)
            .map(|a| a.get(channel).to_owned())
            .ok_or_else(|| format!("server {peer} is not in the peer table"))?;
        let own = self
            .peers
            .get(&self.me)
            .map(|a| a.get(channel))
            .unwrap_or_default();
        let hello = handshake::encode(self.me.0, own);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(target.as_str())
            .await
            .map_err(|e| format!("cannot resolve {target}: {e}"))?
            .collect();
        let mut last = format!("{target} resolved to no address");
        for addr in addrs {
            let s = match connect_one(addr).await {
                Ok(s) => s,
                Err(e) => {
                    last = format!("cannot connect to {target} ({addr}): {e}");
                    continue;
                }
            };
            let opened = match &self.tls {
                None => hello_plain(s, &hello).await,
                Some(t) => match t.connect(peer, s).await {
                    Ok(s) => hello_tls(s, &hello, t, peer).await,
                    Err(e) => Err(io::Error::other(e)),
                },
            };
            match opened {
                Ok(mut o) => {
                    o.remote = addr.to_string();
                    return Ok(o);
                }
                Err(e) => last = format!("handshake to {target} ({addr}) failed: {e}"),
            }
        }
        Err(last)
    }
}

async fn hello_plain(mut s: TcpStream, hello: &[u8]) -> io::Result<Opened> {
    s.write_all(hello).await?;
    let (rd, wr) = s.into_split();
    Ok(Opened {
        reader: Box::new(rd),
        writer: Box::new(wr),
        remote: String::new(),
        authn: Authn::Declared,
    })
}

async fn hello_tls(
    mut s: tokio_rustls::client::TlsStream<TcpStream>,
    hello: &[u8],
    t: &Tls,
    peer: PeerId,
) -> io::Result<Opened> {
    s.write_all(hello).await?;
    s.flush().await?;
    let (reader, writer) = tls::halves(s);
    // The name the certificate was checked for when dialing.
    let name = t
        .store
        .expected_name(peer)
        .map(|n| n.to_str().into_owned())
        .unwrap_or_default();
    Ok(Opened {
        reader,
        writer,
        remote: String::new(),
        authn: Authn::Certificate { name },
    })
}

/// Connect one address with keepalive and no Nagle delay.
async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_keepalive(true)?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
