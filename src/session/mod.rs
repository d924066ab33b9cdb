//! Sessions: the password formula and the expiry clock.
//!
//! Which sessions exist is replicated state and lives in the tree (created and closed
//! by txns). What lives here is the part that is *not* replicated: when each session was
//! last heard from. ZooKeeper's leader keeps that in its SessionTracker and proposes a
//! closeSession when a session misses its deadline; zkd does the same. After a restart
//! (or, later, a leader change) every session's clock starts again, as in ZooKeeper.

mod password;
mod tracker;

pub use password::{generate_password, password_matches};
pub use tracker::SessionTracker;
