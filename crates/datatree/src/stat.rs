//! Node metadata, as ZooKeeper's `StatPersisted` and `Stat` hold it.

/// The `ephemeralOwner` ZooKeeper stores for a container node
/// (`EphemeralType.CONTAINER_EPHEMERAL_OWNER`).
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;

/// The high byte marking an extended ephemeral type (`EphemeralType.EXTENDED_MASK`).
const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
/// The bits naming which extended type (`EphemeralType.RESERVED_BITS_MASK`); 0 is TTL.
const EXTENDED_BITS_MASK: u64 = 0x00ff_ff00_0000_0000;

/// The largest TTL ZooKeeper accepts (`EphemeralType.TTL.maxValue()`, 2^40 - 1 ms).
pub const MAX_TTL: i64 = 0x0000_00ff_ffff_ffff;

/// The `ephemeralOwner` ZooKeeper stores for a TTL node (`EphemeralType.TTL.toEphemeralOwner`).
pub fn ttl_ephemeral_owner(ttl: i64) -> i64 {
    (EXTENDED_MASK | (ttl as u64 & MAX_TTL as u64)) as i64
}

/// What a node's `ephemeralOwner` says it is (`EphemeralType.get`, extended types on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeType {
    /// Owner 0: a persistent node.
    Persistent,
    /// Owned by this session.
    Ephemeral(i64),
    /// A container.
    Container,
    /// A TTL node with this TTL in milliseconds.
    Ttl(i64),
}

impl NodeType {
    /// Classifies an `ephemeralOwner` value.
    pub fn of_owner(owner: i64) -> Self {
        let u = owner as u64;
        if owner == 0 {
            Self::Persistent
        } else if owner == CONTAINER_EPHEMERAL_OWNER {
            Self::Container
        } else if u & EXTENDED_MASK == EXTENDED_MASK && u & EXTENDED_BITS_MASK == 0 {
            Self::Ttl((u & MAX_TTL as u64) as i64)
        } else {
            Self::Ephemeral(owner)
        }
    }
}

/// The persisted part of a node's metadata (ZooKeeper's `StatPersisted`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatPersisted {
    /// The zxid that created the node.
    pub czxid: i64,
    /// The zxid that last modified its data.
    pub mzxid: i64,
    /// Creation time (ms, the leader's clock).
    pub ctime: i64,
    /// Last data modification time (ms).
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Child list version.
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Owning session of an ephemeral; the container / TTL markers; else 0.
    pub ephemeral_owner: i64,
    /// The zxid that last changed the child list.
    pub pzxid: i64,
}

/// A node's metadata as clients see it (ZooKeeper's `Stat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stat {
    /// The zxid that created the node.
    pub czxid: i64,
    /// The zxid that last modified its data.
    pub mzxid: i64,
    /// Creation time (ms).
    pub ctime: i64,
    /// Last data modification time (ms).
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Child list version.
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Owning session of an ephemeral; the container / TTL markers; else 0.
    pub ephemeral_owner: i64,
    /// Length of the data in bytes.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// The zxid that last changed the child list.
    pub pzxid: i64,
}

impl Stat {
    /// What clients see of a node (`DataNode.copyStat`): the persisted `cversion` counts
    /// creations only (it numbers sequential children), and clients are shown the count
    /// of child changes, creations plus deletions, `2 * creations - numChildren`; a
    /// container's or TTL node's `ephemeralOwner` reads 0.
    pub(crate) fn from_parts(p: &StatPersisted, data_length: usize, num_children: usize) -> Self {
        let num_children = i32::try_from(num_children).unwrap_or(i32::MAX);
        let ephemeral_owner = match NodeType::of_owner(p.ephemeral_owner) {
            NodeType::Container | NodeType::Ttl(_) => 0,
            _ => p.ephemeral_owner,
        };
        Self {
            czxid: p.czxid,
            mzxid: p.mzxid,
            ctime: p.ctime,
            mtime: p.mtime,
            version: p.version,
            cversion: p.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: p.aversion,
            ephemeral_owner,
            data_length: i32::try_from(data_length).unwrap_or(i32::MAX),
            num_children,
            pzxid: p.pzxid,
        }
    }
}
