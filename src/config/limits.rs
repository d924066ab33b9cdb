//! Overload protection keys: ZooKeeper 3.9's `globalOutstandingLimit`, its
//! RequestThrottler (`request_throttle_*`) and its connection throttle
//! (`connection_throttle_*`, BlueThrottle), each accepted with or without the
//! `zookeeper.` prefix (the caller strips it).
//!
//! How zkd applies them is in `server::throttle`; what each maps to is in
//! docs/operations.md.

use super::ConfigError;

/// The settings, with ZooKeeper's defaults.
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    /// `globalOutstandingLimit` (1000): requests read and not yet answered, over all
    /// connections, past which a connection with requests of its own outstanding reads
    /// no more (ZooKeeper's `shouldThrottle`). In an ensemble of more than two voters it
    /// is divided by (voters - 1), as ZooKeeper's leader and followers divide it.
    pub global_outstanding_limit: usize,
    /// `request_throttle_max_requests` (0 = off): a second bound of the same kind.
    pub request_throttle_max_requests: usize,
    /// `request_throttle_stall_time` (100 ms) and `request_throttle_drop_stale` (true):
    /// accepted; see docs/operations.md for how zkd's back-pressure covers them.
    pub request_throttle_stall_time_ms: u64,
    pub request_throttle_drop_stale: bool,
    /// `connection_throttle_tokens` (0 = off), `_fill_time` (1 ms), `_fill_count` (1):
    /// a token bucket new connections draw from.
    pub connection_throttle_tokens: u64,
    pub connection_throttle_fill_time_ms: u64,
    pub connection_throttle_fill_count: u64,
    /// `connection_throttle_freeze_time` (-1 = off), `_drop_increase` (0.02),
    /// `_drop_decrease` (0.002), `_decrease_ratio` (0): BLUE's random dropping.
    pub connection_throttle_freeze_time_ms: i64,
    pub connection_throttle_drop_increase: f64,
    pub connection_throttle_drop_decrease: f64,
    pub connection_throttle_decrease_ratio: f64,
    /// `connection_throttle_weight_enabled` (false) and the weights of a new global
    /// session (3), a local one (1) and a reattach (2).
    pub connection_throttle_weight_enabled: bool,
    pub global_session_weight: u64,
    pub local_session_weight: u64,
    pub renew_session_weight: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            global_outstanding_limit: 1000,
            request_throttle_max_requests: 0,
            request_throttle_stall_time_ms: 100,
            request_throttle_drop_stale: true,
            connection_throttle_tokens: 0,
            connection_throttle_fill_time_ms: 1,
            connection_throttle_fill_count: 1,
            connection_throttle_freeze_time_ms: -1,
            connection_throttle_drop_increase: 0.02,
            connection_throttle_drop_decrease: 0.002,
            connection_throttle_decrease_ratio: 0.0,
            connection_throttle_weight_enabled: false,
            global_session_weight: 3,
            local_session_weight: 1,
            renew_session_weight: 2,
        }
    }
}

impl LimitsConfig {
    /// `None` when `key` is not one of these.
    pub fn set(&mut self, key: &str, value: &str) -> Option<Result<(), ConfigError>> {
        let bad = |what: &str| ConfigError(format!("invalid value for {key}: {value:?} ({what})"));
        let int = || -> Result<i64, ConfigError> {
            value.trim().parse().map_err(|_| bad("expected a number"))
        };
        let count = || -> Result<u64, ConfigError> { Ok(int()?.max(0) as u64) };
        let real = || -> Result<f64, ConfigError> {
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad("expected a number"))
        };
        // Java's Boolean.getBoolean: "true" in any case is true, anything else false.
        let flag = || value.trim().eq_ignore_ascii_case("true");
        let result = (|| {
            match key {
                "globalOutstandingLimit" => self.global_outstanding_limit = count()? as usize,
                "request_throttle_max_requests" => {
                    self.request_throttle_max_requests = count()? as usize
                }
                "request_throttle_stall_time" => self.request_throttle_stall_time_ms = count()?,
                "request_throttle_drop_stale" => self.request_throttle_drop_stale = flag(),
                "connection_throttle_tokens" => self.connection_throttle_tokens = count()?,
                "connection_throttle_fill_time" => {
                    self.connection_throttle_fill_time_ms = count()?.max(1)
                }
                "connection_throttle_fill_count" => self.connection_throttle_fill_count = count()?,
                "connection_throttle_freeze_time" => {
                    self.connection_throttle_freeze_time_ms = int()?
                }
                "connection_throttle_drop_increase" => {
                    self.connection_throttle_drop_increase = real()?
                }
                "connection_throttle_drop_decrease" => {
                    self.connection_throttle_drop_decrease = real()?
                }
                "connection_throttle_decrease_ratio" => {
                    self.connection_throttle_decrease_ratio = real()?
                }
                "connection_throttle_weight_enabled" => {
                    self.connection_throttle_weight_enabled = flag()
                }
                "connection_throttle_global_session_weight" => {
                    self.global_session_weight = count()?
                }
                "connection_throttle_local_session_weight" => self.local_session_weight = count()?,
                "connection_throttle_renew_session_weight" => self.renew_session_weight = count()?,
                _ => return Ok(false),
            }
            Ok(true)
        })();
        match result {
            Ok(false) => None,
            Ok(true) => Some(Ok(())),
            Err(e) => Some(Err(e)),
        }
    }

    /// The weights as ZooKeeper settles them: each at least 1, a global session and a
    /// reattach never below a local one. (global, local, renew)
    pub fn session_weights(&self) -> (u64, u64, u64) {
        let local = if self.local_session_weight == 0 {
            1
        } else {
            self.local_session_weight
        };
        let global = match self.global_session_weight {
            0 => 3,
            w => w.max(local),
        };
        let renew = match self.renew_session_weight {
            0 => 2,
            w => w.max(local),
        };
        (global, local, renew)
    }
}
