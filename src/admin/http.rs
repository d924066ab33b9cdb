//! The AdminServer's HTTP listener: `admin.serverAddress`:`admin.serverPort` (default
//! 0.0.0.0:8080), commands under `admin.commandURL` (default `/commands`).
//!
//! It runs on hyper 1 (HTTP/1.1, keep-alive), which zkd already builds for the
//! Prometheus exporter's listener, rather than a hand-rolled parser. Commands answer
//! GET (and HEAD), `restore` answers POST ([`super::snapshot`]); anything outside the
//! command URL is 404, like Jetty's default.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::commands;
use super::snapshot::{self, Limits};
use crate::server::Server;

pub struct AdminServer {
    listener: TcpListener,
    server: Arc<Server>,
    limits: Arc<Limits>,
}

impl AdminServer {
    pub async fn bind(server: Arc<Server>) -> std::io::Result<AdminServer> {
        let addr = SocketAddr::new(server.config.admin_address, server.config.admin_port);
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("AdminServer cannot bind {addr}: {e}"))
        })?;
        let limits = Arc::new(Limits::new(server.config.admin_rate_limiter_interval_ms));
        Ok(AdminServer {
            listener,
            server,
            limits,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                a = self.listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("AdminServer accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let server = self.server.clone();
            let limits = self.limits.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let server = server.clone();
                    let limits = limits.clone();
                    async move { Ok::<_, Infallible>(handle(server, &limits, req, peer).await) }
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = conn => {}
                    _ = stop.cancelled() => {}
                }
            });
        }
    }
}

async fn handle(
    server: Arc<Server>,
    limits: &Limits,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let base = server.config.admin_command_url.trim_end_matches('/');
    let path = req.uri().path();
    let rest = if path == base {
        Some("")
    } else {
        path.strip_prefix(base).and_then(|r| r.strip_prefix('/'))
    };
    let Some(rest) = rest else {
        return plain(StatusCode::NOT_FOUND, "text/html", "404 Not Found\n".into());
    };
    let name = percent_decode(rest);
    let params = query(req.uri().query().unwrap_or(""));
    let restore = commands::primary(&name) == Some("restore");
    let allowed = if restore { "POST" } else { "GET, HEAD" };
    let method_ok = if restore {
        req.method() == Method::POST
    } else {
        req.method() == Method::GET || req.method() == Method::HEAD
    };
    if !method_ok {
        let mut resp = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/html",
            "405 Method Not Allowed\n".into(),
        );
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allowed));
        return resp;
    }
    if rest.is_empty() {
        let links = commands::links(if base.is_empty() { "" } else { base });
        return plain(StatusCode::OK, "text/html", links);
    }
    let peer = peer.ip().to_canonical();
    match commands::primary(&name) {
        Some("restore") => snapshot::restore(server, limits, &name, req, peer).await,
        Some("snapshot") => {
            // Boolean.parseBoolean: "true" in any case is true, anything else false.
            let streaming = params
                .get("streaming")
                .is_none_or(|v| v.eq_ignore_ascii_case("true"));
            snapshot::snapshot(server, limits, &name, &req, streaming, peer).await
        }
        _ => {
            let body = commands::run(&server, &name, &params).render();
            plain(StatusCode::OK, "application/json", body)
        }
    }
}

fn plain(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    respond(status, content_type, Bytes::from(body))
}

/// A response with zkd's `Server` header.
pub(super) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(SERVER, HeaderValue::from_static("zkd"));
    resp
}

/// `a=1&b=x%20y` → map (the first value of a repeated key wins, as in ZooKeeper).
fn query(q: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k))
            .or_insert_with(|| percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries() {
        let q = query("traceMask=306&x=a%20b+c&traceMask=1&bad=%zz&trail=%4");
        assert_eq!(q["traceMask"], "306");
        assert_eq!(q["x"], "a b c");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["trail"], "%4");
        assert_eq!(percent_decode("%2Fcommands"), "/commands");
    }
}
