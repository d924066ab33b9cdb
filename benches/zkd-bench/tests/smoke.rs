//! CI smoke run: start zkd on a free loopback port, run `zkd-bench create` and
//! `zkd-bench get` for two seconds each, and check that both did work and saw
//! no errors. Keeps the generator compiling and talking the protocol.
//!
//! The zkd binary is `$ZKD_BIN`, or `zkd` next to the zkd-bench binary under
//! test (target/debug/zkd after `cargo build` / `cargo test --workspace`).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn zkd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ZKD_BIN") {
        return PathBuf::from(p);
    }
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_zkd-bench"));
    bench.with_file_name(format!("zkd{}", std::env::consts::EXE_SUFFIX))
}

fn start_zkd() -> (Server, String) {
    let bin = zkd_bin();
    assert!(
        bin.exists(),
        "zkd binary not found at {} (run `cargo build -p zkd` or set ZKD_BIN)",
        bin.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = std::env::temp_dir().join(format!("zkd-bench-smoke-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).expect("temp dir");
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             maxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=*\n",
            dir.join("data").display()
        ),
    )
    .expect("write zoo.cfg");
    let child = Command::new(&bin)
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start zkd");
    let server = Server { child, dir };
    let addr = format!("127.0.0.1:{port}");
    let t = Instant::now();
    while TcpStream::connect(&addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "zkd did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, addr)
}

fn bench(addr: &str, mode: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_zkd-bench"))
        .args([
            mode,
            "--server",
            addr,
            "--duration",
            "2s",
            "--warmup",
            "200ms",
        ])
        .args(["--sessions", "4", "--depth", "4", "--keys", "100", "--json"])
        .output()
        .expect("run zkd-bench");
    assert!(
        out.status.success(),
        "zkd-bench {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("zkd-bench --json output")
}

#[test]
fn smoke_create_and_get() {
    let (_server, addr) = start_zkd();
    for mode in ["create", "get"] {
        let r = bench(&addr, mode);
        let ops = r["ops"].as_u64().unwrap_or(0);
        let errors = r["errors"].as_u64().unwrap_or(u64::MAX);
        eprintln!(
            "{mode}: {ops} ops, {errors} errors, {} ops/s",
            r["ops_per_sec"]
        );
        assert!(ops > 0, "{mode}: no operations completed: {r}");
        assert_eq!(errors, 0, "{mode}: errors: {r}");
    }
}

/// `storm` end to end on a small scale: every session watches, the flood is answered,
/// and every watcher saw every change of the watched node.
#[test]
fn smoke_storm() {
    let (_server, addr) = start_zkd();
    let out = Command::new(env!("CARGO_BIN_EXE_zkd-bench"))
        .args(["storm", "--server", &addr, "--duration", "1s"])
        .args(["--sessions", "50", "--flood-sessions", "2", "--depth", "16"])
        .args(["--keys", "20"])
        .output()
        .expect("run zkd-bench");
    assert!(
        out.status.success(),
        "zkd-bench storm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("storm JSON");
    assert_eq!(r["established"], 50, "{r}");
    assert_eq!(r["sessions_alive"], 50, "{r}");
    assert!(r["watched_changes"].as_u64().unwrap_or(0) > 0, "{r}");
    assert_eq!(r["sessions_missing_events"], 0, "{r}");
    assert!(r["flood_ops_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
    assert_eq!(r["flood_errors"], 0, "{r}");
}
