//! Divergence detection in an ensemble: the leader proposes its tree digest every 128
//! zxids (a `DigestCheck` log entry) and every member compares its own digest at that
//! zxid when it applies the entry, as ZooKeeper's followers check the digest each txn
//! carries. A member whose tree diverged (a failpoint on that member alone) reports
//! `Digests are not matching` and counts `digest_mismatches_count`; the others do not.

#[path = "support/cluster.rs"]
mod cluster;
mod common;
#[path = "support/proxy.rs"]
mod proxy;

use std::time::Duration;

use cluster::Cluster;
use common::*;

fn mismatches(cluster: &Cluster, i: usize) -> i64 {
    mntr_value(cluster.client_port(i), "zk_digest_mismatches_count")
}

#[test]
fn a_member_whose_tree_diverges_reports_digest_mismatches() {
    if against_zk() {
        eprintln!("skipped against Apache ZooKeeper: the failpoint is zkd's");
        return;
    }
    let mut cluster = Cluster::start(3, 0);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let victim = (leader + 1) % 3;
    let healthy = 3 - leader - victim;
    cluster.set_env(victim, &[("ZKD_FAILPOINT", "apply-diverge@30")]);
    cluster.restart(victim);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = cluster.connect(leader).await;
        c.create("/d", b"", &open_acl()).await.unwrap();
        for i in 0..600 {
            c.create(&format!("/d/{i}"), b"x", &open_acl())
                .await
                .unwrap();
        }
    });
    let said = cluster::poll(Duration::from_secs(20), || {
        cluster.log(victim).contains("Digests are not matching")
    });
    assert!(
        said,
        "the diverged member said nothing:\n{}",
        cluster.log(victim)
    );
    assert!(cluster.log(victim).contains("failpoint apply-diverge"));
    assert!(mismatches(&cluster, victim) >= 1);
    for i in [leader, healthy] {
        assert_eq!(mismatches(&cluster, i), 0, "member {i}");
        assert!(
            !cluster.log(i).contains("Digests are not matching"),
            "member {i}"
        );
    }
    // The divergence is real: the node exists on that member only.
    rt.block_on(async {
        for i in 0..3 {
            let c = cluster.connect(i).await;
            let found = c
                .check_stat("/zkd-failpoint-diverged")
                .await
                .unwrap()
                .is_some();
            assert_eq!(found, i == victim, "member {i}");
        }
    });
}
