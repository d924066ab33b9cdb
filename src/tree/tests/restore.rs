//! Replacing the whole tree with a restore txn.

use super::*;
use jute::create_flags;

/// The image of `h`'s tree as a restore txn carries it.
fn image(h: &H) -> TxnKind {
    let mut nodes: Vec<(String, Bytes)> = h
        .tree
        .iter_nodes()
        .map(|(p, n)| {
            let copy = n.without_children();
            (p, copy.encode().freeze())
        })
        .collect();
    nodes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    TxnKind::Restore {
        last_zxid: h.zxid,
        sessions: h
            .tree
            .sessions()
            .map(|(id, s)| (id, s.timeout_ms))
            .collect(),
        nodes,
    }
}

#[test]
fn restore_replaces_nodes_and_sessions_and_keeps_the_config_node() {
    let mut source = H::new();
    source.create("/a", 0).unwrap();
    source.create("/a/eph", create_flags::EPHEMERAL).unwrap();
    source.set_data("/a", b"snap", -1).unwrap();
    let restored = image(&source);

    let mut h = H::new();
    h.create("/old", 0).unwrap();
    h.create("/a", 0).unwrap();
    h.set_data("/a", b"live", -1).unwrap();
    let config_before = h.node(CONFIG_PATH).stat.clone();
    let a = h.apply(restored);
    assert_eq!(a.reply, Reply::Restored);
    assert_eq!(h.tree.last_zxid(), h.zxid);
    assert!(h.tree.get("/old").is_none());
    assert_eq!(h.node("/a").data.as_deref(), Some(&b"snap"[..]));
    assert_eq!(h.node(CONFIG_PATH).stat, config_before);
    // The checkpoint rewrites both trees' nodes: /old is deleted there.
    assert!(a.dirty.contains(&Dirty::Node("/old".into())));
    assert!(a.dirty.contains(&Dirty::Node("/a/eph".into())));
    // The restored session owns its ephemeral: closing it deletes the node.
    assert_eq!(h.tree.ephemerals(source.sid), vec!["/a/eph".to_string()]);
    let closed = h.apply_as(source.sid, &[], TxnKind::CloseSession);
    assert_eq!(closed.closed_session, Some(source.sid));
    assert!(h.tree.get("/a/eph").is_none());
    // The digest is the restored tree's, kept from then on.
    let mut again = H::new();
    again.apply(image(&h));
    assert_eq!(again.tree.digest(), h.tree.digest());
}

#[test]
fn a_restore_with_an_undecodable_node_changes_nothing() {
    let mut h = H::new();
    h.create("/keep", 0).unwrap();
    let a = h.apply(TxnKind::Restore {
        last_zxid: 1,
        sessions: Vec::new(),
        nodes: vec![
            ("/".into(), Bytes::new()),
            ("/x".into(), Bytes::from_static(b"\xff")),
        ],
    });
    assert_eq!(
        a.reply,
        Reply::Response {
            err: err::MARSHALLING_ERROR,
            body: Bytes::new()
        }
    );
    assert!(a.dirty.is_empty());
    assert!(h.tree.get("/keep").is_some());
}
