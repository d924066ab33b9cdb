#!/usr/bin/env bash
# kazoo-ensemble.sh — kazoo 2.11.0's multi-server tests against a 3-member zkd ensemble.
#
# kazoo.sh runs kazoo's suite against ONE server, so the tests that need an
# ensemble are deselected there (kazoo/kazoo-deselect.txt). This script runs
# exactly those against a real 3-member zkd ensemble on 127.0.0.1:
#   test_update_host_list (x3 handlers)  a client grows its host list, its member
#                                        is stopped, the client stays CONNECTED
#   TestReadOnlyMode::test_read_only     two of three members stopped: the last
#                                        serves a read-only session (CONNECTED_RO)
#   TestReconfig (3 tests)               reconfig as super: add/remove an observer,
#                                        NoAuth without super, BadArguments
# The plugin's restart hooks stop and restart individual members (SIGTERM, same
# data), as kazoo's own harness does with its JVM cluster.
#
#   compat-tests/kazoo-ensemble.sh [BASE_PORT]     (default $ZKD_ENS_PORT or 22290)
# Members: clients on BASE+1..3, peers on BASE+101..103, election ports BASE+201..203.
# Exits non-zero if a test failed; the last line is pytest's summary.
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$COMPAT_DIR/.work"
# shellcheck source=servers.sh
source "$COMPAT_DIR/servers.sh"
BASE=${1:-${ZKD_ENS_PORT:-22290}}
N=3
BIN=$(_zkd_bin)
[ -x "$BIN" ] || { echo "zkd binary not found at $BIN" >&2; exit 1; }
"$COMPAT_DIR/prereqs.sh" all

cleanup() { for ((i = 1; i <= N; i++)); do halt_server "$WORK/run/zkd-ens$i" || true; done; }
trap cleanup EXIT
# tickTime 500: read-only mode starts syncLimit x tickTime = 2.5 s after the quorum is
# lost; session timeouts up to 10 s (kazoo's default) are allowed.
start_ensemble zkd "$BASE" "$N" "$WORK/run/zkd-ens" 500 "readonlymode.enabled=true
reconfigEnabled=true" > /dev/null
hosts=""
for ((i = 1; i <= N; i++)); do hosts+="${hosts:+,}127.0.0.1:$((BASE + i))"; done

mkdir -p "$WORK/plugin"
cp "$COMPAT_DIR/kazoo/kazoo_external.py" "$WORK/plugin/"
export KAZOO_EXTERNAL="$hosts"
export ZOOKEEPER_VERSION=3.9.5
export PYTHONPATH="$WORK/plugin"
export KAZOO_EXTERNAL_STOP="'$COMPAT_DIR/servers.sh' halt_server '$WORK/run/zkd-ens{i}'"
export KAZOO_EXTERNAL_START="'$COMPAT_DIR/servers.sh' resume_server '$WORK/run/zkd-ens{i}'"
TESTS=()
while read -r line; do
    line=${line%%#*}
    line=$(echo "$line" | xargs)
    [ -n "$line" ] && TESTS+=("$line")
done < "$COMPAT_DIR/kazoo/kazoo-deselect.txt"

cd "$WORK/kazoo-2.11.0"
echo "[kazoo-ensemble] ${#TESTS[@]} multi-server tests against zkd members $hosts" >&2
# CI=true: test_read_only then waits 15 s before stopping two members, as in
# kazoo's own CI, so the survivor has applied what setUp wrote (a follower can
# only apply what it has seen committed, in ZooKeeper as in zkd).
set +e
CI=true "$WORK/venv/bin/pytest" -p kazoo_external -p no:cacheprovider \
    -q --color=no -o log_cli=false -W ignore --timeout=120 -rfE \
    --junitxml="$WORK/kazoo-ensemble.xml" "${TESTS[@]}" 2>&1 | tee "$WORK/kazoo-ensemble.log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$WORK/kazoo-ensemble.log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
# Stop the members first, so that the summary is the last line (run.sh reports it).
trap - EXIT
cleanup
echo "kazoo(zkd ensemble): ${summary:-no pytest summary (exit $rc)}"
exit $rc
