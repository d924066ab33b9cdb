//! SASL DIGEST-MD5 inside the session, run against zkd and Apache ZooKeeper 3.9.5 side
//! by side with the same zoo.cfg and JAAS file: `sasl:` identities and ACLs, the SASL
//! super user, wrong passwords, `sessionRequireClientSASLAuth`.
//!
//! The JAAS file reaches both servers as zkServer.sh users pass it: a
//! `-Djava.security.auth.login.config=...` flag (ZooKeeper's JVM argument, zkd's
//! `SERVER_JVMFLAGS`). The client is zookeeper-client's DIGEST-MD5 (rsasl); the Java
//! client and kazoo are in compat-tests/sasl.sh.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{server_name, try_connect, whoami, ServerOptions, TestServer};
use zookeeper_client as zk;

const SASL_PROVIDER: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

fn write_jaas(dir: &Path) -> String {
    let path = dir.join("jaas.conf");
    std::fs::write(
        &path,
        "Server {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    \
         user_admin=\"adminsecret\"\n    user_bob=\"bobsecret\"\n    user_alice=\"alicesecret\";\n};\n",
    )
    .unwrap();
    path.display().to_string()
}

fn sasl_server(reference: bool, dir: &Path, extra: &[(&str, &str)]) -> TestServer {
    let mut settings = vec![("authProvider.1".to_string(), SASL_PROVIDER.to_string())];
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TestServer::start_with(ServerOptions {
        extra: settings,
        jvm_flags: vec![
            format!("-Djava.security.auth.login.config={}", write_jaas(dir)),
            "-Dzookeeper.superUser=admin".to_string(),
        ],
        reference,
        ..ServerOptions::default()
    })
}

async fn sasl_client(
    server: &TestServer,
    user: &str,
    password: &str,
) -> Result<zk::Client, zk::Error> {
    let sasl = zk::SaslOptions::digest_md5(user.to_string(), password.to_string());
    try_connect(
        zk::Client::connector().with_sasl(sasl),
        &server.addr(),
        false,
    )
    .await
}

fn sasl(user: &str) -> zk::Acl {
    zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("sasl", user))
}

/// A DIGEST-MD5 user becomes `sasl:<user>`; `sasl:` ACLs admit it alone, and
/// `zookeeper.superUser` is super.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_md5_identities_and_acls_as_on_zookeeper() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for reference in [false, true] {
        let server_name = server_name(reference);
        let server = sasl_server(reference, dir.path(), &[]);
        let bob = sasl_client(&server, "bob", "bobsecret").await.expect("bob");
        let alice = sasl_client(&server, "alice", "alicesecret")
            .await
            .expect("alice");
        let admin = sasl_client(&server, "admin", "adminsecret")
            .await
            .expect("admin");
        let ids = (whoami(&bob).await, whoami(&admin).await);
        assert!(
            ids.0.contains(&("sasl".into(), "bob".into())),
            "{server_name}: bob is {:?}",
            ids.0
        );
        let only_bob = [sasl("bob")];
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::from(&only_bob[..]));
        bob.create("/bob", b"mine", &opts).await.expect("create");
        assert_eq!(bob.get_data("/bob").await.expect("bob reads").0, b"mine");
        assert!(
            matches!(alice.get_data("/bob").await, Err(zk::Error::NoAuth)),
            "{server_name}: alice must not read bob's node"
        );
        admin.get_data("/bob").await.expect("the super user reads");
        let plain = server.connect().await;
        assert!(matches!(
            plain.get_data("/bob").await,
            Err(zk::Error::NoAuth)
        ));
        // `auth` expands to the sasl id; a malformed Kerberos name is no valid id.
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
        bob.create("/bob-auth", b"", &opts)
            .await
            .expect("create with auth");
        let (acl, _) = bob.get_acl("/bob-auth").await.expect("getACL");
        assert_eq!(
            (acl[0].scheme(), acl[0].id()),
            ("sasl", "bob"),
            "{server_name}: {acl:?}"
        );
        let bad = [sasl("a@b@c")];
        assert!(
            matches!(
                bob.set_acl("/bob", &bad[..], None).await,
                Err(zk::Error::InvalidAcl)
            ),
            "{server_name}: sasl:a@b@c must be invalid"
        );
        drop(server);
        seen.push(ids);
    }
    assert_eq!(seen[0], seen[1], "zkd and ZooKeeper grant the same ids");
}

/// A wrong password or an unknown user fails the exchange: the client is told
/// AuthFailed and the connection closes; other sessions carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_fail_as_on_zookeeper() {
    let dir = tempfile::tempdir().unwrap();
    for reference in [false, true] {
        let server_name = server_name(reference);
        let server = sasl_server(reference, dir.path(), &[]);
        let bob = sasl_client(&server, "bob", "bobsecret").await.expect("bob");
        for (user, password) in [("bob", "wrong"), ("mallory", "whatever")] {
            let outcome = sasl_client(&server, user, password).await;
            assert!(
                outcome.is_err(),
                "{server_name}: {user}/{password} must not authenticate"
            );
        }
        bob.get_children("/")
            .await
            .expect("bob's session carries on");
        if !reference {
            let log = server.log();
            assert!(log.contains("failed to SASL authenticate"), "{log}");
        }
    }
}

/// `sessionRequireClientSASLAuth=true`: a session without a SASL identity is closed at
/// its first request (SessionClosedRequireSaslAuth); an authenticated one is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_without_sasl_are_refused_when_required() {
    let dir = tempfile::tempdir().unwrap();
    for reference in [false, true] {
        let server_name = server_name(reference);
        let server = sasl_server(
            reference,
            dir.path(),
            &[("sessionRequireClientSASLAuth", "true")],
        );
        let bob = sasl_client(&server, "bob", "bobsecret").await.expect("bob");
        bob.get_children("/")
            .await
            .expect("an authenticated session is served");
        let plain = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&server.addr())
            .await;
        let refused = match plain {
            Ok(client) => client.get_children("/").await.is_err(),
            Err(_) => true,
        };
        assert!(
            refused,
            "{server_name}: a session without SASL must be refused"
        );
        bob.get_children("/")
            .await
            .expect("bob's session carries on");
    }
}

/// A JAAS file without the `Server` section stops the start (ZooKeeper: "No JAAS
/// configuration section named 'Server' was found").
#[test]
fn a_jaas_file_without_the_server_section_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let jaas = dir.path().join("jaas.conf");
    std::fs::write(&jaas, "Client { x required; };\n").unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\nclientPort={}\nadmin.enableServer=false\n",
            dir.path().join("data").display(),
            common::free_port()
        ),
    )
    .unwrap();
    let out = common::zkd_command(&cfg)
        .env(
            "SERVER_JVMFLAGS",
            format!(
                "-Xmx1g -Djava.security.auth.login.config={}",
                jaas.display()
            ),
        )
        .output()
        .expect("run zkd");
    assert!(!out.status.success(), "zkd must refuse to start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no JAAS configuration section named 'Server'"),
        "{stderr}"
    );
}

/// Hostile SASL packets: each closes its own connection (a garbage digest-response is
/// AuthFailed, as on ZooKeeper) and every other session carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sasl_packets_close_only_their_connection() {
    use common::{Enc, Raw};
    const SASL: i32 = 102;
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes = Vec::new();
    for reference in [false, true] {
        let server_name = server_name(reference);
        let server = sasl_server(reference, dir.path(), &[]);
        let bob = sasl_client(&server, "bob", "bobsecret").await.expect("bob");
        let mut seen = Vec::new();
        // garbage after a proper start, an oversized token, and a response to a
        // challenge never asked for (an initial response is ignored, as the JDK does)
        let huge = vec![b'a'; 64 * 1024];
        for tokens in [
            vec![&b""[..], &b"\xff\xfe not directives"[..]],
            vec![&b""[..], &huge[..]],
            vec![
                &b"username=\"bob\""[..],
                &b"username=\"bob\",nonce=\"x\""[..],
            ],
        ] {
            let (mut raw, _) = Raw::connect(server.port, 10_000).await;
            let mut last = None;
            for token in tokens {
                let body = Enc::new().buffer(token).bytes();
                let xid = raw.send(SASL, &body).await;
                let reply = raw.try_read_frame(Duration::from_secs(10)).await;
                match reply {
                    Ok(Some(frame)) => {
                        assert_eq!(frame.xid, xid, "{server_name}");
                        last = Some(frame.err);
                    }
                    _ => {
                        last = None;
                        break;
                    }
                }
            }
            seen.push(last);
            bob.get_children("/")
                .await
                .expect("bob's session carries on");
        }
        // a SASL packet too short to hold its token closes the connection
        let (mut raw, _) = Raw::connect(server.port, 10_000).await;
        raw.send(SASL, &[0, 0]).await;
        let closed = raw.try_read_frame(Duration::from_secs(10)).await;
        assert!(
            !matches!(closed, Ok(Some(ref f)) if f.err == 0),
            "{server_name}: a truncated SASL packet must not succeed: {closed:?}"
        );
        bob.get_children("/")
            .await
            .expect("bob's session carries on");
        outcomes.push(seen);
    }
    assert_eq!(
        outcomes[0],
        vec![Some(-115); 3],
        "zkd: AuthFailed each time"
    );
    assert_eq!(outcomes[0], outcomes[1], "zkd and ZooKeeper answer alike");
}

/// A SASL packet to a server without a JAAS `Server` section: ZooKeeper answers OK with
/// no token (its SASL server is missing), and so does zkd, logging it once per
/// connection however often the client repeats it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_without_a_jaas_section_answers_no_token() {
    use common::{Enc, Raw};
    const SASL: i32 = 102;
    let mut answers = Vec::new();
    for reference in [false, true] {
        let server = TestServer::start_with(ServerOptions {
            reference,
            ..ServerOptions::default()
        });
        let (mut raw, _) = Raw::connect(server.port, 10_000).await;
        let mut seen = Vec::new();
        for _ in 0..3 {
            let xid = raw.send(SASL, &Enc::new().buffer(b"").bytes()).await;
            let frame = raw.read_frame().await;
            assert_eq!(frame.xid, xid, "{}", server_name(reference));
            seen.push((frame.err, frame.body));
        }
        if !reference {
            let log = server.log();
            assert_eq!(log.matches("SASL is not configured").count(), 1, "{log}");
        }
        answers.push(seen);
    }
    assert_eq!(
        answers[0][0],
        (0, vec![0xff, 0xff, 0xff, 0xff]),
        "OK, a null token"
    );
    assert_eq!(answers[0], answers[1], "zkd and ZooKeeper answer alike");
}
