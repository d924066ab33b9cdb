#!/usr/bin/env bash
# hadoop.sh — run Hadoop's HA leader election (org.apache.hadoop.ha.ActiveStandbyElector
# from hadoop-common 3.4, the engine of the HDFS NameNode's ZKFC; hadoop/Elector.java)
# against Apache ZooKeeper 3.9.5 and against zkd, and compare the outcomes.
#
# Why it exists: automatic NameNode failover is one of the most common production uses
# of ZooKeeper, and the elector leans on server behaviour that single calls do not show
# together: an ephemeral lock znode and its owner, exists-watches firing when a session
# is closed from another handle, digest ACLs (ha.zookeeper.acl / ha.zookeeper.auth) and
# NOAUTH for everyone else, the versioned bread crumb that decides fencing, sessions
# surviving a server restart, and ZooKeeper's multi-based deleteRecursive. Three
# candidates elect; the checks (one active at every check, who fences whom with which
# data, what the znodes hold) must pass on the reference server for the check itself to
# be trusted, and on zkd.
#
#   compat-tests/hadoop.sh [zk|zkd|both]      (default both)
#
# Ports 24181 (ZooKeeper) and 24182 (zkd); server dirs .work/hadoop-run/{zk,zkd}, always
# stopped on exit; the program's output in .work/hadoop-run/KIND.out, the client's and
# Hadoop's log (level warn) in .work/hadoop-run/KIND.err. zkd is
# ${ZKD_BIN:-target/release/zkd} (see servers.sh). Prints a side-by-side summary, then
# what failed (step, server, tails of the logs), and last "N passed, M failed" over
# every check on every server plus zkd's log check; exits non-zero if anything failed
# on either server, the program did not finish, or zkd's log says 'panicked' or ' ERROR '
# (java-check.sh does the running and reporting).
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=java-check.sh
source "$COMPAT_DIR/java-check.sh"

APP=hadoop
WHAT=ActiveStandbyElector
UNIT=check
# hadoop-common 3.4 without its web/kerberos/serialization dependencies, the ZooKeeper
# 3.9.5 client and slf4j-simple (the hadoop-3.4 bundle, fetched once into the ignored cache).
BUNDLE=hadoop-3.4
SRC="$COMPAT_DIR/hadoop/Elector.java"
declare -A PORT=([zk]=24181 [zkd]=24182)
# A run takes ~7 s (most of it the server restart); every wait in the program is
# bounded (20 s a step, a 90 s watchdog), so 120 s means a hang.
TIMEOUT=120
JVM=(-Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
# the elector restarts the server itself: it gets the server's dir and servers.sh
extra_args() { printf '%s\n' "$2" "$COMPAT_DIR/servers.sh"; }

java_check "$@"
