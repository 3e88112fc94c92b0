//! Wire values checked against ZooKeeper's sources (ZooDefs, KeeperException,
//! Watcher, CreateMode, AddWatchMode, ClientCnxn).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use zk_jute::*;

#[test]
fn opcodes_match_zoodefs() {
    let table = [
        (OpCode::Notification, 0),
        (OpCode::Create, 1),
        (OpCode::Delete, 2),
        (OpCode::Exists, 3),
        (OpCode::GetData, 4),
        (OpCode::SetData, 5),
        (OpCode::GetAcl, 6),
        (OpCode::SetAcl, 7),
        (OpCode::GetChildren, 8),
        (OpCode::Sync, 9),
        (OpCode::Ping, 11),
        (OpCode::GetChildren2, 12),
        (OpCode::Check, 13),
        (OpCode::Multi, 14),
        (OpCode::Create2, 15),
        (OpCode::Reconfig, 16),
        (OpCode::CheckWatches, 17),
        (OpCode::RemoveWatches, 18),
        (OpCode::CreateContainer, 19),
        (OpCode::DeleteContainer, 20),
        (OpCode::CreateTtl, 21),
        (OpCode::MultiRead, 22),
        (OpCode::Auth, 100),
        (OpCode::SetWatches, 101),
        (OpCode::Sasl, 102),
        (OpCode::GetEphemerals, 103),
        (OpCode::GetAllChildrenNumber, 104),
        (OpCode::SetWatches2, 105),
        (OpCode::AddWatch, 106),
        (OpCode::WhoAmI, 107),
        (OpCode::CreateSession, -10),
        (OpCode::CloseSession, -11),
        (OpCode::Error, -1),
    ];
    assert_eq!(table.len(), OpCode::ALL.len());
    for (op, v) in table {
        assert_eq!(op.code(), v);
        assert_eq!(OpCode::try_from(v), Ok(op));
    }
    for v in -200..200 {
        if !table.iter().any(|(_, c)| *c == v) {
            assert_eq!(OpCode::try_from(v), Err(DecodeError::UnknownOpcode(v)));
        }
    }
}

#[test]
fn error_codes_match_keeper_exception() {
    let table = [
        (ErrorCode::Ok, 0),
        (ErrorCode::SystemError, -1),
        (ErrorCode::RuntimeInconsistency, -2),
        (ErrorCode::DataInconsistency, -3),
        (ErrorCode::ConnectionLoss, -4),
        (ErrorCode::MarshallingError, -5),
        (ErrorCode::Unimplemented, -6),
        (ErrorCode::OperationTimeout, -7),
        (ErrorCode::BadArguments, -8),
        (ErrorCode::UnknownSession, -12),
        (ErrorCode::NewConfigNoQuorum, -13),
        (ErrorCode::ReconfigInProgress, -14),
        (ErrorCode::ApiError, -100),
        (ErrorCode::NoNode, -101),
        (ErrorCode::NoAuth, -102),
        (ErrorCode::BadVersion, -103),
        (ErrorCode::NoChildrenForEphemerals, -108),
        (ErrorCode::NodeExists, -110),
        (ErrorCode::NotEmpty, -111),
        (ErrorCode::SessionExpired, -112),
        (ErrorCode::InvalidCallback, -113),
        (ErrorCode::InvalidAcl, -114),
        (ErrorCode::AuthFailed, -115),
        (ErrorCode::SessionMoved, -118),
        (ErrorCode::NotReadOnly, -119),
        (ErrorCode::EphemeralOnLocalSession, -120),
        (ErrorCode::NoWatcher, -121),
        (ErrorCode::RequestTimeout, -122),
        (ErrorCode::ReconfigDisabled, -123),
        (ErrorCode::SessionClosedRequireSaslAuth, -124),
        (ErrorCode::QuotaExceeded, -125),
        (ErrorCode::ThrottledOp, -127),
    ];
    assert_eq!(table.len(), ErrorCode::ALL.len());
    for (c, v) in table {
        assert_eq!(i32::from(c), v);
        assert_eq!(ErrorCode::try_from(v), Ok(c));
    }
    assert!(ErrorCode::try_from(-126).is_err());
}

#[test]
fn watcher_values_match_watcher_java() {
    let events = [
        (EventType::None, -1),
        (EventType::NodeCreated, 1),
        (EventType::NodeDeleted, 2),
        (EventType::NodeDataChanged, 3),
        (EventType::NodeChildrenChanged, 4),
        (EventType::DataWatchRemoved, 5),
        (EventType::ChildWatchRemoved, 6),
        (EventType::PersistentWatchRemoved, 7),
    ];
    for (e, v) in events {
        assert_eq!(EventType::try_from(v), Ok(e));
    }
    let states = [
        (KeeperState::Unknown, -1),
        (KeeperState::Disconnected, 0),
        (KeeperState::NoSyncConnected, 1),
        (KeeperState::SyncConnected, 3),
        (KeeperState::AuthFailed, 4),
        (KeeperState::ConnectedReadOnly, 5),
        (KeeperState::SaslAuthenticated, 6),
        (KeeperState::Expired, -112),
        (KeeperState::Closed, 7),
    ];
    for (s, v) in states {
        assert_eq!(KeeperState::try_from(v), Ok(s));
    }
    assert_eq!(
        KeeperState::try_from(2),
        Err(DecodeError::UnknownValue {
            what: "KeeperState",
            value: 2
        })
    );
    for (t, v) in [
        (WatcherType::Children, 1),
        (WatcherType::Data, 2),
        (WatcherType::Any, 3),
    ] {
        assert_eq!(WatcherType::try_from(v), Ok(t));
    }
}

#[test]
fn create_modes_perms_xids_and_watch_modes() {
    let modes = [
        (CreateMode::Persistent, 0, false, false),
        (CreateMode::Ephemeral, 1, true, false),
        (CreateMode::PersistentSequential, 2, false, true),
        (CreateMode::EphemeralSequential, 3, true, true),
        (CreateMode::Container, 4, false, false),
        (CreateMode::PersistentWithTtl, 5, false, false),
        (CreateMode::PersistentSequentialWithTtl, 6, false, true),
    ];
    for (m, v, eph, seq) in modes {
        assert_eq!(CreateMode::try_from(v), Ok(m));
        assert_eq!(m.is_ephemeral(), eph);
        assert_eq!(m.is_sequential(), seq);
    }
    assert!(CreateMode::Container.is_container());
    assert!(CreateMode::PersistentSequentialWithTtl.is_ttl());
    assert!(CreateMode::try_from(7).is_err());
    assert_eq!(
        (
            perms::READ,
            perms::WRITE,
            perms::CREATE,
            perms::DELETE,
            perms::ADMIN,
            perms::ALL
        ),
        (1, 2, 4, 8, 16, 31)
    );
    assert_eq!(
        (xid::NOTIFICATION, xid::PING, xid::AUTH, xid::SET_WATCHES),
        (-1, -2, -4, -8)
    );
    assert_eq!(AddWatchMode::try_from(0), Ok(AddWatchMode::Persistent));
    assert_eq!(
        AddWatchMode::try_from(1),
        Ok(AddWatchMode::PersistentRecursive)
    );
}
