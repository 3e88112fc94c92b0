//! `conf` and `dirs`: the configuration and the size of the data directories.

use crate::status::ConfInfo;
use std::fmt::Write;

/// The sizes ZooKeeper prints, as it computes them: its `getDataDirSize()` measures the
/// *transaction log* directory and its `getLogDirSize()` the *snapshot* directory
/// (`FileTxnSnapLog`'s `dataDir` is the log directory), so with a separate `dataLogDir`
/// the two figures appear swapped against their labels. zk-rs prints the same figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DirSizes {
    /// Bytes under `dataLogDir` (`dataDirSize=`, `datadir_size:`).
    pub(crate) data_dir_size: u64,
    /// Bytes under `dataDir` (`dataLogSize=`, `logdir_size:`).
    pub(crate) log_dir_size: u64,
}

impl DirSizes {
    /// Measures the directories of `conf`.
    pub(crate) fn measure(conf: &ConfInfo) -> Self {
        Self {
            data_dir_size: super::sys::dir_size(&conf.data_log_dir),
            log_dir_size: super::sys::dir_size(&conf.data_dir),
        }
    }
}

/// `conf` (the server is serving): `ZooKeeperServer.dumpConf`, and in quorum mode
/// `QuorumZooKeeperServer.dumpConf`, whose membership block ends without a newline.
pub(crate) fn conf(c: &ConfInfo, sizes: DirSizes) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "clientPort={}", c.client_port);
    let _ = writeln!(out, "secureClientPort={}", c.secure_client_port);
    let _ = writeln!(out, "dataDir={}", c.data_dir.display());
    let _ = writeln!(out, "dataDirSize={}", sizes.data_dir_size);
    let _ = writeln!(out, "dataLogDir={}", c.data_log_dir.display());
    let _ = writeln!(out, "dataLogSize={}", sizes.log_dir_size);
    let _ = writeln!(out, "tickTime={}", c.tick_time);
    let _ = writeln!(out, "maxClientCnxns={}", c.max_client_cnxns);
    let _ = writeln!(out, "minSessionTimeout={}", c.min_session_timeout);
    let _ = writeln!(out, "maxSessionTimeout={}", c.max_session_timeout);
    let _ = writeln!(
        out,
        "clientPortListenBacklog={}",
        c.client_port_listen_backlog
    );
    let _ = writeln!(out, "serverId={}", c.server_id);
    if let Some(q) = &c.quorum {
        let _ = writeln!(out, "initLimit={}", q.init_limit);
        let _ = writeln!(out, "syncLimit={}", q.sync_limit);
        let _ = writeln!(out, "electionAlg={}", q.election_alg);
        let _ = writeln!(out, "electionPort={}", q.election_port);
        let _ = writeln!(out, "quorumPort={}", q.quorum_port);
        let _ = writeln!(out, "peerType={}", q.peer_type);
        out.push_str("membership: \n");
        out.push_str(&q.membership);
    }
    out
}

/// `dirs` (the server is serving).
pub(crate) fn dirs(sizes: DirSizes) -> String {
    format!(
        "datadir_size: {}\nlogdir_size: {}\n",
        sizes.data_dir_size, sizes.log_dir_size
    )
}
