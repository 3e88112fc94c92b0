//! `wchs`, `wchc` and `wchp`: the data watches (ZooKeeper dumps its data-watch manager
//! only; child watches do not appear), by summary, by session and by path.

use super::java;
use crate::client::watches::WatchesSummary;
use std::fmt::Write;

/// `wchs`: `WatchManager.toString()`, then a newline.
pub(crate) fn wchs(s: &WatchesSummary) -> String {
    format!("{s}\n")
}

/// `wchc`: each session (`0x…`), then its watched paths indented by a tab; then an empty
/// line.
pub(crate) fn wchc(by_session: &[(i64, Vec<String>)]) -> String {
    let mut out = String::new();
    for (session, paths) in by_session {
        let _ = writeln!(out, "0x{}", java::hex(*session));
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push('\n');
    out
}

/// `wchp`: each path, then the sessions watching it (`\t0x…`); then an empty line.
pub(crate) fn wchp(by_path: &[(String, Vec<i64>)]) -> String {
    let mut out = String::new();
    for (path, sessions) in by_path {
        let _ = writeln!(out, "{path}");
        for s in sessions {
            let _ = writeln!(out, "\t0x{}", java::hex(*s));
        }
    }
    out.push('\n');
    out
}
