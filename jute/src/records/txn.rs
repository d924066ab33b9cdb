//! ZooKeeper on-disk records (txn log and snapshot, `org.apache.zookeeper.txn`
//! and `org.apache.zookeeper.server.persistence`), in wire field order.

use bytes::Bytes;

use super::Acl;

record! {
    /// Header of txn logs (`ZKLG`) and snapshots (`ZKSN`).
    pub struct FileHeader { magic: i32, version: i32, dbid: i64 }

    /// Header of every logged txn.
    pub struct TxnHeader { client_id: i64, cxid: i32, zxid: i64, time: i64, txn_type: i32 }

    /// create (1) / create2 (15) txn; `ephemeral` means owner = `TxnHeader.client_id`.
    pub struct CreateTxn {
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        ephemeral: bool,
        parent_c_version: i32,
    }

    /// createTTL (21) txn.
    pub struct CreateTtlTxn {
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        parent_c_version: i32,
        ttl: i64,
    }

    /// createContainer (19) txn.
    pub struct CreateContainerTxn {
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        parent_c_version: i32,
    }

    /// delete (2) / deleteContainer (20) txn.
    pub struct DeleteTxn { path: String }

    /// setData (5) / reconfig (16) txn.
    pub struct SetDataTxn { path: String, data: Option<Bytes>, version: i32 }

    /// setACL (7) txn.
    pub struct SetAclTxn { path: String, acl: Vec<Acl>, version: i32 }

    /// error (-1) txn.
    pub struct ErrorTxn { err: i32 }

    /// check (13) sub-txn of a multi.
    pub struct CheckVersionTxn { path: String, version: i32 }

    /// createSession (-10) txn.
    pub struct CreateSessionTxn { time_out: i32 }

    /// closeSession (-11) txn.
    pub struct CloseSessionTxn { paths2_delete: Vec<String> }

    /// One sub-txn of a multi txn: its type and its serialized record.
    pub struct TxnEntry { txn_type: i32, data: Bytes }

    /// multi (14) txn.
    pub struct MultiTxn { txns: Vec<TxnEntry> }

    /// Optional trailer after a txn record.
    pub struct TxnDigest { version: i32, tree_digest: i64 }
}
