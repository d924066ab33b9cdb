//! How members reach each other's peer port: plain TCP, or mutual TLS (`sslQuorum`).
//!
//! With `sslQuorum=true` both ends of every peer connection present a certificate from
//! their `ssl.quorum.keyStore` and accept only a peer whose chain leads to
//! `ssl.quorum.trustStore`: a machine without the cluster's certificates can neither
//! join, nor read the log, nor propose. The connecting side also checks the other's
//! certificate against the host of its `server.N` line (`ssl.quorum.hostnameVerification`,
//! default true), and the accepting side checks the connecting member's certificate
//! against the address it comes from (`ssl.quorum.clientHostnameVerification`, default
//! true, as ZooKeeper's quorum trust manager does): a certificate of the same CA issued
//! to something else — a client's — does not make a member. `portUnification=true` makes the peer port take TLS and plaintext
//! members alike, told apart by the first byte, which is how ZooKeeper operators switch
//! a running ensemble to TLS one member at a time. Without `sslQuorum` the peer port is
//! unauthenticated, and the start says so.

use std::io;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::SecurityConfig;

/// How long a TLS handshake between members may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an accepted connection may take to send its first byte on a unified port.
const DETECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// The first byte of a TLS connection (a handshake record).
const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// A peer connection, plain or TLS.
pub trait PeerIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> PeerIo for T {}
pub type PeerStream = Box<dyn PeerIo>;

/// This member's way of connecting to and accepting members.
#[derive(Clone)]
pub struct PeerTransport {
    tls: Option<(TlsConnector, TlsAcceptor)>,
    /// Connect with TLS (`sslQuorum`).
    connect_tls: bool,
    /// Take plaintext connections (no `sslQuorum`, or `portUnification`).
    accept_plain: bool,
    /// Check a connecting member's certificate against its address; the `server.N`
    /// hosts a certificate's DNS names may stand for.
    verify_peer_address: bool,
    member_hosts: Vec<String>,
}

impl PeerTransport {
    /// Plain TCP both ways: standalone tests and members without `sslQuorum`.
    pub fn plain() -> PeerTransport {
        PeerTransport {
            tls: None,
            connect_tls: false,
            accept_plain: true,
            verify_peer_address: false,
            member_hosts: Vec::new(),
        }
    }

    /// From `sslQuorum`, `portUnification` and `ssl.quorum.*`, for an ensemble of
    /// `member_hosts` (the hosts of the `server.N` lines); an error names the key or file
    /// at fault.
    pub fn from_config(
        security: &SecurityConfig,
        member_hosts: Vec<String>,
    ) -> Result<PeerTransport, String> {
        let wants_tls = security.ssl_quorum || security.quorum_port_unification;
        if !wants_tls {
            return Ok(PeerTransport::plain());
        }
        let mut ssl = security.quorum_ssl.clone();
        // Members always authenticate each other (QuorumX509Util's clientAuth is need).
        ssl.client_auth = crate::config::ClientAuth::Need;
        let server = crate::tls::server_config(&ssl)?;
        let client = crate::tls::client_config(&ssl)?;
        Ok(PeerTransport {
            tls: Some((TlsConnector::from(client), TlsAcceptor::from(server))),
            connect_tls: security.ssl_quorum,
            accept_plain: !security.ssl_quorum || security.quorum_port_unification,
            verify_peer_address: ssl.hostname_verification && ssl.client_hostname_verification,
            member_hosts,
        })
    }

    /// Whether a stranger can talk on the peer port.
    pub fn is_authenticated(&self) -> bool {
        !self.accept_plain
    }

    /// Open a connection to the member at `addr` (`host:port`).
    pub async fn connect(&self, addr: &str, timeout: Duration) -> io::Result<PeerStream> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect to {addr} timed out"),
                )
            })??;
        let _ = stream.set_nodelay(true);
        let Some((connector, _)) = self.tls.as_ref().filter(|_| self.connect_tls) else {
            return Ok(Box::new(stream));
        };
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host} is not a host name for TLS: {e}"),
            )
        })?;
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, stream))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS handshake with {addr} timed out"),
                )
            })?
            .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake with {addr}: {e}")))?;
        Ok(Box::new(tls))
    }

    /// Take an accepted connection through the TLS handshake where one is due.
    pub async fn accept(&self, stream: TcpStream) -> io::Result<PeerStream> {
        let _ = stream.set_nodelay(true);
        let peer_ip = stream.peer_addr()?.ip();
        let Some((_, acceptor)) = &self.tls else {
            return Ok(Box::new(stream));
        };
        let tls = if self.accept_plain {
            let mut first = [0u8; 1];
            match tokio::time::timeout(DETECTION_TIMEOUT, stream.peek(&mut first)).await {
                Ok(Ok(1)) => first[0] == TLS_HANDSHAKE_BYTE,
                Ok(Ok(_)) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no data on the peer port",
                    ))
                }
            }
        } else {
            true
        };
        if !tls {
            return Ok(Box::new(stream));
        }
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "TLS handshake refused ({e}{}): not a member holding the cluster's certificate",
                        crate::tls::handshake_hint(&e)
                    ),
                )
            })?;
        if self.verify_peer_address {
            let leaf = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|c| c.as_ref().to_vec())
                .unwrap_or_default();
            if !self.names_address(&leaf, peer_ip).await {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "TLS peer refused: its certificate is not issued to {peer_ip} nor to a \
                         server.N host at that address (ssl.quorum.clientHostnameVerification)"
                    ),
                ));
            }
        }
        Ok(Box::new(tls))
    }

    /// Whether a certificate is issued to `ip`: as an IP name, or as a DNS name that is a
    /// `server.N` host resolving to `ip`.
    async fn names_address(&self, der: &[u8], ip: std::net::IpAddr) -> bool {
        let (ips, hosts) = crate::tls::certificate_names(der);
        if ips.contains(&ip) {
            return true;
        }
        for host in hosts {
            let Some(member) = self
                .member_hosts
                .iter()
                .find(|m| m.eq_ignore_ascii_case(&host))
            else {
                continue;
            };
            if let Ok(addrs) = tokio::net::lookup_host((member.as_str(), 0)).await {
                if addrs.into_iter().any(|a| a.ip() == ip) {
                    return true;
                }
            }
        }
        false
    }
}

impl Default for PeerTransport {
    fn default() -> Self {
        PeerTransport::plain()
    }
}
