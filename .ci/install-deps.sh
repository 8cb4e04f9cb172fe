#!/usr/bin/env bash
# Installs the system packages ringkv's tests and benchmark scripts use (Debian), when missing.
set -euo pipefail
need=()
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
      || echo "warning: could not install ${need[*]}; tests that need them are skipped" >&2
  else
    echo "warning: ${need[*]} missing and cannot be installed here; tests that need them are skipped" >&2
  fi
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
