#!/usr/bin/env bash
# The `add-node` target of issue 7: load KEYS counters into an N-node ringkv, then add a node while
# `ringkv bench` keeps updating, and report how many keys moved (against the ideal KEYS×R/(N+1)), how
# long the add took, and the update latency percentiles of the run around it.
#
# Environment (all optional): KEYS=1000000 NODES=3 SERVER_CPU=0 CLIENT_CPU=1 RINGKV_BIN=path
# RINGKV_FLAGS="" (extra `ringkv serve` flags, e.g. "--replicas 1"); KEEP_LOG=path keeps the
# server's log (run with RUST_LOG=info to see how long the copy and the drop took).
# Stops what it started, by PID, on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KEYS="${KEYS:-1000000}"
NODES="${NODES:-3}"
RINGKV_FLAGS="${RINGKV_FLAGS:-}"
TMP="$(mktemp -d /tmp/ringkv-add-node.XXXXXX)"
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -n "${KEEP_LOG:-}" ] && cp "$TMP/serve.log" "$KEEP_LOG"; rm -rf "$TMP"
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

"${CLI[@]}" "$BIN" bench --addr "$ADDR" -c 10 -P 1 -r "$KEYS" --duration 6 -q >"$TMP/bench.out" 2>/dev/null &
BENCH=$!
sleep 2
t0=$(date +%s.%N)
added=$("$BIN" client --addr "$ADDR" --timeout 60 add-node)
t1=$(date +%s.%N)
wait "$BENCH" || true

moved=$(grep -oP 'added, \K[0-9]+' <<<"$added" || echo 0)
echo "add-node: $(tail -1 <<<"$added")"
# Each key has R copies (--replicas, default 3): the new node should receive R/(N+1) of them.
R=$(grep -oP -- '--replicas[ =]\K[0-9]+' <<<"$RINGKV_FLAGS" || echo 3)
awk -v m="$moved" -v k="$KEYS" -v n="$NODES" -v r="$R" -v a="$t0" -v b="$t1" 'BEGIN {
  if (r > n + 1) r = n + 1
  ideal = k * r / (n + 1)
  printf "moved %d keys = %.3f× the ideal %d (target: within 10%%); took %.3f s (target: < 1 s)\n", m, m / ideal, ideal, b - a
}'
echo "updates during the 6 s around it (c=10, P=1, random keys): $(cat "$TMP/bench.out")"
