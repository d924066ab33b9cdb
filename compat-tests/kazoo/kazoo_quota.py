"""kazoo against ZooKeeper's quota nodes: what zkCli's setquota writes, made with kazoo,
then the usage the server keeps in zookeeper_stats as nodes come and go.

Run by compat-tests/run.sh against Apache ZooKeeper and zkd in turn; it prints one line
per observation and run.sh requires both servers' outputs to be identical (and this
script exits 1 if the server's figures are not the ones ZooKeeper's rules give).

    kazoo_quota.py HOST:PORT
"""
import sys

from kazoo.client import KazooClient

QUOTA = "/zookeeper/quota"


def stats(zk, path):
    data, _ = zk.get(QUOTA + path + "/zookeeper_stats")
    return data.decode()


def main():
    zk = KazooClient(hosts=sys.argv[1], timeout=10)
    zk.start(timeout=15)
    failures = []

    def expect(what, got, want):
        print("%s: %s" % (what, got))
        if got != want:
            failures.append("%s: got %r, want %r" % (what, got, want))

    root = "/kq"
    zk.create(root, b"abc")
    zk.create(root + "/a", b"12345")
    # What zkCli's `setquota -n 4 -b 20 /kq` writes (StatsTrack format), with kazoo. A
    # new zookeeper_stats node is filled with the subtree's usage at once.
    zk.create(QUOTA + root + "/zookeeper_limits", b"count=4,bytes=20", makepath=True)
    zk.create(QUOTA + root + "/zookeeper_stats", b"count=0,bytes=0")
    expect("after setting the quota", stats(zk, root), "count=2,bytes=8")
    zk.create(root + "/b", b"xy")
    expect("after a create below it", stats(zk, root), "count=3,bytes=10")
    zk.set(root + "/a", b"1234567890")
    expect("after a setData", stats(zk, root), "count=3,bytes=15")
    zk.delete(root + "/b")
    expect("after a delete", stats(zk, root), "count=2,bytes=13")
    tx = zk.transaction()
    tx.create(root + "/t1", b"t")
    tx.create(root + "/t2", b"tt")
    tx.commit()
    expect("after a multi of two creates", stats(zk, root), "count=4,bytes=16")
    eph = zk.create(root + "/e", b"e", ephemeral=True)
    expect("past the soft count limit (only a warning)", stats(zk, root), "count=5,bytes=17")
    zk.delete(eph)
    expect("after deleting it", stats(zk, root), "count=4,bytes=16")
    limits, _ = zk.get(QUOTA + root + "/zookeeper_limits")
    expect("the limits node", limits.decode(), "count=4,bytes=20")
    # Cleanup, children first, quota nodes too.
    zk.delete(root, recursive=True)
    zk.delete(QUOTA + root, recursive=True)
    zk.stop()
    if failures:
        print("FAIL " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
