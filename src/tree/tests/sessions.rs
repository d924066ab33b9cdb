//! Sessions, ephemerals, containers, TTL nodes and reaping.

use super::*;

#[test]
fn session_id_allocation() {
    let mut t = DataTree::new(TreeConfig::default());
    let txn = |time_ms| Txn {
        session_id: 0,
        cxid: 0,
        time_ms,
        auth: vec![],
        kind: TxnKind::CreateSession { timeout_ms: 4000 },
    };
    let a = t.apply(1, &txn(T0));
    let expected = (((T0 << 24) as u64) >> 8) as i64 | (1 << 56);
    assert_eq!(
        a.reply,
        Reply::SessionCreated {
            session_id: expected,
            timeout_ms: 4000
        }
    );
    assert_eq!(a.dirty, [Dirty::Session(expected)]);
    assert_eq!(t.next_session_id(), expected + 1);
    // The next one increments, whatever the time says.
    let b = t.apply(2, &txn(T0 + 5000));
    assert!(
        matches!(b.reply, Reply::SessionCreated { session_id, .. } if session_id == expected + 1)
    );
    assert_eq!(t.session(expected), Some(&SessionInfo { timeout_ms: 4000 }));
    assert_eq!(
        t.sessions().map(|(id, _)| id).collect::<Vec<_>>(),
        [expected, expected + 1]
    );
    assert_eq!(t.last_zxid(), 2);

    // Never a 0xFF top byte (TTL encoding) nor a used id.
    let mut t = DataTree::from_parts(
        TreeConfig::default(),
        std::iter::empty(),
        [(5i64, SessionInfo { timeout_ms: 1 })].into_iter(),
        0,
        0xFF00_0000_0000_0000u64 as i64,
    );
    let Reply::SessionCreated { session_id, .. } = t.apply(1, &txn(T0)).reply else {
        panic!()
    };
    assert_eq!(session_id, 1 << 56);
    let mut t = DataTree::from_parts(
        TreeConfig::default(),
        std::iter::empty(),
        [(5i64, SessionInfo { timeout_ms: 1 })].into_iter(),
        0,
        5,
    );
    let Reply::SessionCreated { session_id, .. } = t.apply(1, &txn(T0)).reply else {
        panic!()
    };
    assert_eq!(session_id, 6);
}

#[test]
fn writes_need_a_live_session() {
    let mut h = H::new();
    let me = h.auth.clone();
    let a = h.req_as(12345, &me, op::CREATE, create_body("/x", None, &open(), 0));
    assert_eq!(err_of(&a), err::SESSION_EXPIRED);
    // Internal (session 0) writes pass, except ephemeral creates.
    let a = h.req_as(0, &me, op::CREATE, create_body("/x", None, &open(), 0));
    assert_eq!(err_of(&a), 0);
    let a = h.req_as(0, &me, op::CREATE, create_body("/y", None, &open(), 1));
    assert_eq!(err_of(&a), err::SESSION_EXPIRED);
    // After close, the session's writes fail.
    let s2 = h.new_session();
    h.apply_as(s2, &me, TxnKind::CloseSession);
    let a = h.req_as(
        s2,
        &me,
        op::SET_DATA,
        SetDataRequest {
            path: "/x".into(),
            data: None,
            version: -1,
        }
        .encode(),
    );
    assert_eq!(err_of(&a), err::SESSION_EXPIRED);
}

#[test]
fn ephemerals_and_close_session() {
    let mut h = H::new();
    let me = h.auth.clone();
    let other = h.new_session();
    h.create("/app", 0).unwrap();
    h.create("/app/b", 1).unwrap();
    h.create("/app/a", 3).unwrap(); // /app/a0000000001
    h.create("/z", 1).unwrap();
    h.req_as(
        other,
        &me,
        op::CREATE,
        create_body("/app/other", None, &open(), 1),
    );
    assert_eq!(h.stat("/app/b").ephemeral_owner, h.sid);
    assert_eq!(
        h.tree.ephemerals(h.sid),
        ["/app/a0000000001", "/app/b", "/z"]
    );
    assert_eq!(h.tree.ephemeral_count(), 4);
    // Deleting an ephemeral removes it from its owner's set.
    assert_eq!(h.delete("/z", -1), 0);
    assert_eq!(h.tree.ephemerals(h.sid), ["/app/a0000000001", "/app/b"]);

    let sid = h.sid;
    let a = h.apply(TxnKind::CloseSession);
    assert_eq!(a.reply, Reply::SessionClosed);
    assert_eq!(a.closed_session, Some(sid));
    assert_eq!(
        events(&a),
        [
            ("/app/a0000000001".into(), event::NODE_DELETED),
            ("/app".into(), event::NODE_CHILDREN_CHANGED),
            ("/app/b".into(), event::NODE_DELETED),
            ("/app".into(), event::NODE_CHILDREN_CHANGED),
        ]
    );
    assert_eq!(
        a.dirty,
        [
            Dirty::Node("/app/a0000000001".into()),
            Dirty::Node("/app".into()),
            Dirty::Node("/app/b".into()),
            Dirty::Session(sid),
        ]
    );
    assert!(h.tree.session(sid).is_none());
    assert!(h.tree.ephemerals(sid).is_empty());
    assert_eq!(h.children("/app"), ["other"]);
    assert_eq!(h.stat("/app").pzxid, h.zxid);
    assert_eq!(h.tree.ephemeral_count(), 1);

    // Closing an unknown session: SessionClosed and nothing else.
    let a = h.apply_as(777, &[], TxnKind::CloseSession);
    assert_eq!(a.reply, Reply::SessionClosed);
    assert_eq!(
        (a.closed_session, a.triggers.len(), a.dirty.len()),
        (None, 0, 0)
    );
    assert_consistent(&h.tree);
}

#[test]
fn containers_reaped_only_after_use() {
    let mut h = H::new();
    let a = h.req(op::CREATE_CONTAINER, create_body("/c", None, &open(), 4));
    assert_eq!(err_of(&a), 0);
    h.req(
        op::CREATE_CONTAINER,
        create_body("/unused", None, &open(), 4),
    );
    let far = h.now() + 1_000_000_000;
    assert!(
        h.tree.reap_candidates(far).is_empty(),
        "never-used containers stay"
    );
    h.create("/c/child", 0).unwrap();
    assert!(h.tree.reap_candidates(far).is_empty(), "has a child");
    assert_eq!(h.delete("/c/child", -1), 0);
    assert_eq!(h.tree.reap_candidates(h.now()), ["/c"]);
    // Reap only deletes what still qualifies at apply time.
    h.create("/c/again", 0).unwrap();
    let a = h.apply_as(
        0,
        &[],
        TxnKind::Reap {
            paths: vec!["/c".into(), "/unused".into(), "/missing".into(), "/".into()],
        },
    );
    assert_eq!(a.reply, Reply::Reaped);
    assert!(a.triggers.is_empty() && a.dirty.is_empty());
    assert!(h.tree.get("/c").is_some() && h.tree.get("/unused").is_some());
    assert_eq!(h.delete("/c/again", -1), 0);
    let a = h.apply_as(
        0,
        &[],
        TxnKind::Reap {
            paths: h.tree.reap_candidates(h.now()),
        },
    );
    assert_eq!(
        events(&a),
        [
            ("/c".into(), event::NODE_DELETED),
            ("/".into(), event::NODE_CHILDREN_CHANGED)
        ]
    );
    assert_eq!(dirty_nodes(&a), ["/c", "/"]);
    assert!(h.tree.get("/c").is_none());
    assert_eq!(h.stat("/").pzxid, h.zxid);
    assert_consistent(&h.tree);
}

#[test]
fn ttl_nodes_reaped_after_expiry() {
    let mut h = H::new();
    let a = h.req(op::CREATE_TTL, create_ttl_body("/t", 5, 1000));
    assert_eq!(err_of(&a), 0);
    let created = h.now();
    h.req(op::CREATE_TTL, create_ttl_body("/tp", 5, 1000));
    h.create("/tp/child", 0).unwrap();
    assert_eq!(h.node("/t").kind(), NodeKind::Ttl(1000));
    assert!(
        h.tree.reap_candidates(created + 1000).is_empty(),
        "exactly ttl: not yet"
    );
    assert_eq!(
        h.tree.reap_candidates(created + 1001),
        ["/t"],
        "a TTL node with children stays"
    );
    // setData refreshes mtime.
    h.zxid += 500;
    h.set_data("/t", b"x", -1).unwrap();
    let touched = h.now();
    assert!(h.tree.reap_candidates(created + 1001).is_empty());
    // A Reap applied with a time before expiry skips the node.
    h.zxid = touched - T0 + 10 - 1; // next apply runs at touched + 10
    let a = h.apply_as(
        0,
        &[],
        TxnKind::Reap {
            paths: vec!["/t".into()],
        },
    );
    assert!(a.triggers.is_empty());
    h.zxid += 1000;
    let a = h.apply_as(
        0,
        &[],
        TxnKind::Reap {
            paths: vec!["/t".into(), "/tp".into()],
        },
    );
    assert_eq!(
        events(&a),
        [
            ("/t".into(), event::NODE_DELETED),
            ("/".into(), event::NODE_CHILDREN_CHANGED)
        ]
    );
    assert!(h.tree.get("/t").is_none() && h.tree.get("/tp").is_some());
    assert_consistent(&h.tree);
}

#[test]
fn reap_candidates_sorted_and_merged() {
    let mut h = H::new();
    for p in ["/c2", "/c1"] {
        h.req(op::CREATE_CONTAINER, create_body(p, None, &open(), 4));
        h.create(&format!("{p}/x"), 0).unwrap();
        assert_eq!(h.delete(&format!("{p}/x"), -1), 0);
    }
    h.req(op::CREATE_TTL, create_ttl_body("/c15", 5, 1));
    assert_eq!(h.tree.reap_candidates(h.now() + 2), ["/c1", "/c15", "/c2"]);
}
