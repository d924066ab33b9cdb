#!/usr/bin/env bash
# migration.sh — end-to-end test of moving from Apache ZooKeeper to zkd and back.
#
# Why it exists: `zkd import` must rebuild exactly the tree a real ZooKeeper wrote,
# and `zkd export` must give a snapshot a real ZooKeeper loads. Only the real
# server's files and a comparison through the client protocol prove both:
#
#   1. Apache ZooKeeper (snapCount=50, so several log files and snapshots exist)
#      gets a varied tree from real kazoo clients (compat-tests/migration_tree.py:
#      sequential, ephemeral with a live session, container, TTL, digest and ip
#      ACLs, multi, deletes, setData storms, container/TTL reaping); then stopped.
#   2. zkd import of its dataDir; zkd started on the result; ZooKeeper restarted on
#      its own dataDir; `zkd verify` must find no difference (data, ACL, every Stat
#      field including ctime/mtime and ephemeralOwner, child lists).
#   3. zkd stopped, `zkd export`, Apache ZooKeeper started on the export, `zkd verify`
#      zkd vs that ZooKeeper and original ZooKeeper vs that ZooKeeper: no difference.
#   4. New writes on zkd get zxids above the imported ones; the exported ZooKeeper
#      continues above zkd's.
#   4b. ZooKeeper's dataDir imported again after its restart snapshot: zkd's tree digest
#      equals the one ZooKeeper wrote into that snapshot.
#   5. A corrupt last txn and a truncated log file: import exits 4 naming the file and
#      byte offset, writes nothing; --allow-damaged-tail imports up to the last good txn.
#   6. Snapshots written gzip- and snappy-compressed by ZooKeeper import and verify too.
#
#   compat-tests/migration.sh          (zkd: ${ZKD_BIN:-target/release/zkd})
#
# Ports MIG_PORT_BASE (22191) .. +3, never 2181. Work files in
# compat-tests/.work/migration/. Last line "N passed, M failed"; non-zero exit on
# any failure.
set -uo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$COMPAT_DIR/.work"
MIG="$WORK/migration"
PY="$WORK/venv/bin/python"
BASE=${MIG_PORT_BASE:-22191}
ZK_PORT=$BASE ZKD_PORT=$((BASE + 1)) ZK2_PORT=$((BASE + 2)) ZK3_PORT=$((BASE + 3))
AUTH=(--auth digest:super:test)   # servers.sh configures super:test on both servers

# shellcheck source=servers.sh
source "$COMPAT_DIR/servers.sh"
ZKD=$(_zkd_bin)

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "[migration] PASS  $1"; }
fail() { failed=$((failed + 1)); echo "[migration] FAIL  $1"; }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit $?
}

STARTED=()
cleanup() { local d; for d in "${STARTED[@]}"; do halt_server "$d"; done; STARTED=(); }
trap cleanup EXIT
trap 'echo "[migration] interrupted" >&2; exit 130' INT TERM

if [ ! -x "$ZKD" ]; then echo "[migration] no zkd binary at $ZKD"; fail "zkd binary"; finish; fi
if [ ! -x "$PY" ]; then echo "[migration] no kazoo venv (run compat-tests/prereqs.sh)"; fail "kazoo venv"; finish; fi
for d in zk zkd zk2 zk3; do halt_server "$MIG/$d"; done
rm -rf "$MIG" && mkdir -p "$MIG"

# zk_with DIR PORT EXTRA_CFG: a fresh Apache ZooKeeper (servers.sh settings) plus extra
# zoo.cfg lines — started once by start_zk to write its files, then restarted with the
# additions on an empty dataDir.
zk_with() {
    local dir=$1 port=$2 cfg=$3
    start_zk "$port" "$dir" || return 1
    halt_server "$dir"
    rm -rf "$dir/data" && mkdir -p "$dir/data"
    printf '%s\n' "$cfg" >> "$dir/zoo.cfg"
    resume_server "$dir" && STARTED+=("$dir")
}

# zkd_on DIR PORT ZK_DATADIR [import flags]: import ZK_DATADIR into DIR/data and start
# zkd there (servers.sh settings).
zkd_on() {
    local dir=$1 port=$2 from=$3; shift 3
    start_zkd "$port" "$dir" || return 1
    halt_server "$dir"
    rm -rf "$dir/data"
    "$ZKD" import --from "$from" --data-dir "$dir/data" "$@" > "$dir/import.out" 2> "$dir/import.err" ||
        { echo "[migration] import failed:"; cat "$dir/import.err"; return 1; }
    cat "$dir/import.out"
    resume_server "$dir" && STARTED+=("$dir")
}

verify() {   # LEFT_PORT RIGHT_PORT OUT
    "$ZKD" verify --left "127.0.0.1:$1" --right "127.0.0.1:$2" "${AUTH[@]}" > "$3" 2>&1
    local rc=$?
    sed 's/^/    /' "$3" | tail -n 25
    return $rc
}

# the first and last zxid printed by `zkd import` / a 4lw srvr
imported_zxid() { sed -n 's/.*last zxid \(0x[0-9a-f]*\).*/\1/p' "$1" | head -n 1; }
srvr_zxid() { four_letter "$1" srvr | sed -n 's/^Zxid: //p'; }

# czxid of a new node created on PORT (a write after the cutover)
new_czxid() {
    "$PY" - "$1" "$2" <<'EOF'
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:" + sys.argv[1], timeout=10)
zk.start(timeout=15)
zk.create(sys.argv[2], b"")
print(hex(zk.exists(sys.argv[2]).czxid))
zk.stop()
EOF
}

# ------------------------------------------------------------------ 1. source tree
CFG="snapCount=50
maxSessionTimeout=600000"
if zk_with "$MIG/zk" "$ZK_PORT" "$CFG"; then pass "Apache ZooKeeper on $ZK_PORT (snapCount=50)"
else fail "Apache ZooKeeper on $ZK_PORT"; finish; fi
if "$PY" "$COMPAT_DIR/migration_tree.py" "127.0.0.1:$ZK_PORT"; then pass "varied tree built through kazoo"
else fail "varied tree built through kazoo"; finish; fi
ZK_LAST=$(srvr_zxid "$ZK_PORT")
halt_server "$MIG/zk"
V2="$MIG/zk/data/version-2"
nlogs=$(find "$V2" -name 'log.*' | wc -l)
nsnaps=$(find "$V2" -name 'snapshot.*' ! -name snapshot.0 | wc -l)
check "ZooKeeper wrote several log files ($nlogs) and snapshots ($nsnaps)" test "$nlogs" -ge 3 -a "$nsnaps" -ge 1
cp -a "$MIG/zk/data" "$MIG/pristine"      # for the damage cases (a restart adds a snapshot)

# ------------------------------------------------------------------ 2. import + verify
if zkd_on "$MIG/zkd" "$ZKD_PORT" "$MIG/zk/data" --extended-types; then pass "zkd import + zkd serve on the result"
else fail "zkd import + zkd serve on the result"; finish; fi
IMPORTED=$(imported_zxid "$MIG/zkd/import.out")
check "import reached ZooKeeper's last zxid ($ZK_LAST)" test "$((IMPORTED))" = "$((ZK_LAST))"
check "import summary compares node kinds" grep -q "node kinds: the written data dir matches" "$MIG/zkd/import.out"
if resume_server "$MIG/zk"; then STARTED+=("$MIG/zk"); pass "ZooKeeper restarted on its own dataDir"
else fail "ZooKeeper restarted on its own dataDir"; fi
check "zkd verify: ZooKeeper vs imported zkd, no difference" verify "$ZK_PORT" "$ZKD_PORT" "$MIG/verify1.out"
# ------------------------------------------------------------------ 3. export + verify
halt_server "$MIG/zkd"
if "$ZKD" export --data-dir "$MIG/zkd/data" --to "$MIG/export" > "$MIG/export.out" 2>&1; then
    cat "$MIG/export.out"; pass "zkd export"
else cat "$MIG/export.out"; fail "zkd export"; fi
resume_server "$MIG/zkd" || fail "zkd restarted after the export"
if start_zk "$ZK2_PORT" "$MIG/zk2" && halt_server "$MIG/zk2" && rm -rf "$MIG/zk2/data" &&
   cp -a "$MIG/export" "$MIG/zk2/data" && resume_server "$MIG/zk2"; then
    STARTED+=("$MIG/zk2"); pass "Apache ZooKeeper 3.9.5 loads the export"
else fail "Apache ZooKeeper 3.9.5 loads the export"; fi
check "zkd verify: zkd vs ZooKeeper on the export, no difference" verify "$ZKD_PORT" "$ZK2_PORT" "$MIG/verify2.out"
check "zkd verify: original ZooKeeper vs ZooKeeper on the export, no difference" verify "$ZK_PORT" "$ZK2_PORT" "$MIG/verify3.out"

# ------------------------------------------------------------------ 4. zxids continue
z=$(new_czxid "$ZKD_PORT" /after-import)
check "a write on zkd gets a zxid ($z) above the imported $IMPORTED" test "$((z))" -gt "$((IMPORTED))"
"$ZKD" verify --left "127.0.0.1:$ZK2_PORT" --right "127.0.0.1:$ZKD_PORT" "${AUTH[@]}" > "$MIG/verify4.out" 2>&1
rc=$?
check "zkd verify exits 3 and names the node when the servers differ" \
    bash -c "test $rc = 3 && grep -q '^/after-import: only on right' '$MIG/verify4.out'"
z2=$(new_czxid "$ZK2_PORT" /after-export)
check "a write on the exported ZooKeeper gets a zxid ($z2) above the export" test "$((z2))" -gt "$((IMPORTED))"

# ------------------------------------------------------------------ 4b. the tree digest
# ZooKeeper took a snapshot when it restarted on its own dataDir (step 2), with its tree
# digest in it (digest.enabled): importing that dataDir again, zkd must compute the same
# number for the same tree.
halt_server "$MIG/zk"
"$ZKD" import --from "$MIG/zk/data" --data-dir "$MIG/reimport" --extended-types > "$MIG/reimport.out" 2>&1
grep 'tree digest' "$MIG/reimport.out" | sed 's/^/    /'
check "zkd import computes the tree digest ZooKeeper's snapshot records" \
    grep -q "equal to the one in ZooKeeper's snapshot" "$MIG/reimport.out"
cleanup

# ------------------------------------------------------------------ 5. damaged logs
last_log() {   # the log file with the highest zxid in its (hex) name
    "$PY" -c 'import os,sys; d=sys.argv[1]+"/version-2"; print(d+"/"+max((f for f in os.listdir(d) if f.startswith("log.")), key=lambda f: int(f[4:], 16)))' "$1"
}
# offset of the last non-zero byte (the 'B' that ends the last entry)
last_byte() { "$PY" -c 'import sys; b=open(sys.argv[1],"rb").read(); print(len(b.rstrip(b"\0"))-1)' "$1"; }
damage_case() {   # NAME EXPECTED_REASON_REGEX MUTATION
    local name=$1 reason=$2 mutate=$3 src="$MIG/$1" rc
    cp -a "$MIG/pristine" "$src"
    local log; log=$(last_log "$src")
    local end; end=$(last_byte "$log")
    case $mutate in
        flip)     "$PY" -c 'import sys; p,o=sys.argv[1],int(sys.argv[2]); f=open(p,"r+b"); f.seek(o); b=f.read(1); f.seek(o); f.write(bytes([b[0]^0xff]))' "$log" "$((end - 5))" ;;
        truncate) truncate -s "$((end - 9))" "$log" ;;
    esac
    "$ZKD" import --from "$src" --data-dir "$MIG/$name-zkd" --extended-types > "$MIG/$name.out" 2> "$MIG/$name.err"
    rc=$?
    sed 's/^/    /' "$MIG/$name.err" | grep -v '^    \(reading\|snapshot\|log \)' | head -n 6
    check "$name: import exits 4" test "$rc" = 4
    check "$name: the error names $(basename "$log") and a byte offset" grep -q "$(basename "$log") at byte offset [0-9]*: $reason" "$MIG/$name.err"
    check "$name: nothing was written" test ! -e "$MIG/$name-zkd/db"
    "$ZKD" import --from "$src" --data-dir "$MIG/$name-zkd" --extended-types --allow-damaged-tail > "$MIG/$name.out" 2>> "$MIG/$name.err"
    rc=$?
    check "$name: --allow-damaged-tail imports up to the last good txn" \
        test "$rc" = 0 -a "$((IMPORTED))" -gt "$(( $(imported_zxid "$MIG/$name.out") ))"
}
damage_case corrupt-tail "checksum mismatch" flip
damage_case truncated-file "truncated entry" truncate

# ------------------------------------------------------------------ 6. compressed snapshots
compressed_case() {   # METHOD
    local m=$1
    if ! zk_with "$MIG/zk3" "$ZK3_PORT" "snapCount=20
snapshot.compression.method=$m"; then fail "ZooKeeper with $m snapshots"; return; fi
    "$PY" - "$ZK3_PORT" <<'EOF'
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:" + sys.argv[1]); zk.start(timeout=15)
for i in range(60):
    zk.create("/c/n%d" % i, str(i).encode() * 50, makepath=True)
for i in range(0, 60, 7):
    zk.delete("/c/n%d" % i)
zk.stop()
EOF
    halt_server "$MIG/zk3"
    local snaps; snaps=$(find "$MIG/zk3/data/version-2" -name "snapshot.*.$m" | wc -l)
    check "ZooKeeper wrote $m snapshots ($snaps)" test "$snaps" -ge 2
    if zkd_on "$MIG/zkd" "$ZKD_PORT" "$MIG/zk3/data" && resume_server "$MIG/zk3"; then
        STARTED+=("$MIG/zk3")
        check "import read a .$m snapshot" grep -q "snapshot\.[0-9a-f]*\.$m" "$MIG/zkd/import.out"
        check "zkd verify after importing $m snapshots: no difference" verify "$ZK3_PORT" "$ZKD_PORT" "$MIG/verify-$m.out"
    else
        fail "import of a dataDir with $m snapshots"
    fi
    cleanup
}
compressed_case gz
compressed_case snappy   # snappy-java is in the reference server's Maven bundle

finish
