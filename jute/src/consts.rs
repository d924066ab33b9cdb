//! ZooKeeper protocol constants (ZooDefs, KeeperException.Code, Watcher,
//! CreateMode, ClientCnxn's special xids).

/// Operation codes (`ZooDefs.OpCode`): `RequestHeader.op_type`, `MultiHeader.op_type`
/// and `TxnHeader.txn_type`.
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;

    /// Short operation name as shown in the `cons` four-letter word's `lop=`
    /// field. The strings are the ones ZooKeeper 3.8's FinalRequestProcessor
    /// records (create2/createTTL/createContainer are all `CREA`,
    /// getChildren2 is `GETC`); `AUTH`, `SASL`, `DCON` and `ERR` are best-effort
    /// additions for ops ZooKeeper never records there. `"UNKNOWN"` otherwise.
    pub fn op_name(op: i32) -> &'static str {
        match op {
            CREATE => "CREA",
            DELETE => "DELE",
            EXISTS => "EXIS",
            GET_DATA => "GETD",
            SET_DATA => "SETD",
            GET_ACL => "GETA",
            SET_ACL => "SETA",
            GET_CHILDREN => "GETC",
            SYNC => "SYNC",
            PING => "PING",
            GET_CHILDREN2 => "GETC",
            CHECK => "CHEC",
            MULTI => "MULT",
            CREATE2 => "CREA",
            RECONFIG => "RECO",
            CHECK_WATCHES => "CHKW",
            REMOVE_WATCHES => "REMW",
            CREATE_CONTAINER => "CREA",
            DELETE_CONTAINER => "DCON",
            CREATE_TTL => "CREA",
            MULTI_READ => "MLTR",
            AUTH => "AUTH",
            SET_WATCHES => "SETW",
            SASL => "SASL",
            GET_EPHEMERALS => "GETE",
            GET_ALL_CHILDREN_NUMBER => "GETACN",
            SET_WATCHES2 => "STW2",
            ADD_WATCH => "ADDW",
            WHO_AM_I => "HOMI",
            CREATE_SESSION => "SESS",
            CLOSE_SESSION => "CLOS",
            ERROR => "ERR",
            _ => "UNKNOWN",
        }
    }
}

pub use op::op_name;

/// Error codes (`KeeperException.Code`): `ReplyHeader.err`, multi error results.
pub mod err {
    pub const OK: i32 = 0;
    pub const SYSTEM_ERROR: i32 = -1;
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    pub const DATA_INCONSISTENCY: i32 = -3;
    pub const CONNECTION_LOSS: i32 = -4;
    pub const MARSHALLING_ERROR: i32 = -5;
    pub const UNIMPLEMENTED: i32 = -6;
    pub const OPERATION_TIMEOUT: i32 = -7;
    pub const BAD_ARGUMENTS: i32 = -8;
    pub const UNKNOWN_SESSION: i32 = -12;
    pub const NEW_CONFIG_NO_QUORUM: i32 = -13;
    pub const RECONFIG_IN_PROGRESS: i32 = -14;
    pub const API_ERROR: i32 = -100;
    pub const NO_NODE: i32 = -101;
    pub const NO_AUTH: i32 = -102;
    pub const BAD_VERSION: i32 = -103;
    pub const NO_CHILDREN_FOR_EPHEMERALS: i32 = -108;
    pub const NODE_EXISTS: i32 = -110;
    pub const NOT_EMPTY: i32 = -111;
    pub const SESSION_EXPIRED: i32 = -112;
    pub const INVALID_CALLBACK: i32 = -113;
    pub const INVALID_ACL: i32 = -114;
    pub const AUTH_FAILED: i32 = -115;
    pub const SESSION_MOVED: i32 = -118;
    pub const NOT_READ_ONLY: i32 = -119;
    pub const EPHEMERAL_ON_LOCAL_SESSION: i32 = -120;
    pub const NO_WATCHER: i32 = -121;
    pub const REQUEST_TIMEOUT: i32 = -122;
    pub const RECONFIG_DISABLED: i32 = -123;
    pub const SESSION_CLOSED_REQUIRE_SASL_AUTH: i32 = -124;
    pub const QUOTA_EXCEEDED: i32 = -125;
    pub const THROTTLED_OP: i32 = -127;
}

/// ACL permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// `CreateRequest.flags` values (`CreateMode`).
pub mod create_flags {
    pub const PERSISTENT: i32 = 0;
    pub const EPHEMERAL: i32 = 1;
    pub const PERSISTENT_SEQUENTIAL: i32 = 2;
    pub const EPHEMERAL_SEQUENTIAL: i32 = 3;
    pub const CONTAINER: i32 = 4;
    pub const PERSISTENT_WITH_TTL: i32 = 5;
    pub const PERSISTENT_SEQUENTIAL_WITH_TTL: i32 = 6;
}

/// `WatcherEvent.event_type` values (`Watcher.Event.EventType`).
pub mod event {
    pub const NONE: i32 = -1;
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
    pub const DATA_WATCH_REMOVED: i32 = 5;
    pub const CHILD_WATCH_REMOVED: i32 = 6;
    pub const PERSISTENT_WATCH_REMOVED: i32 = 7;
}

/// `WatcherEvent.state` values (`Watcher.Event.KeeperState`).
pub mod keeper_state {
    pub const UNKNOWN: i32 = -1;
    pub const DISCONNECTED: i32 = 0;
    pub const NO_SYNC_CONNECTED: i32 = 1;
    pub const SYNC_CONNECTED: i32 = 3;
    pub const AUTH_FAILED: i32 = 4;
    pub const CONNECTED_READ_ONLY: i32 = 5;
    pub const SASL_AUTHENTICATED: i32 = 6;
    pub const CLOSED: i32 = 7;
    pub const EXPIRED: i32 = -112;
}

/// `CheckWatchesRequest` / `RemoveWatchesRequest` `watch_type` (`Watcher.WatcherType`).
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
    pub const PERSISTENT: i32 = 4;
    pub const PERSISTENT_RECURSIVE: i32 = 5;
}

/// `AddWatchRequest.mode` values (`AddWatchMode`).
pub mod add_watch_mode {
    pub const PERSISTENT: i32 = 0;
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

/// Special xids (`ClientCnxn`).
pub mod xid {
    /// Watch notification (server -> client).
    pub const NOTIFICATION: i32 = -1;
    /// Ping request and its reply.
    pub const PING: i32 = -2;
    /// Auth packet and its reply.
    pub const AUTH: i32 = -4;
    /// SetWatches / SetWatches2 sent on reconnect.
    pub const SET_WATCHES: i32 = -8;
}
