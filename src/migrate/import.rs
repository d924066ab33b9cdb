//! `zkd import`: a ZooKeeper dataDir in, a zkd data dir out.
//!
//! Steps, each of them what ZooKeeper's own restart does unless said otherwise:
//! 1. Pick the newest snapshot that passes `isValidSnapshot` and whose seals check,
//!    falling back to older ones (ZooKeeper tries up to 100).
//! 2. Replay the log files from the one that covers `snapshot zxid + 1` onwards
//!    ([`super::replay`]).
//! 3. Stop at the first damaged log entry. Unlike ZooKeeper (which quietly treats a
//!    partial entry as the end), the damage is reported with file and byte offset and
//!    nothing is written unless `--allow-damaged-tail` accepts losing what follows.
//! 4. Drop ephemerals of sessions that no longer exist, at the last zxid.
//! 5. Write the nodes and sessions into a *fresh* zkd data dir and seed zkd's zxid base
//!    with the last zxid, so zkd's zxids continue above ZooKeeper's and clients that
//!    reconnect with their last seen zxid are accepted.
//! 6. Read the written data dir back and compare node kinds (persistent, ephemeral,
//!    container, TTL) with the source: kinds are invisible through the client protocol,
//!    so `zkd verify` cannot check them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::storage::Storage;
use crate::tree::{NodeKind, Znode};

use super::replay::{SourceConfig, ZkKind, ZkNode, ZkTree};
use super::zk_snapshot::{self, ZkSnapshot};
use super::zk_txnlog::{self, Damage, Next, TxnLogFile};
use super::{hex, rate, zk_files, Error, Progress, Result};

/// What `zkd import` was asked to do.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// ZooKeeper's dataDir, or its `version-2` folder.
    pub from: PathBuf,
    /// ZooKeeper's dataLogDir when the txn logs live apart from the snapshots.
    pub log_dir: Option<PathBuf>,
    /// The zkd data dir to create.
    pub data_dir: PathBuf,
    pub source: SourceConfig,
    /// Import up to the last good txn when a log is damaged, instead of failing.
    pub allow_damaged_tail: bool,
}

/// Node counts by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub persistent: u64,
    pub ephemeral: u64,
    pub container: u64,
    pub ttl: u64,
}

impl std::fmt::Display for KindCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "persistent {}, ephemeral {}, container {}, ttl {}",
            self.persistent, self.ephemeral, self.container, self.ttl
        )
    }
}

/// What an import did.
#[derive(Clone, Debug)]
pub struct ImportSummary {
    pub znodes: u64,
    pub kinds: KindCounts,
    pub sessions: u64,
    pub last_zxid: i64,
    pub snapshot: Option<PathBuf>,
    pub log_files: usize,
    pub txns: u64,
    pub tolerated: u64,
    pub orphans_dropped: usize,
    pub damage: Option<Damage>,
    /// The tree digest ZooKeeper recorded in the snapshot, and zkd's of the same tree.
    pub digest: Option<DigestCheck>,
    pub seconds: f64,
}

/// ZooKeeper writes the tree digest at a zxid into its snapshots (3.6+, `digest.enabled`);
/// the import computes its own when the replay reaches that zxid, as ZooKeeper does when
/// it loads one. Equal numbers say the imported tree is the one ZooKeeper had, node for
/// node (data and every stat field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestCheck {
    pub zxid: i64,
    pub zookeeper: i64,
    pub zkd: i64,
}

/// Failure of an import because of a damaged log (the caller prints it and exits with
/// a distinct status).
#[derive(Debug)]
pub enum ImportError {
    Damaged {
        damage: Damage,
        last_good_zxid: i64,
        unread_files: usize,
    },
    Other(Error),
}

impl From<Error> for ImportError {
    fn from(e: Error) -> Self {
        ImportError::Other(e)
    }
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Damaged {
                damage,
                last_good_zxid,
                unread_files,
            } => {
                write!(
                    f,
                    "damaged txn log: {damage}\n  the last good txn is zxid {}",
                    hex(*last_good_zxid)
                )?;
                if *unread_files > 0 {
                    write!(f, "; {unread_files} later log file(s) were not read")?;
                }
                write!(
                    f,
                    "\n  nothing was written. Re-run with --allow-damaged-tail to import up to \
                     zxid {} and drop the rest.",
                    hex(*last_good_zxid)
                )
            }
            ImportError::Other(e) => e.fmt(f),
        }
    }
}

/// `dir/version-2` if it exists, else `dir`.
fn version2(dir: &Path) -> PathBuf {
    let v2 = dir.join("version-2");
    if v2.is_dir() {
        v2
    } else {
        dir.to_path_buf()
    }
}

/// The newest usable snapshot (ZooKeeper's `FileSnap.deserialize` order).
fn load_snapshot(dir: &Path, progress: &mut Progress) -> Result<Option<(PathBuf, ZkSnapshot)>> {
    let mut files = zk_files(dir, "snapshot")?;
    files.reverse();
    let mut tried = 0;
    for (_, path) in files {
        match zk_snapshot::is_valid_snapshot(&path) {
            Ok(true) => {}
            Ok(false) => {
                progress.note(format!(
                    "skipping {}: not a complete snapshot",
                    path.display()
                ));
                continue;
            }
            Err(e) => {
                progress.note(format!("skipping {}: {e}", path.display()));
                continue;
            }
        }
        tried += 1;
        if tried > 100 {
            break;
        }
        progress.update(true, || format!("reading snapshot {}", path.display()));
        match zk_snapshot::read_snapshot(&path) {
            Ok(snap) => return Ok(Some((path, snap))),
            Err(e) => progress.note(format!("snapshot unusable, trying an older one: {e}")),
        }
    }
    Ok(None)
}

/// Run an import. Progress goes to stderr; the summary is returned.
pub fn run(opts: &ImportOptions) -> std::result::Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let mut progress = Progress::new();
    let snap_dir = version2(&opts.from);
    let log_dir = version2(opts.log_dir.as_deref().unwrap_or(&opts.from));
    if !snap_dir.is_dir() {
        return Err(Error::new(format!("{}: not a directory", snap_dir.display())).into());
    }
    check_target(&opts.data_dir)?;

    // 1. snapshot
    let mut expected_digest = None;
    let (snapshot, mut tree) = match load_snapshot(&snap_dir, &mut progress)? {
        Some((path, snap)) => {
            let n = snap.nodes.len();
            let zxid = snap.zxid;
            // Version 2 is the CRC-32 digest zkd computes; older ones are not comparable.
            expected_digest = snap
                .digest
                .filter(|&(_, version, _)| version == crate::tree::DIGEST_VERSION)
                .map(|(at, _, digest)| (at, digest));
            let tree = ZkTree::from_snapshot(snap, opts.source)
                .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
            progress.note(format!(
                "snapshot {} (zxid {}): {n} znodes, {} sessions, loaded in {:.1} s",
                path.display(),
                hex(zxid),
                tree.sessions.len(),
                started.elapsed().as_secs_f64()
            ));
            (Some(path), tree)
        }
        None => {
            progress.note(format!(
                "no usable snapshot in {}: replaying the logs onto an empty tree",
                snap_dir.display()
            ));
            (None, ZkTree::initial(opts.source))
        }
    };
    let snap_zxid = tree.last_zxid;
    let mut digest = None;
    // A snapshot whose digest is at its own zxid was written with nothing in flight.
    if let Some((at, zookeeper)) = expected_digest.filter(|&(at, _)| at == snap_zxid) {
        digest = Some(DigestCheck {
            zxid: at,
            zookeeper,
            zkd: tree.digest(),
        });
    }

    // 2. logs
    let logs = zk_txnlog::files_after(&zk_files(&log_dir, "log")?, snap_zxid);
    let total_bytes: u64 = logs
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut bytes_done = 0u64;
    let mut damage = None;
    let mut unread_files = 0;
    let mut last_good = snap_zxid;
    for (i, (_, path)) in logs.iter().enumerate() {
        let mut file = TxnLogFile::open(path)?;
        loop {
            match file.next_entry() {
                Next::Txn(t) => {
                    if t.header.zxid <= snap_zxid {
                        continue;
                    }
                    last_good = t.header.zxid;
                    tree.apply(&t);
                    if let Some((at, zookeeper)) =
                        expected_digest.filter(|&(at, _)| at == last_good)
                    {
                        digest = Some(DigestCheck {
                            zxid: at,
                            zookeeper,
                            zkd: tree.digest(),
                        });
                    }
                    let txns = tree.stats.txns;
                    progress.update(false, || {
                        format!(
                            "log {}/{} {}: {txns} txns, {} of {} MB, {} txns/s",
                            i + 1,
                            logs.len(),
                            path.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                            (bytes_done + file.position()) >> 20,
                            total_bytes >> 20,
                            rate(txns, started.elapsed())
                        )
                    });
                }
                Next::End => break,
                Next::Damaged(d) => {
                    damage = Some(d);
                    break;
                }
            }
        }
        bytes_done += file.len();
        if damage.is_some() {
            unread_files = logs.len() - i - 1;
            break;
        }
    }
    progress.finish();
    if let Some(d) = &damage {
        if !opts.allow_damaged_tail {
            return Err(ImportError::Damaged {
                damage: d.clone(),
                last_good_zxid: last_good,
                unread_files,
            });
        }
        progress.note(format!(
            "warning: damaged txn log: {d}; importing up to zxid {} (--allow-damaged-tail){}",
            hex(last_good),
            if unread_files > 0 {
                format!(", {unread_files} later log file(s) not read")
            } else {
                String::new()
            }
        ));
    }
    for a in &tree.stats.anomalies {
        progress.note(format!("warning: {a}"));
    }
    if let Some(d) = digest.filter(|d| d.zookeeper != d.zkd) {
        progress.note(format!(
            "warning: the tree digest at zxid {} is {} here but {} in ZooKeeper's snapshot: \
             the imported tree differs from the one ZooKeeper had (compare with `zkd verify`)",
            hex(d.zxid),
            d.zkd,
            d.zookeeper
        ));
    }
    if tree.stats.out_of_order > 0 {
        progress.note(format!(
            "warning: {} txns had a lower zxid than the one before them",
            tree.stats.out_of_order
        ));
    }

    // 4. sessions that no longer exist
    check_orphans(&tree)?;
    let orphans_dropped = tree.drop_orphan_ephemerals();
    if orphans_dropped > 0 {
        progress.note(format!(
            "dropped {orphans_dropped} ephemerals of sessions that no longer exist (as ZooKeeper does on start)"
        ));
    }

    progress.note(format!(
        "replayed {} txns from {} log file(s); {:.1} s so far",
        tree.stats.txns,
        logs.len(),
        started.elapsed().as_secs_f64()
    ));

    // 5. write, 6. read back. A failure leaves no half-written database behind
    // (check_target made sure there was none before), so a re-run starts clean.
    let (znodes, kinds) = match write_and_check(&tree, &opts.data_dir, &mut progress) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(opts.data_dir.join("db"));
            return Err(e.into());
        }
    };
    progress.finish();
    Ok(ImportSummary {
        znodes,
        kinds,
        sessions: tree.sessions.len() as u64,
        last_zxid: tree.last_zxid,
        snapshot,
        log_files: logs.len(),
        txns: tree.stats.txns,
        tolerated: tree.stats.tolerated,
        orphans_dropped,
        damage,
        digest,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn write_and_check(
    tree: &ZkTree,
    dir: &Path,
    progress: &mut Progress,
) -> Result<(u64, KindCounts)> {
    let t = Instant::now();
    let (znodes, kinds) = write_data_dir(tree, dir, progress)?;
    progress.note(format!(
        "wrote {znodes} znodes to {} in {:.1} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    ));
    let t = Instant::now();
    let written = read_back_kinds(dir)?;
    progress.note(format!(
        "read back and checked node kinds in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    if written != kinds {
        return Err(Error::new(format!(
            "node kinds differ after writing: source {kinds}, zkd data dir {written}"
        )));
    }
    Ok((znodes, kinds))
}

/// The target must not already hold a zkd database (import never merges).
fn check_target(dir: &Path) -> Result<()> {
    let db = dir.join("db");
    let non_empty = std::fs::read_dir(&db)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty {
        return Err(Error::new(format!(
            "{} already holds a zkd database; import only writes a fresh data dir",
            dir.display()
        )));
    }
    Ok(())
}

/// Ephemerals of unknown sessions whose owner looks like a TTL encoding mean the
/// source's type settings were probably not given: deleting them would lose data.
fn check_orphans(tree: &ZkTree) -> Result<()> {
    let cfg = tree.config();
    for (owner, n) in tree.orphan_owners() {
        let top = (owner as u64) >> 56;
        let hint = if top == 0xFF && !cfg.extended_types {
            Some("--extended-types (zookeeper.extendedTypesEnabled=true)")
        } else if owner < 0 && cfg.extended_types && !cfg.emulate_353_ttl && top != 0xFF {
            Some("--emulate-353-ttl (zookeeper.emulate353TTLNodes=true)")
        } else {
            None
        };
        if let Some(flag) = hint {
            return Err(Error::new(format!(
                "{n} node(s) have ephemeralOwner {} with no such session: they look like TTL \
                 nodes. If the source ran with it, pass {flag}; otherwise ZooKeeper itself \
                 would delete them on its next start.",
                hex(owner)
            )));
        }
    }
    Ok(())
}

fn count_kind(k: &mut KindCounts, kind: NodeKind) {
    match kind {
        NodeKind::Persistent => k.persistent += 1,
        NodeKind::Ephemeral(_) => k.ephemeral += 1,
        NodeKind::Container => k.container += 1,
        NodeKind::Ttl(_) => k.ttl += 1,
    }
}

/// One node of a replayed ZooKeeper tree as zkd stores it (the ACL list behind its
/// reference, shared through `acl_cache`; the owner in zkd's encoding), and its kind as
/// the source classifies it.
pub(super) fn to_znode(
    tree: &ZkTree,
    path: &str,
    node: &ZkNode,
    acl_cache: &mut HashMap<i64, Arc<Vec<jute::Acl>>>,
) -> Result<(Znode, ZkKind)> {
    let acl = match acl_cache.get(&node.acl_ref) {
        Some(a) => Arc::clone(a),
        None => {
            let list = tree.acl(node.acl_ref).ok_or_else(|| {
                Error::new(format!(
                    "{path}: ACL reference {} is not in the snapshot's ACL cache (ZooKeeper \
                     could not serve this node's ACL either)",
                    node.acl_ref
                ))
            })?;
            let a = Arc::new(list);
            acl_cache.insert(node.acl_ref, Arc::clone(&a));
            a
        }
    };
    let cfg = tree.config();
    let kind = cfg
        .kind(node.stat.ephemeral_owner)
        .map_err(|e| Error::new(format!("{path}: {e}")))?;
    let mut stat = node.stat.clone();
    stat.ephemeral_owner = cfg
        .zkd_owner(stat.ephemeral_owner)
        .map_err(|e| Error::new(format!("{path}: {e}")))?;
    let znode = Znode::new(crate::tree::data_of(node.data.clone()), acl, stat);
    Ok((znode, kind))
}

/// Write the tree into a fresh zkd data dir; returns the node count and the kinds (as
/// the source classifies them).
fn write_data_dir(tree: &ZkTree, dir: &Path, progress: &mut Progress) -> Result<(u64, KindCounts)> {
    let storage = Storage::open(dir).map_err(|e| Error::io(dir, e))?;
    let mut kinds = KindCounts::default();
    let mut n = 0u64;
    let total = tree.node_count() as u64;
    let started = Instant::now();
    let mut acl_cache = HashMap::new();
    // Bulk ingestion writes tables directly (no journal, no memtable): several times
    // faster than batches for a fresh keyspace. It needs strictly ascending keys, and
    // the paths are unique, so sorting them is enough.
    let mut nodes: Vec<(String, &ZkNode)> = tree.iter_preorder().collect();
    nodes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let werr = |e: fjall::Error| Error::new(format!("writing {}: {e}", dir.display()));
    let mut ingest = storage.nodes.start_ingestion().map_err(werr)?;
    for (path, node) in &nodes {
        let (znode, kind) = to_znode(tree, path, node, &mut acl_cache)?;
        match kind {
            ZkKind::Persistent => kinds.persistent += 1,
            ZkKind::Ephemeral(_) => kinds.ephemeral += 1,
            ZkKind::Container => kinds.container += 1,
            ZkKind::Ttl(_) => kinds.ttl += 1,
        }
        ingest
            .write(path.as_bytes(), znode.encode().to_vec())
            .map_err(werr)?;
        n += 1;
        if n.is_multiple_of(65536) {
            progress.update(false, || {
                format!(
                    "writing znodes: {n} of {total}, {} znodes/s",
                    rate(n, started.elapsed())
                )
            });
        }
    }
    ingest.finish().map_err(werr)?;
    drop(nodes);
    let mut batch = storage.db.batch();
    let mut sessions: Vec<(&i64, &i32)> = tree.sessions.iter().collect();
    sessions.sort_unstable();
    for (id, timeout) in sessions {
        batch.insert(&storage.sessions, id.to_be_bytes(), timeout.to_be_bytes());
    }
    batch
        .commit()
        .map_err(|e| Error::new(format!("writing {}: {e}", dir.display())))?;
    // next_session_id 0: zkd seeds it from the first new session's time, as ZooKeeper
    // does on every start, and skips ids already in the table.
    crate::consensus::state_machine::seed_imported_state(&storage, tree.last_zxid, 0)
        .map_err(|e| Error::io(dir, e))?;
    Ok((n, kinds))
}

/// Node kinds as zkd will see them, decoded from what was written.
fn read_back_kinds(dir: &Path) -> Result<KindCounts> {
    let storage = Storage::open(dir).map_err(|e| Error::io(dir, e))?;
    let mut k = KindCounts::default();
    for guard in storage.nodes.iter() {
        let (_, v) = guard
            .into_inner()
            .map_err(|e| Error::new(format!("reading back {}: {e}", dir.display())))?;
        let node = Znode::decode(&v)
            .map_err(|e| Error::new(format!("reading back {}: {e}", dir.display())))?;
        count_kind(&mut k, node.kind());
    }
    Ok(k)
}

impl ImportSummary {
    /// The closing report (stdout).
    pub fn report(&self) -> String {
        let mut s = format!(
            "imported {} znodes ({}), {} sessions, last zxid {} in {:.1} s\n",
            self.znodes,
            self.kinds,
            self.sessions,
            hex(self.last_zxid),
            self.seconds
        );
        s += &format!(
            "  source: {}, {} log file(s), {} txns replayed",
            self.snapshot
                .as_ref()
                .map_or("no snapshot".to_string(), |p| p.display().to_string()),
            self.log_files,
            self.txns
        );
        if self.tolerated > 0 {
            s += &format!(
                ", {} NoNode/NodeExists tolerated (fuzzy snapshot)",
                self.tolerated
            );
        }
        s += "\n  node kinds: the written data dir matches the source\n";
        match &self.digest {
            Some(d) if d.zookeeper == d.zkd => {
                s += &format!(
                    "  tree digest at zxid {}: {}, equal to the one in ZooKeeper's snapshot\n",
                    hex(d.zxid),
                    d.zkd
                );
            }
            Some(d) => {
                s += &format!(
                    "  tree digest at zxid {}: {} here, {} in ZooKeeper's snapshot: DIFFERENT\n",
                    hex(d.zxid),
                    d.zkd,
                    d.zookeeper
                );
            }
            None => s += "  tree digest: none to compare (no version-2 digest in the snapshot)\n",
        }
        if self.orphans_dropped > 0 {
            s += &format!(
                "  {} ephemerals of sessions that no longer exist were dropped\n",
                self.orphans_dropped
            );
        }
        if let Some(d) = &self.damage {
            s += &format!("  stopped early at damaged log: {d}\n");
        }
        s += &format!(
            "  zkd continues with zxids above {}; start it with `zkd serve` on this data dir\n",
            hex(self.last_zxid)
        );
        s
    }
}

#[cfg(test)]
mod tests;
