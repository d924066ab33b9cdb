#!/usr/bin/env bash
# kafka.sh — Apache Kafka 3.9 brokers (ZooKeeper mode) on zkd and on Apache ZooKeeper
# 3.9.5, side by side.
#
# Why it exists: Kafka clusters are among the largest users of ZooKeeper, and a client
# test suite cannot say whether a real broker cluster elects its controller, keeps its
# registrations and loses no record when the coordination service fails over. This
# runs the same scenario on each coordination backend and prints both:
#   1. three brokers start under the chroot /kafka (zookeeper.connect=...:port/kafka)
#      and register;
#   2. a topic with replication factor 3 is created; numbered records are produced
#      (acks=all, idempotent);
#   3. the controller broker is killed (-9): a new controller is elected (a higher
#      /controller_epoch) and producing resumes; the broker comes back;
#   4. the leader of partition 0 is killed (-9): producing resumes; it comes back;
#   5. ensembles only: the coordination leader is killed (-9) while records are being
#      produced: every record is acknowledged and the brokers keep their sessions (or
#      re-register: the table says which);
#   6. every record produced is consumed exactly once; zkd's logs hold no panic or error.
# Timings (broker start, topic creation, controller failover) go to docs/benchmarks.md.
#
#   compat-tests/kafka.sh [--full] [BACKEND...]
# BACKENDs: zkd-ensemble, zk-ensemble, zkd-standalone, zk-standalone. Default (the
# reduced profile bash .ci/test runs): zkd-ensemble zk-ensemble zkd-standalone with
# 20,000 records a step. --full: all four backends, 200,000 records a step.
# zkd: ${ZKD_BIN:-target/release/zkd}. Ports: standalone 25181 (zk) / 25182 (zkd),
# ensembles 25301.. (zk) / 25601.. (zkd), brokers 25901..25903. Logs and data go to
# compat-tests/.work/kafka-run/. The last line is "N passed, M failed"; the exit status
# is non-zero when a check failed.
set -uo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=servers.sh
source "$COMPAT_DIR/servers.sh"
KWORK="$COMPAT_DIR/.work/kafka-run"
CLASSES="$COMPAT_DIR/.work/kafka/classes"
BROKER_PORT=25900
BROKERS=3
RECORDS=20000
backends=()
for arg in "$@"; do
    case "$arg" in
        --full) RECORDS=200000; backends=(zkd-ensemble zk-ensemble zkd-standalone zk-standalone) ;;
        zkd-ensemble|zk-ensemble|zkd-standalone|zk-standalone) backends+=("$arg") ;;
        -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done
[ ${#backends[@]} -gt 0 ] || backends=(zkd-ensemble zk-ensemble zkd-standalone)

LIB=$(bash "$COMPAT_DIR/maven/fetch.sh" kafka-3.9) || { echo "cannot fetch Kafka 3.9 from Maven Central"; exit 1; }
SRC="$COMPAT_DIR/kafka/KafkaCheck.java"
mkdir -p "$CLASSES"
if [ ! -f "$CLASSES/KafkaCheck.class" ] || [ "$SRC" -nt "$CLASSES/KafkaCheck.class" ]; then
    javac -nowarn -d "$CLASSES" -cp "$LIB/*" "$SRC" || { echo "javac failed"; exit 1; }
fi

passed=0 failed=0
declare -A RESULT   # "backend|check" -> PASS/FAIL plus a figure
CHECKS=()           # the check names, in order of first use
note() {   # BACKEND CHECK OK(0/1) TEXT
    local key="$1|$2"
    [[ " ${CHECKS[*]} " == *" $2 "* ]] || CHECKS+=("$2")
    if [ "$3" = 0 ]; then passed=$((passed + 1)); RESULT[$key]="ok $4"; echo "[kafka] $1: PASS $2 $4"
    else failed=$((failed + 1)); RESULT[$key]="FAIL $4"; echo "[kafka] $1: FAIL $2 $4"; fi
}
# a word of KafkaCheck's output: field LINE KEY
field() { tr ' ' '\n' <<< "$1" | sed -n "s/^$2=//p" | head -n 1; }

kc() {   # run a KafkaCheck command; its stderr goes to the backend's client log
    timeout 180 java -Xmx192m -XX:+UseSerialGC -Dlog4j.configuration="file:$KWORK/client-log4j.properties" \
        -cp "$LIB/*:$CLASSES" KafkaCheck "$@" 2>> "$BK/client.log"
}

now_ms() { date +%s%3N; }

# broker_start I: launch broker I (its config is written by run_backend) and wait for
# "started"; prints the milliseconds it took.
started_count() { cat "$1" 2>/dev/null | grep -c 'started (kafka.server.KafkaServer)'; }
broker_start() {
    local i=$1 dir="$BK/broker$1" before t0 k
    before=$(started_count "$dir/server.log")
    t0=$(now_ms)
    nohup java -Xmx320m -XX:+UseSerialGC -Dkafka.logs.dir="$dir" \
        -Dlog4j.configuration="file:$KWORK/broker-log4j.properties" \
        -cp "$LIB/*" kafka.Kafka "$dir/server.properties" >> "$dir/stdout" 2>&1 < /dev/null &
    echo $! > "$dir/pid"
    for ((k = 0; k < 1200; k++)); do
        if [ "$(started_count "$dir/server.log")" -gt "$before" ]; then
            echo $(($(now_ms) - t0)); return 0
        fi
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "[kafka] broker $i did not start; last lines of its log:" >&2
    tail -n 20 "$dir/server.log" "$dir/stdout" >&2
    return 1
}

broker_kill() {   # I: kill -9 broker I
    local pid; pid=$(cat "$BK/broker$1/pid" 2>/dev/null) || return 0
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$BK/broker$1/pid"
}

kill_all_brokers() { local i; for ((i = 1; i <= BROKERS; i++)); do broker_kill "$i"; done; }

MEMBERS=()
stop_backend() {
    kill_all_brokers
    local d; for d in "${MEMBERS[@]}"; do halt_server "$d" 2> /dev/null; done
    MEMBERS=()
}
trap 'stop_backend' EXIT
trap 'echo "[kafka] interrupted" >&2; exit 130' INT TERM

# Tail of every log of this backend: which step failed is printed by note().
show_logs() {
    local f
    for f in "${MEMBERS[@]/%//server.log}" "$BK"/broker*/server.log "$BK/client.log"; do
        [ -f "$f" ] || continue
        echo "    --- tail of $f"; tail -n 8 "$f" | sed 's/^/    /'
    done
}

run_backend() {
    local b=$1 kind=${1%%-*} shape=${1#*-} connect hosts i ms out rc produced=0
    BK="$KWORK/$b"
    rm -rf "$BK" && mkdir -p "$BK"
    echo "[kafka] ===== $b"
    # ------------------------------------------------------------ coordination service
    if [ "$shape" = ensemble ]; then
        local base; [ "$kind" = zk ] && base=25300 || base=25600
        mapfile -t MEMBERS < <(start_ensemble "$kind" "$base" 3 "$BK/$kind" 2000)
        hosts=""; for ((i = 1; i <= 3; i++)); do hosts+="${hosts:+,}127.0.0.1:$((base + i))"; done
    else
        local port; [ "$kind" = zk ] && port=25181 || port=25182
        if [ "$kind" = zk ]; then start_zk "$port" "$BK/$kind"; else start_zkd "$port" "$BK/$kind"; fi &&
            MEMBERS=("$BK/$kind")
        hosts="127.0.0.1:$port"
    fi
    if [ ${#MEMBERS[@]} -eq 0 ]; then note "$b" "coordination-up" 1 ""; return; fi
    connect="$hosts/kafka"
    # ------------------------------------------------------------ 1. brokers
    local max=0 start_ok=0
    for ((i = 1; i <= BROKERS; i++)); do
        mkdir -p "$BK/broker$i"
        cat > "$BK/broker$i/server.properties" <<EOF
broker.id=$i
listeners=PLAINTEXT://127.0.0.1:$((BROKER_PORT + i))
log.dirs=$BK/broker$i/data
zookeeper.connect=$connect
zookeeper.session.timeout.ms=6000
zookeeper.connection.timeout.ms=20000
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0
unclean.leader.election.enable=false
EOF
    done
    # started together, as a cluster is; the slowest one is the figure
    local starters=()
    for ((i = 1; i <= BROKERS; i++)); do broker_start "$i" > "$BK/broker$i/start-ms" & starters+=($!); done
    wait "${starters[@]}"   # not a bare wait: the servers are children of this shell too
    for ((i = 1; i <= BROKERS; i++)); do
        ms=$(cat "$BK/broker$i/start-ms"); [ -n "$ms" ] || start_ok=1
        [ "${ms:-0}" -gt "$max" ] && max=$ms
    done
    out=$(kc brokers "$connect" "$BROKERS" 30000); rc=$?
    [ $start_ok = 0 ] && [ $rc = 0 ]; note "$b" "brokers-registered" $? "(slowest start ${max} ms)"
    [ $start_ok = 0 ] && [ $rc = 0 ] || { show_logs; return; }
    local bootstrap="127.0.0.1:$((BROKER_PORT + 1)),127.0.0.1:$((BROKER_PORT + 2)),127.0.0.1:$((BROKER_PORT + 3))"
    # ------------------------------------------------------------ 2. topic + records
    out=$(kc topic "$bootstrap" events 6 3); rc=$?
    note "$b" "topic-rf3" $rc "($(field "$out" ms) ms)"
    [ $rc = 0 ] || { show_logs; return; }
    out=$(kc produce "$bootstrap" events $produced "$RECORDS"); rc=$?
    note "$b" "produce" $rc "($(field "$out" acked) acked in $(field "$out" ms) ms)"
    produced=$((produced + RECORDS))
    # ------------------------------------------------------------ 3. controller killed
    out=$(kc controller "$connect"); local ctl epoch; ctl=$(field "$out" controller); epoch=$(field "$out" epoch)
    if [ -n "$ctl" ] && [ "$ctl" != none ]; then
        broker_kill "$ctl"
        out=$(kc controller "$connect" "$epoch" 60000); rc=$?
        note "$b" "controller-failover" $rc "(broker $ctl killed; broker $(field "$out" controller) leads at epoch $(field "$out" epoch) after $(field "$out" ms) ms)"
        out=$(kc produce "$bootstrap" events $produced "$RECORDS"); rc=$?
        note "$b" "produce-after-controller-kill" $rc "($(field "$out" acked) acked)"
        produced=$((produced + RECORDS))
        ms=$(broker_start "$ctl") && kc brokers "$connect" "$BROKERS" 30000 > /dev/null
        note "$b" "broker-rejoins" $? "(${ms:-?} ms)"
    else
        note "$b" "controller-failover" 1 "(no controller registered)"
    fi
    # ------------------------------------------------------------ 4. partition leader killed
    out=$(kc leader "$bootstrap" events 0); local lead; lead=$(field "$out" leader)
    if [ -n "$lead" ] && [ "$lead" != none ]; then
        broker_kill "$lead"
        out=$(kc produce "$bootstrap" events $produced "$RECORDS"); rc=$?
        note "$b" "produce-after-leader-kill" $rc "(leader $lead killed; $(field "$out" acked) acked in $(field "$out" ms) ms)"
        produced=$((produced + RECORDS))
        broker_start "$lead" > /dev/null && kc brokers "$connect" "$BROKERS" 30000 > /dev/null
        note "$b" "leader-rejoins" $? ""
    else
        note "$b" "produce-after-leader-kill" 1 "(no leader for partition 0)"
    fi
    # ------------------------------------------------------------ 5. coordination leader killed
    if [ "$shape" = ensemble ]; then
        local before after victim
        before=$(field "$(kc brokers "$connect" "$BROKERS" 10000)" brokers)
        victim=$(ensemble_leader "${MEMBERS[@]}")
        # ~8 s of records; the leader dies 2 s in
        kc produce "$bootstrap" events $produced "$RECORDS" $((RECORDS / 8)) > "$BK/paced.out" &
        local producer=$!
        sleep 2
        if [ -n "$victim" ]; then
            kill -KILL "$(cat "$victim/pid")"; rm -f "$victim/pid"
        fi
        wait $producer; rc=$?; out=$(cat "$BK/paced.out")
        note "$b" "produce-through-coordination-leader-kill" $rc "($(field "$out" acked) acked in $(field "$out" ms) ms)"
        produced=$((produced + RECORDS))
        sleep 8   # a session timeout (6 s) and more: a lost session would show by now
        out=$(kc brokers "$connect" "$BROKERS" 30000); rc=$?
        after=$(field "$out" brokers)
        local how; [ "$before" = "$after" ] && how="kept their sessions" || how="re-registered"
        note "$b" "brokers-after-coordination-leader-kill" $rc "($how)"
        [ -n "$victim" ] && resume_server "$victim" 2> /dev/null
    fi
    # ------------------------------------------------------------ 6. nothing lost
    out=$(kc consume "$bootstrap" events "$produced"); rc=$?
    note "$b" "consume-exactly-once" $rc "($(field "$out" distinct) of $produced; missing $(field "$out" missing), duplicates $(field "$out" duplicates))"
    if [ "$kind" = zkd ]; then
        local bad
        bad=$(grep -hE 'panicked| ERROR ' "${MEMBERS[@]/%//server.log}" | head -n 5)
        [ -z "$bad" ]; note "$b" "zkd-log-clean" $? ""
        [ -z "$bad" ] || echo "$bad" | sed 's/^/    /'
    fi
    [ $failed = 0 ] || show_logs
    stop_backend
}

# brokers left over by an interrupted run would join the next cluster
pkill -KILL -f "kafka.Kafka $KWORK/" 2> /dev/null && sleep 1
rm -rf "$KWORK" && mkdir -p "$KWORK"
cat > "$KWORK/broker-log4j.properties" <<'EOF'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
printf 'log4j.rootLogger=WARN, err\nlog4j.appender.err=org.apache.log4j.ConsoleAppender\nlog4j.appender.err.Target=System.err\nlog4j.appender.err.layout=org.apache.log4j.PatternLayout\nlog4j.appender.err.layout.ConversionPattern=[%%d] %%p %%m (%%c)%%n\n' \
    > "$KWORK/client-log4j.properties"

T0=$(date +%s)
for b in "${backends[@]}"; do run_backend "$b"; done

echo
printf '[kafka] %-42s' "check"; for b in "${backends[@]}"; do printf ' | %-44s' "$b"; done; echo
for c in "${CHECKS[@]}"; do
    printf '[kafka] %-42s' "$c"
    for b in "${backends[@]}"; do printf ' | %-44s' "${RESULT[$b|$c]:--}"; done; echo
done
echo "[kafka] $RECORDS records a step; $(($(date +%s) - T0)) s"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
