#!/usr/bin/env bash
# The ratio RINGKV.INCRBY / INCRBY of two ringkv builds at `-c 50 -P 16 -r 100000`, builds and
# commands alternated within one run (each round starts a build, runs INCRBY then RINGKV.INCRBY
# with random tokens, stops it):
#   scripts/ab-resp-token.sh OLD_BINARY NEW_BINARY [ROUNDS]
set -uo pipefail
old=${1:?usage: ab-resp-token.sh OLD_BINARY NEW_BINARY [ROUNDS]}
new=${2:?usage: ab-resp-token.sh OLD_BINARY NEW_BINARY [ROUNDS]}
rounds=${3:-3}
rate() {
  redis-benchmark -p "$1" -c 50 -P 16 -n 200000 -r 100000 -q "${@:2}" \
    | grep -o '[0-9.]* requests per second' | head -1 | cut -d' ' -f1
}
for r in $(seq "$rounds"); do
  for which in before after; do
    bin=$old; [ "$which" = after ] && bin=$new
    log=$(mktemp)
    # The server takes a free RESP port itself and prints it (a random one may be taken).
    "$bin" serve --nodes 3 --base-port 0 --resp-port 0 --in-memory >"$log" 2>&1 &
    pid=$!
    port=
    for _ in $(seq 50); do
      port=$(grep -m1 -oP 'RESP listening on port \K[0-9]+' "$log") && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    rm -f "$log"
    [ -n "$port" ] || { echo "round $r $which: the server did not start" >&2; exit 1; }
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    a=$(rate "$port" INCRBY p:__rand_int__ 1)
    b=$(rate "$port" RINGKV.INCRBY t:__rand_int__ 1 tok:__rand_int__)
    kill "$pid"; wait "$pid" 2>/dev/null
    echo "round $r $which INCRBY $a RINGKV.INCRBY $b ratio $(echo "scale=2; $b / $a" | bc)"
  done
done
