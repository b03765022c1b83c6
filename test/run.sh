#!/usr/bin/env bash
# test/run.sh - every pg_realtime test, on throwaway clusters.
#
#   test/run.sh            build, install, then: C unit tests, sanitizer and
#                          fuzz runs of the parsers, pg_regress + isolation,
#                          and the end-to-end tests with real clients
#
# Needs root (or sudo) for apt and `make install`.  Clusters run as the
# unprivileged user postgres on loopback and ports 55432-55499; all are
# stopped at the end.  The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
export FUZZ_SECONDS

test/deps.sh || { echo "could not install dependencies"; exit 1; }
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"

passed=0
failed=0
results=()
log=$(mktemp)
# count_tests LOG: "P F" from what the suite printed (unit, pg_regress,
# node --test), or nothing if it printed no counts
count_tests() {
  local p=0 f=0 found=
  while read -r a b; do p=$((p + a)); f=$((f + b)); found=1; done < <(
    sed -n -e 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$1"
    sed -n -e 's/^[# ]*All \([0-9]*\) tests passed.*/\1 0/p' "$1"
    sed -n -e 's/^[# ]*\([0-9]*\) of \([0-9]*\) tests failed.*/\2 \1/p' "$1" | awk '{print $1 - $2, $2}'
    awk '/^# pass /{p=$3} /^# fail /{print p, $3}' "$1")
  [ -n "$found" ] && echo "$p $f"
}
suite() {   # suite NAME COMMAND...: run one suite, record the outcome
  local name=$1; shift
  echo "=== $name"
  if "$@" 2>&1 | tee "$log"; then ok=1; else ok=0; fi   # pipefail: the suite's status
  read -r p f < <(count_tests "$log" || true)
  if [ -z "${p:-}" ]; then p=$ok; f=$((1 - ok)); fi
  [ "$ok" = 1 ] || [ "$f" -gt 0 ] || f=1
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$ok" = 1 ]; then results+=("ok    $name ($p passed)"); else results+=("FAIL  $name ($p passed, $f failed)"); fi
  unset p f
}

make -s clean >/dev/null 2>&1
if ! make -s PG_CONFIG="$PG_CONFIG" 2>&1 || ! $SUDO make -s PG_CONFIG="$PG_CONFIG" install >/dev/null; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

suite "C unit tests" make -s unit PG_CONFIG="$PG_CONFIG"
[ -x test/unit/sanitize.sh ] && suite "unit tests under ASan/UBSan" test/unit/sanitize.sh
[ -x test/fuzz/run.sh ] && suite "fuzzing (${FUZZ_SECONDS}s per target)" test/fuzz/run.sh

# pg_regress and isolation tests on a cluster of their own
tmp=$(mktemp -d /tmp/pg_realtime_test.XXXXXX)
chmod 755 "$tmp"
cleanup() { test/cluster.sh stop "$tmp/regress" >/dev/null 2>&1; rm -rf "$tmp" "$log"; }
trap cleanup EXIT
regress() {
  test/cluster.sh start "$tmp/regress" 55432 || return 1
  eval "$(test/cluster.sh env "$tmp/regress" 55432)"
  if ! make -s installcheck PG_CONFIG="$PG_CONFIG"; then
    cat regression.diffs output_iso/regression.diffs 2>/dev/null | head -200
    return 1
  fi
}
suite "pg_regress + isolation" regress
test/cluster.sh stop "$tmp/regress" >/dev/null 2>&1

# end-to-end: real clients against the worker and standalone relays
if [ -f test/node/package.json ]; then
  e2e() {
    (cd test/node && npm ci --no-audit --no-fund --loglevel=error) || return 1
    node --experimental-websocket --test --test-concurrency=1 test/node/*.test.mjs
  }
  suite "end-to-end (appwrite SDK, ws, curl)" e2e
  # the files whose subject does not depend on the transport, again with wal
  e2e_wal() {
    PG_REALTIME_TRANSPORT=wal node --experimental-websocket --test --test-concurrency=1 \
      test/node/{sdk,websocket,sse,standalone,databases,http}.test.mjs
  }
  suite "end-to-end with pg_realtime.transport = wal" e2e_wal
  suite "standalone relay under ASan/UBSan, hostile clients" test/sanitize-relay.sh
fi

echo
printf '%s\n' "${results[@]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
