//! Real `zk-server` processes in a temporary directory.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::free_port;

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
    /// Whether every node opens zk-rs's test port (`zkrs.testClientPort`, a free port each),
    /// for [`Ensemble::set`], [`Ensemble::get`], [`Ensemble::sync`] and [`Ensemble::digest`].
    pub test_port: bool,
}

impl EnsembleSpec {
    /// `voters` participants, a 200 ms tick.
    pub fn voters(voters: u64) -> Self {
        Self {
            voters,
            observers: 0,
            tick_ms: 200,
            extra: String::new(),
            test_port: true,
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
    /// Its test port (`zkrs.testClientPort`), when the spec asked for one.
    pub test_port: Option<u16>,
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
}

impl Ensemble {
    /// Write configs for `spec` and start every node.
    pub fn start(binary: &Path, spec: &EnsembleSpec) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let total = spec.voters + spec.observers;
        let ports: Vec<(u16, u16, u16)> = (0..total)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let mut servers = String::new();
        for (i, (_, q, e)) in ports.iter().enumerate() {
            let id = i as u64 + 1;
            let role = if id > spec.voters { ":observer" } else { "" };
            servers.push_str(&format!("server.{id}=127.0.0.1:{q}:{e}{role}\n"));
        }
        let mut nodes = Vec::new();
        for (i, (c, _, _)) in ports.iter().enumerate() {
            let id = i as u64 + 1;
            let node_dir = dir.path().join(format!("node-{id}"));
            std::fs::create_dir_all(node_dir.join("data"))?;
            std::fs::write(node_dir.join("data/myid"), format!("{id}\n"))?;
            let test_port = spec.test_port.then(free_port);
            let test_line = test_port
                .map(|p| format!("zkrs.testClientPort={p}\n"))
                .unwrap_or_default();
            let cfg = format!(
                "tickTime={}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={c}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n{test_line}{}{servers}",
                spec.tick_ms,
                node_dir.join("data").display(),
                spec.extra,
            );
            let config = node_dir.join("zoo.cfg");
            std::fs::write(&config, cfg)?;
            nodes.push(NodeProc {
                id,
                client_port: *c,
                test_port,
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

    /// Node `id`'s test port; fails if the spec did not ask for test ports.
    pub fn test_port(&self, id: u64) -> Result<u16> {
        self.node(id)
            .test_port
            .with_context(|| format!("node {id} has no test port (EnsembleSpec::test_port)"))
    }

    /// `SET key value` on node `id`: the zxid once the write is applied there.
    pub fn set(&self, id: u64, key: &str, value: &str) -> Result<u64> {
        TestClient::connect(self.test_port(id)?)?.set(key, value)
    }

    /// `GET key` on node `id` (a local read).
    pub fn get(&self, id: u64, key: &str) -> Result<Option<String>> {
        TestClient::connect(self.test_port(id)?)?.get(key)
    }

    /// `SYNC` on node `id`: the zxid applied there once it caught up with the leader.
    pub fn sync(&self, id: u64) -> Result<u64> {
        TestClient::connect(self.test_port(id)?)?.sync()
    }

    /// `DIGEST` of node `id`'s replicated state.
    pub fn digest(&self, id: u64) -> Result<Digest> {
        TestClient::connect(self.test_port(id)?)?.digest()
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

/// What `DIGEST` reports about a node's replicated state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    /// The last applied zxid.
    pub zxid: u64,
    /// How many keys.
    pub keys: u64,
    /// A hash of every entry, equal on nodes holding equal entries.
    pub hash: u64,
}

/// One connection to a node's test port (`zkrs.testClientPort`): one request line, one
/// reply line. Replies `ERR ...` come back as errors.
#[derive(Debug)]
pub struct TestClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl TestClient {
    /// Connect to `port` on loopback; a reply taking over 15 s is an error.
    pub fn connect(port: u16) -> Result<Self> {
        Self::connect_timeout(port, Duration::from_secs(15))
    }

    /// Connect to `port` on loopback; a reply taking longer than `timeout` is an error (and
    /// the connection is then out of step: drop it).
    pub fn connect_timeout(port: u16, timeout: Duration) -> Result<Self> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let writer = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .with_context(|| format!("connecting to the test port {port}"))?;
        writer.set_read_timeout(Some(timeout))?;
        writer.set_nodelay(true)?;
        let reader = BufReader::new(writer.try_clone()?);
        Ok(Self { reader, writer })
    }

    /// Send raw bytes (no newline added).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer.write_all(bytes)?;
        Ok(())
    }

    /// Read one reply line (without the newline); an error at end of stream.
    pub fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("the test port closed the connection");
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }

    /// Send `line` and return the reply line as is (`ERR ...` included).
    pub fn request(&mut self, line: &str) -> Result<String> {
        self.send_raw(format!("{line}\n").as_bytes())?;
        self.read_line()
    }

    fn ok(&mut self, line: &str) -> Result<String> {
        let reply = self.request(line)?;
        if reply.starts_with("ERR") {
            bail!("{line:?}: {reply}");
        }
        Ok(reply)
    }

    /// `SET key value`: the zxid once the write is applied on this node.
    pub fn set(&mut self, key: &str, value: &str) -> Result<u64> {
        let reply = self.ok(&format!("SET {key} {value}"))?;
        parse_ok(&reply)
    }

    /// `GET key`.
    pub fn get(&mut self, key: &str) -> Result<Option<String>> {
        let reply = self.ok(&format!("GET {key}"))?;
        if reply == "NONE" {
            return Ok(None);
        }
        match reply.strip_prefix("VALUE ") {
            Some(v) => Ok(Some(v.to_string())),
            None => bail!("GET {key}: unexpected reply {reply:?}"),
        }
    }

    /// `SYNC`.
    pub fn sync(&mut self) -> Result<u64> {
        let reply = self.ok("SYNC")?;
        parse_ok(&reply)
    }

    /// `DIGEST`.
    pub fn digest(&mut self) -> Result<Digest> {
        let reply = self.ok("DIGEST")?;
        let f: Vec<u64> = reply
            .split(' ')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("DIGEST: unexpected reply {reply:?}"))?;
        match f[..] {
            [zxid, keys, hash] => Ok(Digest { zxid, keys, hash }),
            _ => bail!("DIGEST: unexpected reply {reply:?}"),
        }
    }
}

fn parse_ok(reply: &str) -> Result<u64> {
    reply
        .strip_prefix("OK ")
        .and_then(|z| z.parse().ok())
        .with_context(|| format!("unexpected reply {reply:?}"))
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
