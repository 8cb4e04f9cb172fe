#!/usr/bin/env bash
# Stalls during membership changes (issue 17): load KEYS counters into an N-node ringkv, then run
# `ringkv bench` (c=10, P=1, random keys: a steady stream of updates) for SECS seconds around an
# `add-node`, and again around the `remove-node` of that node, and report each window's update
# latency (p99.9 and max: the largest stall an update saw) and how long each change took.
#
# Environment (all optional): KEYS=1000000 NODES=3 SECS=6 SERVER_CPU=0 CLIENT_CPU=1
# RINGKV_BIN=path RINGKV_FLAGS="" (extra `ringkv serve` flags, e.g. "--replicas 1").
# Stops what it started, by PID, on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KEYS="${KEYS:-1000000}"
NODES="${NODES:-3}"
SECS="${SECS:-6}"
RINGKV_FLAGS="${RINGKV_FLAGS:-}"
TMP="$(mktemp -d /tmp/ringkv-moves.XXXXXX)"
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SRV=(); CLI=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SRV=(taskset -c "${SERVER_CPU:-0}"); CLI=(taskset -c "${CLIENT_CPU:-1}")
fi
if [ -n "${RINGKV_BIN:-}" ]; then BIN=$RINGKV_BIN; else
  (cd "$ROOT" && cargo build --release --quiet --bin ringkv)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/ringkv"
fi

# shellcheck disable=SC2086 # flags are meant to split
"${SRV[@]}" "$BIN" serve --nodes "$NODES" --base-port 0 --in-memory $RINGKV_FLAGS >"$TMP/serve.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
  [ "$(grep -c 'Node listening on port' "$TMP/serve.log")" -ge "$NODES" ] && break
  sleep 0.1
done
PORT=$(grep -m1 -oP 'Node listening on port \K[0-9]+' "$TMP/serve.log") || { cat "$TMP/serve.log"; exit 1; }
ADDR="127.0.0.1:$PORT"

echo "loading $KEYS counters into $NODES nodes" >&2
"${CLI[@]}" "$BIN" bench --addr "$ADDR" -c 50 -P 64 -n "$KEYS" -r "$KEYS" --sequential -q >&2

# Runs `ringkv client CHANGE...` two seconds into a SECS-second bench window; prints the change's
# answer, how long it took, and the window's bench line.
window() {
  "${CLI[@]}" "$BIN" bench --addr "$ADDR" -c 10 -P 1 -r "$KEYS" --duration "$SECS" -q >"$TMP/bench.out" 2>/dev/null &
  local bench=$! t0 t1 answer
  sleep 2
  t0=$(date +%s.%N)
  answer=$("$BIN" client --addr "$ADDR" --timeout 60 "$@" | tail -1)
  t1=$(date +%s.%N)
  wait "$bench" || true
  echo "$answer"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "  took %.3f s\n", b - a }'
  echo "  updates during the ${SECS} s around it (c=10, P=1, random keys): $(cat "$TMP/bench.out")"
}

added=$(window add-node)
echo "add-node: $added"
NEW=$(grep -oP 'Node on port \K[0-9]+' <<<"$added" | head -1)
echo "remove-node $NEW: $(window remove-node "$NEW")"
