//! `zkd verify`: walk two live servers through the client protocol and report every
//! znode that differs.
//!
//! Why through the client protocol: it is the view every application has, it needs no
//! access to either server's files, and it works across implementations (ZooKeeper vs
//! zkd, before and after a cutover). For each path present on either side it compares
//! the data, the ACL list and every Stat field (czxid, mzxid, pzxid, ctime, mtime,
//! version, cversion, aversion, ephemeralOwner, dataLength, numChildren) and the child
//! names. What the protocol cannot show (whether a node is a container or a TTL node:
//! both read as ephemeralOwner 0) is checked by `zkd import` against the source instead.
//!
//! The client is deliberately tiny and synchronous: one request at a time over a std
//! TcpStream, the jute crate for the records, no watches. `--auth digest:user:pass`
//! (e.g. the super user) lets it read nodes whose ACL would otherwise hide them; a node
//! unreadable on both sides with the same error is reported as not compared.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jute::{
    err, op, xid, Acl, AuthPacket, ConnectRequest, ConnectResponse, GetAclRequest, GetAclResponse,
    GetChildren2Request, GetChildren2Response, GetDataRequest, GetDataResponse, Record,
    ReplyHeader, RequestHeader, Stat,
};

use super::{hex, Error, Progress, Result};

/// Paths whose reads are pipelined in one round trip.
const BATCH: usize = 128;
/// Largest frame accepted from a server (ZooKeeper's jute.maxbuffer plus headroom).
const MAX_FRAME: usize = 64 << 20;

/// A minimal synchronous ZooKeeper client.
pub struct Client {
    addr: String,
    stream: TcpStream,
    xid: i32,
}

impl Client {
    pub fn connect(addr: &str, timeout: Duration) -> Result<Client> {
        let sock = addr
            .to_socket_addrs()
            .map_err(|e| Error::new(format!("{addr}: {e}")))?
            .next()
            .ok_or_else(|| Error::new(format!("{addr}: no address")))?;
        let stream = TcpStream::connect_timeout(&sock, timeout)
            .map_err(|e| Error::new(format!("{addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| Error::new(format!("{addr}: {e}")))?;
        let mut c = Client {
            addr: addr.to_string(),
            stream,
            xid: 0,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        c.send(&req.encode())?;
        let frame = c.recv()?;
        let resp = ConnectResponse::decode(&frame).map_err(|e| c.err(e))?;
        if resp.time_out <= 0 {
            return Err(c.err("the server refused the session"));
        }
        Ok(c)
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::new(format!("{}: {e}", self.addr))
    }

    fn send(&mut self, body: &[u8]) -> Result<()> {
        let len = i32::try_from(body.len()).map_err(|_| self.err("request too large"))?;
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(body);
        self.stream.write_all(&frame).map_err(|e| self.err(e))
    }

    fn recv(&mut self) -> Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).map_err(|e| self.err(e))?;
        let len = i32::from_be_bytes(len);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_FRAME)
            .ok_or_else(|| self.err(format!("bad frame length {len}")))?;
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf).map_err(|e| self.err(e))?;
        Ok(buf)
    }

    /// Send a request; returns the error code and the response body.
    fn call(&mut self, opcode: i32, body: &[u8], fixed_xid: Option<i32>) -> Result<(i32, Vec<u8>)> {
        let x = match fixed_xid {
            Some(x) => x,
            None => {
                self.xid = self.xid.wrapping_add(1).max(1);
                self.xid
            }
        };
        let mut out = BytesMut::new();
        RequestHeader {
            xid: x,
            op_type: opcode,
        }
        .write(&mut out);
        out.extend_from_slice(body);
        self.send(&out)?;
        self.reply(x)
    }

    /// `addauth scheme credentials`.
    pub fn auth(&mut self, scheme: &str, credentials: &str) -> Result<()> {
        let p = AuthPacket {
            auth_type: 0,
            scheme: scheme.into(),
            auth: Bytes::copy_from_slice(credentials.as_bytes()),
        };
        let (code, _) = self.call(op::AUTH, &p.encode(), Some(xid::AUTH))?;
        if code != err::OK {
            return Err(self.err(format!("authentication as {scheme} failed ({code})")));
        }
        Ok(())
    }

    /// Pipelined reads: for every path, getChildren2 + getData + getACL are sent
    /// back to back, then the replies are read in order (a server answers one
    /// session's requests in order). One round trip per batch instead of three per
    /// node is what makes a million-node walk take minutes rather than hours.
    fn views(&mut self, paths: &[String]) -> Result<Vec<View>> {
        let mut out = BytesMut::new();
        let first = self.xid.wrapping_add(1).max(1);
        for p in paths {
            let bodies = [
                (
                    op::GET_CHILDREN2,
                    GetChildren2Request {
                        path: p.clone(),
                        watch: false,
                    }
                    .encode(),
                ),
                (
                    op::GET_DATA,
                    GetDataRequest {
                        path: p.clone(),
                        watch: false,
                    }
                    .encode(),
                ),
                (op::GET_ACL, GetAclRequest { path: p.clone() }.encode()),
            ];
            for (opcode, body) in bodies {
                self.xid = self.xid.wrapping_add(1).max(1);
                let mut frame = BytesMut::new();
                RequestHeader {
                    xid: self.xid,
                    op_type: opcode,
                }
                .write(&mut frame);
                frame.extend_from_slice(&body);
                let len = i32::try_from(frame.len()).map_err(|_| self.err("request too large"))?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&frame);
            }
        }
        self.stream.write_all(&out).map_err(|e| self.err(e))?;
        let mut expect = first;
        let mut next = || {
            let x = expect;
            expect = expect.wrapping_add(1).max(1);
            x
        };
        let mut views = Vec::with_capacity(paths.len());
        for _ in paths {
            let (code, body) = self.reply(next())?;
            let children = match code {
                err::OK => {
                    let mut r = GetChildren2Response::decode(&body).map_err(|e| self.err(e))?;
                    r.children.sort();
                    Ok(r.children)
                }
                e => Err(e),
            };
            let (code, body) = self.reply(next())?;
            let data = match code {
                err::OK => {
                    let r = GetDataResponse::decode(&body).map_err(|e| self.err(e))?;
                    Ok((r.data, r.stat))
                }
                e => Err(e),
            };
            let (code, body) = self.reply(next())?;
            let acl = match code {
                err::OK => Ok(GetAclResponse::decode(&body).map_err(|e| self.err(e))?.acl),
                e => Err(e),
            };
            views.push(View {
                children,
                data,
                acl,
            });
        }
        Ok(views)
    }

    /// The reply to request `x` (notifications and pings are skipped).
    fn reply(&mut self, x: i32) -> Result<(i32, Vec<u8>)> {
        loop {
            let frame = self.recv()?;
            let (rest, h) =
                ReplyHeader::read(&frame).map_err(|_| self.err("short reply header"))?;
            if h.xid == x {
                return Ok((h.err, rest.to_vec()));
            }
            if h.xid != xid::NOTIFICATION && h.xid != xid::PING {
                return Err(self.err(format!("reply for xid {} while waiting for {x}", h.xid)));
            }
        }
    }

    pub fn close(mut self) {
        let _ = self.call(op::CLOSE_SESSION, &[], None);
    }
}

/// What one side shows for one path.
#[derive(Debug, PartialEq)]
struct View {
    /// Child names (sorted), or the error getChildren gave.
    children: std::result::Result<Vec<String>, i32>,
    data: std::result::Result<(Option<Bytes>, Stat), i32>,
    acl: std::result::Result<Vec<Acl>, i32>,
}

fn stat_diffs(l: &Stat, r: &Stat) -> Vec<String> {
    let mut out = Vec::new();
    let mut f = |name: &str, a: i64, b: i64, zx: bool| {
        if a != b {
            let (a, b) = if zx {
                (hex(a), hex(b))
            } else {
                (a.to_string(), b.to_string())
            };
            out.push(format!("{name} {a} != {b}"));
        }
    };
    f("czxid", l.czxid, r.czxid, true);
    f("mzxid", l.mzxid, r.mzxid, true);
    f("pzxid", l.pzxid, r.pzxid, true);
    f("ctime", l.ctime, r.ctime, false);
    f("mtime", l.mtime, r.mtime, false);
    f("version", l.version.into(), r.version.into(), false);
    f("cversion", l.cversion.into(), r.cversion.into(), false);
    f("aversion", l.aversion.into(), r.aversion.into(), false);
    f("ephemeralOwner", l.ephemeral_owner, r.ephemeral_owner, true);
    f(
        "dataLength",
        l.data_length.into(),
        r.data_length.into(),
        false,
    );
    f(
        "numChildren",
        l.num_children.into(),
        r.num_children.into(),
        false,
    );
    out
}

fn show_data(d: &Option<Bytes>) -> String {
    match d {
        None => "null".into(),
        Some(b) if b.len() <= 40 => format!("{:?}", String::from_utf8_lossy(b)),
        Some(b) => format!("{} bytes", b.len()),
    }
}

fn show_acl(a: &[Acl]) -> String {
    a.iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, a.perms))
        .collect::<Vec<_>>()
        .join(",")
}

/// The differences between two views of one path (empty = equal).
fn compare(l: &View, r: &View) -> Vec<String> {
    let mut out = Vec::new();
    match (&l.data, &r.data) {
        (Ok((ld, ls)), Ok((rd, rs))) => {
            if ld != rd {
                out.push(format!("data {} != {}", show_data(ld), show_data(rd)));
            }
            out.extend(stat_diffs(ls, rs));
        }
        (a, b) if a.as_ref().err() != b.as_ref().err() => out.push(format!(
            "getData: {} != {}",
            a.as_ref()
                .map_or_else(|e| format!("error {e}"), |_| "ok".into()),
            b.as_ref()
                .map_or_else(|e| format!("error {e}"), |_| "ok".into())
        )),
        _ => {}
    }
    match (&l.acl, &r.acl) {
        (Ok(a), Ok(b)) if a != b => out.push(format!("acl {} != {}", show_acl(a), show_acl(b))),
        (a, b) if a.is_err() != b.is_err() || a.as_ref().err() != b.as_ref().err() => out.push(
            format!("getACL: {:?} != {:?}", a.as_ref().err(), b.as_ref().err()),
        ),
        _ => {}
    }
    out
}

/// Outcome of a verify run.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub compared: u64,
    pub differing: u64,
    pub only_left: u64,
    pub only_right: u64,
    /// Unreadable on both sides with the same error (not compared).
    pub unreadable: u64,
}

pub struct VerifyOptions {
    pub left: String,
    pub right: String,
    pub path: String,
    /// `scheme:credentials`, sent to both servers.
    pub auth: Vec<String>,
    /// Print at most this many differences (all are counted).
    pub max_report: u64,
}

/// The quick whole-tree check (`zkd verify --digest`): the tree digests both servers
/// noted at the newest zxid they both have in their `hash` history (ZooKeeper's digest
/// log: every 128th zxid). Equal digests at one zxid mean equal trees there, every node's
/// data and stat included; it needs `hash` in both servers' 4lw whitelist and, between
/// ZooKeeper and zkd, trees with the same zxids (an import, or members of one ensemble).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestComparison {
    pub zxid: i64,
    pub left: i64,
    pub right: i64,
}

impl DigestComparison {
    pub fn summary(&self) -> String {
        if self.left == self.right {
            format!(
                "tree digest at zxid 0x{:x}: {} on both servers",
                self.zxid, self.left
            )
        } else {
            format!(
                "tree digest at zxid 0x{:x}: {} on the left, {} on the right: the trees differ",
                self.zxid, self.left, self.right
            )
        }
    }
}

/// The `hash` history of the server at `addr`: (zxid, digest) pairs.
fn digest_history(addr: &str, timeout: Duration) -> Result<Vec<(i64, i64)>> {
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| Error::new(format!("{addr}: {e}")))?
        .next()
        .ok_or_else(|| Error::new(format!("{addr}: no address")))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout)
        .map_err(|e| Error::new(format!("{addr}: {e}")))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let mut text = String::new();
    stream
        .write_all(b"hash")
        .and_then(|()| stream.read_to_string(&mut text))
        .map_err(|e| Error::new(format!("{addr}: hash: {e}")))?;
    if text.contains("is not executed because it is not in the whitelist") {
        return Err(Error::new(format!(
            "{addr}: `hash` is not in its 4lw.commands.whitelist"
        )));
    }
    Ok(text
        .lines()
        .filter_map(|l| {
            let (zxid, digest) = l.split_once(": ")?;
            Some((
                i64::from_str_radix(zxid, 16).ok()?,
                digest.trim().parse().ok()?,
            ))
        })
        .collect())
}

/// Compare the two servers' tree digests at the newest zxid both have noted.
pub fn compare_digests(left: &str, right: &str) -> Result<DigestComparison> {
    let timeout = Duration::from_secs(30);
    let l = digest_history(left, timeout)?;
    let r: BTreeMap<i64, i64> = digest_history(right, timeout)?.into_iter().collect();
    l.iter()
        .rev()
        .find_map(|&(zxid, left)| {
            r.get(&zxid)
                .map(|&right| DigestComparison { zxid, left, right })
        })
        .ok_or_else(|| {
            Error::new(format!(
                "no zxid in both digest histories (left has {}, right has {}): the digest is \
                 noted every 128th zxid and kept in memory, so both servers need to have \
                 applied a common multiple of 128 since they started",
                l.len(),
                r.len()
            ))
        })
}

/// Walk both servers from `path` and print every difference to stdout.
pub fn run(opts: &VerifyOptions) -> Result<VerifyReport> {
    let timeout = Duration::from_secs(30);
    let mut left = Client::connect(&opts.left, timeout)?;
    let mut right = Client::connect(&opts.right, timeout)?;
    for a in &opts.auth {
        let (scheme, cred) = a
            .split_once(':')
            .ok_or_else(|| Error::new(format!("--auth {a}: expected scheme:credentials")))?;
        left.auth(scheme, cred)?;
        right.auth(scheme, cred)?;
    }
    let mut report = VerifyReport::default();
    let mut progress = Progress::new();
    let mut printed = 0u64;
    let mut say = |line: String, report_count: &mut u64| {
        *report_count += 1;
        if printed < opts.max_report {
            println!("{line}");
            printed += 1;
        }
    };
    let root = if opts.path.len() > 1 {
        opts.path.trim_end_matches('/').to_string()
    } else {
        "/".to_string()
    };
    let mut stack = vec![root];
    while !stack.is_empty() {
        let batch: Vec<String> = stack.split_off(stack.len().saturating_sub(BATCH));
        let lv = left.views(&batch)?;
        let rv = right.views(&batch)?;
        for ((path, l), r) in batch.into_iter().zip(lv).zip(rv) {
            report.compared += 1;
            let l_missing = l.data.as_ref().err() == Some(&err::NO_NODE);
            let r_missing = r.data.as_ref().err() == Some(&err::NO_NODE);
            match (l_missing, r_missing) {
                (true, true) => {
                    say(
                        format!("{path}: missing on both sides"),
                        &mut report.differing,
                    );
                    continue;
                }
                (false, true) => {
                    say(
                        format!("{path}: only on left ({})", opts.left),
                        &mut report.only_left,
                    );
                    continue;
                }
                (true, false) => {
                    say(
                        format!("{path}: only on right ({})", opts.right),
                        &mut report.only_right,
                    );
                    continue;
                }
                (false, false) => {}
            }
            let diffs = compare(&l, &r);
            if !diffs.is_empty() {
                say(
                    format!("{path}: {}", diffs.join("; ")),
                    &mut report.differing,
                );
            } else if l.data.is_err() {
                report.unreadable += 1;
            }
            // Children: the union, so a node missing on one side is reported by name.
            let mut names: BTreeSet<String> = BTreeSet::new();
            match (&l.children, &r.children) {
                (Ok(a), Ok(b)) => {
                    names.extend(a.iter().cloned());
                    names.extend(b.iter().cloned());
                }
                (Ok(a), Err(_)) | (Err(_), Ok(a)) => {
                    say(
                        format!("{path}: children readable on one side only"),
                        &mut report.differing,
                    );
                    names.extend(a.iter().cloned());
                }
                (Err(_), Err(_)) => {}
            }
            for name in names.into_iter().rev() {
                stack.push(if path == "/" {
                    format!("/{name}")
                } else {
                    format!("{path}/{name}")
                });
            }
        }
        let n = report.compared;
        progress.update(false, || format!("verified {n} znodes"));
    }
    progress.finish();
    left.close();
    right.close();
    Ok(report)
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.differing == 0 && self.only_left == 0 && self.only_right == 0
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} znodes compared: {} differ, {} only on left, {} only on right",
            self.compared, self.differing, self.only_left, self.only_right
        );
        if self.unreadable > 0 {
            s += &format!(
                "; {} unreadable on both sides with the same error (not compared; try --auth)",
                self.unreadable
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(v: i32) -> Stat {
        Stat {
            version: v,
            czxid: 5,
            ..Default::default()
        }
    }

    #[test]
    fn compare_reports_each_field() {
        let a = View {
            children: Ok(vec![]),
            data: Ok((Some(Bytes::from_static(b"x")), stat(1))),
            acl: Ok(vec![]),
        };
        assert!(compare(&a, &a).is_empty());
        let mut b = View {
            children: Ok(vec![]),
            data: Ok((Some(Bytes::from_static(b"y")), stat(2))),
            acl: Err(err::NO_AUTH),
        };
        let d = compare(&a, &b);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].starts_with("data"));
        assert_eq!(d[1], "version 1 != 2");
        assert!(d[2].starts_with("getACL"));
        b.data = Err(err::NO_AUTH);
        b.acl = Ok(vec![]);
        assert_eq!(
            compare(&a, &b),
            vec!["getData: ok != error -102".to_string()]
        );
        let mut s = stat(1);
        s.ephemeral_owner = 0x100;
        s.pzxid = 9;
        assert_eq!(
            stat_diffs(&stat(1), &s),
            vec!["pzxid 0x0 != 0x9", "ephemeralOwner 0x0 != 0x100"]
        );
    }
}
