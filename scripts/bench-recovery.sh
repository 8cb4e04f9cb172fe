#!/bin/bash
# Recovery: how long a restart takes on a data directory of N counters, against Redis loading an
# AOF of the same N counters, with the peak RSS of each while it loads.
#
# Usage: scripts/bench-recovery.sh [path/to/ringkv] [N]      (N defaults to 1,000,000)
# Knobs: RINGKV_NODES=3 RINGKV_FLAGS="--replicas 1" SERVER_CPU=0 CLIENT_CPU=1
#        KEEP_DIR=/path keeps the data directories there (else under a fresh /tmp directory).
#
# ringkv: `serve --data-dir D --fsync never`, N counters loaded with `ringkv bench --sequential`,
# stopped with SIGTERM, started again on D: the time from the start to "Serving" (every node's log
# replayed and rewritten compacted). Redis: `--appendonly yes --auto-aof-rewrite-percentage 0`,
# the same keys loaded with `redis-cli --pipe` (the AOF holds N INCR commands, as ringkv's log
# holds N records), stopped, started again: the time to the first PONG. Then Redis once more after
# BGREWRITEAOF (its AOF as an RDB preamble: Redis's compacted form). Peak RSS is VmHWM.
# Prints Markdown rows: server, keys, size of its files, restart time, RSS with the keys loaded by
# updates before the restart, peak RSS during the restart, RSS a second after it.
set -u
BIN=${1:-target/release/ringkv}
N=${2:-1000000}
RINGKV_NODES="${RINGKV_NODES:-3}"
RINGKV_FLAGS="${RINGKV_FLAGS:---replicas 1}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
TMP="$(mktemp -d /tmp/ringkv-recovery.XXXXXX)"
DIR="${KEEP_DIR:-$TMP}"
mkdir -p "$DIR"
PIDS=()

die() { echo "bench-recovery: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
kb() { awk -v f="$2" '$1 == f ":" {print $2}' "/proc/$1/status" 2>/dev/null; }
mib() { echo $(( ${1:-0} / 1024 )); }
du_mib() { du -sm "$1" | awk '{print $1}'; }
free_port() {
  local p
  for _ in $(seq 200); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SRV=(); CLI=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SRV=(taskset -c "$SERVER_CPU"); CLI=(taskset -c "$CLIENT_CPU")
fi

# ringkv_up DATA LOG: starts `ringkv serve` on DATA; sets PID, waits for "Serving" (up to 10 min).
ringkv_up() {
  # shellcheck disable=SC2086 # flags are meant to split
  "${SRV[@]}" "$BIN" serve --nodes "$RINGKV_NODES" --base-port 0 --data-dir "$1" --fsync never \
    $RINGKV_FLAGS >"$2" 2>&1 &
  PID=$!; PIDS+=("$PID")
  for _ in $(seq 12000); do
    grep -q '^Serving' "$2" && return 0
    kill -0 "$PID" 2>/dev/null || die "ringkv exited: $(tail -3 "$2")"
    sleep 0.05
  done
  die "ringkv did not start: $(tail -3 "$2")"
}

# redis_up DATA PORT LOG: starts redis-server with an AOF in DATA; sets PID, waits for PONG.
redis_up() {
  "${SRV[@]}" redis-server --port "$2" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync no --auto-aof-rewrite-percentage 0 --dir "$1" --logfile "$3" \
    --daemonize no >/dev/null 2>&1 &
  PID=$!; PIDS+=("$PID")
  for _ in $(seq 12000); do
    [ "$(redis-cli -p "$2" ping 2>/dev/null)" = PONG ] && return 0
    kill -0 "$PID" 2>/dev/null || die "redis-server exited: $(tail -3 "$3")"
    sleep 0.05
  done
  die "redis-server did not start: $(tail -3 "$3")"
}

# row NAME KEYS DATA SECONDS: one Markdown row from the running PID (LOADED_KB: its RSS before the
# restart, with the same keys loaded by updates).
row() {
  local peak steady
  peak=$(kb "$PID" VmHWM); sleep 1; steady=$(kb "$PID" VmRSS)
  echo "| $1 | $2 | $(du_mib "$3") | **$4** | $(mib "$LOADED_KB") | $(mib "$peak") | $(mib "$steady") |"
}

ringkv_rows() {
  local data="$DIR/ringkv" log="$TMP/ringkv.log" port t0 s keys
  rm -rf "$data"
  ringkv_up "$data" "$log"
  port=$(grep -m1 -oP 'Node listening on port \K[0-9]+' "$log")
  "${CLI[@]}" "$BIN" bench --addr "127.0.0.1:$port" -c 50 -P 64 -n "$N" -r "$N" --sequential -q \
    >"$TMP/load" 2>&1 || die "the ringkv load failed: $(cat "$TMP/load")"
  LOADED_KB=$(kb "$PID" VmRSS)
  stop_pid "$PID"
  t0=$(now); ringkv_up "$data" "$log"; s=$(since "$t0")
  port=$(grep -m1 -oP 'Node listening on port \K[0-9]+' "$log")
  keys=$("$BIN" client --addr "127.0.0.1:$port" ring | awk '/keys$/ {s += $(NF-1)} END {print s+0}')
  row "ringkv ($RINGKV_NODES nodes, '$RINGKV_FLAGS')" "$keys" "$data" "$s"
  stop_pid "$PID"
}

redis_rows() {
  local data="$DIR/redis" log="$TMP/redis.log" port t0 s
  rm -rf "$data"; mkdir -p "$data"; port=$(free_port)
  redis_up "$data" "$port" "$log"
  awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) { k = "key:" i;
    printf "*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n", length(k), k } }' \
    | "${CLI[@]}" redis-cli -p "$port" --pipe >/dev/null
  LOADED_KB=$(kb "$PID" VmRSS)
  stop_pid "$PID"
  t0=$(now); redis_up "$data" "$port" "$log"; s=$(since "$t0")
  row "Redis, AOF of $N INCRs" "$(redis-cli -p "$port" dbsize)" "$data" "$s"
  redis-cli -p "$port" bgrewriteaof >/dev/null
  for _ in $(seq 6000); do
    redis-cli -p "$port" info persistence | grep -q '^aof_rewrite_in_progress:0' && break
    sleep 0.1
  done
  stop_pid "$PID"
  t0=$(now); redis_up "$data" "$port" "$log"; s=$(since "$t0")
  row "Redis, AOF after BGREWRITEAOF (RDB preamble)" "$(redis-cli -p "$port" dbsize)" "$data" "$s"
  stop_pid "$PID"
}

[ -x "$BIN" ] || die "no ringkv binary at $BIN"
command -v redis-server >/dev/null || die "redis-server missing (scripts/bench-vs-redis.sh installs it)"
echo "| server | keys | files MiB | restart s | RSS before the restart MiB | peak RSS while loading MiB | RSS after MiB |"
echo "|---|---|---|---|---|---|---|"
ringkv_rows
redis_rows
