//! The log's one writer thread: group commit, rollover, truncation and purge.
//!
//! Each wake-up takes every command queued so far, in order. Appended records are
//! encoded into one buffer and written with one `pwrite` per segment; one fdatasync
//! then covers all of them, and only after it do their completions run. A backlog is
//! cut into rounds of at most [`MAX_UNSYNCED`] bytes, so a crash can tear at most that
//! much of the unsynced tail. Truncate and purge first complete the round before them,
//! so the files always change in the order the commands were given.

use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use parking_lot::RwLock;

use super::{segment, Command, Done, Index, Segment};

use super::segment::MAX_UNSYNCED;

pub struct Writer {
    dir: PathBuf,
    index: Arc<RwLock<Index>>,
    segment_bytes: u64,
    /// Encoded frames not yet written, all for the newest segment.
    buf: Vec<u8>,
    /// (index, offset in `buf`) of each buffered frame.
    frames: Vec<(u64, usize)>,
    /// Completions waiting for the next fdatasync.
    waiting: Vec<Done>,
    /// Set after a failed write or sync: nothing can be made durable any more.
    failed: Option<String>,
}

impl Writer {
    pub fn new(dir: PathBuf, index: Arc<RwLock<Index>>, segment_bytes: u64) -> Writer {
        Writer {
            dir,
            index,
            segment_bytes,
            buf: Vec::new(),
            frames: Vec::new(),
            waiting: Vec::new(),
            failed: None,
        }
    }

    pub fn run(mut self, rx: mpsc::Receiver<Command>) {
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            while let Some(cmd) = next {
                self.handle(cmd);
                next = rx.try_recv().ok();
            }
            self.sync_round();
        }
        self.sync_round();
    }

    fn error(&self) -> io::Error {
        io::Error::other(format!(
            "the log cannot be written: {}",
            self.failed.as_deref().unwrap_or("unknown error")
        ))
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Append(records, done) => {
                if self.failed.is_some() {
                    done(Err(self.error()));
                    return;
                }
                for (index, payload) in records {
                    if let Err(e) = self.buffer(index, &payload) {
                        self.fail(e);
                    }
                    // Per record, so a batch of large records cannot leave more than
                    // this (plus one record) unsynced: recovery relies on it.
                    if self.buf.len() >= MAX_UNSYNCED {
                        self.sync_round();
                    }
                }
                self.waiting.push(done);
            }
            Command::Truncate(last, reply) => {
                self.sync_round();
                let result = match &self.failed {
                    Some(_) => Err(self.error()),
                    None => self.truncate(last),
                };
                if let Err(e) = &result {
                    self.fail(io::Error::new(e.kind(), e.to_string()));
                }
                let _ = reply.send(result);
            }
            Command::Clear(reply) => {
                self.sync_round();
                let result = match &self.failed {
                    Some(_) => Err(self.error()),
                    None => self.clear(),
                };
                let _ = reply.send(result);
            }
            Command::Purge(upto, prev) => {
                self.sync_round();
                if self.failed.is_none() {
                    if let Err(e) = self.purge(upto, prev) {
                        // The records stay, but a purge of everything may have left no
                        // segment that continues at upto + 1: nothing may be appended.
                        self.fail(io::Error::new(
                            e.kind(),
                            format!("log purge up to {upto} failed: {e}"),
                        ));
                    }
                }
            }
        }
    }

    fn fail(&mut self, e: io::Error) {
        if self.failed.is_none() {
            tracing::error!("log write failed: {e}; no write can be made durable any more");
            self.failed = Some(e.to_string());
        }
    }

    /// Next index the log expects, counting buffered frames.
    fn next_index(&self) -> Option<u64> {
        if let Some((i, _)) = self.frames.last() {
            return Some(i + 1);
        }
        let index = self.index.read();
        let seg = index.segments.back()?;
        Some(seg.first + seg.offsets.len() as u64)
    }

    fn buffer(&mut self, index: u64, payload: &[u8]) -> io::Result<()> {
        match self.next_index() {
            Some(next) if next != index => {
                return Err(io::Error::other(format!(
                    "append of index {index} where the log continues at {next}"
                )))
            }
            None => {
                // The very first record: a segment starting at it.
                self.roll(index)?;
            }
            Some(_) => {
                let end = self.index.read().segments.back().map_or(0, |s| s.end);
                let full = end + (self.buf.len() + segment::FRAME_HEADER + payload.len()) as u64
                    > self.segment_bytes;
                if full && !self.segment_is_empty() {
                    self.sync_round();
                    if let Some(e) = &self.failed {
                        return Err(io::Error::other(e.clone()));
                    }
                    self.roll(index)?;
                }
            }
        }
        self.frames.push((index, self.buf.len()));
        segment::encode_frame(&mut self.buf, index, payload);
        Ok(())
    }

    fn segment_is_empty(&self) -> bool {
        self.frames.is_empty()
            && self
                .index
                .read()
                .segments
                .back()
                .is_none_or(|s| s.offsets.is_empty())
    }

    /// Start a new segment whose first record will be `first`; its prev is the last
    /// record of the current segment. Called with nothing buffered.
    fn roll(&mut self, first: u64) -> io::Result<()> {
        let prev = {
            let index = self.index.read();
            match index.segments.back() {
                Some(seg) => match seg.last() {
                    Some(last) => {
                        let (offset, len) = seg.frame(last).unwrap_or((0, 0));
                        let mut b = vec![0u8; len as usize];
                        seg.file.read_exact_at(&mut b, offset)?;
                        b.drain(..segment::FRAME_HEADER.min(b.len()));
                        Some(b)
                    }
                    None => seg.prev.clone(),
                },
                None => None,
            }
        };
        self.push_segment(first, prev.as_deref())
    }

    fn push_segment(&mut self, first: u64, prev: Option<&[u8]>) -> io::Result<()> {
        let (path, file, end) = segment::create(&self.dir, first, prev, self.segment_bytes)?;
        tracing::debug!("log: new segment {}", path.display());
        crate::storage::failpoint::pause("log-after-new-segment");
        self.index.write().segments.push_back(Segment {
            path,
            file: Arc::new(file),
            first,
            prev: prev.map(<[u8]>::to_vec),
            offsets: Vec::new(),
            end,
        });
        Ok(())
    }

    /// Write what is buffered, fdatasync, and run the completions waiting for it.
    fn sync_round(&mut self) {
        if self.failed.is_none() && (!self.buf.is_empty() || !self.waiting.is_empty()) {
            let started = Instant::now();
            let batch = self.waiting.len();
            if let Err(e) = self.write_and_sync() {
                self.fail(e);
            } else {
                // fsynctime / sync_processor_batch_size (mntr) and zkd_fsync_* (/metrics)
                crate::admin::metrics::fsync_done(batch, started.elapsed());
            }
        }
        self.buf.clear();
        if self.buf.capacity() > 4 * MAX_UNSYNCED {
            // A huge entry (a restore's whole tree) went out: do not keep its room.
            self.buf = Vec::new();
        }
        self.frames.clear();
        let result = match &self.failed {
            None => Ok(()),
            Some(_) => Err(self.error()),
        };
        for done in self.waiting.drain(..) {
            done(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            });
        }
    }

    fn write_and_sync(&mut self) -> io::Result<()> {
        let file = {
            let index = self.index.read();
            match index.segments.back() {
                Some(seg) => seg.file.clone(),
                None => return Ok(()),
            }
        };
        if !self.buf.is_empty() {
            let end = self.index.read().segments.back().map_or(0, |s| s.end);
            file.write_all_at(&self.buf, end)?;
            let mut index = self.index.write();
            if let Some(seg) = index.segments.back_mut() {
                for &(_, at) in &self.frames {
                    seg.offsets.push((end + at as u64) as u32);
                }
                seg.end = end + self.buf.len() as u64;
            }
        }
        crate::storage::failpoint::error("log-sync-error")?;
        file.sync_data()
    }

    fn truncate(&mut self, last: Option<u64>) -> io::Result<()> {
        let from = last.map_or(0, |l| l + 1);
        let mut index = self.index.write();
        // Newest first, so a crash part-way leaves no hole.
        while index.segments.len() > 1 && index.segments.back().is_some_and(|s| s.first >= from) {
            if let Some(seg) = index.segments.pop_back() {
                std::fs::remove_file(&seg.path)?;
            }
        }
        segment::sync_dir(&self.dir)?;
        if let Some(seg) = index.segments.back_mut() {
            let keep = from.saturating_sub(seg.first) as usize;
            if keep < seg.offsets.len() {
                let at = seg.offsets[keep] as u64;
                segment::cut(&seg.file, at, self.segment_bytes)?;
                seg.offsets.truncate(keep);
                seg.end = at;
            }
        }
        Ok(())
    }

    fn clear(&mut self) -> io::Result<()> {
        let mut index = self.index.write();
        while let Some(seg) = index.segments.pop_back() {
            std::fs::remove_file(&seg.path)?;
        }
        segment::sync_dir(&self.dir)
    }

    fn purge(&mut self, upto: u64, prev: Vec<u8>) -> io::Result<()> {
        let last = self.index.read().last();
        if last.is_none_or(|l| l <= upto) {
            // Nothing stays: an empty segment carries the purge point on.
            let has_next = {
                let index = self.index.read();
                index
                    .segments
                    .back()
                    .is_some_and(|s| s.first == upto + 1 && s.offsets.is_empty())
            };
            if !has_next {
                self.push_segment(upto + 1, Some(&prev))?;
            }
        }
        let mut removed: VecDeque<Segment> = VecDeque::new();
        {
            let mut index = self.index.write();
            while index.segments.len() > 1
                && index
                    .segments
                    .get(1)
                    .is_some_and(|next| next.first <= upto + 1)
            {
                if let Some(seg) = index.segments.pop_front() {
                    removed.push_back(seg);
                }
            }
        }
        for seg in removed {
            std::fs::remove_file(&seg.path)?;
            crate::storage::failpoint::pause("log-purge-between-deletes");
        }
        segment::sync_dir(&self.dir)
    }
}
