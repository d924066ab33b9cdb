//! Sessions: close, expiry, reattach, passwords, timeout negotiation.

mod common;

use std::time::{Duration, Instant};

use common::*;
use zk::{CreateMode, EventType};
use zookeeper_client as zk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_vanishes_when_its_session_closes() {
    let server = TestServer::start();
    let watcher = server.connect().await;
    let owner = server.connect().await; // 10 s session: only an explicit close can explain a quick delete
    owner
        .create("/e", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    owner
        .create("/e-seq-", b"", &mode(CreateMode::EphemeralSequential))
        .await
        .unwrap();
    let (stat, w) = watcher.check_and_watch_stat("/e").await.unwrap();
    assert_eq!(stat.unwrap().ephemeral_owner, owner.session_id().0);

    let t = Instant::now();
    drop(owner); // the crate sends closeSession when the last handle goes
    let e = within(
        Duration::from_secs(5),
        "NodeDeleted after closeSession",
        w.changed(),
    )
    .await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/e")
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "deleted by the close, not by expiry"
    );
    assert_eq!(watcher.check_stat("/e").await.unwrap(), None);
    assert_eq!(
        watcher.list_children("/").await.unwrap(),
        vec!["zookeeper"],
        "all its ephemerals are gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_session_on_the_wire_closes_the_socket() {
    let server = TestServer::start();
    let (mut raw, resp) = Raw::connect(server.port, 10_000).await;
    assert_eq!(resp.protocol_version, 0);
    assert_eq!(resp.passwd.len(), 16);
    assert_eq!(resp.timeout, 10_000);
    let (_, r) = raw
        .call(
            op::CREATE,
            &Enc::new()
                .string("/raw-eph")
                .buffer(b"")
                .open_acl()
                .int(1)
                .bytes(),
        )
        .await;
    assert_eq!(r.err, 0);
    let (_, r) = raw.call(op::CLOSE_SESSION, &[]).await;
    assert_eq!(r.err, 0);
    assert!(r.body.is_empty());
    assert!(
        raw.closed_within(Duration::from_secs(5)).await,
        "the server closes the socket after closeSession"
    );
    let c = server.connect().await;
    assert_eq!(c.check_stat("/raw-eph").await.unwrap(), None);

    // reattaching to a closed session is refused
    let mut again = Raw::open(server.port).await;
    let resp2 = again
        .handshake(10_000, resp.session_id, &resp.passwd)
        .await
        .expect("a connect response");
    assert_eq!(
        (resp2.timeout, resp2.session_id),
        (0, 0),
        "closed session: timeout 0, id 0"
    );
    assert!(again.closed_within(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_loses_its_ephemerals_and_fires_watches() {
    let server = TestServer::start();
    let observer = server.connect().await;
    observer.create("/exp", b"", &open_acl()).await.unwrap();

    let doomed = server
        .connect_with(
            zk::Client::connector()
                .with_session_timeout(Duration::from_millis(600))
                .with_detached(),
        )
        .await;
    assert_eq!(doomed.session_timeout(), Duration::from_millis(600));
    let sid = doomed.session_id();
    doomed
        .create("/exp/e1", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    doomed
        .create("/exp/e2", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    let session = doomed.session().clone();

    let (_, data_w) = observer.check_and_watch_stat("/exp/e1").await.unwrap();
    let (_, child_w) = observer.list_and_watch_children("/exp").await.unwrap();
    // detached: the connection goes away without closeSession, so only expiry can remove them
    drop(doomed);
    let t = Instant::now();
    let e = within(
        Duration::from_secs(10),
        "NodeDeleted on expiry",
        data_w.changed(),
    )
    .await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/exp/e1")
    );
    let e = within(
        Duration::from_secs(5),
        "NodeChildrenChanged on expiry",
        child_w.changed(),
    )
    .await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/exp")
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "expired in about its 600 ms timeout, took {:?}",
        t.elapsed()
    );
    assert_eq!(
        observer.list_children("/exp").await.unwrap(),
        Vec::<String>::new()
    );

    // the expired session cannot be resumed
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        zk::Client::connector()
            .with_session(session)
            .with_fail_eagerly()
            .connect(&server.addr()),
    )
    .await
    .expect("reconnect attempt timed out");
    assert_eq!(
        r.map(|c| c.session_id()).unwrap_err(),
        zk::Error::SessionExpired,
        "session {sid} is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_raw_session_expires_and_its_socket_is_closed() {
    let server = TestServer::start();
    let (mut raw, resp) = Raw::connect(server.port, 400).await;
    assert_eq!(resp.timeout, 400);
    let (_, r) = raw
        .call(
            op::CREATE,
            &Enc::new()
                .string("/idle")
                .buffer(b"")
                .open_acl()
                .int(1)
                .bytes(),
        )
        .await;
    assert_eq!(r.err, 0);
    // send nothing more (no pings): the server must expire the session and drop the socket
    assert!(
        raw.closed_within(Duration::from_secs(6)).await,
        "the socket of an expired session is closed"
    );
    let c = server.connect().await;
    assert!(
        wait_until!(
            Duration::from_secs(3),
            c.check_stat("/idle").await.unwrap().is_none()
        ),
        "the expired session's ephemeral is deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_keep_a_short_session_alive() {
    let server = TestServer::start();
    let (mut raw, _) = Raw::connect(server.port, 800).await;
    let (_, r) = raw
        .call(
            op::CREATE,
            &Enc::new()
                .string("/alive")
                .buffer(b"")
                .open_acl()
                .int(1)
                .bytes(),
        )
        .await;
    assert_eq!(r.err, 0);
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let f = Enc::new().int(-2).int(op::PING).frame();
        raw.write(&f).await.unwrap();
        let reply = raw.read_frame().await;
        assert_eq!((reply.xid, reply.err), (-2, 0), "ping reply");
        assert!(reply.body.is_empty());
    }
    let c = server.connect().await;
    assert!(
        c.check_stat("/alive").await.unwrap().is_some(),
        "2 s of pings kept an 800 ms session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattach_with_id_and_password_keeps_ephemerals() {
    let server = TestServer::start();
    let first = server
        .connect_with(
            zk::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .with_detached(),
        )
        .await;
    let sid = first.session_id();
    first
        .create("/re", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    let session = first.session().clone();
    drop(first); // detached: the session stays

    let second = server
        .connect_with(zk::Client::connector().with_session(session))
        .await;
    assert_eq!(second.session_id(), sid, "the same session was resumed");
    let (_, stat) = second.get_data("/re").await.unwrap();
    assert_eq!(stat.ephemeral_owner, sid.0);
    assert_eq!(second.list_ephemerals("/").await.unwrap(), vec!["/re"]);
    second
        .create("/re2", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();

    let other = server.connect().await;
    drop(second); // not detached: closes the session
    assert!(
        wait_until!(Duration::from_secs(5), {
            other.check_stat("/re").await.unwrap().is_none()
                && other.check_stat("/re2").await.unwrap().is_none()
        }),
        "closing the resumed session deletes both ephemerals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattach_on_the_wire_moves_the_session_and_checks_the_password() {
    let server = TestServer::start();
    let (mut first, resp) = Raw::connect(server.port, 10_000).await;
    let (_, r) = first
        .call(
            op::CREATE,
            &Enc::new()
                .string("/mv")
                .buffer(b"")
                .open_acl()
                .int(1)
                .bytes(),
        )
        .await;
    assert_eq!(r.err, 0);

    // wrong password: refused with timeout 0 / session 0 / zero password, then closed
    let mut bad = Raw::open(server.port).await;
    let mut wrong = resp.passwd.clone();
    wrong[0] ^= 0xff;
    let r = bad
        .handshake(10_000, resp.session_id, &wrong)
        .await
        .expect("a connect response");
    assert_eq!(
        (r.timeout, r.session_id),
        (0, 0),
        "wrong password: the session is reported expired"
    );
    assert_eq!(r.passwd, vec![0u8; 16]);
    assert!(bad.closed_within(Duration::from_secs(5)).await);
    // an unknown session id
    let mut unknown = Raw::open(server.port).await;
    let r = unknown
        .handshake(10_000, 0x7abc_0000_0000_0001, &[0u8; 16])
        .await
        .expect("a connect response");
    assert_eq!((r.timeout, r.session_id), (0, 0));

    // (ZooKeeper closes the session's current connection on any reattach attempt, before the
    // password check, so `first` is not used again; the session itself must survive.)

    // right password on a new connection: same session, and the old socket is closed
    let mut second = Raw::open(server.port).await;
    let r = second
        .handshake(10_000, resp.session_id, &resp.passwd)
        .await
        .expect("a connect response");
    assert_eq!(r.session_id, resp.session_id);
    assert_eq!(
        r.passwd, resp.passwd,
        "the password of a session does not change"
    );
    assert_eq!(r.timeout, 10_000);
    assert!(
        first.closed_within(Duration::from_secs(5)).await,
        "the session's old connection is closed"
    );
    let (_, r) = second
        .call(
            op::GET_DATA,
            &Enc::new().string("/mv").boolean(false).bytes(),
        )
        .await;
    assert_eq!(r.err, 0);
    let mut d = Dec(&r.body);
    let _ = d.buffer();
    let (_, _) = d.stat_mzxid_version();
    let c = server.connect().await;
    assert_eq!(
        c.get_data("/mv").await.unwrap().1.ephemeral_owner,
        resp.session_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timeout_is_clamped_to_the_configured_range() {
    let server = TestServer::start_with(ServerOptions {
        min_session_timeout: 500,
        max_session_timeout: 3000,
        ..Default::default()
    });
    for (asked, want) in [
        (100, 500),
        (499, 500),
        (1234, 1234),
        (3000, 3000),
        (60_000, 3000),
    ] {
        let mut raw = Raw::open(server.port).await;
        let r = raw
            .handshake(asked, 0, &[0u8; 16])
            .await
            .expect("connect response");
        assert_eq!(r.timeout, want, "asked {asked} ms");
        assert_ne!(r.session_id, 0);
        let _ = raw.call(op::CLOSE_SESSION, &[]).await;
    }
    let c = server
        .connect_with(zk::Client::connector().with_session_timeout(Duration::from_secs(60)))
        .await;
    assert_eq!(c.session_timeout(), Duration::from_millis(3000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_ids_are_distinct_and_passwords_16_bytes() {
    let server = TestServer::start();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (mut raw, r) = Raw::connect(server.port, 5000).await;
        assert_eq!(r.passwd.len(), 16);
        ids.push(r.session_id);
        let _ = raw.call(op::CLOSE_SESSION, &[]).await;
    }
    let mut dedup = ids.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), ids.len(), "{ids:x?}");
    for id in &ids {
        assert_ne!(*id, 0);
        assert_ne!((*id as u64) >> 56, 0xff, "never the TTL owner pattern");
        assert_ne!(*id, i64::MIN, "never the container owner pattern");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_client_without_readonly_flag_is_answered_without_it() {
    let server = TestServer::start();
    let mut raw = Raw::open(server.port).await;
    // a ConnectRequest without the trailing readOnly byte (44 bytes)
    let req = Enc::new()
        .int(0)
        .long(0)
        .int(5000)
        .long(0)
        .buffer(&[0u8; 16])
        .frame();
    assert_eq!(req.len(), 4 + 44);
    raw.write(&req).await.unwrap();
    let p = raw
        .read_payload(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("connect response");
    assert_eq!(
        p.len(),
        4 + 4 + 8 + 4 + 16,
        "no readOnly byte in the reply to an old client"
    );
    // with the flag, the reply has it
    let mut raw2 = Raw::open(server.port).await;
    raw2.write(&connect_request(5000, 0, &[0u8; 16]))
        .await
        .unwrap();
    let p = raw2
        .read_payload(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("connect response");
    assert_eq!(p.len(), 4 + 4 + 8 + 4 + 16 + 1);
    assert_eq!(p[p.len() - 1], 0, "readOnly false");
}

/// The order of a closing session's NodeDeleted events, and its getEphemerals answer, on
/// zkd (`reference` false) or Apache ZooKeeper: one session creates `n` ephemerals one by
/// one under three parents, then closes; another watches the whole tree.
async fn close_order(reference: bool, n: usize) -> (Vec<String>, Vec<String>) {
    let server = TestServer::start_with(ServerOptions {
        reference,
        ..ServerOptions::default()
    });
    let watcher = server.connect().await;
    for p in ["/p0", "/p1", "/p2"] {
        watcher
            .create(p, b"", &mode(CreateMode::Persistent))
            .await
            .unwrap();
    }
    let owner = server.connect().await;
    for i in 0..n {
        let path = format!("/p{}/e{i}", i % 3);
        owner
            .create(&path, b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap();
    }
    let listed = owner.list_ephemerals("/").await.unwrap();
    let mut events = watcher
        .watch("/", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    drop(owner); // closeSession
    let mut deleted = Vec::new();
    while deleted.len() < n {
        let e = within(Duration::from_secs(10), "NodeDeleted", events.changed()).await;
        assert_eq!(e.event_type, EventType::NodeDeleted, "{e:?}");
        deleted.push(e.path);
    }
    (deleted, listed)
}

/// ZooKeeper deletes a closing session's ephemerals (firing their watches) in the order its
/// per-session `HashSet` iterates, and getEphemerals lists them in that order too; zkd does
/// the same (src/tree/ephemerals.rs), checked against Apache ZooKeeper in the same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_session_deletes_its_ephemerals_in_zookeepers_order() {
    for n in [2, 5, 40] {
        let zkd = close_order(false, n).await;
        let zookeeper = close_order(true, n).await;
        assert_eq!(
            zkd.0, zookeeper.0,
            "order of NodeDeleted for {n} ephemerals"
        );
        assert_eq!(zkd.1, zookeeper.1, "getEphemerals order for {n} ephemerals");
        let mut sorted = zkd.0.clone();
        sorted.sort();
        if n > 2 {
            assert_ne!(zkd.0, sorted, "{n} ephemerals: not simply path order");
        }
    }
}
