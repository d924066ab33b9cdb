//! ZooKeeper snapshots (`version-2/snapshot.<hex zxid>[.gz|.snappy]`): read and write.
//!
//! Why by hand: the format is ZooKeeper's `FileSnap` + `SerializeUtils` + `DataTree`
//! serialisation, a jute stream with no length framing, so the only faithful reader
//! walks it field by field the way `FileSnap.deserialize` does:
//!
//! ```text
//! FileHeader {int magic "ZKSN"; int version 2; long dbid -1}
//! int sessionCount, then {long id; int timeout} × count
//! int aclCount, then {long ref; vector<ACL>} × count      (ref -1 = open ACL, never listed)
//! {ustring path; buffer data; long aclRef; StatPersisted} × nodes, pre-order,
//!     the root written as "", the list ended by the path "/"
//! seal: long adler32-of-everything-so-far; ustring "/"
//! optional: ZxidDigest {long zxid; int version; long digest (hex ustring if version < 2)}; seal
//! optional (3.9+): long lastProcessedZxid; seal
//! ```
//!
//! The whole stream (not the file) is checksummed, and `.gz` / `.snappy` files hold that
//! stream compressed (gzip, or snappy-java's `SnappyOutputStream` framing: a 16-byte
//! header then `int length` + raw snappy block chunks). The whole decompressed stream is
//! read into memory: ZooKeeper itself holds the whole tree in memory, so a snapshot is
//! never larger than the heap of the server that wrote it.
//!
//! Validity follows `SnapStream.isValidSnapshot`: an uncompressed snapshot is worth
//! reading only if it has at least 10 bytes and ends with `00 00 00 01 2F` (the "/" of
//! a seal); compressed ones only need their format's magic. A file that passes that
//! test can still fail its seal, and the importer then falls back to an older one, as
//! ZooKeeper does.
//!
//! The writer emits what ZooKeeper 3.8 and 3.9 both load: sessions, the ACL cache, the
//! nodes and one seal ([`SnapshotWriter::finish`], for `zkd export`: the zxid lives in
//! the file name, which is what `FileSnap` restores it from). A snapshot streamed by the
//! AdminServer has no file name, and ZooKeeper's `/commands/restore` takes its zxid from
//! the lastProcessedZxid section, so [`SnapshotWriter::finish_with_zxid`] writes both
//! trailers as ZooKeeper 3.9 does with digests on: the digest (computed from the nodes
//! written) and then the zxid, each sealed. A lastProcessedZxid without a digest would be
//! misread by a reader that has digests enabled.

use std::io::{self, Read, Write};
use std::path::Path;

use bytes::{Bytes, BytesMut};
use jute::{Acl, Field, StatPersisted};

use super::{Adler32, Error, Result};

/// `"ZKSN"` as a big-endian int.
pub const SNAP_MAGIC: i32 = 0x5A4B_534E;
/// snappy-java's stream header magic (`SnappyCodec.MAGIC_HEADER`).
const SNAPPY_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic + version + compatible version.
const SNAPPY_HEADER_LEN: usize = 16;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const MAX_SNAPPY_BLOCK: usize = 64 << 20;
/// What ends the node list and every seal.
const END_PATH: &str = "/";

/// How a snapshot file is compressed, from its extension (`SnapStream.getStreamMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
}

impl Compression {
    /// From a stream's first bytes (a snapshot posted to `/commands/restore` has no name).
    pub fn sniff(stream: &[u8]) -> Compression {
        if stream.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if stream.starts_with(&SNAPPY_MAGIC) {
            Compression::Snappy
        } else {
            Compression::None
        }
    }

    pub fn of(file_name: &str) -> Compression {
        match file_name.rsplit('.').next() {
            Some(ext) if file_name.contains('.') && ext.eq_ignore_ascii_case("gz") => {
                Compression::Gzip
            }
            Some(ext) if file_name.contains('.') && ext.eq_ignore_ascii_case("snappy") => {
                Compression::Snappy
            }
            _ => Compression::None,
        }
    }
}

/// One node as the snapshot holds it. `path` is `/` for the root (stored as "").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapNode {
    pub path: String,
    pub data: Option<Bytes>,
    pub acl_ref: i64,
    pub stat: StatPersisted,
}

/// A decoded snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZkSnapshot {
    /// From the file name: the last zxid applied when the (fuzzy) snapshot started.
    pub zxid: i64,
    pub sessions: Vec<(i64, i32)>,
    /// The ACL cache: reference -> list.
    pub acls: Vec<(i64, Vec<Acl>)>,
    /// In file order (parents before children).
    pub nodes: Vec<SnapNode>,
    /// (zxid, digest version, digest) when the snapshot carries a digest.
    pub digest: Option<(i64, i32, i64)>,
    pub last_processed_zxid: Option<i64>,
}

/// `SnapStream.isValidSnapshot`: the cheap test that decides which files are tried.
pub fn is_valid_snapshot(path: &Path) -> io::Result<bool> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if super::zxid_from_name(name, "snapshot").is_none() {
        return Ok(false);
    }
    let mut f = std::fs::File::open(path)?;
    match Compression::of(name) {
        Compression::Gzip => {
            let mut magic = [0u8; 2];
            Ok(f.read_exact(&mut magic).is_ok() && magic == GZIP_MAGIC)
        }
        Compression::Snappy => {
            let mut magic = [0u8; 8];
            Ok(f.read_exact(&mut magic).is_ok() && magic == SNAPPY_MAGIC)
        }
        Compression::None => {
            use std::io::{Seek, SeekFrom};
            let len = f.metadata()?.len();
            if len < 10 {
                return Ok(false);
            }
            f.seek(SeekFrom::Start(len - 5))?;
            let mut tail = [0u8; 5];
            f.read_exact(&mut tail)?;
            Ok(tail == [0, 0, 0, 1, b'/'])
        }
    }
}

/// Read and check a snapshot file (decompressing by extension).
pub fn read_snapshot(path: &Path) -> Result<ZkSnapshot> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let zxid = super::zxid_from_name(name, "snapshot")
        .ok_or_else(|| Error::new(format!("{}: not a snapshot.<zxid> file", path.display())))?;
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let stream = match Compression::of(name) {
        Compression::None => raw,
        c => decompress(&raw, c, usize::MAX)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?,
    };
    decode_snapshot(&stream, zxid).map_err(|e| Error::new(format!("{}: {e}", path.display())))
}

/// The checksummed stream inside a (possibly compressed) snapshot file, refused when it
/// would be longer than `limit` bytes (a stream posted to the AdminServer could be a
/// decompression bomb).
pub fn decompress(
    raw: &[u8],
    compression: Compression,
    limit: usize,
) -> std::result::Result<Vec<u8>, String> {
    let too_long = || format!("the decompressed snapshot is longer than {limit} bytes");
    match compression {
        Compression::None if raw.len() > limit => Err(too_long()),
        Compression::None => Ok(raw.to_vec()),
        Compression::Gzip => {
            let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
            flate2::read::MultiGzDecoder::new(raw)
                .take((limit as u64).saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| format!("gzip: {e}"))?;
            if out.len() > limit {
                return Err(too_long());
            }
            Ok(out)
        }
        Compression::Snappy => unsnappy(raw, limit).map_err(|e| e.unwrap_or_else(too_long)),
    }
}

/// snappy-java's `SnappyInputStream` framing: header, then `int len` + raw block
/// chunks; a header may appear again (concatenated streams). `Err(None)`: longer
/// than `limit`.
fn unsnappy(raw: &[u8], limit: usize) -> std::result::Result<Vec<u8>, Option<String>> {
    let mut out = Vec::with_capacity(raw.len().saturating_mul(3));
    let mut pos = 0usize;
    let mut decoder = snap::raw::Decoder::new();
    while pos < raw.len() {
        if raw[pos..].starts_with(&SNAPPY_MAGIC) {
            if raw.len() - pos < SNAPPY_HEADER_LEN {
                return Err(Some(format!(
                    "snappy: truncated stream header at byte {pos}"
                )));
            }
            pos += SNAPPY_HEADER_LEN;
            continue;
        }
        if pos == 0 {
            return Err(Some("snappy: missing stream header".into()));
        }
        let Some(len_bytes) = raw.get(pos..pos + 4) else {
            return Err(Some(format!(
                "snappy: truncated chunk length at byte {pos}"
            )));
        };
        let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let len = usize::try_from(len)
            .map_err(|_| Some(format!("snappy: bad chunk length at byte {pos}")))?;
        let start = pos + 4;
        let Some(block) = raw.get(start..start.saturating_add(len)) else {
            return Err(Some(format!("snappy: truncated chunk at byte {pos}")));
        };
        let n = snap::raw::decompress_len(block)
            .map_err(|e| Some(format!("snappy: byte {pos}: {e}")))?;
        // snappy-java writes 32 KB blocks; refuse absurd claims before allocating.
        if n > MAX_SNAPPY_BLOCK {
            return Err(Some(format!(
                "snappy: block at byte {pos} claims {n} bytes"
            )));
        }
        if out.len().saturating_add(n) > limit {
            return Err(None);
        }
        let at = out.len();
        out.resize(at + n, 0);
        decoder
            .decompress(block, &mut out[at..])
            .map_err(|e| Some(format!("snappy: byte {pos}: {e}")))?;
        pos = start + len;
    }
    Ok(out)
}

/// A cursor over the stream that keeps the running Adler32 of what it has consumed.
#[derive(Clone)]
struct Stream<'a> {
    buf: &'a [u8],
    pos: usize,
    adler: Adler32,
    summed: usize,
}

/// Reading past the end: the caller decides whether that is fatal (body) or means "this
/// optional section is absent" (trailer).
#[derive(Debug)]
enum ReadErr {
    Eof,
    Bad(String),
}

impl From<ReadErr> for String {
    fn from(e: ReadErr) -> String {
        match e {
            ReadErr::Eof => "unexpected end of snapshot".into(),
            ReadErr::Bad(s) => s,
        }
    }
}

impl<'a> Stream<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Stream {
            buf,
            pos: 0,
            adler: Adler32::default(),
            summed: 0,
        }
    }

    fn field<T: Field>(&mut self, what: &str) -> std::result::Result<T, ReadErr> {
        let input = &self.buf[self.pos..];
        match T::read_field(input) {
            Ok((rest, v)) => {
                self.pos += input.len() - rest.len();
                Ok(v)
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e))
                if e.code == nom::error::ErrorKind::Eof =>
            {
                Err(ReadErr::Eof)
            }
            Err(_) => Err(ReadErr::Bad(format!("bad {what} at byte {}", self.pos))),
        }
    }

    /// The checksum of everything consumed so far.
    fn checksum(&mut self) -> i64 {
        self.adler.update(&self.buf[self.summed..self.pos]);
        self.summed = self.pos;
        self.adler.value()
    }

    /// `SnapStream.checkSealIntegrity`: a long that must equal the running checksum,
    /// then the "/" string.
    fn seal(&mut self) -> std::result::Result<(), ReadErr> {
        let at = self.pos;
        let expected = self.checksum();
        let found: i64 = self.field("seal")?;
        let _slash: String = self.field("seal")?;
        if found != expected {
            return Err(ReadErr::Bad(format!(
                "checksum mismatch (seal at byte {at}: file says {found:#x}, content gives {expected:#x})"
            )));
        }
        Ok(())
    }
}

/// Decode a decompressed snapshot stream.
pub fn decode_snapshot(buf: &[u8], zxid: i64) -> std::result::Result<ZkSnapshot, String> {
    let mut s = Stream::new(buf);
    let magic: i32 = s.field("file header")?;
    let _version: i32 = s.field("file header")?;
    let _dbid: i64 = s.field("file header")?;
    if magic != SNAP_MAGIC {
        return Err(format!("bad magic {magic:#x} (not a ZooKeeper snapshot)"));
    }
    let mut snap = ZkSnapshot {
        zxid,
        ..Default::default()
    };
    let count: i32 = s.field("session count")?;
    for _ in 0..count.max(0) {
        let id: i64 = s.field("session")?;
        let timeout: i32 = s.field("session")?;
        snap.sessions.push((id, timeout));
    }
    let count: i32 = s.field("ACL cache size")?;
    for _ in 0..count.max(0) {
        let r: i64 = s.field("ACL cache")?;
        let list: Vec<Acl> = s.field("ACL cache")?;
        snap.acls.push((r, list));
    }
    loop {
        let path: String = s.field("node path")?;
        if path == END_PATH {
            break;
        }
        let at = s.pos;
        let data: Option<Bytes> = s.field("node data")?;
        let acl_ref: i64 = s.field("node ACL")?;
        let stat: StatPersisted = s.field("node stat")?;
        if !path.is_empty() && !path.starts_with('/') {
            return Err(format!("bad node path {path:?} at byte {at}"));
        }
        snap.nodes.push(SnapNode {
            path: if path.is_empty() { "/".into() } else { path },
            data,
            acl_ref,
            stat,
        });
    }
    s.seal()?;
    // Optional trailers. A digest needs its own seal; when that seal does not check,
    // the bytes may instead be a lone lastProcessedZxid (a 3.9 writer with digests off).
    let after_body = s.clone();
    match read_digest(&mut s) {
        Ok(d) => {
            snap.digest = Some(d);
            if let Ok(z) = read_last_zxid(&mut s) {
                snap.last_processed_zxid = Some(z);
            }
        }
        Err(_) => {
            let mut retry = after_body;
            if let Ok(z) = read_last_zxid(&mut retry) {
                snap.last_processed_zxid = Some(z);
            }
        }
    }
    Ok(snap)
}

fn read_digest(s: &mut Stream<'_>) -> std::result::Result<(i64, i32, i64), ReadErr> {
    let zxid: i64 = s.field("digest")?;
    let version: i32 = s.field("digest")?;
    let digest = if version < 2 {
        let hex: Option<String> = s.field("digest")?;
        match hex {
            Some(h) => u64::from_str_radix(&h, 16)
                .map(|v| v as i64)
                .map_err(|_| ReadErr::Bad("bad digest".into()))?,
            None => 0,
        }
    } else {
        s.field("digest")?
    };
    s.seal()?;
    Ok((zxid, version, digest))
}

fn read_last_zxid(s: &mut Stream<'_>) -> std::result::Result<i64, ReadErr> {
    let z: i64 = s.field("lastProcessedZxid")?;
    s.seal()?;
    Ok(z)
}

/// Writes the checksummed snapshot stream, keeping the running Adler32 for the seals.
pub struct SnapshotWriter<W: Write> {
    out: W,
    adler: Adler32,
    scratch: BytesMut,
    nodes: u64,
    /// ZooKeeper's digest of the nodes written so far.
    digest: i64,
}

impl<W: Write> SnapshotWriter<W> {
    /// Start a snapshot: file header, sessions and ACL cache. Nodes follow with
    /// [`SnapshotWriter::node`], root first, every parent before its children.
    pub fn start(out: W, sessions: &[(i64, i32)], acls: &[(i64, &[Acl])]) -> io::Result<Self> {
        let mut w = SnapshotWriter {
            out,
            adler: Adler32::default(),
            scratch: BytesMut::with_capacity(64 * 1024),
            nodes: 0,
            digest: 0,
        };
        SNAP_MAGIC.write_field(&mut w.scratch);
        2i32.write_field(&mut w.scratch);
        (-1i64).write_field(&mut w.scratch);
        len_i32(sessions.len())?.write_field(&mut w.scratch);
        for (id, timeout) in sessions {
            id.write_field(&mut w.scratch);
            timeout.write_field(&mut w.scratch);
        }
        len_i32(acls.len())?.write_field(&mut w.scratch);
        for (r, list) in acls {
            r.write_field(&mut w.scratch);
            len_i32(list.len())?.write_field(&mut w.scratch);
            for a in list.iter() {
                a.write_field(&mut w.scratch);
            }
        }
        w.flush_scratch(false)?;
        Ok(w)
    }

    fn flush_scratch(&mut self, only_if_big: bool) -> io::Result<()> {
        if only_if_big && self.scratch.len() < 60 * 1024 {
            return Ok(());
        }
        self.adler.update(&self.scratch);
        self.out.write_all(&self.scratch)?;
        self.scratch.clear();
        Ok(())
    }

    /// One node; `path` "/" is written as "" (ZooKeeper's root).
    pub fn node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl_ref: i64,
        stat: &StatPersisted,
    ) -> io::Result<()> {
        self.digest = self
            .digest
            .wrapping_add(crate::tree::zk_node_digest(path, data, stat));
        let path = if path == "/" { "" } else { path };
        write_str(path, &mut self.scratch);
        match data {
            Some(d) => {
                len_i32(d.len())?.write_field(&mut self.scratch);
                self.scratch.extend_from_slice(d);
            }
            None => (-1i32).write_field(&mut self.scratch),
        }
        acl_ref.write_field(&mut self.scratch);
        stat.write_field(&mut self.scratch);
        self.nodes += 1;
        self.flush_scratch(true)
    }

    /// End the node list and seal the stream; returns the writer and the node count.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        write_str(END_PATH, &mut self.scratch);
        self.seal()?;
        self.out.flush()?;
        Ok((self.out, self.nodes))
    }

    /// [`SnapshotWriter::finish`], then the digest of the tree at `zxid` and `zxid` as
    /// lastProcessedZxid, each sealed (ZooKeeper 3.9's `FileSnap.serialize`).
    pub fn finish_with_zxid(mut self, zxid: i64) -> io::Result<(W, u64)> {
        write_str(END_PATH, &mut self.scratch);
        self.seal()?;
        zxid.write_field(&mut self.scratch);
        crate::tree::DIGEST_VERSION.write_field(&mut self.scratch);
        self.digest.write_field(&mut self.scratch);
        self.seal()?;
        zxid.write_field(&mut self.scratch);
        self.seal()?;
        self.out.flush()?;
        Ok((self.out, self.nodes))
    }

    /// The checksum of everything so far, then "/" (`SnapStream.sealStream`).
    fn seal(&mut self) -> io::Result<()> {
        self.flush_scratch(false)?;
        self.adler.value().write_field(&mut self.scratch);
        write_str(END_PATH, &mut self.scratch);
        self.flush_scratch(false)
    }
}

fn write_str(s: &str, out: &mut BytesMut) {
    out.extend_from_slice(&(s.len() as i32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn len_i32(n: usize) -> io::Result<i32> {
    i32::try_from(n).map_err(|_| io::Error::other("count too large for a jute int"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jute::Id;

    fn acl(scheme: &str, id: &str, perms: i32) -> Acl {
        Acl {
            perms,
            id: Id {
                scheme: scheme.into(),
                id: id.into(),
            },
        }
    }

    fn stat(z: i64) -> StatPersisted {
        StatPersisted {
            czxid: z,
            mzxid: z,
            ctime: 1000 + z,
            mtime: 2000 + z,
            version: 1,
            cversion: 2,
            aversion: 3,
            ephemeral_owner: 0,
            pzxid: z,
        }
    }

    /// A small snapshot as ZooKeeper would write it (with the optional trailers).
    pub(crate) fn sample(digest: bool, last_zxid: bool) -> Vec<u8> {
        let acls = [acl("digest", "bob:xyz=", 31)];
        let acl_refs: Vec<(i64, &[Acl])> = vec![(1, &acls[..])];
        let mut w =
            SnapshotWriter::start(Vec::new(), &[(0x100, 30000), (0x101, 4000)], &acl_refs).unwrap();
        w.node("/", Some(&Bytes::new()), -1, &stat(0)).unwrap();
        w.node("/a", Some(&Bytes::from_static(b"hello")), 1, &stat(5))
            .unwrap();
        w.node("/a/b", None, -1, &stat(6)).unwrap();
        w.node("/zookeeper", Some(&Bytes::new()), -1, &stat(0))
            .unwrap();
        let (mut out, n) = w.finish().unwrap();
        assert_eq!(n, 4);
        let mut adler = Adler32::default();
        adler.update(&out);
        let mut extra = BytesMut::new();
        if digest {
            7i64.write_field(&mut extra);
            2i32.write_field(&mut extra);
            0x1234i64.write_field(&mut extra);
            adler.update(&extra);
            adler.value().write_field(&mut extra);
            write_str("/", &mut extra);
            out.extend_from_slice(&extra);
            adler = Adler32::default();
            adler.update(&out);
            extra.clear();
        }
        if last_zxid {
            9i64.write_field(&mut extra);
            adler.update(&extra);
            adler.value().write_field(&mut extra);
            write_str("/", &mut extra);
            out.extend_from_slice(&extra);
        }
        out
    }

    #[test]
    fn round_trip_and_trailers() {
        for (digest, last) in [(false, false), (true, false), (true, true), (false, true)] {
            let buf = sample(digest, last);
            assert_eq!(&buf[buf.len() - 5..], &[0, 0, 0, 1, b'/']);
            let snap = decode_snapshot(&buf, 7).unwrap();
            assert_eq!(snap.sessions, vec![(0x100, 30000), (0x101, 4000)]);
            assert_eq!(snap.acls.len(), 1);
            let paths: Vec<&str> = snap.nodes.iter().map(|n| n.path.as_str()).collect();
            assert_eq!(paths, ["/", "/a", "/a/b", "/zookeeper"]);
            assert_eq!(snap.nodes[1].data.as_deref(), Some(&b"hello"[..]));
            assert_eq!(snap.nodes[2].data, None);
            assert_eq!(snap.nodes[1].acl_ref, 1);
            assert_eq!(snap.nodes[1].stat, stat(5));
            assert_eq!(snap.digest, digest.then_some((7, 2, 0x1234)));
            assert_eq!(snap.last_processed_zxid, last.then_some(9));
        }
    }

    #[test]
    fn corrupt_seal_and_truncation_are_errors() {
        let mut buf = sample(false, false);
        // Flip a byte of /a's data: the seal no longer matches.
        let at = buf.windows(5).position(|w| w == b"hello").unwrap();
        buf[at] = b'j';
        let e = decode_snapshot(&buf, 1).unwrap_err();
        assert!(e.contains("checksum mismatch"), "{e}");
        let good = sample(false, false);
        let e = decode_snapshot(&good[..good.len() - 30], 1).unwrap_err();
        assert!(e.contains("end of snapshot") || e.contains("bad"), "{e}");
        let mut bad_magic = good.clone();
        bad_magic[0] = 0;
        assert!(decode_snapshot(&bad_magic, 1)
            .unwrap_err()
            .contains("magic"));
    }

    /// snappy-java's framing, as `SnappyOutputStream` writes it.
    pub(crate) fn snappy_java(stream: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = SNAPPY_MAGIC.to_vec();
        out.extend_from_slice(&1i32.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
        let mut enc = snap::raw::Encoder::new();
        for part in stream.chunks(chunk) {
            let c = enc.compress_vec(part).unwrap();
            out.extend_from_slice(&(c.len() as i32).to_be_bytes());
            out.extend_from_slice(&c);
        }
        out
    }

    #[test]
    fn compressed_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let plain = sample(true, false);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        std::fs::write(dir.path().join("snapshot.7.gz"), &gz).unwrap();
        std::fs::write(
            dir.path().join("snapshot.7.snappy"),
            snappy_java(&plain, 50),
        )
        .unwrap();
        std::fs::write(dir.path().join("snapshot.7"), &plain).unwrap();
        for name in ["snapshot.7", "snapshot.7.gz", "snapshot.7.snappy"] {
            let p = dir.path().join(name);
            assert!(is_valid_snapshot(&p).unwrap(), "{name}");
            let snap = read_snapshot(&p).unwrap();
            assert_eq!(snap.zxid, 7);
            assert_eq!(snap.nodes.len(), 4, "{name}");
        }
        // The validity rule: a plain file must end with a seal's "/".
        std::fs::write(dir.path().join("snapshot.8"), &plain[..plain.len() - 1]).unwrap();
        assert!(!is_valid_snapshot(&dir.path().join("snapshot.8")).unwrap());
        std::fs::write(dir.path().join("snapshot.9"), b"short").unwrap();
        assert!(!is_valid_snapshot(&dir.path().join("snapshot.9")).unwrap());
        std::fs::write(dir.path().join("snapshot.a.gz"), b"not gzip").unwrap();
        assert!(!is_valid_snapshot(&dir.path().join("snapshot.a.gz")).unwrap());
        // A truncated snappy chunk is an error, not a panic.
        let s = snappy_java(&plain, 50);
        assert!(decompress(&s[..s.len() - 3], Compression::Snappy, usize::MAX).is_err());
        // A limit refuses a stream that inflates past it.
        assert!(decompress(&s, Compression::Snappy, plain.len() - 1).is_err());
        assert_eq!(
            decompress(&s, Compression::Snappy, plain.len()).unwrap(),
            plain
        );
        assert_eq!(Compression::of("snapshot.1f"), Compression::None);
    }
}
