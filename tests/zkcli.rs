//! zkCli (the official Java client's shell, Apache ZooKeeper 3.9.5's, through
//! compat-tests/zkcli.sh) against the server.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use zk::{CreateMode, EventType};
use zookeeper_client as zk;

/// Lines that are zkCli/JVM noise rather than command output.
fn is_noise(l: &str) -> bool {
    let l = l.trim_end();
    l.is_empty()
        || l.starts_with("SLF4J:")
        || l.starts_with("Connecting to ")
        || l == "Welcome to ZooKeeper!"
        || l == "JLine support is disabled"
        || l == "JLine support is enabled"
        || l == "WATCHER::"
        || l.starts_with("WatchedEvent state:SyncConnected type:None")
        || l.starts_with("WatchedEvent state:Closed type:None")
        || l.contains(" INFO ")
        || l.contains(" WARN ")
        || l.starts_with("[zk: ")
}

fn clean(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !is_noise(l))
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// zkCli with stderr merged into stdout (it prints results on both; order matters).
fn zkcli_command(zkcli: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg("exec \"$0\" \"$@\" 2>&1").arg(zkcli);
    c
}

/// Run zkCli with the given commands on stdin (one session, then `quit`).
fn run_script(server: &TestServer, zkcli: &str, commands: &[&str]) -> Vec<String> {
    let mut script = commands.join("\n");
    script.push_str("\nquit\n");
    let mut child = zkcli_command(zkcli)
        .arg("-server")
        .arg(server.addr())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zkCli.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = wait_output(child, Duration::from_secs(60));
    clean(&out)
}

/// Run zkCli in its one-shot form: `zkCli.sh -server addr cmd args...`.
fn run_once(server: &TestServer, zkcli: &str, args: &[&str]) -> Vec<String> {
    let child = zkcli_command(zkcli)
        .arg("-server")
        .arg(server.addr())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zkCli.sh");
    clean(&wait_output(child, Duration::from_secs(60)))
}

fn wait_output(child: Child, limit: Duration) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(limit)
        .expect("zkCli.sh did not finish in time")
        .expect("zkCli.sh output");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// Assert that `want` occur in `lines` in this order (other lines may come in between).
fn assert_in_order(lines: &[String], want: &[&str]) {
    let mut i = 0;
    for w in want {
        match lines[i..].iter().position(|l| l == w) {
            Some(p) => i += p + 1,
            None => panic!(
                "zkCli output lacks {w:?} (in order); output:\n{}",
                lines.join("\n")
            ),
        }
    }
}

/// An interactive zkCli session fed line by line.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Session {
    fn start(server: &TestServer, zkcli: &str) -> Session {
        let mut child = zkcli_command(zkcli)
            .arg("-server")
            .arg(server.addr())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zkCli.sh");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(l);
            }
        });
        let stdin = child.stdin.take();
        Session {
            child,
            stdin,
            rx,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, cmd: &str) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(cmd.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
        s.flush().unwrap();
    }

    /// Wait until a line equal to (or, with `contains`, containing) `what` appears.
    /// Waits for zkCli's line for a watch event and checks that it carries a real zxid:
    /// 3.9's `WatchedEvent` prints the zxid of the transaction that fired it
    /// (`... path:/p zxid: 12`).
    fn wait_event(&mut self, kind: &str, path: &str) {
        let prefix = format!("WatchedEvent state:SyncConnected type:{kind} path:{path} zxid: ");
        let line = self.wait_for(&prefix, true);
        let zxid = line.trim_end().strip_prefix(&prefix).map(str::parse::<i64>);
        assert!(
            matches!(zxid, Some(Ok(z)) if z > 0),
            "{kind} on {path}: no txn zxid in {line:?}"
        );
    }

    /// Waits for a line equal to `what` (or containing it) and returns it.
    fn wait_for(&mut self, what: &str, contains: bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let hit = |l: &String| {
            if contains {
                l.contains(what)
            } else {
                l.trim_end() == what
            }
        };
        if let Some(i) = self.seen.iter().position(hit) {
            return self.seen.remove(i);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) if hit(&l) => return l,
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "zkCli never printed {what:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn quit(mut self) {
        self.send("quit");
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "zkCli did not exit after quit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_create_ls_get_set_delete() {
    let cli = zkcli_path();
    let server = TestServer::start();
    let out = run_script(
        &server,
        &cli,
        &[
            "create /cli hello",
            "create /cli again",
            "create /cli/c1 x",
            "create -s /cli/s- y",
            "ls /cli",
            "get /cli",
            "set /cli world",
            "get /cli",
            "get -s /cli",
            "set -v 0 /cli nope",
            "delete /cli",
            "get /nope",
            "getAllChildrenNumber /cli",
            "delete /cli/c1",
            "ls /cli",
            "ls -R /cli",
            "create -c /cont z",
            "create -t 60000 /ttl w",
            "ls /",
            "deleteall /cli",
            "ls /",
            "sync /",
            "whoami",
        ],
    );
    assert_in_order(
        &out,
        &[
            "Created /cli",
            "Node already exists: /cli",
            "Created /cli/c1",
            "Created /cli/s-0000000001",
            "[c1, s-0000000001]",
            "hello",
            "world",
            "world",
            "dataVersion = 1",
            "aclVersion = 0",
            "ephemeralOwner = 0x0",
            "dataLength = 5",
            "numChildren = 2",
            "version No is not valid : /cli",
            "Node not empty: /cli",
            "Node does not exist: /nope",
            "2",
            "[s-0000000001]",
            "/cli",
            "/cli/s-0000000001",
            "Created /cont",
            "Created /ttl",
            "[cli, cont, ttl, zookeeper]",
            "[cont, ttl, zookeeper]",
            "Sync is OK",
            "ip: 127.0.0.1",
        ],
    );
    let c = server.connect().await;
    assert_eq!(
        c.check_stat("/cli").await.unwrap(),
        None,
        "deleteall removed it"
    );
    assert_eq!(c.get_data("/cont").await.unwrap().0, b"z");
    assert_eq!(c.get_data("/ttl").await.unwrap().0, b"w");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_one_shot_commands_and_stat_output() {
    let cli = zkcli_path();
    let server = TestServer::start();
    let c = server.connect().await;
    let (created, _) = c.create("/one", b"payload", &open_acl()).await.unwrap();
    let out = run_once(&server, &cli, &["get", "/one"]);
    assert!(out.contains(&"payload".to_string()), "{out:?}");
    let out = run_once(&server, &cli, &["stat", "/one"]);
    assert_in_order(
        &out,
        &[
            &format!("cZxid = {:#x}", created.czxid),
            &format!("mZxid = {:#x}", created.mzxid),
            &format!("pZxid = {:#x}", created.pzxid),
            "cversion = 0",
            "dataVersion = 0",
            "aclVersion = 0",
            "ephemeralOwner = 0x0",
            "dataLength = 7",
            "numChildren = 0",
        ],
    );
    let out = run_once(&server, &cli, &["set", "/one", "changed"]);
    assert!(!out.iter().any(|l| l.contains("Exception")), "{out:?}");
    assert_eq!(c.get_data("/one").await.unwrap().0, b"changed");
    let out = run_once(&server, &cli, &["ls", "/"]);
    assert!(out.contains(&"[one, zookeeper]".to_string()), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_ephemeral_vanishes_when_the_zkcli_session_ends() {
    let cli = zkcli_path();
    let server = TestServer::start();
    let c = server.connect().await;
    let mut s = Session::start(&server, &cli);
    s.send("create -e /cli-eph x");
    s.wait_for("Created /cli-eph", false);
    s.send("getEphemerals");
    s.wait_for("[/cli-eph]", false);
    let (_, stat) = c.get_data("/cli-eph").await.unwrap();
    assert_ne!(stat.ephemeral_owner, 0, "zkCli created an ephemeral");
    let (_, w) = c.check_and_watch_stat("/cli-eph").await.unwrap();
    s.quit();
    let e = within(
        Duration::from_secs(5),
        "the ephemeral to go with zkCli's session",
        w.changed(),
    )
    .await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/cli-eph")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_watches_fire_for_changes_made_by_another_client() {
    let cli = zkcli_path();
    let server = TestServer::start();
    let c = server.connect().await;
    c.create("/cw", b"1", &open_acl()).await.unwrap();
    let mut s = Session::start(&server, &cli);

    s.send("get -w /cw");
    s.wait_for("1", false);
    c.set_data("/cw", b"2", None).await.unwrap();
    s.wait_event("NodeDataChanged", "/cw");

    s.send("ls -w /cw");
    s.wait_for("[]", false);
    c.create("/cw/k", b"", &open_acl()).await.unwrap();
    s.wait_event("NodeChildrenChanged", "/cw");

    s.send("stat -w /later");
    s.wait_for("Node does not exist: /later", false);
    c.create("/later", b"", &mode(CreateMode::Persistent))
        .await
        .unwrap();
    s.wait_event("NodeCreated", "/later");

    s.send("addWatch -m PERSISTENT_RECURSIVE /rw");
    s.send("sync /");
    s.wait_for("Sync is OK", false);
    c.create("/rw", b"", &open_acl()).await.unwrap();
    s.wait_event("NodeCreated", "/rw");
    c.create("/rw/deep", b"", &open_acl()).await.unwrap();
    s.wait_event("NodeCreated", "/rw/deep");

    // and the same session's own write fires its own watch
    s.send("get -w /cw");
    s.wait_for("2", false);
    s.send("set /cw 3");
    s.wait_event("NodeDataChanged", "/cw");
    s.quit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_acls_and_auth() {
    let cli = zkcli_path();
    let server = TestServer::start();
    let out = run_script(
        &server,
        &cli,
        &[
            "addauth digest u1:pw1",
            "create /secret s auth::cdrwa",
            "getAcl /secret",
            "whoami",
            "create /open o",
            "setAcl /open world:anyone:r",
            "getAcl /open",
            "set /open x",
        ],
    );
    assert_in_order(
        &out,
        &[
            "Created /secret",
            "'digest,'u1:cO3JQ7NLKx81M3VewVIrTBCVEVo=",
            ": cdrwa",
            "digest: u1",
            "Created /open",
            "'world,'anyone",
            ": r",
            "Insufficient permission : /open",
        ],
    );
    let out = run_script(
        &server,
        &cli,
        &["get /secret", "addauth digest super:test", "get /secret"],
    );
    assert_in_order(&out, &["Insufficient permission : /secret", "s"]);
}

/// zkCli's quota commands (the example of the parity issue: `setquota -n 2 /a` then
/// `listquota /a`), run on zkd and on Apache ZooKeeper 3.9.5 in one test: the outputs
/// must be the same, line for line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_quotas_print_what_zookeeper_prints() {
    let cli = zkcli_path();
    let script = [
        "create /a x",
        "create /a/c1 yy",
        "create /a/c2 zzz",
        "setquota -n 2 /a",
        "listquota /a",
        "create /a/c3 w",
        "listquota /a",
        "setquota -b 100 /a/c1",
        "setquota -N 10 -B 1000 /a",
        "listquota /a",
        "delquota -n /a",
        "listquota /a",
        "delquota /a",
        "listquota /a",
        "setquota -n 1 /nope",
    ];
    let mut outputs = Vec::new();
    for reference in [false, true] {
        let server = TestServer::start_with(ServerOptions {
            reference,
            ..ServerOptions::default()
        });
        outputs.push(run_script(&server, &cli, &script));
    }
    let (zkd, zk) = (&outputs[0], &outputs[1]);
    assert!(
        zk.iter()
            .any(|l| l.starts_with("Output stat for /a count=")),
        "ZooKeeper's listquota printed no stat: {zk:#?}"
    );
    assert_eq!(zkd, zk, "zkd (left) and ZooKeeper (right) differ");
}
