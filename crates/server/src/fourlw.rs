//! ZooKeeper's four-letter words, answered on the client port in ZooKeeper's formats.
//!
//! Monitoring tools parse these (`zkServer.sh status` reads `Mode:` from `srvr`), so the
//! layout follows ZooKeeper 3.8 line for line. Each answer is written in one go, because
//! some clients read it with a single receive.

use crate::config::Whitelist;
use crate::status::{Counters, Status};

/// The four-letter words ZooKeeper 3.8 knows.
pub const KNOWN: &[&str] = &[
    "conf", "cons", "crst", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat", "wchc",
    "wchp", "wchs", "mntr", "isro", "dirs", "hash",
];

/// What ZooKeeper prints when a server is not serving clients (for example while electing).
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The version line: the ZooKeeper protocol version zk-rs speaks, then zk-rs's own.
pub fn version() -> String {
    format!("3.8.0-zk-rs-{}, built on rust", env!("CARGO_PKG_VERSION"))
}

/// Whether the first four bytes of a connection are a four-letter word.
pub fn parse(first: &[u8; 4]) -> Option<&'static str> {
    let word = std::str::from_utf8(first).ok()?;
    KNOWN.iter().copied().find(|k| *k == word)
}

/// The answer to `cmd`, given the server's state.
pub fn answer(cmd: &str, whitelist: &Whitelist, status: &Status, counters: &Counters) -> String {
    if !whitelist.allows(cmd) {
        return format!("{cmd} is not executed because it is not in the whitelist.\n");
    }
    match cmd {
        "ruok" => "imok".to_string(),
        "srvr" => stat(status, counters, false),
        "stat" => stat(status, counters, true),
        "isro" => if status.serving { "rw" } else { "null" }.to_string(),
        _ => format!("{cmd} is not supported by zk-rs yet.\n"),
    }
}

fn stat(status: &Status, counters: &Counters, with_clients: bool) -> String {
    if !status.serving {
        return format!("{NOT_SERVING}\n");
    }
    let mut out = format!("Zookeeper version: {}\n", version());
    if with_clients {
        // The client protocol is a later issue: only four-letter-word connections exist.
        out.push_str("Clients:\n\n");
    }
    out.push_str("Latency min/avg/max: 0/0.0/0\n");
    out.push_str(&format!(
        "Received: {}\n",
        Counters::get(&counters.received)
    ));
    out.push_str(&format!("Sent: {}\n", Counters::get(&counters.sent)));
    out.push_str(&format!(
        "Connections: {}\n",
        Counters::get(&counters.connections)
    ));
    out.push_str("Outstanding: 0\n");
    out.push_str(&format!("Zxid: 0x{:x}\n", status.zxid));
    out.push_str(&format!("Mode: {}\n", status.mode.as_str()));
    // No data tree yet (the client protocol is a later issue).
    out.push_str("Node count: 0\n");
    if status.mode == crate::status::Mode::Leader {
        out.push_str("Proposal sizes last/min/max: -1/-1/-1\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Mode;

    fn serving(mode: Mode) -> Status {
        Status {
            mode,
            serving: true,
            zxid: 0x1_0000_0000,
            leader: Some(1),
            epoch: 1,
        }
    }

    #[test]
    fn ruok_answers_imok_when_whitelisted_only() {
        let c = Counters::default();
        assert_eq!(
            answer("ruok", &Whitelist::All, &Status::looking(), &c),
            "imok"
        );
        assert_eq!(
            answer("ruok", &Whitelist::default(), &serving(Mode::Leader), &c),
            "ruok is not executed because it is not in the whitelist.\n"
        );
    }

    #[test]
    fn srvr_follows_zookeepers_layout() {
        let c = Counters::default();
        let out = answer("srvr", &Whitelist::default(), &serving(Mode::Follower), &c);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("Zookeeper version: 3.8.0"));
        assert_eq!(
            &lines[1..],
            [
                "Latency min/avg/max: 0/0.0/0",
                "Received: 0",
                "Sent: 0",
                "Connections: 0",
                "Outstanding: 0",
                "Zxid: 0x100000000",
                "Mode: follower",
                "Node count: 0",
            ]
        );
        let leader = answer("srvr", &Whitelist::default(), &serving(Mode::Leader), &c);
        assert!(
            leader
                .ends_with("Mode: leader\nNode count: 0\nProposal sizes last/min/max: -1/-1/-1\n")
        );
    }

    #[test]
    fn stat_adds_clients_and_looking_is_not_serving() {
        let c = Counters::default();
        let out = answer("stat", &Whitelist::All, &serving(Mode::Observer), &c);
        assert!(out.contains("\nClients:\n\n") && out.contains("Mode: observer\n"));
        let looking = answer("srvr", &Whitelist::All, &Status::looking(), &c);
        assert_eq!(looking, format!("{NOT_SERVING}\n"));
    }

    #[test]
    fn only_known_words_parse() {
        assert_eq!(parse(b"srvr"), Some("srvr"));
        assert_eq!(parse(b"\x00\x00\x00\x2c"), None);
        assert_eq!(parse(b"SRVR"), None);
    }
}
