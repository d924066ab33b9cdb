//! Decode tests against frames captured from the real Java client (Debian
//! ZooKeeper 3.8.0's zkCli.sh and a small program using the official Java
//! client's `multi`) talking to a real ZooKeeper 3.8.0 server through a
//! logging TCP proxy. Each constant is one frame payload (the 4-byte length
//! prefix removed). Every test checks the decoded field values and that
//! re-encoding reproduces the captured bytes exactly.

use std::fmt::Debug;

use bytes::Bytes;
use jute::*;

#[path = "captured/frames.rs"]
mod frames;
use frames::*;

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Decodes `T` from the whole of `buf`, asserting nothing is left over and
/// that re-encoding gives the same bytes.
fn exact<T: Record + Debug + PartialEq>(buf: &[u8]) -> T {
    let (rest, v) = T::read(buf).unwrap();
    assert!(rest.is_empty(), "{} bytes left after {v:?}", rest.len());
    assert_eq!(&v.encode()[..], buf, "re-encoding {v:?}");
    v
}

/// A client frame: RequestHeader + body.
fn request<T: Record + Debug + PartialEq>(frame: &str, xid: i32, op_type: i32) -> T {
    let buf = hex(frame);
    let (body, h) = RequestHeader::read(&buf).unwrap();
    assert_eq!(h, RequestHeader { xid, op_type });
    exact(body)
}

/// A server frame: ReplyHeader + body. Returns (header, body).
fn reply<T: Record + Debug + PartialEq>(frame: &str) -> (ReplyHeader, T) {
    let buf = hex(frame);
    let (body, h) = ReplyHeader::read(&buf).unwrap();
    (h, exact(body))
}

/// A server frame with no body.
fn reply_header_only(frame: &str) -> ReplyHeader {
    exact(&hex(frame))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Stat of /jt after `create /jt hello` + two children, as seen by `get /jt`.
fn jt_stat() -> Stat {
    Stat {
        czxid: 2,
        mzxid: 2,
        ctime: 0x1a2_0182_3be1,
        mtime: 0x1a2_0182_3be1,
        version: 0,
        cversion: 2,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 2,
        pzxid: 4,
    }
}

#[test]
fn connect_request_45_bytes_with_read_only() {
    let buf = hex(CONNECT_REQUEST);
    assert_eq!(buf.len(), 45);
    let c: ConnectRequest = exact(&buf);
    assert_eq!(
        c,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        }
    );
    // The same frame from an old client (no readOnly byte).
    let old = ConnectRequest::decode(&buf[..44]).unwrap();
    assert_eq!(old.read_only, None);
    assert_eq!(old.time_out, 30_000);
}

#[test]
fn connect_response() {
    let buf = hex(CONNECT_RESPONSE);
    assert_eq!(buf.len(), 37);
    let c: ConnectResponse = exact(&buf);
    assert_eq!(c.protocol_version, 0);
    assert_eq!(c.time_out, 30_000);
    assert_eq!(c.session_id, 0x0100_0007_8e6d_0000);
    assert_eq!(&c.passwd[..], &hex("09835155621250f68fabf4667bcec567")[..]);
    assert_eq!(c.read_only, Some(false));
}

#[test]
fn create_requests_and_responses() {
    let r: CreateRequest = request(CREATE_REQUEST, 1, op::CREATE);
    assert_eq!(
        r,
        CreateRequest {
            path: "/jt".into(),
            data: Some(Bytes::from_static(b"hello")),
            acl: jute::ids::open_acl_unsafe(),
            flags: create_flags::PERSISTENT,
        }
    );
    let (h, r): (_, CreateResponse) = reply(CREATE_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: 1,
            zxid: 2,
            err: 0
        }
    );
    assert_eq!(r.path, "/jt");

    let r: CreateRequest = request(CREATE_SEQUENTIAL_REQUEST, 2, op::CREATE);
    assert_eq!(r.path, "/jt/seq-");
    assert_eq!(r.data.as_deref(), Some(&b"s1"[..]));
    assert_eq!(r.flags, create_flags::PERSISTENT_SEQUENTIAL);
    let (h, r): (_, CreateResponse) = reply(CREATE_SEQUENTIAL_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: 2,
            zxid: 3,
            err: 0
        }
    );
    assert_eq!(r.path, "/jt/seq-0000000000");

    let r: CreateRequest = request(CREATE_EPHEMERAL_REQUEST, 3, op::CREATE);
    assert_eq!(r.path, "/jt/eph");
    assert_eq!(r.flags, create_flags::EPHEMERAL);
}

#[test]
fn create2_request_and_response() {
    let r: CreateRequest = request(CREATE2_REQUEST, 4, op::CREATE2);
    assert_eq!(
        r,
        CreateRequest {
            path: "/m/c3".into(),
            data: Some(Bytes::new()),
            acl: jute::ids::open_acl_unsafe(),
            flags: 0,
        }
    );
    let (h, r): (_, Create2Response) = reply(CREATE2_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: 4,
            zxid: 0x10,
            err: 0
        }
    );
    assert_eq!(r.path, "/m/c3");
    assert_eq!(r.stat.czxid, 0x10);
    assert_eq!(r.stat.mzxid, 0x10);
    assert_eq!(r.stat.pzxid, 0x10);
    assert_eq!(r.stat.ctime, 1_795_321_671_804);
    assert_eq!(r.stat.data_length, 0);
}

#[test]
fn create_ttl_and_container() {
    let r: CreateTtlRequest = request(CREATE_TTL_REQUEST, 20, op::CREATE_TTL);
    assert_eq!(
        r,
        CreateTtlRequest {
            path: "/jt/ttl".into(),
            data: Some(Bytes::from_static(b"t")),
            acl: jute::ids::open_acl_unsafe(),
            flags: create_flags::PERSISTENT_WITH_TTL,
            ttl: 5000,
        }
    );
    let (h, r): (_, Create2Response) = reply(CREATE_TTL_RESPONSE);
    assert_eq!(h.zxid, 8);
    assert_eq!(r.path, "/jt/ttl");
    // TTL nodes show ephemeralOwner 0 to clients.
    assert_eq!(r.stat.ephemeral_owner, 0);
    assert_eq!(r.stat.data_length, 1);

    let r: CreateRequest = request(CREATE_CONTAINER_REQUEST, 21, op::CREATE_CONTAINER);
    assert_eq!(r.path, "/jt/cont");
    assert_eq!(r.flags, create_flags::CONTAINER);
}

#[test]
fn get_data_with_watch_and_reply_with_stat() {
    let r: GetDataRequest = request(GET_DATA_WATCH_REQUEST, 5, op::GET_DATA);
    assert_eq!(
        r,
        GetDataRequest {
            path: "/jt".into(),
            watch: true
        }
    );
    let (h, r): (_, GetDataResponse) = reply(GET_DATA_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: 5,
            zxid: 4,
            err: 0
        }
    );
    assert_eq!(r.data.as_deref(), Some(&b"hello"[..]));
    assert_eq!(r.stat, jt_stat());
}

#[test]
fn set_data_watch_notification_and_reply() {
    let r: SetDataRequest = request(SET_DATA_REQUEST, 6, op::SET_DATA);
    assert_eq!(
        r,
        SetDataRequest {
            path: "/jt".into(),
            data: Some(Bytes::from_static(b"world")),
            version: -1,
        }
    );
    // 3.8 sends zxid -1 in notifications.
    let (h, e): (_, WatcherEvent) = reply(NOTIFICATION_DATA_CHANGED);
    assert_eq!(
        h,
        ReplyHeader {
            xid: xid::NOTIFICATION,
            zxid: -1,
            err: 0
        }
    );
    assert_eq!(
        e,
        WatcherEvent {
            event_type: event::NODE_DATA_CHANGED,
            state: keeper_state::SYNC_CONNECTED,
            path: "/jt".into(),
        }
    );
    let (h, r): (_, SetDataResponse) = reply(SET_DATA_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: 6,
            zxid: 5,
            err: 0
        }
    );
    assert_eq!(r.stat.mzxid, 5);
    assert_eq!(r.stat.version, 1);
    assert_eq!(r.stat.czxid, 2);
    assert_eq!(r.stat.num_children, 2);
}

#[test]
fn other_notifications() {
    let (_, e): (_, WatcherEvent) = reply(NOTIFICATION_NODE_CREATED);
    assert_eq!(e.event_type, event::NODE_CREATED);
    assert_eq!(e.path, "/jt/child");
    let (_, e): (_, WatcherEvent) = reply(NOTIFICATION_NODE_DELETED);
    assert_eq!(e.event_type, event::NODE_DELETED);
    assert_eq!(e.path, "/jt/child");
}

#[test]
fn get_children2_and_get_children() {
    let r: GetChildren2Request = request(GET_CHILDREN2_REQUEST, 7, op::GET_CHILDREN2);
    assert_eq!(r.path, "/jt");
    assert!(!r.watch);
    let (h, r): (_, GetChildren2Response) = reply(GET_CHILDREN2_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: 7,
            zxid: 5,
            err: 0
        }
    );
    assert_eq!(r.children, strings(&["eph", "seq-0000000000"]));
    assert_eq!(r.stat.num_children, 2);
    assert_eq!(r.stat.version, 1);

    let r: GetChildrenRequest = request(GET_CHILDREN_REQUEST, 24, op::GET_CHILDREN);
    assert_eq!(r.path, "/jt");
    let (_, r): (_, GetChildrenResponse) = reply(GET_CHILDREN_RESPONSE);
    assert_eq!(
        r.children,
        strings(&["eph", "cont", "ttl", "seq-0000000000"])
    );
}

#[test]
fn exists() {
    let r: ExistsRequest = request(EXISTS_REQUEST, 10, op::EXISTS);
    assert_eq!(r.path, "/jt");
    let (_, r): (_, ExistsResponse) = reply(EXISTS_RESPONSE);
    assert_eq!(r.stat.mzxid, 5);
    assert_eq!(r.stat.data_length, 5);
}

#[test]
fn add_watch_replies_with_error_response_body() {
    let r: AddWatchRequest = request(ADD_WATCH_REQUEST, 11, op::ADD_WATCH);
    assert_eq!(
        r,
        AddWatchRequest {
            path: "/jt".into(),
            mode: add_watch_mode::PERSISTENT_RECURSIVE
        }
    );
    let (h, r): (_, ErrorResponse) = reply(ADD_WATCH_RESPONSE);
    assert_eq!(h.xid, 11);
    assert_eq!(r.err, 0);
}

#[test]
fn get_all_children_number_and_get_ephemerals() {
    let r: GetAllChildrenNumberRequest = request(
        GET_ALL_CHILDREN_NUMBER_REQUEST,
        13,
        op::GET_ALL_CHILDREN_NUMBER,
    );
    assert_eq!(r.path, "/jt");
    let (_, r): (_, GetAllChildrenNumberResponse) = reply(GET_ALL_CHILDREN_NUMBER_RESPONSE);
    assert_eq!(r.total_number, 3);

    let r: GetEphemeralsRequest = request(GET_EPHEMERALS_REQUEST, 14, op::GET_EPHEMERALS);
    assert_eq!(r.prefix_path.as_deref(), Some("/"));
    let (_, r): (_, GetEphemeralsResponse) = reply(GET_EPHEMERALS_RESPONSE);
    assert_eq!(r.ephemerals, strings(&["/jt/eph"]));
}

#[test]
fn auth_and_who_am_i() {
    let buf = hex(WHO_AM_I_REQUEST);
    let h: RequestHeader = exact(&buf);
    assert_eq!(
        h,
        RequestHeader {
            xid: 15,
            op_type: op::WHO_AM_I
        }
    );
    let (_, r): (_, WhoAmIResponse) = reply(WHO_AM_I_RESPONSE);
    assert_eq!(
        r.client_info,
        vec![ClientInfo {
            auth_scheme: "ip".into(),
            user: "127.0.0.1".into()
        }]
    );

    let r: AuthPacket = request(AUTH_REQUEST, xid::AUTH, op::AUTH);
    assert_eq!(
        r,
        AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Bytes::from_static(b"alice:secret"),
        }
    );
    let h = reply_header_only(AUTH_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: xid::AUTH,
            zxid: 0,
            err: 0
        }
    );

    let (h, r): (_, WhoAmIResponse) = reply(WHO_AM_I_RESPONSE_DIGEST);
    assert_eq!(h.xid, 16);
    assert_eq!(
        r.client_info,
        vec![
            ClientInfo {
                auth_scheme: "digest".into(),
                user: "alice".into()
            },
            ClientInfo {
                auth_scheme: "ip".into(),
                user: "127.0.0.1".into()
            },
        ]
    );
}

#[test]
fn set_acl_and_get_acl() {
    let r: SetAclRequest = request(SET_ACL_REQUEST, 17, op::SET_ACL);
    assert_eq!(
        r,
        SetAclRequest {
            path: "/jt/child".into(),
            acl: vec![Acl {
                perms: perms::ALL,
                id: Id {
                    scheme: "auth".into(),
                    id: "alice:secret".into()
                },
            }],
            version: -1,
        }
    );
    let (h, r): (_, SetAclResponse) = reply(SET_ACL_RESPONSE);
    assert_eq!(h.zxid, 7);
    assert_eq!(r.stat.aversion, 1);

    let r: GetAclRequest = request(GET_ACL_REQUEST, 18, op::GET_ACL);
    assert_eq!(r.path, "/jt/child");
    let (_, r): (_, GetAclResponse) = reply(GET_ACL_RESPONSE);
    assert_eq!(
        r.acl,
        vec![Acl {
            perms: perms::ALL,
            id: Id {
                scheme: "digest".into(),
                id: "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=".into(),
            },
        }]
    );
    assert_eq!(r.stat.czxid, 6);
    assert_eq!(r.stat.aversion, 1);
}

#[test]
fn sync() {
    let r: SyncRequest = request(SYNC_REQUEST, 19, op::SYNC);
    assert_eq!(r.path, "/jt");
    let (h, r): (_, SyncResponse) = reply(SYNC_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: 19,
            zxid: 7,
            err: 0
        }
    );
    assert_eq!(r.path, "/jt");
}

#[test]
fn delete_remove_watches_close_session() {
    let r: DeleteRequest = request(DELETE_REQUEST, 22, op::DELETE);
    assert_eq!(
        r,
        DeleteRequest {
            path: "/jt/child".into(),
            version: -1
        }
    );
    assert_eq!(
        reply_header_only(DELETE_RESPONSE),
        ReplyHeader {
            xid: 22,
            zxid: 10,
            err: 0
        }
    );

    let r: RemoveWatchesRequest = request(REMOVE_WATCHES_REQUEST, 23, op::REMOVE_WATCHES);
    assert_eq!(
        r,
        RemoveWatchesRequest {
            path: "/jt".into(),
            watch_type: watcher_type::ANY
        }
    );

    let h: RequestHeader = exact(&hex(CLOSE_SESSION_REQUEST));
    assert_eq!(
        h,
        RequestHeader {
            xid: 30,
            op_type: op::CLOSE_SESSION
        }
    );
}

#[test]
fn multi_of_deletes_from_deleteall() {
    let r: MultiRequest = request(MULTI_DELETE_REQUEST, 29, op::MULTI);
    let paths: Vec<&str> = r
        .ops
        .iter()
        .map(|o| match o {
            MultiOp::Delete(d) => {
                assert_eq!(d.version, -1);
                d.path.as_str()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        paths,
        [
            "/jt/seq-0000000000",
            "/jt/ttl",
            "/jt/cont",
            "/jt/eph",
            "/jt"
        ]
    );
    let (h, r): (_, MultiResponse) = reply(MULTI_DELETE_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: 29,
            zxid: 11,
            err: 0
        }
    );
    assert_eq!(r.results, vec![MultiResult::Delete; 5]);
}

#[test]
fn multi_with_create_ttl_set_data_check() {
    let r: MultiRequest = request(MULTI_REQUEST, 1, op::MULTI);
    assert_eq!(
        r.ops,
        vec![
            MultiOp::Create {
                op: op::CREATE,
                req: CreateRequest {
                    path: "/m".into(),
                    data: Some(Bytes::from_static(b"d")),
                    acl: jute::ids::open_acl_unsafe(),
                    flags: 0,
                },
            },
            MultiOp::CreateTtl(CreateTtlRequest {
                path: "/m/c2".into(),
                data: None,
                acl: jute::ids::open_acl_unsafe(),
                flags: create_flags::PERSISTENT_WITH_TTL,
                ttl: 60_000,
            }),
            MultiOp::SetData(SetDataRequest {
                path: "/m".into(),
                data: Some(Bytes::from_static(b"e")),
                version: 0,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/m".into(),
                version: 1
            }),
        ]
    );
    let (h, r): (_, MultiResponse) = reply(MULTI_RESPONSE);
    assert_eq!(
        h,
        ReplyHeader {
            xid: 1,
            zxid: 0xe,
            err: 0
        }
    );
    assert_eq!(r.results.len(), 4);
    assert_eq!(
        r.results[0],
        MultiResult::Create(CreateResponse { path: "/m".into() })
    );
    // createTTL's result is a create2 result (header type 15).
    match &r.results[1] {
        MultiResult::Create2(c) => {
            assert_eq!(c.path, "/m/c2");
            assert_eq!(c.stat.czxid, 0xe);
            assert_eq!(c.stat.data_length, 0);
        }
        other => panic!("unexpected {other:?}"),
    }
    match &r.results[2] {
        MultiResult::SetData(s) => {
            assert_eq!(s.stat.version, 1);
            assert_eq!(s.stat.num_children, 1);
            assert_eq!(s.stat.data_length, 1);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(r.results[3], MultiResult::Check);
}

#[test]
fn failed_multi_error_results() {
    let r: MultiRequest = request(MULTI_FAILING_REQUEST, 2, op::MULTI);
    assert_eq!(r.ops.len(), 3);
    assert_eq!(
        r.ops[1],
        MultiOp::Delete(DeleteRequest {
            path: "/nope".into(),
            version: -1
        })
    );
    let (h, r): (_, MultiResponse) = reply(MULTI_FAILED_RESPONSE);
    // The reply header of a failed multi carries err 0; the results carry the codes.
    assert_eq!(
        h,
        ReplyHeader {
            xid: 2,
            zxid: 0xf,
            err: 0
        }
    );
    assert_eq!(
        r.results,
        vec![
            MultiResult::Error(err::OK),
            MultiResult::Error(err::NO_NODE),
            MultiResult::Error(err::RUNTIME_INCONSISTENCY),
        ]
    );
}

#[test]
fn multi_read() {
    let r: MultiRequest = request(MULTI_READ_REQUEST, 3, op::MULTI_READ);
    assert_eq!(
        r.ops,
        vec![
            MultiOp::GetData(GetDataRequest {
                path: "/m".into(),
                watch: false
            }),
            MultiOp::GetChildren(GetChildrenRequest {
                path: "/m".into(),
                watch: false
            }),
            MultiOp::GetData(GetDataRequest {
                path: "/nope".into(),
                watch: false
            }),
        ]
    );
    let (h, r): (_, MultiResponse) = reply(MULTI_READ_RESPONSE);
    assert_eq!(h.err, 0);
    assert_eq!(r.results.len(), 3);
    match &r.results[0] {
        MultiResult::GetData(g) => {
            assert_eq!(g.data.as_deref(), Some(&b"e"[..]));
            assert_eq!(g.stat.version, 1);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        r.results[1],
        MultiResult::GetChildren(GetChildrenResponse {
            children: strings(&["c2"])
        })
    );
    assert_eq!(r.results[2], MultiResult::Error(err::NO_NODE));
}
