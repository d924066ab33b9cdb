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
            decompressed = decompress(stream, c).map_err(Error::new)?;
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
    snap.zxid = snap.last_processed_zxid.unwrap_or(newest_stat);
    let last_zxid = snap.zxid;
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
