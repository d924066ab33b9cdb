//! SASL inside a session (ZooKeeper's `processSasl`): the exchange of opcode-102
//! packets, and the ids it grants.
//!
//! A client authenticates after its session is established, by sending its SASL
//! tokens as `GetSASLRequest`s and reading the server's as `SetSASLResponse`s. Once
//! the mechanism completes, the session holds `sasl:<authorization id>` (and `super`
//! for `zookeeper.superUser`), which ACLs and `whoami` see. The mechanism is DIGEST-MD5
//! with the JAAS `Server` section's `user_<name>` passwords; Kerberos is not there yet.

use base64::Engine;

use super::digest_md5::DigestMd5Server;
use crate::config::security::SaslConfig;
use crate::txn::AuthId;

/// One connection's SASL exchange.
pub struct SaslExchange {
    mechanism: DigestMd5Server,
}

/// What a SASL packet leads to.
pub enum SaslStep {
    /// Send this token and wait for the client's next one.
    Continue(Vec<u8>),
    /// Send this token; the session now holds these ids.
    Authenticated(Vec<u8>, Vec<AuthId>),
    /// The exchange failed (why, for the log).
    Failed(String),
}

impl SaslExchange {
    pub fn new() -> SaslExchange {
        SaslExchange {
            mechanism: DigestMd5Server::new(fresh_nonce()),
        }
    }

    pub fn step(&mut self, token: &[u8], config: &SaslConfig) -> SaslStep {
        match self.mechanism.step(token, &config.digest_users) {
            Ok((reply, None)) => SaslStep::Continue(reply),
            Ok((reply, Some(user))) => {
                let id = authorized_id(&user, config);
                let mut ids = vec![AuthId {
                    scheme: "sasl".into(),
                    id: id.clone(),
                }];
                if config.super_users.contains(&id) {
                    ids.push(AuthId {
                        scheme: "super".into(),
                        id: String::new(),
                    });
                }
                SaslStep::Authenticated(reply, ids)
            }
            Err(why) => SaslStep::Failed(why),
        }
    }
}

impl Default for SaslExchange {
    fn default() -> Self {
        Self::new()
    }
}

/// ZooKeeper's `SaslServerCallbackHandler`: the authenticated name as a Kerberos name
/// (`service[/host][@REALM]`), without its host or realm when
/// `kerberos.removeHostFromPrincipal` / `kerberos.removeRealmFromPrincipal` say so.
pub fn authorized_id(name: &str, config: &SaslConfig) -> String {
    let (principal, realm) = match name.split_once('@') {
        Some((p, r)) => (p, Some(r)),
        None => (name, None),
    };
    let (service, host) = match principal.split_once('/') {
        Some((s, h)) => (s, Some(h)),
        None => (principal, None),
    };
    let mut id = service.to_string();
    if let Some(host) = host.filter(|_| !config.remove_host_from_principal) {
        id.push('/');
        id.push_str(host);
    }
    if let Some(realm) = realm.filter(|_| !config.remove_realm_from_principal) {
        id.push('@');
        id.push_str(realm);
    }
    id
}

/// 24 random bytes from the TLS provider's generator, base64 (RFC 2831 wants the
/// nonce unpredictable).
fn fresh_nonce() -> String {
    let mut bytes = [0u8; 24];
    // The provider's generator only fails if the OS has no randomness at all; a
    // time-derived nonce is then still unique per exchange.
    if rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes)
        .is_err()
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes[..16].copy_from_slice(&now.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorized_ids_follow_the_kerberos_flags() {
        let mut c = SaslConfig::default();
        assert_eq!(authorized_id("bob", &c), "bob");
        assert_eq!(
            authorized_id("zk/host1@EXAMPLE.COM", &c),
            "zk/host1@EXAMPLE.COM"
        );
        c.remove_host_from_principal = true;
        assert_eq!(authorized_id("zk/host1@EXAMPLE.COM", &c), "zk@EXAMPLE.COM");
        c.remove_realm_from_principal = true;
        assert_eq!(authorized_id("zk/host1@EXAMPLE.COM", &c), "zk");
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(fresh_nonce(), fresh_nonce());
    }
}
