//! ZooKeeper's well-known ids and ACLs (`ZooDefs.Ids`), which clients, the tree, the
//! migration tools and the benchmarks all need: one definition here.

use crate::{perms, Acl, Id};

/// `world:anyone`.
pub fn anyone() -> Id {
    Id {
        scheme: "world".into(),
        id: "anyone".into(),
    }
}

/// Whether `id` is `world:anyone`.
pub fn is_anyone(id: &Id) -> bool {
    id.scheme == "world" && id.id == "anyone"
}

/// `OPEN_ACL_UNSAFE`: `world:anyone` with every permission.
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: anyone(),
    }]
}

/// `READ_ACL_UNSAFE`: `world:anyone` may read.
pub fn read_acl_unsafe() -> Vec<Acl> {
    vec![Acl {
        perms: perms::READ,
        id: anyone(),
    }]
}
