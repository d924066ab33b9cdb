//! The server side of SASL DIGEST-MD5 (RFC 2831), as ZooKeeper's JDK runs it.
//!
//! ZooKeeper creates its SASL server with protocol `zookeeper` and server name
//! `zk-sasl-md5` (clients hard-code the same pair, kazoo included), so the realm is
//! `zk-sasl-md5` and the digest-uri `zookeeper/zk-sasl-md5`. The exchange is:
//! 1. the client sends an empty token; the server answers a challenge (realm, nonce,
//!    qop=auth, charset=utf-8, algorithm=md5-sess);
//! 2. the client answers with its digest of the password; the server checks it against
//!    the password of the JAAS `user_<name>` entry and answers `rspauth`, proving it
//!    knows the password too. The exchange is then complete: the user is authenticated.
//!
//! Only `qop=auth` is offered: ZooKeeper's sessions never use the integrity or
//! confidentiality layers (TLS is how they are encrypted).

use md5::{Digest, Md5};

use crate::config::security::Credentials;

/// The realm and server name ZooKeeper's DIGEST-MD5 server uses.
pub const REALM: &str = "zk-sasl-md5";
const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";
/// Longer responses are refused (the JDK's limit).
const MAX_RESPONSE: usize = 4096;

enum State {
    Start,
    Challenged,
    Complete,
    /// A response was wrong: one attempt per exchange, as the JDK allows (no guessing
    /// passwords against one nonce on a connection kept by `allowSaslFailedClients`).
    Failed,
}

/// One connection's DIGEST-MD5 exchange.
pub struct DigestMd5Server {
    nonce: String,
    state: State,
}

impl DigestMd5Server {
    /// `nonce`: fresh random text for this exchange (no quotes or commas).
    pub fn new(nonce: String) -> DigestMd5Server {
        DigestMd5Server {
            nonce,
            state: State::Start,
        }
    }

    /// Take the client's token, give the server's. `Ok((token, Some(user)))` once the
    /// client is authenticated as `user`; an error ends the exchange.
    pub fn step(
        &mut self,
        token: &[u8],
        users: &Credentials,
    ) -> Result<(Vec<u8>, Option<String>), String> {
        match self.state {
            State::Start => {
                // DIGEST-MD5 has no initial response; the JDK's server ignores one if a
                // client sends it, and so does zkd.
                let _ = token;
                self.state = State::Challenged;
                let challenge = format!(
                    "realm=\"{REALM}\",nonce=\"{}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
                    self.nonce
                );
                Ok((challenge.into_bytes(), None))
            }
            State::Challenged => {
                self.state = State::Failed;
                let (rspauth, user) = self.verify(token, users)?;
                self.state = State::Complete;
                Ok((format!("rspauth={rspauth}").into_bytes(), Some(user)))
            }
            State::Complete => Err("DIGEST-MD5 authentication already complete".into()),
            State::Failed => Err("DIGEST-MD5 authentication already failed".into()),
        }
    }

    /// Check a digest-response; the rspauth value and the authenticated user.
    fn verify(&self, token: &[u8], users: &Credentials) -> Result<(String, String), String> {
        if token.len() > MAX_RESPONSE {
            return Err(format!(
                "digest-response of {} bytes is too long",
                token.len()
            ));
        }
        let text = std::str::from_utf8(token).map_err(|_| "digest-response is not UTF-8")?;
        let fields = directives(text)?;
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let need = |name: &str| get(name).ok_or(format!("digest-response has no {name}"));
        let user = need("username")?;
        let realm = get("realm").unwrap_or("");
        if !realm.is_empty() && realm != REALM {
            return Err(format!("nonexistent realm {realm:?}"));
        }
        if need("nonce")? != self.nonce {
            return Err("the nonce is not the one this server sent".into());
        }
        let nc = need("nc")?;
        if nc != "00000001" {
            return Err(format!(
                "nonce count {nc} (a fresh exchange starts at 00000001)"
            ));
        }
        let cnonce = need("cnonce")?;
        let qop = get("qop").unwrap_or("auth");
        if qop != "auth" {
            return Err(format!("qop {qop:?} is not offered (only auth)"));
        }
        let uri = need("digest-uri")?;
        if !uri.eq_ignore_ascii_case(DIGEST_URI) {
            return Err(format!("digest-uri {uri:?} is not {DIGEST_URI}"));
        }
        let utf8 = get("charset").is_some_and(|c| c.eq_ignore_ascii_case("utf-8"));
        let authzid = get("authzid");
        let Some(password) = users.password(user) else {
            return Err(format!("no user {user:?} in the JAAS Server section"));
        };
        let ha1 = hex_md5_a1(user, realm, password, &self.nonce, cnonce, authzid, utf8);
        let digest = |a2: &str| {
            let ha2 = hex(&Md5::digest(a2.as_bytes()));
            hex(&Md5::digest(
                format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", self.nonce).as_bytes(),
            ))
        };
        let expected = digest(&format!("AUTHENTICATE:{uri}"));
        if !need("response")?.eq_ignore_ascii_case(&expected) {
            return Err(format!("wrong password for {user:?}"));
        }
        Ok((digest(&format!(":{uri}")), user.to_string()))
    }
}

/// HEX(H(A1)) with A1 = H(user:realm:password) ":" nonce ":" cnonce [":" authzid].
/// Strings are hashed as the JDK does: ISO-8859-1 unless charset=utf-8 was agreed and
/// some character is outside it.
fn hex_md5_a1(
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
    authzid: Option<&str>,
    utf8: bool,
) -> String {
    let mut secret = Md5::new();
    secret.update(encode(&format!("{user}:{realm}:"), utf8));
    secret.update(encode(password, utf8));
    let mut a1 = secret.finalize().to_vec();
    a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
    if let Some(authzid) = authzid {
        a1.push(b':');
        a1.extend_from_slice(authzid.as_bytes());
    }
    hex(&Md5::digest(&a1))
}

fn encode(text: &str, utf8: bool) -> Vec<u8> {
    if utf8 && text.chars().any(|c| c as u32 > 0xff) {
        text.as_bytes().to_vec()
    } else {
        text.chars().map(|c| c as u32 as u8).collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `key=value` and `key="quoted, value"` pairs separated by commas (RFC 2831 §7.1).
fn directives(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("digest-response directive {key:?} has no value"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            value = crate::config::jaas::quoted_rest(&mut chars)?;
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Credentials {
        let mut s = crate::config::SecurityConfig::default();
        let dir = tempfile::tempdir().unwrap();
        let jaas = dir.path().join("jaas.conf");
        std::fs::write(
            &jaas,
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required \
             user_bob=\"bobsecret\"; };",
        )
        .unwrap();
        s.sasl.jaas_file = Some(jaas);
        s.load_files().unwrap();
        s.sasl.digest_users
    }

    /// A client's response computed independently of `verify` (RFC 2831 §2.1.2.1).
    fn client_response(password: &str, nonce: &str, cnonce: &str) -> String {
        let inner = Md5::digest(format!("bob:{REALM}:{password}").as_bytes());
        let mut a1 = inner.to_vec();
        a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
        let ha1 = hex(&Md5::digest(&a1));
        let ha2 = hex(&Md5::digest(
            format!("AUTHENTICATE:{DIGEST_URI}").as_bytes(),
        ));
        let response = hex(&Md5::digest(
            format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}").as_bytes(),
        ));
        format!(
            "charset=utf-8,username=\"bob\",realm=\"{REALM}\",nonce=\"{nonce}\",nc=00000001,\
             cnonce=\"{cnonce}\",digest-uri=\"{DIGEST_URI}\",maxbuf=65536,response={response},qop=auth"
        )
    }

    #[test]
    fn a_full_exchange() {
        let users = users();
        let mut server = DigestMd5Server::new("abc123".into());
        let (challenge, done) = server.step(b"", &users).unwrap();
        assert!(done.is_none());
        let challenge = String::from_utf8(challenge).unwrap();
        assert!(
            challenge.contains("realm=\"zk-sasl-md5\"") && challenge.contains("nonce=\"abc123\"")
        );
        let response = client_response("bobsecret", "abc123", "OA6MHXh6VqTrRk");
        let (rspauth, user) = server.step(response.as_bytes(), &users).unwrap();
        assert_eq!(user.as_deref(), Some("bob"));
        assert!(String::from_utf8(rspauth).unwrap().starts_with("rspauth="));
        assert!(server.step(b"", &users).is_err(), "complete means complete");
    }

    #[test]
    fn wrong_passwords_users_and_replays_fail() {
        let users = users();
        let try_with = |response: String| {
            let mut server = DigestMd5Server::new("n1".into());
            server.step(b"", &users).unwrap();
            server.step(response.as_bytes(), &users)
        };
        let e = try_with(client_response("wrong", "n1", "c")).unwrap_err();
        assert!(e.contains("wrong password"), "{e}");
        // one attempt per exchange: the right password after a wrong one is refused too
        let mut server = DigestMd5Server::new("n1".into());
        server.step(b"", &users).unwrap();
        assert!(server
            .step(client_response("wrong", "n1", "c").as_bytes(), &users)
            .is_err());
        assert!(server
            .step(client_response("bobsecret", "n1", "c").as_bytes(), &users)
            .is_err());
        let e = try_with(client_response("bobsecret", "n0", "c")).unwrap_err();
        assert!(e.contains("nonce"), "{e}");
        let e = try_with(client_response("bobsecret", "n1", "c").replace("bob\"", "eve\""))
            .unwrap_err();
        assert!(e.contains("no user"), "{e}");
        let mut server = DigestMd5Server::new("n1".into());
        let (challenge, _) = server.step(b"ignored initial response", &users).unwrap();
        assert!(challenge.starts_with(b"realm="));
    }

    #[test]
    fn directives_parse_quotes_and_escapes() {
        let d = directives("a=1, b=\"x, \\\"y\\\"\",c=\"\"").unwrap();
        assert_eq!(
            d,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x, \"y\"".into()),
                ("c".into(), "".into())
            ]
        );
        assert!(directives("a=\"open").is_err());
        assert!(directives("novalue").is_err());
    }
}
