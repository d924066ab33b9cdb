//! The ZooKeeper wire protocol as far as the generator needs it: length-prefixed
//! frames, the session handshake, request encoding with the `jute` crate, and a
//! small pipelined request helper used by setup and cleanup. Sessions run over plain
//! TCP, or over TLS after [`use_tls`] (a server's `secureClientPort`).
//!
//! Everything that comes from the network is checked and turned into an
//! [`Error`]; nothing here panics on a bad frame.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use jute::{op, ConnectRequest, ConnectResponse, Record, ReplyHeader, RequestHeader};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The read half of a session's stream (TCP or TLS).
pub type ReadHalf = BufReader<Box<dyn AsyncRead + Send + Unpin>>;
/// The write half of a session's stream.
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Set once from the command line: every session connects with TLS.
static TLS: OnceLock<TlsConnector> = OnceLock::new();

/// Connect every session with TLS, trusting the CA certificates in the PEM file `ca`
/// (the server must not ask for a client certificate).
pub fn use_tls(ca: &std::path::Path) -> Result<()> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca)
        .map_err(|e| Error(format!("{}: {e}", ca.display())))?
    {
        let cert = cert.map_err(|e| Error(format!("{}: {e}", ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| Error(format!("{}: {e}", ca.display())))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let _ = TLS.set(TlsConnector::from(Arc::new(config)));
    Ok(())
}

/// Largest frame accepted from a server (ZooKeeper's own limit is about 1 MiB;
/// a getChildren of a wide node may exceed it, so allow more).
pub const MAX_FRAME: usize = 64 << 20;

/// How long a reply may take before the session is declared stuck.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Session timeout asked for in the handshake.
pub const SESSION_TIMEOUT_MS: i32 = 30_000;

/// A generator error (I/O, protocol or server-side).
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(format!("i/o: {e}"))
    }
}

impl From<jute::DecodeError> for Error {
    fn from(e: jute::DecodeError) -> Self {
        Error(format!("decode: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Appends one request frame (length, RequestHeader, body) to `out`.
pub fn encode_request(out: &mut BytesMut, xid: i32, op_type: i32, body: &impl Record) {
    let start = out.len();
    out.put_i32(0);
    RequestHeader { xid, op_type }.write(out);
    body.write(out);
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends a request frame with an empty body (closeSession).
pub fn encode_empty(out: &mut BytesMut, xid: i32, op_type: i32) {
    out.put_i32(8);
    RequestHeader { xid, op_type }.write(out);
}

/// Reads one frame into `buf` (cleared first). `Ok(false)` on a clean EOF
/// before the length prefix.
pub async fn read_frame(rd: &mut ReadHalf, buf: &mut Vec<u8>) -> Result<bool> {
    let mut len = [0u8; 4];
    match tokio::time::timeout(REPLY_TIMEOUT, rd.read_exact(&mut len)).await {
        Err(_) => return Err(Error(format!("no reply for {REPLY_TIMEOUT:?}"))),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Ok(Err(e)) => return Err(e.into()),
        Ok(Ok(_)) => {}
    }
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .ok_or_else(|| Error(format!("bad frame length {len}")))?;
    buf.clear();
    buf.resize(len, 0);
    match tokio::time::timeout(REPLY_TIMEOUT, rd.read_exact(buf)).await {
        Err(_) => Err(Error(format!("no reply for {REPLY_TIMEOUT:?}"))),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(_)) => Ok(true),
    }
}

/// Splits a reply frame into its header and body.
pub fn split_reply(frame: &[u8]) -> Result<(ReplyHeader, &[u8])> {
    let (body, hdr) =
        ReplyHeader::read(frame).map_err(|e| Error::from(jute::DecodeError::from_nom(frame, e)))?;
    Ok((hdr, body))
}

/// An established session, split for a writer task and a reader task.
pub struct Session {
    pub rd: ReadHalf,
    pub wr: WriteHalf,
}

/// Opens a TCP connection and performs the ZooKeeper handshake.
pub async fn connect(server: &str) -> Result<Session> {
    connect_with_buffer(server, 64 * 1024).await
}

/// [`connect`] with a read buffer of `capacity` bytes (thousands of idle sessions
/// need small ones).
pub async fn connect_with_buffer(server: &str, capacity: usize) -> Result<Session> {
    let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(server))
        .await
        .map_err(|_| Error(format!("connect to {server}: timed out")))?
        .map_err(|e| Error(format!("connect to {server}: {e}")))?;
    stream.set_nodelay(true)?;
    let (rd, mut wr): (Box<dyn AsyncRead + Send + Unpin>, WriteHalf) = match TLS.get() {
        None => {
            let (rd, wr) = stream.into_split();
            (Box::new(rd), Box::new(wr))
        }
        Some(connector) => {
            let host = server
                .rsplit_once(':')
                .map_or(server, |(h, _)| h)
                .to_string();
            let name = rustls_pki_types::ServerName::try_from(host)
                .map_err(|e| Error(format!("{server}: {e}")))?;
            let tls = connector
                .connect(name, stream)
                .await
                .map_err(|e| Error(format!("TLS handshake with {server}: {e}")))?;
            let (rd, wr) = tokio::io::split(tls);
            (Box::new(rd), Box::new(wr))
        }
    };
    let mut rd = BufReader::with_capacity(capacity, rd);
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: SESSION_TIMEOUT_MS,
        session_id: 0,
        passwd: Bytes::from_static(&[0u8; 16]),
        read_only: Some(false),
    };
    let mut out = BytesMut::new();
    out.put_i32(0);
    req.write(&mut out);
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    wr.write_all(&out).await?;
    wr.flush().await?;
    let mut buf = Vec::new();
    if !read_frame(&mut rd, &mut buf).await? {
        return Err(Error(format!(
            "{server} closed the connection during the handshake"
        )));
    }
    let resp = ConnectResponse::decode(&buf)?;
    if resp.time_out <= 0 || resp.session_id == 0 {
        return Err(Error(format!(
            "{server} refused the session (timeout {})",
            resp.time_out
        )));
    }
    Ok(Session { rd, wr })
}

impl Session {
    /// Sends closeSession and waits for its reply (or EOF).
    pub async fn close(mut self, xid: i32) -> Result<()> {
        let mut out = BytesMut::new();
        encode_empty(&mut out, xid, op::CLOSE_SESSION);
        self.wr.write_all(&out).await?;
        self.wr.flush().await?;
        let mut buf = Vec::new();
        loop {
            if !read_frame(&mut self.rd, &mut buf).await? {
                return Ok(());
            }
            let (hdr, _) = split_reply(&buf)?;
            if hdr.xid == xid {
                return Ok(());
            }
        }
    }

    /// Runs `reqs` (op code + encoded body) with at most `depth` in flight and
    /// returns, in order, each reply's error code and body.
    pub async fn pipeline(
        &mut self,
        reqs: Vec<(i32, Bytes)>,
        depth: usize,
    ) -> Result<Vec<(i32, Bytes)>> {
        let depth = depth.max(1);
        let mut results = Vec::with_capacity(reqs.len());
        let mut next = 0usize;
        let mut out = BytesMut::new();
        let mut buf = Vec::new();
        while results.len() < reqs.len() {
            // Top the window up.
            while next < reqs.len() && next - results.len() < depth {
                let (op_type, body) = &reqs[next];
                let start = out.len();
                out.put_i32(0);
                RequestHeader {
                    xid: next as i32 + 1,
                    op_type: *op_type,
                }
                .write(&mut out);
                out.extend_from_slice(body);
                let len = (out.len() - start - 4) as i32;
                out[start..start + 4].copy_from_slice(&len.to_be_bytes());
                next += 1;
            }
            if !out.is_empty() {
                self.wr.write_all(&out).await?;
                // TLS holds written records until flushed (a no-op on TCP)
                self.wr.flush().await?;
                out.clear();
            }
            if !read_frame(&mut self.rd, &mut buf).await? {
                return Err(Error("server closed the connection".into()));
            }
            let (hdr, body) = split_reply(&buf)?;
            if hdr.xid < 0 {
                continue; // notification or ping
            }
            let want = results.len() as i32 + 1;
            if hdr.xid != want {
                return Err(Error(format!(
                    "reply xid {} out of order (want {want})",
                    hdr.xid
                )));
            }
            results.push((hdr.err, Bytes::copy_from_slice(body)));
        }
        Ok(results)
    }

    /// One request, waiting for its reply.
    pub async fn call(&mut self, op_type: i32, body: &impl Record) -> Result<(i32, Bytes)> {
        let mut r = self
            .pipeline(vec![(op_type, body.encode().freeze())], 1)
            .await?;
        r.pop().ok_or_else(|| Error("no reply".into()))
    }
}
