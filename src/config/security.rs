//! The security keys of `zoo.cfg`: the TLS client port and its key material, and the
//! authentication providers.
//!
//! Names and defaults are ZooKeeper 3.9's (`X509Util`, `NettyServerCnxnFactory`,
//! `ProviderRegistry`), so an operator's existing file configures zkd the same way.
//! ZooKeeper reads these as `zookeeper.`-prefixed system properties; [`super::Config`]
//! strips that prefix before they arrive here. What the keys *do* lives in `net::tls`
//! and `server::auth`; this module only reads them.

use std::net::IpAddr;
use std::path::PathBuf;

use super::ConfigError;

/// ZooKeeper's `X509AuthenticationProvider` class: `authProvider.N=<this>` registers
/// the `x509` scheme.
pub const X509_PROVIDER: &str = "org.apache.zookeeper.server.auth.X509AuthenticationProvider";

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

/// `ssl.*` keys for the client port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslConfig {
    pub key_store: StoreConfig,
    pub trust_store: StoreConfig,
    pub client_auth: ClientAuth,
    /// `ssl.protocol` (default TLSv1.3, which also enables TLSv1.2, as the JDK does).
    pub protocol: String,
    /// `ssl.enabledProtocols`: the exact list, when set.
    pub enabled_protocols: Option<Vec<String>>,
    /// `ssl.ciphersuites`: Java (IANA) suite names, when set.
    pub cipher_suites: Option<Vec<String>>,
    /// `ssl.authProvider`: the scheme whose provider turns a client certificate into an
    /// identity (default `x509`).
    pub auth_provider: String,
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig {
            key_store: StoreConfig::default(),
            trust_store: StoreConfig::default(),
            client_auth: ClientAuth::Need,
            protocol: "TLSv1.3".to_string(),
            enabled_protocols: None,
            cipher_suites: None,
            auth_provider: "x509".to_string(),
        }
    }
}

/// Everything security-related from `zoo.cfg`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
}

impl SecurityConfig {
    /// Take `key` if it is a security key: `None` when it is not one of ours.
    pub fn set(&mut self, key: &str, value: &str) -> Option<Result<(), ConfigError>> {
        let bad = |what: &str| ConfigError(format!("invalid value for {key}: {value:?} ({what})"));
        let text = || Some(value.trim().to_string()).filter(|v| !v.is_empty());
        let list = || {
            Some(
                value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>(),
            )
        };
        // Java's Boolean.getBoolean: "true" in any case is true, anything else false.
        let flag = || value.trim().eq_ignore_ascii_case("true");
        let result = match key {
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
            "ssl.keyStore.location" => {
                self.ssl.key_store.location = text().map(PathBuf::from);
                Ok(())
            }
            "ssl.keyStore.password" => {
                self.ssl.key_store.password = Some(value.to_string());
                Ok(())
            }
            "ssl.keyStore.passwordPath" => {
                self.ssl.key_store.password_path = text().map(PathBuf::from);
                Ok(())
            }
            "ssl.keyStore.type" => {
                self.ssl.key_store.store_type = text();
                Ok(())
            }
            "ssl.trustStore.location" => {
                self.ssl.trust_store.location = text().map(PathBuf::from);
                Ok(())
            }
            "ssl.trustStore.password" => {
                self.ssl.trust_store.password = Some(value.to_string());
                Ok(())
            }
            "ssl.trustStore.passwordPath" => {
                self.ssl.trust_store.password_path = text().map(PathBuf::from);
                Ok(())
            }
            "ssl.trustStore.type" => {
                self.ssl.trust_store.store_type = text();
                Ok(())
            }
            "ssl.clientAuth" => match value.trim().to_ascii_lowercase().as_str() {
                "" | "need" => {
                    self.ssl.client_auth = ClientAuth::Need;
                    Ok(())
                }
                "want" => {
                    self.ssl.client_auth = ClientAuth::Want;
                    Ok(())
                }
                "none" => {
                    self.ssl.client_auth = ClientAuth::None;
                    Ok(())
                }
                _ => Err(bad("expected none, want or need")),
            },
            "ssl.protocol" => {
                self.ssl.protocol = text().unwrap_or_else(|| "TLSv1.3".into());
                Ok(())
            }
            "ssl.enabledProtocols" => {
                self.ssl.enabled_protocols = list();
                Ok(())
            }
            "ssl.ciphersuites" => {
                self.ssl.cipher_suites = list();
                Ok(())
            }
            "ssl.authProvider" => {
                self.ssl.auth_provider = text().unwrap_or_else(|| "x509".into());
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

    /// ZooKeeper refuses to start when `ssl.authProvider` names a scheme no provider
    /// serves (`configureSSLAuth`); zkd knows only `x509` for certificates.
    pub fn check(&self) -> Result<(), ConfigError> {
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
