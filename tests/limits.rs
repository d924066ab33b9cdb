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

/// A client that pipelines requests and never reads its socket: once more than
/// `zkd.maxOutboundBytes` of replies wait for it, the server disconnects it with a log
/// line, instead of queueing without end; the server and the other sessions carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_disconnected_past_the_outbound_bound() {
    if against_zk() {
        eprintln!(
            "skipped against Apache ZooKeeper: zkd.maxOutboundBytes is zkd's bound \
             (ZooKeeper queues replies for such a client without one)"
        );
        return;
    }
    let server = TestServer::start_with(ServerOptions {
        extra: vec![("zkd.maxOutboundBytes".into(), (1 << 20).to_string())],
        ..Default::default()
    });
    let c = server.connect().await;
    c.create("/big", &vec![7u8; 512 << 10], &open_acl())
        .await
        .unwrap();

    // 400 reads of 512 KiB: 200 MiB of replies, far more than the socket buffers of
    // both ends hold, so most of it would have to queue in the server.
    let (mut raw, _) = Raw::connect(server.port, 10_000).await;
    let get = Enc::new().string("/big").boolean(false).bytes();
    for _ in 0..400 {
        let frame = Enc::new().int(1).int(op::GET_DATA).raw(&get).frame();
        if raw.write(&frame).await.is_err() {
            break; // already closed by the server
        }
    }
    let said = wait_until!(Duration::from_secs(20), {
        server
            .log()
            .contains("does not read its replies and events")
    });
    assert!(said, "the server names the client it disconnects");

    // Now read: what was in flight arrives, then the connection ends.
    let closed = within(Duration::from_secs(30), "the connection to end", async {
        loop {
            match raw.read_payload(Duration::from_secs(10)).await {
                Ok(Some(_)) => continue,
                Ok(None) => return true,
                Err(e) => return e.kind() != std::io::ErrorKind::TimedOut,
            }
        }
    })
    .await;
    assert!(closed, "the connection is closed");

    // The other session, and new ones, are served.
    assert_eq!(c.get_data("/big").await.unwrap().0.len(), 512 << 10);
    let d = server.connect().await;
    d.set_data("/big", b"small", None).await.unwrap();
    assert_eq!(c.get_data("/big").await.unwrap().0, b"small");
}
