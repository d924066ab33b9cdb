//! The on-disk layout of a data dir.
//!
//! ```text
//! <dataDir>/log/log-<first index>.wal   the Raft log: segments of checked records (wal)
//! <dataDir>/db/                         fjall: the tree's latest checkpoint and bookkeeping
//! <dataDir>/snapshots/                  snapshots received from a leader, or being sent
//! ```
//!
//! | fjall keyspace | key                    | value                                   |
//! |----------------|------------------------|-----------------------------------------|
//! | `raft`     | `vote`                     | the Raft vote (synced on every change)  |
//! | `nodes`    | znode path (UTF-8)         | `Znode::encode` (data, ACL, stat)       |
//! | `sessions` | session id (i64 BE)        | negotiated timeout (i32 BE)             |
//! | `state`    | `applied`, `membership`, `tree_meta`, `zxid_base`, `format` | the checkpoint's bookkeeping |
//!
//! Every write is one record in the log and nothing in fjall: `nodes`, `sessions` and
//! `state` change together, in one atomic batch, only when the state machine writes a
//! checkpoint (every `snapCount` entries and at a clean stop). They are then exactly the
//! tree after the log entry `applied`; a restart loads them and replays the log after it.
//!
//! Layout 1 (zkd before the streaming log) kept the log in a fjall keyspace `log` and
//! wrote the tree per entry. The log store moves such a log into segments once (see
//! [`Storage::layout_1_log`]); its tree keyspaces were already exact at `applied`, so
//! they stay as they are.

pub mod failpoint;
pub mod wal;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

/// The version of this layout, in `state/format`.
pub const LAYOUT: u32 = 2;
const LAYOUT_KEY: &[u8] = b"format";
const LAYOUT_1_LOG: &str = "log";
const LAYOUT_1_PURGED: &[u8] = b"purged";

const FJALL_CACHE_BYTES: u64 = 8 << 20;
/// fjall's smallest allowed journal budget.
const FJALL_JOURNAL_BYTES: u64 = 64 << 20;
const FJALL_MEMTABLE_BYTES: u64 = 8 << 20;

#[derive(Clone)]
pub struct Storage {
    pub dir: PathBuf,
    pub db: Database,
    /// The Raft log.
    pub log: Arc<wal::Wal>,
    pub raft: Keyspace,
    pub nodes: Keyspace,
    pub sessions: Keyspace,
    pub state: Keyspace,
}

pub fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Create (or empty) a file for reading and writing.
pub fn create_file(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

impl Storage {
    pub fn open(dir: &Path) -> io::Result<Storage> {
        std::fs::create_dir_all(dir)?;
        let db = Database::builder(dir.join("db"))
            // Checkpoints decide when to sync; fjall must not fsync on its own schedule.
            .manual_journal_persist(true)
            // fjall holds checkpoints, not the working set (the tree is in memory): reads
            // are one sorted scan at start-up, so a small cache does, and a short journal
            // keeps the replay after a crash short.
            .cache_size(FJALL_CACHE_BYTES)
            .max_journaling_size(FJALL_JOURNAL_BYTES)
            .open()
            .map_err(io_err)?;
        let ks = |name: &str| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(FJALL_MEMTABLE_BYTES)
            })
            .map_err(io_err)
        };
        let (raft, state) = (ks("raft")?, ks("state")?);
        let log = Arc::new(wal::Wal::open(&dir.join("log"))?);
        let layout = match state.get(LAYOUT_KEY).map_err(io_err)? {
            Some(v) => u32::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| io_err("bad layout version record"))?,
            ),
            None if db.keyspace_exists(LAYOUT_1_LOG) => 1,
            None => {
                // A new data dir.
                state
                    .insert(LAYOUT_KEY, LAYOUT.to_be_bytes())
                    .map_err(io_err)?;
                LAYOUT
            }
        };
        if layout > LAYOUT {
            return Err(io::Error::other(format!(
                "{}: this data dir has layout {layout}, newer than this zkd's ({LAYOUT}); \
                 run a newer zkd on it, or move the data with `zkd export` (newer zkd) and \
                 `zkd import` (this one)",
                dir.display()
            )));
        }
        Ok(Storage {
            log,
            raft,
            nodes: ks("nodes")?,
            sessions: ks("sessions")?,
            state,
            db,
            dir: dir.to_path_buf(),
        })
    }

    /// A layout-1 data dir's log keyspace and its purge point, until
    /// [`Storage::finish_upgrade`]; `None` on the current layout.
    pub fn layout_1_log(&self) -> io::Result<Option<(Keyspace, Option<Vec<u8>>)>> {
        if !self.db.keyspace_exists(LAYOUT_1_LOG) {
            return Ok(None);
        }
        let log = self
            .db
            .keyspace(LAYOUT_1_LOG, KeyspaceCreateOptions::default)
            .map_err(io_err)?;
        if self.get(&self.state, LAYOUT_KEY)?.is_some() {
            // The upgrade finished (layout 2 is recorded, durably, first); only the old
            // keyspace's deletion was cut short.
            self.db.delete_keyspace(log).map_err(io_err)?;
            return Ok(None);
        }
        Ok(Some((log, self.get(&self.raft, LAYOUT_1_PURGED)?)))
    }

    /// The layout-1 log has been copied into the wal (and synced): drop it for good.
    pub fn finish_upgrade(&self, old_log: Keyspace) -> io::Result<()> {
        self.raft.remove(LAYOUT_1_PURGED).map_err(io_err)?;
        self.state
            .insert(LAYOUT_KEY, LAYOUT.to_be_bytes())
            .map_err(io_err)?;
        self.db.persist(PersistMode::SyncAll).map_err(io_err)?;
        self.db.delete_keyspace(old_log).map_err(io_err)
    }

    /// Make every write so far durable (fdatasync of the shared journal).
    pub fn sync(&self) -> io::Result<()> {
        self.db.persist(PersistMode::SyncData).map_err(io_err)
    }

    pub fn get(&self, ks: &Keyspace, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        Ok(ks.get(key).map_err(io_err)?.map(|v| v.to_vec()))
    }

    /// Total bytes of the data dir's files (for `dirs`, `conf`, `mntr`).
    pub fn disk_space(&self) -> u64 {
        self.db.disk_space().unwrap_or(0) + self.log.disk_space()
    }
}
