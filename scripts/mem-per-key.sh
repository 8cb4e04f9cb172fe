#!/bin/bash
# RSS per key of `ringkv serve` (3 nodes, RF 1, in memory) after loading 1,000,000 counters with
# `ringkv bench --sequential`. Usage: scripts/mem-per-key.sh [path/to/ringkv]
set -u
BIN=${1:-target/release/ringkv}
$BIN serve --nodes 3 --base-port 0 --in-memory --replicas 1 > /tmp/mb.out 2>&1 &
SP=$!; sleep 1
P=$(grep -m1 "Node listening" /tmp/mb.out | awk '{print $NF}')
R0=$(grep VmRSS /proc/$SP/status | awk '{print $2}')
$BIN bench --addr 127.0.0.1:$P -c 50 -P 16 -r 1000000 -n 1000000 --sequential -q > /dev/null 2>&1
R1=$(grep VmRSS /proc/$SP/status | awk '{print $2}')
echo "rss empty ${R0} kB loaded ${R1} kB -> $(( (R1) * 1024 / 1000000 )) B/key"
kill $SP; wait $SP 2>/dev/null
