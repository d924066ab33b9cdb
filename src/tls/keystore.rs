//! Key and trust stores in the formats ZooKeeper operators have: PEM and PKCS#12.
//!
//! ZooKeeper picks the loader from `ssl.keyStore.type` or the file's extension (`.pem`,
//! `.p12`/`.pfx`, `.jks`, `.bcfks`). Files are often misnamed (a JDK 9+ `keytool
//! -keystore x.jks` writes PKCS#12), so zkd looks at the content instead and only
//! reports the declared type in errors. A real JKS or JCEKS store (Java's own format)
//! is refused with the `keytool` command that converts it; BCFKS likewise.

use std::path::Path;

use pkcs8::der::Decode;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::StoreConfig;

/// The server's certificate chain and private key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// What a store file holds, judged by its first bytes.
#[derive(Debug, PartialEq, Eq)]
enum Format {
    Pem,
    Pkcs12,
    Jks,
    Jceks,
    Unknown,
}

fn sniff(bytes: &[u8]) -> Format {
    let text_start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    match bytes {
        [0xfe, 0xed, 0xfe, 0xed, ..] => Format::Jks,
        [0xce, 0xce, 0xce, 0xce, ..] => Format::Jceks,
        [0x30, ..] => Format::Pkcs12,
        _ if bytes[text_start..].starts_with(b"-----BEGIN") => Format::Pem,
        _ => Format::Unknown,
    }
}

fn read(
    prefix: &str,
    kind: &str,
    store: &StoreConfig,
) -> Result<(Vec<u8>, String, String), String> {
    let path = store
        .location
        .as_deref()
        .ok_or_else(|| format!("{prefix}{kind}.location is not set"))?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let password = store.password().map_err(|e| e.0)?;
    Ok((bytes, password, path.display().to_string()))
}

fn refuse_java_format(format: &Format, path: &str, key: &str) -> Result<(), String> {
    let name = match format {
        Format::Jks => "a JKS",
        Format::Jceks => "a JCEKS",
        Format::Unknown => {
            return Err(format!(
                "{path}: neither PEM nor PKCS#12 (zkd reads those two; for a BCFKS store \
                 convert it with keytool to PKCS12)"
            ))
        }
        _ => return Ok(()),
    };
    Err(format!(
        "{path} is {name} keystore, Java's own format, which zkd does not read. Convert it \
         once to PKCS#12 (same passwords, same entries) and point {key}.location at \
         the new file: keytool -importkeystore -srckeystore {path} -destkeystore \
         {}.p12 -deststoretype PKCS12",
        Path::new(path).with_extension("").display()
    ))
}

/// `<prefix>keyStore.*`: the certificate chain and key this member presents.
pub fn load_identity(store: &StoreConfig, prefix: &str) -> Result<Identity, String> {
    let (bytes, password, path) = read(prefix, "keyStore", store)?;
    let format = sniff(&bytes);
    refuse_java_format(&format, &path, &format!("{prefix}keyStore"))?;
    if format == Format::Pem {
        let chain = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{path}: bad PEM certificate: {e}"))?;
        if chain.is_empty() {
            return Err(format!("{path}: no CERTIFICATE block"));
        }
        let key = pem_private_key(&bytes, &password, &path)?;
        return Ok(Identity { chain, key });
    }
    let store = p12_keystore::KeyStore::from_pkcs12(
        &bytes,
        &password,
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .map_err(|e| format!("{path}: cannot open the PKCS#12 store (wrong password?): {e}"))?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| format!("{path}: no private key with its certificate"))?;
    Ok(Identity {
        chain: chain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec())),
    })
}

/// The private key of a PEM key store: PKCS#8 (plain or, with the store's password,
/// encrypted, as ZooKeeper's `PemReader` takes them), or the PKCS#1 and SEC1 forms
/// OpenSSL writes.
fn pem_private_key(
    bytes: &[u8],
    password: &str,
    path: &str,
) -> Result<PrivateKeyDer<'static>, String> {
    if let Ok(key) = PrivateKeyDer::from_pem_slice(bytes) {
        return Ok(key);
    }
    let Some(der) = encrypted_pem_key(bytes) else {
        return Err(format!("{path}: no PRIVATE KEY block"));
    };
    let der = der.map_err(|e| format!("{path}: bad ENCRYPTED PRIVATE KEY block: {e}"))?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der)
        .map_err(|e| format!("{path}: bad ENCRYPTED PRIVATE KEY: {e}"))?;
    let plain = info
        .decrypt(password)
        .map_err(|e| format!("{path}: cannot decrypt the private key (wrong password?): {e}"))?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

/// The DER of the first `ENCRYPTED PRIVATE KEY` block (RFC 5958), if there is one.
fn encrypted_pem_key(bytes: &[u8]) -> Option<Result<Vec<u8>, base64::DecodeError>> {
    use base64::Engine;
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let text = std::str::from_utf8(bytes).ok()?;
    let body = &text[text.find(BEGIN)? + BEGIN.len()..];
    let body = &body[..body.find(END)?];
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    Some(base64::engine::general_purpose::STANDARD.decode(b64))
}

/// `<prefix>trustStore.*`: the certificates a peer's chain must lead to.
pub fn load_trust(
    store: &StoreConfig,
    prefix: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let (bytes, password, path) = read(prefix, "trustStore", store)?;
    let format = sniff(&bytes);
    refuse_java_format(&format, &path, &format!("{prefix}trustStore"))?;
    let certs: Vec<CertificateDer<'static>> = if format == Format::Pem {
        CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{path}: bad PEM certificate: {e}"))?
    } else {
        // Raw: keytool marks trusted entries, OpenSSL's `pkcs12 -export -nokeys` does
        // not; every certificate in a trust store is meant to be trusted.
        let store = p12_keystore::KeyStore::from_pkcs12(
            &bytes,
            &password,
            p12_keystore::Pkcs12ImportPolicy::Raw,
        )
        .map_err(|e| format!("{path}: cannot open the PKCS#12 store (wrong password?): {e}"))?;
        store
            .entries()
            .filter_map(|(_, entry)| match entry {
                p12_keystore::KeyStoreEntry::Certificate(c) => {
                    Some(CertificateDer::from(c.as_der().to_vec()))
                }
                _ => None,
            })
            .collect()
    };
    if certs.is_empty() {
        return Err(format!("{path}: no certificate to trust"));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_content_not_the_name() {
        assert_eq!(sniff(b"\n-----BEGIN CERTIFICATE-----"), Format::Pem);
        assert_eq!(sniff(&[0x30, 0x82, 0x0a]), Format::Pkcs12);
        assert_eq!(sniff(&[0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]), Format::Jks);
        assert_eq!(sniff(&[0xce, 0xce, 0xce, 0xce]), Format::Jceks);
        assert_eq!(sniff(b"hello"), Format::Unknown);
    }

    #[test]
    fn a_jks_store_is_refused_with_the_conversion_command() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.jks");
        std::fs::write(&path, [0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]).unwrap();
        let store = StoreConfig {
            location: Some(path),
            ..StoreConfig::default()
        };
        let e = load_identity(&store, "ssl.").err().unwrap();
        assert!(
            e.contains("JKS") && e.contains("keytool -importkeystore"),
            "{e}"
        );
        assert!(e.contains("server.p12"), "{e}");
    }
}
