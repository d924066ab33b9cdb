//! Authentication: the schemes a client can add with an auth packet, and SASL.
//!
//! Ids are what ACLs are checked against: every connection holds `ip:<address>` from
//! the start; `digest` adds `digest:<user>:<base64 sha1(user:password)>`, and when that
//! digest equals the configured super digest, also `super:` which passes every ACL.
//! A TLS client certificate adds `x509:<subject>` (`net::tls`); a SASL exchange
//! (`sasl`, DIGEST-MD5 in `digest_md5`) adds `sasl:<user>`.

pub mod digest_md5;
pub mod sasl;

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::txn::AuthId;

/// ZooKeeper's digest id for `user:password`: `user:base64(sha1("user:password"))`.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The ids an auth packet grants, or None when the scheme is unknown or the credentials
/// are unusable (the server then answers AuthFailed and closes the connection).
pub fn authenticate(
    scheme: &str,
    auth: &[u8],
    peer_ip: &str,
    super_digest: Option<&str>,
) -> Option<Vec<AuthId>> {
    match scheme {
        "digest" => {
            let text = std::str::from_utf8(auth).ok()?;
            let id = digest_id(text);
            let mut ids = Vec::new();
            if super_digest == Some(id.as_str()) {
                ids.push(AuthId {
                    scheme: "super".into(),
                    id: String::new(),
                });
            }
            ids.push(AuthId {
                scheme: "digest".into(),
                id,
            });
            Some(ids)
        }
        "ip" => Some(vec![AuthId {
            scheme: "ip".into(),
            id: peer_ip.to_string(),
        }]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_zookeeper() {
        // kazoo's suite uses super:test with this digest.
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn super_digest_grants_super() {
        let ids = authenticate(
            "digest",
            b"super:test",
            "127.0.0.1",
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU="),
        )
        .unwrap();
        assert_eq!(ids[0].scheme, "super");
        assert_eq!(ids[1].id, "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        let ids = authenticate("digest", b"bob:pw", "127.0.0.1", None).unwrap();
        assert_eq!(ids.len(), 1);
        assert!(authenticate("kerberos", b"x", "127.0.0.1", None).is_none());
    }
}
