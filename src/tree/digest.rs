//! ZooKeeper's tree digest (`digest.enabled`, on by default since 3.6), computed as
//! ZooKeeper computes it, so the number is the same for the same tree on either server.
//!
//! A node's digest is the CRC-32 (zlib's polynomial, Java's `java.util.zip.CRC32`) of its
//! path (`/` counted as `""`, ZooKeeper's name for the root), its data, and 60 bytes of
//! its stored stat in big-endian order: czxid, mzxid, pzxid, ctime, mtime (8 bytes each),
//! version, cversion, aversion (4 each), ephemeralOwner (8). Nodes below `/zookeeper/`
//! count 0: ZooKeeper leaves them out because it rewrites quota nodes outside of txns.
//! The tree's digest is the sum of its nodes' digests in 64-bit wrapping arithmetic
//! (ZooKeeper's `AdHash`), kept current on every change: the old node's digest out, the
//! new one's in. Version 2 of ZooKeeper's `DigestCalculator`.
//!
//! Every 128th zxid the digest is noted in a history of the last 1,024 (ZooKeeper's
//! `digestLog`), which the `hash` four-letter word and admin command show.
//!
//! In an ensemble the leader proposes the newest entry of its history
//! ([`crate::txn::TxnKind::DigestCheck`]) and every member compares it with its own
//! entry for that zxid when it applies the check ([`DigestCheck`]): ZooKeeper's digest
//! in every txn, at the history's interval, at no cost per txn.

use std::collections::VecDeque;

use jute::StatPersisted;

use super::node::Znode;

/// ZooKeeper's `DigestCalculator.DIGEST_VERSION`.
pub const DIGEST_VERSION: i32 = 2;
/// ZooKeeper's `DataTree.DIGEST_LOG_INTERVAL`: a history entry every this many zxids.
const LOG_INTERVAL: i64 = 128;
/// ZooKeeper's `DataTree.DIGEST_LOG_LIMIT`.
const LOG_LIMIT: usize = 1024;

/// A member's verdict on the leader's digest at a zxid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestCheck {
    /// Equal.
    Matched,
    /// This member's tree differs from the leader's at `zxid`.
    Mismatched { zxid: i64, leader: i64, mine: i64 },
    /// This member has no digest for that zxid (digests off here, or the zxid is not in
    /// its history: older than its last restart, snapshot install or restore, or than
    /// the history's 1,024 entries).
    Unknown,
}

/// Nodes whose path, data and stat fit in this many bytes are hashed in one piece.
const SMALL: usize = 256;

/// One node's share of the tree digest (0 below `/zookeeper/`).
pub(crate) fn node_digest(path: &str, node: &Znode) -> i64 {
    zk_node_digest(path, node.data.as_deref(), &node.stat)
}

/// ZooKeeper's `DigestCalculator.calculateDigest(path, data, stat)`, for any tree that
/// holds ZooKeeper's fields (`zkd import` checks a snapshot's digest with it).
pub fn zk_node_digest(path: &str, data: Option<&[u8]>, s: &StatPersisted) -> i64 {
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut stat = [0u8; 60];
    let fields = [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime];
    for (i, v) in fields.iter().enumerate() {
        stat[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    for (i, v) in [s.version, s.cversion, s.aversion].iter().enumerate() {
        stat[40 + i * 4..44 + i * 4].copy_from_slice(&v.to_be_bytes());
    }
    stat[52..60].copy_from_slice(&s.ephemeral_owner.to_be_bytes());
    let data = data.unwrap_or_default();
    let mut crc = crc32fast::Hasher::new();
    // The CRC's fast (SIMD) path wants long runs: a small node goes in as one buffer.
    let len = path.len() + data.len() + stat.len();
    if len <= SMALL {
        let mut buf = [0u8; SMALL];
        buf[..path.len()].copy_from_slice(path.as_bytes());
        buf[path.len()..path.len() + data.len()].copy_from_slice(data);
        buf[path.len() + data.len()..len].copy_from_slice(&stat);
        crc.update(&buf[..len]);
    } else {
        crc.update(path.as_bytes());
        crc.update(data);
        crc.update(&stat);
    }
    i64::from(crc.finalize())
}

/// The running digest and its history.
#[derive(Clone, Debug, Default)]
pub(crate) struct TreeDigest {
    enabled: bool,
    value: i64,
    log: VecDeque<(i64, i64)>,
}

impl TreeDigest {
    pub(crate) fn new(enabled: bool) -> TreeDigest {
        TreeDigest {
            enabled,
            ..TreeDigest::default()
        }
    }

    pub(crate) fn value(&self) -> i64 {
        self.value
    }

    pub(crate) fn add(&mut self, path: &str, node: &Znode) {
        if self.enabled {
            self.value = self.value.wrapping_add(node_digest(path, node));
        }
    }

    pub(crate) fn remove(&mut self, path: &str, node: &Znode) {
        if self.enabled {
            self.value = self.value.wrapping_sub(node_digest(path, node));
        }
    }

    /// After a txn: note the digest when the zxid is a multiple of 128.
    pub(crate) fn applied(&mut self, zxid: i64) {
        if self.enabled && zxid % LOG_INTERVAL == 0 {
            self.log.push_back((zxid, self.value));
            if self.log.len() > LOG_LIMIT {
                self.log.pop_front();
            }
        }
    }

    /// The leader's `digest` at `zxid` (an entry of its history) against this tree's.
    pub(crate) fn check(&self, zxid: i64, digest: i64) -> DigestCheck {
        // zxids only grow: a binary search finds it.
        match self.log.binary_search_by_key(&zxid, |&(z, _)| z) {
            Ok(i) if self.log[i].1 == digest => DigestCheck::Matched,
            Ok(i) => DigestCheck::Mismatched {
                zxid,
                leader: digest,
                mine: self.log[i].1,
            },
            Err(_) => DigestCheck::Unknown,
        }
    }

    pub(crate) fn history(&self) -> impl DoubleEndedIterator<Item = (i64, i64)> + '_ {
        self.log.iter().copied()
    }
}
