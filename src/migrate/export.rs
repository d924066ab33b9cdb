//! `zkd export`: a stopped zkd's data dir out as a ZooKeeper snapshot, the way back.
//!
//! The result is a ZooKeeper dataDir holding one file, `version-2/snapshot.<hex zxid>`
//! (zxid = zkd's last applied zxid), which Apache ZooKeeper 3.8 loads as its newest
//! snapshot: it restores the tree, the ACLs, every Stat field (zkd stores the persisted
//! stat exactly as ZooKeeper does: creates-only cversion, raw ephemeralOwner for
//! containers and TTL nodes) and the live sessions with their timeouts, then continues
//! with zxid + 1. No txn log is needed next to it. Nodes are written in pre-order with
//! the root as "", and the open ACL as reference -1, as ZooKeeper writes them.
//!
//! zkd's committed-but-unapplied Raft entries would be missing from the tree, so the
//! export refuses a data dir whose log runs ahead of what was applied (start zkd once
//! and stop it cleanly; it replays its log before serving).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::BytesMut;
use jute::{perms, Acl, Field};

use crate::storage::Storage;
use crate::tree::{DataTree, NodeKind, SessionInfo, TreeConfig, Znode};

use super::zk_snapshot::SnapshotWriter;
use super::{hex, rate, Error, Progress, Result};

#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub data_dir: PathBuf,
    /// The ZooKeeper dataDir to create (its `version-2` must hold no snapshot or log).
    pub to: PathBuf,
    /// Export even if the Raft log holds entries not applied yet.
    pub force: bool,
}

#[derive(Clone, Debug)]
pub struct ExportSummary {
    pub file: PathBuf,
    pub znodes: u64,
    pub sessions: usize,
    pub acl_lists: usize,
    pub last_zxid: i64,
    pub ttl_nodes: u64,
    pub containers: u64,
    pub seconds: f64,
}

impl ExportSummary {
    pub fn report(&self) -> String {
        let mut s = format!(
            "exported {} znodes, {} sessions, {} ACL lists, zxid {} to {} in {:.1} s\n",
            self.znodes,
            self.sessions,
            self.acl_lists,
            hex(self.last_zxid),
            self.file.display(),
            self.seconds
        );
        if self.ttl_nodes > 0 {
            s += &format!(
                "  {} TTL node(s): run ZooKeeper with -Dzookeeper.extendedTypesEnabled=true, \
                 or it treats them as ephemerals of a dead session and deletes them on start\n",
                self.ttl_nodes
            );
        }
        if self.containers > 0 {
            s += &format!("  {} container node(s)\n", self.containers);
        }
        let dir = self
            .file
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        s += &format!(
            "  start Apache ZooKeeper with dataDir={} (and no other dataLogDir content)\n",
            dir.display()
        );
        s
    }
}

fn acl_key(list: &[Acl]) -> Vec<u8> {
    let mut b = BytesMut::new();
    for a in list {
        a.write_field(&mut b);
    }
    b.to_vec()
}

fn is_open_acl(list: &[Acl]) -> bool {
    matches!(list, [a] if a.perms == perms::ALL && jute::ids::is_anyone(&a.id))
}

/// Load the tree a stopped zkd would serve.
fn load(opts: &ExportOptions) -> Result<DataTree> {
    let dir = &opts.data_dir;
    if !dir.join("db").is_dir() {
        return Err(Error::new(format!(
            "{}: no zkd database here",
            dir.display()
        )));
    }
    let storage = Storage::open(dir).map_err(|e| {
        Error::new(format!(
            "{}: cannot open the zkd database ({e}); is zkd still running on it?",
            dir.display()
        ))
    })?;
    let meta = crate::consensus::state_machine::persisted_tree_meta(&storage)
        .map_err(|e| Error::io(dir, e))?;
    let Some((last_zxid, next_session_id, applied)) = meta else {
        return Err(Error::new(format!(
            "{}: this zkd data dir has no tree yet",
            dir.display()
        )));
    };
    let last_index = storage.log.last_index();
    if let Some(last) = last_index {
        if applied.is_none_or(|a| last > a) && !opts.force {
            return Err(Error::new(format!(
                "{}: the Raft log runs to index {last} but the tree reflects index {}: start \
                 zkd on it once and stop it cleanly (it applies its log before serving), or \
                 pass --force to export the applied state only",
                dir.display(),
                applied.map_or("none".to_string(), |a| a.to_string())
            )));
        }
    }
    let mut nodes = Vec::new();
    for guard in storage.nodes.iter() {
        let (k, v) = guard
            .into_inner()
            .map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
        let path = String::from_utf8(k.to_vec())
            .map_err(|_| Error::new(format!("{}: a node path is not UTF-8", dir.display())))?;
        let node = Znode::decode(&v).map_err(|e| Error::new(format!("{path}: {e}")))?;
        nodes.push((path, node));
    }
    let mut sessions = Vec::new();
    for guard in storage.sessions.iter() {
        let (k, v) = guard
            .into_inner()
            .map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
        let (Ok(k), Ok(v)) = (
            <[u8; 8]>::try_from(k.as_ref()),
            <[u8; 4]>::try_from(v.as_ref()),
        ) else {
            return Err(Error::new(format!("{}: bad session record", dir.display())));
        };
        sessions.push((
            i64::from_be_bytes(k),
            SessionInfo {
                timeout_ms: i32::from_be_bytes(v),
            },
        ));
    }
    Ok(DataTree::from_parts(
        TreeConfig::default(),
        nodes.into_iter(),
        sessions.into_iter(),
        last_zxid,
        next_session_id,
    ))
}

/// Refuse to mix an export with an existing ZooKeeper database.
fn prepare_target(to: &Path) -> Result<PathBuf> {
    let v2 = to.join("version-2");
    std::fs::create_dir_all(&v2).map_err(|e| Error::io(&v2, e))?;
    let entries = std::fs::read_dir(&v2).map_err(|e| Error::io(&v2, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("snapshot.") || name.starts_with("log.") {
            return Err(Error::new(format!(
                "{} already holds ZooKeeper files ({name}); export into an empty directory",
                v2.display()
            )));
        }
    }
    Ok(v2)
}

/// What [`write_snapshot`] wrote.
pub struct Written {
    pub znodes: u64,
    pub sessions: usize,
    pub acl_lists: usize,
    pub ttl_nodes: u64,
    pub containers: u64,
}

/// `tree` as ZooKeeper's snapshot stream into `out`: sessions, the ACL cache (one
/// reference per distinct list, the open ACL as -1), the nodes in pre-order. With
/// `with_zxid` the digest and lastProcessedZxid trailers follow (the AdminServer's
/// snapshot: [`SnapshotWriter::finish_with_zxid`]). `progress(written, total)` is called
/// every 65,536 nodes.
pub fn write_snapshot<W: Write>(
    tree: &DataTree,
    out: W,
    with_zxid: bool,
    mut progress: impl FnMut(usize, usize),
) -> std::io::Result<(W, Written)> {
    let mut refs: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut acls: Vec<(i64, Vec<Acl>)> = Vec::new();
    for (_, node) in tree.iter_nodes() {
        if is_open_acl(&node.acl) {
            continue;
        }
        let next = acls.len() as i64 + 1;
        if let std::collections::hash_map::Entry::Vacant(v) = refs.entry(acl_key(&node.acl)) {
            v.insert(next);
            acls.push((next, node.acl.as_ref().clone()));
        }
    }
    let mut sessions: Vec<(i64, i32)> = tree.sessions().map(|(id, s)| (id, s.timeout_ms)).collect();
    sessions.sort_unstable();
    let acl_refs: Vec<(i64, &[Acl])> = acls.iter().map(|(r, l)| (*r, l.as_slice())).collect();
    let mut w = SnapshotWriter::start(out, &sessions, &acl_refs)?;
    let (mut ttl_nodes, mut containers) = (0u64, 0u64);
    let total = tree.node_count();
    for (i, (path, node)) in tree.iter_nodes().enumerate() {
        let acl_ref = if is_open_acl(&node.acl) {
            -1
        } else {
            refs.get(&acl_key(&node.acl)).copied().unwrap_or(-1)
        };
        match node.kind() {
            NodeKind::Ttl(_) => ttl_nodes += 1,
            NodeKind::Container => containers += 1,
            _ => {}
        }
        w.node(&path, node.data.as_deref(), acl_ref, &node.stat)?;
        if i.is_multiple_of(65536) {
            progress(i, total);
        }
    }
    let (out, znodes) = if with_zxid {
        w.finish_with_zxid(tree.last_zxid())?
    } else {
        w.finish()?
    };
    Ok((
        out,
        Written {
            znodes,
            sessions: sessions.len(),
            acl_lists: acls.len(),
            ttl_nodes,
            containers,
        },
    ))
}

pub fn run(opts: &ExportOptions) -> Result<ExportSummary> {
    let started = Instant::now();
    let mut progress = Progress::new();
    progress.update(true, || format!("loading {}", opts.data_dir.display()));
    let tree = load(opts)?;
    let v2 = prepare_target(&opts.to)?;

    let last_zxid = tree.last_zxid();
    let file = v2.join(format!("snapshot.{:x}", last_zxid as u64));
    let tmp = v2.join(format!(".snapshot.{:x}.tmp", last_zxid as u64));
    let out =
        BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
    let io = |e: std::io::Error| Error::io(&tmp, e);
    let (out, written) = write_snapshot(&tree, out, false, |i, total| {
        progress.update(false, || {
            format!(
                "writing znodes: {i} of {total}, {} znodes/s",
                rate(i as u64, started.elapsed())
            )
        });
    })
    .map_err(io)?;
    let f = out
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, &file).map_err(|e| Error::io(&file, e))?;
    if let Ok(d) = File::open(&v2) {
        let _ = d.sync_all();
    }
    progress.finish();
    let _ = std::io::stderr().flush();
    Ok(ExportSummary {
        file,
        znodes: written.znodes,
        sessions: written.sessions,
        acl_lists: written.acl_lists,
        last_zxid,
        ttl_nodes: written.ttl_nodes,
        containers: written.containers,
        seconds: started.elapsed().as_secs_f64(),
    })
}
