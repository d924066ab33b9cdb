#!/usr/bin/env bash
# zktop.sh PORT — Debian's zktop (a curses monitor that polls `stat` and parses its
# Clients section and server lines) runs against the server on 127.0.0.1:PORT in a
# pseudo-terminal (a private tmux server), and its screen must show that server
# answering: its row with mode and latency, and the monitoring connection among the
# clients. Exits 0 on success; prints the captured screen either way.
set -uo pipefail

port=${1:?usage: zktop.sh PORT}
command -v zktop >/dev/null || { echo "zktop is not installed (compat-tests/prereqs.sh apt)"; exit 2; }
command -v tmux >/dev/null || { echo "tmux is not installed"; exit 2; }

sock="zktop-check-$$"
cleanup() { tmux -L "$sock" kill-server 2>/dev/null; }
trap cleanup EXIT

# zktop runs until 'q'; the tmux server is killed after the capture either way
tmux -L "$sock" new-session -d -x 120 -y 24 \
    "TERM=xterm timeout 30 zktop --servers 127.0.0.1:$port"
screen=""
for _ in $(seq 1 50); do
    sleep 0.2
    screen=$(tmux -L "$sock" capture-pane -p 2>/dev/null)
    # the server row: "0  127.0.0.1  PORT <mode> ..." with a latency triple
    if grep -Eq "^0 +127\.0\.0\.1 +$port +[SLF] " <<<"$screen" &&
       grep -Eq "^127\.0\.0\.1 +[0-9]+ " <<<"$screen"; then
        echo "$screen" | sed -e '/^$/d'
        echo "[zktop] OK: zktop shows 127.0.0.1:$port"
        exit 0
    fi
done
echo "$screen"
echo "[zktop] FAIL: zktop did not show 127.0.0.1:$port as a live server"
exit 1
