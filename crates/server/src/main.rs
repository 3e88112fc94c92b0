//! `zk-server`: run one server from a `zoo.cfg`, or a local dev ensemble.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use zk_server::config::{Config, TransportKind};
use zk_server::dev::{self, DevOptions};

/// A ZooKeeper-compatible coordination server.
#[derive(Parser, Debug)]
#[command(name = "zk-server", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// The ZooKeeper configuration file.
    #[arg(long, short, value_name = "zoo.cfg")]
    config: Option<PathBuf>,
    /// The peer transport; overrides `quorum.transport` in the config.
    #[arg(long, value_parser = parse_transport)]
    transport: Option<TransportKind>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write a new ensemble CA and a certificate for each server.N of a config, for the
    /// ssl.quorum.* keys (QUIC, gRPC, sslQuorum).
    Certs {
        /// The ensemble's zoo.cfg.
        #[arg(long, short, value_name = "zoo.cfg")]
        config: PathBuf,
        /// Where ca.pem, ca-key.pem and server-N.pem go (a new directory: nothing is
        /// overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Start a local ensemble with generated configs and print its connect string.
    Dev {
        /// Voting servers.
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// Observers, in addition to the voters.
        #[arg(long, default_value_t = 0)]
        observers: u32,
        /// The peer transport.
        #[arg(long, default_value = "tcp", value_parser = parse_transport)]
        transport: TransportKind,
        /// Where configs, data and logs go (kept between runs).
        #[arg(long, default_value = "zk-dev")]
        dir: PathBuf,
        /// Client port of node 1; node N uses this + N - 1.
        #[arg(long, default_value_t = 2181)]
        client_port: u16,
        /// Quorum port of node 1.
        #[arg(long, default_value_t = 2888)]
        quorum_port: u16,
        /// Election port of node 1.
        #[arg(long, default_value_t = 3888)]
        election_port: u16,
        /// tickTime in milliseconds.
        #[arg(long, default_value_t = 2000)]
        tick_time: u64,
    },
}

fn parse_transport(s: &str) -> Result<TransportKind, String> {
    TransportKind::parse(s).ok_or_else(|| format!("'{s}': use tcp, quic or grpc"))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .init();
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    match cli.command {
        Some(Cmd::Certs { config, out, days }) => {
            let written = zk_server::certs::write_for_config(&config, &out, days)?;
            for f in &written {
                println!("{}", f.display());
            }
            println!(
                "in each server's zoo.cfg (N = its id):\n{}keep ca-key.pem off the servers",
                zk_server::certs::config_lines(&std::path::absolute(&out)?, 0)
                    .replace("server-0", "server-N")
            );
            Ok(())
        }
        Some(Cmd::Dev {
            nodes,
            observers,
            transport,
            dir,
            client_port,
            quorum_port,
            election_port,
            tick_time,
        }) => {
            let dir = std::path::absolute(&dir)
                .with_context(|| format!("resolving {}", dir.display()))?;
            let opts = DevOptions {
                nodes,
                observers,
                transport,
                dir,
                client_base: client_port,
                quorum_base: quorum_port,
                election_base: election_port,
                tick_ms: tick_time,
            };
            runtime.block_on(dev::run(opts))
        }
        None => {
            init_logging();
            let Some(path) = cli.config else {
                anyhow::bail!(
                    "no configuration: run `zk-server --config zoo.cfg`, or `zk-server dev` for a local ensemble"
                );
            };
            let mut config = Config::load(&path)?;
            if let Some(t) = cli.transport {
                config.transport = t;
            }
            for w in &config.warnings {
                tracing::warn!("{w}");
            }
            runtime.block_on(zk_server::node::run(config))
        }
    }
}
