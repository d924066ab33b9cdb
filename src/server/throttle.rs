//! Overload protection: how much work a flood of requests or connections may pile up.
//!
//! * **Outstanding requests** (ZooKeeper's `globalOutstandingLimit`, and
//!   `request_throttle_max_requests` when set): every connection reports how many of
//!   its requests are read and not yet answered ([`Overload::moved`]). Past the limit, a
//!   connection that has requests of its own outstanding reads no more until one of
//!   them is answered: the rest wait in the socket and TCP slows the client down
//!   (ZooKeeper's `shouldThrottle`, which disables reading the same way). A connection
//!   with nothing outstanding always reads, so it can never starve, and the server
//!   holds at most the limit plus one request per connection.
//! * **New connections** (ZooKeeper's BlueThrottle, `connection_throttle_*`): a token
//!   bucket each handshake draws from, with BLUE's random dropping when
//!   `connection_throttle_freeze_time` is set. A refused handshake closes the connection
//!   (`connection_rejected`), as ZooKeeper's does.
//!
//! The bucket takes the time and its random draws from the caller, so it is tested
//! without clocks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::LimitsConfig;

/// The server's overload state: requests in flight over all connections, their bound,
/// and the connection throttle.
pub struct Overload {
    /// Requests read and not yet answered, over all connections.
    in_flight: AtomicUsize,
    limit: usize,
    connections: ConnectionThrottle,
}

impl Overload {
    /// For a server with `voters` voting members (0 standalone).
    pub fn new(cfg: &LimitsConfig, voters: usize) -> Overload {
        let now = Instant::now();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Overload {
            in_flight: AtomicUsize::new(0),
            limit: outstanding_limit(cfg, voters),
            connections: ConnectionThrottle::new(cfg, now, seed),
        }
    }

    /// A connection's share of the requests in flight, reported as it changes and
    /// taken back when the share is dropped (however the connection ends).
    pub fn share(&self) -> Share<'_> {
        Share {
            overload: self,
            reported: 0,
        }
    }

    /// A connection's own count of outstanding requests went from `before` to `after`.
    fn moved(&self, before: usize, after: usize) {
        if after > before {
            self.in_flight.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.in_flight.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// Requests read and not yet answered, over all connections (`outstanding_requests`).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether a connection with `own` requests outstanding may read another one.
    pub fn may_read(&self, own: usize) -> bool {
        may_read(own, self.in_flight(), self.limit)
    }

    /// Whether a handshake may go on: a reattach, a new local session or a new
    /// ensemble-wide one, which weigh differently with `connection_throttle_weight_enabled`.
    pub fn admit_connection(&self, kind: Handshake) -> bool {
        self.connections.admit(kind, Instant::now())
    }

    /// BLUE's current drop chance (`connection_drop_probability`).
    pub fn drop_probability(&self) -> f64 {
        self.connections.bucket.lock().drop
    }
}

/// What a handshake asks for, for the connection throttle's weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    NewSession,
    NewLocalSession,
    Reattach,
}

/// One connection's share of [`Overload`]'s requests in flight.
pub struct Share<'a> {
    overload: &'a Overload,
    reported: usize,
}

impl Share<'_> {
    /// The connection now has `outstanding` requests read and not yet answered.
    pub fn report(&mut self, outstanding: usize) {
        // Most turns of a read loop change nothing: no shared write for those.
        if outstanding != self.reported {
            self.overload.moved(self.reported, outstanding);
            self.reported = outstanding;
        }
    }
}

impl Drop for Share<'_> {
    fn drop(&mut self) {
        self.overload.moved(self.reported, 0);
    }
}

/// The outstanding-request bound for a server with `voters` voting members (0 or 1:
/// standalone): ZooKeeper divides `globalOutstandingLimit` by (voters - 1) when there
/// are more than two, on its leader and followers alike. `request_throttle_max_requests`
/// bounds it further when set.
fn outstanding_limit(cfg: &LimitsConfig, voters: usize) -> usize {
    let divisor = if voters > 2 { voters - 1 } else { 1 };
    let global = cfg.global_outstanding_limit / divisor;
    match cfg.request_throttle_max_requests {
        0 => global,
        max => global.min(max),
    }
}

/// [`Overload::may_read`] with its inputs.
fn may_read(own: usize, in_flight: usize, limit: usize) -> bool {
    own == 0 || in_flight <= limit
}

/// ZooKeeper's BlueThrottle.
struct ConnectionThrottle {
    /// (new session, new local session, reattach), with weights enabled.
    weights: Option<(u64, u64, u64)>,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    max_tokens: u64,
    fill_time_ms: u64,
    fill_count: u64,
    tokens: u64,
    last_fill: Instant,
    freeze_time_ms: i64,
    drop_increase: f64,
    drop_decrease: f64,
    decrease_point: f64,
    drop: f64,
    last_freeze: Instant,
    /// xorshift64 state for BLUE's draws.
    rng: u64,
}

impl ConnectionThrottle {
    fn new(cfg: &LimitsConfig, now: Instant, seed: u64) -> ConnectionThrottle {
        let (global, local, renew) = cfg.session_weights();
        let scale = if cfg.connection_throttle_weight_enabled {
            global
        } else {
            1
        };
        let max_tokens = cfg.connection_throttle_tokens.saturating_mul(scale);
        ConnectionThrottle {
            weights: cfg
                .connection_throttle_weight_enabled
                .then_some((global, local, renew)),
            bucket: Mutex::new(Bucket {
                max_tokens,
                fill_time_ms: cfg.connection_throttle_fill_time_ms.max(1),
                fill_count: cfg.connection_throttle_fill_count.saturating_mul(scale),
                tokens: max_tokens,
                last_fill: now,
                freeze_time_ms: cfg.connection_throttle_freeze_time_ms,
                drop_increase: cfg.connection_throttle_drop_increase,
                drop_decrease: cfg.connection_throttle_drop_decrease,
                decrease_point: cfg.connection_throttle_decrease_ratio,
                drop: 0.0,
                last_freeze: now,
                rng: seed | 1,
            }),
        }
    }

    /// May a handshake go on? ZooKeeper's `processConnectRequest` weights.
    fn admit(&self, kind: Handshake, now: Instant) -> bool {
        let need = match (self.weights, kind) {
            (None, _) => 1,
            (Some((global, _, _)), Handshake::NewSession) => global,
            (Some((_, local, _)), Handshake::NewLocalSession) => local,
            (Some((_, _, renew)), Handshake::Reattach) => renew,
        };
        self.bucket.lock().check(need, now)
    }
}

impl Bucket {
    /// BlueThrottle.checkLimit.
    fn check(&mut self, need: u64, now: Instant) -> bool {
        if self.max_tokens == 0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last_fill).as_millis() as u64;
        if elapsed > self.fill_time_ms {
            let refill = elapsed.saturating_mul(self.fill_count) / self.fill_time_ms;
            self.tokens = self.tokens.saturating_add(refill).min(self.max_tokens);
            self.last_fill = now;
        }
        if self.freeze_time_ms != -1 && !self.check_blue(now) {
            return false;
        }
        if self.tokens < need {
            return false;
        }
        self.tokens -= need;
        true
    }

    /// BlueThrottle.checkBlue: adjust the drop chance at most once per freeze time,
    /// then drop at random with it.
    fn check_blue(&mut self, now: Instant) -> bool {
        let deficit = self.max_tokens - self.tokens;
        let threshold = (self.max_tokens as f64 * self.decrease_point).round() as u64;
        let since = now.saturating_duration_since(self.last_freeze).as_millis() as i64;
        if since > self.freeze_time_ms {
            if deficit == self.max_tokens && self.drop < 1.0 {
                self.drop = (self.drop + self.drop_increase).min(1.0);
            } else if deficit <= threshold && self.drop > 0.0 {
                self.drop = (self.drop - self.drop_decrease).max(0.0);
            }
            self.last_freeze = now;
        }
        self.next_unit() >= self.drop
    }

    /// A uniform draw in [0, 1).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cfg(tokens: u64, fill_time_ms: u64, fill_count: u64) -> LimitsConfig {
        LimitsConfig {
            connection_throttle_tokens: tokens,
            connection_throttle_fill_time_ms: fill_time_ms,
            connection_throttle_fill_count: fill_count,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn the_bucket_allows_a_burst_then_its_fill_rate() {
        let t0 = Instant::now();
        let t = ConnectionThrottle::new(&cfg(3, 100, 1), t0, 7);
        assert!((0..3).all(|_| t.admit(Handshake::NewSession, t0)));
        assert!(!t.admit(Handshake::NewSession, t0));
        assert!(!t.admit(Handshake::Reattach, t0 + Duration::from_millis(100)));
        // One token per 100 ms once more than the fill time has passed.
        assert!(t.admit(Handshake::NewSession, t0 + Duration::from_millis(101)));
        assert!(!t.admit(Handshake::NewSession, t0 + Duration::from_millis(150)));
        // Never more than the bucket holds.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| t.admit(Handshake::NewSession, later)));
        assert!(!t.admit(Handshake::NewSession, later));
    }

    #[test]
    fn zero_tokens_is_off() {
        let t0 = Instant::now();
        let t = ConnectionThrottle::new(&LimitsConfig::default(), t0, 7);
        assert!((0..10_000).all(|_| t.admit(Handshake::NewSession, t0)));
    }

    #[test]
    fn weights_scale_the_bucket_and_the_draws() {
        let t0 = Instant::now();
        let c = LimitsConfig {
            connection_throttle_weight_enabled: true,
            ..cfg(2, 1000, 1)
        };
        // 2 × 3 tokens: two new sessions, or three reattaches.
        let t = ConnectionThrottle::new(&c, t0, 7);
        assert!(t.admit(Handshake::NewSession, t0) && t.admit(Handshake::NewSession, t0));
        assert!(!t.admit(Handshake::Reattach, t0));
        let t = ConnectionThrottle::new(&c, t0, 7);
        assert!((0..3).all(|_| t.admit(Handshake::Reattach, t0)));
        assert!(!t.admit(Handshake::Reattach, t0));
    }

    #[test]
    fn blue_raises_the_drop_chance_while_the_bucket_is_empty() {
        let t0 = Instant::now();
        let c = LimitsConfig {
            connection_throttle_freeze_time_ms: 10,
            connection_throttle_drop_increase: 0.5,
            ..cfg(1, 1_000_000, 1)
        };
        let t = ConnectionThrottle::new(&c, t0, 7);
        assert!(t.admit(Handshake::NewSession, t0));
        // Empty for two freeze periods: the chance reaches 1 and every draw drops.
        let _ = t.admit(Handshake::NewSession, t0 + Duration::from_millis(11));
        let _ = t.admit(Handshake::NewSession, t0 + Duration::from_millis(22));
        assert_eq!(t.bucket.lock().drop, 1.0);
    }

    #[test]
    fn outstanding_limits_as_zookeeper_divides_them() {
        let c = LimitsConfig::default();
        assert_eq!(outstanding_limit(&c, 0), 1000);
        assert_eq!(outstanding_limit(&c, 3), 500);
        assert_eq!(outstanding_limit(&c, 5), 250);
        let c = LimitsConfig {
            request_throttle_max_requests: 100,
            ..c
        };
        assert_eq!(outstanding_limit(&c, 0), 100);
        assert!(may_read(0, 5000, 10), "nothing of its own: always reads");
        assert!(!may_read(1, 11, 10));
        assert!(may_read(1, 10, 10));
    }
}
