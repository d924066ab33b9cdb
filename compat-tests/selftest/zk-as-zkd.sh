#!/bin/sh
# zk-as-zkd.sh — a stand-in "zkd" binary that runs Apache ZooKeeper instead.
#
# Why it exists: to test the harness itself before zkd can serve.  It accepts
# zkd's command line (`serve --config FILE`) and starts Apache ZooKeeper 3.9.5 on
# the zoo.cfg that servers.sh wrote for zkd, so every zkd code path of run.sh
# (start_zkd, the transcript diffs, kazoo's restart hooks) can be exercised:
#
#   ZKD_BIN=compat-tests/selftest/zk-as-zkd.sh compat-tests/run.sh
#
# ZooKeeper reads most keys of that zoo.cfg itself (unknown keys such as
# extendedTypesEnabled and DigestAuthenticationProvider.superDigest become
# zookeeper.* system properties, which is where ZooKeeper looks for them), but
# znode.container.checkIntervalMs is only read as a plain system property, so it
# is passed with -D here.
set -eu
if [ "${1:-}" != serve ] || [ "${2:-}" != --config ] || [ -z "${3:-}" ]; then
    echo "usage: $0 serve --config ZOO_CFG" >&2
    exit 2
fi
cfg=$3
lib=$(bash "$(dirname "$0")/../maven/fetch.sh" zookeeper-3.9.5)
interval=$(sed -n 's/^znode\.container\.checkIntervalMs=//p' "$cfg" | tail -n 1)
exec java -Xmx512m -XX:+UseSerialGC \
    -Dznode.container.checkIntervalMs="${interval:-60000}" \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$lib/*" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$cfg"
