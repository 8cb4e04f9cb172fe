# shellcheck shell=bash
# Sourced by scripts/bench-vs-redis.sh (uses its functions and variables): the durable rows and
# the recovery row.
#
# Durable: per fsync mode, a Redis with an AOF (`--appendonly yes --appendfsync everysec|always`)
# and two `ringkv serve --data-dir D --fsync every-second|always` (RF 1 and RF 3), each on a fresh
# directory, alternating RUNS times on DURABLE_CONFIGS. Recovery: scripts/bench-recovery.sh with
# RECOVERY_KEYS counters.

# durable_mode MODE REDIS_FSYNC RINGKV_FSYNC: starts the three servers of one mode, runs the rows,
# stops them.
durable_mode() {
  local mode=$1 port pids=() pid
  over_budget && { NOTES+=("time budget reached: durable $mode rows skipped"); return 0; }
  start_redis "$(free_port)" --appendonly yes --appendfsync "$2"
  port=$REDIS_PORT
  TARGETS=("redis-$mode $REDIS_PID $port"); pids+=("$REDIS_PID")
  RK_STORAGE="--data-dir $TMP/rk1-$mode --fsync $3"
  # shellcheck disable=SC2086
  start_ringkv "rf1-$mode" $RINGKV_FLAGS
  TARGETS+=("rf1-$mode $RK_PID $RK_RESP"); pids+=("$RK_PID")
  RK_STORAGE="--data-dir $TMP/rk3-$mode --fsync $3"
  # shellcheck disable=SC2086
  start_ringkv "rf3-$mode" $RINGKV_RF3_FLAGS
  TARGETS+=("rf3-$mode $RK_PID $RK_RESP"); pids+=("$RK_PID")
  RK_STORAGE=""
  run_resp_rows "${DURABLE_CONFIGS[@]}"
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  rm -rf "$TMP/rk1-$mode" "$TMP/rk3-$mode" "$TMP/redis-$port"
}

durable_rows() {
  FRAMED_PID=""
  durable_mode everysec everysec every-second
  durable_mode always always always
}

print_durable() {
  local mode config rr k1 k3
  [ -n "${RPS[redis-everysec|${DURABLE_CONFIGS[0]}]:-}" ] || return 0
  echo
  echo "### Durable INCR: Redis with an AOF against \`ringkv serve --data-dir\`, medians of $RUNS alternating runs"
  echo
  echo "| fsync (Redis / ringkv) | config | Redis req/s | ringkv RF1 req/s | RF1/Redis | ringkv RF3 req/s | RF3/Redis | Redis p50 | RF1 p50 | RF3 p50 | Redis CPU | RF1 CPU | RF3 CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for mode in everysec always; do
    for config in "${DURABLE_CONFIGS[@]}"; do
      rr=$(median "${RPS[redis-$mode|$config]:-}")
      k1=$(median "${RPS[rf1-$mode|$config]:-}"); k3=$(median "${RPS[rf3-$mode|$config]:-}")
      # shellcheck disable=SC2016 # the backquotes are Markdown
      printf '| `%s` / `%s` | `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s |\n' \
        "$mode" "$([ "$mode" = everysec ] && echo every-second || echo always)" "$config" \
        "${rr:-—}" "${k1:-—}" "$(ratio "$k1" "$rr")" "${k3:-—}" "$(ratio "$k3" "$rr")" \
        "$(med "${P50[redis-$mode|$config]:-}")" "$(med "${P50[rf1-$mode|$config]:-}")" \
        "$(med "${P50[rf3-$mode|$config]:-}")" \
        "$(med "${SCPU[redis-$mode|$config]:-}")" "$(med "${CCPU[redis-$mode|$config]:-}")" \
        "$(med "${SCPU[rf1-$mode|$config]:-}")" "$(med "${CCPU[rf1-$mode|$config]:-}")" \
        "$(med "${SCPU[rf3-$mode|$config]:-}")" "$(med "${CCPU[rf3-$mode|$config]:-}")"
    done
  done
}

RECOVERY_OUT=""
recovery_rows() {
  [ "$RECOVERY_KEYS" -gt 0 ] || return 0
  over_budget && { NOTES+=("time budget reached: recovery rows skipped"); return 0; }
  log "recovery: $RECOVERY_KEYS counters (scripts/bench-recovery.sh)"
  RECOVERY_OUT=$(RINGKV_NODES="$RINGKV_NODES" RINGKV_FLAGS="$RINGKV_FLAGS" SERVER_CPU="$SERVER_CPU" \
    CLIENT_CPU="$CLIENT_CPU" "$ROOT/scripts/bench-recovery.sh" "$BIN" "$RECOVERY_KEYS" 2>&1) \
    || NOTES+=("the recovery rows failed: $(tail -1 <<<"$RECOVERY_OUT")")
}

print_recovery() {
  [ -n "$RECOVERY_OUT" ] || return 0
  echo
  echo "### Recovery: restart on $RECOVERY_KEYS counters (ringkv's data directory, Redis's AOF)"
  echo
  echo "$RECOVERY_OUT"
  local rk rd
  rk=$(awk -F'|' '/^\| ringkv/ {gsub(/[* ]/, "", $5); print $5}' <<<"$RECOVERY_OUT")
  rd=$(awk -F'|' '/^\| Redis, AOF of/ {gsub(/[* ]/, "", $5); print $5}' <<<"$RECOVERY_OUT")
  [ -n "$rk" ] && [ -n "$rd" ] && echo && echo "ringkv restart / Redis AOF load time: $(ratio "$rk" "$rd")"
  return 0
}
