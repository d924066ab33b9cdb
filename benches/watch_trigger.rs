//! `WatchManager::trigger`: turning the triggers of one write into
//! notifications. Cases: nobody watches (the common case for every write),
//! a one-shot data watch set and fired each time (getData+watch then setData),
//! a fan-out to 100 connections on one path, and a write below a
//! PERSISTENT_RECURSIVE watch (the ancestor walk).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use jute::event;
use zkd::tree::Trigger;
use zkd::watch::WatchManager;

fn trigger(path: &str, event_type: i32) -> Trigger {
    Trigger {
        path: path.to_string(),
        event_type,
        acl: Arc::new(jute::ids::open_acl_unsafe()),
    }
}

/// A manager holding one-shot data watches of 1,000 connections on 10,000 paths.
fn busy_manager() -> WatchManager {
    let mut w = WatchManager::new();
    for i in 0..10_000u64 {
        w.add_data_watch(i % 1000, &format!("/app/nodes/n{i}"));
    }
    w
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("watch");
    let set = [trigger("/app/nodes/other", event::NODE_DATA_CHANGED)];
    let create = [
        trigger("/app/nodes/new", event::NODE_CREATED),
        trigger("/app/nodes", event::NODE_CHILDREN_CHANGED),
    ];

    let mut w = busy_manager();
    g.bench_function("set_unwatched", |b| {
        b.iter(|| black_box(w.trigger(black_box(&set), |_, _| true)))
    });
    g.bench_function("create_unwatched", |b| {
        b.iter(|| black_box(w.trigger(black_box(&create), |_, _| true)))
    });

    let one = [trigger("/app/nodes/hot", event::NODE_DATA_CHANGED)];
    g.bench_function("add_and_fire_one_shot", |b| {
        b.iter(|| {
            w.add_data_watch(7, "/app/nodes/hot");
            black_box(w.trigger(black_box(&one), |_, _| true))
        })
    });

    let mut fan = busy_manager();
    for conn in 0..100 {
        fan.add_persistent(conn, "/app/config", false);
    }
    let cfg = [trigger("/app/config", event::NODE_DATA_CHANGED)];
    g.bench_function("fan_out_100_persistent", |b| {
        b.iter(|| black_box(fan.trigger(black_box(&cfg), |_, _| true)))
    });

    let mut rec = busy_manager();
    rec.add_persistent(5000, "/app", true);
    let deep = [trigger("/app/nodes/a/b/c/d", event::NODE_DATA_CHANGED)];
    g.bench_function("recursive_ancestor_walk", |b| {
        b.iter(|| black_box(rec.trigger(black_box(&deep), |_, _| true)))
    });
    g.finish();
}

criterion_group!(watch_trigger, benches);
criterion_main!(watch_trigger);
