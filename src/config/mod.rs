//! `zoo.cfg` parsing with ZooKeeper's keys and defaults.
//!
//! Operators arrive with a `zoo.cfg` they have run for years, so zkd reads the same
//! file format (Java properties: `key=value`, `#` or `!` comments) and the same keys.
//! ZooKeeper turns every key it does not know into a `zookeeper.<key>` system property;
//! operators rely on that for settings such as the super digest, so the handful of such
//! properties zkd honours are accepted with or without the `zookeeper.` prefix. Keys zkd
//! does not use are reported once and otherwise ignored, never fatal.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod jaas;
pub mod limits;
pub mod security;

pub use limits::LimitsConfig;
pub use security::{ClientAuth, SecurityConfig, SslConfig, StoreConfig};

/// ZooKeeper's default `jute.maxbuffer`: the largest frame and znode payload.
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;

/// `metricsProvider.className` values: ZooKeeper's Prometheus provider turns `/metrics`
/// on; its default provider (in-process only, what `mntr` reads) is what zkd always has.
pub const PROMETHEUS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";
pub const DEFAULT_PROVIDER: &str = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";

#[derive(Debug, Clone)]
pub struct Config {
    pub tick_time: Duration,
    pub data_dir: PathBuf,
    /// ZooKeeper's separate txn-log directory; zkd keeps its Raft log beside the state,
    /// so this only matters for reporting (`conf`, `dirs`).
    pub data_log_dir: Option<PathBuf>,
    pub client_port: u16,
    pub client_port_address: IpAddr,
    /// Per-IP connection limit; 0 = unlimited.
    pub max_client_cnxns: usize,
    pub min_session_timeout: Option<Duration>,
    pub max_session_timeout: Option<Duration>,
    pub max_buffer: usize,
    /// `zkd.maxOutboundBytes`: replies and watch events queued for one client and not
    /// yet taken by its socket; past it the client is disconnected (it is not reading).
    pub max_outbound_bytes: usize,
    pub four_letter_whitelist: Vec<String>,
    pub extended_types_enabled: bool,
    /// `zookeeper.enforceQuota`: hard quota limits are enforced (ZooKeeper's default: off).
    pub enforce_quota: bool,
    /// `zookeeper.digest.enabled`: keep ZooKeeper's tree digest (its default: on).
    pub digest_enabled: bool,
    /// `super:<base64 sha1>`: a digest id that bypasses every ACL.
    pub super_digest: Option<String>,
    pub container_check_interval: Duration,
    /// Max container/TTL deletions per minute (ZooKeeper's `znode.container.maxPerMinute`).
    pub container_max_per_minute: usize,
    /// Raft log entries between state snapshots (ZooKeeper's `snapCount`).
    pub snap_count: u64,
    /// Log size that also triggers a snapshot (ZooKeeper's `snapSizeLimitInKb`, in bytes).
    pub snap_size_limit: u64,
    pub autopurge_snap_retain_count: u32,
    pub autopurge_purge_interval: u32,
    pub readonly_mode_enabled: bool,
    /// `localSessionsEnabled`, `localSessionsUpgradingEnabled` (ensembles only, as in
    /// ZooKeeper): new sessions live on the member they connect to, without a log entry.
    pub local_sessions_enabled: bool,
    pub local_sessions_upgrading_enabled: bool,
    /// The AdminServer (`admin.enableServer`, `admin.serverAddress`, `admin.serverPort`,
    /// `admin.commandURL`).
    pub admin_enable_server: bool,
    pub admin_address: IpAddr,
    pub admin_port: u16,
    pub admin_command_url: String,
    /// `admin.snapshot.enabled`, `admin.restore.enabled` (both on by default, as in
    /// ZooKeeper 3.9) and `admin.rateLimiterIntervalInMS` (300,000): at most one restore
    /// per interval, and one snapshot per interval read as *micro*seconds (0.3 s by
    /// default), which is what ZooKeeper 3.9's SnapshotCommand does with the same value.
    pub admin_snapshot_enabled: bool,
    pub admin_restore_enabled: bool,
    pub admin_rate_limiter_interval_ms: u64,
    /// `/metrics` is served when `metricsProvider.className` names ZooKeeper's
    /// PrometheusMetricsProvider, or with zkd's own switch `zkd.metrics.prometheus=true`.
    pub prometheus_enabled: bool,
    pub metrics_host: IpAddr,
    pub metrics_port: u16,
    /// `zkd.logLevel`: a `tracing` filter (`info`, `debug,openraft=info`, ...). `RUST_LOG`
    /// wins over it.
    pub log_level: Option<String>,
    /// This member's id: `myid` in dataDir (1 for a standalone server).
    pub server_id: u64,
    /// The ensemble from `server.N` lines (empty: standalone).
    pub members: BTreeMap<u64, Member>,
    /// `standaloneEnabled` (default true): one voting `server.N` line means standalone.
    pub standalone_enabled: bool,
    /// Set when a single `server.N` line was read as a standalone server (logged at
    /// start, as ZooKeeper logs it).
    pub single_server_line: Option<u64>,
    /// `peerType=observer`: this member is an observer (a Raft learner).
    pub peer_type_observer: bool,
    /// `initLimit` / `syncLimit`, in ticks.
    pub init_limit: u32,
    pub sync_limit: u32,
    /// `reconfigEnabled`: whether the reconfig op is allowed.
    pub reconfig_enabled: bool,
    /// `zkd serve --join` (or `zkd.join=true`): a member with an empty data dir waits to
    /// be added to a running ensemble instead of initialising one.
    pub join_existing: bool,
    /// Whether a client port was given: `clientPort`, `--client-port`, or this member's
    /// `server.N` line (which `clientPort` overrides).
    pub client_port_set: bool,
    /// The text of the file the config was read from (`/commands/initial_configuration`).
    pub initial_config: String,
    /// TLS client port, key material and authentication providers (`security.rs`).
    pub security: SecurityConfig,
    /// Overload protection: outstanding-request limits and the connection throttle
    /// (`limits.rs`).
    pub limits: LimitsConfig,
    /// Keys present in the file that zkd does not act on.
    pub ignored_keys: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tick_time: Duration::from_millis(2000),
            data_dir: PathBuf::from("zkd-data"),
            data_log_dir: None,
            client_port: 2181,
            client_port_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            max_client_cnxns: 60,
            min_session_timeout: None,
            max_session_timeout: None,
            max_buffer: DEFAULT_MAX_BUFFER,
            max_outbound_bytes: 64 << 20,
            four_letter_whitelist: vec!["srvr".to_string()],
            extended_types_enabled: false,
            enforce_quota: false,
            digest_enabled: true,
            super_digest: None,
            container_check_interval: Duration::from_secs(60),
            container_max_per_minute: 10_000,
            snap_count: 100_000,
            snap_size_limit: 4 << 30,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval: 0,
            readonly_mode_enabled: false,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            admin_enable_server: true,
            admin_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            admin_port: 8080,
            admin_command_url: "/commands".to_string(),
            admin_snapshot_enabled: true,
            admin_restore_enabled: true,
            admin_rate_limiter_interval_ms: 300_000,
            prometheus_enabled: false,
            metrics_host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            metrics_port: 7000,
            log_level: None,
            server_id: 1,
            members: BTreeMap::new(),
            standalone_enabled: true,
            single_server_line: None,
            peer_type_observer: false,
            init_limit: 10,
            sync_limit: 5,
            reconfig_enabled: false,
            join_existing: false,
            client_port_set: false,
            initial_config: String::new(),
            security: SecurityConfig::default(),
            limits: LimitsConfig::default(),
            ignored_keys: Vec::new(),
        }
    }
}

/// One `server.N=host:peerPort:electionPort[:participant|:observer][;[clientAddress:]clientPort]`
/// line. zkd speaks Raft on the peer port; the election port is accepted and unused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub host: String,
    pub peer_port: u16,
    pub election_port: u16,
    pub observer: bool,
    pub client: Option<SocketAddr>,
}

impl Member {
    /// `host:peerPort`, the address Raft traffic goes to.
    pub fn peer_addr(&self) -> String {
        format!("{}:{}", self.host, self.peer_port)
    }

    /// The line's value as ZooKeeper writes it in /zookeeper/config.
    pub fn zk_config_value(&self) -> String {
        let role = if self.observer {
            "observer"
        } else {
            "participant"
        };
        let mut out = format!(
            "{}:{}:{}:{role}",
            self.host, self.peer_port, self.election_port
        );
        if let Some(c) = self.client {
            out.push_str(&format!(";{}:{}", c.ip(), c.port()));
        }
        out
    }

    /// Parse the value of a `server.N` line.
    pub fn parse(id: u64, value: &str) -> Result<Member, String> {
        let (server, client) = match value.split_once(';') {
            Some((s, c)) => (s.trim(), Some(c.trim())),
            None => (value.trim(), None),
        };
        let parts: Vec<&str> = server.split(':').collect();
        if parts.len() < 3 || parts.len() > 4 {
            return Err("expected host:peerPort:electionPort[:participant|:observer]".into());
        }
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("bad port {p:?}"))
        };
        let observer = match parts.get(3).map(|r| r.trim().to_ascii_lowercase()) {
            None => false,
            Some(r) if r == "participant" => false,
            Some(r) if r == "observer" => true,
            Some(r) => return Err(format!("unknown role {r:?}")),
        };
        let client = match client.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => {
                let (ip, p) = match c.rsplit_once(':') {
                    Some((ip, p)) => (
                        ip.parse::<IpAddr>()
                            .map_err(|_| format!("bad address {ip:?}"))?,
                        p,
                    ),
                    None => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), c),
                };
                Some(SocketAddr::new(ip, port(p)?))
            }
        };
        Ok(Member {
            id,
            host: parts[0].trim().to_string(),
            peer_port: port(parts[1])?,
            election_port: port(parts[2])?,
            observer,
            client,
        })
    }
}

#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let mut cfg = Config::parse(&text)?;
        cfg.initial_config = text;
        if !cfg.members.is_empty() {
            cfg.read_myid()?;
        }
        Ok(cfg)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut client_port_set = false;
        for (key, value) in parse_properties(text) {
            client_port_set |= key == "clientPort";
            cfg.set(&key, &value)?;
        }
        cfg.client_port_set = client_port_set;
        cfg.security.check()?;
        cfg.standalone_if_single_server()?;
        Ok(cfg)
    }

    /// Take the `-Dkey=value` flags of a JVM command line (`SERVER_JVMFLAGS`,
    /// `JVMFLAGS`) as zoo.cfg keys: ZooKeeper reads the same settings from system
    /// properties (`-Djava.security.auth.login.config=...`, `-Dzookeeper.superUser=...`).
    /// Other JVM options are skipped.
    pub fn apply_jvm_flags(&mut self, flags: &str) -> Result<(), ConfigError> {
        for flag in flags.split_whitespace() {
            let Some(property) = flag.strip_prefix("-D") else {
                continue;
            };
            let (key, value) = property.split_once('=').unwrap_or((property, "true"));
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            self.set(key, value)?;
        }
        Ok(())
    }

    /// ZooKeeper runs a config with a single voting `server.N` line as a standalone
    /// server when `standaloneEnabled` is true (HBase and the test harnesses of client
    /// libraries write such configs), with the client address from that line unless
    /// `clientPort` is set; observers without a quorum are refused.
    fn standalone_if_single_server(&mut self) -> Result<(), ConfigError> {
        let voters = self.members.values().filter(|m| !m.observer).count();
        if !self.standalone_enabled || voters != 1 {
            return Ok(());
        }
        if self.members.values().any(|m| m.observer) {
            return Err(ConfigError(
                "observers without a quorum are an invalid configuration".into(),
            ));
        }
        let Some((id, only)) = self.members.pop_first() else {
            return Ok(());
        };
        if let (Some(client), false) = (only.client, self.client_port_set) {
            self.client_port = client.port();
            self.client_port_address = client.ip();
            self.client_port_set = true;
        }
        self.single_server_line = Some(id);
        Ok(())
    }

    /// An ensemble member reads its id from `dataDir/myid`, as ZooKeeper does, and takes
    /// its client address from its own `server.N` line when `clientPort` is not set.
    pub fn read_myid(&mut self) -> Result<(), ConfigError> {
        let path = self.data_dir.join("myid");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        self.server_id = text.trim().parse().map_err(|_| {
            ConfigError(format!(
                "{}: expected a server id, found {text:?}",
                path.display()
            ))
        })?;
        let Some(me) = self.members.get(&self.server_id) else {
            return Err(ConfigError(format!(
                "myid is {} but zoo.cfg has no server.{} line",
                self.server_id, self.server_id
            )));
        };
        if me.observer {
            self.peer_type_observer = true;
        }
        if let (Some(client), false) = (me.client, self.client_port_set) {
            self.client_port = client.port();
            self.client_port_address = client.ip();
            self.client_port_set = true;
        }
        Ok(())
    }

    pub fn tree_config(&self) -> crate::tree::TreeConfig {
        crate::tree::TreeConfig {
            extended_types_enabled: self.extended_types_enabled,
            enforce_quota: self.enforce_quota,
            digest_enabled: self.digest_enabled,
            super_digest: self.super_digest.clone(),
        }
    }

    /// Whether this server is a member of a replicated ensemble.
    pub fn is_ensemble(&self) -> bool {
        !self.members.is_empty()
    }

    /// How long a member may go without hearing from a quorum before it drops its
    /// clients: ZooKeeper's syncLimit × tickTime.
    pub fn quorum_timeout(&self) -> Duration {
        self.tick_time * self.sync_limit.max(1)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let bad = |what: &str| ConfigError(format!("invalid value for {key}: {value:?} ({what})"));
        let num = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| bad("expected a number"))
        };
        let flag = |v: &str| match v.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(bad("expected true or false")),
        };
        let optional_ms = |v: &str| -> Result<Option<Duration>, ConfigError> {
            let n: i64 = v.trim().parse().map_err(|_| bad("expected a number"))?;
            Ok((n > 0).then(|| Duration::from_millis(n as u64)))
        };
        // ZooKeeper maps unknown keys to `zookeeper.<key>` properties; accept both spellings.
        let key = key.strip_prefix("zookeeper.").unwrap_or(key);
        match key {
            "tickTime" => self.tick_time = Duration::from_millis(num(value)?.max(1)),
            "dataDir" => self.data_dir = PathBuf::from(value.trim()),
            "dataLogDir" => self.data_log_dir = Some(PathBuf::from(value.trim())),
            "clientPort" => {
                self.client_port = u16::try_from(num(value)?).map_err(|_| bad("port"))?
            }
            "clientPortAddress" => {
                self.client_port_address = value.trim().parse().map_err(|_| bad("address"))?
            }
            "maxClientCnxns" => self.max_client_cnxns = num(value)? as usize,
            "minSessionTimeout" => self.min_session_timeout = optional_ms(value)?,
            "maxSessionTimeout" => self.max_session_timeout = optional_ms(value)?,
            "jute.maxbuffer" => self.max_buffer = num(value)?.clamp(1024, 1 << 30) as usize,
            "4lw.commands.whitelist" => {
                self.four_letter_whitelist = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "extendedTypesEnabled" => self.extended_types_enabled = flag(value)?,
            "enforceQuota" => self.enforce_quota = flag(value)?,
            "digest.enabled" => self.digest_enabled = flag(value)?,
            "DigestAuthenticationProvider.superDigest" => {
                self.super_digest = Some(value.trim().to_string())
            }
            "znode.container.checkIntervalMs" => {
                self.container_check_interval = Duration::from_millis(num(value)?.max(10))
            }
            "znode.container.maxPerMinute" => self.container_max_per_minute = num(value)? as usize,
            "snapCount" => self.snap_count = num(value)?.max(2),
            "snapSizeLimitInKb" => self.snap_size_limit = num(value)?.max(1) << 10,
            "autopurge.snapRetainCount" => self.autopurge_snap_retain_count = num(value)? as u32,
            "autopurge.purgeInterval" => self.autopurge_purge_interval = num(value)? as u32,
            "readonlymode.enabled" => self.readonly_mode_enabled = flag(value)?,
            "localSessionsEnabled" => self.local_sessions_enabled = flag(value)?,
            "localSessionsUpgradingEnabled" => self.local_sessions_upgrading_enabled = flag(value)?,
            "admin.enableServer" => self.admin_enable_server = flag(value)?,
            "admin.serverAddress" => {
                self.admin_address = value.trim().parse().map_err(|_| bad("address"))?
            }
            "admin.serverPort" => {
                self.admin_port = u16::try_from(num(value)?).map_err(|_| bad("port"))?
            }
            "admin.commandURL" => {
                let url = value.trim();
                if !url.starts_with('/') {
                    return Err(bad("a path starting with /"));
                }
                self.admin_command_url = url.to_string()
            }
            "admin.snapshot.enabled" => self.admin_snapshot_enabled = flag(value)?,
            "admin.restore.enabled" => self.admin_restore_enabled = flag(value)?,
            "admin.rateLimiterIntervalInMS" => self.admin_rate_limiter_interval_ms = num(value)?,
            "metricsProvider.className" => match value.trim() {
                PROMETHEUS_PROVIDER => self.prometheus_enabled = true,
                DEFAULT_PROVIDER => self.prometheus_enabled = false,
                _ => return Err(bad(
                    "zkd supports ZooKeeper's PrometheusMetricsProvider and DefaultMetricsProvider",
                )),
            },
            "metricsProvider.httpHost" => {
                self.metrics_host = value.trim().parse().map_err(|_| bad("address"))?
            }
            "metricsProvider.httpPort" => {
                self.metrics_port = u16::try_from(num(value)?).map_err(|_| bad("port"))?
            }
            "zkd.metrics.prometheus" => self.prometheus_enabled = flag(value)?,
            "initLimit" => self.init_limit = num(value)? as u32,
            "syncLimit" => self.sync_limit = num(value)? as u32,
            "reconfigEnabled" => self.reconfig_enabled = flag(value)?,
            "zkd.join" => self.join_existing = flag(value)?,
            "zkd.maxOutboundBytes" => self.max_outbound_bytes = num(value)?.max(1024) as usize,
            "peerType" => {
                self.peer_type_observer = match value.trim() {
                    "observer" => true,
                    "participant" => false,
                    _ => return Err(bad("participant or observer")),
                }
            }
            "standaloneEnabled" => self.standalone_enabled = flag(value)?,
            "electionAlg" | "quorumListenOnAllIPs" | "dynamicConfigFile" => {
                self.ignored_keys.push(key.to_string())
            }
            _ if key.starts_with("server.") => {
                let id: u64 = key["server.".len()..]
                    .parse()
                    .map_err(|_| bad("server.N needs a numeric N"))?;
                let member = Member::parse(id, value).map_err(|e| bad(&e))?;
                self.members.insert(id, member);
            }
            "zkd.logLevel" => {
                let level = value.trim();
                self.log_level = (!level.is_empty()).then(|| level.to_string())
            }
            _ => match self
                .limits
                .set(key, value)
                .or_else(|| self.security.set(key, value))
            {
                Some(result) => result?,
                None => self.ignored_keys.push(key.to_string()),
            },
        }
        Ok(())
    }

    pub fn client_addr(&self) -> SocketAddr {
        SocketAddr::new(self.client_port_address, self.client_port)
    }

    /// Whether the plaintext client port is served: unless the file names a
    /// `secureClientPort` and no `clientPort` (nor a client address on this member's
    /// `server.N` line), as in ZooKeeper, where a TLS-only server has no plaintext port.
    pub fn serves_plaintext(&self) -> bool {
        self.client_port_set || self.security.secure_client_port.is_none()
    }

    /// The plaintext client port as ZooKeeper reports it (`conf`, `configuration`):
    /// -1 when there is none.
    pub fn reported_client_port(&self) -> i32 {
        match self.serves_plaintext() {
            true => i32::from(self.client_port),
            false => -1,
        }
    }

    /// Where the TLS-only client port listens (`secureClientPort`), if there is one.
    pub fn secure_client_addr(&self) -> Option<SocketAddr> {
        let ip =
            (self.security.secure_client_port_address).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        (self.security.secure_client_port).map(|port| SocketAddr::new(ip, port))
    }

    /// Where the AdminServer listens, if it is enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_enable_server
            .then(|| SocketAddr::new(self.admin_address, self.admin_port))
    }

    /// Where `/metrics` is served, if Prometheus is enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.prometheus_enabled
            .then(|| SocketAddr::new(self.metrics_host, self.metrics_port))
    }

    pub fn min_session_timeout(&self) -> Duration {
        self.min_session_timeout.unwrap_or(self.tick_time * 2)
    }

    pub fn max_session_timeout(&self) -> Duration {
        self.max_session_timeout.unwrap_or(self.tick_time * 20)
    }

    /// Clamp a client's requested session timeout the way ZooKeeper does.
    pub fn negotiate_timeout(&self, requested_ms: i32) -> i32 {
        let min = self.min_session_timeout().as_millis() as i64;
        let max = self.max_session_timeout().as_millis() as i64;
        (requested_ms as i64).clamp(min, max.max(min)) as i32
    }

    /// Whether a four-letter word may run. `srvr` is always allowed, as in ZooKeeper,
    /// and so is `isro` when read-only mode is enabled.
    pub fn four_letter_allowed(&self, word: &str) -> bool {
        word == "srvr"
            || (word == "isro" && self.readonly_mode_enabled)
            || self
                .four_letter_whitelist
                .iter()
                .any(|w| w == "*" || w == word)
    }

    /// (dataDir, dataLogDir) as `conf` and `/commands/configuration` show them: absolute,
    /// as ZooKeeper prints its directories.
    pub fn report_dirs(&self) -> (String, String) {
        let abs = |p: &Path| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        };
        let data_dir = abs(&self.data_dir);
        let log_dir = self
            .data_log_dir
            .as_deref()
            .map_or_else(|| data_dir.clone(), abs);
        (data_dir, log_dir)
    }

    /// ZooKeeper reports serverId 0 for a standalone server.
    pub fn report_server_id(&self) -> u64 {
        if self.is_ensemble() {
            self.server_id
        } else {
            0
        }
    }

    /// `key=value` lines as the `conf` four-letter word prints them.
    pub fn conf_lines(&self) -> Vec<(String, String)> {
        let (data_dir, log_dir) = self.report_dirs();
        vec![
            ("clientPort".into(), self.reported_client_port().to_string()),
            (
                "secureClientPort".into(),
                (self.security.secure_client_port)
                    .map_or(-1, i32::from)
                    .to_string(),
            ),
            ("dataDir".into(), data_dir),
            ("dataDirSize".into(), dir_size(&self.data_dir).to_string()),
            ("dataLogDir".into(), log_dir),
            ("dataLogSize".into(), dir_size(&self.data_dir).to_string()),
            ("tickTime".into(), self.tick_time.as_millis().to_string()),
            ("maxClientCnxns".into(), self.max_client_cnxns.to_string()),
            (
                "minSessionTimeout".into(),
                self.min_session_timeout().as_millis().to_string(),
            ),
            (
                "maxSessionTimeout".into(),
                self.max_session_timeout().as_millis().to_string(),
            ),
            ("clientPortListenBacklog".into(), "-1".into()),
            ("serverId".into(), self.report_server_id().to_string()),
        ]
    }
}

/// Bytes used by the files below `dir` (for `conf` and `dirs`).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Java-properties-style `key=value` (or `key: value`) lines; later keys win.
fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).unwrap_or(line.len());
        let key = line[..split].trim();
        let value = line.get(split + 1..).unwrap_or("").trim();
        if !key.is_empty() {
            out.insert(key.to_string(), value.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zookeeper_sample() {
        let cfg = Config::parse(
            "# sample\ntickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/zk\nclientPort=2191\n\
             4lw.commands.whitelist=ruok, srvr ,mntr\nzookeeper.extendedTypesEnabled=true\n\
             DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n",
        )
        .unwrap();
        assert_eq!(cfg.tick_time, Duration::from_millis(2000));
        assert_eq!(cfg.client_port, 2191);
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/zk"));
        assert!(cfg.extended_types_enabled);
        assert_eq!(
            cfg.super_digest.as_deref(),
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
        assert!(cfg.four_letter_allowed("mntr"));
        assert!(!cfg.four_letter_allowed("dump"));
        assert!(cfg.ignored_keys.is_empty());
        assert_eq!((cfg.init_limit, cfg.sync_limit), (10, 5));
    }

    #[test]
    fn a_single_server_line_is_standalone_unless_standalone_is_disabled() {
        let cfg = Config::parse("server.1=127.0.0.1:2888:3888;127.0.0.1:2345\n").unwrap();
        assert!(!cfg.is_ensemble());
        assert_eq!(cfg.single_server_line, Some(1));
        assert_eq!(cfg.client_port, 2345);
        assert_eq!(
            cfg.client_port_address,
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        // clientPort wins over the line's client address.
        let cfg = Config::parse("clientPort=2400\nserver.7=127.0.0.1:2888:3888;2345\n").unwrap();
        assert!(!cfg.is_ensemble());
        assert_eq!(cfg.client_port, 2400);
        let cfg =
            Config::parse("standaloneEnabled=false\nserver.1=127.0.0.1:2888:3888;2345\n").unwrap();
        assert!(cfg.is_ensemble());
        assert!(Config::parse("server.1=h:1:2\nserver.2=h:3:4:observer\n").is_err());
    }

    #[test]
    fn parses_ensemble_lines() {
        let cfg = Config::parse(
            "server.1=127.0.0.1:2888:3888;2181\nserver.2=10.0.0.2:2889:3889:participant;0.0.0.0:2182\n\
             server.3=h3:2890:3890:observer\npeerType=observer\n",
        )
        .unwrap();
        assert_eq!(cfg.members.len(), 3);
        let m1 = &cfg.members[&1];
        assert_eq!(m1.peer_addr(), "127.0.0.1:2888");
        assert_eq!(m1.client, Some("0.0.0.0:2181".parse().unwrap()));
        assert!(!cfg.members[&2].observer);
        assert!(cfg.members[&3].observer && cfg.members[&3].client.is_none());
        assert_eq!(
            cfg.members[&2].zk_config_value(),
            "10.0.0.2:2889:3889:participant;0.0.0.0:2182"
        );
        assert!(cfg.peer_type_observer);
        assert!(Config::parse("server.x=h:1:2\n").is_err());
        assert!(Config::parse("server.1=h:1\n").is_err());
        assert!(Config::parse("server.1=h:1:2:witness\n").is_err());
    }

    #[test]
    fn default_whitelist_is_srvr_only() {
        let cfg = Config::default();
        assert!(cfg.four_letter_allowed("srvr"));
        assert!(!cfg.four_letter_allowed("ruok"));
    }

    #[test]
    fn timeouts_clamp_to_tick_multiples() {
        let cfg = Config::parse("tickTime=2000").unwrap();
        assert_eq!(cfg.negotiate_timeout(1000), 4000);
        assert_eq!(cfg.negotiate_timeout(10_000), 10_000);
        assert_eq!(cfg.negotiate_timeout(100_000), 40_000);
        let cfg = Config::parse("tickTime=2000\nminSessionTimeout=1000\nmaxSessionTimeout=60000")
            .unwrap();
        assert_eq!(cfg.negotiate_timeout(1000), 1000);
        assert_eq!(cfg.negotiate_timeout(100_000), 60_000);
    }

    #[test]
    fn admin_and_metrics_keys() {
        let cfg = Config::default();
        assert_eq!(cfg.admin_addr(), Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(cfg.metrics_addr(), None);
        let cfg = Config::parse(
            "admin.serverPort=9090\nzookeeper.admin.serverAddress=127.0.0.1\n\
             metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
             metricsProvider.httpPort=7001\nmetricsProvider.httpHost=127.0.0.1\n\
             metricsProvider.exportJvmInfo=false\nzkd.logLevel=debug\n",
        )
        .unwrap();
        assert_eq!(cfg.admin_addr(), Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(cfg.metrics_addr(), Some("127.0.0.1:7001".parse().unwrap()));
        assert_eq!(cfg.log_level.as_deref(), Some("debug"));
        assert_eq!(cfg.ignored_keys, vec!["metricsProvider.exportJvmInfo"]);
        let cfg = Config::parse("admin.enableServer=false\nzkd.metrics.prometheus=true").unwrap();
        assert_eq!(cfg.admin_addr(), None);
        assert_eq!(cfg.metrics_addr(), Some("0.0.0.0:7000".parse().unwrap()));
        assert!(Config::parse("metricsProvider.className=com.example.Custom").is_err());
        assert!(Config::parse("admin.serverPort=http").is_err());
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        assert!(Config::parse("clientPort=abc").is_err());
        assert!(Config::parse("clientPort=70000").is_err());
        assert!(Config::parse("extendedTypesEnabled=maybe").is_err());
    }
}
