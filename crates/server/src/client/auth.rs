//! Client authentication and ACL checks, as ZooKeeper 3.8's server does them.
//!
//! A stock 3.8 server registers two authentication providers: `ip` and `digest`
//! (`ProviderRegistry`). Everything here follows from that:
//!
//! - [`AuthInfo`] holds the identities of one *connection* (ZooKeeper keeps them on the
//!   `ServerCnxn`, not the session; a client that reconnects starts again from its
//!   address and replays its `auth` packets). It starts with `ip:<client address>`.
//! - [`add_auth`] handles the `auth` packet (opcode 100).
//! - [`check_acl`] is `ZooKeeperServer.checkACL`.
//! - [`expand_auth_acl`] and [`fixup_acl`] are `PrepRequestProcessor.fixupACL`.
//!
//! Identity order is observable (the `auth` expansion lands in `getACL` results, and
//! `whoAmI` lists the identities), and ZooKeeper keeps a connection's identities in a
//! `ConcurrentHashMap`-backed set, so [`AuthInfo::ids`] reproduces that iteration order
//! rather than insertion order.
//!
//! Not modelled (server-wide switches the caller applies itself): `zookeeper.skipACL`
//! (skip [`check_acl`]), `zookeeper.DigestAuthenticationProvider.enabled=false` (refuse
//! the `digest` scheme everywhere), `zookeeper.DigestAuthenticationProvider.digestAlg`
//! (SHA-1 only), custom `zookeeper.authProvider.*` classes, SASL and x509.

use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use zk_datatree::{Acl, ErrorCode};

/// `KeeperException.Code.AUTHFAILED`: the reply code of a refused `auth` packet, after
/// which ZooKeeper closes the connection (the session itself lives on until it expires).
pub const AUTH_FAILED: i32 = -115;

/// The `ip` scheme.
const IP: &str = "ip";
/// The `digest` scheme.
const DIGEST: &str = "digest";
/// The identity scheme that bypasses every ACL.
const SUPER: &str = "super";

/// Server-wide authentication settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// `zookeeper.DigestAuthenticationProvider.superDigest`: a digest identity
    /// (`user:base64(sha1("user:password"))`, see [`generate_digest`]) whose holder also
    /// gets the `super` identity. Compared as a whole string, so the user need not be
    /// called `super`.
    pub super_digest: Option<String>,
}

/// Why an `auth` packet was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No provider for the scheme (only `digest` and `ip` exist; names are
    /// case-sensitive).
    #[error("no authentication provider for scheme {0:?}")]
    UnknownScheme(String),
}

impl AuthError {
    /// The reply code ZooKeeper sends: always [`AUTH_FAILED`].
    pub fn code(&self) -> i32 {
        AUTH_FAILED
    }
}

/// Why an ACL given to `create` or `setACL` was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// An `auth` entry, but the connection has no identity from a provider that
    /// authenticates (in 3.8: no `digest` identity).
    #[error("`auth` ACL entry but the connection has no authenticated identity")]
    NoAuthenticatedIdentity,
    /// The list is empty.
    #[error("empty ACL")]
    Empty,
    /// An entry whose scheme has no provider, or whose id the provider refuses.
    #[error("invalid ACL id {scheme}:{id}")]
    InvalidId {
        /// The entry's scheme.
        scheme: String,
        /// The entry's id.
        id: String,
    },
}

impl AclError {
    /// The error code ZooKeeper answers with: always `INVALID_ACL`.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::INVALID_ACL
    }
}

/// The identities (`(scheme, id)` pairs) of one client connection.
#[derive(Clone, Debug)]
pub struct AuthInfo {
    /// The `ip` id of the remote address, which `addauth ip` adds again.
    client_ip: String,
    /// Simulates ZooKeeper's identity set, for its iteration order.
    set: JavaHashSetOrder,
}

impl AuthInfo {
    /// A new connection from `client_ip`: the single identity `ip:<address>`, spelt as
    /// Java's `InetAddress.getHostAddress` does (IPv4-mapped IPv6 becomes IPv4, as the
    /// JDK turns such a peer into an `Inet4Address`; other IPv6 addresses are eight
    /// uncompressed lower-case groups, e.g. `0:0:0:0:0:0:0:1`).
    pub fn new(client_ip: IpAddr) -> Self {
        Self::with_ip_id(java_host_address(client_ip, 0))
    }

    /// Like [`new`](Self::new) from the peer's socket address, keeping a non-zero IPv6
    /// scope id as Java does (`fe80:0:0:0:0:0:0:1%2`).
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        let scope = match addr {
            SocketAddr::V4(_) => 0,
            SocketAddr::V6(a) => a.scope_id(),
        };
        Self::with_ip_id(java_host_address(addr.ip(), scope))
    }

    fn with_ip_id(client_ip: String) -> Self {
        let mut set = JavaHashSetOrder::default();
        set.insert(IP, &client_ip);
        Self { client_ip, set }
    }

    /// The identities, in the order ZooKeeper 3.8 iterates them.
    pub fn ids(&self) -> &[(String, String)] {
        &self.set.ordered
    }

    /// Whether some identity has the `super` scheme, which bypasses every ACL.
    pub fn is_super(&self) -> bool {
        self.ids().iter().any(|(scheme, _)| scheme == SUPER)
    }

    /// The identities a learner forwarded with a request (see [`ids`](Self::ids)), for
    /// the leader's ACL checks.
    pub fn from_ids(ids: Vec<(String, String)>) -> Self {
        let client_ip = ids
            .iter()
            .find(|(scheme, _)| scheme == IP)
            .map(|(_, id)| id.clone())
            .unwrap_or_default();
        let mut set = JavaHashSetOrder::default();
        for (scheme, id) in &ids {
            set.insert(scheme, id);
        }
        Self { client_ip, set }
    }

    /// Adds an identity (`ServerCnxn.addAuthInfo`), for mechanisms other than the
    /// `auth` packet (e.g. SASL); returns false if it was already there.
    pub fn add_identity(&mut self, scheme: &str, id: &str) -> bool {
        self.set.insert(scheme, id)
    }
}

/// Handles an `auth` packet: `Ok` means reply `OK`; `Err` means reply [`AUTH_FAILED`]
/// and close the connection.
///
/// - `digest`: `auth` is `user:password` (bytes decoded as UTF-8 with invalid
///   sequences replaced exactly as Java's `new String(bytes)` does); adds
///   `digest:<generate_digest(..)>`, and first `super:` (empty id) if that digest equals
///   the configured super digest. Never fails, whatever the bytes.
/// - `ip`: ignores `auth` and re-adds the connection's own `ip` identity, a no-op.
/// - anything else (including `super`, `world`, `auth`, `sasl`, `x509`, `Digest`):
///   refused.
pub fn add_auth(
    config: &AuthConfig,
    info: &mut AuthInfo,
    scheme: &str,
    auth: &[u8],
) -> Result<(), AuthError> {
    match scheme {
        DIGEST => {
            let digest = generate_digest(&java_lossy_utf8(auth));
            if config.super_digest.as_deref() == Some(digest.as_str()) {
                info.set.insert(SUPER, "");
            }
            info.set.insert(DIGEST, &digest);
            Ok(())
        }
        IP => {
            let ip = info.client_ip.clone();
            info.set.insert(IP, &ip);
            Ok(())
        }
        _ => Err(AuthError::UnknownScheme(scheme.to_owned())),
    }
}

/// `DigestAuthenticationProvider.generateDigest`: `user:base64(sha1(user_password))`,
/// where `user` is everything before the first `:` (all of it if there is none) and the
/// hash covers the whole input, user included.
pub fn generate_digest(user_password: &str) -> String {
    let user = user_password
        .split_once(':')
        .map_or(user_password, |(user, _)| user);
    let hash = sha1_smol::Sha1::from(user_password.as_bytes())
        .digest()
        .bytes();
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// `ZooKeeperServer.checkACL`: whether the connection may do `perm` (a
/// [`zk_datatree::perms`] bit) on a node with this ACL.
///
/// An empty ACL allows everything; a `super` identity allows everything; otherwise some
/// entry granting a bit of `perm` must be `world:anyone`, an `ip` pattern matching one
/// of the connection's `ip` identities (see [`ip_matches`]), or a `digest` id equal to
/// one of its `digest` identities. Entries of other schemes (`auth`, `super`, `sasl`,
/// `x509`, `world:<not anyone>`) have no provider in 3.8 and match nobody.
pub fn check_acl(info: &AuthInfo, acl: &[Acl], perm: i32) -> bool {
    if acl.is_empty() || info.is_super() {
        return true;
    }
    acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        if is_world_anyone(a) {
            return true;
        }
        let matcher: fn(&str, &str) -> bool = match a.scheme.as_str() {
            IP => ip_matches,
            DIGEST => |id, expr| id == expr,
            _ => return false,
        };
        info.ids()
            .iter()
            .any(|(scheme, id)| *scheme == a.scheme && matcher(id, &a.id))
    })
}

/// `world:anyone`, the one `world` id, special-cased by ZooKeeper (no provider).
fn is_world_anyone(a: &Acl) -> bool {
    a.scheme == "world" && a.id == "anyone"
}

/// Whether a scheme's provider says its identities are authenticated, i.e. may stand
/// for the `auth` ACL scheme. In 3.8 only `digest` does: `ip` says no, and `super` has
/// no provider at all (ZooKeeper logs "Missing AuthenticationProvider" and skips it).
fn is_authenticated_scheme(scheme: &str) -> bool {
    scheme == DIGEST
}

/// The `auth` expansion of `PrepRequestProcessor.fixupACL`.
///
/// Like ZooKeeper, duplicates are removed first (keeping the first occurrence) and each
/// `auth` entry (whatever its id) is then replaced, in place, by one entry with its perms
/// per authenticated identity of the connection, in [`AuthInfo::ids`] order. So the
/// result can hold duplicates (`[auth::…, digest:u:…]` from user `u`), exactly where
/// ZooKeeper stores them: a later layer that removes duplicates again would differ.
/// Other entries pass through unvalidated. An empty list stays empty.
pub fn expand_auth_acl(info: &AuthInfo, acl: &[Acl]) -> Result<Vec<Acl>, AclError> {
    let mut out = Vec::with_capacity(acl.len());
    for a in dedup(acl) {
        if a.scheme == "auth" {
            let before = out.len();
            out.extend(
                info.ids()
                    .iter()
                    .filter(|(scheme, _)| is_authenticated_scheme(scheme))
                    .map(|(scheme, id)| Acl::new(a.perms, scheme.clone(), id.clone())),
            );
            if out.len() == before {
                return Err(AclError::NoAuthenticatedIdentity);
            }
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// All of `PrepRequestProcessor.fixupACL` with 3.8's default providers: refuses an
/// empty list, removes duplicates, keeps `world:anyone`, expands `auth` (as
/// [`expand_auth_acl`]), and refuses any other entry unless [`is_valid_acl_id`].
pub fn fixup_acl(info: &AuthInfo, acl: &[Acl]) -> Result<Vec<Acl>, AclError> {
    if acl.is_empty() {
        return Err(AclError::Empty);
    }
    let expanded = expand_auth_acl(info, acl)?;
    // Entries from the expansion are digest identities made by `generate_digest`, so
    // validating them again cannot fail; checking every entry keeps this simple.
    for a in &expanded {
        if !is_world_anyone(a) && !is_valid_acl_id(&a.scheme, &a.id) {
            return Err(AclError::InvalidId {
                scheme: a.scheme.clone(),
                id: a.id.clone(),
            });
        }
    }
    Ok(expanded)
}

/// Whether 3.8's provider for `scheme` accepts `id` in an ACL (`isValid`); false for
/// schemes without a provider (`world` is special-cased by the callers, and only as
/// `world:anyone`).
///
/// - `digest`: exactly two `:`-separated parts once trailing empty parts are dropped
///   (Java's `split(":")`), so `u:h` and `u:h:` pass but `u` and `u:h:x` do not.
/// - `ip`: an IPv4 address with an optional `/bits` (0 to 32), parsed as Java does
///   (`+8`, `010` and `-0` are numbers). 3.8 has no IPv6 ACLs, so IPv6 is refused here
///   even though [`ip_matches`] understands it.
pub fn is_valid_acl_id(scheme: &str, id: &str) -> bool {
    match scheme {
        DIGEST => {
            let mut parts: Vec<&str> = id.split(':').collect();
            while parts.last() == Some(&"") {
                parts.pop();
            }
            parts.len() == 2
        }
        IP => {
            let (addr, bits) = split_cidr(id);
            v4_bytes(addr).is_some()
                && bits.is_none_or(|b| java_parse_int(b, 10).is_some_and(|b| (0..=32).contains(&b)))
        }
        _ => false,
    }
}

/// `IPAuthenticationProvider.matches`: whether the `ip` identity `id` falls in the ACL
/// pattern `expr` (`address` or `address/bits`).
///
/// Both sides are parsed as text the way ZooKeeper does: dotted quad with Java integer
/// parsing, IPv6 as 8 groups or with one `::` (no embedded IPv4, no `%scope`), the
/// pattern need not be a network address (`10.1.2.3/8` matches `10.9.9.9`), bits must be
/// within the pattern's family, and IPv4 never matches IPv6. IPv6 follows ZooKeeper's
/// later IPv6 support (ZOOKEEPER-4240, on master since 2025): 3.8 parses only IPv4, so
/// there IPv6 never matches; that changes nothing as long as IPv6 ACL entries are
/// refused as 3.8 refuses them ([`is_valid_acl_id`]).
pub fn ip_matches(id: &str, expr: &str) -> bool {
    let (addr, bits) = split_cidr(expr);
    let Some(mut acl_addr) = addr_bytes(addr) else {
        return false;
    };
    let width = acl_addr.len() * 8;
    let bits = match bits {
        None => width,
        Some(b) => match java_parse_int(b, 10).and_then(|b| usize::try_from(b).ok()) {
            Some(b) if b <= width => b,
            _ => return false,
        },
    };
    let Some(mut remote) = addr_bytes(id) else {
        return false;
    };
    mask(&mut acl_addr, bits);
    mask(&mut remote, bits);
    acl_addr == remote
}

/// Java's `expr.split("/", 2)`.
fn split_cidr(expr: &str) -> (&str, Option<&str>) {
    match expr.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (expr, None),
    }
}

/// `addr2Bytes`: a `:` means IPv6, else a `.` means IPv4.
fn addr_bytes(addr: &str) -> Option<Vec<u8>> {
    if addr.contains(':') {
        v6_bytes(addr).map(Vec::from)
    } else if addr.contains('.') {
        v4_bytes(addr).map(Vec::from)
    } else {
        None
    }
}

/// Exactly four `.`-separated Java integers in 0..=255.
fn v4_bytes(addr: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = addr.split('.');
    for byte in &mut out {
        *byte = u8::try_from(java_parse_int(parts.next()?, 10)?).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The IPv6 parser of ZOOKEEPER-4240: at most one `::`, at most 7 explicit groups with it and
/// exactly 8 without; each group 1-4 characters parsed as a Java hex integer (so `+f`
/// and `-1` parse; a negative value keeps its low 16 bits).
fn v6_bytes(addr: &str) -> Option<[u8; 16]> {
    let halves: Vec<&str> = addr.split("::").collect();
    let (head, tail) = match halves.as_slice() {
        [all] => {
            let head: Vec<&str> = all.split(':').collect();
            if head.len() != 8 {
                return None;
            }
            (head, Vec::new())
        }
        [head, tail] => {
            let (head, tail) = (v6_groups(head), v6_groups(tail));
            if head.len() + tail.len() >= 8 {
                return None;
            }
            (head, tail)
        }
        _ => return None,
    };
    let mut out = [0u8; 16];
    let tail_start = 8 - tail.len();
    for (slot, group) in (0..).zip(&head).chain((tail_start..).zip(&tail)) {
        if group.is_empty() || group.encode_utf16().count() > 4 {
            return None;
        }
        let [_, _, hi, lo] = java_parse_int(group, 16)?.to_be_bytes();
        out[2 * slot] = hi;
        out[2 * slot + 1] = lo;
    }
    Some(out)
}

/// The `:`-separated groups of one side of a `::`, none if that side is empty.
fn v6_groups(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(':').collect()
    }
}

/// Clears all but the first `bits` bits (`bits` <= 8 * len).
fn mask(bytes: &mut [u8], bits: usize) {
    for (i, byte) in bytes.iter_mut().enumerate() {
        let keep = bits.saturating_sub(i * 8).min(8);
        // keep == 0 clears the byte; 8 keeps it.
        *byte &= !(0xffu16 >> keep) as u8;
    }
}

/// Java's `Integer.parseInt(s, radix)`: an optional sign (not alone), then digits, no
/// overflow. Java also takes non-ASCII Unicode decimal digits; ASCII only here.
fn java_parse_int(s: &str, radix: u32) -> Option<i32> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits.chars() {
        value = value * i64::from(radix) + i64::from(c.to_digit(radix)?);
        if value > 1 << 31 {
            return None;
        }
    }
    i32::try_from(if negative { -value } else { value }).ok()
}

/// Java's `InetAddress.getHostAddress` for a peer address as the JDK builds it from the
/// socket: IPv4-mapped IPv6 is IPv4, IPv6 is 8 lower-case hex groups without
/// compression, plus `%scope` when the scope id is non-zero.
fn java_host_address(ip: IpAddr, scope_id: u32) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            let mut s = groups.join(":");
            if scope_id != 0 {
                s.push('%');
                s.push_str(&scope_id.to_string());
            }
            s
        }
    }
}

/// `removeDuplicates`: first occurrences, in order.
fn dedup(acl: &[Acl]) -> Vec<&Acl> {
    let mut out: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// Java's `new String(bytes)` with a UTF-8 default charset (ZooKeeper decodes `auth`
/// bytes so): each malformed sequence becomes one U+FFFD, like Rust's
/// `String::from_utf8_lossy` except for UTF-8-encoded surrogates (`ED A0..BF ..`),
/// which Java replaces as one unit (up to three bytes) and Rust byte by byte. The
/// digest hashes the decoded text, so both must agree for a password with bad bytes.
fn java_lossy_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let lead = bytes[i];
        // Continuation bytes needed, and the range allowed for the first of them.
        let (need, second) = match lead {
            0x00..=0x7f => {
                out.push(char::from(lead));
                i += 1;
                continue;
            }
            0xc2..=0xdf => (1, 0x80..=0xbf),
            0xe0 => (2, 0xa0..=0xbf),
            // ED takes any continuation here; the surrogate is refused whole below.
            0xe1..=0xef => (2, 0x80..=0xbf),
            0xf0 => (3, 0x90..=0xbf),
            0xf1..=0xf3 => (3, 0x80..=0xbf),
            0xf4 => (3, 0x80..=0x8f),
            _ => {
                out.push(char::REPLACEMENT_CHARACTER);
                i += 1;
                continue;
            }
        };
        let mut code = u32::from(lead) & (0x3f >> need);
        let mut taken = 1;
        while taken <= need {
            let Some(&b) = bytes.get(i + taken) else {
                break;
            };
            let allowed = if taken == 1 {
                second.clone()
            } else {
                0x80..=0xbf
            };
            if !allowed.contains(&b) {
                break;
            }
            code = (code << 6) | (u32::from(b) & 0x3f);
            taken += 1;
        }
        // A truncated or broken sequence, or a surrogate, is one replacement.
        out.push(if taken > need {
            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
        } else {
            char::REPLACEMENT_CHARACTER
        });
        i += taken;
    }
    out
}

/// Java's `String.hashCode` (over UTF-16 code units).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The iteration order of ZooKeeper's per-connection identity set, a
/// `Collections.newSetFromMap(new ConcurrentHashMap<Id, Boolean>())` filled by
/// `addAuthInfo` on one thread.
///
/// Simulated: the jute `Id.hashCode`, the map's hash spreading, its 16-bucket start,
/// doubling when the size reaches 3/4 of the capacity, and how a doubling splits each
/// bucket's list (the nodes before the bucket's last run are re-linked in reverse).
/// Not simulated: tree bins, which need 9 identities in one bucket; order may then
/// differ from Java's (the set's contents never do).
#[derive(Clone, Debug, Default)]
struct JavaHashSetOrder {
    /// Buckets of `(spread hash, scheme, id)`; empty until the first insert.
    buckets: Vec<Vec<(u32, String, String)>>,
    /// Number of elements.
    len: usize,
    /// The identities in iteration order, rebuilt on each change.
    ordered: Vec<(String, String)>,
}

impl JavaHashSetOrder {
    /// `ConcurrentHashMap.DEFAULT_CAPACITY`.
    const INITIAL_CAPACITY: usize = 16;

    fn insert(&mut self, scheme: &str, id: &str) -> bool {
        if self.buckets.is_empty() {
            self.buckets = vec![Vec::new(); Self::INITIAL_CAPACITY];
        }
        // Jute's generated `Id.hashCode`, then `ConcurrentHashMap.spread`.
        let h = 37i32
            .wrapping_mul(
                37i32
                    .wrapping_mul(17)
                    .wrapping_add(java_string_hash(scheme)),
            )
            .wrapping_add(java_string_hash(id)) as u32;
        let hash = (h ^ (h >> 16)) & 0x7fff_ffff;
        let bucket_index = hash as usize & (self.buckets.len() - 1);
        let bucket = &mut self.buckets[bucket_index];
        if bucket.iter().any(|(_, s, i)| s == scheme && i == id) {
            return false;
        }
        bucket.push((hash, scheme.to_owned(), id.to_owned()));
        self.len += 1;
        // `sizeCtl` is n - n/4; `addCount` resizes once the size reaches it.
        let capacity = self.buckets.len();
        if self.len >= capacity - capacity / 4 {
            self.double();
        }
        self.ordered = self
            .buckets
            .iter()
            .flatten()
            .map(|(_, s, i)| (s.clone(), i.clone()))
            .collect();
        true
    }

    /// `ConcurrentHashMap.transfer` to twice the capacity.
    fn double(&mut self) {
        let n = self.buckets.len();
        let mut next = vec![Vec::new(); 2 * n];
        for (i, bucket) in std::mem::take(&mut self.buckets).into_iter().enumerate() {
            let high = |e: &(u32, String, String)| e.0 as usize & n != 0;
            // The last run: the longest suffix whose nodes all go to the same half; it
            // moves as is, and the nodes before it are pushed in front one by one.
            let mut run_start = 0;
            for k in 1..bucket.len() {
                if high(&bucket[k]) != high(&bucket[k - 1]) {
                    run_start = k;
                }
            }
            let mut low = Vec::new();
            let mut high_list = Vec::new();
            let mut rest = bucket;
            let run = rest.split_off(run_start);
            match run.first() {
                Some(e) if high(e) => high_list = run,
                _ => low = run,
            }
            for e in rest {
                if high(&e) {
                    high_list.insert(0, e);
                } else {
                    low.insert(0, e);
                }
            }
            next[i] = low;
            next[i + n] = high_list;
        }
        self.buckets = next;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
    use zk_datatree::perms;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> AuthInfo {
        AuthInfo::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    fn ip_acl(expr: &str) -> Vec<Acl> {
        vec![Acl::new(perms::ALL, "ip", expr)]
    }

    fn ids(info: &AuthInfo) -> Vec<(&str, &str)> {
        info.ids()
            .iter()
            .map(|(s, i)| (s.as_str(), i.as_str()))
            .collect()
    }

    #[test]
    fn digest_matches_zookeeper() {
        // The value ZooKeeper's own tests configure as superDigest for "super:test".
        assert_eq!(
            generate_digest("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        // Independently: printf %s "user:password" | sha1sum | xxd -r -p | base64
        assert_eq!(
            generate_digest("user:password"),
            "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
        );
        // The user is before the first ':'; the hash covers everything.
        assert_eq!(generate_digest("a:b:c"), "a:cLzgnoJ6mP5qz3w+mwvPE2vDgu0=");
        assert_eq!(generate_digest("foo"), "foo:C+7Hteo/D9vJXQ3UfzxbwnXaijM=");
        assert_eq!(generate_digest(":pw"), ":krPDEYdCl854cFNT6IXnoMv+VVA=");
        assert_eq!(generate_digest(""), ":2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    }

    #[test]
    fn new_connection_has_only_its_ip() {
        assert_eq!(ids(&v4(127, 0, 0, 1)), [("ip", "127.0.0.1")]);
        let v6 = AuthInfo::new(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(ids(&v6), [("ip", "0:0:0:0:0:0:0:1")]);
        let mapped = AuthInfo::new(IpAddr::V6(Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped()));
        assert_eq!(ids(&mapped), [("ip", "10.1.2.3")]);
        let scoped = SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xab, 1),
            2181,
            0,
            2,
        ));
        assert_eq!(
            ids(&AuthInfo::from_socket_addr(scoped)),
            [("ip", "fe80:0:0:0:0:0:ab:1%2")]
        );
        assert!(!v4(127, 0, 0, 1).is_super());
    }

    #[test]
    fn digest_auth_adds_identity_and_super() {
        let config = AuthConfig {
            super_digest: Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=".into()),
        };
        let mut info = v4(127, 0, 0, 1);
        add_auth(&config, &mut info, "digest", b"user:password").unwrap();
        assert!(!info.is_super());
        assert!(ids(&info).contains(&("digest", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=")));
        add_auth(&config, &mut info, "digest", b"super:wrong").unwrap();
        assert!(!info.is_super());
        add_auth(&config, &mut info, "digest", b"super:test").unwrap();
        assert!(info.is_super());
        assert!(ids(&info).contains(&("super", "")));
        assert!(ids(&info).contains(&("digest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU=")));
        // Repeating an auth adds nothing.
        let before = info.ids().len();
        add_auth(&config, &mut info, "digest", b"user:password").unwrap();
        assert_eq!(info.ids().len(), before);
    }

    #[test]
    fn super_digest_need_not_be_user_super() {
        let config = AuthConfig {
            super_digest: Some(generate_digest("admin:pw")),
        };
        let mut info = v4(127, 0, 0, 1);
        add_auth(&config, &mut info, "digest", b"admin:pw").unwrap();
        assert!(info.is_super());
    }

    #[test]
    fn digest_auth_takes_any_bytes() {
        let mut info = v4(127, 0, 0, 1);
        add_auth(&AuthConfig::default(), &mut info, "digest", b"\xffu:p").unwrap();
        let expected = generate_digest("\u{fffd}u:p");
        assert!(ids(&info).contains(&("digest", expected.as_str())));
        // Java's decoder, not Rust's: an encoded surrogate is one replacement.
        assert_eq!(java_lossy_utf8(b"\xed\xa0\x80u:p"), "\u{fffd}u:p");
        assert_eq!(java_lossy_utf8(b"\xed\xa0A"), "\u{fffd}A");
        assert_eq!(java_lossy_utf8(b"a\xed\xa0"), "a\u{fffd}");
        assert_eq!(java_lossy_utf8(b"\xe0\x80\x80"), "\u{fffd}\u{fffd}\u{fffd}");
        assert_eq!(java_lossy_utf8(b"\xf0\x9f\x98"), "\u{fffd}");
        assert_eq!(
            java_lossy_utf8("h\u{e9}\u{1f600}".as_bytes()),
            "h\u{e9}\u{1f600}"
        );
    }

    #[test]
    fn ip_auth_is_a_no_op() {
        let mut info = v4(10, 0, 0, 5);
        add_auth(&AuthConfig::default(), &mut info, "ip", b"192.168.0.1").unwrap();
        assert_eq!(ids(&info), [("ip", "10.0.0.5")]);
    }

    #[test]
    fn unknown_schemes_fail_auth() {
        let config = AuthConfig::default();
        for scheme in ["world", "super", "auth", "sasl", "x509", "Digest", ""] {
            let mut info = v4(127, 0, 0, 1);
            let err = add_auth(&config, &mut info, scheme, b"super:test").unwrap_err();
            assert_eq!(err, AuthError::UnknownScheme(scheme.into()));
            assert_eq!(err.code(), -115);
            assert_eq!(ids(&info), [("ip", "127.0.0.1")]);
        }
    }

    #[test]
    fn empty_acl_and_world() {
        let info = v4(127, 0, 0, 1);
        assert!(check_acl(&info, &[], perms::ADMIN));
        assert!(check_acl(&info, &Acl::open_unsafe(), perms::WRITE));
        assert!(check_acl(&info, &Acl::read_unsafe(), perms::READ));
        assert!(!check_acl(&info, &Acl::read_unsafe(), perms::WRITE));
        // Only world:anyone is special.
        let other = [Acl::new(perms::ALL, "world", "someone")];
        assert!(!check_acl(&info, &other, perms::READ));
        // Any requested bit granted is enough, as with Java's `(perms & perm) != 0`.
        assert!(check_acl(
            &info,
            &Acl::read_unsafe(),
            perms::READ | perms::WRITE
        ));
    }

    #[test]
    fn super_bypasses_everything() {
        let acl = [Acl::new(perms::READ, "digest", "other:xxx")];
        let mut info = v4(127, 0, 0, 1);
        assert!(!check_acl(&info, &acl, perms::ADMIN));
        info.add_identity("super", "");
        assert!(check_acl(&info, &acl, perms::ADMIN));
        // ... even an ACL granting nothing.
        assert!(check_acl(
            &info,
            &[Acl::new(0, "world", "anyone")],
            perms::READ
        ));
    }

    #[test]
    fn super_or_auth_entries_match_nobody() {
        let mut info = v4(127, 0, 0, 1);
        add_auth(&AuthConfig::default(), &mut info, "digest", b"u:p").unwrap();
        for scheme in ["super", "auth", "sasl"] {
            let acl = [Acl::new(perms::ALL, scheme, "")];
            assert!(!check_acl(&info, &acl, perms::READ), "{scheme}");
        }
    }

    #[test]
    fn digest_entries() {
        let mut info = v4(127, 0, 0, 1);
        let mine = generate_digest("u:p");
        let acl = [Acl::new(perms::READ | perms::WRITE, "digest", mine.clone())];
        assert!(!check_acl(&info, &acl, perms::READ));
        add_auth(&AuthConfig::default(), &mut info, "digest", b"u:wrong").unwrap();
        assert!(!check_acl(&info, &acl, perms::READ));
        add_auth(&AuthConfig::default(), &mut info, "digest", b"u:p").unwrap();
        assert!(check_acl(&info, &acl, perms::READ));
        assert!(check_acl(&info, &acl, perms::WRITE));
        assert!(!check_acl(&info, &acl, perms::DELETE));
        // The ip scheme does not match a digest identity and vice versa.
        let as_ip = [Acl::new(perms::ALL, "ip", mine)];
        assert!(!check_acl(&info, &as_ip, perms::READ));
    }

    #[test]
    fn ipv4_patterns() {
        let info = v4(10, 1, 2, 3);
        for ok in [
            "10.1.2.3",
            "10.1.2.3/32",
            "10.0.0.0/8",
            "10.1.2.3/8",
            "10.1.0.0/16",
            "10.1.2.0/23",
            "0.0.0.0/0",
            "200.1.1.1/0",
            "010.1.2.3",
            "+10.1.2.3/+8",
            "-0.0.0.0/-0",
            "8.0.0.0/5",
        ] {
            assert!(check_acl(&info, &ip_acl(ok), perms::READ), "{ok}");
        }
        for bad in [
            "10.1.2.4",
            "11.0.0.0/8",
            "10.1.3.0/24",
            "16.0.0.0/5",
            "10.1.2.3/33",
            "10.1.2.3/-1",
            "10.1.2.3/",
            "10.1.2.3/x",
            "10.1.2",
            "10.1.2.3.4",
            "10.1.2.256",
            "10.1.2.3 ",
            "",
            "localhost",
            "::/0",
            "0:0:0:0:0:ffff:a01:203",
        ] {
            assert!(!check_acl(&info, &ip_acl(bad), perms::READ), "{bad}");
        }
        // The perms still apply.
        let read_only = [Acl::new(perms::READ, "ip", "10.0.0.0/8")];
        assert!(!check_acl(&info, &read_only, perms::WRITE));
    }

    #[test]
    fn ipv6_patterns() {
        let client = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0xab, 1);
        let info = AuthInfo::new(IpAddr::V6(client));
        for ok in [
            "2001:db8::ab:1",
            "2001:DB8:0:0:0:0:ab:1",
            "2001:db8::/32",
            "2001:db8::ab:0/112",
            "2001:db8:0:0:0:0:ab:1/128",
            "::/0",
            "2001:db8::ff:1/104",
            "2001:db8::ab:0/127",
        ] {
            assert!(check_acl(&info, &ip_acl(ok), perms::READ), "{ok}");
        }
        for bad in [
            "2001:db9::/32",
            "2001:db8::ab:2",
            "2001:db8::ab:2/127",
            "2001:db8::/129",
            "2001:db8::ab::1",
            "2001:db8:0:0:0:0:ab",
            "2001:db8::00001",
            "0.0.0.0/0",
            "2001:db8::ab:1%2",
        ] {
            assert!(!check_acl(&info, &ip_acl(bad), perms::READ), "{bad}");
        }
        let loopback = AuthInfo::new(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert!(check_acl(&loopback, &ip_acl("::1"), perms::READ));
        // A scoped identity parses as no address at all.
        let scoped = AuthInfo::from_socket_addr(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            1,
            0,
            3,
        )));
        assert!(!check_acl(&scoped, &ip_acl("::/0"), perms::READ));
    }

    #[test]
    fn ip_validity_is_ipv4_only() {
        for ok in [
            "10.0.0.1",
            "10.0.0.0/8",
            "1.2.3.4/0",
            "1.2.3.4/32",
            "+1.2.3.4/+8",
        ] {
            assert!(is_valid_acl_id("ip", ok), "{ok}");
        }
        for bad in ["::1", "10.0.0.1/33", "10.0.0", "10.0.0.1/", "host", ""] {
            assert!(!is_valid_acl_id("ip", bad), "{bad}");
        }
        assert!(is_valid_acl_id("digest", "u:h"));
        assert!(is_valid_acl_id("digest", "u:h::"));
        assert!(!is_valid_acl_id("digest", "u:h:x"));
        assert!(!is_valid_acl_id("digest", "u"));
        assert!(!is_valid_acl_id("world", "anyone"));
        assert!(!is_valid_acl_id("super", "x"));
    }

    #[test]
    fn auth_expands_to_digest_identities() {
        let mut info = v4(127, 0, 0, 1);
        let acl = [
            Acl::new(perms::READ, "world", "anyone"),
            Acl::new(perms::ALL, "auth", "ignored"),
        ];
        // Only an ip identity: nothing to expand to.
        assert_eq!(
            expand_auth_acl(&info, &acl),
            Err(AclError::NoAuthenticatedIdentity)
        );
        assert_eq!(
            expand_auth_acl(&info, &acl).unwrap_err().error_code(),
            ErrorCode::INVALID_ACL
        );
        add_auth(&AuthConfig::default(), &mut info, "digest", b"u:p").unwrap();
        assert_eq!(
            expand_auth_acl(&info, &acl).unwrap(),
            [
                Acl::new(perms::READ, "world", "anyone"),
                Acl::new(perms::ALL, "digest", generate_digest("u:p")),
            ]
        );
        // Non-auth entries pass through unvalidated; an empty list stays empty.
        let odd = [Acl::new(7, "nonsense", "")];
        assert_eq!(expand_auth_acl(&info, &odd).unwrap(), odd);
        assert_eq!(expand_auth_acl(&info, &[]).unwrap(), []);
    }

    #[test]
    fn super_alone_does_not_expand_auth() {
        let mut info = v4(127, 0, 0, 1);
        info.add_identity("super", "");
        let acl = [Acl::new(perms::ALL, "auth", "")];
        assert_eq!(
            expand_auth_acl(&info, &acl),
            Err(AclError::NoAuthenticatedIdentity)
        );
    }

    #[test]
    fn auth_expansion_keeps_zookeepers_duplicates() {
        let mut info = v4(127, 0, 0, 1);
        add_auth(&AuthConfig::default(), &mut info, "digest", b"u:p").unwrap();
        let me = generate_digest("u:p");
        let acl = [
            Acl::new(perms::ALL, "auth", ""),
            Acl::new(perms::ALL, "auth", ""), // removed before expansion
            Acl::new(perms::ALL, "digest", me.clone()), // duplicates the expansion
            Acl::new(perms::ALL, "auth", "x"), // a different entry: expands again
        ];
        let mine = Acl::new(perms::ALL, "digest", me);
        assert_eq!(
            expand_auth_acl(&info, &acl).unwrap(),
            [mine.clone(), mine.clone(), mine]
        );
    }

    #[test]
    fn fixup_acl_validates() {
        let mut info = v4(127, 0, 0, 1);
        assert_eq!(fixup_acl(&info, &[]), Err(AclError::Empty));
        assert_eq!(
            fixup_acl(&info, &Acl::open_unsafe()).unwrap(),
            Acl::open_unsafe()
        );
        let v6 = [Acl::new(perms::ALL, "ip", "::1")];
        assert!(matches!(
            fixup_acl(&info, &v6),
            Err(AclError::InvalidId { .. })
        ));
        add_auth(&AuthConfig::default(), &mut info, "digest", b"u:p").unwrap();
        let acl = [
            Acl::new(perms::ALL, "auth", ""),
            Acl::new(perms::READ, "ip", "10.0.0.0/8"),
        ];
        assert_eq!(
            fixup_acl(&info, &acl).unwrap(),
            [
                Acl::new(perms::ALL, "digest", generate_digest("u:p")),
                Acl::new(perms::READ, "ip", "10.0.0.0/8"),
            ]
        );
    }

    #[test]
    fn identity_order_is_javas_hash_set_order() {
        // Orders printed by JDK 17 for a ConcurrentHashMap-backed set of jute `Id`s.
        let mut info = v4(127, 0, 0, 1);
        for i in 0..3 {
            info.add_identity("digest", &format!("user{i}:h"));
        }
        let small = [
            ("ip", "127.0.0.1"),
            ("digest", "user1:h"),
            ("digest", "user0:h"),
            ("digest", "user2:h"),
        ];
        assert_eq!(ids(&info), small);
        // auth expands in that order too.
        let expanded = expand_auth_acl(&info, &[Acl::new(perms::READ, "auth", "")]).unwrap();
        let expanded: Vec<&str> = expanded.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(expanded, ["user1:h", "user0:h", "user2:h"]);
        // The 12th identity doubles the table to 32 buckets.
        for i in 3..12 {
            info.add_identity("digest", &format!("user{i}:h"));
        }
        let order: Vec<&str> = ids(&info).iter().map(|(_, id)| *id).collect();
        assert_eq!(
            order,
            [
                "user9:h",
                "user8:h",
                "user10:h",
                "user11:h",
                "user5:h",
                "user4:h",
                "user7:h",
                "user6:h",
                "127.0.0.1",
                "user1:h",
                "user0:h",
                "user3:h",
                "user2:h",
            ]
        );
        assert!(!info.add_identity("digest", "user3:h"));
        assert_eq!(info.ids().len(), 13);
    }

    #[test]
    fn java_integers() {
        assert_eq!(java_parse_int("+8", 10), Some(8));
        assert_eq!(java_parse_int("-0", 10), Some(0));
        assert_eq!(java_parse_int("010", 10), Some(10));
        assert_eq!(java_parse_int("2147483647", 10), Some(i32::MAX));
        assert_eq!(java_parse_int("-2147483648", 10), Some(i32::MIN));
        assert_eq!(java_parse_int("2147483648", 10), None);
        assert_eq!(java_parse_int("99999999999999999999", 10), None);
        assert_eq!(java_parse_int("+", 10), None);
        assert_eq!(java_parse_int("", 10), None);
        assert_eq!(java_parse_int("1 ", 10), None);
        assert_eq!(java_parse_int("fF", 16), Some(255));
        assert_eq!(java_parse_int("-1", 16), Some(-1));
        assert_eq!(java_string_hash("digest"), -1_331_913_276);
        assert_eq!(java_string_hash("ip"), 3367);
        assert_eq!(java_string_hash(""), 0);
    }
}
