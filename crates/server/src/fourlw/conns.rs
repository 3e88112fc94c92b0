//! The connection words: `cons`, the `Clients:` block of `stat`, `dump` and `crst`.

use super::java;
use crate::status::ConnSnapshot;
use std::fmt::Write;
use std::net::SocketAddr;

/// `ServerCnxn.dumpConnectionInfo(pw, brief)`: one connection, without a newline.
pub(crate) fn connection(c: &ConnSnapshot, brief: bool) -> String {
    let mut s = format!(
        " {}[{}](queued={},recved={},sent={}",
        java::socket_addr(&c.peer),
        if c.interest_ops == 0 {
            "0".to_string()
        } else {
            format!("{:x}", c.interest_ops)
        },
        c.queued,
        c.received,
        c.sent
    );
    if !brief && c.session != 0 {
        let _ = write!(
            s,
            ",sid=0x{},lop={},est={},to={}",
            java::hex(c.session),
            c.last_op,
            c.established,
            c.timeout
        );
        if c.last_cxid >= 0 {
            let _ = write!(s, ",lcxid=0x{}", java::hex(c.last_cxid));
        }
        let _ = write!(
            s,
            ",lzxid=0x{},lresp={},llat={},minlat={},avglat={},maxlat={}",
            java::hex(c.last_zxid),
            c.last_response,
            c.last_latency,
            c.min_latency,
            c.avg_latency,
            c.max_latency
        );
    }
    s.push(')');
    s
}

/// `cons`: every connection in full, one a line, then an empty line.
pub(crate) fn cons(conns: &[ConnSnapshot]) -> String {
    let mut out = String::new();
    for c in conns {
        out.push_str(&connection(c, false));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `stat`'s `Clients:` block: every connection in brief, then an empty line.
pub(crate) fn clients(conns: &[ConnSnapshot]) -> String {
    let mut out = String::from("Clients:\n");
    for c in conns {
        out.push_str(&connection(c, true));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// The sessions part of `dump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionsDump {
    /// A leader or standalone server: sessions by expiry bucket (ZooKeeper's
    /// `SessionTrackerImpl`), as (bucket end in ms since the epoch, session ids).
    Tracker(Vec<(i64, Vec<i64>)>),
    /// A learner: every global session and its timeout (`LearnerSessionTracker`).
    Learner(Vec<(i64, i32)>),
}

/// What `dump` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DumpView {
    /// The session tracker.
    pub(crate) sessions: SessionsDump,
    /// The ephemeral nodes of each session that has some.
    pub(crate) ephemerals: Vec<(i64, Vec<String>)>,
    /// The connections by expiry bucket: (bucket end in ms since the epoch, [(client
    /// address, session id)]).
    pub(crate) connections: Vec<(i64, Vec<(SocketAddr, i64)>)>,
}

/// `ExpiryQueue.dump` after its `prefix`: `Sets (buckets)/(elements):` then each bucket.
fn expiry_queue<T>(
    out: &mut String,
    prefix: &str,
    buckets: &[(i64, Vec<T>)],
    item: impl Fn(&T) -> String,
) {
    let total: usize = buckets.iter().map(|(_, v)| v.len()).sum();
    let _ = writeln!(out, "{prefix}Sets ({})/({total}):", buckets.len());
    for (at, items) in buckets {
        let _ = writeln!(out, "{} expire at {}:", items.len(), java::date(*at));
        for i in items {
            let _ = writeln!(out, "\t{}", item(i));
        }
    }
}

/// `dump` (the server is serving).
pub(crate) fn dump(v: &DumpView) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    match &v.sessions {
        SessionsDump::Tracker(buckets) => {
            expiry_queue(&mut out, "Session ", buckets, |s| {
                format!("0x{}", java::hex(*s))
            });
        }
        SessionsDump::Learner(sessions) => {
            let _ = writeln!(out, "Global Sessions({}):", sessions.len());
            for (id, timeout) in sessions {
                let _ = writeln!(out, "0x{}\t{timeout}ms", java::hex(*id));
            }
        }
    }
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", v.ephemerals.len());
    for (session, paths) in &v.ephemerals {
        let _ = writeln!(out, "0x{}:", java::hex(*session));
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\n");
    expiry_queue(
        &mut out,
        "Connections ",
        &v.connections,
        |(addr, session)| {
            format!(
                "ip: {} sessionId: 0x{}",
                java::socket_addr(addr),
                java::hex(*session)
            )
        },
    );
    out
}

/// Groups `(bucket, item)` pairs into buckets in ascending order.
pub(crate) fn buckets<T>(mut items: Vec<(i64, T)>) -> Vec<(i64, Vec<T>)>
where
    T: Ord,
{
    items.sort();
    let mut out: Vec<(i64, Vec<T>)> = Vec::new();
    for (at, item) in items {
        match out.last_mut() {
            Some((last, v)) if *last == at => v.push(item),
            _ => out.push((at, vec![item])),
        }
    }
    out
}
