//! `DataTree::apply` of the two commonest writes: create (a new 100-byte node
//! under a parent) and setData (100 bytes on an existing node), through the
//! same `Txn` path the state machine uses (the jute body is decoded at apply).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use jute::{op, CreateRequest, Record, SetDataRequest};
use zkd::tree::{DataTree, Reply, TreeConfig};
use zkd::txn::{AuthId, Txn, TxnKind};

const T0: i64 = 1_700_000_000_000;

fn value() -> Bytes {
    Bytes::from(vec![b'x'; 100])
}

/// A tree with one session; returns it, the session id and the next zxid.
fn tree_with_session() -> (DataTree, i64, i64) {
    let mut t = DataTree::new(TreeConfig::default());
    let a = t.apply(
        1,
        &Txn {
            session_id: 0,
            cxid: 0,
            time_ms: T0,
            auth: vec![],
            kind: TxnKind::CreateSession { timeout_ms: 30_000 },
        },
    );
    let sid = match a.reply {
        Reply::SessionCreated { session_id, .. } => session_id,
        r => panic!("no session: {r:?}"),
    };
    (t, sid, 2)
}

fn request(sid: i64, opcode: i32, body: Bytes) -> Txn {
    Txn {
        session_id: sid,
        cxid: 1,
        time_ms: T0 + 1,
        auth: vec![AuthId::new("ip", "127.0.0.1")],
        kind: TxnKind::Request { op: opcode, body },
    }
}

fn create_txn(sid: i64, path: String) -> Txn {
    let body = CreateRequest {
        path,
        data: Some(value()),
        acl: jute::ids::open_acl_unsafe(),
        flags: 0,
    };
    request(sid, op::CREATE, body.encode().freeze())
}

fn assert_ok(reply: &Reply) {
    match reply {
        Reply::Response { err: 0, .. } => {}
        r => panic!("apply failed: {r:?}"),
    }
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("tree");

    // create: each sample starts from a tree holding 10,000 siblings and adds
    // `iters` fresh nodes; only the applies are timed.
    g.bench_function("apply_create_100B", |b| {
        b.iter_custom(|iters| {
            let (mut t, sid, mut zxid) = tree_with_session();
            assert_ok(&t.apply(zxid, &create_txn(sid, "/b".into())).reply);
            zxid += 1;
            for i in 0..10_000 {
                t.apply(zxid, &create_txn(sid, format!("/b/pre{i}")));
                zxid += 1;
            }
            let txns: Vec<Txn> = (0..iters)
                .map(|i| create_txn(sid, format!("/b/n{i}")))
                .collect();
            let start = Instant::now();
            for txn in &txns {
                black_box(t.apply(zxid, txn));
                zxid += 1;
            }
            let took = start.elapsed();
            assert_eq!(t.node_count(), 4 + 1 + 10_000 + iters as usize);
            took
        })
    });

    // setData on 10,000 existing nodes, round robin.
    g.bench_function("apply_set_data_100B", |b| {
        let (mut t, sid, mut zxid) = tree_with_session();
        t.apply(zxid, &create_txn(sid, "/k".into()));
        zxid += 1;
        let n = 10_000;
        for i in 0..n {
            t.apply(zxid, &create_txn(sid, format!("/k/{i}")));
            zxid += 1;
        }
        let txns: Vec<Txn> = (0..n)
            .map(|i| {
                let body = SetDataRequest {
                    path: format!("/k/{i}"),
                    data: Some(value()),
                    version: -1,
                };
                request(sid, op::SET_DATA, body.encode().freeze())
            })
            .collect();
        assert_ok(&t.apply(zxid, &txns[0]).reply);
        zxid += 1;
        let mut i = 0;
        b.iter(|| {
            let a = t.apply(zxid, &txns[i]);
            zxid += 1;
            i = (i + 1) % txns.len();
            black_box(a)
        })
    });
    g.finish();
}

criterion_group! {
    name = tree_apply;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(tree_apply);
