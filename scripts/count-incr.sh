#!/usr/bin/env bash
# Instructions the server runs per INCR, counted by valgrind's callgrind
# (scripts/callgrind.inc.sh), so two builds can be compared on a busy machine:
#   scripts/count-incr.sh [BINARY...]   (default target/release/ringkv)
# For each binary: `ringkv serve --nodes 3 --in-memory` at RF 1 and RF 3, redis-benchmark
# `-t incr -P 16 -r 100000` on one connection (one connection keeps the batches each wake-up
# finds the same from run to run), N then 2N requests after a warm-up; prints instructions per
# request and what the direct path's update (`Direct::update`: ring lookup, store, replicas) takes.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
. scripts/callgrind.inc.sh
[ $# -gt 0 ] || set -- target/release/ringkv
for B in "$@"; do
  for rf in 1 3; do
    P=$(cg_start --nodes 3 --replicas "$rf")
    read -r per find _ < <(cg_count "$P" "$N" direct::Direct::update -t incr -c 1 -P 16 -r 100000)
    echo "$B RF$rf: $per instructions/request, of which Direct::update $find"
    cg_stop
  done
done
