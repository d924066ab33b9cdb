//! A ZooKeeper snapshot stream, posted to the AdminServer's `/commands/restore`, turned
//! into the txn that replaces the tree ([`crate::txn::TxnKind::Restore`]).
//!
//! The stream is what ZooKeeper 3.9's `/commands/snapshot` (or zkd's) sends: the
//! uncompressed snapshot format with the digest and lastProcessedZxid trailers.
//! Compressed streams (gzip, snappy: a `snapshot.*.gz`/`.snappy` file posted as it is)
//! are taken too. The tree is rebuilt with ZooKeeper's rules ([`super::replay`]); nodes
//! whose ephemeral owner is not in the snapshot's session table are dropped, as
//! ZooKeeper does on its next start.

use std::collections::HashMap;

use super::import::to_znode;
use super::replay::{SourceConfig, ZkTree};
use super::zk_snapshot::{decode_snapshot, decompress, Compression};
use super::{hex, Error, Result};
use crate::txn::TxnKind;

/// The longest decompressed stream taken (a compressed body could be a bomb).
const MAX_STREAM: usize = 1 << 30;
/// The largest restore entry: one log entry has to fit a peer frame and a log segment's
/// copy of it (512 MiB each), with room to spare.
pub const MAX_ENTRY: usize = 384 << 20;
/// zxids above this are refused: zkd's zxids continue above the restored ones and must
/// not overflow.
const MAX_ZXID: i64 = 1 << 62;

/// A snapshot stream ready to be proposed.
pub struct RestoreImage {
    /// The newest zxid the snapshot names: its lastProcessedZxid, or else the newest
    /// zxid in any node's stat.
    pub last_zxid: i64,
    pub znodes: usize,
    pub sessions: usize,
    /// Ephemerals dropped because their session is not in the snapshot.
    pub orphans_dropped: usize,
    pub txn: TxnKind,
}

pub fn restore_image(stream: &[u8], source: SourceConfig) -> Result<RestoreImage> {
    let compression = Compression::sniff(stream);
    let decompressed;
    let stream = match compression {
        Compression::None => stream,
        c => {
            decompressed = decompress(stream, c, MAX_STREAM).map_err(Error::new)?;
            &decompressed[..]
        }
    };
    let mut snap = decode_snapshot(stream, 0).map_err(Error::new)?;
    let newest_stat = snap
        .nodes
        .iter()
        .map(|n| n.stat.czxid.max(n.stat.mzxid).max(n.stat.pzxid))
        .max()
        .unwrap_or(0);
    // Also the newest stat: no node may be ahead of the zxids handed out afterwards.
    snap.zxid = snap.last_processed_zxid.unwrap_or(0).max(newest_stat);
    let last_zxid = snap.zxid;
    if !(0..=MAX_ZXID).contains(&last_zxid) {
        return Err(Error::new(format!(
            "the snapshot names zxid {}, outside 0..={}",
            hex(last_zxid),
            hex(MAX_ZXID)
        )));
    }
    let recorded = snap
        .digest
        .filter(|&(at, version, _)| at == last_zxid && version == crate::tree::DIGEST_VERSION)
        .map(|(_, _, digest)| digest);
    let mut tree = ZkTree::from_snapshot(snap, source).map_err(Error::new)?;
    if let Some(recorded) = recorded {
        let computed = tree.digest();
        if computed != recorded {
            // ZooKeeper's restore logs this too (compareSnapshotDigests) and goes on.
            tracing::warn!(
                "restore: the snapshot's digest at zxid {} is {recorded}, its tree's is \
                 {computed}: the snapshot does not hold the tree its writer had",
                hex(last_zxid)
            );
        }
    }
    let orphans_dropped = tree.drop_orphan_ephemerals();
    let mut paths: Vec<_> = tree.iter_preorder().collect();
    paths.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut acl_cache = HashMap::new();
    let mut nodes = Vec::with_capacity(paths.len());
    for (path, node) in &paths {
        let (znode, _) = to_znode(&tree, path, node, &mut acl_cache)?;
        nodes.push((path.clone(), znode.encode().freeze()));
    }
    // What the entry will take (each node's ACL is written out in full, where the
    // snapshot had a reference): refused before it is proposed if it cannot be one.
    let size: usize = nodes.iter().map(|(p, n)| p.len() + n.len() + 10).sum();
    if size > MAX_ENTRY {
        return Err(Error::new(format!(
            "the tree takes {} MiB as one log entry, more than {} MiB: restore a smaller \
             tree, or move this one with zkd import (docs/migration.md)",
            size >> 20,
            MAX_ENTRY >> 20
        )));
    }
    let mut sessions: Vec<(i64, i32)> = tree.sessions.iter().map(|(&id, &t)| (id, t)).collect();
    sessions.sort_unstable();
    Ok(RestoreImage {
        last_zxid,
        znodes: nodes.len(),
        sessions: sessions.len(),
        orphans_dropped,
        txn: TxnKind::Restore {
            last_zxid,
            sessions,
            nodes,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{DataTree, TreeConfig};

    /// `tree` as the AdminServer's snapshot command streams it.
    fn stream_of(tree: &DataTree) -> Vec<u8> {
        crate::migrate::export::write_snapshot(tree, Vec::new(), true, |_, _| {})
            .unwrap()
            .0
    }

    fn tree_at(last_zxid: i64) -> DataTree {
        let fresh = DataTree::new(TreeConfig::default());
        let nodes: Vec<_> = fresh
            .iter_nodes()
            .map(|(p, n)| (p, n.without_children()))
            .collect();
        DataTree::from_parts(
            TreeConfig::default(),
            nodes.into_iter(),
            std::iter::empty(),
            last_zxid,
            0,
        )
    }

    #[test]
    fn a_snapshot_stream_becomes_a_restore_txn() {
        let image =
            restore_image(&stream_of(&tree_at(0x5_0000_0010)), SourceConfig::default()).unwrap();
        assert_eq!(
            image.last_zxid, 0x5_0000_0010,
            "the stream's lastProcessedZxid"
        );
        assert_eq!(image.znodes, 4);
        assert!(matches!(
            image.txn,
            TxnKind::Restore {
                last_zxid: 0x5_0000_0010,
                ..
            }
        ));
    }

    #[test]
    fn zxids_near_the_limit_are_refused() {
        let err = restore_image(&stream_of(&tree_at(i64::MAX - 5)), SourceConfig::default())
            .err()
            .expect("refused");
        assert!(err.0.contains("outside"), "{err}");
    }

    #[test]
    fn what_is_not_a_snapshot_is_an_error_not_a_panic() {
        for junk in [&b""[..], b"ZKSN", b"\x1f\x8b\x08\x00junk", &[0xff; 64]] {
            assert!(restore_image(junk, SourceConfig::default()).is_err());
        }
    }
}
