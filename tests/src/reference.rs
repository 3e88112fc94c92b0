//! Apache ZooKeeper 3.8 from the Debian package `zookeeper`, started standalone in a
//! temporary directory on a free loopback port: the reference that differential tests
//! compare zk-rs against.
//!
//! Missing Java or a missing jar is an error naming the command that installs them, never a
//! reason to skip: a differential test that silently compares nothing would prove nothing.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::free_port;
use crate::process::four_letter;

/// The server jar of the Debian package (its manifest names the other jars it needs).
pub const JAR: &str = "/usr/share/java/zookeeper.jar";
/// The Debian package's configuration directory (`log4j.properties`).
pub const CONF_DIR: &str = "/etc/zookeeper/conf";
/// The main class `zkServer.sh` starts.
pub const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
/// How to get both the jar and a Java runtime.
pub const INSTALL: &str = "apt-get install -y zookeeper";
/// A log4j 1.2 binding for slf4j, added to the class path when present so the server logs.
const LOG_JARS: [&str; 2] = [
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
];

/// How to start the reference server.
#[derive(Clone, Debug)]
pub struct ReferenceSpec {
    /// `tickTime` in milliseconds (sessions time out between 2 and 20 ticks).
    pub tick_ms: u64,
    /// Extra `zoo.cfg` lines.
    pub extra: String,
    /// JVM system properties (`key`, `value`), passed as `-Dkey=value`.
    pub properties: Vec<(String, String)>,
}

impl Default for ReferenceSpec {
    /// A 200 ms tick, TTL and container nodes enabled (`zookeeper.extendedTypesEnabled`),
    /// every four-letter word allowed (`4lw.commands.whitelist=*`), no admin server.
    fn default() -> Self {
        Self {
            tick_ms: 200,
            extra: String::new(),
            properties: vec![("zookeeper.extendedTypesEnabled".into(), "true".into())],
        }
    }
}

impl ReferenceSpec {
    /// Make `super` with password `test` the super user ([`SUPER_DIGEST`]); a client that
    /// adds the auth `digest super:test` may then do anything.
    pub fn with_super_user(mut self) -> Self {
        self.properties
            .push((SUPER_DIGEST_PROPERTY.into(), SUPER_DIGEST.into()));
        self
    }
}

/// The JVM property naming the super user's digest.
pub const SUPER_DIGEST_PROPERTY: &str = "zookeeper.DigestAuthenticationProvider.superDigest";
/// `super:test` as a digest (`super:` + base64(sha1("super:test"))).
pub const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

/// A running Apache ZooKeeper; killed (and reaped) on drop.
#[derive(Debug)]
pub struct Reference {
    /// Its client port on 127.0.0.1.
    pub client_port: u16,
    /// Its `zoo.cfg`.
    pub config: PathBuf,
    /// Its standard output and error (the log).
    pub log: PathBuf,
    child: Option<Child>,
    /// The directory (kept while the server lives).
    pub dir: tempfile::TempDir,
}

/// Fails, naming the install command, unless `java` runs and the jar exists.
pub fn check_installed() -> Result<()> {
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match java {
        Ok(s) if s.success() => {}
        Ok(s) => bail!(
            "`java -version` failed ({s}); the reference Apache ZooKeeper needs a Java runtime: run `{INSTALL}`"
        ),
        Err(e) => bail!(
            "no `java` on PATH ({e}); the reference Apache ZooKeeper needs a Java runtime: run `{INSTALL}`"
        ),
    }
    if !Path::new(JAR).is_file() {
        bail!("{JAR} is missing: the reference Apache ZooKeeper 3.8 comes from `{INSTALL}`");
    }
    Ok(())
}

impl Reference {
    /// Start with [`ReferenceSpec::default`] and wait until it serves.
    pub fn start() -> Result<Self> {
        Self::start_with(&ReferenceSpec::default())
    }

    /// Start with `spec` and wait (up to 60 s) until `srvr` says it serves.
    pub fn start_with(spec: &ReferenceSpec) -> Result<Self> {
        check_installed()?;
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let client_port = free_port();
        let cfg = format!(
            "tickTime={}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client_port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n{}",
            spec.tick_ms,
            data.display(),
            spec.extra,
        );
        let config = dir.path().join("zoo.cfg");
        std::fs::write(&config, cfg)?;
        let log = dir.path().join("zookeeper.log");
        let out = std::fs::File::create(&log)?;
        let mut class_path = format!("{CONF_DIR}:{JAR}");
        for jar in LOG_JARS {
            if Path::new(jar).is_file() {
                class_path.push(':');
                class_path.push_str(jar);
            }
        }
        let mut cmd = Command::new("java");
        cmd.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!("-Dzookeeper.log.dir={}", dir.path().display()))
            .arg("-Dzookeeper.root.logger=INFO,CONSOLE");
        for (k, v) in &spec.properties {
            cmd.arg(format!("-D{k}={v}"));
        }
        let child = cmd
            .arg("-cp")
            .arg(class_path)
            .arg(MAIN_CLASS)
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| {
                format!("spawning java {MAIN_CLASS}; is it installed (`{INSTALL}`)?")
            })?;
        let mut r = Self {
            client_port,
            config,
            log,
            child: Some(child),
            dir,
        };
        r.wait_serving(Duration::from_secs(60))?;
        Ok(r)
    }

    /// Wait until `srvr` answers with a `Mode:` line.
    pub fn wait_serving(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(out) = four_letter(self.client_port, "srvr")
                && out.lines().any(|l| l.starts_with("Mode: "))
            {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                self.child = None;
                bail!(
                    "Apache ZooKeeper exited ({status}) before serving\n{}",
                    self.log_tail(30)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "Apache ZooKeeper did not serve on port {} within {within:?}\n{}",
                    self.client_port,
                    self.log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:port`, as clients take it.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// The last `n` lines of the server's log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(n).collect();
        let mut out = String::from("--- Apache ZooKeeper log tail ---\n");
        for l in tail.iter().rev() {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
