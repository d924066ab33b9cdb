//! Quotas: the usage kept in `zookeeper_stats`, hard limits with `enforceQuota`.

use jute::MultiResult;

use super::*;

/// What zkCli's `setquota` writes for a quota on `path`: the folders, the limits node
/// with `limits`, and a stats node the server fills in.
fn set_quota(h: &mut H, path: &str, limits: &str) {
    let mut dir = "/zookeeper/quota".to_string();
    for name in path.split('/').filter(|n| !n.is_empty()) {
        dir = format!("{dir}/{name}");
        let _ = h.create(&dir, 0);
    }
    let body = create_body(
        &format!("{dir}/zookeeper_limits"),
        Some(limits.as_bytes()),
        &open(),
        0,
    );
    assert_eq!(err_of(&h.req(op::CREATE, body)), err::OK);
    let body = create_body(
        &format!("{dir}/zookeeper_stats"),
        Some(b"count=0,bytes=0"),
        &open(),
        0,
    );
    assert_eq!(err_of(&h.req(op::CREATE, body)), err::OK);
}

fn usage(h: &H, path: &str) -> String {
    let data = h
        .node(&format!("/zookeeper/quota{path}/zookeeper_stats"))
        .data
        .clone();
    String::from_utf8(data.as_deref().unwrap_or_default().to_vec()).unwrap()
}

fn create_with(h: &mut H, path: &str, data: &[u8]) -> i32 {
    err_of(&h.req(op::CREATE, create_body(path, Some(data), &open(), 0)))
}

fn enforcing() -> H {
    H::with(TreeConfig {
        extended_types_enabled: true,
        enforce_quota: true,
        ..TreeConfig::default()
    })
}

#[test]
fn stats_track_reads_and_writes_zookeepers_format() {
    let t = StatsTrack::parse(b"count=2,bytes=-1");
    assert_eq!((t.count(), t.bytes(), t.count_hard_limit()), (2, -1, -1));
    assert_eq!(t.encode(), "count=2,bytes=-1");
    // 3.7+ limits: the extra `=` hides the hard limits from older parsers.
    let t = StatsTrack::parse(b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=5");
    assert_eq!((t.count_hard_limit(), t.byte_hard_limit()), (5, -1));
    assert_eq!(
        t.encode(),
        "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=5"
    );
    // Whatever a client wrote: malformed pairs are skipped, never a panic.
    let t = StatsTrack::parse(b";count=,bytes=x,=,countHardLimit=3=,\xff");
    assert_eq!((t.count(), t.bytes(), t.count_hard_limit()), (-1, -1, 3));
    assert_eq!(StatsTrack::parse(b"").encode(), "count=-1,bytes=-1");
}

#[test]
fn usage_follows_creates_sets_and_deletes_below_the_quota() {
    let mut h = H::new();
    h.create("/a", 0).unwrap(); // data "d": 1 byte
    h.create("/a/b", 0).unwrap();
    h.create("/ab", 0).unwrap(); // a sibling with the same prefix: not counted
    set_quota(&mut h, "/a", "count=10,bytes=-1");
    assert_eq!(usage(&h, "/a"), "count=2,bytes=2");
    let before = h.stat("/zookeeper/quota/a/zookeeper_stats");

    assert_eq!(create_with(&mut h, "/a/b/c", b"12345"), err::OK);
    assert_eq!(usage(&h, "/a"), "count=3,bytes=7");
    h.set_data("/a/b/c", b"1", -1).unwrap();
    assert_eq!(usage(&h, "/a"), "count=3,bytes=3");
    assert_eq!(h.delete("/a/b/c", -1), err::OK);
    assert_eq!(usage(&h, "/a"), "count=2,bytes=2");
    h.create("/ab/x", 0).unwrap();
    assert_eq!(usage(&h, "/a"), "count=2,bytes=2");

    // Rewritten in place: the stats node's version and mzxid stay (ZooKeeper's
    // updateQuotaStat), only its data length follows the text.
    let after = h.stat("/zookeeper/quota/a/zookeeper_stats");
    assert_eq!((after.version, after.mzxid), (before.version, before.mzxid));
    // A reload recounts every quota and finds the same numbers.
    assert_consistent(&h.tree);
}

#[test]
fn the_nearest_quota_counts_and_a_closing_session_gives_back_its_ephemerals() {
    let mut h = H::new();
    h.create("/q", 0).unwrap();
    h.create("/q/in", 0).unwrap();
    set_quota(&mut h, "/q/in", "count=5,bytes=-1");
    set_quota(&mut h, "/q", "count=50,bytes=-1");
    let other = h.new_session();
    let body = create_body("/q/in/e", Some(b"xy"), &open(), 1);
    let auth = h.auth.clone();
    assert_eq!(err_of(&h.req_as(other, &auth, op::CREATE, body)), err::OK);
    assert_eq!(usage(&h, "/q/in"), "count=2,bytes=3");
    // /q's usage was counted when its stats node was made and /q/in's quota takes the
    // writes below /q/in since: ZooKeeper counts each write once, at the nearest quota.
    assert_eq!(usage(&h, "/q"), "count=2,bytes=2");
    h.apply_as(other, &auth, TxnKind::CloseSession);
    assert_eq!(usage(&h, "/q/in"), "count=1,bytes=1");
}

#[test]
fn hard_limits_fail_writes_only_when_enforced() {
    let limits = "count=-1,bytes=-1=;byteHardLimit=6;countHardLimit=3";
    for enforce in [false, true] {
        let mut h = if enforce { enforcing() } else { H::new() };
        h.create("/h", 0).unwrap();
        set_quota(&mut h, "/h", limits);
        assert_eq!(create_with(&mut h, "/h/1", b"a"), err::OK);
        assert_eq!(create_with(&mut h, "/h/2", b"b"), err::OK);
        let over = if enforce {
            err::QUOTA_EXCEEDED
        } else {
            err::OK
        };
        assert_eq!(create_with(&mut h, "/h/3", b"c"), over, "count");
        // Bytes: the check comes before the version, as in ZooKeeper.
        assert_eq!(
            h.set_data("/h/1", b"12345", 99).err(),
            Some(if enforce { over } else { err::BAD_VERSION })
        );
        // Shrinking and same-size writes are never refused.
        assert_eq!(h.set_data("/h/1", b"", -1).err(), None);
        assert_eq!(h.set_data("/h/2", b"z", -1).err(), None);
        assert_consistent(&h.tree);
    }
}

#[test]
fn a_multi_is_checked_against_the_usage_before_it() {
    let mut h = enforcing();
    h.create("/m", 0).unwrap();
    set_quota(&mut h, "/m", "count=-1,bytes=-1=;countHardLimit=3");
    let mk = |p: &str| MultiOp::Create {
        op: op::CREATE,
        req: CreateRequest {
            path: p.into(),
            data: None,
            acl: open(),
            flags: 0,
        },
    };
    // ZooKeeper checks each op against the committed usage (1): all three pass and the
    // multi ends at 4, above the limit.
    let a = h.multi(vec![mk("/m/1"), mk("/m/2"), mk("/m/3")]);
    assert_eq!(err_of(&a), err::OK);
    assert!(multi_results(&a)
        .results
        .iter()
        .all(|r| matches!(r, MultiResult::Create(_))));
    assert_eq!(usage(&h, "/m"), "count=4,bytes=1");
    // From there on every create is over: a multi with one fails whole, counting nothing.
    let a = h.multi(vec![mk("/m/4")]);
    assert_eq!(
        multi_results(&a).results,
        [MultiResult::Error(err::QUOTA_EXCEEDED)]
    );
    // ... and says which limit (for the answering member's log and quota metrics).
    assert_eq!(
        a.quota_exceeded,
        [QuotaExceeded {
            quota: "/m".into(),
            namespace: "m".into(),
            count: true,
            current: 5,
            limit: 3,
            hard: true,
        }]
    );
    assert_eq!(
        a.quota_exceeded[0].message(),
        "Quota exceeded: /m [current count=5, hardCountLimit=3]"
    );
    assert_eq!(usage(&h, "/m"), "count=4,bytes=1");
    assert!(h.tree.get("/m/4").is_none());
    assert_consistent(&h.tree);
}

#[test]
fn quota_figures_sum_each_namespace_as_zookeepers_gauge_sets() {
    let mut h = H::new();
    for p in ["/app", "/app/a", "/app/b", "/other"] {
        h.create(p, 0).unwrap();
    }
    set_quota(&mut h, "/app/a", "count=5,bytes=-1");
    set_quota(
        &mut h,
        "/app/b",
        "count=-1,bytes=-1=;byteHardLimit=7;countHardLimit=2",
    );
    set_quota(&mut h, "/other", "count=-1,bytes=50");
    let f = h.tree.quota_figures();
    assert_eq!(f.keys().collect::<Vec<_>>(), ["app", "other"]);
    // A hard limit where set, else the soft one; summed over the namespace's quotas.
    assert_eq!(
        f["app"],
        QuotaFigures {
            count_limit: Some(5 + 2),
            bytes_limit: Some(-1 + 7),
            count_usage: Some(2),
            bytes_usage: Some(2),
        }
    );
    assert_eq!(
        (f["other"].count_limit, f["other"].bytes_limit),
        (Some(-1), Some(50))
    );
}

#[test]
fn a_soft_limit_lets_the_write_through_and_says_so() {
    let mut h = enforcing();
    h.create("/s", 0).unwrap();
    set_quota(&mut h, "/s", "count=-1,bytes=3");
    let a = h.req(op::CREATE, create_body("/s/x", Some(b"12345"), &open(), 0));
    assert_eq!(err_of(&a), err::OK);
    assert_eq!(
        a.quota_exceeded
            .iter()
            .map(QuotaExceeded::message)
            .collect::<Vec<_>>(),
        ["Quota exceeded: /s [current bytes=6, softByteLimit=3]"]
    );
    // Without enforcement ZooKeeper does not look at limits at all.
    let mut h = H::new();
    h.create("/s", 0).unwrap();
    set_quota(&mut h, "/s", "count=-1,bytes=3");
    let a = h.req(op::CREATE, create_body("/s/x", Some(b"12345"), &open(), 0));
    assert!(a.quota_exceeded.is_empty());
}
