//! create / delete / setData / setACL and their error precedence.

use super::*;

#[test]
fn create_basic_and_create2() {
    let mut h = H::new();
    let root_before = h.stat("/");
    let a = h.req(op::CREATE, create_body("/a", Some(b"hi"), &open(), 0));
    let z = h.zxid;
    assert_eq!(decode_ok::<CreateResponse>(&a).unwrap().path, "/a");
    assert_eq!(
        events(&a),
        [
            ("/a".into(), event::NODE_CREATED),
            ("/".into(), event::NODE_CHILDREN_CHANGED)
        ]
    );
    assert_eq!(a.triggers[0].acl.as_slice(), open());
    assert_eq!(dirty_nodes(&a), ["/a", "/"]);
    assert_eq!(a.closed_session, None);
    let s = h.stat("/a");
    assert_eq!((s.czxid, s.mzxid, s.pzxid), (z, z, z));
    assert_eq!((s.ctime, s.mtime), (T0 + z, T0 + z));
    assert_eq!(
        (s.version, s.cversion, s.aversion, s.ephemeral_owner),
        (0, 0, 0, 0)
    );
    assert_eq!((s.data_length, s.num_children), (2, 0));
    let r = h.stat("/");
    assert_eq!(r.pzxid, z);
    assert_eq!(r.cversion, root_before.cversion + 1);
    assert_eq!(h.node("/").stat.cversion, 1);

    let a = h.req(op::CREATE2, create_body("/b", None, &open(), 0));
    let resp = decode_ok::<Create2Response>(&a).unwrap();
    assert_eq!(resp.path, "/b");
    assert_eq!(resp.stat, h.stat("/b"));
    assert_eq!(resp.stat.data_length, 0);
    assert_eq!(h.node("/b").data, None, "null data stays null");
    assert_consistent(&h.tree);
}

#[test]
fn create_validation_order() {
    let mut h = H::with(TreeConfig::default()); // extended types disabled
    let bad = [acl(31, "digest", "nocolon")];
    // Invalid flags win over everything, even an unknown session.
    let a = h.req_as(999, &[], op::CREATE, create_body("nopath", None, &bad, 7));
    assert_eq!(err_of(&a), err::BAD_ARGUMENTS);
    // TTL with extended types disabled -> UNIMPLEMENTED, before the session check.
    let a = h.req_as(999, &[], op::CREATE_TTL, create_ttl_body("/t", 5, 0));
    assert_eq!(err_of(&a), err::UNIMPLEMENTED);
    // Session before path shape.
    let a = h.req_as(
        999,
        &[],
        op::CREATE,
        create_body("nopath", None, &open(), 0),
    );
    assert_eq!(err_of(&a), err::SESSION_EXPIRED);
    // Path shape before ACL.
    let a = h.req(op::CREATE, create_body("nopath", None, &bad, 0));
    assert_eq!(err_of(&a), err::BAD_ARGUMENTS);
    assert_eq!(h.create("/a\0b", 0), Err(err::BAD_ARGUMENTS));
    // ACL before missing parent.
    let a = h.req(op::CREATE, create_body("/x/y", None, &bad, 0));
    assert_eq!(err_of(&a), err::INVALID_ACL);
    let a = h.req(op::CREATE, create_body("/x", None, &[], 0));
    assert_eq!(err_of(&a), err::INVALID_ACL);
    // Missing parent before validatePath ("/a//b" has parent "/a/").
    assert_eq!(h.create("/x/y", 0), Err(err::NO_NODE));
    h.create("/a", 0).unwrap();
    assert_eq!(h.create("/a//b", 0), Err(err::NO_NODE));
    // CREATE permission before NodeExists.
    h.create_acl(
        "/locked",
        &[acl(perms::READ, "world", "anyone")],
        &h.auth.clone(),
    )
    .unwrap();
    h.create_acl(
        "/locked2",
        &[acl(perms::ALL ^ perms::CREATE, "world", "anyone")],
        &[],
    )
    .unwrap();
    assert_eq!(h.create("/locked/c", 0), Err(err::NO_AUTH));
    assert_eq!(h.create("/locked2/c", 0), Err(err::NO_AUTH));
    // validatePath after the sequential suffix: "/a/" is fine when sequential.
    assert_eq!(h.create("/a/", 0), Err(err::BAD_ARGUMENTS));
    assert_eq!(h.create("/a/", 2), Ok("/a/0000000000".into()));
    assert_eq!(h.create("/a/.", 0), Err(err::BAD_ARGUMENTS));
    // NodeExists before the ephemeral-parent check.
    h.create("/e", 1).unwrap();
    assert_eq!(h.create("/a", 0), Err(err::NODE_EXISTS));
    assert_eq!(h.create("/", 0), Err(err::NODE_EXISTS));
    assert_eq!(h.create("/e", 0), Err(err::NODE_EXISTS));
    assert_eq!(h.create("/e/c", 0), Err(err::NO_CHILDREN_FOR_EPHEMERALS));
    assert_eq!(h.create("/e/c", 2), Err(err::NO_CHILDREN_FOR_EPHEMERALS));
    // Every failure above consumed its zxid without changing the tree.
    assert_consistent(&h.tree);
}

#[test]
fn ttl_and_mode_argument_checks() {
    let mut h = H::new(); // extended types enabled
    let a = h.req(op::CREATE_TTL, create_ttl_body("/t", 5, 0));
    assert_eq!(err_of(&a), err::BAD_ARGUMENTS);
    let a = h.req(op::CREATE_TTL, create_ttl_body("/t", 6, MAX_TTL + 1));
    assert_eq!(err_of(&a), err::BAD_ARGUMENTS);
    // createTTL needs a TTL mode.
    let a = h.req(op::CREATE_TTL, create_ttl_body("/t", 0, 100));
    assert_eq!(err_of(&a), err::BAD_ARGUMENTS);
    let a = h.req(op::CREATE_TTL, create_ttl_body("/t", 0, -1));
    assert_eq!(err_of(&a), err::BAD_ARGUMENTS);
    // A TTL mode through create/create2 has no ttl (-1) -> BAD_ARGUMENTS.
    assert_eq!(h.create("/t", 5), Err(err::BAD_ARGUMENTS));
    let a = h.req(op::CREATE2, create_body("/t", None, &open(), 6));
    assert_eq!(err_of(&a), err::BAD_ARGUMENTS);
    assert_eq!(h.create("/t", -1), Err(err::BAD_ARGUMENTS));
    let a = h.req(op::CREATE_TTL, create_ttl_body("/t", 6, MAX_TTL));
    let r = decode_ok::<Create2Response>(&a).unwrap();
    assert_eq!(r.path, "/t0000000000");
    assert_eq!(r.stat.ephemeral_owner, 0);
    assert_eq!(h.node("/t0000000000").kind(), NodeKind::Ttl(MAX_TTL));
}

#[test]
fn container_ops_and_create_with_container_flag() {
    let mut h = H::new();
    let a = h.req(op::CREATE_CONTAINER, create_body("/c", None, &open(), 4));
    let r = decode_ok::<Create2Response>(&a).unwrap();
    assert_eq!(r.stat.ephemeral_owner, 0, "clients see 0 for containers");
    assert_eq!(h.node("/c").stat.ephemeral_owner, CONTAINER_OWNER);
    // ZooKeeper decides the node kind from the op: createContainer always makes a
    // container, while create/create2 with the container flag make a persistent node.
    let a = h.req(op::CREATE_CONTAINER, create_body("/c2", None, &open(), 0));
    assert_eq!(err_of(&a), 0);
    assert_eq!(h.node("/c2").kind(), NodeKind::Container);
    assert_eq!(h.create("/p", 4), Ok("/p".into()));
    assert_eq!(h.node("/p").kind(), NodeKind::Persistent);
    // A container can have children (not ephemeral).
    assert_eq!(h.create("/c/x", 0), Ok("/c/x".into()));
}

#[test]
fn sequential_names_and_visible_cversion() {
    let mut h = H::new();
    h.create("/s", 0).unwrap();
    assert_eq!(h.create("/s/x-", 2), Ok("/s/x-0000000000".into()));
    assert_eq!(h.create("/s/x-", 3), Ok("/s/x-0000000001".into()));
    h.create("/s/plain", 0).unwrap();
    assert_eq!(h.create("/s/x-", 2), Ok("/s/x-0000000003".into()));
    assert_eq!(h.delete("/s/x-0000000001", -1), 0);
    assert_eq!(h.delete("/s/plain", -1), 0);
    // Stored cversion counts creates only, so the suffix does not repeat.
    assert_eq!(h.node("/s").stat.cversion, 4);
    assert_eq!(h.create("/s/x-", 2), Ok("/s/x-0000000004".into()));
    // Visible cversion = creates + deletes = stored*2 - children.
    let s = h.stat("/s");
    assert_eq!((s.cversion, s.num_children), (5 + 2, 3));
    // The suffix is a signed int: after i32::MAX comes a negative number.
    h.tree.tamper_stat("/s", |s| s.cversion = i32::MAX);
    assert_eq!(h.create("/s/y", 2), Ok("/s/y2147483647".into()));
    assert_eq!(h.create("/s/y", 2), Ok("/s/y-2147483648".into()));
    assert_eq!(h.create("/s/y", 2), Ok("/s/y-2147483647".into()));
    assert_eq!(h.create("/s/z", 0), Ok("/s/z".into()));
    // Root-level sequential names.
    let cv = h.node("/").stat.cversion;
    assert_eq!(h.create("/", 2), Ok(format!("/{cv:010}")));
}

#[test]
fn pzxid_rules() {
    let mut h = H::new();
    h.create("/p", 0).unwrap();
    h.create("/p/a", 0).unwrap();
    let created = h.zxid;
    assert_eq!(h.stat("/p").pzxid, created);
    h.set_data("/p/a", b"x", -1).unwrap();
    assert_eq!(
        h.stat("/p").pzxid,
        created,
        "setData on a child does not touch pzxid"
    );
    h.set_data("/p", b"x", -1).unwrap();
    assert_eq!(
        h.stat("/p").pzxid,
        created,
        "setData on the node does not either"
    );
    assert_eq!(h.delete("/p/a", -1), 0);
    assert_eq!(h.stat("/p").pzxid, h.zxid);
    // Delete only raises pzxid.
    h.create("/p/b", 0).unwrap();
    h.tree.tamper_stat("/p", |s| s.pzxid = i64::MAX);
    assert_eq!(h.delete("/p/b", -1), 0);
    assert_eq!(h.stat("/p").pzxid, i64::MAX);
    // Failed ops never change it.
    h.tree.tamper_stat("/p", |s| s.pzxid = 5);
    assert_eq!(h.delete("/p/missing", -1), err::NO_NODE);
    assert_eq!(h.stat("/p").pzxid, 5);
}

#[test]
fn delete_validation_order() {
    let mut h = H::new();
    h.create("/a", 0).unwrap();
    h.create("/a/b", 0).unwrap();
    let me = h.auth.clone();
    // Session first.
    let a = h.req_as(
        4242,
        &me,
        op::DELETE,
        DeleteRequest {
            path: "/".into(),
            version: 0,
        }
        .encode(),
    );
    assert_eq!(err_of(&a), err::SESSION_EXPIRED);
    for p in [
        "/",
        "/zookeeper",
        "/zookeeper/quota",
        "/zookeeper/config",
        "",
        "noslash",
        "/a\0",
    ] {
        assert_eq!(h.delete(p, -1), err::BAD_ARGUMENTS, "{p:?}");
    }
    assert_eq!(h.delete("/x/y", -1), err::NO_NODE, "missing parent");
    // DELETE permission on the parent is checked before the node's existence.
    h.create_acl(
        "/nd",
        &[acl(perms::ALL ^ perms::DELETE, "world", "anyone")],
        &me,
    )
    .unwrap();
    h.create("/nd/c", 0).unwrap();
    assert_eq!(h.delete("/nd/missing", -1), err::NO_AUTH);
    assert_eq!(h.delete("/nd/c", -1), err::NO_AUTH);
    assert_eq!(h.delete("/a/missing", -1), err::NO_NODE);
    assert_eq!(h.delete("/a/", -1), err::NO_NODE);
    // Version before children.
    assert_eq!(h.delete("/a", 3), err::BAD_VERSION);
    assert_eq!(h.delete("/a", 0), err::NOT_EMPTY);
    assert_eq!(h.delete("/a", -1), err::NOT_EMPTY);
    h.set_data("/a/b", b"v", -1).unwrap();
    assert_eq!(h.delete("/a/b", 0), err::BAD_VERSION);
    let before = h.node("/a").stat.cversion;
    let a = h.req(
        op::DELETE,
        DeleteRequest {
            path: "/a/b".into(),
            version: 1,
        }
        .encode(),
    );
    assert_eq!(body_of(&a).len(), 0);
    assert_eq!(
        events(&a),
        [
            ("/a/b".into(), event::NODE_DELETED),
            ("/a".into(), event::NODE_CHILDREN_CHANGED)
        ]
    );
    assert_eq!(dirty_nodes(&a), ["/a/b", "/a"]);
    assert!(h.tree.get("/a/b").is_none());
    assert_eq!(
        h.node("/a").stat.cversion,
        before,
        "delete keeps stored cversion"
    );
    assert_eq!(h.delete("/a", 0), 0);
    assert_consistent(&h.tree);
}

#[test]
fn delete_trigger_acls() {
    let mut h = H::new();
    let me = h.auth.clone();
    let parent_acl = [acl(perms::ALL, "ip", "127.0.0.1")];
    let child_acl = [acl(perms::ALL, "ip", "10.0.0.0/8")];
    h.create_acl("/p", &parent_acl, &me).unwrap();
    h.create_acl("/p/c", &child_acl, &me).unwrap();
    let a = h.req(
        op::DELETE,
        DeleteRequest {
            path: "/p/c".into(),
            version: -1,
        }
        .encode(),
    );
    assert_eq!(a.triggers[0].acl.as_slice(), child_acl);
    assert_eq!(a.triggers[1].acl.as_slice(), parent_acl);
}

#[test]
fn set_data_rules() {
    let mut h = H::new();
    h.create("/d", 0).unwrap();
    let me = h.auth.clone();
    h.create_acl("/ro", &[acl(perms::READ, "world", "anyone")], &me)
        .unwrap();
    assert_eq!(h.set_data("/d/", b"x", -1), Err(err::BAD_ARGUMENTS));
    assert_eq!(h.set_data("d", b"x", -1), Err(err::BAD_ARGUMENTS));
    assert_eq!(h.set_data("/nope", b"x", -1), Err(err::NO_NODE));
    // NoAuth before BadVersion.
    assert_eq!(h.set_data("/ro", b"x", 7), Err(err::NO_AUTH));
    assert_eq!(h.set_data("/d", b"x", 7), Err(err::BAD_VERSION));
    let created = h.stat("/d");
    let a = h.req(
        op::SET_DATA,
        SetDataRequest {
            path: "/d".into(),
            data: Some(Bytes::from_static(b"new!")),
            version: 0,
        }
        .encode(),
    );
    let s = decode_ok::<SetDataResponse>(&a).unwrap().stat;
    assert_eq!(events(&a), [("/d".into(), event::NODE_DATA_CHANGED)]);
    assert_eq!(dirty_nodes(&a), ["/d"]);
    assert_eq!(
        (s.version, s.mzxid, s.mtime, s.data_length),
        (1, h.zxid, h.now(), 4)
    );
    assert_eq!((s.czxid, s.ctime), (created.czxid, created.ctime));
    assert_eq!(h.node("/d").data.as_deref(), Some(&b"new!"[..]));
    // Java int arithmetic at the top (3.9 has no ZOOKEEPER-4743 skip of -1).
    h.tree.tamper_stat("/d", |s| s.version = i32::MAX);
    assert_eq!(h.set_data("/d", b"y", i32::MAX).unwrap().version, i32::MIN);
    // Null data.
    let a = h.req(
        op::SET_DATA,
        SetDataRequest {
            path: "/d".into(),
            data: None,
            version: -1,
        }
        .encode(),
    );
    assert_eq!(err_of(&a), 0);
    assert_eq!(h.node("/d").data, None);
    assert_consistent(&h.tree);
}

#[test]
fn set_acl_rules() {
    let mut h = H::new();
    let me = h.auth.clone();
    let bob = AuthId::new("digest", "bob:hash");
    // INVALID_ACL before NO_NODE.
    assert_eq!(h.set_acl_as("/nope", &[], -1, &me), err::INVALID_ACL);
    assert_eq!(h.set_acl_as("/nope", &open(), -1, &me), err::NO_NODE);
    assert_eq!(h.set_acl_as("/bad/", &[], -1, &me), err::BAD_ARGUMENTS);
    h.create_acl(
        "/n",
        &[acl(perms::ALL ^ perms::ADMIN, "world", "anyone")],
        &me,
    )
    .unwrap();
    assert_eq!(
        h.set_acl_as("/n", &open(), 5, &me),
        err::NO_AUTH,
        "NoAuth before BadVersion"
    );
    assert_eq!(
        h.set_acl_as("/n", &open(), -1, &[AuthId::new("super", "")]),
        0
    );
    assert_eq!(h.stat("/n").aversion, 1);
    assert_eq!(h.set_acl_as("/n", &open(), 0, &me), err::BAD_VERSION);
    let sid = h.sid;
    let a = h.req_as(
        sid,
        &[me[0].clone(), bob.clone()],
        op::SET_ACL,
        SetAclRequest {
            path: "/n".into(),
            acl: vec![acl(perms::ALL, "auth", "")],
            version: 1,
        }
        .encode(),
    );
    let s = decode_ok::<jute::SetAclResponse>(&a).unwrap().stat;
    assert_eq!(s.aversion, 2);
    assert!(a.triggers.is_empty(), "setACL fires nothing");
    assert_eq!(dirty_nodes(&a), ["/n"]);
    assert_eq!(
        h.node("/n").acl.as_slice(),
        [acl(perms::ALL, "digest", "bob:hash")]
    );
    // Now only bob (or super) may change it.
    assert_eq!(h.set_acl_as("/n", &open(), -1, &me), err::NO_AUTH);
    assert_eq!(h.set_acl_as("/n", &open(), -1, &[bob]), 0);
    // /zookeeper/config starts at aversion -1.
    assert_eq!(
        h.set_acl_as("/zookeeper/config", &open(), -1, &me),
        err::NO_AUTH
    );
    assert_eq!(
        h.set_acl_as(
            "/zookeeper/config",
            &open(),
            -1,
            &[AuthId::new("super", "")]
        ),
        0
    );
    assert_eq!(h.stat("/zookeeper/config").aversion, 0);
    assert_consistent(&h.tree);
}

#[test]
fn acl_schemes_at_apply() {
    let mut h = H::new();
    let alice = AuthId::new("digest", "alice:aaa");
    let local = ip("127.0.0.1");
    h.create_acl(
        "/dg",
        &[acl(perms::ALL, "digest", "alice:aaa")],
        std::slice::from_ref(&local),
    )
    .unwrap();
    assert_eq!(
        h.create_acl("/dg/x", &open(), std::slice::from_ref(&local)),
        Err(err::NO_AUTH)
    );
    assert_eq!(
        h.create_acl("/dg/x", &open(), &[local.clone(), alice.clone()]),
        Ok("/dg/x".into())
    );
    h.create_acl(
        "/net",
        &[acl(perms::CREATE, "ip", "10.1.0.0/16")],
        std::slice::from_ref(&local),
    )
    .unwrap();
    assert_eq!(
        h.create_acl("/net/x", &open(), &[ip("10.2.0.1")]),
        Err(err::NO_AUTH)
    );
    assert_eq!(
        h.create_acl("/net/x", &open(), &[ip("10.1.200.3")]),
        Ok("/net/x".into())
    );
    assert_eq!(
        h.create_acl("/net/y", &open(), &[AuthId::new("super", "")]),
        Ok("/net/y".into())
    );
    // auth with no authenticated id -> INVALID_ACL; with one -> expanded.
    assert_eq!(
        h.create_acl(
            "/au",
            &[acl(perms::ALL, "auth", "")],
            std::slice::from_ref(&local)
        ),
        Err(err::INVALID_ACL)
    );
    h.create_acl("/au", &[acl(perms::ALL, "auth", "")], &[local, alice])
        .unwrap();
    assert_eq!(
        h.node("/au").acl.as_slice(),
        [acl(perms::ALL, "digest", "alice:aaa")]
    );
}

#[test]
fn failed_writes_advance_zxid_and_bad_requests() {
    let mut h = H::new();
    let before = state(&h.tree);
    let a = h.req(op::CREATE, BytesMut::from(&b"\x00\x00"[..]));
    assert_eq!(err_of(&a), err::MARSHALLING_ERROR);
    let a = h.req(op::SET_DATA, BytesMut::from(&b"\xff\xff\xff\xf0"[..]));
    assert_eq!(err_of(&a), err::MARSHALLING_ERROR);
    let a = h.req(op::MULTI, BytesMut::from(&b"\x00\x00\x00\x01\x00"[..]));
    assert_eq!(err_of(&a), err::MARSHALLING_ERROR);
    for bad_op in [op::CHECK, op::GET_DATA, op::DELETE_CONTAINER, op::SYNC, 77] {
        assert_eq!(err_of(&h.req(bad_op, BytesMut::new())), err::UNIMPLEMENTED);
    }
    assert_eq!(h.delete("/missing", -1), err::NO_NODE);
    assert_eq!(h.tree.last_zxid(), h.zxid);
    assert_eq!(state(&h.tree), before);
    // A failed reply has an empty body.
    let a = h.req(op::CREATE, create_body("/x/y", None, &open(), 0));
    assert_eq!(
        a.reply,
        Reply::Response {
            err: err::NO_NODE,
            body: Bytes::new()
        }
    );
    assert!(a.triggers.is_empty() && a.dirty.is_empty());
}

#[test]
fn acl_lists_are_shared() {
    let mut h = H::new();
    h.create("/a", 0).unwrap();
    h.create("/b", 0).unwrap();
    assert!(Arc::ptr_eq(&h.node("/a").acl, &h.node("/b").acl));
    assert!(Arc::ptr_eq(&h.node("/a").acl, &h.node("/").acl));
    let me = h.auth.clone();
    let custom = [acl(perms::ALL, "ip", "1.2.3.4")];
    h.create_acl("/c", &custom, &me).unwrap();
    h.create_acl("/d", &custom, &me).unwrap();
    assert!(Arc::ptr_eq(&h.node("/c").acl, &h.node("/d").acl));
}

#[test]
fn a_path_is_only_found_under_its_own_spelling() {
    // `//a` splits into `/` and `a`, the parts of `/a`: it must not reach `/a`.
    let mut h = H::new();
    h.create("/a", 0).unwrap();
    h.create("/a/b", 0).unwrap();
    for odd in ["//a", "/a//b", "//a/b", "/a/b/"] {
        assert_eq!(h.delete(odd, -1), err::NO_NODE, "{odd}");
        assert!(h.tree.get(odd).is_none(), "{odd}");
    }
    assert!(h.tree.get("/a/b").is_some() && h.tree.get("/a").is_some());
    let paths: Vec<String> = ["/a", "//a", "/a/b"]
        .iter()
        .map(|p| p.to_string())
        .collect();
    let found: Vec<bool> = h
        .tree
        .get_sorted(&paths)
        .iter()
        .map(Option::is_some)
        .collect();
    assert_eq!(found, [true, false, true]);
    assert_consistent(&h.tree);
}
