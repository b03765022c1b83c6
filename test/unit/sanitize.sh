#!/usr/bin/env bash
# Build the unit tests of the relay's network-input parsers (http, ws, utf8,
# jwt: tokens and key files; sealed notifications; pgoutput) and of what
# handles untrusted claims and messages (auth, protocol, fanout, peers), and
# of compression (deflate: inflating client messages), with
# AddressSanitizer and UndefinedBehaviorSanitizer, independently of make and
# PGXS, and run them.  Any sanitizer report aborts the test.
#
#   test/unit/sanitize.sh            all of them
#   test/unit/sanitize.sh ws http    some of them
#   CC=gcc test/unit/sanitize.sh     another compiler (default clang)
set -euo pipefail

cd "$(dirname "$0")/../.."
CC=${CC:-clang}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
tests=${*:-http ws utf8 sealed pgoutput jwt auth protocol fanout peers deflate}
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
        -fno-sanitize-recover=all -Wall -Wextra -Werror -Wno-unused-parameter
        -Wno-sign-compare -Wdeclaration-after-statement -Wmissing-prototypes
        -Isrc/relay -Itest/unit $(pkg-config --cflags json-c)"
srcs="src/relay/http.c src/relay/ws.c src/relay/utf8.c src/relay/buf.c test/unit/unit.c"
srcs_sealed="src/relay/envelope.c src/relay/sealed.c"
srcs_pgoutput="src/relay/pgoutput.c src/relay/position.c"
srcs_deflate="src/relay/deflate.c"
srcs_jwt="src/relay/jwt.c src/relay/jsontext.c $(pkg-config --libs json-c)"
# the others link the whole relay (as make unit does)
PG_CONFIG=${PG_CONFIG:-pg_config}
whole="$(ls src/relay/*.c | grep -v -e /http.c -e /ws.c -e /utf8.c -e /buf.c) -I$($PG_CONFIG --includedir)
       -L$($PG_CONFIG --libdir) -lpq $(pkg-config --libs json-c)"
srcs_auth=$whole srcs_protocol=$whole srcs_fanout=$whole srcs_peers=$whole

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
bins=()
for t in $tests; do
  extra=srcs_$t
  $CC $cflags -o "$out/${t}_test" "test/unit/${t}_test.c" $srcs ${!extra:-} -lz -lcrypto
  bins+=("$out/${t}_test")
done
test/unit/run.sh "${bins[@]}"
