//! The AdminServer's `snapshot` and `restore` commands (ZooKeeper 3.9), run against zkd
//! and Apache ZooKeeper 3.9.5 side by side: authentication and authorization, the
//! streamed snapshot's headers, a round trip that brings a changed tree back, a
//! snapshot taken from either server restored into the other (every stat field
//! compared), refusals (bad bodies, switches, rate limits), and on zkd, that a restore
//! reaches every member of an ensemble and survives kill -9.

#[path = "support/cluster.rs"]
mod cluster;
mod common;
#[path = "support/proxy.rs"]
mod proxy;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster::{Cluster, ClusterOptions};
use common::*;
use zookeeper_client as zk;

const SUPER: (&str, &str) = ("Authorization", "digest super:test");

/// A server with its AdminServer on a free port (and the rate limits' interval, when
/// given, as zkServer.sh users pass it: a `-D` flag).
fn start(reference: bool, interval_ms: Option<u64>, extra: &[(&str, &str)]) -> (TestServer, u16) {
    let admin = free_port();
    let mut settings = vec![
        ("admin.enableServer".to_string(), "true".to_string()),
        ("admin.serverAddress".to_string(), "127.0.0.1".to_string()),
        ("admin.serverPort".to_string(), admin.to_string()),
    ];
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let jvm_flags = interval_ms
        .map(|ms| vec![format!("-Dzookeeper.admin.rateLimiterIntervalInMS={ms}")])
        .unwrap_or_default();
    let server = TestServer::start_with(ServerOptions {
        extra: settings,
        jvm_flags,
        reference,
        ..ServerOptions::default()
    });
    (server, admin)
}

fn json(r: &HttpReply) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_slice(&r.body) {
        Ok(serde_json::Value::Object(m)) => m,
        other => panic!("not a JSON object: {other:?}: {}", r.text()),
    }
}

/// Every node outside `/zookeeper`: data, the whole stat and the ACL.
type Dump = BTreeMap<String, (Vec<u8>, String, String)>;

async fn dump(c: &zk::Client) -> Dump {
    let mut out = Dump::new();
    let mut todo = vec!["/".to_string()];
    while let Some(p) = todo.pop() {
        let (data, stat) = c.get_data(&p).await.expect("getData");
        let (acl, _) = c.get_acl(&p).await.expect("getACL");
        out.insert(p.clone(), (data, format!("{stat:?}"), format!("{acl:?}")));
        for child in c.list_children(&p).await.expect("getChildren") {
            let path = if p == "/" {
                format!("/{child}")
            } else {
                format!("{p}/{child}")
            };
            if path != "/zookeeper" {
                todo.push(path);
            }
        }
    }
    out
}

/// A small tree with every kind of node and a non-default ACL, from `c` (whose session
/// owns the ephemeral).
async fn build_tree(c: &zk::Client) {
    c.create("/app", b"v1", &open_acl()).await.unwrap();
    c.set_data("/app", b"v2", None).await.unwrap();
    c.create("/app/a", b"a", &open_acl()).await.unwrap();
    c.create(
        "/app/seq-",
        b"s",
        &mode(zk::CreateMode::PersistentSequential),
    )
    .await
    .unwrap();
    c.create("/app/eph", b"e", &mode(zk::CreateMode::Ephemeral))
        .await
        .unwrap();
    c.create("/box", b"", &mode(zk::CreateMode::Container))
        .await
        .unwrap();
    c.create("/box/item", b"i", &open_acl()).await.unwrap();
    let read_only = [zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone())];
    c.create(
        "/ro",
        b"r",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&read_only)),
    )
    .await
    .unwrap();
    c.set_data("/app/a", &vec![7u8; 3000], None).await.unwrap();
}

async fn change_tree(c: &zk::Client) {
    c.delete("/app/a", None).await.unwrap();
    c.create("/app/new", b"n", &open_acl()).await.unwrap();
    c.set_data("/app", b"v9", None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_restore_round_trip_as_on_zookeeper() {
    for reference in [false, true] {
        let server_name = server_name(reference);
        let (mut server, admin) = start(reference, Some(1), &[]);
        let c = server.connect().await;
        build_tree(&c).await;
        let before = dump(&c).await;

        // Authentication first, as ZooKeeper's runCommand checks it.
        let r = http(admin, "GET", "/commands/snapshot", &[], b"");
        assert_eq!(r.status, 401, "{server_name}: {}", r.text());
        assert_eq!(json(&r)["error"], "Auth info is missing for the command");
        let r = http(
            admin,
            "GET",
            "/commands/snapshot",
            &[("Authorization", "nosuch x")],
            b"",
        );
        assert_eq!(r.status, 401, "{server_name}: {}", r.text());
        assert_eq!(json(&r)["error"], "Not authenticated");

        // Not streamed: the headers alone.
        let r = http(
            admin,
            "GET",
            "/commands/snapshot?streaming=false",
            &[SUPER],
            b"",
        );
        assert_eq!(r.status, 200, "{server_name}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("last_zxid").is_some_and(|z| z.starts_with("0x")));
        let m = json(&r);
        assert_eq!(m["command"], "snapshot");
        assert!(m["error"].is_null());

        let snap = http(
            admin,
            "GET",
            "/commands/snapshot",
            &[("Authorization", "ip")],
            b"",
        );
        assert_eq!(snap.status, 200, "{server_name}: {}", snap.text());
        assert_eq!(
            snap.header("content-type"),
            Some("application/octet-stream")
        );
        assert_eq!(
            snap.header("snapshot_size"),
            Some(snap.body.len().to_string().as_str()),
            "{server_name}"
        );
        let snap_zxid = snapshot_zxid(&snap);
        assert!(snap_zxid > 0, "{server_name}");

        change_tree(&c).await;
        assert_ne!(dump(&c).await, before);

        let r = http(admin, "POST", "/commands/restore", &[SUPER], &snap.body);
        assert_eq!(r.status, 200, "{server_name}: {}", r.text());
        let m = json(&r);
        assert_eq!(m["command"], "restore");
        assert!(m["error"].is_null(), "{server_name}: {m:?}");
        let restored_zxid = m["last_zxid"].as_i64().unwrap();
        if reference {
            assert_eq!(
                restored_zxid, snap_zxid,
                "ZooKeeper answers the snapshot's zxid"
            );
        } else {
            // zkd: the restore txn's own zxid, above everything in the restored tree.
            assert!(restored_zxid > snap_zxid, "{restored_zxid} <= {snap_zxid}");
        }

        // The session that owns the ephemeral is in the restored table: it goes on
        // (zkd closed its connection; the client reattached).
        let (data, _) = within(Duration::from_secs(20), "the old session reads", async {
            loop {
                match c.get_data("/app").await {
                    Ok(r) => break r,
                    Err(e) => {
                        assert!(
                            !matches!(e, zk::Error::SessionExpired),
                            "{server_name}: the restored session expired"
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
        .await;
        assert_eq!(data, b"v2", "{server_name}");
        let fresh = server.connect().await;
        assert_eq!(dump(&fresh).await, before, "{server_name}: restored tree");
        let after_restore = fresh.create("/after", b"x", &open_acl()).await.unwrap();
        assert!(
            after_restore.0.czxid > restored_zxid.min(snap_zxid),
            "{server_name}"
        );

        // A body that is not a snapshot: 500, nothing changes, the server serves on.
        let r = http(
            admin,
            "POST",
            "/commands/restore",
            &[SUPER],
            b"not a snapshot",
        );
        assert_eq!(r.status, 500, "{server_name}: {}", r.text());
        tokio::time::sleep(Duration::from_millis(5)).await; // the 1 ms rate limit
        let r = http(admin, "POST", "/commands/restore", &[SUPER], b"");
        assert_eq!(r.status, 500, "{server_name}: {}", r.text());
        assert_eq!(fresh.get_data("/after").await.unwrap().0, b"x");

        // Authorization: every permission on `/` (here READ only for ip:127.0.0.1).
        let ip_read = vec![zk::Acl::new(
            zk::Permission::READ,
            zk::AuthId::new("ip", "127.0.0.1"),
        )];
        fresh.set_acl("/", &ip_read, None).await.unwrap();
        let r = http(
            admin,
            "GET",
            "/commands/snapshot",
            &[("Authorization", "ip")],
            b"",
        );
        assert_eq!(r.status, 403, "{server_name}: {}", r.text());
        assert_eq!(json(&r)["error"], "Not authorized");
        let r = http(admin, "GET", "/commands/snapshot", &[SUPER], b"");
        assert_eq!(
            r.status, 200,
            "{server_name}: the super user passes every ACL"
        );

        if !reference {
            // The restore is a logged txn: it survives kill -9.
            let all = fresh.get_data("/app").await.unwrap();
            drop((c, fresh));
            server.kill9();
            server.restart();
            let c = server.connect().await;
            c.auth("digest", b"super:test").await.unwrap();
            assert_eq!(c.get_data("/app").await.unwrap(), all);
            assert_eq!(c.get_data("/after").await.unwrap().0, b"x");
        }
    }
}

/// The `last_zxid` header of a snapshot.
fn snapshot_zxid(snap: &HttpReply) -> i64 {
    let hex = snap.header("last_zxid").expect("last_zxid header");
    i64::from_str_radix(hex.trim_start_matches("0x"), 16).expect("hex zxid")
}

/// Snapshot the server with AdminServer `from`, restore it into `to`; the snapshot.
fn copy_tree(from: u16, to: u16) -> HttpReply {
    let snap = http(from, "GET", "/commands/snapshot", &[SUPER], b"");
    assert_eq!(snap.status, 200, "{}", snap.text());
    let r = http(to, "POST", "/commands/restore", &[SUPER], &snap.body);
    assert_eq!(r.status, 200, "{}", r.text());
    snap
}

/// A snapshot of either server restores into the other with every field intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_cross_between_zookeeper_and_zkd() {
    let (zk_server, zk_admin) = start(true, Some(1), &[]);
    let (zkd_server, zkd_admin) = start(false, Some(1), &[]);
    let zk_client = zk_server.connect().await;
    let zkd_client = zkd_server.connect().await;

    build_tree(&zk_client).await;
    let zk_tree = dump(&zk_client).await;
    let snap = copy_tree(zk_admin, zkd_admin);
    let c = zkd_server.connect().await;
    assert_eq!(
        dump(&c).await,
        zk_tree,
        "ZooKeeper's tree restored into zkd"
    );
    drop(zkd_client);
    // zkd's zxids continue above every zxid of the restored tree.
    let zk_zxid = snapshot_zxid(&snap);
    let (stat, _) = c.create("/next", b"", &open_acl()).await.unwrap();
    assert!(stat.czxid > zk_zxid, "{} <= {zk_zxid}", stat.czxid);
    c.delete("/next", None).await.unwrap();

    change_tree(&c).await;
    c.create("/from-zkd", b"z", &open_acl()).await.unwrap();
    let zkd_tree = dump(&c).await;
    copy_tree(zkd_admin, zk_admin);
    let zk_c = zk_server.connect().await;
    assert_eq!(
        dump(&zk_c).await,
        zkd_tree,
        "zkd's tree restored into ZooKeeper"
    );
    // ZooKeeper checked zkd's digest trailer against the tree it loaded.
    let log = zk_server.log();
    assert!(
        log.contains("The digest in the snapshot has digest version of 2"),
        "ZooKeeper did not read the digest: {log}"
    );
    assert!(!log.contains("Digests are not matching"), "{log}");
    drop(zk_client);
}

/// `admin.snapshot.enabled` / `admin.restore.enabled` and the default rate limits:
/// one snapshot per 0.3 s, one restore per 5 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_and_rate_limits_as_on_zookeeper() {
    for reference in [false, true] {
        let server_name = server_name(reference);
        let (_server, admin) = start(reference, None, &[]);
        let first = http(admin, "GET", "/commands/snapshot", &[SUPER], b"");
        assert_eq!(first.status, 200, "{server_name}");
        let second = http(admin, "GET", "/commands/snapshot", &[SUPER], b"");
        assert_eq!(second.status, 429, "{server_name}: {}", second.text());
        let r = http(admin, "POST", "/commands/restore", &[SUPER], &first.body);
        assert_eq!(r.status, 200, "{server_name}: {}", r.text());
        let r = http(admin, "POST", "/commands/restore", &[SUPER], &first.body);
        assert_eq!(r.status, 429, "{server_name}: {}", r.text());
        let m = json(&r);
        assert_eq!(m["command"], "restore");

        let (_off, admin) = start(
            reference,
            None,
            &[
                ("admin.snapshot.enabled", "false"),
                ("admin.restore.enabled", "false"),
            ],
        );
        let r = http(admin, "GET", "/commands/snapshot", &[SUPER], b"");
        assert_eq!(r.status, 503, "{server_name}: {}", r.text());
        let r = http(admin, "POST", "/commands/restore", &[SUPER], &first.body);
        assert_eq!(r.status, 503, "{server_name}: {}", r.text());
    }
}

/// zkd's restore is a txn: posted to a follower, it replaces the tree of every member,
/// and a member killed -9 afterwards comes back with it.
#[test]
fn a_restore_reaches_every_member_of_an_ensemble() {
    if against_zk() {
        eprintln!("skipped against Apache ZooKeeper: its restore changes one server only");
        return;
    }
    let mut cluster = Cluster::start_with(
        3,
        0,
        ClusterOptions {
            admin: true,
            extra: vec![("admin.rateLimiterIntervalInMS".to_string(), "1".to_string())],
            ..Default::default()
        },
    );
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let follower = (0..3).find(|&i| i != leader).unwrap();
    // Multi-threaded: the owner of the ephemeral keeps its session between block_ons.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (owner, before) = rt.block_on(async {
        let c = cluster.connect(leader).await;
        build_tree(&c).await;
        c.sync("/").await.unwrap();
        let tree = dump(&c).await;
        (c, tree)
    });
    let snap = http(
        cluster.admin_port(leader),
        "GET",
        "/commands/snapshot",
        &[SUPER],
        b"",
    );
    assert_eq!(snap.status, 200, "{}", snap.text());
    let expected = cluster.dump(leader).unwrap();
    rt.block_on(async {
        let c = cluster.connect(follower).await;
        change_tree(&c).await;
    });
    assert_ne!(cluster.dump(leader).unwrap(), expected);

    let r = http(
        cluster.admin_port(follower),
        "POST",
        "/commands/restore",
        &[SUPER],
        &snap.body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let converged = cluster.wait_converged(&[0, 1, 2], Duration::from_secs(30));
    assert_eq!(converged, expected);
    rt.block_on(async {
        let c = cluster.connect(follower).await;
        assert_eq!(dump(&c).await, before);
    });

    let victim = (0..3).find(|&i| i != follower).unwrap();
    cluster.kill9(victim);
    cluster.restart(victim);
    let converged = cluster.wait_converged(&[0, 1, 2], Duration::from_secs(30));
    assert_eq!(converged, expected);
    drop(owner);
}
