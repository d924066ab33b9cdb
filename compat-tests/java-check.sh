#!/usr/bin/env bash
# java-check.sh — run one self-checking Java program against Apache ZooKeeper 3.9.5
# and against zkd, and compare the outcomes (a library: curator.sh and hadoop.sh
# source it).
#
# Why it exists: the application checks that drive a real Java client library
# (Curator's recipes, Hadoop's elector) all do the same around their program: fetch a
# Maven bundle, compile the program, start each server, run the program, stop the
# server, read its verdicts, look through zkd's log, print both servers side by side
# and what failed.  This file is the one place that does it; each check keeps only
# what is its own (its program, bundle, ports, time limit, JVM flags, arguments).
#
# The program gets the server's address (127.0.0.1:PORT) as its first argument and
# prints, a check at a time, "TIME <check> <ms>" and "PASS <check>" or
# "FAIL <check>: <why>", and as its last line "N passed, M failed".
#
# Use, from a script that has `set -euo pipefail` and COMPAT_DIR set:
#   source "$COMPAT_DIR/java-check.sh"
#   APP=curator                     # names the messages ([curator]) and the dirs
#                                   #   .work/APP (classes), .work/APP-run (servers, output)
#   WHAT="Curator recipes"          # what runs, for the progress line
#   UNIT=scenario                   # what a check is called, heads the table
#   BUNDLE=clients-3.9              # the classpath: compat-tests/maven/BUNDLE
#   SRC="$COMPAT_DIR/curator/Recipes.java"   # the program; its class is the main class
#   declare -A PORT=([zk]=23181 [zkd]=23182)   # the port of each server
#   TIMEOUT=180                     # seconds after which a run counts as hung
#   JVM=(-Xmx512m)                  # JVM flags
#   extra_args() { ...; }           # optional: extra_args KIND DIR prints the program's
#                                   #   arguments after the address, one a line
#   server_cfg() { ...; }           # optional: server_cfg KIND prints zoo.cfg lines
#                                   #   added to the server's settings
#   java_check "$@"                 # [zk|zkd|both]; returns the exit status
#
# Each server runs from .work/APP-run/KIND (always stopped on exit); the program's
# stdout goes to .work/APP-run/KIND.out (and to the terminal, prefixed [KIND]), its
# stderr to KIND.err.  zkd is ${ZKD_BIN:-target/release/zkd} (see servers.sh).
# zkd's server.log must hold no 'panicked' or ' ERROR ' line, neither while the
# program ran nor in the final shutdown on SIGTERM: that is one more check,
# "server-log-clean", on zkd only.  Output: a side-by-side table (each check's
# verdict and time, each run's exit status and time), then what failed (per server:
# the problems, the tails of the program's stderr and of the server log), and last
# "N passed, M failed" over every check on every server, counting a program that did
# not start, finish or end properly as one more failure.  Exit status 0 when nothing
# failed, 1 otherwise, 2 for a wrong argument, 130 when interrupted.

# shellcheck source=servers.sh
source "$COMPAT_DIR/servers.sh"

declare -A NAME=([zk]="Apache ZooKeeper 3.9.5" [zkd]="zkd")
declare -A RES MS ELAPSED RC   # RES[kind,check] PASS|FAIL, MS[kind,check] its ms;
                               # ELAPSED[kind] the run's ms, RC[kind] its exit status
CHECKS=()       # the check names, in order of first appearance
PROBLEMS=()     # "kind|text" lines for the failure report
STARTED=()      # server dirs to stop on exit
LOG_CHECK=server-log-clean

# java_check [zk|zkd|both]: the whole check, see above
java_check() {
    local which=${1:-both} kind
    case "$which" in
        zk) KINDS=(zk) ;;
        zkd) KINDS=(zkd) ;;
        both) KINDS=(zk zkd) ;;
        *) awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0" >&2; return 2 ;;
    esac
    RUN="$COMPAT_DIR/.work/$APP-run"
    OUT="$COMPAT_DIR/.work/$APP"
    mkdir -p "$RUN" "$OUT"
    _jc_compile
    trap _jc_cleanup EXIT
    trap 'echo "[$APP] interrupted" >&2; exit 130' INT TERM
    for kind in "${KINDS[@]}"; do _jc_run_kind "$kind"; done
    _jc_summary
}

# _jc_compile: fetch BUNDLE (sets CP), compile SRC into OUT when the source or the
# bundle is newer than the class (sets MAIN)
_jc_compile() {
    local lib
    lib=$(bash "$COMPAT_DIR/maven/fetch.sh" "$BUNDLE")
    CP="$lib/*"
    MAIN=$(basename "$SRC" .java)
    if [ ! -f "$OUT/$MAIN.class" ] || [ "$SRC" -nt "$OUT/$MAIN.class" ] ||
       [ "$lib/.complete" -nt "$OUT/$MAIN.class" ]; then
        echo "[$APP] compiling $SRC" >&2
        javac -nowarn -d "$OUT" -cp "$CP" "$SRC" >&2
    fi
}

_jc_cleanup() {
    local d
    for d in "${STARTED[@]}"; do halt_server "$d" || true; done
}

_jc_add_check() {   # _jc_add_check NAME: append it to CHECKS unless it is there
    local n=$1 s
    for s in "${CHECKS[@]}"; do [ "$s" = "$n" ] && return 0; done
    CHECKS+=("$n")
}

# _jc_run_kind KIND: start the server, run the program against it, stop the server,
# record the results
_jc_run_kind() {
    local kind=$1 port=${PORT[$1]} dir="$RUN/$1" t0 t1 rc extra=()
    halt_server "$dir" || true            # a server left behind by an interrupted run
    # no stale output or log in the report if this run fails early
    rm -f "$RUN/$kind.out" "$RUN/$kind.err" "$dir/server.log"
    local cfg=""
    if declare -F server_cfg > /dev/null; then cfg=$(server_cfg "$kind"); fi
    if ! "start_$kind" "$port" "$dir" "$cfg"; then
        PROBLEMS+=("$kind|${NAME[$kind]} did not start on port $port")
        RC[$kind]=start
        return 0
    fi
    STARTED+=("$dir")
    if declare -F extra_args > /dev/null; then mapfile -t extra < <(extra_args "$kind" "$dir"); fi
    echo "[$APP] $WHAT against ${NAME[$kind]} on 127.0.0.1:$port" >&2
    t0=$(date +%s%N)
    set +e
    timeout "$TIMEOUT" java "${JVM[@]}" -cp "$CP:$OUT" "$MAIN" "127.0.0.1:$port" "${extra[@]}" \
        2> "$RUN/$kind.err" < /dev/null | tee "$RUN/$kind.out" | sed -u "s/^/[$kind] /"
    rc=${PIPESTATUS[0]}
    set -e
    t1=$(date +%s%N)
    ELAPSED[$kind]=$(( (t1 - t0) / 1000000 ))
    RC[$kind]=$rc
    halt_server "$dir" || true
    _jc_read_results "$kind" "$rc"
    if [ "$kind" = zkd ]; then _jc_check_log "$kind" "$dir/server.log"; fi
}

# _jc_read_results KIND RC: record the program's verdicts from KIND.out, and a
# problem if it hung, ended early or failed without saying what
_jc_read_results() {
    local kind=$1 rc=$2 out="$RUN/$1.out" line n rest
    while IFS= read -r line; do
        case "$line" in
            "TIME "*)
                read -r _ n rest <<< "$line"
                MS[$kind,$n]=$rest ;;
            "PASS "*)
                n=${line#PASS }
                _jc_add_check "$n"; RES[$kind,$n]=PASS ;;
            "FAIL "*)
                rest=${line#FAIL }
                n=${rest%%:*}
                _jc_add_check "$n"; RES[$kind,$n]=FAIL
                PROBLEMS+=("$kind|step '$n' failed on ${NAME[$kind]}: ${rest#*: }") ;;
        esac
    done < "$out"

    if [ "$rc" = 124 ]; then
        PROBLEMS+=("$kind|the program did not finish within $TIMEOUT s on ${NAME[$kind]} (killed)")
    elif ! tail -n 1 "$out" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
        PROBLEMS+=("$kind|the program ended early on ${NAME[$kind]} (exit $rc): $(tail -n 1 "$out")")
    elif [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$out"; then
        PROBLEMS+=("$kind|the program exited $rc on ${NAME[$kind]} without a failed step")
    fi
}

# _jc_check_log KIND LOG: the server-log-clean check — no 'panicked' or ' ERROR '
# line while the program ran (server restarts included), nor from the last
# "SIGTERM: shutting down" on, i.e. when halt_server stopped it (colour codes removed)
_jc_check_log() {
    local kind=$1 log=$2 last phase bad
    _jc_add_check "$LOG_CHECK"
    RES[$kind,$LOG_CHECK]=PASS
    [ -f "$log" ] || return 0
    last=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -n 'SIGTERM: shutting down' | tail -n 1 | cut -d: -f1 || true)
    for phase in run shutdown; do
        bad=$(sed 's/\x1b\[[0-9;]*m//g' "$log" |
              awk -v want="$phase" -v last="${last:-0}" '{ s = last && NR >= last }
                  (want == "run" && !s) || (want == "shutdown" && s)' |
              grep -E 'panicked| ERROR ' | head -n 20 || true)
        [ -z "$bad" ] && continue
        RES[$kind,$LOG_CHECK]=FAIL
        if [ "$phase" = run ]; then
            phase="while the program ran"
        else
            phase="during its shutdown on SIGTERM (after the program ran)"
        fi
        PROBLEMS+=("$kind|step '$LOG_CHECK' failed: zkd's server.log has 'panicked' or ' ERROR ' lines $phase:
$(sed 's/^/      /' <<< "$bad")")
    done
}

# _jc_cell KIND CHECK: one cell of the table, counted in passed/failed
_jc_cell() {
    local r=${RES[$1,$2]:-} ms=${MS[$1,$2]:-}
    if [ -z "$r" ]; then
        if [ "$1" = zk ] && [ "$2" = "$LOG_CHECK" ]; then printf '%-18s' '(zkd only)'; return; fi
        r=none
    fi
    if [ "$r" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    if [ -n "$ms" ]; then
        printf '%-4s %7s      ' "$r" "$(awk -v m="$ms" 'BEGIN { printf "%.1f s", m / 1000 }')"
    else
        printf '%-18s' "$r"
    fi
}

# _jc_summary: the table, the failure report and the "N passed, M failed" line;
# returns 0 when nothing failed
_jc_summary() {
    local w=${#UNIT} n kind p mine
    passed=0 failed=0
    for n in "${CHECKS[@]}" 'whole run'; do [ ${#n} -gt "$w" ] && w=${#n}; done
    w=$((w + 3))
    echo
    printf '%-*s' "$w" "$UNIT"
    for kind in "${KINDS[@]}"; do printf '%-18s' "$kind"; done
    echo
    for n in "${CHECKS[@]}"; do
        printf '%-*s' "$w" "$n"
        for kind in "${KINDS[@]}"; do _jc_cell "$kind" "$n"; done
        echo
    done
    printf '%-*s' "$w" 'whole run'
    for kind in "${KINDS[@]}"; do
        if [ -n "${ELAPSED[$kind]:-}" ]; then
            printf '%-18s' "$(awk -v m="${ELAPSED[$kind]}" -v rc="${RC[$kind]}" 'BEGIN { printf "exit %s %5.1f s", rc, m / 1000 }')"
        else
            printf '%-18s' "not run (${RC[$kind]:-?})"
        fi
    done
    echo
    # a program that did not start, died or hung is a failure even if no check said FAIL
    for p in "${PROBLEMS[@]}"; do
        case "${p#*|}" in "step '"*) ;; *) failed=$((failed + 1)) ;; esac
    done

    if [ ${#PROBLEMS[@]} -ne 0 ]; then
        echo
        echo "$APP: FAILED"
        for kind in "${KINDS[@]}"; do
            mine=()
            for p in "${PROBLEMS[@]}"; do [ "${p%%|*}" = "$kind" ] && mine+=("${p#*|}"); done
            [ ${#mine[@]} -eq 0 ] && continue
            echo "== ${NAME[$kind]} (port ${PORT[$kind]}, dir $RUN/$kind)"
            for p in "${mine[@]}"; do echo "  - $p"; done
            if [ -s "$RUN/$kind.err" ]; then
                echo "  -- program stderr (last 30 lines of $RUN/$kind.err):"
                tail -n 30 "$RUN/$kind.err" | sed 's/^/     /'
            fi
            if [ -f "$RUN/$kind/server.log" ]; then
                echo "  -- server log (last 40 lines of $RUN/$kind/server.log):"
                sed 's/\x1b\[[0-9;]*m//g' "$RUN/$kind/server.log" | tail -n 40 | sed 's/^/     /'
            fi
        done
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ ${#PROBLEMS[@]} -eq 0 ]
}
