"""Write a synthetic Apache ZooKeeper snapshot, for measuring `zkd import`.

Why a generator: the import benchmark needs a dataDir with a million znodes, and
making ZooKeeper create them one request at a time takes far longer than the thing
measured. This writes the same bytes ZooKeeper's FileSnap would (header, sessions,
ACL cache, nodes in pre-order with the root as "", the Adler32 seal), independently
of zkd's own writer, so it also cross-checks zkd's reader. Apache ZooKeeper 3.8
loads the result (see docs/benchmarks.md, "Migration").

    python3 gen_zk_snapshot.py DATADIR ZNODES [DATA_BYTES]

Shape: /bench/g<i>/n<j> with 1000 children per group, DATA_BYTES (default 100) of
data each, every 10th node with a digest ACL, 100 live sessions each owning one
ephemeral /live/e<k>. The snapshot is DATADIR/version-2/snapshot.<zxid>, with zxid =
the number of znodes created (as if each took one txn).
"""

import os
import struct
import sys
import zlib

MAGIC = 0x5A4B534E
OPEN = -1


def ustr(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def acl(perms, scheme, ident):
    return struct.pack(">i", perms) + ustr(scheme) + ustr(ident)


def stat(czxid, mzxid, ctime, mtime, version, cversion, aversion, owner, pzxid):
    return struct.pack(">qqqqiiiqq", czxid, mzxid, ctime, mtime, version, cversion,
                       aversion, owner, pzxid)


class Out:
    def __init__(self, f):
        self.f = f
        self.adler = 1
        self.buf = []
        self.size = 0

    def write(self, b):
        self.buf.append(b)
        self.size += len(b)
        if self.size > 1 << 20:
            self.flush()

    def flush(self):
        data = b"".join(self.buf)
        self.adler = zlib.adler32(data, self.adler)
        self.f.write(data)
        self.buf, self.size = [], 0


def main():
    datadir, n = sys.argv[1], int(sys.argv[2])
    data_len = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    group = 1000
    groups = (n + group - 1) // group
    sessions = [(0x0100_0000_0000_0000 | (i + 1), 30000) for i in range(100)]
    t0 = 1_700_000_000_000
    zxid = 0

    def nz():
        nonlocal zxid
        zxid += 1
        return zxid

    v2 = os.path.join(datadir, "version-2")
    os.makedirs(v2, exist_ok=True)
    tmp = os.path.join(v2, "snapshot.tmp")
    with open(tmp, "wb") as f:
        o = Out(f)
        o.write(struct.pack(">iiq", MAGIC, 2, -1))
        o.write(struct.pack(">i", len(sessions)))
        for sid, to in sessions:
            o.write(struct.pack(">qi", sid, to))
        # ACL cache: 1 = READ_ACL_UNSAFE (/zookeeper/config), 2 = a digest user
        o.write(struct.pack(">i", 2))
        o.write(struct.pack(">q", 1) + struct.pack(">i", 1) + acl(1, "world", "anyone"))
        o.write(struct.pack(">q", 2) + struct.pack(">i", 1)
                + acl(31, "digest", "bench:EGYD2dNYhBJRKWmm1K6B3RL9LUo="))

        def node(path, data, aref, st):
            o.write(ustr(path))
            o.write(struct.pack(">i", len(data)) + data)
            o.write(struct.pack(">q", aref))
            o.write(st)

        payload = (b"0123456789abcdef" * (data_len // 16 + 1))[:data_len]
        # zxids are assigned in creation order: /bench, groups, nodes, /live, ephemerals
        bench_z = nz()
        group_z = [nz() for _ in range(groups)]
        node_z0 = zxid + 1
        zxid += n
        live_z = nz()
        eph_z = [nz() for _ in sessions]
        last = zxid
        node("", b"", OPEN, stat(0, 0, 0, 0, 0, 2, 0, 0, live_z))
        node("/bench", b"", OPEN, stat(bench_z, bench_z, t0, t0, 0, groups, 0, 0, group_z[-1]))
        i = 0
        for g in range(groups):
            k = min(group, n - i)
            gz = group_z[g]
            node("/bench/g%d" % g, b"", OPEN,
                 stat(gz, gz, t0 + gz, t0 + gz, 0, k, 0, 0, node_z0 + i + k - 1))
            # ZooKeeper writes children in its HashSet order; any order works as long
            # as parents come first
            for j in range(k):
                z = node_z0 + i
                node("/bench/g%d/n%d" % (g, j), payload, 2 if i % 10 == 0 else OPEN,
                     stat(z, z, t0 + z, t0 + z, 0, 0, 0, 0, z))
                i += 1
        node("/live", b"", OPEN, stat(live_z, live_z, t0, t0, 0, len(sessions), 0, 0, eph_z[-1]))
        for k, (sid, _) in enumerate(sessions):
            z = eph_z[k]
            node("/live/e%d" % k, b"member", OPEN, stat(z, z, t0 + z, t0 + z, 0, 0, 0, sid, z))
        node("/zookeeper", b"", OPEN, stat(0, 0, 0, 0, 0, 0, 0, 0, 0))
        node("/zookeeper/config", b"", 1, stat(0, 0, 0, 0, 0, 0, -1, 0, 0))
        node("/zookeeper/quota", b"", OPEN, stat(0, 0, 0, 0, 0, 0, 0, 0, 0))
        o.write(ustr("/"))
        o.flush()
        f.write(struct.pack(">q", o.adler) + ustr("/"))
    os.rename(tmp, os.path.join(v2, "snapshot.%x" % last))
    print("wrote %s/snapshot.%x: %d znodes" % (v2, last, n + groups + len(sessions) + 6))


if __name__ == "__main__":
    main()
