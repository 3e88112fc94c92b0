//! Request and response records of the client operations (module
//! `org.apache.zookeeper.proto`).

use bytes::Bytes;

use crate::codec::record;
use crate::data::{Acl, Stat};

record! {
    /// `CreateRequest` (create, create2, createContainer).
    pub struct CreateRequest {
        /// Path of the new node.
        pub path: String,
        /// Its data (null is kept as `None`).
        pub data: Option<Bytes>,
        /// Its ACL.
        pub acl: Vec<Acl>,
        /// [`CreateMode`](crate::CreateMode) as an int.
        pub flags: i32,
    }
}

record! {
    /// `CreateTTLRequest` (createTTL).
    pub struct CreateTtlRequest {
        /// Path of the new node.
        pub path: String,
        /// Its data.
        pub data: Option<Bytes>,
        /// Its ACL.
        pub acl: Vec<Acl>,
        /// [`CreateMode`](crate::CreateMode) as an int.
        pub flags: i32,
        /// Time to live, ms.
        pub ttl: i64,
    }
}

record! {
    /// `CreateResponse` (create).
    pub struct CreateResponse {
        /// The actual path (with any sequence suffix).
        pub path: String,
    }
}

record! {
    /// `Create2Response` (create2, createContainer, createTTL).
    pub struct Create2Response {
        /// The actual path.
        pub path: String,
        /// The new node's stat.
        pub stat: Stat,
    }
}

record! {
    /// `DeleteRequest`.
    pub struct DeleteRequest {
        /// Path.
        pub path: String,
        /// Expected data version, -1 for any.
        pub version: i32,
    }
}

record! {
    /// `ExistsRequest`.
    pub struct ExistsRequest {
        /// Path.
        pub path: String,
        /// Leave a watch.
        pub watch: bool,
    }
}

record! {
    /// `ExistsResponse`.
    pub struct ExistsResponse {
        /// The node's stat.
        pub stat: Stat,
    }
}

record! {
    /// `GetDataRequest`.
    pub struct GetDataRequest {
        /// Path.
        pub path: String,
        /// Leave a watch.
        pub watch: bool,
    }
}

record! {
    /// `GetDataResponse` (getData; also the reply to reconfig).
    pub struct GetDataResponse {
        /// The data (null is kept as `None`).
        pub data: Option<Bytes>,
        /// The node's stat.
        pub stat: Stat,
    }
}

record! {
    /// `SetDataRequest`.
    pub struct SetDataRequest {
        /// Path.
        pub path: String,
        /// New data.
        pub data: Option<Bytes>,
        /// Expected data version, -1 for any.
        pub version: i32,
    }
}

record! {
    /// `SetDataResponse`.
    pub struct SetDataResponse {
        /// The node's new stat.
        pub stat: Stat,
    }
}

record! {
    /// `GetACLRequest`.
    pub struct GetAclRequest {
        /// Path.
        pub path: String,
    }
}

record! {
    /// `GetACLResponse`.
    pub struct GetAclResponse {
        /// The ACL.
        pub acl: Vec<Acl>,
        /// The node's stat.
        pub stat: Stat,
    }
}

record! {
    /// `SetACLRequest`.
    pub struct SetAclRequest {
        /// Path.
        pub path: String,
        /// New ACL.
        pub acl: Vec<Acl>,
        /// Expected ACL version, -1 for any.
        pub version: i32,
    }
}

record! {
    /// `SetACLResponse`.
    pub struct SetAclResponse {
        /// The node's new stat.
        pub stat: Stat,
    }
}

record! {
    /// `GetChildrenRequest`.
    pub struct GetChildrenRequest {
        /// Path.
        pub path: String,
        /// Leave a watch.
        pub watch: bool,
    }
}

record! {
    /// `GetChildrenResponse`.
    pub struct GetChildrenResponse {
        /// Child names (not paths).
        pub children: Vec<String>,
    }
}

record! {
    /// `GetChildren2Request`.
    pub struct GetChildren2Request {
        /// Path.
        pub path: String,
        /// Leave a watch.
        pub watch: bool,
    }
}

record! {
    /// `GetChildren2Response`.
    pub struct GetChildren2Response {
        /// Child names.
        pub children: Vec<String>,
        /// The node's stat.
        pub stat: Stat,
    }
}

record! {
    /// `CheckVersionRequest` (check).
    pub struct CheckVersionRequest {
        /// Path.
        pub path: String,
        /// Expected data version.
        pub version: i32,
    }
}

record! {
    /// `SyncRequest`.
    pub struct SyncRequest {
        /// Path.
        pub path: String,
    }
}

record! {
    /// `SyncResponse`.
    pub struct SyncResponse {
        /// Path.
        pub path: String,
    }
}

record! {
    /// `AddWatchRequest`.
    pub struct AddWatchRequest {
        /// Path.
        pub path: String,
        /// [`AddWatchMode`](crate::AddWatchMode) as an int.
        pub mode: i32,
    }
}

record! {
    /// `RemoveWatchesRequest`.
    pub struct RemoveWatchesRequest {
        /// Path.
        pub path: String,
        /// [`WatcherType`](crate::WatcherType) as an int.
        pub watcher_type: i32,
    }
}

record! {
    /// `CheckWatchesRequest`.
    pub struct CheckWatchesRequest {
        /// Path.
        pub path: String,
        /// [`WatcherType`](crate::WatcherType) as an int.
        pub watcher_type: i32,
    }
}

record! {
    /// `GetEphemeralsRequest`.
    pub struct GetEphemeralsRequest {
        /// Only ephemerals under this prefix ("/" or empty for all).
        pub prefix_path: String,
    }
}

record! {
    /// `GetEphemeralsResponse`.
    pub struct GetEphemeralsResponse {
        /// Paths of the session's ephemeral nodes.
        pub ephemerals: Vec<String>,
    }
}

record! {
    /// `GetAllChildrenNumberRequest`.
    pub struct GetAllChildrenNumberRequest {
        /// Path.
        pub path: String,
    }
}

record! {
    /// `GetAllChildrenNumberResponse`.
    pub struct GetAllChildrenNumberResponse {
        /// Number of descendants.
        pub total_number: i32,
    }
}

record! {
    /// `ReconfigRequest` (`ZooKeeperAdmin.reconfig`); absent lists are null.
    pub struct ReconfigRequest {
        /// Servers to add.
        pub joining_servers: Option<String>,
        /// Servers to remove.
        pub leaving_servers: Option<String>,
        /// A whole new membership (non-incremental).
        pub new_members: Option<String>,
        /// Expected current config version, -1 for any.
        pub cur_config_id: i64,
    }
}

record! {
    /// `GetSASLRequest` (sasl).
    pub struct GetSaslRequest {
        /// SASL token.
        pub token: Bytes,
    }
}

record! {
    /// `SetSASLResponse` (reply to sasl).
    pub struct SetSaslResponse {
        /// SASL token.
        pub token: Bytes,
    }
}
