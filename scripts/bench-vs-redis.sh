#!/usr/bin/env bash
# ringkv against Redis on this machine, in one run. Prints one table of medians and ringkv/Redis
# ratios, then memory per key for 1,000,000 counters. See BENCHMARKS.md for how to read it.
#
# What it does: installs Debian's redis-server/redis-tools if missing (as root), builds ringkv in
# release, starts redis-server and `ringkv serve` on loopback on free ports, pins the servers to one
# core and the load generators to another with taskset (when there are 2+ cores), runs the same
# `redis-benchmark -t incr` configs against Redis and against ringkv's RESP port, plus `ringkv bench`
# against ringkv's framed port, alternating A/B runs RUNS times, and stops everything it started,
# by PID, on exit. Request counts are calibrated so each measured run lasts about SECS seconds.
#
# Environment (all optional):
#   RUNS=3               A/B alternations per config; the table shows medians
#   SECS=2               target length of one measured run, in seconds
#   RINGKV_NODES=3       nodes in the ringkv cluster (one process)
#   RINGKV_FLAGS="--replicas 1"  `ringkv serve` flags for the RF 1 rows
#   RINGKV_RF3_FLAGS="--replicas 3"  flags for the RF 3 rows; those rows are skipped while
#                        `ringkv serve --help` has no --replicas (replication not landed yet)
#   MULTI=1              the RF3-over-three-processes column: three `ringkv serve --nodes 1` on
#                        127.0.0.1/2/3 joined with --join (scripts/bench-multi-process.sh), loaded
#                        through the first one's RESP port; 0 skips it
#   MEM_KEYS=1000000     counters loaded for the memory rows, RF 1 and RF 3 (0 skips them)
#   DURABLE=1            the durable rows (scripts/bench-durable.inc.sh): Redis with an AOF
#                        (everysec, always) against `ringkv serve --data-dir` (every-second,
#                        always) at RF 1 and RF 3, DURABLE_CONFIGS; 0 skips them
#   RECOVERY_KEYS=1000000  counters for the recovery row (scripts/bench-recovery.sh); 0 skips it
#   SERVER_CPU=0 CLIENT_CPU=1   cores for taskset
#   RINGKV_BIN=path      use this binary instead of building one
#   BUDGET=540           seconds after which remaining measurements are skipped (limit: 10 min)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-3}"
SECS="${SECS:-2}"
RINGKV_NODES="${RINGKV_NODES:-3}"
RINGKV_FLAGS="${RINGKV_FLAGS:---replicas 1}"
RINGKV_RF3_FLAGS="${RINGKV_RF3_FLAGS:---replicas 3}"
MEM_KEYS="${MEM_KEYS:-1000000}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
BUDGET="${BUDGET:-540}"
DURABLE="${DURABLE:-1}"
MULTI="${MULTI:-1}"
DURABLE_CONFIGS=("-c 50 -P 16 -r 100000")
RECOVERY_KEYS="${RECOVERY_KEYS:-1000000}"
HZ="$(getconf CLK_TCK)"
TMP="$(mktemp -d /tmp/ringkv-vs-redis.XXXXXX)"
STARTED=()
NOTES=()
CONFIGS=("-c 1 -P 1" "-c 50 -P 1" "-c 50 -P 16" "-c 50 -P 16 -r 100000")
FRAMED_CONFIGS=("-c 1 -P 1" "-c 50 -P 16" "-c 50 -P 16 -r 100000")

log() { echo "[${SECONDS}s] $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }
now() { date +%s.%N; }

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${STARTED[@]}" "${MP_PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_redis() {
  command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "redis-server/redis-benchmark missing (install Debian's redis-server and redis-tools)"
  fi
  log "installing redis-server and redis-tools (apt-get)"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null 2>&1 \
    || die "apt-get could not install redis-server"
  # Debian's package may start a system instance; it is not ours, so it is left alone.
}

free_port() {
  local p
  for _ in $(seq 200); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

SRV=(); CLI=()
setup_pinning() {
  if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    SRV=(taskset -c "$SERVER_CPU"); CLI=(taskset -c "$CLIENT_CPU")
  else
    NOTES+=("one core (or no taskset): servers and load generators share CPUs")
  fi
}

proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
child_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pct() { awk -v t="$1" -v a="$2" -v b="$3" -v hz="$HZ" 'BEGIN { printf "%.0f", t / hz / (b - a) * 100 }'; }

# start_redis PORT [FLAGS...]: starts a fresh redis-server (no persistence unless FLAGS ask for
# it, in a directory of its own); sets REDIS_PID and REDIS_PORT (another free port if PORT was
# taken meanwhile: up to 3 tries).
start_redis() {
  local port=$1 try; shift
  for try in 1 2 3; do
    mkdir -p "$TMP/redis-$port"
    "${SRV[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$TMP/redis-$port" --logfile "$TMP/redis-$port.log" --daemonize no "$@" >/dev/null 2>&1 &
    REDIS_PID=$!; REDIS_PORT=$port
    STARTED+=("$REDIS_PID")
    for _ in $(seq 300); do
      [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    log "redis-server on port $port did not start (try $try): $(tail -1 "$TMP/redis-$port.log" 2>/dev/null)"
    stop_pid "$REDIS_PID"; port=$(free_port)
  done
  die "redis-server did not start (see $TMP/redis-*.log)"
}

# start_ringkv NAME FLAGS...: starts `ringkv serve` (in memory unless RK_STORAGE says otherwise);
# sets RK_PID, RK_FRAMED and RK_RESP (or "").
start_ringkv() {
  local name=$1; shift
  local log="$TMP/ringkv-$name.log" resp=()
  [ "$HAS_RESP" = 1 ] && resp=(--resp-port 0)
  # shellcheck disable=SC2068 # flags are meant to split
  "${SRV[@]}" "$BIN" serve --nodes "$RINGKV_NODES" --base-port 0 ${RK_STORAGE:---in-memory} "${resp[@]}" $@ \
    >"$log" 2>&1 &
  RK_PID=$!
  STARTED+=("$RK_PID")
  for _ in $(seq 300); do
    kill -0 "$RK_PID" 2>/dev/null || die "ringkv ($name) exited: $(tail -3 "$log")"
    if [ "$(grep -c 'Node listening on port' "$log")" -ge "$RINGKV_NODES" ] \
      && { [ "$HAS_RESP" = 0 ] || grep -q 'RESP listening on port' "$log"; }; then
      RK_FRAMED=$(grep -m1 -oP 'Node listening on port \K[0-9]+' "$log")
      RK_RESP=$(grep -m1 -oP 'RESP listening on port \K[0-9]+' "$log" || true)
      return 0
    fi
    sleep 0.1
  done
  die "ringkv ($name) did not start: $(tail -3 "$log")"
}

# measure SERVER_PID CMD...: runs CMD pinned to the client core, output in $TMP/out; sets M_SRV and
# M_CLI (CPU use of the server and of the load generator, % of one core).
measure() {
  local pid=$1; shift
  local s0 c0 t0 t1
  s0=$(proc_ticks "$pid"); c0=$(child_ticks); t0=$(now)
  "${CLI[@]}" "$@" >"$TMP/out" 2>>"$TMP/client.err" || true
  t1=$(now)
  M_SRV=$(pct $(( $(proc_ticks "$pid") - s0 )) "$t0" "$t1")
  M_CLI=$(pct $(( $(child_ticks) - c0 )) "$t0" "$t1")
}

# rb PID PORT N CONFIG: one redis-benchmark INCR run; sets M_RPS and M_P50 (ms).
rb() {
  local pid=$1 port=$2 n=$3 config=$4
  # shellcheck disable=SC2086 # the config is a list of flags
  measure "$pid" redis-benchmark -h 127.0.0.1 -p "$port" -t incr -n "$n" --csv $config
  M_RPS=$(awk -F'","' '/^"INCR/ {print $2}' "$TMP/out")
  M_P50=$(awk -F'","' '/^"INCR/ {print $5}' "$TMP/out")
  [ -n "$M_RPS" ] || { M_RPS=0; M_P50=0; }
}

# rk PID PORT CONFIG: one `ringkv bench` run of SECS seconds on the framed port.
rk() {
  local pid=$1 port=$2 config=$3
  # shellcheck disable=SC2086
  measure "$pid" "$BIN" bench --addr "127.0.0.1:$port" --duration "$SECS" -q $config
  M_RPS=$(awk '/requests per second/ {print $3}' "$TMP/out")
  M_P50=$(grep -oP 'p50=\K[0-9.]+' "$TMP/out" || true)
  [ -n "$M_RPS" ] || { M_RPS=0; M_P50=0; }
}

# calibrate PID PORT CONFIG: how many requests make a run of about SECS seconds.
calibrate() {
  local probe=20000
  case "$3" in "-c 1 "*) probe=5000 ;; esac
  rb "$1" "$2" "$probe" "$3"
  awk -v r="$M_RPS" -v s="$SECS" -v p="$probe" \
    'BEGIN { n = int(r * s); if (n < p) n = p; if (n > 20000000) n = 20000000; print n }'
}

declare -A RPS P50 SCPU CCPU
record() { # record KEY: appends the last measurement to the lists of KEY (failed runs are noted)
  if awk -v r="$M_RPS" 'BEGIN { exit !(r + 0 > 0) }'; then
    RPS[$1]+="$M_RPS "; P50[$1]+="$M_P50 "; SCPU[$1]+="$M_SRV "; CCPU[$1]+="$M_CLI "
  else
    NOTES+=("a run of $1 failed: $(tail -1 "$TMP/client.err" 2>/dev/null)")
  fi
}
median() { tr ' ' '\n' <<<"$1" | sort -g | awk 'NF {a[++n] = $1} END {if (n) print a[int((n + 1) / 2)]}'; }
med() { local v; v=$(median "$1"); echo "${v:-—}"; } # median, or a dash when nothing was measured
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "—"; else printf "%.2f×", a / b }'; }
over_budget() { [ "$SECONDS" -ge "$BUDGET" ]; }

# Targets: NAME PID PORT (RESP targets speak redis-benchmark).
TARGETS=()
# Every config: calibrate each RESP target, then RUNS rounds of (Redis, ringkv RESP..., and
# `ringkv bench` on the framed port for FRAMED_CONFIGS), so A and B alternate.
run_resp_rows() {
  local config t name pid port n run configs=("$@")
  [ "${#configs[@]}" -gt 0 ] || configs=("${CONFIGS[@]}")
  for config in "${configs[@]}"; do
    declare -A N=()
    for t in "${TARGETS[@]}"; do
      read -r name pid port <<<"$t"
      N[$name]=$(calibrate "$pid" "$port" "$config")
    done
    for run in $(seq "$RUNS"); do
      for t in "${TARGETS[@]}"; do
        over_budget && { NOTES+=("time budget reached: some runs skipped"); return 0; }
        read -r name pid port <<<"$t"
        rb "$pid" "$port" "${N[$name]}" "$config"
        log "$name $config run $run: $M_RPS req/s, p50 $M_P50 ms, server CPU $M_SRV%, client CPU $M_CLI%"
        record "$name|$config"
      done
      [ -n "$FRAMED_PID" ] && is_framed_config "$config" || continue
      rk "$FRAMED_PID" "$FRAMED_PORT" "$config"
      log "framed $config run $run: $M_RPS req/s, p50 $M_P50 ms, server CPU $M_SRV%, client CPU $M_CLI%"
      record "framed|$config"
    done
  done
}

is_framed_config() {
  local c
  for c in "${FRAMED_CONFIGS[@]}"; do [ "$c" = "$1" ] && return 0; done
  return 1
}

print_table() {
  local config rr kr k3 fr mp
  echo
  echo "### INCR, medians of $RUNS alternating runs (p50 in ms; CPU in % of one core: server / load generator)"
  echo
  echo "| config | Redis req/s | ringkv RF1 req/s | RF1/Redis | ringkv RF3 req/s | RF3/Redis | RF3 over 3 processes req/s | 3 processes/RF3 | Redis p50 | RF1 p50 | p50 ratio | Redis CPU | RF1 CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for config in "${CONFIGS[@]}"; do
    rr=$(median "${RPS[redis|$config]:-}"); kr=$(median "${RPS[rf1|$config]:-}"); k3=$(median "${RPS[rf3|$config]:-}")
    mp=$(median "${RPS[rf3x3|$config]:-}")
    # shellcheck disable=SC2016 # the backquotes are Markdown
    printf '| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |\n' "$config" \
      "${rr:-—}" "${kr:-—}" "$(ratio "$kr" "$rr")" "${k3:-—}" "$(ratio "$k3" "$rr")" \
      "${mp:-—}" "$(ratio "$mp" "$k3")" \
      "$(med "${P50[redis|$config]:-}")" "$(med "${P50[rf1|$config]:-}")" \
      "$(ratio "$(median "${P50[rf1|$config]:-}")" "$(median "${P50[redis|$config]:-}")")" \
      "$(med "${SCPU[redis|$config]:-}")" "$(med "${CCPU[redis|$config]:-}")" \
      "$(med "${SCPU[rf1|$config]:-}")" "$(med "${CCPU[rf1|$config]:-}")"
  done
  for config in "${FRAMED_CONFIGS[@]}"; do
    fr=$(median "${RPS[framed|$config]:-}")
    kr=$(median "${RPS[rf1|$config]:-}"); rr=$(median "${RPS[redis|$config]:-}")
    # shellcheck disable=SC2016
    printf '| `ringkv bench %s` (framed, RF1) | %s | %s | %s | — | — | — | — | %s | %s | %s | — | %s / %s |\n' \
      "$config" "${rr:-—}" "${fr:-—}" "$(ratio "$fr" "$rr")" "$(med "${P50[redis|$config]:-}")" \
      "$(med "${P50[framed|$config]:-}")" \
      "$(ratio "$(median "${P50[framed|$config]:-}")" "$(median "${P50[redis|$config]:-}")")" \
      "$(med "${SCPU[framed|$config]:-}")" "$(med "${CCPU[framed|$config]:-}")"
    [ -n "$kr" ] && echo "|  ↳ framed / RESP at RF1 | | $(ratio "$fr" "$kr") | | | | | | | | | | |"
  done
  return 0
}

# memory: fresh servers, MEM_KEYS sequential counters each, RSS from /proc.
memory_rows() {
  [ "$MEM_KEYS" -gt 0 ] || return 0
  over_budget && { NOTES+=("time budget reached: memory rows skipped"); return 0; }
  local port pid rss0 rss1 keys used
  start_redis "$(free_port)"; pid=$REDIS_PID; port=$REDIS_PORT; rss0=$(rss_kb "$pid")
  log "loading $MEM_KEYS counters into a fresh Redis"
  awk -v n="$MEM_KEYS" 'BEGIN { for (i = 0; i < n; i++) { k = "key:" i;
    printf "*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n", length(k), k } }' \
    | "${CLI[@]}" redis-cli -p "$port" --pipe >/dev/null
  rss1=$(rss_kb "$pid"); keys=$(redis-cli -p "$port" dbsize)
  used=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory:/ {print $2+0}')
  MEM_ROWS+=("| Redis | $keys | $((rss0 / 1024)) | $((rss1 / 1024)) | $((rss1 * 1024 / keys)) | $(((rss1 - rss0) * 1024 / keys)) | used_memory $((used / keys)) B/key |")
  stop_pid "$pid"
  ringkv_memory_row RF1 "$RINGKV_FLAGS"
  over_budget && { NOTES+=("time budget reached: RF3 memory row skipped"); return 0; }
  ringkv_memory_row RF3 "$RINGKV_RF3_FLAGS"
}

# ringkv_memory_row NAME FLAGS: a fresh ringkv, MEM_KEYS sequential counters, its RSS per key (per
# distinct key: at RF 3 each key is held three times).
ringkv_memory_row() {
  local pid rss0 rss1 copies
  # shellcheck disable=SC2086
  start_ringkv "mem-$1" $2; pid=$RK_PID; rss0=$(rss_kb "$pid")
  log "loading $MEM_KEYS counters into a fresh ringkv $1 (framed, sequential keys)"
  "${CLI[@]}" "$BIN" bench --addr "127.0.0.1:$RK_FRAMED" -c 50 -P 64 -n "$MEM_KEYS" -r "$MEM_KEYS" \
    --sequential -q >"$TMP/out" 2>>"$TMP/client.err" || true
  rss1=$(rss_kb "$pid")
  copies=$("$BIN" client --addr "127.0.0.1:$RK_FRAMED" ring | awk '/keys$/ {s += $(NF-1)} END {print s+0}')
  [ "$copies" -gt 0 ] || { NOTES+=("ringkv memory load failed: $(cat "$TMP/out")"); stop_pid "$pid"; return 0; }
  MEM_ROWS+=("| ringkv $1 ($RINGKV_NODES nodes) | $MEM_KEYS | $((rss0 / 1024)) | $((rss1 / 1024)) | $((rss1 * 1024 / MEM_KEYS)) | $(((rss1 - rss0) * 1024 / MEM_KEYS)) | $copies copies |")
  stop_pid "$pid"
}

print_memory() {
  [ "${#MEM_ROWS[@]}" -gt 0 ] || return 0
  echo
  echo "### Memory for $MEM_KEYS counters (RSS from /proc/PID/status)"
  echo
  echo "| server | keys | RSS empty MiB | RSS loaded MiB | RSS B/key | (loaded − empty) B/key | note |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${MEM_ROWS[@]}"
  local r k k3
  r=$(awk -F'|' '/^\| Redis/ {print $6}' <<<"$(printf '%s\n' "${MEM_ROWS[@]}")")
  k=$(awk -F'|' '/^\| ringkv RF1/ {print $6}' <<<"$(printf '%s\n' "${MEM_ROWS[@]}")")
  k3=$(awk -F'|' '/^\| ringkv RF3/ {print $6}' <<<"$(printf '%s\n' "${MEM_ROWS[@]}")")
  [ -n "$r" ] && [ -n "$k" ] && echo && echo "ringkv/Redis RSS per key: RF1 $(ratio "$k" "$r"), RF3 $(ratio "$k3" "$r")"
  return 0
}

# start_three_processes: RF3 over three processes (bench-multi-process.sh's mp_start_three) as
# the target rf3x3; its CPU figures are the first process's only.
start_three_processes() {
  if ! "$BIN" serve --help | grep -q -- '--join'; then
    NOTES+=("RF3-over-three-processes column skipped: \`ringkv serve\` has no --join"); return 0
  fi
  local port resp
  port=$(free_port); resp=$(free_port)
  if mp_start_three "$BIN" "$port" "$resp" "${SRV[@]}"; then
    TARGETS+=("rf3x3 ${MP_PIDS[0]} $resp")
  else
    NOTES+=("RF3-over-three-processes column skipped: the processes did not all join"); mp_stop
  fi
}

main() {
  install_redis
  setup_pinning
  if [ -n "${RINGKV_BIN:-}" ]; then BIN=$RINGKV_BIN; else
    log "building ringkv (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin ringkv)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/ringkv"
  fi
  [ -x "$BIN" ] || die "no ringkv binary at $BIN"
  HAS_RESP=0; "$BIN" serve --help | grep -q -- '--resp-port' && HAS_RESP=1
  local has_rf=0; "$BIN" serve --help | grep -q -- '--replicas' && has_rf=1

  start_redis "$(free_port)"
  TARGETS+=("redis $REDIS_PID $REDIS_PORT")
  # shellcheck disable=SC2086
  start_ringkv rf1 $RINGKV_FLAGS
  FRAMED_PID=$RK_PID; FRAMED_PORT=$RK_FRAMED
  if [ "$HAS_RESP" = 1 ]; then
    TARGETS+=("rf1 $RK_PID $RK_RESP")
    if [ "$has_rf" = 1 ]; then
      # shellcheck disable=SC2086
      start_ringkv rf3 $RINGKV_RF3_FLAGS
      TARGETS+=("rf3 $RK_PID $RK_RESP")
      [ "$MULTI" = 1 ] && start_three_processes
    else
      NOTES+=("RF3 rows skipped: \`ringkv serve\` has no --replicas flag yet (replication not landed)")
    fi
  else
    NOTES+=("ringkv RESP rows skipped: \`ringkv serve\` does not accept --resp-port yet")
  fi
  log "Redis on $REDIS_PORT; ringkv framed on $FRAMED_PORT${RK_RESP:+, RESP on $RK_RESP}; pinning: ${SRV[*]:-none} / ${CLI[*]:-none}"

  run_resp_rows
  local t tpid; for t in "${TARGETS[@]}"; do read -r _ tpid _ <<<"$t"; stop_pid "$tpid"; done
  mp_stop
  MEM_ROWS=()
  memory_rows
  [ "$DURABLE" = 1 ] && [ "$HAS_RESP" = 1 ] && durable_rows
  recovery_rows

  echo "## ringkv vs Redis — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r);" \
    "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "redis: $(redis-server --version | awk '{print $3}'); ringkv: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')," \
    "$RINGKV_NODES nodes, flags '${RINGKV_FLAGS}'; servers on CPU ${SRV[*]:+$SERVER_CPU}, load generators on CPU ${CLI[*]:+$CLIENT_CPU}; $SECS s per run; ${SECONDS}s in all"
  print_table
  print_durable
  print_memory
  print_recovery
  if [ "${#NOTES[@]}" -gt 0 ]; then echo; printf -- '- note: %s\n' "${NOTES[@]}"; fi
}

# shellcheck source=scripts/bench-durable.inc.sh
. "$ROOT/scripts/bench-durable.inc.sh"
# shellcheck source=scripts/bench-multi-process.sh
. "$ROOT/scripts/bench-multi-process.sh"
main "$@"
