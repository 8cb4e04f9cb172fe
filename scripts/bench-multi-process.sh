#!/usr/bin/env bash
# RF=3 across processes against RF=3 in one process (issue 12's benchmark row):
#   scripts/bench-multi-process.sh [BIN] [ROUNDS]
# Alternates, ROUNDS times: one `ringkv serve --nodes 3` process, then three `ringkv serve --nodes 1`
# processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 joined with --join, each loaded through the first
# process's RESP port with `redis-benchmark -t incr -c 50 -P 16 -r 100000`. Prints req/s per run.
# Talks only to loopback; stops what it started by PID.
set -euo pipefail
BIN=${1:-target/release/ringkv}
ROUNDS=${2:-2}
PORT=${PORT:-7101}
RESP=${RESP:-7479}
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
trap stop EXIT
serve() { "$BIN" serve --in-memory "$@" >/dev/null 2>&1 & pids+=($!); }
load() { redis-benchmark -p "$RESP" -t incr -c 50 -P 16 -r 100000 -n "$1" -q 2>/dev/null \
  | tr '\r' '\n' | grep -o '[0-9.]* requests per second' || echo "failed"; }
for round in $(seq 1 "$ROUNDS"); do
  serve --nodes 3 --bind 127.0.0.1 --base-port "$PORT" --resp-port "$RESP"; sleep 1
  echo "round $round, one process --nodes 3:  $(load 1000000)"
  stop; sleep 0.5
  serve --nodes 1 --bind 127.0.0.1 --base-port "$PORT" --resp-port "$RESP"; sleep 1
  serve --nodes 1 --bind 127.0.0.2 --base-port "$PORT" --join "127.0.0.1:$PORT"; sleep 1.5
  serve --nodes 1 --bind 127.0.0.3 --base-port "$PORT" --join "127.0.0.1:$PORT"; sleep 2
  echo "round $round, three processes:        $(load 300000)"
  stop; sleep 0.5
done
