//! zkd-bench: a load generator for ZooKeeper-compatible servers.
//!
//! It speaks the client protocol over plain TCP or TLS (`--tls-ca`; framing + the
//! `jute` crate)
//! and knows nothing of the server it talks to, so the same binary measures
//! Apache ZooKeeper and zkd. Modes follow ClickHouse's keeper-bench and
//! ZooKeeper's zk-latencies: `create`, `set`, `get`, `exists`, `list`,
//! `multi` and a weighted `mix`; plus three helpers, `probe` (time until a
//! read succeeds, for restart measurements), `write-probe` (time until a write
//! succeeds, optionally after killing a server: failover measurements) and
//! `clean` (delete the tree).
//!
//! `--server` takes one address or a comma-separated list (the members of an
//! ensemble): the measured sessions are assigned to the members round-robin;
//! setup and cleanup go through the first member.
//!
//! A run has three phases. Setup creates the key space (`<root>/k/0..keys`,
//! `<root>/l/0..children`, one directory per session under `<root>/w`), the
//! timed phase (warm-up, then measurement) drives every session, and cleanup
//! deletes what setup and the timed phase created (unless `--no-cleanup`).

mod conn;
mod report;
mod storm;
mod workload;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use jute::{err, op, GetChildrenRequest, GetChildrenResponse, GetDataRequest, Record, SyncRequest};

use conn::{Error, Result};
use workload::{create_body, delete_body, set_body, Control, Kind, Plan, Stats};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Create,
    Set,
    Get,
    Exists,
    List,
    Multi,
    Mix,
    /// Retry connect + getData(--path) until it succeeds; print the time taken.
    Probe,
    /// Time until a setData(--path) is acknowledged; with --kill-pid, time from
    /// SIGKILL of that process (e.g. an ensemble's leader) to the first write
    /// acknowledged by one of the --server members.
    WriteProbe,
    /// Delete --root and everything below it.
    Clean,
    /// A connect storm (--sessions, each with a persistent watch), then a write flood
    /// (--flood-sessions x --depth setData for --duration) with a well-behaved client
    /// and event accounting: see storm.rs.
    Storm,
}

/// Load generator for ZooKeeper-compatible servers.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Workload.
    #[arg(value_enum)]
    mode: Mode,
    /// Server address, or a comma-separated list of ensemble members (sessions are
    /// assigned round-robin; setup and cleanup use the first).
    #[arg(long, default_value = "127.0.0.1:2181")]
    server: String,
    /// The addresses in --server.
    #[arg(skip)]
    servers: Vec<String>,
    /// Concurrent sessions (one TCP connection each).
    #[arg(long, default_value_t = 16)]
    sessions: usize,
    /// Requests in flight per session (pipelining).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Bytes of data in created / set nodes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Key-space size for set/get/exists/multi.
    #[arg(long, default_value_t = 1000)]
    keys: u64,
    /// Children of the node `list` reads.
    #[arg(long, default_value_t = 10)]
    children: u64,
    /// setData ops per `multi` request.
    #[arg(long, default_value_t = 4)]
    multi_ops: usize,
    /// Weights for `mix`, e.g. get=45,list=45,set=8,create=1,delete=1.
    #[arg(long, default_value = "get=45,list=45,set=8,create=1,delete=1")]
    mix: String,
    /// Length of the measured phase (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Stop after this many measured requests instead of after --duration.
    #[arg(long)]
    ops: Option<u64>,
    /// Unmeasured run before the measured phase (write-probe: writing before the kill).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Fixed total request rate (ops/s over all sessions); 0 = as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Parent of everything the benchmark creates.
    #[arg(long, default_value = "/zkd-bench")]
    root: String,
    /// Keep the nodes (the key space and created nodes) after the run.
    #[arg(long)]
    no_cleanup: bool,
    /// Connect over TLS, trusting the CA certificates in this PEM file (the server's
    /// secureClientPort, with ssl.clientAuth=none).
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also print replies and the slowest reply per second (always in --json).
    #[arg(long)]
    timeline: bool,
    /// probe: node to read; write-probe: node to write (it must exist, unless --kill-pid
    /// is given: then it is created before the kill).
    #[arg(long, default_value = "/")]
    path: String,
    /// probe, write-probe: give up after this long.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    timeout: Duration,
    /// write-probe: write through every --server for --warmup, then SIGKILL this
    /// process and time the first write acknowledged after the kill.
    #[arg(long, value_name = "PID")]
    kill_pid: Option<i32>,
    /// storm: sessions flooding setData during the flood phase.
    #[arg(long, default_value_t = 32)]
    flood_sessions: usize,
    /// storm: handshakes in progress at most during the connect storm.
    #[arg(long, default_value_t = 1000)]
    connect_concurrency: usize,
}

fn parse_servers(s: &str) -> Result<Vec<String>> {
    let v: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    if v.is_empty() {
        return Err(Error("--server: no address".into()));
    }
    Ok(v)
}

fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?} (use e.g. 10s, 500ms, 2m)"))?;
    if !(v >= 0.0 && v.is_finite()) {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

fn parse_mix(s: &str) -> Result<Vec<(Kind, u32)>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, w) = part
            .split_once('=')
            .ok_or_else(|| Error(format!("--mix: expected kind=weight, got {part:?}")))?;
        let kind = Kind::parse(name.trim())
            .ok_or_else(|| Error(format!("--mix: unknown kind {name:?}")))?;
        let w: u32 = w
            .trim()
            .parse()
            .map_err(|_| Error(format!("--mix: bad weight in {part:?}")))?;
        if w > 0 {
            out.push((kind, w));
        }
    }
    if out.is_empty() {
        return Err(Error("--mix: no kind with a positive weight".into()));
    }
    Ok(out)
}

fn weights(cli: &Cli) -> Result<Vec<(Kind, u32)>> {
    let one = |k| Ok(vec![(k, 1)]);
    match cli.mode {
        Mode::Create => one(Kind::Create),
        Mode::Set => one(Kind::Set),
        Mode::Get => one(Kind::Get),
        Mode::Exists => one(Kind::Exists),
        Mode::List => one(Kind::List),
        Mode::Multi => one(Kind::Multi),
        Mode::Mix => parse_mix(&cli.mix),
        Mode::Probe | Mode::WriteProbe | Mode::Clean | Mode::Storm => {
            Err(Error("not a workload".into()))
        }
    }
}

/// Connects `n` sessions, a few at a time, to `servers` round-robin.
async fn connect_all(servers: &[String], n: usize) -> Result<Vec<conn::Session>> {
    let mut out = Vec::with_capacity(n);
    let mut pending = Vec::new();
    for i in 0..n {
        let server = servers[i % servers.len()].clone();
        pending.push(tokio::spawn(async move { conn::connect(&server).await }));
        if pending.len() == 16 || i + 1 == n {
            for h in pending.drain(..) {
                out.push(h.await.map_err(|e| Error(e.to_string()))??);
            }
        }
    }
    Ok(out)
}

/// Runs `reqs` spread over `conns` helper sessions; returns the error codes in order.
async fn run_spread(server: &str, reqs: Vec<(i32, Bytes)>, conns: usize) -> Result<Vec<i32>> {
    if reqs.is_empty() {
        return Ok(Vec::new());
    }
    let conns = conns.clamp(1, reqs.len().div_ceil(64).max(1));
    let chunk = reqs.len().div_ceil(conns);
    let mut handles = Vec::new();
    let mut it = reqs.into_iter();
    loop {
        let part: Vec<(i32, Bytes)> = it.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        let server = server.to_string();
        handles.push(tokio::spawn(async move {
            let mut s = conn::connect(&server).await?;
            let mut codes = Vec::with_capacity(part.len());
            for block in part.chunks(10_000) {
                let r = s.pipeline(block.to_vec(), 256).await?;
                codes.extend(r.into_iter().map(|(c, _)| c));
            }
            s.close(i32::MAX).await?;
            Ok::<_, Error>(codes)
        }));
    }
    let mut codes = Vec::new();
    for h in handles {
        codes.extend(h.await.map_err(|e| Error(e.to_string()))??);
    }
    Ok(codes)
}

fn check_codes(what: &str, codes: &[i32], allowed: &[i32]) -> Result<()> {
    match codes
        .iter()
        .find(|c| **c != err::OK && !allowed.contains(c))
    {
        Some(c) => Err(Error(format!("{what}: server returned error {c}"))),
        None => Ok(()),
    }
}

/// Creates the directories and the key space the workload needs.
async fn setup(cli: &Cli, plan: &Plan, kinds: &[Kind]) -> Result<()> {
    let server = &cli.servers[0];
    let mut dirs = Vec::new();
    // Each ancestor of the root, then the root's own directories.
    let mut p = String::new();
    for part in plan.root.split('/').filter(|s| !s.is_empty()) {
        p.push('/');
        p.push_str(part);
        dirs.push(p.clone());
    }
    for d in ["k", "l", "w"] {
        dirs.push(format!("{}/{d}", plan.root));
    }
    let dir_reqs = dirs
        .into_iter()
        .map(|d| (op::CREATE, create_body(d, Bytes::new())))
        .collect();
    let codes = run_spread(server, dir_reqs, 1).await?;
    check_codes("setup (directories)", &codes, &[err::NODE_EXISTS])?;

    let needs = |k: &[Kind]| kinds.iter().any(|x| k.contains(x));
    let mut reqs = Vec::new();
    if needs(&[Kind::Create, Kind::Delete]) {
        for s in 0..cli.sessions {
            reqs.push((op::CREATE, create_body(plan.session_dir(s), Bytes::new())));
        }
    }
    if needs(&[Kind::List]) {
        for c in 0..cli.children {
            let p = format!("{}/{c}", plan.list_dir());
            reqs.push((op::CREATE, create_body(p, plan.value.clone())));
        }
    }
    let first_key = reqs.len();
    if needs(&[Kind::Set, Kind::Get, Kind::Exists, Kind::Multi]) {
        for k in 0..plan.keys {
            reqs.push((op::CREATE, create_body(plan.key(k), plan.value.clone())));
        }
    }
    let codes = run_spread(server, reqs, 8).await?;
    check_codes("setup (key space)", &codes, &[err::NODE_EXISTS])?;
    // Keys left over from an earlier run: give them this run's value size.
    let stale: Vec<(i32, Bytes)> = codes
        .iter()
        .enumerate()
        .filter(|(i, c)| *i >= first_key && **c == err::NODE_EXISTS)
        .map(|(i, _)| {
            let k = (i - first_key) as u64;
            (op::SET_DATA, set_body(plan.key(k), plan.value.clone()))
        })
        .collect();
    let codes = run_spread(server, stale, 8).await?;
    check_codes("setup (refresh keys)", &codes, &[])?;
    // Setup wrote through the first member: have every other member catch up
    // (sync) before the measured sessions read from it.
    for server in &cli.servers[1..] {
        let mut s = conn::connect(server).await?;
        let (code, _) = s
            .call(
                op::SYNC,
                &SyncRequest {
                    path: plan.root.clone(),
                },
            )
            .await?;
        check_codes(&format!("setup (sync {server})"), &[code], &[])?;
        s.close(i32::MAX).await?;
    }
    Ok(())
}

/// Deletes what the run created: per-session nodes, session dirs, keys, list children.
async fn cleanup(cli: &Cli, plan: &Plan, stats: &[Stats]) -> Result<()> {
    let mut reqs = Vec::new();
    for (s, st) in stats.iter().enumerate() {
        let dir = plan.session_dir(s);
        reqs.extend(
            st.live
                .iter()
                .map(|n| (op::DELETE, delete_body(format!("{dir}/{n}")))),
        );
    }
    let codes = run_spread(&cli.servers[0], reqs, 8).await?;
    check_codes("cleanup (nodes)", &codes, &[err::NO_NODE])?;
    // The rest (session dirs, keys, list children and the root) by walking the tree.
    clean_tree(&cli.servers[0], &plan.root).await
}

/// Recursively deletes `root` (children first), level by level.
async fn clean_tree(server: &str, root: &str) -> Result<()> {
    let mut s = conn::connect(server).await?;
    let mut levels: Vec<Vec<String>> = vec![vec![root.to_string()]];
    loop {
        let last = levels.last().cloned().unwrap_or_default();
        let reqs = last
            .iter()
            .map(|p| {
                let body = GetChildrenRequest {
                    path: p.clone(),
                    watch: false,
                };
                (op::GET_CHILDREN, body.encode().freeze())
            })
            .collect();
        let replies = s.pipeline(reqs, 256).await?;
        let mut next = Vec::new();
        for (p, (code, body)) in last.iter().zip(replies) {
            if code != err::OK {
                continue;
            }
            let kids = GetChildrenResponse::decode(&body)?;
            let base = if p == "/" { "" } else { p.as_str() };
            next.extend(kids.children.into_iter().map(|c| format!("{base}/{c}")));
        }
        if next.is_empty() {
            break;
        }
        levels.push(next);
    }
    s.close(i32::MAX).await?;
    for level in levels.into_iter().rev() {
        let reqs = level
            .into_iter()
            .filter(|p| p != "/" && p != "/zookeeper" && !p.starts_with("/zookeeper/"))
            .map(|p| (op::DELETE, delete_body(p)))
            .collect();
        let codes = run_spread(server, reqs, 8).await?;
        check_codes("clean", &codes, &[err::NO_NODE])?;
    }
    Ok(())
}

async fn probe(cli: &Cli) -> Result<()> {
    // One attempt = connect + handshake + getData, given at most this long: a
    // server that accepts connections while still loading must not hold the
    // probe for the full reply timeout.
    const ATTEMPT: Duration = Duration::from_millis(500);
    let start = Instant::now();
    let mut attempts = 0u64;
    let mut failures: Vec<String> = Vec::new();
    while start.elapsed() < cli.timeout {
        let server = &cli.servers[attempts as usize % cli.servers.len()];
        attempts += 1;
        let attempt = async {
            let mut s = conn::connect(server).await?;
            let req = GetDataRequest {
                path: cli.path.clone(),
                watch: false,
            };
            let (code, _) = s.call(op::GET_DATA, &req).await?;
            if code == err::OK {
                Ok(s)
            } else {
                Err(Error(format!("getData({}) returned {code}", cli.path)))
            }
        };
        let r = match tokio::time::timeout(ATTEMPT, attempt).await {
            Ok(r) => r,
            Err(_) => Err(Error(format!("no answer within {ATTEMPT:?}"))),
        };
        match r {
            Ok(s) => {
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                let _ = s.close(i32::MAX).await;
                let last = failures.last().cloned().unwrap_or_default();
                if cli.json {
                    let v = serde_json::json!({"probe_ms": ms, "attempts": attempts, "last_failure": last});
                    println!("{v}");
                } else {
                    println!(
                        "first successful read after {ms:.1} ms ({attempts} attempts; last failure: {})",
                        if last.is_empty() { "none" } else { &last }
                    );
                }
                return Ok(());
            }
            Err(e) => {
                if failures.last() != Some(&e.0) {
                    failures.push(e.0);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(Error(format!(
        "probe gave up after {:?}; failures seen: {}",
        cli.timeout,
        failures.join(" | ")
    )))
}

/// One write-probe attempt: setData(--path) on `reuse` (a session opened before
/// the kill) or on a new session to `server`; returns when the reply arrived.
async fn write_attempt(server: &str, reuse: Option<conn::Session>, body: Bytes) -> Result<Instant> {
    let mut s = match reuse {
        Some(s) => s,
        None => conn::connect(server).await?,
    };
    let (code, _) = s
        .pipeline(vec![(op::SET_DATA, body)], 1)
        .await?
        .pop()
        .ok_or_else(|| Error("no reply".into()))?;
    let at = Instant::now();
    // The session is dropped unclosed (the server expires it): a closeSession
    // here could outlast the attempt's time limit and hide the success.
    if code == err::OK {
        Ok(at)
    } else {
        Err(Error(format!("setData returned {code}")))
    }
}

/// write-probe. With --kill-pid: one session per --server member writes --path
/// in turn every 10 ms for --warmup (every write must succeed), then the process
/// gets SIGKILL and the clock starts. Without it, the clock starts at once.
/// From then on an attempt starts every 10 ms, round-robin over the members,
/// without waiting for earlier ones (a member may hold a request until a new
/// leader is in place): the member's pre-kill session while it lasts, then a new
/// session each time. The time reported is from the kill to the first reply
/// that acknowledges a write sent after the kill.
async fn write_probe(cli: &Cli) -> Result<()> {
    const INTERVAL: Duration = Duration::from_millis(10);
    const ATTEMPT: Duration = Duration::from_secs(2);
    const MAX_IN_FLIGHT: usize = 200;
    if !cli.path.starts_with('/') || cli.path.len() < 2 {
        return Err(Error("write-probe: --path must name a node below /".into()));
    }
    let value = Bytes::from(vec![b'x'; cli.value_size]);
    let body = set_body(cli.path.clone(), value.clone());
    let servers = &cli.servers;
    let mut pool: Vec<Option<conn::Session>> = servers.iter().map(|_| None).collect();
    let mut pre_kill = 0u64;
    if let Some(pid) = cli.kill_pid {
        for (i, server) in servers.iter().enumerate() {
            pool[i] = Some(conn::connect(server).await?);
        }
        let first = pool[0].as_mut().ok_or_else(|| Error("no session".into()))?;
        let (code, _) = first
            .pipeline(vec![(op::CREATE, create_body(cli.path.clone(), value))], 1)
            .await?
            .pop()
            .ok_or_else(|| Error("no reply".into()))?;
        check_codes("write-probe (create --path)", &[code], &[err::NODE_EXISTS])?;
        let until = Instant::now() + cli.warmup;
        while pre_kill == 0 || Instant::now() < until {
            let i = pre_kill as usize % servers.len();
            let s = pool[i].as_mut().ok_or_else(|| Error("no session".into()))?;
            let r =
                tokio::time::timeout(ATTEMPT, s.pipeline(vec![(op::SET_DATA, body.clone())], 1))
                    .await
                    .map_err(|_| {
                        Error(format!(
                            "before the kill: no reply from {} within {ATTEMPT:?}",
                            servers[i]
                        ))
                    })??;
            let code = r.first().map_or(err::MARSHALLING_ERROR, |c| c.0);
            check_codes(
                &format!("before the kill: setData on {}", servers[i]),
                &[code],
                &[],
            )?;
            pre_kill += 1;
            tokio::time::sleep(INTERVAL).await;
        }
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
            return Err(Error(format!(
                "kill -9 {pid}: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    let start = Instant::now();
    let deadline = start + cli.timeout;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Duration, Result<Instant>)>();
    let (mut attempts, mut in_flight) = (0usize, 0usize);
    let mut next = start;
    let mut failures: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()), if in_flight < MAX_IN_FLIGHT => {
                let i = attempts % servers.len();
                let (server, reuse) = (servers[i].clone(), pool[i].take());
                let (body, tx) = (body.clone(), tx.clone());
                let sent = start.elapsed();
                tokio::spawn(async move {
                    let r = tokio::time::timeout(ATTEMPT, write_attempt(&server, reuse, body))
                        .await
                        .unwrap_or_else(|_| Err(Error(format!("no answer within {ATTEMPT:?}"))));
                    let _ = tx.send((i, sent, r));
                });
                attempts += 1;
                in_flight += 1;
                next = (next + INTERVAL).max(Instant::now());
            }
            Some((i, sent, r)) = rx.recv() => {
                in_flight -= 1;
                match r {
                    Ok(at) => {
                        let ms = at.saturating_duration_since(start).as_secs_f64() * 1000.0;
                        let sent_ms = sent.as_secs_f64() * 1000.0;
                        if cli.json {
                            let v = serde_json::json!({
                                "first_write_ms": ms, "server": servers[i], "sent_ms": sent_ms,
                                "attempts": attempts, "killed_pid": cli.kill_pid,
                                "writes_before_kill": pre_kill, "failures": failures,
                            });
                            println!("{v}");
                        } else {
                            let from = if cli.kill_pid.is_some() { "SIGKILL" } else { "start" };
                            println!(
                                "first write acknowledged {ms:.1} ms after {from} by {} \
                                 (attempt sent at {sent_ms:.1} ms; {attempts} attempts; failures: {})",
                                servers[i],
                                if failures.is_empty() { "none".into() } else { failures.join(" | ") }
                            );
                        }
                        return Ok(());
                    }
                    Err(e) => {
                        // Distinct messages only (they repeat every 10 ms).
                        let msg = if e.0.contains(servers[i].as_str()) {
                            e.0
                        } else {
                            format!("{}: {}", servers[i], e.0)
                        };
                        if !failures.contains(&msg) && failures.len() < 20 {
                            failures.push(msg);
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                return Err(Error(format!(
                    "write-probe gave up after {:?} ({attempts} attempts); failures seen: {}",
                    cli.timeout,
                    failures.join(" | ")
                )));
            }
        }
    }
}

async fn bench(cli: &Cli) -> Result<report::Report> {
    let weights = weights(cli)?;
    let kinds: Vec<Kind> = weights.iter().map(|w| w.0).collect();
    let sessions = cli.sessions.max(1);
    let interval = (cli.rate > 0.0).then(|| Duration::from_secs_f64(sessions as f64 / cli.rate));
    let tag = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ std::process::id() as u64
    );
    let plan = Arc::new(Plan {
        weights,
        root: cli.root.trim_end_matches('/').to_string(),
        keys: cli.keys.max(1),
        value: Bytes::from(vec![b'x'; cli.value_size]),
        multi_ops: cli.multi_ops,
        depth: cli.depth.max(1),
        sessions,
        interval,
        tag,
    });
    if !plan.root.starts_with('/') || plan.root.len() < 2 {
        return Err(Error("--root must be an absolute path below /".into()));
    }
    let t = Instant::now();
    setup(cli, &plan, &kinds).await?;
    let setup_sec = t.elapsed().as_secs_f64();

    let conns = connect_all(&cli.servers, sessions).await?;
    let start = Instant::now();
    let measure_from = start + cli.warmup;
    let ctl = Arc::new(Control::new(
        start,
        cli.warmup,
        cli.ops.is_none().then_some(cli.duration),
        cli.ops,
    ));
    let handles: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, s)| tokio::spawn(workload::run_session(i, s, plan.clone(), ctl.clone())))
        .collect();
    let mut stats = Vec::new();
    let mut failures = Vec::new();
    for h in handles {
        match h.await {
            Ok(Ok(st)) => stats.push(st),
            Ok(Err(e)) => failures.push(e.0),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let end = match ctl.deadline {
        Some(d) => d,
        None => stats
            .iter()
            .filter_map(|s| s.last_reply)
            .max()
            .unwrap_or(measure_from),
    };
    let elapsed = end.saturating_duration_since(measure_from);
    let info = report::RunInfo {
        server: cli.server.clone(),
        mode: format!("{:?}", cli.mode).to_lowercase(),
        sessions,
        depth: plan.depth,
        value_size: cli.value_size,
        keys: plan.keys,
        target_rate: (cli.rate > 0.0).then_some(cli.rate),
    };
    let mut rep = report::build(info, &stats, elapsed);
    rep.setup_sec = setup_sec;
    rep.timeline = report::timeline(&ctl, cli.warmup);
    if !failures.is_empty() {
        return Err(Error(format!(
            "{} of {sessions} sessions failed; first: {}",
            failures.len(),
            failures[0]
        )));
    }
    if !cli.no_cleanup {
        let t = Instant::now();
        cleanup(cli, &plan, &stats).await?;
        rep.cleanup_sec = t.elapsed().as_secs_f64();
    }
    Ok(rep)
}

async fn run(mut cli: Cli) -> Result<()> {
    cli.servers = parse_servers(&cli.server)?;
    if let Some(ca) = &cli.tls_ca {
        conn::use_tls(ca)?;
    }
    match cli.mode {
        Mode::Probe => probe(&cli).await,
        Mode::WriteProbe => write_probe(&cli).await,
        Mode::Clean => clean_tree(&cli.servers[0], cli.root.trim_end_matches('/')).await,
        Mode::Storm => {
            let rep = storm::storm(&cli).await?;
            let s = serde_json::to_string_pretty(&rep).map_err(|e| Error(e.to_string()))?;
            println!("{s}");
            Ok(())
        }
        _ => {
            let rep = bench(&cli).await?;
            if cli.json {
                let s = serde_json::to_string_pretty(&rep).map_err(|e| Error(e.to_string()))?;
                println!("{s}");
            } else {
                report::print_human(&rep, cli.timeline);
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkd-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn mixes() {
        let m = parse_mix("get=45, list=45,set=8,create=1,delete=1,exists=0").unwrap();
        let kinds: Vec<_> = m.iter().map(|(k, w)| (k.name(), *w)).collect();
        assert_eq!(
            kinds,
            [
                ("get", 45),
                ("list", 45),
                ("set", 8),
                ("create", 1),
                ("delete", 1)
            ]
        );
        assert!(parse_mix("get").is_err());
        assert!(parse_mix("nope=1").is_err());
        assert!(parse_mix("get=0").is_err());
    }

    #[test]
    fn server_lists() {
        assert_eq!(parse_servers("127.0.0.1:2181").unwrap(), ["127.0.0.1:2181"]);
        assert_eq!(
            parse_servers("a:1, b:2,,c:3 ").unwrap(),
            ["a:1", "b:2", "c:3"]
        );
        assert!(parse_servers(" , ").is_err());
    }
}
