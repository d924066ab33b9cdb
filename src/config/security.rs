//! The security keys of `zoo.cfg`: the TLS client port and its key material, and the
//! authentication providers.
//!
//! Names and defaults are ZooKeeper 3.9's (`X509Util`, `NettyServerCnxnFactory`,
//! `ProviderRegistry`), so an operator's existing file configures zkd the same way.
//! ZooKeeper reads these as `zookeeper.`-prefixed system properties; [`super::Config`]
//! strips that prefix before they arrive here. What the keys *do* lives in `net::tls`
//! and `server::auth`; this module only reads them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use super::ConfigError;

/// ZooKeeper's `X509AuthenticationProvider` class: `authProvider.N=<this>` registers
/// the `x509` scheme.
pub const X509_PROVIDER: &str = "org.apache.zookeeper.server.auth.X509AuthenticationProvider";
/// ZooKeeper's `SASLAuthenticationProvider`: registers the `sasl` scheme (ACLs on SASL
/// identities; the SASL exchange itself runs whenever a JAAS `Server` section exists).
pub const SASL_PROVIDER: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";
/// The JAAS login module whose `user_<name>="<password>"` options are DIGEST-MD5's users.
pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

/// `ssl.clientAuth`: whether the TLS port asks for a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate asked for.
    None,
    /// Asked for; a client without one is still served (no `x509` identity).
    Want,
    /// Required: the handshake fails without a trusted certificate (ZooKeeper's default).
    Need,
}

/// A keystore or truststore: `ssl.keyStore.*` / `ssl.trustStore.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreConfig {
    pub location: Option<PathBuf>,
    /// `...password`, or the first line of the file `...passwordPath` names (which wins,
    /// as in ZooKeeper); read when the store is loaded.
    pub password: Option<String>,
    pub password_path: Option<PathBuf>,
    /// `...type`: PEM, PKCS12, JKS, BCFKS; empty = from the file name (and zkd also
    /// looks at the content).
    pub store_type: Option<String>,
}

impl StoreConfig {
    /// The password the store was given, from `passwordPath` if set.
    pub fn password(&self) -> Result<String, ConfigError> {
        match &self.password_path {
            Some(path) => std::fs::read_to_string(path)
                .map(|text| text.lines().next().unwrap_or("").to_string())
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display()))),
            None => Ok(self.password.clone().unwrap_or_default()),
        }
    }
}

/// A value with its spaces trimmed; none when empty.
fn text_value(value: &str) -> Option<String> {
    Some(value.trim().to_string()).filter(|v| !v.is_empty())
}

/// A comma-separated list, items trimmed, empty ones dropped.
fn list_value(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The keys of one TLS port: `ssl.*` for the client port, `ssl.quorum.*` for the peer
/// port (ZooKeeper's `ClientX509Util` and `QuorumX509Util` read the same names under
/// the two prefixes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslConfig {
    /// `ssl.` or `ssl.quorum.`: how the keys are named, for messages.
    pub prefix: &'static str,
    pub key_store: StoreConfig,
    pub trust_store: StoreConfig,
    pub client_auth: ClientAuth,
    /// `protocol` (default TLSv1.3, which also enables TLSv1.2, as the JDK does).
    pub protocol: String,
    /// `enabledProtocols`: the exact list, when set.
    pub enabled_protocols: Option<Vec<String>>,
    /// `ciphersuites`: Java (IANA) suite names, when set.
    pub cipher_suites: Option<Vec<String>>,
    /// `hostnameVerification` (default true): a client checks the server's certificate
    /// against the host it connects to (the peer port; client-port clients do their own).
    pub hostname_verification: bool,
    /// `clientHostnameVerification` (default true, with `hostnameVerification`): the
    /// accepting side of the peer port checks the connecting member's certificate
    /// against the address it connects from, as ZooKeeper's quorum trust manager does.
    pub client_hostname_verification: bool,
    /// `ssl.authProvider`: the scheme whose provider turns a client certificate into an
    /// identity (default `x509`).
    pub auth_provider: String,
}

impl SslConfig {
    pub fn new(prefix: &'static str) -> SslConfig {
        SslConfig {
            prefix,
            key_store: StoreConfig::default(),
            trust_store: StoreConfig::default(),
            client_auth: ClientAuth::Need,
            protocol: "TLSv1.3".to_string(),
            enabled_protocols: None,
            cipher_suites: None,
            hostname_verification: true,
            client_hostname_verification: true,
            auth_provider: "x509".to_string(),
        }
    }

    /// Take `name` (the key without the prefix) if it is one of ours.
    fn set(&mut self, name: &str, value: &str) -> Option<Result<(), ConfigError>> {
        let text = || text_value(value);
        let list = || Some(list_value(value));
        let (store, field) = match name.split_once('.') {
            Some(("keyStore", field)) => (Some(&mut self.key_store), field),
            Some(("trustStore", field)) => (Some(&mut self.trust_store), field),
            _ => (None, name),
        };
        if let Some(store) = store {
            match field {
                "location" => store.location = text().map(PathBuf::from),
                "password" => store.password = Some(value.to_string()),
                "passwordPath" => store.password_path = text().map(PathBuf::from),
                "type" => store.store_type = text(),
                _ => return None,
            }
            return Some(Ok(()));
        }
        match field {
            "clientAuth" => match value.trim().to_ascii_lowercase().as_str() {
                "" | "need" => self.client_auth = ClientAuth::Need,
                "want" => self.client_auth = ClientAuth::Want,
                "none" => self.client_auth = ClientAuth::None,
                _ => {
                    return Some(Err(ConfigError(format!(
                        "invalid value for {}clientAuth: {value:?} (expected none, want or need)",
                        self.prefix
                    ))))
                }
            },
            "protocol" => self.protocol = text().unwrap_or_else(|| "TLSv1.3".into()),
            "enabledProtocols" => self.enabled_protocols = list(),
            "ciphersuites" => self.cipher_suites = list(),
            "hostnameVerification" => {
                self.hostname_verification = !value.trim().eq_ignore_ascii_case("false")
            }
            "clientHostnameVerification" => {
                self.client_hostname_verification = !value.trim().eq_ignore_ascii_case("false")
            }
            "authProvider" if self.prefix == "ssl." => {
                self.auth_provider = text().unwrap_or_else(|| "x509".into())
            }
            _ => return None,
        }
        Some(Ok(()))
    }
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig::new("ssl.")
    }
}

/// DIGEST-MD5 users and their passwords, from the JAAS `Server` section.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials(BTreeMap<String, String>);

impl Credentials {
    pub fn password(&self, user: &str) -> Option<&str> {
        self.0.get(user).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Passwords are never printed.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// SASL: where the credentials come from and how identities are named and required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// `java.security.auth.login.config`: the JAAS file (a zoo.cfg key for zkd, or a
    /// `-D` flag in `SERVER_JVMFLAGS`/`JVMFLAGS` as zkServer.sh users set it).
    pub jaas_file: Option<PathBuf>,
    /// `zookeeper.sasl.serverconfig`: the section of the JAAS file (default `Server`).
    pub server_section: String,
    /// The DIGEST-MD5 users of that section, read by [`SecurityConfig::load_files`].
    pub digest_users: Credentials,
    /// Whether the section exists: without it ZooKeeper serves no SASL exchange.
    pub server_configured: bool,
    /// `zookeeper.superUser` (and `zookeeper.superUser.<anything>`): SASL identities that
    /// are also `super`.
    pub super_users: Vec<String>,
    /// `sessionRequireClientSASLAuth`: the same as `enforce.auth.enabled=true` with
    /// `enforce.auth.schemes=sasl`.
    pub require_client_auth: bool,
    /// `enforce.auth.enabled` / `enforce.auth.schemes`: a session must hold an id of one
    /// of these schemes before any request but auth and SASL.
    pub enforce_auth: bool,
    pub enforce_auth_schemes: Vec<String>,
    /// `allowSaslFailedClients`: a failed SASL exchange keeps the connection.
    pub allow_failed_clients: bool,
    /// `kerberos.removeHostFromPrincipal`, `kerberos.removeRealmFromPrincipal`.
    pub remove_host_from_principal: bool,
    pub remove_realm_from_principal: bool,
}

impl Default for SaslConfig {
    fn default() -> Self {
        SaslConfig {
            jaas_file: None,
            server_section: "Server".to_string(),
            digest_users: Credentials::default(),
            server_configured: false,
            super_users: Vec::new(),
            require_client_auth: false,
            enforce_auth: false,
            enforce_auth_schemes: Vec::new(),
            allow_failed_clients: false,
            remove_host_from_principal: false,
            remove_realm_from_principal: false,
        }
    }
}

impl SaslConfig {
    /// The schemes a session must authenticate with before it is served, if any
    /// (ZooKeeper's `AuthenticationHelper`).
    pub fn enforced_schemes(&self) -> Option<Vec<String>> {
        if self.require_client_auth {
            Some(vec!["sasl".to_string()])
        } else if self.enforce_auth {
            Some(self.enforce_auth_schemes.clone())
        } else {
            None
        }
    }

    /// Whether SASL in particular is required (a failed exchange then answers
    /// SessionClosedRequireSaslAuth instead of AuthFailed).
    pub fn sasl_required(&self) -> bool {
        self.enforced_schemes()
            .is_some_and(|schemes| schemes.iter().any(|s| s == "sasl"))
    }
}

/// Everything security-related from `zoo.cfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// `secureClientPort`: a TLS-only client port.
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress` (default: every address).
    pub secure_client_port_address: Option<IpAddr>,
    /// `client.portUnification`: the plaintext client port also takes TLS clients,
    /// told apart by the first byte they send.
    pub port_unification: bool,
    /// `client.certReload`: reload the key and trust stores when their files change.
    pub cert_reload: bool,
    pub ssl: SslConfig,
    /// The `authProvider.N` class names, in the order given.
    pub auth_providers: Vec<String>,
    /// `X509AuthenticationProvider.superUser`: this certificate subject is also `super`.
    pub x509_super_user: Option<String>,
    pub sasl: SaslConfig,
    /// `sslQuorum`: members talk TLS with each other, each presenting its
    /// `ssl.quorum.keyStore` certificate and trusting only `ssl.quorum.trustStore`.
    pub ssl_quorum: bool,
    /// `portUnification`: the peer port takes TLS and plaintext members alike (for a
    /// rolling switch of an ensemble to `sslQuorum`).
    pub quorum_port_unification: bool,
    /// `ssl.quorum.*`.
    pub quorum_ssl: SslConfig,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            secure_client_port: None,
            secure_client_port_address: None,
            port_unification: false,
            cert_reload: false,
            ssl: SslConfig::new("ssl."),
            auth_providers: Vec::new(),
            x509_super_user: None,
            sasl: SaslConfig::default(),
            ssl_quorum: false,
            quorum_port_unification: false,
            quorum_ssl: SslConfig::new("ssl.quorum."),
        }
    }
}

impl SecurityConfig {
    /// Take `key` if it is a security key: `None` when it is not one of ours.
    pub fn set(&mut self, key: &str, value: &str) -> Option<Result<(), ConfigError>> {
        let bad = |what: &str| ConfigError(format!("invalid value for {key}: {value:?} ({what})"));
        let text = || text_value(value);
        let list = || Some(list_value(value));
        // Java's Boolean.getBoolean: "true" in any case is true, anything else false.
        let flag = || value.trim().eq_ignore_ascii_case("true");
        if let Some(name) = key.strip_prefix("ssl.quorum.") {
            return self.quorum_ssl.set(name, value);
        }
        if let Some(result) = key
            .strip_prefix("ssl.")
            .and_then(|n| self.ssl.set(n, value))
        {
            return Some(result);
        }
        let result = match key {
            "sslQuorum" => {
                self.ssl_quorum = flag();
                Ok(())
            }
            "portUnification" => {
                self.quorum_port_unification = flag();
                Ok(())
            }
            "secureClientPort" => match value.trim().parse::<u16>() {
                Ok(port) => {
                    self.secure_client_port = Some(port);
                    Ok(())
                }
                Err(_) => Err(bad("expected a port number")),
            },
            "secureClientPortAddress" => match value.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    self.secure_client_port_address = Some(ip);
                    Ok(())
                }
                Err(_) => Err(bad("expected an IP address")),
            },
            "client.portUnification" => {
                self.port_unification = flag();
                Ok(())
            }
            "client.certReload" => {
                self.cert_reload = flag();
                Ok(())
            }
            "java.security.auth.login.config" => {
                self.sasl.jaas_file = text().map(PathBuf::from);
                Ok(())
            }
            "sasl.serverconfig" => {
                self.sasl.server_section = text().unwrap_or_else(|| "Server".into());
                Ok(())
            }
            "sessionRequireClientSASLAuth" => {
                self.sasl.require_client_auth = flag();
                Ok(())
            }
            "enforce.auth.enabled" => {
                self.sasl.enforce_auth = flag();
                Ok(())
            }
            "enforce.auth.schemes" => {
                self.sasl.enforce_auth_schemes = list().unwrap_or_default();
                Ok(())
            }
            "allowSaslFailedClients" => {
                self.sasl.allow_failed_clients = flag();
                Ok(())
            }
            "kerberos.removeHostFromPrincipal" => {
                self.sasl.remove_host_from_principal = flag();
                Ok(())
            }
            "kerberos.removeRealmFromPrincipal" => {
                self.sasl.remove_realm_from_principal = flag();
                Ok(())
            }
            _ if key == "superUser" || key.starts_with("superUser.") => {
                if let Some(user) = text() {
                    self.sasl.super_users.push(user);
                }
                Ok(())
            }
            "X509AuthenticationProvider.superUser" => {
                self.x509_super_user = text();
                Ok(())
            }
            _ if key.starts_with("authProvider.") => {
                if let Some(class) = text() {
                    self.auth_providers.push(class);
                }
                Ok(())
            }
            _ => return None,
        };
        Some(result)
    }

    /// The schemes the configured `authProvider.N` classes add to ZooKeeper's built-in
    /// `ip` and `digest` (which are always there). A class zkd does not know is reported
    /// by the caller and skipped, as ZooKeeper skips a class it cannot load.
    pub fn provider_schemes(&self) -> (Vec<&'static str>, Vec<&str>) {
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for class in &self.auth_providers {
            let scheme = match class.as_str() {
                X509_PROVIDER => "x509",
                SASL_PROVIDER => "sasl",
                "org.apache.zookeeper.server.auth.DigestAuthenticationProvider" => "digest",
                "org.apache.zookeeper.server.auth.IPAuthenticationProvider" => "ip",
                other => {
                    unknown.push(other);
                    continue;
                }
            };
            if !known.contains(&scheme) {
                known.push(scheme);
            }
        }
        (known, unknown)
    }

    /// Whether the `x509` scheme is registered (certificate identities and `x509:` ACLs):
    /// by an `authProvider.N` key, or, as ZooKeeper's `configureSSLAuth` does, by a TLS
    /// client port whose `ssl.authProvider` is the default `x509`.
    pub fn x509_enabled(&self) -> bool {
        self.provider_schemes().0.contains(&"x509")
            || (self.tls_wanted() && self.ssl.auth_provider == "x509")
    }

    /// Whether `sasl:` ids are valid in ACLs (`authProvider.N=...SASLAuthenticationProvider`).
    pub fn sasl_enabled(&self) -> bool {
        self.provider_schemes().0.contains(&"sasl")
    }

    /// Whether a scheme has a provider: `ip` and `digest` always, `x509` and `sasl` as
    /// configured.
    pub fn scheme_available(&self, scheme: &str) -> bool {
        match scheme {
            "ip" | "digest" => true,
            "x509" => self.x509_enabled(),
            "sasl" => self.sasl_enabled(),
            _ => false,
        }
    }

    /// Read the files the keys name (the JAAS file): called once at start, after every
    /// key is known. A JAAS file without the server's section stops the start, as in
    /// ZooKeeper; without a JAAS file there is no SASL.
    pub fn load_files(&mut self) -> Result<(), ConfigError> {
        let Some(path) = self.sasl.jaas_file.clone() else {
            return Ok(());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError(format!("cannot read the JAAS file {}: {e}", path.display()))
        })?;
        let sections = super::jaas::parse(&text)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        let section = &self.sasl.server_section;
        let Some(modules) = sections.get(section) else {
            return Err(ConfigError(format!(
                "{}: no JAAS configuration section named '{section}' (zookeeper.sasl.serverconfig)",
                path.display()
            )));
        };
        // ZooKeeper's SaslServerCallbackHandler takes the `user_<name>` options of every
        // login module of the section, whatever its class.
        let mut users = BTreeMap::new();
        for module in modules {
            for (key, value) in &module.options {
                if let Some(user) = key.strip_prefix("user_") {
                    users.insert(user.to_string(), value.clone());
                }
            }
            if module.class != DIGEST_LOGIN_MODULE {
                tracing::warn!(
                    "{}: login module {} in section {section}: zkd serves DIGEST-MD5 with its \
                     user_<name> options only (Kerberos is not supported yet)",
                    path.display(),
                    module.class
                );
            }
        }
        self.sasl.digest_users = Credentials(users);
        self.sasl.server_configured = true;
        Ok(())
    }

    /// ZooKeeper refuses to start when `ssl.authProvider` names a scheme no provider
    /// serves (`configureSSLAuth`); zkd knows only `x509` for certificates. Likewise
    /// when authentication is enforced with no scheme or an unavailable one.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(schemes) = self.sasl.enforced_schemes() {
            if schemes.is_empty() {
                return Err(ConfigError(
                    "enforce.auth.enabled is true: enforce.auth.schemes must be configured".into(),
                ));
            }
            if let Some(missing) = schemes.iter().find(|s| !self.scheme_available(s)) {
                return Err(ConfigError(format!(
                    "Authentication scheme {missing} is not available (enforce.auth.schemes; \
                     for sasl set authProvider.1={SASL_PROVIDER})"
                )));
            }
        }
        if self.tls_wanted() && self.ssl.auth_provider != "x509" {
            return Err(ConfigError(format!(
                "No auth provider configured for the SSL authentication scheme '{}' \
                 (ssl.authProvider): zkd turns client certificates into x509 ids only",
                self.ssl.auth_provider
            )));
        }
        Ok(())
    }

    /// Whether any client port takes TLS.
    pub fn tls_wanted(&self) -> bool {
        self.secure_client_port.is_some() || self.port_unification
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(lines: &[(&str, &str)]) -> SecurityConfig {
        let mut s = SecurityConfig::default();
        for (k, v) in lines {
            s.set(k, v).expect("a security key").expect("valid");
        }
        s
    }

    #[test]
    fn zookeeper_defaults() {
        let s = SecurityConfig::default();
        assert_eq!(s.ssl.client_auth, ClientAuth::Need);
        assert_eq!(s.ssl.protocol, "TLSv1.3");
        assert_eq!(s.ssl.auth_provider, "x509");
        assert!(!s.tls_wanted() && !s.x509_enabled());
        // A TLS port registers the x509 scheme by itself, as in ZooKeeper.
        let tls = parsed(&[("secureClientPort", "2281")]);
        assert!(tls.x509_enabled() && tls.check().is_ok());
        let other = parsed(&[("secureClientPort", "2281"), ("ssl.authProvider", "custom")]);
        assert!(!other.x509_enabled() && other.check().is_err());
    }

    #[test]
    fn reads_the_keys_of_a_zookeeper_tls_config() {
        let s = parsed(&[
            ("secureClientPort", "2281"),
            ("ssl.keyStore.location", "/etc/zk/server.p12"),
            ("ssl.keyStore.password", "secret"),
            ("ssl.trustStore.location", "/etc/zk/ca.pem"),
            ("ssl.trustStore.type", "PEM"),
            ("ssl.clientAuth", "want"),
            ("ssl.enabledProtocols", "TLSv1.2, TLSv1.3"),
            ("authProvider.x509", X509_PROVIDER),
            ("authProvider.1", "com.example.Custom"),
            ("X509AuthenticationProvider.superUser", "CN=admin"),
        ]);
        assert_eq!(s.secure_client_port, Some(2281));
        assert_eq!(s.ssl.key_store.password().unwrap(), "secret");
        assert_eq!(s.ssl.trust_store.store_type.as_deref(), Some("PEM"));
        assert_eq!(s.ssl.client_auth, ClientAuth::Want);
        assert_eq!(
            s.ssl.enabled_protocols,
            Some(vec!["TLSv1.2".to_string(), "TLSv1.3".to_string()])
        );
        assert_eq!(
            s.provider_schemes(),
            (vec!["x509"], vec!["com.example.Custom"])
        );
        assert!(s.x509_enabled() && s.tls_wanted());
        assert_eq!(s.x509_super_user.as_deref(), Some("CN=admin"));
        assert!(SecurityConfig::default().set("tickTime", "2000").is_none());
        assert!(SecurityConfig::default()
            .set("ssl.clientAuth", "sometimes")
            .unwrap()
            .is_err());
    }

    #[test]
    fn password_path_wins_over_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "from-file\nignored\n").unwrap();
        let s = parsed(&[
            ("ssl.keyStore.password", "inline"),
            ("ssl.keyStore.passwordPath", path.to_str().unwrap()),
        ]);
        assert_eq!(s.ssl.key_store.password().unwrap(), "from-file");
    }
}
