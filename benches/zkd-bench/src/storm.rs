//! `storm`: overload, and what a server owes the clients that behave.
//!
//! 1. **Connect storm**: `--sessions` sessions (5,000 in benches/compare.sh --storm) connect
//!    at once (at most `--connect-concurrency` handshakes in progress), and each sets a
//!    persistent watch on `<root>/watched`.
//! 2. **Write flood**: `--flood-sessions` sessions pipeline setData `--depth` deep over
//!    the key space for `--duration`: far more requests in flight than a server holds
//!    (its globalOutstandingLimit), so the server, not the generator, decides how much
//!    it takes in. Meanwhile a ticker changes `<root>/watched` every 50 ms.
//! 3. **Accounting**: every storm session still connected must have received exactly
//!    one NodeDataChanged per change of `<root>/watched` (a persistent watch fires on
//!    every change): a missing or an extra event is counted.
//!
//! Throughout, a well-behaved client does one getData and one setData every 20 ms;
//! its latency is reported per phase. The server's memory is measured from outside
//! (benches/compare.sh samples its RSS).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use jute::{
    add_watch_mode, err, event, op, AddWatchRequest, GetDataRequest, Record, SetDataRequest,
    WatcherEvent,
};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use crate::conn::{self, encode_empty, encode_request, read_frame, split_reply, Error, Result};
use crate::report::Latency;
use crate::workload::{create_body, new_hist};
use crate::Cli;

/// The phases the well-behaved client's latency is split by.
const STORM: u8 = 0;
const FLOOD: u8 = 1;
const DONE: u8 = 2;

/// How often the ticker changes the watched node during the flood.
const TICK: Duration = Duration::from_millis(50);
/// How often storm sessions ping (well inside the session timeout).
const PING_EVERY: Duration = Duration::from_secs(5);

#[derive(Serialize, Debug, Default)]
pub struct StormReport {
    pub sessions: usize,
    pub established: usize,
    pub connect_failures: usize,
    pub first_connect_failure: Option<String>,
    /// From the first connect to the last watch set.
    pub connect_sec: f64,
    pub sessions_per_sec: f64,
    pub flood_sessions: usize,
    pub flood_depth: usize,
    pub flood_ops_per_sec: f64,
    pub flood_errors: u64,
    /// Changes of the watched node.
    pub watched_changes: u64,
    /// Storm sessions still connected at the end, and how many of those saw fewer
    /// (or more) events than changes.
    pub sessions_alive: usize,
    pub sessions_missing_events: usize,
    pub events_missing: u64,
    pub events_extra: u64,
    /// The well-behaved client, per phase.
    pub probe_storm: Latency,
    pub probe_flood: Latency,
    pub probe_errors: u64,
}

/// One storm session's view.
struct Watcher {
    events: AtomicU64,
    alive: AtomicBool,
}

pub async fn storm(cli: &Cli) -> Result<StormReport> {
    let server = cli.servers[0].clone();
    let root = cli.root.trim_end_matches('/').to_string();
    let watched = format!("{root}/watched");
    let value = Bytes::from(vec![b'x'; cli.value_size]);
    let key = |k: u64| format!("{root}/k/{k}");

    // Setup: the root, the watched node and the key space.
    let dirs = vec![
        (op::CREATE, create_body(root.clone(), Bytes::new())),
        (op::CREATE, create_body(format!("{root}/k"), Bytes::new())),
        (op::CREATE, create_body(watched.clone(), Bytes::new())),
    ];
    let codes = crate::run_spread(&server, dirs, 1).await?;
    crate::check_codes("storm setup", &codes, &[err::NODE_EXISTS])?;
    let keys = (0..cli.keys)
        .map(|k| (op::CREATE, create_body(key(k), value.clone())))
        .collect();
    let codes = crate::run_spread(&server, keys, 8).await?;
    crate::check_codes("storm setup (keys)", &codes, &[err::NODE_EXISTS])?;

    let phase = Arc::new(AtomicU8::new(STORM));
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopping = Arc::new(AtomicBool::new(false));

    // The well-behaved client.
    let probe = {
        let (server, phase, stopping) = (server.clone(), phase.clone(), stopping.clone());
        let (get_path, set_path, value) = (key(0), key(1.min(cli.keys - 1)), value.clone());
        tokio::spawn(async move {
            probe_loop(&server, &phase, &stopping, get_path, set_path, value).await
        })
    };

    // 1. The connect storm.
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(cli.connect_concurrency.max(1)));
    let watchers: Arc<Vec<Watcher>> = Arc::new(
        (0..cli.sessions)
            .map(|_| Watcher {
                events: AtomicU64::new(0),
                alive: AtomicBool::new(false),
            })
            .collect(),
    );
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<Result<()>>();
    let mut tasks = Vec::with_capacity(cli.sessions);
    for i in 0..cli.sessions {
        let (server, watched, gate, watchers, stop, stopping, ready) = (
            server.clone(),
            watched.clone(),
            gate.clone(),
            watchers.clone(),
            stop.clone(),
            stopping.clone(),
            ready_tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            watch_session(
                i, &server, &watched, &gate, &watchers, &stop, &stopping, ready,
            )
            .await
        }));
    }
    drop(ready_tx);
    let mut rep = StormReport {
        sessions: cli.sessions,
        flood_sessions: cli.flood_sessions,
        flood_depth: cli.depth,
        ..StormReport::default()
    };
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(()) => rep.established += 1,
            Err(e) => {
                rep.connect_failures += 1;
                rep.first_connect_failure.get_or_insert(e.0);
            }
        }
        if rep.established + rep.connect_failures == cli.sessions {
            break;
        }
    }
    rep.connect_sec = started.elapsed().as_secs_f64();
    rep.sessions_per_sec = rep.established as f64 / rep.connect_sec.max(1e-9);
    eprintln!(
        "storm: {} of {} sessions watching in {:.1} s ({} failed)",
        rep.established, cli.sessions, rep.connect_sec, rep.connect_failures
    );

    // 2. The flood, and the ticker.
    phase.store(FLOOD, Ordering::Relaxed);
    let flood_until = Instant::now() + cli.duration;
    let ticker = {
        let (server, watched) = (server.clone(), watched.clone());
        tokio::spawn(async move {
            let mut s = conn::connect(&server).await?;
            let mut changes = 0u64;
            let mut tick = tokio::time::interval(TICK);
            while Instant::now() < flood_until {
                tick.tick().await;
                let (code, _) = s
                    .call(op::SET_DATA, &set_data(watched.clone(), Bytes::new()))
                    .await?;
                if code == err::OK {
                    changes += 1;
                }
            }
            s.close(i32::MAX).await?;
            Ok::<u64, Error>(changes)
        })
    };
    let flood_started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..cli.flood_sessions {
        let (server, value) = (server.clone(), value.clone());
        let keys = cli.keys;
        let depth = cli.depth;
        let root = root.clone();
        writers.push(tokio::spawn(async move {
            flood_writer(&server, w as u64, keys, depth, &root, value, flood_until).await
        }));
    }
    let mut flood_ops = 0u64;
    for h in writers {
        let (ok, errors) = h.await.map_err(|e| Error(e.to_string()))??;
        flood_ops += ok;
        rep.flood_errors += errors;
    }
    rep.flood_ops_per_sec = flood_ops as f64 / flood_started.elapsed().as_secs_f64().max(1e-9);
    rep.watched_changes = ticker.await.map_err(|e| Error(e.to_string()))??;
    phase.store(DONE, Ordering::Relaxed);

    // 3. Every connected watcher must catch up to exactly the number of changes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let behind = watchers.iter().any(|w| {
            w.alive.load(Ordering::Relaxed)
                && w.events.load(Ordering::Relaxed) < rep.watched_changes
        });
        if !behind || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for w in watchers.iter() {
        if !w.alive.load(Ordering::Relaxed) {
            continue;
        }
        rep.sessions_alive += 1;
        let got = w.events.load(Ordering::Relaxed);
        if got != rep.watched_changes {
            rep.sessions_missing_events += 1;
            rep.events_missing += rep.watched_changes.saturating_sub(got);
            rep.events_extra += got.saturating_sub(rep.watched_changes);
        }
    }
    stopping.store(true, Ordering::Relaxed);
    stop.notify_waiters();
    for t in tasks {
        let _ = t.await;
    }
    let (storm_hist, flood_hist, probe_errors) =
        probe.await.map_err(|e| Error(e.to_string()))??;
    rep.probe_storm = Latency::of(&storm_hist);
    rep.probe_flood = Latency::of(&flood_hist);
    rep.probe_errors = probe_errors;
    crate::clean_tree(&server, &root).await?;
    Ok(rep)
}

fn set_data(path: String, value: Bytes) -> SetDataRequest {
    SetDataRequest {
        path,
        data: Some(value),
        version: -1,
    }
}

/// One storm session: connect, watch, count events, ping, close when told.
#[allow(clippy::too_many_arguments)]
async fn watch_session(
    i: usize,
    server: &str,
    watched: &str,
    gate: &Semaphore,
    watchers: &[Watcher],
    stop: &tokio::sync::Notify,
    stopping: &AtomicBool,
    ready: tokio::sync::mpsc::UnboundedSender<Result<()>>,
) {
    let me = &watchers[i];
    let setup = async {
        let _permit = gate.acquire().await.map_err(|e| Error(e.to_string()))?;
        let mut s = conn::connect_with_buffer(server, 4096).await?;
        let req = AddWatchRequest {
            path: watched.to_string(),
            mode: add_watch_mode::PERSISTENT,
        };
        let (code, _) = s.call(op::ADD_WATCH, &req).await?;
        if code != err::OK {
            return Err(Error(format!("addWatch returned {code}")));
        }
        Ok(s)
    };
    let mut s = match setup.await {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    me.alive.store(true, Ordering::Relaxed);
    let _ = ready.send(Ok(()));
    let mut buf = Vec::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        if stopping.load(Ordering::Relaxed) {
            break;
        }
        tokio::select! {
            _ = &mut stopped => break,
            _ = ping.tick() => {
                let mut out = BytesMut::new();
                encode_empty(&mut out, -2, op::PING);
                if s.wr.write_all(&out).await.is_err() {
                    me.alive.store(false, Ordering::Relaxed);
                    return;
                }
            }
            frame = read_frame(&mut s.rd, &mut buf) => {
                let Ok(true) = frame else {
                    me.alive.store(false, Ordering::Relaxed);
                    return;
                };
                let Ok((hdr, body)) = split_reply(&buf) else {
                    me.alive.store(false, Ordering::Relaxed);
                    return;
                };
                if hdr.xid == -1 {
                    if let Ok(ev) = WatcherEvent::decode(body) {
                        if ev.event_type == event::NODE_DATA_CHANGED && ev.path == watched {
                            me.events.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }
    let _ = s.close(i32::MAX).await;
}

/// One flood session: setData over the key space, `depth` in flight, until `until`.
/// Returns (ok replies, error replies).
async fn flood_writer(
    server: &str,
    w: u64,
    keys: u64,
    depth: usize,
    root: &str,
    value: Bytes,
    until: Instant,
) -> Result<(u64, u64)> {
    let mut s = conn::connect(server).await?;
    let mut out = BytesMut::new();
    let mut buf = Vec::new();
    let (mut sent, mut done, mut ok, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut k = w.wrapping_mul(7919) % keys.max(1);
    loop {
        while Instant::now() < until && sent - done < depth as u64 {
            k = (k + 1) % keys.max(1);
            let body = set_data(format!("{root}/k/{k}"), value.clone());
            sent += 1;
            encode_request(&mut out, sent as i32, op::SET_DATA, &body);
        }
        if !out.is_empty() {
            s.wr.write_all(&out).await?;
            s.wr.flush().await?;
            out.clear();
        }
        if done == sent {
            break;
        }
        if !read_frame(&mut s.rd, &mut buf).await? {
            return Err(Error("server closed a flood session".into()));
        }
        let (hdr, _) = split_reply(&buf)?;
        if hdr.xid <= 0 {
            continue;
        }
        done += 1;
        if hdr.err == err::OK {
            ok += 1;
        } else {
            errors += 1;
        }
    }
    s.close(i32::MAX).await?;
    Ok((ok, errors))
}

/// The well-behaved client: a getData and a setData every 20 ms until told to stop.
/// Returns its latency (µs) in the storm and the flood phase, and its errors.
async fn probe_loop(
    server: &str,
    phase: &AtomicU8,
    stopping: &AtomicBool,
    get_path: String,
    set_path: String,
    value: Bytes,
) -> Result<(Histogram<u64>, Histogram<u64>, u64)> {
    let mut s = conn::connect(server).await?;
    let (mut storm, mut flood, mut errors) = (new_hist(), new_hist(), 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while !stopping.load(Ordering::Relaxed) {
        tick.tick().await;
        let get = GetDataRequest {
            path: get_path.clone(),
            watch: false,
        };
        for (code, us) in [
            timed(s.call(op::GET_DATA, &get)).await?,
            timed(s.call(op::SET_DATA, &set_data(set_path.clone(), value.clone()))).await?,
        ] {
            if code != err::OK {
                errors += 1;
            }
            let hist = match phase.load(Ordering::Relaxed) {
                STORM => &mut storm,
                FLOOD => &mut flood,
                _ => continue,
            };
            let _ = hist.record(us.max(1));
        }
    }
    s.close(i32::MAX).await?;
    Ok((storm, flood, errors))
}

async fn timed(f: impl std::future::Future<Output = Result<(i32, Bytes)>>) -> Result<(i32, u64)> {
    let t0 = Instant::now();
    let (code, _) = f.await?;
    Ok((code, t0.elapsed().as_micros() as u64))
}
