# Shared by the count-*.sh scripts (source it): start `ringkv serve` under valgrind's callgrind and
# count the instructions the server runs for one redis-benchmark load. Needs $B (the binary) and
# $tmp (a scratch directory the caller removes).

# cg_start ARGS...: starts `$B serve --base-port 0 --in-memory --resp-port 0 ARGS...` under
# callgrind; prints the RESP port.
cg_start() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" \
    "$B" serve --base-port 0 --in-memory --resp-port 0 "$@" > "$tmp/out" 2> "$tmp/err" &
  echo $! > "$tmp/pid"
  for _ in $(seq 300); do grep -q Serving "$tmp/out" 2>/dev/null && break; sleep 0.1; done
  grep RESP "$tmp/out" | awk '{print $NF}'
}

cg_stop() { kill "$(cat "$tmp/pid")"; wait "$(cat "$tmp/pid")" 2>/dev/null || true; rm -f "$tmp"/cg.*; }

# cg_instructions PORT N FUNCTION BENCH_ARGS...: runs redis-benchmark -n N BENCH_ARGS... with the
# counters zeroed before and dumped after; prints the server's instructions in all and those
# inside FUNCTION (inclusive; 0 when it never ran).
cg_instructions() {
  local port=$1 n=$2 function=$3 pid; shift 3
  pid=$(cat "$tmp/pid")
  callgrind_control -z "$pid" > /dev/null 2>&1
  redis-benchmark -p "$port" -n "$n" -q "$@" > /dev/null 2>&1
  callgrind_control -d "$pid" > /dev/null 2>&1
  local dump total inside
  dump=$(ls -t "$tmp"/cg.*.* | head -1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  inside=$(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null \
    | awk -v f="$function" '!done && index($0, f) {gsub(",", "", $1); print $1; done = 1}')
  echo "$total ${inside:-0}"
  rm -f "$dump"
}

# cg_count PORT N FUNCTION BENCH_ARGS...: instructions per request and per connection. A warm-up,
# then runs of N and 2N requests; each run opens its connections anew, so the difference over N
# is what a request costs and connections (logins) cancel out.
cg_count() {
  local port=$1 n=$2 function=$3 one two inside; shift 3
  redis-benchmark -p "$port" -n 20000 -q "$@" > /dev/null 2>&1
  read -r one _ < <(cg_instructions "$port" "$n" "$function" "$@")
  read -r two inside < <(cg_instructions "$port" "$((2 * n))" "$function" "$@")
  echo "$(((two - one) / n)) $((inside / (2 * n))) $((2 * one - two))"
}
