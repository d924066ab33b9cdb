#!/usr/bin/env bash
# java.sh — compile and run java/Transcript.java (official ZooKeeper 3.9.5 Java
# client + Curator 5.9 from Maven Central) against 127.0.0.1:PORT.
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

# The official Java client 3.9.5 and Curator 5.9 from Maven Central (the clients-3.9
# bundle, fetched once into the ignored cache); slf4j-nop keeps client logging out
# of the transcript.
LIB=$(bash "$COMPAT_DIR/maven/fetch.sh" clients-3.9) || exit 1
CP="$LIB/*"

SRC="$COMPAT_DIR/java/Transcript.java"
mkdir -p "$OUT"
if [ ! -f "$OUT/Transcript.class" ] || [ "$SRC" -nt "$OUT/Transcript.class" ]; then
    javac -nowarn -d "$OUT" -cp "$CP" "$SRC" >&2
fi

# The whole scenario takes ~15 s; 180 s means something hangs.
exec timeout 180 java -cp "$CP:$OUT" Transcript "127.0.0.1:$PORT"
