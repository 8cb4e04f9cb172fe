#!/bin/bash
# A flame graph of `ringkv serve` under redis-benchmark INCR load: perf record -g on the server,
# folded with inferno (`cargo install inferno`), written as an SVG, plus the top symbols as text.
#
# Usage: scripts/flame.sh OUT.svg [ringkv serve flags...]
#   e.g. scripts/flame.sh docs/flame/rf1-every-second.svg --replicas 1 --data-dir DIR --fsync every-second
# Knobs: BIN=target/profiling/ringkv (built with `cargo build --profile profiling` when missing) LOAD="-c 50 -P 16 -r 100000" SECS=6 FREQ=999
#        SERVER_CPU=0 CLIENT_CPU=1; inferno-collapse-perf and inferno-flamegraph on PATH.
# Needs `perf` (Debian: linux-perf) allowed to profile the process (root, or perf_event_paranoid <= 1).
set -u
OUT=${1:?usage: scripts/flame.sh OUT.svg [serve flags...]}; shift
BIN=${BIN:-target/profiling/ringkv}
if [ ! -x "$BIN" ] && [ "$BIN" = target/profiling/ringkv ]; then cargo build --profile profiling --bin ringkv || exit 1; fi
LOAD=${LOAD:--c 50 -P 16 -r 100000}
SECS=${SECS:-6}
FREQ=${FREQ:-999}
TMP=$(mktemp -d /tmp/ringkv-flame.XXXXXX)
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
for tool in perf inferno-collapse-perf inferno-flamegraph redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "flame: $tool is missing" >&2; exit 1; }
done
taskset -c "${SERVER_CPU:-0}" "$BIN" serve --nodes 3 --base-port 0 --resp-port 0 "$@" >"$TMP/log" 2>&1 &
PID=$!
for _ in $(seq 200); do grep -q '^Serving' "$TMP/log" && break; sleep 0.05; done
PORT=$(grep -m1 -oP 'RESP listening on port \K[0-9]+' "$TMP/log") || { cat "$TMP/log" >&2; exit 1; }
# Warm up (keys created), then profile a steady stretch.
# shellcheck disable=SC2086
taskset -c "${CLIENT_CPU:-1}" redis-benchmark -p "$PORT" -t incr -n 500000 $LOAD -q >/dev/null
# shellcheck disable=SC2086
taskset -c "${CLIENT_CPU:-1}" redis-benchmark -p "$PORT" -t incr -n 100000000 $LOAD -q \
  >"$TMP/bench" 2>&1 &
BENCH=$!
sleep 1
perf record -F "$FREQ" -g -p "$PID" -o "$TMP/perf.data" -- sleep "$SECS" 2>"$TMP/perf.err"
kill -TERM "$BENCH" 2>/dev/null; wait "$BENCH" 2>/dev/null
perf script -i "$TMP/perf.data" 2>/dev/null | inferno-collapse-perf >"$TMP/folded"
mkdir -p "$(dirname "$OUT")"
inferno-flamegraph --title "ringkv serve $* : redis-benchmark INCR $LOAD" <"$TMP/folded" >"$OUT"
echo "flame graph: $OUT ($(wc -l <"$TMP/folded") stacks); load: $(tr '\r' '\n' <"$TMP/bench" | grep -a 'rps=' | tail -1)"
# Shares of the samples whose stack holds each of these frames (a sample may count twice).
awk '{ n = $NF; t += n; $NF = "";
  if (/writev|sys_write/) w += n; if (/recvfrom|sys_read|sys_recv/) r += n;
  if (/KeyMap/) k += n; if (/resp::/) p += n; if (/ringkv-log|persist::/) l += n;
  if (/epoll_wait|schedule/) s += n }
  END { if (t) printf "samples (weighted) %.0f: writev/write %.0f%%, reads %.0f%%, KeyMap %.0f%%, resp:: %.0f%%, log %.0f%%, waiting/scheduling %.0f%%\n",
    t, 100*w/t, 100*r/t, 100*k/t, 100*p/t, 100*l/t, 100*s/t }' "$TMP/folded"
perf report -i "$TMP/perf.data" --no-children --sort sym --stdio 2>/dev/null \
  | grep -E '^ +[0-9.]+%' | head -"${TOP:-25}"
