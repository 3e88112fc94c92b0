//! `zoo.cfg`: ZooKeeper's configuration keys, parsed and validated with line numbers.
//!
//! The file is a Java properties file. Every key ZooKeeper's `QuorumPeerConfig` reads that
//! matters to zk-rs is understood; other ZooKeeper keys are accepted and reported as having no
//! effect yet; anything else is a warning naming the line. A value that cannot be used stops
//! start-up with an error naming the file, the line and the key.

mod properties;
mod server_line;
mod validate;

pub use server_line::{LearnerRole, ServerSpec};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a configuration problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The configuration file.
    pub file: PathBuf,
    /// The 1-based line, when the problem is on one line.
    pub line: Option<usize>,
    /// The key involved, when there is one.
    pub key: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, " ({key})")?;
        }
        Ok(())
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A key is missing, malformed, or inconsistent with another.
    #[error("{at}: {message}")]
    Invalid {
        /// Where.
        at: Location,
        /// What is wrong, and what would be right.
        message: String,
    },
}

/// Which peer transport the ensemble uses (`quorum.transport`, or `--transport`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum TransportKind {
    /// Classic TCP, as ZooKeeper's `QuorumCnxManager`.
    #[default]
    Tcp,
    /// QUIC with mutual TLS.
    Quic,
    /// gRPC streams with mutual TLS.
    Grpc,
}

impl TransportKind {
    /// Parse `tcp`, `quic` or `grpc`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Some(Self::Tcp),
            "quic" => Some(Self::Quic),
            "grpc" => Some(Self::Grpc),
            _ => None,
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Quic => "quic",
            Self::Grpc => "grpc",
        })
    }
}

/// Quorum TLS: ZooKeeper's `sslQuorum` and `ssl.quorum.*` keys (PEM only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumTls {
    /// `sslQuorum`: TLS on the classic TCP transport (QUIC and gRPC always use TLS).
    pub ssl_quorum: bool,
    /// `ssl.quorum.keyStore.location`: this server's certificate chain and private key (PEM).
    /// A relative path is taken from the directory of the config file.
    pub key_store: Option<PathBuf>,
    /// `ssl.quorum.trustStore.location`: the CA certificates (PEM).
    pub trust_store: Option<PathBuf>,
    /// `ssl.quorum.hostnameVerification`: bind a peer's id by the host of its `server.N` line
    /// in its certificate, instead of the id itself (the default, strict rule).
    pub hostname_verification: bool,
}

/// The four-letter words this server answers (`4lw.commands.whitelist`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Whitelist {
    /// `*`: every command.
    All,
    /// Only these (ZooKeeper's default is `srvr` alone).
    Only(BTreeSet<String>),
}

impl Whitelist {
    /// Whether `cmd` may run.
    pub fn allows(&self, cmd: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.contains(cmd),
        }
    }
}

impl Default for Whitelist {
    fn default() -> Self {
        Self::Only(BTreeSet::from(["srvr".to_string()]))
    }
}

/// A hierarchical quorum: `group.N=a:b:c` lines and `weight.N=w`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups {
    /// Group id to member server ids.
    pub groups: BTreeMap<u64, BTreeSet<u64>>,
    /// Server id to weight (1 when not given).
    pub weights: BTreeMap<u64, u64>,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// `tickTime`: the basic time unit.
    pub tick: Duration,
    /// `initLimit`, in ticks: how long discovery and sync may take.
    pub init_limit: u32,
    /// `syncLimit`, in ticks: how long a peer may stay silent.
    pub sync_limit: u32,
    /// `dataDir`.
    pub data_dir: PathBuf,
    /// `dataLogDir` (defaults to `dataDir`).
    pub data_log_dir: PathBuf,
    /// The client port of this server (`clientPort`, or the one in its `server.N` line).
    pub client_port: u16,
    /// `clientPortAddress` (all interfaces when absent).
    pub client_address: Option<String>,
    /// The `server.N` lines.
    pub servers: BTreeMap<u64, ServerSpec>,
    /// `group.N` / `weight.N`, when a hierarchical quorum is configured.
    pub groups: Option<Groups>,
    /// This server's id (`myid`); `None` in standalone mode.
    pub my_id: Option<u64>,
    /// This server's role.
    pub role: LearnerRole,
    /// `4lw.commands.whitelist`.
    pub whitelist: Whitelist,
    /// `quorum.transport`.
    pub transport: TransportKind,
    /// `sslQuorum` and `ssl.quorum.*`.
    pub quorum_tls: QuorumTls,
    /// `maxClientCnxns` (60 by default, 0 = unlimited).
    pub max_client_cnxns: u32,
    /// `forceSync` (yes by default; `no` skips fsync of the transaction log, for tests only).
    pub force_sync: bool,
    /// `snapCount`: a snapshot after about this many transactions (100000 by default).
    pub snap_count: u64,
    /// `zkrs.committedLogWindow` (zk-rs only): how many committed transactions a leader keeps
    /// in memory to bring a learner up to date with a DIFF; a learner further behind gets a
    /// SNAP. ZooKeeper fixes this at 500 (its `commitLogCount`); tests lower it to reach SNAP.
    pub committed_log_window: usize,
    /// `autopurge.snapRetainCount`: snapshots kept by the purge (at least 3).
    pub snap_retain_count: usize,
    /// `autopurge.purgeInterval`: hours between purges of old snapshots and the log segments
    /// only they needed (0, the default, turns purging off).
    pub purge_interval_hours: u64,
    /// `minSessionTimeout` in ms (2 ticks by default).
    pub min_session_timeout: i32,
    /// `maxSessionTimeout` in ms (20 ticks by default).
    pub max_session_timeout: i32,
    /// `jute.maxbuffer`: the largest client frame accepted (0xfffff by default).
    pub max_buffer: usize,
    /// `zookeeper.extendedTypesEnabled` (a Java property in ZooKeeper): TTL nodes allowed.
    pub extended_types_enabled: bool,
    /// `zookeeper.DigestAuthenticationProvider.superDigest` (a Java property in ZooKeeper):
    /// `super:<digest>`; a client authenticating as that user may do anything.
    pub super_digest: Option<String>,
    /// `znode.container.checkIntervalMs` (a Java property in ZooKeeper): how often the
    /// leader looks for empty containers and expired TTL nodes (60 s by default).
    pub container_check_interval: Duration,
    /// `znode.container.maxNeverUsedIntervalMs`: a container that never had a child is
    /// removed after this long; 0 (the default) never removes it.
    pub container_max_never_used: Duration,
    /// What was accepted but deserves the operator's attention (unknown keys, keys without
    /// effect yet).
    pub warnings: Vec<String>,
}

impl Config {
    /// Read and validate `path`, reading `myid` from `dataDir` in quorum mode.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text, |p| std::fs::read_to_string(p))
    }

    /// Validate `text` as if read from `path`; `read_myid` reads the `myid` file.
    pub fn parse(
        path: &Path,
        text: &str,
        read_myid: impl FnOnce(&Path) -> std::io::Result<String>,
    ) -> Result<Self, ConfigError> {
        let entries = properties::parse(path, text)?;
        validate::build(path, &entries, read_myid)
    }

    /// Whether this is a standalone server (no ensemble).
    pub fn is_standalone(&self) -> bool {
        self.my_id.is_none()
    }

    /// This server's own `server.N` entry (quorum mode).
    pub fn me(&self) -> Option<&ServerSpec> {
        self.my_id.and_then(|id| self.servers.get(&id))
    }
}

#[cfg(test)]
mod tests;
