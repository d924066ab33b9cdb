#!/usr/bin/env bash
# c.sh — build c/cclient.c against Debian's libzookeeper_mt and run it against
# 127.0.0.1:PORT.
#
# Why it exists: the C client has its own jute encoder/decoder, independent of
# the Java one; its normalized transcript (stdout) must be byte-identical between
# Apache ZooKeeper and zkd.  Client library logging goes to stderr.
#
#   compat-tests/c.sh PORT > transcript.txt
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$COMPAT_DIR/.work/c"

if [ $# -ne 1 ]; then
    echo "usage: $0 PORT > transcript.txt" >&2
    exit 2
fi
PORT=$1
if [ "$PORT" = 2181 ]; then echo "refusing port 2181" >&2; exit 2; fi

if [ ! -f /usr/include/zookeeper/zookeeper.h ] || ! command -v gcc > /dev/null; then
    echo "[c] libzookeeper-mt-dev or gcc missing — running prereqs.sh apt" >&2
    "$COMPAT_DIR/prereqs.sh" apt
fi

SRC="$COMPAT_DIR/c/cclient.c"
mkdir -p "$OUT"
if [ ! -x "$OUT/cclient" ] || [ "$SRC" -nt "$OUT/cclient" ]; then
    # THREADED selects the synchronous API of the multi-threaded library
    gcc -Wall -Wextra -O2 -DTHREADED -I/usr/include/zookeeper \
        -o "$OUT/cclient" "$SRC" -lzookeeper_mt -lpthread >&2
fi

# The scenario takes ~2 s; 60 s means something hangs.
exec timeout 60 "$OUT/cclient" "127.0.0.1:$PORT"
