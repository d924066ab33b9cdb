#!/usr/bin/env bash
# diff.sh — the differential runner: seeded random operation sequences against
# Apache ZooKeeper and zkd over the raw wire protocol, compared (diff/runner.py).
#
# Why it exists: the Java, C and kazoo checks replay fixed scenarios; this one
# explores.  Every reply, error code, Stat field and watch notification must be
# the same on both servers after normalizing only zxids, times and session ids
# (docs/compatibility.md, "Differential runner").  The reference is Apache
# ZooKeeper 3.9.5 (servers.sh start_zk), compared as is; a server that reports
# a version older than 3.9.3 is refused (exit 2).
# It first runs the runner's self-test (diff/selftest.py: deliberately corrupted
# answers from a proxy in front of ZooKeeper must be reported and shrunk).
#
#   compat-tests/diff.sh ZK_PORT ZKD_PORT [runner.py args...]
#   compat-tests/diff.sh ZK_PORT -               (self-test only)
#   e.g. DIFF_SEEDS=2000 compat-tests/diff.sh 22181 22182
#        compat-tests/diff.sh 22181 22182 --start 500 --seeds 50 --ops 200
#
# Seeds: DIFF_SEEDS (default 200), ops per seed DIFF_OPS (default 120); extra
# arguments are passed to runner.py and win.  Both servers must be running, be
# otherwise idle (a write by someone else moves the zxids that replies carry),
# have TTL nodes enabled and the super digest super:test (servers.sh does all that).
# Needs only python3 (3.11, standard library).  Minimal reproductions are saved to
# compat-tests/.work/results/repro-seed-*.json (replay with runner.py --replay).
#
# The last line is the runner's summary; exit status 0 only when the self-test
# passed and every seed agreed (1 mismatch, 2 error or a refused server version).
set -uo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIFF_DIR="$COMPAT_DIR/diff"
PY=${PYTHON:-python3}

if [ $# -lt 2 ]; then
    sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
ZK_PORT=$1 ZKD_PORT=$2
shift 2
for p in "$ZK_PORT" "$ZKD_PORT"; do
    if [ "$p" = 2181 ]; then echo "refusing port 2181" >&2; exit 2; fi
done
mkdir -p "$COMPAT_DIR/.work/results"

echo "[diff] self-test (corrupted answers must be reported and shrunk)"
"$PY" "$DIFF_DIR/selftest.py" --zk "127.0.0.1:$ZK_PORT"
st=$?
if [ "$ZKD_PORT" = - ]; then
    exit $st
fi

echo "[diff] ${DIFF_SEEDS:-200} seeds x ${DIFF_OPS:-120} ops: Apache ZooKeeper on $ZK_PORT vs zkd on $ZKD_PORT"
"$PY" "$DIFF_DIR/runner.py" --zk "127.0.0.1:$ZK_PORT" --zkd "127.0.0.1:$ZKD_PORT" \
    --seeds "${DIFF_SEEDS:-200}" --ops "${DIFF_OPS:-120}" "$@"
rc=$?
if [ $st != 0 ]; then
    echo "[diff] the self-test failed: the runner's verdict cannot be trusted"
    [ $rc = 0 ] && rc=1
fi
exit $rc
