use std::sync::Arc;

use jute::{event, keeper_state, perms, watcher_type, Acl, Id, WatcherEvent};

use super::*;

fn open() -> Arc<Vec<Acl>> {
    Arc::new(vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }])
}

fn trig(path: &str, event_type: i32) -> Trigger {
    Trigger {
        path: path.into(),
        event_type,
        acl: open(),
    }
}

fn fire(w: &mut WatchManager, path: &str, event_type: i32) -> Vec<(ConnId, i32, String)> {
    w.trigger(&[trig(path, event_type)], |_, _| true)
        .into_iter()
        .map(|(c, e)| {
            assert_eq!(e.state, keeper_state::SYNC_CONNECTED);
            (c, e.event_type, e.path)
        })
        .collect()
}

#[test]
fn one_shot_data_and_child_watches() {
    let mut w = WatchManager::new();
    w.add_data_watch(1, "/a");
    w.add_child_watch(2, "/a");
    assert_eq!(
        fire(&mut w, "/a", event::NODE_DATA_CHANGED),
        [(1, event::NODE_DATA_CHANGED, "/a".into())]
    );
    assert!(
        fire(&mut w, "/a", event::NODE_DATA_CHANGED).is_empty(),
        "consumed"
    );
    assert_eq!(
        fire(&mut w, "/a", event::NODE_CHILDREN_CHANGED),
        [(2, event::NODE_CHILDREN_CHANGED, "/a".into())]
    );
    assert!(fire(&mut w, "/a", event::NODE_CHILDREN_CHANGED).is_empty());
    assert_eq!(w.count(), 0);
    // exists-style watch on a missing node fires on NodeCreated.
    w.add_data_watch(3, "/new");
    assert_eq!(
        fire(&mut w, "/new", event::NODE_CREATED),
        [(3, event::NODE_CREATED, "/new".into())]
    );
    // Child events do not reach data watches and vice versa.
    w.add_data_watch(4, "/p");
    assert!(fire(&mut w, "/p", event::NODE_CHILDREN_CHANGED).is_empty());
    assert!(w.has_watches(4, "/p", watcher_type::DATA));
}

#[test]
fn persistent_watches_stay() {
    let mut w = WatchManager::new();
    w.add_persistent(1, "/a", false);
    for e in [
        event::NODE_CREATED,
        event::NODE_DATA_CHANGED,
        event::NODE_CHILDREN_CHANGED,
        event::NODE_DATA_CHANGED,
    ] {
        assert_eq!(fire(&mut w, "/a", e), [(1, e, "/a".into())]);
    }
    // Not for descendants.
    assert!(fire(&mut w, "/a/b", event::NODE_DATA_CHANGED).is_empty());
    // NodeDeleted: in both tables, delivered once.
    assert_eq!(
        fire(&mut w, "/a", event::NODE_DELETED),
        [(1, event::NODE_DELETED, "/a".into())]
    );
    assert!(w.has_watches(1, "/a", watcher_type::PERSISTENT));
    assert_eq!(w.count(), 2, "a persistent watch sits in both tables");
}

#[test]
fn recursive_watches() {
    let mut w = WatchManager::new();
    w.add_persistent(1, "/a", true);
    w.add_persistent(2, "/", true);
    assert_eq!(
        fire(&mut w, "/a/b/c", event::NODE_CREATED),
        [
            (1, event::NODE_CREATED, "/a/b/c".into()),
            (2, event::NODE_CREATED, "/a/b/c".into())
        ]
    );
    assert_eq!(
        fire(&mut w, "/a", event::NODE_DATA_CHANGED).len(),
        2,
        "exact path too"
    );
    assert_eq!(
        fire(&mut w, "/x", event::NODE_DELETED),
        [(2, event::NODE_DELETED, "/x".into())]
    );
    assert!(
        fire(&mut w, "/a/b", event::NODE_CHILDREN_CHANGED).is_empty(),
        "never child events"
    );
    assert!(fire(&mut w, "/a", event::NODE_CHILDREN_CHANGED).is_empty());
    assert!(
        fire(&mut w, "/ab", event::NODE_CREATED)
            .iter()
            .all(|(c, _, _)| *c == 2),
        "/ab is not under /a"
    );
    assert!(w.has_watches(1, "/a", watcher_type::PERSISTENT_RECURSIVE));
    assert!(!w.has_watches(1, "/a", watcher_type::PERSISTENT));
    assert_eq!(w.count(), 2);
}

#[test]
fn node_deleted_goes_to_both_tables_without_duplicates() {
    let mut w = WatchManager::new();
    w.add_data_watch(1, "/d");
    w.add_child_watch(1, "/d");
    w.add_child_watch(2, "/d");
    w.add_data_watch(3, "/d");
    w.add_child_watch(4, "/parent");
    let out = w.trigger(
        &[
            trig("/d", event::NODE_DELETED),
            trig("/parent", event::NODE_CHILDREN_CHANGED),
        ],
        |_, _| true,
    );
    let got: Vec<(ConnId, i32)> = out.iter().map(|(c, e)| (*c, e.event_type)).collect();
    // Data-table watchers first (ascending), then the child table's remainder.
    assert_eq!(
        got,
        [
            (1, event::NODE_DELETED),
            (3, event::NODE_DELETED),
            (2, event::NODE_DELETED),
            (4, event::NODE_CHILDREN_CHANGED)
        ]
    );
    assert_eq!(w.count(), 0, "all one-shot watches consumed");
}

#[test]
fn standard_and_persistent_on_one_path() {
    let mut w = WatchManager::new();
    w.add_data_watch(1, "/s");
    w.add_persistent(1, "/s", false);
    w.add_persistent(1, "/s", true);
    assert_eq!(
        fire(&mut w, "/s", event::NODE_DATA_CHANGED).len(),
        1,
        "one event per connection"
    );
    assert!(
        !w.has_watches(1, "/s", watcher_type::DATA),
        "the one-shot watch was consumed"
    );
    assert!(w.has_watches(1, "/s", watcher_type::PERSISTENT));
    assert!(w.has_watches(1, "/s", watcher_type::PERSISTENT_RECURSIVE));
    assert_eq!(fire(&mut w, "/s/k", event::NODE_DATA_CHANGED).len(), 1);
}

#[test]
fn read_permission_filters_but_consumes() {
    let mut w = WatchManager::new();
    w.add_data_watch(1, "/p");
    w.add_data_watch(2, "/p");
    w.add_persistent(3, "/p", false);
    let out = w.trigger(&[trig("/p", event::NODE_DATA_CHANGED)], |c, acl| {
        assert_eq!(acl.len(), 1);
        c == 2
    });
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0],
        (
            2,
            WatcherEvent {
                event_type: event::NODE_DATA_CHANGED,
                state: keeper_state::SYNC_CONNECTED,
                path: "/p".into()
            }
        )
    );
    assert!(
        !w.has_watches(1, "/p", watcher_type::DATA),
        "filtered one-shot is consumed"
    );
    assert!(
        w.has_watches(3, "/p", watcher_type::PERSISTENT),
        "persistent stays"
    );
    assert!(fire(&mut w, "/p", event::NODE_DATA_CHANGED)
        .iter()
        .all(|(c, _, _)| *c == 3));
}

#[test]
fn remove_and_check_watches_by_type() {
    let mut w = WatchManager::new();
    let setup = |w: &mut WatchManager| {
        w.add_data_watch(1, "/r");
        w.add_child_watch(1, "/r");
        w.add_persistent(1, "/r", false);
        w.add_persistent(1, "/r", true);
    };
    setup(&mut w);
    for t in 1..=5 {
        assert!(w.has_watches(1, "/r", t), "type {t}");
        assert!(!w.has_watches(2, "/r", t));
        assert!(!w.has_watches(1, "/other", t));
    }
    assert!(!w.has_watches(1, "/r", 9) && !w.remove_watches(1, "/r", 9));

    assert!(w.remove_watches(1, "/r", watcher_type::CHILDREN));
    assert!(!w.has_watches(1, "/r", watcher_type::CHILDREN));
    assert!(
        !w.remove_watches(1, "/r", watcher_type::CHILDREN),
        "nothing left -> NO_WATCHER"
    );
    assert!(w.remove_watches(1, "/r", watcher_type::DATA));
    assert!(!w.remove_watches(1, "/r", watcher_type::DATA));
    assert!(w.remove_watches(1, "/r", watcher_type::PERSISTENT));
    assert!(!w.has_watches(1, "/r", watcher_type::PERSISTENT));
    assert!(
        w.has_watches(1, "/r", watcher_type::ANY),
        "recursive remains"
    );
    assert!(w.remove_watches(1, "/r", watcher_type::PERSISTENT_RECURSIVE));
    assert!(!w.has_watches(1, "/r", watcher_type::ANY));
    assert_eq!(w.count(), 0);
    assert!(
        fire(&mut w, "/r/x", event::NODE_CREATED).is_empty(),
        "recursive bookkeeping reset"
    );

    setup(&mut w);
    assert!(w.remove_watches(1, "/r", watcher_type::ANY));
    assert!(!w.remove_watches(1, "/r", watcher_type::ANY));
    assert_eq!(w.count(), 0);
    // removing a one-shot leaves a persistent watch on the same path alone
    w.add_data_watch(1, "/q");
    w.add_persistent(1, "/q", false);
    assert!(w.remove_watches(1, "/q", watcher_type::DATA));
    assert_eq!(fire(&mut w, "/q", event::NODE_DATA_CHANGED).len(), 1);
}

#[test]
fn remove_connection_and_reports() {
    let mut w = WatchManager::new();
    w.add_data_watch(7, "/b");
    w.add_data_watch(7, "/a");
    w.add_data_watch(3, "/a");
    w.add_child_watch(3, "/c");
    w.add_persistent(5, "/rec", true);
    assert_eq!(w.count(), 5);
    assert_eq!(w.data_count(), 4);
    assert_eq!((w.paths(), w.connections()), (3, 3));
    let by_conn = w.by_connection();
    assert_eq!(by_conn.keys().copied().collect::<Vec<_>>(), [3, 5, 7]);
    assert_eq!(by_conn[&7], ["/a", "/b"]);
    let by_path = w.by_path();
    assert_eq!(by_path["/a"], [3, 7]);
    assert!(
        !by_path.contains_key("/c"),
        "reports cover the data table, like ZooKeeper"
    );

    w.remove_connection(7);
    w.remove_connection(5);
    w.remove_connection(42);
    assert_eq!((w.count(), w.paths(), w.connections()), (2, 1, 1));
    assert!(fire(&mut w, "/rec/x", event::NODE_CREATED).is_empty());
    assert_eq!(
        fire(&mut w, "/a", event::NODE_DELETED),
        [(3, event::NODE_DELETED, "/a".into())]
    );
    assert_eq!(
        fire(&mut w, "/c", event::NODE_DELETED),
        [(3, event::NODE_DELETED, "/c".into())]
    );
    assert_eq!(w.count(), 0);
}

#[test]
fn trigger_order_follows_triggers() {
    let mut w = WatchManager::new();
    w.add_persistent(9, "/", true);
    w.add_child_watch(1, "/");
    let out = w.trigger(
        &[
            trig("/n", event::NODE_CREATED),
            trig("/", event::NODE_CHILDREN_CHANGED),
        ],
        |_, _| true,
    );
    let got: Vec<(ConnId, i32)> = out.iter().map(|(c, e)| (*c, e.event_type)).collect();
    assert_eq!(
        got,
        [(9, event::NODE_CREATED), (1, event::NODE_CHILDREN_CHANGED)]
    );
}
