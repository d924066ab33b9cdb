//! Crash safety of the engine: kill -9 under pipelined writes, at random moments and at
//! the exact points where a checkpoint, a log segment rollover or a log purge is half
//! done. After every restart each acknowledged write must be there, with its zxid, and
//! zxids must continue above them.
//!
//! The servers run with a small `snapCount` and small log segments
//! (`ZKD_LOG_SEGMENT_BYTES`), so checkpoints, rollovers and purges happen many times a
//! second. `ZKD_CRASH_CYCLES` sets the number of random kills (20 by default; 100 for a
//! long run: `ZKD_CRASH_CYCLES=100 cargo test --test crash -- --nocapture`).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use zookeeper_client as zk;

const WRITERS: usize = 4;
/// Creates in flight per writer (plus one counter write).
const IN_FLIGHT: usize = 24;

fn crash_options(failpoint: Option<&str>) -> ServerOptions {
    let mut env = vec![("ZKD_LOG_SEGMENT_BYTES".to_string(), "65536".to_string())];
    if let Some(f) = failpoint {
        env.push(("ZKD_FAILPOINT".to_string(), f.to_string()));
    }
    ServerOptions {
        extra: vec![("snapCount".into(), "300".into())],
        env,
        ..Default::default()
    }
}

/// What the server acknowledged.
#[derive(Default)]
struct Ledger {
    /// (path, data, czxid) of every acknowledged create.
    creates: Vec<(String, Vec<u8>, i64)>,
    /// Highest acknowledged value of each writer's counter node.
    counters: Vec<i64>,
}

/// Pipelined writers: each keeps IN_FLIGHT creates and a counter setData in flight.
struct Burst {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    clients: Vec<zk::Client>,
}

impl Burst {
    /// Start writing below `/crash/<cycle>`.
    async fn start(server: &TestServer, cycle: usize, ledger: Arc<Mutex<Ledger>>) -> Burst {
        let setup = server.connect().await;
        let parent = format!("/crash/{cycle}");
        match setup.create("/crash", b"", &open_acl()).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => panic!("create /crash: {e}"),
        }
        // Bounded: a reply that never comes is a failure, not a hang.
        within(
            Duration::from_secs(30),
            "creating the cycle's parent",
            setup.create(&parent, b"", &open_acl()),
        )
        .await
        .unwrap();
        for k in 0..WRITERS {
            let ctr = format!("{parent}/ctr-{k}");
            setup.create(&ctr, b"-1", &open_acl()).await.unwrap();
        }
        ledger.lock().unwrap().counters = vec![-1; WRITERS];
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        let mut clients = Vec::new();
        for k in 0..WRITERS {
            let client = server.connect().await;
            clients.push(client.clone());
            let (ledger, stop, parent) = (ledger.clone(), stop.clone(), parent.clone());
            tasks.push(tokio::spawn(async move {
                let client = &client;
                let ctr = format!("{parent}/ctr-{k}");
                let mut round = 0i64;
                while !stop.load(Ordering::SeqCst) {
                    type Outcome = (Option<(String, Vec<u8>)>, Result<zk::Stat, zk::Error>);
                    let mut futs: FuturesUnordered<BoxFuture<'_, Outcome>> =
                        FuturesUnordered::new();
                    for i in 0..IN_FLIGHT {
                        let path = format!("{parent}/w{k}-{round}-{i}");
                        let data = format!("{k}:{round}:{i}").into_bytes();
                        futs.push(
                            async move {
                                let r = client.create(&path, &data, &open_acl()).await;
                                (Some((path, data)), r.map(|(s, _)| s))
                            }
                            .boxed(),
                        );
                    }
                    let ctr = ctr.clone();
                    futs.push(
                        async move {
                            let value = round.to_string();
                            (None, client.set_data(&ctr, value.as_bytes(), None).await)
                        }
                        .boxed(),
                    );
                    let mut failed = false;
                    while let Some((what, r)) = futs.next().await {
                        match (what, r) {
                            (Some((path, data)), Ok(stat)) => ledger
                                .lock()
                                .unwrap()
                                .creates
                                .push((path, data, stat.czxid)),
                            (None, Ok(_)) => {
                                let mut l = ledger.lock().unwrap();
                                l.counters[k] = l.counters[k].max(round);
                            }
                            (_, Err(_)) => failed = true,
                        }
                    }
                    if failed {
                        break;
                    }
                    round += 1;
                }
            }));
        }
        Burst {
            stop,
            tasks,
            clients,
        }
    }

    /// Let the writers end (their requests fail once the server is gone).
    async fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            within(Duration::from_secs(60), "writers to finish", t)
                .await
                .unwrap();
        }
        drop(self.clients);
    }
}

/// Every acknowledged create below `/crash/<cycle>` is there with its data and czxid, no
/// counter went back, and the next write gets a higher zxid.
async fn verify(server: &TestServer, cycle: usize, ledger: &Ledger) -> usize {
    let c = server.connect().await;
    let parent = format!("/crash/{cycle}");
    let kids: HashSet<String> = c
        .list_children(&parent)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let mut max_czxid = 0;
    let missing: Vec<&String> = ledger
        .creates
        .iter()
        .map(|(p, _, _)| p)
        .filter(|p| !kids.contains(p.rsplit('/').next().unwrap_or_default()))
        .collect();
    assert!(
        missing.is_empty(),
        "cycle {cycle}: {} acknowledged creates lost by kill -9, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    for chunk in ledger.creates.chunks(256) {
        let reads = chunk.iter().map(|(p, _, _)| c.get_data(p));
        for ((path, data, czxid), got) in chunk.iter().zip(futures::future::join_all(reads).await) {
            let (got, stat) = got.unwrap_or_else(|e| panic!("get {path}: {e}"));
            assert_eq!(&got, data, "{path}: data after kill -9");
            assert_eq!(stat.czxid, *czxid, "{path}: czxid after kill -9");
            max_czxid = max_czxid.max(*czxid);
        }
    }
    for (k, want) in ledger.counters.iter().enumerate() {
        let (data, _) = c.get_data(&format!("{parent}/ctr-{k}")).await.unwrap();
        let v: i64 = String::from_utf8(data).unwrap().parse().unwrap();
        assert!(
            v >= *want,
            "cycle {cycle} counter {k}: {v}, {want} was acknowledged"
        );
    }
    let next = c
        .create(&format!("{parent}/after"), b"", &open_acl())
        .await
        .unwrap()
        .0;
    assert!(
        next.czxid > max_czxid,
        "zxids continue above every acknowledged write"
    );
    ledger.creates.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_at_random_moments_loses_no_acknowledged_write() {
    let cycles = crash_cycles();
    let mut rng = Rng::new();
    let mut server = TestServer::start_with(crash_options(None));
    let mut total = 0;
    let started = Instant::now();
    for cycle in 0..cycles {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let burst = Burst::start(&server, cycle, ledger.clone()).await;
        // Some writes first, then a kill at a random moment within the next 300 ms.
        let going = wait_until!(
            Duration::from_secs(60),
            ledger.lock().unwrap().creates.len() >= 50
        );
        assert!(going, "cycle {cycle}: writes are not being acknowledged");
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        server.kill9();
        server.restart();
        burst.finish().await;
        let ledger = std::mem::take(&mut *ledger.lock().unwrap());
        total += verify(&server, cycle, &ledger).await;
    }
    let log = server.log();
    let checkpoints = log.matches("checkpoint written").count();
    let cut = log.matches("cutting the log there").count();
    eprintln!(
        "{cycles} kill -9 cycles in {:.1} s: {total} acknowledged creates, all present; \
         {checkpoints} checkpoints written, {cut} torn log tails cut",
        started.elapsed().as_secs_f64()
    );
    assert!(
        checkpoints > cycles,
        "the load should checkpoint many times"
    );
}

/// Kill -9 while the server holds at `failpoint`, restart without it, check everything.
async fn kill9_at(failpoint: &str) {
    let mut server = TestServer::start_with(crash_options(Some(failpoint)));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let burst = Burst::start(&server, 0, ledger.clone()).await;
    let reached = wait_until!(
        Duration::from_secs(60),
        server
            .log()
            .contains(&format!("failpoint {failpoint} reached"))
    );
    assert!(
        reached,
        "failpoint {failpoint} never reached; log:\n{}",
        server.log()
    );
    server.kill9();
    server.opts.env.retain(|(k, _)| k != "ZKD_FAILPOINT");
    server.restart();
    burst.finish().await;
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let n = verify(&server, 0, &ledger).await;
    eprintln!("kill -9 at {failpoint}: {n} acknowledged creates, all present");
    // And it keeps working: more writes, another checkpoint, a clean restart.
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let burst = Burst::start(&server, 1, ledger.clone()).await;
    let going = wait_until!(
        Duration::from_secs(60),
        ledger.lock().unwrap().creates.len() >= 400
    );
    assert!(going);
    burst.finish().await;
    server.restart();
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    verify(&server, 1, &ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_before_a_checkpoint_batch_lands() {
    kill9_at("checkpoint-before-commit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_after_a_checkpoint_batch_before_its_sync() {
    kill9_at("checkpoint-before-sync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_right_after_a_log_segment_rollover() {
    kill9_at("log-after-new-segment").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_between_the_deletes_of_a_log_purge() {
    kill9_at("log-purge-between-deletes").await;
}

/// The log's fsync fails (a failing or full disk): every later write is refused, reads
/// keep working for the sessions that exist, nothing acknowledged is lost, and a restart
/// on a working disk serves everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_log_fsync_refuses_writes_keeps_reads_and_loses_nothing() {
    let mut opts = crash_options(None);
    opts.env.push((
        "ZKD_FAILPOINT".to_string(),
        "log-sync-error@400".to_string(),
    ));
    let mut server = TestServer::start_with(opts);
    let reader = server.connect().await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let burst = Burst::start(&server, 0, ledger.clone()).await;
    let stopped = wait_until!(
        Duration::from_secs(60),
        server.log().contains("consensus stopped")
    );
    assert!(
        stopped,
        "the injected fsync error did not stop writes; log:\n{}",
        server.log()
    );
    burst.finish().await;
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        !ledger.creates.is_empty(),
        "some writes were acknowledged first"
    );
    // Writes are refused (the connection closes: the outcome is unknown to the client) ...
    let refused = within(
        Duration::from_secs(30),
        "a refused write",
        reader.create("/crash/after-failure", b"", &open_acl()),
    )
    .await;
    assert!(
        refused.is_err(),
        "a write was accepted after the log failed"
    );
    // ... reads keep working, and show every acknowledged write.
    let (path, data, _) = &ledger.creates[ledger.creates.len() - 1];
    let read = loop {
        match reader.get_data(path).await {
            Err(zk::Error::ConnectionLoss) => tokio::time::sleep(Duration::from_millis(50)).await,
            r => break r,
        }
    };
    assert_eq!(&read.expect("a read after the log failed").0, data);
    assert!(server.is_running(), "zkd keeps running for reads");
    server.opts.env.retain(|(k, _)| k != "ZKD_FAILPOINT");
    server.kill9();
    server.restart();
    let n = verify(&server, 0, &ledger).await;
    eprintln!("fsync failure: {n} acknowledged creates before it, all present after a restart");
}
