//! zkd: a ZooKeeper-compatible coordination server.
//!
//! The crate is split so that the replicated state machine is a pure function of the
//! log: [`txn`] is the log entry, [`tree`] applies it to the znode tree and answers reads,
//! and [`watch`] turns the triggers apply produces into per-connection notifications.
//! None of those three modules does I/O, reads a clock, spawns threads or draws random
//! numbers, so every replica that applies the same log reaches the same tree, the same
//! replies and the same watch events.

pub mod tree;
pub mod txn;
pub mod watch;

pub mod admin;
pub mod config;
pub mod consensus;
pub mod migrate;
pub mod net;
pub mod server;
pub mod session;
pub mod storage;
pub mod tls;
