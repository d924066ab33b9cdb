//! TLS on the client port and x509 identities, run against zkd and Apache ZooKeeper 3.9.5
//! side by side with the same zoo.cfg: `secureClientPort`, `client.portUnification`,
//! `ssl.clientAuth`, `authProvider.x509`, `X509AuthenticationProvider.superUser`,
//! `client.certReload`, and hostile clients on the TLS port.
//!
//! The client is zookeeper-client's TLS connector (rustls); the Java client over
//! Netty, zkCli and kazoo are in compat-tests/security.sh. Certificates are made fresh by
//! rcgen for every test.

mod common;
#[path = "support/pki.rs"]
mod pki;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, server_name, try_connect, whoami, ServerOptions, TestServer};
use pki::{Ca, Leaf};
use rcgen::{DnType, DnValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zookeeper_client as zk;

const X509_PROVIDER: &str = "org.apache.zookeeper.server.auth.X509AuthenticationProvider";

/// A server with a TLS port whose certificate `ca` signed, trusting client certificates
/// of `ca` too, plus `extra` settings.
fn tls_server(reference: bool, dir: &Path, ca: &Ca, extra: &[(&str, &str)]) -> (TestServer, u16) {
    let secure = free_port();
    let keystore = ca.server().write_keystore(dir, "server");
    let truststore = ca.write_trust(dir);
    let mut settings: Vec<(String, String)> = vec![
        // ZooKeeper only does TLS through its Netty connection factory.
        (
            "serverCnxnFactory".into(),
            "org.apache.zookeeper.server.NettyServerCnxnFactory".into(),
        ),
        ("secureClientPort".into(), secure.to_string()),
        (
            "ssl.keyStore.location".into(),
            keystore.display().to_string(),
        ),
        (
            "ssl.trustStore.location".into(),
            truststore.display().to_string(),
        ),
    ];
    for (k, v) in extra {
        settings.retain(|(key, _)| key != k);
        settings.push((k.to_string(), v.to_string()));
    }
    let server = TestServer::start_with(ServerOptions {
        extra: settings,
        reference,
        ..ServerOptions::default()
    });
    (server, secure)
}

/// A TLS session trusting `ca`, presenting `identity` if given.
async fn tls_client(port: u16, ca: &Ca, identity: Option<&Leaf>) -> Result<zk::Client, zk::Error> {
    let mut options = zk::TlsOptions::new().with_pem_ca(&ca.pem)?;
    if let Some(leaf) = identity {
        options = options.with_pem_identity(&leaf.cert_pem, &leaf.key_pem)?;
    }
    let connector = zk::Client::connector().with_tls(options);
    try_connect(connector, &format!("127.0.0.1:{port}"), true).await
}

fn x509(subject: &str) -> zk::Acl {
    zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("x509", subject))
}

/// The identity zkd and ZooKeeper give a certificate is Java's RFC 2253 rendering of
/// its subject, most specific part first, with the same escaping; ACLs and the super
/// user match it exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_identities_and_acls_as_on_zookeeper() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let alice = ca.client(&[
        (
            DnType::CountryName,
            DnValue::PrintableString("FR".try_into().unwrap()),
        ),
        (DnType::OrganizationName, "zkd".into()),
        (DnType::CommonName, "alice".into()),
    ]);
    let bob = ca.client(&[(DnType::CommonName, "bob".into())]);
    let admin = ca.client(&[(DnType::CommonName, "admin".into())]);
    // Escaping: separators and quotes inside a value, leading and trailing spaces, '#',
    // a non-ASCII letter, and an attribute Java names by OID (emailAddress).
    let odd = ca.client(&[
        (
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String("odd@example.com".try_into().unwrap()),
        ),
        (DnType::OrganizationalUnitName, " #team;<a>=\"b\"\\ ".into()),
        (DnType::CommonName, "Smith, John+Jr é".into()),
    ]);

    let mut seen = Vec::new();
    for reference in [false, true] {
        let server_name = server_name(reference);
        let (server, port) = tls_server(
            reference,
            dir.path(),
            &ca,
            &[
                ("authProvider.x509", X509_PROVIDER),
                ("X509AuthenticationProvider.superUser", "CN=admin"),
            ],
        );
        let a = tls_client(port, &ca, Some(&alice))
            .await
            .expect("alice connects");
        let b = tls_client(port, &ca, Some(&bob))
            .await
            .expect("bob connects");
        let root = tls_client(port, &ca, Some(&admin))
            .await
            .expect("admin connects");
        let o = tls_client(port, &ca, Some(&odd))
            .await
            .expect("odd connects");

        let ids = (whoami(&a).await, whoami(&root).await, whoami(&o).await);
        assert!(
            ids.0
                .contains(&("x509".into(), "CN=alice,O=zkd,C=FR".into())),
            "{server_name}: alice is {:?}",
            ids.0
        );
        assert!(
            ids.1.contains(&("super".into(), String::new())),
            "{server_name}: admin is {:?}",
            ids.1
        );

        // An x509 ACL admits its subject, the super user, and nobody else.
        let only_alice = [x509("CN=alice,O=zkd,C=FR")];
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::from(&only_alice[..]));
        a.create("/x509", b"secret", &opts).await.expect("create");
        let (data, _) = a.get_data("/x509").await.expect("alice reads");
        assert_eq!(data, b"secret");
        assert!(
            matches!(b.get_data("/x509").await, Err(zk::Error::NoAuth)),
            "{server_name}: bob must not read alice's node"
        );
        root.get_data("/x509").await.expect("the super user reads");
        // An id that is not an X.500 name is no valid ACL.
        let bad = [x509("alice")];
        assert!(
            matches!(
                a.set_acl("/x509", &bad[..], None).await,
                Err(zk::Error::InvalidAcl)
            ),
            "{server_name}: x509:alice must be an invalid ACL"
        );
        // `auth` expands to the x509 identity.
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
        a.create("/mine", b"", &opts)
            .await
            .expect("create with auth");
        let (acl, _) = a.get_acl("/mine").await.expect("getACL");
        assert_eq!(acl.len(), 1, "{server_name}: {acl:?}");
        assert_eq!(acl[0].scheme(), "x509");
        assert_eq!(acl[0].id(), "CN=alice,O=zkd,C=FR");
        drop(server);
        seen.push(ids);
    }
    assert_eq!(
        seen[0], seen[1],
        "zkd and ZooKeeper name the same certificates alike"
    );
}

/// With `ssl.clientAuth=need` (the default) a client without a trusted, valid
/// certificate is refused, and so are plaintext and broken handshakes; each is one
/// closed connection and the sessions already there carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_and_hostile_clients_are_refused_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let stranger_ca = Ca::new("stranger");
    let good = ca.client(&[(DnType::CommonName, "good".into())]);
    let stranger = stranger_ca.client(&[(DnType::CommonName, "stranger".into())]);
    let expired = ca.expired_client("old");
    for reference in [false, true] {
        let server_name = server_name(reference);
        let (server, port) = tls_server(
            reference,
            dir.path(),
            &ca,
            &[("authProvider.x509", X509_PROVIDER)],
        );
        let keeper = tls_client(port, &ca, Some(&good)).await.expect("connect");
        keeper
            .create(
                "/alive",
                b"1",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
            )
            .await
            .expect("create");

        let still_serving = || async {
            let (data, _) = keeper
                .get_data("/alive")
                .await
                .expect("the first session works");
            assert_eq!(data, b"1");
        };
        assert!(
            tls_client(port, &ca, None).await.is_err(),
            "{server_name}: a client without a certificate must be refused"
        );
        still_serving().await;
        assert!(
            tls_client(port, &ca, Some(&stranger)).await.is_err(),
            "{server_name}: a certificate of another CA must be refused"
        );
        still_serving().await;
        assert!(
            tls_client(port, &ca, Some(&expired)).await.is_err(),
            "{server_name}: an expired certificate must be refused"
        );
        still_serving().await;

        // A plaintext ZooKeeper handshake on the TLS port gets no session.
        assert!(
            !common::session_handshake(port),
            "{server_name}: plaintext on the TLS port must get no session"
        );
        // Half a ClientHello, then silence; garbage; and a flood of handshakes that
        // never finish: each is closed, nothing else is disturbed.
        let mut half = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
            .await
            .unwrap();
        drop(half);
        let mut garbage = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        garbage.write_all(&[0xff; 64]).await.unwrap();
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(10), garbage.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(_)) | Ok(Err(_))),
            "{server_name}: garbage on the TLS port must be answered or closed"
        );
        let mut flood = Vec::new();
        for _ in 0..100 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = s.write_all(&[0x16, 0x03, 0x01]).await;
                flood.push(s);
            }
        }
        still_serving().await;
        let fresh = tls_client(port, &ca, Some(&good)).await;
        assert!(
            fresh.is_ok(),
            "{server_name}: a good client during a handshake flood"
        );
        drop(flood);
        still_serving().await;
        if !reference {
            let log = server.log();
            assert!(
                log.contains("TLS handshake failed"),
                "zkd logs refusals:\n{log}"
            );
            assert!(!log.contains("panicked"), "zkd log:\n{log}");
        }
    }
}

/// `ssl.clientAuth=want`: a certificate is asked for, not required; a client without
/// one is served with no x509 identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_auth_want_serves_clients_without_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let carol = ca.client(&[(DnType::CommonName, "carol".into())]);
    let mut seen = Vec::new();
    for reference in [false, true] {
        let (_server, port) = tls_server(
            reference,
            dir.path(),
            &ca,
            &[
                ("ssl.clientAuth", "want"),
                ("authProvider.x509", X509_PROVIDER),
            ],
        );
        let anonymous = tls_client(port, &ca, None)
            .await
            .expect("no certificate is fine");
        let with_cert = tls_client(port, &ca, Some(&carol)).await.expect("connect");
        let ids = (whoami(&anonymous).await, whoami(&with_cert).await);
        assert_eq!(ids.0, vec![("ip".to_string(), "127.0.0.1".to_string())]);
        assert!(
            ids.1.contains(&("x509".into(), "CN=carol".into())),
            "{:?}",
            ids.1
        );
        seen.push(ids);
    }
    assert_eq!(seen[0], seen[1]);
}

/// A TLS port registers the x509 scheme by itself (ZooKeeper's `configureSSLAuth`):
/// no `authProvider.x509` line is needed for certificate identities and x509 ACLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_port_registers_the_x509_provider_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let dave = ca.client(&[(DnType::CommonName, "dave".into())]);
    let mut seen = Vec::new();
    for reference in [false, true] {
        let (_server, port) = tls_server(reference, dir.path(), &ca, &[]);
        let client = tls_client(port, &ca, Some(&dave)).await.expect("connect");
        let only_dave = [x509("CN=dave")];
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::from(&only_dave[..]));
        client
            .create("/dave", b"", &opts)
            .await
            .expect("an x509 ACL is valid");
        seen.push(whoami(&client).await);
    }
    assert_eq!(seen[0], seen[1]);
    assert!(
        seen[0].contains(&("x509".into(), "CN=dave".into())),
        "{:?}",
        seen[0]
    );
}

/// `ssl.authProvider` naming a scheme nobody provides stops the start, as ZooKeeper's
/// "No auth provider configured for the SSL authentication scheme".
#[test]
fn an_unknown_ssl_auth_provider_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = refused_at_start(dir.path(), "ssl.authProvider=custom\n");
    assert!(stderr.contains("No auth provider configured"), "{stderr}");
}

/// `client.portUnification=true`: the plaintext client port also takes TLS clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_unification_takes_plaintext_and_tls_on_one_port() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    for reference in [false, true] {
        let (server, _) = tls_server(
            reference,
            dir.path(),
            &ca,
            &[
                ("client.portUnification", "true"),
                ("ssl.clientAuth", "none"),
            ],
        );
        let plain = server.connect().await;
        plain
            .create(
                "/both",
                b"plain",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
            )
            .await
            .expect("plaintext create");
        let secure = tls_client(server.port, &ca, None)
            .await
            .unwrap_or_else(|e| panic!("{}: TLS on the client port: {e}", server_name(reference)));
        let (data, _) = secure.get_data("/both").await.expect("TLS read");
        assert_eq!(data, b"plain");
        assert_eq!(
            server.four_letter("ruok"),
            "imok",
            "four-letter words still work"
        );
    }
}

/// `client.certReload=true`: a renewed server certificate is used for new
/// connections without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_certificates_are_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("old");
    let new_ca = Ca::new("new");
    for reference in [false, true] {
        let (_server, port) = tls_server(
            reference,
            dir.path(),
            &old_ca,
            &[("ssl.clientAuth", "none"), ("client.certReload", "true")],
        );
        tls_client(port, &old_ca, None)
            .await
            .expect("the old certificate");
        assert!(tls_client(port, &new_ca, None).await.is_err());
        // Renew in place, as an operator's cert-manager does.
        new_ca.server().write_keystore(dir.path(), "server");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if tls_client(port, &new_ca, None).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: the renewed certificate was not picked up in 30 s",
                server_name(reference)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// A zoo.cfg with a `secureClientPort` and no `clientPort` serves TLS only, as
/// ZooKeeper does: no plaintext port is opened (not even the default 2181).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_port_alone_means_no_plaintext_port() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let keystore = ca.server().write_keystore(dir.path(), "server");
    let secure = free_port();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\nsecureClientPort={secure}\nsecureClientPortAddress=127.0.0.1\n\
             ssl.keyStore.location={}\nssl.clientAuth=none\nadmin.enableServer=false\n",
            dir.path().join("data").display(),
            keystore.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("server.log");
    let mut child = common::spawn_logged(common::zkd_command(&cfg), &log);
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        if let Ok(c) = tls_client(secure, &ca, None).await {
            break c;
        }
        assert!(Instant::now() < deadline, "no TLS session in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    client
        .create(
            "/only-tls",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .expect("create over TLS");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.contains(&format!("serving TLS clients on 127.0.0.1:{secure}")),
        "{text}"
    );
    assert!(
        !text.contains("zkd serving clients on"),
        "a plaintext port was opened:\n{text}"
    );
}

/// Java's own keystore format is refused at start with the command that converts it.
#[test]
fn a_jks_keystore_is_refused_with_the_conversion_command() {
    let dir = tempfile::tempdir().unwrap();
    let jks = dir.path().join("server.jks");
    std::fs::write(&jks, [0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0, 0, 0, 0]).unwrap();
    let settings = format!(
        "ssl.keyStore.location={}\nssl.clientAuth=none\n",
        jks.display()
    );
    let stderr = refused_at_start(dir.path(), &settings);
    assert!(
        stderr.contains("JKS") && stderr.contains("keytool -importkeystore"),
        "{stderr}"
    );
}

/// Start zkd with a TLS port and `settings`; it must refuse to start. Its stderr.
fn refused_at_start(dir: &Path, settings: &str) -> String {
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\nclientPort={}\nsecureClientPort={}\nadmin.enableServer=false\n{settings}",
            dir.join("data").display(),
            free_port(),
            free_port(),
        ),
    )
    .unwrap();
    let out = common::zkd_command(&cfg).output().expect("run zkd");
    assert!(!out.status.success(), "zkd must refuse to start");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An X.509 **v1** client certificate (what `openssl x509 -req` signs without an
/// extension file): rustls (webpki) takes v3 only, where the JDK also takes v1 (the
/// documented difference in docs/operations.md, so this runs against zkd alone). zkd
/// refuses the handshake and its log says how to reissue the certificate. The client is
/// `openssl s_client`: a rustls client will not even present a v1 certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_x509_v1_client_certificate_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let v1 = ca.v1_client(dir.path(), "v1client");
    let cert = v1.write_keystore(dir.path(), "v1-identity");
    let trust = ca.write_trust(dir.path());
    let (server, port) = tls_server(false, dir.path(), &ca, &[]);
    let status = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .arg("-cert")
        .arg(&cert)
        .arg("-CAfile")
        .arg(&trust)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl s_client");
    assert!(status.code().is_some(), "openssl s_client did not run");
    let said = wait_until!(Duration::from_secs(5), {
        server.log().contains("X.509 v1")
    });
    assert!(said, "no hint in zkd's log:\n{}", server.log());
    assert!(server.log().contains("TLS handshake failed"));
    // The server goes on.
    let good = ca.client(&[(DnType::CommonName, "good".into())]);
    assert!(tls_client(port, &ca, Some(&good)).await.is_ok());
}

/// A TLS handshake that never finishes (a client that connects and says nothing) is
/// closed by the server (zkd after 10 s, with a log line; ZooKeeper's Netty after its own
/// 5 s), and meanwhile others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_handshake_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let good = ca.client(&[(DnType::CommonName, "good".into())]);
    for reference in [false, true] {
        let server_name = server_name(reference);
        let (server, port) = tls_server(reference, dir.path(), &ca, &[]);
        let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let other = tls_client(port, &ca, Some(&good)).await;
        assert!(
            other.is_ok(),
            "{server_name}: a client beside the silent one"
        );
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(20), silent.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "{server_name}: the silent handshake was not closed: {closed:?}"
        );
        if !reference {
            let said = wait_until!(Duration::from_secs(5), {
                server.log().contains("TLS handshake not finished")
            });
            assert!(said, "zkd log:\n{}", server.log());
        }
    }
}
