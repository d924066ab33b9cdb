//! Decoding and encoding the records on the hot path of every request:
//! request/reply headers, create, setData, getData (request and response with
//! a Stat), a 4-op multi and the connect handshake.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jute::{
    ConnectRequest, CreateRequest, GetDataRequest, GetDataResponse, MultiOp, MultiRequest, Record,
    ReplyHeader, RequestHeader, SetDataRequest, Stat,
};

fn value() -> Bytes {
    Bytes::from(vec![b'x'; 100])
}

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0042,
        mzxid: 0x1_0000_0099,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_123,
        version: 7,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 100,
        num_children: 0,
        pzxid: 0x1_0000_0042,
    }
}

/// Benchmarks `decode` and `encode` (into a reused buffer) of one record.
fn codec<R: Record>(c: &mut Criterion, name: &str, rec: R) {
    let wire = rec.encode().freeze();
    let mut g = c.benchmark_group(format!("jute/{name}"));
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| R::decode(black_box(&wire[..])).map(black_box).is_ok())
    });
    let mut out = BytesMut::with_capacity(4096);
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&rec).write(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    codec(
        c,
        "RequestHeader",
        RequestHeader {
            xid: 42,
            op_type: 4,
        },
    );
    codec(
        c,
        "ReplyHeader",
        ReplyHeader {
            xid: 42,
            zxid: 0x1_0000_0099,
            err: 0,
        },
    );
    codec(
        c,
        "GetDataRequest",
        GetDataRequest {
            path: "/zkd-bench/k/123".into(),
            watch: false,
        },
    );
    codec(
        c,
        "GetDataResponse_100B",
        GetDataResponse {
            data: Some(value()),
            stat: stat(),
        },
    );
    codec(
        c,
        "CreateRequest_100B",
        CreateRequest {
            path: "/zkd-bench/w/abc-s1/12345".into(),
            data: Some(value()),
            acl: jute::ids::open_acl_unsafe(),
            flags: 0,
        },
    );
    codec(
        c,
        "SetDataRequest_100B",
        SetDataRequest {
            path: "/zkd-bench/k/123".into(),
            data: Some(value()),
            version: -1,
        },
    );
    codec(
        c,
        "MultiRequest_4xSetData",
        MultiRequest {
            ops: (0..4)
                .map(|i| {
                    MultiOp::SetData(SetDataRequest {
                        path: format!("/zkd-bench/k/{i}"),
                        data: Some(value()),
                        version: -1,
                    })
                })
                .collect(),
        },
    );
    codec(
        c,
        "ConnectRequest",
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: Bytes::from_static(&[0u8; 16]),
            read_only: Some(false),
        },
    );
}

criterion_group!(jute_codec, benches);
criterion_main!(jute_codec);
