#!/usr/bin/env bash
# java.sh — compile and run java/Transcript.java (official ZooKeeper 3.8 Java
# client + Curator 5.4 from Debian) against 127.0.0.1:PORT.
#
# Why it exists: the Java client and Curator are what most ZooKeeper users run;
# their normalized transcript (stdout) must be byte-identical between Apache
# ZooKeeper and zkd.  Diagnostics (stack traces) go to stderr.
#
#   compat-tests/java.sh PORT > transcript.txt
#
# Exit status: 0 when the scenario ran without an unexpected exception.
# The server must have TTL nodes enabled and check containers every second
# (servers.sh configures both).
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$COMPAT_DIR/.work/java"

if [ $# -ne 1 ]; then
    echo "usage: $0 PORT > transcript.txt" >&2
    exit 2
fi
PORT=$1
if [ "$PORT" = 2181 ]; then echo "refusing port 2181" >&2; exit 2; fi

# Debian jars; the jars' manifests pull in guava, jute, netty, slf4j-api, ...
# slf4j-nop keeps client logging out of the transcript.
CP=/usr/share/java/curator-recipes.jar:/usr/share/java/curator-framework.jar
CP=$CP:/usr/share/java/curator-client.jar:/usr/share/java/zookeeper.jar
CP=$CP:/usr/share/java/slf4j-nop.jar

for jar in ${CP//:/ }; do
    if [ ! -f "$jar" ]; then
        echo "[java] missing $jar — running prereqs.sh apt" >&2
        "$COMPAT_DIR/prereqs.sh" apt
        break
    fi
done

SRC="$COMPAT_DIR/java/Transcript.java"
mkdir -p "$OUT"
if [ ! -f "$OUT/Transcript.class" ] || [ "$SRC" -nt "$OUT/Transcript.class" ]; then
    javac -nowarn -d "$OUT" -cp "$CP" "$SRC" >&2
fi

# The whole scenario takes ~15 s; 180 s means something hangs.
exec timeout 180 java -cp "$CP:$OUT" Transcript "127.0.0.1:$PORT"
