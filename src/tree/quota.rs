//! Quotas, kept as Apache ZooKeeper 3.9 keeps them, so that zkCli's `setquota`,
//! `listquota` and `delquota`, and a data dir moved between the two servers, see the
//! same numbers.
//!
//! A quota on `/a/b` is two znodes that zkCli creates: `/zookeeper/quota/a/b/zookeeper_limits`
//! (the limits, written by the client) and `.../zookeeper_stats` (the usage: the number of
//! znodes in the subtree of `/a/b`, itself included, and the bytes of their data). The
//! server keeps the usage current:
//! * when a `zookeeper_stats` node is created under `/zookeeper/quota`, its data is
//!   replaced by the subtree's usage counted at that moment;
//! * every create, delete (also of ephemerals by a closing session, and reaping) and
//!   setData below a quota adds to the usage of the nearest quota above it, by rewriting
//!   the stats node's data in place: its version, mzxid and mtime do not change, and no
//!   watch fires (ZooKeeper's `updateQuotaStat`);
//! * loading a tree recounts every quota (ZooKeeper's `setupQuota` after a snapshot load);
//! * with `enforceQuota`, a create or setData that would take the usage above a *hard*
//!   limit (`countHardLimit`, `byteHardLimit`) fails with QuotaExceeded; soft limits
//!   (`count`, `bytes`) only matter to ZooKeeper's log.
//!
//! ZooKeeper finds "the nearest quota above" in a trie of the paths whose limits node was
//! created; zkd asks the tree itself, walking `/zookeeper/quota` along the path's names,
//! so a multi that creates or removes a limits node is undone with the rest of it. With no
//! quota at all (`/zookeeper/quota` has no children) a write pays one lookup.
//!
//! Hard limits are checked as ZooKeeper checks them: every op of a multi against the usage
//! from before the multi (so one multi can end above a limit, as on ZooKeeper). One
//! difference is deliberate: ZooKeeper's PrepRequestProcessor also ignores writes still in
//! flight, so concurrent writers can pass a hard limit together; zkd checks each request
//! at its own log position, so separate requests never do.

use std::collections::BTreeMap;

use jute::err;

use super::node::Data;
use super::store::NodeId;
use super::{DataTree, Effects, Undo};

/// Where quotas live (ZooKeeper's `Quotas.quotaZookeeper`).
pub(crate) const QUOTA_ROOT: &str = "/zookeeper/quota";
/// The limits node below a quota path (`Quotas.limitNode`).
const LIMITS: &str = "zookeeper_limits";
/// The usage node below a quota path (`Quotas.statNode`).
const STATS: &str = "zookeeper_stats";

/// The `key=value` lists in the limits and stats nodes (ZooKeeper's `StatsTrack`):
/// `count=3,bytes=20` and, when other keys are present,
/// `count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2` (the extra `=` makes
/// pre-3.7 parsers ignore the new keys). A missing key reads as -1 (no limit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsTrack {
    values: BTreeMap<String, i64>,
}

impl StatsTrack {
    const COUNT: &'static str = "count";
    const BYTES: &'static str = "bytes";
    const COUNT_HARD: &'static str = "countHardLimit";
    const BYTES_HARD: &'static str = "byteHardLimit";

    /// Parses what a client wrote. ZooKeeper throws on a malformed pair; the data here
    /// comes from clients, so a pair that does not parse is skipped instead.
    pub fn parse(data: &[u8]) -> StatsTrack {
        let text = String::from_utf8_lossy(data);
        let mut values = BTreeMap::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            // Java's split("=") drops trailing empty parts: "bytes=2=" is bytes, 2.
            let mut kv = pair.split('=');
            let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
                continue;
            };
            let value = if value.is_empty() {
                Some(-1)
            } else {
                value.parse::<i64>().ok()
            };
            if let Some(v) = value {
                values.insert(key.to_string(), v);
            }
        }
        StatsTrack { values }
    }

    fn get(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(-1)
    }

    pub fn count(&self) -> i64 {
        self.get(Self::COUNT)
    }

    pub fn bytes(&self) -> i64 {
        self.get(Self::BYTES)
    }

    pub fn count_hard_limit(&self) -> i64 {
        self.get(Self::COUNT_HARD)
    }

    pub fn byte_hard_limit(&self) -> i64 {
        self.get(Self::BYTES_HARD)
    }

    fn set_usage(&mut self, count: i64, bytes: i64) {
        self.values.insert(Self::COUNT.to_string(), count);
        self.values.insert(Self::BYTES.to_string(), bytes);
    }

    /// ZooKeeper's `StatsTrack.toString`: count and bytes first, then the other keys in
    /// order after an extra `=`.
    pub fn encode(&self) -> String {
        let mut out = format!("count={},bytes={}", self.count(), self.bytes());
        let mut others = self
            .values
            .iter()
            .filter(|(k, _)| *k != Self::COUNT && *k != Self::BYTES)
            .peekable();
        if others.peek().is_some() {
            out.push('=');
            for (k, v) in others {
                out.push_str(&format!(";{k}={v}"));
            }
        }
        out
    }
}

/// A quota limit a write went past, for the member that answers the client to log (a
/// soft limit: the write goes on) or count (a hard one: the write fails), as ZooKeeper's
/// `checkQuota` does with its rate-limited log line and `quota_exceeded_error_per_namespace`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// The quota's path.
    pub quota: String,
    /// The first name of the written path (ZooKeeper's `PathUtils.getTopNamespace`).
    pub namespace: String,
    /// The count limit (true) or the bytes limit (false).
    pub count: bool,
    /// The usage the write would make.
    pub current: i64,
    pub limit: i64,
    pub hard: bool,
}

impl QuotaExceeded {
    /// ZooKeeper's log line for it.
    pub fn message(&self) -> String {
        let (what, limit) = if self.count {
            ("count", "CountLimit")
        } else {
            ("bytes", "ByteLimit")
        };
        format!(
            "Quota exceeded: {} [current {what}={}, {}{limit}={}]",
            self.quota,
            self.current,
            if self.hard { "hard" } else { "soft" },
            self.limit
        )
    }
}

/// `/zookeeper/quota<quota>/zookeeper_stats` (ZooKeeper's `Quotas.statPath`).
fn stats_path(quota: &str) -> String {
    format!("{QUOTA_ROOT}{quota}/{STATS}")
}

impl DataTree {
    /// The nearest quota at or above `path`: its path and its folder below
    /// `/zookeeper/quota`. The root never has one (ZooKeeper keeps none on `/`).
    fn quota_of(&self, path: &str) -> Option<(String, NodeId)> {
        // Every write asks: with no quota at all, this is all it costs.
        let root = self.quota_root?;
        if self.node(root)?.children.is_empty() {
            return None;
        }
        let mut dir = root;
        let mut prefix = String::new();
        let mut nearest = None;
        for name in path.split('/').filter(|n| !n.is_empty()) {
            let Some(next) = self.lookup_in(dir, name) else {
                break;
            };
            dir = next;
            prefix.push('/');
            prefix.push_str(name);
            if self.lookup_in(dir, LIMITS).is_some() {
                nearest = Some((prefix.clone(), dir));
            }
        }
        nearest
    }

    fn stats_track(&self, dir: NodeId, name: &str) -> Option<StatsTrack> {
        let node = self.node(self.lookup_in(dir, name)?)?;
        Some(StatsTrack::parse(node.data.as_deref().unwrap_or_default()))
    }

    /// With `enforceQuota`, refuse a write that takes the usage of the quota above
    /// `path` over a hard limit (ZooKeeper's `ZooKeeperServer.checkQuota`; a diff of 0
    /// is never checked).
    pub(crate) fn check_quota(
        &self,
        path: &str,
        bytes_diff: i64,
        count_diff: i64,
        fx: &mut Effects,
    ) -> Result<(), i32> {
        if !self.config.enforce_quota {
            return Ok(());
        }
        let Some((quota, dir)) = self.quota_of(path) else {
            return Ok(());
        };
        let Some(limits) = self.stats_track(dir, LIMITS) else {
            return Ok(());
        };
        let check_count =
            count_diff != 0 && (limits.count() > -1 || limits.count_hard_limit() > -1);
        let check_bytes = bytes_diff != 0 && (limits.bytes() > -1 || limits.byte_hard_limit() > -1);
        if !check_count && !check_bytes {
            return Ok(());
        }
        let Some(usage) = self.usage_before_multi(&quota, dir) else {
            return Ok(());
        };
        let namespace = path.split('/').nth(1).unwrap_or_default();
        let mut over = |count: bool, used: i64, diff: i64, hard: i64, soft: i64| {
            let (limit, hard) = if hard > -1 {
                (hard, true)
            } else {
                (soft, false)
            };
            let current = used.wrapping_add(diff);
            if current <= limit {
                return Ok(());
            }
            fx.quota_exceeded.push(QuotaExceeded {
                quota: quota.clone(),
                namespace: namespace.to_string(),
                count,
                current,
                limit,
                hard,
            });
            if hard {
                Err(err::QUOTA_EXCEEDED)
            } else {
                Ok(())
            }
        };
        if check_count {
            over(
                true,
                usage.count(),
                count_diff,
                limits.count_hard_limit(),
                limits.count(),
            )?;
        }
        if check_bytes {
            over(
                false,
                usage.bytes(),
                bytes_diff,
                limits.byte_hard_limit(),
                limits.bytes(),
            )?;
        }
        Ok(())
    }

    /// The usage a write is checked against. Inside a multi it is the usage from before
    /// the multi: ZooKeeper checks every op of a multi against its committed tree, so the
    /// earlier ops of the same multi do not count (and the multi can end above a limit).
    fn usage_before_multi(&self, quota: &str, dir: NodeId) -> Option<StatsTrack> {
        let stats = stats_path(quota);
        let before = self.undo.as_ref().and_then(|log| {
            log.iter().find_map(|u| match u {
                Undo::Data(p, old) if *p == stats => Some(old),
                _ => None,
            })
        });
        match before {
            Some(old) => Some(StatsTrack::parse(old.as_deref().unwrap_or_default())),
            None => self.stats_track(dir, STATS),
        }
    }

    /// Add a write's change to the usage of the quota above `path` (ZooKeeper's
    /// `updateQuotaStat`): the stats node's data is rewritten, nothing else about it.
    pub(crate) fn count_quota(
        &mut self,
        path: &str,
        bytes_diff: i64,
        count_diff: i64,
        fx: &mut Effects,
    ) {
        let Some((quota, dir)) = self.quota_of(path) else {
            return;
        };
        let Some(mut usage) = self.stats_track(dir, STATS) else {
            return;
        };
        usage.set_usage(
            usage.count().wrapping_add(count_diff),
            usage.bytes().wrapping_add(bytes_diff),
        );
        self.write_stats(&quota, usage, Some(fx));
    }

    /// A node named `zookeeper_stats` was created under `parent_path`: when that is
    /// below `/zookeeper/quota`, its data becomes the usage of the quota's subtree
    /// (ZooKeeper's `updateQuotaForPath`, with its string arithmetic).
    pub(crate) fn created_quota_node(&mut self, parent_path: &str, name: &str, fx: &mut Effects) {
        if name != STATS {
            return;
        }
        if let Some(quota) = parent_path.strip_prefix(QUOTA_ROOT) {
            self.recount_quota(quota, Some(fx));
        }
    }

    /// Count the subtree of `quota` into its stats node.
    fn recount_quota(&mut self, quota: &str, fx: Option<&mut Effects>) {
        // ZooKeeper's "" is its alias of the root.
        let top = if quota.is_empty() { "/" } else { quota };
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack: Vec<NodeId> = self.lookup(top).into_iter().collect();
        while let Some(id) = stack.pop() {
            if let Some(n) = self.node(id) {
                count += 1;
                bytes += i64::from(n.data_len());
                stack.extend(n.children.entries().map(|(_, c)| c));
            }
        }
        let mut usage = StatsTrack::default();
        usage.set_usage(count, bytes);
        self.write_stats(quota, usage, fx);
    }

    /// Rewrite the stats node of `quota` in place. A load passes no effects: the tree it
    /// recounts is not written back, every load recounts.
    fn write_stats(&mut self, quota: &str, usage: StatsTrack, fx: Option<&mut Effects>) {
        let stats = stats_path(quota);
        if let Some(id) = self.lookup(&stats) {
            self.replace_data(id, &stats, Some(Data::from(usage.encode().into_bytes())));
            if let Some(fx) = fx {
                fx.dirty_node(&stats);
            }
        }
    }

    /// After a load: recount every quota whose limits node exists (ZooKeeper's
    /// `setupQuota`), so the usage always matches the tree it describes.
    pub(crate) fn recount_all_quotas(&mut self) {
        let Some(root) = self.lookup(QUOTA_ROOT) else {
            return;
        };
        let mut quotas = Vec::new();
        let mut stack = vec![(String::new(), root)];
        while let Some((quota, id)) = stack.pop() {
            let Some(n) = self.node(id) else { continue };
            for (name, child) in n.children.entries() {
                if name == LIMITS {
                    quotas.push(quota.clone());
                } else {
                    stack.push((format!("{quota}/{name}"), child));
                }
            }
        }
        quotas.sort();
        for quota in quotas {
            self.recount_quota(&quota, None);
        }
    }
}

/// ZooKeeper's four quota gauge sets (`QuotaMetricsUtils`), per top-level namespace (the
/// first name of the quota's path): the limits (a hard limit where set, else the soft
/// one) and the usage, each summed over the namespace's quotas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaFigures {
    pub count_limit: Option<i64>,
    pub bytes_limit: Option<i64>,
    pub count_usage: Option<i64>,
    pub bytes_usage: Option<i64>,
}

impl DataTree {
    /// The quota figures by namespace, from every limits and stats node that is a leaf
    /// below `/zookeeper/quota` (as ZooKeeper collects them).
    pub fn quota_figures(&self) -> BTreeMap<String, QuotaFigures> {
        let mut out: BTreeMap<String, QuotaFigures> = BTreeMap::new();
        let Some(root) = self.quota_root else {
            return out;
        };
        let add = |slot: &mut Option<i64>, v: i64| *slot = Some(slot.unwrap_or(0).wrapping_add(v));
        let mut stack = vec![(String::new(), root)];
        while let Some((quota, id)) = stack.pop() {
            let Some(n) = self.node(id) else { continue };
            for (name, child) in n.children.entries() {
                let Some(c) = self.node(child) else { continue };
                let path = format!("{quota}/{name}");
                if !c.children.is_empty() {
                    stack.push((path, child));
                    continue;
                }
                let Some(data) = c.data.as_deref() else {
                    continue;
                };
                // PathUtils.getTopNamespace of the node's path below /zookeeper/quota.
                let Some(ns) = path.split('/').nth(1).map(str::to_string) else {
                    continue;
                };
                let t = StatsTrack::parse(data);
                let f = out.entry(ns).or_default();
                let hard_or_soft = |hard: i64, soft: i64| if hard > -1 { hard } else { soft };
                if name == LIMITS {
                    add(
                        &mut f.count_limit,
                        hard_or_soft(t.count_hard_limit(), t.count()),
                    );
                    add(
                        &mut f.bytes_limit,
                        hard_or_soft(t.byte_hard_limit(), t.bytes()),
                    );
                } else if name == STATS {
                    add(&mut f.count_usage, t.count());
                    add(&mut f.bytes_usage, t.bytes());
                }
            }
        }
        out.retain(|_, f| *f != QuotaFigures::default());
        out
    }
}
