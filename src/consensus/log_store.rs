//! openraft's log storage over the segmented write-ahead log ([`crate::storage::wal`]).
//!
//! `append` encodes the entries, keeps them in an in-memory tail, and queues them to
//! the wal's writer thread; openraft's completion callback runs once the writer's
//! fdatasync covers them, so openraft commits (and a client hears back) only what is
//! on disk. Under load one fsync covers hundreds of entries; an idle server pays one
//! fsync per write, as ZooKeeper does.
//!
//! The in-memory tail holds every entry not yet applied (and more, up to
//! [`CACHE_BYTES`]), so replication and apply read entries from memory; only a lagging
//! follower or a restart reads them back from the files.
//!
//! The vote is synced before `save_vote` returns: Raft's safety depends on a vote never
//! being forgotten. The committed index is not stored: openraft calls `save_committed`
//! from its core loop on every commit, and a fjall write there would wait behind a
//! checkpoint's batch and sync (a stall of every write). After a restart the committed
//! index is learned again (a standalone server commits its whole log as soon as it leads,
//! and serves only after applying it; a follower hears it from its leader).
//!
//! Entry format: a version byte ([`ENTRY_FORMAT`]) and the postcard encoding of
//! openraft's entry. A newer zkd reads every older version it knows.

use std::collections::VecDeque;
use std::io;
use std::ops::RangeBounds;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::EntryPayload;
use parking_lot::Mutex;

use super::{decode, encode, Entry, LogId, TypeConfig, Vote};
use crate::storage::{io_err, Storage};

const VOTE: &[u8] = b"vote";

/// Version of the entry encoding in the log.
pub const ENTRY_FORMAT: u8 = 1;

/// Applied entries stay in memory while the tail is smaller than this (encoded bytes;
/// decoded entries take about three times that). A follower a few thousand entries
/// behind still reads memory; 16 MiB here cost ~45 MB of resident memory.
const CACHE_BYTES: usize = 4 << 20;

pub fn encode_entry(entry: &Entry) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.push(ENTRY_FORMAT);
    postcard::to_io(entry, &mut out).map_err(io_err)?;
    Ok(out)
}

pub fn decode_entry(bytes: &[u8]) -> io::Result<Entry> {
    match bytes.split_first() {
        Some((&ENTRY_FORMAT, rest)) => decode(rest),
        Some((v, _)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log entry format {v} is unknown to this zkd (it reads {ENTRY_FORMAT})"),
        )),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "empty log entry",
        )),
    }
}

/// What the wal keeps as its purge point when nothing is left: a blank entry with the
/// purged id.
fn purge_marker(log_id: LogId) -> io::Result<Vec<u8>> {
    encode_entry(&Entry {
        log_id,
        payload: EntryPayload::Blank,
    })
}

/// The newest entries, contiguous, oldest first.
#[derive(Default)]
struct Tail {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

impl Tail {
    fn first(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.log_id.index)
    }

    fn push(&mut self, entry: Entry, size: usize) {
        let continues = self
            .entries
            .back()
            .is_none_or(|(last, _)| last.log_id.index + 1 == entry.log_id.index);
        if !continues {
            self.entries.clear();
            self.bytes = 0;
        }
        self.bytes += size;
        self.entries.push_back((entry, size));
    }

    fn pop_back_after(&mut self, index: Option<u64>) {
        while let Some((e, size)) = self.entries.back() {
            if index.is_some_and(|i| e.log_id.index <= i) {
                break;
            }
            self.bytes -= size;
            self.entries.pop_back();
        }
    }

    /// Drop entries up to `index`, and applied ones beyond the size budget.
    fn pop_front_upto(&mut self, index: u64) {
        while let Some((e, size)) = self.entries.front() {
            if e.log_id.index > index {
                break;
            }
            self.bytes -= size;
            self.entries.pop_front();
        }
    }
}

pub struct LogStore {
    storage: Storage,
    tail: Arc<Mutex<Tail>>,
    /// One past the last applied index, from the state machine: applied entries may
    /// leave memory.
    applied: Arc<AtomicU64>,
}

#[derive(Clone)]
pub struct LogReader {
    storage: Storage,
    tail: Arc<Mutex<Tail>>,
}

impl LogStore {
    /// Open the log, moving a layout-1 log into the wal first, and load the entries
    /// from `from` on (those not in the checkpoint) into memory.
    pub fn open(storage: Storage, applied: Arc<AtomicU64>, from: u64) -> io::Result<LogStore> {
        upgrade_layout_1(&storage)?;
        let tail = Arc::new(Mutex::new(Tail::default()));
        if let Some(last) = storage.log.last_index() {
            let from = from.max(storage.log.first_index().unwrap_or(from));
            let mut t = tail.lock();
            for (_, bytes) in storage.log.read(from, last + 1)? {
                let size = bytes.len();
                t.push(decode_entry(&bytes)?, size);
            }
        }
        Ok(LogStore {
            storage,
            tail,
            applied,
        })
    }

    fn read_meta<T: for<'a> serde::Deserialize<'a>>(&self, key: &[u8]) -> io::Result<Option<T>> {
        match self.storage.get(&self.storage.raft, key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn reader(&self) -> LogReader {
        LogReader {
            storage: self.storage.clone(),
            tail: self.tail.clone(),
        }
    }
}

/// A layout-1 data dir (see `crate::storage`): copy its log into the wal, durably, then
/// drop the old keyspace. A crash part-way leaves the old log in place, and the next
/// start copies it again into an emptied wal.
fn upgrade_layout_1(storage: &Storage) -> io::Result<()> {
    let Some((old, purged)) = storage.layout_1_log()? else {
        return Ok(());
    };
    tracing::info!("data dir layout 1: moving the Raft log into log segments");
    let log = &storage.log;
    futures::executor::block_on(log.truncate_after(None))?;
    let purged: Option<LogId> = purged.map(|b| decode(&b)).transpose()?;
    if let Some(id) = purged {
        log.purge(id.index, purge_marker(id)?)?;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let mut batch = Vec::new();
    let (mut moved, mut batches) = (0u64, 0);
    let mut flush = |batch: Vec<(u64, Vec<u8>)>| -> io::Result<()> {
        let tx = tx.clone();
        batches += 1;
        log.append(
            batch,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
    };
    for guard in old.iter() {
        let (k, v) = guard.into_inner().map_err(io_err)?;
        let index = u64::from_be_bytes(k.as_ref().try_into().map_err(io_err)?);
        // Layout 1 deleted purged entries lazily.
        if purged.is_some_and(|p| index <= p.index) {
            continue;
        }
        // Layout 1 stored the bare postcard encoding: the same as format 1's body.
        let mut bytes = Vec::with_capacity(v.len() + 1);
        bytes.push(ENTRY_FORMAT);
        bytes.extend_from_slice(&v);
        batch.push((index, bytes));
        moved += 1;
        if batch.len() == 1024 {
            flush(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        flush(batch)?;
    }
    for _ in 0..batches {
        rx.recv().map_err(io_err)??;
    }
    storage.finish_upgrade(old)?;
    tracing::info!("moved {moved} log entries; the data dir is on layout 2 now");
    Ok(())
}

impl LogReader {
    /// Entries `start..end`: older ones from the files, the rest from memory.
    fn entries(&self, start: u64, end: u64) -> io::Result<Vec<Entry>> {
        let (cached_from, mut cached) = {
            let tail = self.tail.lock();
            let first = tail.first().unwrap_or(u64::MAX);
            // Contiguous: position = index - first.
            let from = start.saturating_sub(first) as usize;
            let to = end.saturating_sub(first).min(tail.entries.len() as u64) as usize;
            let cached: Vec<Entry> = tail
                .entries
                .range(from.min(to)..to)
                .map(|(e, _)| e.clone())
                .collect();
            (first.max(start), cached)
        };
        if start >= cached_from {
            return Ok(cached);
        }
        let mut out = Vec::new();
        for (_, bytes) in self.storage.log.read(start, cached_from.min(end))? {
            out.push(decode_entry(&bytes)?);
        }
        // openraft must never get a range with a hole in it: if entries were purged
        // meanwhile, answer with the contiguous prefix from `start` (possibly none).
        if out.first().is_some_and(|e| e.log_id.index != start) {
            return Ok(Vec::new());
        }
        let continues = match (out.last(), cached.first()) {
            (Some(last), Some(first)) => last.log_id.index + 1 == first.log_id.index,
            (None, Some(_)) => false,
            _ => true,
        };
        if continues {
            out.append(&mut cached);
        }
        Ok(out)
    }

    fn last_entry(&self) -> io::Result<Option<Entry>> {
        if let Some((e, _)) = self.tail.lock().entries.back() {
            return Ok(Some(e.clone()));
        }
        match self.storage.log.last_index() {
            Some(last) => match self.storage.log.read(last, last + 1)?.pop() {
                Some((_, bytes)) => Ok(Some(decode_entry(&bytes)?)),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }
}

/// The stored entry at `index`, if it is still in the log (`cons`, `lsnp`).
pub fn entry_at(storage: &Storage, index: u64) -> Option<Entry> {
    let (_, bytes) = storage.log.read(index, index + 1).ok()?.pop()?;
    decode_entry(&bytes).ok()
}

fn range_bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, u64) {
    use std::ops::Bound;
    let start = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(i) => i.saturating_add(1),
        Bound::Excluded(i) => *i,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = range_bounds(&range);
        self.entries(start, end)
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
        let (start, end) = range_bounds(&range);
        self.reader().entries(start, end)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.read_meta(VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id = match self.storage.log.prev() {
            Some(bytes) => Some(decode_entry(&bytes)?.log_id),
            None => None,
        };
        let last_log_id = match self.reader().last_entry()? {
            Some(entry) => Some(entry.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.storage
            .raft
            .insert(VOTE, encode(vote)?)
            .map_err(io_err)?;
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || storage.sync())
            .await
            .map_err(io_err)?
    }

    async fn save_committed(&mut self, _committed: Option<LogId>) -> Result<(), io::Error> {
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(None)
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
        // Encoded before the tail is locked: readers (replication, apply) wait on it.
        let mut encoded = Vec::new();
        let mut records = Vec::new();
        for entry in entries {
            let bytes = encode_entry(&entry)?;
            records.push((entry.log_id.index, bytes));
            encoded.push((entry, records.last().map_or(0, |(_, b)| b.len())));
        }
        {
            let mut tail = self.tail.lock();
            for (entry, size) in encoded {
                tail.push(entry, size);
            }
            // Applied entries (written, then) leave memory beyond the budget.
            if tail.bytes > CACHE_BYTES {
                let applied = self.applied.load(Ordering::Acquire);
                let written = self.storage.log.last_index().map_or(0, |l| l + 1);
                let mut upto = None;
                let mut bytes = tail.bytes;
                for (e, size) in &tail.entries {
                    let i = e.log_id.index;
                    if bytes <= CACHE_BYTES / 2 || i >= applied || i >= written {
                        break;
                    }
                    bytes -= size;
                    upto = Some(i);
                }
                if let Some(upto) = upto {
                    tail.pop_front_upto(upto);
                }
            }
        }
        self.storage
            .log
            .append(records, Box::new(move |r| callback.io_completed(r)))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let last = last_log_id.map(|id| id.index);
        self.tail.lock().pop_back_after(last);
        self.storage.log.truncate_after(last).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.tail.lock().pop_front_upto(log_id.index);
        self.storage.log.purge(log_id.index, purge_marker(log_id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::vote::RaftLeaderId;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(
            openraft::impls::leader_id_adv::LeaderId::new(term, 1).to_committed(),
            index,
        )
    }

    #[test]
    fn entries_round_trip_with_their_format_version() {
        let log_id = log_id(3, 42);
        let entry = Entry {
            log_id,
            payload: EntryPayload::Blank,
        };
        let bytes = encode_entry(&entry).unwrap();
        assert_eq!(bytes[0], ENTRY_FORMAT);
        assert_eq!(decode_entry(&bytes).unwrap().log_id, log_id);
        let mut newer = bytes.clone();
        newer[0] = ENTRY_FORMAT + 1;
        let err = decode_entry(&newer).unwrap_err().to_string();
        assert!(err.contains("unknown to this zkd"), "{err}");
    }

    /// A layout-1 data dir (the log in fjall keyspace `log`, purged lazily, purge point
    /// in `raft/purged`) moves into the wal on first open, exactly once.
    #[tokio::test]
    async fn a_layout_1_log_moves_into_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = fjall::Database::builder(dir.path().join("db"))
                .open()
                .unwrap();
            let ks = |n: &str| {
                db.keyspace(n, fjall::KeyspaceCreateOptions::default)
                    .unwrap()
            };
            let (log, raft) = (ks("log"), ks("raft"));
            ks("state");
            for index in 3..=50u64 {
                let entry = Entry {
                    log_id: log_id(2, index),
                    payload: EntryPayload::Blank,
                };
                // Layout 1: the bare postcard encoding, keyed by big-endian index.
                log.insert(index.to_be_bytes(), encode(&entry).unwrap())
                    .unwrap();
            }
            raft.insert(b"purged", encode(&log_id(2, 10)).unwrap())
                .unwrap();
            db.persist(fjall::PersistMode::SyncAll).unwrap();
        }
        let storage = Storage::open(dir.path()).unwrap();
        assert!(storage.layout_1_log().unwrap().is_some());
        let mut store = LogStore::open(storage.clone(), Arc::new(AtomicU64::new(0)), 0).unwrap();
        assert!(
            storage.layout_1_log().unwrap().is_none(),
            "the old keyspace is gone"
        );
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(2, 10)));
        assert_eq!(state.last_log_id, Some(log_id(2, 50)));
        let entries = store.try_get_log_entries(11..=50).await.unwrap();
        let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
        assert_eq!(indexes, (11..=50).collect::<Vec<_>>());
        drop((store, storage));
        // Reopened: layout 2 now, nothing moved again.
        let storage = Storage::open(dir.path()).unwrap();
        assert!(storage.layout_1_log().unwrap().is_none());
        let mut store = LogStore::open(storage, Arc::new(AtomicU64::new(0)), 0).unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(2, 50)));
        assert_eq!(store.try_get_log_entries(11..51).await.unwrap().len(), 40);
    }
}
