#!/usr/bin/env bash
# What a login costs per request, counted in instructions (issue 15), so the figure does not
# depend on what else the machine is doing: `ringkv serve` (3 nodes, in memory) runs under
# valgrind's callgrind; the counters are zeroed after a warm-up, redis-benchmark sends N INCRs
# (-c 50 -P 16 -r 100000), then the counters are dumped; then again with 2N. Instructions per request with no
# password, a requirepass (`default`, all rights) and a write-role user, and what the login gate
# (src/resp/login.rs) takes of them. ROUNDS rounds; about three minutes a round.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${RINGKV:-target/release/ringkv}
ROUNDS=${ROUNDS:-2}
N=${N:-200000}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
echo s3cret > "$tmp/pass"
printf 'writer-pw\n' | "$B" passwd | sed 's/^/writer write /' > "$tmp/users"
start() { # prints the RESP port
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" \
    "$B" serve --nodes 3 --base-port 0 --in-memory --resp-port 0 "$@" > "$tmp/out" 2> "$tmp/err" &
  echo $! > "$tmp/pid"
  for _ in $(seq 300); do grep -q Serving "$tmp/out" 2>/dev/null && break; sleep 0.1; done
  grep RESP "$tmp/out" | awk '{print $NF}'
}
stop() { kill "$(cat "$tmp/pid")"; wait "$(cat "$tmp/pid")" 2>/dev/null || true; rm -f "$tmp"/cg.*; }
# instructions PORT N ARGS...: instructions the server ran for N INCRs on 50 new connections.
instructions() {
  local port=$1 n=$2 pid; shift 2
  pid=$(cat "$tmp/pid")
  callgrind_control -z "$pid" > /dev/null 2>&1
  redis-benchmark -p "$port" "$@" -t incr -c 50 -P 16 -n "$n" -r 100000 -q > /dev/null 2>&1
  callgrind_control -d "$pid" > /dev/null 2>&1
  local dump
  dump=$(ls -t "$tmp"/cg.*.* | head -1)
  local total gate
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  gate=$(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null \
    | awk '/login::Guard::gate / {gsub(",", "", $1); print $1; exit}')
  echo "$total ${gate:-0}"
  rm -f "$dump"
}
# count PORT ARGS...: instructions per INCR. Runs of N and 2N requests each open 50 connections
# (and log in 50 times), so their difference divided by N is what requests cost, logins not.
count() {
  local port=$1; shift
  redis-benchmark -p "$port" "$@" -t incr -c 50 -P 16 -n 20000 -r 100000 -q > /dev/null 2>&1
  local one two gate
  read -r one _ < <(instructions "$port" "$N" "$@")
  read -r two gate < <(instructions "$port" "$((2 * N))" "$@")
  echo "$(((two - one) / N)) instructions/request, of which the login gate $((gate / (2 * N)));" \
    "$(((2 * one - two) / 50)) per connection"
}
for round in $(seq "$ROUNDS"); do
  P=$(start); echo "plain  $round: $(count "$P")"; stop
  P=$(start --requirepass-file "$tmp/pass"); echo "pass   $round: $(count "$P" -a s3cret)"; stop
  P=$(start --users-file "$tmp/users"); echo "writer $round: $(count "$P" --user writer -a writer-pw)"; stop
done
