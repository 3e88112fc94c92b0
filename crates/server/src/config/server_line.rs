//! `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`.

/// Whether a server votes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum LearnerRole {
    /// Votes and may lead.
    #[default]
    Participant,
    /// Follows the leader, never votes, never counts in a quorum.
    Observer,
}

/// One `server.N` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// `N`.
    pub id: u64,
    /// The peer host (name or IP literal, without brackets).
    pub host: String,
    /// The quorum port (ZooKeeper's 2888).
    pub quorum_port: u16,
    /// The election port (ZooKeeper's 3888).
    pub election_port: u16,
    /// Participant or observer.
    pub role: LearnerRole,
    /// The client address after `;`, if given: (host, port).
    pub client: Option<(Option<String>, u16)>,
    /// The line it was read from.
    pub line: usize,
}

impl ServerSpec {
    /// `host:port` for a port of this server, with IPv6 literals bracketed.
    pub fn addr(&self, port: u16) -> String {
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

/// Parse the value of a `server.N` line; errors are plain messages the caller locates.
pub(crate) fn parse(id: u64, line: usize, value: &str) -> Result<ServerSpec, String> {
    let (peer, client) = match value.split_once(';') {
        Some((p, c)) => (p.trim(), Some(c.trim())),
        None => (value.trim(), None),
    };
    if peer.contains('|') {
        return Err(
            "several addresses per server (multiAddress) are not supported; give one host".into(),
        );
    }
    let (host, rest) = split_host(peer)?;
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err(format!(
            "expected host:quorumPort:electionPort[:participant|:observer], got '{value}'"
        ));
    }
    let quorum_port = port(parts[0], "quorum port")?;
    let election_port = port(parts[1], "election port")?;
    if quorum_port == election_port {
        return Err(format!("quorum and election port are both {quorum_port}"));
    }
    let role = match parts.get(2).map(|s| s.trim().to_ascii_lowercase()) {
        None => LearnerRole::Participant,
        Some(r) if r == "participant" => LearnerRole::Participant,
        Some(r) if r == "observer" => LearnerRole::Observer,
        Some(r) => return Err(format!("unknown role '{r}': use participant or observer")),
    };
    let client = match client {
        None | Some("") => None,
        Some(c) => Some(parse_client(c)?),
    };
    Ok(ServerSpec {
        id,
        host,
        quorum_port,
        election_port,
        role,
        client,
        line,
    })
}

/// Split `host:rest` where host may be `[v6]`.
fn split_host(s: &str) -> Result<(String, &str), String> {
    if let Some(inner) = s.strip_prefix('[') {
        let (host, rest) = inner
            .split_once(']')
            .ok_or("unclosed '[' in an IPv6 address")?;
        let rest = rest
            .strip_prefix(':')
            .ok_or("expected ':' after the IPv6 address")?;
        return Ok((host.to_string(), rest));
    }
    let (host, rest) = s
        .split_once(':')
        .ok_or(format!("expected host:port:port, got '{s}'"))?;
    if host.is_empty() {
        return Err("empty host".into());
    }
    Ok((host.to_string(), rest))
}

fn parse_client(c: &str) -> Result<(Option<String>, u16), String> {
    if !c.contains(':') {
        return Ok((None, port(c, "client port")?));
    }
    let (host, rest) = split_host(c)?;
    Ok((Some(host), port(rest, "client port")?))
}

fn port(s: &str, what: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{what} '{s}' is not a port number (1-65535)")),
        Ok(p) => Ok(p),
    }
}
