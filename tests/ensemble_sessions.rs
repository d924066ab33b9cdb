//! Sessions across leader changes and quorum loss: the contract applications build on.
//!
//! An ephemeral node lives exactly as long as its session, and applications read
//! SessionExpired as "you lost your lock, your leadership, your registration". ZooKeeper
//! expires a session only when its timeout runs out on a serving leader; so must zkd:
//!
//! * killing (or isolating) the leader never expires a live session: its clients move to
//!   other members and keep their sessions and ephemerals;
//! * a client that keeps retrying while the quorum is lost, for longer than its session
//!   timeout, gets its own session back (same id, ephemerals intact) once a quorum serves
//!   again: the new leader restarts every session's clock.
//!
//! Each scenario runs [`ROUNDS`] times in a row on one cluster. The clients are the
//! `zookeeper-client` crate (whose state stream reports Expired) and, where a client must
//! keep retrying past its session timeout, raw protocol clients that reattach with their
//! session id and password and record every answer (the crate gives up on its own after
//! 7/5 of the timeout; the Java client does not). Against Apache ZooKeeper 3.9.5 (the
//! cluster harness then runs ZooKeeper members, election ports proxied too):
//! `ZKD_TEST_AGAINST_ZK=1 cargo test --test ensemble_sessions`.

#[path = "support/cluster.rs"]
mod cluster;
mod common;
#[path = "support/proxy.rs"]
mod proxy;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::{blocking, one_at_a_time, poll, Cluster};
use common::{four_letter_at, mode, Raw};
use zk::{CreateMode, SessionState};
use zookeeper_client as zk;

/// How many times each scenario runs in a row.
const ROUNDS: usize = 10;
/// Sessions per scenario.
const SESSIONS: usize = 50;
/// Bound for waits that prove progress.
const PROGRESS: Duration = Duration::from_secs(30);
/// ZooKeeper's SessionExpired error code.
const SESSION_EXPIRED: i32 = -112;

// ---------------------------------------------------------------------------------------------
// zookeeper-client sessions with a watch on their state

struct Watched {
    client: zk::Client,
    path: String,
    expired: Arc<AtomicBool>,
}

/// `n` sessions on the whole ensemble (the crate shuffles the members, so about a third
/// land on each), each owning an ephemeral, each watched for Expired.
async fn watched_sessions(cluster: &Cluster, n: usize) -> Vec<Watched> {
    let parent = "/sessions";
    let admin = cluster.connect_any().await;
    match admin
        .create(parent, b"", &mode(CreateMode::Persistent))
        .await
    {
        Ok(_) | Err(zk::Error::NodeExists) => {}
        Err(e) => panic!("create {parent}: {e}"),
    }
    let mut out = Vec::new();
    for k in 0..n {
        let client = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&cluster.connect_string())
            .await
            .unwrap_or_else(|e| panic!("session {k}: {e}"));
        let path = format!("{parent}/e{k}");
        client
            .create(&path, b"", &mode(CreateMode::Ephemeral))
            .await
            .unwrap_or_else(|e| panic!("create {path}: {e}"));
        let expired = Arc::new(AtomicBool::new(false));
        let mut states = client.state_watcher();
        let flag = expired.clone();
        tokio::spawn(async move {
            loop {
                let state = states.changed().await;
                if state == SessionState::Expired {
                    flag.store(true, Ordering::SeqCst);
                }
                if state.is_terminated() {
                    return;
                }
            }
        });
        out.push(Watched {
            client,
            path,
            expired,
        });
    }
    out
}

/// Every session answers a read of its own ephemeral (which must still be its own), and
/// none was ever told it expired.
async fn all_sessions_alive(sessions: &[Watched], round: usize) {
    let deadline = Instant::now() + PROGRESS;
    for s in sessions {
        loop {
            assert!(
                !s.expired.load(Ordering::SeqCst),
                "round {round}: session {:#x} was told it expired",
                s.client.session_id().0
            );
            let read = tokio::time::timeout(Duration::from_secs(5), s.client.check_stat(&s.path));
            match read.await {
                Ok(Ok(Some(stat))) => {
                    assert_eq!(
                        stat.ephemeral_owner,
                        s.client.session_id().0,
                        "round {round}: {} changed owner",
                        s.path
                    );
                    break;
                }
                Ok(Ok(None)) => panic!("round {round}: ephemeral {} is gone", s.path),
                Ok(Err(zk::Error::SessionExpired)) => {
                    panic!(
                        "round {round}: session {:#x} expired",
                        s.client.session_id().0
                    )
                }
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                other => panic!("round {round}: {} not readable: {other:?}", s.path),
            }
        }
    }
}

/// How many of `sessions` are connected to member `i` now.
fn sessions_on(cluster: &Cluster, sessions: &[Watched], i: usize) -> usize {
    sessions
        .iter()
        .filter(|s| cluster.member_of_session(s.client.session_id().0) == Some(i))
        .count()
}

async fn leader_fault_expires_no_session(fault: fn(&mut Cluster, usize), what: &str) {
    let _serial = one_at_a_time().await;
    let mut cluster = blocking(|| Cluster::start(3, 0));
    let sessions = watched_sessions(&cluster, SESSIONS).await;
    for round in 1..=ROUNDS {
        let leader = blocking(|| cluster.wait_for_leader(PROGRESS));
        let on_leader = blocking(|| sessions_on(&cluster, &sessions, leader));
        blocking(|| fault(&mut cluster, leader));
        let started = Instant::now();
        // The others elect a leader and the old one serves nobody any more (killed, or
        // cut off and out of its quorum): its clients have had to move.
        let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
        let moved = blocking(|| {
            poll(PROGRESS, || {
                let old_serves = matches!(
                    cluster.mode(leader).as_deref(),
                    Some("leader" | "follower" | "observer")
                );
                cluster.leader_among(&others).is_some() && !old_serves
            })
        });
        assert!(
            moved,
            "round {round}: no new leader, or the old one still serves"
        );
        all_sessions_alive(&sessions, round).await;
        println!(
            "round {round}: {what} (member {leader}, {on_leader} of {SESSIONS} sessions on it): \
             new leader and all sessions alive after {} ms",
            started.elapsed().as_millis()
        );
        // Bring the member back (healed, restarted) for the next round.
        blocking(|| {
            cluster.heal();
            if !cluster.is_running(leader) {
                cluster.restart(leader);
            }
            cluster.wait_ready(&[0, 1, 2], PROGRESS);
        });
    }
    all_sessions_alive(&sessions, ROUNDS + 1).await;
    drop(sessions); // closeSession for each
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_expires_no_session() {
    leader_fault_expires_no_session(|c, i| c.kill9(i), "kill -9 of the leader").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolating_the_leader_expires_no_session() {
    leader_fault_expires_no_session(|c, i| c.isolate(i), "isolated the leader").await;
}

// ---------------------------------------------------------------------------------------------
// raw clients that keep retrying past their session timeout

/// What a retrying raw client saw.
#[derive(Default)]
struct Outcomes {
    /// Sessions that reattached (with their own id; another id counts as lost), in order.
    resumed: Mutex<Vec<i64>>,
    /// Answers that said "expired" (a ConnectResponse with no session) or another id.
    lost: AtomicUsize,
}

/// A raw session kept alive by pings while connected, reattached (member after member,
/// forever) when its connection drops.
struct Keeper {
    id: i64,
    passwd: Vec<u8>,
    ports: Vec<u16>,
    timeout_ms: i32,
}

impl Keeper {
    async fn run(self, outcomes: Arc<Outcomes>, stop: Arc<AtomicBool>, mut conn: Raw) {
        let mut next = 0usize;
        while !stop.load(Ordering::SeqCst) {
            // Connected: ping every third of the timeout until the connection drops (or
            // stays silent for two periods, as a client's read timeout would find).
            let period = Duration::from_millis(self.timeout_ms as u64 / 3);
            let ping = common::Enc::new().int(-2).int(11).frame();
            let mut silent = 0;
            loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if conn.write(&ping).await.is_err() {
                    break;
                }
                match conn.read_payload(period).await {
                    Ok(Some(p)) => {
                        silent = 0;
                        if common::parse_frame(&p).err == SESSION_EXPIRED {
                            eprintln!("session {:#x}: a ping was answered SessionExpired", self.id);
                            outcomes.lost.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        tokio::time::sleep(period).await;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut && silent < 1 => silent += 1,
                    Ok(None) | Err(_) => break,
                }
            }
            // Disconnected: reattach, trying the members in turn.
            loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let port = self.ports[next % self.ports.len()];
                next += 1;
                let Ok(mut raw) = Raw::try_open(port).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                match raw.handshake(self.timeout_ms, self.id, &self.passwd).await {
                    Some(resp) if resp.session_id == self.id && resp.timeout > 0 => {
                        outcomes.resumed.lock().unwrap().push(self.id);
                        conn = raw;
                        break;
                    }
                    Some(resp) => {
                        eprintln!(
                            "session {:#x} lost at port {port}: answered id {:#x} timeout {}",
                            self.id, resp.session_id, resp.timeout
                        );
                        outcomes.lost.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    // Refused without an answer (no quorum, no leader yet): try the next.
                    None => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_after_the_quorum_is_lost_past_their_timeout() {
    let _serial = one_at_a_time().await;
    let mut cluster = blocking(|| Cluster::start(3, 0));
    let timeout_ms = 2000;
    let ports: Vec<u16> = (0..3).map(|i| cluster.client_port(i)).collect();
    let admin = cluster.connect_any().await;
    admin
        .create("/q", b"", &mode(CreateMode::Persistent))
        .await
        .unwrap();
    let outcomes = Arc::new(Outcomes::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut ids = Vec::new();
    let mut tasks = Vec::new();
    for k in 0..SESSIONS {
        let port = ports[k % ports.len()];
        let (mut raw, resp) = Raw::connect(port, timeout_ms).await;
        let create = common::Enc::new()
            .string(&format!("/q/e{k}"))
            .buffer(b"")
            .open_acl()
            .int(1)
            .bytes();
        let (_, reply) = raw.call(1, &create).await;
        assert_eq!(reply.err, 0, "create /q/e{k}");
        ids.push(resp.session_id);
        let keeper = Keeper {
            id: resp.session_id,
            passwd: resp.passwd,
            ports: ports.clone(),
            timeout_ms,
        };
        tasks.push(tokio::spawn(keeper.run(
            outcomes.clone(),
            stop.clone(),
            raw,
        )));
    }
    drop(admin);
    let mut down: Vec<usize> = Vec::new();
    for round in 1..=ROUNDS {
        // Two of three go: the survivor has no quorum and serves nobody.
        let survivor = round % 3;
        down = (0..3).filter(|&i| i != survivor).collect();
        blocking(|| {
            for &i in &down {
                cluster.kill9(i);
            }
        });
        let before = outcomes.resumed.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(timeout_ms as u64 * 3 / 2)).await;
        // One comes back: a quorum again, with a new leader.
        let back = down[0];
        blocking(|| {
            cluster.restart_nowait(back);
            cluster.wait_ready(&[survivor, back], PROGRESS);
        });
        // Every keeper had lost its connection; each must be back on its own session.
        let all: BTreeSet<i64> = ids.iter().copied().collect();
        let resumed_since = || -> BTreeSet<i64> {
            outcomes.resumed.lock().unwrap()[before..]
                .iter()
                .copied()
                .collect()
        };
        let deadline = Instant::now() + PROGRESS;
        while resumed_since() != all
            && outcomes.lost.load(Ordering::SeqCst) == 0
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            outcomes.lost.load(Ordering::SeqCst),
            0,
            "round {round}: a session was lost"
        );
        let missing: Vec<_> = all.difference(&resumed_since()).copied().collect();
        assert!(
            missing.is_empty(),
            "round {round}: sessions {missing:x?} did not resume"
        );
        // Their ephemerals are all there, owned by their sessions.
        let c = cluster.connect(survivor).await;
        let owners: BTreeSet<i64> = {
            let mut out = BTreeSet::new();
            for k in 0..SESSIONS {
                let stat = c.check_stat(&format!("/q/e{k}")).await.unwrap();
                let stat = stat.unwrap_or_else(|| panic!("round {round}: /q/e{k} is gone"));
                out.insert(stat.ephemeral_owner);
            }
            out
        };
        assert_eq!(owners, all);
        drop(c);
        println!("round {round}: quorum lost for {} ms past the session timeout; {SESSIONS} sessions resumed", timeout_ms / 2);
        let rest = down[1];
        blocking(|| {
            cluster.restart(rest);
        });
    }
    let _ = down;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    assert_eq!(outcomes.lost.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------------
// serving at once

/// Time from spawning a server with `cfg` until `ruok` answers `imok`, and until a new
/// session is accepted; with `strict`, a session must be accepted as soon as `imok` is.
fn time_to_serve(
    cmd: std::process::Command,
    dir: &std::path::Path,
    port: u16,
    strict: bool,
) -> (Duration, Duration) {
    let started = Instant::now();
    let mut child = common::spawn_logged(cmd, &dir.join("server.log"));
    let mut imok = None;
    let result = loop {
        if started.elapsed() > PROGRESS {
            break Err(format!("not serving after {PROGRESS:?}"));
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("exited with {status}"));
        }
        if imok.is_none() && four_letter_at(port, "ruok").is_ok_and(|s| s == "imok") {
            imok = Some(started.elapsed());
        }
        if let Some(at) = imok {
            if common::session_handshake(port) {
                break Ok((at, started.elapsed()));
            }
            if strict {
                break Err(format!("answered imok after {at:?} but refused a session"));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap_or_else(|e| {
        common::print_log_tail("server", &dir.join("server.log"), 40);
        panic!("{e}")
    })
}

/// ZooKeeper's `standaloneEnabled` (default true): a zoo.cfg with a single `server.N` line
/// runs a standalone server, as the test harnesses of client libraries (kazoo's among them)
/// start servers, and it serves sessions as soon as it answers `imok`. The start-up times of
/// zkd and of Apache ZooKeeper with the same file are printed side by side.
#[test]
fn a_single_server_line_runs_standalone_and_serves_at_once() {
    for reference in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("myid"), "1\n").unwrap();
        let (ports, held) = common::free_ports(3);
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\n4lw.commands.whitelist=*\n\
                 admin.enableServer=false\nserver.1=127.0.0.1:{}:{};127.0.0.1:{}\n",
                data.display(),
                ports[1],
                ports[2],
                ports[0]
            ),
        )
        .unwrap();
        drop(held);
        let cmd = if reference {
            let mut c = std::process::Command::new("java");
            c.arg("-cp")
                .arg(common::zk_classpath())
                .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                .arg(&cfg);
            c
        } else {
            common::zkd_command(&cfg)
        };
        let (imok, session) = time_to_serve(cmd, dir.path(), ports[0], !reference);
        let who = if reference {
            "Apache ZooKeeper 3.9.5"
        } else {
            "zkd"
        };
        println!(
            "{who}: single server.1 line: imok after {} ms, first session after {} ms",
            imok.as_millis(),
            session.as_millis()
        );
        if !reference {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
            assert!(log.contains("running standalone"), "{log}");
        }
    }
}
