//! multi: success, all-or-nothing failure, op normalisation.

use jute::{CheckVersionRequest, GetDataRequest, MultiResult};

use super::*;

fn mk(code: i32, path: &str, flags: i32) -> MultiOp {
    MultiOp::Create {
        op: code,
        req: CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"m")),
            acl: open(),
            flags,
        },
    }
}

fn del(path: &str, version: i32) -> MultiOp {
    MultiOp::Delete(DeleteRequest {
        path: path.into(),
        version,
    })
}

fn set(path: &str, version: i32) -> MultiOp {
    MultiOp::SetData(SetDataRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"s")),
        version,
    })
}

fn check(path: &str, version: i32) -> MultiOp {
    MultiOp::Check(CheckVersionRequest {
        path: path.into(),
        version,
    })
}

#[test]
fn multi_success_parent_then_child() {
    let mut h = H::new();
    h.create("/old", 0).unwrap();
    let a = h.multi(vec![
        mk(op::CREATE, "/p", 0),
        mk(op::CREATE2, "/p/c", 0),
        mk(op::CREATE, "/p/s-", 2),
        mk(op::CREATE, "/p/s-", 2),
        set("/p", 0),
        check("/p", 1),
        del("/old", 0),
        MultiOp::CreateTtl(CreateTtlRequest {
            path: "/ttl".into(),
            data: None,
            acl: open(),
            flags: 5,
            ttl: 100,
        }),
        mk(op::CREATE_CONTAINER, "/cont", 4),
    ]);
    assert_eq!(err_of(&a), 0);
    let z = h.zxid;
    let r = multi_results(&a).results;
    assert_eq!(r.len(), 9);
    assert_eq!(
        r[0],
        MultiResult::Create(CreateResponse { path: "/p".into() })
    );
    match &r[1] {
        MultiResult::Create2(c) => {
            assert_eq!(c.path, "/p/c");
            assert_eq!(c.stat.czxid, z);
        }
        x => panic!("{x:?}"),
    }
    assert_eq!(
        r[2],
        MultiResult::Create(CreateResponse {
            path: "/p/s-0000000001".into()
        })
    );
    assert_eq!(
        r[3],
        MultiResult::Create(CreateResponse {
            path: "/p/s-0000000002".into()
        })
    );
    match &r[4] {
        MultiResult::SetData(s) => assert_eq!(s.stat.version, 1),
        x => panic!("{x:?}"),
    }
    assert_eq!((&r[5], &r[6]), (&MultiResult::Check, &MultiResult::Delete));
    assert!(matches!(&r[7], MultiResult::Create2(c) if c.path == "/ttl"));
    assert!(matches!(&r[8], MultiResult::Create2(c) if c.path == "/cont"));
    assert_eq!(h.node("/ttl").kind(), NodeKind::Ttl(100));
    assert_eq!(h.node("/cont").kind(), NodeKind::Container);
    // Triggers in sub-op order; all sub-ops share the zxid.
    assert_eq!(
        events(&a)[..5],
        [
            ("/p".into(), event::NODE_CREATED),
            ("/".into(), event::NODE_CHILDREN_CHANGED),
            ("/p/c".into(), event::NODE_CREATED),
            ("/p".into(), event::NODE_CHILDREN_CHANGED),
            ("/p/s-0000000001".into(), event::NODE_CREATED),
        ]
    );
    assert!(events(&a).contains(&("/old".into(), event::NODE_DELETED)));
    assert_eq!(h.stat("/p").pzxid, z);
    // Dirty entries are deduplicated.
    let d = dirty_nodes(&a);
    assert_eq!(d.iter().filter(|p| *p == "/p").count(), 1);
    assert_eq!(d.iter().filter(|p| *p == "/").count(), 1);
    assert!(d.contains(&"/old".to_string()));
    assert_consistent(&h.tree);
}

#[test]
fn multi_failure_changes_nothing() {
    let mut h = H::new();
    h.create("/a", 0).unwrap();
    h.create("/a/x", 0).unwrap();
    h.set_data("/a", b"v", -1).unwrap();
    let eph_sid = h.sid;
    h.create("/e", 1).unwrap();
    let before = state(&h.tree);
    let a = h.multi(vec![
        mk(op::CREATE, "/n", 0),
        mk(op::CREATE, "/n/c", 1),
        mk(op::CREATE, "/a/s", 2),
        set("/a", -1),
        del("/a/x", -1),
        del("/e", -1),
        MultiOp::SetData(SetDataRequest {
            path: "/a".into(),
            data: None,
            version: -1,
        }),
        check("/a", 5), // fails: version is 2 by now
        mk(op::CREATE, "/never", 0),
        del("/a", -1),
    ]);
    assert_eq!(err_of(&a), 0, "a failed multi still replies err 0");
    let codes: Vec<i32> = multi_results(&a)
        .results
        .iter()
        .map(|r| match r {
            MultiResult::Error(c) => *c,
            x => panic!("{x:?}"),
        })
        .collect();
    assert_eq!(codes, [0, 0, 0, 0, 0, 0, 0, err::BAD_VERSION, -2, -2]);
    assert!(a.triggers.is_empty() && a.dirty.is_empty());
    assert_eq!(state(&h.tree), before);
    assert_eq!(h.tree.last_zxid(), h.zxid);
    assert_eq!(h.tree.ephemerals(eph_sid), ["/e"]);
    // The rolled-back sequential create did not consume a suffix.
    assert_eq!(h.create("/a/s", 2), Ok("/a/s0000000001".into()));
    assert_consistent(&h.tree);
}

#[test]
fn multi_failure_codes_by_position() {
    let mut h = H::new();
    h.create("/a", 0).unwrap();
    let a = h.multi(vec![mk(op::CREATE, "/a", 0), mk(op::CREATE, "/b", 0)]);
    assert_eq!(
        multi_results(&a).results,
        [
            MultiResult::Error(err::NODE_EXISTS),
            MultiResult::Error(err::RUNTIME_INCONSISTENCY)
        ]
    );
    let a = h.multi(vec![mk(op::CREATE, "/b", 0), del("/nope", -1)]);
    assert_eq!(
        multi_results(&a).results,
        [MultiResult::Error(0), MultiResult::Error(err::NO_NODE)]
    );
    assert!(h.tree.get("/b").is_none());
    // Check needs READ.
    let me = h.auth.clone();
    h.create_acl("/secret", &[acl(perms::WRITE, "world", "anyone")], &me)
        .unwrap();
    let a = h.multi(vec![check("/secret", -1)]);
    assert_eq!(
        multi_results(&a).results,
        [MultiResult::Error(err::NO_AUTH)]
    );
    let a = h.multi(vec![check("/bad/", -1)]);
    assert_eq!(
        multi_results(&a).results,
        [MultiResult::Error(err::BAD_ARGUMENTS)]
    );
    // An expired session fails at its first sub-op.
    let a = h.req_as(
        999,
        &me,
        op::MULTI,
        MultiRequest {
            ops: vec![set("/a", -1)],
        }
        .encode(),
    );
    assert_eq!(
        multi_results(&a).results,
        [MultiResult::Error(err::SESSION_EXPIRED)]
    );
    // Empty multi succeeds with no results.
    let a = h.multi(vec![]);
    assert_eq!(err_of(&a), 0);
    assert!(multi_results(&a).results.is_empty());
}

#[test]
fn multi_delete_then_recreate_and_rollback_of_deletes() {
    let mut h = H::new();
    h.create("/a", 0).unwrap();
    h.create("/a/b", 0).unwrap();
    let a = h.multi(vec![
        del("/a/b", -1),
        del("/a", -1),
        mk(op::CREATE, "/a", 0),
    ]);
    assert!(multi_results(&a)
        .results
        .iter()
        .all(|r| !matches!(r, MultiResult::Error(_))));
    assert!(h.children("/a").is_empty());
    assert_eq!(h.stat("/a").czxid, h.zxid);
    // Deletes rolled back: the nodes come back with their data, ACL, stat and children.
    h.create("/a/k", 0).unwrap();
    let before = state(&h.tree);
    let a = h.multi(vec![del("/a/k", -1), del("/a", -1), del("/zookeeper", -1)]);
    assert_eq!(
        multi_results(&a).results,
        [
            MultiResult::Error(0),
            MultiResult::Error(0),
            MultiResult::Error(err::BAD_ARGUMENTS)
        ]
    );
    assert_eq!(state(&h.tree), before);
}

#[test]
fn multi_op_normalisation() {
    let mut h = H::new();
    let before = state(&h.tree);
    // Read ops, bad flags and TTL flags on a plain create fail the whole request.
    let read = MultiOp::GetData(GetDataRequest {
        path: "/".into(),
        watch: false,
    });
    for ops in [
        vec![mk(op::CREATE, "/x", 0), read],
        vec![mk(op::CREATE, "/x", 9)],
        vec![mk(op::CREATE2, "/x", 5)],
    ] {
        let a = h.multi(ops);
        assert_eq!(
            a.reply,
            Reply::Response {
                err: err::MARSHALLING_ERROR,
                body: Bytes::new()
            }
        );
    }
    assert_eq!(state(&h.tree), before);
    // The container flag turns create into createContainer (Create2 result).
    let a = h.multi(vec![mk(op::CREATE, "/c", 4)]);
    assert!(matches!(&multi_results(&a).results[0], MultiResult::Create2(c) if c.path == "/c"));
    assert_eq!(h.node("/c").kind(), NodeKind::Container);
    // createTTL without a TTL mode becomes a plain create; with bad flags it fails per op.
    let ttl = |flags| {
        MultiOp::CreateTtl(CreateTtlRequest {
            path: "/t".into(),
            data: None,
            acl: open(),
            flags,
            ttl: 50,
        })
    };
    let a = h.multi(vec![ttl(0)]);
    assert_eq!(
        multi_results(&a).results,
        [MultiResult::Create(CreateResponse { path: "/t".into() })]
    );
    assert_eq!(h.node("/t").kind(), NodeKind::Persistent);
    let a = h.multi(vec![ttl(42)]);
    assert_eq!(
        multi_results(&a).results,
        [MultiResult::Error(err::BAD_ARGUMENTS)]
    );
}

#[test]
fn multi_ttl_unimplemented_when_disabled() {
    let mut h = H::with(TreeConfig::default());
    let a = h.multi(vec![MultiOp::CreateTtl(CreateTtlRequest {
        path: "/t".into(),
        data: None,
        acl: open(),
        flags: 5,
        ttl: 50,
    })]);
    assert_eq!(
        multi_results(&a).results,
        [MultiResult::Error(err::UNIMPLEMENTED)]
    );
}

#[test]
fn a_failed_multi_leaves_no_ephemeral_set_behind() {
    let mut h = H::new();
    h.multi(vec![mk(op::CREATE, "/e", 1), check("/missing", -1)]);
    assert!(h.tree.get("/e").is_none());
    assert!(
        !h.tree.ephemerals.contains_key(&h.sid),
        "the session had no ephemeral before the multi, and has no set after it"
    );
    assert_consistent(&h.tree);
}
