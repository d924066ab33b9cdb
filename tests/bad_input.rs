//! Malformed input on raw sockets closes that one connection and nothing else; four-letter
//! words answer in ZooKeeper's format.

mod common;

use std::time::Duration;

use common::*;
use zookeeper_client as zk;

const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A bystander session that must keep working whatever the raw connections do.
struct Bystander {
    c: zk::Client,
    sid: zk::SessionId,
    n: usize,
}

impl Bystander {
    async fn new(server: &TestServer) -> Bystander {
        let c = server.connect().await;
        c.create("/bystander", b"", &open_acl()).await.unwrap();
        let sid = c.session_id();
        Bystander { c, sid, n: 0 }
    }

    async fn still_works(&mut self) {
        self.n += 1;
        let p = format!("/bystander/k{}", self.n);
        self.c
            .create(&p, b"ok", &open_acl())
            .await
            .unwrap_or_else(|e| panic!("bystander create {p}: {e}"));
        assert_eq!(self.c.get_data(&p).await.unwrap().0, b"ok");
        assert_eq!(self.c.session_id(), self.sid);
        assert_eq!(self.c.state(), zk::SessionState::SyncConnected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_negative_frame_lengths_close_the_connection() {
    let server = TestServer::start_with(ServerOptions {
        extra: vec![("jute.maxbuffer".into(), "100000".into())],
        ..Default::default()
    });
    let mut by = Bystander::new(&server).await;

    for (name, len, handshake) in [
        ("huge length before connect", 0x7fff_0000i32, false),
        ("negative length before connect", -1, false),
        ("negative length -5 before connect", -5, false),
        ("huge length after connect", 0x7fff_0000, true),
        ("jute.maxbuffer + 1 after connect", 100_001, true),
        ("negative length after connect", -1, true),
    ] {
        let mut raw = if handshake {
            Raw::connect(server.port, 10_000).await.0
        } else {
            Raw::open(server.port).await
        };
        raw.write(&len.to_be_bytes()).await.unwrap();
        let _ = raw.write(&[0u8; 64]).await;
        assert!(
            raw.closed_within(CLOSE_WAIT).await,
            "{name}: the connection was not closed"
        );
        by.still_works().await;
    }

    // a frame just under the limit is fine
    let data = vec![7u8; 90_000];
    by.c.set_data("/bystander", &data, None).await.unwrap();
    assert_eq!(by.c.get_data("/bystander").await.unwrap().0.len(), 90_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_frames() {
    let server = TestServer::start();
    let mut by = Bystander::new(&server).await;

    // a frame too short to hold a RequestHeader
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    raw.write(&Enc::new().raw(&[1, 2, 3]).frame())
        .await
        .unwrap();
    assert!(raw.closed_within(CLOSE_WAIT).await, "3-byte request frame");
    by.still_works().await;

    // random bytes after the handshake (read as a negative length)
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    raw.write(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 16])
        .await
        .unwrap();
    let _ = raw.write(&[b'z'; 16]).await;
    assert!(raw.closed_within(CLOSE_WAIT).await, "deadbeef garbage");
    by.still_works().await;

    // a truncated ConnectRequest (16 of its 45 bytes): no ConnectResponse, just a close
    let mut raw = Raw::open(server.port).await;
    raw.write(&Enc::new().int(0).long(0).int(10_000).frame())
        .await
        .unwrap();
    match raw.read_payload(CLOSE_WAIT).await {
        Ok(None) => {}
        Ok(Some(p)) => panic!("a truncated ConnectRequest got a {}-byte reply", p.len()),
        Err(e) => panic!("the connection stayed open after a truncated ConnectRequest: {e}"),
    }
    by.still_works().await;

    // a ConnectRequest whose password length runs past the frame
    let mut raw = Raw::open(server.port).await;
    raw.write(
        &Enc::new()
            .int(0)
            .long(0)
            .int(10_000)
            .long(0)
            .int(1000)
            .raw(&[0; 8])
            .frame(),
    )
    .await
    .unwrap();
    assert!(
        matches!(raw.read_payload(CLOSE_WAIT).await, Ok(None)),
        "bad passwd length"
    );
    by.still_works().await;

    // a request whose body is cut short: ZooKeeper answers MarshallingError (-5) and keeps
    // the connection
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let truncated: [(i32, Vec<u8>); 4] = [
        (op::GET_DATA, Enc::new().int(500).raw(b"/x").bytes()),
        (op::CREATE, Enc::new().int(500).raw(b"/x").bytes()),
        (op::SET_DATA, Enc::new().string("/x").int(100).bytes()),
        (op::MULTI, Enc::new().int(op::CREATE).bytes()),
    ];
    for (opcode, body) in truncated {
        let (_, r) = raw.call(opcode, &body).await;
        assert_eq!(
            r.err, -5,
            "opcode {opcode} with a truncated body: MarshallingError"
        );
        assert!(r.body.is_empty());
    }
    let (_, r) = raw
        .call(
            op::EXISTS,
            &Enc::new().string("/bystander").boolean(false).bytes(),
        )
        .await;
    assert_eq!(r.err, 0, "the connection still serves requests");
    by.still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_opcode_gets_unimplemented_then_close() {
    let server = TestServer::start();
    let mut by = Bystander::new(&server).await;
    for opcode in [999, 10, op::NOTIFICATION, 108, -3] {
        let (mut raw, _) = Raw::connect(server.port, 10_000).await;
        // a good request first, to show the connection was fine
        let (_, r) = raw
            .call(
                op::EXISTS,
                &Enc::new().string("/bystander").boolean(false).bytes(),
            )
            .await;
        assert_eq!(r.err, 0);
        let xid = raw
            .send(opcode, &Enc::new().string("/bystander").bytes())
            .await;
        let f = raw
            .try_read_frame(CLOSE_WAIT)
            .await
            .expect("a reply")
            .expect("a reply before the close");
        assert_eq!((f.xid, f.err), (xid, err::UNIMPLEMENTED), "opcode {opcode}");
        assert_eq!(
            f.zxid, -1,
            "ZooKeeper answers an unknown request with zxid -1"
        );
        assert!(f.body.is_empty());
        assert!(
            raw.closed_within(CLOSE_WAIT).await,
            "opcode {opcode}: not closed after Unimplemented"
        );
        by.still_works().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_level_check_is_unimplemented() {
    if !zk39_only("a top-level check is rejected with Unimplemented (ZOOKEEPER-2623, 3.9.3)") {
        // ZooKeeper 3.8.0 never answers it and leaves the connection hanging.
        return;
    }
    let server = TestServer::start();
    let mut by = Bystander::new(&server).await;
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let xid = raw
        .send(op::CHECK, &Enc::new().string("/bystander").int(-1).bytes())
        .await;
    let f = raw
        .try_read_frame(CLOSE_WAIT)
        .await
        .expect("a reply")
        .expect("a reply before the close");
    assert_eq!((f.xid, f.err), (xid, err::UNIMPLEMENTED));
    assert!(
        raw.closed_within(CLOSE_WAIT).await,
        "not closed after a top-level check"
    );
    by.still_works().await;
}

fn field<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

fn num(text: &str, prefix: &str) -> u64 {
    let v = field(text, prefix);
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{prefix:?} is not a number: {v:?}"))
}

/// The srvr lines shared by srvr and stat.
fn check_srvr_body(text: &str, min_nodes: u64, min_zxid: i64) {
    let version = field(text, "Zookeeper version: ");
    assert!(!version.trim().is_empty());
    let lat = field(text, "Latency min/avg/max: ");
    let parts: Vec<&str> = lat.split('/').collect();
    assert_eq!(parts.len(), 3, "latency {lat:?}");
    parts[0].parse::<u64>().unwrap();
    parts[1].parse::<f64>().unwrap();
    parts[2].parse::<u64>().unwrap();
    assert!(num(text, "Received: ") > 0);
    assert!(num(text, "Sent: ") > 0);
    assert!(num(text, "Connections: ") >= 1);
    num(text, "Outstanding: ");
    let zxid = field(text, "Zxid: ");
    let zxid = i64::from_str_radix(
        zxid.strip_prefix("0x")
            .unwrap_or_else(|| panic!("zxid {zxid}")),
        16,
    )
    .unwrap();
    assert!(
        zxid >= min_zxid,
        "srvr Zxid {zxid:#x} < last write {min_zxid:#x}"
    );
    assert_eq!(field(text, "Mode: "), "standalone");
    assert_eq!(num(text, "Node count: "), min_nodes, "Node count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_letter_words_answer_in_zookeeper_format() {
    let server = TestServer::start();
    let mut by = Bystander::new(&server).await;
    let (st, _) =
        by.c.create("/bystander/last", b"", &open_acl())
            .await
            .unwrap();
    let (_, _, _w1) = by.c.get_and_watch_data("/bystander").await.unwrap();
    let (_, _w2) =
        by.c.list_and_watch_children("/bystander/last")
            .await
            .unwrap();

    assert_eq!(server.four_letter("ruok"), "imok");
    assert_eq!(server.four_letter("isro"), "rw");

    // a fresh tree counts 5 nodes in ZooKeeper (the root is listed as "" and as "/");
    // we added /bystander and /bystander/last
    let srvr = server.four_letter("srvr");
    assert!(srvr.starts_with("Zookeeper version: "), "{srvr}");
    assert!(srvr.ends_with('\n'));
    assert!(!srvr.contains("Clients:"));
    check_srvr_body(&srvr, 7, st.czxid);

    let stat = server.four_letter("stat");
    assert!(stat.starts_with("Zookeeper version: "), "{stat}");
    let clients: Vec<&str> = stat
        .lines()
        .skip_while(|l| *l != "Clients:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        clients.len() >= 2,
        "the bystander and this connection: {stat}"
    );
    assert!(
        clients.iter().all(|l| l.starts_with(" /127.0.0.1:")),
        "{clients:?}"
    );
    check_srvr_body(&stat, 7, st.czxid);

    let conf = server.four_letter("conf");
    assert_eq!(field(&conf, "clientPort="), server.port.to_string());
    assert!(
        field(&conf, "dataDir=").starts_with(&server.data_dir().display().to_string()),
        "dataDir in conf: {conf}"
    );
    assert_eq!(field(&conf, "tickTime="), "100");
    assert_eq!(field(&conf, "maxClientCnxns="), "0");
    assert_eq!(field(&conf, "minSessionTimeout="), "200");
    assert_eq!(field(&conf, "maxSessionTimeout="), "20000");
    field(&conf, "dataLogDir=");
    field(&conf, "serverId=");
    assert!(conf.lines().all(|l| l.contains('=')), "{conf}");

    let envi = server.four_letter("envi");
    assert_eq!(envi.lines().next(), Some("Environment:"), "{envi}");
    for key in [
        "zookeeper.version=",
        "host.name=",
        "os.name=",
        "os.arch=",
        "user.name=",
        "user.dir=",
    ] {
        field(&envi, key);
    }

    let mntr = server.four_letter("mntr");
    let mut lines = mntr.lines();
    assert!(lines.next().unwrap().starts_with("zk_version\t"), "{mntr}");
    assert_eq!(lines.next(), Some("zk_server_state\tstandalone"));
    for l in mntr.lines() {
        let (k, v) = l
            .split_once('\t')
            .unwrap_or_else(|| panic!("mntr line without a tab: {l:?}"));
        assert!(k.starts_with("zk_") && !v.is_empty(), "mntr line {l:?}");
    }
    assert_eq!(num(&mntr, "zk_znode_count\t"), 7);
    assert_eq!(num(&mntr, "zk_ephemerals_count\t"), 0);
    assert_eq!(num(&mntr, "zk_watch_count\t"), 2);
    assert!(num(&mntr, "zk_num_alive_connections\t") >= 1);
    assert_eq!(num(&mntr, "zk_outstanding_requests\t"), 0);
    for key in [
        "zk_avg_latency\t",
        "zk_max_latency\t",
        "zk_min_latency\t",
        "zk_packets_received\t",
        "zk_packets_sent\t",
        "zk_approximate_data_size\t",
        "zk_open_file_descriptor_count\t",
        "zk_max_file_descriptor_count\t",
        "zk_uptime\t",
    ] {
        field(&mntr, key);
    }

    let wchs = server.four_letter("wchs");
    // ZooKeeper's wchs summarises the data-watch table only (the child watch is not counted)
    assert_eq!(wchs, "1 connections watching 1 paths\nTotal watches:1\n");

    let cons = server.four_letter("cons");
    assert!(
        cons.lines().any(|l| l.starts_with(" /127.0.0.1:")),
        "{cons}"
    );

    let dirs = server.four_letter("dirs");
    num(&dirs, "datadir_size: ");
    num(&dirs, "logdir_size: ");

    by.still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_whitelisted_four_letter_words_are_refused() {
    let server = TestServer::start_with(ServerOptions {
        whitelist: "ruok, conf".into(),
        ..Default::default()
    });
    assert_eq!(server.four_letter("ruok"), "imok");
    assert!(server.four_letter("conf").contains("clientPort="));
    assert!(
        server
            .four_letter("srvr")
            .starts_with("Zookeeper version: "),
        "srvr is always allowed"
    );
    for w in ["stat", "mntr", "envi", "isro", "cons", "wchs", "dump"] {
        assert_eq!(
            server.four_letter(w),
            format!("{w} is not executed because it is not in the whitelist.\n")
        );
    }
    // not a four-letter word at all: read as a frame length, too large, closed without output
    assert_eq!(server.four_letter("xyzw"), "");
    let c = server.connect().await;
    c.create("/still-fine", b"", &open_acl()).await.unwrap();
}
