//! A client certificate's subject as ZooKeeper names it: the `x509` identity.
//!
//! ZooKeeper's `X509AuthenticationProvider` takes `X500Principal.getName()` of the
//! leaf certificate: Java's RFC 2253 rendering. ACLs (`x509:CN=app,O=corp`) and the
//! `superUser` key are compared with that string byte for byte, so zkd must produce
//! exactly the same text from the same certificate:
//! - relative names in reverse order of the certificate (most specific first), joined
//!   by `,`; the attributes of a multi-valued one joined by `+` in certificate order;
//! - the RFC 2253 keywords (CN, C, L, ST, O, OU, STREET, DC, UID) for their OIDs and the
//!   dotted OID for every other attribute (emailAddress too);
//! - a string value (Printable, Teletex, IA5, General, BMP, UTF8 as Java reads them)
//!   with `,=+<>#;"\` escaped by a backslash, NUL as `\00`, and leading and trailing
//!   spaces and CRs escaped; any other value, and any value of a dotted OID, as `#`
//!   followed by the lowercase hex of its DER encoding.

use x509_parser::der_parser::asn1_rs::{Any, Tag};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The `x509` identity of a DER certificate, or why it has none.
pub fn subject_of(der: &[u8]) -> Result<String, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("unreadable certificate: {e}"))?;
    let rdns: Vec<String> = cert
        .subject()
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|ava| {
                    let keyword = keyword(&ava.attr_type().to_id_string());
                    format!("{keyword}={}", value(&keyword, ava.attr_value()))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Ok(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// Java's RFC 2253 keyword for an attribute type, else its dotted OID.
fn keyword(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        other => other,
    }
    .to_string()
}

fn value(keyword: &str, any: &Any) -> String {
    let is_string = matches!(
        any.tag(),
        Tag::PrintableString
            | Tag::T61String
            | Tag::Ia5String
            | Tag::GeneralString
            | Tag::BmpString
            | Tag::Utf8String
    );
    if keyword.starts_with(|c: char| c.is_ascii_digit()) || !is_string {
        return hex_of_der(any);
    }
    // Java decodes the content bytes as UTF-8 whatever the string type.
    let text = String::from_utf8_lossy(any.data);
    let mut escaped: Vec<char> = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\0' => escaped.extend(['\\', '0', '0']),
            _ => escaped.push(c),
        }
    }
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = escaped.iter().take_while(|c| blank(c)).count();
    let trail = escaped.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(escaped.len() + 4);
    for (i, c) in escaped.iter().enumerate() {
        if i < lead || i >= escaped.len() - trail {
            out.push('\\');
        }
        out.push(*c);
    }
    out
}

/// `#` and the DER encoding (tag, definite length, content) in lowercase hex.
fn hex_of_der(any: &Any) -> String {
    let mut der = Vec::with_capacity(any.data.len() + 6);
    match any.header.raw_tag() {
        Some(raw) => der.extend_from_slice(raw),
        None => der.push(any.tag().0 as u8),
    }
    let len = any.data.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        der.push(0x80 | (bytes.len() - skip) as u8);
        der.extend_from_slice(&bytes[skip..]);
    }
    der.extend_from_slice(any.data);
    let mut out = String::with_capacity(1 + 2 * der.len());
    out.push('#');
    for b in der {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    fn cert_with(subject: &[(DnType, DnValue)]) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        for (kind, value) in subject {
            dn.push(kind.clone(), value.clone());
        }
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    /// Expected strings are what Java's `X500Principal.getName()` (and so Apache
    /// ZooKeeper 3.9.5's `whoami`) gives for the same certificates: tests/tls.rs compares
    /// the two servers on them.
    #[test]
    fn renders_subjects_as_java_does() {
        let plain = cert_with(&[
            (
                DnType::CountryName,
                DnValue::PrintableString("FR".try_into().unwrap()),
            ),
            (DnType::OrganizationName, "zkd".into()),
            (DnType::CommonName, "alice".into()),
        ]);
        assert_eq!(subject_of(&plain).unwrap(), "CN=alice,O=zkd,C=FR");
        let odd = cert_with(&[
            (
                DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                DnValue::Ia5String("odd@example.com".try_into().unwrap()),
            ),
            (DnType::OrganizationalUnitName, " #team;<a>=\"b\"\\ ".into()),
            (DnType::CommonName, "Smith, John+Jr é".into()),
        ]);
        assert_eq!(
            subject_of(&odd).unwrap(),
            "CN=Smith\\, John\\+Jr é,OU=\\ \\#team\\;\\<a\\>\\=\\\"b\\\"\\\\\\ ,\
             1.2.840.113549.1.9.1=#160f6f6464406578616d706c652e636f6d"
        );
        assert!(subject_of(b"not a certificate").is_err());
    }
}
