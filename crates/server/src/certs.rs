//! `zk-server certs`: a new ensemble CA and one certificate per `server.N` of a config.

use crate::config::Config;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use zk_tls::certs::{self, Validity};
use zk_transport::PeerId;

/// Write `out/ca.pem`, `out/ca-key.pem` and `out/server-N.pem` for every `server.N` of the
/// config at `config_path`, valid for `days`. Refuses to overwrite existing files.
pub fn write_for_config(config_path: &Path, out: &Path, days: u32) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    // Any server's id will do as `myid`: only the server lines matter here.
    let some_id = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server."))
        .find_map(|l| l.split('=').next()?.trim().parse::<u64>().ok());
    let config = Config::parse(config_path, &text, |_| {
        some_id.map(|id| id.to_string()).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the config has no server.N line",
            )
        })
    })?;
    anyhow::ensure!(
        !config.servers.is_empty(),
        "{} has no server.N lines: certificates are for ensemble members",
        config_path.display()
    );
    let servers: Vec<(PeerId, String)> = config
        .servers
        .values()
        .map(|s| (PeerId(s.id), s.host.clone()))
        .collect();
    certs::write_ensemble(out, &servers, Validity::days(days), None)
        .with_context(|| format!("writing certificates into {}", out.display()))
}

/// The `ssl.quorum.*` lines for server `id` using the files in `dir`.
pub fn config_lines(dir: &Path, id: u64) -> String {
    format!(
        "ssl.quorum.keyStore.location={}\nssl.quorum.keyStore.type=PEM\n\
         ssl.quorum.trustStore.location={}\nssl.quorum.trustStore.type=PEM\n",
        dir.join(format!("server-{id}.pem")).display(),
        dir.join("ca.pem").display()
    )
}
