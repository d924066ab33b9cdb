//! Shared test fixtures: one populated sample (and the all-default value) of
//! every record, behind an object-safe trait so tests can loop over them.
#![allow(dead_code)]

use std::fmt::Debug;

use bytes::Bytes;
use jute::*;

/// Object-safe view of a sample record.
pub trait Sample {
    fn name(&self) -> &'static str;
    /// The sample's encoding.
    fn bytes(&self) -> Vec<u8>;
    /// Decode `buf` as this sample's type (result discarded).
    fn decode_as(&self, buf: &[u8]) -> Result<(), DecodeError>;
    /// Decode `buf` as this sample's type, re-encode it and decode again:
    /// whatever decodes must re-encode to something that decodes to the same value.
    fn decode_reencode(&self, buf: &[u8]);
    /// Full round-trip assertions.
    fn check_roundtrip(&self);
    /// True if a strict prefix of the encoding may still decode (optional trailing byte).
    fn optional_tail(&self) -> bool;
}

pub struct S<T> {
    pub name: &'static str,
    pub value: T,
    pub optional_tail: bool,
}

impl<T: Record + Field + PartialEq + Debug> Sample for S<T> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn bytes(&self) -> Vec<u8> {
        self.value.encode().to_vec()
    }

    fn decode_as(&self, buf: &[u8]) -> Result<(), DecodeError> {
        T::decode(buf).map(|_| ())
    }

    fn decode_reencode(&self, buf: &[u8]) {
        if let Ok(v) = T::decode(buf) {
            let again = T::decode(&v.encode()).expect("re-encoded value must decode");
            assert_eq!(again, v, "{}: decode/encode not stable", self.name);
        }
    }

    fn check_roundtrip(&self) {
        let enc = self.value.encode();
        let (rest, back) = T::read(&enc).expect(self.name);
        assert!(
            rest.is_empty(),
            "{}: read left {} bytes",
            self.name,
            rest.len()
        );
        assert_eq!(back, self.value, "{}: round trip", self.name);
        assert_eq!(back.encode(), enc, "{}: re-encode", self.name);
        assert_eq!(T::decode(&enc).expect(self.name), self.value);

        // The Field impl (used when the record is nested) agrees with Record.
        let mut via_field = bytes::BytesMut::new();
        self.value.write_field(&mut via_field);
        assert_eq!(via_field, enc, "{}: Field::write_field", self.name);
        let (rest, back) = T::read_field(&enc).expect(self.name);
        assert!(rest.is_empty());
        assert_eq!(back, self.value);
        assert!(
            enc.len() >= T::MIN_SIZE,
            "{}: MIN_SIZE too large",
            self.name
        );

        // decode ignores trailing bytes; read reports them.
        if !self.optional_tail {
            let mut longer = enc.to_vec();
            longer.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
            assert_eq!(T::decode(&longer).expect(self.name), self.value);
            let (rest, _) = T::read(&longer).expect(self.name);
            assert_eq!(rest, &[0xde, 0xad, 0xbe, 0xef]);
        }
    }

    fn optional_tail(&self) -> bool {
        self.optional_tail
    }
}

pub fn s<T: Record + Field + PartialEq + Debug + 'static>(
    name: &'static str,
    value: T,
) -> Box<dyn Sample> {
    Box::new(S {
        name,
        value,
        // ConnectRequest/ConnectResponse end with an optional byte.
        optional_tail: name.starts_with("Connect"),
    })
}

pub fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0002,
        mzxid: 0x1_0000_0005,
        ctime: 1_795_321_671_804,
        mtime: 1_795_321_679_999,
        version: 3,
        cversion: -2,
        aversion: 1,
        ephemeral_owner: 0x0100_0078_e6d0_0001,
        data_length: 5,
        num_children: 2,
        pzxid: i64::MIN,
    }
}

pub fn acls() -> Vec<Acl> {
    vec![
        Acl {
            perms: perms::ALL,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        },
        Acl {
            perms: perms::READ | perms::ADMIN,
            id: Id {
                scheme: "digest".into(),
                id: "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=".into(),
            },
        },
    ]
}

pub fn create_request() -> CreateRequest {
    CreateRequest {
        path: "/a/b-".into(),
        data: Some(Bytes::from_static(b"hello\x00\xff")),
        acl: acls(),
        flags: create_flags::EPHEMERAL_SEQUENTIAL,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Every MultiOp variant (create with each of its three op codes).
pub fn multi_request() -> MultiRequest {
    MultiRequest {
        ops: vec![
            MultiOp::Create {
                op: op::CREATE,
                req: create_request(),
            },
            MultiOp::Create {
                op: op::CREATE2,
                req: CreateRequest {
                    data: None,
                    ..create_request()
                },
            },
            MultiOp::Create {
                op: op::CREATE_CONTAINER,
                req: CreateRequest {
                    flags: create_flags::CONTAINER,
                    ..create_request()
                },
            },
            MultiOp::CreateTtl(CreateTtlRequest {
                path: "/ttl".into(),
                data: Some(Bytes::from_static(b"t")),
                acl: acls(),
                flags: create_flags::PERSISTENT_WITH_TTL,
                ttl: 60_000,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/d".into(),
                version: -1,
            }),
            MultiOp::SetData(SetDataRequest {
                path: "/s".into(),
                data: Some(Bytes::new()),
                version: 7,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/c".into(),
                version: 0,
            }),
            MultiOp::GetChildren(GetChildrenRequest {
                path: "/gc".into(),
                watch: false,
            }),
            MultiOp::GetData(GetDataRequest {
                path: "/gd".into(),
                watch: true,
            }),
        ],
    }
}

/// Every MultiResult variant.
pub fn multi_response() -> MultiResponse {
    MultiResponse {
        results: vec![
            MultiResult::Create(CreateResponse {
                path: "/a/b-0000000001".into(),
            }),
            MultiResult::Create2(Create2Response {
                path: "/x".into(),
                stat: stat(),
            }),
            MultiResult::Delete,
            MultiResult::SetData(SetDataResponse { stat: stat() }),
            MultiResult::Check,
            MultiResult::GetChildren(GetChildrenResponse {
                children: strings(&["a", "b", "ü"]),
            }),
            MultiResult::GetData(GetDataResponse {
                data: None,
                stat: stat(),
            }),
            MultiResult::Error(err::NO_NODE),
            MultiResult::Error(err::OK),
            MultiResult::Error(err::RUNTIME_INCONSISTENCY),
        ],
    }
}

/// Calls `$m!(Type)` for every record type.
#[macro_export]
macro_rules! for_each_record_type {
    ($m:ident) => {
        $m! {
            ConnectRequest, ConnectResponse, RequestHeader, ReplyHeader, Id, Acl, Stat,
            StatPersisted, CreateRequest, CreateTtlRequest, CreateResponse, Create2Response,
            DeleteRequest, ExistsRequest, ExistsResponse, GetDataRequest, GetDataResponse,
            SetDataRequest, SetDataResponse, GetAclRequest, GetAclResponse, SetAclRequest,
            SetAclResponse, GetChildrenRequest, GetChildrenResponse, GetChildren2Request,
            GetChildren2Response, SyncRequest, SyncResponse, CheckVersionRequest, MultiHeader,
            ErrorResponse, AuthPacket, SetWatches, SetWatches2, AddWatchRequest,
            CheckWatchesRequest, RemoveWatchesRequest, GetEphemeralsRequest,
            GetEphemeralsResponse, GetAllChildrenNumberRequest, GetAllChildrenNumberResponse,
            ClientInfo, WhoAmIResponse, WatcherEvent, ReconfigRequest, GetSaslRequest,
            SetSaslResponse, MultiRequest, MultiResponse, FileHeader, TxnHeader, CreateTxn,
            CreateTtlTxn, CreateContainerTxn, DeleteTxn, SetDataTxn, SetAclTxn, ErrorTxn,
            CheckVersionTxn, CreateSessionTxn, CloseSessionTxn, TxnEntry, MultiTxn, TxnDigest
        }
    };
}

/// The default value of every record type.
pub fn defaults() -> Vec<Box<dyn Sample>> {
    macro_rules! defaults {
        ($($t:ident),*) => {
            vec![$(s(concat!(stringify!($t), "::default()"), $t::default())),*]
        };
    }
    for_each_record_type!(defaults)
}

/// A populated sample of every record type (several for the hand-written ones).
pub fn populated() -> Vec<Box<dyn Sample>> {
    let passwd = Bytes::from_static(&[7u8; 16]);
    let connect_req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0x2_0000_0010,
        time_out: 30_000,
        session_id: 0x0100_0078_e6d0_0001,
        passwd: passwd.clone(),
        read_only: Some(true),
    };
    let connect_resp = ConnectResponse {
        protocol_version: 0,
        time_out: 20_000,
        session_id: 0x0100_0078_e6d0_0001,
        passwd,
        read_only: Some(false),
    };
    vec![
        Box::new(S {
            name: "ConnectRequest(read_only)",
            value: connect_req.clone(),
            optional_tail: true,
        }),
        Box::new(S {
            name: "ConnectRequest(no read_only)",
            value: ConnectRequest {
                read_only: None,
                ..connect_req
            },
            optional_tail: true,
        }),
        Box::new(S {
            name: "ConnectResponse(read_only)",
            value: connect_resp.clone(),
            optional_tail: true,
        }),
        Box::new(S {
            name: "ConnectResponse(no read_only)",
            value: ConnectResponse {
                read_only: None,
                ..connect_resp
            },
            optional_tail: true,
        }),
        s(
            "RequestHeader",
            RequestHeader {
                xid: 7,
                op_type: op::GET_DATA,
            },
        ),
        s(
            "ReplyHeader",
            ReplyHeader {
                xid: -1,
                zxid: 0x5_0000_0001,
                err: err::NO_NODE,
            },
        ),
        s(
            "Id",
            Id {
                scheme: "ip".into(),
                id: "127.0.0.1".into(),
            },
        ),
        s("Acl", acls().remove(1)),
        s("Stat", stat()),
        s(
            "StatPersisted",
            StatPersisted {
                czxid: 1,
                mzxid: 2,
                ctime: 3,
                mtime: 4,
                version: 5,
                cversion: 6,
                aversion: 7,
                ephemeral_owner: i64::MIN,
                pzxid: 9,
            },
        ),
        s("CreateRequest", create_request()),
        s(
            "CreateRequest(null data, no acl)",
            CreateRequest {
                data: None,
                acl: vec![],
                ..create_request()
            },
        ),
        s(
            "CreateTtlRequest",
            CreateTtlRequest {
                path: "/t".into(),
                data: Some(Bytes::from_static(b"x")),
                acl: acls(),
                flags: create_flags::PERSISTENT_SEQUENTIAL_WITH_TTL,
                ttl: 0xFF_FFFF_FFFF,
            },
        ),
        s(
            "CreateResponse",
            CreateResponse {
                path: "/a/b-0000000000".into(),
            },
        ),
        s(
            "Create2Response",
            Create2Response {
                path: "/x".into(),
                stat: stat(),
            },
        ),
        s(
            "DeleteRequest",
            DeleteRequest {
                path: "/x".into(),
                version: 3,
            },
        ),
        s(
            "ExistsRequest",
            ExistsRequest {
                path: "/x".into(),
                watch: true,
            },
        ),
        s("ExistsResponse", ExistsResponse { stat: stat() }),
        s(
            "GetDataRequest",
            GetDataRequest {
                path: "/x".into(),
                watch: true,
            },
        ),
        s(
            "GetDataResponse",
            GetDataResponse {
                data: Some(Bytes::from_static(b"payload")),
                stat: stat(),
            },
        ),
        s(
            "SetDataRequest",
            SetDataRequest {
                path: "/x".into(),
                data: Some(Bytes::from_static(b"v")),
                version: -1,
            },
        ),
        s("SetDataResponse", SetDataResponse { stat: stat() }),
        s("GetAclRequest", GetAclRequest { path: "/x".into() }),
        s(
            "GetAclResponse",
            GetAclResponse {
                acl: acls(),
                stat: stat(),
            },
        ),
        s(
            "SetAclRequest",
            SetAclRequest {
                path: "/x".into(),
                acl: acls(),
                version: 2,
            },
        ),
        s("SetAclResponse", SetAclResponse { stat: stat() }),
        s(
            "GetChildrenRequest",
            GetChildrenRequest {
                path: "/".into(),
                watch: false,
            },
        ),
        s(
            "GetChildrenResponse",
            GetChildrenResponse {
                children: strings(&["zookeeper", "a", ""]),
            },
        ),
        s(
            "GetChildren2Request",
            GetChildren2Request {
                path: "/".into(),
                watch: true,
            },
        ),
        s(
            "GetChildren2Response",
            GetChildren2Response {
                children: strings(&["zookeeper"]),
                stat: stat(),
            },
        ),
        s("SyncRequest", SyncRequest { path: "/s".into() }),
        s("SyncResponse", SyncResponse { path: "/s".into() }),
        s(
            "CheckVersionRequest",
            CheckVersionRequest {
                path: "/c".into(),
                version: 9,
            },
        ),
        s(
            "MultiHeader",
            MultiHeader {
                op_type: -1,
                done: true,
                err: -1,
            },
        ),
        s(
            "ErrorResponse",
            ErrorResponse {
                err: err::BAD_VERSION,
            },
        ),
        s(
            "AuthPacket",
            AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: Bytes::from_static(b"alice:secret"),
            },
        ),
        s(
            "SetWatches",
            SetWatches {
                relative_zxid: 42,
                data_watches: strings(&["/d1", "/d2"]),
                exist_watches: strings(&["/e"]),
                child_watches: vec![],
            },
        ),
        s(
            "SetWatches2",
            SetWatches2 {
                relative_zxid: 43,
                data_watches: strings(&["/d"]),
                exist_watches: strings(&["/e"]),
                child_watches: strings(&["/c"]),
                persistent_watches: strings(&["/p"]),
                persistent_recursive_watches: strings(&["/r", "/"]),
            },
        ),
        s(
            "AddWatchRequest",
            AddWatchRequest {
                path: "/w".into(),
                mode: add_watch_mode::PERSISTENT_RECURSIVE,
            },
        ),
        s(
            "CheckWatchesRequest",
            CheckWatchesRequest {
                path: "/w".into(),
                watch_type: watcher_type::DATA,
            },
        ),
        s(
            "RemoveWatchesRequest",
            RemoveWatchesRequest {
                path: "/w".into(),
                watch_type: watcher_type::ANY,
            },
        ),
        s(
            "GetEphemeralsRequest",
            GetEphemeralsRequest {
                prefix_path: Some("/e".into()),
            },
        ),
        s(
            "GetEphemeralsRequest(null)",
            GetEphemeralsRequest { prefix_path: None },
        ),
        s(
            "GetEphemeralsResponse",
            GetEphemeralsResponse {
                ephemerals: strings(&["/e/1", "/e/2"]),
            },
        ),
        s(
            "GetAllChildrenNumberRequest",
            GetAllChildrenNumberRequest { path: "/".into() },
        ),
        s(
            "GetAllChildrenNumberResponse",
            GetAllChildrenNumberResponse { total_number: 4 },
        ),
        s(
            "ClientInfo",
            ClientInfo {
                auth_scheme: "ip".into(),
                user: "127.0.0.1".into(),
            },
        ),
        s(
            "WhoAmIResponse",
            WhoAmIResponse {
                client_info: vec![
                    ClientInfo {
                        auth_scheme: "digest".into(),
                        user: "alice".into(),
                    },
                    ClientInfo {
                        auth_scheme: "ip".into(),
                        user: "127.0.0.1".into(),
                    },
                ],
            },
        ),
        s(
            "WatcherEvent",
            WatcherEvent {
                event_type: event::NODE_DATA_CHANGED,
                state: keeper_state::SYNC_CONNECTED,
                path: "/w".into(),
            },
        ),
        s(
            "ReconfigRequest",
            ReconfigRequest {
                joining_servers: Some("server.4=127.0.0.1:2888:3888;2181".into()),
                leaving_servers: None,
                new_members: Some(String::new()),
                cur_config_id: -1,
            },
        ),
        s(
            "GetSaslRequest",
            GetSaslRequest {
                token: Some(Bytes::from_static(b"\x01\x02")),
            },
        ),
        s(
            "SetSaslResponse",
            SetSaslResponse {
                token: Some(Bytes::from_static(b"\x03")),
            },
        ),
        s("MultiRequest", multi_request()),
        s("MultiRequest(empty)", MultiRequest { ops: vec![] }),
        s("MultiResponse", multi_response()),
        s("MultiResponse(empty)", MultiResponse { results: vec![] }),
        s(
            "FileHeader",
            FileHeader {
                magic: 0x5A4B_4C47,
                version: 2,
                dbid: 0,
            },
        ),
        s(
            "TxnHeader",
            TxnHeader {
                client_id: 0x0100_0078_e6d0_0001,
                cxid: 3,
                zxid: 0x1_0000_0004,
                time: 1_795_321_671_804,
                txn_type: op::CREATE,
            },
        ),
        s(
            "CreateTxn",
            CreateTxn {
                path: "/e".into(),
                data: Some(Bytes::from_static(b"e1")),
                acl: acls(),
                ephemeral: true,
                parent_c_version: 3,
            },
        ),
        s(
            "CreateTtlTxn",
            CreateTtlTxn {
                path: "/t".into(),
                data: None,
                acl: acls(),
                parent_c_version: 1,
                ttl: 5000,
            },
        ),
        s(
            "CreateContainerTxn",
            CreateContainerTxn {
                path: "/c".into(),
                data: Some(Bytes::new()),
                acl: acls(),
                parent_c_version: 2,
            },
        ),
        s("DeleteTxn", DeleteTxn { path: "/d".into() }),
        s(
            "SetDataTxn",
            SetDataTxn {
                path: "/s".into(),
                data: Some(Bytes::from_static(b"v2")),
                version: 2,
            },
        ),
        s(
            "SetAclTxn",
            SetAclTxn {
                path: "/s".into(),
                acl: acls(),
                version: 1,
            },
        ),
        s(
            "ErrorTxn",
            ErrorTxn {
                err: err::NODE_EXISTS,
            },
        ),
        s(
            "CheckVersionTxn",
            CheckVersionTxn {
                path: "/c".into(),
                version: 4,
            },
        ),
        s("CreateSessionTxn", CreateSessionTxn { time_out: 30_000 }),
        s(
            "CloseSessionTxn",
            CloseSessionTxn {
                paths2_delete: strings(&["/e1", "/e2"]),
            },
        ),
        s(
            "TxnEntry",
            TxnEntry {
                txn_type: op::DELETE,
                data: DeleteTxn { path: "/d".into() }.encode().freeze(),
            },
        ),
        s(
            "MultiTxn",
            MultiTxn {
                txns: vec![
                    TxnEntry {
                        txn_type: op::DELETE,
                        data: DeleteTxn { path: "/d".into() }.encode().freeze(),
                    },
                    TxnEntry {
                        txn_type: op::ERROR,
                        data: ErrorTxn { err: err::NO_NODE }.encode().freeze(),
                    },
                ],
            },
        ),
        s(
            "TxnDigest",
            TxnDigest {
                version: 2,
                tree_digest: 0x1234_5678_9abc_def0,
            },
        ),
    ]
}

/// Populated samples followed by defaults.
pub fn all() -> Vec<Box<dyn Sample>> {
    let mut v = populated();
    v.extend(defaults());
    v
}

/// Deterministic xorshift64* PRNG (no external crates).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
