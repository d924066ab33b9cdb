//! The client ports: accepting connections and limiting them.
//!
//! Like mini-redis's `Listener`, this owns the accept loop and nothing else: each
//! accepted socket is handed to [`connection::serve`] on its own task, after a TLS
//! handshake on a secure port ([`tls`]). ZooKeeper's `maxClientCnxns` (per client IP)
//! is enforced here, and a refused connection is closed with a log line, as ZooKeeper
//! does.

pub mod codec;
pub mod connection;
pub mod tls;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::server::Server;
use tls::TlsPort;

/// How long a client on a port that takes both plaintext and TLS may wait before its
/// first byte tells which it speaks (ZooKeeper's `ssl.handshakeDetectionTimeoutMillis`).
const DETECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Every client listener the config asks for, bound: the plaintext `clientPort`
/// (unless the file gives only a `secureClientPort`, which ZooKeeper then serves
/// alone) and the TLS-only `secureClientPort`.
pub struct ClientPorts {
    listeners: Vec<Listener>,
}

impl ClientPorts {
    /// Load the TLS settings (a bad key store stops the start here), bind every port,
    /// and start watching the store files with `client.certReload`.
    pub async fn bind(
        server: &Arc<Server>,
        shutdown: &CancellationToken,
    ) -> std::io::Result<ClientPorts> {
        let config = &server.config;
        let tls = match config.security.tls_wanted() {
            true => Some(
                TlsPort::new(&config.security)
                    .map_err(|e| std::io::Error::other(format!("TLS client port: {e}")))?,
            ),
            false => None,
        };
        let mut listeners = Vec::new();
        if config.serves_plaintext() {
            let plain = Listener::bind(server.clone(), tls.clone()).await?;
            tracing::info!(
                "zkd serving clients on {} (data in {}){}",
                plain.local_addr()?,
                config.data_dir.display(),
                match plain.port {
                    Port::Unified(_) => "; TLS clients too (client.portUnification)",
                    _ => "",
                }
            );
            listeners.push(plain);
        }
        if let Some(tls) = &tls {
            if let Some(secure) = Listener::bind_secure(server.clone(), tls.clone()).await? {
                tracing::info!("zkd serving TLS clients on {}", secure.local_addr()?);
                listeners.push(secure);
            }
            if config.security.cert_reload {
                tls.clone().watch_files(shutdown.clone());
            }
        }
        Ok(ClientPorts { listeners })
    }

    /// Accept on every port until `shutdown` is cancelled.
    pub fn run(self, shutdown: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        self.listeners
            .into_iter()
            .map(|l| tokio::spawn(l.run(shutdown.clone())))
            .collect()
    }
}

/// What a client port speaks.
#[derive(Clone)]
enum Port {
    Plain,
    /// `secureClientPort`: TLS only.
    Secure(Arc<TlsPort>),
    /// `client.portUnification`: TLS when the first byte is a handshake record.
    Unified(Arc<TlsPort>),
}

pub struct Listener {
    server: Arc<Server>,
    listener: TcpListener,
    port: Port,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Decrements the per-IP count when a connection ends, however it ends.
struct IpSlot {
    ip: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

impl Listener {
    /// The `clientPort` listener; it also takes TLS clients with
    /// `client.portUnification` (then `tls` is the port's TLS).
    pub async fn bind(server: Arc<Server>, tls: Option<Arc<TlsPort>>) -> std::io::Result<Listener> {
        let addr = server.config.client_addr();
        let port = match tls {
            Some(tls) if server.config.security.port_unification => Port::Unified(tls),
            _ => Port::Plain,
        };
        Self::bind_port(server, addr, port).await
    }

    /// The `secureClientPort` listener (TLS only), if one is configured.
    pub async fn bind_secure(
        server: Arc<Server>,
        tls: Arc<TlsPort>,
    ) -> std::io::Result<Option<Listener>> {
        match server.config.secure_client_addr() {
            Some(addr) => Ok(Some(
                Self::bind_port(server, addr, Port::Secure(tls)).await?,
            )),
            None => Ok(None),
        }
    }

    async fn bind_port(
        server: Arc<Server>,
        addr: SocketAddr,
        port: Port,
    ) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Listener {
            server,
            listener,
            port,
            per_ip: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let limit = self.server.config.max_client_cnxns;
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                a = self.listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            crate::admin::metrics::CONNECTION_REQUEST_COUNT.inc();
            let slot = {
                let mut counts = self.per_ip.lock();
                let n = counts.entry(peer.ip()).or_insert(0);
                if limit > 0 && *n >= limit {
                    crate::admin::metrics::CONNECTION_REJECTED.inc();
                    tracing::warn!(
                        %peer,
                        "too many connections from {} - max is {limit}",
                        peer.ip()
                    );
                    continue;
                }
                *n += 1;
                IpSlot {
                    ip: peer.ip(),
                    counts: self.per_ip.clone(),
                }
            };
            tracing::debug!(%peer, "connection accepted");
            let server = self.server.clone();
            let port = self.port.clone();
            tokio::spawn(async move {
                serve_socket(server, port, stream, peer).await;
                drop(slot);
            });
        }
    }
}

/// Hand an accepted socket to the connection code, through a TLS handshake where the
/// port asks for one.
async fn serve_socket(server: Arc<Server>, port: Port, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let tls = match port {
        Port::Plain => None,
        Port::Secure(tls) => Some(tls),
        Port::Unified(tls) => {
            let mut first = [0u8; 1];
            match tokio::time::timeout(DETECTION_TIMEOUT, stream.peek(&mut first)).await {
                Ok(Ok(1)) => (first[0] == tls::TLS_HANDSHAKE_BYTE).then_some(tls),
                Ok(_) => return, // closed before sending anything
                Err(_) => {
                    tracing::info!(%peer, "no data in {DETECTION_TIMEOUT:?}; closing");
                    return;
                }
            }
        }
    };
    match tls {
        None => {
            let (rd, wr) = stream.into_split();
            connection::serve(server, rd, wr, peer, Vec::new()).await;
        }
        Some(tls) => {
            let Some((stream, ids)) = tls.accept(stream, peer).await else {
                return;
            };
            let (rd, wr) = tokio::io::split(stream);
            connection::serve(server, rd, wr, peer, ids).await;
        }
    }
}
