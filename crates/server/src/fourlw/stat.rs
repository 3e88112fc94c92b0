//! `srvr` and `stat`: the server's summary, `stat` adding every client connection.

use super::java;
use crate::status::{LatencyStats, Mode, ProposalSizes};
use std::fmt::Write;

/// What `srvr` and `stat` report.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StatView {
    /// `Zookeeper version:`.
    pub(crate) version: String,
    /// `stat`'s `Clients:` block, already rendered; `None` for `srvr`.
    pub(crate) clients: Option<String>,
    /// `Latency min/avg/max:`.
    pub(crate) latency: LatencyStats,
    /// `Received:`.
    pub(crate) received: u64,
    /// `Sent:`.
    pub(crate) sent: u64,
    /// `Connections:`.
    pub(crate) connections: u64,
    /// `Outstanding:`.
    pub(crate) outstanding: u64,
    /// `Zxid:`.
    pub(crate) zxid: u64,
    /// `Mode:`.
    pub(crate) mode: Mode,
    /// `Node count:`.
    pub(crate) node_count: u64,
    /// The leader's `Proposal sizes last/min/max:` (-1/-1/-1 when none).
    pub(crate) proposal_sizes: Option<ProposalSizes>,
}

/// `StatCommand` (the server is serving).
pub(crate) fn render(v: &StatView) -> String {
    let mut out = format!("Zookeeper version: {}\n", v.version);
    if let Some(clients) = &v.clients {
        out.push_str(clients);
    }
    // `ServerStats.toString()`.
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{}/{}",
        v.latency.min_or_zero(),
        java::double(v.latency.avg()),
        v.latency.max
    );
    let _ = writeln!(out, "Received: {}", v.received);
    let _ = writeln!(out, "Sent: {}", v.sent);
    let _ = writeln!(out, "Connections: {}", v.connections);
    let _ = writeln!(out, "Outstanding: {}", v.outstanding);
    let _ = writeln!(out, "Zxid: 0x{:x}", v.zxid);
    let _ = writeln!(out, "Mode: {}", v.mode.as_str());
    let _ = writeln!(out, "Node count: {}", v.node_count);
    if v.mode == Mode::Leader {
        let sizes = v.proposal_sizes.map_or_else(
            || "-1/-1/-1".to_string(),
            |p| format!("{}/{}/{}", p.last, p.min, p.max),
        );
        let _ = writeln!(out, "Proposal sizes last/min/max: {sizes}");
    }
    out
}
