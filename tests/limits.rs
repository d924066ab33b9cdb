//! maxClientCnxns: connections beyond the per-IP limit are refused; the others keep working.

mod common;

use std::time::Duration;

use common::*;

const MAX: u32 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_client_cnxns_are_refused() {
    let server = TestServer::start_with(ServerOptions {
        max_client_cnxns: MAX,
        ..Default::default()
    });
    let mut clients = Vec::new();
    for _ in 0..MAX {
        clients.push(server.connect().await);
    }
    for (i, c) in clients.iter().enumerate() {
        c.create(&format!("/lim-{i}"), b"x", &open_acl())
            .await
            .unwrap();
    }

    // one more from 127.0.0.1: closed without a ConnectResponse
    for attempt in 0..3 {
        // ZooKeeper accepts and immediately closes; the connect itself may already see the reset
        let resp = match Raw::try_open(server.port).await {
            Ok(mut raw) => raw.handshake(10_000, 0, &[0u8; 16]).await,
            Err(_) => None,
        };
        assert!(
            resp.is_none(),
            "connection {} (attempt {attempt}) was accepted: {resp:?}",
            MAX + 1
        );
    }

    // the first ones are unaffected
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(c.get_data(&format!("/lim-{i}")).await.unwrap().0, b"x");
        c.set_data(&format!("/lim-{i}"), b"y", None).await.unwrap();
    }

    // closing one frees a slot
    drop(clients.pop());
    let admitted = wait_until!(Duration::from_secs(10), {
        match Raw::try_open(server.port).await {
            Ok(mut raw) => match raw.handshake(10_000, 0, &[0u8; 16]).await {
                Some(r) if r.session_id != 0 => {
                    let _ = raw.call(op::CLOSE_SESSION, &[]).await;
                    true
                }
                _ => false,
            },
            Err(_) => false,
        }
    });
    assert!(
        admitted,
        "a connection is admitted again once one of the {MAX} closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_means_unlimited() {
    let server = TestServer::start_with(ServerOptions {
        max_client_cnxns: 0,
        ..Default::default()
    });
    let mut raws = Vec::new();
    for _ in 0..70 {
        raws.push(Raw::connect(server.port, 10_000).await);
    }
    let c = server.connect().await;
    c.create("/many", b"", &open_acl()).await.unwrap();
    for (raw, _) in raws.iter_mut() {
        let (_, r) = raw
            .call(
                op::EXISTS,
                &Enc::new().string("/many").boolean(false).bytes(),
            )
            .await;
        assert_eq!(r.err, 0);
    }
}
