//! The timed phase: one writer task and one reader per session.
//!
//! The writer keeps up to `depth` requests in flight (a semaphore of `depth`
//! permits; the reader gives one back per reply), batches whatever it can
//! send at once into one `write`, and tells the reader, through a channel, the
//! xid, kind and start time of every request *before* writing it. ZooKeeper
//! answers a session's requests in order, so the reader takes the next entry
//! from the channel for every reply and checks the xids match.
//!
//! With `--rate` each session sends on a fixed schedule (total rate / sessions,
//! staggered between sessions). When the depth limit makes a request late, its
//! latency is measured from the time it was *scheduled* to go, so a stalled
//! server is not hidden by the generator waiting for it (coordinated omission).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use jute::{
    op, CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest, GetDataRequest, MultiOp,
    MultiRequest, MultiResponse, MultiResult, Record, SetDataRequest,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, Semaphore};

use crate::conn::{self, encode_request, Error, Result, Session};

/// What one request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Create,
    Delete,
    Set,
    Get,
    Exists,
    List,
    Multi,
}

pub const KINDS: [Kind; 7] = [
    Kind::Create,
    Kind::Delete,
    Kind::Set,
    Kind::Get,
    Kind::Exists,
    Kind::List,
    Kind::Multi,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Delete => "delete",
            Kind::Set => "set",
            Kind::Get => "get",
            Kind::Exists => "exists",
            Kind::List => "list",
            Kind::Multi => "multi",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.name() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Everything a session needs to generate requests.
pub struct Plan {
    /// Cumulative weights over KINDS (a single kind has one non-zero weight).
    pub weights: Vec<(Kind, u32)>,
    pub root: String,
    pub keys: u64,
    pub value: Bytes,
    pub multi_ops: usize,
    pub depth: usize,
    pub sessions: usize,
    /// Per-session interval between sends (`--rate`), if any.
    pub interval: Option<Duration>,
    /// Run tag, used in the per-session directory name.
    pub tag: String,
}

impl Plan {
    pub fn key(&self, i: u64) -> String {
        format!("{}/k/{i}", self.root)
    }

    pub fn session_dir(&self, sess: usize) -> String {
        format!("{}/w/{}-s{sess}", self.root, self.tag)
    }

    pub fn list_dir(&self) -> String {
        format!("{}/l", self.root)
    }
}

/// When the timed phase runs and when it stops.
pub struct Control {
    pub start: Instant,
    pub measure_from: Instant,
    pub deadline: Option<Instant>,
    /// Measured ops to issue in total (`--ops`), shared by all sessions.
    pub budget: Option<u64>,
    pub issued: AtomicU64,
    /// Per second since `start`: replies, errors and the slowest reply (µs).
    pub timeline: Vec<[AtomicU64; 3]>,
}

impl Control {
    pub fn new(
        start: Instant,
        warmup: Duration,
        duration: Option<Duration>,
        budget: Option<u64>,
    ) -> Control {
        let measure_from = start + warmup;
        // With --ops the length is unknown: keep an hour of seconds.
        let secs = duration.map_or(3600, |d| (warmup + d).as_secs() as usize + 2);
        Control {
            start,
            measure_from,
            deadline: duration.map(|d| measure_from + d),
            budget,
            issued: AtomicU64::new(0),
            timeline: (0..secs).map(|_| Default::default()).collect(),
        }
    }

    fn tick(&self, now: Instant, us: u64, failed: bool) {
        let i = now.saturating_duration_since(self.start).as_secs() as usize;
        if let Some(slot) = self.timeline.get(i) {
            slot[0].fetch_add(1, Ordering::Relaxed);
            if failed {
                slot[1].fetch_add(1, Ordering::Relaxed);
            }
            slot[2].fetch_max(us, Ordering::Relaxed);
        }
    }

    /// May another request be sent at `now`?
    fn admit(&self, now: Instant) -> bool {
        if self.deadline.is_some_and(|d| now >= d) {
            return false;
        }
        match self.budget {
            Some(b) if now >= self.measure_from => self.issued.fetch_add(1, Ordering::Relaxed) < b,
            _ => true,
        }
    }
}

/// One session's results.
pub struct Stats {
    /// Latency (µs) of measured replies, per kind.
    pub hist: Vec<Histogram<u64>>,
    pub ok: [u64; 7],
    pub errors: [u64; 7],
    pub error_codes: BTreeMap<i32, u64>,
    /// Time of the last measured reply.
    pub last_reply: Option<Instant>,
    /// Names (counters) of this session's nodes that still exist.
    pub live: VecDeque<u64>,
}

pub fn new_hist() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits; the bounds are constants, so this
    // cannot fail.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            hist: KINDS.iter().map(|_| new_hist()).collect(),
            ok: [0; 7],
            errors: [0; 7],
            error_codes: BTreeMap::new(),
            last_reply: None,
            live: VecDeque::new(),
        }
    }
}

/// A request the reader is waiting for.
struct InFlight {
    xid: i32,
    kind: Kind,
    /// Node counter for create/delete.
    node: u64,
    t0: Instant,
}

/// Cheap deterministic PRNG (xorshift64*), one per session.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// Per-session node bookkeeping shared by writer (delete picks) and reader
/// (create acknowledgements).
#[derive(Default)]
struct Nodes {
    next: u64,
    live: VecDeque<u64>,
}

/// Runs the timed phase on one session; returns its stats (and closes it).
pub async fn run_session(
    sess: usize,
    session: Session,
    plan: Arc<Plan>,
    ctl: Arc<Control>,
) -> Result<Stats> {
    let Session { mut rd, mut wr } = session;
    let sem = Arc::new(Semaphore::new(plan.depth.max(1)));
    let nodes = Arc::new(Mutex::new(Nodes::default()));
    let (tx, mut rx) = mpsc::unbounded_channel::<InFlight>();

    let writer = {
        let (sem, nodes, plan, ctl) = (sem.clone(), nodes.clone(), plan.clone(), ctl.clone());
        tokio::spawn(async move {
            let mut rng = Rng::new(sess as u64 + 1);
            let mut out = BytesMut::with_capacity(64 * 1024);
            let mut xid: i32 = 0;
            let dir = plan.session_dir(sess);
            let total: u32 = plan.weights.iter().map(|w| w.1).sum();
            let mut sched = plan.interval.map(|iv| {
                // Stagger sessions over one interval.
                ctl.start + iv.mul_f64(sess as f64 / plan.sessions.max(1) as f64)
            });
            'outer: loop {
                let mut t0 = Instant::now();
                if let (Some(at), Some(iv)) = (sched.as_mut(), plan.interval) {
                    tokio::time::sleep_until((*at).into()).await;
                    let intended = *at;
                    *at += iv;
                    match sem.try_acquire() {
                        Ok(p) => {
                            p.forget();
                            t0 = Instant::now();
                        }
                        Err(_) => match sem.acquire().await {
                            Ok(p) => {
                                p.forget();
                                t0 = intended;
                            }
                            Err(_) => break,
                        },
                    }
                } else {
                    match sem.acquire().await {
                        Ok(p) => p.forget(),
                        Err(_) => break,
                    }
                }
                // Got one permit; take as many more as are free (no rate mode).
                let mut batch = 1;
                loop {
                    let now = Instant::now();
                    if !ctl.admit(now) {
                        if !out.is_empty() {
                            let _ = wr.write_all(&out).await;
                            let _ = wr.flush().await;
                        }
                        break 'outer;
                    }
                    if plan.interval.is_none() {
                        t0 = now;
                    }
                    let pick = rng.below(total as u64) as u32;
                    let mut acc = 0;
                    let mut kind = plan.weights[0].0;
                    for (k, w) in &plan.weights {
                        acc += w;
                        if pick < acc {
                            kind = *k;
                            break;
                        }
                    }
                    let mut node = 0;
                    if kind == Kind::Delete {
                        let mut n = nodes.lock().unwrap_or_else(|e| e.into_inner());
                        match n.live.pop_front() {
                            Some(v) => node = v,
                            None => kind = Kind::Create,
                        }
                    }
                    if kind == Kind::Create {
                        let mut n = nodes.lock().unwrap_or_else(|e| e.into_inner());
                        node = n.next;
                        n.next += 1;
                    }
                    xid = xid.wrapping_add(1).max(1);
                    encode_op(&mut out, &plan, &mut rng, &dir, kind, node, xid);
                    if tx
                        .send(InFlight {
                            xid,
                            kind,
                            node,
                            t0,
                        })
                        .is_err()
                    {
                        break 'outer;
                    }
                    if plan.interval.is_some() || batch >= 256 {
                        break;
                    }
                    match sem.try_acquire() {
                        Ok(p) => {
                            p.forget();
                            batch += 1;
                        }
                        Err(_) => break,
                    }
                }
                // TLS holds written records until flushed (a no-op on TCP)
                if wr.write_all(&out).await.is_err() || wr.flush().await.is_err() {
                    break;
                }
                out.clear();
            }
            drop(tx);
            wr
        })
    };

    let mut st = Stats::new();
    let mut buf = Vec::with_capacity(4096);
    let result: Result<()> = async {
        while let Some(inf) = rx.recv().await {
            let (hdr, body) = loop {
                match conn::read_frame(&mut rd, &mut buf).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(Error(format!(
                            "session {sess}: server closed the connection"
                        )))
                    }
                    Err(e) => return Err(Error(format!("session {sess}: {e}"))),
                }
                let (hdr, body) = conn::split_reply(&buf)?;
                if hdr.xid >= 0 {
                    break (hdr, body);
                }
            };
            let now = Instant::now();
            sem.add_permits(1);
            if hdr.xid != inf.xid {
                return Err(Error(format!(
                    "session {sess}: reply xid {} but expected {}",
                    hdr.xid, inf.xid
                )));
            }
            let mut code = hdr.err;
            if code == 0 && inf.kind == Kind::Multi {
                code = multi_error(body);
            }
            if inf.kind == Kind::Create && code == 0 {
                nodes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .live
                    .push_back(inf.node);
            }
            let us = now.saturating_duration_since(inf.t0).as_micros() as u64;
            ctl.tick(now, us, code != 0);
            if now >= ctl.measure_from {
                let i = inf.kind.index();
                st.hist[i].saturating_record(us.max(1));
                if code == 0 {
                    st.ok[i] += 1;
                } else {
                    st.errors[i] += 1;
                    *st.error_codes.entry(code).or_default() += 1;
                }
                st.last_reply = Some(now);
            }
        }
        Ok(())
    }
    .await;
    sem.close();
    drop(rx);
    let wr = writer
        .await
        .map_err(|e| Error(format!("session {sess}: writer task failed: {e}")))?;
    result?;
    st.live = std::mem::take(&mut nodes.lock().unwrap_or_else(|e| e.into_inner()).live);
    let session = Session { rd, wr };
    session.close(i32::MAX).await?;
    Ok(st)
}

/// First error code inside a multi reply (0 if every op succeeded).
fn multi_error(body: &[u8]) -> i32 {
    match MultiResponse::decode(body) {
        Ok(r) => r
            .results
            .iter()
            .find_map(|res| match res {
                MultiResult::Error(code) if *code != 0 => Some(*code),
                _ => None,
            })
            .unwrap_or(0),
        Err(_) => jute::err::MARSHALLING_ERROR,
    }
}

fn encode_op(
    out: &mut BytesMut,
    plan: &Plan,
    rng: &mut Rng,
    dir: &str,
    kind: Kind,
    node: u64,
    xid: i32,
) {
    match kind {
        Kind::Create => encode_request(
            out,
            xid,
            op::CREATE,
            &CreateRequest {
                path: format!("{dir}/{node}"),
                data: Some(plan.value.clone()),
                acl: jute::ids::open_acl_unsafe(),
                flags: 0,
            },
        ),
        Kind::Delete => encode_request(
            out,
            xid,
            op::DELETE,
            &DeleteRequest {
                path: format!("{dir}/{node}"),
                version: -1,
            },
        ),
        Kind::Set => encode_request(
            out,
            xid,
            op::SET_DATA,
            &SetDataRequest {
                path: plan.key(rng.below(plan.keys)),
                data: Some(plan.value.clone()),
                version: -1,
            },
        ),
        Kind::Get => encode_request(
            out,
            xid,
            op::GET_DATA,
            &GetDataRequest {
                path: plan.key(rng.below(plan.keys)),
                watch: false,
            },
        ),
        Kind::Exists => encode_request(
            out,
            xid,
            op::EXISTS,
            &ExistsRequest {
                path: plan.key(rng.below(plan.keys)),
                watch: false,
            },
        ),
        Kind::List => encode_request(
            out,
            xid,
            op::GET_CHILDREN,
            &GetChildrenRequest {
                path: plan.list_dir(),
                watch: false,
            },
        ),
        Kind::Multi => {
            let ops = (0..plan.multi_ops.max(1))
                .map(|_| {
                    MultiOp::SetData(SetDataRequest {
                        path: plan.key(rng.below(plan.keys)),
                        data: Some(plan.value.clone()),
                        version: -1,
                    })
                })
                .collect();
            encode_request(out, xid, op::MULTI, &MultiRequest { ops })
        }
    }
}

/// Encoded body of a create request (setup).
pub fn create_body(path: String, data: Bytes) -> Bytes {
    CreateRequest {
        path,
        data: Some(data),
        acl: jute::ids::open_acl_unsafe(),
        flags: 0,
    }
    .encode()
    .freeze()
}

/// Encoded body of a delete request (cleanup).
pub fn delete_body(path: String) -> Bytes {
    DeleteRequest { path, version: -1 }.encode().freeze()
}

/// Encoded body of a setData request (setup).
pub fn set_body(path: String, data: Bytes) -> Bytes {
    SetDataRequest {
        path,
        data: Some(data),
        version: -1,
    }
    .encode()
    .freeze()
}
