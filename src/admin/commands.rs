//! The AdminServer's commands: `GET /commands/<name>` → a JSON object.
//!
//! Names, aliases and keys are ZooKeeper 3.9's (`server/admin/Commands.java`): every
//! response carries the command's keys, then `"command"` (the primary name) and
//! `"error"` (null on success). `snapshot` and `restore` stream ZooKeeper's snapshot
//! format out and in and need authentication: [`super::snapshot`].

use openraft::async_runtime::WatchReceiver;
use std::collections::HashMap;

use super::four_letter::{
    ephemerals_by_session, reset_connection_stats, reset_server_stats, session_of,
};
use super::json::J;
use super::monitor;
use super::ZK_VERSION;
use crate::server::Server;

/// Every command: primary name first, then its aliases.
pub const COMMANDS: &[&[&str]] = &[
    &["configuration", "conf", "config"],
    &["connection_stat_reset", "crst"],
    &["connections", "cons"],
    &["dirs"],
    &["dump"],
    &["environment", "env", "envi"],
    &["get_trace_mask", "gtmk"],
    &["hash"],
    &["initial_configuration", "icfg"],
    &["is_read_only", "isro"],
    &["last_snapshot", "lsnp"],
    &["leader", "lead"],
    &["monitor", "mntr"],
    &["observer_connection_stat_reset", "orst"],
    &["observers", "obsr"],
    &["restore", "rest"],
    &["ruok"],
    &["server_stats", "srvr"],
    &["set_trace_mask", "stmk"],
    &["snapshot", "snap"],
    &["stat_reset", "srst"],
    &["stats", "stat"],
    &["system_properties", "sysp"],
    &["voting_view"],
    &["watch_summary", "wchs"],
    &["watches", "wchc"],
    &["watches_by_path", "wchp"],
    &["zabstate"],
];

/// The primary name of a command known by `name` (primary or alias).
pub fn primary(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|names| names.contains(&name))
        .map(|names| names[0])
}

/// Run `name` with the request's query parameters; the JSON response.
pub fn run(server: &Server, name: &str, params: &HashMap<String, String>) -> J {
    let Some(cmd) = primary(name) else {
        return J::obj(vec![
            ("command", J::str(name)),
            ("error", J::Str(format!("Unknown command: {name}"))),
        ]);
    };
    respond(cmd, data(server, cmd, params))
}

/// ZooKeeper's CommandResponse.toMap: the data, then "command" and "error" (an "error"
/// the command put in its data keeps its place and its message).
fn respond(cmd: &str, mut data: Vec<(String, J)>) -> J {
    let has_error = data.iter().any(|(k, _)| k == "error");
    data.push(("command".into(), J::str(cmd)));
    if !has_error {
        data.push(("error".into(), J::Null));
    }
    J::Obj(data)
}

fn kv(entries: Vec<(&str, J)>) -> Vec<(String, J)> {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn data(server: &Server, cmd: &str, params: &HashMap<String, String>) -> Vec<(String, J)> {
    match cmd {
        "configuration" => kv(configuration(server)),
        "connection_stat_reset" => {
            reset_connection_stats(server);
            Vec::new()
        }
        "connections" => kv(vec![
            (
                "connections",
                J::Arr(
                    monitor::connections(server, None)
                        .iter()
                        .map(|c| c.json(false))
                        .collect(),
                ),
            ),
            ("secure_connections", J::Arr(Vec::new())),
        ]),
        "dirs" => {
            let size = monitor::data_dir_size(server);
            kv(vec![
                ("datadir_size", J::Int(size)),
                ("logdir_size", J::Int(size)),
            ])
        }
        "dump" => {
            let expiry = monitor::sessions_by_expiry(server)
                .into_iter()
                .map(|(at, _, ids)| {
                    (
                        at.to_string(),
                        J::Arr(ids.into_iter().map(J::Int).collect()),
                    )
                })
                .collect();
            let ephemerals = ephemerals_by_session(server)
                .into_iter()
                .map(|(id, paths)| {
                    (
                        id.to_string(),
                        J::Arr(paths.into_iter().map(J::Str).collect()),
                    )
                })
                .collect();
            kv(vec![
                ("expiry_time_to_session_ids", J::Obj(expiry)),
                ("session_id_to_ephemeral_paths", J::Obj(ephemerals)),
            ])
        }
        "environment" => monitor::environment()
            .into_iter()
            .map(|(k, v)| (k.to_string(), J::Str(v)))
            .collect(),
        "get_trace_mask" => kv(vec![("tracemask", J::Int(super::trace_mask()))]),
        // ZooKeeper's ZxidDigest objects, in Jackson's order (its fields' order).
        "hash" => {
            let digests = server
                .tree
                .read()
                .digest_history()
                .map(|(zxid, digest)| {
                    J::Obj(kv(vec![
                        ("zxid", J::Int(zxid)),
                        ("digest", J::Int(digest)),
                        (
                            "digestVersion",
                            J::Int(i64::from(crate::tree::DIGEST_VERSION)),
                        ),
                    ]))
                })
                .collect();
            kv(vec![("digests", J::Arr(digests))])
        }
        "initial_configuration" => kv(vec![(
            "initial_configuration",
            J::Str(server.config.initial_config.clone()),
        )]),
        "is_read_only" => kv(vec![("read_only", J::Bool(false))]),
        "last_snapshot" => kv(last_snapshot(server)),
        "leader" => leader(server),
        "monitor" => monitor::monitor_rows(server, false)
            .into_iter()
            .map(|(k, v)| (k, v.json()))
            .collect(),
        "observer_connection_stat_reset" => Vec::new(),
        "observers" => kv(vec![
            ("synced_observers", J::Int(0)),
            ("observers", J::Arr(Vec::new())),
        ]),
        "ruok" => Vec::new(),
        "server_stats" => kv(server_stats(server)),
        "set_trace_mask" => match params.get("traceMask") {
            None => kv(vec![(
                "error",
                J::str("setTraceMask requires long traceMask argument"),
            )]),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(mask) => {
                    super::set_trace_mask(mask);
                    kv(vec![("tracemask", J::Int(mask))])
                }
                Err(_) => kv(vec![(
                    "error",
                    J::Str(format!(
                        "setTraceMask requires long traceMask argument, got {v}"
                    )),
                )]),
            },
        },
        "stat_reset" => {
            reset_server_stats(server);
            Vec::new()
        }
        "stats" => {
            let mut out = kv(server_stats(server));
            out.push((
                "connections".into(),
                J::Arr(
                    monitor::connections(server, None)
                        .iter()
                        .map(|c| c.json(true))
                        .collect(),
                ),
            ));
            out.push(("secure_connections".into(), J::Arr(Vec::new())));
            out
        }
        "system_properties" => system_properties(server),
        "voting_view" => kv(vec![("current_config", voting_view(server))]),
        "watch_summary" => {
            let w = server.watches.lock();
            kv(vec![
                ("num_connections", J::Int(w.connections() as i64)),
                ("num_paths", J::Int(w.paths() as i64)),
                ("num_total_watches", J::Int(w.data_count() as i64)),
            ])
        }
        "watches" => {
            let by_conn = server.watches.lock().by_connection();
            let map = by_conn
                .into_iter()
                .map(|(conn, paths)| {
                    (
                        session_of(server, conn).to_string(),
                        J::Arr(paths.into_iter().map(J::Str).collect()),
                    )
                })
                .collect();
            kv(vec![("session_id_to_watched_paths", J::Obj(map))])
        }
        "watches_by_path" => {
            let by_path = server.watches.lock().by_path();
            let map = by_path
                .into_iter()
                .map(|(path, conns)| {
                    let sids = conns
                        .into_iter()
                        .map(|c| J::Int(session_of(server, c)))
                        .collect();
                    (path, J::Arr(sids))
                })
                .collect();
            kv(vec![("path_to_session_ids", J::Obj(map))])
        }
        "zabstate" => zabstate(server),
        _ => Vec::new(),
    }
}

fn configuration(server: &Server) -> Vec<(&'static str, J)> {
    let c = &server.config;
    let (dir, log_dir) = c.report_dirs();
    vec![
        ("client_port", J::Int(c.reported_client_port() as i64)),
        ("data_dir", J::Str(dir)),
        ("data_log_dir", J::Str(log_dir)),
        ("tick_time", J::Int(c.tick_time.as_millis() as i64)),
        ("max_client_cnxns", J::Int(c.max_client_cnxns as i64)),
        (
            "min_session_timeout",
            J::Int(c.min_session_timeout().as_millis() as i64),
        ),
        (
            "max_session_timeout",
            J::Int(c.max_session_timeout().as_millis() as i64),
        ),
        ("server_id", J::Int(0)),
        ("client_port_listen_backlog", J::Int(-1)),
    ]
}

fn server_stats(server: &Server) -> Vec<(&'static str, J)> {
    vec![
        ("version", J::str(ZK_VERSION)),
        ("read_only", J::Bool(false)),
        ("server_stats", monitor::server_stats_json(server)),
        ("client_response", monitor::client_response_json()),
        ("node_count", J::Int(monitor::znode_count(server))),
    ]
}

/// The newest snapshot's zxid (hex, no `0x`) and its file's time in seconds; ZooKeeper
/// answers `ffffffffffffffff` and -1 before its first snapshot.
fn last_snapshot(server: &Server) -> Vec<(&'static str, J)> {
    let index = server
        .raft()
        .and_then(|r| r.metrics().borrow_watched().snapshot)
        .map(|l| l.index);
    let newest = std::fs::read_dir(server.storage.dir.join("snapshots"))
        .ok()
        .and_then(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot-"))
                .filter_map(|e| e.metadata().ok()?.modified().ok())
                .max()
        })
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    match (index, newest) {
        (Some(index), Some(secs)) => {
            let zxid = crate::consensus::zxid_base(&server.storage) + index as i64;
            vec![
                ("zxid", J::Str(format!("{zxid:x}"))),
                ("timestamp", J::Int(secs)),
            ]
        }
        _ => vec![
            ("zxid", J::Str(format!("{:x}", -1i64))),
            ("timestamp", J::Int(-1)),
        ],
    }
}

fn standalone(server: &Server) -> bool {
    monitor::server_state(server) == "standalone"
}

fn leader(server: &Server) -> Vec<(String, J)> {
    let metrics = server.raft().map(|r| r.metrics().borrow_watched().clone());
    match metrics {
        Some(m) if !standalone(server) => {
            let addr = m
                .current_leader
                .and_then(|id| m.membership_config.membership().get_node(&id).cloned())
                .map(|n| n.addr)
                .unwrap_or_default();
            kv(vec![
                (
                    "is_leader",
                    J::Bool(m.state == openraft::ServerState::Leader),
                ),
                (
                    "leader_id",
                    J::Int(m.current_leader.map_or(-1, |id| id as i64)),
                ),
                ("leader_ip", J::Str(addr)),
            ])
        }
        // A standalone ZooKeeper is not a QuorumZooKeeperServer.
        _ => kv(vec![("error", J::str("server is not initialized"))]),
    }
}

fn voting_view(server: &Server) -> J {
    let Some(raft) = server.raft().filter(|_| !standalone(server)) else {
        return J::Obj(Vec::new());
    };
    let m = raft.metrics().borrow_watched().clone();
    let membership = m.membership_config.membership();
    J::Obj(
        membership
            .voter_ids()
            .map(|id| {
                let addr = membership
                    .get_node(&id)
                    .map(|n| n.addr.clone())
                    .unwrap_or_default();
                (id.to_string(), J::Str(addr))
            })
            .collect(),
    )
}

fn zabstate(server: &Server) -> Vec<(String, J)> {
    let metrics = server.raft().map(|r| r.metrics().borrow_watched().clone());
    match metrics {
        Some(m) if !standalone(server) => {
            let zxid = server.last_zxid();
            let addr = m
                .membership_config
                .membership()
                .get_node(&m.id)
                .map(|n| n.addr.clone())
                .unwrap_or_default();
            let state = match m.state {
                openraft::ServerState::Leader | openraft::ServerState::Follower => "broadcast",
                _ => "election",
            };
            kv(vec![
                ("myid", J::Int(m.id as i64)),
                (
                    "is_leader",
                    J::Bool(m.state == openraft::ServerState::Leader),
                ),
                ("quorum_address", J::Str(addr.clone())),
                ("election_address", J::Str(addr)),
                (
                    "client_address",
                    J::Str(server.config.client_addr().to_string()),
                ),
                ("voting", J::Bool(m.state != openraft::ServerState::Learner)),
                ("last_zxid", J::Str(format!("0x{zxid:x}"))),
                ("zab_epoch", J::Int(zxid >> 32)),
                ("zab_counter", J::Int(zxid & 0xffff_ffff)),
                ("zabstate", J::str(state)),
            ])
        }
        _ => kv(vec![("voting", J::Bool(false)), ("zabstate", J::str(""))]),
    }
}

/// zkd has no Java system properties; it shows the equivalents it has (never secrets
/// such as the super digest), sorted as ZooKeeper sorts them.
fn system_properties(server: &Server) -> Vec<(String, J)> {
    let c = &server.config;
    let env: HashMap<&str, String> = monitor::environment().into_iter().collect();
    let get = |k: &str| env.get(k).cloned().unwrap_or_default();
    let mut props = vec![
        ("file.encoding", "UTF-8".to_string()),
        ("file.separator", "/".into()),
        ("java.io.tmpdir", get("java.io.tmpdir")),
        ("jute.maxbuffer", c.max_buffer.to_string()),
        ("line.separator", "\n".into()),
        ("os.arch", get("os.arch")),
        ("os.name", get("os.name")),
        ("os.version", get("os.version")),
        ("path.separator", ":".into()),
        ("readonlymode.enabled", c.readonly_mode_enabled.to_string()),
        ("user.dir", get("user.dir")),
        ("user.home", get("user.home")),
        ("user.name", get("user.name")),
        (
            "zookeeper.4lw.commands.whitelist",
            c.four_letter_whitelist.join(","),
        ),
        (
            "zookeeper.admin.enableServer",
            c.admin_enable_server.to_string(),
        ),
        ("zookeeper.admin.serverAddress", c.admin_address.to_string()),
        ("zookeeper.admin.serverPort", c.admin_port.to_string()),
        (
            "zookeeper.extendedTypesEnabled",
            c.extended_types_enabled.to_string(),
        ),
        ("zookeeper.version", ZK_VERSION.into()),
    ];
    props.sort_by(|a, b| a.0.cmp(b.0));
    props
        .into_iter()
        .map(|(k, v)| (k.to_string(), J::Str(v)))
        .collect()
}

/// The `/commands` page: one link per primary name, sorted.
pub fn links(url: &str) -> String {
    let mut names: Vec<&str> = COMMANDS.iter().map(|n| n[0]).collect();
    names.sort_unstable();
    names
        .into_iter()
        .map(|n| format!("<a href=\"{url}/{n}\">{n}</a>\n<br/>\n"))
        .collect()
}
