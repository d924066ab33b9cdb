#!/usr/bin/env python3
"""runner.py — differential runner: the same random operation sequences against
Apache ZooKeeper (the reference) and zkd, over the raw wire protocol, compared.

Why it exists: the Java/C/kazoo checks run fixed scenarios.  This runner
explores: a seeded generator produces sequences of operations by several
sessions over a small path space, the sequence runs against both servers, and
every reply (error code, response fields, full Stat), every connect response and
every watch notification is compared after normalizing only what must differ.
A mismatch is shrunk (delta debugging) to a minimal reproduction.

    runner.py --zk HOST:PORT --zkd HOST:PORT [--seeds N] [--start S] [--ops K]
    runner.py --zk HOST:PORT --zkd HOST:PORT --replay repro.json
    runner.py --selftest            (see selftest.py; needs no server)

Exit status: 0 all seeds agree; 1 a mismatch (known or new); 2 usage/connection
error, or a server that reports a version older than 3.9.3 (refused, see below).

What is generated, what is normalized and why: see docs/compatibility.md
("Differential runner") and the comments below.  In short:

* Every sequence runs under its own fresh root znode (/diff-<run>-<seed>, created
  and finally deleted by a short-lived admin session authenticated as super), so
  one server can serve many seeds; seeds run one after another, and every
  session is closed explicitly, so no background transaction (session expiry,
  container reaping, TTL expiry) can slip between two operations.
* One operation at a time, across 3-4 sessions chosen by the seed.  After each
  operation a barrier (exists("/") on every session) collects the notifications
  each session received; per session they are kept in arrival order.
* Normalized in both transcripts: zxids (by order of first appearance), times
  (as "the time of txn zN", see render_time), session ids (by session index).
* Canonical order for collections that ZooKeeper takes from a Java hash set
  (children, getEphemerals, whoAmI, the ephemerals a closing session deletes):
  these are compared sorted.  This is not a behaviour normalization; zkd sorts
  them (src/tree/read.rs) and the protocol leaves their order unspecified.
* No behaviour is normalized.  The reference is Apache ZooKeeper 3.9.5
  (compat-tests/servers.sh start_zk), a 3.9 server like the one zkd claims to be,
  so both transcripts are compared as they came off the wire.  A server that
  reports a version older than 3.9.3 is refused: it lacks some of the five
  deliberate 3.9 changes (zk-protocol.md version note: notification zxids, exists
  needing READ, READ-filtered events, the top-level check, several watch modes
  per path), and the runner no longer translates a pre-3.9 transcript (it did
  while the reference was Debian's 3.8.0).
"""

import argparse
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zkwire  # noqa: E402
from zkwire import (Client, ConnectionClosed, ProtocolError, digest_id,  # noqa: E402
                    err_name, java_session_passwd)

# ======================================================================== known failures
# Mismatches between Apache ZooKeeper and zkd that are understood and not yet fixed
# in zkd.  They still fail the run (exit 1); the report labels them with their id.
# Each entry: id, what zkd gets wrong, and a matcher on the first differing step.
# Keep this list in step with docs/compatibility.md ("Differential runner").
def _step_lines(lines, k):
    return [l for kk, l in lines if kk == k]


def _kf_reconnect_badpw(la, lb, i):
    k = diff_step(la, lb, i)
    a, b = _step_lines(la, k), _step_lines(lb, k)
    return (bool(a) and "reconnect how=badpw" in a[0]
            and any("connection lost" in l for l in a)
            and not any("connection lost" in l for l in b))


def _kf_multiread_error_body(la, lb, i):
    k = diff_step(la, lb, i)
    a, b = _step_lines(la, k), _step_lines(lb, k)
    return (bool(a) and bool(b) and " multiRead " in a[0]
            and "-> MARSHALLINGERROR results=[]" in a[0]
            and "-> MARSHALLINGERROR @" in b[0])


KNOWN_FAILURES = [
    {
        # Found by this runner (minimal reproduction: one op, `reconnect how=badpw`).
        # ZooKeeperServer.processConnectRequest (3.8.0 and 3.9.3 alike) closes every
        # connection bound to the requested session id (DisconnectReason
        # CLIENT_RECONNECT) *before* it checks the password, then answers the
        # invalid-session ConnectResponse (timeout 0, session 0) and closes the new
        # connection.  zkd answers the same ConnectResponse but leaves the session's
        # existing connection open.  zk-protocol.md section 2, step 6.
        "id": "KF1",
        "what": "connect with a live session's id and a wrong password: ZooKeeper first "
                "closes the session's current connection, zkd leaves it open",
        "match": _kf_reconnect_badpw,
    },
    {
        # Found by this runner (minimal reproduction: one op,
        # `multiRead [check R/d version=-1]`).  A multiRead whose ops are all
        # write-kind ops (check/create/delete/setData) decodes fine, so
        # FinalRequestProcessor (3.8.0 and 3.9.3 alike) has already set
        # rsp = new MultiResponse() when it throws "Invalid type of readOp"; the
        # reply is MARSHALLINGERROR *with* that empty MultiResponse as body (the
        # 9-byte terminator ffffffff 01 ffffffff).  zkd sends the header only.
        # (A multiRead mixing read and write ops fails while decoding, before rsp
        # exists: header only on both servers.)
        "id": "KF2",
        "what": "multiRead of write-kind ops only: ZooKeeper answers MARSHALLINGERROR with an "
                "empty MultiResponse body, zkd with the header only",
        "match": _kf_multiread_error_body,
    },
]

# ======================================================================== path space
# Paths are relative to the sequence's root R ("" is R itself).  Containers are
# only ever created at leaf paths that never get children (CONTAINER_OK): an empty
# container that once had a child is reaped by the server's background task
# (every second here), which would make outcomes timing-dependent.  TTL nodes get
# a TTL of 10^9 ms (11.6 days) so they never expire during a run.
PATHS = ["", "a", "a/b", "a/b/c", "d", "d/e", "k", "a/k", "@seq", "x/y",
         # not canonical: a trailing slash (valid for a sequential create), an empty
         # component, "." and "..", a NUL character
         "a/", "a//b", "a/.", "a/b/..", "a\u0000b", "d/\u00e9t\u00e9"]
PATH_WEIGHTS = [4, 10, 9, 5, 8, 6, 5, 4, 5, 1,
                0.5, 0.5, 0.3, 0.3, 0.3, 0.5]
# read-only ops also look at the fixed system nodes (never written: they are shared
# by all sequences)
SYSTEM_PATHS = ["/zookeeper", "/zookeeper/config", "/zookeeper/quota"]
CONTAINER_OK = ["k", "a/k"]
SEQ_PARENTS = ["", "a", "d"]
TTL = 10 ** 9
CREATE_OPS = ("create", "create2", "createContainer", "createTTL")

# "big:N" is N bytes: 1048000 still fits ZooKeeper's default jute.maxbuffer
# (0xfffff) in one request frame; 1048600 does not (the server closes the connection)
DATA = [None, "", "v1", "hello world", "x" * 3000, "\u00e9t\u00e9", "hex:00ff80fe",
        "big:1048000", "big:1048600"]
DATA_WEIGHTS = [3, 3, 6, 4, 1, 1, 1, 0.03, 0.03]
VERSIONS = [-1, -1, -1, 0, 0, 1, 2]

USERS = {"u1": "pw1", "u2": "pw2"}
D1 = digest_id("u1", "pw1")
D2 = digest_id("u2", "pw2")
ACLS = {
    "OPEN": [(31, "world", "anyone")],
    "READ": [(1, "world", "anyone")],
    "NOREAD": [(30, "world", "anyone")],            # everything but READ
    "U1": [(31, "digest", D1)],
    "U1+READ": [(31, "digest", D1), (1, "world", "anyone")],
    "U2R+CD": [(1, "digest", D2), (12, "world", "anyone")],   # u2 reads; anyone creates/deletes
    "AUTH": [(31, "auth", "")],
    "BADSCHEME": [(31, "foo", "bar")],
    "EMPTY": [],
    "IPLOCAL": [(31, "ip", "127.0.0.1")],                   # every session has ip:127.0.0.1
    "IPOTHER+READ": [(31, "ip", "10.0.0.0/8"), (1, "world", "anyone")],
    "WORLDNOBODY": [(31, "world", "nobody")],
    "BADDIGEST": [(31, "digest", "u1")],
    "ZEROPERMS": [(0, "world", "anyone")],
    "DUP": [(31, "world", "anyone"), (31, "world", "anyone")],   # stored once
}
ACL_NAMES = list(ACLS)
ACL_WEIGHTS = [40, 6, 8, 6, 5, 5, 5, 1, 1, 2, 2, 0.5, 0.5, 0.5, 1]
ACL_BY_VALUE = {json.dumps(v): k for k, v in ACLS.items()}
AUTHS = [("digest", "u1:pw1"), ("digest", "u2:pw2"), ("digest", "u1:bad"),
         ("ip", "127.0.0.1"), ("foo", "x"), ("digest", "super:test")]
AUTHS.append(("digest", "nocolon"))
AUTH_WEIGHTS = [8, 6, 2, 1, 1, 0.7, 0.3]

IO_TIMEOUT = 10.0
CHECK_WAIT = 0.3      # how long to wait for an answer to a top-level check


# ======================================================================== generator

def gen_ops(seed, n_ops, without=()):
    """The seeded operation sequence: a list of JSON-able dicts {s: slot, op: name, ...};
    ops[0] says how many sessions to open.  Paths are relative to the root; "@seq" is
    the newest sequential node created.  The generator keeps an optimistic guess of
    which paths exist (as if its creates and deletes succeeded) only to pick
    productive paths more often; the servers' answers never influence it."""
    rng = random.Random(seed)
    n_sessions = rng.choice([3, 4])
    ops = [{"op": "sessions", "n": n_sessions}]
    live = {""}            # guessed existing paths
    eph = {}               # guessed ephemeral path -> slot

    def parent(p):
        return p.rpartition("/")[0]

    def any_path():
        return rng.choices(PATHS, PATH_WEIGHTS)[0]

    def data():
        return rng.choices(DATA, DATA_WEIGHTS)[0]

    def rpath():
        """A path for read-only ops: sometimes a system node."""
        if rng.random() < 0.05:
            return rng.choice(SYSTEM_PATHS)
        return path()

    def path():
        """A path for reads, writes and deletes: mostly one that probably exists."""
        r = rng.random()
        cands = sorted(live - {""})
        if r < 0.7 and cands:
            return rng.choice(cands)
        return any_path()

    def create_path():
        r = rng.random()
        cands = [p for p in PATHS if p not in live and p not in ("@seq",)
                 and parent(p) in live and parent(p) not in eph]
        if r < 0.75 and cands:
            return rng.choice(cands)
        return any_path()

    def acl():
        return rng.choices(ACL_NAMES, ACL_WEIGHTS)[0]

    def well_formed_create():
        r = rng.random()
        if r < 0.65:
            kind = "create"
            flags = rng.choices([0, 1, 2, 3], [30, 15, 10, 8])[0]
        elif r < 0.8:
            kind, flags = "createContainer", 4
        else:
            kind, flags = "createTTL", rng.choice([5, 5, 6])
        return kind, flags

    def create_op(top=True):
        kind, flags = well_formed_create()
        if top:
            if kind == "create" and rng.random() < 0.5:
                kind = "create2"
            if rng.random() < 0.06:    # odd combinations, all answered deterministically
                kind, flags = rng.choice([("create", 5), ("createTTL", 0), ("create2", 4),
                                          ("createTTL", 1), ("create", 7)])
        if flags == 4:
            p = rng.choice(CONTAINER_OK)
        elif flags in (2, 3, 6):
            p = rng.choice(SEQ_PARENTS) + "/s-"
            p = p.lstrip("/")
            if rng.random() < 0.05:
                p = "a/"            # empty prefix: the name is just the counter
        else:
            p = create_path()
        o = {"op": kind, "path": p, "flags": flags, "data": data(), "acl": acl()}
        if kind == "createTTL":
            o["ttl"] = TTL if (not top or rng.random() < 0.9) else 0
        return o

    def note(o, slot):
        """Update the guess as if o succeeded."""
        name = o["op"]
        if name in CREATE_OPS and o["flags"] not in (2, 3, 6) and o["flags"] in (0, 1, 4, 5) \
                and parent(o["path"]) in live and o["path"] != "@seq":
            live.add(o["path"])
            if o["flags"] == 1:
                eph[o["path"]] = slot
        elif name == "delete" and not any(parent(p) == o["path"] for p in live):
            live.discard(o["path"])
            eph.pop(o["path"], None)
        elif name == "close":
            for p in [p for p, s in eph.items() if s == slot]:
                live.discard(p)
                del eph[p]

    def sub_write():
        # Inside multi only well-formed creates (opcode create with flags 0-3,
        # createContainer with 4, createTTL with 5/6 and a valid TTL).  The limit
        # dates from the 3.8.0 reference, which decoded a multi's create by its
        # flags where 3.9 uses its opcode (ZOOKEEPER-4026).  Both servers are 3.9
        # now; it is kept so that every seed still generates the sequence it always
        # did (saved reproductions and reported seed numbers stay valid).  Lifting
        # it is a generator change of its own.
        r = rng.random()
        if r < 0.4:
            return create_op(top=False)
        if r < 0.6:
            return {"op": "delete", "path": path(), "version": rng.choice(VERSIONS)}
        if r < 0.85:
            return {"op": "setData", "path": path(), "data": data(),
                    "version": rng.choice(VERSIONS)}
        return {"op": "check", "path": path(), "version": rng.choice(VERSIONS)}

    def coherent_multi():
        """Ops that build on each other inside one multi (create a node and a child,
        set it, delete again), so that more multis are applied."""
        cands = [p for p in ("a", "d", "a/b", "d/e") if p not in live and parent(p) in live]
        p = rng.choice(cands) if cands else rng.choice(["a", "d"])
        kind, flags = rng.choice([("create", 0), ("create", 0), ("createTTL", 5)])
        c1 = {"op": kind, "path": p, "flags": flags, "data": data(), "acl": "OPEN"}
        if kind == "createTTL":
            c1["ttl"] = TTL
        subs = [c1]
        if rng.random() < 0.7:
            subs.append({"op": "create", "path": p + "/s-", "flags": rng.choice([2, 3]),
                         "data": data(), "acl": rng.choice(["OPEN", "OPEN", "READ"])})
        if rng.random() < 0.5:
            subs.append({"op": "setData", "path": p, "data": data(),
                         "version": rng.choice([-1, 0, 0, 1])})
        if rng.random() < 0.3:
            subs.append({"op": "check", "path": p, "version": rng.choice([-1, 0, 1])})
        if rng.random() < 0.25:
            subs.append({"op": "delete", "path": p, "version": -1})   # NOTEMPTY if it has a child
        return subs

    def multi_op():
        r = rng.random()
        if r < 0.03:
            return {"op": "multi", "ops": []}
        if r < 0.06:      # a read inside multi (only multiRead may have them)
            subs = [sub_write(), {"op": "getData", "path": path(), "watch": False}]
            rng.shuffle(subs)
            return {"op": "multi", "ops": subs}
        if rng.random() < 0.4:
            subs = coherent_multi()
            if rng.random() < 0.2:
                subs.insert(rng.randint(1, len(subs)),
                            {"op": "check", "path": path(), "version": 99})
            return {"op": "multi", "ops": subs}
        n = rng.randint(1, 4)
        subs = [sub_write() for _ in range(n)]
        if n >= 2 and rng.random() < 0.4:
            # a failing op in the middle: a check of a version no node reaches here
            subs.insert(rng.randint(1, n - 1), {"op": "check", "path": path(), "version": 99})
        return {"op": "multi", "ops": subs}

    def set_acl():
        p = path()
        a = acl()
        if p == "" and rng.random() < 0.7:     # a closed root ends most sequences early
            a = "OPEN"
        return {"op": "setACL", "path": p, "acl": a, "version": rng.choice([-1, -1, 0, 1])}

    def delete():
        cands = sorted(p for p in live if p and not any(parent(q) == p for q in live))
        p = rng.choice(cands) if cands and rng.random() < 0.7 else path()
        return {"op": "delete", "path": p, "version": rng.choice(VERSIONS)}

    table = [
        (22, create_op),
        (9, delete),
        (10, lambda: {"op": "setData", "path": path(), "data": data(),
                      "version": rng.choice(VERSIONS)}),
        (8, lambda: {"op": "exists", "path": rpath(), "watch": rng.random() < 0.7}),
        (8, lambda: {"op": "getData", "path": rpath(), "watch": rng.random() < 0.7}),
        (5, lambda: {"op": "getChildren", "path": rpath(), "watch": rng.random() < 0.7}),
        (4, lambda: {"op": "getChildren2", "path": rpath(), "watch": rng.random() < 0.7}),
        (3, lambda: {"op": "getACL", "path": rpath()}),
        (5, set_acl),
        (4, lambda: dict(zip(("scheme", "auth"), rng.choices(AUTHS, AUTH_WEIGHTS)[0]),
                         op="addAuth")),
        (7, multi_op),
        (3, lambda: {"op": "multiRead", "ops": [
            {"op": rng.choice(["getData", "getChildren"]), "path": rpath(),
             "watch": rng.random() < 0.3} for _ in range(rng.randint(0, 3))] + (
            # a write inside multiRead
            [{"op": "check", "path": path(), "version": -1}] if rng.random() < 0.04 else [])}),
        (6, lambda: {"op": "addWatch", "path": rpath(), "mode": rng.choice([0, 1])}),
        (4, lambda: {"op": "removeWatches", "path": rpath(), "type": rng.randint(1, 5)}),
        (2, lambda: {"op": "checkWatches", "path": rpath(), "type": rng.randint(1, 5)}),
        (1, lambda: {"op": "sync", "path": path()}),
        (2, lambda: {"op": "getEphemerals", "path": rng.choice(["", "", "a", "a/", "d", "/"])}),
        (1, lambda: {"op": "getAllChildrenNumber", "path": rpath()}),
        (1, lambda: {"op": "whoAmI"}),
        (2, lambda: {"op": "close"}),
        (0.4, lambda: {"op": "topCheck", "path": path(), "version": rng.choice(VERSIONS)}),
        (0.5, lambda: {"op": "ping"}),
        # a new connection for a session: the same session re-attached (watches and
        # auth ids belong to the connection and are lost); a wrong password (answered
        # with an invalid session; ZooKeeper closes the session's current connection
        # first); the id of a session closed earlier (invalid session)
        (1, lambda: {"op": "reconnect", "how": rng.choice(["same", "same", "badpw", "dead"])}),
        # re-attach and re-register watches the way clients do after a reconnect:
        # setWatches (setWatches2 with persistent ones), relative to the last zxid
        # this connection saw in a reply to its own requests
        (1.5, lambda: dict({"op": "reconnect", "how": "setwatches"}, **{
            k: sorted(set(rpath() for _ in range(rng.choice([0, 0, 1, 2]))))
            for k in ("dw", "ew", "cw")}, **{
            k: sorted(set(rpath() for _ in range(rng.choice([0, 0, 0, 1]))))
            for k in ("pw", "rw")})),
    ]
    weights = [w for w, _ in table]
    makers = [m for _, m in table]

    for _ in range(n_ops):
        o = rng.choices(makers, weights)[0]()
        o["s"] = rng.randrange(n_sessions)
        if excluded(o, without):
            continue
        if o["op"] == "multi":
            for so in o["ops"]:
                note(so, o["s"])
        else:
            note(o, o["s"])
        ops.append(o)
    return ops


# ======================================================================== executor

class Executor:
    """Runs one op sequence against one server and records the raw transcript:
    a list of step dicts {n, s, sess, op, res, ev: {sess: [event...]}, conn: [...]}.
    Values are raw (zxids, times, session ids as sent); render() normalizes."""

    def __init__(self, host, port, root, io_timeout=IO_TIMEOUT):
        self.host, self.port, self.root = host, port, root
        self.io_timeout = io_timeout
        self.clients = {}         # slot -> Client
        self.sess_of_slot = {}    # slot -> session index
        self.sid_index = {}       # raw session id -> session index
        self.next_index = 0
        self.seq_paths = []       # sequential nodes created, newest last
        self.last_zxid = None     # the server's last zxid, as of the last barrier
        self.closed = []          # (session id, passwd) of sessions closed so far
        self.interference = []    # steps after which the server's zxid moved unexpectedly
        # nodes whose ACL came from the "auth" scheme: ZooKeeper expands it in the
        # order of the connection's auth ids, a set backed by a ConcurrentHashMap,
        # so the order of those entries is compared sorted (see fmt_res)
        self.auth_acl = set()
        self.steps = []

    # -- paths
    def abs(self, rel):
        if rel == "@seq":
            return self.seq_paths[-1] if self.seq_paths else self.root + "/nosuch"
        if rel.startswith("/"):
            return rel
        return self.root + ("/" + rel if rel else "")

    def note_acl(self, path, acl_name):
        if acl_name == "AUTH":
            self.auth_acl.add(path)
        else:
            self.auth_acl.discard(path)

    def note_seq(self, flags, path):
        if flags in (2, 3, 6) and path:
            self.seq_paths.append(path)

    # -- sessions
    def _connect(self, slot, reattach=False):
        old = self.clients.get(slot)
        if reattach:
            c = Client(self.host, self.port, session_id=old.session_id, passwd=old.passwd,
                       io_timeout=self.io_timeout)
        else:
            c = Client(self.host, self.port, io_timeout=self.io_timeout)
            idx = self.next_index
            self.next_index += 1
            self.sid_index[c.session_id] = idx
            self.sess_of_slot[slot] = idx
        self.clients[slot] = c
        return {"what": "reattach" if reattach else "open", "sess": self.sess_of_slot[slot],
                "resp": c.connect_response}

    def admin(self):
        c = Client(self.host, self.port, io_timeout=self.io_timeout)
        c.add_auth("digest", b"super:test")
        return c

    def setup(self):
        c = self.admin()
        r = c.create(self.root, b"", ACLS["OPEN"], 0)
        c.close_session()
        if r["err"] != 0:
            raise RuntimeError("cannot create root %s: %s" % (self.root, err_name(r["err"])))

    def cleanup(self):
        """Delete the root recursively as super (best effort: ACLs set by the
        sequence do not stop super)."""
        try:
            c = self.admin()
        except OSError:
            return False
        ok = True

        def rm(p):
            nonlocal ok
            r = c.get_children(p)
            for ch in r.get("children") or []:
                rm(p + "/" + ch)
            d = c.delete(p)
            if d["err"] not in (0, -101):
                ok = False
        try:
            rm(self.root)
            c.close_session()
        except (ConnectionClosed, ProtocolError, OSError):
            ok = False
        return ok

    # -- the barrier: collect every notification triggered by the last op
    def barrier(self, step):
        for slot in sorted(self.clients):
            c = self.clients[slot]
            try:
                self.last_zxid = c.call(zkwire.OP["exists"], zkwire.path_watch("/", False),
                                        zkwire.dec_stat, track=False)["zxid"]
            except (ConnectionClosed, ProtocolError, OSError) as e:
                self.collect(step, slot)
                step.setdefault("conn", []).append(
                    {"what": "lost", "sess": self.sess_of_slot[slot], "why": exc_kind(e)})
                c.close()
                step["conn"].append(self._connect(slot, reattach=True))
            self.collect(step, slot)

    def collect(self, step, slot):
        evs = self.clients[slot].take_events()
        if evs:
            step["ev"].setdefault(self.sess_of_slot[slot], []).extend(evs)

    # -- one op
    def run_op(self, n, o):
        slot = o["s"]
        c = self.clients[slot]
        step = {"n": n, "s": slot, "sess": self.sess_of_slot[slot], "op": o, "ev": {},
                "zxid_before": self.last_zxid}
        self.steps.append(step)
        name = o["op"]
        if name == "reconnect" and o["how"] in ("same", "setwatches"):
            step["rel"] = c.last_zxid
            c.close()
            cr = self._connect(slot, reattach=True)
            cr["before"] = True
            step.setdefault("conn", []).append(cr)
            c = self.clients[slot]
        try:
            step["res"] = self.send(c, o, step)
        except (ConnectionClosed, ProtocolError, OSError) as e:
            step["res"] = {"exc": exc_kind(e)}
        if name == "close":
            self.collect(step, slot)     # the closing session's own events
            self.closed.append((c.session_id, c.passwd))
            step.setdefault("conn", []).append(self._connect(slot))
        elif name == "topCheck":
            # Whatever the answer, the connection is dropped and the session
            # re-attached (3.9 answers UNIMPLEMENTED and closes the connection).
            self.collect(step, slot)
            c.close()
            step.setdefault("conn", []).append(self._connect(slot, reattach=True))
        self.barrier(step)
        self.check_quiet(step)
        return step

    def check_quiet(self, step):
        """Nobody else may write to the server during a run (the zxids that replies
        carry would move).  After a plain op, the server's last zxid (as of the
        barrier) must be the op's own zxid, or the one before it for a read."""
        res = step.get("res", {})
        if step.get("conn") or "exc" in res or step["op"]["op"] in ("close", "reconnect",
                                                                      "topCheck"):
            return
        z = res.get("zxid")
        expect = z if z not in (None, 0, -1) else step.get("zxid_before")
        if expect is not None and self.last_zxid is not None and self.last_zxid != expect:
            self.interference.append((step["n"], expect, self.last_zxid))

    def send(self, c, o, step):
        name = o["op"]
        p = self.abs(o.get("path", ""))
        data = op_data(o.get("data"))
        if name in ("create", "create2", "createContainer", "createTTL"):
            r = c.create(p, data, ACLS[o["acl"]], o["flags"], op=name,
                         ttl=o.get("ttl") if name == "createTTL" else None)
            if r["err"] == 0:
                self.note_seq(o["flags"], r.get("path"))
                self.note_acl(r.get("path"), o["acl"])
            return r
        if name == "delete":
            r = c.delete(p, o["version"])
            if r["err"] == 0:
                self.auth_acl.discard(p)
            return r
        if name == "setData":
            return c.set_data(p, data, o["version"])
        if name == "exists":
            return c.exists(p, o["watch"])
        if name == "getData":
            return c.get_data(p, o["watch"])
        if name == "getChildren":
            return c.get_children(p, o["watch"])
        if name == "getChildren2":
            return c.get_children2(p, o["watch"])
        if name == "getACL":
            r = c.get_acl(p)
            if r["err"] == 0 and p in self.auth_acl:
                r["acl_unordered"] = True
            return r
        if name == "setACL":
            r = c.set_acl(p, ACLS[o["acl"]], o["version"])
            if r["err"] == 0:
                self.note_acl(p, o["acl"])
            return r
        if name == "addAuth":
            return c.add_auth(o["scheme"], o["auth"].encode())
        if name in ("multi", "multiRead"):
            subs = []
            for so in o["ops"]:
                a = dict(so)
                a["path"] = self.abs(so["path"])
                a["data"] = op_data(so.get("data"))
                if "acl" in so:
                    a["acl"] = ACLS[so["acl"]]
                subs.append((multi_create_kind(so), a))
            r = c.multi(subs) if name == "multi" else c.multi_read(subs)
            applied = all(x.get("type") != -1 for x in r.get("results") or [])
            for so, (_, a), res in zip(o["ops"], subs, r.get("results") or []):
                if not applied or name != "multi":
                    break
                if so["op"].startswith("create"):
                    self.note_seq(so["flags"], res.get("path"))
                    self.note_acl(res.get("path"), so["acl"])
                elif so["op"] == "delete":
                    self.auth_acl.discard(a["path"])
            return r
        if name == "addWatch":
            return c.add_watch(p, o["mode"])
        if name == "removeWatches":
            return c.remove_watches(p, o["type"])
        if name == "checkWatches":
            return c.check_watches(p, o["type"])
        if name == "sync":
            return c.sync(p)
        if name == "getEphemerals":
            pre = o["path"] if o["path"].startswith("/") else \
                self.root + ("/" + o["path"] if o["path"] else "")
            return c.get_ephemerals(pre)
        if name == "getAllChildrenNumber":
            return c.get_all_children_number(p)
        if name == "whoAmI":
            return c.who_am_i()
        if name == "close":
            return c.close_session()
        if name == "ping":
            return c.ping()
        if name == "reconnect":
            if o["how"] == "same":
                return {"err": 0}      # the re-attach itself is recorded by run_op
            if o["how"] == "setwatches":
                ab = self.abs
                return c.set_watches(step["rel"], [ab(p) for p in o["dw"]],
                                     [ab(p) for p in o["ew"]], [ab(p) for p in o["cw"]],
                                     [ab(p) for p in o["pw"]], [ab(p) for p in o["rw"]])
            if o["how"] == "badpw":
                sid, pw = c.session_id, bytes(16 - i for i in range(16))
            else:
                sid, pw = self.closed[-1] if self.closed else (0x7e57ab1e, b"\0" * 16)
            try:
                other = Client(self.host, self.port, session_id=sid, passwd=pw,
                               io_timeout=self.io_timeout)
            except (ConnectionClosed, ProtocolError, OSError) as e:
                return {"exc": exc_kind(e)}
            step["other"] = other.connect_response
            try:       # an invalid session's connection is closed by the server
                other.sock.settimeout(CHECK_WAIT)
                other._recv_exact(1)
                after = "more data"
            except ConnectionClosed:
                after = "closed"
            except ProtocolError:
                after = "open"
            other.close()
            return {"err": 0, "after": after}
        if name == "topCheck":
            saved = c.sock.gettimeout()
            c.sock.settimeout(CHECK_WAIT)
            try:
                r = c.check(p, o["version"])
            except ProtocolError:
                return {"exc": "no answer"}
            try:                                  # does the server close after it?
                c._recv_exact(1)
                r["after"] = "more data"
            except ConnectionClosed:
                r["after"] = "closed"
            except ProtocolError:
                r["after"] = "open"
            c.sock.settimeout(saved)
            return r
        raise ValueError("unknown op %r" % name)

    def run(self, ops):
        """Run the whole sequence; returns the raw transcript (list of steps)."""
        self.setup()
        try:
            n_sessions = ops[0]["n"]
            opening = {"n": 0, "s": None, "sess": None, "op": {"op": "sessions", "n": n_sessions},
                       "ev": {}, "conn": []}
            self.steps.append(opening)
            for slot in range(n_sessions):
                opening["conn"].append(self._connect(slot))
            self.barrier(opening)
            for i, o in enumerate(ops[1:], 1):
                self.run_op(i, o)
            # close every session explicitly (recorded: ephemerals vanish, watches fire)
            for slot in range(n_sessions):
                st = {"n": "end", "s": slot, "sess": self.sess_of_slot[slot],
                      "op": {"op": "close", "s": slot}, "ev": {}}
                self.steps.append(st)
                try:
                    st["res"] = self.clients[slot].close_session()
                except (ConnectionClosed, ProtocolError, OSError) as e:
                    st["res"] = {"exc": exc_kind(e)}
                self.collect(st, slot)
                del self.clients[slot]
                self.barrier(st)
        finally:
            for c in self.clients.values():
                c.close()
            self.cleanup()
        return self.steps


def op_data(s):
    if s is None:
        return None
    if s.startswith("hex:"):
        return bytes.fromhex(s[4:])
    if s.startswith("big:"):
        return b"b" * int(s[4:])
    return s.encode()


def excluded(o, without):
    """--without: leave out ops matching NAME or NAME:VALUE (an exploration aid, to
    look past a known failure; never used by run.sh)."""
    for w in without:
        name, _, val = w.partition(":")
        vals = [str(v) for v in o.values()] + [so["op"] for so in o.get("ops", [])]
        if o["op"] == name and (not val or val in vals):
            return True
        if o["op"] == "multi" and name != "multi" and any(excluded(so, [w]) for so in o["ops"]):
            return True
    return False


def multi_create_kind(so):
    """The opcode used for a create inside multi.  create2 (15) is never used
    there: 3.8.0 decayed it to create (no Stat in the result) where 3.8.4/3.9.0
    return its Stat (ZOOKEEPER-4026), so it was left out while 3.8.0 was the
    reference.  It stays left out for the reason given in gen_ops' sub_write:
    a seed keeps generating the same sequence."""
    if so["op"] in ("create", "create2"):
        return "create"
    return so["op"]


def exc_kind(e):
    if isinstance(e, ConnectionClosed):
        return "connection closed"
    if isinstance(e, ProtocolError):
        return "protocol: %s" % e
    return "%s: %s" % (type(e).__name__, e)


# ======================================================================== rendering

class Norm:
    """Per-transcript normalization state: zxids, times, session ids."""

    def __init__(self, sid_index, root):
        self.zx = {}
        self.ztime = {}
        self.sid_index = sid_index
        self.root = root
        self.now_ms = time.time() * 1000

    def z(self, v):
        """zxids by order of first appearance (0 and -1 are kept: they are not txns)."""
        if v in (0, -1):
            return str(v)
        if v not in self.zx:
            self.zx[v] = "z%d" % (len(self.zx) + 1)
        return self.zx[v]

    def t(self, ms, zxid):
        """A ctime/mtime is shown as the time *of its txn* (ctime of czxid, mtime of
        mzxid): t(z3).  Wall-clock values differ between servers and two txns may
        share a millisecond, so neither raw values nor their order can be compared;
        what is deterministic is that one txn has one time.  A time that differs
        from the one already seen for the same zxid, or that is not within a day
        of now, is shown raw and so mismatches."""
        if ms == 0 and zxid == 0:
            return "0"
        if abs(ms - self.now_ms) > 86400000:
            return "t?%d" % ms
        zn = self.z(zxid)
        seen = self.ztime.setdefault(zxid, ms)
        return "t(%s)" % zn if seen == ms else "t(%s)!%+dms" % (zn, ms - seen)

    def sid(self, v):
        if v == 0:
            return "0"
        if v in self.sid_index:
            return "S%d" % self.sid_index[v]
        return "sid?%x" % v

    def path(self, p):
        if p is None:
            return "null"
        if p == self.root or p.startswith(self.root + "/"):
            return "R" + p[len(self.root):]
        return p

    def stat(self, st):
        return ("{cz=%s mz=%s ct=%s mt=%s v=%d cv=%d av=%d eo=%s dl=%d nc=%d pz=%s}" % (
            self.z(st["czxid"]), self.z(st["mzxid"]), self.t(st["ctime"], st["czxid"]),
            self.t(st["mtime"], st["mzxid"]), st["version"], st["cversion"], st["aversion"],
            self.sid(st["ephemeralOwner"]), st["dataLength"], st["numChildren"],
            self.z(st["pzxid"])))


def fmt_data(b):
    if b is None:
        return "null"
    if len(b) > 64:
        return "<%d bytes sha1:%s>" % (len(b), hashlib.sha1(b).hexdigest()[:16])
    try:
        return json.dumps(b.decode())
    except UnicodeDecodeError:
        return "0x" + b.hex()


def fmt_acl(acl):
    if acl is None:
        return "null"
    return ACL_BY_VALUE.get(json.dumps([list(a) for a in acl]),
                            "[" + ",".join("%d:%s:%s" % tuple(a) for a in acl) + "]")


def fmt_op(o, norm=None, step=None):
    """One op as a readable line (paths relative to R)."""
    name = o["op"]
    if name == "sessions":
        return "open %d sessions" % o["n"]
    parts = [name]
    if "path" in o:
        p = o["path"]
        parts.append(p if p.startswith("/") else "R/" + p if p else "R")
    for k in ("flags", "ttl", "data", "acl", "version", "watch", "mode", "type", "scheme", "auth",
              "how", "dw", "ew", "cw", "pw", "rw"):
        if k in o and o[k] is not None:
            v = o[k]
            parts.append("%s=%s" % (k, json.dumps(v) if k == "data" else v))
        elif k == "data" and k in o:
            parts.append("data=null")
    if name in ("multi", "multiRead"):
        parts.append("[" + "; ".join(fmt_op(so) for so in o["ops"]) + "]")
    return " ".join(parts)


def fmt_res(r, n):
    """One reply: err name, decoded fields (normalized), reply zxid."""
    if "exc" in r:
        return r["exc"].upper()
    parts = [err_name(r["err"])]
    if "path" in r:
        parts.append("path=" + n.path(r["path"]))
    if "data" in r:
        parts.append("data=" + fmt_data(r["data"]))
    if "acl" in r:
        acl = r["acl"]
        if r.get("acl_unordered") and acl is not None:
            acl = sorted(acl)       # expanded from "auth": hash-set order in ZooKeeper
        parts.append("acl=" + fmt_acl(acl))
    if "children" in r:
        # a Java HashSet's order in ZooKeeper: compared as a set (sorted)
        parts.append("children=" + ("null" if r["children"] is None
                                     else "[" + ",".join(sorted(r["children"])) + "]"))
    if "ephemerals" in r:
        parts.append("ephemerals=" + ("null" if r["ephemerals"] is None else
                                      "[" + ",".join(sorted(n.path(p) for p in r["ephemerals"])) + "]"))
    if "total" in r:
        parts.append("total=%d" % r["total"])
    if "clientInfo" in r:
        # ServerCnxn.authInfo is a set backed by a ConcurrentHashMap: compared sorted
        ci = r["clientInfo"]
        parts.append("who=" + ("null" if ci is None else
                               "[" + ",".join(sorted("%s:%s" % x for x in ci)) + "]"))
    if "err_body" in r:
        parts.append("body.err=%d" % r["err_body"])
    if "stat" in r:
        parts.append("stat=" + n.stat(r["stat"]))
    if "results" in r:
        rs = []
        for x in r["results"]:
            s = "%s:%s" % (zkwire.OP_NAME.get(x["type"], x["type"]), err_name(x["err"]))
            sub = fmt_res(dict(x, zxid=None), n).split(" ", 1)
            if len(sub) > 1:
                s += " " + sub[1]
            rs.append(s)
        parts.append("results=[" + "; ".join(rs) + "]")
        if r.get("end") != (-1, -1):
            parts.append("end=%s" % (r.get("end"),))
    if "after" in r:
        parts.append("then " + r["after"])
    if "decode_error" in r:
        parts.append("DECODE-ERROR(%s)" % r["decode_error"])
    if "trailing" in r:
        parts.append("TRAILING(%s)" % r["trailing"])
    if r.get("zxid") is not None:
        parts.append("@" + n.z(r["zxid"]))
    return " ".join(parts)


def fmt_conn(c, n):
    if c["what"] == "lost":
        return "S%d connection lost (%s)" % (c["sess"], c["why"])
    r = c["resp"]
    pw = r["passwd"]
    pws = ("java(sid)" if pw == java_session_passwd(r["sessionId"])
           else "0x" + (pw.hex() if pw is not None else "null"))
    s = "%s S%d: proto=%d timeout=%d sid=%s passwd=%s" % (
        c["what"], c["sess"], r["protocolVersion"], r["timeOut"], n.sid(r["sessionId"]), pws)
    if "readOnly" in r:
        s += " ro=%s" % r["readOnly"]
    if "trailing" in r:
        s += " TRAILING(%s)" % r["trailing"]
    return s


def fmt_event(e, n):
    s = "%s %s state=%s" % (zkwire.EVENT_TYPE.get(e.get("type"), e.get("type")),
                            n.path(e.get("path")), e.get("state"))
    if e.get("err"):
        s += " err=%d" % e["err"]
    s += " @" + n.z(e["zxid"])
    for k in ("decode_error", "trailing"):
        if k in e:
            s += " %s(%s)" % (k.upper(), e[k])
    return s


def render(steps, sid_index, root):
    """Normalized transcript: a list of (step number, line)."""
    n = Norm(sid_index, root)
    lines = []
    for st in steps:
        k = st["n"]
        head = "#%s" % k
        if st["op"]["op"] != "sessions":
            head += " S%d %s" % (st["sess"], fmt_op(st["op"]))
            lines.append((k, head + " -> " + fmt_res(st.get("res", {"exc": "no result"}), n)))
        else:
            lines.append((k, head + " " + fmt_op(st["op"])))
        if "other" in st:
            lines.append((k, "#%s   %s" % (k, fmt_conn(
                {"what": "connect (%s)" % st["op"]["how"], "sess": st["sess"],
                 "resp": st["other"]}, n))))
        for c in st.get("conn", []):
            lines.append((k, "#%s   %s" % (k, fmt_conn(c, n))))
        for s in sorted(st["ev"]):
            evs = [fmt_event(e, n) for e in st["ev"][s]]
            if st["op"]["op"] == "close":
                # the closing session's ephemerals are deleted in a Java HashSet's
                # order in ZooKeeper (sorted in zkd): compared as a set
                evs.sort()
            for e in evs:
                lines.append((k, "#%s   event to S%d: %s" % (k, s, e)))
    return lines


# ======================================================================== running and comparing

def parse_hostport(s):
    h, _, p = s.rpartition(":")
    return (h or "127.0.0.1"), int(p)


def server_version(host, port):
    """The version the server reports through the `srvr` four-letter word."""
    try:
        with socket.create_connection((host, port), timeout=5) as so:
            so.sendall(b"srvr")
            buf = b""
            while True:
                ch = so.recv(4096)
                if not ch:
                    break
                buf += ch
        first = buf.decode(errors="replace").splitlines()[0]
        v = first.split(":", 1)[1].strip().split("-")[0].split(",")[0]
        return tuple(int(x) for x in v.split(".")[:3])
    except (OSError, IndexError, ValueError):
        return None


MIN_VERSION = (3, 9, 3)


def version_refusal(label, hostport, version):
    """Why a server cannot take part (None if it can).  Both transcripts are
    compared as is, so both servers must be 3.9 servers: 3.9.3 is the first
    release with all five deliberate 3.9 changes (zk-protocol.md version note;
    the last one, ZOOKEEPER-2623's rejected top-level check, came in 3.9.3).
    An older server (Debian's 3.8.0 was the reference until it was replaced by
    3.9.5) would differ from 3.9 on purpose, and this runner no longer
    translates such transcripts; refusing is clearer than a run of mismatches."""
    if version is None:
        return ("%s (%s): cannot read the version from its srvr answer; pass --versions "
                "if it is a 3.9.3 or newer server" % (label, hostport))
    if version < MIN_VERSION:
        return ("%s (%s) reports version %s: refused; both servers must be 3.9.3 or newer, "
                "compared as is (the runner no longer translates older servers' transcripts; "
                "compat-tests/servers.sh start_zk runs the reference, ZooKeeper 3.9.5)"
                % (label, hostport, ".".join(map(str, version))))
    return None


class Side:
    """One server of the comparison: the label used in reports, and its address."""

    def __init__(self, label, hostport):
        self.label = label
        self.host, self.port = parse_hostport(hostport)


STATS = defaultdict(int)       # reference-side coverage counters (--stats)


def count_coverage(raw):
    """What the reference's transcript exercised (--stats): each op with its
    answer, multis applied or failed, the event types.  It tells whether the
    generator's weights still reach the interesting outcomes."""
    for st in raw:
        o, res = st["op"], st.get("res", {})
        if o["op"] == "sessions":
            continue
        STATS["op %s -> %s" % (o["op"], "EXC" if "exc" in res
                                else err_name(res.get("err", 0)))] += 1
        if o["op"] == "multi" and "results" in res:
            STATS["multi %s" % ("applied" if all(r["err"] == 0 for r in res["results"])
                                else "failed")] += 1
        for evs in st["ev"].values():
            for e in evs:
                STATS["event %s" % zkwire.EVENT_TYPE.get(e.get("type"))] += 1


def run_side(side, ops, root):
    """Run ops on one server; returns (normalized lines, raw transcript)."""
    ex = Executor(side.host, side.port, root)
    raw = ex.run(ops)
    if ex.interference:
        n, want, got = ex.interference[0]
        raise RuntimeError("another client wrote to the server during the run (after step "
                           "%s the last zxid was 0x%x, not 0x%x); the servers must be idle"
                           % (n, got, want))
    return render(raw, ex.sid_index, root), raw


RUN_ID = "%x" % (int(time.time() * 1000) % 0xFFFFFFFF)
_root_counter = [0]


def new_root(seed):
    _root_counter[0] += 1
    return "/diff-%s-%s-%d" % (RUN_ID, seed, _root_counter[0])


PARALLEL = True     # False when both sides are one server (selftest's proxy)


def run_both(a, b, ops, seed):
    """Run ops on both sides under a fresh root each (in parallel: the servers are
    independent; one after the other when they are the same server, whose zxids
    would otherwise interleave).  Returns (lines_a, lines_b); side a is the
    reference, whose transcript feeds the --stats counters."""
    root = new_root(seed)
    results = {}

    def go(side):
        try:
            results[side.label] = run_side(side, ops, root + "-" + side.label)
        except Exception as e:  # noqa: BLE001 — reported as a run failure
            results[side.label] = e
    threads = [threading.Thread(target=go, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
        if not PARALLEL:
            t.join()
    for t in threads:
        t.join()
    for s in (a, b):
        if isinstance(results[s.label], Exception):
            raise RuntimeError("%s: %s: %s" % (s.label, type(results[s.label]).__name__,
                                               results[s.label]))
    la, raw_a = results[a.label]
    lb, _ = results[b.label]
    count_coverage(raw_a)
    return la, lb


def first_diff(la, lb):
    """Index of the first differing line, or None."""
    for i, (x, y) in enumerate(zip(la, lb)):
        if x[1] != y[1]:
            return i
    if len(la) != len(lb):
        return min(len(la), len(lb))
    return None


def diff_step(la, lb, i):
    """The step of the first difference (the earlier of the two lines' steps)."""
    ks = [x[i][0] for x in (la, lb) if i < len(x)]
    return min(ks, key=lambda k: k if isinstance(k, int) else float("inf"))


def signature(la, lb, i, ops):
    """What kind of mismatch: the op of the first differing step (for shrinking)."""
    k = diff_step(la, lb, i)
    if isinstance(k, int) and k < len(ops):
        return ops[k]["op"]
    return str(k)


def diff_report(la, lb, a_label, b_label, max_steps=3):
    """The differing steps, both sides' lines."""
    steps_a, steps_b = defaultdict(list), defaultdict(list)
    order = []
    for k, l in la:
        if k not in steps_a and k not in steps_b:
            order.append(k)
        steps_a[k].append(l)
    for k, l in lb:
        if k not in steps_a and k not in steps_b:
            order.append(k)
        steps_b[k].append(l)
    out, shown = [], 0
    for k in order:
        if steps_a[k] != steps_b[k]:
            out.append("  step #%s:" % k)
            sa, sb = set(steps_a[k]), set(steps_b[k])
            for l in steps_a[k]:
                out.append("    %s %-4s %s" % ("-" if l not in sb else " ", a_label, l))
            for l in steps_b[k]:
                if l not in sa:
                    out.append("    + %-4s %s" % (b_label, l))
            shown += 1
            if shown >= max_steps:
                break
    return out


def known_failure(la, lb, i):
    for kf in KNOWN_FAILURES:
        try:
            if kf["match"](la, lb, i):
                return kf["id"]
        except (IndexError, KeyError):
            pass
    return None


def ddmin(ops, still_fails, budget):
    """Delta debugging (Zeller's ddmin) over ops[1:] (ops[0] opens the sessions):
    drop chunks while the mismatch persists; ends 1-minimal or when the budget of
    runs is spent."""
    head, body = ops[:1], ops[1:]
    n = 2
    runs = 0
    while len(body) >= 2 and runs < budget:
        chunk = max(1, (len(body) + n - 1) // n)
        reduced = False
        for i in range(0, len(body), chunk):
            cand = body[:i] + body[i + chunk:]
            runs += 1
            if still_fails(head + cand):
                body = cand
                n = max(n - 1, 2)
                reduced = True
                break
            if runs >= budget:
                break
        if not reduced:
            if n >= len(body):
                break
            n = min(len(body), 2 * n)
    if len(body) == 1 and runs < budget and still_fails(head):
        body = []
    # only the sessions the remaining ops use, renumbered, if the mismatch persists
    used = sorted(set(o.get("s", 0) for o in body)) or [0]
    if len(used) < head[0]["n"] and runs < budget:
        runs += 1
        renum = {s: i for i, s in enumerate(used)}
        b2 = [dict(o, s=renum[o.get("s", 0)]) for o in body]
        h2 = [dict(head[0], n=len(used))]
        if still_fails(h2 + b2):
            head, body = h2, b2
    return head + body, runs


def check_ops(a, b, ops, seed, out, shrink=True, shrink_budget=250, label=None, info=None):
    """Run one op sequence on both sides; on a mismatch shrink and report.
    Returns 'ok' or 'mismatch'; fills `info` (if given) with the signature,
    known-failure id, minimal ops and the differing lines."""
    if info is None:
        info = {}
    la, lb = run_both(a, b, ops, seed)
    i = first_diff(la, lb)
    if i is None:
        return "ok"
    sig = signature(la, lb, i, ops)
    kf = known_failure(la, lb, i)
    info.update(sig=sig, known=kf, diff=diff_report(la, lb, a.label, b.label, 1))
    if callable(shrink):
        shrink = shrink(kf)
    out.write("seed %s: MISMATCH at step #%s (%s)%s\n" % (
        seed, diff_step(la, lb, i), sig,
        " [known failure %s]" % kf if kf else " [NEW]"))
    if not shrink:
        for l in diff_report(la, lb, a.label, b.label, 1):
            out.write(l + "\n")
        return "mismatch"
    # confirm it reproduces, then shrink
    la2, lb2 = run_both(a, b, ops, seed)
    if first_diff(la2, lb2) is None:
        out.write("  (did not reproduce on a second run: timing-dependent; not shrunk)\n")
        for l in diff_report(la, lb, a.label, b.label, 1):
            out.write(l + "\n")
        return "mismatch"

    def still_fails(cand):
        try:
            x, y = run_both(a, b, cand, seed)
        except RuntimeError:
            return False
        j = first_diff(x, y)
        return j is not None and signature(x, y, j, cand) == sig

    t0 = time.time()
    small, runs = ddmin(ops, still_fails, shrink_budget)
    la, lb = run_both(a, b, small, seed)
    i = first_diff(la, lb)
    info.update(small=small, diff=diff_report(la, lb, a.label, b.label, 3),
                still_differs=i is not None)
    out.write("  minimal reproduction (%d ops, %d sessions; shrunk from %d ops in %d runs, %.1f s):\n"
              % (len(small) - 1, small[0]["n"], len(ops) - 1, runs, time.time() - t0))
    for k, o in enumerate(small[1:], 1):
        out.write("    #%d S-slot %d: %s\n" % (k, o["s"], fmt_op(o)))
    out.write("  transcripts (lines marked - / + differ):\n")
    if i is None:
        out.write("    (the shrunk sequence no longer differs)\n")
    for l in diff_report(la, lb, a.label, b.label, 3):
        out.write(l + "\n")
    if label is not None:
        path = os.path.join(label, "repro-seed-%s.json" % seed)
        with open(path, "w") as f:
            json.dump({"seed": seed, "ops": small}, f, indent=1)
        out.write("  saved: %s  (replay: runner.py --zk .. --zkd .. --replay %s)\n" % (path, path))
    return "mismatch"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zk", help="reference server HOST:PORT (Apache ZooKeeper)")
    ap.add_argument("--zkd", help="server under test HOST:PORT (zkd)")
    ap.add_argument("--seeds", type=int, default=200, help="number of seeds (default 200)")
    ap.add_argument("--start", type=int, default=1, help="first seed (default 1)")
    ap.add_argument("--ops", type=int, default=120, help="operations per seed (default 120)")
    ap.add_argument("--replay", help="run one saved sequence (a repro-seed-*.json)")
    ap.add_argument("--no-shrink", action="store_true", help="report mismatches unshrunk")
    ap.add_argument("--max-shrink", type=int, default=3,
                    help="shrink at most this many mismatching seeds (default 3)")
    ap.add_argument("--versions", help="the two servers' versions when srvr does not "
                    "tell them, e.g. 3.9.5,3.9.3 (older than 3.9.3 is refused)")
    ap.add_argument("--out-dir", default=None, help="where repro files go")
    ap.add_argument("--print", dest="print_seed", type=int, default=None,
                    help="print both normalized transcripts of one seed and exit")
    ap.add_argument("--selftest", action="store_true", help="run selftest.py")
    ap.add_argument("--sequential", action="store_true",
                    help="run the two sides one after the other (automatic when both "
                         "are the same server)")
    ap.add_argument("--without", action="append", default=[], metavar="OP[:VALUE]",
                    help="leave out ops (exploration aid, e.g. reconnect:badpw); repeatable")
    ap.add_argument("--stats", action="store_true",
                    help="print coverage counters of the reference transcripts")
    args = ap.parse_args(argv)
    out = sys.stdout

    if args.selftest:
        import selftest
        return selftest.main(["--zk", args.zk] if args.zk else [])
    if not args.zk or not args.zkd:
        ap.error("--zk and --zkd are required")

    sides = []
    forced = args.versions.split(",") if args.versions else [None, None]
    for label, hp, fv in (("zk", args.zk, forced[0]), ("zkd", args.zkd, forced[1])):
        h, p = parse_hostport(hp)
        v = tuple(int(x) for x in fv.split(".")) if fv else server_version(h, p)
        why = version_refusal(label, hp, v)
        if why:
            print(why, file=sys.stderr)
            return 2
        out.write("[diff] %s %s reports %s -> compared as is\n" % (label, hp,
                                                                  ".".join(map(str, v))))
        sides.append(Side(label, hp))
    a, b = sides
    global PARALLEL
    if args.sequential or (a.host, a.port) == (b.host, b.port):
        PARALLEL = False
    out_dir = args.out_dir or os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", ".work", "results"))
    os.makedirs(out_dir, exist_ok=True)

    if args.print_seed is not None:
        ops = gen_ops(args.print_seed, args.ops, args.without)
        la, lb = run_both(a, b, ops, args.print_seed)
        for label, ls in ((a.label, la), (b.label, lb)):
            out.write("==== %s\n" % label)
            for _, l in ls:
                out.write(l + "\n")
        return 0

    if args.replay:
        with open(args.replay) as f:
            rep = json.load(f)
        r = check_ops(a, b, rep["ops"], rep.get("seed", "replay"), out, shrink=False)
        if r == "ok":
            out.write("replay: both servers agree\n")
        return {"ok": 0, "mismatch": 1}[r]

    t0 = time.time()
    counts = defaultdict(int)
    known_hits = defaultdict(int)
    bad = []
    shrunk = 0
    try:
        shrunk_known = set()

        def should_shrink(kf):
            """New mismatches: up to --max-shrink; a known failure: its first time."""
            if args.no_shrink:
                return False
            if kf:
                if kf in shrunk_known:
                    return False
                shrunk_known.add(kf)
                return True
            return shrunk < args.max_shrink
        for seed in range(args.start, args.start + args.seeds):
            ops = gen_ops(seed, args.ops, args.without)
            info = {}
            try:
                r = check_ops(a, b, ops, seed, out, shrink=should_shrink, label=out_dir,
                              info=info)
            except (RuntimeError, OSError) as e:
                out.write("seed %d: ERROR %s\n" % (seed, e))
                counts["error"] += 1
                bad.append(seed)
                if counts["error"] >= 3:
                    out.write("[diff] too many errors, stopping\n")
                    break
                continue
            counts[r] += 1
            if r != "ok":
                bad.append(seed)
                if info.get("known"):
                    known_hits[info["known"]] += 1
                elif not args.no_shrink:
                    shrunk += 1
            out.flush()
    except KeyboardInterrupt:
        out.write("[diff] interrupted\n")
    dt = time.time() - t0
    total = sum(counts.values())
    if KNOWN_FAILURES:
        out.write("[diff] known failures (zkd bugs not fixed yet; still counted as mismatches):\n")
        for kf in KNOWN_FAILURES:
            out.write("  %s (%d seeds): %s\n" % (kf["id"], known_hits[kf["id"]], kf["what"]))
    if bad:
        out.write("[diff] seeds that failed: %s%s\n" % (" ".join(map(str, bad[:60])),
                                                       " ..." if len(bad) > 60 else ""))
    if args.stats:
        out.write("[diff] coverage (reference side, all runs incl. shrinking):\n")
        for k in sorted(STATS):
            out.write("  %7d  %s\n" % (STATS[k], k))
    n_known = sum(known_hits.values())
    out.write("[diff] %d seeds (%d..%d, %d ops each): %d agree, %d mismatch (%d known, %d new), "
              "%d error; %.0f s\n" % (
                  total, args.start, args.start + total - 1, args.ops, counts["ok"],
                  counts["mismatch"], n_known, counts["mismatch"] - n_known,
                  counts["error"], dt))
    if counts["error"]:
        return 2
    return 1 if counts["mismatch"] else 0


if __name__ == "__main__":
    sys.exit(main())
