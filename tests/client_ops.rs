//! Every client operation, driven through the third-party `zookeeper-client` crate (and, where
//! the crate validates or hides something, through raw jute frames).
//!
//! Each test starts its own server, so absolute numbers (node counts, sequence suffixes) are
//! deterministic.

mod common;

use std::time::Duration;

use common::*;
use zk::{Acl, Acls, AuthId, CreateMode, MultiReadResult, MultiWriteResult, Permission};
use zookeeper_client as zk;

type R<T> = Result<T, zk::Error>;

fn is_bad_args<T: std::fmt::Debug>(r: &R<T>) -> bool {
    matches!(r, Err(zk::Error::BadArguments(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_persistent_returns_create2_stat_and_get_sees_it() {
    let server = TestServer::start();
    let c = server.connect().await;

    let (stat, seq) = c.create("/p", b"hello", &open_acl()).await.unwrap();
    assert_eq!(seq.into_i64(), -1, "non-sequential create has no sequence");
    assert!(stat.czxid > 0, "czxid {stat:?}");
    assert_eq!(stat.czxid, stat.mzxid, "new node: czxid == mzxid");
    assert_eq!(stat.czxid, stat.pzxid, "new node: czxid == pzxid");
    assert!(
        stat.ctime > 1_600_000_000_000,
        "ctime is ms since epoch: {}",
        stat.ctime
    );
    assert_eq!(stat.ctime, stat.mtime);
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(stat.data_length, 5);
    assert_eq!(stat.num_children, 0);

    let (data, got) = c.get_data("/p").await.unwrap();
    assert_eq!(data, b"hello");
    assert_eq!(got, stat, "getData stat equals the create2 stat");
    assert_eq!(
        c.check_stat("/p").await.unwrap(),
        Some(stat),
        "exists stat equals the create2 stat"
    );

    // empty data
    let (stat, _) = c.create("/empty", b"", &open_acl()).await.unwrap();
    assert_eq!(stat.data_length, 0);
    assert_eq!(c.get_data("/empty").await.unwrap().0, b"");
    assert!(
        stat.czxid > c.get_data("/p").await.unwrap().1.czxid,
        "zxids increase"
    );

    // errors
    assert_eq!(
        c.create("/p", b"again", &open_acl()).await.unwrap_err(),
        zk::Error::NodeExists
    );
    assert_eq!(
        c.create("/missing/child", b"", &open_acl())
            .await
            .unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(c.get_data("/nope").await.unwrap_err(), zk::Error::NoNode);
    assert_eq!(c.check_stat("/nope").await.unwrap(), None);
    assert_eq!(
        c.get_data("/p").await.unwrap().0,
        b"hello",
        "failed create left the data alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_names_use_the_parent_create_counter() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.create("/seq", b"", &open_acl()).await.unwrap();

    let seq_opts = mode(CreateMode::PersistentSequential);
    let (_, s0) = c.create("/seq/n-", b"", &seq_opts).await.unwrap();
    let (_, s1) = c.create("/seq/n-", b"", &seq_opts).await.unwrap();
    assert_eq!((s0.into_i64(), s1.into_i64()), (0, 1));
    c.create("/seq/x", b"", &open_acl()).await.unwrap();
    let (_, s3) = c.create("/seq/n-", b"", &seq_opts).await.unwrap();
    assert_eq!(
        s3.into_i64(),
        3,
        "a plain child create also advances the counter"
    );
    c.delete("/seq/x", None).await.unwrap();
    let (_, s4) = c.create("/seq/n-", b"", &seq_opts).await.unwrap();
    assert_eq!(
        s4.into_i64(),
        4,
        "a delete does not advance the sequence counter"
    );

    let mut names = c.list_children("/seq").await.unwrap();
    names.sort();
    assert_eq!(
        names,
        vec![
            "n-0000000000",
            "n-0000000001",
            "n-0000000003",
            "n-0000000004"
        ]
    );

    // visible cversion counts creates and deletes: 5 creates + 1 delete
    let (_, stat) = c.get_children("/seq").await.unwrap();
    assert_eq!(stat.cversion, 6, "{stat:?}");
    assert_eq!(stat.num_children, 4);

    // ephemeral sequential
    let (stat, s5) = c
        .create("/seq/e-", b"", &mode(CreateMode::EphemeralSequential))
        .await
        .unwrap();
    assert_eq!(s5.into_i64(), 5);
    assert_eq!(stat.ephemeral_owner, c.session_id().0);
    assert!(c.check_stat("/seq/e-0000000005").await.unwrap().is_some());

    // a prefix ending in '/' gives a bare number as the name
    c.create("/seq2", b"", &open_acl()).await.unwrap();
    let (_, s) = c.create("/seq2/", b"", &seq_opts).await.unwrap();
    assert_eq!(s.into_i64(), 0);
    assert_eq!(c.list_children("/seq2").await.unwrap(), vec!["0000000000"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_owner_and_no_children_for_ephemerals() {
    let server = TestServer::start();
    let c = server.connect().await;
    let other = server.connect().await;
    let (stat, _) = c
        .create("/eph", b"e", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!(stat.ephemeral_owner, c.session_id().0);
    assert_ne!(stat.ephemeral_owner, 0);
    let (_, seen) = other.get_data("/eph").await.unwrap();
    assert_eq!(
        seen.ephemeral_owner,
        c.session_id().0,
        "the owner is visible to other sessions"
    );

    assert_eq!(
        c.create("/eph/child", b"", &open_acl()).await.unwrap_err(),
        zk::Error::NoChildrenForEphemerals
    );
    assert_eq!(
        other
            .create("/eph/child", b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap_err(),
        zk::Error::NoChildrenForEphemerals
    );
    assert_eq!(
        c.create("/eph/s-", b"", &mode(CreateMode::PersistentSequential))
            .await
            .unwrap_err(),
        zk::Error::NoChildrenForEphemerals
    );
    // persistent nodes, containers and TTL nodes report ephemeralOwner 0
    let (stat, _) = c.create("/pers", b"", &open_acl()).await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_nodes_are_reaped_only_after_their_last_child_goes() {
    let server = TestServer::start();
    let c = server.connect().await;
    let (stat, _) = c
        .create("/cont", b"c", &mode(CreateMode::Container))
        .await
        .unwrap();
    assert_eq!(
        stat.ephemeral_owner, 0,
        "a container shows ephemeralOwner 0"
    );
    c.create("/cont/a", b"", &open_acl()).await.unwrap();
    // a never-used container is kept
    c.create("/unused", b"", &mode(CreateMode::Container))
        .await
        .unwrap();

    // a container with a child survives several check intervals (200 ms)
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(c.check_stat("/cont").await.unwrap().is_some());

    c.delete("/cont/a", None).await.unwrap();
    let gone = wait_until!(Duration::from_secs(10), {
        c.check_stat("/cont").await.unwrap().is_none()
    });
    assert!(
        gone,
        "an emptied container is deleted by the container manager"
    );
    assert!(
        c.check_stat("/unused").await.unwrap().is_some(),
        "a never-used container is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_nodes_expire_when_childless() {
    let server = TestServer::start();
    let c = server.connect().await;
    let ttl = mode(CreateMode::Persistent).with_ttl(Duration::from_millis(300));
    let (stat, _) = c.create("/ttl", b"t", &ttl).await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0, "a TTL node shows ephemeralOwner 0");
    assert_eq!(c.get_data("/ttl").await.unwrap().0, b"t");

    let (_, seq) = c
        .create(
            "/ttl-s-",
            b"",
            &mode(CreateMode::PersistentSequential).with_ttl(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert_eq!(
        seq.into_i64(),
        1,
        "the root's counter: one child (/ttl) created before"
    );

    // a TTL node with a child stays
    c.create("/ttl-parent", b"", &ttl).await.unwrap();
    c.create("/ttl-parent/kid", b"", &open_acl()).await.unwrap();

    let gone = wait_until!(Duration::from_secs(10), {
        c.check_stat("/ttl").await.unwrap().is_none()
            && c.check_stat("/ttl-s-0000000001").await.unwrap().is_none()
    });
    assert!(gone, "childless TTL nodes are deleted after their ttl");
    assert!(
        c.check_stat("/ttl-parent").await.unwrap().is_some(),
        "a TTL node with children stays"
    );

    // a long ttl is not reaped early
    c.create(
        "/ttl-long",
        b"",
        &mode(CreateMode::Persistent).with_ttl(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(c.check_stat("/ttl-long").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_argument_validation_on_the_wire() {
    let server = TestServer::start();
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let create_ttl = |path: &str, flags: i32, ttl: i64| {
        Enc::new()
            .string(path)
            .buffer(b"")
            .open_acl()
            .int(flags)
            .long(ttl)
            .bytes()
    };
    // createTTL (21) with ttl 0, a negative ttl, and a non-TTL mode
    for (flags, ttl) in [(5, 0i64), (5, -5), (0, 1000), (1, 1000)] {
        let (_, r) = raw.call(21, &create_ttl("/t", flags, ttl)).await;
        assert_eq!(
            r.err,
            err::BAD_ARGUMENTS,
            "createTTL flags={flags} ttl={ttl}"
        );
    }
    // an unknown create mode flag
    let (_, r) = raw
        .call(
            op::CREATE,
            &Enc::new()
                .string("/f")
                .buffer(b"")
                .open_acl()
                .int(7)
                .bytes(),
        )
        .await;
    assert_eq!(r.err, err::BAD_ARGUMENTS, "create with flags 7");
    // a good one
    let (_, r) = raw.call(21, &create_ttl("/t", 5, 60_000)).await;
    assert_eq!(r.err, 0);
    let mut d = Dec(&r.body);
    assert_eq!(d.string().as_deref(), Some("/t"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_set_delete_with_versions_and_error_codes() {
    let server = TestServer::start();
    let c = server.connect().await;
    let (created, _) = c.create("/v", b"0", &open_acl()).await.unwrap();

    let s1 = c.set_data("/v", b"one", Some(0)).await.unwrap();
    assert_eq!(s1.version, 1);
    assert!(s1.mzxid > created.mzxid);
    assert_eq!(s1.czxid, created.czxid);
    assert!(s1.mtime >= created.mtime);
    assert_eq!(s1.ctime, created.ctime);
    assert_eq!(s1.data_length, 3);
    assert_eq!(s1.pzxid, created.pzxid, "setData does not touch pzxid");

    assert_eq!(
        c.set_data("/v", b"x", Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    assert_eq!(
        c.set_data("/v", b"x", Some(7)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    assert_eq!(
        c.get_data("/v").await.unwrap().0,
        b"one",
        "a BadVersion set changes nothing"
    );
    let s2 = c.set_data("/v", b"two", None).await.unwrap();
    assert_eq!(s2.version, 2, "version -1 matches any version");
    let s3 = c.set_data("/v", b"three", Some(2)).await.unwrap();
    assert_eq!(s3.version, 3);
    let (data, stat) = c.get_data("/v").await.unwrap();
    assert_eq!((data.as_slice(), stat), (&b"three"[..], s3));

    assert_eq!(
        c.delete("/v", Some(2)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    assert!(c.check_stat("/v").await.unwrap().is_some());
    c.delete("/v", Some(3)).await.unwrap();
    assert_eq!(c.check_stat("/v").await.unwrap(), None);

    assert_eq!(c.get_data("/v").await.unwrap_err(), zk::Error::NoNode);
    assert_eq!(
        c.set_data("/v", b"", None).await.unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(
        c.set_data("/v", b"", Some(3)).await.unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(c.delete("/v", None).await.unwrap_err(), zk::Error::NoNode);
    assert_eq!(
        c.delete("/v/child", None).await.unwrap_err(),
        zk::Error::NoNode
    );

    // NotEmpty
    c.create("/ne", b"", &open_acl()).await.unwrap();
    c.create("/ne/kid", b"", &open_acl()).await.unwrap();
    assert_eq!(
        c.delete("/ne", None).await.unwrap_err(),
        zk::Error::NotEmpty
    );
    assert_eq!(
        c.delete("/ne", Some(5)).await.unwrap_err(),
        zk::Error::BadVersion,
        "version is checked before children"
    );
    c.delete("/ne/kid", None).await.unwrap();
    c.delete("/ne", Some(0)).await.unwrap();

    // large data round-trips
    let big = vec![0xabu8; 500_000];
    c.create("/big", &big, &open_acl()).await.unwrap();
    let (data, stat) = c.get_data("/big").await.unwrap();
    assert_eq!(stat.data_length, 500_000);
    assert!(data == big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_are_bad_arguments() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.create("/bp", b"", &open_acl()).await.unwrap();

    // The client crate lets these through; the server must reject them.
    assert!(
        is_bad_args(&c.create("/bp/.", b"", &open_acl()).await),
        "create /bp/."
    );
    assert!(
        is_bad_args(&c.create("/bp/..", b"", &open_acl()).await),
        "create /bp/.."
    );
    assert!(
        is_bad_args(&c.set_data("/bp/.", b"", None).await),
        "setData /bp/."
    );

    // Raw frames for what the crate would refuse to send.
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let create = |p: &str| Enc::new().string(p).buffer(b"").open_acl().int(0).bytes();
    for p in [
        "noslash",
        "",
        "/bp/",
        "/bp/a\u{1}b",
        "/bp/a\u{0}b",
        "/bp/\u{7f}",
        "/bp/\u{fff5}",
        "/bp/\u{1F600}",
    ] {
        let (_, r) = raw.call(op::CREATE, &create(p)).await;
        assert_eq!(r.err, err::BAD_ARGUMENTS, "create {p:?}");
    }
    let set = |p: &str| Enc::new().string(p).buffer(b"x").int(-1).bytes();
    for p in ["/bp/", "/bp/."] {
        let (_, r) = raw.call(op::SET_DATA, &set(p)).await;
        assert_eq!(r.err, err::BAD_ARGUMENTS, "setData {p:?}");
    }
    // the connection is still usable and nothing was created
    let (_, r) = raw
        .call(
            op::GET_CHILDREN,
            &Enc::new().string("/bp").boolean(false).bytes(),
        )
        .await;
    assert_eq!(r.err, 0);
    let mut d = Dec(&r.body);
    assert_eq!(d.int(), 0, "no child was created under /bp");
    // a non-ASCII but valid name is fine
    let (_, r) = raw.call(op::CREATE, &create("/bp/ünïcødé-路径")).await;
    assert_eq!(r.err, 0);
    assert_eq!(c.list_children("/bp").await.unwrap(), vec!["ünïcødé-路径"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_acls_are_rejected() {
    let server = TestServer::start();
    let c = server.connect().await;
    // "auth" ACL without any authenticated identity
    let r = c
        .create(
            "/ia",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await;
    assert_eq!(r.unwrap_err(), zk::Error::InvalidAcl);
    // unknown scheme
    let bad = [Acl::new(Permission::ALL, AuthId::new("nosuchscheme", "x"))];
    let r = c
        .create(
            "/ia",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&bad)),
        )
        .await;
    assert_eq!(r.unwrap_err(), zk::Error::InvalidAcl);
    // malformed digest id (no ':')
    let bad = [Acl::new(Permission::ALL, AuthId::new("digest", "nocolon"))];
    let r = c
        .create(
            "/ia",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&bad)),
        )
        .await;
    assert_eq!(r.unwrap_err(), zk::Error::InvalidAcl);
    assert_eq!(c.check_stat("/ia").await.unwrap(), None);
    // empty ACL list, sent raw (the crate refuses to send it)
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let (_, r) = raw
        .call(
            op::CREATE,
            &Enc::new().string("/ia").buffer(b"").int(0).int(0).bytes(),
        )
        .await;
    assert_eq!(r.err, err::INVALID_ACL, "create with an empty ACL list");

    // setACL with an auth ACL and no identity
    c.create("/ia2", b"", &open_acl()).await.unwrap();
    let r = c.set_acl("/ia2", &Acls::creator_all(), None).await;
    assert_eq!(r.unwrap_err(), zk::Error::InvalidAcl);
    assert_eq!(c.get_acl("/ia2").await.unwrap().1.aversion, 0);

    // with an identity, "auth" expands to it
    let a = server.connect_digest(U1_AUTH).await;
    a.create(
        "/ia3",
        b"",
        &CreateMode::Persistent.with_acls(Acls::creator_all()),
    )
    .await
    .unwrap();
    let (acl, _) = a.get_acl("/ia3").await.unwrap();
    assert_eq!(
        acl,
        vec![Acl::new(Permission::ALL, AuthId::new("digest", U1_ID))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_counts_ephemerals_and_sync() {
    let server = TestServer::start();
    let c = server.connect().await;
    let fresh = c.count_descendants_number("/").await.unwrap();
    assert_eq!(
        fresh, 3,
        "a fresh tree has /zookeeper, /zookeeper/config and /zookeeper/quota"
    );
    let mut root = c.list_children("/").await.unwrap();
    root.sort();
    assert_eq!(root, vec!["zookeeper"]);

    for p in ["/t", "/t/a", "/t/b", "/t/a/x", "/t/a/y", "/t/a/y/z"] {
        c.create(p, b"", &open_acl()).await.unwrap();
    }
    let mut kids = c.list_children("/t").await.unwrap();
    kids.sort();
    assert_eq!(kids, vec!["a", "b"]);
    let (mut kids2, stat) = c.get_children("/t/a").await.unwrap();
    kids2.sort();
    assert_eq!(kids2, vec!["x", "y"]);
    assert_eq!(stat.num_children, 2);
    assert_eq!(
        stat,
        c.get_data("/t/a").await.unwrap().1,
        "getChildren2 stat equals getData stat"
    );
    assert_eq!(c.list_children("/t/b").await.unwrap(), Vec::<String>::new());
    assert_eq!(
        c.list_children("/none").await.unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(
        c.get_children("/none").await.unwrap_err(),
        zk::Error::NoNode
    );

    assert_eq!(c.count_descendants_number("/t").await.unwrap(), 5);
    assert_eq!(c.count_descendants_number("/t/a").await.unwrap(), 3);
    assert_eq!(c.count_descendants_number("/t/b").await.unwrap(), 0);
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 3 + 6);
    assert_eq!(
        c.count_descendants_number("/none").await.unwrap_err(),
        zk::Error::NoNode
    );

    // getEphemerals: this session's only, prefix match on the path string
    let other = server.connect().await;
    let e = mode(CreateMode::Ephemeral);
    c.create("/t/eph1", b"", &e).await.unwrap();
    c.create("/t/a/eph2", b"", &e).await.unwrap();
    c.create("/ephtop", b"", &e).await.unwrap();
    other.create("/t/b/theirs", b"", &e).await.unwrap();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(c.list_ephemerals("/").await.unwrap()),
        vec!["/ephtop", "/t/a/eph2", "/t/eph1"]
    );
    assert_eq!(
        sorted(c.list_ephemerals("/t").await.unwrap()),
        vec!["/t/a/eph2", "/t/eph1"]
    );
    assert_eq!(c.list_ephemerals("/t/a").await.unwrap(), vec!["/t/a/eph2"]);
    assert_eq!(
        c.list_ephemerals("/t/a/eph2").await.unwrap(),
        vec!["/t/a/eph2"]
    );
    assert_eq!(
        sorted(c.list_ephemerals("/ep").await.unwrap()),
        vec!["/ephtop"],
        "a string prefix, not a subtree"
    );
    assert_eq!(
        c.list_ephemerals("/nothing").await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        other.list_ephemerals("/").await.unwrap(),
        vec!["/t/b/theirs"]
    );

    // sync echoes and does not care whether the node exists
    c.sync("/").await.unwrap();
    c.sync("/t/a").await.unwrap();
    c.sync("/does/not/exist").await.unwrap();
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let (_, r) = raw.call(op::SYNC, &Enc::new().string("/t/a").bytes()).await;
    assert_eq!(r.err, 0);
    assert_eq!(
        Dec(&r.body).string().as_deref(),
        Some("/t/a"),
        "sync echoes the path"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_applies_all_ops_with_one_zxid() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.create("/m", b"0", &open_acl()).await.unwrap();
    c.create("/m/old", b"", &open_acl()).await.unwrap();

    let mut w = c.new_multi_writer();
    w.add_create("/m/a", b"A", &open_acl()).unwrap();
    w.add_create("/m/a/b", b"B", &open_acl()).unwrap(); // child of a node created in the same multi
    w.add_create("/m/s-", b"", &mode(CreateMode::PersistentSequential))
        .unwrap();
    w.add_set_data("/m", b"1", Some(0)).unwrap();
    w.add_check_version("/m", 1).unwrap(); // sees the set above
    w.add_delete("/m/old", Some(0)).unwrap();
    let results = w.commit().await.unwrap();
    assert_eq!(results.len(), 6);
    let MultiWriteResult::Create { path, stat: sa } = &results[0] else {
        panic!("{results:?}")
    };
    assert_eq!(path, "/m/a");
    let MultiWriteResult::Create { path, .. } = &results[1] else {
        panic!("{results:?}")
    };
    assert_eq!(path, "/m/a/b");
    let MultiWriteResult::Create { path, .. } = &results[2] else {
        panic!("{results:?}")
    };
    assert_eq!(
        path, "/m/s-0000000002",
        "the suffix counts the two child creates before it (old, a)"
    );
    let MultiWriteResult::SetData { stat: sm } = &results[3] else {
        panic!("{results:?}")
    };
    assert_eq!(sm.version, 1);
    assert_eq!(results[4], MultiWriteResult::Check);
    assert_eq!(results[5], MultiWriteResult::Delete);
    let (_, a_stat) = c.get_data("/m/a").await.unwrap();
    assert_eq!(a_stat.czxid, sm.mzxid, "all ops of a multi share one zxid");
    // ZooKeeper 3.8.0 answers create2 inside multi with plain create results (type 1, no
    // Stat; ZOOKEEPER-4026); 3.9 sends type 15 with the new node's Stat.
    if zk39_only("create2 results inside multi carry a Stat") {
        // the Stat as of that op: /m/a/b is created by a later op of the same multi
        assert_eq!(
            (sa.czxid, sa.mzxid, sa.pzxid),
            (sm.mzxid, sm.mzxid, sm.mzxid),
            "{sa:?}"
        );
        assert_eq!(
            (sa.version, sa.cversion, sa.aversion, sa.num_children),
            (0, 0, 0, 0),
            "{sa:?}"
        );
        assert_eq!((sa.data_length, sa.ctime), (1, a_stat.ctime), "{sa:?}");
    }

    assert_eq!(c.get_data("/m/a/b").await.unwrap().0, b"B");
    assert_eq!(c.get_data("/m").await.unwrap().0, b"1");
    assert_eq!(c.check_stat("/m/old").await.unwrap(), None);
    let (_, st) = c.get_children("/m").await.unwrap();
    assert_eq!(st.pzxid, sm.mzxid);
    assert_eq!(st.num_children, 2);

    // an empty multi is fine
    assert!(c.new_multi_writer().commit().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_changes_nothing() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.create("/mf", b"0", &open_acl()).await.unwrap();
    let before = c.get_data("/mf").await.unwrap().1;

    let mut w = c.new_multi_writer();
    w.add_create("/mf/a", b"", &open_acl()).unwrap();
    w.add_set_data("/mf", b"x", Some(5)).unwrap();
    w.add_create("/mf/b", b"", &open_acl()).unwrap();
    match w.commit().await {
        Err(zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::BadVersion,
        }) => {}
        other => panic!("want BadVersion at index 1, got {other:?}"),
    }
    assert_eq!(
        c.check_stat("/mf/a").await.unwrap(),
        None,
        "nothing of a failed multi is applied"
    );
    assert_eq!(c.check_stat("/mf/b").await.unwrap(), None);
    assert_eq!(c.get_data("/mf").await.unwrap(), (b"0".to_vec(), before));

    // a conflict with an earlier op of the same multi
    let mut w = c.new_multi_writer();
    w.add_create("/mf/x", b"", &open_acl()).unwrap();
    w.add_create("/mf/x", b"", &open_acl()).unwrap();
    match w.commit().await {
        Err(zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::NodeExists,
        }) => {}
        other => panic!("want NodeExists at index 1, got {other:?}"),
    }
    // delete then use in the same multi
    let mut w = c.new_multi_writer();
    w.add_delete("/mf", None).unwrap();
    w.add_set_data("/mf", b"", None).unwrap();
    match w.commit().await {
        Err(zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::NoNode,
        }) => {}
        other => panic!("want NoNode at index 1, got {other:?}"),
    }
    // a failing check at the front
    let mut w = c.new_multi_writer();
    w.add_check_version("/mf", 3).unwrap();
    w.add_delete("/mf", None).unwrap();
    match w.commit().await {
        Err(zk::MultiWriteError::OperationFailed {
            index: 0,
            source: zk::Error::BadVersion,
        }) => {}
        other => panic!("want BadVersion at index 0, got {other:?}"),
    }
    let mut w = c.new_multi_writer();
    w.add_check_version("/nonexistent", -1).unwrap();
    match w.commit().await {
        Err(zk::MultiWriteError::OperationFailed {
            index: 0,
            source: zk::Error::NoNode,
        }) => {}
        other => panic!("want NoNode at index 0, got {other:?}"),
    }
    assert_eq!(c.get_data("/mf").await.unwrap(), (b"0".to_vec(), before));
    assert_eq!(c.list_children("/mf").await.unwrap(), Vec::<String>::new());

    // the per-op results on the wire: 0 before the failure, the code, then -2 after
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let body = Enc::new()
        .int(op::CREATE)
        .boolean(false)
        .int(-1)
        .string("/mf/r1")
        .buffer(b"")
        .open_acl()
        .int(0)
        .int(op::DELETE)
        .boolean(false)
        .int(-1)
        .string("/mf/missing")
        .int(-1)
        .int(op::SET_DATA)
        .boolean(false)
        .int(-1)
        .string("/mf")
        .buffer(b"z")
        .int(-1)
        .int(-1)
        .boolean(true)
        .int(-1)
        .bytes();
    let (_, r) = raw.call(op::MULTI, &body).await;
    assert_eq!(
        r.err, 0,
        "a failed multi still has err 0 in its reply header"
    );
    let mut d = Dec(&r.body);
    let mut codes = Vec::new();
    loop {
        let t = d.int();
        let done = d.boolean();
        let e = d.int();
        if done {
            break;
        }
        assert_eq!(t, -1, "every result of a failed multi is an error result");
        let body_err = d.int();
        assert_eq!(body_err, e, "ErrorResponse body repeats the header's err");
        codes.push(body_err);
    }
    assert_eq!(codes, vec![0, -101, -2]);
    assert_eq!(c.check_stat("/mf/r1").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_read_runs_each_op_independently() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.create("/mr", b"data", &open_acl()).await.unwrap();
    c.create("/mr/k1", b"", &open_acl()).await.unwrap();
    c.create("/mr/k2", b"", &open_acl()).await.unwrap();
    let mut r = c.new_multi_reader();
    r.add_get_data("/mr").unwrap();
    r.add_get_children("/mr").unwrap();
    r.add_get_data("/mr/missing").unwrap();
    r.add_get_children("/missing").unwrap();
    r.add_get_data("/mr/k1").unwrap();
    let res = r.commit().await.unwrap();
    assert_eq!(res.len(), 5, "{res:?}");
    match &res[0] {
        MultiReadResult::Data { data, stat } => {
            assert_eq!(data, b"data");
            assert_eq!(stat.num_children, 2);
        }
        other => panic!("{other:?}"),
    }
    match &res[1] {
        MultiReadResult::Children { children } => {
            let mut k = children.clone();
            k.sort();
            assert_eq!(k, vec!["k1", "k2"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(
            res[2],
            MultiReadResult::Error {
                err: zk::Error::NoNode
            }
        ),
        "{:?}",
        res[2]
    );
    assert!(
        matches!(
            res[3],
            MultiReadResult::Error {
                err: zk::Error::NoNode
            }
        ),
        "{:?}",
        res[3]
    );
    assert!(
        matches!(&res[4], MultiReadResult::Data { data, .. } if data.is_empty()),
        "{:?}",
        res[4]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acls_noauth_and_setacl_versions() {
    let server = TestServer::start();
    let owner = server.connect_digest(U1_AUTH).await;
    let anon = server.connect().await;
    let wrong = server.connect_digest("u1:wrongpassword").await;

    owner
        .create(
            "/sec",
            b"secret",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    let (acl, stat) = owner.get_acl("/sec").await.unwrap();
    assert_eq!(
        acl,
        vec![Acl::new(Permission::ALL, AuthId::new("digest", U1_ID))]
    );
    assert_eq!(stat.aversion, 0);

    for c in [&anon, &wrong] {
        assert_eq!(c.get_data("/sec").await.unwrap_err(), zk::Error::NoAuth);
        assert_eq!(
            c.set_data("/sec", b"x", None).await.unwrap_err(),
            zk::Error::NoAuth
        );
        assert_eq!(
            c.list_children("/sec").await.unwrap_err(),
            zk::Error::NoAuth
        );
        assert_eq!(c.get_children("/sec").await.unwrap_err(), zk::Error::NoAuth);
        assert_eq!(
            c.create("/sec/kid", b"", &open_acl()).await.unwrap_err(),
            zk::Error::NoAuth
        );
        assert_eq!(
            c.set_acl("/sec", &Acls::anyone_all(), None)
                .await
                .unwrap_err(),
            zk::Error::NoAuth
        );
        assert_eq!(
            c.count_descendants_number("/sec").await.unwrap_err(),
            zk::Error::NoAuth
        );
        assert_eq!(
            c.get_acl("/sec").await.unwrap_err(),
            zk::Error::NoAuth,
            "getACL needs READ or ADMIN"
        );
    }
    if zk39_only("exists needs READ on an existing node (ZOOKEEPER-2590)") {
        assert_eq!(
            anon.check_stat("/sec").await.unwrap_err(),
            zk::Error::NoAuth
        );
        // but a missing node is still just None
        assert_eq!(anon.check_stat("/sec/none").await.unwrap(), None);
    }
    // deleting a child needs DELETE on the parent
    owner.create("/sec/kid", b"", &open_acl()).await.unwrap();
    assert_eq!(
        anon.delete("/sec/kid", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    // ... but the child itself is open
    assert_eq!(anon.get_data("/sec/kid").await.unwrap().0, b"");

    // adding the right identity later works
    anon.auth("digest", U1_AUTH.as_bytes()).await.unwrap();
    assert_eq!(anon.get_data("/sec").await.unwrap().0, b"secret");

    // setACL with aversion
    let acl = [
        Acl::new(Permission::READ, AuthId::anyone()),
        Acl::new(Permission::ALL, AuthId::new("digest", U1_ID)),
    ];
    let st = owner.set_acl("/sec", &acl, Some(0)).await.unwrap();
    assert_eq!(st.aversion, 1);
    assert_eq!(st.version, 0, "setACL leaves version alone");
    assert_eq!(st.mzxid, stat.mzxid, "setACL leaves mzxid alone");
    assert_eq!(
        owner.set_acl("/sec", &acl, Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    assert_eq!(owner.get_acl("/sec").await.unwrap().0, acl.to_vec());

    // READ for everyone now; WRITE still only u1
    assert_eq!(wrong.get_data("/sec").await.unwrap().0, b"secret");
    assert_eq!(
        wrong.set_data("/sec", b"x", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    // getACL without ADMIN masks digest ids
    let (seen, _) = wrong.get_acl("/sec").await.unwrap();
    assert_eq!(
        seen,
        vec![
            Acl::new(Permission::READ, AuthId::anyone()),
            Acl::new(Permission::ALL, AuthId::new("digest", "u1:x"))
        ]
    );
    owner.set_data("/sec", b"new", Some(0)).await.unwrap();

    // ACL of a node made with a digest id directly (no auth needed to create it)
    let u2_only = [Acl::new(
        Permission::READ | Permission::WRITE,
        AuthId::new("digest", U2_ID),
    )];
    anon.create(
        "/u2",
        b"",
        &CreateMode::Persistent.with_acls(Acls::new(&u2_only)),
    )
    .await
    .unwrap();
    let u2 = server.connect_digest(U2_AUTH).await;
    u2.set_data("/u2", b"mine", None).await.unwrap();
    assert_eq!(anon.get_data("/u2").await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(
        u2.delete("/u2", None).await,
        Ok(()),
        "delete needs DELETE on the parent (open), not on the node"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn super_user_bypasses_acls() {
    let server = TestServer::start();
    let owner = server.connect_digest(U1_AUTH).await;
    owner
        .create(
            "/locked",
            b"x",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    let none = [Acl::new(Permission::READ, AuthId::new("digest", U2_ID))];
    owner
        .create(
            "/locked/kid",
            b"k",
            &CreateMode::Persistent.with_acls(Acls::new(&none)),
        )
        .await
        .unwrap();

    let su = server.connect_digest("super:test").await;
    assert_eq!(su.get_data("/locked").await.unwrap().0, b"x");
    assert_eq!(su.get_data("/locked/kid").await.unwrap().0, b"k");
    su.set_data("/locked/kid", b"by-super", None).await.unwrap();
    su.create("/locked/new", b"", &open_acl()).await.unwrap();
    su.set_acl("/locked/kid", &Acls::anyone_all(), None)
        .await
        .unwrap();
    su.delete("/locked/new", None).await.unwrap();
    su.delete("/locked/kid", None).await.unwrap();
    su.delete("/locked", None).await.unwrap();

    // a wrong super password is just an unknown digest user
    let not_su = server.connect_digest("super:wrong").await;
    owner
        .create(
            "/locked2",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    assert_eq!(
        not_su.get_data("/locked2").await.unwrap_err(),
        zk::Error::NoAuth
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_lists_ip_and_digest_identities() {
    let server = TestServer::start();
    let anon = server.connect().await;
    let ids: Vec<(String, String)> = anon
        .list_auth_users()
        .await
        .unwrap()
        .iter()
        .map(|u| (u.scheme().to_string(), u.user().to_string()))
        .collect();
    assert_eq!(ids, vec![("ip".to_string(), "127.0.0.1".to_string())]);

    let u1 = server.connect_digest(U1_AUTH).await;
    let mut ids: Vec<(String, String)> = u1
        .list_auth_users()
        .await
        .unwrap()
        .iter()
        .map(|u| (u.scheme().to_string(), u.user().to_string()))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            ("digest".to_string(), "u1".to_string()),
            ("ip".to_string(), "127.0.0.1".to_string())
        ]
    );

    // a second identity added later shows up too
    u1.auth("digest", U2_AUTH.as_bytes()).await.unwrap();
    let mut ids: Vec<String> = u1
        .list_auth_users()
        .await
        .unwrap()
        .iter()
        .map(|u| u.user().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["127.0.0.1", "u1", "u2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_fields_follow_zookeeper_rules() {
    let server = TestServer::start();
    let c = server.connect().await;
    let (p0, _) = c.create("/st", b"abc", &open_acl()).await.unwrap();

    let (a, _) = c.create("/st/a", b"", &open_acl()).await.unwrap();
    let p1 = c.get_data("/st").await.unwrap().1;
    assert_eq!(p1.cversion, 1);
    assert_eq!(p1.num_children, 1);
    assert_eq!(p1.pzxid, a.czxid, "pzxid = zxid of the last child create");
    assert_eq!(
        p1.mzxid, p0.mzxid,
        "child changes do not touch the parent's mzxid"
    );
    assert_eq!(p1.version, 0);
    assert_eq!(p1.data_length, 3);

    // data change of a child does not touch the parent
    let sa = c.set_data("/st/a", b"zz", None).await.unwrap();
    let p2 = c.get_data("/st").await.unwrap().1;
    assert_eq!(p2, p1);
    assert_eq!(sa.pzxid, a.pzxid);

    c.delete("/st/a", None).await.unwrap();
    let p3 = c.get_data("/st").await.unwrap().1;
    assert_eq!(
        p3.cversion, 2,
        "a child delete also bumps the visible cversion"
    );
    assert_eq!(p3.num_children, 0);
    assert!(p3.pzxid > sa.mzxid, "pzxid moves to the delete's zxid");
    let later = c.set_data("/st", b"", None).await.unwrap();
    assert!(p3.pzxid < later.mzxid);
    assert_eq!(later.pzxid, p3.pzxid);
    assert_eq!(later.data_length, 0);
    assert_eq!(later.version, 1);
    assert_eq!(later.cversion, 2);

    // setACL only bumps aversion
    let st = c.set_acl("/st", &Acls::anyone_all(), None).await.unwrap();
    assert_eq!((st.version, st.cversion, st.aversion), (1, 2, 1));
    assert_eq!(st.mzxid, later.mzxid);
    assert_eq!(st.mtime, later.mtime);

    // ephemeral children count too; ephemeral owner is per node
    c.create("/st/e", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    let p4 = c.get_data("/st").await.unwrap().1;
    assert_eq!(
        (p4.cversion, p4.num_children, p4.ephemeral_owner),
        (3, 1, 0)
    );

    // the root's stat counts its children too
    let (_, root) = c.get_children("/").await.unwrap();
    assert_eq!(root.num_children, 2, "/zookeeper and /st");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_nodes_are_present() {
    let server = TestServer::start();
    let c = server.connect().await;
    assert!(c.check_stat("/zookeeper").await.unwrap().is_some());
    let mut kids = c.list_children("/zookeeper").await.unwrap();
    kids.sort();
    assert_eq!(kids, vec!["config", "quota"]);
    let (_, stat) = c.get_data("/zookeeper/config").await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0);
    let (_, stat2) = c.get_config().await.unwrap();
    assert_eq!(stat2, stat);
    let (acl, _) = c.get_acl("/zookeeper/config").await.unwrap();
    assert_eq!(acl, vec![Acl::new(Permission::READ, AuthId::anyone())]);
    assert_eq!(
        c.set_data("/zookeeper/config", b"x", None)
            .await
            .unwrap_err(),
        zk::Error::NoAuth
    );
    let (acl, _) = c.get_acl("/zookeeper").await.unwrap();
    assert_eq!(acl, vec![Acl::new(Permission::ALL, AuthId::anyone())]);
    let (data, root) = c.get_data("/").await.unwrap();
    assert!(data.is_empty());
    assert_eq!(
        root.czxid, 0,
        "the root has an all-zero stat apart from children"
    );
    assert_eq!(root.num_children, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_packets_on_the_wire() {
    let server = TestServer::start();
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    // The Java client sends auth with xid -4; other clients (the Rust crate, for one) use their
    // normal xid counter. The reply echoes whatever xid came in, with zxid 0 and no body.
    for (xid, cred) in [(-4, U1_AUTH), (7, U2_AUTH)] {
        let f = Enc::new()
            .int(xid)
            .int(op::AUTH)
            .int(0)
            .string("digest")
            .buffer(cred.as_bytes())
            .frame();
        raw.write(&f).await.unwrap();
        let r = raw.read_frame().await;
        assert_eq!(
            (r.xid, r.zxid, r.err),
            (xid, 0, 0),
            "auth reply for xid {xid}"
        );
        assert!(r.body.is_empty());
    }
    // whoAmI (107): vector<ClientInfo{scheme, user}>; a digest user is its name only
    let (_, r) = raw.call(107, &[]).await;
    assert_eq!(r.err, 0);
    let mut d = Dec(&r.body);
    let n = d.int();
    let mut ids: Vec<(String, String)> = (0..n)
        .map(|_| (d.string().unwrap(), d.string().unwrap()))
        .collect();
    ids.sort();
    let want = [("digest", "u1"), ("digest", "u2"), ("ip", "127.0.0.1")];
    assert_eq!(
        ids,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );

    // an unknown scheme: AuthFailed (-115), then the server closes the connection
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let f = Enc::new()
        .int(-4)
        .int(op::AUTH)
        .int(0)
        .string("nosuchscheme")
        .buffer(b"x")
        .frame();
    raw.write(&f).await.unwrap();
    let r = raw.read_frame().await;
    assert_eq!((r.xid, r.err), (-4, -115));
    assert!(raw.closed_within(Duration::from_secs(5)).await);
}
