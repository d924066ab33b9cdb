# ensemble.sh — the --ensemble mode of benches/compare.sh: a 3-member Apache ZooKeeper
# ensemble vs a 3-member zkd ensemble on loopback, same generator.
#
#   benches/compare.sh --ensemble [--failovers N] [--duration S] [--warmup S] [--keep] [--json FILE]
#
# compare.sh sources this file after its shared helpers (base_cfg, write_launch, bench,
# both, record, field, errors, rss_of_pid, report, COMMON) and prints the report after
# it; it is not meant to be run on its own.
#
# Servers. Each ensemble gets the same zoo.cfg per member: base_cfg (tickTime=2000,
# maxClientCnxns=0, no admin server, 4lw whitelist *, forceSync=yes) plus initLimit=10,
# syncLimit=5, clientPort and, for every member j,
#     server.j=127.0.0.1:PORT+1000+j:PORT+2000+j;PORT+j
# with its id in dataDir/myid (PORT: ZK_ENS_PORT 27190, ZKD_ENS_PORT 27290). ZooKeeper
# members run QuorumPeerMain with -Xmx$ZK_HEAP each; zkd members run `zkd serve --config`.
# Both ensembles run side by side; the idle one is not loaded. An ensemble counts as up
# once all three members serve and srvr shows one leader and two followers; if zkd's
# does not come up, its figures are left blank and ZooKeeper's are still measured.
#
# Workloads: as in the standalone mode (16 sessions x depth 16, 100 B values, create /
# set / get, alternating which ensemble goes first), with the sessions assigned to the
# three members round-robin, so about two thirds of the writes reach a follower first.
#
# Failover, --failovers times per ensemble (default 3, alternating): find the leader
# (srvr "Mode: leader"); `zkd-bench write-probe` writes through the two other members
# every 10 ms for 1 s, then sends the leader SIGKILL itself and from then on starts a
# setData every 10 ms on the survivors (the member's session while it lasts, else a new
# session; earlier attempts are not waited for) until one is acknowledged. The figure is
# the time from the kill to that acknowledgement. The killed member is then started
# again on its data and the next kill waits until the ensemble is whole again.

ENS_N=3
ZK_ENS_PORT=${ZK_ENS_PORT:-27190}
ZKD_ENS_PORT=${ZKD_ENS_PORT:-27290}
QUORUM_TIMEOUT=${QUORUM_TIMEOUT:-30}   # seconds for an ensemble to show a leader and followers
FAILOVER_PATH=/zkd-bench-failover

ens_base()    { if [ "$1" = zk ]; then echo "$ZK_ENS_PORT"; else echo "$ZKD_ENS_PORT"; fi; }
member_dir()  { echo "$WORK/$1$2"; }                   # KIND I
client_port() { echo $(( $(ens_base "$1") + $2 )); }   # KIND I
mode_of()     { four_letter "$(client_port "$1" "$2")" srvr | awk -F': ' '/^Mode/ {print $2}'; }

# addr_of KIND [EXCEPT]: the members' client addresses, comma-separated (without member EXCEPT)
addr_of() {
    local kind=$1 except=${2:-0} i out=""
    for ((i = 1; i <= ENS_N; i++)); do
        [ "$i" = "$except" ] || out+="${out:+,}127.0.0.1:$(client_port "$kind" "$i")"
    done
    echo "$out"
}

leader_of() {   # KIND: the member whose srvr says "Mode: leader"
    local i
    for ((i = 1; i <= ENS_N; i++)); do
        [ "$(mode_of "$1" "$i")" = leader ] && { echo "$i"; return 0; }
    done
    return 1
}

# await_quorum KIND: wait until every member serves, one as leader and the rest as followers
await_quorum() {
    local kind=$1 i t modes
    for ((t = 0; t < QUORUM_TIMEOUT * 5; t++)); do
        modes=""
        for ((i = 1; i <= ENS_N; i++)); do modes+=" $(mode_of "$kind" "$i")"; done
        if [ "$(echo "$modes" | grep -o leader | wc -l)" = 1 ] &&
           [ "$(echo "$modes" | grep -o follower | wc -l)" = $((ENS_N - 1)) ]; then
            return 0
        fi
        sleep 0.2
    done
    log "$kind ensemble: no leader with $((ENS_N - 1)) followers after ${QUORUM_TIMEOUT}s (modes:$modes)"
    return 1
}

start_ensemble() {   # KIND
    local kind=$1 base i j dir
    base=$(ens_base "$kind")
    for ((i = 1; i <= ENS_N; i++)); do
        for j in $((base + i)) $((base + 1000 + i)) $((base + 2000 + i)); do
            _check_port "$j" || return 1
        done
    done
    for ((i = 1; i <= ENS_N; i++)); do
        dir=$(_fresh_dir "$(member_dir "$kind" "$i")") || return 1
        {
            base_cfg "$dir/data"
            echo "initLimit=10"
            echo "syncLimit=5"
            echo "clientPort=$((base + i))"
            for ((j = 1; j <= ENS_N; j++)); do
                echo "server.$j=127.0.0.1:$((base + 1000 + j)):$((base + 2000 + j));$((base + j))"
            done
        } > "$dir/zoo.cfg"
        echo "$i" > "$dir/data/myid"
        write_launch "$dir" "$kind" "$((base + i))" org.apache.zookeeper.server.quorum.QuorumPeerMain
        _spawn "$dir"   # all members first: none serves before a quorum is up
    done
    for ((i = 1; i <= ENS_N; i++)); do
        _await_ready "$(member_dir "$kind" "$i")" || return 1
    done
    await_quorum "$kind" || return 1
    log "$kind ensemble up on $(addr_of "$kind"), leader: member $(leader_of "$kind")"
}

stop_ensemble() {   # KIND
    local i
    for ((i = 1; i <= ENS_N; i++)); do halt_server "$(member_dir "$1" "$i")" 2>/dev/null; done
}

pids_of() {   # KIND: the members' pids
    local i
    for ((i = 1; i <= ENS_N; i++)); do cat "$(member_dir "$1" "$i")/pid" 2>/dev/null; done
}

rss_sum() {   # KIND: RSS MB summed over the members (nan unless all three run)
    local i v sum=0
    for ((i = 1; i <= ENS_N; i++)); do
        v=$(rss_of_pid "$(cat "$(member_dir "$1" "$i")/pid" 2>/dev/null)")
        [ -n "$v" ] || { echo nan; return; }
        sum=$(awk -v a="$sum" -v b="$v" 'BEGIN { printf "%.1f", a + b }')
    done
    echo "$sum"
}

# failover KIND N: SIGKILL KIND's leader under write-probe (result in $WORK/failoverN.KIND.json),
# then start the killed member again
failover() {
    local kind=$1 n=$2 leader dir rc=0 out="$WORK/failover$2.$1.json"
    echo '{}' > "$out"
    await_quorum "$kind" || return 1
    leader=$(leader_of "$kind") || return 1
    dir=$(member_dir "$kind" "$leader")
    _pid_alive "$dir" || { log "$kind member $leader: no live process to kill"; return 1; }
    log "failover $n on $kind: SIGKILL member $leader (leader, pid $(cat "$dir/pid")), writes via $(addr_of "$kind" "$leader")"
    disown "$(cat "$dir/pid")" 2>/dev/null   # no "Killed" job notice from bash
    if ! "$BENCH_BIN" write-probe --server "$(addr_of "$kind" "$leader")" --path "$FAILOVER_PATH" \
            --kill-pid "$(cat "$dir/pid")" --warmup 1s --timeout 30s --json > "$out" 2> "$out.err"; then
        log "  write-probe failed on $kind: $(tail -n 3 "$out.err")"
        echo '{}' > "$out"
        rc=1
    fi
    log "  -> $(field "$out" '"first write %.1f ms after the kill, by %s (%d attempts)" % (r["first_write_ms"], r["server"], r["attempts"])')"
    if ! _pid_alive "$dir"; then
        rm -f "$dir/pid"
        _spawn "$dir"
    fi
    return $rc
}

# ---- run ---------------------------------------------------------------------------

for kind in zk zkd; do
    if ! start_ensemble "$kind"; then
        log "$kind ensemble did not come up: its figures are left blank"
        stop_ensemble "$kind"
        DOWN+=" $kind"
    fi
done

# Unrecorded warm-up, heavier on writes than the standalone one: a ZooKeeper ensemble's
# quorum write path takes many seconds of JIT to warm up (create gave 3.1k ops/s on freshly
# started members and 9.6k after a minute of writes on the same ensemble).
both zk-first  prewarm --sessions 64 --depth 8 --warmup 0s --duration 8s --keys 1000 \
    --mix get=40,set=30,create=15,delete=15 mix
both zk-first  create "${COMMON[@]}" create
both zkd-first set    "${COMMON[@]}" --keys 10000 set
both zk-first  get    "${COMMON[@]}" --keys 10000 get

for w in create set get; do
    record_field "$w ops/s (16 sessions x depth 16, 100 B, over 3 members)" "$w" 'round(r["ops_per_sec"])'
    record_field "$w server CPU us per op (3 members)" "$w" 'r["server_cpu_us_per_op"]'
    for q in p50 p99; do
        record_field "$w $q ms (saturated)" "$w" "r['latency']['${q}_ms']"
    done
done
record "errors (all workloads)" "$(errors zk create set get)" "$(errors zkd create set get)"
record "RSS MB after the workloads, 3 members" "$(rss_sum zk)" "$(rss_sum zkd)"

FAILED=""   # kinds whose failover failed once: no further kills
for ((t = 1; t <= FAILOVERS; t++)); do
    if ((t % 2)); then order="zk zkd"; else order="zkd zk"; fi
    for kind in $order; do
        case " $DOWN $FAILED " in *" $kind "*) continue ;; esac
        failover "$kind" "$t" || { log "$kind: no further failovers"; FAILED+=" $kind"; }
    done
done

failover_ms() {   # KIND median|max: over the failover runs (nan if any failed)
    local t f=()
    for ((t = 1; t <= FAILOVERS; t++)); do f+=("$WORK/failover$t.$1.json"); done
    python3 -c 'import json, statistics, sys
v = []
for f in sys.argv[2:]:
    try: v.append(json.load(open(f))["first_write_ms"])
    except Exception: print("nan"); sys.exit()
print("nan" if not v else "%.1f" % (statistics.median(v) if sys.argv[1] == "median" else max(v)))' \
        "$2" "${f[@]}"
}
for ((t = 1; t <= FAILOVERS; t++)); do
    record "leader SIGKILL to first acknowledged write ms, run $t" \
        "$(field "$WORK/failover$t.zk.json" 'round(r["first_write_ms"], 1)')" \
        "$(field "$WORK/failover$t.zkd.json" 'round(r["first_write_ms"], 1)')"
done
record "leader SIGKILL to first acknowledged write ms, median" \
    "$(failover_ms zk median)" "$(failover_ms zkd median)"
record "leader SIGKILL to first acknowledged write ms, max" \
    "$(failover_ms zk max)" "$(failover_ms zkd max)"

# The issue's targets, from the figures above.
python3 - "$RESULTS" >> "$NOTES" <<'EOF'
import sys
rows = {r[0]: r[1:] for r in (l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip())}
def num(s):
    try: return float(s)
    except ValueError: return float("nan")
def ratio(key):
    zk, zkd = (num(x) for x in rows[key])
    return zkd / zk if zk == zk and zkd == zkd and zk else float("nan")
verdict = lambda ok, x: "-" if x != x else ("met" if ok else "NOT met")
f = lambda x, spec: "-" if x != x else format(x, spec)
c = ratio("create ops/s (16 sessions x depth 16, 100 B, over 3 members)")
s = ratio("set ops/s (16 sessions x depth 16, 100 B, over 3 members)")
zk, zkd = (num(x) for x in rows["leader SIGKILL to first acknowledged write ms, median"])
print("targets:")
print(f"  zkd write ops/s >= 3x ZooKeeper's: create {f(c, '.2f')}, set {f(s, '.2f')} times: "
      f"{verdict(c >= 3 and s >= 3, c + s)}")
print(f"  zkd leader SIGKILL to first write < 1000 ms (median): {f(zkd, '.0f')} ms "
      f"(ZooKeeper {f(zk, '.0f')} ms): {verdict(zkd < 1000, zkd)}")
EOF
