#!/usr/bin/env bash
# run.sh — the compatibility test entry point: the same real clients against
# Apache ZooKeeper (the reference) and against zkd, compared.
#
# Why it exists: zkd claims to be a drop-in ZooKeeper.  This script checks it
# with clients we did not write: the official Java client + Curator recipes and
# the C client (normalized transcripts that must be identical to what Apache
# ZooKeeper produces), kazoo's own ~490-test suite, and the migration round
# trip (migration.sh: ZooKeeper dataDir -> zkd import/verify/export -> ZooKeeper);
# with the differential runner (diff.sh): seeded random operation sequences
# over the raw protocol, every reply and watch event compared between the two;
# with TLS and SASL clients (security.sh: Java over Netty, zkCli, kazoo); kazoo's view of
# quota usage (kazoo/kazoo_quota.py, both servers alike); and with
# applications:
# Curator 5.9's recipes (curator.sh), Hadoop's HA elector (hadoop.sh) and Kafka 3.9
# brokers (kafka.sh), each on both servers.
#
#   compat-tests/run.sh [--zk-only | --zkd-only] [--kazoo-both] [--no-kazoo] [--record]
#                       [--no-apps] [--kafka-full]
#
#   (default)     start ZooKeeper on 22181 and zkd on 22182; the differential runner
#                 (DIFF_SEEDS seeds, default 200); the Java and C transcripts against
#                 both, diffed; kazoo's suite against zkd, and its multi-server
#                 tests against a 3-member zkd ensemble
#   --zk-only     only Apache ZooKeeper (transcripts are checked against the
#                 recorded reference in expected/; of the differential runner only
#                 its self-test; kazoo only with --kazoo-both)
#   --zkd-only    only zkd; its transcripts are diffed against expected/
#   --kazoo-both  also run kazoo's suite against ZooKeeper (~2 more minutes)
#   --no-kazoo    skip kazoo's suite entirely
#   --record      write ZooKeeper's transcripts to expected/ (after a scenario change)
#   --no-apps     skip the application checks (Curator recipes, Hadoop's elector, Kafka)
#   --kafka-full  the whole Kafka run (four backends, 200,000 records a step)
#
# zkd must already be built: ${ZKD_BIN:-target/release/zkd} (relative to the repo).
# Ports: ZK_PORT (22181) and ZKD_PORT (22182), the ensemble ZKD_ENS_PORT+1..3,
# +101..103, +201..203 (22290); never 2181.
# Servers are started from compat-tests/.work/run/{zk,zkd} and always stopped on
# exit.  Transcripts, diffs and logs are kept in compat-tests/.work/results/.
# The last line is "N passed, M failed" counting the checks below; the exit
# status is non-zero if any check failed.
set -uo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$COMPAT_DIR/.work"
RUN="$WORK/run"
RES="$WORK/results"
EXPECTED="$COMPAT_DIR/expected"
ZK_PORT=${ZK_PORT:-22181}
ZKD_PORT=${ZKD_PORT:-22182}

# shellcheck source=servers.sh
source "$COMPAT_DIR/servers.sh"

use_zk=1 use_zkd=1 kazoo_zkd=1 kazoo_zk=0 record=0 apps=1 kafka_full=0
for arg in "$@"; do
    case "$arg" in
        --zk-only)    use_zkd=0 ;;
        --zkd-only)   use_zk=0 ;;
        --kazoo-both) kazoo_zk=1 ;;
        --no-kazoo)   kazoo_zkd=0; kazoo_zk=0 ;;
        --record)     record=1 ;;
        --no-apps)    apps=0 ;;
        --kafka-full) kafka_full=1 ;;
        -h|--help)    sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *)            echo "unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done
if [ $use_zk = 0 ] && [ $use_zkd = 0 ]; then echo "--zk-only and --zkd-only exclude each other" >&2; exit 2; fi
if [ $use_zkd = 0 ]; then kazoo_zkd=0; fi
if [ $use_zk = 0 ]; then kazoo_zk=0; fi

passed=0 failed=0
SUMMARY=()

# record a check's outcome
pass() { passed=$((passed + 1)); SUMMARY+=("PASS  $1"); echo "[run] PASS  $1"; }
fail() { failed=$((failed + 1)); SUMMARY+=("FAIL  $1"); echo "[run] FAIL  $1"; }
# check NAME CMD...: run CMD, pass if it exits 0
check() {
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

STARTED=()
cleanup() {
    local d
    for d in "${STARTED[@]}"; do halt_server "$d"; done
    STARTED=()
}
trap cleanup EXIT
trap 'echo "[run] interrupted" >&2; exit 130' INT TERM

T0=$(date +%s)
mkdir -p "$RES"
rm -f "$RES"/*.txt "$RES"/*.diff "$RES"/*.err "$RES"/diff.out "$RES"/repro-seed-*.json

# ---------------------------------------------------------------- prerequisites
echo "[run] installing prerequisites (idempotent)"
if ! "$COMPAT_DIR/prereqs.sh" apt; then
    fail "prerequisites (apt)"
    echo "$passed passed, $failed failed"
    exit 1
fi

# leftovers of an interrupted earlier run (only processes started from our dirs)
halt_server "$RUN/zk"
halt_server "$RUN/zkd"

# ---------------------------------------------------------------- servers
# Both servers take SASL DIGEST-MD5 with the JAAS users kazoo's own harness gives its
# servers (its test_sasl.py logs in as jaasuser), passed as zkServer.sh users pass it.
mkdir -p "$RUN"
cat > "$RUN/kazoo-jaas.conf" <<'EOF'
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};
EOF
export SERVER_JVMFLAGS="-Djava.security.auth.login.config=$RUN/kazoo-jaas.conf"
SASL_CFG="authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
zk_up=0 zkd_up=0
if [ $use_zk = 1 ]; then
    if start_zk "$ZK_PORT" "$RUN/zk" "$SASL_CFG"; then zk_up=1; STARTED+=("$RUN/zk"); pass "start Apache ZooKeeper on $ZK_PORT"
    else fail "start Apache ZooKeeper on $ZK_PORT"; fi
fi
if [ $use_zkd = 1 ]; then
    if start_zkd "$ZKD_PORT" "$RUN/zkd" "$SASL_CFG"; then zkd_up=1; STARTED+=("$RUN/zkd"); pass "start zkd on $ZKD_PORT"
    else fail "start zkd on $ZKD_PORT"; fi
fi

unset SERVER_JVMFLAGS

# show_diff A B OUT: unified diff of two transcripts, first 60 lines printed
show_diff() {
    if diff -u --label "$(basename "$1")" --label "$(basename "$2")" "$1" "$2" > "$3"; then
        return 0
    fi
    echo "[run] transcripts differ (full diff in $3):"
    head -n 60 "$3" | sed 's/^/    /'
    return 1
}

# ---------------------------------------------------------------- differential runner
# First, while both servers are fresh and idle: the runner compares the zxids that
# replies carry, so no one else may write meanwhile (the checks below leave TTL
# nodes and containers that the servers reap in the background).
if [ $use_zk = 1 ] && [ $use_zkd = 1 ]; then
    if [ $zk_up = 1 ] && [ $zkd_up = 1 ]; then
        echo "[run] differential runner: self-test, then ${DIFF_SEEDS:-200} seeds against both servers (about 2 minutes; log in $RES/diff.out)"
        "$COMPAT_DIR/diff.sh" "$ZK_PORT" "$ZKD_PORT" > "$RES/diff.out" 2>&1
        rc=$?
        summary=$(tail -n 1 "$RES/diff.out")
        if [ $rc = 0 ]; then
            pass "differential runner: ${summary#\[diff\] }"
        else
            fail "differential runner: ${summary#\[diff\] } (exit $rc; see $RES/diff.out)"
            { grep -a '^\[selftest\] FAIL' "$RES/diff.out"
              sed -n '/^\[diff\] [0-9]* seeds x/,$p' "$RES/diff.out" \
                  | grep -aE '^seed |^  minimal|^    #|^    [-+ ] |^  KF'
            } | head -n 60 | sed 's/^/    /'
        fi
    else
        fail "differential runner (a server is not running)"
    fi
elif [ $use_zk = 1 ]; then
    if [ $zk_up = 1 ] && "$COMPAT_DIR/diff.sh" "$ZK_PORT" - > "$RES/diff.out" 2>&1; then
        pass "differential runner self-test against Apache ZooKeeper"
    else
        fail "differential runner self-test against Apache ZooKeeper (see $RES/diff.out)"
    fi
else
    echo "[run] differential runner not run: it needs Apache ZooKeeper as the reference"
fi

# ---------------------------------------------------------------- transcripts
for client in java c; do
    script="$COMPAT_DIR/$client.sh"
    ref=""        # what zkd's transcript is compared with
    if [ $use_zk = 1 ]; then
        out="$RES/zk-$client.txt"
        if [ $zk_up = 1 ]; then
            echo "[run] $client transcript against Apache ZooKeeper"
            if "$script" "$ZK_PORT" > "$out" 2> "$RES/zk-$client.err"; then
                pass "$client transcript runs cleanly against Apache ZooKeeper ($(wc -l < "$out") lines)"
                ref=$out
            else
                fail "$client transcript runs cleanly against Apache ZooKeeper (see $RES/zk-$client.err)"
                tail -n 5 "$out" "$RES/zk-$client.err" | sed 's/^/    /'
            fi
            if [ $record = 1 ] && [ -n "$ref" ]; then
                mkdir -p "$EXPECTED"
                cp "$out" "$EXPECTED/$client.txt"
                echo "[run] recorded $EXPECTED/$client.txt"
            fi
            check "$client transcript of Apache ZooKeeper matches expected/$client.txt" \
                show_diff "$EXPECTED/$client.txt" "$out" "$RES/zk-$client.diff"
        else
            fail "$client transcript against Apache ZooKeeper (server not running)"
        fi
    fi
    if [ $use_zkd = 1 ]; then
        [ -n "$ref" ] || ref="$EXPECTED/$client.txt"
        out="$RES/zkd-$client.txt"
        if [ $zkd_up = 1 ]; then
            echo "[run] $client transcript against zkd"
            if "$script" "$ZKD_PORT" > "$out" 2> "$RES/zkd-$client.err"; then
                pass "$client transcript runs cleanly against zkd ($(wc -l < "$out") lines)"
            else
                fail "$client transcript runs cleanly against zkd (see $RES/zkd-$client.err)"
            fi
            check "$client transcript of zkd is identical to Apache ZooKeeper's ($(basename "$ref"))" \
                show_diff "$ref" "$out" "$RES/zkd-$client.diff"
        else
            fail "$client transcript against zkd (server not running)"
        fi
    fi
done

# ---------------------------------------------------------------- kazoo
run_kazoo() {   # KIND PORT UP
    local kind=$1 port=$2 up=$3 label
    [ "$kind" = zk ] && label="Apache ZooKeeper" || label="zkd"
    if [ "$up" != 1 ]; then
        fail "kazoo 2.11.0 suite against $label (server not running)"
        return
    fi
    echo "[run] kazoo 2.11.0 suite against $label (about 2 minutes; log in .work/kazoo-$kind.log)"
    "$COMPAT_DIR/kazoo.sh" "$kind" "$port" "$RUN/$kind" > "$RES/kazoo-$kind.out" 2>&1
    local rc=$? summary
    summary=$(tail -n 1 "$RES/kazoo-$kind.out")
    if [ $rc = 0 ]; then
        pass "kazoo 2.11.0 suite against $label: ${summary#*: }"
    else
        fail "kazoo 2.11.0 suite against $label: ${summary#*: } (exit $rc)"
        grep -E '^(FAILED|ERROR) ' "$RES/kazoo-$kind.out" | head -n 40 | sed 's/^/    /'
    fi
}
[ $kazoo_zkd = 1 ] && run_kazoo zkd "$ZKD_PORT" $zkd_up
[ $kazoo_zk = 1 ] && run_kazoo zk "$ZK_PORT" $zk_up

# kazoo's multi-server tests (the ones kazoo.sh deselects) against a 3-member zkd
# ensemble of its own on ZKD_ENS_PORT+1..3 (kazoo-ensemble.sh).
if [ $kazoo_zkd = 1 ]; then
    echo "[run] kazoo multi-server tests against a zkd ensemble (under a minute; log in .work/kazoo-ensemble.log)"
    "$COMPAT_DIR/kazoo-ensemble.sh" > "$RES/kazoo-ensemble.out" 2>&1
    rc=$?
    summary=$(tail -n 1 "$RES/kazoo-ensemble.out")
    if [ $rc = 0 ]; then
        pass "kazoo multi-server tests against a zkd ensemble: ${summary#*: }"
    else
        fail "kazoo multi-server tests against a zkd ensemble: ${summary#*: } (exit $rc)"
        grep -E '^(FAILED|ERROR) ' "$RES/kazoo-ensemble.out" | head -n 20 | sed 's/^/    /'
    fi
fi

# ---------------------------------------------------------------- zktop
# Debian's zktop (curses, polls `stat`) in a pseudo-terminal: it must show the server.
if [ $zk_up = 1 ]; then
    check "zktop shows Apache ZooKeeper" \
        bash -c '"$0" "$1" > "$2" 2>&1' "$COMPAT_DIR/zktop.sh" "$ZK_PORT" "$RES/zktop-zk.txt"
fi
if [ $zkd_up = 1 ]; then
    check "zktop shows zkd" \
        bash -c '"$0" "$1" > "$2" 2>&1' "$COMPAT_DIR/zktop.sh" "$ZKD_PORT" "$RES/zktop-zkd.txt"
fi

# ---------------------------------------------------------------- kazoo quotas
# kazoo writes a quota the way zkCli's setquota does and follows the usage the server
# keeps in zookeeper_stats (kazoo/kazoo_quota.py): both servers must print the same.
if [ $zk_up = 1 ] && [ $zkd_up = 1 ]; then
    KQ="$COMPAT_DIR/kazoo/kazoo_quota.py" PY="$COMPAT_DIR/.work/venv/bin/python"
    "$PY" "$KQ" "127.0.0.1:$ZK_PORT" > "$RES/kazoo-quota-zk.txt" 2>&1; kq_zk=$?
    "$PY" "$KQ" "127.0.0.1:$ZKD_PORT" > "$RES/kazoo-quota-zkd.txt" 2>&1; kq_zkd=$?
    if [ $kq_zk = 0 ] && [ $kq_zkd = 0 ] &&
        diff -u "$RES/kazoo-quota-zk.txt" "$RES/kazoo-quota-zkd.txt" > "$RES/kazoo-quota.diff"; then
        pass "kazoo quota usage: the same on both ($(wc -l < "$RES/kazoo-quota-zkd.txt") observations)"
    else
        fail "kazoo quota usage (exit $kq_zk / $kq_zkd)"
        sed 's/^/    /' "$RES/kazoo-quota.diff" "$RES/kazoo-quota-zkd.txt" | head -n 30
    fi
fi

# ---------------------------------------------------------------- migration
# Import a real ZooKeeper dataDir into zkd, verify, export back, verify again
# (migration.sh; its own servers on MIG_PORT_BASE.., so the ones above keep running).
if [ $use_zk = 1 ] && [ $use_zkd = 1 ]; then
    echo "[run] migration round trip (under a minute; log in .work/results/migration.out)"
    "$COMPAT_DIR/migration.sh" > "$RES/migration.out" 2>&1
    rc=$?
    if [ $rc = 0 ]; then
        pass "migration: import, verify, export, verify: $(tail -n 1 "$RES/migration.out")"
    else
        fail "migration: import, verify, export, verify: $(tail -n 1 "$RES/migration.out") (exit $rc)"
        grep -E 'FAIL' "$RES/migration.out" | head -n 20 | sed 's/^/    /'
    fi
fi

# ---------------------------------------------------------------- applications
# Real applications on zkd and on Apache ZooKeeper 3.9.5 side by side, each on servers
# of its own (ports 23181.., 24181.., 25181..): Curator 5.9's recipes, Hadoop's HA
# elector, and Kafka 3.9 brokers in ZooKeeper mode (the reduced profile; kafka.sh
# --full is the whole run, docs/compatibility.md "Applications").
# app_check NAME SCRIPT ARGS...: run it, pass when it exits 0; its output is kept.
app_check() {
    local name=$1 script=$2; shift 2
    local out="$RES/$name.out" rc
    echo "[run] $name (log in $out)"
    "$COMPAT_DIR/$script" "$@" > "$out" 2>&1
    rc=$?
    local last; last=$(tail -n 1 "$out"); last=${last#"$name: "}
    if [ $rc = 0 ]; then
        pass "$name: $last"
    else
        fail "$name: $last (exit $rc)"
        grep -aE 'FAIL|did not|error' "$out" | head -n 30 | sed 's/^/    /'
    fi
}
# TLS and SASL (ports 26181.., 26281..): the Java client over Netty with a JAAS file,
# zkCli and kazoo with keytool- and openssl-made stores, on both servers (security.sh).
if [ $use_zk = 1 ] && [ $use_zkd = 1 ]; then
    app_check security security.sh both
fi
if [ $apps = 1 ] && [ $use_zk = 1 ] && [ $use_zkd = 1 ]; then
    app_check curator curator.sh both
    app_check hadoop hadoop.sh both
    if [ $kafka_full = 1 ]; then app_check kafka kafka.sh --full; else app_check kafka kafka.sh; fi
fi

# ---------------------------------------------------------------- still alive?
# A server that crashed during the run is a failure even if the clients coped.
if [ $zk_up = 1 ]; then
    check "Apache ZooKeeper still answers ruok at the end" test "$(four_letter "$ZK_PORT" ruok)" = imok
fi
if [ $zkd_up = 1 ]; then
    check "zkd still answers ruok at the end" test "$(four_letter "$ZKD_PORT" ruok)" = imok
fi

cleanup

echo
echo "[run] summary ($(( $(date +%s) - T0 )) s; results in $RES):"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
