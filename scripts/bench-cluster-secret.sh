#!/usr/bin/env bash
# What the cluster secret and node-to-node TLS cost (issue 15):
#   scripts/bench-cluster-secret.sh [BIN] [ROUNDS]
# Alternates, ROUNDS times, three `ringkv serve --nodes 1` processes on 127.0.0.1/2/3 joined with
# --join (RF=3, every update goes to two other processes): plaintext; with --cluster-secret-file;
# with the secret and TLS (node links and client ports). The TLS client port costs on its own,
# so one process `--nodes 3` is also run plaintext and with TLS: the node links' share of the TLS
# cost is what the three-process ratio loses beyond the one-process ratio. Load: redis-benchmark
# -t incr -c 50 -P 16 -r 100000 through the first process's RESP port. Certificates are made
# with openssl in a temporary directory. Talks only to loopback; stops what it started by PID.
set -euo pipefail
BIN=${1:-target/release/ringkv}
ROUNDS=${2:-2}
PORT=${PORT:-7201}
RESP=${RESP:-7579}
DIR=$(mktemp -d)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop; rm -rf "$DIR"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
  -keyout "$DIR/ca-key.pem" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=node \
  -keyout "$DIR/node-key.pem" -out "$DIR/node.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3\n' >"$DIR/san.ext"
openssl x509 -req -in "$DIR/node.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca-key.pem" -CAcreateserial \
  -days 2 -extfile "$DIR/san.ext" -out "$DIR/node.pem" 2>/dev/null
openssl rand -hex 32 >"$DIR/secret"
SECRET=(--cluster-secret-file "$DIR/secret")
TLS=(--tls-cert-file "$DIR/node.pem" --tls-key-file "$DIR/node-key.pem" --tls-ca-cert-file "$DIR/ca.pem")
CLIENT_TLS=(--tls --cacert "$DIR/ca.pem" --cert "$DIR/node.pem" --key "$DIR/node-key.pem")

serve() { "$BIN" serve --in-memory "$@" >/dev/null 2>&1 & pids+=($!); }
load() { local n=$1; shift
  redis-benchmark -h 127.0.0.1 -p "$RESP" "$@" -t incr -c 50 -P 16 -r 100000 -n "$n" -q 2>/dev/null \
  | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 || echo "failed"; }
one() { serve --nodes 3 --bind 127.0.0.1 --base-port "$PORT" --resp-port "$RESP" "$@"; sleep 1; }
three() {
  serve --nodes 1 --bind 127.0.0.1 --base-port "$PORT" --resp-port "$RESP" "$@"; sleep 1
  serve --nodes 1 --bind 127.0.0.2 --base-port "$PORT" --join "127.0.0.1:$PORT" "$@"; sleep 1.5
  serve --nodes 1 --bind 127.0.0.3 --base-port "$PORT" --join "127.0.0.1:$PORT" "$@"; sleep 2
}
for round in $(seq 1 "$ROUNDS"); do
  one;                          echo "round $round, one process, plaintext:         $(load 1000000)"; stop; sleep 0.5
  one "${TLS[@]}";              echo "round $round, one process, TLS:               $(load 1000000 "${CLIENT_TLS[@]}")"; stop; sleep 0.5
  three;                        echo "round $round, three processes, plaintext:     $(load 300000)"; stop; sleep 0.5
  three "${SECRET[@]}";         echo "round $round, three processes, secret:        $(load 300000)"; stop; sleep 0.5
  three "${SECRET[@]}" "${TLS[@]}"; echo "round $round, three processes, secret + TLS:  $(load 300000 "${CLIENT_TLS[@]}")"; stop; sleep 0.5
done
