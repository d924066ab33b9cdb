//! The write-ahead log: numbered records appended to segment files by one thread.
//!
//! Every write zkd accepts is one record here (an encoded Raft entry), and nothing else
//! is written per write: the tree is checkpointed separately (see
//! `consensus::state_machine`). That is what makes a write one sequential append plus a
//! share of one fdatasync.
//!
//! * **One writer thread** owns the files. [`Wal::append`] only queues records; the
//!   writer writes everything queued, fdatasyncs once, and then calls every queued
//!   completion (group commit). Records queued while an fsync runs go out with the next
//!   one, so a tokio worker never waits for the disk and nothing the append path needs
//!   is held across an fsync.
//! * **Segments** of a fixed preallocated size (64 MiB unless told otherwise); the
//!   writer starts a new one when the current one is full. Purging deletes whole
//!   segments; truncating cuts one file and deletes the newer ones.
//! * **Checked on open**: every frame carries a crc32c; a torn tail left by a crash is
//!   cut (with a log line naming the file and offset), and damage before the tail
//!   refuses to open rather than serve a wrong history. See [`segment`].
//! * Reads look the record up in an in-memory index (segment, offset) and `pread` it;
//!   the Raft layer above keeps recent entries in memory, so only a lagging follower or
//!   a restart reads back from disk.

mod segment;
mod writer;

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use parking_lot::RwLock;

/// Segment size unless `ZKD_LOG_SEGMENT_BYTES` says otherwise (tests use small ones to
/// exercise rollover).
const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// Called once the records of an append are durable (or could not be made so).
pub type Done = Box<dyn FnOnce(io::Result<()>) + Send>;

/// One segment as the index knows it.
struct Segment {
    path: PathBuf,
    file: Arc<File>,
    first: u64,
    prev: Option<Vec<u8>>,
    offsets: Vec<u32>,
    /// End of the last frame written.
    end: u64,
}

impl Segment {
    fn last(&self) -> Option<u64> {
        (!self.offsets.is_empty()).then(|| self.first + self.offsets.len() as u64 - 1)
    }

    /// (offset, length) of the frame for `index`.
    fn frame(&self, index: u64) -> Option<(u64, u64)> {
        let i = usize::try_from(index.checked_sub(self.first)?).ok()?;
        let start = *self.offsets.get(i)? as u64;
        let end = self.offsets.get(i + 1).map_or(self.end, |&o| o as u64);
        Some((start, end - start))
    }
}

/// Where every record is: shared by the writer (which changes it) and readers.
#[derive(Default)]
struct Index {
    segments: VecDeque<Segment>,
}

impl Index {
    fn last(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(Segment::last)
    }

    fn segment_of(&self, index: u64) -> Option<&Segment> {
        let i = self.segments.partition_point(|s| s.first <= index);
        self.segments.get(i.checked_sub(1)?)
    }
}

enum Command {
    Append(Vec<(u64, Vec<u8>)>, Done),
    /// Remove every record after the index (all of them for `None`).
    Truncate(Option<u64>, tokio::sync::oneshot::Sender<io::Result<()>>),
    /// Delete whole segments holding only records up to the index; if that is every
    /// record, start an empty segment whose prev is the given bytes.
    Purge(u64, Vec<u8>),
    /// Delete every segment, purge point included (`zkd recover`).
    Clear(tokio::sync::oneshot::Sender<io::Result<()>>),
}

pub struct Wal {
    index: Arc<RwLock<Index>>,
    writer: mpsc::Sender<Command>,
}

impl Wal {
    /// Open (or create) the log in `dir`, checking every record; start the writer.
    pub fn open(dir: &Path) -> io::Result<Wal> {
        let segment_bytes = std::env::var("ZKD_LOG_SEGMENT_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_SEGMENT_BYTES);
        Wal::open_with(dir, segment_bytes)
    }

    fn open_with(dir: &Path, segment_bytes: u64) -> io::Result<Wal> {
        std::fs::create_dir_all(dir)?;
        let index = Arc::new(RwLock::new(recover(dir, segment_bytes)?));
        let (tx, rx) = mpsc::channel();
        let w = writer::Writer::new(dir.to_path_buf(), index.clone(), segment_bytes);
        std::thread::Builder::new()
            .name("zkd-log-writer".into())
            .spawn(move || w.run(rx))?;
        Ok(Wal { index, writer: tx })
    }

    fn send(&self, cmd: Command) -> io::Result<()> {
        self.writer
            .send(cmd)
            .map_err(|_| io::Error::other("the log writer thread has stopped"))
    }

    /// Queue records (consecutive indexes, continuing the log); `done` runs once they
    /// are on disk.
    pub fn append(&self, records: Vec<(u64, Vec<u8>)>, done: Done) -> io::Result<()> {
        self.send(Command::Append(records, done))
    }

    /// Remove every record after `last` (all for `None`), durably, after everything
    /// queued before.
    pub async fn truncate_after(&self, last: Option<u64>) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Command::Truncate(last, tx))?;
        rx.await
            .map_err(|_| io::Error::other("the log writer thread has stopped"))?
    }

    /// Delete every record and the purge point: an empty log, durably.
    pub async fn clear(&self) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Command::Clear(tx))?;
        rx.await
            .map_err(|_| io::Error::other("the log writer thread has stopped"))?
    }

    /// Let records up to `upto` go; `prev` is what the log reports as its purge point
    /// if nothing is left (see [`Wal::prev`]).
    pub fn purge(&self, upto: u64, prev: Vec<u8>) -> io::Result<()> {
        self.send(Command::Purge(upto, prev))
    }

    /// The index of the first record kept.
    pub fn first_index(&self) -> Option<u64> {
        let index = self.index.read();
        index
            .segments
            .iter()
            .find(|s| !s.offsets.is_empty())
            .map(|s| s.first)
    }

    pub fn last_index(&self) -> Option<u64> {
        self.index.read().last()
    }

    /// The record before the first one kept, as given at purge or copied at rollover.
    pub fn prev(&self) -> Option<Vec<u8>> {
        self.index
            .read()
            .segments
            .front()
            .and_then(|s| s.prev.clone())
    }

    /// Records `from..to` (as many as are stored), read back from disk.
    pub fn read(&self, from: u64, to: u64) -> io::Result<Vec<(u64, Vec<u8>)>> {
        let frames: Vec<(u64, Arc<File>, u64, u64)> = {
            let index = self.index.read();
            (from..to)
                .map_while(|i| {
                    let seg = index.segment_of(i)?;
                    let (offset, len) = seg.frame(i)?;
                    Some((i, seg.file.clone(), offset, len))
                })
                .collect()
        };
        frames
            .into_iter()
            .map(|(i, file, offset, len)| {
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, offset)?;
                buf.drain(..segment::FRAME_HEADER);
                Ok((i, buf))
            })
            .collect()
    }

    /// Bytes of records stored (what `snapSizeLimitInKb` compares against).
    pub fn bytes(&self) -> u64 {
        self.index.read().segments.iter().map(|s| s.end).sum()
    }

    /// Bytes the segment files take on disk.
    pub fn disk_space(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let index = self.index.read();
        index
            .segments
            .iter()
            .filter_map(|s| s.file.metadata().ok())
            .map(|m| m.blocks() * 512)
            .sum()
    }
}

/// Scan every segment in `dir`, cut a torn tail, and build the index.
fn recover(dir: &Path, segment_bytes: u64) -> io::Result<Index> {
    let mut names: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if let Some(first) = segment::parse_name(&path) {
            names.push((first, path));
        }
    }
    names.sort();
    let mut index = Index::default();
    let count = names.len();
    for (i, (named_first, path)) in names.into_iter().enumerate() {
        let last = i + 1 == count;
        let Some(scanned) = segment::scan(&path, last)? else {
            // The newest segment's creation never completed; it held nothing.
            tracing::warn!(
                "log: removing {} (its creation did not complete)",
                path.display()
            );
            std::fs::remove_file(&path)?;
            continue;
        };
        let invalid = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("log file {} {what}", path.display()),
            )
        };
        if scanned.first != named_first {
            return Err(invalid(format!("says it starts at {}", scanned.first)));
        }
        if let Some(prev_seg) = index.segments.back() {
            let expected = prev_seg.first + prev_seg.offsets.len() as u64;
            if scanned.first > expected && scanned.prev.is_some() {
                // Only a purge of everything starts a segment past the log's end (a
                // rollover never leaves a gap): this purge did not get to delete the
                // segments before it. Finish it.
                for old in std::mem::take(&mut index.segments) {
                    tracing::warn!(
                        "log: removing {} (a purge up to {} did not finish)",
                        old.path.display(),
                        scanned.first - 1
                    );
                    std::fs::remove_file(&old.path)?;
                }
                segment::sync_dir(dir)?;
            } else if scanned.first != expected {
                return Err(invalid(format!(
                    "starts at index {} but the one before ends before {expected}",
                    scanned.first
                )));
            }
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        if scanned.torn {
            tracing::warn!(
                "log: {} ends in an incomplete entry at offset {} (index {}), left by a crash \
                 before it was synced; cutting the log there",
                path.display(),
                scanned.end,
                scanned.first + scanned.offsets.len() as u64
            );
            segment::cut(&file, scanned.end, segment_bytes)?;
        }
        index.segments.push_back(Segment {
            path,
            file: Arc::new(file),
            first: scanned.first,
            prev: scanned.prev,
            offsets: scanned.offsets,
            end: scanned.end,
        });
    }
    Ok(index)
}

#[cfg(test)]
mod tests;
