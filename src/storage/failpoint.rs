//! Named failpoints for crash tests, armed by `ZKD_FAILPOINT=<name>[@N]`:
//!
//! * [`pause`]: the code at that point logs `failpoint <name> reached` and sleeps, so a
//!   test can kill -9 the process exactly there (mid-checkpoint, between a segment
//!   rollover and the first write into it, ...);
//! * [`error`]: from the N-th time it is reached on (the first, without `@N`), the I/O
//!   operation at that point fails, as on a full or failing disk;
//! * [`reached`]: true the N-th time it is reached, and only then (a one-off fault).
//!
//! Unarmed, each is one cached environment lookup.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a reached failpoint holds the thread: long enough for a test to notice the
/// log line and kill the process.
const HOLD: Duration = Duration::from_secs(5);

/// The armed failpoint's name and from which hit on it fires.
fn armed() -> Option<(&'static str, u64)> {
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("ZKD_FAILPOINT")
                .ok()
                .filter(|v| !v.is_empty())?;
            Some(match spec.split_once('@') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            })
        })
        .as_ref()
        .map(|(name, from)| (name.as_str(), *from))
}

/// Hold the calling thread here if the failpoint `name` is armed.
pub fn pause(name: &str) {
    if armed().is_some_and(|(armed, _)| armed == name) {
        tracing::warn!("failpoint {name} reached; holding for {} s", HOLD.as_secs());
        std::thread::sleep(HOLD);
    }
}

/// An injected I/O error if the failpoint `name` is armed and reached often enough.
pub fn error(name: &str) -> io::Result<()> {
    static HITS: AtomicU64 = AtomicU64::new(0);
    match armed() {
        Some((armed, from)) if armed == name => {
            if HITS.fetch_add(1, Ordering::Relaxed) + 1 >= from {
                return Err(io::Error::other(format!(
                    "failpoint {name}: injected I/O error"
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// True the N-th time the failpoint `name` (armed as `name@N`) is reached, once.
pub fn reached(name: &str) -> bool {
    static HITS: AtomicU64 = AtomicU64::new(0);
    match armed() {
        Some((armed, n)) if armed == name => HITS.fetch_add(1, Ordering::Relaxed) + 1 == n,
        _ => false,
    }
}
