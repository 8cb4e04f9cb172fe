#!/usr/bin/env bash
# Runs Redis 7.0's own test runner, unmodified, against ringkv's RESP port (not part of CI):
#   scripts/redis-suite.sh REDIS_SRC_DIR [unit ...]        (default unit: unit/type/incr)
# REDIS_SRC_DIR is a redis/redis source tree at tag 7.0.15 (the suite is Redis's, not ours):
#   git clone --depth 1 --branch 7.0.15 https://github.com/redis/redis /work/redis-src
# The runner needs Debian's tcl (`apt-get install tcl`). It runs in external-server mode
# (--host/--port) with `--singledb --tags -needs:debug --durable` (--durable: a test that raises
# an error, such as a SET of a string, is counted as failed and the unit goes on), against `ringkv serve --nodes 3
# --in-memory --resp-port P` built here. Exit status: the runner's.
set -euo pipefail
src=${1:?usage: redis-suite.sh REDIS_SRC_DIR [unit ...]}
shift
units=("$@")
[ ${#units[@]} -gt 0 ] || units=(unit/type/incr)
[ -f "$src/tests/test_helper.tcl" ] || { echo "$src has no tests/test_helper.tcl" >&2; exit 2; }
command -v tclsh >/dev/null || { echo "needs tclsh: apt-get install tcl" >&2; exit 2; }
cd "$(dirname "$0")/.."
cargo build --release --quiet
out=$(mktemp)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$out"' EXIT
./target/release/ringkv serve --nodes 3 --base-port 0 --in-memory --resp-port 0 >"$out" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/^RESP listening on port \([0-9]*\)$/\1/p' "$out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ringkv did not start:" >&2; cat "$out" >&2; exit 2; }
echo "ringkv serving RESP on port $port (pid $pid)"
singles=()
for unit in "${units[@]}"; do singles+=(--single "$unit"); done
status=0
(cd "$src" && tclsh tests/test_helper.tcl --host 127.0.0.1 --port "$port" --singledb \
  --tags -needs:debug --durable --clients 1 "${singles[@]}") || status=$?
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
exit "$status"
