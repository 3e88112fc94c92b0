//! Access control lists.

use std::sync::Arc;

/// Permission bits (`ZooDefs.Perms`).
pub mod perms {
    /// May read data and list children.
    pub const READ: i32 = 1;
    /// May set data.
    pub const WRITE: i32 = 2;
    /// May create children.
    pub const CREATE: i32 = 4;
    /// May delete children.
    pub const DELETE: i32 = 8;
    /// May set the ACL.
    pub const ADMIN: i32 = 16;
    /// All of the above.
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// One ACL entry: permissions granted to an identity (`scheme:id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Acl {
    /// Bitwise OR of [`perms`] constants.
    pub perms: i32,
    /// The authentication scheme, e.g. `world`, `digest`, `ip`.
    pub scheme: String,
    /// The identity within the scheme, e.g. `anyone`.
    pub id: String,
}

impl Acl {
    /// An entry granting `perms` to `scheme:id`.
    pub fn new(perms: i32, scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            perms,
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `ZooDefs.Ids.OPEN_ACL_UNSAFE`: world:anyone with all permissions.
    pub fn open_unsafe() -> Vec<Self> {
        vec![Self::new(perms::ALL, "world", "anyone")]
    }

    /// `ZooDefs.Ids.READ_ACL_UNSAFE`: world:anyone may read.
    pub fn read_unsafe() -> Vec<Self> {
        vec![Self::new(perms::READ, "world", "anyone")]
    }
}

/// An interned, shared ACL list; equal lists share one allocation.
pub type SharedAcl = Arc<[Acl]>;
