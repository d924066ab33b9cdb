//! ACLs: permission checks, the fix-up applied to ACLs a client sets, the digest masking
//! of getACL, and the interning of identical ACL lists.
//!
//! Why write ACLs are checked at apply: the permission a write needs depends on the
//! tree (the parent's ACL for create/delete, the node's for setData/setACL), and the
//! tree a write sees is the one its log position gives it. Checking at submit time on
//! some replica would race with earlier, still uncommitted setACLs; checking at apply
//! against the caller ids carried in the [`Txn`](crate::txn::Txn) gives every replica the
//! same answer.
//!
//! Providers reproduced (ZooKeeper's defaults): `world` (only `world:anyone`), `ip`
//! (address or CIDR, IPv4 and IPv6), `digest` (`user:base64(sha1)`, exact match), and
//! the `super` id which bypasses every check. `auth` in an ACL being set expands to the
//! caller's authenticated ids.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use jute::{err, Acl, Field, Id};

use crate::txn::AuthId;

/// ZooKeeper's `checkACL`: `true` if the ACL is empty, the caller holds a `super` id, or
/// some entry grants one of the bits of `perm` to `world:anyone` or to an id the caller
/// holds (digest and other schemes: exact match; ip: address or CIDR match).
pub fn check_perm(acl: &[Acl], ids: &[AuthId], perm: i32) -> bool {
    if acl.is_empty() || ids.iter().any(|i| i.scheme == "super") {
        return true;
    }
    acl.iter().any(|a| {
        if a.perms & perm == 0 {
            return false;
        }
        if jute::ids::is_anyone(&a.id) {
            return true;
        }
        ids.iter()
            .filter(|caller| caller.scheme == a.id.scheme)
            .any(|caller| match a.id.scheme.as_str() {
                "ip" => ip_matches(&caller.id, &a.id.id),
                "world" | "super" | "auth" => false,
                _ => caller.id == a.id.id,
            })
    })
}

/// Whether a caller id of this scheme counts as "authenticated" for the `auth` ACL
/// scheme. ZooKeeper asks the scheme's provider: `ip` is not, `digest` (and sasl/x509)
/// are; `super` and `world` have no provider and are skipped.
fn is_authenticated_scheme(scheme: &str) -> bool {
    !matches!(scheme, "ip" | "world" | "super" | "auth")
}

/// ZooKeeper's `PrepRequestProcessor.fixupACL`: drop duplicates (first occurrence
/// wins), reject an empty list, keep `world:anyone`, expand `auth` to the caller's
/// authenticated ids (none -> error), and require every other id to be valid for a
/// known provider (`digest`: `user:hash`; `ip`: address or CIDR; `x509`: a parseable
/// X.500 name; `sasl`: a Kerberos-style name). Any failure is INVALID_ACL.
///
/// One deliberate difference: ZooKeeper refuses `x509:`/`sasl:` ids when that provider is
/// not configured on its leader. Here the check runs in the replicated state machine, on
/// every member and again at every replay, so it must not depend on a member's own
/// configuration (members may differ in `secureClientPort` during a rolling change):
/// well-formed `x509:` and `sasl:` ids are always accepted.
pub fn fixup_acl(acl: &[Acl], ids: &[AuthId]) -> Result<Vec<Acl>, i32> {
    let mut uniq: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return Err(err::INVALID_ACL);
    }
    let mut out = Vec::with_capacity(uniq.len());
    for a in uniq {
        let id = &a.id;
        if jute::ids::is_anyone(id) {
            out.push(a.clone());
        } else if id.scheme == "auth" {
            let mut any = false;
            for caller in ids.iter().filter(|c| is_authenticated_scheme(&c.scheme)) {
                any = true;
                out.push(Acl {
                    perms: a.perms,
                    id: Id {
                        scheme: caller.scheme.clone(),
                        id: caller.id.clone(),
                    },
                });
            }
            if !any {
                return Err(err::INVALID_ACL);
            }
        } else {
            let valid = match id.scheme.as_str() {
                "digest" => digest_valid(&id.id),
                "ip" => ip_valid(&id.id),
                "x509" => x500_name_valid(&id.id),
                "sasl" => kerberos_name_valid(&id.id),
                _ => false,
            };
            if !valid {
                return Err(err::INVALID_ACL);
            }
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// `DigestAuthenticationProvider.isValid`: Java's `id.split(":").length == 2`, where
/// `split` drops trailing empty strings (so `"u:h:"` is valid and `"u:"` is not).
pub fn digest_valid(id: &str) -> bool {
    let mut parts: Vec<&str> = id.split(':').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.len() == 2
}

/// `SASLAuthenticationProvider.isValid`: ZooKeeper's `KerberosName` parse, which takes
/// any name without `@`, and with one only `service[/host]@REALM` (no second `/` or `@`).
pub fn kerberos_name_valid(id: &str) -> bool {
    let Some((principal, realm)) = id.split_once('@') else {
        return true;
    };
    let mut parts = principal.split('/');
    parts.next();
    parts.next();
    parts.next().is_none() && !realm.contains(['@', '/'])
}

/// `X509AuthenticationProvider.isValid`: whether Java's `new X500Principal(id)` accepts
/// the id. That parser takes RFC 2253 and RFC 1779 names: relative names separated by
/// `,` or `;`, attributes within one by `+`, each `keyword=value` where the keyword is
/// one Java knows or a dotted OID, and the value is quoted, backslash-escaped or a
/// `#`-prefixed hex encoding. The empty name is valid.
pub fn x500_name_valid(id: &str) -> bool {
    const KEYWORDS: [&str; 21] = [
        "CN",
        "C",
        "L",
        "S",
        "ST",
        "O",
        "OU",
        "T",
        "IP",
        "STREET",
        "DC",
        "DNQUALIFIER",
        "DNQ",
        "SURNAME",
        "GIVENNAME",
        "INITIALS",
        "GENERATION",
        "EMAIL",
        "EMAILADDRESS",
        "UID",
        "SERIALNUMBER",
    ];
    let keyword_ok = |k: &str| {
        let k = k.trim();
        let oid = k
            .strip_prefix("OID.")
            .or_else(|| k.strip_prefix("oid."))
            .unwrap_or(k);
        KEYWORDS.iter().any(|w| w.eq_ignore_ascii_case(k))
            || (oid.contains('.')
                && oid
                    .split('.')
                    .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit())))
    };
    let value_ok = |v: &str| {
        let v = v.trim();
        match v.strip_prefix('#') {
            Some(hex) => {
                !hex.is_empty() && hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit())
            }
            None => true,
        }
    };
    if id.trim().is_empty() {
        return true;
    }
    // Split into attributes at unquoted, unescaped separators.
    let mut attributes = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in id.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && matches!(c, ',' | ';' | '+') {
            attributes.push(&id[start..i]);
            start = i + 1;
        }
    }
    if escaped || quoted {
        return false;
    }
    attributes.push(&id[start..]);
    attributes.iter().all(|a| match a.split_once('=') {
        Some((keyword, value)) => keyword_ok(keyword) && value_ok(value),
        None => false,
    })
}

/// getACL without ADMIN: every `digest` id has everything from its first `:` to the end
/// of the line replaced by `:x` (Java's `replaceAll(":.*", ":x")`; `.` stops at line
/// terminators, and the replacement repeats after each one).
pub fn mask_digest_ids(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                Acl {
                    perms: a.perms,
                    id: Id {
                        scheme: a.id.scheme.clone(),
                        id: java_mask(&a.id.id),
                    },
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

fn java_mask(s: &str) -> String {
    let is_line_end = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let mut out = String::with_capacity(s.len());
    let mut skipping = false;
    for c in s.chars() {
        if skipping {
            if is_line_end(c) {
                skipping = false;
                out.push(c);
            }
        } else if c == ':' {
            out.push_str(":x");
            skipping = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Java's `Integer.parseInt(s, radix)`: optional `+`/`-` sign, at least one digit, no
/// overflow. (Java also accepts non-ASCII Unicode digits; zkd does not.)
fn java_parse_int(s: &str, radix: u32) -> Option<i32> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for c in digits.chars() {
        v = v * i64::from(radix) + i64::from(c.to_digit(radix)?);
        if v > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    i32::try_from(v).ok()
}

fn v4_bytes(addr: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            let v = java_parse_int(p, 10)?;
            u8::try_from(v).ok()
        })
        .collect()
}

fn v6_bytes(addr: &str) -> Option<Vec<u8>> {
    let halves: Vec<&str> = addr.split("::").collect();
    let seg = |s: &str| -> Vec<String> {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split(':').map(str::to_string).collect()
        }
    };
    let (head, tail) = match halves.as_slice() {
        [one] => {
            let h: Vec<String> = one.split(':').map(str::to_string).collect();
            if h.len() != 8 {
                return None;
            }
            (h, Vec::new())
        }
        [a, b] => {
            let (h, t) = (seg(a), seg(b));
            if h.len() + t.len() >= 8 {
                return None;
            }
            (h, t)
        }
        _ => return None,
    };
    let mut out = vec![0u8; 16];
    let mut fill = |start: usize, segs: &[String]| -> Option<()> {
        for (i, s) in segs.iter().enumerate() {
            if s.is_empty() || s.chars().count() > 4 {
                return None;
            }
            let v = java_parse_int(s, 16)?;
            out[start + 2 * i] = (v >> 8) as u8;
            out[start + 2 * i + 1] = v as u8;
        }
        Some(())
    };
    fill(0, &head)?;
    fill(16 - 2 * tail.len(), &tail)?;
    Some(out)
}

/// `IPAuthenticationProvider.addr2Bytes`: a string with `:` is IPv6, else one with `.`
/// is IPv4, else nothing.
fn addr_bytes(addr: &str) -> Option<Vec<u8>> {
    if addr.contains(':') {
        v6_bytes(addr)
    } else if addr.contains('.') {
        v4_bytes(addr)
    } else {
        None
    }
}

fn mask_bits(b: &mut [u8], bits: usize) {
    let start = bits / 8;
    if start < b.len() {
        let keep = !((1u16 << (8 - bits % 8)) - 1) as u8;
        b[start] &= keep;
        for x in &mut b[start + 1..] {
            *x = 0;
        }
    }
}

fn parse_expr(expr: &str) -> Option<(Vec<u8>, usize)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let bytes = addr_bytes(addr)?;
    let max = bytes.len() * 8;
    let bits = match bits {
        None => max,
        Some(b) => {
            let v = usize::try_from(java_parse_int(b, 10)?).ok()?;
            if v > max {
                return None;
            }
            v
        }
    };
    Some((bytes, bits))
}

/// `IPAuthenticationProvider.isValid`: an IPv4/IPv6 address, optionally `/bits`.
pub fn ip_valid(expr: &str) -> bool {
    parse_expr(expr).is_some()
}

/// `IPAuthenticationProvider.matches`: the caller's address `id` is inside the ACL's
/// address or CIDR `expr` (same address family only).
pub fn ip_matches(id: &str, expr: &str) -> bool {
    let Some((mut acl_addr, bits)) = parse_expr(expr) else {
        return false;
    };
    let Some(mut remote) = addr_bytes(id) else {
        return false;
    };
    if remote.len() != acl_addr.len() {
        return false;
    }
    mask_bits(&mut acl_addr, bits);
    mask_bits(&mut remote, bits);
    acl_addr == remote
}

/// Shares identical ACL lists between znodes (ZooKeeper's ReferenceCountedACLCache):
/// a million nodes with the same ACL hold one allocation. Lookup is by the jute
/// encoding of the list. The cache is not observable: dropping it changes nothing but
/// memory, so sweeping it (which iterates a HashMap) cannot affect determinism.
#[derive(Debug, Clone, Default)]
pub(crate) struct AclCache {
    map: HashMap<Vec<u8>, Arc<Vec<Acl>>>,
    released: usize,
    /// The last list handed out: most nodes share one ACL, so most lookups end here
    /// without encoding a key.
    last: Option<Arc<Vec<Acl>>>,
}

impl AclCache {
    pub(crate) fn intern(&mut self, acl: Vec<Acl>) -> Arc<Vec<Acl>> {
        if let Some(last) = &self.last {
            if **last == acl {
                return Arc::clone(last);
            }
        }
        let a = self.intern_slow(acl);
        self.last = Some(Arc::clone(&a));
        a
    }

    /// Like [`AclCache::intern`] for a list that is already shared (loading a tree).
    pub(crate) fn intern_arc(&mut self, acl: Arc<Vec<Acl>>) -> Arc<Vec<Acl>> {
        match &self.last {
            Some(last) if **last == *acl => Arc::clone(last),
            _ => self.intern(acl.as_ref().clone()),
        }
    }

    fn intern_slow(&mut self, acl: Vec<Acl>) -> Arc<Vec<Acl>> {
        let mut key = BytesMut::new();
        acl.write_field(&mut key);
        let key = key.to_vec();
        if let Some(a) = self.map.get(&key) {
            return Arc::clone(a);
        }
        let a = Arc::new(acl);
        self.map.insert(key, Arc::clone(&a));
        a
    }

    /// Note that a list lost a user; sweep unused lists once enough have been released.
    pub(crate) fn released(&mut self) {
        self.released += 1;
        if self.released > 64 + self.map.len() {
            self.released = 0;
            // `last` holds one reference of its own.
            let last = self.last.as_ref().map(Arc::as_ptr);
            self.map.retain(|_, a| {
                Arc::strong_count(a) > 1 + usize::from(Some(Arc::as_ptr(a)) == last)
            });
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jute::perms;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id {
                scheme: scheme.into(),
                id: id.into(),
            },
        }
    }
    fn ids(list: &[(&str, &str)]) -> Vec<AuthId> {
        list.iter().map(|(s, i)| AuthId::new(*s, *i)).collect()
    }

    #[test]
    fn world_empty_and_super() {
        let me = ids(&[("ip", "10.0.0.1")]);
        assert!(check_perm(&[], &me, perms::ADMIN));
        let open = [acl(perms::ALL, "world", "anyone")];
        assert!(check_perm(&open, &me, perms::WRITE));
        let ro = [acl(perms::READ, "world", "anyone")];
        assert!(check_perm(&ro, &me, perms::READ));
        assert!(!check_perm(&ro, &me, perms::WRITE));
        // READ|ADMIN means "either bit".
        assert!(check_perm(&ro, &me, perms::READ | perms::ADMIN));
        let bob = [acl(perms::ALL, "digest", "bob:h")];
        assert!(!check_perm(&bob, &me, perms::READ));
        assert!(check_perm(&bob, &ids(&[("super", "")]), perms::READ));
        // world with another id is not "anyone"
        assert!(!check_perm(
            &[acl(31, "world", "x")],
            &ids(&[("world", "x")]),
            1
        ));
    }

    #[test]
    fn digest_and_auth_match_exactly() {
        let a = [acl(perms::READ, "digest", "bob:h")];
        assert!(check_perm(&a, &ids(&[("digest", "bob:h")]), perms::READ));
        assert!(!check_perm(&a, &ids(&[("digest", "bob:h2")]), perms::READ));
        assert!(!check_perm(&a, &ids(&[("ip", "bob:h")]), perms::READ));
    }

    #[test]
    fn ip_and_cidr() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(!ip_matches("127.0.0.2", "127.0.0.1"));
        assert!(ip_matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!ip_matches("11.1.2.3", "10.0.0.0/8"));
        assert!(ip_matches("192.168.1.77", "192.168.1.64/26"));
        assert!(!ip_matches("192.168.1.128", "192.168.1.64/26"));
        assert!(ip_matches("1.2.3.4", "0.0.0.0/0"));
        assert!(!ip_matches("1.2.3.4", "1.2.3.4/33"));
        assert!(!ip_matches("1.2.3.4", "1.2.3.4/x"));
        assert!(!ip_matches("::1", "0.0.0.0/0"));
        assert!(ip_matches("::1", "0:0:0:0:0:0:0:1"));
        assert!(ip_matches("fe80::1:2", "fe80::/16"));
        assert!(!ip_matches("fe81::1", "fe80::/16"));
        assert!(ip_matches("1.2.3.4", "+1.2.3.004"));
        assert!(!ip_matches("1.2.3.4", "1.2.3"));
        assert!(!ip_matches("1.2.3.4", "localhost"));
        let a = [acl(perms::ALL, "ip", "10.0.0.0/8")];
        assert!(check_perm(&a, &ids(&[("ip", "10.9.9.9")]), perms::DELETE));
        assert!(!check_perm(&a, &ids(&[("ip", "11.0.0.1")]), perms::DELETE));
        assert!(ip_valid("10.0.0.0/8") && ip_valid("::/0") && ip_valid("1.2.3.4"));
        assert!(!ip_valid("1.2.3.4/40") && !ip_valid("1.2.3.256") && !ip_valid("host"));
        assert!(!ip_valid("1:2:3:4:5:6:7:8:9") && !ip_valid("1::2::3") && !ip_valid("12345::"));
        assert!(!ip_valid("1.2.3.4/-1"));
    }

    #[test]
    fn fixup() {
        let caller = ids(&[("ip", "1.1.1.1"), ("digest", "bob:h"), ("super", "")]);
        let open = acl(31, "world", "anyone");
        assert_eq!(
            fixup_acl(&[open.clone(), open.clone()], &caller),
            Ok(vec![open.clone()])
        );
        assert_eq!(fixup_acl(&[], &caller), Err(err::INVALID_ACL));
        // auth expands to the authenticated (non-ip, non-super) ids
        assert_eq!(
            fixup_acl(&[acl(5, "auth", "")], &caller),
            Ok(vec![acl(5, "digest", "bob:h")])
        );
        assert_eq!(
            fixup_acl(&[acl(5, "auth", "")], &ids(&[("ip", "1.1.1.1")])),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            fixup_acl(&[acl(5, "digest", "bob")], &caller),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            fixup_acl(&[acl(5, "digest", "a:b:c")], &caller),
            Err(err::INVALID_ACL)
        );
        assert!(fixup_acl(&[acl(5, "digest", "a:b:")], &caller).is_ok());
        assert_eq!(
            fixup_acl(&[acl(5, "ip", "nohost")], &caller),
            Err(err::INVALID_ACL)
        );
        assert!(fixup_acl(&[acl(5, "ip", "10.0.0.0/8")], &caller).is_ok());
        assert_eq!(
            fixup_acl(&[acl(5, "world", "someone")], &caller),
            Err(err::INVALID_ACL)
        );
        // x509 and sasl ids: any well-formed name, whatever this member's providers
        assert!(fixup_acl(&[acl(5, "x509", "CN=client,O=zkd")], &caller).is_ok());
        assert!(fixup_acl(&[acl(5, "sasl", "bob")], &caller).is_ok());
        assert_eq!(
            fixup_acl(&[acl(5, "x509", "client")], &caller),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            fixup_acl(&[acl(5, "sasl", "a@b@c")], &caller),
            Err(err::INVALID_ACL)
        );
    }

    #[test]
    fn kerberos_names_as_zookeeper_parses_them() {
        for valid in [
            "bob",
            "a/b",
            "a/b/c",
            "zk/host@EXAMPLE.COM",
            "bob@EXAMPLE.COM",
            "@R",
            "",
        ] {
            assert!(kerberos_name_valid(valid), "{valid:?}");
        }
        for invalid in ["a@b@c", "a/b/c@R", "a@R/x"] {
            assert!(!kerberos_name_valid(invalid), "{invalid:?}");
        }
    }

    #[test]
    fn x500_names_as_java_parses_them() {
        for valid in [
            "",
            "CN=client",
            "CN=client,OU=eng,O=zkd,L=Paris,ST=IDF,C=FR",
            "cn=a; o=b",
            "CN=a+UID=7,DC=example,DC=com",
            "CN=Smith\\, John,O=x",
            "CN=\"quoted, with comma\"",
            "1.2.840.113549.1.9.1=#160b6140622e6578616d706c65",
            "OID.2.5.4.3=x",
            "EMAILADDRESS=a@b,CN=x",
            "CN=",
        ] {
            assert!(x500_name_valid(valid), "{valid:?} should be valid");
        }
        for invalid in [
            "client",
            "XX=a",
            "CN=a,",
            "CN=a\\",
            "CN=\"open",
            "1.2.3.=x",
            "CN=#abc",
        ] {
            assert!(!x500_name_valid(invalid), "{invalid:?} should be invalid");
        }
    }

    #[test]
    fn digest_masking() {
        let masked = mask_digest_ids(&[
            acl(31, "digest", "bob:abc=="),
            acl(1, "ip", "1.2.3.4"),
            acl(1, "digest", "nocolon"),
            acl(1, "digest", "a:b\nc:d"),
        ]);
        assert_eq!(masked[0].id.id, "bob:x");
        assert_eq!(masked[1].id.id, "1.2.3.4");
        assert_eq!(masked[2].id.id, "nocolon");
        assert_eq!(masked[3].id.id, "a:x\nc:x");
    }

    #[test]
    fn acl_cache_shares_and_sweeps() {
        let mut c = AclCache::default();
        let a = c.intern(vec![acl(31, "world", "anyone")]);
        let b = c.intern(vec![acl(31, "world", "anyone")]);
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        for _ in 0..70 {
            c.released();
        }
        assert_eq!(c.len(), 0);
    }
}
