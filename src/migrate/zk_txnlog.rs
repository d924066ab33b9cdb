//! ZooKeeper txn logs (`version-2/log.<hex zxid of the first txn>`): read every entry,
//! and say exactly where and why a log stops being readable.
//!
//! Layout (`FileTxnLog`): `FileHeader {int magic "ZKLG"; int version 2; long dbid 0}`,
//! then entries `long adler32 | int len | len bytes | byte 'B'`, where the checksum covers
//! the `len` bytes only. The bytes are `TxnHeader` + the record of the txn type +
//! optionally a `TxnDigest`. Files are preallocated with zeros (64 MB steps), so a
//! zero length means "end of log".
//!
//! Why stricter than ZooKeeper: on restart ZooKeeper treats a partial last entry (no
//! 'B', or the file ending inside an entry) as a quiet end of that file and moves on,
//! and it stops at a zero length without looking further. A migration must not lose
//! data quietly, so every way a log can end is classified: [`Next::End`] only for a
//! clean end (end of file at an entry boundary, or a zero length followed by nothing
//! but zero padding); anything else is a [`Damage`] with the file and byte offset of the
//! entry, which the importer reports and stops at.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use jute::{
    op, Acl, CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn,
    CreateTxn, DeleteTxn, ErrorTxn, Field, MultiTxn, Record, SetAclTxn, SetDataTxn, TxnDigest,
    TxnHeader,
};

use super::{Adler32, Error, Result};

/// `"ZKLG"` as a big-endian int.
pub const LOG_MAGIC: i32 = 0x5A4B_4C47;
const FILE_HEADER_LEN: usize = 16;
/// checksum (8) + length (4).
const ENTRY_HEADER_LEN: usize = 12;
const TERMINATOR: u8 = b'B';

/// One txn record, decoded by type (`SerializeUtils.deserializeTxn`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkTxn {
    CreateSession {
        timeout: i32,
    },
    /// `paths` is `None` for logs written without `CloseSessionTxn` (older servers or
    /// `closeSessionTxn.enabled=false`): the session's ephemerals are then found locally.
    CloseSession {
        paths: Option<Vec<String>>,
    },
    /// create (1) and create2 (15). A pre-3.4 `CreateTxnV0` has no parentCVersion and
    /// decodes with -1 ("parent's cversion + 1").
    Create(CreateTxn),
    CreateTtl(CreateTtlTxn),
    CreateContainer(CreateContainerTxn),
    /// delete (2) and deleteContainer (20).
    Delete(DeleteTxn),
    /// setData (5) and reconfig (16).
    SetData(SetDataTxn),
    SetAcl(SetAclTxn),
    Error(ErrorTxn),
    /// check (13): only inside a multi.
    Check(CheckVersionTxn),
    /// The sub-txns with their types. A sub-txn that cannot be decoded is kept as an
    /// error string: ZooKeeper applies the sub-txns before it and stops there.
    Multi(Vec<(i32, std::result::Result<ZkTxn, String>)>),
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedTxn {
    /// Byte offset of the entry in its file.
    pub offset: u64,
    pub header: TxnHeader,
    pub txn: ZkTxn,
    pub digest: Option<TxnDigest>,
}

/// Where and why a log stops being readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub file: PathBuf,
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at byte offset {}: {}",
            self.file.display(),
            self.offset,
            self.reason
        )
    }
}

/// What [`TxnLogFile::next_entry`] found.
#[derive(Debug)]
pub enum Next {
    Txn(Box<LoggedTxn>),
    End,
    Damaged(Damage),
}

/// One log file, read into memory (files are at most a few preallocation steps).
pub struct TxnLogFile {
    path: PathBuf,
    buf: Vec<u8>,
    pos: usize,
    /// Set when the file header itself is bad.
    header_damage: Option<String>,
}

impl TxnLogFile {
    pub fn open(path: &Path) -> Result<TxnLogFile> {
        let buf = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(TxnLogFile::from_bytes(path, buf))
    }

    pub fn from_bytes(path: &Path, buf: Vec<u8>) -> TxnLogFile {
        let header_damage = if buf.is_empty() || buf.iter().all(|&b| b == 0) {
            // A file created but never written (a crash right after the roll).
            None
        } else if buf.len() < FILE_HEADER_LEN {
            Some("truncated file header".to_string())
        } else {
            let magic = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            (magic != LOG_MAGIC).then(|| format!("bad magic {magic:#x} (not a ZooKeeper txn log)"))
        };
        TxnLogFile {
            path: path.to_path_buf(),
            pos: if buf.len() >= FILE_HEADER_LEN {
                FILE_HEADER_LEN
            } else {
                buf.len()
            },
            buf,
            header_damage,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of the file up to the current position (for progress).
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    pub fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn damage(&self, offset: usize, reason: impl Into<String>) -> Next {
        Next::Damaged(Damage {
            file: self.path.clone(),
            offset: offset as u64,
            reason: reason.into(),
        })
    }

    /// The next entry. After `End` or `Damaged`, keeps returning the same.
    pub fn next_entry(&mut self) -> Next {
        if let Some(reason) = &self.header_damage {
            return self.damage(0, reason.clone());
        }
        let at = self.pos;
        let rest = &self.buf[at..];
        if rest.is_empty() {
            return Next::End;
        }
        if rest.len() < ENTRY_HEADER_LEN {
            if rest.iter().all(|&b| b == 0) {
                return Next::End;
            }
            return self.damage(at, "truncated entry (the file ends inside its header)");
        }
        let crc = i64::from_be_bytes(rest[..8].try_into().unwrap_or([0; 8]));
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap_or([0; 4]));
        if len == 0 {
            // End of the written part. Anything but padding after it is a log whose
            // length field was zeroed: ZooKeeper would silently stop here.
            if rest.iter().any(|&b| b != 0) {
                return self.damage(
                    at,
                    "zero-length entry followed by non-zero data (corrupt length)",
                );
            }
            return Next::End;
        }
        let Ok(len) = usize::try_from(len) else {
            return self.damage(at, format!("negative entry length {len}"));
        };
        let body_end = ENTRY_HEADER_LEN + len;
        if rest.len() < body_end {
            return self.damage(
                at,
                format!(
                    "truncated entry: {len} bytes announced, {} left in the file (partial last txn)",
                    rest.len() - ENTRY_HEADER_LEN
                ),
            );
        }
        match rest.get(body_end) {
            Some(&TERMINATOR) => {}
            Some(b) => {
                return self.damage(
                    at,
                    format!("entry not terminated by 'B' (found {b:#04x}; partial txn)"),
                )
            }
            None => return self.damage(at, "entry not terminated by 'B' (partial last txn)"),
        }
        let body = &rest[ENTRY_HEADER_LEN..body_end];
        let actual = Adler32::of(body);
        if actual != crc {
            return self.damage(
                at,
                format!("checksum mismatch (entry says {crc:#x}, content gives {actual:#x})"),
            );
        }
        match decode_entry(body) {
            Ok((header, txn, digest)) => {
                self.pos = at + body_end + 1;
                Next::Txn(Box::new(LoggedTxn {
                    offset: at as u64,
                    header,
                    txn,
                    digest,
                }))
            }
            Err(e) => self.damage(at, format!("undecodable txn: {e}")),
        }
    }
}

/// Decode one entry's bytes: header, record, optional digest.
pub fn decode_entry(
    bytes: &[u8],
) -> std::result::Result<(TxnHeader, ZkTxn, Option<TxnDigest>), String> {
    let (rest, header) = TxnHeader::read(bytes).map_err(|_| "short txn header".to_string())?;
    let (rest, txn) = decode_txn(header.txn_type, rest, false)?;
    let digest = TxnDigest::read(rest).ok().map(|(_, d)| d);
    Ok((header, txn, digest))
}

fn rec<'a, T: Record>(input: &'a [u8], what: &str) -> std::result::Result<(&'a [u8], T), String> {
    T::read(input).map_err(|_| format!("bad {what} record"))
}

/// Decode the record of a txn of type `t`; `sub` for a multi's sub-txn.
fn decode_txn(t: i32, input: &[u8], sub: bool) -> std::result::Result<(&[u8], ZkTxn), String> {
    Ok(match t {
        op::CREATE_SESSION if !sub => {
            let (r, v) = rec::<CreateSessionTxn>(input, "createSession")?;
            (
                r,
                ZkTxn::CreateSession {
                    timeout: v.time_out,
                },
            )
        }
        op::CLOSE_SESSION if !sub => match CloseSessionTxn::read(input) {
            Ok((r, v)) if !input.is_empty() => (
                r,
                ZkTxn::CloseSession {
                    paths: Some(v.paths2_delete),
                },
            ),
            _ => (input, ZkTxn::CloseSession { paths: None }),
        },
        op::CREATE | op::CREATE2 => match CreateTxn::read(input) {
            Ok((r, v)) => (r, ZkTxn::Create(v)),
            Err(_) if t == op::CREATE => {
                let (r, v) = create_v0(input).map_err(|_| "bad create record".to_string())?;
                (r, ZkTxn::Create(v))
            }
            Err(_) => return Err("bad create2 record".into()),
        },
        op::CREATE_TTL => {
            let (r, v) = rec::<CreateTtlTxn>(input, "createTTL")?;
            (r, ZkTxn::CreateTtl(v))
        }
        op::CREATE_CONTAINER => {
            let (r, v) = rec::<CreateContainerTxn>(input, "createContainer")?;
            (r, ZkTxn::CreateContainer(v))
        }
        op::DELETE | op::DELETE_CONTAINER => {
            let (r, v) = rec::<DeleteTxn>(input, "delete")?;
            (r, ZkTxn::Delete(v))
        }
        op::SET_DATA => {
            let (r, v) = rec::<SetDataTxn>(input, "setData")?;
            (r, ZkTxn::SetData(v))
        }
        op::RECONFIG if !sub => {
            let (r, v) = rec::<SetDataTxn>(input, "reconfig")?;
            (r, ZkTxn::SetData(v))
        }
        op::SET_ACL if !sub => {
            let (r, v) = rec::<SetAclTxn>(input, "setACL")?;
            (r, ZkTxn::SetAcl(v))
        }
        op::ERROR => {
            let (r, v) = rec::<ErrorTxn>(input, "error")?;
            (r, ZkTxn::Error(v))
        }
        op::CHECK if sub => {
            let (r, v) = rec::<CheckVersionTxn>(input, "check")?;
            (r, ZkTxn::Check(v))
        }
        op::MULTI if !sub => {
            let (r, v) = rec::<MultiTxn>(input, "multi")?;
            let subs = v
                .txns
                .into_iter()
                .map(|e| {
                    (
                        e.txn_type,
                        decode_txn(e.txn_type, &e.data, true).map(|(_, t)| t),
                    )
                })
                .collect();
            (r, ZkTxn::Multi(subs))
        }
        other => return Err(format!("unsupported txn type {other}")),
    })
}

/// `CreateTxnV0`: path, data, acl, ephemeral (no parentCVersion).
fn create_v0(input: &[u8]) -> nom::IResult<&[u8], CreateTxn> {
    let (input, path) = String::read_field(input)?;
    let (input, data) = <Option<Bytes>>::read_field(input)?;
    let (input, acl) = <Vec<Acl>>::read_field(input)?;
    let (input, ephemeral) = bool::read_field(input)?;
    Ok((
        input,
        CreateTxn {
            path,
            data,
            acl,
            ephemeral,
            parent_c_version: -1,
        },
    ))
}

/// The log files a restore from a snapshot at `snap_zxid` reads (`FileTxnLog`'s
/// choice): the newest file starting at or before `snap_zxid + 1`, and every later one.
pub fn files_after(files: &[(i64, PathBuf)], snap_zxid: i64) -> Vec<(i64, PathBuf)> {
    let next = snap_zxid.saturating_add(1);
    let start = files
        .iter()
        .filter(|(z, _)| *z < next)
        .map(|(z, _)| *z)
        .max();
    files
        .iter()
        .filter(|(z, _)| start.is_none_or(|s| *z >= s))
        .cloned()
        .collect()
}

/// Test and benchmark helper: encode a txn log the way `FileTxnLog` writes it.
#[cfg(test)]
pub(crate) mod write {
    use bytes::BytesMut;
    use jute::{Record, TxnHeader};

    use super::{Adler32, LOG_MAGIC};

    pub fn file_header(dbid: i64) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&LOG_MAGIC.to_be_bytes());
        out.extend_from_slice(&2i32.to_be_bytes());
        out.extend_from_slice(&dbid.to_be_bytes());
        out
    }

    pub fn entry(header: &TxnHeader, record: &[u8], digest: bool) -> Vec<u8> {
        let mut body = BytesMut::new();
        header.write(&mut body);
        body.extend_from_slice(record);
        if digest {
            jute::TxnDigest {
                version: 2,
                tree_digest: 0x55,
            }
            .write(&mut body);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&Adler32::of(&body).to_be_bytes());
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(&body);
        out.push(b'B');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::write::{entry, file_header};
    use super::*;
    use jute::TxnEntry;

    fn hdr(zxid: i64, t: i32) -> TxnHeader {
        TxnHeader {
            client_id: 0x77,
            cxid: 1,
            zxid,
            time: 1_700_000_000_000 + zxid,
            txn_type: t,
        }
    }

    fn create(path: &str, cv: i32) -> CreateTxn {
        CreateTxn {
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: jute::ids::open_acl_unsafe(),
            ephemeral: false,
            parent_c_version: cv,
        }
    }

    /// A log with one txn of every kind, then `tail` (padding, garbage...).
    fn sample_log() -> (Vec<u8>, Vec<u64>) {
        let mut f = file_header(0);
        let mut offsets = Vec::new();
        let mut push = |f: &mut Vec<u8>, e: Vec<u8>| {
            offsets.push(f.len() as u64);
            f.extend_from_slice(&e);
        };
        push(
            &mut f,
            entry(
                &hdr(1, op::CREATE_SESSION),
                &CreateSessionTxn { time_out: 30000 }.encode(),
                true,
            ),
        );
        push(
            &mut f,
            entry(&hdr(2, op::CREATE), &create("/a", 1).encode(), true),
        );
        let multi = MultiTxn {
            txns: vec![
                TxnEntry {
                    txn_type: op::CREATE,
                    data: create("/a/b", 1).encode().freeze(),
                },
                TxnEntry {
                    txn_type: op::SET_DATA,
                    data: SetDataTxn {
                        path: "/a".into(),
                        data: None,
                        version: 1,
                    }
                    .encode()
                    .freeze(),
                },
                TxnEntry {
                    txn_type: op::CHECK,
                    data: CheckVersionTxn {
                        path: "/a".into(),
                        version: 1,
                    }
                    .encode()
                    .freeze(),
                },
            ],
        };
        push(&mut f, entry(&hdr(3, op::MULTI), &multi.encode(), true));
        push(
            &mut f,
            entry(
                &hdr(4, op::CLOSE_SESSION),
                &CloseSessionTxn {
                    paths2_delete: vec!["/e".into()],
                }
                .encode(),
                false,
            ),
        );
        push(&mut f, entry(&hdr(5, op::CLOSE_SESSION), &[], false));
        // A CreateTxnV0 (no parentCVersion).
        let mut v0 = create("/v0", 0).encode();
        v0.truncate(v0.len() - 4);
        push(&mut f, entry(&hdr(6, op::CREATE), &v0, false));
        (f, offsets)
    }

    fn read_all(buf: Vec<u8>) -> (Vec<LoggedTxn>, Next) {
        let mut file = TxnLogFile::from_bytes(Path::new("log.1"), buf);
        let mut txns = Vec::new();
        loop {
            match file.next_entry() {
                Next::Txn(t) => txns.push(*t),
                other => return (txns, other),
            }
        }
    }

    #[test]
    fn reads_every_kind_and_a_zero_padded_tail() {
        let (mut f, offsets) = sample_log();
        f.extend_from_slice(&vec![0u8; 4096]);
        let (txns, end) = read_all(f);
        assert!(matches!(end, Next::End), "{end:?}");
        assert_eq!(txns.len(), 6);
        assert_eq!(txns.iter().map(|t| t.offset).collect::<Vec<_>>(), offsets);
        assert_eq!(txns[0].txn, ZkTxn::CreateSession { timeout: 30000 });
        assert!(txns[0].digest.is_some());
        assert_eq!(txns[1].txn, ZkTxn::Create(create("/a", 1)));
        let ZkTxn::Multi(subs) = &txns[2].txn else {
            panic!("not a multi")
        };
        assert_eq!(subs.len(), 3);
        assert_eq!(subs[0], (op::CREATE, Ok(ZkTxn::Create(create("/a/b", 1)))));
        assert!(matches!(subs[2], (op::CHECK, Ok(ZkTxn::Check(_)))));
        assert_eq!(
            txns[3].txn,
            ZkTxn::CloseSession {
                paths: Some(vec!["/e".into()])
            }
        );
        assert!(txns[3].digest.is_none());
        assert_eq!(txns[4].txn, ZkTxn::CloseSession { paths: None });
        let ZkTxn::Create(v0) = &txns[5].txn else {
            panic!("not a create")
        };
        assert_eq!((v0.path.as_str(), v0.parent_c_version), ("/v0", -1));
    }

    #[test]
    fn corrupted_checksum_is_reported_with_its_offset() {
        let (mut f, offsets) = sample_log();
        // Flip one byte inside the third entry's body (after its 12-byte prefix).
        let third = offsets[2] as usize;
        f[third + 12 + 40] ^= 0x01;
        let (txns, end) = read_all(f);
        assert_eq!(txns.len(), 2);
        let Next::Damaged(d) = end else {
            panic!("{end:?}")
        };
        assert_eq!(d.offset, offsets[2]);
        assert!(d.reason.contains("checksum mismatch"), "{}", d.reason);
        assert!(d.to_string().contains("log.1 at byte offset"), "{d}");
    }

    #[test]
    fn truncated_tail_is_reported() {
        let (f, offsets) = sample_log();
        let last = *offsets.last().unwrap() as usize;
        for cut in [last + 5, last + 20, f.len() - 1] {
            let (txns, end) = read_all(f[..cut].to_vec());
            assert_eq!(txns.len(), 5, "cut at {cut}");
            let Next::Damaged(d) = end else {
                panic!("{end:?}")
            };
            assert_eq!(d.offset, last as u64);
            assert!(
                d.reason.contains("truncated") || d.reason.contains("'B'"),
                "{}",
                d.reason
            );
        }
        // Cut exactly at an entry boundary: a clean end.
        let (txns, end) = read_all(f[..last].to_vec());
        assert_eq!(txns.len(), 5);
        assert!(matches!(end, Next::End));
    }

    #[test]
    fn other_damage() {
        let (mut f, offsets) = sample_log();
        // Missing terminator.
        let second_end = offsets[2] as usize - 1;
        f[second_end] = b'X';
        let (txns, end) = read_all(f);
        assert_eq!(txns.len(), 1);
        assert!(matches!(end, Next::Damaged(ref d) if d.reason.contains("'B'")));
        // A zeroed length with data after it.
        let (mut f, offsets) = sample_log();
        let at = offsets[1] as usize;
        f[at..at + 12].fill(0);
        let (txns, end) = read_all(f);
        assert_eq!(txns.len(), 1);
        assert!(matches!(end, Next::Damaged(ref d) if d.reason.contains("zero-length")));
        // Bad magic; empty file; header only.
        let (mut f, _) = sample_log();
        f[0] = b'X';
        assert!(matches!(read_all(f).1, Next::Damaged(ref d) if d.offset == 0));
        assert!(matches!(read_all(Vec::new()).1, Next::End));
        assert!(matches!(read_all(file_header(0)).1, Next::End));
        assert!(matches!(read_all(vec![0x5a, 0x4b]).1, Next::Damaged(_)));
        // An unknown txn type is damage, not a panic.
        let mut f = file_header(0);
        f.extend_from_slice(&entry(&hdr(1, 99), &[1, 2, 3], false));
        assert!(matches!(read_all(f).1, Next::Damaged(ref d) if d.reason.contains("unsupported")));
    }

    #[test]
    fn choosing_log_files() {
        let files: Vec<(i64, PathBuf)> = [1, 0x13, 0x22, 0x33]
            .iter()
            .map(|z| (*z, PathBuf::from(format!("log.{z:x}"))))
            .collect();
        let z = |v: Vec<(i64, PathBuf)>| v.into_iter().map(|(z, _)| z).collect::<Vec<_>>();
        assert_eq!(z(files_after(&files, 0x20)), [0x13, 0x22, 0x33]);
        // Like FileTxnIterator: the file before the one starting at zxid + 1 is read too.
        assert_eq!(z(files_after(&files, 0x21)), [0x13, 0x22, 0x33]);
        assert_eq!(z(files_after(&files, 0x22)), [0x22, 0x33]);
        assert_eq!(z(files_after(&files, 0)), [1, 0x13, 0x22, 0x33]);
        assert_eq!(z(files_after(&files, 0x40)), [0x33]);
    }
}
