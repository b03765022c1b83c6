#!/usr/bin/env bash
# Build the libFuzzer targets (http_fuzz, ws_fuzz, notify_fuzz, jwt_fuzz, deflate_fuzz, pgoutput_fuzz) with ASan and UBSan and run
# each for a bounded time.  Exits non-zero if a target crashes or finds a
# sanitizer error; the reproducer and each run's log are left in
# test/fuzz/corpus-artifacts/ (git-ignored, like the corpora).
#
#   test/fuzz/run.sh                 30 s per target
#   FUZZ_SECONDS=600 test/fuzz/run.sh
#   test/fuzz/run.sh ws              one target only
#   FUZZ_ARGS="-jobs=4 -workers=4" test/fuzz/run.sh
#
# Seed corpora are written to test/fuzz/corpus-<target>/ (git-ignored) and
# grow across runs.  Replay a crash: test/fuzz/ws_fuzz <file>
set -euo pipefail

cd "$(dirname "$0")"
root=../..
seconds=${FUZZ_SECONDS:-30}
targets=${*:-http ws notify jwt deflate pgoutput}
CC=${CC_FUZZ:-clang}
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare
        -I$root/src/relay $(pkg-config --cflags json-c)"
# the parsers plus what they link against (buf.c needs relay_log)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common="$root/src/relay/buf.c $tmp/log_stub.c -lcrypto"
srcs_http="$root/src/relay/http.c $root/src/relay/utf8.c"
srcs_ws="$root/src/relay/ws.c $root/src/relay/utf8.c"
srcs_jwt="$root/src/relay/jwt.c $root/src/relay/jsontext.c $(pkg-config --libs json-c)"
srcs_pgoutput="$root/src/relay/pgoutput.c $root/src/relay/position.c"
# notifications: envelopes, the replay guard and event parsing (json-c)
srcs_notify="$root/src/relay/envelope.c $root/src/relay/sealed.c $root/src/relay/event.c $root/src/relay/position.c
      $root/src/relay/jsontext.c $root/src/relay/utf8.c $(pkg-config --cflags --libs json-c)"
srcs_deflate="$root/src/relay/deflate.c $root/src/relay/http.c $root/src/relay/ws.c $root/src/relay/utf8.c -lz"

# relay_log for the fuzz binaries (buf.c calls it on out-of-memory)
cat > "$tmp/log_stub.c" <<'C'
#include "log.h"
#include <stdarg.h>
#include <stdio.h>
void
relay_log(RelayLogLevel level, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
C

# Seeds: a few valid and nearly-valid inputs for each target.
seed_http() {
  local d=corpus-http
  mkdir -p $d
  printf 'GET /v1/realtime?project=p1&channels%%5B%%5D=documents HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' > $d/seed-ws
  printf 'GET /v1/realtime?project=p&channels[]=a&channels[0]=b&channels%%5B0%%5D=c&channels=d HTTP/1.0\r\nAccept: text/event-stream\r\nLast-Event-ID: 42\r\n\r\n' > $d/seed-sse
  printf 'GET http://h:80/v1/realtime?jwt=a%%2Eb+c HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nX-E:\r\n\r\n' > $d/seed-abs
  printf '\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n' > $d/seed-fold
  printf 'GET / HTTP/1.1\nHost: h\n\n' > $d/seed-lf
}

seed_ws() {
  local d=corpus-ws
  mkdir -p $d
  # first byte: options (bit 0: masks optional; bit 1: no size limit, else
  # bit 2: 125 bytes, else 64000); then a stream of frames
  printf '\x00\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58' > $d/seed-hello
  printf '\x01\x01\x03Hel\x80\x02lo\x89\x05Hello' > $d/seed-frag
  printf '\x00\x01\x83\x00\x00\x00\x00\xce\xba\xe1\x89\x80\x00\x00\x00\x00\x80\x82\x00\x00\x00\x00\xbd\xb9' > $d/seed-utf8
  printf '\x00\x88\x85\x00\x00\x00\x00\x03\xe8bye\x88\x80\x00\x00\x00\x00' > $d/seed-close
  printf '\x00\x82\xfe\x00\x7e\x00\x00\x00\x00' > $d/seed-len16
  head -c 126 /dev/zero >> $d/seed-len16
  # a whole masked frame with a 64-bit length (65536 bytes of payload)
  printf '\x02\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x01\x02\x03\x04' > $d/seed-len64
  head -c 65536 /dev/zero >> $d/seed-len64
  printf '\x00\xc1\x80\x00\x00\x00\x00' > $d/seed-rsv
}

seed_notify() {
  local d=corpus-notify
  mkdir -p $d
  # even first byte: a notification as delivered; odd: a batch to seal
  local ev='{"v":1,"event":"databases.db.collections.c.documents.1.create","action":"create","databaseId":"db","collectionId":"c","documentId":"1","read":["any"],"payload":{"$id":"1","n":[1,{"a":[]}],"s":"x"},"seq":1}'
  printf '\x00%s' "$ev" > $d/seed-plain
  printf '\x00{"v":1,"large":7,"bytes":9000,"seq":2}' > $d/seed-pointer
  printf '\x00rt1:AAAAAQAAAAAAAAALAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' > $d/seed-sealed
  { printf '\x01\x00\x00\x00'; printf "\\x$(printf %02x ${#ev})"; printf '%s' "$ev"; printf '\x00\x00\x00\x02{}'; } > $d/seed-batch
  printf '\x01' > $d/seed-empty
  { printf '\x02\x00\x00\x00'; printf "\\x$(printf %02x ${#ev})"; printf '%s' "$ev"; } > $d/seed-wal
  printf '\x02rtw1\x00\x00\x00\x01' > $d/seed-wal-short
}

seed_pgoutput() {
  local d=corpus-pgoutput
  mkdir -p $d
  # XLogData carrying a BEGIN, a MESSAGE with one event record, a COMMIT
  printf 'w\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\3B\0\0\0\x16\xb3t\xd8H\0\2\xd7\x9d\x10\x91\x80\0\0\0\2\xdb' > $d/seed-begin
  printf 'w\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\3M\1\0\0\0\x16\xb3t\xd0\0pg_realtime\0\0\0\0\x0a\0\0\0\6{"v":1}' > $d/seed-message
  printf 'C\0\0\0\0\x16\xb3t\xd8H\0\0\0\x16\xb3t\xd8x\0\2\xd7\x9d\x10\x91\x80\0' > $d/seed-commit
  printf 'k\0\0\0\0\0\0\x12\x34\0\0\0\0\0\0\0\5\1' > $d/seed-keepalive
  printf '16/B374D848:3' > $d/seed-pos
  printf '18446744073709551615' > $d/seed-counter
}

# tokens signed with jwt_fuzz.c's secret, and key files
seed_jwt() {
  local d=corpus-jwt
  mkdir -p $d
  local secret=fuzzing-secret-fuzzing-secret-32b
  b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
  local h c s
  for alg in HS256 HS384 HS512; do
    h=$(printf '{"alg":"%s","typ":"JWT","kid":"k1"}' $alg | b64url)
    c=$(printf '{"sub":"alice","exp":1900000000,"nbf":1700000000,"teams":["t1/owner"],"aud":["a","b"]}' | b64url)
    s=$(printf '%s.%s' "$h" "$c" | openssl dgst -sha${alg#HS} -hmac "$secret" -binary | b64url)
    printf '\x00%s.%s.%s' "$h" "$c" "$s" > $d/seed-$alg
  done
  printf '\x00%s.%s.' "$(printf '{"alg":"none"}' | b64url)" "$c" > $d/seed-none
  printf '\x00%s.%s.AAAA' "$(printf '{"alg":"ES256","crit":["x"]}' | b64url)" "$c" > $d/seed-es
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | openssl pkey -pubout > $tmp/ec.pub
  { printf '\x01'; cat $tmp/ec.pub; } > $d/seed-pem
  printf '\x01{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":"AQAB","y":"AQAB"},{"kty":"RSA","n":"AQAB","e":"AQAB","use":"sig","alg":"RS256"}]}' > $d/seed-jwks
  printf '\x02Zm9vYmFy' > $d/seed-b64
}

seed_deflate() {
  local d=corpus-deflate
  mkdir -p $d
  # 0: a compressed message ({"type":"ping"}, sync flush, 00 00 ff ff removed)
  printf '\x00\xaaV*\xa9,HU\xb2R*\xc8\xccKW\xaa\x05\x00' > $d/seed-ping
  # 1: a zip bomb under a small limit (2 KB of zeros)
  printf '\x01' > $d/seed-bomb
  head -c 2048 /dev/zero | python3 -c 'import sys,zlib; c=zlib.compressobj(6, zlib.DEFLATED, -15); sys.stdout.buffer.write(c.compress(sys.stdin.buffer.read()) + c.flush(zlib.Z_SYNC_FLUSH)[:-4])' >> $d/seed-bomb
  # 2: offers and Accept-Encoding
  printf '\x02GET / HTTP/1.1\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits="15"\r\nAccept-Encoding: gzip;q=0.5, br\r\n\r\n' > $d/seed-offer
  # 3: an outbound body and tail
  printf '\x03\x20{"type":"event","data":{"events":["a","a","a"],"subscriptions":["s0"]}}' > $d/seed-out
}

status=0
art=corpus-artifacts
mkdir -p $art
for t in $targets; do
  echo "== ${t}_fuzz: building"
  srcs_var=srcs_$t
  $CC $cflags -o ${t}_fuzz ${t}_fuzz.c ${!srcs_var} $common
  seed_$t
  dict=""
  [ -f $t.dict ] && dict="-dict=$t.dict"
  # ws inputs must be able to hold a frame with a 64-bit length (> 65535);
  # http inputs go past the 4096-byte head limit the target uses
  maxlen=-max_len=8192
  [ $t = ws ] && maxlen=-max_len=70000
  [ $t = deflate ] && maxlen=-max_len=20000
  echo "== ${t}_fuzz: running ${seconds}s"
  if ! ./${t}_fuzz corpus-$t $dict $maxlen -max_total_time="$seconds" -print_final_stats=1 \
       -artifact_prefix=$art/${t}- ${FUZZ_ARGS:-} 2> $art/${t}.log; then
    echo "== ${t}_fuzz: FAILED (see test/fuzz/$art/)"
    tail -n 40 $art/${t}.log
    status=1
  else
    grep -E '^(stat::number_of_executed_units|#[0-9]+.*DONE)' $art/${t}.log || true
  fi
done
exit $status
