//! TLS settings from ZooKeeper's `ssl.*` keys, for every port that speaks TLS: the
//! client port (`net::tls`, `ssl.*`) and the peer port between ensemble members
//! (`consensus::peer`, `ssl.quorum.*`).
//!
//! The key and trust stores are read by [`keystore`]; this module turns an
//! [`SslConfig`] into rustls server and client settings: protocol versions and cipher
//! suites as the JDK reads ZooKeeper's keys, client-certificate verification, and for
//! the peer port's client side the server's host name check. rustls with its aws-lc-rs
//! provider speaks TLS 1.2 and 1.3 only.

pub mod keystore;

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};

use crate::config::{ClientAuth, SslConfig};

/// What an operator can do about a refusal that is zkd's and not the JDK's: rustls
/// (webpki) takes only X.509 v3 certificates, where a JDK also takes v1 ones.
pub fn handshake_hint(e: &std::io::Error) -> &'static str {
    if e.to_string().contains("UnsupportedCertVersion") {
        " (the client's certificate is X.509 v1, which zkd does not accept: reissue it as \
         v3, e.g. `openssl x509 -req ... -extfile` with basicConstraints=CA:FALSE)"
    } else {
        ""
    }
}

/// A server's rustls settings from `ssl.*` (or `ssl.quorum.*`) keys.
pub fn server_config(ssl: &SslConfig) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(provider(ssl)?);
    let versions = protocol_versions(ssl)?;
    let identity = keystore::load_identity(&ssl.key_store, ssl.prefix)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| unusable_suites(ssl, e))?;
    let builder = if ssl.client_auth == ClientAuth::None {
        builder.with_no_client_auth()
    } else {
        if ssl.trust_store.location.is_none() {
            return Err(format!(
                "{p}trustStore.location is not set: with {p}clientAuth={} zkd needs the \
                 CA certificates that sign client certificates (set {p}clientAuth=none to \
                 take clients without certificates)",
                if ssl.client_auth == ClientAuth::Need {
                    "need (ZooKeeper's default)"
                } else {
                    "want"
                },
                p = ssl.prefix
            ));
        }
        let roots = trust_roots(ssl)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if ssl.client_auth == ClientAuth::Want {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        builder.with_client_cert_verifier(
            verifier
                .build()
                .map_err(|e| format!("{}trustStore: {e}", ssl.prefix))?,
        )
    };
    let config = builder
        .with_single_cert(identity.chain, identity.key)
        .map_err(|e| key_mismatch(ssl, e))?;
    Ok(Arc::new(config))
}

/// `protocol` / `enabledProtocols` as ZooKeeper 3.9.5 reads them: an explicit list is
/// exactly its members; without one the client port (Netty) enables `protocol` alone
/// (TLSv1.3 by default), while the peer port takes the JDK's defaults for it (TLSv1.3
/// enables 1.3 and 1.2).
fn protocol_versions(ssl: &SslConfig) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let names = match &ssl.enabled_protocols {
        Some(list) => list.clone(),
        None => match ssl.protocol.as_str() {
            "TLSv1.3" | "TLS" if ssl.prefix != "ssl." => {
                vec!["TLSv1.3".into(), "TLSv1.2".into()]
            }
            "TLS" => vec!["TLSv1.3".into()],
            other => vec![other.to_string()],
        },
    };
    let mut versions = Vec::new();
    for name in &names {
        match name.as_str() {
            "TLSv1.3" => versions.push(&rustls::version::TLS13),
            "TLSv1.2" => versions.push(&rustls::version::TLS12),
            other => tracing::warn!(
                "TLS protocol {other} is not offered (zkd speaks TLSv1.2 and TLSv1.3)"
            ),
        }
    }
    if versions.is_empty() {
        return Err(format!(
            "no usable TLS protocol in {names:?} (zkd speaks TLSv1.2 and TLSv1.3)"
        ));
    }
    Ok(versions)
}

/// aws-lc-rs's suites, narrowed to `ciphersuites` when it is set. Java and rustls use
/// the IANA names, except that rustls prefixes TLS 1.3 suites `TLS13_` where Java
/// writes `TLS_`.
fn provider(ssl: &SslConfig) -> Result<CryptoProvider, String> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(wanted) = &ssl.cipher_suites {
        let java_name = |suite: &rustls::SupportedCipherSuite| {
            let name = suite.suite().as_str().unwrap_or("").to_string();
            match name.strip_prefix("TLS13_") {
                Some(rest) => format!("TLS_{rest}"),
                None => name,
            }
        };
        let unknown: Vec<&String> = wanted
            .iter()
            .filter(|w| !provider.cipher_suites.iter().any(|s| &java_name(s) == *w))
            .collect();
        if !unknown.is_empty() {
            tracing::warn!("cipher suites not offered (zkd does not implement them): {unknown:?}");
        }
        provider
            .cipher_suites
            .retain(|s| wanted.contains(&java_name(s)));
        if provider.cipher_suites.is_empty() {
            return Err(format!(
                "no usable cipher suite in {}ciphersuites {wanted:?}",
                ssl.prefix
            ));
        }
    }
    Ok(provider)
}

/// A client's rustls settings from `ssl.quorum.*`-style keys: the trust store the
/// server's certificate must lead to, the key store's certificate presented to it, and
/// (unless `hostnameVerification=false`) the server's certificate checked against the
/// host it is reached at.
pub fn client_config(ssl: &SslConfig) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(provider(ssl)?);
    let versions = protocol_versions(ssl)?;
    let roots = Arc::new(trust_roots(ssl)?);
    let identity = keystore::load_identity(&ssl.key_store, ssl.prefix)?;
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| format!("{}trustStore: {e}", ssl.prefix))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| unusable_suites(ssl, e))?;
    let builder = if ssl.hostname_verification {
        builder.with_webpki_verifier(verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostName(verifier)))
    };
    let config = builder
        .with_client_auth_cert(identity.chain, identity.key)
        .map_err(|e| key_mismatch(ssl, e))?;
    Ok(Arc::new(config))
}

/// The addresses and host names a certificate is issued to: its IP and DNS
/// subjectAltNames, and its subject's common name. Empty for an unreadable certificate.
pub fn certificate_names(der: &[u8]) -> (Vec<std::net::IpAddr>, Vec<String>) {
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return (Vec::new(), Vec::new());
    };
    let (mut ips, mut hosts) = (Vec::new(), Vec::new());
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(host) => hosts.push(host.to_string()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => ips.extend(<[u8; 4]>::try_from(*bytes).ok().map(std::net::IpAddr::from)),
                    16 => ips.extend(
                        <[u8; 16]>::try_from(*bytes)
                            .ok()
                            .map(std::net::IpAddr::from),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(cn) = cn.as_str() {
            hosts.push(cn.to_string());
        }
    }
    (ips, hosts)
}

fn unusable_suites(ssl: &SslConfig, e: rustls::Error) -> String {
    let p = ssl.prefix;
    format!("{p}enabledProtocols / {p}ciphersuites: {e}")
}

fn key_mismatch(ssl: &SslConfig, e: rustls::Error) -> String {
    format!(
        "{}keyStore: the key does not fit the certificate: {e}",
        ssl.prefix
    )
}

fn trust_roots(ssl: &SslConfig) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in keystore::load_trust(&ssl.trust_store, ssl.prefix)? {
        roots
            .add(cert)
            .map_err(|e| format!("{}trustStore: unusable certificate: {e}", ssl.prefix))?;
    }
    Ok(roots)
}

/// `hostnameVerification=false`: the whole chain is verified, only the certificate's
/// names are not compared with the host (ZooKeeper's `ZKTrustManager` then skips the
/// same check).
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
