//! Client protocol records (zookeeper.jute `org.apache.zookeeper.data` and
//! `org.apache.zookeeper.proto`), in wire field order.

use bytes::Bytes;

record! {
    /// Sent before every client request after the handshake.
    pub struct RequestHeader { xid: i32, op_type: i32 }

    /// Sent before every server reply after the handshake.
    pub struct ReplyHeader { xid: i32, zxid: i64, err: i32 }

    /// An authenticated identity, e.g. `world:anyone`, `digest:user:hash`.
    pub struct Id { scheme: String, id: String }

    /// One ACL entry: permission bits (see `perms`) granted to `id`.
    pub struct Acl { perms: i32, id: Id }

    /// The znode stat sent to clients.
    pub struct Stat {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        data_length: i32,
        num_children: i32,
        pzxid: i64,
    }

    /// The znode stat as stored in snapshots.
    pub struct StatPersisted {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        pzxid: i64,
    }

    /// create (1), create2 (15), createContainer (19).
    pub struct CreateRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32 }

    /// createTTL (21).
    pub struct CreateTtlRequest {
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        flags: i32,
        ttl: i64,
    }

    /// Reply to create (1).
    pub struct CreateResponse { path: String }

    /// Reply to create2, createContainer, createTTL.
    pub struct Create2Response { path: String, stat: Stat }

    /// delete (2).
    pub struct DeleteRequest { path: String, version: i32 }

    /// exists (3).
    pub struct ExistsRequest { path: String, watch: bool }
    pub struct ExistsResponse { stat: Stat }

    /// getData (4).
    pub struct GetDataRequest { path: String, watch: bool }
    pub struct GetDataResponse { data: Option<Bytes>, stat: Stat }

    /// setData (5).
    pub struct SetDataRequest { path: String, data: Option<Bytes>, version: i32 }
    pub struct SetDataResponse { stat: Stat }

    /// getACL (6).
    pub struct GetAclRequest { path: String }
    pub struct GetAclResponse { acl: Vec<Acl>, stat: Stat }

    /// setACL (7); `version` is matched against `aversion`.
    pub struct SetAclRequest { path: String, acl: Vec<Acl>, version: i32 }
    pub struct SetAclResponse { stat: Stat }

    /// getChildren (8).
    pub struct GetChildrenRequest { path: String, watch: bool }
    pub struct GetChildrenResponse { children: Vec<String> }

    /// getChildren2 (12).
    pub struct GetChildren2Request { path: String, watch: bool }
    pub struct GetChildren2Response { children: Vec<String>, stat: Stat }

    /// sync (9).
    pub struct SyncRequest { path: String }
    pub struct SyncResponse { path: String }

    /// check (13), only inside multi.
    pub struct CheckVersionRequest { path: String, version: i32 }

    /// Framing header of each multi op / result.
    pub struct MultiHeader { op_type: i32, done: bool, err: i32 }

    /// Body of a multi error result; also the addWatch reply body.
    pub struct ErrorResponse { err: i32 }

    /// auth (100), xid -4.
    pub struct AuthPacket { auth_type: i32, scheme: String, auth: Bytes }

    /// setWatches (101), xid -8.
    pub struct SetWatches {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
    }

    /// setWatches2 (105), xid -8.
    pub struct SetWatches2 {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
        persistent_watches: Vec<String>,
        persistent_recursive_watches: Vec<String>,
    }

    /// addWatch (106); `mode` see `add_watch_mode`.
    pub struct AddWatchRequest { path: String, mode: i32 }

    /// checkWatches (17); `watch_type` see `watcher_type`.
    pub struct CheckWatchesRequest { path: String, watch_type: i32 }

    /// removeWatches (18); `watch_type` see `watcher_type`.
    pub struct RemoveWatchesRequest { path: String, watch_type: i32 }

    /// getEphemerals (103); null/empty/"/" prefix = all.
    pub struct GetEphemeralsRequest { prefix_path: Option<String> }
    pub struct GetEphemeralsResponse { ephemerals: Vec<String> }

    /// getAllChildrenNumber (104).
    pub struct GetAllChildrenNumberRequest { path: String }
    pub struct GetAllChildrenNumberResponse { total_number: i32 }

    /// One entry of a whoAmI (107) reply.
    pub struct ClientInfo { auth_scheme: String, user: String }
    pub struct WhoAmIResponse { client_info: Vec<ClientInfo> }

    /// Watch notification body (xid -1).
    pub struct WatcherEvent { event_type: i32, state: i32, path: String }

    /// reconfig (16).
    pub struct ReconfigRequest {
        joining_servers: Option<String>,
        leaving_servers: Option<String>,
        new_members: Option<String>,
        cur_config_id: i64,
    }

    /// sasl (102) request: the client's next token (empty to start DIGEST-MD5).
    pub struct GetSaslRequest { token: Option<Bytes> }

    /// sasl (102) reply: the server's next token; none (-1) after a failure.
    pub struct SetSaslResponse { token: Option<Bytes> }
}
