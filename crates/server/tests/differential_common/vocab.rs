//! What the operations' arguments become in the client's terms (ACL lists, create
//! options), and the names answers are written down with (data in hex, zxids by order of
//! appearance).

use std::collections::HashMap;
use std::time::Duration;

use zookeeper_client::{Acl, Acls, AuthId, CreateMode, CreateOptions, Permission};

use super::ops::{AclChoice, Mode};

/// `digest` id of `alice:secret`: `alice:` + base64(sha1("alice:secret")).
pub const ALICE_DIGEST: &str = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=";

/// Data in hex (`''` when empty).
pub fn hex(data: &[u8]) -> String {
    if data.is_empty() {
        return "''".into();
    }
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ACL list a choice names.
pub fn acl_list(choice: AclChoice) -> Vec<Acl> {
    let anyone = AuthId::anyone;
    let alice = || AuthId::new("digest", ALICE_DIGEST);
    match choice {
        AclChoice::AnyoneAll => vec![Acl::new(Permission::ALL, anyone())],
        AclChoice::AnyoneRead => vec![Acl::new(Permission::READ, anyone())],
        AclChoice::AnyoneNoAdmin => vec![Acl::new(
            Permission::READ | Permission::WRITE | Permission::CREATE | Permission::DELETE,
            anyone(),
        )],
        AclChoice::AnyoneCreateDelete => {
            vec![Acl::new(Permission::CREATE | Permission::DELETE, anyone())]
        }
        AclChoice::CreatorAll => vec![Acl::new(Permission::ALL, AuthId::authed())],
        AclChoice::AliceAll => vec![Acl::new(Permission::ALL, alice())],
        AclChoice::LoopbackAll => vec![Acl::new(Permission::ALL, AuthId::new("ip", "127.0.0.1"))],
        AclChoice::AnyoneReadAliceAll => vec![
            Acl::new(Permission::READ, anyone()),
            Acl::new(Permission::ALL, alice()),
        ],
        AclChoice::UnknownScheme => vec![Acl::new(Permission::ALL, AuthId::new("nosuch", "x"))],
        AclChoice::WorldNobody => vec![Acl::new(Permission::ALL, AuthId::new("world", "nobody"))],
    }
}

pub fn create_options(mode: Mode, acls: &[Acl]) -> CreateOptions<'_> {
    let a = Acls::new(acls);
    let ttl = |ms: u64| Duration::from_millis(ms);
    match mode {
        Mode::Persistent => CreateMode::Persistent.with_acls(a),
        Mode::PersistentSequential => CreateMode::PersistentSequential.with_acls(a),
        Mode::Ephemeral => CreateMode::Ephemeral.with_acls(a),
        Mode::EphemeralSequential => CreateMode::EphemeralSequential.with_acls(a),
        Mode::Container => CreateMode::Container.with_acls(a),
        Mode::Ttl(ms) => CreateMode::Persistent.with_acls(a).with_ttl(ttl(ms)),
        Mode::TtlSequential(ms) => CreateMode::PersistentSequential
            .with_acls(a)
            .with_ttl(ttl(ms)),
    }
}

/// zxids renamed by their order of first appearance; a first appearance also gives its
/// rank among the zxids seen so far (`z7@3`).
#[derive(Default)]
pub struct Zxids {
    names: HashMap<i64, usize>,
    sorted: Vec<i64>,
}

impl Zxids {
    pub fn name(&mut self, z: i64) -> String {
        if let Some(n) = self.names.get(&z) {
            return format!("z{n}");
        }
        let n = self.names.len();
        let rank = self.sorted.partition_point(|&x| x < z);
        self.sorted.insert(rank, z);
        self.names.insert(z, n);
        format!("z{n}@{rank}")
    }
}
