#!/usr/bin/env bash
# What a login costs per request, counted in instructions (issue 15), so the figure does not
# depend on what else the machine is doing: `ringkv serve --nodes 3 --in-memory` runs under
# valgrind's callgrind (scripts/callgrind.inc.sh); after a warm-up, redis-benchmark sends N and
# then 2N INCRs (-c 50 -P 16 -r 100000). Prints instructions per request with no password, a
# requirepass (`default`, all rights) and a write-role user, what the login gate
# (`resp::login::Guard::gate`) takes of them, and what each connection's login costs.
# ROUNDS rounds; about three minutes a round.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${RINGKV:-target/release/ringkv}
ROUNDS=${ROUNDS:-2}
N=${N:-200000}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
. scripts/callgrind.inc.sh
echo s3cret > "$tmp/pass"
printf 'writer-pw\n' | "$B" passwd | sed 's/^/writer write /' > "$tmp/users"
load=(-t incr -c 50 -P 16 -r 100000)
show() { # show NAME COUNT-OUTPUT
  read -r per gate conn <<< "$2"
  echo "$1: $per instructions/request, of which the login gate $gate; $((conn / 50)) per connection"
}
for round in $(seq "$ROUNDS"); do
  P=$(cg_start --nodes 3); show "plain  $round" "$(cg_count "$P" "$N" login::Guard::gate "${load[@]}")"; cg_stop
  P=$(cg_start --nodes 3 --requirepass-file "$tmp/pass")
  show "pass   $round" "$(cg_count "$P" "$N" login::Guard::gate "${load[@]}" -a s3cret)"; cg_stop
  P=$(cg_start --nodes 3 --users-file "$tmp/users")
  show "writer $round" "$(cg_count "$P" "$N" login::Guard::gate "${load[@]}" --user writer -a writer-pw)"; cg_stop
done
