//! Local sessions (`localSessionsEnabled`, `localSessionsUpgradingEnabled`), as
//! ZooKeeper 3.9 keeps them in an ensemble: a new session lives on the member the
//! client connected to, without a log entry; it reads and writes like any session but
//! cannot own an ephemeral node (EphemeralOnLocalSession, -120) unless upgrading is on,
//! when its first ephemeral create makes it an ensemble-wide session first. A local
//! session cannot move to another member (there it is expired). Both tests pass against
//! Apache ZooKeeper 3.9.5 too (`ZKD_TEST_AGAINST_ZK=1`).

#[path = "support/cluster.rs"]
mod cluster;
mod common;
#[path = "support/proxy.rs"]
mod proxy;

use std::time::Duration;

use cluster::{Cluster, ClusterOptions};
use common::*;

const EPHEMERAL_ON_LOCAL_SESSION: i32 = -120;
const SESSION_EXPIRED: i32 = -112;

fn cluster(upgrading: bool) -> Cluster {
    Cluster::start_with(
        3,
        0,
        ClusterOptions {
            extra: vec![
                ("localSessionsEnabled".into(), "true".into()),
                (
                    "localSessionsUpgradingEnabled".into(),
                    upgrading.to_string(),
                ),
            ],
            ..Default::default()
        },
    )
}

fn create(path: &str, flags: i32) -> Vec<u8> {
    Enc::new()
        .string(path)
        .buffer(b"x")
        .open_acl()
        .int(flags)
        .bytes()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_local_session_stays_on_its_member_and_owns_no_ephemeral() {
    let cluster = cluster(false);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let home = (leader + 1) % 3;
    let other = 3 - leader - home;
    let rt = runtime();
    rt.block_on(async {
        let before = mntr_value(cluster.client_port(leader), "zk_global_sessions");
        let (mut raw, resp) = Raw::connect(cluster.client_port(home), 10_000).await;
        let id = resp.session_id;
        // ZooKeeper's local session ids carry the member's id in their top byte.
        assert_eq!(id >> 56, cluster.server_id(home) as i64, "{id:#x}");
        assert!(mntr_value(cluster.client_port(home), "zk_local_sessions") >= 1);
        assert_eq!(
            mntr_value(cluster.client_port(leader), "zk_global_sessions"),
            before,
            "a local session is in no member's table"
        );

        // It writes like any session, and the write is replicated.
        let (_, r) = raw.call(op::CREATE, &create("/ls", 0)).await;
        assert_eq!(r.err, 0);
        let c = cluster.connect(other).await;
        c.sync("/").await.unwrap();
        assert_eq!(c.get_data("/ls").await.unwrap().0, b"x");
        // No ephemeral without upgrading, and no other change either.
        let (_, r) = raw.call(op::CREATE, &create("/ls/e", 1)).await;
        assert_eq!(r.err, EPHEMERAL_ON_LOCAL_SESSION);
        let multi = Enc::new()
            .int(op::CREATE)
            .boolean(false)
            .int(-1)
            .raw(&create("/ls/m", 3))
            .int(-1)
            .boolean(true)
            .int(-1)
            .bytes();
        // A multi with an ephemeral create fails whole, its create with SessionExpired
        // (-112), as ZooKeeper 3.9.5 answers it (the same bytes).
        let (_, r) = raw.call(op::MULTI, &multi).await;
        assert_eq!(r.err, 0);
        let failed = Enc::new()
            .int(-1)
            .boolean(false)
            .int(SESSION_EXPIRED)
            .int(SESSION_EXPIRED)
            .int(-1)
            .boolean(true)
            .int(-1)
            .bytes();
        assert_eq!(r.body, failed);
        assert!(c.check_stat("/ls/m").await.unwrap().is_none());
        assert!(c.check_stat("/ls/e").await.unwrap().is_none());

        // Elsewhere it is expired; at home it reattaches.
        let mut moved = Raw::open(cluster.client_port(other)).await;
        let answer = moved.handshake(10_000, id, &resp.passwd).await;
        assert!(
            answer
                .as_ref()
                .is_none_or(|a| a.timeout == 0 && a.session_id == 0),
            "another member took the local session: {answer:?}"
        );
        drop(raw);
        let mut back = Raw::open(cluster.client_port(home)).await;
        let again = back
            .handshake(10_000, id, &resp.passwd)
            .await
            .expect("reattach");
        assert_eq!(again.session_id, id);
        let (_, r) = back.call(op::CLOSE_SESSION, &[]).await;
        assert_eq!(r.err, 0);
    });
}

#[test]
fn a_local_session_is_upgraded_by_its_first_ephemeral() {
    let cluster = cluster(true);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let home = (leader + 1) % 3;
    let other = 3 - leader - home;
    let rt = runtime();
    rt.block_on(async {
        let (mut raw, resp) = Raw::connect(cluster.client_port(home), 10_000).await;
        let id = resp.session_id;
        let (_, r) = raw.call(op::CREATE, &create("/up", 0)).await;
        assert_eq!(r.err, 0);
        let (_, r) = raw.call(op::CREATE, &create("/up/e", 1)).await;
        assert_eq!(r.err, 0, "the ephemeral create upgrades the session");
        let c = cluster.connect(other).await;
        c.sync("/").await.unwrap();
        let stat = c.check_stat("/up/e").await.unwrap().expect("the ephemeral");
        assert_eq!(stat.ephemeral_owner, id);
        assert_eq!(
            mntr_value(cluster.client_port(home), "zk_local_sessions"),
            0,
            "no longer local"
        );
        // Now ensemble-wide: it may move to another member, and closing it there
        // deletes its ephemeral.
        drop(raw);
        let mut moved = Raw::open(cluster.client_port(other)).await;
        let answer = moved
            .handshake(10_000, id, &resp.passwd)
            .await
            .expect("moved");
        assert_eq!(answer.session_id, id);
        let (_, r) = moved.call(op::CLOSE_SESSION, &[]).await;
        assert_eq!(r.err, 0);
        c.sync("/").await.unwrap();
        assert!(c.check_stat("/up/e").await.unwrap().is_none());
    });
}

/// A local session whose client goes silent expires on its member, by that member's
/// clock: no log entry, and it cannot be reattached afterwards.
#[test]
fn a_silent_local_session_expires_on_its_member() {
    let cluster = cluster(false);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let home = (leader + 1) % 3;
    let rt = runtime();
    rt.block_on(async {
        // The shortest timeout the ensemble allows (minSessionTimeout, 200 ms).
        let (raw, resp) = Raw::connect(cluster.client_port(home), 200).await;
        let id = resp.session_id;
        let before = mntr_value(cluster.client_port(home), "zk_local_sessions");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(mntr_value(cluster.client_port(home), "zk_local_sessions") < before);
        drop(raw);
        let mut back = Raw::open(cluster.client_port(home)).await;
        let answer = back.handshake(10_000, id, &resp.passwd).await;
        assert!(
            answer
                .as_ref()
                .is_none_or(|a| a.timeout == 0 && a.session_id == 0),
            "an expired local session came back: {answer:?}"
        );
    });
}
