#!/usr/bin/env python3
"""selftest.py — the differential runner must be able to fail.

Why it exists: a comparator that normalizes too much, or a barrier that misses
notifications, would report "all seeds agree" for any server.  This self-test
feeds the runner deliberately wrong server answers and checks that every one is
reported as a mismatch and shrunk to a small reproduction.

    selftest.py                 offline part only (no server needed)
    selftest.py --zk HOST:PORT  also the proxy part, against a running ZooKeeper

Offline part (hand-made raw transcripts, no network):
  * renumbering every zxid, shifting every time and changing the session id
    leaves the normalized transcript unchanged (what must differ is normalized);
  * one Stat field changed, one error code changed, a time that disagrees with
    its zxid, bytes after a reply, a missing or an extra notification, and a
    notification that carries another txn's zxid or 3.8's -1 instead of its
    txn's: each is reported (both servers are 3.9, compared as is, so nothing
    but the numbering of zxids may hide a difference);
  * ddmin shrinks a synthetic failure to exactly the two ops that cause it.

Proxy part: a TCP proxy in front of the reference server that corrupts one kind
of answer — (1) flips a bit in the Stat.version of every successful setData
reply, (2) turns NONODE answers to delete into BADVERSION, (3) drops the first
watch notification of each connection.  The runner compares the server direct
against the server through the proxy; each corruption must be reported on one
of the first seeds and shrunk to at most 3 operations that contain the op
concerned.

Exit status 0 when every check passes, 1 otherwise.
"""

import argparse
import io
import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402
import zkwire  # noqa: E402

FAILED = []


def check(cond, what):
    print("[selftest] %s  %s" % ("PASS" if cond else "FAIL", what))
    if not cond:
        FAILED.append(what)


# ======================================================================== offline part

ROOT = "/diff-selftest"
SID = 0x0100000000ab0000
T0 = 1_700_000_000_000


def stat(cz, mz, pz, ct, mt, version=0, cversion=0, owner=0, dl=2, nc=0):
    return {"czxid": cz, "mzxid": mz, "ctime": ct, "mtime": mt, "version": version,
            "cversion": cversion, "aversion": 0, "ephemeralOwner": owner,
            "dataLength": dl, "numChildren": nc, "pzxid": pz}


def sample(z0=100, t0=None, sid=SID, event_zxid=None):
    """A small raw transcript as the executor records it: open, create2, getData
    with a watch, setData (which fires the watch; as in 3.9, the notification
    carries the setData's zxid unless event_zxid says otherwise), a failed delete."""
    t0 = runner.time.time() * 1000 // 1 if t0 is None else t0
    t0 = int(t0)
    ev_z = z0 + 2 if event_zxid is None else event_zxid(z0)
    resp = {"protocolVersion": 0, "timeOut": 30000, "sessionId": sid,
            "passwd": zkwire.java_session_passwd(sid), "readOnly": False}
    return [
        {"n": 0, "s": None, "sess": None, "op": {"op": "sessions", "n": 1}, "ev": {},
         "conn": [{"what": "open", "sess": 0, "resp": resp}]},
        {"n": 1, "s": 0, "sess": 0, "ev": {}, "zxid_before": z0,
         "op": {"op": "create2", "path": "a", "flags": 1, "data": "v1", "acl": "OPEN", "s": 0},
         "res": {"xid": 1, "zxid": z0 + 1, "err": 0, "path": ROOT + "/a",
                 "stat": stat(z0 + 1, z0 + 1, z0 + 1, t0, t0, owner=sid)}},
        {"n": 2, "s": 0, "sess": 0, "ev": {}, "zxid_before": z0 + 1,
         "op": {"op": "getData", "path": "a", "watch": True, "s": 0},
         "res": {"xid": 2, "zxid": z0 + 1, "err": 0, "data": b"v1",
                 "stat": stat(z0 + 1, z0 + 1, z0 + 1, t0, t0, owner=sid)}},
        {"n": 3, "s": 0, "sess": 0, "zxid_before": z0 + 1,
         "op": {"op": "setData", "path": "a", "data": "", "version": 0, "s": 0},
         "res": {"xid": 3, "zxid": z0 + 2, "err": 0,
                 "stat": stat(z0 + 1, z0 + 2, z0 + 1, t0, t0 + 7, version=1, owner=sid, dl=0)},
         "ev": {0: [{"zxid": ev_z, "err": 0, "type": 3, "state": 3, "path": ROOT + "/a"}]}},
        {"n": 4, "s": 0, "sess": 0, "ev": {}, "zxid_before": z0 + 2,
         "op": {"op": "delete", "path": "b", "version": -1, "s": 0},
         "res": {"xid": 4, "zxid": z0 + 3, "err": -101}},
    ]


def render(raw, sid=SID):
    return runner.render(raw, {sid: 0}, ROOT)


def offline():
    base = render(sample())
    check(any("stat={cz=z1 mz=z1 ct=t(z1)" in l for _, l in base),
          "zxids and times are rendered by order of first appearance / by their txn")
    other_sid = SID + 77
    shifted = render(sample(z0=5000, t0=runner.time.time() * 1000 + 3600_000, sid=other_sid),
                     sid=other_sid)
    check(shifted == base, "renumbered zxids, shifted times and another session id normalize away")

    def mutated(fn):
        raw = sample()
        fn(raw)
        return render(raw)

    def set_version(raw):
        raw[2]["res"]["stat"]["version"] = 1
    d = runner.first_diff(base, mutated(set_version))
    check(d is not None and base[d][0] == 2, "one Stat field altered (getData version) is reported at its step")

    def set_err(raw):
        raw[4]["res"]["err"] = -103
    d = runner.first_diff(base, mutated(set_err))
    check(d is not None and base[d][0] == 4, "one error code altered (NONODE -> BADVERSION) is reported")

    def set_pzxid(raw):
        raw[3]["res"]["stat"]["pzxid"] = raw[3]["res"]["stat"]["mzxid"]
    check(runner.first_diff(base, mutated(set_pzxid)) is not None,
          "a Stat zxid pointing at another txn is reported")

    def bad_time(raw):
        raw[2]["res"]["stat"]["ctime"] += 1      # same czxid, another time
    check(runner.first_diff(base, mutated(bad_time)) is not None,
          "a ctime that disagrees with its zxid's time is reported")

    def no_event(raw):
        raw[3]["ev"] = {}
    check(runner.first_diff(base, mutated(no_event)) is not None, "a missing notification is reported")

    def trailing(raw):
        raw[1]["res"]["trailing"] = "00"
    check(runner.first_diff(base, mutated(trailing)) is not None,
          "bytes after a reply's record are reported")

    # A notification's zxid is normalized like any zxid, never rewritten: one that
    # names another txn, or 3.8's -1 (ZOOKEEPER-4655 made it the txn's in 3.9),
    # differs from the 3.9 one.
    r_other = render(sample(event_zxid=lambda z0: z0 + 1))
    check(runner.first_diff(base, r_other) is not None,
          "a notification carrying another txn's zxid is reported")
    r_minus1 = render(sample(event_zxid=lambda z0: -1))
    check(runner.first_diff(base, r_minus1) is not None,
          "a notification carrying -1 (what 3.8 sent) instead of its txn's zxid is reported")

    def extra_event(raw):
        raw[1]["ev"] = {0: [{"zxid": raw[1]["res"]["zxid"], "err": 0, "type": 1, "state": 3,
                             "path": ROOT + "/a"}]}
    check(runner.first_diff(base, mutated(extra_event)) is not None,
          "an extra notification is reported")

    # ddmin: the failure needs ops #7 and #13 (of 40) and nothing else
    ops = [{"op": "sessions", "n": 3}] + [{"op": "sync", "path": "", "s": 0, "id": i}
                                         for i in range(1, 41)]

    def fails(cand):
        ids = {o.get("id") for o in cand}
        return 7 in ids and 13 in ids
    small, runs = runner.ddmin(ops, fails, 500)
    check([o.get("id") for o in small[1:]] == [7, 13] and small[0]["n"] == 1,
          "ddmin shrinks 40 ops / 3 sessions to the 2 ops and 1 session that fail (%d runs)" % runs)


# ======================================================================== proxy part

class CorruptingProxy:
    """Forwards 127.0.0.1:<port> to the server and corrupts one kind of reply.
    It follows the framing in both directions: requests tell it each xid's
    opcode, so a reply can be recognized by the op it answers."""

    def __init__(self, upstream, mode):
        self.upstream = upstream
        self.mode = mode
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.corrupted = 0
        self.stopped = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def stop(self):
        self.stopped = True
        self.ls.close()

    def accept_loop(self):
        while not self.stopped:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.upstream)
            except OSError:
                c.close()
                continue
            state = {"ops": {}, "dropped": False}
            threading.Thread(target=self.pump, args=(c, u, state, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, state, False), daemon=True).start()

    @staticmethod
    def read_exact(s, n):
        b = b""
        while len(b) < n:
            ch = s.recv(n - len(b))
            if not ch:
                raise EOFError
            b += ch
        return b

    def pump(self, src, dst, state, from_client):
        first = True
        try:
            while True:
                head = self.read_exact(src, 4)
                if first and from_client and head.isalpha():
                    dst.sendall(head)            # a four-letter word: raw from here on
                    while True:
                        ch = src.recv(4096)
                        if not ch:
                            raise EOFError
                        dst.sendall(ch)
                n = struct.unpack(">i", head)[0]
                body = self.read_exact(src, n)
                if from_client:
                    if not first and len(body) >= 8:
                        xid, op = struct.unpack(">ii", body[:8])
                        state["ops"][xid] = op
                elif not first:
                    body = self.corrupt(body, state)
                    if body is None:
                        first = False
                        continue
                first = False
                dst.sendall(struct.pack(">i", len(body)) + body)
        except (EOFError, OSError):
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def corrupt(self, body, state):
        xid, zxid, err = struct.unpack(">iqi", body[:16])
        op = state["ops"].get(xid)
        if self.mode == "setdata-version" and op == 5 and err == 0 and len(body) >= 16 + 68:
            # SetDataResponse{Stat}: version is the int after 4 longs
            off = 16 + 32 + 3
            self.corrupted += 1
            return body[:off] + bytes([body[off] ^ 1]) + body[off + 1:]
        if self.mode == "delete-err" and op == 2 and err == -101:
            self.corrupted += 1
            return struct.pack(">iqi", xid, zxid, -103) + body[16:]
        if self.mode == "drop-event" and xid == -1 and not state["dropped"]:
            state["dropped"] = True
            self.corrupted += 1
            return None
        return body


def proxy_part(zk):
    host, port = runner.parse_hostport(zk)
    runner.PARALLEL = False       # both sides are the same server
    cases = [
        ("setdata-version", "setData", "a bit of Stat.version flipped in setData replies"),
        ("delete-err", "delete", "delete's NONODE turned into BADVERSION"),
        ("drop-event", None, "the first watch notification of each connection dropped"),
    ]
    for mode, op, what in cases:
        proxy = CorruptingProxy((host, port), mode)
        try:
            a = runner.Side("zk", zk)
            b = runner.Side("proxy", "127.0.0.1:%d" % proxy.port)
            found = None
            for seed in range(1, 16):
                info = {}
                buf = io.StringIO()
                r = runner.check_ops(a, b, runner.gen_ops(seed, 40), seed, buf, shrink=True,
                                     shrink_budget=200, info=info)
                if r == "mismatch":
                    found = (seed, info, buf.getvalue())
                    break
            check(found is not None, "proxy (%s): a mismatch is reported" % what)
            if found:
                seed, info, text = found
                small = info.get("small") or []
                ops = [o["op"] for o in small[1:]]
                ok = (info.get("still_differs") and 1 <= len(ops) <= 3
                      and (op is None or op in ops or any(
                          so["op"] == op for o in small[1:] for so in o.get("ops", []))))
                check(ok, "proxy (%s): seed %d shrunk to %d op(s): %s" % (
                    what, seed, len(ops), "; ".join(runner.fmt_op(o) for o in small[1:])))
                for line in info.get("diff", [])[:6]:
                    print("           " + line)
            check(proxy.corrupted > 0, "proxy (%s): the proxy did corrupt answers (%d)"
                  % (what, proxy.corrupted))
        finally:
            proxy.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description="self-test of the differential runner")
    ap.add_argument("--zk", help="a running Apache ZooKeeper HOST:PORT for the proxy part")
    args = ap.parse_args(argv)
    offline()
    if args.zk:
        proxy_part(args.zk)
    else:
        print("[selftest] (no --zk: proxy part skipped)")
    print("[selftest] %s: %d check(s) failed" % ("FAILED" if FAILED else "OK", len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
