#!/bin/bash
# INCR on keys with a TTL against keys without, in one run (alternating rounds), and RSS per key
# with a TTL (issue 14). Needs redis-benchmark and redis-cli (Debian's redis-tools).
# Usage: scripts/bench-ttl.sh   (N=100000 keys of each kind by default; RINGKV_BIN=path runs that
# binary instead of building one)
set -u
cd "$(dirname "$0")/.."
if [ -n "${RINGKV_BIN:-}" ]; then BIN=$RINGKV_BIN; else
  cargo build --release --quiet
  BIN=target/release/ringkv
fi
rss() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
LOG=$(mktemp)
# The server takes a free RESP port itself (--resp-port 0) and prints it.
$BIN serve --nodes 3 --base-port 0 --in-memory --replicas 1 --resp-port 0 >"$LOG" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$LOG"' EXIT
P=
for i in $(seq 50); do
  P=$(grep -m1 -oP 'RESP listening on port \K[0-9]+' "$LOG") && break
  kill -0 $pid 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.2
done
[ -n "$P" ] || { echo "no RESP port in the server's output" >&2; cat "$LOG"; exit 1; }
for i in $(seq 50); do redis-cli -p $P PING >/dev/null 2>&1 && break; sleep 0.2; done
r0=$(rss $pid)
N=${N:-100000}
redis-benchmark -p $P -q -n $((N*4)) -r $N -P 16 INCR plain:__rand_int__ >/dev/null
k1=$(redis-cli -p $P DBSIZE); r1=$(rss $pid)
CMDS=$(mktemp)
python3 -c "
import sys
for i in range($N):
    k='ttl:%012d' % i
    sys.stdout.write('*2\r\n\$4\r\nINCR\r\n\$%d\r\n%s\r\n*3\r\n\$6\r\nEXPIRE\r\n\$%d\r\n%s\r\n\$5\r\n36000\r\n' % (len(k),k,len(k),k))
" > "$CMDS"
redis-cli -p $P --pipe < "$CMDS" | tail -1
k2=$(redis-cli -p $P DBSIZE); r2=$(rss $pid)
echo "keys plain=$k1 rss_kb $r0 -> $r1 ; keys total=$k2 rss_kb -> $r2"
echo "plain B/key: $(( (r1-r0)*1024 / k1 )) ; ttl B/key: $(( (r2-r1)*1024 / (k2-k1) ))"
redis-cli -p $P INFO keyspace | grep db0
for round in 1 2; do
  a=$(redis-benchmark -p $P -q -n $((N*5)) -r $N -P 16 -c 50 INCR plain:__rand_int__ | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1)
  b=$(redis-benchmark -p $P -q -n $((N*5)) -r $N -P 16 -c 50 INCR ttl:__rand_int__ | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1)
  echo "round $round: INCR no TTL: $a ; INCR with TTL: $b"
done
kill $pid
rm -f "$CMDS"
