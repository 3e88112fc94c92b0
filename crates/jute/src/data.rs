//! Records of module `org.apache.zookeeper.data` that clients see.

use crate::codec::record;

record! {
    /// `Id`: an authenticated identity, `scheme:id` (`world:anyone`, `digest:user:hash`, `ip:10.0.0.1`).
    pub struct Id {
        /// The auth scheme.
        pub scheme: String,
        /// The identity within the scheme.
        pub id: String,
    }
}

record! {
    /// `ACL`: permission bits (see [`crate::perms`]) granted to an [`Id`].
    pub struct Acl {
        /// Permission bits.
        pub perms: i32,
        /// Who gets them.
        pub id: Id,
    }
}

record! {
    /// `Stat`: a znode's metadata as clients see it (68 bytes).
    pub struct Stat {
        /// zxid of the create.
        pub czxid: i64,
        /// zxid of the last data change.
        pub mzxid: i64,
        /// Creation time, ms since the epoch.
        pub ctime: i64,
        /// Last modification time, ms since the epoch.
        pub mtime: i64,
        /// Data version.
        pub version: i32,
        /// Child list version.
        pub cversion: i32,
        /// ACL version.
        pub aversion: i32,
        /// Owning session of an ephemeral node, else 0.
        pub ephemeral_owner: i64,
        /// Data length in bytes.
        pub data_length: i32,
        /// Number of children.
        pub num_children: i32,
        /// zxid of the last child list change.
        pub pzxid: i64,
    }
}

record! {
    /// `ClientInfo`: one identity of a session, as `whoAmI` reports it.
    pub struct ClientInfo {
        /// Authentication scheme.
        pub auth_scheme: String,
        /// User name or other id (for example an IP address).
        pub user: String,
    }
}
