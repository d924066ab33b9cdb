//! Rebuild ZooKeeper's tree from a snapshot plus the txns logged after it, with
//! ZooKeeper's own rules (`DataTree.processTxn`, `FileTxnSnapLog.processTransaction`,
//! `ZooKeeperServer.loadData`).
//!
//! Why not zkd's [`crate::tree::DataTree::apply`]: zkd applies *requests* and decides
//! their outcome; a ZooKeeper log holds *outcomes* already decided by its leader (the
//! new version, the parent's new cversion, the ephemeral owner, failed requests as
//! error txns). Replaying them means trusting them the way ZooKeeper's restore does:
//!
//! * create: the parent's stored cversion becomes the logged parentCVersion (-1 = +1)
//!   only if larger, and pzxid moves with it; a create whose node already exists still
//!   bumps the parent that way (the fuzzy-snapshot fix-up), for `create` (1) only.
//! * delete: the parent loses the child and gets pzxid = max(pzxid, zxid) even when the
//!   node itself is already gone.
//! * setData / setACL: version / aversion are set to the logged value.
//! * closeSession: the logged paths, then any other ephemeral of the session.
//! * multi: nothing if any sub-txn is an error; otherwise the sub-txns in order.
//! * NoNode / NodeExists while replaying are expected for the txns a fuzzy snapshot
//!   already contains; they are counted, never fatal (ZooKeeper only logs them).
//! * ACLs go through an emulation of `ReferenceCountedACLCache`, so node ACL references
//!   resolve exactly as ZooKeeper resolves them after a restart.
//! * After the last txn, ephemerals of sessions that no longer exist are deleted at the
//!   last zxid, as `loadData` does on every ZooKeeper start.
//!
//! Which owner values are TTL nodes depends on how the source ran
//! (`zookeeper.extendedTypesEnabled`, `zookeeper.emulate353TTLNodes`): [`SourceConfig`].

use std::collections::{BTreeSet, HashMap};

use bytes::{Bytes, BytesMut};
use jute::{Acl, Field, StatPersisted};

use super::zk_snapshot::ZkSnapshot;
use super::zk_txnlog::{LoggedTxn, ZkTxn};
use crate::tree::{NodeKind, CONTAINER_OWNER};

/// How the source ZooKeeper classified `ephemeralOwner` values.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceConfig {
    /// `zookeeper.extendedTypesEnabled`.
    pub extended_types: bool,
    /// `zookeeper.emulate353TTLNodes` (3.5.3's TTL encoding: any negative owner).
    pub emulate_353_ttl: bool,
}

/// A node kind by ZooKeeper's `EphemeralType.get` under a [`SourceConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZkKind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

const EXTENDED_MASK: u64 = 0xFF00_0000_0000_0000;
const RESERVED_MASK: u64 = 0x00FF_FF00_0000_0000;
const TTL_VALUE_MASK: i64 = 0xFF_FFFF_FFFF;

impl SourceConfig {
    pub fn kind(&self, owner: i64) -> Result<ZkKind, String> {
        if self.extended_types {
            if self.emulate_353_ttl && owner < 0 && owner != CONTAINER_OWNER {
                return Ok(ZkKind::Ttl(owner & TTL_VALUE_MASK));
            }
            let u = owner as u64;
            if u & EXTENDED_MASK == EXTENDED_MASK {
                if u & RESERVED_MASK != 0 {
                    return Err(format!("invalid ephemeralOwner {u:#x}"));
                }
                return Ok(ZkKind::Ttl(owner & TTL_VALUE_MASK));
            }
        }
        Ok(match owner {
            0 => ZkKind::Persistent,
            CONTAINER_OWNER => ZkKind::Container,
            o => ZkKind::Ephemeral(o),
        })
    }

    /// The owner value zkd stores for a node ZooKeeper classifies as `kind`, or why
    /// zkd cannot represent it.
    pub fn zkd_owner(&self, owner: i64) -> Result<i64, String> {
        let kind = self.kind(owner)?;
        let zkd = match kind {
            ZkKind::Ttl(ttl) => NodeKind::ttl_owner(ttl),
            _ => owner,
        };
        let same = matches!(
            (kind, NodeKind::of_owner(zkd)),
            (ZkKind::Persistent, NodeKind::Persistent)
                | (ZkKind::Container, NodeKind::Container)
                | (ZkKind::Ephemeral(_), NodeKind::Ephemeral(_))
                | (ZkKind::Ttl(_), NodeKind::Ttl(_))
        );
        if same {
            Ok(zkd)
        } else {
            Err(format!(
                "ephemeral owner {:#x} is a {kind:?} for this source, but zkd reserves that \
                 value for TTL nodes (a session of server id 255 with extendedTypesEnabled off?)",
                owner as u64
            ))
        }
    }
}

/// `ReferenceCountedACLCache`: list <-> long reference, with ZooKeeper's numbering and
/// reference counting (so that a reference in a fuzzy snapshot resolves as it would
/// in ZooKeeper).
#[derive(Default)]
struct AclCache {
    by_ref: HashMap<i64, Vec<Acl>>,
    /// Keyed by the jute encoding of the list (Acl is not Hash).
    by_list: HashMap<Vec<u8>, i64>,
    counts: HashMap<i64, i64>,
    index: i64,
}

const OPEN_REF: i64 = -1;

fn acl_key(list: &[Acl]) -> Vec<u8> {
    let mut b = BytesMut::new();
    for a in list {
        a.write_field(&mut b);
    }
    b.to_vec()
}

impl AclCache {
    fn load(&mut self, r: i64, list: Vec<Acl>) {
        self.index = self.index.max(r);
        self.by_list.insert(acl_key(&list), r);
        self.by_ref.insert(r, list);
        self.counts.insert(r, 0);
    }

    fn convert(&mut self, list: &[Acl]) -> i64 {
        let key = acl_key(list);
        let r = match self.by_list.get(&key) {
            Some(r) => *r,
            None => {
                self.index += 1;
                let r = self.index;
                self.by_list.insert(key, r);
                self.by_ref.insert(r, list.to_vec());
                r
            }
        };
        self.add_usage(r);
        r
    }

    fn add_usage(&mut self, r: i64) {
        if r != OPEN_REF && self.by_ref.contains_key(&r) {
            *self.counts.entry(r).or_insert(0) += 1;
        }
    }

    fn remove_usage(&mut self, r: i64) {
        if r == OPEN_REF || !self.by_ref.contains_key(&r) {
            return;
        }
        let c = self.counts.entry(r).or_insert(0);
        *c -= 1;
        if *c <= 0 {
            self.drop_ref(r);
        }
    }

    fn drop_ref(&mut self, r: i64) {
        self.counts.remove(&r);
        if let Some(list) = self.by_ref.remove(&r) {
            self.by_list.remove(&acl_key(&list));
        }
    }

    fn purge_unused(&mut self) {
        let unused: Vec<i64> = self
            .counts
            .iter()
            .filter(|(_, c)| **c <= 0)
            .map(|(r, _)| *r)
            .collect();
        for r in unused {
            self.drop_ref(r);
        }
    }
}

/// One node of the replayed tree.
#[derive(Clone, Debug)]
pub struct ZkNode {
    pub data: Option<Bytes>,
    pub acl_ref: i64,
    pub stat: StatPersisted,
    pub children: BTreeSet<String>,
}

/// Counters a replay reports.
#[derive(Clone, Debug, Default)]
pub struct ReplayStats {
    pub txns: u64,
    /// NoNode / NodeExists answered while replaying (expected inside the fuzzy window).
    pub tolerated: u64,
    pub last_tolerated_zxid: Option<i64>,
    /// Txns whose zxid was lower than the one before.
    pub out_of_order: u64,
    /// Txns ZooKeeper would fail on in ways other than NoNode/NodeExists (bad paths,
    /// undecodable multi sub-txns); applied as far as ZooKeeper would.
    pub anomalies: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum Fail {
    NoNode,
    NodeExists,
    Bad(String),
}

/// ZooKeeper's tree and session table while restoring.
pub struct ZkTree {
    cfg: SourceConfig,
    /// Key "/" for the root (ZooKeeper's "" alias is normalised away).
    nodes: HashMap<String, ZkNode>,
    pub sessions: HashMap<i64, i32>,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    acls: AclCache,
    pub last_zxid: i64,
    pub stats: ReplayStats,
}

impl ZkTree {
    /// ZooKeeper's digest of this tree (`tree::zk_node_digest` summed), to compare with
    /// the one a ZooKeeper snapshot records.
    pub fn digest(&self) -> i64 {
        self.nodes.iter().fold(0i64, |sum, (path, n)| {
            sum.wrapping_add(crate::tree::zk_node_digest(
                path,
                n.data.as_deref(),
                &n.stat,
            ))
        })
    }
}

fn split(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    let parent = if i == 0 { "/" } else { &path[..i] };
    let child = &path[i + 1..];
    if child.is_empty() || !path.starts_with('/') {
        return None;
    }
    Some((parent, child))
}

impl ZkTree {
    /// ZooKeeper's initial tree (no snapshot at all): `/`, `/zookeeper`,
    /// `/zookeeper/quota`, and `/zookeeper/config` with READ_ACL_UNSAFE and aversion -1.
    pub fn initial(cfg: SourceConfig) -> ZkTree {
        let mut t = ZkTree::blank(cfg);
        let node = |acl_ref| ZkNode {
            data: Some(Bytes::new()),
            acl_ref,
            stat: StatPersisted::default(),
            children: BTreeSet::new(),
        };
        let read = t.acls.convert(&jute::ids::read_acl_unsafe());
        t.nodes.insert("/".into(), node(OPEN_REF));
        t.nodes.insert("/zookeeper".into(), node(OPEN_REF));
        t.nodes.insert("/zookeeper/quota".into(), node(OPEN_REF));
        let mut config = node(read);
        config.stat.aversion = -1;
        t.nodes.insert("/zookeeper/config".into(), config);
        for (p, c) in [
            ("/", "zookeeper"),
            ("/zookeeper", "quota"),
            ("/zookeeper", "config"),
        ] {
            if let Some(n) = t.nodes.get_mut(p) {
                n.children.insert(c.into());
            }
        }
        t
    }

    fn blank(cfg: SourceConfig) -> ZkTree {
        ZkTree {
            cfg,
            nodes: HashMap::new(),
            sessions: HashMap::new(),
            ephemerals: HashMap::new(),
            acls: AclCache::default(),
            last_zxid: 0,
            stats: ReplayStats::default(),
        }
    }

    /// `DataTree.deserialize`: every node's parent must come before it.
    pub fn from_snapshot(snap: ZkSnapshot, cfg: SourceConfig) -> Result<ZkTree, String> {
        let mut t = ZkTree::blank(cfg);
        t.last_zxid = snap.zxid;
        t.sessions = snap.sessions.into_iter().collect();
        for (r, list) in snap.acls {
            t.acls.load(r, list);
        }
        t.nodes.reserve(snap.nodes.len());
        for n in snap.nodes {
            t.acls.add_usage(n.acl_ref);
            if n.path != "/" {
                let (parent, child) =
                    split(&n.path).ok_or_else(|| format!("invalid node path {:?}", n.path))?;
                let p = t.nodes.get_mut(parent).ok_or_else(|| {
                    format!("invalid tree: parent {parent} of {} is missing", n.path)
                })?;
                p.children.insert(child.to_string());
                if let ZkKind::Ephemeral(owner) = cfg.kind(n.stat.ephemeral_owner)? {
                    t.ephemerals
                        .entry(owner)
                        .or_default()
                        .insert(n.path.clone());
                }
            }
            t.nodes.insert(
                n.path,
                ZkNode {
                    data: n.data,
                    acl_ref: n.acl_ref,
                    stat: n.stat,
                    children: BTreeSet::new(),
                },
            );
        }
        if !t.nodes.contains_key("/") {
            return Err("invalid tree: no root node".into());
        }
        t.acls.purge_unused();
        Ok(t)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn get(&self, path: &str) -> Option<&ZkNode> {
        self.nodes.get(path)
    }

    pub fn config(&self) -> SourceConfig {
        self.cfg
    }

    /// The ACL list a node reference stands for, as ZooKeeper's `convertLong`.
    pub fn acl(&self, r: i64) -> Option<Vec<Acl>> {
        if r == OPEN_REF {
            Some(jute::ids::open_acl_unsafe())
        } else {
            self.acls.by_ref.get(&r).cloned()
        }
    }

    /// Apply one logged txn (`FileTxnSnapLog.processTransaction`).
    pub fn apply(&mut self, t: &LoggedTxn) {
        let h = &t.header;
        if h.zxid < self.last_zxid {
            self.stats.out_of_order += 1;
        } else {
            self.last_zxid = h.zxid;
        }
        self.stats.txns += 1;
        let zxid = h.zxid;
        match &t.txn {
            ZkTxn::CreateSession { timeout } => {
                self.sessions.insert(h.client_id, *timeout);
            }
            ZkTxn::CloseSession { paths } => {
                self.sessions.remove(&h.client_id);
                self.kill_session(h.client_id, zxid, paths.as_deref());
            }
            ZkTxn::Multi(subs) => {
                if subs.iter().any(|(ty, _)| *ty == jute::op::ERROR) {
                    return;
                }
                for (ty, sub) in subs {
                    match sub {
                        Ok(sub) => self.apply_one(*ty, sub, h.client_id, zxid, h.time),
                        Err(e) => {
                            // ZooKeeper's IOException: the sub-txns before stay applied.
                            self.anomaly(zxid, format!("multi sub-txn type {ty}: {e}"));
                            break;
                        }
                    }
                }
            }
            other => self.apply_one(h.txn_type, other, h.client_id, zxid, h.time),
        }
    }

    fn anomaly(&mut self, zxid: i64, what: String) {
        if self.stats.anomalies.len() < 100 {
            self.stats
                .anomalies
                .push(format!("zxid {}: {what}", super::hex(zxid)));
        }
    }

    /// One (sub-)txn of type `ty`, with processTxn's NodeExists fix-up for create.
    fn apply_one(&mut self, ty: i32, txn: &ZkTxn, client: i64, zxid: i64, time: i64) {
        let result = match txn {
            ZkTxn::Create(c) => self.create_node(
                &c.path,
                c.data.clone(),
                &c.acl,
                if c.ephemeral { client } else { 0 },
                c.parent_c_version,
                zxid,
                time,
            ),
            ZkTxn::CreateTtl(c) => self.create_node(
                &c.path,
                c.data.clone(),
                &c.acl,
                NodeKind::ttl_owner(c.ttl),
                c.parent_c_version,
                zxid,
                time,
            ),
            ZkTxn::CreateContainer(c) => self.create_node(
                &c.path,
                c.data.clone(),
                &c.acl,
                CONTAINER_OWNER,
                c.parent_c_version,
                zxid,
                time,
            ),
            ZkTxn::Delete(d) => self.delete_node(&d.path, zxid),
            ZkTxn::SetData(s) => match self.nodes.get_mut(&s.path) {
                Some(n) => {
                    n.data = s.data.clone();
                    n.stat.mtime = time;
                    n.stat.mzxid = zxid;
                    n.stat.version = s.version;
                    Ok(())
                }
                None => Err(Fail::NoNode),
            },
            ZkTxn::SetAcl(s) => match self.nodes.get(&s.path).map(|n| n.acl_ref) {
                Some(old) => {
                    self.acls.remove_usage(old);
                    let r = self.acls.convert(&s.acl);
                    if let Some(n) = self.nodes.get_mut(&s.path) {
                        n.stat.aversion = s.version;
                        n.acl_ref = r;
                    }
                    Ok(())
                }
                None => Err(Fail::NoNode),
            },
            ZkTxn::CreateSession { .. }
            | ZkTxn::CloseSession { .. }
            | ZkTxn::Multi(_)
            | ZkTxn::Error(_)
            | ZkTxn::Check(_) => Ok(()),
        };
        match result {
            Ok(()) => {}
            Err(Fail::Bad(e)) => self.anomaly(zxid, e),
            Err(f) => {
                self.stats.tolerated += 1;
                self.stats.last_tolerated_zxid = Some(zxid);
                if let (Fail::NodeExists, ZkTxn::Create(c), jute::op::CREATE) = (&f, txn, ty) {
                    if let Some((parent, _)) = split(&c.path) {
                        let parent = parent.to_string();
                        self.set_cversion_pzxid(&parent, c.parent_c_version, zxid);
                    }
                }
            }
        }
    }

    /// `DataTree.setCversionPzxid`.
    fn set_cversion_pzxid(&mut self, path: &str, cversion: i32, zxid: i64) {
        if let Some(n) = self.nodes.get_mut(path) {
            let cv = if cversion == -1 {
                n.stat.cversion.wrapping_add(1)
            } else {
                cversion
            };
            if cv > n.stat.cversion {
                n.stat.cversion = cv;
                n.stat.pzxid = zxid;
            }
        }
    }

    /// `DataTree.createNode`.
    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        data: Option<Bytes>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
    ) -> Result<(), Fail> {
        let (parent_path, child) =
            split(path).ok_or_else(|| Fail::Bad(format!("create of invalid path {path:?}")))?;
        if !self.nodes.contains_key(parent_path) {
            return Err(Fail::NoNode);
        }
        // ZooKeeper interns the ACL before the existence check.
        let acl_ref = self.acls.convert(acl);
        let kind = self.cfg.kind(owner).map_err(Fail::Bad)?;
        let parent = self.nodes.get_mut(parent_path).ok_or(Fail::NoNode)?;
        if parent.children.contains(child) {
            return Err(Fail::NodeExists);
        }
        let cv = if parent_cversion == -1 {
            parent.stat.cversion.wrapping_add(1)
        } else {
            parent_cversion
        };
        if cv > parent.stat.cversion {
            parent.stat.cversion = cv;
            parent.stat.pzxid = zxid;
        }
        parent.children.insert(child.to_string());
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
        };
        if let ZkKind::Ephemeral(o) = kind {
            self.ephemerals
                .entry(o)
                .or_default()
                .insert(path.to_string());
        }
        self.nodes.insert(
            path.to_string(),
            ZkNode {
                data,
                acl_ref,
                stat,
                children: BTreeSet::new(),
            },
        );
        Ok(())
    }

    /// `DataTree.deleteNode`: the parent is updated before the node is looked up.
    fn delete_node(&mut self, path: &str, zxid: i64) -> Result<(), Fail> {
        let (parent_path, child) =
            split(path).ok_or_else(|| Fail::Bad(format!("delete of invalid path {path:?}")))?;
        let parent = self.nodes.get_mut(parent_path).ok_or(Fail::NoNode)?;
        parent.children.remove(child);
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        let node = self.nodes.remove(path).ok_or(Fail::NoNode)?;
        self.acls.remove_usage(node.acl_ref);
        if let Ok(ZkKind::Ephemeral(o)) = self.cfg.kind(node.stat.ephemeral_owner) {
            if let Some(set) = self.ephemerals.get_mut(&o) {
                set.remove(path);
            }
        }
        Ok(())
    }

    /// `DataTree.killSession`: the paths the txn names, then the session's others.
    fn kill_session(&mut self, session: i64, zxid: i64, logged: Option<&[String]>) {
        let mut local = self.ephemerals.remove(&session);
        if let Some(paths) = logged {
            for p in paths {
                let _ = self.delete_node(p, zxid);
                if let Some(l) = local.as_mut() {
                    l.remove(p);
                }
            }
        }
        for p in local.into_iter().flatten() {
            let _ = self.delete_node(&p, zxid);
        }
    }

    /// Sessions that own ephemerals but are not in the session table, with how many
    /// nodes each owns: what [`ZkTree::drop_orphan_ephemerals`] will delete.
    pub fn orphan_owners(&self) -> Vec<(i64, usize)> {
        let mut out: Vec<(i64, usize)> = self
            .ephemerals
            .iter()
            .filter(|(s, set)| !self.sessions.contains_key(s) && !set.is_empty())
            .map(|(s, set)| (*s, set.len()))
            .collect();
        out.sort_unstable();
        out
    }

    /// What `ZooKeeperServer.loadData` does after restoring: close the sessions that
    /// own ephemerals but are not in the session table (at the last zxid). Returns the
    /// number of nodes deleted.
    pub fn drop_orphan_ephemerals(&mut self) -> usize {
        let mut orphans: Vec<i64> = self
            .ephemerals
            .keys()
            .filter(|s| !self.sessions.contains_key(s))
            .copied()
            .collect();
        orphans.sort_unstable();
        let before = self.nodes.len();
        let zxid = self.last_zxid;
        for s in orphans {
            self.kill_session(s, zxid, None);
        }
        before - self.nodes.len()
    }

    /// Every node reachable from the root, depth first, children in sorted order: what
    /// ZooKeeper's next snapshot would contain.
    pub fn iter_preorder(&self) -> impl Iterator<Item = (String, &ZkNode)> {
        let mut stack = vec!["/".to_string()];
        std::iter::from_fn(move || loop {
            let p = stack.pop()?;
            let Some(n) = self.nodes.get(&p) else {
                continue;
            };
            for c in n.children.iter().rev() {
                stack.push(if p == "/" {
                    format!("/{c}")
                } else {
                    format!("{p}/{c}")
                });
            }
            return Some((p, n));
        })
    }
}

#[cfg(test)]
mod tests;
