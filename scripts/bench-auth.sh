#!/usr/bin/env bash
# What passwords and TLS cost (issue 15): redis-benchmark INCR -c 50 -P 16 against `ringkv serve`
# (3 nodes, in memory) with no password, a requirepass (`default`, all rights), a write-role user
# from a users file, and TLS; then `ringkv bench` (framed; its logins happen before the clock
# starts) with the same three logins. Rounds alternate; take medians. Runs about 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${RINGKV:-target/release/ringkv}
ROUNDS=${ROUNDS:-3}
N=${N:-3000000}
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
echo s3cret > "$tmp/pass"
printf 'writer-pw\n' | "$B" passwd | sed 's/^/writer write /' > "$tmp/users"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
start() { # prints "RESP_PORT NODE_PORT"
  "$B" serve --nodes 3 --base-port 0 --in-memory --resp-port 0 "$@" > "$tmp/out" 2> "$tmp/err" &
  echo $! > "$tmp/pid"
  for _ in $(seq 100); do grep -q Serving "$tmp/out" && break; sleep 0.1; done
  echo "$(grep RESP "$tmp/out" | awk '{print $NF}') $(grep 'Node listening' "$tmp/out" | head -1 | awk '{print $NF}')"
}
stop() { kill "$(cat "$tmp/pid")"; wait "$(cat "$tmp/pid")" 2>/dev/null || true; }
rb() { redis-benchmark -t incr -c 50 -P 16 -n "$N" -q "$@" 2>/dev/null | tr '\r' '\n' | grep '^INCR' | tail -1; }
fb() { "$B" bench -c 50 -P 16 -n "$N" -q "$@" 2>/dev/null | tail -1; }
for round in $(seq "$ROUNDS"); do
  read -r R F < <(start); echo "resp   plain  $round: $(rb -p "$R")"; stop
  read -r R F < <(start --requirepass-file "$tmp/pass"); echo "resp   pass   $round: $(rb -p "$R" -a s3cret)"; stop
  [ "${ONLY:-}" = pass ] && continue
  read -r R F < <(start --users-file "$tmp/users"); echo "resp   writer $round: $(rb -p "$R" --user writer -a writer-pw)"; stop
  read -r R F < <(start --tls-cert-file "$tmp/cert.pem" --tls-key-file "$tmp/key.pem"); echo "resp   tls    $round: $(rb -p "$R" --tls --cacert "$tmp/cert.pem")"; stop
  read -r R F < <(start); echo "framed plain  $round: $(fb --addr 127.0.0.1:"$F")"; stop
  read -r R F < <(start --requirepass-file "$tmp/pass"); echo "framed pass   $round: $(RINGKV_PASSWORD=s3cret fb --addr 127.0.0.1:"$F")"; stop
  read -r R F < <(start --users-file "$tmp/users"); echo "framed writer $round: $(RINGKV_PASSWORD=writer-pw fb --addr 127.0.0.1:"$F" --user writer)"; stop
done
