#!/bin/bash
# RSS per key of `ringkv serve` (3 nodes, RF 1, in memory) after loading 1,000,000 counters with
# `ringkv bench --sequential`. Usage: scripts/mem-per-key.sh [path/to/ringkv]
set -u
BIN=${1:-target/release/ringkv}
OUT=$(mktemp)
$BIN serve --nodes 3 --base-port 0 --in-memory --replicas 1 > "$OUT" 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null; wait $SP 2>/dev/null; rm -f "$OUT"' EXIT
# Wait (up to 10 s) for the first node's port.
P=
for _ in $(seq 100); do
    P=$(grep -m1 "Node listening" "$OUT" | awk '{print $NF}')
    [ -n "$P" ] && break
    kill -0 $SP 2>/dev/null || break
    sleep 0.1
done
[ -n "$P" ] || { echo "mem-per-key: the server did not start:" >&2; cat "$OUT" >&2; exit 1; }
sleep 0.5
R0=$(grep VmRSS /proc/$SP/status | awk '{print $2}')
LOAD=$($BIN bench --addr 127.0.0.1:$P -c 50 -P 16 -r 1000000 -n 1000000 --sequential -q 2>&1)
case "$LOAD" in
    *errors=0*) ;;
    *) echo "mem-per-key: the load did not complete cleanly: $LOAD" >&2; exit 1 ;;
esac
R1=$(grep VmRSS /proc/$SP/status | awk '{print $2}')
echo "rss empty ${R0} kB loaded ${R1} kB -> $(( (R1) * 1024 / 1000000 )) B/key"
