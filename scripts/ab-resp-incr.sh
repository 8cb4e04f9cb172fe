#!/usr/bin/env bash
# A/B of two ringkv builds on RESP INCR (`-c 50 -P 16 -r 100000`), alternated within one run:
#   scripts/ab-resp-incr.sh OLD_BINARY NEW_BINARY [ROUNDS]
# The server runs on core 0 and redis-benchmark on core 1; prints each run and the medians.
set -euo pipefail
old=${1:?usage: ab-resp-incr.sh OLD_BINARY NEW_BINARY [ROUNDS]}
new=${2:?usage: ab-resp-incr.sh OLD_BINARY NEW_BINARY [ROUNDS]}
rounds=${3:-10}
command -v redis-benchmark >/dev/null || { echo "needs redis-benchmark (redis-tools)" >&2; exit 1; }
out=$(mktemp)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    port=$((20000 + RANDOM % 20000))
    taskset -c 0 "$bin" serve --nodes 3 --base-port 0 --resp-port "$port" --in-memory >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    rate=$(taskset -c 1 redis-benchmark -p "$port" -t incr -c 50 -P 16 -r 100000 -n 2000000 -q \
      | grep -o '[0-9.]* requests per second' | head -1 | cut -d' ' -f1)
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    echo "$which $rate" | tee -a "$out"
  done
done
for which in old new; do
  median=$(grep "^$which " "$out" | cut -d' ' -f2 | sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}')
  echo "$which median: $median requests per second"
done
