//! Named pauses for crash tests: `ZKD_FAILPOINT=<name>` makes the code at that point log
//! `failpoint <name> reached` and sleep, so a test can kill -9 the process exactly there
//! (mid-checkpoint, between a segment rollover and the first write into it, ...).
//! Unset, [`pause`] is one cached environment lookup.

use std::sync::OnceLock;
use std::time::Duration;

/// How long a reached failpoint holds the thread: long enough for a test to notice the
/// log line and kill the process.
const HOLD: Duration = Duration::from_secs(5);

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            std::env::var("ZKD_FAILPOINT")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .as_deref()
}

/// Hold the calling thread here if the failpoint `name` is armed.
pub fn pause(name: &str) {
    if armed() == Some(name) {
        tracing::warn!("failpoint {name} reached; holding for {} s", HOLD.as_secs());
        std::thread::sleep(HOLD);
    }
}
