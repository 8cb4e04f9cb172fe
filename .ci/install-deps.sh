#!/usr/bin/env bash
# Installs what ringkv's tests and benchmark scripts use when missing: Debian packages, redis-py.
set -euo pipefail
need=()
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
# redis-server: tests/redis_py.rs compares ringkv's HELLO 3 with a real Redis 7's.
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# tmux: tests/repl_tty.rs drives the REPL on a real terminal.
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# node and npm: tests/ioredis.rs runs ioredis 5 (installed below into target/npm).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# ip (iproute2): tests/partition.rs and tests/jepsen_multi.rs make network namespaces (as root).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# chromium: tests/dashboard.rs loads the dashboard in a real headless browser.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
      || echo "warning: could not install ${need[*]}; tests that need them are skipped" >&2
  else
    echo "warning: ${need[*]} missing and cannot be installed here; tests that need them are skipped" >&2
  fi
fi
# redis-py 8, the client tests/redis_py.rs runs with its default settings (RESP3).
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import redis, sys; sys.exit(int(redis.__version__.split(".")[0]) != 8)' >/dev/null 2>&1; then
  python3 -m pip install -q 'redis>=8,<9' >/dev/null 2>&1 \
    || echo "warning: could not pip install redis>=8,<9; tests/redis_py.rs is skipped" >&2
fi
# ioredis 5, the Node.js client tests/ioredis.rs runs with its default settings.
if command -v npm >/dev/null 2>&1 && [ ! -f target/npm/node_modules/ioredis/package.json ]; then
  mkdir -p target/npm
  npm install --prefix target/npm --no-audit --no-fund --silent 'ioredis@5' >/dev/null 2>&1 \
    || echo "warning: could not npm install ioredis@5; tests/ioredis.rs is skipped" >&2
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
