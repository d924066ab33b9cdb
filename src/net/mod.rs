//! The client port: accepting connections and limiting them.
//!
//! Like mini-redis's `Listener`, this owns the accept loop and nothing else: each
//! accepted socket is handed to [`connection::serve`] on its own task. ZooKeeper's
//! `maxClientCnxns` (per client IP) is enforced here, and a refused connection is closed
//! with a log line, as ZooKeeper does.

pub mod codec;
pub mod connection;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::server::Server;

pub struct Listener {
    server: Arc<Server>,
    listener: TcpListener,
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
    pub async fn bind(server: Arc<Server>) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(server.config.client_addr()).await?;
        Ok(Listener {
            server,
            listener,
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
            tokio::spawn(async move {
                connection::serve(server, stream, peer).await;
                drop(slot);
            });
        }
    }
}
