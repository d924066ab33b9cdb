#!/usr/bin/env bash
# curator.sh — run Apache Curator 5.9 recipes (curator/Recipes.java: locks,
# leader latch and selector, CuratorCache, queues, shared count, persistent
# ephemeral node, modeled framework, semaphore, double barrier) against Apache
# ZooKeeper 3.9.5 and against zkd, and compare the outcomes.
#
# Why it exists: Curator is the client library most Java applications reach
# ZooKeeper through, and its recipes depend on the server's exact behaviour in
# places a transcript of single calls does not reach: many sessions contending
# on sequential ephemerals, watches on predecessors, session expiry deleting
# ephemerals and waking the others, persistent recursive watches, multi.  Every
# scenario asserts what the recipe promises (never two lock holders, each queue
# item exactly once, the cache equal to the server's tree ...) and must pass on
# the reference server for the check itself to be trusted, and on zkd.
#
#   compat-tests/curator.sh [zk|zkd|both]      (default both)
#
# Ports 23181 (ZooKeeper) and 23182 (zkd); server dirs .work/curator-run/{zk,zkd};
# the program's output in .work/curator-run/KIND.out (stack traces: KIND.err).
# zkd is ${ZKD_BIN:-target/release/zkd} (see servers.sh).  Prints a side-by-side
# summary, then what failed, and last "N passed, M failed" over every scenario on
# every server plus zkd's log check; exits non-zero if any scenario failed on
# either server, the program did not finish, or zkd's log says 'panicked' or
# ' ERROR ' (java-check.sh does the running and reporting).
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=java-check.sh
source "$COMPAT_DIR/java-check.sh"

APP=curator
WHAT="Curator recipes"
UNIT=scenario
# ZooKeeper's Java client 3.9.5 and Curator 5.9 (framework, recipes, x-async)
# from Maven Central, fetched once into the ignored cache.
BUNDLE=clients-3.9
SRC="$COMPAT_DIR/curator/Recipes.java"
declare -A PORT=([zk]=23181 [zkd]=23182)
# each run takes ~30 s; the steps bound themselves, 180 s means a hang
TIMEOUT=180
JVM=(-Xmx512m)

java_check "$@"
