//! Four-letter words: plain-text status commands on the client port.
//!
//! Monitoring scripts, zktop and kazoo (which reads the server version from `envi`) parse
//! these outputs, so the formats follow ZooKeeper's line for line. A word that is known
//! but not whitelisted gets ZooKeeper's refusal text.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use crate::server::Server;

/// The version string clients see (kazoo parses the numbers out of `envi`).
pub const ZK_VERSION: &str = concat!(
    "3.9.3-zkd-",
    env!("CARGO_PKG_VERSION"),
    ", built on 1970-01-01 00:00 UTC"
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourLetterWord(pub [u8; 4]);

const KNOWN: &[&str] = &[
    "ruok", "srvr", "stat", "conf", "envi", "mntr", "isro", "cons", "crst", "srst", "dump", "wchs",
    "wchc", "wchp", "dirs", "gtmk", "stmk",
];

impl FourLetterWord {
    pub fn parse(head: &[u8; 4]) -> Option<FourLetterWord> {
        let word = std::str::from_utf8(head).ok()?;
        KNOWN.contains(&word).then_some(FourLetterWord(*head))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("????")
    }
}

pub async fn serve_four_letter(
    server: &Arc<Server>,
    word: FourLetterWord,
    peer: std::net::SocketAddr,
    mut wr: OwnedWriteHalf,
) {
    let name = word.as_str();
    let text = if server.config.four_letter_allowed(name) {
        run(server, name, Some(peer))
    } else {
        format!("{name} is not executed because it is not in the whitelist.\n")
    };
    let _ = wr.write_all(text.as_bytes()).await;
    let _ = wr.shutdown().await;
}

/// The output of one command. `asker` is the connection that sent it: ZooKeeper lists
/// it among the clients too.
pub fn run(server: &Server, word: &str, asker: Option<std::net::SocketAddr>) -> String {
    match word {
        "ruok" => "imok".to_string(),
        "srvr" => server_stats(server, None),
        "stat" => server_stats(server, Some(asker)),
        "conf" => server
            .config
            .conf_lines()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect(),
        "envi" => environment(),
        "mntr" => monitor(server),
        "isro" => "rw".to_string(),
        "cons" => connections(server, asker),
        "crst" => {
            for c in server.connections.all() {
                c.received.store(0, Ordering::Relaxed);
                c.sent.store(0, Ordering::Relaxed);
            }
            "Connection stats reset.\n".to_string()
        }
        "srst" => {
            server.stats.reset();
            "Server stats reset.\n".to_string()
        }
        "dump" => dump(server),
        "wchs" => {
            let w = server.watches.lock();
            // Like ZooKeeper, wchs summarises the data-watch table only.
            format!(
                "{} connections watching {} paths\nTotal watches:{}\n",
                w.connections(),
                w.paths(),
                w.data_count()
            )
        }
        "wchc" => {
            let by_conn = server.watches.lock().by_connection();
            let mut out = String::new();
            for (conn, paths) in by_conn {
                let sid = server
                    .connections
                    .get(conn)
                    .map(|c| c.session_id())
                    .unwrap_or(0);
                let _ = writeln!(out, "0x{sid:x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out
        }
        "wchp" => {
            let by_path = server.watches.lock().by_path();
            let mut out = String::new();
            for (path, conns) in by_path {
                let _ = writeln!(out, "{path}");
                for conn in conns {
                    let sid = server
                        .connections
                        .get(conn)
                        .map(|c| c.session_id())
                        .unwrap_or(0);
                    let _ = writeln!(out, "\t0x{sid:x}");
                }
            }
            out
        }
        "dirs" => {
            let size = server.storage.disk_space();
            format!("datadir_size: {size}\nlogdir_size: 0\n")
        }
        "gtmk" => "0\n".to_string(),
        "stmk" => "0\n".to_string(),
        _ => String::new(),
    }
}

/// `srvr`, or `stat` when `clients` is given (with the asking connection, if any).
fn server_stats(server: &Server, clients: Option<Option<std::net::SocketAddr>>) -> String {
    let mut out = format!("Zookeeper version: {ZK_VERSION}\n");
    if let Some(asker) = clients {
        out.push_str("Clients:\n");
        out.push_str(&connections(server, asker));
        out.push('\n');
    }
    let (min, avg, max) = server.stats.latency_ms();
    let tree = server.tree.read();
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{:.4}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: standalone\nNode count: {}\n",
        min.round() as u64,
        avg,
        max.round() as u64,
        server.stats.packets_received.load(Ordering::Relaxed),
        server.stats.packets_sent.load(Ordering::Relaxed),
        server.connections.len(),
        server.stats.outstanding.load(Ordering::Relaxed).max(0),
        tree.last_zxid(),
        znode_count(&tree),
    );
    out
}

/// ZooKeeper's node count includes an internal alias of `/` (a fresh tree reports 5).
fn znode_count(tree: &crate::tree::DataTree) -> usize {
    tree.node_count() + 1
}

fn connections(server: &Server, asker: Option<std::net::SocketAddr>) -> String {
    let mut out = String::new();
    if let Some(peer) = asker {
        let _ = writeln!(out, " /{peer}[0](queued=0,recved=1,sent=0)");
    }
    for c in server.connections.all() {
        let _ = writeln!(
            out,
            " /{}[1](queued=0,recved={},sent={},sid=0x{:x},est={},to={},lcxid=0x{:x},lzxid=0x{:x})",
            c.peer,
            c.received.load(Ordering::Relaxed),
            c.sent.load(Ordering::Relaxed),
            c.session_id(),
            c.established.elapsed().as_millis(),
            server
                .tree
                .read()
                .session(c.session_id())
                .map(|s| s.timeout_ms)
                .unwrap_or(0),
            c.last_cxid.load(Ordering::Relaxed),
            c.last_zxid.load(Ordering::Relaxed),
        );
    }
    out
}

fn environment() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!(
        "Environment:\nzookeeper.version={ZK_VERSION}\nhost.name={host}\njava.version=none (zkd is written in Rust)\n\
         java.vendor=none\njava.home=\njava.class.path=\njava.library.path=\njava.io.tmpdir=/tmp\njava.compiler=<NA>\n\
         os.name={}\nos.arch={}\nos.version=\nuser.name={}\nuser.home={}\nuser.dir={cwd}\n",
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::env::var("USER").unwrap_or_default(),
        std::env::var("HOME").unwrap_or_default(),
    )
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn monitor(server: &Server) -> String {
    let (min, avg, max) = server.stats.latency_ms();
    let tree = server.tree.read();
    let w = server.watches.lock();
    let rows: Vec<(&str, String)> = vec![
        ("zk_version", ZK_VERSION.to_string()),
        ("zk_server_state", "standalone".into()),
        ("zk_avg_latency", format!("{avg:.4}")),
        ("zk_max_latency", (max.round() as u64).to_string()),
        ("zk_min_latency", (min.round() as u64).to_string()),
        (
            "zk_packets_received",
            server
                .stats
                .packets_received
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        (
            "zk_packets_sent",
            server
                .stats
                .packets_sent
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        (
            "zk_num_alive_connections",
            server.connections.len().to_string(),
        ),
        (
            "zk_outstanding_requests",
            server
                .stats
                .outstanding
                .load(Ordering::Relaxed)
                .max(0)
                .to_string(),
        ),
        ("zk_znode_count", znode_count(&tree).to_string()),
        ("zk_watch_count", w.count().to_string()),
        ("zk_ephemerals_count", tree.ephemeral_count().to_string()),
        (
            "zk_approximate_data_size",
            tree.approximate_data_size().to_string(),
        ),
        ("zk_open_file_descriptor_count", open_fds().to_string()),
        ("zk_max_file_descriptor_count", max_fds().to_string()),
        ("zk_global_sessions", tree.sessions().count().to_string()),
        ("zk_local_sessions", "0".into()),
        (
            "zk_uptime",
            Instant::now()
                .duration_since(server.started)
                .as_millis()
                .to_string(),
        ),
        ("zk_last_proposal_size", "-1".into()),
        ("zk_max_proposal_size", "-1".into()),
        ("zk_min_proposal_size", "-1".into()),
    ];
    rows.into_iter()
        .map(|(k, v)| format!("{k}\t{v}\n"))
        .collect()
}

fn dump(server: &Server) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    let sessions = server.sessions.lock().snapshot(Instant::now());
    let _ = writeln!(
        out,
        "Session Sets ({})/({}):",
        sessions.len(),
        sessions.len()
    );
    for (id, _timeout, left) in &sessions {
        let _ = writeln!(out, "0x{id:x}\texpires in {} ms", left.as_millis());
    }
    out.push_str("ephemeral nodes dump:\n");
    let tree = server.tree.read();
    let owners: Vec<i64> = tree.sessions().map(|(id, _)| id).collect();
    let _ = writeln!(
        out,
        "Sessions with Ephemerals ({}):",
        owners
            .iter()
            .filter(|id| !tree.ephemerals(**id).is_empty())
            .count()
    );
    for id in owners {
        let paths = tree.ephemerals(id);
        if paths.is_empty() {
            continue;
        }
        let _ = writeln!(out, "0x{id:x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\n");
    let _ = writeln!(out, "Connections Sets (1)/({}):", server.connections.len());
    out
}
