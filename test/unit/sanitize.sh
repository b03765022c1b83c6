#!/usr/bin/env bash
# Build the unit tests of the relay's network-input parsers (http, ws, utf8,
# sealed notifications, pgoutput)
# with AddressSanitizer and UndefinedBehaviorSanitizer, independently
# of make and PGXS, and run them.  Any sanitizer report aborts the test.
#
#   test/unit/sanitize.sh            all of them
#   test/unit/sanitize.sh ws http    some of them
#   CC=gcc test/unit/sanitize.sh     another compiler (default clang)
set -euo pipefail

cd "$(dirname "$0")/../.."
CC=${CC:-clang}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
tests=${*:-http ws utf8 sealed pgoutput}
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
        -fno-sanitize-recover=all -Wall -Wextra -Werror -Wno-unused-parameter
        -Wno-sign-compare -Wdeclaration-after-statement -Wmissing-prototypes
        -Isrc/relay -Itest/unit"
srcs="src/relay/http.c src/relay/ws.c src/relay/utf8.c src/relay/buf.c src/relay/envelope.c
      src/relay/sealed.c src/relay/ratelimit.c src/relay/pgoutput.c src/relay/position.c test/unit/unit.c"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
bins=()
for t in $tests; do
  $CC $cflags -o "$out/${t}_test" "test/unit/${t}_test.c" $srcs -lcrypto
  bins+=("$out/${t}_test")
done
test/unit/run.sh "${bins[@]}"
