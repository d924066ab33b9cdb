"""zkwire — a minimal synchronous ZooKeeper client speaking the raw wire protocol.

Why it exists: the differential runner (runner.py) must compare what two servers
send *on the wire* — every reply header, error code, Stat field and watch
notification — so it cannot use a client library that hides, retries, reorders or
re-registers anything.  This module encodes and decodes the jute records itself
(standard library only) and does nothing behind the caller's back: no pings
unless asked, no reconnects, no setWatches, no local watch bookkeeping.

One request is in flight at a time: `Client.call()` sends a request and reads
frames until the reply with that xid arrives, appending every watch notification
(xid -1) that arrives meanwhile to `Client.events` in arrival order.  Replies are
decoded only when their error code says a body follows (err == 0; multi and
addWatch are the documented exceptions), and a decoder that does not consume the
whole body records the trailing bytes, so an over-long reply is visible too.

Facts used here: /work/shared/reference/zk-protocol.md sections 1-9.
"""

import base64
import hashlib
import socket
import struct

# ---------------------------------------------------------------- constants

OP = {
    "notification": 0, "create": 1, "delete": 2, "exists": 3, "getData": 4,
    "setData": 5, "getACL": 6, "setACL": 7, "getChildren": 8, "sync": 9,
    "ping": 11, "getChildren2": 12, "check": 13, "multi": 14, "create2": 15,
    "reconfig": 16, "checkWatches": 17, "removeWatches": 18,
    "createContainer": 19, "deleteContainer": 20, "createTTL": 21,
    "multiRead": 22, "auth": 100, "setWatches": 101, "sasl": 102,
    "getEphemerals": 103, "getAllChildrenNumber": 104, "setWatches2": 105,
    "addWatch": 106, "whoAmI": 107, "closeSession": -11, "error": -1,
}
OP_NAME = {v: k for k, v in OP.items()}

ERR = {
    0: "OK", -1: "SYSTEMERROR", -2: "RUNTIMEINCONSISTENCY", -3: "DATAINCONSISTENCY",
    -4: "CONNECTIONLOSS", -5: "MARSHALLINGERROR", -6: "UNIMPLEMENTED",
    -7: "OPERATIONTIMEOUT", -8: "BADARGUMENTS", -12: "UNKNOWNSESSION",
    -13: "NEWCONFIGNOQUORUM", -14: "RECONFIGINPROGRESS", -100: "APIERROR",
    -101: "NONODE", -102: "NOAUTH", -103: "BADVERSION",
    -108: "NOCHILDRENFOREPHEMERALS", -110: "NODEEXISTS", -111: "NOTEMPTY",
    -112: "SESSIONEXPIRED", -113: "INVALIDCALLBACK", -114: "INVALIDACL",
    -115: "AUTHFAILED", -118: "SESSIONMOVED", -119: "NOTREADONLY",
    -120: "EPHEMERALONLOCALSESSION", -121: "NOWATCHER", -122: "REQUESTTIMEOUT",
    -123: "RECONFIGDISABLED", -124: "SESSIONCLOSEDREQUIRESASLAUTH",
    -125: "QUOTAEXCEEDED", -127: "THROTTLEDOP",
}

EVENT_TYPE = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged",
              4: "NodeChildrenChanged", 5: "DataWatchRemoved",
              6: "ChildWatchRemoved", 7: "PersistentWatchRemoved"}

PERM_READ, PERM_WRITE, PERM_CREATE, PERM_DELETE, PERM_ADMIN = 1, 2, 4, 8, 16
PERM_ALL = 31

# CreateMode flags
PERSISTENT, EPHEMERAL, PERSISTENT_SEQUENTIAL, EPHEMERAL_SEQUENTIAL = 0, 1, 2, 3
CONTAINER, PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 4, 5, 6

# WatcherType (checkWatches/removeWatches) and AddWatch modes
WT_CHILDREN, WT_DATA, WT_ANY, WT_PERSISTENT, WT_PERSISTENT_RECURSIVE = 1, 2, 3, 4, 5
ADDWATCH_PERSISTENT, ADDWATCH_PERSISTENT_RECURSIVE = 0, 1

NOTIFICATION_XID, PING_XID, AUTH_XID, SET_WATCHES_XID = -1, -2, -4, -8

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
               "aversion", "ephemeralOwner", "dataLength", "numChildren", "pzxid")


def err_name(code):
    return ERR.get(code, "ERR%d" % code)


def digest_id(user, password):
    """The digest ACL id for user:password: user:base64(sha1("user:password"))."""
    h = hashlib.sha1(("%s:%s" % (user, password)).encode()).digest()
    return "%s:%s" % (user, base64.b64encode(h).decode())


def java_session_passwd(session_id):
    """ZooKeeper's generatePasswd: java.util.Random(id ^ 0xB3415C00).nextBytes(16)."""
    mask = (1 << 48) - 1
    seed = ((session_id ^ 0xB3415C00) ^ 0x5DEECE66D) & mask
    out = bytearray()
    while len(out) < 16:
        seed = (seed * 0x5DEECE66D + 0xB) & mask
        r = seed >> 16                       # 32 bits, low byte first
        for _ in range(min(4, 16 - len(out))):
            out.append(r & 0xFF)
            r >>= 8
    return bytes(out)


# ---------------------------------------------------------------- jute encoding

class Writer:
    def __init__(self):
        self.b = bytearray()

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def long(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        self.b.append(1 if v else 0)
        return self

    def buffer(self, v):
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.b += v
        return self

    def ustring(self, s):
        return self.buffer(None if s is None else s.encode("utf-8"))

    def vector(self, items, fn):
        if items is None:
            return self.int(-1)
        self.int(len(items))
        for it in items:
            fn(self, it)
        return self

    def acl(self, a):
        perms, scheme, ident = a
        return self.int(perms).ustring(scheme).ustring(ident)

    def acls(self, lst):
        return self.vector(lst, Writer.acl)

    def bytes(self):
        return bytes(self.b)


class DecodeError(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def _take(self, n):
        if n < 0 or self.p + n > len(self.d):
            raise DecodeError("short record: need %d bytes at %d of %d" % (n, self.p, len(self.d)))
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        b = self._take(1)[0]
        return b if b not in (0, 1) else bool(b)   # a non-0/1 byte is shown as is

    def buffer(self):
        n = self.int()
        if n == -1:
            return None
        return bytes(self._take(n))

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8", errors="backslashreplace")

    def vector(self, fn):
        n = self.int()
        if n == -1:
            return None
        if n < 0 or n > 100000:
            raise DecodeError("bad vector length %d" % n)
        return [fn(self) for _ in range(n)]

    def stat(self):
        return dict(zip(STAT_FIELDS, (self.long(), self.long(), self.long(), self.long(),
                                      self.int(), self.int(), self.int(), self.long(),
                                      self.int(), self.int(), self.long())))

    def acl(self):
        return (self.int(), self.ustring(), self.ustring())

    def acls(self):
        return self.vector(Reader.acl)

    def strings(self):
        return self.vector(Reader.ustring)

    def remaining(self):
        return len(self.d) - self.p

    def rest(self):
        return bytes(self.d[self.p:])


# ---------------------------------------------------------------- request records

def create_request(path, data, acl, flags, ttl=None):
    w = Writer().ustring(path).buffer(data).acls(acl).int(flags)
    if ttl is not None:
        w.long(ttl)
    return w.bytes()


def path_watch(path, watch):
    return Writer().ustring(path).bool(watch).bytes()


def path_only(path):
    return Writer().ustring(path).bytes()


def path_version(path, version):
    return Writer().ustring(path).int(version).bytes()


def set_data_request(path, data, version):
    return Writer().ustring(path).buffer(data).int(version).bytes()


def set_acl_request(path, acl, version):
    return Writer().ustring(path).acls(acl).int(version).bytes()


def path_int(path, v):
    return Writer().ustring(path).int(v).bytes()


def multi_request(ops):
    """ops: list of (opname, args-dict).  MultiHeader{type, done=false, err=-1} + record,
    terminated by MultiHeader{-1, true, -1}."""
    w = Writer()
    for name, a in ops:
        w.int(OP[name]).bool(False).int(-1)
        if name in ("create", "create2", "createContainer"):
            w.b += create_request(a["path"], a.get("data"), a["acl"], a["flags"])
        elif name == "createTTL":
            w.b += create_request(a["path"], a.get("data"), a["acl"], a["flags"], a["ttl"])
        elif name in ("delete", "check"):
            w.b += path_version(a["path"], a["version"])
        elif name == "setData":
            w.b += set_data_request(a["path"], a.get("data"), a["version"])
        elif name in ("getData", "getChildren"):
            w.b += path_watch(a["path"], a.get("watch", False))
        else:
            raise ValueError("op %s not allowed in multi" % name)
    w.int(-1).bool(True).int(-1)
    return w.bytes()


# ---------------------------------------------------------------- response decoders
# Each takes a Reader positioned at the body and returns a dict of fields.

def dec_none(r):
    return {}


def dec_path(r):
    return {"path": r.ustring()}


def dec_path_stat(r):
    return {"path": r.ustring(), "stat": r.stat()}


def dec_stat(r):
    return {"stat": r.stat()}


def dec_data_stat(r):
    return {"data": r.buffer(), "stat": r.stat()}


def dec_acl_stat(r):
    return {"acl": r.acls(), "stat": r.stat()}


def dec_children(r):
    return {"children": r.strings()}


def dec_children_stat(r):
    return {"children": r.strings(), "stat": r.stat()}


def dec_error_response(r):
    return {"err_body": r.int()}


def dec_ephemerals(r):
    return {"ephemerals": r.strings()}


def dec_count(r):
    return {"total": r.int()}


def dec_whoami(r):
    return {"clientInfo": r.vector(lambda rr: (rr.ustring(), rr.ustring()))}


MULTI_RESULT_DECODERS = {
    1: dec_path, 15: dec_path_stat, 19: dec_path_stat, 21: dec_path_stat,
    2: dec_none, 20: dec_none, 5: dec_stat, 13: dec_none,
    8: dec_children, 4: dec_data_stat, -1: dec_error_response,
}


def dec_multi(r):
    results = []
    while True:
        typ, done, err = r.int(), r.bool(), r.int()
        if done:
            return {"results": results, "end": (typ, err)}
        dec = MULTI_RESULT_DECODERS.get(typ)
        if dec is None:
            raise DecodeError("unknown multi result type %d" % typ)
        res = {"type": typ, "err": err}
        res.update(dec(r))
        results.append(res)


# ---------------------------------------------------------------- the client

class ConnectionClosed(Exception):
    """The server closed the connection (EOF or reset) while we waited."""


class ProtocolError(Exception):
    pass


class Client:
    """One connection (and its session).  Not thread-safe; one request at a time."""

    def __init__(self, host, port, timeout_ms=30000, session_id=0, passwd=b"\0" * 16,
                 io_timeout=10.0):
        self.host, self.port = host, port
        self.io_timeout = io_timeout
        self.events = []            # notifications not yet taken, in arrival order
        self.xid = 0
        self.last_zxid = 0          # highest reply zxid seen (what setWatches sends)
        self.closed = False
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(io_timeout)
        req = (Writer().int(0).long(0).int(timeout_ms).long(session_id)
               .buffer(passwd).bool(False).bytes())
        self._send(req)
        r = Reader(self._recv_frame())
        self.connect_response = {
            "protocolVersion": r.int(), "timeOut": r.int(), "sessionId": r.long(),
            "passwd": r.buffer(),
        }
        if r.remaining():
            self.connect_response["readOnly"] = r.bool()
        if r.remaining():
            self.connect_response["trailing"] = r.rest().hex()
        self.session_id = self.connect_response["sessionId"]
        self.passwd = self.connect_response["passwd"]

    # -- framing
    def _send(self, payload):
        try:
            self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.closed = True
            raise ConnectionClosed(str(e))

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError as e:
                self.closed = True
                raise ConnectionClosed(str(e))
            except socket.timeout:
                raise ProtocolError("no answer within %.0f s" % self.io_timeout)
            if not chunk:
                self.closed = True
                raise ConnectionClosed("EOF")
            buf += chunk
        return bytes(buf)

    def _recv_frame(self):
        n = struct.unpack(">i", self._recv_exact(4))[0]
        if n < 0 or n > 16 * 1024 * 1024:
            raise ProtocolError("bad frame length %d" % n)
        return self._recv_exact(n)

    # -- requests
    def next_xid(self):
        self.xid += 1
        return self.xid

    def call(self, opcode, body=b"", decoder=dec_none, xid=None, body_on_error=False,
             track=True):
        """Send one request; return the reply as a dict:
        {xid, zxid, err, **decoded fields} (+ 'trailing' hex if the body was longer
        than its record, 'decode_error' if it was shorter or malformed).
        track=False: do not count this reply's zxid in last_zxid."""
        if xid is None:
            xid = self.next_xid()
        self._send(Writer().int(xid).int(opcode).bytes() + body)
        while True:
            r = Reader(self._recv_frame())
            rxid, zxid, err = r.int(), r.long(), r.int()
            if rxid == NOTIFICATION_XID:
                self.events.append(self._event(r, zxid, err))
                continue
            if rxid != xid:
                raise ProtocolError("reply xid %d while waiting for %d" % (rxid, xid))
            out = {"xid": rxid, "zxid": zxid, "err": err}
            if track and zxid > self.last_zxid:
                self.last_zxid = zxid
            if err == 0 or (body_on_error and r.remaining()):
                try:
                    out.update(decoder(r))
                except DecodeError as e:
                    out["decode_error"] = str(e)
            if r.remaining():
                out["trailing"] = r.rest().hex()
            return out

    @staticmethod
    def _event(r, zxid, err):
        ev = {"zxid": zxid, "err": err}
        try:
            ev.update({"type": r.int(), "state": r.int(), "path": r.ustring()})
        except DecodeError as e:
            ev["decode_error"] = str(e)
        if r.remaining():
            ev["trailing"] = r.rest().hex()
        return ev

    def take_events(self):
        ev, self.events = self.events, []
        return ev

    def close(self):
        """Drop the socket (no closeSession)."""
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    # -- operations (each returns the reply dict of call())
    def ping(self):
        return self.call(OP["ping"], xid=PING_XID)

    def create(self, path, data, acl, flags, op="create", ttl=None):
        dec = dec_path if op == "create" else dec_path_stat
        return self.call(OP[op], create_request(path, data, acl, flags, ttl), dec)

    def delete(self, path, version=-1):
        return self.call(OP["delete"], path_version(path, version))

    def exists(self, path, watch=False):
        return self.call(OP["exists"], path_watch(path, watch), dec_stat)

    def get_data(self, path, watch=False):
        return self.call(OP["getData"], path_watch(path, watch), dec_data_stat)

    def set_data(self, path, data, version=-1):
        return self.call(OP["setData"], set_data_request(path, data, version), dec_stat)

    def get_acl(self, path):
        return self.call(OP["getACL"], path_only(path), dec_acl_stat)

    def set_acl(self, path, acl, version=-1):
        return self.call(OP["setACL"], set_acl_request(path, acl, version), dec_stat)

    def get_children(self, path, watch=False):
        return self.call(OP["getChildren"], path_watch(path, watch), dec_children)

    def get_children2(self, path, watch=False):
        return self.call(OP["getChildren2"], path_watch(path, watch), dec_children_stat)

    def sync(self, path):
        return self.call(OP["sync"], path_only(path), dec_path)

    def check(self, path, version):
        """A top-level check (valid only inside multi; see zk-protocol.md section 4)."""
        return self.call(OP["check"], path_version(path, version), dec_stat)

    def multi(self, ops):
        # the header err of a failed multi is 0 and the results carry the errors;
        # a body that comes with an error (ZooKeeper sends the partial MultiResponse
        # when it meets an op it cannot run) is decoded too
        return self.call(OP["multi"], multi_request(ops), dec_multi, body_on_error=True)

    def multi_read(self, ops):
        return self.call(OP["multiRead"], multi_request(ops), dec_multi, body_on_error=True)

    def set_watches(self, relative_zxid, data, exist, child, persistent=(), recursive=()):
        """setWatches (101), or setWatches2 (105) when there are persistent watches
        (what the Java client sends after a reconnect), with xid -8."""
        w = Writer().long(relative_zxid)
        for lst in (data, exist, child):
            w.vector(list(lst), Writer.ustring)
        if persistent or recursive:
            w.vector(list(persistent), Writer.ustring).vector(list(recursive), Writer.ustring)
            return self.call(OP["setWatches2"], w.bytes(), xid=SET_WATCHES_XID)
        return self.call(OP["setWatches"], w.bytes(), xid=SET_WATCHES_XID)

    def add_auth(self, scheme, auth):
        body = Writer().int(0).ustring(scheme).buffer(auth).bytes()
        return self.call(OP["auth"], body, xid=AUTH_XID)

    def add_watch(self, path, mode):
        return self.call(OP["addWatch"], path_int(path, mode), dec_error_response)

    def remove_watches(self, path, wtype):
        return self.call(OP["removeWatches"], path_int(path, wtype))

    def check_watches(self, path, wtype):
        return self.call(OP["checkWatches"], path_int(path, wtype))

    def get_ephemerals(self, prefix):
        return self.call(OP["getEphemerals"], path_only(prefix), dec_ephemerals)

    def get_all_children_number(self, path):
        return self.call(OP["getAllChildrenNumber"], path_only(path), dec_count)

    def who_am_i(self):
        return self.call(OP["whoAmI"], b"", dec_whoami)

    def close_session(self):
        """closeSession; the server answers and then closes the socket."""
        rep = self.call(OP["closeSession"])
        self.close()
        return rep
