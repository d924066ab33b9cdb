//! TLS on the client port: ZooKeeper's `secureClientPort` and `client.portUnification`.
//!
//! [`TlsPort`] owns the server's TLS settings, built once from `zoo.cfg`'s `ssl.*` keys
//! (and rebuilt when the key or trust store changes, with `client.certReload`), and
//! performs the handshake of an accepted socket: what comes out is an encrypted stream
//! and the identities the client's certificate grants (`x509:<subject>`, and `super`
//! for `X509AuthenticationProvider.superUser`), exactly as ZooKeeper's
//! `NettyServerCnxnFactory.CertificateVerifier` grants them. Everything after the
//! handshake — frames, sessions, requests — is the same code as plaintext.
//!
//! rustls (with its aws-lc-rs provider) speaks TLS 1.2 and 1.3 only; the older protocols a
//! JDK can still be told to enable are reported and skipped.

mod subject;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::config::{ClientAuth, SecurityConfig, SslConfig};
use crate::tls::{handshake_hint, server_config};
use crate::txn::AuthId;

pub use subject::subject_of;

/// How long a client has to finish the TLS handshake (Netty's `SslHandler` default,
/// which ZooKeeper keeps).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the store files are looked at with `client.certReload`.
const RELOAD_POLL: Duration = Duration::from_secs(2);

/// The first byte of every TLS connection: a handshake record (content type 22).
pub const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// The client port's TLS: its current rustls settings and how certificates map to ids.
pub struct TlsPort {
    ssl: SslConfig,
    /// Replaced whole on reload; a handshake takes the one current when it starts.
    current: RwLock<Arc<ServerConfig>>,
    /// The `x509` scheme is registered (`authProvider.N=...X509AuthenticationProvider`).
    x509_registered: bool,
    super_user: Option<String>,
}

impl TlsPort {
    /// Build from `zoo.cfg`; an error names the key or file at fault.
    pub fn new(security: &SecurityConfig) -> Result<Arc<TlsPort>, String> {
        let ssl = security.ssl.clone();
        let config = server_config(&ssl)?;
        // Always true once the config is checked (a TLS port registers `x509`); kept
        // as ZooKeeper's `CertificateVerifier` keeps its "provider not found" path.
        let x509_registered = security.x509_enabled() && ssl.auth_provider == "x509";
        Ok(Arc::new(TlsPort {
            ssl,
            current: RwLock::new(config),
            x509_registered,
            super_user: security.x509_super_user.clone(),
        }))
    }

    /// Run the server side of the handshake. `None` (after a log line) when the client
    /// does not complete it or its certificate gives no identity; the caller closes.
    pub async fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(TlsStream<TcpStream>, Vec<AuthId>)> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.current.read().clone());
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                crate::admin::metrics::UNSUCCESSFUL_HANDSHAKE.inc();
                tracing::warn!(%peer, "TLS handshake failed: {e}{}; closing", handshake_hint(&e));
                return None;
            }
            Err(_) => {
                crate::admin::metrics::UNSUCCESSFUL_HANDSHAKE.inc();
                tracing::warn!(%peer, "TLS handshake not finished in {HANDSHAKE_TIMEOUT:?}; closing");
                return None;
            }
        };
        let leaf = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.as_ref().to_vec());
        let ids = match (self.ssl.client_auth, leaf) {
            // Not asked for, or asked for and optional: no identity (ZooKeeper's
            // `CertificateVerifier` adds none either).
            (ClientAuth::None, _) | (_, None) => Vec::new(),
            (_, Some(leaf)) => self.identities(&leaf, peer)?,
        };
        Some((stream, ids))
    }

    /// `X509AuthenticationProvider.handleAuthentication` for a verified chain's leaf.
    fn identities(&self, leaf: &[u8], peer: SocketAddr) -> Option<Vec<AuthId>> {
        if !self.x509_registered {
            tracing::error!(%peer, "X509 Auth provider not found: {}; closing", self.ssl.auth_provider);
            return None;
        }
        let subject = match subject_of(leaf) {
            Ok(s) => s,
            Err(e) => {
                crate::admin::metrics::AUTH_FAILED.inc();
                tracing::error!(%peer, "authentication failed: {e}; closing");
                return None;
            }
        };
        let mut ids = Vec::with_capacity(2);
        if self.super_user.as_deref() == Some(subject.as_str()) {
            tracing::info!(%peer, "Authenticated Id '{subject}' as super user");
            ids.push(AuthId {
                scheme: "super".into(),
                id: subject.clone(),
            });
        }
        tracing::info!(%peer, "Authenticated Id '{subject}' for scheme 'x509'");
        ids.push(AuthId {
            scheme: "x509".into(),
            id: subject,
        });
        Some(ids)
    }

    /// With `client.certReload`: look at the store files every [`RELOAD_POLL`] and
    /// rebuild the settings when one changed. New handshakes use the new certificates;
    /// a broken new file is reported and the old settings stay.
    pub fn watch_files(self: Arc<Self>, shutdown: CancellationToken) {
        let files: Vec<PathBuf> = [&self.ssl.key_store, &self.ssl.trust_store]
            .into_iter()
            .flat_map(|s| [s.location.clone(), s.password_path.clone()])
            .flatten()
            .collect();
        let stamp = move || {
            files
                .iter()
                .map(|f| {
                    std::fs::metadata(f)
                        .ok()
                        .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
                })
                .collect::<Vec<_>>()
        };
        tokio::spawn(async move {
            let mut seen = stamp();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(RELOAD_POLL) => {}
                }
                let now = stamp();
                if now == seen {
                    continue;
                }
                seen = now;
                match server_config(&self.ssl) {
                    Ok(config) => {
                        *self.current.write() = config;
                        tracing::info!("TLS key or trust store changed: reloaded");
                    }
                    Err(e) => tracing::warn!(
                        "TLS key or trust store changed but cannot be loaded ({e}); \
                         keeping the previous certificates"
                    ),
                }
            }
        });
    }
}
