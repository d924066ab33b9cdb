#!/usr/bin/env bash
# kazoo.sh — run kazoo 2.11.0's own test suite against an already-running server.
#
# Why it exists: kazoo's suite (~490 tests of sessions, watches, ACLs, multi,
# locks, elections, queues, caches ...) is the largest independent body of
# ZooKeeper client behaviour we can run offline.  Its harness normally spawns a
# JVM ZooKeeper cluster; the pytest plugin kazoo/kazoo_external.py redirects it
# to the server on 127.0.0.1:PORT instead, so the same suite judges Apache
# ZooKeeper and zkd.
#
#   compat-tests/kazoo.sh SERVER_KIND PORT [SERVER_DIR] [pytest args...]
#   e.g. compat-tests/kazoo.sh zkd 22182 kazoo/tests/test_lock.py -x
#
# SERVER_KIND is zk or zkd.  SERVER_DIR is the directory servers.sh started the
# server from (default compat-tests/.work/run/SERVER_KIND); if it exists, the
# plugin's restart hooks stop/restart that server on the same data, which the
# test_request_queuing_* tests need.  Deselected tests (ensemble / read-only /
# reconfig only) are listed, with reasons, in kazoo/kazoo-deselect.txt.
#
# Prints pytest's summary line (again as the last line, prefixed kazoo(KIND):);
# exits non-zero if any test failed.  The full output goes to
# compat-tests/.work/kazoo-KIND.log, a JUnit XML report to .work/kazoo-KIND.xml.
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$COMPAT_DIR/.work"
KAZOO_SRC="$WORK/kazoo-2.11.0"

if [ $# -lt 2 ]; then
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
KIND=$1 PORT=$2
shift 2
SERVER_DIR="$WORK/run/$KIND"
# an optional third argument is a server dir if servers.sh set it up
if [ $# -gt 0 ] && [ -f "$1/launch.sh" ]; then SERVER_DIR=$1; shift; fi
case "$SERVER_DIR" in /*) ;; *) SERVER_DIR="$PWD/$SERVER_DIR" ;; esac
# the remaining arguments go to pytest; without a kazoo/... test path the whole
# suite runs
TARGET=(kazoo/tests)
for a in "$@"; do
    case "$a" in kazoo/*) TARGET=() ;; esac
done

case "$KIND" in zk|zkd) ;; *) echo "SERVER_KIND must be zk or zkd" >&2; exit 2 ;; esac
if [ "$PORT" = 2181 ]; then
    echo "refusing port 2181: kazoo's test_slow_connect needs nothing listening there" >&2
    exit 2
fi

"$COMPAT_DIR/prereqs.sh" all

# The plugin, outside the kazoo tree so nothing of kazoo is edited.
mkdir -p "$WORK/plugin"
cp "$COMPAT_DIR/kazoo/kazoo_external.py" "$WORK/plugin/"

DESELECT=()
while read -r line; do
    line=${line%%#*}
    line=$(echo "$line" | xargs)
    [ -n "$line" ] && DESELECT+=(--deselect "$line")
done < "$COMPAT_DIR/kazoo/kazoo-deselect.txt"

export KAZOO_EXTERNAL="127.0.0.1:$PORT"
# Version the harness assumes; with CI unset (below) kazoo still asks the server
# for its version through the 'envi' four-letter word where tests need it.
export ZOOKEEPER_VERSION=3.9.5
export PYTHONPATH="$WORK/plugin"
if [ -x "$SERVER_DIR/launch.sh" ]; then
    export KAZOO_EXTERNAL_STOP="'$COMPAT_DIR/servers.sh' halt_server '$SERVER_DIR'"
    export KAZOO_EXTERNAL_START="'$COMPAT_DIR/servers.sh' resume_server '$SERVER_DIR'"
else
    echo "[kazoo] no server dir $SERVER_DIR: running without restart hooks" \
         "(test_request_queuing_* will fail)" >&2
fi

cd "$KAZOO_SRC"
echo "[kazoo] kazoo 2.11.0 suite against $KIND on $KAZOO_EXTERNAL" \
     "(${#DESELECT[@]} args of deselection from kazoo-deselect.txt)" >&2
# CI is unset so results do not depend on the caller: with CI set kazoo would
# trust ZOOKEEPER_VERSION instead of asking the server, and run test_build.
# --timeout bounds a hanging test (a server that never answers) at 120 s.
set +e
env -u CI "$WORK/venv/bin/pytest" -p kazoo_external -p no:cacheprovider \
    -q --color=no -o log_cli=false -W ignore --timeout=120 -rfE \
    --junitxml="$WORK/kazoo-$KIND.xml" \
    "${DESELECT[@]}" "$@" "${TARGET[@]}" 2>&1 | tee "$WORK/kazoo-$KIND.log"
rc=${PIPESTATUS[0]}
set -e
# kazoo's leftover client threads keep logging after pytest's summary; repeat
# the summary so it is the last line.
summary=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$WORK/kazoo-$KIND.log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
echo "kazoo($KIND): ${summary:-no pytest summary (exit $rc)}"
exit $rc
