//! Durability: data, sessions and zxids survive a graceful restart and repeated kill -9
//! across checkpoints. (kill -9 under pipelined load, and at the points where a
//! checkpoint, rollover or purge is half done: tests/crash.rs.)

mod common;

use std::time::Duration;

use common::*;
use zk::{CreateMode, EventType};
use zookeeper_client as zk;

/// Retry a read while the client reconnects after a server restart.
async fn get_retrying(c: &zk::Client, path: &str) -> Result<(Vec<u8>, zk::Stat), zk::Error> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match c.get_data(path).await {
            Err(zk::Error::ConnectionLoss) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            r => return r,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_keeps_data_sessions_watches_and_zxid_order() {
    let mut server = TestServer::start();
    let a = server.connect().await; // 10 s session, survives the restart
    let sid = a.session_id();
    a.create("/d", b"root", &open_acl()).await.unwrap();
    for i in 0..50 {
        a.create(&format!("/d/n{i}"), format!("v{i}").as_bytes(), &open_acl())
            .await
            .unwrap();
    }
    let n7 = a.set_data("/d/n7", b"changed", None).await.unwrap();
    a.delete("/d/n8", None).await.unwrap();
    a.create("/d/eph", b"mine", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    let (_, seq_before) = a
        .create("/d/s-", b"", &mode(CreateMode::PersistentSequential))
        .await
        .unwrap();
    a.create("/d/watched", b"", &open_acl()).await.unwrap();
    let owner = server.connect_digest(U1_AUTH).await;
    owner
        .create(
            "/d/acl",
            b"",
            &CreateMode::Persistent.with_acls(zk::Acls::creator_all()),
        )
        .await
        .unwrap();
    let (_, _, w) = a.get_and_watch_data("/d/watched").await.unwrap();
    let last = a.set_data("/d", b"last", None).await.unwrap();
    let d_stat = a.get_children("/d").await.unwrap().1;

    server.stop();
    server.restart();

    let b = server.connect().await;
    let (kids, d_after) = b.get_children("/d").await.unwrap();
    assert_eq!(kids.len(), 49 + 4, "{kids:?}");
    assert_eq!(d_after, d_stat, "the parent's stat survives exactly");
    assert_eq!(b.get_data("/d").await.unwrap().0, b"last");
    assert_eq!(b.get_data("/d/n3").await.unwrap().0, b"v3");
    assert_eq!(
        b.get_data("/d/n7").await.unwrap(),
        (b"changed".to_vec(), n7)
    );
    assert_eq!(
        b.check_stat("/d/n8").await.unwrap(),
        None,
        "a delete survives too"
    );
    assert_eq!(
        b.get_data("/d/acl").await.unwrap_err(),
        zk::Error::NoAuth,
        "ACLs survive"
    );

    // the session survived: the ephemeral is still there and the old client resumes it
    let (_, eph) = b.get_data("/d/eph").await.unwrap();
    assert_eq!(eph.ephemeral_owner, sid.0);
    assert_eq!(get_retrying(&a, "/d/eph").await.unwrap().0, b"mine");
    assert_eq!(a.session_id(), sid);

    // the old client's watch was re-registered on reconnect
    b.set_data("/d/watched", b"x", None).await.unwrap();
    let e = within(
        Duration::from_secs(10),
        "the pre-restart watch",
        w.changed(),
    )
    .await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/d/watched")
    );

    // zxids keep increasing; the sequence counter continues
    let after = b.set_data("/d/n1", b"new", None).await.unwrap();
    assert!(
        after.mzxid > last.mzxid,
        "zxid after restart {:#x} <= before {:#x}",
        after.mzxid,
        last.mzxid
    );
    let (_, seq_after) = b
        .create("/d/s-", b"", &mode(CreateMode::PersistentSequential))
        .await
        .unwrap();
    assert_eq!(
        seq_after.into_i64(),
        seq_before.into_i64() + 3,
        "created since: watched, acl, and this one"
    );

    // closing the resumed session still deletes its ephemeral
    drop(a);
    assert!(
        wait_until!(
            Duration::from_secs(5),
            b.check_stat("/d/eph").await.unwrap().is_none()
        ),
        "ephemeral removed by closeSession after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_across_snapshots_survive_repeated_kill9() {
    let mut server = TestServer::start_with(ServerOptions {
        extra: vec![("snapCount".into(), "40".into())],
        ..Default::default()
    });
    let mut expected: Vec<(String, String)> = Vec::new();
    for round in 0..3 {
        let c = server.connect().await;
        if round == 0 {
            c.create("/snap", b"", &open_acl()).await.unwrap();
        }
        let futs: Vec<_> = (0..120)
            .map(|i| {
                let path = format!("/snap/r{round}-{i}");
                let data = format!("{round}:{i}");
                expected.push((path.clone(), data.clone()));
                let c = c.clone();
                async move {
                    c.create(&path, data.as_bytes(), &open_acl())
                        .await
                        .map(|_| ())
                }
            })
            .collect();
        for r in futures::future::join_all(futs).await {
            r.unwrap();
        }
        // overwrite some earlier ones, delete a few
        for i in (0..120).step_by(10) {
            let path = format!("/snap/r{round}-{i}");
            c.set_data(&path, b"overwritten", None).await.unwrap();
            let e = expected.iter_mut().find(|(p, _)| *p == path).unwrap();
            e.1 = "overwritten".into();
        }
        for i in (5..120).step_by(30) {
            let path = format!("/snap/r{round}-{i}");
            c.delete(&path, None).await.unwrap();
            expected.retain(|(p, _)| *p != path);
        }
        drop(c);
        server.kill9();
        server.restart();
        let c = server.connect().await;
        let mut kids = c.list_children("/snap").await.unwrap();
        kids.sort();
        let mut want: Vec<String> = expected
            .iter()
            .map(|(p, _)| p.trim_start_matches("/snap/").to_string())
            .collect();
        want.sort();
        assert_eq!(kids, want, "children after kill -9 round {round}");
        for (p, d) in &expected {
            assert_eq!(
                String::from_utf8(c.get_data(p).await.unwrap().0).unwrap(),
                *d,
                "{p} after round {round}"
            );
        }
    }
}
