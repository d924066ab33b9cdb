//! ZooKeeper's tree digest: the same numbers as Java's `DigestCalculator` (the values
//! below were computed with `java.util.zip.CRC32` and ZooKeeper's field order), kept
//! current through every change and rollback (`assert_consistent` recomputes it).

use super::*;

#[test]
fn a_fresh_tree_has_zookeepers_digest() {
    // "/" (as "") and "/zookeeper"; the nodes below /zookeeper/ count 0.
    assert_eq!(H::new().tree.digest(), 68_323_592 + 1_303_661_912);
    let off = TreeConfig {
        digest_enabled: false,
        ..TreeConfig::default()
    };
    assert_eq!(DataTree::new(off).digest(), 0, "digest.enabled=false");
}

#[test]
fn a_node_digest_matches_javas() {
    let stat = StatPersisted {
        czxid: 5,
        mzxid: 7,
        pzxid: 6,
        ctime: 1_700_000_000_123,
        mtime: 1_700_000_000_456,
        version: 2,
        cversion: 3,
        aversion: 1,
        ephemeral_owner: 0x1234_5678_90ab_cdef,
    };
    let node = Znode::new(Some(Data::from(&b"hello"[..])), Arc::new(open()), stat);
    assert_eq!(
        zk_node_digest("/app/x", node.data.as_deref(), &node.stat),
        2_356_822_615
    );
    let stat = StatPersisted {
        czxid: -1,
        mzxid: 2,
        pzxid: 3,
        ctime: 4,
        mtime: 5,
        version: -6,
        cversion: 7,
        aversion: 8,
        ephemeral_owner: i64::MIN,
    };
    let node = Znode::new(None, Arc::new(open()), stat);
    assert_eq!(
        zk_node_digest("/ünï", node.data.as_deref(), &node.stat),
        2_956_886_498
    );
    assert_eq!(
        zk_node_digest("/zookeeper/quota/x", node.data.as_deref(), &node.stat),
        0
    );
}

#[test]
fn the_digest_follows_writes_and_rollbacks() {
    let mut h = H::new();
    let fresh = h.tree.digest();
    h.create("/a", 0).unwrap();
    h.create("/a/b", 1).unwrap();
    let after_creates = h.tree.digest();
    assert_ne!(after_creates, fresh);
    h.set_data("/a", b"changed", -1).unwrap();
    assert_consistent(&h.tree);
    // A failed multi leaves the digest as it was.
    let before = h.tree.digest();
    let a = h.multi(vec![
        MultiOp::SetData(SetDataRequest {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"x")),
            version: -1,
        }),
        MultiOp::Delete(DeleteRequest {
            path: "/nope".into(),
            version: -1,
        }),
    ]);
    assert_eq!(err_of(&a), err::OK);
    assert_eq!(h.tree.digest(), before);
    // Quota usage is rewritten below /zookeeper/: it never moves the digest.
    let body = create_body("/zookeeper/quota/a", None, &open(), 0);
    h.req(op::CREATE, body);
    let before = h.tree.digest();
    h.req(
        op::CREATE,
        create_body(
            "/zookeeper/quota/a/zookeeper_limits",
            Some(b"count=9"),
            &open(),
            0,
        ),
    );
    h.req(
        op::CREATE,
        create_body(
            "/zookeeper/quota/a/zookeeper_stats",
            Some(b"count=0,bytes=0"),
            &open(),
            0,
        ),
    );
    assert_eq!(h.tree.digest(), before);
    // Closing the session removes its ephemeral and its share.
    h.apply(TxnKind::CloseSession);
    assert!(h.tree.get("/a/b").is_none());
    assert_consistent(&h.tree);
}

#[test]
fn every_128th_zxid_is_noted() {
    let mut h = H::new();
    while h.zxid < 300 {
        h.set_data("/", b"r", -1).unwrap();
    }
    let history: Vec<(i64, i64)> = h.tree.digest_history().collect();
    assert_eq!(history.iter().map(|e| e.0).collect::<Vec<_>>(), [128, 256]);
}

#[test]
fn a_digest_check_compares_this_trees_digest_at_the_leaders_zxid() {
    // Two trees through the same txns up to zxid 128, an entry of the digest history.
    let run = |h: &mut H, data: &[u8]| {
        h.create("/a", 0).unwrap();
        while h.zxid < 128 {
            h.set_data("/a", data, -1).unwrap();
        }
    };
    let (mut leader, mut member, mut diverged) = (H::new(), H::new(), H::new());
    run(&mut leader, b"v");
    run(&mut member, b"v");
    run(&mut diverged, b"other");
    let (zxid, digest) = leader.tree.digest_history().last().unwrap();
    assert_eq!(zxid, 128);
    let check = |zxid, digest| TxnKind::DigestCheck { zxid, digest };
    let a = member.apply(check(zxid, digest));
    assert_eq!(a.reply, Reply::DigestChecked(DigestCheck::Matched));
    assert!(
        a.dirty.is_empty() && a.triggers.is_empty(),
        "a check changes nothing"
    );
    // A member whose tree differs at that zxid says so, with both values.
    let (_, mine) = diverged.tree.digest_history().last().unwrap();
    let a = diverged.apply(check(zxid, digest));
    assert_eq!(
        a.reply,
        Reply::DigestChecked(DigestCheck::Mismatched {
            zxid,
            leader: digest,
            mine
        })
    );
    // A zxid this tree has no entry for.
    let a = member.apply(check(zxid + 1, digest));
    assert_eq!(a.reply, Reply::DigestChecked(DigestCheck::Unknown));
    let mut off = H::with(TreeConfig {
        digest_enabled: false,
        ..TreeConfig::default()
    });
    run(&mut off, b"v");
    let a = off.apply(check(zxid, digest));
    assert_eq!(a.reply, Reply::DigestChecked(DigestCheck::Unknown));
}
