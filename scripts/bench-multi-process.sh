#!/usr/bin/env bash
# RF=3 across processes against RF=3 in one process (issue 12's benchmark row):
#   scripts/bench-multi-process.sh [BIN] [ROUNDS]
# Alternates, ROUNDS times: one `ringkv serve --nodes 3` process, then three `ringkv serve --nodes 1`
# processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 joined with --join, each loaded through the first
# process's RESP port with `redis-benchmark -t incr -c 50 -P 16 -r 100000`. Prints req/s per run.
# Talks only to loopback; stops what it started by PID.
#
# Sourced (scripts/bench-vs-redis.sh does), it only defines mp_start_three and mp_stop.

MP_PIDS=()

# mp_serve CMD...: starts CMD in the background, quiet; its PID goes to MP_PIDS.
mp_serve() { "$@" >/dev/null 2>&1 & MP_PIDS+=($!); }

# mp_start_three BIN PORT RESP [PREFIX...]: three `ringkv serve --nodes 1 --in-memory` processes
# on 127.0.0.1/2/3, all on node port PORT, the first with RESP on RESP, the others joined to it;
# PREFIX (e.g. `taskset -c 0`) goes before each. Returns once the first sees three nodes, or 1
# after 10 s.
mp_start_three() {
  local bin=$1 port=$2 resp=$3 host; shift 3
  mp_serve "$@" "$bin" serve --in-memory --nodes 1 --bind 127.0.0.1 --base-port "$port" --resp-port "$resp"
  sleep 1
  for host in 127.0.0.2 127.0.0.3; do
    mp_serve "$@" "$bin" serve --in-memory --nodes 1 --bind "$host" --base-port "$port" --join "127.0.0.1:$port"
    sleep 1.5
  done
  for _ in $(seq 100); do
    [ "$("$bin" client --addr "127.0.0.1:$port" ring 2>/dev/null | grep -c '^Node ')" -ge 3 ] && return 0
    sleep 0.1
  done
  return 1
}

# mp_stop: stops the processes of MP_PIDS by PID.
mp_stop() {
  local p
  for p in "${MP_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  MP_PIDS=()
}

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

set -euo pipefail
BIN=${1:-target/release/ringkv}
ROUNDS=${2:-2}
PORT=${PORT:-7101}
RESP=${RESP:-7479}
N=${N:-1000000}
trap mp_stop EXIT
load() { redis-benchmark -p "$RESP" -t incr -c 50 -P 16 -r 100000 -n "$1" -q 2>/dev/null \
  | tr '\r' '\n' | grep -o '[0-9.]* requests per second' || echo "failed"; }
for round in $(seq 1 "$ROUNDS"); do
  mp_serve "$BIN" serve --in-memory --nodes 3 --bind 127.0.0.1 --base-port "$PORT" --resp-port "$RESP"; sleep 1
  echo "round $round, one process --nodes 3:  $(load "$N")"
  mp_stop; sleep 0.5
  mp_start_three "$BIN" "$PORT" "$RESP" || echo "round $round: the three processes did not all join"
  echo "round $round, three processes:        $(load "$N")"
  mp_stop; sleep 0.5
done
