#!/usr/bin/env bash
# servers.sh — start and stop the servers the compatibility tests talk to.
#
# Why it exists: every check in compat-tests/ runs the same client against two
# servers — Apache ZooKeeper 3.9.5 from Maven Central (the reference) and zkd — configured
# the same way, so that any difference in what the clients see is zkd's.  This
# file is the one place that knows how to configure, launch, health-check and
# stop both of them.
#
# Use it either as a library or as a script:
#   source compat-tests/servers.sh
#   start_zk  PORT DIR [EXTRA_CFG]   # Apache ZooKeeper standalone on 127.0.0.1:PORT
#   start_zkd PORT DIR [EXTRA_CFG]   # zkd (${ZKD_BIN:-target/release/zkd}) on 127.0.0.1:PORT
#                          # EXTRA_CFG: zoo.cfg lines appended (the same for both)
#   stop_zk  [DIR]         # stop (the data dir is kept); DIR defaults to the last start_zk
#   stop_zkd [DIR]
#   halt_server DIR        # stop whatever runs from DIR, keep its data   (kazoo STOP hook)
#   resume_server DIR      # start it again on the same data and port      (kazoo START hook)
#   four_letter PORT WORD  # send a four-letter word, print the answer
# or
#   compat-tests/servers.sh start_zk 22181 /tmp/zk     (any function name works as a subcommand)
#
# start_* always begins from an EMPTY data dir (DIR is wiped); resume_server
# keeps it. SERVER_JVMFLAGS, when set, is given to both servers as zkServer.sh gives
# it: JVM arguments of ZooKeeper, and the -D settings zkd reads from it (a JAAS file).  Each DIR holds: zoo.cfg, data/, launch.sh (the exact command),
# kind (zk|zkd), port, pid, server.log.
#
# Both servers get the same settings: tickTime=2000, 4lw whitelist '*', TTL
# nodes on (extendedTypesEnabled), no admin HTTP server, containers checked
# every second, unlimited connections per IP, and the super digest of
# super:test (what kazoo's suite authenticates with).
# Port 2181 is refused: kazoo's test_slow_connect needs it to be free.

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$COMPAT_DIR/.." && pwd)"

SUPER_DIGEST='super:D/InIHSb7yEEbrWz8b9l71RjZJU='   # digest of super:test
# The reference server's jars (compat-tests/maven/zookeeper-3.9.5, fetched once into
# the ignored cache by prereqs.sh): resolved when a server starts, not when this file
# is sourced, so that sourcing it never touches the network.
_zk_cp() {
    local lib
    lib=$(bash "$COMPAT_DIR/maven/fetch.sh" zookeeper-3.9.5) || return 1
    echo "$lib/*"
}
SERVER_START_TIMEOUT="${SERVER_START_TIMEOUT:-60}"   # seconds to wait for 'imok'

_log() { echo "[servers] $*" >&2; }

# four_letter PORT WORD: print the server's answer to a four-letter word
# (bash /dev/tcp, so no netcat is needed).
four_letter() {
    local port=$1 word=$2
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "%s" "$1" >&3
        cat <&3' "$port" "$word" 2>/dev/null
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT
port_open() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

_check_port() {
    local port=$1
    if ! [[ "$port" =~ ^[0-9]+$ ]]; then _log "bad port '$port'"; return 1; fi
    if [ "$port" = 2181 ]; then
        _log "refusing port 2181 (kazoo's test_slow_connect needs it free)"; return 1
    fi
    if port_open "$port"; then
        _log "port $port is already in use"; return 1
    fi
}

# _pid_alive DIR: true if the process recorded in DIR/pid runs and is ours
# (its command line mentions DIR/zoo.cfg — guards against a recycled PID).
_pid_alive() {
    local dir=$1 pid
    [ -f "$dir/pid" ] || return 1
    pid=$(cat "$dir/pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/zoo.cfg"
}

# _spawn DIR: run DIR/launch.sh in the background and record its PID (no waiting)
_spawn() {
    local dir=$1
    : >> "$dir/server.log"
    echo "=== launch $(date -u +%FT%TZ)" >> "$dir/server.log"
    nohup "$dir/launch.sh" >> "$dir/server.log" 2>&1 < /dev/null &
    echo $! > "$dir/pid"
}

# _launch DIR: _spawn, then _await_ready
_launch() {
    _spawn "$1" && _await_ready "$1"
}

# _await_ready DIR: wait until the server spawned from DIR answers imok and serves
# (an ensemble member serves once a quorum has formed: spawn every member first)
_await_ready() {
    local dir=$1 port pid i
    port=$(cat "$dir/port")
    pid=$(cat "$dir/pid")
    for ((i = 0; i < SERVER_START_TIMEOUT * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            _log "$(cat "$dir/kind") on port $port exited during startup; last log lines:"
            tail -n 30 "$dir/server.log" >&2
            rm -f "$dir/pid"
            return 1
        fi
        # 'imok' only says the listener is up; ZooKeeper answers srvr with
        # "not currently serving requests" until its database is loaded.
        if [ "$(four_letter "$port" ruok)" = imok ] &&
           ! four_letter "$port" srvr | grep -q "not currently serving"; then
            _log "$(cat "$dir/kind") up on 127.0.0.1:$port (pid $pid, dir $dir)"
            return 0
        fi
        sleep 0.1
    done
    _log "$(cat "$dir/kind") on port $port did not answer ruok within ${SERVER_START_TIMEOUT}s"
    tail -n 30 "$dir/server.log" >&2
    return 1
}

_fresh_dir() {
    local dir=$1
    case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
    if [ -f "$dir/pid" ] && _pid_alive "$dir"; then
        _log "a server is still running from $dir"; return 1
    fi
    rm -rf "$dir"
    mkdir -p "$dir/data"
    echo "$dir"
}

# start_zk PORT DIR [EXTRA_CFG] — Apache ZooKeeper 3.9.5, standalone
start_zk() {
    local port=$1 extra=${3:-} dir cp
    _check_port "$port" || return 1
    cp=$(_zk_cp) || { _log "cannot fetch Apache ZooKeeper 3.9.5 from Maven Central"; return 1; }
    dir=$(_fresh_dir "$2") || return 1
    cat > "$dir/zoo.cfg" <<EOF
# written by compat-tests/servers.sh (Apache ZooKeeper reference server)
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
EOF
    if [ -n "$extra" ]; then printf '%s\n' "$extra" >> "$dir/zoo.cfg"; fi
    _zk_launcher "$dir" "$port" "$cp" org.apache.zookeeper.server.ZooKeeperServerMain
    ZK_DIR=$dir
    _launch "$dir"
}

# _zk_launcher DIR PORT CLASSPATH MAINCLASS: write DIR/launch.sh (and kind, port) for
# Apache ZooKeeper on DIR/zoo.cfg. extendedTypesEnabled, the container interval and
# the super digest are system properties in ZooKeeper (zoo.cfg would prefix them with
# 'zookeeper.' and znode.container.checkIntervalMs would then be ignored).
_zk_launcher() {
    local dir=$1 port=$2 cp=$3 main=$4
    cat > "$dir/launch.sh" <<EOF
#!/bin/sh
exec java -Xmx512m -XX:+UseSerialGC \\
  -Dzookeeper.extendedTypesEnabled=true \\
  -Dzookeeper.enforceQuota=true \\
  -Dznode.container.checkIntervalMs=1000 \\
  -Dzookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST \\
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn ${SERVER_JVMFLAGS:-} \\
  -cp '$cp' $main $dir/zoo.cfg
EOF
    chmod +x "$dir/launch.sh"
    echo zk > "$dir/kind"
    echo "$port" > "$dir/port"
}

# _zkd_launcher DIR PORT: the same for zkd
_zkd_launcher() {
    local dir=$1 port=$2
    {
        echo '#!/bin/sh'
        # zkd reads -D settings from SERVER_JVMFLAGS, as zkServer.sh hands them to Java
        if [ -n "${SERVER_JVMFLAGS:-}" ]; then echo "export SERVER_JVMFLAGS='$SERVER_JVMFLAGS'"; fi
        echo "exec $(_zkd_bin) serve --config $dir/zoo.cfg"
    } > "$dir/launch.sh"
    chmod +x "$dir/launch.sh"
    echo zkd > "$dir/kind"
    echo "$port" > "$dir/port"
}

_zkd_bin() {
    local bin=${ZKD_BIN:-target/release/zkd}
    case "$bin" in /*) ;; *) bin="$REPO_ROOT/$bin" ;; esac
    echo "$bin"
}

# start_zkd PORT DIR [EXTRA_CFG] — zkd with a zoo.cfg equivalent to start_zk's settings
start_zkd() {
    local port=$1 extra=${3:-} dir bin
    bin=$(_zkd_bin)
    if [ ! -x "$bin" ]; then
        _log "zkd binary not found at $bin (build it, or set ZKD_BIN)"; return 1
    fi
    _check_port "$port" || return 1
    dir=$(_fresh_dir "$2") || return 1
    cat > "$dir/zoo.cfg" <<EOF
# written by compat-tests/servers.sh (zkd, same settings as the reference server)
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
extendedTypesEnabled=true
enforceQuota=true
znode.container.checkIntervalMs=1000
DigestAuthenticationProvider.superDigest=$SUPER_DIGEST
EOF
    if [ -n "$extra" ]; then printf '%s\n' "$extra" >> "$dir/zoo.cfg"; fi
    _zkd_launcher "$dir" "$port"
    ZKD_DIR=$dir
    _launch "$dir"
}

# start_ensemble KIND BASE N DIRPREFIX TICK [EXTRA_CFG] — an ensemble of N members of
# KIND (zk: Apache ZooKeeper 3.9.5, zkd) on 127.0.0.1, configured like the standalone
# servers above: member i serves clients on BASE+i, talks to its peers on BASE+100+i
# and elects on BASE+200+i, runs from DIRPREFIX<i> (wiped), with tickTime TICK
# (initLimit 10, syncLimit 5 ticks) and the zoo.cfg lines EXTRA_CFG. Every member is
# spawned before any is awaited: a member serves only once a quorum has formed.
# Prints the member dirs, one a line; halt_server/resume_server work on each.
start_ensemble() {
    local kind=$1 base=$2 n=$3 prefix=$4 tick=$5 extra=${6:-} i j dir cp=""
    local dirs=()
    if [ "$kind" = zk ]; then
        cp=$(_zk_cp) || { _log "cannot fetch Apache ZooKeeper 3.9.5 from Maven Central"; return 1; }
    elif [ ! -x "$(_zkd_bin)" ]; then
        _log "zkd binary not found at $(_zkd_bin) (build it, or set ZKD_BIN)"; return 1
    fi
    for ((i = 1; i <= n; i++)); do
        _check_port $((base + i)) || return 1
        dir=$(_fresh_dir "$prefix$i") || return 1
        dirs+=("$dir")
        echo "$i" > "$dir/data/myid"
        {
            echo "# written by compat-tests/servers.sh start_ensemble ($kind member $i of $n)"
            echo "tickTime=$tick"
            echo "initLimit=10"
            echo "syncLimit=5"
            echo "dataDir=$dir/data"
            echo "clientPort=$((base + i))"
            echo "clientPortAddress=127.0.0.1"
            echo "maxClientCnxns=0"
            echo "admin.enableServer=false"
            echo "4lw.commands.whitelist=*"
            if [ "$kind" = zkd ]; then
                echo "extendedTypesEnabled=true"
                echo "enforceQuota=true"
                echo "znode.container.checkIntervalMs=1000"
                echo "DigestAuthenticationProvider.superDigest=$SUPER_DIGEST"
            fi
            if [ -n "$extra" ]; then printf '%s\n' "$extra"; fi
            # ZooKeeper requires a member's client address here to match clientPortAddress
            for ((j = 1; j <= n; j++)); do
                echo "server.$j=127.0.0.1:$((base + 100 + j)):$((base + 200 + j));127.0.0.1:$((base + j))"
            done
        } > "$dir/zoo.cfg"
        if [ "$kind" = zk ]; then
            _zk_launcher "$dir" $((base + i)) "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain
        else
            _zkd_launcher "$dir" $((base + i))
        fi
    done
    for dir in "${dirs[@]}"; do _spawn "$dir"; done
    for dir in "${dirs[@]}"; do _await_ready "$dir" || return 1; done
    printf '%s\n' "${dirs[@]}"
}

# ensemble_leader DIR... — print the dir of the member that says "Mode: leader"
ensemble_leader() {
    local dir
    for dir in "$@"; do
        if four_letter "$(cat "$dir/port")" srvr | grep -q '^Mode: leader'; then
            echo "$dir"; return 0
        fi
    done
    return 1
}

# halt_server DIR — stop the server started from DIR; keep DIR and its data
halt_server() {
    local dir=$1 pid port i
    case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    port=$(cat "$dir/port" 2>/dev/null)
    if _pid_alive "$dir"; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 150; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            _log "pid $pid ignored SIGTERM for 15 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            sleep 0.2
        fi
        wait "$pid" 2>/dev/null
        _log "$(cat "$dir/kind") on port $port stopped (data kept in $dir/data)"
    fi
    rm -f "$dir/pid"
    # make sure the port is really free before someone restarts on it
    for ((i = 0; i < 50; i++)); do
        [ -n "$port" ] && port_open "$port" || break
        sleep 0.1
    done
}

# resume_server DIR — start the server in DIR again, same port, same data
resume_server() {
    local dir=$1
    case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
    if [ ! -x "$dir/launch.sh" ]; then
        _log "$dir was never set up by start_zk/start_zkd"; return 1
    fi
    if _pid_alive "$dir"; then return 0; fi
    _launch "$dir"
}

stop_zk()  { halt_server "${1:-${ZK_DIR:?stop_zk: no DIR given}}"; }
stop_zkd() { halt_server "${1:-${ZKD_DIR:?stop_zkd: no DIR given}}"; }

# Run as a script: the first argument names the function.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    cmd=${1:-}
    case "$cmd" in
        start_zk|start_zkd|stop_zk|stop_zkd|halt_server|resume_server|four_letter|port_open)
            shift; "$cmd" "$@" ;;
        *)
            sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
            exit 2 ;;
    esac
fi
