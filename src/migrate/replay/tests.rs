//! Replay follows ZooKeeper's restore rules (see the module doc).

use super::*;
use crate::migrate::test_acls::digest_acl;
use crate::migrate::zk_snapshot::{SnapNode, ZkSnapshot};
use jute::{
    op, CloseSessionTxn, CreateContainerTxn, CreateTtlTxn, CreateTxn, DeleteTxn, ErrorTxn,
    SetAclTxn, SetDataTxn, TxnHeader,
};

const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;

fn world(perms: i32) -> Vec<Acl> {
    vec![Acl {
        perms,
        id: jute::ids::anyone(),
    }]
}

fn logged(zxid: i64, ty: i32, client: i64, txn: ZkTxn) -> LoggedTxn {
    LoggedTxn {
        offset: 0,
        header: TxnHeader {
            client_id: client,
            cxid: 0,
            zxid,
            time: 1000 + zxid,
            txn_type: ty,
        },
        txn,
        digest: None,
    }
}

fn create(path: &str, eph: bool, cv: i32) -> ZkTxn {
    ZkTxn::Create(CreateTxn {
        path: path.into(),
        data: Some(Bytes::from_static(b"x")),
        acl: world(31),
        ephemeral: eph,
        parent_c_version: cv,
    })
}

fn tree() -> ZkTree {
    ZkTree::initial(SourceConfig {
        extended_types: true,
        emulate_353_ttl: false,
    })
}

#[test]
fn create_delete_set_follow_the_log() {
    let mut t = tree();
    t.apply(&logged(1, op::CREATE, S1, create("/a", false, 1)));
    t.apply(&logged(2, op::CREATE, S1, create("/a/b", false, 1)));
    t.apply(&logged(3, op::CREATE, S1, create("/a/c", false, 2)));
    // An older parentCVersion never lowers the stored one.
    t.apply(&logged(4, op::CREATE, S1, create("/a/d", false, 1)));
    let a = t.get("/a").unwrap();
    assert_eq!((a.stat.cversion, a.stat.pzxid), (2, 3));
    assert_eq!(a.children.len(), 3);
    t.apply(&logged(
        5,
        op::SET_DATA,
        S1,
        ZkTxn::SetData(SetDataTxn {
            path: "/a/b".into(),
            data: None,
            version: 7,
        }),
    ));
    let b = t.get("/a/b").unwrap();
    assert_eq!((b.stat.version, b.stat.mzxid, b.stat.mtime), (7, 5, 1005));
    assert_eq!(
        (b.stat.czxid, b.stat.ctime, b.data.clone()),
        (2, 1002, None)
    );
    t.apply(&logged(
        6,
        op::DELETE,
        S1,
        ZkTxn::Delete(DeleteTxn {
            path: "/a/c".into(),
        }),
    ));
    let a = t.get("/a").unwrap();
    assert_eq!((a.stat.cversion, a.stat.pzxid, a.children.len()), (2, 6, 2));
    // -1 = "stored cversion + 1" (CreateTxnV0).
    t.apply(&logged(7, op::CREATE, S1, create("/a/e", false, -1)));
    assert_eq!(t.get("/a").unwrap().stat.cversion, 3);
    assert_eq!(t.last_zxid, 7);
    assert_eq!(t.stats.tolerated, 0);
}

#[test]
fn fuzzy_snapshot_replays_are_tolerated() {
    let mut t = tree();
    t.apply(&logged(1, op::CREATE, S1, create("/a", false, 1)));
    t.apply(&logged(2, op::CREATE, S1, create("/a/b", false, 1)));
    // The snapshot already had /a/b, and a later create bumped the parent further: the
    // replayed create of an existing node still moves cversion/pzxid up (create only).
    t.apply(&logged(3, op::CREATE, S1, create("/a/b", false, 5)));
    let a = t.get("/a").unwrap();
    assert_eq!((a.stat.cversion, a.stat.pzxid), (5, 3));
    t.apply(&logged(4, op::CREATE2, S1, create("/a/b", false, 9)));
    assert_eq!(t.get("/a").unwrap().stat.cversion, 5);
    // Deleting a node that is already gone still updates the parent's pzxid.
    t.apply(&logged(
        5,
        op::DELETE,
        S1,
        ZkTxn::Delete(DeleteTxn {
            path: "/a/zz".into(),
        }),
    ));
    assert_eq!(t.get("/a").unwrap().stat.pzxid, 5);
    t.apply(&logged(
        6,
        op::SET_DATA,
        S1,
        ZkTxn::SetData(SetDataTxn {
            path: "/nope".into(),
            data: None,
            version: 1,
        }),
    ));
    assert_eq!(t.stats.tolerated, 4);
    assert_eq!(t.stats.last_tolerated_zxid, Some(6));
}

#[test]
fn sessions_and_ephemerals() {
    let mut t = tree();
    t.apply(&logged(
        1,
        op::CREATE_SESSION,
        S1,
        ZkTxn::CreateSession { timeout: 30000 },
    ));
    t.apply(&logged(
        2,
        op::CREATE_SESSION,
        S2,
        ZkTxn::CreateSession { timeout: 4000 },
    ));
    t.apply(&logged(3, op::CREATE, S1, create("/e1", true, 1)));
    t.apply(&logged(4, op::CREATE, S1, create("/e2", true, 2)));
    t.apply(&logged(5, op::CREATE, S2, create("/e3", true, 3)));
    assert_eq!(t.get("/e1").unwrap().stat.ephemeral_owner, S1);
    // The txn names /e1 only; /e2 is found locally, as ZooKeeper does.
    t.apply(&logged(
        6,
        op::CLOSE_SESSION,
        S1,
        ZkTxn::CloseSession {
            paths: Some(vec!["/e1".into()]),
        },
    ));
    assert!(t.get("/e1").is_none() && t.get("/e2").is_none());
    assert_eq!(t.get("/").unwrap().stat.pzxid, 6);
    assert_eq!(t.sessions.get(&S2), Some(&4000));
    assert!(!t.sessions.contains_key(&S1));
    // An ephemeral whose session is not in the table is dropped as on ZooKeeper's start.
    t.sessions.remove(&S2);
    t.apply(&logged(7, op::CREATE, S1, create("/p", false, 5)));
    assert_eq!(t.orphan_owners(), vec![(S2, 1)]);
    assert_eq!(t.drop_orphan_ephemerals(), 1);
    assert!(t.get("/e3").is_none());
    assert_eq!(t.get("/").unwrap().stat.pzxid, 7);
}

#[test]
fn multi_all_or_nothing() {
    let mut t = tree();
    let ok = ZkTxn::Multi(vec![
        (op::CREATE, Ok(create("/m", false, 1))),
        (op::CREATE, Ok(create("/m/1", false, 1))),
        (
            op::SET_DATA,
            Ok(ZkTxn::SetData(SetDataTxn {
                path: "/m".into(),
                data: Some(Bytes::from_static(b"y")),
                version: 1,
            })),
        ),
    ]);
    t.apply(&logged(1, op::MULTI, S1, ok));
    let m = t.get("/m").unwrap();
    assert_eq!((m.stat.version, m.stat.mzxid, m.children.len()), (1, 1, 1));
    let failed = ZkTxn::Multi(vec![
        (op::ERROR, Ok(ZkTxn::Error(ErrorTxn { err: 0 }))),
        (op::ERROR, Ok(ZkTxn::Error(ErrorTxn { err: -110 }))),
        (op::CREATE, Ok(create("/never", false, 2))),
    ]);
    t.apply(&logged(2, op::MULTI, S1, failed));
    assert!(t.get("/never").is_none());
    assert_eq!(t.last_zxid, 2);
    // An undecodable sub-txn stops the multi where ZooKeeper stops.
    let partial = ZkTxn::Multi(vec![
        (op::CREATE, Ok(create("/p1", false, 3))),
        (op::SET_ACL, Err("not allowed in a multi".into())),
        (op::CREATE, Ok(create("/p2", false, 4))),
    ]);
    t.apply(&logged(3, op::MULTI, S1, partial));
    assert!(t.get("/p1").is_some() && t.get("/p2").is_none());
    assert_eq!(t.stats.anomalies.len(), 1);
}

#[test]
fn acl_references_resolve_like_zookeeper() {
    let snap = ZkSnapshot {
        zxid: 10,
        sessions: vec![(S1, 30000)],
        acls: vec![(1, world(1)), (4, digest_acl())],
        nodes: vec![
            SnapNode {
                path: "/".into(),
                data: Some(Bytes::new()),
                acl_ref: -1,
                stat: StatPersisted::default(),
            },
            SnapNode {
                path: "/d".into(),
                data: None,
                acl_ref: 4,
                stat: StatPersisted::default(),
            },
            // Created after the ACL cache was written (fuzzy): ref 5 is not listed yet.
            SnapNode {
                path: "/late".into(),
                data: None,
                acl_ref: 5,
                stat: StatPersisted {
                    ephemeral_owner: S1,
                    ..Default::default()
                },
            },
        ],
        digest: None,
        last_processed_zxid: None,
    };
    let mut t = ZkTree::from_snapshot(snap, SourceConfig::default()).unwrap();
    // Ref 1 was unused and purged, as after ZooKeeper's load.
    assert_eq!(t.acl(1), None);
    assert_eq!(t.acl(4), Some(digest_acl()));
    assert_eq!(t.acl(-1), Some(world(31)));
    assert_eq!(t.orphan_owners(), vec![]);
    // Replaying /late's create interns its ACL as the next reference: 5.
    let mut c = create("/late", true, 1);
    if let ZkTxn::Create(ref mut c) = c {
        c.acl = world(3);
    }
    t.apply(&logged(11, op::CREATE, S1, c));
    assert_eq!(t.acl(5), Some(world(3)));
    t.apply(&logged(
        12,
        op::SET_ACL,
        S1,
        ZkTxn::SetAcl(SetAclTxn {
            path: "/d".into(),
            acl: world(31),
            version: 4,
        }),
    ));
    let d = t.get("/d").unwrap();
    assert_eq!(d.stat.aversion, 4);
    assert_eq!(t.acl(d.acl_ref), Some(world(31)));
    // The digest list lost its last user.
    assert_eq!(t.acl(4), None);
}

#[test]
fn bad_snapshot_trees_are_rejected() {
    let node = |p: &str| SnapNode {
        path: p.into(),
        data: None,
        acl_ref: -1,
        stat: StatPersisted::default(),
    };
    let snap = ZkSnapshot {
        nodes: vec![node("/"), node("/a/b")],
        ..Default::default()
    };
    assert!(ZkTree::from_snapshot(snap, SourceConfig::default())
        .err()
        .unwrap()
        .contains("parent /a"));
    let snap = ZkSnapshot {
        nodes: vec![node("/a")],
        ..Default::default()
    };
    assert!(ZkTree::from_snapshot(snap, SourceConfig::default()).is_err());
}

#[test]
fn node_kinds_by_source_config() {
    let ext = SourceConfig {
        extended_types: true,
        emulate_353_ttl: false,
    };
    let e353 = SourceConfig {
        extended_types: true,
        emulate_353_ttl: true,
    };
    let plain = SourceConfig::default();
    let ttl = NodeKind::ttl_owner(5000);
    assert_eq!(ext.kind(ttl), Ok(ZkKind::Ttl(5000)));
    assert_eq!(ext.kind(CONTAINER_OWNER), Ok(ZkKind::Container));
    assert_eq!(ext.kind(S1), Ok(ZkKind::Ephemeral(S1)));
    assert!(ext.kind(ttl | 0x0000_0100_0000_0000).is_err());
    assert_eq!(plain.kind(ttl), Ok(ZkKind::Ephemeral(ttl)));
    assert!(plain.zkd_owner(ttl).is_err());
    let old = i64::MIN | 5000;
    assert_eq!(e353.kind(old), Ok(ZkKind::Ttl(5000)));
    assert_eq!(e353.zkd_owner(old), Ok(ttl));
    assert_eq!(ext.kind(old), Ok(ZkKind::Ephemeral(old)));
    assert_eq!(ext.zkd_owner(old), Ok(old));
    assert_eq!(e353.kind(CONTAINER_OWNER), Ok(ZkKind::Container));
    // Container and TTL creates from the log.
    let mut t = tree();
    t.apply(&logged(
        1,
        op::CREATE_CONTAINER,
        S1,
        ZkTxn::CreateContainer(CreateContainerTxn {
            path: "/c".into(),
            data: None,
            acl: world(31),
            parent_c_version: 1,
        }),
    ));
    t.apply(&logged(
        2,
        op::CREATE_TTL,
        S1,
        ZkTxn::CreateTtl(CreateTtlTxn {
            path: "/t".into(),
            data: None,
            acl: world(31),
            parent_c_version: 2,
            ttl: 5000,
        }),
    ));
    assert_eq!(t.get("/c").unwrap().stat.ephemeral_owner, CONTAINER_OWNER);
    assert_eq!(t.get("/t").unwrap().stat.ephemeral_owner, ttl);
    assert_eq!(t.orphan_owners(), vec![]);
    t.apply(&logged(
        3,
        op::CLOSE_SESSION,
        S1,
        ZkTxn::CloseSession {
            paths: Some(CloseSessionTxn::default().paths2_delete),
        },
    ));
    assert!(t.get("/c").is_some() && t.get("/t").is_some());
    let order: Vec<String> = t.iter_preorder().map(|(p, _)| p).collect();
    assert_eq!(
        order,
        [
            "/",
            "/c",
            "/t",
            "/zookeeper",
            "/zookeeper/config",
            "/zookeeper/quota"
        ]
    );
}
