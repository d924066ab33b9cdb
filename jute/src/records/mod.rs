//! All jute records, grouped by area and re-exported here and at the crate root.

mod client;
mod connect;
mod multi;
mod txn;

pub use client::*;
pub use connect::*;
pub use multi::*;
pub use txn::*;
