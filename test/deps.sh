#!/usr/bin/env bash
# test/deps.sh - install what building and testing pg_realtime needs (Debian 12).
# Idempotent; skips apt when everything is already there.
set -euo pipefail
need=()
for pkg in postgresql-15 postgresql-server-dev-15 libpq-dev libjson-c-dev libssl-dev zlib1g-dev pkg-config make gcc \
           clang libclang-rt-14-dev curl openssl nginx-light chromium nodejs npm; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
# nodejs may come from outside Debian's packages on some images: accept a working node >= 20
if command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  need=("${need[@]/nodejs}"); need=("${need[@]/npm}")
fi
need=($(printf '%s\n' "${need[@]}" | grep -v '^$' || true))
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
