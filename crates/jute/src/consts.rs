//! Protocol constants of ZooKeeper 3.8: opcodes (`ZooDefs.OpCode`), error codes
//! (`KeeperException.Code`), watcher event types and keeper states
//! (`Watcher.Event`), watcher types, create modes (`CreateMode`), permission
//! bits (`ZooDefs.Perms`), add-watch modes (`ZooDefs.AddWatchModes`) and the
//! special xids of `ClientCnxn`.

use crate::error::DecodeError;

/// Declares a fieldless `i32` enum with `TryFrom<i32>`, `From<Self> for i32`
/// and `ALL`.
macro_rules! int_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($err:expr) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value ),*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[ $( Self::$variant ),* ];

            /// The wire value.
            pub const fn code(self) -> i32 {
                self as i32
            }
        }

        impl From<$name> for i32 {
            fn from(v: $name) -> Self {
                v as Self
            }
        }

        impl TryFrom<i32> for $name {
            type Error = DecodeError;

            fn try_from(v: i32) -> Result<Self, DecodeError> {
                match v {
                    $( $value => Ok(Self::$variant), )*
                    other => Err(($err)(other)),
                }
            }
        }
    };
}

int_enum! {
    /// `ZooDefs.OpCode`: the `type` of a `RequestHeader` and a `MultiHeader`.
    pub enum OpCode (DecodeError::UnknownOpcode) {
        /// A watch notification (never a request).
        Notification = 0,
        /// `create` (`CreateRequest` / `CreateResponse`).
        Create = 1,
        /// `delete` (`DeleteRequest` / no body).
        Delete = 2,
        /// `exists` (`ExistsRequest` / `ExistsResponse`).
        Exists = 3,
        /// `getData` (`GetDataRequest` / `GetDataResponse`).
        GetData = 4,
        /// `setData` (`SetDataRequest` / `SetDataResponse`).
        SetData = 5,
        /// `getACL` (`GetACLRequest` / `GetACLResponse`).
        GetAcl = 6,
        /// `setACL` (`SetACLRequest` / `SetACLResponse`).
        SetAcl = 7,
        /// `getChildren` (`GetChildrenRequest` / `GetChildrenResponse`).
        GetChildren = 8,
        /// `sync` (`SyncRequest` / `SyncResponse`).
        Sync = 9,
        /// `ping` (header only, xid -2).
        Ping = 11,
        /// `getChildren2` (`GetChildren2Request` / `GetChildren2Response`).
        GetChildren2 = 12,
        /// `check` (`CheckVersionRequest` / no body).
        Check = 13,
        /// `multi` (a `MultiHeader`-delimited sequence of write ops).
        Multi = 14,
        /// `create2` (`CreateRequest` / `Create2Response`).
        Create2 = 15,
        /// `reconfig` (`ReconfigRequest` / `GetDataResponse`).
        Reconfig = 16,
        /// `checkWatches` (`CheckWatchesRequest` / no body).
        CheckWatches = 17,
        /// `removeWatches` (`RemoveWatchesRequest` / no body).
        RemoveWatches = 18,
        /// `createContainer` (`CreateRequest` / `Create2Response`).
        CreateContainer = 19,
        /// `deleteContainer` (server-internal).
        DeleteContainer = 20,
        /// `createTTL` (`CreateTTLRequest` / `Create2Response`).
        CreateTtl = 21,
        /// `multiRead` (a `MultiHeader`-delimited sequence of read ops).
        MultiRead = 22,
        /// `auth` (`AuthPacket`, xid -4 / no body).
        Auth = 100,
        /// `setWatches` (`SetWatches`, xid -8 / no body).
        SetWatches = 101,
        /// `sasl` (`GetSASLRequest` / `SetSASLResponse`).
        Sasl = 102,
        /// `getEphemerals` (`GetEphemeralsRequest` / `GetEphemeralsResponse`).
        GetEphemerals = 103,
        /// `getAllChildrenNumber` (`GetAllChildrenNumberRequest` / `...Response`).
        GetAllChildrenNumber = 104,
        /// `setWatches2` (`SetWatches2`, xid -8 / no body).
        SetWatches2 = 105,
        /// `addWatch` (`AddWatchRequest` / `ErrorResponse`).
        AddWatch = 106,
        /// `whoAmI` (no body / `WhoAmIResponse`).
        WhoAmI = 107,
        /// `createSession` (server-internal; clients send a `ConnectRequest`).
        CreateSession = -10,
        /// `closeSession` (header only).
        CloseSession = -11,
        /// `error`: the `MultiHeader` type of a failed op's result.
        Error = -1,
    }
}

impl OpCode {
    /// True for the ops `multiRead` may carry (`getChildren`, `getData`).
    pub fn is_multi_read_op(self) -> bool {
        matches!(self, Self::GetChildren | Self::GetData)
    }

    /// True for the ops `multi` may carry.
    pub fn is_multi_write_op(self) -> bool {
        matches!(
            self,
            Self::Create
                | Self::Create2
                | Self::CreateTtl
                | Self::CreateContainer
                | Self::Delete
                | Self::SetData
                | Self::Check
        )
    }
}

int_enum! {
    /// `KeeperException.Code`: the `err` of a `ReplyHeader`, `MultiHeader` and
    /// `ErrorResponse`.
    pub enum ErrorCode (|value| DecodeError::UnknownValue { what: "ErrorCode", value }) {
        /// Everything is OK.
        Ok = 0,
        /// Marks the range of system errors; never sent.
        SystemError = -1,
        /// A runtime inconsistency was found.
        RuntimeInconsistency = -2,
        /// A data inconsistency was found.
        DataInconsistency = -3,
        /// Connection to the server has been lost.
        ConnectionLoss = -4,
        /// Error while marshalling or unmarshalling data.
        MarshallingError = -5,
        /// Operation is unimplemented.
        Unimplemented = -6,
        /// Operation timeout.
        OperationTimeout = -7,
        /// Invalid arguments.
        BadArguments = -8,
        /// Unknown session (internal server use only).
        UnknownSession = -12,
        /// No quorum of the new config is connected and up to date.
        NewConfigNoQuorum = -13,
        /// Another reconfiguration is in progress.
        ReconfigInProgress = -14,
        /// Marks the range of API errors; never sent.
        ApiError = -100,
        /// Node does not exist.
        NoNode = -101,
        /// Not authenticated.
        NoAuth = -102,
        /// Version conflict.
        BadVersion = -103,
        /// Ephemeral nodes may not have children.
        NoChildrenForEphemerals = -108,
        /// The node already exists.
        NodeExists = -110,
        /// The node has children.
        NotEmpty = -111,
        /// The session has been expired by the server.
        SessionExpired = -112,
        /// Invalid callback specified.
        InvalidCallback = -113,
        /// Invalid ACL specified.
        InvalidAcl = -114,
        /// Client authentication failed.
        AuthFailed = -115,
        /// Session moved to another server, so the operation is ignored.
        SessionMoved = -118,
        /// A state-changing request was passed to a read-only server.
        NotReadOnly = -119,
        /// Attempt to create an ephemeral node on a local session.
        EphemeralOnLocalSession = -120,
        /// Attempt to remove a non-existing watcher.
        NoWatcher = -121,
        /// Request not completed within the maximum allowed time.
        RequestTimeout = -122,
        /// Reconfiguration is disabled.
        ReconfigDisabled = -123,
        /// Session closed because the client failed to authenticate as required.
        SessionClosedRequireSaslAuth = -124,
        /// Exceeded the quota that was set on the path.
        QuotaExceeded = -125,
        /// Operation was throttled and not executed at all.
        ThrottledOp = -127,
    }
}

int_enum! {
    /// `Watcher.Event.EventType`: the `type` of a `WatcherEvent`.
    pub enum EventType (|value| DecodeError::UnknownValue { what: "EventType", value }) {
        /// A state change, not about a node.
        None = -1,
        /// The watched node was created.
        NodeCreated = 1,
        /// The watched node was deleted.
        NodeDeleted = 2,
        /// The watched node's data changed.
        NodeDataChanged = 3,
        /// The watched node's children changed.
        NodeChildrenChanged = 4,
        /// A data watch was removed.
        DataWatchRemoved = 5,
        /// A child watch was removed.
        ChildWatchRemoved = 6,
        /// A persistent watch was removed.
        PersistentWatchRemoved = 7,
    }
}

int_enum! {
    /// `Watcher.Event.KeeperState`: the `state` of a `WatcherEvent`.
    pub enum KeeperState (|value| DecodeError::UnknownValue { what: "KeeperState", value }) {
        /// Unused; never generated by the server.
        Unknown = -1,
        /// Not connected to any server.
        Disconnected = 0,
        /// Unused; never generated by the server.
        NoSyncConnected = 1,
        /// Connected (the state of every node event).
        SyncConnected = 3,
        /// Authentication failed.
        AuthFailed = 4,
        /// Connected to a read-only server.
        ConnectedReadOnly = 5,
        /// SASL-authenticated.
        SaslAuthenticated = 6,
        /// The session has expired.
        Expired = -112,
        /// The client was closed (client-local).
        Closed = 7,
    }
}

int_enum! {
    /// `Watcher.WatcherType`: the `type` of `RemoveWatchesRequest` and
    /// `CheckWatchesRequest`.
    pub enum WatcherType (|value| DecodeError::UnknownValue { what: "WatcherType", value }) {
        /// Child watches.
        Children = 1,
        /// Data (and exist) watches.
        Data = 2,
        /// Either.
        Any = 3,
    }
}

int_enum! {
    /// `CreateMode`: the `flags` of `CreateRequest` / `CreateTTLRequest`.
    pub enum CreateMode (|value| DecodeError::UnknownValue { what: "CreateMode", value }) {
        /// Persistent.
        Persistent = 0,
        /// Ephemeral: deleted when the session ends.
        Ephemeral = 1,
        /// Persistent with a sequence suffix.
        PersistentSequential = 2,
        /// Ephemeral with a sequence suffix.
        EphemeralSequential = 3,
        /// Container: deleted once its last child is gone.
        Container = 4,
        /// Persistent, deleted when unmodified for the TTL and childless.
        PersistentWithTtl = 5,
        /// `PersistentWithTtl` with a sequence suffix.
        PersistentSequentialWithTtl = 6,
    }
}

impl CreateMode {
    /// Deleted when the owning session ends.
    pub fn is_ephemeral(self) -> bool {
        matches!(self, Self::Ephemeral | Self::EphemeralSequential)
    }

    /// The name gets a monotonically increasing 10-digit suffix.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            Self::PersistentSequential
                | Self::EphemeralSequential
                | Self::PersistentSequentialWithTtl
        )
    }

    /// A container node.
    pub fn is_container(self) -> bool {
        self == Self::Container
    }

    /// A node with a time to live.
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            Self::PersistentWithTtl | Self::PersistentSequentialWithTtl
        )
    }
}

int_enum! {
    /// `ZooDefs.AddWatchModes`: the `mode` of `AddWatchRequest`.
    pub enum AddWatchMode (|value| DecodeError::UnknownValue { what: "AddWatchMode", value }) {
        /// Persistent on the path.
        Persistent = 0,
        /// Persistent on the path and every descendant.
        PersistentRecursive = 1,
    }
}

/// `ZooDefs.Perms`: ACL permission bits.
pub mod perms {
    /// Read data and list children.
    pub const READ: i32 = 1;
    /// Set data.
    pub const WRITE: i32 = 1 << 1;
    /// Create children.
    pub const CREATE: i32 = 1 << 2;
    /// Delete children.
    pub const DELETE: i32 = 1 << 3;
    /// Set ACLs.
    pub const ADMIN: i32 = 1 << 4;
    /// All of the above (31).
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// The special xids of `ClientCnxn`.
pub mod xid {
    /// A watch notification (`ReplyHeader` xid of a `WatcherEvent`).
    pub const NOTIFICATION: i32 = -1;
    /// A ping and its reply.
    pub const PING: i32 = -2;
    /// An `AuthPacket` and its reply.
    pub const AUTH: i32 = -4;
    /// A `SetWatches` / `SetWatches2` and its reply.
    pub const SET_WATCHES: i32 = -8;
}
