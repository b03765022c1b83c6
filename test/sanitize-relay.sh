#!/usr/bin/env bash
# test/sanitize-relay.sh - the whole relay under AddressSanitizer and
# UndefinedBehaviorSanitizer (LeakSanitizer included) against real clients.
#
# Builds pg_realtime_relay from src/relay with clang -fsanitize=address,undefined
# and runs the standalone end-to-end tests, the hostile-client test, the
# resource attacks, the key tests (tokens, JWKS, SIGHUP) and the compression
# test (permessage-deflate and gzip clients, zip bombs) against it
# (PG_REALTIME_RELAY).  Any sanitizer report aborts the relay, which the
# tests see as a failed request or an unclean exit.  Needs test/node's
# npm packages (test/run.sh installs them) and the installed extension.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-clang}
out=$(mktemp -d /tmp/pg_realtime_asan.XXXXXX)
trap 'rm -rf "$out"' EXIT
chmod 755 "$out"
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
$CC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare \
  -Isrc -Isrc/relay -I"$($PG_CONFIG --includedir)" $(pkg-config --cflags json-c) \
  -o "$out/pg_realtime_relay" src/host/relay_main.c src/relay/*.c \
  -L"$($PG_CONFIG --libdir)" -lpq $(pkg-config --libs json-c) -lz -lcrypto
export PG_REALTIME_RELAY="$out/pg_realtime_relay"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
node --experimental-websocket --test --test-concurrency=1 \
  test/node/standalone.test.mjs test/node/hostile.test.mjs test/node/limits.test.mjs test/node/auth.test.mjs \
  test/node/deflate.test.mjs
