//! State snapshots: what lets the Raft log be purged, and (in an ensemble) what a new
//! or lagging member installs instead of replaying the whole log.
//!
//! A snapshot is built from a fjall point-in-time view, so apply keeps running while it
//! is written. It is a file under `<dataDir>/snapshots/`:
//!
//! ```text
//! "ZKDSNAP1" | u32 len + meta (Raft SnapshotMeta) | u32 len + (zxid_base, last_zxid, next_session_id)
//! then records: 1 | u32 len + path | u32 len + znode      (a znode)
//!               2 | i64 session id | i32 timeout          (a session)
//!               0                                         (end)
//! ```

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use fjall::Readable;
use openraft::storage::RaftSnapshotBuilder;

use super::state_machine::{APPLIED, MEMBERSHIP, TREE_META, ZXID_BASE};
use super::{decode, encode, LogId, StoredMembership, TypeConfig};
use crate::storage::{io_err, Storage};

pub type SnapshotData = File;
type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;

const MAGIC: &[u8; 8] = b"ZKDSNAP1";

pub struct SnapshotContents {
    pub zxid_base: i64,
    pub last_zxid: i64,
    pub next_session_id: i64,
    pub nodes: Vec<(Vec<u8>, Vec<u8>)>,
    pub sessions: Vec<(i64, i32)>,
}

fn dir(storage: &Storage) -> PathBuf {
    storage.dir.join("snapshots")
}

fn write_chunk(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(io_err)?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(bytes)
}

fn read_chunk(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as u64;
    let mut out = Vec::new();
    r.take(len).read_to_end(&mut out)?;
    if out.len() as u64 != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "truncated snapshot",
        ));
    }
    Ok(out)
}

fn read_header(r: &mut impl Read) -> io::Result<(SnapshotMeta, (i64, i64, i64))> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a zkd snapshot",
        ));
    }
    let meta = decode(&read_chunk(r)?)?;
    let tree_meta = decode(&read_chunk(r)?)?;
    Ok((meta, tree_meta))
}

pub struct SnapshotBuilder {
    storage: Storage,
}

impl SnapshotBuilder {
    pub fn new(storage: Storage) -> Self {
        SnapshotBuilder { storage }
    }

    fn build(&self) -> io::Result<Snapshot> {
        let st = &self.storage;
        // The view must be durable before the log it replaces can be purged.
        st.sync()?;
        let view = st.db.snapshot();
        let get = |key: &[u8]| -> io::Result<Option<Vec<u8>>> {
            Ok(view
                .get(&st.state, key)
                .map_err(io_err)?
                .map(|v| v.to_vec()))
        };
        let last_log_id: Option<LogId> = match get(APPLIED)? {
            Some(b) => decode(&b)?,
            None => None,
        };
        let last_membership: StoredMembership = match get(MEMBERSHIP)? {
            Some(b) => decode(&b)?,
            None => StoredMembership::default(),
        };
        let (last_zxid, next_session_id): (i64, i64) = match get(TREE_META)? {
            Some(b) => decode(&b)?,
            None => (0, 0),
        };
        let zxid_base: i64 = match get(ZXID_BASE)? {
            Some(b) => decode(&b)?,
            None => 0,
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
        };
        let index = last_log_id.map(|l| l.index).unwrap_or(0);
        std::fs::create_dir_all(dir(st))?;
        let tmp = dir(st).join(format!("snapshot-{index:020}.tmp"));
        let mut w = BufWriter::new(File::create(&tmp)?);
        w.write_all(MAGIC)?;
        write_chunk(&mut w, &encode(&meta)?)?;
        write_chunk(&mut w, &encode(&(zxid_base, last_zxid, next_session_id))?)?;
        for guard in view.iter(&st.nodes) {
            let (k, v) = guard.into_inner().map_err(io_err)?;
            w.write_all(&[1])?;
            write_chunk(&mut w, &k)?;
            write_chunk(&mut w, &v)?;
        }
        for guard in view.iter(&st.sessions) {
            let (k, v) = guard.into_inner().map_err(io_err)?;
            w.write_all(&[2])?;
            w.write_all(&k)?;
            w.write_all(&v)?;
        }
        w.write_all(&[0])?;
        let file = w.into_inner().map_err(io_err)?;
        file.sync_all()?;
        let path = dir(st).join(format!("snapshot-{index:020}"));
        std::fs::rename(&tmp, &path)?;
        remove_older(st, &path)?;
        let mut file = File::open(&path)?;
        file.seek(SeekFrom::Start(0))?;
        tracing::info!(
            index,
            last_zxid = format_args!("{last_zxid:#x}"),
            "snapshot written"
        );
        Ok(Snapshot {
            meta,
            snapshot: file,
        })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let builder = SnapshotBuilder::new(self.storage.clone());
        let started = std::time::Instant::now();
        let built = tokio::task::spawn_blocking(move || builder.build())
            .await
            .map_err(io_err)?;
        // ZooKeeper's snapshottime (mntr) / snapshot_error_count
        match &built {
            Ok(_) => crate::admin::metrics::SNAPSHOT_TIME.time(started.elapsed()),
            Err(e) => {
                tracing::warn!("snapshot failed: {e}");
                crate::admin::metrics::SNAPSHOT_ERROR_COUNT.inc();
            }
        }
        built
    }
}

fn remove_older(storage: &Storage, keep: &std::path::Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir(storage))?.flatten() {
        let path = entry.path();
        if path != keep {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

/// The newest snapshot on disk, opened for reading from its start.
pub fn current(storage: &Storage) -> io::Result<Option<Snapshot>> {
    let Ok(entries) = std::fs::read_dir(dir(storage)) else {
        return Ok(None);
    };
    let newest = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snapshot-") && !n.ends_with(".tmp"))
        })
        .max();
    let Some(path) = newest else {
        return Ok(None);
    };
    let mut file = File::open(&path)?;
    let (meta, _) = read_header(&mut BufReader::new(&mut file))?;
    file.seek(SeekFrom::Start(0))?;
    Ok(Some(Snapshot {
        meta,
        snapshot: file,
    }))
}

pub fn read(file: SnapshotData) -> io::Result<SnapshotContents> {
    let mut r = BufReader::new(file);
    let (_, (zxid_base, last_zxid, next_session_id)) = read_header(&mut r)?;
    let mut out = SnapshotContents {
        zxid_base,
        last_zxid,
        next_session_id,
        nodes: Vec::new(),
        sessions: Vec::new(),
    };
    loop {
        let mut tag = [0u8; 1];
        r.read_exact(&mut tag)?;
        match tag[0] {
            0 => return Ok(out),
            1 => {
                let path = read_chunk(&mut r)?;
                let node = read_chunk(&mut r)?;
                out.nodes.push((path, node));
            }
            2 => {
                let mut buf = [0u8; 12];
                r.read_exact(&mut buf)?;
                let id = i64::from_be_bytes(buf[..8].try_into().map_err(io_err)?);
                let timeout = i32::from_be_bytes(buf[8..].try_into().map_err(io_err)?);
                out.sessions.push((id, timeout));
            }
            t => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad snapshot record tag {t}"),
                ))
            }
        }
    }
}

/// Replace the persisted state machine with a snapshot's contents, durably.
pub fn replace_state(
    storage: &Storage,
    meta: &SnapshotMeta,
    c: &SnapshotContents,
) -> io::Result<()> {
    storage.nodes.clear().map_err(io_err)?;
    storage.sessions.clear().map_err(io_err)?;
    let mut batch = storage.db.batch();
    for (path, node) in &c.nodes {
        batch.insert(&storage.nodes, path.as_slice(), node.as_slice());
    }
    for (id, timeout) in &c.sessions {
        batch.insert(&storage.sessions, id.to_be_bytes(), timeout.to_be_bytes());
    }
    batch.insert(&storage.state, APPLIED, encode(&meta.last_log_id)?);
    batch.insert(&storage.state, MEMBERSHIP, encode(&meta.last_membership)?);
    batch.insert(
        &storage.state,
        TREE_META,
        encode(&(c.last_zxid, c.next_session_id))?,
    );
    batch.insert(&storage.state, ZXID_BASE, encode(&c.zxid_base)?);
    batch.commit().map_err(io_err)?;
    storage.sync()
}

/// Keep an installed snapshot as the current one (so it can be served onwards).
pub fn save_current(storage: &Storage, meta: &SnapshotMeta) -> io::Result<()> {
    SnapshotBuilder::new(storage.clone()).build().map(|s| {
        debug_assert_eq!(s.meta.last_log_id, meta.last_log_id);
    })
}
