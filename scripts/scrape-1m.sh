#!/usr/bin/env bash
# Times `/metrics` (and `/api/status`) on a cluster holding 1,000,000 keys:
#   scripts/scrape-1m.sh [BINARY] [KEYS] [SCRAPES]
# Starts `ringkv serve` (3 nodes, R=3, in memory) with --http-port and --resp-port, loads KEYS
# distinct keys through `redis-cli --pipe`, then prints each scrape's time and the median and max.
set -euo pipefail
bin=${1:-target/release/ringkv}
keys=${2:-1000000}
scrapes=${3:-20}
command -v redis-cli >/dev/null || { echo "needs redis-cli (redis-tools)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
out=$(mktemp)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$out"' EXIT
"$bin" serve --nodes 3 --base-port 0 --resp-port 0 --http-port 0 --in-memory >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^Serving' "$out" && break; sleep 0.1; done
resp=$(sed -n 's/^RESP listening on port //p' "$out")
http=$(sed -n 's/^HTTP listening on port //p' "$out")
awk -v n="$keys" 'BEGIN { for (i = 0; i < n; i++) { k = "key:" i; printf "*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n", length(k), k } }' \
  | redis-cli -p "$resp" --pipe >/dev/null
curl -s "http://127.0.0.1:$http/metrics" | grep '^ringkv_node_keys'
for path in /metrics /api/status; do
  times=$(for _ in $(seq "$scrapes"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$http$path"
  done | sort -n)
  median=$(echo "$times" | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}')
  max=$(echo "$times" | tail -1)
  echo "$path at $keys keys: median ${median}s, max ${max}s over $scrapes scrapes"
done
