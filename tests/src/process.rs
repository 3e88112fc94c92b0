//! Real `zk-server` processes in a temporary directory.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::netem::{Netem, WanConditions};
use crate::ports::free_port;
pub use crate::zkclient::{Digest, TestClient};

/// The shape of an ensemble.
#[derive(Clone, Debug)]
pub struct EnsembleSpec {
    /// Voting servers.
    pub voters: u64,
    /// Observers, numbered after the voters.
    pub observers: u64,
    /// `tickTime` in milliseconds.
    pub tick_ms: u64,
    /// Extra `zoo.cfg` lines for every node.
    pub extra: String,
    /// The peer transport (certificates are written for the TLS ones).
    pub transport: PeerTransport,
    /// A node whose certificate is bad in the given way (TLS transports only).
    pub bad_certificate: Option<(u64, BadCertificate)>,
    /// One node configured with another transport than the rest (a misconfiguration).
    pub odd_one_out: Option<(u64, PeerTransport)>,
    /// Emulated WAN between the servers: each server reaches the others through a
    /// [`Netem`] proxy (its own `server.N` line keeps the real address it listens on).
    pub wan: Option<WanConditions>,
}

/// The peer transports an ensemble test can run over.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PeerTransport {
    /// Classic TCP.
    Tcp,
    /// Classic TCP with `sslQuorum=true`.
    TcpTls,
    /// QUIC with mutual TLS.
    Quic,
    /// gRPC with mutual TLS.
    Grpc,
}

impl PeerTransport {
    /// The `zoo.cfg` lines selecting it (certificates aside).
    fn config_lines(self) -> &'static str {
        match self {
            Self::Tcp => "quorum.transport=tcp\n",
            Self::TcpTls => "quorum.transport=tcp\nsslQuorum=true\n",
            Self::Quic => "quorum.transport=quic\n",
            Self::Grpc => "quorum.transport=grpc\n",
        }
    }
}

/// Ways a node's certificate can be unacceptable to its peers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BadCertificate {
    /// Signed by another CA (the node trusts the ensemble's CA).
    OtherCa,
    /// Signed by the ensemble's CA, but expired.
    Expired,
}

impl EnsembleSpec {
    /// `voters` participants, a 200 ms tick.
    pub fn voters(voters: u64) -> Self {
        Self {
            voters,
            observers: 0,
            tick_ms: 200,
            extra: String::new(),
            transport: PeerTransport::Tcp,
            bad_certificate: None,
            odd_one_out: None,
            wan: None,
        }
    }
}

/// One server process and its files.
#[derive(Debug)]
pub struct NodeProc {
    /// Its id.
    pub id: u64,
    /// Its client port.
    pub client_port: u16,
    /// Its `dataDir`.
    pub data_dir: PathBuf,
    /// Its `zoo.cfg`.
    pub config: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    child: Option<Child>,
}

/// A running ensemble; every process is killed on drop.
#[derive(Debug)]
pub struct Ensemble {
    /// The nodes, by id order.
    pub nodes: Vec<NodeProc>,
    binary: PathBuf,
    /// The directory (kept while the ensemble lives).
    pub dir: tempfile::TempDir,
    /// The ensemble CA (TLS transports).
    pub ca: Option<zk_tls::certs::Ca>,
    /// The WAN proxies, if any.
    pub netem: Option<Netem>,
}

impl Ensemble {
    /// Write configs for `spec` and start every node.
    pub fn start(binary: &Path, spec: &EnsembleSpec) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let total = spec.voters + spec.observers;
        let ports: Vec<(u16, u16, u16)> = (0..total)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        // With an emulated WAN, node N is reached by the others at 127.0.1.N (the proxy).
        let servers_for = |me: u64| {
            let mut servers = String::new();
            for (i, (_, q, e)) in ports.iter().enumerate() {
                let id = i as u64 + 1;
                let role = if id > spec.voters { ":observer" } else { "" };
                let host = match spec.wan {
                    Some(_) if id != me => format!("127.0.1.{id}"),
                    _ => "127.0.0.1".to_owned(),
                };
                servers.push_str(&format!("server.{id}={host}:{q}:{e}{role}\n"));
            }
            servers
        };
        let netem = match spec.wan {
            Some(conditions) => {
                let mut routes = Vec::new();
                for (i, (_, q, e)) in ports.iter().enumerate() {
                    for port in [*q, *e] {
                        let front = format!("127.0.1.{}:{port}", i + 1).parse()?;
                        let real = format!("127.0.0.1:{port}").parse()?;
                        routes.push((front, real));
                    }
                }
                Some(Netem::start(&routes, conditions)?)
            }
            None => None,
        };
        let certs = dir.path().join("certs");
        let transport_of = |id: u64| match spec.odd_one_out {
            Some((odd, t)) if odd == id => t,
            _ => spec.transport,
        };
        let any_tls = (1..=total).any(|id| transport_of(id) != PeerTransport::Tcp);
        let ca = if any_tls {
            Some(write_certificates(&certs, total, spec.bad_certificate)?)
        } else {
            None
        };
        let mut nodes = Vec::new();
        for (i, (c, _, _)) in ports.iter().enumerate() {
            let id = i as u64 + 1;
            let mut transport = transport_of(id).config_lines().to_owned();
            if transport_of(id) != PeerTransport::Tcp {
                transport.push_str(&format!(
                    "ssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n",
                    certs.join(format!("server-{id}.pem")).display(),
                    certs.join("ca.pem").display()
                ));
            }
            let node_dir = dir.path().join(format!("node-{id}"));
            std::fs::create_dir_all(node_dir.join("data"))?;
            std::fs::write(node_dir.join("data/myid"), format!("{id}\n"))?;
            let cfg = format!(
                "tickTime={}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={c}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n{transport}{}{}",
                spec.tick_ms,
                node_dir.join("data").display(),
                spec.extra,
                servers_for(id),
            );
            let config = node_dir.join("zoo.cfg");
            std::fs::write(&config, cfg)?;
            nodes.push(NodeProc {
                id,
                client_port: *c,
                data_dir: node_dir.join("data"),
                config,
                log: node_dir.join("zk-server.log"),
                child: None,
            });
        }
        let mut e = Self {
            nodes,
            binary: binary.to_path_buf(),
            dir,
            ca,
            netem,
        };
        for id in 1..=total {
            e.start_node(id)?;
        }
        Ok(e)
    }

    fn node_mut(&mut self, id: u64) -> &mut NodeProc {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("no such node")
    }

    /// Start (or restart) node `id` from its config and data directory.
    pub fn start_node(&mut self, id: u64) -> Result<()> {
        let binary = self.binary.clone();
        let node = self.node_mut(id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        let child = Command::new(binary)
            .arg("--config")
            .arg(&node.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawning zk-server")?;
        node.child = Some(child);
        Ok(())
    }

    /// `kill -9` node `id` and reap it.
    pub fn kill9(&mut self, id: u64) {
        if let Some(mut c) = self.node_mut(id).child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `kill -TERM` node `id` and wait for it to exit; returns its exit success.
    pub fn terminate(&mut self, id: u64) -> Result<bool> {
        let Some(mut c) = self.node_mut(id).child.take() else {
            return Ok(true);
        };
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = c.try_wait()? {
                return Ok(status.success());
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                bail!("node {id} did not exit within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send `signal` to node `id`'s process.
    pub fn signal(&self, id: u64, signal: nix::sys::signal::Signal) -> Result<()> {
        let child = self
            .node(id)
            .child
            .as_ref()
            .context("node is not running")?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal)?;
        Ok(())
    }

    /// Whether node `id`'s process is running.
    pub fn is_running(&mut self, id: u64) -> bool {
        self.node_mut(id)
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The node with id `id`.
    pub fn node(&self, id: u64) -> &NodeProc {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .expect("no such node")
    }

    /// The `Mode:` of every listed node (`None` where not serving or not answering).
    pub fn modes(&self, ids: &[u64]) -> Vec<(u64, Option<String>)> {
        ids.iter()
            .map(|&id| (id, mode(self.node(id).client_port)))
            .collect()
    }

    /// Wait until every listed node serves, with exactly one leader among them; returns the
    /// leader's id. Fails with every node's mode and log tail after `within`.
    pub fn wait_for_single_leader(&self, ids: &[u64], within: Duration) -> Result<u64> {
        let deadline = Instant::now() + within;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self.modes(ids);
            if last.iter().all(|(_, m)| m.is_some()) {
                let leaders: Vec<u64> = last
                    .iter()
                    .filter(|(_, m)| m.as_deref() == Some("leader"))
                    .map(|(id, _)| *id)
                    .collect();
                if leaders.len() == 1 {
                    return Ok(leaders[0]);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "no single leader among {ids:?} within {within:?}: {last:?}\n{}",
            self.log_tails(ids)
        )
    }

    /// Sets `key` to `value` through node `id`'s client port: the zxid once the write is
    /// applied there.
    pub fn set(&self, id: u64, key: &str, value: &str) -> Result<u64> {
        TestClient::connect(self.node(id).client_port)?.set(key, value)
    }

    /// The value of `key` on node `id` (a local read).
    pub fn get(&self, id: u64, key: &str) -> Result<Option<String>> {
        TestClient::connect(self.node(id).client_port)?.get(key)
    }

    /// `sync` on node `id`: the zxid applied there once it caught up with the leader.
    pub fn sync(&self, id: u64) -> Result<u64> {
        TestClient::connect(self.node(id).client_port)?.sync()
    }

    /// The digest of the keys on node `id` (see [`TestClient::digest`]).
    pub fn digest(&self, id: u64) -> Result<Digest> {
        TestClient::connect(self.node(id).client_port)?.digest()
    }

    /// The `snapshot.*` files in node `id`'s `dataDir`. A file that appears while the node
    /// was only following is a SNAP it installed from its leader (as long as `snapCount` is
    /// not reached, the only other way a snapshot is written after the first start).
    pub fn snapshots(&self, id: u64) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for entry in std::fs::read_dir(&self.node(id).data_dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with("snapshot.") {
                out.insert(name);
            }
        }
        Ok(out)
    }

    /// Whether node `id`'s log says it installed a snapshot from its leader (a SNAP sync).
    pub fn installed_snapshot(&self, id: u64) -> bool {
        std::fs::read_to_string(&self.node(id).log)
            .is_ok_and(|t| t.contains("installed the leader's snapshot"))
    }

    /// Replace node `id`'s certificate on disk (atomically, as an operator's rename would)
    /// with a new one from the ensemble CA valid in `validity`.
    pub fn rotate_certificate(&self, id: u64, validity: zk_tls::certs::Validity) -> Result<()> {
        let ca = self.ca.as_ref().context("not a TLS ensemble")?;
        let pem = ca.issue(zk_transport::PeerId(id), "127.0.0.1", validity)?;
        let certs = self.dir.path().join("certs");
        let tmp = certs.join(format!("server-{id}.pem.new"));
        let _ = std::fs::remove_file(&tmp);
        zk_tls::certs::write_new(&tmp, &pem, true)?;
        std::fs::rename(&tmp, certs.join(format!("server-{id}.pem")))?;
        Ok(())
    }

    /// The last lines of the listed nodes' logs, for failure messages.
    pub fn log_tails(&self, ids: &[u64]) -> String {
        let mut out = String::new();
        for &id in ids {
            let text = std::fs::read_to_string(&self.node(id).log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out.push_str(&format!("--- node {id} log tail ---\n"));
            for l in tail.iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// A CA and `server-N.pem` for nodes `1..=total` in `dir`; `bad` gets a bad one.
fn write_certificates(
    dir: &Path,
    total: u64,
    bad: Option<(u64, BadCertificate)>,
) -> Result<zk_tls::certs::Ca> {
    use zk_tls::certs::{Ca, Validity, write_new};
    use zk_transport::PeerId;
    std::fs::create_dir_all(dir)?;
    let ca = Ca::generate(Validity::days(1))?;
    write_new(&dir.join("ca.pem"), ca.cert_pem(), false)?;
    for id in 1..=total {
        let pem = match bad {
            Some((b, BadCertificate::OtherCa)) if b == id => Ca::generate(Validity::days(1))?
                .issue(PeerId(id), "127.0.0.1", Validity::days(1))?,
            Some((b, BadCertificate::Expired)) if b == id => {
                let now = std::time::SystemTime::now();
                let day = Duration::from_secs(86_400);
                let expired = Validity {
                    not_before: now - 2 * day,
                    not_after: now - day,
                };
                ca.issue(PeerId(id), "127.0.0.1", expired)?
            }
            _ => ca.issue(PeerId(id), "127.0.0.1", Validity::days(1))?,
        };
        write_new(&dir.join(format!("server-{id}.pem")), &pem, true)?;
    }
    Ok(ca)
}

/// Send a four-letter word to a client port and read the whole answer.
pub fn four_letter(port: u16, cmd: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(cmd.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The `Mode:` line of `srvr`, if the server serves.
pub fn mode(port: u16) -> Option<String> {
    let out = four_letter(port, "srvr").ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(str::to_string)
}

/// What an ensemble test needs of an ensemble, however its members run (processes here, or
/// in-process nodes over the in-memory transport): client ports, a crash, a restart from the
/// data directory. Everything else goes through the client port, as for an operator.
pub trait Members {
    /// Node `id`'s client port.
    fn client_port(&self, id: u64) -> u16;
    /// Stop node `id` at once, without a clean shutdown (`kill -9` for a process).
    fn crash(&mut self, id: u64);
    /// Start node `id` again from its config and data directory.
    fn restart(&mut self, id: u64) -> Result<()>;
    /// What to print when a check fails (log tails).
    fn describe(&self, _ids: &[u64]) -> String {
        String::new()
    }

    /// Wait until every listed node serves with exactly one leader among them; its id.
    fn leader_among(&self, ids: &[u64], within: Duration) -> Result<u64> {
        let deadline = Instant::now() + within;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = ids
                .iter()
                .map(|&id| (id, mode(self.client_port(id))))
                .collect::<Vec<_>>();
            let leaders: Vec<u64> = last
                .iter()
                .filter(|(_, m)| m.as_deref() == Some("leader"))
                .map(|(id, _)| *id)
                .collect();
            if last.iter().all(|(_, m)| m.is_some()) && leaders.len() == 1 {
                return Ok(leaders[0]);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "no single leader among {ids:?} within {within:?}: {last:?}\n{}",
            self.describe(ids)
        )
    }

    /// Set `key` through node `id` (see [`TestClient::set`]).
    fn write(&self, id: u64, key: &str, value: &str) -> Result<u64> {
        TestClient::connect(self.client_port(id))?.set(key, value)
    }

    /// Read `key` at node `id` (a local read).
    fn read(&self, id: u64, key: &str) -> Result<Option<String>> {
        TestClient::connect(self.client_port(id))?.get(key)
    }

    /// `sync` at node `id`.
    fn catch_up(&self, id: u64) -> Result<u64> {
        TestClient::connect(self.client_port(id))?.sync()
    }

    /// The digest of the keys at node `id`.
    fn data_digest(&self, id: u64) -> Result<Digest> {
        TestClient::connect(self.client_port(id))?.digest()
    }
}

impl Members for Ensemble {
    fn client_port(&self, id: u64) -> u16 {
        self.node(id).client_port
    }

    fn crash(&mut self, id: u64) {
        self.kill9(id);
    }

    fn restart(&mut self, id: u64) -> Result<()> {
        self.start_node(id)
    }

    fn describe(&self, ids: &[u64]) -> String {
        self.log_tails(ids)
    }
}
