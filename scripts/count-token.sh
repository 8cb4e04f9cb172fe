#!/usr/bin/env bash
# Instructions the server runs per tokened update (RESP `RINGKV.INCRBY key 1 token`) and per
# plain `INCRBY`, counted by valgrind's callgrind (scripts/callgrind.inc.sh), so two builds can be
# compared on a busy machine:
#   scripts/count-token.sh [BINARY...]   (default target/release/ringkv)
# For each binary: `ringkv serve --nodes 3 --in-memory` (RF 3, the direct path), redis-benchmark
# on one connection `-P 16 -r 100000`, random keys and tokens; N then 2N requests after a warm-up.
set -u  # not -e: callgrind_annotate dies of SIGPIPE once awk has its line
cd "$(dirname "$0")/.."
N=${N:-20000}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
. scripts/callgrind.inc.sh
[ $# -gt 0 ] || set -- target/release/ringkv
for B in "$@"; do
  P=$(cg_start --nodes 3 --replicas 3)
  read -r plain _ < <(cg_count "$P" "$N" direct::Direct::update -c 1 -P 16 -r 100000 \
    INCRBY p:__rand_int__ 1)
  read -r tokened inside _ < <(cg_count "$P" "$N" direct::Direct::update_token -c 1 -P 16 \
    -r 100000 RINGKV.INCRBY t:__rand_int__ 1 tok:__rand_int__)
  echo "$B: INCRBY $plain, RINGKV.INCRBY $tokened instructions/request (Direct::update_token $inside)"
  cg_stop
done
