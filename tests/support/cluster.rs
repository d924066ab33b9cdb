//! A harness that runs N real `zkd` processes as a replicated ensemble on 127.0.0.1.
//!
//! Why: replication bugs only show between real processes, with real sockets, real fsyncs and
//! real SIGKILLs. Each member gets its own directory (zoo.cfg, dataDir with `myid`, server.log)
//! and its own free client, peer and election ports; members are numbered by index `i`
//! (0-based, voters first, then observers) and have server id `i + 1`.
//!
//! Partitions: member i's zoo.cfg lists its own peer port for its own `server.N` line, but for
//! every other member j the port of a [`Proxy`] dedicated to the directed link i -> j (which
//! forwards to j's real peer port). zkd dials the peer port for all its Raft traffic, so
//! blocking proxies cuts links: [`Cluster::isolate`] blocks every link from and to a member.
//! (The election port is listed but not proxied: zkd does not use it.) This relies on zkd
//! resolving peers from its own zoo.cfg rather than from addresses replicated through the log.
//!
//! Include it next to its dependencies, at the crate root of the test binary:
//! `mod common; #[path = "support/proxy.rs"] mod proxy; #[path = "support/cluster.rs"] mod cluster;`
//!
//! Logs are kept per member; when a test panics, the tail of every member's log is printed and
//! the cluster directory is kept. Every member is SIGKILLed when the cluster is dropped.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use zookeeper_client as zk;

use crate::common::{
    against_zk, four_letter_at, free_ports, print_log_tail, spawn_logged, zk_classpath,
    zkd_command, zkd_command_of, SUPER_DIGEST,
};
use crate::proxy::Proxy;

/// One cluster at a time within a test binary: every cluster's members give up their
/// clients after `syncLimit` x `tickTime` without a quorum, and several clusters doing
/// fsync-heavy work at once on a loaded 2-core machine would test the machine rather than
/// the server. Every test has a runtime of its own; tokio's lock works across them (and a
/// test that panics does not poison it).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// Run blocking cluster work (start, kill, restart, dumps) from a test's async body without
/// stalling the clients' tasks (every test runs on a multi-thread runtime).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Poll `cond` (blocking; every 50 ms) until it holds; false after `timeout`.
pub fn poll(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long [`Cluster::start`] and [`Cluster::restart`] wait for members to serve.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The replicated tree as read from one member: path -> (data, stat version). The root and the
/// `/zookeeper` subtree (system nodes) are left out.
pub type Tree = BTreeMap<String, (Vec<u8>, i32)>;

#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Extra `key=value` lines for every member's zoo.cfg.
    pub extra: Vec<(String, String)>,
    /// Environment of every zkd member (e.g. `ZKD_LOG_SEGMENT_BYTES`).
    pub env: Vec<(String, String)>,
    /// Run this zkd build instead of this test run's (an older release).
    pub bin: Option<PathBuf>,
    /// Serve every member's AdminServer on 127.0.0.1 ([`Cluster::admin_port`]).
    pub admin: bool,
}

struct Member {
    id: u64,
    observer: bool,
    client_port: u16,
    peer_port: u16,
    election_port: u16,
    admin_port: u16,
    dir: PathBuf,
    /// Started with `serve --join` (added by [`Cluster::launch_joining`]).
    join: bool,
    /// Another zkd build to run instead of this test run's (see [`Cluster::set_binary`]).
    bin: Option<PathBuf>,
    /// Environment of this member only, on top of [`ClusterOptions::env`]
    /// (see [`Cluster::set_env`]).
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Member {
    fn cfg_path(&self) -> PathBuf {
        self.dir.join("zoo.cfg")
    }
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }
}

pub struct Cluster {
    root: TempDir,
    members: Vec<Member>,
    /// `links[i][j]`: the proxy member i dials to reach member j's peer port (`None` if i == j).
    links: Vec<Vec<Option<Proxy>>>,
    /// The same for election ports, against Apache ZooKeeper only (zkd has no election port
    /// traffic; ZooKeeper's leader election runs there).
    election_links: Vec<Vec<Option<Proxy>>>,
    isolated: BTreeSet<usize>,
    opts: ClusterOptions,
}

impl Cluster {
    /// Start `voters` voting members and `observers` observers and wait until every one of
    /// them reports `Mode: leader|follower|observer` in `srvr`, with exactly one leader.
    pub fn start(voters: usize, observers: usize) -> Cluster {
        Self::start_with(voters, observers, ClusterOptions::default())
    }

    pub fn start_with(voters: usize, observers: usize, opts: ClusterOptions) -> Cluster {
        let n = voters + observers;
        assert!(voters > 0, "an ensemble needs at least one voter");
        let root = tempfile::Builder::new()
            .prefix("zkd-ensemble-")
            .tempdir()
            .expect("tempdir");
        // keep the ports bound until the proxies hold theirs, so none collide
        let (ports, held) = free_ports(4 * n);
        let members: Vec<Member> = (0..n)
            .map(|i| {
                let dir = root.path().join(format!("m{}", i + 1));
                std::fs::create_dir_all(dir.join("data")).unwrap();
                std::fs::write(dir.join("data").join("myid"), format!("{}\n", i + 1)).unwrap();
                Member {
                    id: i as u64 + 1,
                    observer: i >= voters,
                    client_port: ports[4 * i],
                    peer_port: ports[4 * i + 1],
                    election_port: ports[4 * i + 2],
                    admin_port: ports[4 * i + 3],
                    dir,
                    join: false,
                    bin: opts.bin.clone(),
                    env: Vec::new(),
                    child: None,
                }
            })
            .collect();
        let links = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let target: SocketAddr = ([127, 0, 0, 1], members[j].peer_port).into();
                        (i != j).then(|| Proxy::start(target))
                    })
                    .collect()
            })
            .collect();
        let election_links = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let target: SocketAddr = ([127, 0, 0, 1], members[j].election_port).into();
                        (i != j && against_zk()).then(|| Proxy::start(target))
                    })
                    .collect()
            })
            .collect();
        drop(held);
        let mut cluster = Cluster {
            root,
            members,
            links,
            election_links,
            isolated: BTreeSet::new(),
            opts,
        };
        for i in 0..n {
            cluster.write_config(i);
        }
        for i in 0..n {
            cluster.launch(i);
        }
        cluster.wait_ready(&(0..n).collect::<Vec<_>>(), READY_TIMEOUT);
        cluster
    }

    fn write_config(&self, i: usize) {
        let me = &self.members[i];
        let mut cfg = format!(
            "tickTime=100\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\nminSessionTimeout=200\nmaxSessionTimeout=20000\n\
             4lw.commands.whitelist=*\nDigestAuthenticationProvider.superDigest={SUPER_DIGEST}\n\
             admin.enableServer=false\n",
            me.data_dir().display(),
            me.client_port,
        );
        if me.observer {
            cfg.push_str("peerType=observer\n");
        }
        for (j, m) in self.members.iter().enumerate() {
            let peer = match &self.links[i][j] {
                None => m.peer_port,
                Some(p) => p.addr().port(),
            };
            let election = match self.election_links.get(i).and_then(|row| row.get(j)) {
                Some(Some(p)) => p.addr().port(),
                _ => m.election_port,
            };
            let role = if m.observer { ":observer" } else { "" };
            cfg.push_str(&format!(
                "server.{}=127.0.0.1:{peer}:{election}{role};127.0.0.1:{}\n",
                m.id, m.client_port
            ));
        }
        if self.opts.admin {
            cfg.push_str(&format!(
                "admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={}\n",
                me.admin_port
            ));
        }
        for (k, v) in &self.opts.extra {
            cfg.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(me.cfg_path(), cfg).unwrap();
    }

    fn launch(&mut self, i: usize) {
        let m = &mut self.members[i];
        assert!(m.child.is_none(), "member {i} already running");
        let mut cmd = if against_zk() {
            let mut c = Command::new("java");
            c.arg("-Xmx256m")
                .arg("-XX:+UseSerialGC")
                .arg("-XX:TieredStopAtLevel=1")
                .arg("-cp")
                .arg(zk_classpath())
                .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                .arg(m.cfg_path());
            c
        } else {
            let mut c = match &m.bin {
                Some(bin) => zkd_command_of(bin, &m.cfg_path()),
                None => zkd_command(&m.cfg_path()),
            };
            c.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
            c.envs(m.env.iter().map(|(k, v)| (k, v)));
            c
        };
        if m.join {
            cmd.arg("--join");
        }
        m.child = Some(spawn_logged(cmd, &m.log_path()));
    }

    /// Add a member that is not in anyone's zoo.cfg yet and start it with `serve --join`:
    /// it waits until a `reconfig` adds it (give the reconfig [`Cluster::server_line`]).
    /// Returns its index (its server id is index + 1). Its own zoo.cfg lists every member,
    /// itself included; it dials the others through proxies of its own, but the others dial
    /// it at the address the reconfig gave them, directly: links *to* it are not proxied, so
    /// [`Cluster::isolate`] does not fully cut it off. Not waited for: it serves only once
    /// it has been added.
    pub fn launch_joining(&mut self, observer: bool) -> usize {
        let n = self.len();
        let (ports, held) = free_ports(4);
        let dir = self.root.path().join(format!("m{}", n + 1));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("data").join("myid"), format!("{}\n", n + 1)).unwrap();
        let row = (0..=n)
            .map(|j| {
                (j != n).then(|| Proxy::start(([127, 0, 0, 1], self.members[j].peer_port).into()))
            })
            .collect();
        for row in &mut self.links {
            row.push(None);
        }
        self.links.push(row);
        drop(held);
        self.members.push(Member {
            id: n as u64 + 1,
            observer,
            client_port: ports[0],
            peer_port: ports[1],
            election_port: ports[2],
            admin_port: ports[3],
            dir,
            join: true,
            bin: None,
            env: Vec::new(),
            child: None,
        });
        self.write_config(n);
        self.launch(n);
        n
    }

    /// Member i's `server.N=host:peerPort:electionPort:role;host:clientPort` line with its
    /// real (unproxied) peer port, as a `reconfig` adds it.
    pub fn server_line(&self, i: usize) -> String {
        let m = &self.members[i];
        let role = if m.observer {
            "observer"
        } else {
            "participant"
        };
        format!(
            "server.{}=127.0.0.1:{}:{}:{role};127.0.0.1:{}",
            m.id, m.peer_port, m.election_port, m.client_port
        )
    }

    /// Wait until each of `members` serves as leader, follower or observer and the cluster
    /// has exactly one leader outside the isolated members; panics (with logs) on timeout.
    pub fn wait_ready(&mut self, members: &[usize], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            for &i in members {
                let m = &mut self.members[i];
                if let Some(status) = m.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                    m.child = None;
                    panic!("member {i} (server.{}) exited with {status}", m.id);
                }
            }
            let serving = members.iter().all(|&i| {
                matches!(
                    self.mode(i).as_deref(),
                    Some("leader" | "follower" | "observer")
                )
            });
            if serving && self.leader().is_some() {
                return;
            }
            if Instant::now() > deadline {
                let modes: Vec<_> = members.iter().map(|&i| (i, self.mode(i))).collect();
                panic!("ensemble not ready after {timeout:?}: modes {modes:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn is_observer(&self, i: usize) -> bool {
        self.members[i].observer
    }

    /// Server id (`myid`) of member i: i + 1.
    pub fn server_id(&self, i: usize) -> u64 {
        self.members[i].id
    }

    pub fn client_port(&self, i: usize) -> u16 {
        self.members[i].client_port
    }

    /// `127.0.0.1:<client port>` of member i.
    /// Member `i`'s own peer (Raft) port, not a proxy in front of it.
    /// Member i's AdminServer port (serving only with [`ClusterOptions::admin`]).
    pub fn admin_port(&self, i: usize) -> u16 {
        self.members[i].admin_port
    }

    pub fn peer_port(&self, i: usize) -> u16 {
        self.members[i].peer_port
    }

    pub fn client_addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].client_port)
    }

    /// Every member's client address, comma-separated.
    pub fn connect_string(&self) -> String {
        (0..self.len())
            .map(|i| self.client_addr(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn dir(&self, i: usize) -> &Path {
        &self.members[i].dir
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.members[i].data_dir()
    }

    /// Member i's log so far (every run).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.members[i].log_path()).unwrap_or_default()
    }

    pub fn is_running(&mut self, i: usize) -> bool {
        match self.members[i].child.as_mut() {
            None => false,
            Some(c) => c.try_wait().unwrap().is_none(),
        }
    }

    /// The `Mode:` line of member i's `srvr` (`leader`, `follower`, `observer`, ...), or
    /// `None` if it does not answer or is not serving.
    pub fn mode(&self, i: usize) -> Option<String> {
        let out = four_letter_at(self.members[i].client_port, "srvr").ok()?;
        out.lines()
            .find_map(|l| l.strip_prefix("Mode:"))
            .map(|m| m.trim().to_string())
    }

    /// The member (index) holding a connection of session `sid`, from `cons`.
    pub fn member_of_session(&self, sid: i64) -> Option<usize> {
        let needle = format!("sid=0x{sid:x}");
        (0..self.len()).find(|&i| {
            four_letter_at(self.client_port(i), "cons").is_ok_and(|s| s.contains(&needle))
        })
    }

    /// The one member that says it leads, not counting isolated ones (an isolated old leader
    /// may not know yet that it was deposed); `None` if there is none or more than one.
    pub fn leader(&self) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.len())
            .filter(|i| !self.isolated.contains(i))
            .collect();
        self.leader_among(&candidates)
    }

    /// The one member of `members` that says it leads.
    pub fn leader_among(&self, members: &[usize]) -> Option<usize> {
        let leaders: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| self.mode(i).as_deref() == Some("leader"))
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    /// Poll [`Cluster::leader`] until there is one; panics after `timeout`.
    pub fn wait_for_leader(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.leader() {
                return l;
            }
            if Instant::now() > deadline {
                let modes: Vec<_> = (0..self.len()).map(|i| (i, self.mode(i))).collect();
                panic!("no single leader after {timeout:?}: modes {modes:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL member i (no flush, no goodbye).
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM member i and wait (up to 20 s) for it to exit; SIGKILL if it does not.
    pub fn stop(&mut self, i: usize) {
        let Some(mut c) = self.members[i].child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("member {i} did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start member i again with the same directory and ports (SIGKILLing it first if it
    /// runs) and wait until it serves again.
    pub fn restart(&mut self, i: usize) {
        self.restart_nowait(i);
        self.wait_ready(&[i], READY_TIMEOUT);
    }

    /// Give member i this environment from its next start on (e.g. a failpoint armed
    /// on one member only).
    pub fn set_env(&mut self, i: usize, env: &[(&str, &str)]) {
        self.members[i].env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// Run member i from `bin` from its next start on (`None`: this test run's build).
    pub fn set_binary(&mut self, i: usize, bin: Option<PathBuf>) {
        self.members[i].bin = bin;
    }

    /// Like [`Cluster::restart`] without waiting (for a member that cannot reach a quorum).
    pub fn restart_nowait(&mut self, i: usize) {
        self.kill9(i);
        self.launch(i);
    }

    /// Cut every link from and to member i (its client port stays reachable).
    pub fn isolate(&mut self, i: usize) {
        for j in 0..self.len() {
            self.set_link(i, j, true);
            self.set_link(j, i, true);
        }
        self.isolated.insert(i);
    }

    /// Cut (or heal) the directed link: member `from` dialling member `to`.
    pub fn set_link(&self, from: usize, to: usize, blocked: bool) {
        let election = self.election_links.get(from).and_then(|row| row.get(to));
        for p in [&self.links[from][to], election.unwrap_or(&None)]
            .into_iter()
            .flatten()
        {
            if blocked {
                p.block()
            } else {
                p.unblock()
            }
        }
    }

    /// Heal every link.
    pub fn heal(&mut self) {
        for row in self.links.iter().chain(&self.election_links) {
            for p in row.iter().flatten() {
                p.unblock();
            }
        }
        self.isolated.clear();
    }

    /// A session to member i only.
    pub async fn connect(&self, i: usize) -> zk::Client {
        connect(&self.client_addr(i)).await
    }

    /// A session to any member (the client picks and fails over).
    pub async fn connect_any(&self) -> zk::Client {
        connect(&self.connect_string()).await
    }

    /// Member i's whole tree (see [`Tree`]), read after a `sync`.
    pub async fn dump_async(&self, i: usize) -> Result<Tree, String> {
        let addr = self.client_addr(i);
        let read = async {
            let c = zk::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .connect(&addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            c.sync("/").await.map_err(|e| format!("sync: {e}"))?;
            let mut tree = Tree::new();
            let mut todo = vec!["/".to_string()];
            while let Some(p) = todo.pop() {
                let children = match c.list_children(&p).await {
                    Ok(ch) => ch,
                    Err(zk::Error::NoNode) => continue, // deleted meanwhile
                    Err(e) => return Err(format!("getChildren {p}: {e}")),
                };
                for child in children {
                    let path = if p == "/" {
                        format!("/{child}")
                    } else {
                        format!("{p}/{child}")
                    };
                    if path == "/zookeeper" {
                        continue;
                    }
                    match c.get_data(&path).await {
                        Ok((data, stat)) => {
                            tree.insert(path.clone(), (data, stat.version));
                            todo.push(path);
                        }
                        Err(zk::Error::NoNode) => {}
                        Err(e) => return Err(format!("getData {path}: {e}")),
                    }
                }
            }
            Ok(tree)
        };
        match tokio::time::timeout(Duration::from_secs(30), read).await {
            Ok(r) => r.map_err(|e| format!("dump of member {i} ({addr}): {e}")),
            Err(_) => Err(format!("dump of member {i} ({addr}) timed out")),
        }
    }

    /// [`Cluster::dump_async`] from synchronous code (or from inside a runtime): it runs on a
    /// thread of its own with its own runtime.
    pub fn dump(&self, i: usize) -> Result<Tree, String> {
        std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(self.dump_async(i))
            })
            .join()
            .expect("dump thread panicked")
        })
    }

    /// Member `i`'s `lgif` four-letter word (its log and snapshot indexes), by name.
    pub fn lgif(&self, i: usize) -> BTreeMap<String, i64> {
        four_letter_at(self.client_port(i), "lgif")
            .map(|s| {
                s.lines()
                    .filter_map(|l| {
                        let (k, v) = l.split_once('\t')?;
                        Some((k.trim().to_string(), v.trim().parse().ok()?))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait until every member in `members` returns the same tree; returns it. Panics with
    /// the differences after `timeout`.
    pub fn wait_converged(&self, members: &[usize], timeout: Duration) -> Tree {
        let deadline = Instant::now() + timeout;
        loop {
            let dumps: Vec<Result<Tree, String>> = members.iter().map(|&i| self.dump(i)).collect();
            if let Ok(first) = &dumps[0] {
                if dumps.iter().all(|d| d.as_ref() == Ok(first)) {
                    return first.clone();
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "members {members:?} did not converge within {timeout:?}:\n{}",
                    describe_divergence(members, &dumps)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

async fn connect(addr: &str) -> zk::Client {
    let connector = zk::Client::connector().with_session_timeout(Duration::from_secs(10));
    match tokio::time::timeout(Duration::from_secs(20), connector.connect(addr)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => panic!("connect to {addr}: {e}"),
        Err(_) => panic!("connect to {addr} timed out"),
    }
}

/// Per member: the error, or the paths where it differs from the first member's tree.
fn describe_divergence(members: &[usize], dumps: &[Result<Tree, String>]) -> String {
    let first = dumps[0].as_ref().ok();
    let mut out = String::new();
    for (&i, d) in members.iter().zip(dumps) {
        match (d, first) {
            (Err(e), _) => out.push_str(&format!("  member {i}: {e}\n")),
            (Ok(t), Some(f)) => {
                let keys: BTreeSet<&String> = t.keys().chain(f.keys()).collect();
                let diff: Vec<String> = keys
                    .into_iter()
                    .filter(|k| t.get(*k) != f.get(*k))
                    .take(10)
                    .map(|k| format!("{k}: {:?} vs {:?}", t.get(k), f.get(k)))
                    .collect();
                out.push_str(&format!(
                    "  member {i}: {} nodes; differs from member {} at {diff:?}\n",
                    t.len(),
                    members[0]
                ));
            }
            (Ok(t), None) => out.push_str(&format!("  member {i}: {} nodes\n", t.len())),
        }
    }
    out
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill9(i);
        }
        if std::thread::panicking() {
            for m in &self.members {
                print_log_tail(&format!("server.{}", m.id), &m.log_path(), 40);
            }
            let dir = std::mem::replace(&mut self.root, tempfile::tempdir().unwrap());
            eprintln!(
                "---- ensemble directory kept at {} ----",
                dir.keep().display()
            );
        }
    }
}
