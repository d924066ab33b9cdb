//! Reads, getACL masking, persistence hooks.

use jute::{GetChildrenRequest, GetDataRequest, MultiResult};

use super::*;

#[test]
fn exists_get_data_children() {
    let mut h = H::new();
    let me = h.auth.clone();
    h.create("/r", 0).unwrap();
    for c in ["b", "a", "c"] {
        h.create(&format!("/r/{c}"), 0).unwrap();
    }
    h.req(op::CREATE, create_body("/empty", Some(b""), &open(), 0));
    h.req(op::CREATE, create_body("/null", None, &open(), 0));
    h.create_acl("/wo", &[acl(perms::WRITE, "world", "anyone")], &me)
        .unwrap();
    let t = &h.tree;

    assert_eq!(t.exists("/r", &me).unwrap().stat, h.stat("/r"));
    assert_eq!(t.exists("/nope", &me), Err(err::NO_NODE));
    assert_eq!(t.exists("/nope\0", &me), Err(err::BAD_ARGUMENTS));
    assert_eq!(
        t.exists("/wo", &me),
        Err(err::NO_AUTH),
        "exists needs READ on an existing node"
    );
    assert_eq!(
        t.exists("/wo", &[AuthId::new("super", "")]).unwrap().stat,
        h.stat("/wo")
    );
    assert_eq!(t.exists("bad path", &me), Err(err::NO_NODE));

    let d = t.get_data("/r", &me).unwrap();
    assert_eq!(d.data.as_deref(), Some(&b"d"[..]));
    assert_eq!(d.stat.num_children, 3);
    assert_eq!(t.get_data("/empty", &me).unwrap().data, Some(Bytes::new()));
    assert_eq!(t.get_data("/null", &me).unwrap().data, None);
    assert_eq!(t.get_data("/wo", &me), Err(err::NO_AUTH));
    assert_eq!(t.get_data("/x", &me), Err(err::NO_NODE));
    assert_eq!(
        t.get_data("", &me).unwrap().stat,
        h.stat("/"),
        "\"\" is the root"
    );

    assert_eq!(t.get_children("/r", &me).unwrap().children, ["a", "b", "c"]);
    assert_eq!(t.get_children("/wo", &me), Err(err::NO_AUTH));
    assert_eq!(t.get_children("/x", &me), Err(err::NO_NODE));
    let c2 = t.get_children2("/r", &me).unwrap();
    assert_eq!((c2.children.len(), c2.stat), (3, h.stat("/r")));

    assert_eq!(
        t.get_all_children_number("/r", &me).unwrap().total_number,
        3
    );
    let all = t.node_count() as i32;
    assert_eq!(
        t.get_all_children_number("/", &me).unwrap().total_number,
        all - 1
    );
    assert_eq!(
        t.get_all_children_number("/zookeeper", &me)
            .unwrap()
            .total_number,
        2
    );
    assert_eq!(
        t.get_all_children_number("/r/a", &me).unwrap().total_number,
        0
    );
    assert_eq!(t.get_all_children_number("/wo", &me), Err(err::NO_AUTH));
    assert_eq!(t.check_version("/r", 0, &me), Ok(()));
    assert_eq!(t.check_version("/r", 1, &me), Err(err::BAD_VERSION));
    assert_eq!(t.check_version("/wo", -1, &me), Err(err::NO_AUTH));
}

#[test]
fn get_acl_masks_digest_without_admin() {
    let mut h = H::new();
    let me = h.auth.clone();
    let list = [
        acl(perms::READ, "world", "anyone"),
        acl(perms::ALL, "digest", "bob:secrethash="),
        acl(perms::READ, "ip", "10.0.0.0/8"),
    ];
    h.create_acl("/g", &list, &me).unwrap();
    let masked = h.tree.get_acl("/g", &me).unwrap();
    assert_eq!(masked.acl[1].id.id, "bob:x");
    assert_eq!(masked.acl[0], list[0]);
    assert_eq!(masked.acl[2], list[2]);
    assert_eq!(masked.stat, h.stat("/g"));
    let bob = [AuthId::new("digest", "bob:secrethash=")];
    assert_eq!(h.tree.get_acl("/g", &bob).unwrap().acl, list);
    assert_eq!(
        h.tree
            .get_acl("/g", &[AuthId::new("super", "")])
            .unwrap()
            .acl,
        list
    );
    // ADMIN alone is enough to read the ACL.
    h.create_acl("/adm", &[acl(perms::ADMIN, "ip", "127.0.0.1")], &me)
        .unwrap();
    assert!(h.tree.get_acl("/adm", &me).is_ok());
    h.create_acl("/none", &[acl(perms::WRITE, "world", "anyone")], &me)
        .unwrap();
    assert_eq!(h.tree.get_acl("/none", &me), Err(err::NO_AUTH));
    assert_eq!(h.tree.get_acl("/x", &me), Err(err::NO_NODE));
    assert_eq!(
        h.tree.get_acl("/zookeeper/config", &me).unwrap().acl,
        [acl(perms::READ, "world", "anyone")]
    );
}

#[test]
fn get_ephemerals_prefix() {
    let mut h = H::new();
    h.create("/a", 0).unwrap();
    h.create("/a/e1", 1).unwrap();
    h.create("/b", 1).unwrap();
    let sid = h.sid;
    let all = ["/a/e1".to_string(), "/b".to_string()];
    for p in [None, Some(""), Some("  "), Some("/"), Some(" / ")] {
        assert_eq!(
            h.tree.get_ephemerals(sid, p).unwrap().ephemerals,
            all,
            "{p:?}"
        );
    }
    assert_eq!(
        h.tree.get_ephemerals(sid, Some("/a")).unwrap().ephemerals,
        ["/a/e1"]
    );
    assert!(h
        .tree
        .get_ephemerals(sid, Some("/c"))
        .unwrap()
        .ephemerals
        .is_empty());
    assert!(h
        .tree
        .get_ephemerals(12, None)
        .unwrap()
        .ephemerals
        .is_empty());
}

#[test]
fn multi_read_independent_ops() {
    let mut h = H::new();
    let me = h.auth.clone();
    h.create("/m", 0).unwrap();
    let gd = |p: &str| {
        MultiOp::GetData(GetDataRequest {
            path: p.into(),
            watch: true,
        })
    };
    let gc = |p: &str| {
        MultiOp::GetChildren(GetChildrenRequest {
            path: p.into(),
            watch: false,
        })
    };
    let r = h
        .tree
        .multi_read(
            &MultiRequest {
                ops: vec![gd("/m"), gd("/missing"), gc("/")],
            },
            &me,
        )
        .unwrap();
    assert!(
        matches!(&r.results[0], MultiResult::GetData(d) if d.data.as_deref() == Some(&b"d"[..]))
    );
    assert_eq!(r.results[1], MultiResult::Error(err::NO_NODE));
    assert!(
        matches!(&r.results[2], MultiResult::GetChildren(c) if c.children == ["m", "zookeeper"])
    );
    let mixed = MultiRequest {
        ops: vec![
            gd("/m"),
            MultiOp::Delete(DeleteRequest {
                path: "/m".into(),
                version: -1,
            }),
        ],
    };
    assert_eq!(h.tree.multi_read(&mixed, &me), Err(err::MARSHALLING_ERROR));
}

#[test]
fn from_parts_rebuilds_children_and_indexes() {
    let mut h = H::new();
    let me = h.auth.clone();
    h.create("/a", 0).unwrap();
    h.create("/a/b", 0).unwrap();
    h.create("/a/b/c", 1).unwrap();
    h.create("/a/s", 2).unwrap();
    h.req(op::CREATE_CONTAINER, create_body("/cont", None, &open(), 4));
    h.req(op::CREATE_TTL, create_ttl_body("/ttl", 5, 10));
    h.create_acl("/acl1", &[acl(1, "ip", "1.1.1.1")], &me)
        .unwrap();
    h.create_acl("/acl2", &[acl(1, "ip", "1.1.1.1")], &me)
        .unwrap();
    // Persist through encode/decode (children are not encoded).
    let parts: Vec<(String, Vec<u8>)> = h
        .tree
        .iter_nodes()
        .map(|(p, n)| (p.to_string(), n.encode().to_vec()))
        .collect();
    let order: Vec<&str> = parts.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        order,
        [
            "/",
            "/a",
            "/a/b",
            "/a/b/c",
            "/a/s0000000001",
            "/acl1",
            "/acl2",
            "/cont",
            "/ttl",
            "/zookeeper",
            "/zookeeper/config",
            "/zookeeper/quota"
        ]
    );
    let mut nodes: Vec<(String, Znode)> = parts
        .iter()
        .map(|(p, b)| (p.clone(), Znode::decode(b).unwrap()))
        .collect();
    assert!(nodes.iter().all(|(_, n)| n.children.is_empty()));
    let sessions: Vec<(i64, SessionInfo)> =
        h.tree.sessions().map(|(k, v)| (k, v.clone())).collect();
    // Storage's byte order, and that order with the root last (the system nodes are
    // then made first and replaced when read).
    let mut root_last = nodes.clone();
    root_last.rotate_left(1);
    for given in [nodes.clone(), root_last] {
        let rebuilt = DataTree::from_parts(
            h.tree.config().clone(),
            given.into_iter(),
            sessions.clone().into_iter(),
            h.tree.last_zxid(),
            h.tree.next_session_id(),
        );
        assert_eq!(state(&rebuilt), state(&h.tree));
    }
    nodes.reverse(); // order must not matter
    nodes.push(("/orphan/x".into(), nodes[0].1.clone()));
    let rebuilt = DataTree::from_parts(
        h.tree.config().clone(),
        nodes.into_iter(),
        sessions.into_iter(),
        h.tree.last_zxid(),
        h.tree.next_session_id(),
    );
    assert_eq!(state(&rebuilt), state(&h.tree));
    assert_eq!(rebuilt.last_zxid(), h.tree.last_zxid());
    assert!(rebuilt.get("/orphan/x").is_none());
    assert!(Arc::ptr_eq(
        &rebuilt.get("/acl1").unwrap().acl,
        &rebuilt.get("/acl2").unwrap().acl
    ));
    assert_eq!(rebuilt.ephemerals(h.sid), ["/a/b/c"]);
    // Missing system nodes are restored.
    let bare = DataTree::from_parts(
        TreeConfig::default(),
        std::iter::empty(),
        std::iter::empty(),
        0,
        0,
    );
    assert_eq!(state(&bare), state(&DataTree::new(TreeConfig::default())));
}

#[test]
fn get_sorted_finds_what_get_finds() {
    let mut h = H::new();
    for p in ["/a", "/a/b", "/a/c", "/a/c/d", "/b"] {
        h.create(p, 0).unwrap();
    }
    let mut paths: Vec<String> = [
        "/",
        "/a",
        "/a/b",
        "/a/c",
        "/a/c/d",
        "/a/x",
        "/b",
        "/b/y",
        "/c/z",
        "/zookeeper",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    paths.sort_unstable();
    let one_by_one: Vec<Option<&Znode>> = paths.iter().map(|p| h.tree.get(p)).collect();
    assert_eq!(h.tree.get_sorted(&paths), one_by_one);
    assert_eq!(one_by_one.iter().filter(|n| n.is_some()).count(), 7);
}
