//! Snapshots: the checkpoint (see [`super::checkpoint`]) as openraft sees it, and the
//! stream a leader sends to a member too far behind to catch up from the log.
//!
//! The current snapshot is always the latest checkpoint in fjall, read through a fjall
//! point-in-time view, so it stays consistent while newer checkpoints are written. It is
//! turned into a stream only when a member needs it:
//!
//! ```text
//! "ZKDSNAP1" | u32 len + meta (Raft SnapshotMeta) | u32 len + (zxid_base, last_zxid, next_session_id)
//! then records: 1 | u32 len + path | u32 len + znode      (a znode)
//!               2 | i64 session id | i32 timeout          (a session)
//!               0                                         (end)
//! ```
//!
//! The receiver spools the stream to a file under `<dataDir>/snapshots/` and installs it
//! as its new checkpoint in one atomic fjall batch.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use fjall::{PersistMode, Readable};

use super::state_machine::{APPLIED, MEMBERSHIP, TREE_META, ZXID_BASE};
use super::{decode, encode, LogId, StoredMembership, TypeConfig};
use crate::storage::{io_err, Storage};

type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;

const MAGIC: &[u8; 8] = b"ZKDSNAP1";

/// A snapshot's data: this member's checkpoint, or a stream received from the leader.
pub enum SnapshotData {
    Checkpoint {
        view: fjall::Snapshot,
        storage: Storage,
    },
    Received(File),
}

impl SnapshotData {
    /// The snapshot as a stream in a file, read from its start.
    pub async fn into_file(self) -> io::Result<File> {
        match self {
            SnapshotData::Received(file) => Ok(file),
            SnapshotData::Checkpoint { view, storage } => {
                tokio::task::spawn_blocking(move || spool(&storage, &view))
                    .await
                    .map_err(io_err)?
            }
        }
    }
}

pub struct SnapshotContents {
    pub zxid_base: i64,
    pub last_zxid: i64,
    pub next_session_id: i64,
    pub nodes: Vec<(Vec<u8>, Vec<u8>)>,
    pub sessions: Vec<(i64, i32)>,
}

pub fn spool_dir(storage: &Storage) -> PathBuf {
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

fn get_in<T: for<'a> serde::Deserialize<'a>>(
    view: &fjall::Snapshot,
    storage: &Storage,
    key: &[u8],
) -> io::Result<Option<T>> {
    match view.get(&storage.state, key).map_err(io_err)? {
        Some(b) => Ok(Some(decode(&b)?)),
        None => Ok(None),
    }
}

/// The checkpoint's meta as seen by `view`; `None` before the first checkpoint.
fn meta_in(view: &fjall::Snapshot, storage: &Storage) -> io::Result<Option<SnapshotMeta>> {
    let Some(last_log_id) = get_in::<Option<LogId>>(view, storage, APPLIED)?.flatten() else {
        return Ok(None);
    };
    Ok(Some(SnapshotMeta {
        last_log_id: Some(last_log_id),
        last_membership: get_in::<StoredMembership>(view, storage, MEMBERSHIP)?.unwrap_or_default(),
    }))
}

/// The latest checkpoint as openraft's current snapshot.
pub fn current(storage: &Storage) -> io::Result<Option<Snapshot>> {
    let view = storage.db.snapshot();
    let Some(meta) = meta_in(&view, storage)? else {
        return Ok(None);
    };
    Ok(Some(Snapshot {
        meta,
        snapshot: SnapshotData::Checkpoint {
            view,
            storage: storage.clone(),
        },
    }))
}

/// Write the checkpoint `view` shows as a snapshot stream into an unnamed spool file.
fn spool(storage: &Storage, view: &fjall::Snapshot) -> io::Result<File> {
    let meta = meta_in(view, storage)?.unwrap_or(SnapshotMeta {
        last_log_id: None,
        last_membership: StoredMembership::default(),
    });
    let (last_zxid, next_session_id): (i64, i64) =
        get_in(view, storage, TREE_META)?.unwrap_or((0, 0));
    let zxid_base: i64 = get_in(view, storage, ZXID_BASE)?.unwrap_or(0);
    let dir = spool_dir(storage);
    std::fs::create_dir_all(&dir)?;
    let index = meta.last_log_id.map_or(0, |l| l.index);
    let path = dir.join(format!("outgoing-{index:020}-{}.tmp", std::process::id()));
    let file = crate::storage::create_file(&path)?;
    // Unnamed from here on: it goes away with the last handle, even after a crash.
    std::fs::remove_file(&path)?;
    let mut w = BufWriter::new(file);
    w.write_all(MAGIC)?;
    write_chunk(&mut w, &encode(&meta)?)?;
    write_chunk(&mut w, &encode(&(zxid_base, last_zxid, next_session_id))?)?;
    let mut count = 0u64;
    for guard in view.iter(&storage.nodes) {
        let (k, v) = guard.into_inner().map_err(io_err)?;
        w.write_all(&[1])?;
        write_chunk(&mut w, &k)?;
        write_chunk(&mut w, &v)?;
        count += 1;
    }
    for guard in view.iter(&storage.sessions) {
        let (k, v) = guard.into_inner().map_err(io_err)?;
        w.write_all(&[2])?;
        w.write_all(&k)?;
        w.write_all(&v)?;
    }
    w.write_all(&[0])?;
    let mut file = w.into_inner().map_err(io_err)?;
    file.seek(SeekFrom::Start(0))?;
    tracing::info!(index, "snapshot stream of {count} znodes ready to send");
    Ok(file)
}

pub fn read(file: File) -> io::Result<SnapshotContents> {
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

/// Make a received snapshot this member's checkpoint: one atomic batch that removes
/// every node and session it lacks and writes the rest, then a sync. A crash before the
/// batch lands leaves the old checkpoint whole.
pub fn install(storage: &Storage, meta: &SnapshotMeta, c: &SnapshotContents) -> io::Result<()> {
    let mut batch = storage.db.batch();
    let keep: HashSet<&[u8]> = c.nodes.iter().map(|(p, _)| p.as_slice()).collect();
    for guard in storage.nodes.iter() {
        let key = guard.key().map_err(io_err)?;
        if !keep.contains(key.as_ref()) {
            batch.remove(&storage.nodes, key);
        }
    }
    let keep: HashSet<i64> = c.sessions.iter().map(|(id, _)| *id).collect();
    for guard in storage.sessions.iter() {
        let key = guard.key().map_err(io_err)?;
        let stale = <[u8; 8]>::try_from(key.as_ref())
            .map(|k| !keep.contains(&i64::from_be_bytes(k)))
            .unwrap_or(true);
        if stale {
            batch.remove(&storage.sessions, key);
        }
    }
    for (path, node) in &c.nodes {
        batch.insert(&storage.nodes, path.as_slice(), node.as_slice());
    }
    for (id, timeout) in &c.sessions {
        batch.insert(&storage.sessions, id.to_be_bytes(), timeout.to_be_bytes());
    }
    super::checkpoint::put_bookkeeping(
        &mut batch,
        storage,
        &meta.last_log_id,
        &meta.last_membership,
        (c.last_zxid, c.next_session_id),
        c.zxid_base,
    )?;
    batch.commit().map_err(io_err)?;
    storage.db.persist(PersistMode::SyncAll).map_err(io_err)
}
