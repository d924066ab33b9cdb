#!/usr/bin/env bash
# Start the 3-member example ensemble in the background, logs in ./zkd-N.log:
#   conf/ensemble/start.sh [path/to/zkd]      (default: target/release/zkd, else zkd on PATH)
# Stop it with: pkill -f 'zkd serve --config .*conf/ensemble/zoo-'
set -eu
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ZKD=${1:-}
if [ -z "$ZKD" ]; then
    if [ -x "$HERE/../../target/release/zkd" ]; then ZKD="$HERE/../../target/release/zkd"; else ZKD=zkd; fi
fi
for i in 1 2 3; do
    mkdir -p "zkd-data-$i"
    # Each member reads its id from dataDir/myid, as ZooKeeper does.
    [ -f "zkd-data-$i/myid" ] || echo "$i" > "zkd-data-$i/myid"
    nohup "$ZKD" serve --config "$HERE/zoo-$i.cfg" > "zkd-$i.log" 2>&1 &
    echo "member $i: pid $!, clients on 127.0.0.1:218$i, log zkd-$i.log"
done
echo "connect string: 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183"
