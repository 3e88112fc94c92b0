use super::*;
use std::path::Path;

const THREE: &str = "\
# a three-node ensemble
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zk
clientPort=2181
server.1=127.0.0.1:2888:3888
server.2=127.0.0.1:2889:3889
server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183
";

fn parse_with(text: &str, myid: &str) -> Result<Config, ConfigError> {
    let myid = myid.to_string();
    Config::parse(Path::new("/etc/zk/zoo.cfg"), text, move |_| Ok(myid))
}

fn message(err: ConfigError) -> String {
    err.to_string()
}

#[test]
fn reads_the_keys_of_a_three_node_ensemble() {
    let c = parse_with(THREE, "2\n").unwrap();
    assert_eq!(c.tick, Duration::from_millis(2000));
    assert_eq!((c.init_limit, c.sync_limit, c.client_port), (10, 5, 2181));
    assert_eq!(c.my_id, Some(2));
    assert_eq!(c.role, LearnerRole::Participant);
    assert_eq!(c.servers[&3].role, LearnerRole::Observer);
    assert_eq!(c.servers[&3].client, Some((Some("127.0.0.1".into()), 2183)));
    assert_eq!(c.data_log_dir, PathBuf::from("/var/lib/zk"));
    assert_eq!(c.whitelist, Whitelist::default());
    assert!(c.whitelist.allows("srvr") && !c.whitelist.allows("ruok"));
    assert_eq!(c.transport, TransportKind::Tcp);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn observer_reads_its_role_and_client_port_from_its_server_line() {
    let text = THREE.replace("clientPort=2181\n", "");
    let c = parse_with(&text, "3").unwrap();
    assert_eq!((c.role, c.client_port), (LearnerRole::Observer, 2183));
}

#[test]
fn a_single_server_is_standalone_without_myid() {
    let text = "tickTime=2000\ndataDir=/tmp/zk\nclientPort=2181\n";
    let c = Config::parse(Path::new("zoo.cfg"), text, |_| {
        Err(std::io::ErrorKind::NotFound.into())
    })
    .unwrap();
    assert!(c.is_standalone());
}

#[test]
fn missing_myid_names_the_file() {
    let err = Config::parse(Path::new("/etc/zk/zoo.cfg"), THREE, |_| {
        Err(std::io::ErrorKind::NotFound.into())
    });
    let m = message(err.unwrap_err());
    assert!(
        m.contains("/var/lib/zk/myid") && m.contains("dataDir"),
        "{m}"
    );
}

#[test]
fn myid_not_in_the_server_list_is_refused() {
    let m = message(parse_with(THREE, "7").unwrap_err());
    assert!(m.contains("myid is 7") && m.contains("server.7"), "{m}");
}

#[test]
fn garbage_myid_is_refused() {
    let m = message(parse_with(THREE, "two").unwrap_err());
    assert!(m.contains("'two'"), "{m}");
}

#[test]
fn duplicate_ports_name_both_servers_and_the_line() {
    let text = THREE.replace(
        "server.2=127.0.0.1:2889:3889",
        "server.2=127.0.0.1:2889:3888",
    );
    let m = message(parse_with(&text, "1").unwrap_err());
    assert!(
        m.contains("zoo.cfg:8") && m.contains("server.2") && m.contains("server.1"),
        "{m}"
    );
}

#[test]
fn bad_values_name_key_and_line() {
    let cases = [
        ("tickTime=2000", "tickTime=fast", "zoo.cfg:2 (tickTime)"),
        ("syncLimit=5", "syncLimit=0", "zoo.cfg:4 (syncLimit)"),
        (
            "clientPort=2181",
            "clientPort=99999",
            "zoo.cfg:6 (clientPort)",
        ),
        (
            "server.1=127.0.0.1:2888:3888",
            "server.1=127.0.0.1:2888",
            "zoo.cfg:7 (server.1)",
        ),
        (
            "server.1=127.0.0.1:2888:3888",
            "server.1=127.0.0.1:2888:3888:leader",
            "zoo.cfg:7 (server.1)",
        ),
        (
            "server.1=127.0.0.1:2888:3888",
            "server.x=127.0.0.1:2888:3888",
            "zoo.cfg:7 (server.x)",
        ),
    ];
    for (from, to, want) in cases {
        let m = message(parse_with(&THREE.replace(from, to), "2").unwrap_err());
        assert!(m.contains(want), "{to}: {m}");
    }
}

#[test]
fn missing_required_keys_are_named() {
    for key in ["tickTime", "initLimit", "syncLimit", "dataDir"] {
        let text: String = THREE
            .lines()
            .filter(|l| !l.starts_with(key))
            .map(|l| format!("{l}\n"))
            .collect();
        let m = message(parse_with(&text, "1").unwrap_err());
        assert!(m.contains(key), "{key}: {m}");
    }
}

#[test]
fn unknown_and_not_yet_effective_keys_warn_with_their_line() {
    let text = format!("{THREE}preAllocSize=1\nfrobnicate=yes\n");
    let c = parse_with(&text, "1").unwrap();
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings[0].contains(":10") && c.warnings[0].contains("no effect"));
    assert!(c.warnings[1].contains(":11") && c.warnings[1].contains("frobnicate"));
}

#[test]
fn a_key_given_twice_is_refused() {
    let m = message(parse_with(&format!("{THREE}tickTime=3000\n"), "1").unwrap_err());
    assert!(m.contains("given twice") && m.contains("line 2"), "{m}");
}

#[test]
fn whitelist_and_transport() {
    let c = parse_with(
        &format!("{THREE}4lw.commands.whitelist=ruok, stat\nquorum.transport=QUIC\n"),
        "1",
    )
    .unwrap();
    assert!(
        c.whitelist.allows("ruok") && c.whitelist.allows("stat") && !c.whitelist.allows("srvr")
    );
    assert_eq!(c.transport, TransportKind::Quic);
    let c = parse_with(&format!("{THREE}4lw.commands.whitelist=*\n"), "1").unwrap();
    assert!(c.whitelist.allows("mntr"));
    let m = message(parse_with(&format!("{THREE}quorum.transport=udp\n"), "1").unwrap_err());
    assert!(m.contains("quorum.transport") && m.contains("udp"), "{m}");
}

#[test]
fn hierarchical_groups_are_checked() {
    let five = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/d\nclientPort=2181\n\
server.1=h1:2888:3888\nserver.2=h2:2888:3888\nserver.3=h3:2888:3888\nserver.4=h4:2888:3888\n";
    let ok = format!("{five}group.1=1:2\ngroup.2=3:4\nweight.1=2\n");
    let g = parse_with(&ok, "1").unwrap().groups.unwrap();
    assert_eq!(g.groups[&2], BTreeSet::from([3, 4]));
    assert_eq!(g.weights[&1], 2);
    let twice = format!("{five}group.1=1:2\ngroup.2=2:3:4\n");
    assert!(message(parse_with(&twice, "1").unwrap_err()).contains("already in group.1"));
    let missing = format!("{five}group.1=1:2\ngroup.2=3\n");
    assert!(
        message(parse_with(&missing, "1").unwrap_err()).contains("participant 4 is in no group")
    );
    let unknown = format!("{five}group.1=1:2:9\ngroup.2=3:4\n");
    assert!(message(parse_with(&unknown, "1").unwrap_err()).contains("server 9"));
}

#[test]
fn ipv6_hosts_and_continuation_lines() {
    let text = "tickTime=2000\ninitLimit=5\nsyncLimit=2\ndataDir=/d\nclientPort=2181\n\
server.1=[::1]:2888:3888\nserver.2=[::1]:2889:\\\n    3889\n";
    let c = parse_with(text, "2").unwrap();
    assert_eq!(c.servers[&1].host, "::1");
    assert_eq!(c.servers[&2].election_port, 3889);
    assert_eq!(c.servers[&1].addr(2888), "[::1]:2888");
}

#[test]
fn force_sync_and_snap_count() {
    let c = parse_with(THREE, "1").unwrap();
    assert!(c.force_sync);
    assert_eq!(c.snap_count, 100_000);
    let c = parse_with(&format!("{THREE}forceSync=no\nsnapCount=500\n"), "1").unwrap();
    assert!(!c.force_sync);
    assert_eq!(c.snap_count, 500);
    assert!(c.warnings.iter().any(|w| w.contains("forceSync=no")));
    let m = message(parse_with(&format!("{THREE}forceSync=maybe\n"), "1").unwrap_err());
    assert!(m.contains("zoo.cfg:10 (forceSync)"), "{m}");
}

#[test]
fn committed_log_window() {
    let c = parse_with(THREE, "1").unwrap();
    assert_eq!(c.committed_log_window, 500);
    let c = parse_with(&format!("{THREE}zkrs.committedLogWindow=20\n"), "1").unwrap();
    assert_eq!(c.committed_log_window, 20);
    for (bad, at) in [
        (
            "zkrs.committedLogWindow=0",
            "zoo.cfg:10 (zkrs.committedLogWindow)",
        ),
        (
            "zkrs.committedLogWindow=x",
            "zoo.cfg:10 (zkrs.committedLogWindow)",
        ),
    ] {
        let m = message(parse_with(&format!("{THREE}{bad}\n"), "1").unwrap_err());
        assert!(m.contains(at), "{bad}: {m}");
    }
}

#[test]
fn autopurge_keys() {
    let c = parse_with(THREE, "1").unwrap();
    assert_eq!((c.snap_retain_count, c.purge_interval_hours), (3, 0));
    let c = parse_with(
        &format!("{THREE}autopurge.snapRetainCount=5\nautopurge.purgeInterval=24\n"),
        "1",
    )
    .unwrap();
    assert_eq!((c.snap_retain_count, c.purge_interval_hours), (5, 24));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = parse_with(&format!("{THREE}autopurge.snapRetainCount=1\n"), "1").unwrap();
    assert_eq!(c.snap_retain_count, 3);
    assert!(c.warnings[0].contains("below the minimum"));
    let m =
        message(parse_with(&format!("{THREE}autopurge.purgeInterval=daily\n"), "1").unwrap_err());
    assert!(m.contains("zoo.cfg:10 (autopurge.purgeInterval)"), "{m}");
}

#[test]
fn client_protocol_keys_and_their_defaults() {
    let c = parse_with(THREE, "1").unwrap();
    // tickTime=2000 in THREE: 2 and 20 ticks.
    assert_eq!(
        (c.min_session_timeout, c.max_session_timeout),
        (4000, 40000)
    );
    assert_eq!(c.max_buffer, 0xfffff);
    assert!(!c.extended_types_enabled);
    let text = format!(
        "{THREE}minSessionTimeout=1000\nmaxSessionTimeout=-1\njute.maxbuffer=4096\nzookeeper.extendedTypesEnabled=true\nzookeeper.DigestAuthenticationProvider.superDigest=super:abc=\n"
    );
    let c = parse_with(&text, "1").unwrap();
    assert_eq!(
        (c.min_session_timeout, c.max_session_timeout),
        (1000, 40000)
    );
    assert_eq!(c.max_buffer, 4096);
    assert!(c.extended_types_enabled);
    assert_eq!(c.super_digest.as_deref(), Some("super:abc="));
    for (bad, at) in [
        ("minSessionTimeout=50000", "(minSessionTimeout)"),
        ("jute.maxbuffer=10", "zoo.cfg:10 (jute.maxbuffer)"),
        (
            "extendedTypesEnabled=yes",
            "zoo.cfg:10 (extendedTypesEnabled)",
        ),
        (
            "DigestAuthenticationProvider.superDigest=nocolon",
            "zoo.cfg:10 (DigestAuthenticationProvider.superDigest)",
        ),
    ] {
        let m = message(parse_with(&format!("{THREE}{bad}\n"), "1").unwrap_err());
        assert!(m.contains(at), "{bad}: {m}");
    }
}
