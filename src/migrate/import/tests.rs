//! Import and export end to end on ZooKeeper-format files built here.

use super::*;
use crate::migrate::export::{self, ExportOptions};
use crate::migrate::test_acls::digest_acl;
use crate::migrate::zk_snapshot::{read_snapshot, SnapshotWriter};
use crate::migrate::zk_txnlog::write::{entry, file_header};
use bytes::Bytes;
use jute::{
    op, CloseSessionTxn, CreateSessionTxn, CreateTtlTxn, CreateTxn, Record, SetDataTxn,
    StatPersisted, TxnHeader,
};

const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;

fn hdr(zxid: i64, t: i32, client: i64) -> TxnHeader {
    TxnHeader {
        client_id: client,
        cxid: 0,
        zxid,
        time: 1_000 + zxid,
        txn_type: t,
    }
}

fn create(path: &str, eph: bool, cv: i32) -> Vec<u8> {
    CreateTxn {
        path: path.into(),
        data: Some(Bytes::from(path.to_string())),
        acl: jute::ids::open_acl_unsafe(),
        ephemeral: eph,
        parent_c_version: cv,
    }
    .encode()
    .to_vec()
}

/// A ZooKeeper dataDir: snapshot at zxid 5 (/, /zookeeper..., /a with a digest ACL,
/// session S1), then two log files (the first overlapping the snapshot).
fn zk_dir() -> (tempfile::TempDir, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let v2 = dir.path().join("version-2");
    std::fs::create_dir_all(&v2).unwrap();
    let st = |z: i64| StatPersisted {
        czxid: z,
        mzxid: z,
        pzxid: z,
        ..Default::default()
    };
    let acl = digest_acl();
    let mut w = SnapshotWriter::start(Vec::new(), &[(S1, 30000)], &[(1, &acl[..])]).unwrap();
    let mut root = st(0);
    root.cversion = 2;
    w.node("/", Some(&Bytes::new()), -1, &root).unwrap();
    w.node("/a", Some(&Bytes::from_static(b"A")), 1, &st(4))
        .unwrap();
    w.node("/zookeeper", Some(&Bytes::new()), -1, &st(0))
        .unwrap();
    let (snap, _) = w.finish().unwrap();
    std::fs::write(v2.join("snapshot.5"), snap).unwrap();
    // log.1 holds zxids 1..=6 (1..=5 are in the snapshot already).
    let mut log1 = file_header(0);
    for z in 1..=4 {
        log1.extend(entry(
            &hdr(z, op::ERROR, S1),
            &jute::ErrorTxn { err: -101 }.encode(),
            true,
        ));
    }
    log1.extend(entry(
        &hdr(5, op::CREATE, S1),
        &create("/a", false, 2),
        true,
    ));
    log1.extend(entry(
        &hdr(6, op::CREATE_SESSION, S2),
        &CreateSessionTxn { time_out: 4000 }.encode(),
        true,
    ));
    log1.extend(vec![0u8; 1000]);
    std::fs::write(v2.join("log.1"), log1).unwrap();
    let mut log7 = file_header(0);
    let mut offsets = vec![];
    let mut push = |log: &mut Vec<u8>, e: Vec<u8>| {
        offsets.push(log.len() as u64);
        log.extend(e);
    };
    push(
        &mut log7,
        entry(&hdr(7, op::CREATE, S2), &create("/a/e", true, 1), true),
    );
    push(
        &mut log7,
        entry(&hdr(8, op::CREATE, S1), &create("/a/p", false, 2), true),
    );
    let ttl = CreateTtlTxn {
        path: "/t".into(),
        data: None,
        acl: digest_acl(),
        parent_c_version: 3,
        ttl: 60_000,
    };
    push(
        &mut log7,
        entry(&hdr(9, op::CREATE_TTL, S1), &ttl.encode(), true),
    );
    let set = SetDataTxn {
        path: "/a/p".into(),
        data: Some(Bytes::from_static(b"v2")),
        version: 1,
    };
    push(
        &mut log7,
        entry(&hdr(10, op::SET_DATA, S1), &set.encode(), true),
    );
    let close = CloseSessionTxn {
        paths2_delete: vec![],
    };
    push(
        &mut log7,
        entry(&hdr(11, op::CLOSE_SESSION, S1), &close.encode(), true),
    );
    log7.extend(vec![0u8; 1000]);
    std::fs::write(v2.join("log.7"), log7).unwrap();
    (dir, offsets)
}

fn opts(from: &Path, to: &Path) -> ImportOptions {
    ImportOptions {
        from: from.to_path_buf(),
        log_dir: None,
        data_dir: to.to_path_buf(),
        source: SourceConfig {
            extended_types: true,
            emulate_353_ttl: false,
        },
        allow_damaged_tail: false,
    }
}

fn load_zkd(dir: &Path) -> (crate::tree::DataTree, i64) {
    let storage = Storage::open(dir).unwrap();
    let (last, next, applied) = crate::consensus::state_machine::persisted_tree_meta(&storage)
        .unwrap()
        .unwrap();
    assert_eq!((next, applied), (0, None));
    let nodes: Vec<(String, Znode)> = storage
        .nodes
        .iter()
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (
                String::from_utf8(k.to_vec()).unwrap(),
                Znode::decode(&v).unwrap(),
            )
        })
        .collect();
    let sessions: Vec<(i64, crate::tree::SessionInfo)> = storage
        .sessions
        .iter()
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (
                i64::from_be_bytes(k.as_ref().try_into().unwrap()),
                crate::tree::SessionInfo {
                    timeout_ms: i32::from_be_bytes(v.as_ref().try_into().unwrap()),
                },
            )
        })
        .collect();
    let tree = crate::tree::DataTree::from_parts(
        Default::default(),
        nodes.into_iter(),
        sessions.into_iter(),
        last,
        next,
    );
    (tree, last)
}

#[test]
fn imports_snapshot_plus_logs() {
    let (zk, _) = zk_dir();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("zkd");
    let s = run(&opts(zk.path(), &target)).unwrap();
    assert_eq!(s.last_zxid, 11);
    assert_eq!(s.txns, 5 + 1);
    assert_eq!(s.sessions, 1);
    // /, /a, /a/e, /a/p, /t, /zookeeper (S1's close deleted nothing of its own).
    assert_eq!(s.znodes, 6);
    assert_eq!(
        s.kinds,
        KindCounts {
            persistent: 4,
            ephemeral: 1,
            container: 0,
            ttl: 1
        }
    );
    let (tree, last) = load_zkd(&target);
    assert_eq!(last, 11);
    let a = tree.get("/a").unwrap();
    assert_eq!(a.acl.as_slice(), digest_acl().as_slice());
    assert_eq!((a.stat.cversion, a.stat.pzxid), (2, 8));
    let p = tree.get("/a/p").unwrap();
    assert_eq!((p.stat.version, p.stat.mzxid, p.stat.czxid), (1, 10, 8));
    assert_eq!(p.data.as_deref(), Some(&b"v2"[..]));
    assert_eq!(tree.get("/a/e").unwrap().stat.ephemeral_owner, S2);
    assert_eq!(tree.session(S2).map(|s| s.timeout_ms), Some(4000));
    assert!(tree.session(S1).is_none());
    assert_eq!(tree.get("/t").unwrap().kind(), NodeKind::Ttl(60_000));
    // A second import into the same dir is refused.
    let e = run(&opts(zk.path(), &target)).unwrap_err();
    assert!(e.to_string().contains("already holds"), "{e}");
    // The version-2 folder itself works as --from.
    let t2 = out.path().join("zkd2");
    let s2 = run(&opts(&zk.path().join("version-2"), &t2)).unwrap();
    assert_eq!(s2.znodes, 6);

    // Export and read the snapshot back: same nodes, stats and sessions.
    let exp = out.path().join("zk-back");
    let e = export::run(&ExportOptions {
        data_dir: target.clone(),
        to: exp.clone(),
        force: false,
    })
    .unwrap();
    assert_eq!(e.file, exp.join("version-2").join("snapshot.b"));
    assert_eq!((e.znodes, e.sessions, e.ttl_nodes), (8, 1, 1));
    let snap = read_snapshot(&e.file).unwrap();
    assert_eq!(snap.zxid, 11);
    assert_eq!(snap.sessions, vec![(S2, 4000)]);
    let back = ZkTree::from_snapshot(snap, opts(zk.path(), &target).source).unwrap();
    for (path, node) in tree.iter_nodes() {
        let b = back.get(&path).unwrap();
        assert_eq!(b.stat, node.stat, "{path}");
        assert_eq!(b.data.as_deref(), node.data.as_deref(), "{path}");
        assert_eq!(back.acl(b.acl_ref).as_deref(), Some(node.acl.as_slice()));
    }
    // zkd adds /zookeeper/quota and /zookeeper/config when they are missing.
    assert_eq!(back.node_count(), tree.node_count());
    // Exporting into the same place again is refused.
    assert!(export::run(&ExportOptions {
        data_dir: target,
        to: exp,
        force: false,
    })
    .is_err());
}

#[test]
fn damaged_tail_stops_the_import() {
    let (zk, offsets) = zk_dir();
    let log7 = zk.path().join("version-2").join("log.7");
    let mut bytes = std::fs::read(&log7).unwrap();
    // Corrupt the 4th entry (setData, zxid 10).
    let at = offsets[3] as usize;
    bytes[at + 30] ^= 0xff;
    std::fs::write(&log7, &bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("zkd");
    match run(&opts(zk.path(), &target)) {
        Err(ImportError::Damaged {
            damage,
            last_good_zxid,
            unread_files,
        }) => {
            assert_eq!(damage.offset, offsets[3]);
            assert!(damage.file.ends_with("log.7"));
            assert!(damage.reason.contains("checksum"), "{}", damage.reason);
            assert_eq!((last_good_zxid, unread_files), (9, 0));
        }
        other => panic!("{other:?}"),
    }
    assert!(!target.join("db").exists(), "nothing may be written");
    let mut o = opts(zk.path(), &target);
    o.allow_damaged_tail = true;
    let s = run(&o).unwrap();
    assert_eq!(s.last_zxid, 9);
    assert!(s.damage.is_some());
    assert!(s.report().contains("stopped early"));
    let (tree, _) = load_zkd(&target);
    assert_eq!(tree.get("/a/p").unwrap().stat.version, 0);
    // S1 was never closed: still a session.
    assert!(tree.session(S1).is_some());

    // A truncated file: cut inside the last entry.
    let (zk, offsets) = zk_dir();
    let log7 = zk.path().join("version-2").join("log.7");
    let bytes = std::fs::read(&log7).unwrap();
    std::fs::write(&log7, &bytes[..offsets[4] as usize + 20]).unwrap();
    let target = out.path().join("zkd-trunc");
    match run(&opts(zk.path(), &target)) {
        Err(e @ ImportError::Damaged { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("log.7 at byte offset"), "{msg}");
            assert!(msg.contains("truncated"), "{msg}");
            assert!(msg.contains("--allow-damaged-tail"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ttl_nodes_need_the_source_settings() {
    let (zk, _) = zk_dir();
    let out = tempfile::tempdir().unwrap();
    let mut o = opts(zk.path(), &out.path().join("zkd"));
    o.source = SourceConfig::default();
    let e = run(&o).unwrap_err().to_string();
    assert!(e.contains("--extended-types"), "{e}");
}
