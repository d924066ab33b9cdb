//! Linearizability checker for histories of single-znode register operations.
//!
//! Why: ensemble tests drive concurrent clients through leader changes, kills and partitions;
//! "every read returned something plausible" is not a correctness criterion, linearizability
//! is. This is the Wing–Gong–Lowe search with Lowe's memoization of (linearized set, model
//! state), as in porcupine, applied to each znode path on its own (P-compositionality: a
//! history is linearizable iff its restriction to every key is).
//!
//! The model of one znode is `Option<(data, version)>`: `None` when it does not exist (keys
//! missing from `initial` start absent), and each successful set bumps the version by one.
//! Outcomes:
//! * `Ok(result)`: the operation took effect once, somewhere between invoke and complete.
//!   A CAS answered `BadVersion` did happen (it observed a version mismatch): `Ok(BadVersion)`.
//! * `Fail`: it definitely did not take effect (dropped from the history).
//! * `Unknown` (timeout, connection loss): it may take effect at any time after its invoke,
//!   or never; its completion is +infinity and its result is not checked. Unknown reads are
//!   dropped.
//!
//! Three sound reductions keep the search small: an operation that does not change the state
//! (a read, a `BadVersion` CAS) and can be linearized now is taken without trying
//! alternatives (moving it earlier never breaks a valid linearization); an unknown operation
//! is only linearized where it changes the state (as a no-op it is equivalent to being
//! linearized at the very end, which is always possible); and since versions only grow, no
//! state may pass the version that a remaining read or successful set needs to see. The
//! search is bounded by a step budget; running out is reported as inconclusive, distinct from
//! a violation. Self-tests (including agreement with a brute-force checker) are in
//! tests/ensemble_support_selftest.rs.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

/// Steps allowed per key by [`check`]; ordinary histories need a few per operation.
pub const DEFAULT_STEP_BUDGET: u64 = 20_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    /// Unconditional setData (version -1).
    Write(Vec<u8>),
    /// setData with an expected version.
    Cas {
        expected_version: i32,
        data: Vec<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Res {
    /// What a read saw: `None` if the node did not exist.
    Read(Option<(Vec<u8>, i32)>),
    /// The new version returned by a successful Write or Cas.
    Version(i32),
    /// A Cas whose expected version did not match.
    BadVersion,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(Res),
    Fail,
    Unknown,
}

/// One operation of a history. Times are nanoseconds on a common clock (see [`Recorder`]);
/// `complete` is ignored for `Unknown` outcomes.
#[derive(Clone, Debug)]
pub struct Op {
    pub client: usize,
    pub key: String,
    pub action: Action,
    pub invoke: u64,
    pub complete: u64,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// No linearization exists.
    Violation { key: String, detail: String },
    /// The step budget ran out before the search finished.
    Inconclusive { key: String, steps: u64, ops: usize },
    /// An operation whose result does not fit its action.
    Malformed(String),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Violation { key, detail } => {
                write!(f, "linearizability violation on key {key}: {detail}")
            }
            CheckError::Inconclusive { key, steps, ops } => write!(
                f,
                "inconclusive: linearizability search on key {key} ({ops} ops) gave up after \
                 {steps} steps"
            ),
            CheckError::Malformed(m) => write!(f, "malformed history: {m}"),
        }
    }
}

/// Check every key; the error names the first key that is not linearizable (or inconclusive).
pub fn check(history: &[Op], initial: &HashMap<String, (Vec<u8>, i32)>) -> Result<(), String> {
    check_with_budget(history, initial, DEFAULT_STEP_BUDGET).map_err(|e| e.to_string())
}

pub fn check_with_budget(
    history: &[Op],
    initial: &HashMap<String, (Vec<u8>, i32)>,
    budget: u64,
) -> Result<(), CheckError> {
    let mut by_key: HashMap<&str, Vec<&Op>> = HashMap::new();
    for op in history {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut keys: Vec<&str> = by_key.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        check_key(key, &by_key[key], initial.get(key), budget)?;
    }
    Ok(())
}

/// Collects a history from concurrent clients, timestamped against one epoch.
pub struct Recorder {
    epoch: Instant,
    ops: Mutex<Vec<Op>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            epoch: Instant::now(),
            ops: Mutex::new(Vec::new()),
        }
    }

    /// Nanoseconds since the recorder was made: take it before sending and after the reply.
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn record(&self, op: Op) {
        self.ops.lock().unwrap().push(op);
    }

    pub fn history(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// the search for one key

/// Model state: (interned data, version), `None` = the node does not exist.
type State = Option<(u32, i32)>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum KOp {
    Read(State),
    /// setData; `expected` is `None` for an unconditional write.
    Set {
        expected: Option<i32>,
        data: u32,
        ret: SetRet,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SetRet {
    Ok(i32),
    BadVersion,
    Unknown,
}

impl KOp {
    /// The state after applying `self` to `s`, or `None` if this cannot be its next step.
    fn step(self, s: State) -> Option<State> {
        let KOp::Set {
            expected,
            data,
            ret,
        } = self
        else {
            return (self == KOp::Read(s)).then_some(s);
        };
        let (_, v) = s?;
        let matches = expected.is_none_or(|e| e == v);
        let applied = Some((data, v.wrapping_add(1)));
        match ret {
            SetRet::Ok(r) => (matches && r == v.wrapping_add(1)).then_some(applied),
            SetRet::BadVersion => (!matches).then_some(s),
            // as a no-op it is dominated by linearizing it last
            SetRet::Unknown => matches.then_some(applied),
        }
    }

    /// Never changes the state: if it can go next, going next is always as good as anything.
    fn state_neutral(self) -> bool {
        matches!(
            self,
            KOp::Read(_)
                | KOp::Set {
                    ret: SetRet::BadVersion,
                    ..
                }
        )
    }

    /// The version the state must have just before this op, if its result pins one.
    fn needs(self) -> Option<i32> {
        match self {
            KOp::Read(seen) => seen.map(|(_, v)| v),
            KOp::Set {
                ret: SetRet::Ok(v), ..
            } => Some(v.wrapping_sub(1)),
            _ => None,
        }
    }
}

struct Interner<'a> {
    ids: HashMap<&'a [u8], u32>,
    values: Vec<&'a [u8]>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, d: &'a [u8]) -> u32 {
        let next = self.values.len() as u32;
        *self.ids.entry(d).or_insert_with(|| {
            self.values.push(d);
            next
        })
    }
    fn show(&self, s: State) -> String {
        match s {
            None => "absent".to_string(),
            Some((d, v)) => format!(
                "({:?}, v{v})",
                String::from_utf8_lossy(self.values[d as usize])
            ),
        }
    }
}

const NIL: usize = usize::MAX;

fn check_key(
    key: &str,
    ops: &[&Op],
    initial: Option<&(Vec<u8>, i32)>,
    budget: u64,
) -> Result<(), CheckError> {
    let mut interner = Interner {
        ids: HashMap::new(),
        values: Vec::new(),
    };
    let init: State = initial.map(|(d, v)| (interner.id(d), *v));
    // (original op, model op, invoke, complete; u64::MAX = unknown)
    let mut kept: Vec<(&Op, KOp, u64, u64)> = Vec::new();
    for &op in ops {
        let malformed = || CheckError::Malformed(format!("{op:?}"));
        let kop = match (&op.action, &op.outcome) {
            (_, Outcome::Fail) | (Action::Read, Outcome::Unknown) => continue,
            (Action::Read, Outcome::Ok(Res::Read(seen))) => {
                KOp::Read(seen.as_ref().map(|(d, v)| (interner.id(d), *v)))
            }
            (Action::Read, _) => return Err(malformed()),
            (Action::Write(data), outcome) | (Action::Cas { data, .. }, outcome) => {
                let expected = match op.action {
                    Action::Cas {
                        expected_version, ..
                    } => Some(expected_version),
                    _ => None,
                };
                let ret = match outcome {
                    Outcome::Ok(Res::Version(v)) => SetRet::Ok(*v),
                    Outcome::Ok(Res::BadVersion) if expected.is_some() => SetRet::BadVersion,
                    Outcome::Unknown => SetRet::Unknown,
                    _ => return Err(malformed()),
                };
                let data = interner.id(data);
                KOp::Set {
                    expected,
                    data,
                    ret,
                }
            }
        };
        let unknown = op.outcome == Outcome::Unknown;
        let complete = if unknown { u64::MAX } else { op.complete };
        if complete < op.invoke {
            return Err(CheckError::Malformed(format!(
                "completes before invoke: {op:?}"
            )));
        }
        kept.push((op, kop, op.invoke, complete));
    }
    let n = kept.len();
    let known = kept.iter().filter(|k| k.3 != u64::MAX).count();
    if known == 0 {
        return Ok(());
    }

    let mut search = Search::new(&kept, init, known);
    let mut steps: u64 = 0;
    let mut entry = search.next[0];
    let mut fresh = true; // just arrived at a new state: look for a state-neutral step first
    loop {
        if search.known_left == 0 {
            return Ok(()); // the unknown ops left can all go last
        }
        steps += 1;
        if steps > budget {
            return Err(CheckError::Inconclusive {
                key: key.to_string(),
                steps: budget,
                ops: n,
            });
        }
        if fresh {
            fresh = false;
            // a state-neutral op that can go next is taken without alternatives
            let mut x = search.next[0];
            while x != NIL && !search.is_ret[x] {
                let i = search.op_of[x];
                if kept[i].1.state_neutral() && kept[i].1.step(search.state).is_some() {
                    break;
                }
                x = search.next[x];
            }
            if x != NIL && !search.is_ret[x] {
                match search.try_push(search.op_of[x], true) {
                    Try::Pushed => {
                        entry = search.next[0];
                        fresh = true;
                        continue;
                    }
                    // that successor already failed, so this state fails too
                    Try::Visited => entry = NIL,
                    Try::Rejected => {}
                }
            }
        }
        if entry != NIL && !search.is_ret[entry] {
            if let Try::Pushed = search.try_push(search.op_of[entry], false) {
                entry = search.next[0];
                fresh = true;
            } else {
                entry = search.next[entry];
            }
            continue;
        }
        // a return entry (or the end): the pending op must have come earlier -- backtrack
        loop {
            let Some((i, forced)) = search.pop() else {
                return Err(CheckError::Violation {
                    key: key.to_string(),
                    detail: explain(&kept, &search.best, init, &interner),
                });
            };
            if !forced {
                entry = search.next[search.call_node[i]];
                break;
            }
        }
    }
}

enum Try {
    /// Cannot go next (wrong state, or it would leave a remaining op behind).
    Rejected,
    /// Goes next, but into a (linearized set, state) already explored (and failed).
    Visited,
    Pushed,
}

/// The search state: porcupine's doubly linked list of call/return entries (node 0 is the
/// head, node 1 + e is entry e of the time-sorted events), the stack of linearized ops and
/// the cache of explored (linearized set, state) pairs.
struct Search<'h, 'a> {
    kept: &'h [(&'a Op, KOp, u64, u64)],
    next: Vec<usize>,
    prev: Vec<usize>,
    is_ret: Vec<bool>,
    op_of: Vec<usize>,
    call_node: Vec<usize>,
    ret_node: Vec<usize>,
    linearized: Vec<u64>,
    cache: HashSet<(Vec<u32>, State)>,
    /// (op, state before it, taken without alternatives)
    stack: Vec<(usize, State, bool)>,
    state: State,
    known_left: usize,
    /// Multiset of the versions the remaining known ops need to see: versions never go
    /// down, so a state above the smallest is a dead end (this is what keeps unknown writes
    /// from being tried everywhere).
    floor: BTreeMap<i32, usize>,
    best: Vec<usize>,
}

impl<'h, 'a> Search<'h, 'a> {
    fn new(kept: &'h [(&'a Op, KOp, u64, u64)], init: State, known: usize) -> Self {
        let n = kept.len();
        // calls before returns at equal times: touching intervals count as concurrent
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
        for (i, k) in kept.iter().enumerate() {
            events.push((k.2, false, i));
            events.push((k.3, true, i));
        }
        events.sort_unstable();
        let mut s = Search {
            kept,
            next: vec![NIL; 2 * n + 1],
            prev: vec![NIL; 2 * n + 1],
            is_ret: vec![false; 2 * n + 1],
            op_of: vec![0; 2 * n + 1],
            call_node: vec![0; n],
            ret_node: vec![0; n],
            linearized: vec![0; n.div_ceil(64)],
            cache: HashSet::new(),
            stack: Vec::new(),
            state: init,
            known_left: known,
            floor: BTreeMap::new(),
            best: Vec::new(),
        };
        for (e, &(_, ret, i)) in events.iter().enumerate() {
            let node = e + 1;
            s.prev[node] = node - 1;
            s.next[node - 1] = node;
            s.is_ret[node] = ret;
            s.op_of[node] = i;
            if ret {
                s.ret_node[i] = node;
            } else {
                s.call_node[i] = node;
            }
        }
        for i in 0..n {
            s.floor_add(i, 1);
        }
        s
    }

    fn floor_add(&mut self, i: usize, by: isize) {
        if let Some(v) = self.kept[i].1.needs() {
            let c = self.floor.entry(v).or_insert(0);
            *c = c.checked_add_signed(by).unwrap();
            if *c == 0 {
                self.floor.remove(&v);
            }
        }
    }

    fn try_push(&mut self, i: usize, forced: bool) -> Try {
        let Some(s2) = self.kept[i].1.step(self.state) else {
            return Try::Rejected;
        };
        self.floor_add(i, -1);
        let too_high = match (s2, self.floor.keys().next()) {
            (Some((_, v)), Some(&min)) => v > min,
            _ => false,
        };
        self.linearized[i / 64] |= 1 << (i % 64);
        if too_high || !self.cache.insert((runs(&self.linearized), s2)) {
            self.linearized[i / 64] &= !(1 << (i % 64));
            self.floor_add(i, 1);
            return if too_high {
                Try::Rejected
            } else {
                Try::Visited
            };
        }
        self.stack.push((i, self.state, forced));
        self.state = s2;
        self.unlink(self.call_node[i]);
        self.unlink(self.ret_node[i]);
        if self.kept[i].3 != u64::MAX {
            self.known_left -= 1;
        }
        if self.stack.len() > self.best.len() {
            self.best = self.stack.iter().map(|s| s.0).collect();
        }
        Try::Pushed
    }

    /// Undo the last push: (op, whether it was forced).
    fn pop(&mut self) -> Option<(usize, bool)> {
        let (i, s, forced) = self.stack.pop()?;
        self.linearized[i / 64] &= !(1 << (i % 64));
        self.relink(self.ret_node[i]);
        self.relink(self.call_node[i]);
        self.floor_add(i, 1);
        if self.kept[i].3 != u64::MAX {
            self.known_left += 1;
        }
        self.state = s;
        Some((i, forced))
    }

    fn unlink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = x;
        if n != NIL {
            self.prev[n] = x;
        }
    }
}

/// The linearized set as the positions where the bitset flips (compact: a long run of
/// linearized ops, a few holes for unknown ops, a small window of recent ones).
fn runs(bits: &[u64]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut cur = false;
    for (w, &word) in bits.iter().enumerate() {
        let mut x = if cur { !word } else { word };
        while x != 0 {
            let b = x.trailing_zeros();
            out.push(w as u32 * 64 + b);
            cur = !cur;
            // flip the meaning: look for the next change from bit b on
            let mask = if b == 63 { 0 } else { !0u64 << (b + 1) };
            x = (if cur { !word } else { word }) & mask;
        }
    }
    out
}

fn explain(kept: &[(&Op, KOp, u64, u64)], best: &[usize], init: State, it: &Interner) -> String {
    let mut state = init;
    for &i in best {
        state = kept[i].1.step(state).expect("replay of a found prefix");
    }
    let done: HashSet<usize> = best.iter().copied().collect();
    let rest: Vec<usize> = (0..kept.len()).filter(|i| !done.contains(i)).collect();
    // the ops that could have gone next: invoked before the earliest completion left
    let horizon = rest.iter().map(|&i| kept[i].3).min().unwrap_or(u64::MAX);
    let mut s = format!(
        "{} ops; the longest linearizable prefix has {} of them and leaves the node {}.\n  \
         last ops of that prefix:\n",
        kept.len(),
        best.len(),
        it.show(state)
    );
    for &i in &best[best.len().saturating_sub(5)..] {
        s.push_str(&format!("    {}\n", kept[i].0));
    }
    s.push_str("  none of these can go next:\n");
    let next: Vec<usize> = rest
        .iter()
        .copied()
        .filter(|&i| kept[i].2 <= horizon)
        .collect();
    for &i in next.iter().take(12) {
        s.push_str(&format!("    {}\n", kept[i].0));
    }
    // versions only grow: the later op needing the lowest one may be what blocks the others
    let low = rest
        .iter()
        .filter(|i| !next.contains(i))
        .filter_map(|&i| Some((kept[i].1.needs()?, i)))
        .min();
    if let Some((v, i)) = low {
        s.push_str(&format!(
            "  while this later op needs v{v}:\n    {}\n",
            kept[i].0
        ));
    }
    s
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |d: &[u8]| format!("{:?}", String::from_utf8_lossy(d));
        write!(f, "client {} ", self.client)?;
        match &self.action {
            Action::Read => write!(f, "read")?,
            Action::Write(d) => write!(f, "write {}", text(d))?,
            Action::Cas {
                expected_version: v,
                data,
            } => write!(f, "cas v{v} {}", text(data))?,
        }
        match &self.outcome {
            Outcome::Unknown => write!(f, " [{}..] -> unknown", self.invoke),
            o => {
                write!(f, " [{}..{}] -> ", self.invoke, self.complete)?;
                match o {
                    Outcome::Ok(Res::Read(None)) => write!(f, "absent"),
                    Outcome::Ok(Res::Read(Some((d, v)))) => write!(f, "({}, v{v})", text(d)),
                    Outcome::Ok(Res::Version(v)) => write!(f, "ok v{v}"),
                    Outcome::Ok(Res::BadVersion) => write!(f, "BadVersion"),
                    _ => write!(f, "failed"),
                }
            }
        }
    }
}
