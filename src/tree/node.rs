//! A znode: data, ACL, persisted stat and the names of its children.
//!
//! Stored vs visible cversion: like ZooKeeper, the stored `cversion` counts child
//! *creates* only. That is what the sequential suffix is built from, so sequence numbers
//! never repeat after a delete. Clients see `cversion*2 - numChildren` instead, which
//! equals creates + deletes (every live child is a create without a delete yet), so the
//! visible value moves on every membership change. Both are reproduced here because
//! snapshots (stored form) and client replies (visible form) must both match ZooKeeper.
//!
//! `ephemeral_owner` is stored raw: a session id for ephemerals, `i64::MIN` for
//! containers, `0xFF00_0000_0000_0000 | ttl` for TTL nodes. Clients see 0 for
//! containers and TTL nodes.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use jute::{Acl, DecodeError, Field, Stat, StatPersisted};

use super::store::Children;

/// `ephemeral_owner` of a container node.
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// Top byte of a TTL node's `ephemeral_owner`.
const EXTENDED_MASK: u64 = 0xFF00_0000_0000_0000;
/// Bits 40..55 of an extended owner: the extended type (0 = TTL).
const RESERVED_MASK: u64 = 0x00FF_FF00_0000_0000;
/// The largest TTL (ms) a TTL node may carry.
pub const MAX_TTL: i64 = 0xFF_FFFF_FFFF;

/// What kind of node an `ephemeral_owner` value denotes (ZooKeeper's EphemeralType).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    /// A plain ephemeral owned by this session.
    Ephemeral(i64),
    Container,
    /// A TTL node with this TTL in ms.
    Ttl(i64),
}

impl NodeKind {
    /// Classify a stored `ephemeral_owner`. Session ids never have the top byte 0xFF,
    /// so the TTL encoding is unambiguous even when extended types are disabled.
    pub fn of_owner(owner: i64) -> NodeKind {
        let u = owner as u64;
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if u & EXTENDED_MASK == EXTENDED_MASK && u & RESERVED_MASK == 0 {
            NodeKind::Ttl(owner & MAX_TTL)
        } else {
            NodeKind::Ephemeral(owner)
        }
    }

    /// The stored owner of a TTL node.
    pub fn ttl_owner(ttl: i64) -> i64 {
        (EXTENDED_MASK as i64) | (ttl & MAX_TTL)
    }
}

/// A znode's data: one exact-size allocation, shared (not copied) when a checkpoint
/// captures the node or a read replies with it.
pub type Data = Arc<[u8]>;

/// A request's data as a node's: copied once into an exact-size shared allocation (a
/// decoded request's buffer may be a slice of a larger one that must not be kept).
pub fn data_of(data: Option<Bytes>) -> Option<Data> {
    data.map(|b| Data::from(&b[..]))
}

/// One znode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Znode {
    /// `None` is a null buffer (length -1 on the wire), distinct from empty data.
    pub data: Option<Data>,
    /// Shared between nodes with identical lists.
    pub acl: Arc<Vec<Acl>>,
    /// Stored stat: cversion counts child creates; ephemeral_owner is raw.
    pub stat: StatPersisted,
    /// The children, by name (kept by the tree; empty in a node taken out of it).
    pub children: Children,
}

impl Znode {
    /// A node without children.
    pub fn new(data: Option<Data>, acl: Arc<Vec<Acl>>, stat: StatPersisted) -> Self {
        Znode {
            data,
            acl,
            stat,
            children: Children::default(),
        }
    }

    /// This node without its children: data and ACL shared, nothing copied (what a
    /// checkpoint, a restore or a snapshot takes of a node).
    pub fn without_children(&self) -> Znode {
        Znode::new(self.data.clone(), self.acl.clone(), self.stat.clone())
    }

    /// The data as a reply buffer (no copy).
    pub fn data_bytes(&self) -> Option<Bytes> {
        self.data.clone().map(Bytes::from_owner)
    }

    /// Length of the data (0 for null).
    pub fn data_len(&self) -> i32 {
        self.data
            .as_ref()
            .map_or(0, |d| i32::try_from(d.len()).unwrap_or(i32::MAX))
    }

    /// The kind of node, from the stored ephemeral owner.
    pub fn kind(&self) -> NodeKind {
        NodeKind::of_owner(self.stat.ephemeral_owner)
    }

    /// The client-visible Stat (ZooKeeper's `DataNode.copyStat`).
    pub fn stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = i32::try_from(self.children.len()).unwrap_or(i32::MAX);
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner: match self.kind() {
                NodeKind::Ephemeral(owner) => owner,
                _ => 0,
            },
            data_length: self.data_len(),
            num_children,
            pzxid: s.pzxid,
        }
    }

    /// Persisted form: data (nullable buffer), ACL vector, StatPersisted, jute-encoded.
    /// Children are not stored; [`super::DataTree::from_parts`] rebuilds them from paths.
    pub fn encode(&self) -> BytesMut {
        let mut out = BytesMut::with_capacity(self.data.as_ref().map_or(0, |d| d.len()) + 96);
        self.data.write_field(&mut out);
        self.acl.as_ref().write_field(&mut out);
        self.stat.write_field(&mut out);
        out
    }

    /// Inverse of [`Znode::encode`] (children empty, ACL not yet shared).
    pub fn decode(buf: &[u8]) -> Result<Znode, DecodeError> {
        let parse = |input| -> nom::IResult<&[u8], Znode> {
            let (input, data) = <Option<Data>>::read_field(input)?;
            let (input, acl) = <Vec<Acl>>::read_field(input)?;
            let (input, stat) = StatPersisted::read_field(input)?;
            Ok((input, Znode::new(data, Arc::new(acl), stat)))
        };
        parse(buf)
            .map(|(_, z)| z)
            .map_err(|e| DecodeError::from_nom(buf, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jute::Id;

    #[test]
    fn encode_decode_round_trip() {
        let mut n = Znode::new(
            Some(Data::from(&b"hello"[..])),
            Arc::new(vec![Acl {
                perms: 31,
                id: Id {
                    scheme: "digest".into(),
                    id: "bob:xyz".into(),
                },
            }]),
            StatPersisted {
                czxid: 1,
                mzxid: 2,
                ctime: 3,
                mtime: 4,
                version: 5,
                cversion: 6,
                aversion: 7,
                ephemeral_owner: CONTAINER_OWNER,
                pzxid: 9,
            },
        );
        let back = Znode::decode(&n.encode()).unwrap();
        assert_eq!(back, n);
        n.data = None;
        assert_eq!(Znode::decode(&n.encode()).unwrap().data, None);
        n.data = Some(Data::from(&[][..]));
        assert_eq!(
            Znode::decode(&n.encode()).unwrap().data.as_deref(),
            Some(&[][..])
        );
        let enc = n.encode();
        assert!(Znode::decode(&enc[..enc.len() - 1]).is_err());
        assert!(Znode::decode(&[0xff, 0xff, 0xff, 0xfe]).is_err());
    }

    #[test]
    fn visible_stat() {
        let mut n = Znode::new(None, Arc::new(vec![]), StatPersisted::default());
        n.stat.cversion = 5;
        n.children.insert("a", 1);
        n.children.insert("b", 2);
        let s = n.stat();
        assert_eq!((s.cversion, s.num_children, s.data_length), (8, 2, 0));
        n.stat.ephemeral_owner = CONTAINER_OWNER;
        assert_eq!(n.stat().ephemeral_owner, 0);
        n.stat.ephemeral_owner = NodeKind::ttl_owner(1000);
        assert_eq!(n.kind(), NodeKind::Ttl(1000));
        assert_eq!(n.stat().ephemeral_owner, 0);
        n.stat.ephemeral_owner = 0x0100_0000_0000_0005;
        assert_eq!(n.stat().ephemeral_owner, 0x0100_0000_0000_0005);
        assert_eq!(NodeKind::ttl_owner(1) as u64, 0xFF00_0000_0000_0001);
        assert_eq!(NodeKind::of_owner(0), NodeKind::Persistent);
    }
}
