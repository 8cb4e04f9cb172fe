#!/usr/bin/env bash
# Two builds against each other on RF=3 over three processes (issue 12's benchmark row):
#   scripts/ab-multi-process.sh BIN_A BIN_B [ROUNDS]
# Each round: BIN_A as three `ringkv serve --nodes 1` processes on 127.0.0.1/2/3 joined with --join,
# then BIN_B the same way, then BIN_B as one `serve --nodes 3` process; each loaded through the
# first process's RESP port with `redis-benchmark -t incr -c 50 -P 16 -r 100000 -n N` (N=1000000).
# Prints INCR req/s per run. Talks only to loopback; stops what it started by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-multi-process.sh
A=${1:?usage: scripts/ab-multi-process.sh BIN_A BIN_B [ROUNDS]}
B=${2:?usage: scripts/ab-multi-process.sh BIN_A BIN_B [ROUNDS]}
PORT=${PORT:-7101}
RESP=${RESP:-7479}
N=${N:-1000000}
trap mp_stop EXIT
load() { redis-benchmark -p "$RESP" -t incr -c 50 -P 16 -r 100000 -n "$N" -q 2>/dev/null \
  | tr '\r' '\n' | grep -o '^INCR: [0-9.]*' | tail -1 || echo "failed"; }
three() { mp_start_three "$1" "$PORT" "$RESP" || echo "(not all joined)"; load; mp_stop; sleep 0.5; }
one() { mp_serve "$1" serve --in-memory --nodes 3 --bind 127.0.0.1 --base-port "$PORT" --resp-port "$RESP"; sleep 1; load; mp_stop; sleep 0.5; }
for round in $(seq 1 "${3:-3}"); do
  echo "round $round: A three processes $(three "$A") | B three processes $(three "$B") | B one process $(one "$B")"
done
