//! Moving between Apache ZooKeeper and zkd: `zkd import`, `zkd export`, `zkd verify`.
//!
//! Why it exists: users arrive with years of state in ZooKeeper ensembles, and moving
//! must be boring and reversible. ZooKeeper's ZAB cannot be joined by a Raft member, so
//! migration is offline: read ZooKeeper's own files, rebuild exactly the tree ZooKeeper
//! would rebuild from them, and write it as a zkd data dir; the way back writes a
//! snapshot ZooKeeper loads; `verify` compares two live servers through the client
//! protocol, which is what an operator trusts before a cutover.
//!
//! * [`zk_snapshot`]: ZooKeeper snapshots (`snapshot.<zxid>[.gz|.snappy]`): reader with
//!   the Adler32 seals and the validity rule, and the writer `export` uses.
//! * [`zk_txnlog`]: ZooKeeper txn logs (`log.<zxid>`): per-entry checksums, the 'B'
//!   terminator, the zero-filled preallocated tail, and every txn type.
//! * [`replay`]: ZooKeeper's `DataTree.processTxn` rules, applied to a snapshot: how
//!   ZooKeeper itself restores, fuzzy snapshot included.
//! * [`import`], [`export`], [`verify`]: the three subcommands.
//! * [`restore`]: a snapshot stream posted to the AdminServer's `/commands/restore`,
//!   rebuilt the same way and turned into the txn that replaces a running tree (the
//!   AdminServer's `/commands/snapshot` writes with [`export::write_snapshot`]).
//!
//! Nothing here touches a running server's files: import writes a fresh data dir, export
//! reads a stopped zkd's data dir (fjall's lock file refuses a running one).

pub mod cli;
pub mod export;
pub mod import;
pub mod replay;
pub mod restore;
pub mod verify;
pub mod zk_snapshot;
pub mod zk_txnlog;

use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a migration command failed with: a sentence for the operator.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error(msg.into())
    }

    /// An I/O error on `path`, with the path in the message.
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        Error(format!("{}: {e}", path.display()))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Adler-32 (RFC 1950), as `java.util.zip.Adler32` computes it: ZooKeeper checksums
/// every txn-log entry and seals snapshots with it. Small enough to keep here rather
/// than pull in a crate for it.
#[derive(Clone, Copy, Debug)]
pub struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    const MOD: u32 = 65521;
    /// The most bytes that can be summed before `b` could overflow a u32.
    const NMAX: usize = 5552;

    pub fn update(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(Self::NMAX) {
            for &byte in chunk {
                self.a += u32::from(byte);
                self.b += self.a;
            }
            self.a %= Self::MOD;
            self.b %= Self::MOD;
        }
    }

    /// The value as Java's `Checksum.getValue()` returns it (a non-negative long).
    pub fn value(&self) -> i64 {
        i64::from((self.b << 16) | self.a)
    }

    pub fn of(bytes: &[u8]) -> i64 {
        let mut a = Adler32::default();
        a.update(bytes);
        a.value()
    }
}

/// The zxid in a ZooKeeper file name: `<prefix>.<hex>` with an optional `.<suffix>`
/// (`snapshot.1a2b.gz`), as `Util.getZxidFromName` reads it.
pub fn zxid_from_name(name: &str, prefix: &str) -> Option<i64> {
    let mut parts = name.split('.');
    if parts.next()? != prefix {
        return None;
    }
    let hex = parts.next()?;
    u64::from_str_radix(hex, 16).ok().map(|z| z as i64)
}

/// The ZooKeeper files `<prefix>.<zxid>*` in `dir`, sorted by zxid (ascending).
pub fn zk_files(dir: &Path, prefix: &str) -> Result<Vec<(i64, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(zxid) = zxid_from_name(name, prefix) {
            if entry.path().is_file() {
                out.push((zxid, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `0x…` formatting for zxids and session ids in messages.
pub fn hex(v: i64) -> String {
    format!("{:#x}", v as u64)
}

/// Progress of a long command on stderr: one line redrawn in place on a terminal, plain
/// log lines (at most every few seconds) otherwise, so logs stay readable.
pub struct Progress {
    tty: bool,
    started: Instant,
    last: Option<Instant>,
    interval: Duration,
    drawn: bool,
}

impl Progress {
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        Progress {
            tty,
            started: Instant::now(),
            last: None,
            interval: if tty {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            },
            drawn: false,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Report `line` if enough time passed since the last report (or `force`).
    pub fn update(&mut self, force: bool, line: impl FnOnce() -> String) {
        let now = Instant::now();
        if !force
            && self
                .last
                .is_some_and(|t| now.duration_since(t) < self.interval)
        {
            return;
        }
        self.last = Some(now);
        let line = line();
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// A line that must stay (a warning, a phase change): ends the in-place line first.
    pub fn note(&mut self, line: impl fmt::Display) {
        let mut err = std::io::stderr().lock();
        if self.drawn {
            let _ = writeln!(err);
            self.drawn = false;
        }
        let _ = writeln!(err, "{line}");
    }

    /// End the in-place line, if one is drawn.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// `n` per second over `elapsed`, for progress lines.
pub fn rate(n: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        (n as f64 / secs) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_known_values() {
        // RFC 1950 / java.util.zip.Adler32 reference values.
        assert_eq!(Adler32::of(b""), 1);
        assert_eq!(Adler32::of(b"Wikipedia"), 0x11E6_0398);
        let big = vec![0xffu8; 100_000];
        let mut inc = Adler32::default();
        for part in big.chunks(777) {
            inc.update(part);
        }
        assert_eq!(inc.value(), Adler32::of(&big));
        // Independent slow computation.
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(Adler32::of(&big), ((b << 16) | a) as i64);
    }

    #[test]
    fn names() {
        assert_eq!(zxid_from_name("snapshot.1a", "snapshot"), Some(0x1a));
        assert_eq!(zxid_from_name("snapshot.1a.gz", "snapshot"), Some(0x1a));
        assert_eq!(zxid_from_name("log.100000001", "log"), Some(0x1_0000_0001));
        assert_eq!(zxid_from_name("log.xyz", "log"), None);
        assert_eq!(zxid_from_name("snapshot.1", "log"), None);
        assert_eq!(hex(-1), "0xffffffffffffffff");
    }
}

/// ACLs shared by the migration tests.
#[cfg(test)]
pub(crate) mod test_acls {
    use jute::{Acl, Id};

    /// One digest id with every permission.
    pub fn digest_acl() -> Vec<Acl> {
        vec![Acl {
            perms: jute::perms::ALL,
            id: Id {
                scheme: "digest".into(),
                id: "u:h".into(),
            },
        }]
    }
}
