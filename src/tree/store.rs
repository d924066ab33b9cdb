//! Where the znodes live: an arena of slots addressed by a `u32`, and each node's
//! children as a sorted map from name to slot.
//!
//! Why not a map from full path to node: with a million znodes that index cost more
//! than the data (each path stored twice, once as the key and once as the parent's
//! child name, plus a hash slot that doubles, and a rehash of every entry that stalls
//! apply for half a second when it does). Here a name is stored once, in its parent's
//! child map; a node's slot holds only its data, ACL, stat and child map; a path is
//! resolved segment by segment from the root. Slots are allocated in fixed-size chunks
//! that never move, so growing the tree never copies it, and freed slots are reused.
//!
//! Slot numbers depend on the order of past creates and deletes, so they differ
//! between replicas and restarts: nothing outside the tree ever sees one, and nothing
//! inside orders by them (children are ordered by name).

use std::collections::BTreeMap;

use super::node::Znode;

/// A node's slot in the [`Arena`].
pub(crate) type NodeId = u32;

/// The root's slot: it is the first node inserted into every tree and never removed.
pub(crate) const ROOT: NodeId = 0;

/// Slots per chunk (a power of two).
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

/// The names of a node's children, sorted, and their slots. A leaf (most nodes) holds
/// no map at all, just an empty pointer: 8 bytes in every slot instead of the map's 24
/// (the extra allocation is paid only by nodes that have children).
#[derive(Clone, Debug, Default)]
#[allow(clippy::box_collection)]
pub struct Children(Option<Box<BTreeMap<Box<str>, NodeId>>>);

impl Children {
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The names, sorted.
    pub fn names(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.iter().flat_map(|m| m.keys().map(|k| &**k))
    }

    pub(crate) fn get(&self, name: &str) -> Option<NodeId> {
        self.0.as_ref()?.get(name).copied()
    }

    /// (name, slot) pairs, sorted by name.
    pub(crate) fn entries(&self) -> impl DoubleEndedIterator<Item = (&str, NodeId)> {
        self.0
            .iter()
            .flat_map(|m| m.iter().map(|(k, v)| (&**k, *v)))
    }

    /// Add a child; `false` (and nothing changed) if the name is taken.
    pub(crate) fn insert(&mut self, name: &str, id: NodeId) -> bool {
        match self
            .0
            .get_or_insert_with(Default::default)
            .entry(name.into())
        {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(id);
                true
            }
            std::collections::btree_map::Entry::Occupied(_) => false,
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> Option<NodeId> {
        let map = self.0.as_mut()?;
        let id = map.remove(name);
        if map.is_empty() {
            self.0 = None;
        }
        id
    }
}

/// Two child sets are equal when they name the same children (slots are local).
impl PartialEq for Children {
    fn eq(&self, other: &Self) -> bool {
        self.names().eq(other.names())
    }
}

impl Eq for Children {}

/// Node slots in chunks of [`CHUNK`], plus the free ones.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    chunks: Vec<Vec<Option<Znode>>>,
    free: Vec<NodeId>,
    live: usize,
}

impl Arena {
    /// Number of nodes held.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn get(&self, id: NodeId) -> Option<&Znode> {
        let (chunk, slot) = Self::split(id);
        self.chunks.get(chunk)?.get(slot)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: NodeId) -> Option<&mut Znode> {
        let (chunk, slot) = Self::split(id);
        self.chunks.get_mut(chunk)?.get_mut(slot)?.as_mut()
    }

    /// The slot the next [`Arena::insert`] will take.
    pub(crate) fn next_id(&self) -> NodeId {
        match self.free.last() {
            Some(id) => *id,
            None => {
                let used = self.chunks.last().map_or(CHUNK, Vec::len);
                let chunk = self.chunks.len() - usize::from(used < CHUNK);
                ((chunk << CHUNK_BITS) | (used % CHUNK)) as NodeId
            }
        }
    }

    /// Store a node in a free slot (a freed one first) and return the slot.
    pub(crate) fn insert(&mut self, node: Znode) -> NodeId {
        self.live += 1;
        if let Some(id) = self.free.pop() {
            let (chunk, slot) = Self::split(id);
            self.chunks[chunk][slot] = Some(node);
            return id;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let last = self.chunks.len() - 1;
        let chunk = &mut self.chunks[last];
        chunk.push(Some(node));
        ((last << CHUNK_BITS) | (chunk.len() - 1)) as NodeId
    }

    /// Take a node out; its slot becomes free.
    pub(crate) fn remove(&mut self, id: NodeId) -> Option<Znode> {
        let (chunk, slot) = Self::split(id);
        let node = self.chunks.get_mut(chunk)?.get_mut(slot)?.take()?;
        self.live -= 1;
        self.free.push(id);
        Some(node)
    }

    fn split(id: NodeId) -> (usize, usize) {
        ((id >> CHUNK_BITS) as usize, id as usize & (CHUNK - 1))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use jute::StatPersisted;

    use super::*;

    fn node(version: i32) -> Znode {
        let stat = StatPersisted {
            version,
            ..Default::default()
        };
        Znode::new(None, Arc::new(Vec::new()), stat)
    }

    #[test]
    fn a_slot_is_small() {
        // data 16 + ACL 8 + stat 64 + children 8: the per-node budget of issue 14.
        assert_eq!(std::mem::size_of::<Option<Znode>>(), 96);
    }

    #[test]
    fn slots_are_reused_and_chunks_grow() {
        let mut a = Arena::default();
        let ids: Vec<NodeId> = (0..CHUNK as i32 + 5)
            .map(|v| {
                let next = a.next_id();
                let id = a.insert(node(v));
                assert_eq!(next, id);
                id
            })
            .collect();
        assert_eq!(ids[0], ROOT);
        assert_eq!(a.len(), CHUNK + 5);
        assert_eq!(
            a.get(ids[CHUNK + 2]).map(|n| n.stat.version),
            Some(CHUNK as i32 + 2)
        );
        assert_eq!(a.remove(ids[7]).map(|n| n.stat.version), Some(7));
        assert!(a.get(ids[7]).is_none() && a.remove(ids[7]).is_none());
        assert_eq!(a.next_id(), ids[7]);
        assert_eq!(a.insert(node(-1)), ids[7], "a freed slot is taken first");
        assert_eq!(a.len(), CHUNK + 5);
        assert!(a.get(u32::MAX).is_none());
    }

    #[test]
    fn children_are_sorted_and_an_empty_set_holds_no_map() {
        let mut c = Children::default();
        assert!(c.insert("b", 2) && c.insert("a", 1) && !c.insert("a", 9));
        assert_eq!(c.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((c.len(), c.get("a"), c.get("z")), (2, Some(1), None));
        assert_eq!(c.remove("a"), Some(1));
        assert_eq!(c.remove("b"), Some(2));
        assert!(c.is_empty() && c.0.is_none());
        let mut d = Children::default();
        d.insert("x", 5);
        let mut e = Children::default();
        e.insert("x", 6);
        assert_eq!(d, e, "equal by names, not slots");
    }
}
