//! The operator's surface against the real binary: every four-letter word and AdminServer
//! command answers with ZooKeeper's shape (the same lines and keys; values may differ),
//! the whitelist refuses as ZooKeeper does, `/metrics` parses as Prometheus text with
//! ZooKeeper's names, and SIGTERM in the middle of a stream of writes loses no
//! acknowledged write.
//!
//! The expected shapes were taken from Apache ZooKeeper 3.8 (Debian's, with Jetty on the
//! class path) and the 3.9 sources. With `ZKD_TEST_AGAINST_ZK=1` the four-letter-word
//! tests run against ZooKeeper itself; the AdminServer, Prometheus and zkd-only words are
//! skipped there (Debian's ZooKeeper has neither Jetty nor the Prometheus provider on
//! its class path).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use zookeeper_client as zk;

const PROMETHEUS: &str = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// A server with every word whitelisted, the AdminServer and /metrics on free ports.
fn start_full() -> (TestServer, u16, u16) {
    let admin = free_port();
    let metrics = free_port();
    let mut opts = ServerOptions::default();
    if !against_zk() {
        opts.extra = vec![
            ("admin.enableServer".into(), "true".into()),
            ("admin.serverAddress".into(), "127.0.0.1".into()),
            ("admin.serverPort".into(), admin.to_string()),
            ("metricsProvider.className".into(), PROMETHEUS.into()),
            ("metricsProvider.httpHost".into(), "127.0.0.1".into()),
            ("metricsProvider.httpPort".into(), metrics.to_string()),
        ];
    }
    (TestServer::start_with(opts), admin, metrics)
}

/// A session with an ephemeral, a data watch and a child watch (so that every list
/// the commands print has an entry).
async fn busy_client(server: &TestServer) -> (zk::Client, Vec<zk::OneshotWatcher>) {
    let c = server.connect().await;
    c.create("/op", b"x", &open_acl()).await.unwrap();
    c.create("/op/eph", b"e", &mode(zk::CreateMode::Ephemeral))
        .await
        .unwrap();
    let (_, _, w1) = c.get_and_watch_data("/op/eph").await.unwrap();
    let (_, w2) = c.list_and_watch_children("/op").await.unwrap();
    (c, vec![w1, w2])
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn keys_before(text: &str, sep: char) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split_once(sep).map(|(k, _)| k.to_string()))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// ` /127.0.0.1:port[ops](k=v,...)` → the keys, in order.
fn cons_keys(line: &str) -> Vec<String> {
    assert!(line.starts_with(" /127.0.0.1:"), "connection line {line:?}");
    let open = line.find("](").expect("interest ops") + 2;
    assert!(line.ends_with(')'), "{line:?}");
    line[open..line.len() - 1]
        .split(',')
        .map(|kv| kv.split_once('=').expect("k=v").0.to_string())
        .collect()
}

const CONS_FULL: &[&str] = &[
    "queued", "recved", "sent", "sid", "lop", "est", "to", "lcxid", "lzxid", "lresp", "llat",
    "minlat", "avglat", "maxlat",
];

const CONF_KEYS: &[&str] = &[
    "clientPort",
    "secureClientPort",
    "dataDir",
    "dataDirSize",
    "dataLogDir",
    "dataLogSize",
    "tickTime",
    "maxClientCnxns",
    "minSessionTimeout",
    "maxSessionTimeout",
    "clientPortListenBacklog",
    "serverId",
];

const ENVI_KEYS: &[&str] = &[
    "zookeeper.version",
    "host.name",
    "java.version",
    "java.vendor",
    "java.home",
    "java.class.path",
    "java.library.path",
    "java.io.tmpdir",
    "java.compiler",
    "os.name",
    "os.arch",
    "os.version",
    "user.name",
    "user.home",
    "user.dir",
    "os.memory.free",
    "os.memory.max",
    "os.memory.total",
];

/// mntr keys every ZooKeeper monitoring integration reads (the ZooKeeperServer gauges
/// plus a sample of ServerMetrics, summaries expanded as ZooKeeper does).
const MNTR_KEYS: &[&str] = &[
    "zk_version",
    "zk_server_state",
    "zk_avg_latency",
    "zk_max_latency",
    "zk_min_latency",
    "zk_packets_received",
    "zk_packets_sent",
    "zk_num_alive_connections",
    "zk_outstanding_requests",
    "zk_uptime",
    "zk_znode_count",
    "zk_watch_count",
    "zk_ephemerals_count",
    "zk_approximate_data_size",
    "zk_global_sessions",
    "zk_local_sessions",
    "zk_open_file_descriptor_count",
    "zk_max_file_descriptor_count",
    "zk_connection_drop_probability",
    "zk_last_client_response_size",
    "zk_max_client_response_size",
    "zk_min_client_response_size",
    "zk_outstanding_tls_handshake",
    "zk_auth_failed_count",
    "zk_non_mtls_remote_conn_count",
    "zk_non_mtls_local_conn_count",
    "zk_commit_count",
    "zk_connection_request_count",
    "zk_bytes_received_count",
    "zk_response_bytes",
    "zk_stale_sessions_expired",
    "zk_unsuccessful_handshake",
    "zk_digest_mismatches_count",
    "zk_avg_fsynctime",
    "zk_min_fsynctime",
    "zk_max_fsynctime",
    "zk_cnt_fsynctime",
    "zk_sum_fsynctime",
    "zk_avg_snapshottime",
    "zk_cnt_sync_processor_batch_size",
    "zk_avg_updatelatency",
    "zk_p99_updatelatency",
    "zk_p999_readlatency",
    "zk_cnt_readlatency",
    "zk_avg_node_created_watch_count",
    "zk_avg_node_changed_watch_count",
    "zk_avg_node_deleted_watch_count",
    "zk_avg_node_children_watch_count",
    "zk_p50_local_write_committed_time_ms",
    "zk_avg_commit_process_time",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_four_letter_word_has_zookeeper_shape() {
    let (server, _, _) = start_full();
    let (client, _watches) = busy_client(&server).await;
    client.set_data("/op", b"y", None).await.unwrap();

    assert_eq!(server.four_letter("ruok"), "imok");
    assert_eq!(server.four_letter("isro"), "rw");

    let srvr = server.four_letter("srvr");
    let srvr_keys = [
        "Zookeeper version",
        "Latency min/avg/max",
        "Received",
        "Sent",
        "Connections",
        "Outstanding",
        "Zxid",
        "Mode",
        "Node count",
    ];
    assert_eq!(keys_before(&srvr, ':'), set(&srvr_keys), "{srvr}");
    assert_eq!(lines(&srvr).len(), srvr_keys.len(), "{srvr}");

    // stat: srvr plus the Clients section (brief connection lines, then a blank line)
    let stat = server.four_letter("stat");
    let l = lines(&stat);
    assert_eq!(l[1], "Clients:", "{stat}");
    let blank = l.iter().position(|x| x.is_empty()).expect("blank line");
    assert!(blank >= 4, "the asker and the client: {stat}");
    for c in &l[2..blank] {
        assert_eq!(cons_keys(c), ["queued", "recved", "sent"], "{c}");
    }
    let body = l[blank + 1..].join("\n");
    assert_eq!(
        keys_before(&body, ':'),
        set(&srvr_keys[1..]),
        "stat body {stat}"
    );

    let conf = server.four_letter("conf");
    assert_eq!(keys_before(&conf, '='), set(CONF_KEYS), "{conf}");

    let envi = server.four_letter("envi");
    assert_eq!(lines(&envi)[0], "Environment:");
    assert_eq!(keys_before(&envi, '='), set(ENVI_KEYS), "{envi}");

    let mntr = server.four_letter("mntr");
    let l = lines(&mntr);
    assert!(l[0].starts_with("zk_version\t"), "{mntr}");
    assert_eq!(l[1], "zk_server_state\tstandalone");
    let mut seen = BTreeSet::new();
    for line in &l {
        let (k, v) = line.split_once('\t').expect("tab");
        assert!(k.starts_with("zk_") && !v.is_empty(), "{line:?}");
        assert!(seen.insert(k.to_string()), "duplicate key {k}");
    }
    for k in MNTR_KEYS {
        if against_zk() && k.contains("local_write_committed") {
            continue; // ZooKeeper 3.8 standalone does not fill this one either way
        }
        assert!(seen.contains(*k), "mntr lacks {k}");
    }
    let num = |k: &str| -> f64 {
        let line = l.iter().find(|x| x.starts_with(&format!("{k}\t"))).unwrap();
        line.split('\t').nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(num("zk_ephemerals_count"), 1.0);
    assert!(num("zk_watch_count") >= 2.0);
    assert!(num("zk_znode_count") >= 7.0);
    assert!(num("zk_num_alive_connections") >= 1.0);
    if !against_zk() {
        assert!(
            seen.len() >= 480,
            "ZooKeeper prints ~500 keys, zkd {}",
            seen.len()
        );
        assert!(num("zk_cnt_updatelatency") >= 3.0, "{mntr}");
        assert!(num("zk_cnt_fsynctime") >= 1.0, "{mntr}");
        assert!(num("zk_commit_count") >= 3.0, "{mntr}");
    }

    // cons: full connection lines, then a blank line
    let cons = server.four_letter("cons");
    let l = lines(&cons);
    assert_eq!(l.last(), Some(&""), "{cons:?}");
    let full: Vec<&&str> = l.iter().filter(|x| x.contains(",sid=")).collect();
    assert_eq!(full.len(), 1, "{cons}");
    assert_eq!(cons_keys(full[0]), CONS_FULL, "{cons}");

    // watches: wchs counts the data table; wchc/wchp list it and end with a blank line
    let wchs = server.four_letter("wchs");
    assert_eq!(wchs, "1 connections watching 1 paths\nTotal watches:1\n");
    let wchc = server.four_letter("wchc");
    let l = lines(&wchc);
    assert!(l[0].starts_with("0x"), "{wchc}");
    assert_eq!(l[1], "\t/op/eph");
    assert!(wchc.ends_with("\n\n"), "{wchc:?}");
    let wchp = server.four_letter("wchp");
    let l = lines(&wchp);
    assert_eq!(l[0], "/op/eph");
    assert!(l[1].starts_with("\t0x"), "{wchp}");
    assert!(wchp.ends_with("\n\n"), "{wchp:?}");

    let dump = server.four_letter("dump");
    let l = lines(&dump);
    assert_eq!(l[0], "SessionTracker dump:");
    assert!(l[1].starts_with("Session Sets ("), "{dump}");
    assert!(
        l.iter()
            .any(|x| x.contains(" expire at ") && x.ends_with(':')),
        "{dump}"
    );
    assert!(l.contains(&"ephemeral nodes dump:"), "{dump}");
    assert!(l.contains(&"Sessions with Ephemerals (1):"), "{dump}");
    assert!(l.contains(&"\t/op/eph"), "{dump}");
    assert!(l.contains(&"Connections dump:"), "{dump}");
    assert!(
        l.iter().any(|x| x.starts_with("Connections Sets (")),
        "{dump}"
    );

    let dirs = server.four_letter("dirs");
    assert_eq!(
        keys_before(&dirs, ':'),
        set(&["datadir_size", "logdir_size"])
    );

    // trace mask: gtmk prints it without a newline, stmk takes 8 bytes and echoes
    assert_eq!(server.four_letter("gtmk"), "306");
    assert_eq!(stmk(server.port, 0x7f), "127");
    assert_eq!(server.four_letter("gtmk"), "127");
    assert_eq!(stmk(server.port, 306), "306");

    // no digest log yet (the first entry comes at zxid 128): nothing
    let hash = server.four_letter("hash");
    assert!(hash.lines().all(|l| l.contains(": ")), "{hash}");

    // resets
    assert_eq!(server.four_letter("crst"), "Connection stats reset.\n");
    assert_eq!(server.four_letter("srst"), "Server stats reset.\n");
    let srvr = server.four_letter("srvr");
    let received: u64 = srvr
        .lines()
        .find_map(|l| l.strip_prefix("Received: "))
        .and_then(|v| v.parse().ok())
        .expect("Received");
    assert!(received <= 3, "srst did not reset: {srvr}");

    if zk39_only("ClickHouse Keeper's four-letter words") {
        let lgif = server.four_letter("lgif");
        assert_eq!(
            lgif.lines()
                .map(|l| l.split('\t').next().unwrap())
                .collect::<Vec<_>>(),
            [
                "first_log_idx",
                "first_log_term",
                "last_log_idx",
                "last_log_term",
                "last_committed_log_idx",
                "leader_committed_log_idx",
                "target_committed_log_idx",
                "last_snapshot_idx",
            ],
            "{lgif}"
        );
        let field = |k: &str| -> u64 {
            let l = lgif.lines().find(|l| l.starts_with(k)).unwrap();
            l.split('\t').nth(1).unwrap().parse().unwrap()
        };
        assert!(field("last_log_idx") >= field("last_committed_log_idx"));
        assert!(field("last_committed_log_idx") >= 4);
        let csnp: u64 = server.four_letter("csnp").parse().expect("csnp index");
        assert!(csnp >= 4);
        let snapshot_taken = wait_until!(Duration::from_secs(10), {
            let l = server.four_letter("lgif");
            l.lines()
                .find(|x| x.starts_with("last_snapshot_idx\t"))
                .and_then(|x| x.split('\t').nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|v| v >= csnp)
        });
        assert!(snapshot_taken, "csnp took no snapshot");
        assert_eq!(
            server.four_letter("rqld"),
            "Sent leadership request to leader."
        );
        assert_eq!(
            server.four_letter("ydld"),
            "Sent yield leadership request to leader."
        );
        assert_eq!(num("zk_ephemerals_count"), 1.0);
    }
    client.create("/op/after", b"", &open_acl()).await.unwrap();
}

/// `stmk` followed by its 8-byte big-endian mask.
/// `hash` lists the tree digest after every 128th zxid, as ZooKeeper's digest log does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_notes_the_tree_digest_every_128_zxids() {
    let (server, admin, _) = start_full();
    let client = server.connect().await;
    client.create("/h", b"", &open_acl()).await.unwrap();
    for i in 0..130 {
        client
            .set_data("/h", format!("{i}").as_bytes(), None)
            .await
            .unwrap();
    }
    let hash = server.four_letter("hash");
    let first = hash.lines().next().unwrap_or_default();
    let digest = first.strip_prefix("80: ").map(str::parse::<i64>);
    assert!(matches!(digest, Some(Ok(d)) if d != 0), "{hash:?}");
    if !against_zk() {
        let digests = command(admin, "hash");
        let entry = &digests["digests"][0];
        assert_eq!(entry["zxid"], 128, "{digests:?}");
        assert_eq!(
            entry["digest"].as_i64(),
            digest.and_then(Result::ok),
            "{digests:?}"
        );
        assert_eq!(entry["digestVersion"], 2, "{digests:?}");
    }
}

fn stmk(port: u16, mask: i64) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut msg = b"stmk".to_vec();
    msg.extend_from_slice(&mask.to_be_bytes());
    s.write_all(&msg).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_whitelist_is_srvr_only_with_zookeeper_refusal() {
    let server = TestServer::start_with(ServerOptions {
        whitelist: String::new(),
        ..Default::default()
    });
    assert!(server
        .four_letter("srvr")
        .starts_with("Zookeeper version: "));
    let mut words = vec![
        "ruok", "stat", "conf", "envi", "mntr", "isro", "cons", "crst", "srst", "dump", "wchs",
        "wchc", "wchp", "dirs", "gtmk", "stmk", "hash",
    ];
    if !against_zk() {
        words.extend(["lgif", "csnp", "rqld", "ydld"]);
    }
    for w in words {
        assert_eq!(
            server.four_letter(w),
            format!("{w} is not executed because it is not in the whitelist.\n"),
            "{w}"
        );
    }
    // telnet's close sequence is a known command too, refused the same way
    let telnet = String::from_utf8_lossy(&[0xff, 0xf4, 0xff, 0xfd]).into_owned();
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&[0xff, 0xf4, 0xff, 0xfd]).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(
        out, "telnet close is not executed because it is not in the whitelist.\n",
        "{telnet:?}"
    );
}

// ------------------------------------------------------------------------ AdminServer

/// GET over a fresh connection: (status, content type, body).
fn http_get(port: u16, path: &str) -> (u16, String, String) {
    let r = http(port, "GET", path, &[], b"");
    let ctype = r.header("content-type").unwrap_or_default().to_string();
    (r.status, ctype, r.text())
}

fn command(port: u16, name: &str) -> serde_json::Map<String, serde_json::Value> {
    let (status, ctype, body) = http_get(port, &format!("/commands/{name}"));
    assert_eq!(status, 200, "{name}: {body}");
    assert_eq!(ctype, "application/json", "{name}");
    match serde_json::from_str(&body) {
        Ok(serde_json::Value::Object(m)) => m,
        other => panic!("{name}: not a JSON object: {other:?}\n{body}"),
    }
}

/// The keys ZooKeeper's AdminServer answers with, besides "command" and "error".
fn expected_keys() -> BTreeMap<&'static str, Vec<&'static str>> {
    let server_stats = vec![
        "version",
        "read_only",
        "server_stats",
        "client_response",
        "node_count",
    ];
    let mut stats = server_stats.clone();
    stats.extend(["connections", "secure_connections"]);
    BTreeMap::from([
        (
            "configuration",
            vec![
                "client_port",
                "data_dir",
                "data_log_dir",
                "tick_time",
                "max_client_cnxns",
                "min_session_timeout",
                "max_session_timeout",
                "server_id",
                "client_port_listen_backlog",
            ],
        ),
        ("connection_stat_reset", vec![]),
        ("connections", vec!["connections", "secure_connections"]),
        ("dirs", vec!["datadir_size", "logdir_size"]),
        (
            "dump",
            vec![
                "expiry_time_to_session_ids",
                "session_id_to_ephemeral_paths",
            ],
        ),
        ("environment", ENVI_KEYS.to_vec()),
        ("get_trace_mask", vec!["tracemask"]),
        ("hash", vec!["digests"]),
        ("initial_configuration", vec!["initial_configuration"]),
        ("is_read_only", vec!["read_only"]),
        ("last_snapshot", vec!["zxid", "timestamp"]),
        ("observer_connection_stat_reset", vec![]),
        ("observers", vec!["synced_observers", "observers"]),
        ("ruok", vec![]),
        ("server_stats", server_stats),
        ("stat_reset", vec![]),
        ("stats", stats),
        ("voting_view", vec!["current_config"]),
        (
            "watch_summary",
            vec!["num_connections", "num_paths", "num_total_watches"],
        ),
        ("watches", vec!["session_id_to_watched_paths"]),
        ("watches_by_path", vec!["path_to_session_ids"]),
        ("zabstate", vec!["voting", "zabstate"]),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_server_commands_have_zookeeper_shape() {
    if against_zk() {
        eprintln!("skipped against Apache ZooKeeper: Debian's has no Jetty on its class path");
        return;
    }
    let (server, admin, _) = start_full();
    let (_client, _watches) = busy_client(&server).await;

    let (status, _, links) = http_get(admin, "/commands");
    assert_eq!(status, 200);
    for name in expected_keys()
        .keys()
        .chain(["leader", "monitor", "set_trace_mask", "system_properties"].iter())
    {
        assert!(
            links.contains(&format!("<a href=\"/commands/{name}\">{name}</a>")),
            "/commands lacks {name}: {links}"
        );
    }

    for (name, keys) in expected_keys() {
        let m = command(admin, name);
        let mut want: Vec<&str> = keys.clone();
        want.extend(["command", "error"]);
        let got: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            got.iter().copied().collect::<BTreeSet<_>>(),
            want.iter().copied().collect::<BTreeSet<_>>(),
            "{name}: {m:?}"
        );
        assert_eq!(m["command"], name, "{name}");
        assert!(m["error"].is_null(), "{name}: {m:?}");
    }

    // the values behind the keys
    let stats = command(admin, "server_stats");
    let ss = stats["server_stats"].as_object().unwrap();
    for k in [
        "packets_sent",
        "packets_received",
        "fsync_threshold_exceed_count",
        "client_response_stats",
        "data_dir_size",
        "log_dir_size",
        "provider_null",
        "server_state",
        "last_processed_zxid",
        "outstanding_requests",
        "avg_latency",
        "max_latency",
        "min_latency",
        "num_alive_client_connections",
        "uptime",
        "auth_failed_count",
        "non_mtlsremote_conn_count",
        "non_mtlslocal_conn_count",
    ] {
        assert!(ss.contains_key(k), "server_stats lacks {k}: {ss:?}");
    }
    assert_eq!(ss["server_state"], "standalone");
    let conns = command(admin, "connections");
    let c = &conns["connections"][0];
    for k in [
        "remote_socket_address",
        "interest_ops",
        "outstanding_requests",
        "packets_received",
        "packets_sent",
        "session_id",
        "last_operation",
        "established",
        "session_timeout",
        "last_cxid",
        "last_zxid",
        "last_response_time",
        "last_latency",
        "min_latency",
        "avg_latency",
        "max_latency",
    ] {
        assert!(c.get(k).is_some(), "connection lacks {k}: {c}");
    }
    let brief = &command(admin, "stats")["connections"][0];
    assert_eq!(brief.as_object().unwrap().len(), 5, "{brief}");
    let dump = command(admin, "dump");
    let eph = dump["session_id_to_ephemeral_paths"].as_object().unwrap();
    assert_eq!(
        eph.values().next().unwrap(),
        &serde_json::json!(["/op/eph"])
    );
    let by_path = command(admin, "watches_by_path");
    assert!(by_path["path_to_session_ids"]["/op/eph"].is_array());
    let mon = command(admin, "monitor");
    for k in MNTR_KEYS {
        let k = k.strip_prefix("zk_").unwrap();
        assert!(mon.contains_key(k), "monitor lacks {k}");
    }
    assert_eq!(mon["server_state"], "standalone");
    assert!(mon["znode_count"].as_i64().unwrap() >= 7);
    assert!(
        command(admin, "initial_configuration")["initial_configuration"]
            .as_str()
            .unwrap()
            .contains("admin.serverPort=")
    );

    // aliases answer with the primary name
    for (alias, primary) in [
        ("srvr", "server_stats"),
        ("stat", "stats"),
        ("mntr", "monitor"),
        ("conf", "configuration"),
        ("cons", "connections"),
        ("wchs", "watch_summary"),
        ("envi", "environment"),
        ("isro", "is_read_only"),
        ("lead", "leader"),
    ] {
        assert_eq!(command(admin, alias)["command"], primary, "{alias}");
    }

    // errors, in ZooKeeper's words and key order
    let (_, _, body) = http_get(admin, "/commands/leader");
    assert_eq!(
        body,
        "{\n  \"error\" : \"server is not initialized\",\n  \"command\" : \"leader\"\n}"
    );
    let unknown = command(admin, "nosuch");
    assert_eq!(unknown["error"], "Unknown command: nosuch");
    let stmk = command(admin, "set_trace_mask");
    assert_eq!(
        stmk["error"],
        "setTraceMask requires long traceMask argument"
    );
    let stmk = command(admin, "set_trace_mask?traceMask=127");
    assert_eq!(stmk["tracemask"], 127);
    assert_eq!(command(admin, "gtmk")["tracemask"], 127);
    assert_eq!(server.four_letter("gtmk"), "127");
    let (status, _, _) = http_get(admin, "/elsewhere");
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_server_can_be_disabled() {
    if against_zk() {
        return;
    }
    let port = free_port();
    let server = TestServer::start_with(ServerOptions {
        extra: vec![
            ("admin.enableServer".into(), "false".into()),
            ("admin.serverPort".into(), port.to_string()),
        ],
        ..Default::default()
    });
    assert!(server.four_letter("ruok") == "imok");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

// ------------------------------------------------------------------------- Prometheus

/// A strict reader of the Prometheus text format (0.0.4): every line is a comment
/// (`# HELP`/`# TYPE` well formed, TYPE before its samples) or a sample
/// `name{label="value",...} value`; returns the family name → type, and sample names.
fn parse_prometheus(text: &str) -> (BTreeMap<String, String>, BTreeSet<String>) {
    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut types = BTreeMap::new();
    let mut samples = BTreeSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap_or("");
            if kind == "TYPE" {
                assert!(is_name(name), "bad family name in {line:?}");
                let t = parts.next().unwrap_or("");
                assert!(
                    ["counter", "gauge", "summary", "histogram", "untyped"].contains(&t),
                    "bad type in {line:?}"
                );
                assert!(
                    types.insert(name.to_string(), t.to_string()).is_none(),
                    "TYPE twice: {line}"
                );
            } else if kind == "HELP" {
                assert!(is_name(name), "bad HELP {line:?}");
            }
            continue;
        }
        assert!(!line.starts_with('#'), "bad comment {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample without value");
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
            "bad value in {line:?}"
        );
        let name = match series.find('{') {
            Some(i) => {
                let labels = series[i + 1..].strip_suffix('}').expect("unclosed labels");
                for pair in split_labels(labels) {
                    let (k, v) = pair.split_once('=').expect("label k=v");
                    assert!(is_name(k), "bad label name {line:?}");
                    assert!(
                        v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                        "bad label value {line:?}"
                    );
                }
                &series[..i]
            }
            None => series,
        };
        assert!(is_name(name), "bad metric name {line:?}");
        let family = ["_sum", "_count", "_bucket"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample before its TYPE: {line:?}"
        );
        samples.insert(name.to_string());
    }
    (types, samples)
}

fn split_labels(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut cur, mut in_q, mut esc) = (String::new(), false, false);
    for c in s.chars() {
        match c {
            _ if esc => esc = false,
            '\\' if in_q => esc = true,
            '"' => in_q = !in_q,
            ',' if !in_q => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_endpoint_has_zookeeper_names() {
    if against_zk() {
        eprintln!("skipped against Apache ZooKeeper: Debian's has no PrometheusMetricsProvider");
        return;
    }
    let (server, _, port) = start_full();
    let (client, _watches) = busy_client(&server).await;
    for i in 0..20 {
        client
            .set_data("/op", format!("{i}").as_bytes(), None)
            .await
            .unwrap();
        client.get_data("/op").await.unwrap();
    }
    // gauges are sampled once a second
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _, text) = http_get(port, "/metrics");
    assert_eq!(status, 200, "{text}");
    let (types, samples) = parse_prometheus(&text);
    for (name, kind) in [
        ("znode_count", "gauge"),
        ("watch_count", "gauge"),
        ("num_alive_connections", "gauge"),
        ("packets_received", "gauge"),
        ("packets_sent", "gauge"),
        ("avg_latency", "gauge"),
        ("min_latency", "gauge"),
        ("max_latency", "gauge"),
        ("outstanding_requests", "gauge"),
        ("ephemerals_count", "gauge"),
        ("approximate_data_size", "gauge"),
        ("global_sessions", "gauge"),
        ("open_file_descriptor_count", "gauge"),
        ("max_file_descriptor_count", "gauge"),
        ("uptime", "gauge"),
        ("commit_count", "counter"),
        ("connection_request_count", "counter"),
        ("bytes_received_count", "counter"),
        ("fsynctime", "summary"),
        ("updatelatency", "summary"),
        ("readlatency", "summary"),
        ("sync_processor_batch_size", "summary"),
        ("local_write_committed_time_ms", "summary"),
        ("zkd_request_seconds", "summary"),
        ("zkd_raft_commit_seconds", "summary"),
        ("zkd_apply_seconds", "summary"),
        ("zkd_fsync_seconds", "summary"),
        ("zkd_fsync_batch_size", "summary"),
    ] {
        assert_eq!(
            types.get(name).map(String::as_str),
            Some(kind),
            "{name} in\n{text}"
        );
    }
    for s in ["fsynctime_sum", "fsynctime_count", "updatelatency_count"] {
        assert!(samples.contains(s), "{s} missing");
    }
    assert!(
        text.contains("zkd_request_seconds{op=\"setData\",quantile=\"0.99\"}"),
        "{text}"
    );
    let znodes: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("znode_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(znodes >= 7.0);

    // and a real parser: the prometheus_client Python package, where installed
    let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
                  names = sorted(f.name for f in text_string_to_metric_families(sys.stdin.read()))\n\
                  print('\\n'.join(names))\n";
    // Debian's python3-prometheus-client (compat-tests/prereqs.sh) lives in /usr/bin's
    // python, which a pyenv or venv python3 earlier on PATH does not see.
    let python = ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import prometheus_client"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(python) = python else {
        eprintln!("python3 prometheus_client not installed: only the built-in strict parser ran");
        return;
    };
    let mut child = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected /metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families = String::from_utf8_lossy(&out.stdout);
    for name in [
        "znode_count",
        "commit_count",
        "fsynctime",
        "zkd_request_seconds",
    ] {
        assert!(
            families.lines().any(|l| l == name),
            "{name} not parsed: {families}"
        );
    }
}

// -------------------------------------------------------------------------- lifecycle

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_writes_loses_no_acknowledged_write() {
    let mut server = TestServer::start();
    let setup = server.connect().await;
    setup.create("/w", b"", &open_acl()).await.unwrap();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let c = server.connect().await;
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/w/{w}-{i}");
                match tokio::time::timeout(
                    Duration::from_secs(5),
                    c.create(&path, b"v", &open_acl()),
                )
                .await
                {
                    Ok(Ok(_)) => acked.lock().unwrap().push(path),
                    _ => break,
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = acked.lock().unwrap().len();
    assert!(before > 10, "writers too slow: {before}");
    let status = server.terminate();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    if !against_zk() {
        assert!(
            status.success(),
            "exit status {status}; log:\n{}",
            server.log()
        );
        assert!(
            server.log().contains("shutdown complete"),
            "{}",
            server.log()
        );
        // A requested stop is not a failure: the log must not say one happened (it once
        // reported raft's normal stop as a storage failure).
        assert!(
            !server.log().contains("ERROR"),
            "a clean stop logged an error:\n{}",
            server.log()
        );
    }
    let acked = acked.lock().unwrap().clone();
    server.restart();
    let c = server.connect().await;
    let children: BTreeSet<String> = c.list_children("/w").await.unwrap().into_iter().collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|p| !children.contains(p.trim_start_matches("/w/")))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    assert!(children.len() >= acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    if against_zk() {
        return;
    }
    let mut server = TestServer::start();
    let c = server.connect().await;
    c.create("/before", b"", &open_acl()).await.unwrap();
    // SIGINT starts the graceful shutdown; the SIGTERM that terminate() sends right
    // after either finds it done (0) or cuts it short (128 + signal number).
    let st = std::process::Command::new("kill")
        .args(["-INT", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = server.terminate();
    let log = server.log();
    if log.contains("second signal") {
        // 128 + the number of whichever signal was handled second
        assert!(matches!(status.code(), Some(130 | 143)), "{status}: {log}");
    } else {
        assert!(status.success(), "{status}: {log}");
    }
    server.restart();
    let c = server.connect().await;
    assert!(c.check_stat("/before").await.unwrap().is_some());
}

#[test]
fn version_and_serve_help_document_every_flag() {
    if against_zk() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_zkd");
    let out = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.starts_with("zkd "), "{v}");
    let out = std::process::Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--client-port",
        "--data-dir",
        "--admin-port",
        "--no-admin",
        "--metrics-port",
        "--log-level",
        "SIGTERM",
    ] {
        assert!(help.contains(flag), "serve --help lacks {flag}:\n{help}");
    }
}
