"""Build a varied ZooKeeper tree through kazoo, for compat-tests/migration.sh.

Why: the migration test must import a dataDir that a real Apache ZooKeeper wrote
while real clients used it, with every kind of txn the log can hold: sequential,
ephemeral (a session left alive), container and TTL nodes (create and reap, which
logs deleteContainer), digest and ip ACLs, setACL, successful and failed multi txns,
deletes, setData storms (so that several log files and snapshots exist), large and
binary data, a non-ASCII path, and a session closed with ephemerals.

    python migration_tree.py HOST:PORT

kazoo has no container or TTL create, so those two go through kazoo's connection with
small request classes (opcodes 19 and 21, replies like create2).
"""

import os
import sys
import time

from kazoo.client import KazooClient
from kazoo.protocol.serialization import Create2, int_struct, write_buffer, write_string
from kazoo.security import OPEN_ACL_UNSAFE, make_acl, make_digest_acl

long_struct = __import__("struct").Struct("!q")


class CreateContainer(Create2):
    type = 19


class CreateTTL(Create2):
    """CreateTTLRequest: path, data, acl, flags, long ttl."""

    type = 21

    def __new__(cls, path, data, acl, flags, ttl):
        self = super().__new__(cls, path, data, acl, flags)
        self.ttl = ttl
        return self

    def serialize(self):
        b = super().serialize()
        b.extend(long_struct.pack(self.ttl))
        return b


def call(client, request):
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=10)


def main():
    hosts = sys.argv[1]
    zk = KazooClient(hosts=hosts, timeout=300)
    zk.start(timeout=15)
    zk.add_auth("digest", "alice:secret")

    zk.create("/app", b"application root")
    zk.create("/app/config", b"v0")
    # setData storm: many txns on a few nodes (rolls logs and snapshots with snapCount=50)
    for i in range(300):
        zk.set("/app/config", ("v%d" % i).encode())
    for i in range(5):
        zk.create("/app/hot%d" % i, b"")
        for j in range(20):
            zk.set("/app/hot%d" % i, bytes([j]) * j)

    # sequential nodes, some deleted (the parent's cversion counts creates only)
    zk.create("/app/queue", b"")
    seq = [zk.create("/app/queue/item-", b"job", sequence=True) for _ in range(30)]
    for p in seq[::3]:
        zk.delete(p)

    # a quota on /app/queue, written as zkCli's setquota writes it (the server fills in
    # zookeeper_stats and keeps it current), then more writes below it
    zk.create("/zookeeper/quota/app/queue/zookeeper_limits",
              b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=1000", makepath=True)
    zk.create("/zookeeper/quota/app/queue/zookeeper_stats", b"count=0,bytes=0")
    for p in [zk.create("/app/queue/late-", b"later job", sequence=True) for _ in range(6)][::2]:
        zk.delete(p)
    zk.set("/app/queue", b"queue with a quota")

    # ACLs: digest (alice, through auth), ip, and a setACL
    alice = make_digest_acl("alice", "secret", all=True)
    zk.create("/secure", b"top secret", acl=[alice])
    zk.create("/secure/inner", b"x", acl=[alice, make_acl("world", "anyone", read=True)])
    zk.create("/ipnode", b"by ip", acl=[make_acl("ip", "127.0.0.1", all=True),
                                        make_acl("ip", "10.0.0.0/8", read=True)])
    zk.create("/aclchange", b"")
    zk.set_acls("/aclchange", [make_acl("world", "anyone", read=True, write=True, admin=True)])
    zk.set_acls("/aclchange", OPEN_ACL_UNSAFE)

    # multi: a successful one and a failed one (logged as a multi of error txns)
    t = zk.transaction()
    t.create("/app/multi", b"m")
    t.create("/app/multi/a", b"a")
    t.set_data("/app/config", b"from multi")
    t.check("/app", 0)
    results = t.commit()
    assert not any(isinstance(r, Exception) for r in results), results
    t = zk.transaction()
    t.create("/app/never", b"")
    t.check("/app", 12345)
    results = t.commit()
    assert any(isinstance(r, Exception) for r in results), results

    # deletes of a subtree
    zk.create("/tmp/a/b/c", b"", makepath=True)
    zk.delete("/tmp", recursive=True)

    # containers: one with a child (kept), one never used (kept), one emptied (reaped
    # by ZooKeeper's container manager, which logs deleteContainer)
    call(zk, CreateContainer("/locks", b"", OPEN_ACL_UNSAFE, 4))
    zk.create("/locks/lock-", b"", sequence=True)
    call(zk, CreateContainer("/unused-container", b"", OPEN_ACL_UNSAFE, 4))
    call(zk, CreateContainer("/emptied", b"", OPEN_ACL_UNSAFE, 4))
    zk.create("/emptied/x", b"")
    zk.delete("/emptied/x")
    # TTL nodes: a long one (kept), a sequential one, a short one (reaped)
    call(zk, CreateTTL("/ttl-long", b"t", OPEN_ACL_UNSAFE, 5, 3600 * 1000))
    call(zk, CreateTTL("/app/ttl-seq-", b"s", OPEN_ACL_UNSAFE, 6, 3600 * 1000))
    call(zk, CreateTTL("/ttl-short", b"", OPEN_ACL_UNSAFE, 5, 200))

    # big and binary data, a non-ASCII path
    zk.create("/big", os.urandom(1000) * 500)
    zk.create("/binary", bytes(range(256)))
    zk.create("/ünïcødé-ノード", "データ".encode())

    # a session that goes away cleanly: its ephemerals are deleted by closeSession
    gone = KazooClient(hosts=hosts, timeout=30)
    gone.start(timeout=15)
    gone.create("/app/gone-eph", b"", ephemeral=True)
    gone.create("/app/gone-seq-", b"", ephemeral=True, sequence=True)
    gone.stop()
    gone.close()

    # a session that stays alive: its ephemerals must survive the migration
    live = KazooClient(hosts=hosts, timeout=300)
    live.start(timeout=15)
    live.create("/app/members", b"")
    live.create("/app/members/m-", b"me", ephemeral=True, sequence=True)
    live.create("/app/members/m-", b"me too", ephemeral=True, sequence=True)
    live.create("/app/leader", b"live", ephemeral=True)

    # wait for the container/TTL reaper (checkIntervalMs=1000) to remove the emptied
    # container and the short TTL node
    deadline = time.time() + 20
    while (zk.exists("/emptied") or zk.exists("/ttl-short")) and time.time() < deadline:
        time.sleep(0.2)
    assert not zk.exists("/emptied") and not zk.exists("/ttl-short"), "reaper did not run"

    zk.stop()
    zk.close()
    print("tree built; the live session is 0x%x" % live.client_id[0])
    sys.stdout.flush()
    # leave without closing the live session (it stays until its timeout)
    os._exit(0)


if __name__ == "__main__":
    main()
