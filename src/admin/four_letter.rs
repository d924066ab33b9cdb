//! Four-letter words: plain-text status commands on the client port.
//!
//! Monitoring scripts, zktop, Nagios/Datadog checks and kazoo (which reads the server
//! version from `envi`) parse these outputs, so the formats follow ZooKeeper 3.9's line
//! for line. The word is the first four bytes of a fresh connection (`stmk` is followed
//! by an 8-byte mask); the server writes the answer and closes.
//!
//! Whitelist (`4lw.commands.whitelist`), as ZooKeeper's: default `srvr` only, `*` for
//! every known word, `srvr` always allowed, `isro` too when `readonlymode.enabled`. A
//! known word that is not whitelisted is answered with
//! `<word> is not executed because it is not in the whitelist.`; an unknown one is not
//! a word at all (it is read as a frame length and the connection is closed).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::FramedRead;

use super::monitor;
use super::{java_date, keeper, metrics, ZK_VERSION};
use crate::net::codec::FrameCodec;
use crate::server::Server;

/// ZooKeeper's words, then ClickHouse Keeper's extras (see [`keeper`]).
pub const ZOOKEEPER_WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// The bytes telnet sends when it closes (IAC IP IAC DO TIMING-MARK); ZooKeeper knows
/// them as the command "telnet close" so that they are not taken for a frame length.
const TELNET_CLOSE: [u8; 4] = [0xff, 0xf4, 0xff, 0xfd];

/// A recognised four-letter word (or telnet's close sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourLetterWord(&'static str);

impl FourLetterWord {
    pub fn parse(head: &[u8; 4]) -> Option<FourLetterWord> {
        if *head == TELNET_CLOSE {
            return Some(FourLetterWord("telnet close"));
        }
        let word = std::str::from_utf8(head).ok()?;
        ZOOKEEPER_WORDS
            .iter()
            .chain(keeper::WORDS)
            .find(|w| **w == word)
            .map(|w| FourLetterWord(w))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// Answer one word on a fresh connection, then close it.
pub async fn serve_four_letter<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    server: &Arc<Server>,
    word: FourLetterWord,
    peer: SocketAddr,
    frames: FramedRead<R, FrameCodec>,
    mut wr: W,
) {
    let name = word.as_str();
    // ZooKeeper counts the word as a received packet of 4 bytes.
    server
        .stats
        .packets_received
        .fetch_add(1, Ordering::Relaxed);
    metrics::BYTES_RECEIVED.add(4);
    let text = if !server.config.four_letter_allowed(name) {
        tracing::info!(%peer, "four-letter word {name} refused: not in 4lw.commands.whitelist");
        Some(format!(
            "{name} is not executed because it is not in the whitelist.\n"
        ))
    } else if name == "telnet close" {
        None
    } else if name == "stmk" {
        match read_mask(frames).await {
            Some(mask) => {
                tracing::info!(%peer, "four-letter word stmk {mask}");
                super::set_trace_mask(mask);
                Some(mask.to_string())
            }
            None => {
                tracing::info!(%peer, "four-letter word stmk without its 8-byte mask; closing");
                None
            }
        }
    } else {
        tracing::info!(%peer, "four-letter word {name}");
        Some(run(server, name, Some(peer)).await)
    };
    if let Some(text) = text {
        let _ = wr.write_all(text.as_bytes()).await;
    }
    let _ = wr.shutdown().await;
}

/// The big-endian i64 after `stmk` (it may already sit in the codec's buffer).
async fn read_mask<R: AsyncRead + Unpin>(frames: FramedRead<R, FrameCodec>) -> Option<i64> {
    let mut buf = frames.read_buffer().to_vec();
    let mut rd = frames.into_inner();
    let read = async {
        while buf.len() < 8 {
            let mut chunk = [0u8; 8];
            let n = rd.read(&mut chunk[..8 - buf.len()]).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()??;
    let bytes: [u8; 8] = buf.get(..8)?.try_into().ok()?;
    Some(i64::from_be_bytes(bytes))
}

/// The output of one command. `asker` is the connection that sent it: ZooKeeper lists
/// it among the clients too.
pub async fn run(server: &Server, word: &str, asker: Option<SocketAddr>) -> String {
    if !server.serving()
        && !server.read_only_mode()
        && !matches!(word, "ruok" | "conf" | "envi" | "isro")
    {
        return "This ZooKeeper instance is not currently serving requests\n".to_string();
    }
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
        "envi" => {
            let mut out = String::from("Environment:\n");
            for (k, v) in monitor::environment() {
                let _ = writeln!(out, "{k}={v}");
            }
            out
        }
        "mntr" => monitor::monitor_rows(server, asker.is_some())
            .into_iter()
            .map(|(k, v)| format!("zk_{k}\t{}\n", v.text()))
            .collect(),
        "isro" => if server.read_only_mode() { "ro" } else { "rw" }.to_string(),
        "cons" => {
            let mut out = String::new();
            for c in monitor::connections(server, asker) {
                out.push_str(&c.text(false));
                out.push('\n');
            }
            out.push('\n');
            out
        }
        "crst" => {
            reset_connection_stats(server);
            "Connection stats reset.\n".to_string()
        }
        "srst" => {
            reset_server_stats(server);
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
                let _ = writeln!(out, "0x{:x}", session_of(server, conn));
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push('\n');
            out
        }
        "wchp" => {
            let by_path = server.watches.lock().by_path();
            let mut out = String::new();
            for (path, conns) in by_path {
                let _ = writeln!(out, "{path}");
                for conn in conns {
                    let _ = writeln!(out, "\t0x{:x}", session_of(server, conn));
                }
            }
            out.push('\n');
            out
        }
        "dirs" => {
            let size = monitor::data_dir_size(server);
            format!("datadir_size: {size}\nlogdir_size: {size}\n")
        }
        "gtmk" => super::trace_mask().to_string(),
        // The tree digest after every 128th zxid, as ZooKeeper's DigestCommand prints it.
        "hash" => {
            let tree = server.tree.read();
            let mut out = String::new();
            for (zxid, digest) in tree.digest_history() {
                let _ = writeln!(out, "{zxid:x}: {digest}");
            }
            out
        }
        other => keeper::run(server, other).await,
    }
}

pub fn session_of(server: &Server, conn: crate::server::registry::ConnId) -> i64 {
    server
        .connections
        .get(conn)
        .map(|c| c.session_id())
        .unwrap_or(0)
}

/// `crst`: ZooKeeper's `resetAllConnectionStats`.
pub fn reset_connection_stats(server: &Server) {
    for c in server.connections.all() {
        c.received.store(0, Ordering::Relaxed);
        c.sent.store(0, Ordering::Relaxed);
        c.last_cxid.store(-1, Ordering::Relaxed);
        c.last_zxid.store(-1, Ordering::Relaxed);
        c.stats.reset();
    }
}

/// `srst`: server stats and every ServerMetric.
pub fn reset_server_stats(server: &Server) {
    server.stats.reset();
    metrics::reset_all();
}

/// `srvr`, or `stat` when `clients` is given (with the asking connection, if any).
fn server_stats(server: &Server, clients: Option<Option<SocketAddr>>) -> String {
    let mut out = format!("Zookeeper version: {ZK_VERSION}\n");
    if let Some(asker) = clients {
        out.push_str("Clients:\n");
        for c in monitor::connections(server, asker) {
            out.push_str(&c.text(true));
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&monitor::srvr_body(server, true));
    out
}

/// `dump`: the session expiry queue, ephemerals per session, the connections.
fn dump(server: &Server) -> String {
    let groups = monitor::sessions_by_expiry(server);
    let total: usize = groups.iter().map(|g| g.2.len()).sum();
    let mut out = String::from("SessionTracker dump:\n");
    let _ = writeln!(out, "Session Sets ({})/({total}):", groups.len());
    for (_, wall, ids) in &groups {
        let _ = writeln!(out, "{} expire at {}:", ids.len(), java_date(*wall));
        for id in ids {
            let _ = writeln!(out, "\t0x{id:x}");
        }
    }
    out.push_str("ephemeral nodes dump:\n");
    let with_ephemerals = ephemerals_by_session(server);
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", with_ephemerals.len());
    for (id, paths) in with_ephemerals {
        let _ = writeln!(out, "0x{id:x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    // ZooKeeper's NIO factory groups connections by when they expire; a connection
    // here lives as long as its session.
    out.push_str("Connections dump:\n");
    let expiry: std::collections::HashMap<i64, i64> = groups
        .iter()
        .flat_map(|(_, wall, ids)| ids.iter().map(move |id| (*id, *wall)))
        .collect();
    let now = crate::server::now_ms();
    let mut conns: Vec<(i64, String)> = server
        .connections
        .all()
        .iter()
        .map(|c| {
            let sid = c.session_id();
            (
                expiry.get(&sid).copied().unwrap_or(now),
                format!("ip: /{} sessionId: 0x{sid:x}", c.peer),
            )
        })
        .collect();
    conns.sort();
    let mut sets: Vec<(i64, Vec<String>)> = Vec::new();
    for (at, line) in conns {
        match sets.last_mut() {
            Some(s) if s.0 == at => s.1.push(line),
            _ => sets.push((at, vec![line])),
        }
    }
    let n: usize = sets.iter().map(|s| s.1.len()).sum();
    let _ = writeln!(out, "Connections Sets ({})/({n}):", sets.len());
    for (at, lines) in sets {
        let _ = writeln!(out, "{} expire at {}:", lines.len(), java_date(at));
        for l in lines {
            let _ = writeln!(out, "\t{l}");
        }
    }
    out
}

/// Sessions owning plain ephemerals, with their paths.
pub fn ephemerals_by_session(server: &Server) -> Vec<(i64, Vec<String>)> {
    let tree = server.tree.read();
    let mut ids: Vec<i64> = tree.sessions().map(|(id, _)| id).collect();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| (id, tree.ephemerals(id)))
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse() {
        assert_eq!(
            FourLetterWord::parse(b"ruok").map(|w| w.as_str()),
            Some("ruok")
        );
        assert_eq!(
            FourLetterWord::parse(b"hash").map(|w| w.as_str()),
            Some("hash")
        );
        assert_eq!(
            FourLetterWord::parse(b"lgif").map(|w| w.as_str()),
            Some("lgif")
        );
        assert_eq!(
            FourLetterWord::parse(&TELNET_CLOSE).map(|w| w.as_str()),
            Some("telnet close")
        );
        assert!(FourLetterWord::parse(b"xyzw").is_none());
        assert!(FourLetterWord::parse(&[0, 0, 0, 4]).is_none());
    }
}
