//! TLS between ensemble members (`sslQuorum=true`, `ssl.quorum.*`): an ensemble whose
//! members hold the cluster's certificates replicates, forwards writes, fails over and
//! ships snapshots over TLS; anyone else on the peer port — plaintext, no certificate,
//! another CA's certificate, a certificate of the cluster's CA issued to something other
//! than the connecting address — is refused with a log line while the ensemble carries on.

#[path = "support/cluster.rs"]
mod cluster;
mod common;
#[path = "support/pki.rs"]
mod pki;
#[path = "support/proxy.rs"]
mod proxy;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cluster::{blocking, Cluster, ClusterOptions};
use common::open_acl;
use pki::Ca;
use rcgen::DnType;

/// Every member presents the same certificate (for 127.0.0.1) and trusts `ca`.
fn ssl_quorum(dir: &Path, ca: &Ca, extra: &[(&str, &str)]) -> ClusterOptions {
    let keystore = ca.server().write_keystore(dir, "member");
    let truststore = ca.write_trust(dir);
    let mut lines: Vec<(String, String)> = vec![
        ("sslQuorum".into(), "true".into()),
        (
            "ssl.quorum.keyStore.location".into(),
            keystore.display().to_string(),
        ),
        (
            "ssl.quorum.trustStore.location".into(),
            truststore.display().to_string(),
        ),
    ];
    lines.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ClusterOptions {
        extra: lines,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssl_quorum_ensemble_replicates_fails_over_and_ships_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("cluster");
    let mut c = Cluster::start_with(3, 1, ssl_quorum(dir.path(), &ca, &[("snapCount", "50")]));
    let leader = blocking(|| c.wait_for_leader(Duration::from_secs(30)));
    let follower = (0..3).find(|&i| i != leader).unwrap();
    // a write through a follower travels to the leader over a TLS peer link
    let client = c.connect(follower).await;
    let persistent = open_acl();
    client
        .create("/tls", b"over tls", &persistent)
        .await
        .expect("create");
    blocking(|| c.wait_converged(&[0, 1, 2, 3], Duration::from_secs(30)));
    for i in 0..3 {
        let log = c.log(i);
        assert!(
            !log.contains("is unauthenticated"),
            "member {i} warns:\n{log}"
        );
    }

    // a member that was down catches up by snapshot: far more than the 1000 entries a
    // checkpoint leaves in the log, so the leader must ship it the tree (over TLS)
    let lagging = (0..3).find(|&i| i != leader && i != follower).unwrap();
    let had_last = c.lgif(lagging)["last_log_idx"];
    blocking(|| c.stop(lagging));
    client
        .create("/bulk", b"", &persistent)
        .await
        .expect("create");
    let paths: Vec<String> = (0..1500).map(|k| format!("/bulk/n{k:05}")).collect();
    for chunk in paths.chunks(100) {
        let pending: Vec<_> = chunk
            .iter()
            .map(|p| client.create(p, b"x", &persistent))
            .collect();
        for r in futures::future::join_all(pending).await {
            r.expect("create");
        }
    }
    let purged = blocking(|| {
        cluster::poll(Duration::from_secs(30), || {
            c.lgif(leader).get("first_log_idx").copied().unwrap_or(0) > had_last + 1
        })
    });
    assert!(
        purged,
        "the leader's log still holds {had_last}: {:?}",
        c.lgif(leader)
    );
    blocking(|| c.restart(lagging));
    let tree = blocking(|| c.wait_converged(&[0, 1, 2, 3], Duration::from_secs(60)));
    assert!(tree.len() > 1500, "{} nodes", tree.len());
    assert!(
        c.log(lagging).contains("receiving snapshot"),
        "member {lagging} caught up without a snapshot:\n{}",
        c.log(lagging)
    );

    // the leader dies: the others elect a new one over TLS and keep serving
    blocking(|| c.kill9(leader));
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let new_leader = blocking(|| {
        cluster::poll(Duration::from_secs(30), || {
            c.leader_among(&survivors).is_some()
        });
        c.leader_among(&survivors)
    })
    .expect("a new leader");
    let client = c.connect(new_leader).await;
    client
        .create("/after-failover", b"", &persistent)
        .await
        .expect("write after failover");
    let mut alive = survivors.clone();
    alive.push(3);
    blocking(|| c.wait_converged(&alive, Duration::from_secs(30)));
}

/// A TLS client config for poking at the peer port, presenting `identity` if given.
fn poke_config(ca: &Ca, identity: Option<&pki::Leaf>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        None => builder.with_no_client_auth(),
        Some(leaf) => {
            let chain =
                vec![
                    rustls_pki_types::CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes())
                        .unwrap(),
                ];
            let key =
                rustls_pki_types::PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    })
}

/// Whether a TLS session with the peer port gets through the handshake and stays open
/// for a frame.
async fn tls_session_survives(port: u16, config: Arc<rustls::ClientConfig>) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let Ok(Ok(mut tls)) =
        tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp)).await
    else {
        return false;
    };
    // TLS 1.3 reports a refused client certificate on the first read; an accepted
    // connection waits for our Hello frame
    let mut buf = [0u8; 16];
    // still open after 2 s, waiting for more: the handshake was accepted
    tokio::time::timeout(Duration::from_secs(2), tls.read(&mut buf))
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_on_the_peer_port_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("cluster");
    let stranger_ca = Ca::new("stranger");
    let c = Cluster::start_with(3, 0, ssl_quorum(dir.path(), &ca, &[]));
    let leader = blocking(|| c.wait_for_leader(Duration::from_secs(30)));
    let port = c.peer_port(leader);

    // plaintext: the Hello frame of a would-be member, then nothing comes back
    {
        let mut plain = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        plain
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = plain.write_all(&[0, 0, 0, 3, 0, 9, 0]);
        let mut buf = [0u8; 16];
        // a TLS alert record (content type 21) or a closed socket, never a peer frame
        let got = std::io::Read::read(&mut plain, &mut buf);
        assert!(
            matches!(got, Ok(0) | Err(_)) || buf[0] == 0x15,
            "plaintext on a TLS peer port got an answer: {got:?} {buf:?}"
        );
    }
    let stranger = stranger_ca.client(&[(DnType::CommonName, "stranger".into())]);
    // signed by the cluster's CA, but issued to an application, not to this address
    let client_cert = ca.client(&[(DnType::CommonName, "app".into())]);
    let member_cert = ca.server();
    assert!(
        !tls_session_survives(port, poke_config(&ca, None)).await,
        "no certificate must be refused"
    );
    assert!(
        !tls_session_survives(port, poke_config(&ca, Some(&stranger))).await,
        "another CA's certificate must be refused"
    );
    assert!(
        !tls_session_survives(port, poke_config(&ca, Some(&client_cert))).await,
        "a certificate of the cluster's CA not issued to the member's address must be refused"
    );
    assert!(
        tls_session_survives(port, poke_config(&ca, Some(&member_cert))).await,
        "the check itself: a member's certificate gets through"
    );
    let log = c.log(leader);
    assert!(log.contains("TLS handshake refused"), "{log}");
    // and the ensemble never noticed
    let client = c.connect(leader).await;
    client
        .create("/still", b"", &open_acl())
        .await
        .expect("write");
    blocking(|| c.wait_converged(&[0, 1, 2], Duration::from_secs(30)));
}

/// Without `sslQuorum` the start warns that the peer port is open to anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_peer_port_is_reported_at_start() {
    let c = Cluster::start(3, 0);
    blocking(|| c.wait_for_leader(Duration::from_secs(30)));
    assert!(c.log(0).contains("is unauthenticated"), "{}", c.log(0));
}
