//! Shared harness for the integration tests.
//!
//! Run against zkd:                      `cargo test --test <file>`
//! Run against Apache ZooKeeper:         `ZKD_TEST_AGAINST_ZK=1 cargo test --test <file>`
//! (3.9.5 from Maven, see [`zk_classpath`]; checks of 3.9-only behaviour are still skipped
//! there, see [`zk39_only`], until every one is confirmed against 3.9.5). A failing test keeps its server directory (zoo.cfg, data, server.log) in /tmp
//! and prints the tail of the server log.
//!
//! `TestServer` starts the real `zkd` binary (or, with `ZKD_TEST_AGAINST_ZK=1` or
//! [`ServerOptions::reference`], Apache ZooKeeper with the same settings) on a free loopback port with its own data
//! directory, waits until it answers, and kills it when dropped.
//!
//! `Raw` is a tiny hand-rolled ZooKeeper wire client (jute framing) used where the exact bytes
//! or the exact order of frames matter: malformed input, notification-before-reply ordering,
//! checkWatches, wrong session passwords.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use zookeeper_client as zk;

/// Digest of `super:test` (the password of the super user in every test server).
pub const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";
/// `digest` ids of two ordinary users: base64(sha1("user:password")).
pub const U1_AUTH: &str = "u1:pw1";
pub const U1_ID: &str = "u1:cO3JQ7NLKx81M3VewVIrTBCVEVo=";
pub const U2_AUTH: &str = "u2:pw2";
pub const U2_ID: &str = "u2:4Stp4FP2yVYM3T4fX3ahWx1yyT4=";

/// Debian's Apache ZooKeeper 3.8, the older reference (see [`zk_classpath`]).
const ZK_38_JARS: &str = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";

/// The reference server's classpath: Apache ZooKeeper 3.9.5 from Maven Central, which
/// `compat-tests/prereqs.sh` fetches into compat-tests/.work/maven (part of `bash .ci/test`);
/// `ZKD_TEST_ZK=3.8` picks Debian's 3.8 instead.
pub fn zk_classpath() -> String {
    if std::env::var("ZKD_TEST_ZK").is_ok_and(|v| v == "3.8") {
        return ZK_38_JARS.to_string();
    }
    let lib =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("compat-tests/.work/maven/zookeeper-3.9.5/lib");
    assert!(
        lib.join(".complete").exists(),
        "Apache ZooKeeper 3.9.5 is not fetched: run compat-tests/prereqs.sh (or \
         compat-tests/maven/fetch.sh zookeeper-3.9.5)"
    );
    format!("{}/*", lib.display())
}
const START_TIMEOUT: Duration = Duration::from_secs(40);

/// True when the suite runs against Apache ZooKeeper (the reference) instead of zkd.
pub fn against_zk() -> bool {
    std::env::var("ZKD_TEST_AGAINST_ZK")
        .map(|v| v == "1")
        .unwrap_or(false)
}

/// Guard for checks of behaviour that changed between ZooKeeper 3.8 (the runnable reference
/// here) and 3.9 (what zkd implements); see the version note at the top of
/// docs zk-protocol.md. Returns true when the 3.9 behaviour must be asserted (that is, against
/// zkd); against Apache ZooKeeper 3.8 it prints why the check is skipped and returns false.
pub fn zk39_only(what: &str) -> bool {
    if against_zk() {
        eprintln!("skipped against Apache ZooKeeper 3.8: {what} is 3.9-only behaviour");
        false
    } else {
        true
    }
}

/// Settings written to zoo.cfg.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub tick_time: u32,
    pub min_session_timeout: u32,
    pub max_session_timeout: u32,
    pub max_client_cnxns: u32,
    pub whitelist: String,
    pub extra: Vec<(String, String)>,
    /// Environment of the zkd process (e.g. `ZKD_FAILPOINT`, `ZKD_LOG_SEGMENT_BYTES`).
    pub env: Vec<(String, String)>,
    /// `-D` flags: JVM arguments of Apache ZooKeeper, and `SERVER_JVMFLAGS` of zkd (as
    /// zkServer.sh users hand them to either).
    pub jvm_flags: Vec<String>,
    /// Run Apache ZooKeeper (the reference) instead of zkd, whatever
    /// `ZKD_TEST_AGAINST_ZK` says: for tests that compare the two in one run.
    pub reference: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            tick_time: 100,
            min_session_timeout: 200,
            max_session_timeout: 20_000,
            max_client_cnxns: 0,
            whitelist: "*".to_string(),
            extra: Vec::new(),
            env: Vec::new(),
            jvm_flags: Vec::new(),
            reference: false,
        }
    }
}

pub struct TestServer {
    pub port: u16,
    pub opts: ServerOptions,
    dir: TempDir,
    child: Option<Child>,
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// `n` distinct free loopback ports, with their listeners still bound (drop them right before
/// the ports are handed to a server) so nothing else picked meanwhile can get the same port.
pub fn free_ports(n: usize) -> (Vec<u16>, Vec<TcpListener>) {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    (ports, listeners)
}

/// `zkd serve --config <cfg>` (the binary cargo built for this test run).
pub fn zkd_command(cfg: &Path) -> Command {
    zkd_command_of(Path::new(env!("CARGO_BIN_EXE_zkd")), cfg)
}

/// `<bin> serve --config <cfg>`: another zkd build (the rolling-upgrade test).
pub fn zkd_command_of(bin: &Path, cfg: &Path) -> Command {
    let mut c = Command::new(bin);
    c.arg("serve").arg("--config").arg(cfg);
    c
}

/// Spawn `cmd` with stdin closed and stdout and stderr appended to the file `log`.
pub fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let err = out.try_clone().unwrap();
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    cmd.spawn().expect("spawn server")
}

/// Print the last `n` lines of a log file to stderr (a failing test's post-mortem).
pub fn print_log_tail(what: &str, log: &Path, n: usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(n)..];
    eprintln!(
        "---- last {} lines of the {what} log ({}) ----",
        tail.len(),
        log.display()
    );
    for l in tail {
        eprintln!("{l}");
    }
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_with(opts: ServerOptions) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("zkd-it-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let port = free_port();
        let mut server = TestServer {
            port,
            opts,
            dir,
            child: None,
        };
        server.write_config();
        server.launch();
        server
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether this is Apache ZooKeeper rather than zkd.
    pub fn is_reference(&self) -> bool {
        against_zk() || self.opts.reference
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn cfg_path(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's log so far (stderr and stdout of every run).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn extra(&self, key: &str) -> Option<&str> {
        self.opts
            .extra
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn write_config(&self) {
        let o = &self.opts;
        let mut cfg = format!(
            "tickTime={}\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nmaxClientCnxns={}\n\
             minSessionTimeout={}\nmaxSessionTimeout={}\n4lw.commands.whitelist={}\n\
             extendedTypesEnabled=true\nadmin.enableServer=false\n",
            o.tick_time,
            self.data_dir().display(),
            self.port,
            o.max_client_cnxns,
            o.min_session_timeout,
            o.max_session_timeout,
            o.whitelist,
        );
        if !self.is_reference() {
            cfg.push_str(&format!(
                "DigestAuthenticationProvider.superDigest={SUPER_DIGEST}\n"
            ));
            cfg.push_str("znode.container.checkIntervalMs=200\n");
        }
        for (k, v) in &o.extra {
            cfg.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(self.cfg_path(), cfg).unwrap();
    }

    fn launch(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let cmd = if self.is_reference() {
            let mut c = Command::new("java");
            c.arg("-Xmx256m")
                .arg("-XX:+UseSerialGC")
                .arg("-XX:TieredStopAtLevel=1")
                .arg(format!(
                    "-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}"
                ))
                .arg("-Dzookeeper.extendedTypesEnabled=true")
                .arg("-Dznode.container.checkIntervalMs=200")
                .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=info");
            if let Some(v) = self.extra("jute.maxbuffer") {
                c.arg(format!("-Djute.maxbuffer={v}"));
            }
            c.args(&self.opts.jvm_flags);
            c.arg("-cp")
                .arg(zk_classpath())
                .arg("org.apache.zookeeper.server.ZooKeeperServerMain");
            c.arg(self.cfg_path());
            c
        } else {
            let mut c = zkd_command(&self.cfg_path());
            c.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
            if !self.opts.jvm_flags.is_empty() {
                c.env("SERVER_JVMFLAGS", self.opts.jvm_flags.join(" "));
            }
            c
        };
        self.child = Some(spawn_logged(cmd, &self.log_path()));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let ruok = self.four_letter_allowed("ruok");
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "server exited during startup with {status}; log:\n{}",
                    self.log()
                );
            }
            let ok = if ruok {
                four_letter_at(self.port, "ruok")
                    .map(|s| s == "imok")
                    .unwrap_or(false)
            } else {
                four_letter_at(self.port, "srvr")
                    .map(|s| s.contains("Zookeeper version"))
                    .unwrap_or(false)
            };
            // ZooKeeper answers four-letter words before it serves sessions: also require a
            // full session handshake (then close that session).
            if ok && session_handshake(self.port) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "server not ready after {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn four_letter_allowed(&self, word: &str) -> bool {
        self.opts
            .whitelist
            .split(',')
            .map(str::trim)
            .any(|w| w == "*" || w == word)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => c.try_wait().unwrap().is_none(),
        }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait (bounded) for the exit; returns the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("server not running");
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(st.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "server did not exit within 20 s of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Graceful stop: SIGTERM and a clean exit. zkd must exit 0. The reference JVM answers
    /// SIGTERM by running its shutdown hooks and exiting 143 (128+SIGTERM), which is accepted
    /// only against Apache ZooKeeper.
    pub fn stop(&mut self) {
        let status = self.terminate();
        if self.is_reference() {
            assert!(
                status.success() || status.code() == Some(143),
                "ZooKeeper exited with {status} after SIGTERM"
            );
        } else {
            assert!(
                status.success(),
                "zkd exited with {status} after SIGTERM (want 0); log:\n{}",
                self.log()
            );
        }
    }

    /// Start again on the same port and data directory (stops it first if it still runs).
    pub fn restart(&mut self) {
        if self.is_running() {
            self.stop();
        }
        self.child = None;
        self.launch();
    }

    pub fn four_letter(&self, word: &str) -> String {
        four_letter_at(self.port, word).unwrap_or_else(|e| panic!("four letter word {word}: {e}"))
    }

    /// A client with a 10 s session (long enough to survive a restart of the server).
    pub async fn connect(&self) -> zk::Client {
        self.connect_with(zk::Client::connector().with_session_timeout(Duration::from_secs(10)))
            .await
    }

    pub async fn connect_with(&self, connector: zk::Connector) -> zk::Client {
        match tokio::time::timeout(Duration::from_secs(20), connector.connect(&self.addr())).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!("connect to {}: {e}", self.addr()),
            Err(_) => panic!("connect to {} timed out", self.addr()),
        }
    }

    /// A client authenticated with `digest` `user:password`.
    pub async fn connect_digest(&self, auth: &str) -> zk::Client {
        self.connect_with(
            zk::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .with_auth("digest", auth.as_bytes()),
        )
        .await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            print_log_tail("server", &self.log_path(), 60);
            // keep the directory for a post-mortem
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!(
                "---- server directory kept at {} ----",
                dir.keep().display()
            );
        }
    }
}

/// Open a session with a blocking socket, close it again; true if the server served it.
pub fn session_handshake(port: u16) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(&connect_request(10_000, 0, &[0u8; 16]))?;
        let mut len = [0u8; 4];
        s.read_exact(&mut len)?;
        let mut body = vec![0u8; i32::from_be_bytes(len).clamp(0, 4096) as usize];
        s.read_exact(&mut body)?;
        let mut d = Dec(&body);
        let (_, _, session_id) = (d.int(), d.int(), d.long());
        if session_id == 0 {
            return Ok(false);
        }
        s.write_all(&Enc::new().int(1).int(op::CLOSE_SESSION).frame())?;
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest); // the reply, then the server closes
        Ok(true)
    };
    attempt().unwrap_or(false)
}

/// Send a four-letter word to 127.0.0.1:port and read the answer until the server closes.
pub fn four_letter_at(port: u16, word: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(2),
    )?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(word.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Evaluate `$cond` (it may `.await`) every 25 ms until it is true or `$timeout` passes;
/// yields whether it became true.
#[macro_export]
macro_rules! wait_until {
    ($timeout:expr, $cond:expr) => {{
        let deadline = std::time::Instant::now() + $timeout;
        loop {
            if $cond {
                break true;
            }
            if std::time::Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }};
}

/// Await a future with a bound; panics with `what` on timeout.
pub async fn within<T>(d: Duration, what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(d, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {d:?} waiting for {what}"),
    }
}

/// True if the future does not complete within `d`.
pub async fn stays_pending<T>(d: Duration, f: impl Future<Output = T>) -> bool {
    tokio::time::timeout(d, f).await.is_err()
}

pub fn open_acl() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

pub fn mode(m: zk::CreateMode) -> zk::CreateOptions<'static> {
    m.with_acls(zk::Acls::anyone_all())
}

// ---------------------------------------------------------------------------------------------
// jute encoding / decoding

pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const AUTH: i32 = 100;
    pub const ADD_WATCH: i32 = 106;
    pub const CLOSE_SESSION: i32 = -11;
}

pub mod err {
    pub const OK: i32 = 0;
    pub const UNIMPLEMENTED: i32 = -6;
    pub const BAD_ARGUMENTS: i32 = -8;
    pub const NO_NODE: i32 = -101;
    pub const NO_AUTH: i32 = -102;
    pub const BAD_VERSION: i32 = -103;
    pub const NODE_EXISTS: i32 = -110;
    pub const INVALID_ACL: i32 = -114;
    pub const NO_WATCHER: i32 = -121;
}

#[derive(Default, Clone)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn new() -> Enc {
        Enc(Vec::new())
    }
    pub fn int(mut self, v: i32) -> Enc {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn long(mut self, v: i64) -> Enc {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn boolean(mut self, v: bool) -> Enc {
        self.0.push(v as u8);
        self
    }
    pub fn string(self, s: &str) -> Enc {
        self.buffer(s.as_bytes())
    }
    pub fn buffer(mut self, b: &[u8]) -> Enc {
        self = self.int(b.len() as i32);
        self.0.extend_from_slice(b);
        self
    }
    pub fn raw(mut self, b: &[u8]) -> Enc {
        self.0.extend_from_slice(b);
        self
    }
    /// vector<ACL> with one world:anyone ALL entry
    pub fn open_acl(self) -> Enc {
        self.int(1).int(31).string("world").string("anyone")
    }
    pub fn bytes(self) -> Vec<u8> {
        self.0
    }
    /// the payload prefixed with its length (a complete frame)
    pub fn frame(self) -> Vec<u8> {
        let mut f = (self.0.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&self.0);
        f
    }
}

pub struct Dec<'a>(pub &'a [u8]);

impl<'a> Dec<'a> {
    pub fn int(&mut self) -> i32 {
        let (h, t) = self.0.split_at(4);
        self.0 = t;
        i32::from_be_bytes(h.try_into().unwrap())
    }
    pub fn long(&mut self) -> i64 {
        let (h, t) = self.0.split_at(8);
        self.0 = t;
        i64::from_be_bytes(h.try_into().unwrap())
    }
    pub fn boolean(&mut self) -> bool {
        let b = self.0[0];
        self.0 = &self.0[1..];
        b != 0
    }
    pub fn buffer(&mut self) -> Option<Vec<u8>> {
        let n = self.int();
        if n < 0 {
            return None;
        }
        let (h, t) = self.0.split_at(n as usize);
        self.0 = t;
        Some(h.to_vec())
    }
    pub fn string(&mut self) -> Option<String> {
        self.buffer().map(|b| String::from_utf8(b).unwrap())
    }
    pub fn remaining(&self) -> usize {
        self.0.len()
    }
    /// Stat: (czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner,
    /// dataLength, numChildren, pzxid) — returns (mzxid, version) which is what raw tests need.
    pub fn stat_mzxid_version(&mut self) -> (i64, i32) {
        let _czxid = self.long();
        let mzxid = self.long();
        let _ctime = self.long();
        let _mtime = self.long();
        let version = self.int();
        let _ = self.int();
        let _ = self.int();
        let _ = self.long();
        let _ = self.int();
        let _ = self.int();
        let _ = self.long();
        (mzxid, version)
    }
}

#[derive(Debug, Clone)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
}

/// One frame received after the handshake.
#[derive(Debug, Clone)]
pub struct Frame {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

impl Frame {
    /// For a notification (xid -1): (type, state, path)
    pub fn event(&self) -> (i32, i32, String) {
        let mut d = Dec(&self.body);
        let t = d.int();
        let s = d.int();
        let p = d.string().unwrap_or_default();
        (t, s, p)
    }
}

pub fn connect_request(timeout_ms: i32, session_id: i64, passwd: &[u8]) -> Vec<u8> {
    Enc::new()
        .int(0)
        .long(0)
        .int(timeout_ms)
        .long(session_id)
        .buffer(passwd)
        .boolean(false)
        .frame()
}

/// Connect with `connector` (its session timeout 10 s; failing at once when the server
/// refuses, not retrying), over TLS when `secure`: the error when no session is made
/// within 15 s. For tests where refusal is the expected outcome.
pub async fn try_connect(
    connector: zk::Connector,
    address: &str,
    secure: bool,
) -> Result<zk::Client, zk::Error> {
    let connector = connector
        .with_session_timeout(Duration::from_secs(10))
        .with_fail_eagerly();
    let connect = async {
        if secure {
            connector.secure_connect(address).await
        } else {
            connector.connect(address).await
        }
    };
    match tokio::time::timeout(Duration::from_secs(15), connect).await {
        Ok(result) => result,
        Err(_) => Err(zk::Error::Timeout),
    }
}

/// `whoami` as sorted (scheme, user) pairs.
pub async fn whoami(client: &zk::Client) -> Vec<(String, String)> {
    let mut ids: Vec<(String, String)> = client
        .list_auth_users()
        .await
        .expect("whoami")
        .iter()
        .map(|u| (u.scheme().to_string(), u.user().to_string()))
        .collect();
    ids.sort();
    ids
}

/// A raw ZooKeeper connection over loopback TCP.
pub struct Raw {
    pub stream: tokio::net::TcpStream,
    next_xid: i32,
}

impl Raw {
    pub async fn open(port: u16) -> Raw {
        Raw::try_open(port).await.expect("tcp connect")
    }

    /// Connect; an error if the server refused or reset the connection (or after 5 s).
    pub async fn try_open(port: u16) -> std::io::Result<Raw> {
        let stream = match tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "tcp connect",
                ))
            }
        };
        stream.set_nodelay(true)?;
        Ok(Raw {
            stream,
            next_xid: 1,
        })
    }

    /// Open a connection and complete the handshake (new session when `session_id` is 0).
    pub async fn connect(port: u16, timeout_ms: i32) -> (Raw, ConnectResponse) {
        let mut r = Raw::open(port).await;
        let resp = r
            .handshake(timeout_ms, 0, &[0u8; 16])
            .await
            .expect("connect response");
        assert_ne!(resp.session_id, 0, "server refused a new session");
        (r, resp)
    }

    /// Send a ConnectRequest and read the ConnectResponse (None if the server closed first).
    pub async fn handshake(
        &mut self,
        timeout_ms: i32,
        session_id: i64,
        passwd: &[u8],
    ) -> Option<ConnectResponse> {
        self.write(&connect_request(timeout_ms, session_id, passwd))
            .await
            .ok()?;
        let f = self.read_payload(Duration::from_secs(10)).await.ok()??;
        let mut d = Dec(&f);
        let protocol_version = d.int();
        let timeout = d.int();
        let session_id = d.long();
        let passwd = d.buffer().unwrap_or_default();
        Some(ConnectResponse {
            protocol_version,
            timeout,
            session_id,
            passwd,
        })
    }

    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Read one length-prefixed payload. Ok(None) = orderly EOF (or reset) before a frame.
    pub async fn read_payload(&mut self, timeout: Duration) -> std::io::Result<Option<Vec<u8>>> {
        use tokio::io::AsyncReadExt;
        let fut = async {
            let mut len = [0u8; 4];
            match self.stream.read_exact(&mut len).await {
                Ok(_) => {}
                Err(e) if is_closed(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
            let n = i32::from_be_bytes(len);
            assert!(
                (0..=64 << 20).contains(&n),
                "server sent a frame length of {n}"
            );
            let mut body = vec![0u8; n as usize];
            match self.stream.read_exact(&mut body).await {
                Ok(_) => Ok(Some(body)),
                Err(e) if is_closed(&e) => Ok(None),
                Err(e) => Err(e),
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no frame",
            )),
        }
    }

    /// Read one reply/notification frame; panics on EOF or timeout.
    pub async fn read_frame(&mut self) -> Frame {
        let p = self
            .read_payload(Duration::from_secs(10))
            .await
            .expect("read frame")
            .expect("server closed the connection");
        parse_frame(&p)
    }

    /// Like read_frame, but None if the server closed the connection.
    pub async fn try_read_frame(&mut self, timeout: Duration) -> std::io::Result<Option<Frame>> {
        Ok(self.read_payload(timeout).await?.map(|p| parse_frame(&p)))
    }

    pub fn xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid += 1;
        x
    }

    /// Send a request (header + body) and return its xid.
    pub async fn send(&mut self, opcode: i32, body: &[u8]) -> i32 {
        let xid = self.xid();
        let f = Enc::new().int(xid).int(opcode).raw(body).frame();
        self.write(&f).await.expect("write request");
        xid
    }

    /// Send a request and read frames until its reply; returns (notifications seen first, reply).
    pub async fn call(&mut self, opcode: i32, body: &[u8]) -> (Vec<Frame>, Frame) {
        let xid = self.send(opcode, body).await;
        let mut events = Vec::new();
        loop {
            let f = self.read_frame().await;
            if f.xid == xid {
                return (events, f);
            }
            assert!(
                f.xid == -1 || f.xid == -2,
                "unexpected frame xid {} while waiting for {xid}",
                f.xid
            );
            if f.xid == -1 {
                events.push(f);
            }
        }
    }

    /// Wait (bounded) for the server to close the connection, discarding anything it sends.
    /// Returns true if it closed within `timeout`.
    pub async fn closed_within(&mut self, timeout: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) => return true,
                Ok(Ok(_)) => continue,
                Ok(Err(e)) if is_closed(&e) => return true,
                Ok(Err(e)) => panic!("read error: {e}"),
            }
        }
    }
}

fn is_closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

pub fn parse_frame(p: &[u8]) -> Frame {
    let mut d = Dec(p);
    let xid = d.int();
    let zxid = d.long();
    let err = d.int();
    Frame {
        xid,
        zxid,
        err,
        body: d.0.to_vec(),
    }
}

/// compat-tests/zkcli.sh: zkCli of Apache ZooKeeper 3.9.5 (the clients-3.9 Maven bundle,
/// which `compat-tests/prereqs.sh` fetches as part of `bash .ci/test`).
pub fn zkcli_path() -> String {
    let lib =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("compat-tests/.work/maven/clients-3.9/lib");
    assert!(
        lib.join(".complete").exists(),
        "Apache ZooKeeper 3.9.5's client is not fetched: run compat-tests/prereqs.sh (or \
         compat-tests/maven/fetch.sh clients-3.9)"
    );
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("compat-tests/zkcli.sh")
        .display()
        .to_string()
}

/// Kill -9 cycles of the crash tests: `ZKD_CRASH_CYCLES` (20 unless set; 100 for a long run).
pub fn crash_cycles() -> usize {
    std::env::var("ZKD_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// A small deterministic generator (xorshift), seeded from the clock and printed.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        let seed = std::env::var("ZKD_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("random seed {seed} (ZKD_CRASH_SEED to repeat)");
        Rng(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One HTTP/1.1 exchange's answer ([`http`]).
pub struct HttpReply {
    pub status: u16,
    /// Header names lower-cased, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request over a fresh connection (`Connection: close`; a body is sent with its
/// Content-Length), for the AdminServer of either server.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("http response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    HttpReply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
    out
}

/// `mntr`'s value of `key` (e.g. `zk_outstanding_requests`) on a client port.
pub fn mntr_value(port: u16, key: &str) -> i64 {
    let text = four_letter_at(port, "mntr").expect("mntr");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}\t")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in mntr: {text}"))
}

/// What a side-by-side test calls the server it runs: the reference or zkd.
pub fn server_name(reference: bool) -> &'static str {
    if reference {
        "Apache ZooKeeper"
    } else {
        "zkd"
    }
}
