//! The order in which ZooKeeper walks a session's ephemerals when the session closes.
//!
//! ZooKeeper keeps each session's ephemeral paths in a `java.util.HashSet<String>`; on
//! closeSession its leader clones that set and deletes the nodes, firing their watches,
//! in the clone's iteration order, which the txn then carries to every follower. A
//! client watching two of the nodes sees their events in that order, so zkd computes
//! the same order here instead of using path order. It depends on three things, all
//! replicated state or derived from it:
//!
//! * the hash: `String.hashCode` over UTF-16 code units, spread as `h ^ (h >>> 16)`;
//! * the live set's table size: 16 at the first insert, doubled whenever the size
//!   passes 3/4 of it, never shrunk (kept as [`EphemeralSet::capacity`]);
//! * insertion order, which orders entries that share a bucket (ZooKeeper appends to
//!   a bucket's list and resizing keeps relative order). An ephemeral is inserted when
//!   it is created, so its czxid gives the order; the path breaks the tie between
//!   ephemerals created by one multi (same czxid), where ZooKeeper follows the order
//!   of the sub-ops. That differs only if two of them share a bucket.
//!
//! The clone (`HashMap.putMapEntries` on Java 8–18) is sized `tableSizeFor((int)(n /
//! 0.75f + 1))` for n entries and filled in the live set's iteration order. Java 19
//! changed that sizing to `ceil(n / 0.75)`; zkd follows the Java 17 that ZooKeeper 3.9
//! is run on here. Tree bins (eight or more entries in one bucket of a table of at
//! least 64) keep the same order as long as no entry is added to them afterwards, which
//! is the case in practice; zkd does not model later insertions into a tree bin.

use std::collections::BTreeSet;

/// ZooKeeper's `HashSet` default table size (its load factor is 3/4).
const INITIAL_CAPACITY: usize = 16;

/// A session's plain ephemerals, with the table size ZooKeeper's set would have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EphemeralSet {
    pub paths: BTreeSet<String>,
    /// The Java table size: 0 before the first insert, then a power of two ≥ 16.
    pub capacity: usize,
}

impl EphemeralSet {
    /// Add a path; returns the table size before the insert when it grew.
    pub fn insert(&mut self, path: String) -> Option<usize> {
        if !self.paths.insert(path) {
            return None;
        }
        let before = self.capacity;
        self.capacity = grown_capacity(before, self.paths.len());
        (self.capacity != before).then_some(before)
    }

    pub fn remove(&mut self, path: &str) -> bool {
        self.paths.remove(path)
    }

    /// The paths in the order ZooKeeper's clone of this set iterates them.
    /// `czxid(path)` gives each ephemeral's creation zxid (its insertion order).
    pub fn close_order(&self, czxid: impl Fn(&str) -> i64) -> Vec<String> {
        if self.paths.is_empty() {
            return Vec::new();
        }
        let live_mask = self.capacity.max(1) as u32 - 1;
        let mut entries: Vec<(u32, i64, &String)> = self
            .paths
            .iter()
            .map(|p| (spread_hash(p), czxid(p), p))
            .collect();
        // The live set's iteration order: bucket, then insertion order.
        entries.sort_by(|a, b| (a.0 & live_mask, a.1, a.2).cmp(&(b.0 & live_mask, b.1, b.2)));
        // The clone's: its own bucket, then the live set's order (stable sort).
        let clone_mask = clone_capacity(entries.len()) as u32 - 1;
        entries.sort_by_key(|e| e.0 & clone_mask);
        entries.into_iter().map(|(_, _, p)| p.clone()).collect()
    }
}

/// `String.hashCode()` spread as `HashMap.hash` does.
pub fn spread_hash(s: &str) -> u32 {
    let h = s
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32)) as u32;
    h ^ (h >> 16)
}

/// The table size after the set reached `len` entries, from `capacity` before.
fn grown_capacity(capacity: usize, len: usize) -> usize {
    let mut cap = capacity.max(INITIAL_CAPACITY);
    while len > cap / 4 * 3 {
        cap *= 2;
    }
    cap
}

/// Java 8–18's `HashMap` copy: `tableSizeFor((int)(n / 0.75f + 1.0f))`.
fn clone_capacity(len: usize) -> usize {
    let t = (len as f32 / 0.75f32 + 1.0f32) as usize;
    t.max(1).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set built the way a session builds it: `created` paths inserted in order
    /// (czxid = position), then the first `deleted` of them removed.
    fn order(created: &[String], deleted: usize) -> Vec<String> {
        let mut set = EphemeralSet::default();
        for p in created {
            set.insert(p.clone());
        }
        for p in &created[..deleted] {
            set.remove(p);
        }
        let czxid = |p: &str| created.iter().position(|c| c == p).unwrap_or(0) as i64;
        set.close_order(czxid)
    }

    fn paths(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("/p{}/e{i}", i % 3)).collect()
    }

    fn split(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    // The expected orders were printed by OpenJDK 17: a `HashSet<String>` filled with
    // the same paths (and the same removals), then `clone()`d and iterated, which is
    // what ZooKeeper's DataTree.getEphemerals and PrepRequestProcessor do.

    #[test]
    fn two_and_five_ephemerals() {
        assert_eq!(order(&paths(2), 0), split("/p1/e1 /p0/e0"));
        assert_eq!(
            order(&paths(5), 0),
            split("/p0/e3 /p1/e4 /p1/e1 /p2/e2 /p0/e0")
        );
    }

    #[test]
    fn thirteen_ephemerals_grow_the_table() {
        assert_eq!(
            order(&paths(13), 0),
            split(
                "/p0/e9 /p1/e7 /p2/e8 /p0/e6 /p1/e10 /p0/e12 /p0/e3 /p1/e4 /p2/e5 \
                 /p2/e11 /p1/e1 /p2/e2 /p0/e0"
            )
        );
    }

    #[test]
    fn forty_ephemerals() {
        assert_eq!(
            order(&paths(40), 0),
            split(
                "/p1/e19 /p1/e7 /p1/e13 /p1/e16 /p1/e37 /p1/e10 /p1/e31 /p1/e34 /p2/e14 \
                 /p2/e35 /p0/e27 /p2/e17 /p2/e38 /p0/e24 /p0/e21 /p1/e4 /p2/e11 /p2/e32 \
                 /p1/e1 /p0/e9 /p1/e28 /p2/e8 /p1/e25 /p0/e6 /p1/e22 /p2/e26 /p0/e18 \
                 /p2/e23 /p2/e29 /p0/e39 /p0/e36 /p0/e15 /p0/e12 /p0/e3 /p2/e5 /p0/e33 \
                 /p0/e30 /p2/e2 /p2/e20 /p0/e0"
            )
        );
    }

    #[test]
    fn the_table_does_not_shrink_when_ephemerals_go() {
        // 40 created (table 64), 30 deleted: the live order still follows the table of
        // 64, the clone's table is 16.
        assert_eq!(
            order(&paths(40), 30),
            split(
                "/p2/e35 /p0/e39 /p0/e36 /p1/e37 /p2/e38 /p1/e31 /p1/e34 /p0/e33 /p0/e30 /p2/e32"
            )
        );
    }

    #[test]
    fn java_string_hash() {
        // "abc".hashCode() == 96354; non-BMP characters hash as two UTF-16 units.
        assert_eq!(spread_hash("abc"), 96354 ^ (96354 >> 16));
        let h = 0xd83d_i32 * 31 + 0xde00;
        assert_eq!(spread_hash("\u{1f600}"), (h as u32) ^ ((h as u32) >> 16));
    }

    #[test]
    fn table_sizes() {
        assert_eq!(grown_capacity(0, 1), 16);
        assert_eq!(grown_capacity(16, 12), 16);
        assert_eq!(grown_capacity(16, 13), 32);
        assert_eq!(grown_capacity(64, 1), 64);
        assert_eq!(clone_capacity(1), 2);
        assert_eq!(clone_capacity(3), 8);
        assert_eq!(clone_capacity(12), 32);
    }
}
