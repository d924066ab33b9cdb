//! The on-disk layout: one fjall database per server, one keyspace per kind of record.
//!
//! | keyspace   | key                    | value                                   |
//! |------------|------------------------|-----------------------------------------|
//! | `log`      | Raft log index (u64 BE)| one encoded Raft log entry              |
//! | `raft`     | `vote`, `committed`, `purged` | encoded Raft bookkeeping         |
//! | `nodes`    | znode path (UTF-8)     | `Znode::encode` (data, ACL, stat)       |
//! | `sessions` | session id (i64 BE)    | negotiated timeout (i32 BE)             |
//! | `state`    | `applied`, `membership`, `next_session`, `zxid_base` | state-machine bookkeeping |
//!
//! All keyspaces share fjall's single journal, so one `persist` makes everything written
//! before it durable: that is what lets the log store group-commit many Raft entries per
//! fdatasync, and what makes the state machine's writes (which never sync by themselves)
//! durable no later than the log entries that produced them are.

use std::io;
use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

#[derive(Clone)]
pub struct Storage {
    pub dir: PathBuf,
    pub db: Database,
    pub log: Keyspace,
    pub raft: Keyspace,
    pub nodes: Keyspace,
    pub sessions: Keyspace,
    pub state: Keyspace,
}

pub fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl Storage {
    pub fn open(dir: &Path) -> io::Result<Storage> {
        std::fs::create_dir_all(dir)?;
        let db = Database::builder(dir.join("db"))
            // The log store decides when to sync; fjall must not fsync on its own schedule.
            .manual_journal_persist(true)
            .open()
            .map_err(io_err)?;
        let ks = |name: &str| {
            db.keyspace(name, KeyspaceCreateOptions::default)
                .map_err(io_err)
        };
        Ok(Storage {
            log: ks("log")?,
            raft: ks("raft")?,
            nodes: ks("nodes")?,
            sessions: ks("sessions")?,
            state: ks("state")?,
            db,
            dir: dir.to_path_buf(),
        })
    }

    /// Make every write so far durable (fdatasync of the shared journal).
    pub fn sync(&self) -> io::Result<()> {
        self.db.persist(PersistMode::SyncData).map_err(io_err)
    }

    pub fn get(&self, ks: &Keyspace, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        Ok(ks.get(key).map_err(io_err)?.map(|v| v.to_vec()))
    }

    /// Total bytes of the database files (for `dirs`, `conf`, `mntr`).
    pub fn disk_space(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }
}
