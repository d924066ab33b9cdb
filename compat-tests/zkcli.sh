#!/bin/sh
# zkcli.sh — Apache ZooKeeper 3.9.5's command-line shell (zkCli: ZooKeeperMain), with
# the same arguments as the distribution's bin/zkCli.sh.
#
# Why it exists: zkCli is the tool every ZooKeeper operator types into, and the tests
# (tests/zkcli.rs) drive it against the server. It comes from the clients-3.9 Maven
# bundle (the 3.9.5 Java client; slf4j-nop keeps its logging out of the output), so it is
# the same release as the reference server, and the same on every machine.
#
#   compat-tests/zkcli.sh -server 127.0.0.1:PORT [cmd args...]
set -eu
lib=$(bash "$(dirname "$0")/maven/fetch.sh" clients-3.9)
exec java -Xmx256m -XX:+UseSerialGC -cp "$lib/*" org.apache.zookeeper.ZooKeeperMain "$@"
