//! Watches: one-shot data/exists/child watches, persistent and persistent-recursive watches,
//! ordering of notifications against replies, removeWatches/checkWatches.

mod common;

use std::time::Duration;

use common::*;
use zk::{Acl, AddWatchMode, AuthId, CreateMode, EventType, Permission, WatchedEvent};
use zookeeper_client as zk;

const EVENT_WAIT: Duration = Duration::from_secs(5);
/// How long "no event" is observed when a negative can't be fenced by a later event.
const QUIET: Duration = Duration::from_millis(300);

async fn fired(w: zk::OneshotWatcher) -> WatchedEvent {
    within(EVENT_WAIT, "a one-shot watch event", w.changed()).await
}

async fn next(w: &mut zk::PersistentWatcher) -> WatchedEvent {
    within(EVENT_WAIT, "a persistent watch event", w.changed()).await
}

fn ev(e: &WatchedEvent) -> (EventType, &str) {
    (e.event_type, e.path.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_watch_fires_on_set_and_on_delete() {
    let server = TestServer::start();
    let c = server.connect().await;
    let other = server.connect().await;
    c.create("/w", b"0", &open_acl()).await.unwrap();

    let (data, _, w) = c.get_and_watch_data("/w").await.unwrap();
    assert_eq!(data, b"0");
    let st = other.set_data("/w", b"1", None).await.unwrap();
    let e = fired(w).await;
    assert_eq!(ev(&e), (EventType::NodeDataChanged, "/w"));
    assert_eq!(e.session_state, zk::SessionState::SyncConnected);
    if zk39_only("watch notifications carry the txn zxid (ZOOKEEPER-4655)") {
        assert_eq!(
            e.zxid, st.mzxid,
            "the notification's zxid is the setData's zxid"
        );
    }

    let (_, _, w) = c.get_and_watch_data("/w").await.unwrap();
    other.delete("/w", None).await.unwrap();
    let e = fired(w).await;
    assert_eq!(ev(&e), (EventType::NodeDeleted, "/w"));

    // a data watch on a missing node is not set: getData fails with NoNode
    assert_eq!(
        c.get_and_watch_data("/w").await.unwrap_err(),
        zk::Error::NoNode
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exists_watch_fires_on_create_change_and_delete() {
    let server = TestServer::start();
    let c = server.connect().await;
    let other = server.connect().await;

    let (stat, w) = c.check_and_watch_stat("/x").await.unwrap();
    assert_eq!(stat, None);
    let (created, _) = other.create("/x", b"", &open_acl()).await.unwrap();
    let e = fired(w).await;
    assert_eq!(ev(&e), (EventType::NodeCreated, "/x"));
    if zk39_only("watch notifications carry the txn zxid (ZOOKEEPER-4655)") {
        assert_eq!(e.zxid, created.czxid);
    }

    let (stat, w) = c.check_and_watch_stat("/x").await.unwrap();
    assert!(stat.is_some());
    other.set_data("/x", b"new", None).await.unwrap();
    assert_eq!(ev(&fired(w).await), (EventType::NodeDataChanged, "/x"));

    let (_, w) = c.check_and_watch_stat("/x").await.unwrap();
    other.delete("/x", None).await.unwrap();
    assert_eq!(ev(&fired(w).await), (EventType::NodeDeleted, "/x"));

    // a child create under a watched node is not an exists event; the later data change is
    other.create("/x", b"", &open_acl()).await.unwrap();
    let (_, w) = c.check_and_watch_stat("/x").await.unwrap();
    other.create("/x/kid", b"", &open_acl()).await.unwrap();
    other.set_data("/x", b"fence", None).await.unwrap();
    assert_eq!(ev(&fired(w).await), (EventType::NodeDataChanged, "/x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_watch_fires_on_child_changes_and_node_delete() {
    let server = TestServer::start();
    let c = server.connect().await;
    let other = server.connect().await;
    c.create("/cw", b"", &open_acl()).await.unwrap();

    let (kids, w) = c.list_and_watch_children("/cw").await.unwrap();
    assert!(kids.is_empty());
    // a data change of the watched node is not a child event
    other.set_data("/cw", b"d", None).await.unwrap();
    // a grandchild is not a child event either (it needs a child first)
    other.create("/cw/a", b"", &open_acl()).await.unwrap();
    assert_eq!(ev(&fired(w).await), (EventType::NodeChildrenChanged, "/cw"));

    let (kids, stat, w) = c.get_and_watch_children("/cw").await.unwrap();
    assert_eq!(kids, vec!["a"]);
    assert_eq!(stat.num_children, 1);
    other.create("/cw/a/grand", b"", &open_acl()).await.unwrap();
    other.set_data("/cw/a", b"x", None).await.unwrap();
    other.delete("/cw/a/grand", None).await.unwrap();
    other.delete("/cw/a", None).await.unwrap(); // the first event for /cw's child watch
    assert_eq!(ev(&fired(w).await), (EventType::NodeChildrenChanged, "/cw"));

    let (_, w) = c.list_and_watch_children("/cw").await.unwrap();
    other.delete("/cw", None).await.unwrap();
    assert_eq!(ev(&fired(w).await), (EventType::NodeDeleted, "/cw"));

    // ephemeral children count as children; their session close fires the parent's watch
    c.create("/cw2", b"", &open_acl()).await.unwrap();
    let eph_owner = server.connect().await;
    eph_owner
        .create("/cw2/e", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    let (kids, w) = c.list_and_watch_children("/cw2").await.unwrap();
    assert_eq!(kids, vec!["e"]);
    drop(eph_owner);
    assert_eq!(
        ev(&fired(w).await),
        (EventType::NodeChildrenChanged, "/cw2")
    );

    // no child watch on a missing node
    assert_eq!(
        c.list_and_watch_children("/nope").await.unwrap_err(),
        zk::Error::NoNode
    );
}

fn get_data_req(path: &str, watch: bool) -> Vec<u8> {
    Enc::new().string(path).boolean(watch).bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_watch_fires_once_and_before_the_reply_showing_the_change() {
    let server = TestServer::start();
    let other = server.connect().await;
    other.create("/o", b"0", &open_acl()).await.unwrap();
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;

    // watch set by getData; two changes by another session
    let (ev0, r) = raw.call(op::GET_DATA, &get_data_req("/o", true)).await;
    assert!(ev0.is_empty() && r.err == 0);
    let s1 = other.set_data("/o", b"1", None).await.unwrap();
    let s2 = other.set_data("/o", b"2", None).await.unwrap();
    // any read sent now must be preceded by exactly one notification
    let (events, r) = raw.call(op::GET_DATA, &get_data_req("/o", false)).await;
    assert_eq!(r.err, 0);
    let mut d = Dec(&r.body);
    assert_eq!(d.buffer().unwrap(), b"2");
    assert_eq!(d.stat_mzxid_version(), (s2.mzxid, 2));
    assert_eq!(
        events.len(),
        1,
        "a one-shot watch fires exactly once: {events:?}"
    );
    assert_eq!(
        events[0].event(),
        (3, 3, "/o".to_string()),
        "NodeDataChanged, SyncConnected, path"
    );
    if zk39_only("watch notifications carry the txn zxid (ZOOKEEPER-4655)") {
        assert_eq!(events[0].zxid, s1.mzxid, "the first change fired the watch");
    } else {
        assert_eq!(
            events[0].zxid, -1,
            "ZooKeeper 3.8 sends -1 as the notification zxid"
        );
    }

    // the same session's own write: the notification precedes the write's reply
    let (_, r) = raw.call(op::EXISTS, &get_data_req("/o", true)).await;
    assert_eq!(r.err, 0);
    let (events, r) = raw
        .call(
            op::SET_DATA,
            &Enc::new().string("/o").buffer(b"3").int(-1).bytes(),
        )
        .await;
    assert_eq!(r.err, 0);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event(), (3, 3, "/o".to_string()));

    // an exists watch on a missing node: NoNode reply, watch kept, NodeCreated before later replies
    let (_, r) = raw.call(op::EXISTS, &get_data_req("/o2", true)).await;
    assert_eq!(r.err, err::NO_NODE);
    assert!(r.body.is_empty(), "an error reply has no body");
    other.create("/o2", b"", &open_acl()).await.unwrap();
    other.delete("/o2", None).await.unwrap();
    let (events, r) = raw.call(op::EXISTS, &get_data_req("/o2", false)).await;
    assert_eq!(r.err, err::NO_NODE);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event(), (1, 3, "/o2".to_string()), "NodeCreated");

    // a child watch: create+delete of a child fire it once
    let (_, r) = raw.call(op::GET_CHILDREN, &get_data_req("/o", true)).await;
    assert_eq!(r.err, 0);
    other.create("/o/k", b"", &open_acl()).await.unwrap();
    other.delete("/o/k", None).await.unwrap();
    let (events, _) = raw.call(op::GET_CHILDREN, &get_data_req("/o", false)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].event(),
        (4, 3, "/o".to_string()),
        "NodeChildrenChanged"
    );

    // data and child watches on one node, deleted: one NodeDeleted per watcher
    let (_, r) = raw.call(op::GET_DATA, &get_data_req("/o", true)).await;
    assert_eq!(r.err, 0);
    let (_, r) = raw.call(op::GET_CHILDREN, &get_data_req("/o", true)).await;
    assert_eq!(r.err, 0);
    other.delete("/o", None).await.unwrap();
    let (events, _) = raw.call(op::EXISTS, &get_data_req("/o", false)).await;
    assert_eq!(
        events.len(),
        1,
        "the watcher is notified once although it watched data and children: {events:?}"
    );
    assert_eq!(events[0].event(), (2, 3, "/o".to_string()), "NodeDeleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_fires_no_watch_and_a_good_one_does() {
    let server = TestServer::start();
    let other = server.connect().await;
    other.create("/mw", b"", &open_acl()).await.unwrap();
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let (_, r) = raw.call(op::GET_DATA, &get_data_req("/mw", true)).await;
    assert_eq!(r.err, 0);
    let (_, r) = raw.call(op::GET_CHILDREN, &get_data_req("/mw", true)).await;
    assert_eq!(r.err, 0);

    let mut w = other.new_multi_writer();
    w.add_set_data("/mw", b"x", None).unwrap();
    w.add_create("/mw/k", b"", &open_acl()).unwrap();
    w.add_delete("/missing", None).unwrap();
    assert!(w.commit().await.is_err());
    let (events, _) = raw.call(op::EXISTS, &get_data_req("/mw", false)).await;
    assert!(
        events.is_empty(),
        "a failed multi fires nothing: {events:?}"
    );

    let mut w = other.new_multi_writer();
    w.add_set_data("/mw", b"x", None).unwrap();
    w.add_create("/mw/k", b"", &open_acl()).unwrap();
    w.commit().await.unwrap();
    let (events, _) = raw.call(op::EXISTS, &get_data_req("/mw", false)).await;
    let mut got: Vec<_> = events.iter().map(|f| f.event()).collect();
    got.sort();
    assert_eq!(
        got,
        vec![(3, 3, "/mw".to_string()), (4, 3, "/mw".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watch_keeps_firing_for_the_node_and_its_children() {
    let server = TestServer::start();
    let c = server.connect().await;
    let other = server.connect().await;

    let mut w = c.watch("/pw", AddWatchMode::Persistent).await.unwrap();
    other.create("/pw", b"", &open_acl()).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeCreated, "/pw"));
    other.set_data("/pw", b"1", None).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeDataChanged, "/pw"));
    other.set_data("/pw", b"2", None).await.unwrap();
    assert_eq!(
        ev(&next(&mut w).await),
        (EventType::NodeDataChanged, "/pw"),
        "not one-shot"
    );
    other.create("/pw/a", b"", &open_acl()).await.unwrap();
    assert_eq!(
        ev(&next(&mut w).await),
        (EventType::NodeChildrenChanged, "/pw")
    );
    // deeper changes and a child's data are not this watch's business
    other.create("/pw/a/b", b"", &open_acl()).await.unwrap();
    other.set_data("/pw/a", b"", None).await.unwrap();
    other.create("/pwx", b"", &open_acl()).await.unwrap();
    other.set_data("/pw", b"fence", None).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeDataChanged, "/pw"));
    other.delete("/pw/a/b", None).await.unwrap();
    other.delete("/pw/a", None).await.unwrap();
    assert_eq!(
        ev(&next(&mut w).await),
        (EventType::NodeChildrenChanged, "/pw")
    );
    other.delete("/pw", None).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeDeleted, "/pw"));
    other.create("/pw", b"", &open_acl()).await.unwrap();
    assert_eq!(
        ev(&next(&mut w).await),
        (EventType::NodeCreated, "/pw"),
        "survives the node's deletion"
    );
    assert!(stays_pending(QUIET, w.changed()).await, "no further events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_recursive_watch_sees_the_whole_subtree() {
    let server = TestServer::start();
    let c = server.connect().await;
    let other = server.connect().await;

    let mut w = c
        .watch("/rw", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    other.create("/rw", b"", &open_acl()).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeCreated, "/rw"));
    other.create("/rw/a", b"", &open_acl()).await.unwrap();
    assert_eq!(
        ev(&next(&mut w).await),
        (EventType::NodeCreated, "/rw/a"),
        "no NodeChildrenChanged for recursive"
    );
    other.create("/rw/a/b", b"", &open_acl()).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeCreated, "/rw/a/b"));
    other.set_data("/rw/a/b", b"x", None).await.unwrap();
    assert_eq!(
        ev(&next(&mut w).await),
        (EventType::NodeDataChanged, "/rw/a/b")
    );
    // a sibling sharing the name prefix is outside the subtree
    other.create("/rwx", b"", &open_acl()).await.unwrap();
    other.create("/rwx/y", b"", &open_acl()).await.unwrap();
    other.set_data("/rw", b"fence", None).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeDataChanged, "/rw"));
    other.delete("/rw/a/b", None).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeDeleted, "/rw/a/b"));

    // a multi fires one event per op, in order
    let mut m = other.new_multi_writer();
    m.add_create("/rw/m1", b"", &open_acl()).unwrap();
    m.add_set_data("/rw/a", b"y", None).unwrap();
    m.add_delete("/rw/m1", None).unwrap();
    m.commit().await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeCreated, "/rw/m1"));
    assert_eq!(
        ev(&next(&mut w).await),
        (EventType::NodeDataChanged, "/rw/a")
    );
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeDeleted, "/rw/m1"));

    // an ephemeral's session ending is seen too
    let eph = server.connect().await;
    eph.create("/rw/e", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeCreated, "/rw/e"));
    drop(eph);
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeDeleted, "/rw/e"));
    assert!(stays_pending(QUIET, w.changed()).await, "no further events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_watch_on_root_sees_everything() {
    let server = TestServer::start();
    let c = server.connect().await;
    let other = server.connect().await;
    let mut w = c
        .watch("/", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    other.create("/top", b"", &open_acl()).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeCreated, "/top"));
    other.create("/top/k", b"", &open_acl()).await.unwrap();
    assert_eq!(ev(&next(&mut w).await), (EventType::NodeCreated, "/top/k"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_and_check_watches() {
    let server = TestServer::start();
    let other = server.connect().await;
    other.create("/rm", b"", &open_acl()).await.unwrap();

    // through the client crate: removing a live watch succeeds
    let c = server.connect().await;
    let (_, _, w) = c.get_and_watch_data("/rm").await.unwrap();
    #[allow(deprecated)]
    let removed = within(EVENT_WAIT, "removeWatches", w.remove()).await;
    assert_eq!(removed, Ok(()));
    let mut pw = c
        .watch("/rm", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    other.set_data("/rm", b"after-removal", None).await.unwrap();
    assert_eq!(
        ev(&next(&mut pw).await),
        (EventType::NodeDataChanged, "/rm")
    );
    #[allow(deprecated)]
    let removed = within(EVENT_WAIT, "removeWatches", pw.remove()).await;
    assert_eq!(removed, Ok(()));

    // on the wire: checkWatches (17) and removeWatches (18) with WatcherType
    // Children=1, Data=2, Any=3
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let wt = |path: &str, t: i32| Enc::new().string(path).int(t).bytes();
    let (_, r) = raw.call(op::CHECK_WATCHES, &wt("/rm", 2)).await;
    assert_eq!(r.err, err::NO_WATCHER, "no watch yet");
    let (_, r) = raw.call(op::GET_DATA, &get_data_req("/rm", true)).await;
    assert_eq!(r.err, 0);
    let (_, r) = raw.call(op::CHECK_WATCHES, &wt("/rm", 2)).await;
    assert_eq!(r.err, 0, "data watch present");
    let (_, r) = raw.call(op::CHECK_WATCHES, &wt("/rm", 3)).await;
    assert_eq!(r.err, 0, "any watch present");
    let (_, r) = raw.call(op::CHECK_WATCHES, &wt("/rm", 1)).await;
    assert_eq!(r.err, err::NO_WATCHER, "no child watch");
    let (_, r) = raw.call(op::REMOVE_WATCHES, &wt("/rm", 1)).await;
    assert_eq!(r.err, err::NO_WATCHER, "removing a missing child watch");

    let (_, r) = raw.call(op::GET_CHILDREN, &get_data_req("/rm", true)).await;
    assert_eq!(r.err, 0);
    let (_, r) = raw.call(op::REMOVE_WATCHES, &wt("/rm", 2)).await;
    assert_eq!(r.err, 0, "data watch removed");
    let (_, r) = raw.call(op::CHECK_WATCHES, &wt("/rm", 2)).await;
    assert_eq!(r.err, err::NO_WATCHER);
    let (_, r) = raw.call(op::CHECK_WATCHES, &wt("/rm", 1)).await;
    assert_eq!(r.err, 0, "the child watch is untouched");

    // the removed data watch no longer fires; the child watch still does
    other.set_data("/rm", b"x", None).await.unwrap();
    other.create("/rm/k", b"", &open_acl()).await.unwrap();
    let (events, _) = raw.call(op::EXISTS, &get_data_req("/rm", false)).await;
    let got: Vec<_> = events.iter().map(|f| f.event()).collect();
    assert_eq!(got, vec![(4, 3, "/rm".to_string())]);

    // Any removes both kinds
    let (_, r) = raw.call(op::GET_DATA, &get_data_req("/rm", true)).await;
    assert_eq!(r.err, 0);
    let (_, r) = raw.call(op::GET_CHILDREN, &get_data_req("/rm", true)).await;
    assert_eq!(r.err, 0);
    let (_, r) = raw.call(op::REMOVE_WATCHES, &wt("/rm", 3)).await;
    assert_eq!(r.err, 0);
    let (_, r) = raw.call(op::CHECK_WATCHES, &wt("/rm", 3)).await;
    assert_eq!(r.err, err::NO_WATCHER);
    other.set_data("/rm", b"y", None).await.unwrap();
    other.delete("/rm/k", None).await.unwrap();
    let (events, _) = raw.call(op::EXISTS, &get_data_req("/rm", false)).await;
    assert!(events.is_empty(), "{events:?}");

    // watches are per connection: another connection's watch is not visible here
    let (_, r) = raw.call(op::CHECK_WATCHES, &wt("/nothing", 3)).await;
    assert_eq!(r.err, err::NO_WATCHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_watch_reply_on_the_wire() {
    let server = TestServer::start();
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    // addWatch (106): AddWatchRequest{path, mode}; the reply body is ErrorResponse{0}
    let (_, r) = raw
        .call(op::ADD_WATCH, &Enc::new().string("/aw").int(1).bytes())
        .await;
    assert_eq!(r.err, 0);
    assert_eq!(
        r.body,
        vec![0, 0, 0, 0],
        "addWatch replies with a 4-byte ErrorResponse body"
    );
    let other = server.connect().await;
    other.create("/aw", b"", &open_acl()).await.unwrap();
    other.create("/aw/x", b"", &open_acl()).await.unwrap();
    let (events, _) = raw.call(op::EXISTS, &get_data_req("/aw", false)).await;
    let got: Vec<_> = events.iter().map(|f| f.event()).collect();
    assert_eq!(
        got,
        vec![(1, 3, "/aw".to_string()), (1, 3, "/aw/x".to_string())]
    );
    let (_, r) = raw
        .call(op::CHECK_WATCHES, &Enc::new().string("/aw").int(3).bytes())
        .await;
    assert_eq!(r.err, 0, "checkWatches type Any finds the persistent watch");
    let (_, r) = raw
        .call(op::REMOVE_WATCHES, &Enc::new().string("/aw").int(3).bytes())
        .await;
    assert_eq!(r.err, 0, "removeWatches type Any removes it");
    let other2 = server.connect().await;
    other2.create("/aw/y", b"", &open_acl()).await.unwrap();
    let (events, _) = raw.call(op::EXISTS, &get_data_req("/aw", false)).await;
    assert!(
        events.is_empty(),
        "removed persistent watch still fired: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_are_filtered_by_read_permission() {
    if !zk39_only("watch events are filtered by the watcher's READ permission (CVE-2024-23944)") {
        return;
    }
    let server = TestServer::start();
    let owner = server.connect_digest(U1_AUTH).await;
    let snoop = server.connect().await;
    owner.create("/f", b"", &open_acl()).await.unwrap();
    let (_, _, data_w) = snoop.get_and_watch_data("/f").await.unwrap();
    let mut rec_w = snoop
        .watch("/f", AddWatchMode::PersistentRecursive)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let only_u1 = [Acl::new(Permission::ALL, AuthId::new("digest", U1_ID))];
    owner.set_acl("/f", &only_u1, None).await.unwrap();
    owner.set_data("/f", b"secret", None).await.unwrap();
    owner.create("/f/open", b"", &open_acl()).await.unwrap();
    assert_eq!(
        ev(&next(&mut rec_w).await),
        (EventType::NodeCreated, "/f/open"),
        "readable child is reported"
    );
    assert!(
        stays_pending(QUIET, data_w.changed()).await,
        "no NodeDataChanged for a node the watcher cannot read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_and_persistent_watches_on_the_same_path() {
    if !zk39_only("several watch modes on one path (ZOOKEEPER-4466)") {
        return;
    }
    let server = TestServer::start();
    let c = server.connect().await;
    let other = server.connect().await;
    c.create("/mm", b"", &open_acl()).await.unwrap();
    let mut pw = c.watch("/mm", AddWatchMode::Persistent).await.unwrap();
    let (_, _, ow) = c.get_and_watch_data("/mm").await.unwrap();
    other.set_data("/mm", b"1", None).await.unwrap();
    assert_eq!(ev(&fired(ow).await), (EventType::NodeDataChanged, "/mm"));
    assert_eq!(
        ev(&next(&mut pw).await),
        (EventType::NodeDataChanged, "/mm")
    );
    other.set_data("/mm", b"2", None).await.unwrap();
    assert_eq!(
        ev(&next(&mut pw).await),
        (EventType::NodeDataChanged, "/mm"),
        "the persistent one stays"
    );
}
