#!/usr/bin/env bash
# compare.sh — Apache ZooKeeper vs zkd, same machine, same generator, one run.
#
#   cargo build --release -p zkd -p zkd-bench
#   benches/compare.sh             # default run, about 2-3 minutes
#   benches/compare.sh --big       # also 1,000,000 znodes: RSS, restart, data dir (+ several minutes)
#   benches/compare.sh --ensemble  # 3-node ensembles instead: workloads and leader failover,
#                                  # about 2.5 minutes (benches/ensemble.sh)
#   benches/compare.sh --tls       # set and get over TLS (secureClientPort) beside plaintext on
#                                  # the same servers, about 2 minutes
#   benches/compare.sh --storm     # overload: a connect storm of STORM_SESSIONS (5,000) sessions
#                                  # with a persistent watch each, then a write flood (32 x 256
#                                  # pipelined setData for --duration); memory, a well-behaved
#                                  # client's latency, events lost; about 1.5 minutes
#
# Options:  --big  --ensemble  --tls  --storm  --failovers N (--ensemble: leader kills per ensemble, default 3)
#           --duration SECS (measured phase per workload, default 8)
#           --warmup SECS (default 2)  --keep (keep the work dir)  --json FILE
# Environment: ZK_PORT (27181), ZKD_PORT (27281), ZK_HEAP (2g, per JVM), WORK (mktemp -d),
#              BIG_NODES (1000000: znodes loaded by --big), STORM_SESSIONS (5000),
#              ZK_ENS_PORT (27190), ZKD_ENS_PORT (27290): with --ensemble, member i (1-3)
#                serves clients on PORT+i, peers on PORT+1000+i, elections on PORT+2000+i,
#              ZKD_BIN (target/release/zkd), BENCH_BIN (target/release/zkd-bench)
#
# Without --ensemble both servers run standalone on loopback with the same zoo.cfg settings
# (tickTime=2000, default snapCount, no autopurge). ZooKeeper is Apache ZooKeeper
# 3.9.5 from Maven Central (compat-tests/maven/fetch.sh caches it) with forceSync=yes (its default: fsync before acknowledging a write)
# and -Xmx$ZK_HEAP (default 2g, enough for 1M znodes of 100 B); zkd fsyncs its
# log before acknowledging too. Every workload runs on ZooKeeper and then on zkd
# (the order flips from one workload to the next), and every figure is printed
# with the zkd/ZooKeeper ratio. The generator runs on the same 2 cores as the
# server under test; the idle server is not loaded meanwhile.
#
# With --tls both servers also get a TLS-only port (secureClientPort = PORT+10) with an
# openssl-made certificate and ssl.clientAuth=none; ZooKeeper runs its Netty connection
# factory then (the only one that does TLS), for its plaintext port too. The generator
# speaks TLS with rustls (--tls-ca), to both alike.
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source=../compat-tests/servers.sh
source "$REPO/compat-tests/servers.sh"   # four_letter, port_open, _spawn, _launch, halt_server
# The reference server: Apache ZooKeeper 3.9.5 from Maven (fetched once into an ignored cache).
ZK_LIB=$("$REPO/compat-tests/maven/fetch.sh" zookeeper-3.9.5) || exit 1
ZK_CP="$ZK_LIB/*"

BIG=0 ENSEMBLE=0 TLS=0 STORM=0 FAILOVERS=3 KEEP=0 DURATION=8 WARMUP=2 JSON_OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --big) BIG=1 ;;
        --ensemble) ENSEMBLE=1 ;;
        --tls) TLS=1 ;;
        --storm) STORM=1 ;;
        --failovers) FAILOVERS=$2; shift ;;
        --keep) KEEP=1 ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --json) JSON_OUT=$2; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ $((BIG + ENSEMBLE + TLS + STORM)) -gt 1 ]; then
    echo "compare.sh: --big, --ensemble, --tls and --storm do not go together" >&2; exit 2
fi

ZK_PORT=${ZK_PORT:-27181}
ZKD_PORT=${ZKD_PORT:-27281}
ZK_HEAP=${ZK_HEAP:-2g}
BIG_NODES=${BIG_NODES:-1000000}
STORM_SESSIONS=${STORM_SESSIONS:-5000}
ZKD_BIN=${ZKD_BIN:-$REPO/target/release/zkd}
BENCH_BIN=${BENCH_BIN:-$REPO/target/release/zkd-bench}
export ZKD_BIN
for b in "$ZKD_BIN" "$BENCH_BIN"; do
    if [ ! -x "$b" ]; then
        echo "compare.sh: $b not found; run: cargo build --release -p zkd -p zkd-bench" >&2
        exit 1
    fi
done
WORK=${WORK:-$(mktemp -d /tmp/zkd-compare.XXXXXX)}
mkdir -p "$WORK"
RESULTS="$WORK/results.tsv"     # key <tab> zk value <tab> zkd value
NOTES="$WORK/notes.txt"         # lines printed under the table
: > "$RESULTS"; : > "$NOTES"
DOWN=""                         # kinds (zk, zkd) that did not come up: their workloads are skipped

log() { echo "[compare $(date +%T)] $*" >&2; }

cleanup() {
    local d
    for d in "$WORK"/*/; do [ -f "$d/pid" ] && halt_server "${d%/}" 2>/dev/null; done
    if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- shared by both modes ----------------------------------------------------------

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }

# record_field LABEL WORKLOAD EXPR: record EXPR (see field) of WORKLOAD's report on both servers
record_field() {
    record "$1" "$(field "$WORK/$2.zk.json" "$3")" "$(field "$WORK/$2.zkd.json" "$3")"
}

# field FILE EXPR: a value from a zkd-bench --json report (python3, always installed here)
field() {
    python3 -c 'import json,sys
try:
    r = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"r": r}))
except Exception: print("nan")' "$1" "$2"
}

# bench KIND NAME ARGS...: run zkd-bench against KIND's server, or its ensemble's members
# (addr_of, defined by each mode), and keep the JSON in $WORK/NAME.KIND.json
bench() {
    local kind=$1 name=$2; shift 2
    local out="$WORK/$name.$kind.json"
    case " $DOWN " in
        *" $kind "*) log "$name on $kind: skipped ($kind is not up)"; echo '{}' > "$out"; return ;;
    esac
    log "$name on $kind: zkd-bench $*"
    "$BENCH_BIN" "$@" --server "$(addr_of "$kind")" --json > "$out" 2> "$out.err" &
    local gen=$! ok=0 s0 s1 g0 g1
    # CPU of the server(s) and of the generator over the measured phase only (after the
    # --warmup, before cleanup), in clock ticks: the two share the machine's cores.
    local warm dur
    warm=$(arg_secs --warmup "$@") dur=$(arg_secs --duration "$@")
    sleep "$warm"; s0=$(cpu_ticks $(pids_of "$kind")); g0=$(cpu_ticks "$gen")
    sleep "$dur"; s1=$(cpu_ticks $(pids_of "$kind")); g1=$(cpu_ticks "$gen")
    wait "$gen" && ok=1
    if [ "$ok" = 0 ]; then
        log "zkd-bench failed on $kind: $(tail -n 3 "$out.err")"
        echo '{}' > "$out"
    fi
    python3 - "$out" "$((s1 - s0))" "$((g1 - g0))" "$dur" "$(getconf CLK_TCK)" <<'PY'
import json, sys
path, server, gen, dur, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
r = json.load(open(path))
if r.get("ops_per_sec") and dur > 0:
    ops = r["ops_per_sec"] * dur
    r["server_cpu_us_per_op"] = server / tck * 1e6 / ops
    r["server_cores"] = server / tck / dur
    r["generator_cores"] = gen / tck / dur
    json.dump(r, open(path, "w"))
PY
    log "  -> $(field "$out" '"%.0f ops/s, %d errors, p99 %.2f ms" % (r["ops_per_sec"], r["errors"], r["latency"]["p99_ms"]) + ("; server %.1f us CPU/op (%.2f cores), generator %.2f cores" % (r["server_cpu_us_per_op"], r["server_cores"], r["generator_cores"]) if "server_cores" in r else "")')"
}

# arg_secs FLAG ARGS...: the seconds given with FLAG ("2s" -> 2), 0 if absent
arg_secs() {
    local flag=$1; shift
    while [ $# -gt 0 ]; do
        if [ "$1" = "$flag" ]; then echo "${2%s}"; return; fi
        shift
    done
    echo 0
}

# cpu_ticks PID...: user + system CPU ticks of these processes (and their threads)
cpu_ticks() {
    local p sum=0 t
    for p in "$@"; do
        t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

# both ORDER NAME ARGS...: the same workload on both servers (ORDER: zk-first or zkd-first)
both() {
    local order=$1 name=$2; shift 2
    if [ "$order" = zk-first ]; then
        bench zk "$name" "$@"; bench zkd "$name" "$@"
    else
        bench zkd "$name" "$@"; bench zk "$name" "$@"
    fi
}

errors() {   # KIND NAME...: errors summed over these workloads' reports
    local kind=$1 n f=()
    shift
    for n in "$@"; do f+=("$WORK/$n.$kind.json"); done
    python3 -c 'import json,sys
n = 0
for f in sys.argv[1:]:
    try: n += json.load(open(f))["errors"]
    except Exception: print("nan"); sys.exit()
print(n)' "${f[@]}"
}

# base_cfg DATADIR: the zoo.cfg lines every server gets, in both modes
base_cfg() {
    cat <<EOF
tickTime=2000
dataDir=$1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
forceSync=yes
EOF
}

# write_launch DIR KIND PORT ZK_MAIN_CLASS: DIR/launch.sh runs KIND's server on DIR/zoo.cfg
# (ZooKeeper with that main class), plus the kind and port files servers.sh reads
write_launch() {
    local dir=$1 kind=$2 port=$3 main=$4
    if [ "$kind" = zk ]; then
        cat > "$dir/launch.sh" <<EOF
#!/bin/sh
exec java -Xmx$ZK_HEAP -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \\
  -cp '$ZK_CP' $main $dir/zoo.cfg
EOF
    else
        cat > "$dir/launch.sh" <<EOF
#!/bin/sh
exec $ZKD_BIN serve --config $dir/zoo.cfg
EOF
    fi
    chmod +x "$dir/launch.sh"
    echo "$kind" > "$dir/kind"; echo "$port" > "$dir/port"
}

rss_of_pid() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null; }

fsync_rate() {   # fdatasync/s of 4 KiB appends in $WORK (what a txn log does)
    python3 - "$WORK/fsync.test" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
buf = b"x" * 4096; n = 0; t = time.time()
while time.time() - t < 2.0:
    os.write(fd, buf); os.fdatasync(fd); n += 1
print("%.0f" % (n / (time.time() - t))); os.close(fd); os.unlink(sys.argv[1])
EOF
}

# report: the table of $RESULTS (and $NOTES), and --json
report() {
    local elapsed=$(( $(date +%s) - T_START ))
    python3 - "$RESULTS" "$JSON_OUT" "$elapsed" "$FSYNC" "$NOTES" <<'EOF'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def num(s):
    try: return float(s)
    except ValueError: return float("nan")
w = max(len(r[0]) for r in rows)
print()
print(f"{'measure':<{w}}  {'ZooKeeper':>11}  {'zkd':>11}  {'zkd/ZK':>7}")
print("-" * (w + 36))
out = []
for name, zk, zkd in rows:
    a, b = num(zk), num(zkd)
    ratio = b / a if a == a and b == b and a != 0 else float("nan")
    fmt = lambda x, s: s if x != x else (f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}")
    print(f"{name:<{w}}  {fmt(a, zk or '-'):>11}  {fmt(b, zkd or '-'):>11}  "
          f"{'' if ratio != ratio else f'{ratio:.2f}x':>7}")
    out.append({"measure": name, "zookeeper": a if a == a else None,
                "zkd": b if b == b else None, "ratio": ratio if ratio == ratio else None})
notes = open(sys.argv[5]).read().rstrip()
if notes:
    print("\n" + notes)
print(f"\n(run took {sys.argv[3]} s; disk {sys.argv[4]} fdatasync/s)")
if sys.argv[2]:
    json.dump(out, open(sys.argv[2], "w"), indent=1)
EOF
}

# The shape issue 14 sets its targets in: 16 sessions x 16 requests in flight, 100 B values.
COMMON=(--sessions 16 --depth 16 --value-size 100 --warmup "${WARMUP}s" --duration "${DURATION}s")

T_START=$(date +%s)
FSYNC=$(fsync_rate)
log "machine: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB RAM, ${FSYNC} fdatasync/s, load $(cut -d' ' -f1-3 /proc/loadavg)"
log "ZooKeeper: $(java -version 2>&1 | head -1), -Xmx$ZK_HEAP; zkd: $ZKD_BIN"

if [ "$ENSEMBLE" = 1 ]; then
    # shellcheck source=ensemble.sh
    source "$HERE/ensemble.sh"   # runs the ensemble comparison, recording into $RESULTS
    report
    exit 0
fi

# ---- standalone servers ------------------------------------------------------------

ZKDIR="$WORK/zk" ZKDDIR="$WORK/zkd"

# make_pki: a CA and a server certificate for 127.0.0.1 (one PEM file with its key)
make_pki() {
    local d="$WORK/pki"
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
            -subj "/CN=compare CA" 2>/dev/null &&
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
            -subj "/CN=localhost" 2>/dev/null &&
        printf 'subjectAltName=IP:127.0.0.1\n' > server.ext &&
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem 2>/dev/null &&
        cat server.pem server.key > keystore.pem
    ) || { log "cannot make the TLS certificates"; exit 1; }
}

start_server() {   # zk|zkd
    local kind=$1 dir port
    if [ "$kind" = zk ]; then dir=$ZKDIR port=$ZK_PORT; else dir=$ZKDDIR port=$ZKD_PORT; fi
    _check_port "$port" || exit 1
    rm -rf "$dir"; mkdir -p "$dir/data"
    { base_cfg "$dir/data"; echo "clientPort=$port"; echo "clientPortAddress=127.0.0.1"; } > "$dir/zoo.cfg"
    if [ "$TLS" = 1 ]; then
        _check_port $((port + 10)) || exit 1
        cat >> "$dir/zoo.cfg" <<EOF
serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory
secureClientPort=$((port + 10))
secureClientPortAddress=127.0.0.1
ssl.keyStore.location=$WORK/pki/keystore.pem
ssl.clientAuth=none
EOF
    fi
    write_launch "$dir" "$kind" "$port" org.apache.zookeeper.server.ZooKeeperServerMain
    _launch "$dir" || { log "$kind failed to start"; exit 1; }
}

dir_of()  { if [ "$1" = zk ]; then echo "$ZKDIR"; else echo "$ZKDDIR"; fi; }
port_of() { if [ "$1" = zk ]; then echo "$ZK_PORT"; else echo "$ZKD_PORT"; fi; }
# with OVER_TLS=1, the TLS port
addr_of() {
    if [ "${OVER_TLS:-0}" = 1 ]; then echo "127.0.0.1:$(( $(port_of "$1") + 10 ))"
    else echo "127.0.0.1:$(port_of "$1")"; fi
}
rss_mb()  { rss_of_pid "$(cat "$(dir_of "$1")/pid")"; }
pids_of() { cat "$(dir_of "$1")/pid"; }
# disk blocks in use (ZooKeeper's preallocated 64 MB txn logs are sparse: count what is allocated)
du_mb()   { du -sk "$(dir_of "$1")/data" | awk '{printf "%.1f", $1/1024}'; }
nodes()   { four_letter "$(port_of "$1")" srvr | awk -F': ' '/Node count/ {print $2}'; }

# ---- standalone run ----------------------------------------------------------------

if [ "$TLS" = 1 ]; then make_pki; fi
start_server zk
start_server zkd

if [ "$TLS" = 1 ]; then
    # Plaintext and TLS on the same servers, each workload on both.
    both zk-first  prewarm --sessions 16 --depth 8 --warmup 0s --duration 3s --keys 1000 mix
    both zkd-first set     "${COMMON[@]}" --keys 10000 set
    both zk-first  get     "${COMMON[@]}" --keys 10000 get
    OVER_TLS=1
    both zk-first  tlswarm --tls-ca "$WORK/pki/ca.pem" --sessions 16 --depth 8 --warmup 0s \
        --duration 3s --keys 1000 mix
    both zkd-first tls-set --tls-ca "$WORK/pki/ca.pem" "${COMMON[@]}" --keys 10000 set
    both zk-first  tls-get --tls-ca "$WORK/pki/ca.pem" "${COMMON[@]}" --keys 10000 get
    OVER_TLS=0
    for w in set get; do
        record_field "$w ops/s, plaintext (ZooKeeper on Netty)" "$w" 'round(r["ops_per_sec"])'
        record_field "$w ops/s over TLS" "tls-$w" 'round(r["ops_per_sec"])'
        record_field "$w server CPU us per op, plaintext" "$w" 'r["server_cpu_us_per_op"]'
        record_field "$w server CPU us per op over TLS" "tls-$w" 'r["server_cpu_us_per_op"]'
        record_field "$w p99 ms over TLS (saturated)" "tls-$w" 'r["latency"]["p99_ms"]'
        record_field "$w generator cores busy over TLS" "tls-$w" 'r["generator_cores"]'
    done
    record "errors (all workloads)" "$(errors zk set get tls-set tls-get)" "$(errors zkd set get tls-set tls-get)"
    echo "TLS: 16 sessions x depth 16, 100 B values; certificates by openssl (RSA 2048),
rustls on both sides of zkd's connections, the JDK's TLS (Netty SslHandler) in ZooKeeper." >> "$NOTES"
    report
    exit 0
fi

if [ "$STORM" = 1 ]; then
    # storm_run KIND: zkd-bench storm against KIND's server, its RSS sampled every 0.2 s
    # (the peak is recorded) and its CPU over the whole run.
    storm_run() {
        local kind=$1 out="$WORK/storm.$1.json" pid gen peak=0 r s0 s1
        pid=$(pids_of "$kind")
        log "storm on $kind: $STORM_SESSIONS sessions, then 32 x 256 setData for ${DURATION}s"
        s0=$(cpu_ticks "$pid")
        "$BENCH_BIN" storm --server "$(addr_of "$kind")" --sessions "$STORM_SESSIONS" \
            --flood-sessions 32 --depth 256 --duration "${DURATION}s" --keys 10000 \
            --value-size 100 > "$out" 2> "$out.err" &
        gen=$!
        while kill -0 "$gen" 2>/dev/null; do
            r=$(rss_of_pid "$pid"); r=${r%.*}
            if [ "${r:-0}" -gt "$peak" ]; then peak=$r; fi
            sleep 0.2
        done
        wait "$gen" || { log "storm failed on $kind: $(tail -n 3 "$out.err")"; echo '{}' > "$out"; }
        s1=$(cpu_ticks "$pid")
        python3 - "$out" "$peak" "$((s1 - s0))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
path, peak, ticks, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(path))
r["server_peak_rss_mb"] = peak
r["server_cpu_sec"] = ticks / tck
json.dump(r, open(path, "w"))
PY
        log "  -> $(field "$out" '"%d of %d sessions in %.1f s, flood %.0f ops/s, probe p99 %.1f / %.1f ms, %d sessions missing events, peak RSS %d MB" % (r["established"], r["sessions"], r["connect_sec"], r["flood_ops_per_sec"], r["probe_storm"]["p99_ms"], r["probe_flood"]["p99_ms"], r["sessions_missing_events"], r["server_peak_rss_mb"])')"
    }
    record "RSS MB before the storm" "$(rss_mb zk)" "$(rss_mb zkd)"
    storm_run zk
    storm_run zkd
    record_field "sessions established (of $STORM_SESSIONS)" storm 'r["established"]'
    record_field "connect storm: seconds to all watching" storm 'r["connect_sec"]'
    record_field "connect storm: sessions per second" storm 'round(r["sessions_per_sec"])'
    record_field "peak server RSS MB (storm + flood)" storm 'r["server_peak_rss_mb"]'
    record_field "flood: setData ops/s (32 x 256 in flight)" storm 'round(r["flood_ops_per_sec"])'
    record_field "flood: errors" storm 'r["flood_errors"]'
    record_field "well-behaved client p99 ms during the storm" storm 'r["probe_storm"]["p99_ms"]'
    record_field "well-behaved client p99 ms during the flood" storm 'r["probe_flood"]["p99_ms"]'
    record_field "well-behaved client max ms during the flood" storm 'r["probe_flood"]["max_ms"]'
    record_field "watched node changes" storm 'r["watched_changes"]'
    record_field "watching sessions connected at the end" storm 'r["sessions_alive"]'
    record_field "of those, sessions missing an event" storm 'r["sessions_missing_events"]'
    record_field "events missing / extra" storm '"%d / %d" % (r["events_missing"], r["events_extra"])'
    record_field "server CPU seconds (whole run)" storm 'r["server_cpu_sec"]'
    echo "storm: $STORM_SESSIONS sessions connect at once (at most 1,000 handshakes in progress), each
with a persistent watch on one node; then 32 sessions pipeline setData 256 deep each for ${DURATION} s
(8,192 requests offered at a time, against globalOutstandingLimit 1000 on both) while the watched
node changes every 50 ms; a well-behaved client does getData + setData every 20 ms throughout." >> "$NOTES"
    report
    exit 0
fi

# Unrecorded warm-up of both servers (JIT for the JVM, allocator and caches for both).
both zk-first  prewarm --sessions 16 --depth 8 --warmup 0s --duration 3s --keys 1000 mix
both zk-first  create "${COMMON[@]}" create
both zkd-first set    "${COMMON[@]}" --keys 10000 set
both zk-first  get    "${COMMON[@]}" --keys 10000 get
ZK_PEAK=$(field "$WORK/set.zk.json" 'r["ops_per_sec"]')
ZK_PEAK_C=$(field "$WORK/create.zk.json" 'r["ops_per_sec"]')
HALF=$(python3 -c "import sys; a=[float(x) for x in sys.argv[1:] if x!='nan']; print('%.0f' % (max(a)/2) if a else 1000)" "$ZK_PEAK" "$ZK_PEAK_C")
log "half of ZooKeeper's peak write rate: $HALF ops/s"
both zkd-first rate   "${COMMON[@]}" --keys 10000 --rate "$HALF" set

for w in create set get; do
    record_field "$w ops/s (16 sessions x depth 16, 100 B)" "$w" 'round(r["ops_per_sec"])'
    record_field "$w server CPU us per op" "$w" 'r["server_cpu_us_per_op"]'
    record_field "$w generator cores busy" "$w" 'r["generator_cores"]'
    record_field "$w p99 ms (saturated)" "$w" 'r["latency"]["p99_ms"]'
done
for q in p50 p99 p999; do
    record_field "set $q ms at $HALF ops/s" rate "r['latency']['${q}_ms']"
done
record_field "achieved ops/s at $HALF ops/s target" rate 'round(r["ops_per_sec"])'
record "errors (all workloads)" "$(errors zk create set get rate)" "$(errors zkd create set get rate)"
record "RSS MB after the workloads" "$(rss_mb zk)" "$(rss_mb zkd)"
record "data dir MB after the workloads" "$(du_mb zk)" "$(du_mb zkd)"

# timed_restart KIND LABEL: start KIND's server on its data and print the ms from launch to
# the first successful getData of /zkd-bench/k/0
timed_restart() {
    local kind=$1 label=$2 dir t0 t1
    dir=$(dir_of "$kind")
    t0=$(date +%s%N)
    _spawn "$dir"
    "$BENCH_BIN" probe --server "127.0.0.1:$(port_of "$kind")" --path /zkd-bench/k/0 \
        --timeout 600s > "$WORK/probe.$kind.$label.txt" 2>&1
    t1=$(date +%s%N)
    log "$kind restart ($label) to first read: $(( (t1 - t0) / 1000000 )) ms ($(cat "$WORK/probe.$kind.$label.txt"))"
    echo $(( (t1 - t0) / 1000000 ))
}

if [ "$BIG" = 1 ]; then
    for kind in zk zkd; do
        # Load BIG_NODES (1,000,000) znodes of 100 B (16 sessions x 64 pipelined creates), then
        # create /zkd-bench/k/0 last: the restart probe reads it.
        bench "$kind" load --sessions 16 --depth 64 --value-size 100 --warmup 0s \
            --ops "$BIG_NODES" --no-cleanup create
        bench "$kind" marker --sessions 1 --keys 1 --ops 10 --warmup 0s --no-cleanup get
        sleep 5
        eval "LOAD_${kind}=\$(field \"\$WORK/load.$kind.json\" 'round(r[\"ops_per_sec\"])')"
        eval "NODES_${kind}=\$(nodes $kind)"
        eval "RSS_${kind}=\$(rss_mb $kind)"
        eval "DU_${kind}=\$(du_mb $kind)"
        dir=$(dir_of "$kind")
        # kill -9 right after the load, then restart on the same data: time from launch to
        # the first successful getData (zkd replays its log after the last checkpoint).
        pid=$(cat "$dir/pid"); disown "$pid" 2>/dev/null; kill -KILL "$pid"; sleep 0.5; rm -f "$dir/pid"
        eval "RESTART9_${kind}=\$(timed_restart $kind kill9)"
        # Then a clean stop and a restart.
        halt_server "$dir"
        eval "DU2_${kind}=\$(du_mb $kind)"
        eval "RESTART_${kind}=\$(timed_restart $kind clean)"
        sleep 2
        eval "RSS2_${kind}=\$(rss_mb $kind)"
        eval "NODES2_${kind}=\$(nodes $kind)"
        halt_server "$dir"
    done
    record "$((BIG_NODES / 1000))k znodes: load ops/s (16 x 64 creates)" "$LOAD_zk" "$LOAD_zkd"
    record "$((BIG_NODES / 1000))k znodes: node count (srvr)" "$NODES_zk" "$NODES_zkd"
    record "$((BIG_NODES / 1000))k znodes: RSS MB after loading" "$RSS_zk" "$RSS_zkd"
    record "$((BIG_NODES / 1000))k znodes: data dir MB after loading" "$DU_zk" "$DU_zkd"
    record "$((BIG_NODES / 1000))k znodes: data dir MB after clean stop" "$DU2_zk" "$DU2_zkd"
    record "$((BIG_NODES / 1000))k znodes: restart after kill -9 to first read ms" "$RESTART9_zk" "$RESTART9_zkd"
    record "$((BIG_NODES / 1000))k znodes: restart after clean stop to first read ms" "$RESTART_zk" "$RESTART_zkd"
    record "$((BIG_NODES / 1000))k znodes: RSS MB after restart" "$RSS2_zk" "$RSS2_zkd"
    record "$((BIG_NODES / 1000))k znodes: node count after restart" "$NODES2_zk" "$NODES2_zkd"
fi

report
