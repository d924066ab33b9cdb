//! One log segment file: its header, its frames, and the scan that recovers it.
//!
//! ```text
//! header: "ZKDWAL\r\n" | format u32 LE | first index u64 LE | prev len u32 LE | prev bytes | crc32c u32 LE
//! frame:  payload len u32 LE | crc32c(index ‖ payload) u32 LE | index u64 LE | payload
//! ```
//!
//! `prev` is a copy of the payload of the entry just before the segment's first one (or
//! what the caller gave when it purged everything), so the log still knows the id of its
//! last purged entry after the segments before it are deleted.
//!
//! A segment is preallocated to its full size (a sparse file of zeros), so appending
//! never grows the file and a frame of all zeros marks the end of what was written.
//! Recovery tells a torn tail from damage the way etcd's WAL does: a crash can leave the
//! last unsynced write incomplete, and on a zero-filled file the part that never reached
//! the disk reads as zeros. A frame whose checksum fails but whose share of some sector
//! is all zeros (or that runs past the end of the file) is a torn write and is cut; a
//! frame whose checksum fails without one is damage, and the log refuses to open.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 8] = b"ZKDWAL\r\n";
/// Version of the segment and frame layout above.
pub const FORMAT: u32 = 1;
/// Bytes before a frame's payload.
pub const FRAME_HEADER: usize = 16;
/// The largest `prev` a header may hold (a copy of one entry: as large as the largest
/// entry, a restore's whole tree, which the peer link caps at 512 MiB).
const MAX_PREV: usize = 512 << 20;
const SECTOR: usize = 512;
/// Bytes the writer leaves unsynced at most (one record may exceed it on its own).
pub const MAX_UNSYNCED: usize = 1 << 20;
/// How far past a torn frame a crash can have left bytes: the unsynced round it belonged
/// to. Non-zero bytes beyond this (and beyond the frame's own length) mean the bad frame
/// was synced long ago: damage, not a torn write.
const TORN_WINDOW: usize = 4 * MAX_UNSYNCED;

pub fn file_name(first: u64) -> String {
    format!("log-{first:020}.wal")
}

/// The first index a segment file name says it holds.
pub fn parse_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("log-")?
        .strip_suffix(".wal")?
        .parse()
        .ok()
}

pub fn encode_header(first: u64, prev: Option<&[u8]>) -> Vec<u8> {
    let prev = prev.unwrap_or_default();
    let mut out = Vec::with_capacity(28 + prev.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&first.to_le_bytes());
    // A segment with no entry before it stores no prev; an empty prev is not a thing.
    out.extend_from_slice(&(prev.len() as u32).to_le_bytes());
    out.extend_from_slice(prev);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub fn encode_frame(out: &mut Vec<u8>, index: u64, payload: &[u8]) {
    let crc = crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(payload);
}

/// What a scan found in one segment file.
pub struct Scanned {
    pub first: u64,
    pub prev: Option<Vec<u8>>,
    /// Byte offset of each frame, for entries `first`, `first + 1`, ...
    pub offsets: Vec<u32>,
    /// Where the next frame goes.
    pub end: u64,
    /// A torn write was found (and must be cut) at `end`.
    pub torn: bool,
}

fn damaged(path: &Path, offset: usize, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "log file {} is damaged at offset {offset}: {what}",
            path.display()
        ),
    )
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// A parsed segment header.
pub struct Header {
    pub first: u64,
    pub prev: Option<Vec<u8>>,
    /// Where the first frame starts.
    pub len: usize,
}

/// Parse a header; `None` if the file is too short or all zeros there, or, for the
/// newest segment (`last`), if the header is torn: a header holding a large entry
/// spans several sectors, and a crash while the segment was being created can leave
/// the first sector written and a later one still zero. Nothing can follow such a
/// header (entries are appended only after the creation is synced), so a header with
/// bytes after it, or a bad one that is not torn-looking, is damage.
pub fn decode_header(path: &Path, b: &[u8], last: bool) -> io::Result<Option<Header>> {
    if b.len() < 28 || b[..8].iter().all(|&x| x == 0) {
        return Ok(None);
    }
    if &b[..8] != MAGIC {
        return Err(damaged(path, 0, "not a zkd log segment"));
    }
    let format = u32_at(b, 8);
    if format != FORMAT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "log file {} has segment format {format}; this zkd reads format {FORMAT}",
                path.display()
            ),
        ));
    }
    let first = u64_at(b, 12);
    let prev_len = u32_at(b, 20) as usize;
    if prev_len > MAX_PREV {
        return Err(damaged(path, 20, "bad header length"));
    }
    let end = 24 + prev_len;
    // Torn: part of the header never reached the disk (the file is shorter than the
    // header, or a sector's share of it is zero), nothing was written after it, and no
    // intact frame of the segment's first entry is anywhere in the file. The last
    // condition is what keeps a damaged length field (which moves "after it" past real
    // frames) from passing a live segment off as an unfinished one.
    let torn = || {
        (b.len() < end + 4
            || (has_zero_chunk(b, 0, end + 4) && b[end + 4..].iter().all(|&x| x == 0)))
            && !holds_frame_of(b, first)
    };
    if b.len() < end + 4 {
        if last && torn() {
            return Ok(None);
        }
        return Err(damaged(path, 20, "bad header length"));
    }
    if crc32c::crc32c(&b[..end]) != u32_at(b, end) {
        if last && torn() {
            return Ok(None);
        }
        return Err(damaged(path, 0, "header checksum mismatch"));
    }
    let prev = (prev_len > 0).then(|| b[24..end].to_vec());
    Ok(Some(Header {
        first,
        prev,
        len: end + 4,
    }))
}

/// Whether an intact frame of entry `index` starts anywhere in `b`.
fn holds_frame_of(b: &[u8], index: u64) -> bool {
    let needle = index.to_le_bytes();
    (8..b.len().saturating_sub(FRAME_HEADER - 8)).any(|at| {
        if b[at..at + 8] != needle {
            return false;
        }
        let start = at - 8;
        let len = u32_at(b, start) as usize;
        let Some(payload) = b.get(start + FRAME_HEADER..start + FRAME_HEADER + len) else {
            return false;
        };
        crc32c::crc32c_append(crc32c::crc32c(&needle), payload) == u32_at(b, start + 4)
    })
}

/// Whether some sector's share of `b[from..to]` is all zeros: the mark of a write that
/// did not fully reach the disk (the file was zero where it was never written).
fn has_zero_chunk(b: &[u8], from: usize, to: usize) -> bool {
    let to = to.min(b.len());
    let mut start = from;
    while start < to {
        let end = ((start / SECTOR + 1) * SECTOR).min(to);
        if b[start..end].iter().all(|&x| x == 0) {
            return true;
        }
        start = end;
    }
    false
}

/// Read one segment and check every frame. `last` says whether it is the newest
/// segment, the only one that can end in a torn write: every older one was synced in
/// full before the next was created.
pub fn scan(path: &Path, last: bool) -> io::Result<Option<Scanned>> {
    let b = std::fs::read(path)?;
    let Some(Header {
        first,
        prev,
        len: mut at,
    }) = decode_header(path, &b, last)?
    else {
        if last {
            return Ok(None);
        }
        return Err(damaged(
            path,
            0,
            "empty segment header before the end of the log",
        ));
    };
    let mut offsets = Vec::new();
    let mut torn = false;
    loop {
        let expected = first + offsets.len() as u64;
        if at + FRAME_HEADER > b.len() {
            // Past the preallocated size: only a torn header can get here.
            if b[at..].iter().any(|&x| x != 0) {
                torn = true;
            }
            break;
        }
        let len = u32_at(&b, at) as usize;
        let crc = u32_at(&b, at + 4);
        let index = u64_at(&b, at + 8);
        if len == 0 && crc == 0 && index == 0 {
            // The zero tail. Anything non-zero after it is a write that began but never
            // reached the disk in order.
            if b[at..].iter().any(|&x| x != 0) {
                torn = true;
            }
            break;
        }
        let end = at + FRAME_HEADER + len;
        if end > b.len() {
            torn = true;
            break;
        }
        let payload = &b[at + FRAME_HEADER..end];
        let actual = crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), payload);
        if actual != crc {
            if has_zero_chunk(&b, at, end) {
                torn = true;
                break;
            }
            return Err(damaged(
                path,
                at,
                format_args!("checksum mismatch in the entry for index {expected}"),
            ));
        }
        if index != expected {
            return Err(damaged(
                path,
                at,
                format_args!("entry for index {index} where {expected} was expected"),
            ));
        }
        offsets.push(at as u32);
        at = end;
    }
    if torn && !last {
        return Err(damaged(
            path,
            at,
            "incomplete entry before the end of the log",
        ));
    }
    if torn {
        let claimed = if at + FRAME_HEADER <= b.len() {
            u32_at(&b, at) as usize
        } else {
            0
        };
        let limit = at
            .saturating_add(FRAME_HEADER + claimed)
            .saturating_add(TORN_WINDOW);
        if limit < b.len() && b[limit..].iter().any(|&x| x != 0) {
            return Err(damaged(
                path,
                at,
                "a damaged entry with more of the log after it",
            ));
        }
    }
    Ok(Some(Scanned {
        first,
        prev,
        offsets,
        end: at as u64,
        torn,
    }))
}

/// Cut a segment at `at`: everything after reads as zeros again. Synced.
pub fn cut(file: &File, at: u64, size: u64) -> io::Result<()> {
    file.set_len(at)?;
    file.set_len(size.max(at))?;
    file.sync_all()
}

/// Create a preallocated segment and make its existence durable.
pub fn create(
    dir: &Path,
    first: u64,
    prev: Option<&[u8]>,
    size: u64,
) -> io::Result<(PathBuf, File, u64)> {
    let path = dir.join(file_name(first));
    let file = crate::storage::create_file(&path)?;
    let header = encode_header(first, prev);
    use std::os::unix::fs::FileExt;
    file.write_all_at(&header, 0)?;
    file.set_len(size.max(header.len() as u64))?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok((path, file, header.len() as u64))
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
