//! From properties entries to a validated [`Config`].

use super::properties::Entry;
use super::{
    Config, ConfigError, Groups, LearnerRole, Location, QuorumTls, ServerSpec, TransportKind,
    Whitelist, server_line,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// ZooKeeper keys that are accepted but do nothing in zk-rs yet.
const NO_EFFECT_YET: &[&str] = &[
    "preAllocSize",
    "globalOutstandingLimit",
    "standaloneEnabled",
    "reconfigEnabled",
    "admin.enableServer",
    "admin.serverPort",
    "admin.serverAddress",
    "metricsProvider.className",
    "metricsProvider.httpPort",
    "electionAlg",
    "quorumListenOnAllIPs",
    "secureClientPort",
    "secureClientPortAddress",
    "syncEnabled",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "sslQuorum",
    "dynamicConfigFile",
];

struct Ctx<'a> {
    path: &'a Path,
}

impl Ctx<'_> {
    fn err(
        &self,
        line: Option<usize>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            at: Location {
                file: self.path.to_path_buf(),
                line,
                key: key.map(str::to_string),
            },
            message: message.into(),
        }
    }

    fn number<T: std::str::FromStr>(&self, e: &Entry, what: &str) -> Result<T, ConfigError> {
        e.value.parse::<T>().map_err(|_| {
            self.err(
                Some(e.line),
                Some(&e.key),
                format!("'{}' is not {what}", e.value),
            )
        })
    }
}

/// Parse the numeric suffix of `server.N`, `group.N`, `weight.N`.
fn suffix(ctx: &Ctx<'_>, e: &Entry, prefix: &str) -> Result<u64, ConfigError> {
    e.key[prefix.len()..].parse::<u64>().map_err(|_| {
        ctx.err(
            Some(e.line),
            Some(&e.key),
            format!("'{}' needs a number after '{prefix}'", e.key),
        )
    })
}

pub(crate) fn build(
    path: &Path,
    entries: &[Entry],
    read_myid: impl FnOnce(&Path) -> std::io::Result<String>,
) -> Result<Config, ConfigError> {
    let ctx = Ctx { path };
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut warnings = Vec::new();
    let mut tick_ms: Option<u64> = None;
    let (mut init_limit, mut sync_limit) = (None, None);
    let (mut data_dir, mut data_log_dir) = (None, None);
    let (mut client_port, mut client_address) = (None, None);
    let mut servers: BTreeMap<u64, ServerSpec> = BTreeMap::new();
    let mut groups: BTreeMap<u64, (usize, BTreeSet<u64>)> = BTreeMap::new();
    let mut weights: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
    let mut peer_type = None;
    let mut whitelist = Whitelist::default();
    let mut transport = TransportKind::default();
    let mut quorum_tls = QuorumTls::default();
    let mut max_client_cnxns = 60;
    let mut force_sync = true;
    let mut snap_count: u64 = 100_000;
    let mut committed_log_window: usize = 500;
    let mut snap_retain_count: usize = 3;
    let mut purge_interval_hours: u64 = 0;
    let (mut min_session_ms, mut max_session_ms): (Option<i64>, Option<i64>) = (None, None);
    let mut max_buffer: usize = zk_jute::DEFAULT_MAX_FRAME;
    let mut extended_types = false;
    let mut super_digest: Option<String> = None;
    let mut container_check_ms: u64 = 60_000;
    let mut container_never_used_ms: u64 = 0;

    for e in entries {
        if let Some(first) = seen.insert(e.key.as_str(), e.line) {
            return Err(ctx.err(
                Some(e.line),
                Some(&e.key),
                format!("key given twice (first on line {first})"),
            ));
        }
        let key = e.key.as_str();
        match key {
            "tickTime" => {
                let ms: u64 = ctx.number(e, "a number of milliseconds")?;
                if ms == 0 {
                    return Err(ctx.err(Some(e.line), Some(key), "must be greater than 0"));
                }
                tick_ms = Some(ms);
            }
            "initLimit" => init_limit = Some(positive(&ctx, e)?),
            "syncLimit" => sync_limit = Some(positive(&ctx, e)?),
            "dataDir" => data_dir = Some(dir(&ctx, e)?),
            "dataLogDir" => data_log_dir = Some(dir(&ctx, e)?),
            "clientPort" => client_port = Some(port(&ctx, e)?),
            "clientPortAddress" => client_address = Some(e.value.clone()),
            "peerType" => {
                peer_type = Some(match e.value.to_ascii_lowercase().as_str() {
                    "participant" => LearnerRole::Participant,
                    "observer" => LearnerRole::Observer,
                    _ => {
                        return Err(ctx.err(
                            Some(e.line),
                            Some(key),
                            format!("'{}': use participant or observer", e.value),
                        ));
                    }
                })
            }
            "4lw.commands.whitelist" => whitelist = parse_whitelist(&e.value),
            "quorum.transport" => {
                transport = TransportKind::parse(&e.value).ok_or_else(|| {
                    ctx.err(
                        Some(e.line),
                        Some(key),
                        format!("'{}': use tcp, quic or grpc", e.value),
                    )
                })?
            }
            "sslQuorum" => quorum_tls.ssl_quorum = boolean(&ctx, e)?,
            "ssl.quorum.hostnameVerification" => {
                quorum_tls.hostname_verification = boolean(&ctx, e)?
            }
            "ssl.quorum.keyStore.location" => {
                quorum_tls.key_store = Some(relative_to_config(path, &dir(&ctx, e)?))
            }
            "ssl.quorum.trustStore.location" => {
                quorum_tls.trust_store = Some(relative_to_config(path, &dir(&ctx, e)?))
            }
            "ssl.quorum.keyStore.type" | "ssl.quorum.trustStore.type" => {
                if !e.value.eq_ignore_ascii_case("PEM") {
                    return Err(ctx.err(
                        Some(e.line),
                        Some(key),
                        format!("'{}': only PEM stores are supported (convert JKS/PKCS12 with keytool and openssl)", e.value),
                    ));
                }
            }
            "maxClientCnxns" => max_client_cnxns = ctx.number(e, "a number of connections")?,
            "forceSync" => {
                force_sync = match e.value.to_ascii_lowercase().as_str() {
                    "yes" | "true" => true,
                    "no" | "false" => {
                        warnings.push(format!("{}:{}: forceSync=no: the transaction log is not fsynced; for tests only", path.display(), e.line));
                        false
                    }
                    _ => {
                        return Err(ctx.err(
                            Some(e.line),
                            Some(key),
                            format!("'{}': use yes or no", e.value),
                        ));
                    }
                }
            }
            "autopurge.snapRetainCount" => {
                snap_retain_count = ctx.number(e, "a number of snapshots")?;
                if snap_retain_count < 3 {
                    // ZooKeeper raises it to 3 as well; say so rather than silently.
                    warnings.push(format!("{}:{}: autopurge.snapRetainCount={snap_retain_count} is below the minimum; 3 snapshots are kept", path.display(), e.line));
                    snap_retain_count = 3;
                }
            }
            "autopurge.purgeInterval" => {
                purge_interval_hours = ctx.number(e, "a number of hours (0 turns purging off)")?
            }
            "snapCount" => {
                snap_count = ctx.number(e, "a number of transactions")?;
                if snap_count < 2 {
                    return Err(ctx.err(Some(e.line), Some(key), "must be at least 2"));
                }
            }
            "minSessionTimeout" => {
                min_session_ms = Some(ctx.number(e, "milliseconds (-1 for the default)")?)
            }
            "maxSessionTimeout" => {
                max_session_ms = Some(ctx.number(e, "milliseconds (-1 for the default)")?)
            }
            "jute.maxbuffer" => {
                max_buffer = ctx.number(e, "a number of bytes")?;
                if max_buffer < 1024 {
                    return Err(ctx.err(Some(e.line), Some(key), "must be at least 1024 bytes"));
                }
            }
            "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
                extended_types = match e.value.trim() {
                    "true" => true,
                    "false" => false,
                    v => {
                        return Err(ctx.err(
                            Some(e.line),
                            Some(key),
                            format!("'{v}' is not true or false"),
                        ));
                    }
                }
            }
            "DigestAuthenticationProvider.superDigest"
            | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                if !e.value.contains(':') {
                    return Err(ctx.err(
                        Some(e.line),
                        Some(key),
                        "expected super:<base64 sha1 digest>, as `DigestAuthenticationProvider.generateDigest` prints",
                    ));
                }
                super_digest = Some(e.value.trim().to_owned());
            }
            "znode.container.checkIntervalMs" => {
                container_check_ms = ctx.number(e, "milliseconds")?;
                if container_check_ms == 0 {
                    return Err(ctx.err(Some(e.line), Some(key), "must be at least 1 ms"));
                }
            }
            "znode.container.maxNeverUsedIntervalMs" => {
                container_never_used_ms = ctx.number(e, "milliseconds (0: never)")?;
            }
            "zkrs.committedLogWindow" => {
                committed_log_window = ctx.number(e, "a number of transactions")?;
                if committed_log_window < 1 {
                    return Err(ctx.err(Some(e.line), Some(key), "must be at least 1"));
                }
            }
            k if k.starts_with("server.") => {
                let id = suffix(&ctx, e, "server.")?;
                let spec = server_line::parse(id, e.line, &e.value)
                    .map_err(|m| ctx.err(Some(e.line), Some(key), m))?;
                servers.insert(id, spec);
            }
            k if k.starts_with("group.") => {
                let gid = suffix(&ctx, e, "group.")?;
                let mut members = BTreeSet::new();
                for m in e.value.split(':') {
                    let sid = m.trim().parse::<u64>().map_err(|_| {
                        ctx.err(
                            Some(e.line),
                            Some(key),
                            format!("'{m}' is not a server id; use group.N=id:id:id"),
                        )
                    })?;
                    members.insert(sid);
                }
                groups.insert(gid, (e.line, members));
            }
            k if k.starts_with("weight.") => {
                let sid = suffix(&ctx, e, "weight.")?;
                weights.insert(sid, (e.line, ctx.number(e, "a weight (a whole number)")?));
            }
            k if NO_EFFECT_YET.contains(&k) || k.starts_with("ssl.") => {
                warnings.push(format!(
                    "{}:{}: {k} is a ZooKeeper key that has no effect in zk-rs yet",
                    path.display(),
                    e.line
                ));
            }
            _ => warnings.push(format!(
                "{}:{}: unknown key '{key}' ignored",
                path.display(),
                e.line
            )),
        }
    }

    let tick_ms = tick_ms.ok_or_else(|| ctx.err(None, Some("tickTime"), "tickTime is not set"))?;
    let data_dir: PathBuf =
        data_dir.ok_or_else(|| ctx.err(None, Some("dataDir"), "dataDir is not set"))?;
    let data_log_dir = data_log_dir.unwrap_or_else(|| data_dir.clone());

    // One server line, or none, is standalone mode, as in ZooKeeper.
    let quorum = servers.len() > 1;
    let (my_id, role) = if quorum {
        let id = read_my_id(&ctx, &data_dir, read_myid)?;
        let me = servers.get(&id).ok_or_else(|| {
            ctx.err(
                None,
                Some("server.N"),
                format!(
                    "myid is {id} but there is no server.{id} line; ids present: {:?}",
                    servers.keys().collect::<Vec<_>>()
                ),
            )
        })?;
        if let Some(pt) = peer_type
            && pt != me.role
        {
            return Err(ctx.err(
                seen.get("peerType").copied(),
                Some("peerType"),
                format!("peerType says {pt:?} but server.{id} says {:?}", me.role),
            ));
        }
        (Some(id), me.role)
    } else {
        (None, LearnerRole::Participant)
    };
    let init_limit = match (init_limit, quorum) {
        (Some(v), _) => v,
        (None, false) => 10,
        (None, true) => return Err(ctx.err(None, Some("initLimit"), "initLimit is not set")),
    };
    let sync_limit = match (sync_limit, quorum) {
        (Some(v), _) => v,
        (None, false) => 5,
        (None, true) => return Err(ctx.err(None, Some("syncLimit"), "syncLimit is not set")),
    };
    let own_client = my_id
        .and_then(|id| servers.get(&id))
        .and_then(|s| s.client.clone());
    let client_port = match (client_port, &own_client) {
        (Some(p), Some((_, q))) if p != *q => {
            return Err(ctx.err(
                seen.get("clientPort").copied(),
                Some("clientPort"),
                format!(
                    "clientPort {p} differs from the client port {q} in this server's server.N line"
                ),
            ));
        }
        (Some(p), _) => p,
        (None, Some((_, q))) => *q,
        (None, None) => return Err(ctx.err(None, Some("clientPort"), "clientPort is not set")),
    };
    let client_address = client_address.or_else(|| own_client.and_then(|(h, _)| h));
    if quorum {
        check_ports(&ctx, &servers)?;
        if servers.values().all(|s| s.role == LearnerRole::Observer) {
            return Err(ctx.err(
                None,
                Some("server.N"),
                "every server is an observer: at least one must be a participant",
            ));
        }
    }
    let groups = build_groups(&ctx, &servers, groups, weights, quorum)?;
    // ZooKeeper: -1 (or absent) means 2 and 20 ticks.
    let min_session = match min_session_ms {
        Some(v) if v >= 0 => v,
        _ => 2 * tick_ms as i64,
    };
    let max_session = match max_session_ms {
        Some(v) if v >= 0 => v,
        _ => 20 * tick_ms as i64,
    };
    if min_session > max_session {
        return Err(ctx.err(
            seen.get("minSessionTimeout").copied(),
            Some("minSessionTimeout"),
            format!("minSessionTimeout {min_session} is above maxSessionTimeout {max_session}"),
        ));
    }
    let clamp_i32 = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
    Ok(Config {
        path: path.to_path_buf(),
        tick: Duration::from_millis(tick_ms),
        init_limit,
        sync_limit,
        data_dir,
        data_log_dir,
        client_port,
        client_address,
        servers,
        groups,
        my_id,
        role,
        whitelist,
        transport,
        quorum_tls,
        max_client_cnxns,
        force_sync,
        snap_count,
        committed_log_window,
        snap_retain_count,
        purge_interval_hours,
        min_session_timeout: clamp_i32(min_session),
        max_session_timeout: clamp_i32(max_session),
        max_buffer,
        extended_types_enabled: extended_types,
        super_digest,
        container_check_interval: Duration::from_millis(container_check_ms),
        container_max_never_used: Duration::from_millis(container_never_used_ms),
        warnings,
    })
}

fn boolean(ctx: &Ctx<'_>, e: &Entry) -> Result<bool, ConfigError> {
    match e.value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        v => Err(ctx.err(
            Some(e.line),
            Some(&e.key),
            format!("'{v}' is not true or false"),
        )),
    }
}

/// A relative path in a config file is taken from the file's directory.
fn relative_to_config(config: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_owned();
    }
    config.parent().unwrap_or(Path::new(".")).join(p)
}

fn positive(ctx: &Ctx<'_>, e: &Entry) -> Result<u32, ConfigError> {
    match ctx.number::<u32>(e, "a number of ticks")? {
        0 => Err(ctx.err(Some(e.line), Some(&e.key), "must be at least 1 tick")),
        v => Ok(v),
    }
}

fn port(ctx: &Ctx<'_>, e: &Entry) -> Result<u16, ConfigError> {
    match e.value.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ctx.err(
            Some(e.line),
            Some(&e.key),
            format!("'{}' is not a port number (1-65535)", e.value),
        )),
    }
}

fn dir(ctx: &Ctx<'_>, e: &Entry) -> Result<PathBuf, ConfigError> {
    if e.value.is_empty() {
        return Err(ctx.err(Some(e.line), Some(&e.key), "empty path"));
    }
    let p = PathBuf::from(&e.value);
    // Relative paths are relative to the configuration file, so a config and its data travel together.
    Ok(if p.is_relative() {
        ctx.path.parent().unwrap_or(Path::new(".")).join(p)
    } else {
        p
    })
}

fn parse_whitelist(value: &str) -> Whitelist {
    let cmds: BTreeSet<String> = value
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if cmds.contains("*") {
        Whitelist::All
    } else {
        Whitelist::Only(cmds)
    }
}

fn read_my_id(
    ctx: &Ctx<'_>,
    data_dir: &Path,
    read_myid: impl FnOnce(&Path) -> std::io::Result<String>,
) -> Result<u64, ConfigError> {
    let path = data_dir.join("myid");
    let text = read_myid(&path).map_err(|e| {
        ctx.err(
            None,
            Some("dataDir"),
            format!(
                "cannot read {}: {e}; write this server's id (the N of its server.N line) there",
                path.display()
            ),
        )
    })?;
    text.trim().parse::<u64>().map_err(|_| {
        ctx.err(
            None,
            Some("dataDir"),
            format!(
                "{} holds '{}', not a server id",
                path.display(),
                text.trim()
            ),
        )
    })
}

/// No two servers may share a host:port, and a server's quorum and election ports differ.
fn check_ports(ctx: &Ctx<'_>, servers: &BTreeMap<u64, ServerSpec>) -> Result<(), ConfigError> {
    let mut used: HashMap<(String, u16), (u64, &str)> = HashMap::new();
    for s in servers.values() {
        let mut ports = vec![(s.quorum_port, "quorum"), (s.election_port, "election")];
        if let Some((host, p)) = &s.client {
            let same_host = host.as_deref().is_none_or(|h| h == s.host);
            if same_host {
                ports.push((*p, "client"));
            }
        }
        for (p, what) in ports {
            if let Some((other, other_what)) = used.insert((s.host.clone(), p), (s.id, what)) {
                return Err(ctx.err(
                    Some(s.line),
                    Some(&format!("server.{}", s.id)),
                    format!(
                        "{what} port {}:{p} is already the {other_what} port of server.{other}",
                        s.host
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn build_groups(
    ctx: &Ctx<'_>,
    servers: &BTreeMap<u64, ServerSpec>,
    groups: BTreeMap<u64, (usize, BTreeSet<u64>)>,
    weights: BTreeMap<u64, (usize, u64)>,
    quorum: bool,
) -> Result<Option<Groups>, ConfigError> {
    if groups.is_empty() {
        if let Some((sid, (line, _))) = weights.iter().next() {
            return Err(ctx.err(
                Some(*line),
                Some(&format!("weight.{sid}")),
                "weight.N needs group.N lines (a hierarchical quorum)",
            ));
        }
        return Ok(None);
    }
    if !quorum {
        return Err(ctx.err(
            None,
            Some("group.N"),
            "group.N needs at least two server.N lines",
        ));
    }
    let mut owner: HashMap<u64, u64> = HashMap::new();
    for (gid, (line, members)) in &groups {
        for sid in members {
            let key = format!("group.{gid}");
            match servers.get(sid) {
                None => {
                    return Err(ctx.err(
                        Some(*line),
                        Some(&key),
                        format!("server {sid} has no server.{sid} line"),
                    ));
                }
                Some(s) if s.role == LearnerRole::Observer => {
                    return Err(ctx.err(
                        Some(*line),
                        Some(&key),
                        format!("server {sid} is an observer; observers belong to no group"),
                    ));
                }
                Some(_) => {}
            }
            if let Some(other) = owner.insert(*sid, *gid) {
                return Err(ctx.err(
                    Some(*line),
                    Some(&key),
                    format!("server {sid} is already in group.{other}"),
                ));
            }
        }
    }
    for s in servers
        .values()
        .filter(|s| s.role == LearnerRole::Participant)
    {
        if !owner.contains_key(&s.id) {
            return Err(ctx.err(
                Some(s.line),
                Some(&format!("server.{}", s.id)),
                format!("participant {} is in no group.N", s.id),
            ));
        }
    }
    for (sid, (line, _)) in &weights {
        if !owner.contains_key(sid) {
            return Err(ctx.err(
                Some(*line),
                Some(&format!("weight.{sid}")),
                format!("server {sid} is in no group.N"),
            ));
        }
    }
    Ok(Some(Groups {
        groups: groups.into_iter().map(|(g, (_, m))| (g, m)).collect(),
        weights: weights.into_iter().map(|(s, (_, w))| (s, w)).collect(),
    }))
}
