//! The Raft log in fjall, with group commit.
//!
//! `append` writes entries to the `log` keyspace (readable at once, not yet durable) and
//! queues openraft's completion callback to a flusher thread. The flusher takes every
//! callback queued so far, makes them all durable with a single fdatasync of fjall's
//! journal, and only then reports them flushed. Under load one fsync covers hundreds of
//! txns; an idle server pays one fsync per write, as ZooKeeper does. openraft only
//! commits (and so only acknowledges to a client) entries whose callback has fired, so
//! no write is acknowledged before it is on disk.
//!
//! Vote saves are synced inline: Raft's safety depends on a vote never being forgotten.
//!
//! Purging runs on its own thread: after a snapshot openraft purges ~snapCount entries
//! at once, and deleting them inline would stall every commit behind it. The purge
//! point is recorded first, so entries below it are never read again however long
//! their deletion takes.

use std::io;
use std::ops::RangeBounds;
use std::sync::mpsc;

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};

use super::{decode, encode, Entry, LogId, TypeConfig, Vote};
use crate::storage::{io_err, Storage};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"purged";

pub struct LogStore {
    storage: Storage,
    flusher: mpsc::Sender<IOFlushed<TypeConfig>>,
    purger: mpsc::Sender<u64>,
}

#[derive(Clone)]
pub struct LogReader {
    storage: Storage,
}

impl LogStore {
    pub fn open(storage: Storage) -> io::Result<LogStore> {
        let (tx, rx) = mpsc::channel::<IOFlushed<TypeConfig>>();
        let syncer = storage.clone();
        std::thread::Builder::new()
            .name("zkd-log-flusher".into())
            .spawn(move || flush_loop(syncer, rx))?;
        let (purge_tx, purge_rx) = mpsc::channel::<u64>();
        let purged = storage.clone();
        std::thread::Builder::new()
            .name("zkd-log-purger".into())
            .spawn(move || purge_loop(purged, purge_rx))?;
        Ok(LogStore {
            storage,
            flusher: tx,
            purger: purge_tx,
        })
    }

    fn read_meta<T: for<'a> serde::Deserialize<'a>>(&self, key: &[u8]) -> io::Result<Option<T>> {
        match self.storage.get(&self.storage.raft, key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }
}

/// One fdatasync per wake-up, however many appends queued up meanwhile.
fn flush_loop(storage: Storage, rx: mpsc::Receiver<IOFlushed<TypeConfig>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let started = std::time::Instant::now();
        let result = storage.sync();
        // fsynctime / sync_processor_batch_size (mntr) and zkd_fsync_* (/metrics)
        crate::admin::metrics::fsync_done(batch.len(), started.elapsed());
        for callback in batch {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            callback.io_completed(r);
        }
        if let Err(e) = result {
            // fjall poisons itself after a failed journal flush; nothing later can be
            // acknowledged, so stop rather than pretend.
            tracing::error!("log fsync failed: {e}; zkd cannot make writes durable and stops");
            std::process::exit(70);
        }
    }
}

/// Delete purged entries in bounded batches, newest purge point first.
fn purge_loop(storage: Storage, rx: mpsc::Receiver<u64>) {
    const BATCH: usize = 4096;
    while let Ok(first) = rx.recv() {
        let upto = rx.try_iter().fold(first, u64::max);
        // Resume after the last deleted key instead of skipping its tombstones again.
        let mut from = 0u64;
        loop {
            let keys: Vec<_> = storage
                .log
                .range(index_key(from)..=index_key(upto))
                .take(BATCH)
                .filter_map(|g| g.key().ok())
                .collect();
            if keys.is_empty() {
                break;
            }
            let mut batch = storage.db.batch();
            for key in &keys {
                batch.remove_weak(&storage.log, key.clone());
            }
            if let Err(e) = batch.commit() {
                tracing::warn!("log purge failed: {e}");
                break;
            }
            match keys
                .last()
                .and_then(|k| <[u8; 8]>::try_from(k.as_ref()).ok())
            {
                Some(last) if keys.len() == BATCH => from = u64::from_be_bytes(last) + 1,
                _ => break,
            }
        }
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogReader {
    fn last_entry(&self) -> io::Result<Option<Entry>> {
        match self.storage.log.last_key_value() {
            Some(guard) => {
                let value = guard.value().map_err(io_err)?;
                Ok(Some(decode(&value)?))
            }
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(index_key(*i)),
            Bound::Excluded(i) => Bound::Excluded(index_key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for guard in self
            .storage
            .log
            .range::<[u8; 8], _>((Bound::Included(index_key(start)), end))
        {
            let value = guard.value().map_err(io_err)?;
            out.push(decode(&value)?);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        match self.storage.get(&self.storage.raft, VOTE)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.get_log_reader().await.try_get_log_entries(range).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.read_meta(VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogId> = self.read_meta(PURGED)?;
        let reader = LogReader {
            storage: self.storage.clone(),
        };
        // Entries below the purge point may still be on disk while the purger works.
        let last_log_id = match reader.last_entry()? {
            Some(entry) => Some(entry.log_id).max(last_purged_log_id),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        LogReader {
            storage: self.storage.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.storage
            .raft
            .insert(VOTE, encode(vote)?)
            .map_err(io_err)?;
        self.storage.sync()
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Rides the journal with the next synced append; losing it only means replaying
        // a little more of the log at start-up.
        self.storage
            .raft
            .insert(COMMITTED, encode(&committed)?)
            .map_err(io_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut batch = self.storage.db.batch();
        for entry in entries {
            batch.insert(
                &self.storage.log,
                index_key(entry.log_id.index),
                encode(&entry)?,
            );
        }
        batch.commit().map_err(io_err)?;
        self.flusher
            .send(callback)
            .map_err(|_| io::Error::other("log flusher thread has stopped"))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|id| id.index + 1).unwrap_or(0);
        // Newest first, so a crash part-way leaves no hole.
        let keys: Vec<_> = self
            .storage
            .log
            .range(index_key(from)..)
            .map(|g| g.key().map_err(io_err))
            .collect::<Result<_, _>>()?;
        for key in keys.into_iter().rev() {
            self.storage.log.remove(key).map_err(io_err)?;
        }
        self.storage.sync()
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.storage
            .raft
            .insert(PURGED, encode(&log_id)?)
            .map_err(io_err)?;
        self.purger
            .send(log_id.index)
            .map_err(|_| io::Error::other("log purger thread has stopped"))
    }
}
