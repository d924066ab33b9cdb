//! ZooKeeper's *jute* binary records: the client wire protocol and the on-disk
//! txn-log / snapshot formats.
//!
//! # Why it looks like this
//!
//! * **Declare once.** Every plain record is declared exactly once with the
//!   [`record!`] macro. The macro generates the struct, the nom parser
//!   ([`Record::read`]) and the encoder ([`Record::write`]) from the same field
//!   list, so field order — which *is* the wire format, jute has no tags — can
//!   never drift between the reader and the writer. Field types go through the
//!   small [`Field`] trait, implemented for the jute primitives, `Vec<T>` and
//!   every record. Only the records whose layout is not a flat field list are
//!   hand-written: `ConnectRequest`/`ConnectResponse` (optional trailing
//!   `readOnly` byte) and `MultiRequest`/`MultiResponse` (header-framed lists).
//!
//! * **Null semantics.** Jute encodes a null string, buffer or vector as
//!   length `-1`. Where ZooKeeper distinguishes null from empty we use
//!   `Option<String>` / `Option<Bytes>` (`-1 <-> None`). Where it does not, the
//!   plain type (`String`, `Bytes`, `Vec<T>`) decodes `-1` as empty and always
//!   encodes a real length. Booleans decode as "non-zero is true", like Java's
//!   `DataInput.readBoolean`.
//!
//! * **Untrusted input never panics.** Everything decoded here may come from
//!   an attacker. Parsers are built on nom's `complete` number parsers and
//!   return errors (never panic) on truncated input. Every length prefix is
//!   validated before it is used: a negative length other than `-1` is an
//!   error, and a length (or a vector element count times the smallest possible
//!   element size) larger than the remaining input is an error *before*
//!   anything is allocated, so a 4-byte frame cannot make us reserve gigabytes.
//!   Strings with invalid UTF-8 are decoded lossily (as Java would not fail
//!   either).
//!
//! [`Record::decode`] ignores trailing bytes, as ZooKeeper's Java stream
//! reading does; use [`Record::read`] to see what is left over.

#[macro_use]
mod macros;

pub mod consts;
mod field;
pub mod ids;
pub mod records;

pub use consts::{
    add_watch_mode, create_flags, err, event, keeper_state, op, perms, watcher_type, xid,
};
pub use field::{DecodeError, Field, Record};
pub use records::*;

/// Re-exports used by the [`record!`] macro (not part of the public API).
#[doc(hidden)]
pub mod __private {
    pub use bytes;
    pub use nom;
}
