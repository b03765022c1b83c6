#!/usr/bin/env bash
# test/demo.sh - pg_realtime on a throwaway local cluster, with a demo table.
#
#   test/demo.sh              build, install, start PostgreSQL (port 55433) with
#                             the relay worker on http://localhost:8787, serve
#                             examples/browser.html and the SDK on
#                             http://localhost:8788/, track public.orders, then
#                             change a row every 2 seconds until Ctrl-C (SIGINT)
#                             or SIGTERM, which stop and remove the cluster.
#   DEMO_TICK=0 test/demo.sh  the same without the ticker (waits for a signal)
#   test/demo.sh --transport wal
#                             the same with the wal transport (wal_level =
#                             logical; the worker reads replication slot
#                             "pg_realtime", so clients can resume)
#
# Ports: DEMO_PG_PORT, DEMO_RELAY_PORT, DEMO_HTTP_PORT.  Needs root (or sudo)
# for apt and `make install`, and npm's registry once for the SDK.
set -euo pipefail

# A shell started in the background by a non-interactive shell (`demo.sh &`
# in a script) inherits SIGINT ignored, and bash cannot trap a signal that
# was ignored at entry: start again with SIGINT at its default, so that the
# trap below sees it.
if [ -z "${DEMO_SIGINT_RESET:-}" ]; then
  DEMO_SIGINT_RESET=1 exec env --default-signal=INT bash "$0" "$@"
fi

cd "$(dirname "$0")/.."
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
PORT=${DEMO_PG_PORT:-55433}
RELAY_PORT=${DEMO_RELAY_PORT:-8787}
HTTP_PORT=${DEMO_HTTP_PORT:-8788}
TICK=${DEMO_TICK:-2}
TRANSPORT=notify
if [ "${1:-}" = --transport ]; then
  TRANSPORT=${2:?--transport notify|wal}
elif [ -n "${1:-}" ]; then
  echo "usage: test/demo.sh [--transport notify|wal]" >&2; exit 2
fi
case $TRANSPORT in
notify) extra=() ;;
wal) extra=("wal_level = logical" "pg_realtime.transport = wal") ;;
*) echo "unknown transport: $TRANSPORT (notify or wal)" >&2; exit 2 ;;
esac

test/deps.sh
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$($PG_CONFIG --bindir):$PATH"
make -s PG_CONFIG="$PG_CONFIG" >/dev/null
$SUDO make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
# the SDK's browser build comes from the npm package the tests use
[ -f test/node/node_modules/appwrite/dist/iife/sdk.js ] ||
  (cd test/node && npm ci --no-audit --no-fund --loglevel=error)

dir=$(mktemp -d /tmp/pg_realtime_demo.XXXXXX)
chmod 755 "$dir"
server=
sleeper=
stop() {
  for pid in $server $sleeper; do kill "$pid" 2>/dev/null || true; done
  test/cluster.sh stop "$dir"
  rm -rf "$dir"
  echo "demo cluster stopped"
}
trap stop EXIT
trap 'exit 0' INT TERM
test/cluster.sh start "$dir" "$PORT" \
  "shared_preload_libraries = 'pg_realtime'" \
  "pg_realtime.port = $RELAY_PORT" ${extra[@]+"${extra[@]}"}
eval "$(test/cluster.sh env "$dir" "$PORT")"
node examples/serve.mjs "$HTTP_PORT" >"$dir/http.log" 2>&1 &
server=$!

channel=$(psql -qAt -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pg_realtime;
CREATE TABLE public.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer text NOT NULL,
  status text NOT NULL DEFAULT 'new',
  total numeric(10,2) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.orders (customer, total) VALUES ('ada', 12.50), ('grace', 99.00);
SELECT realtime.track('public.orders', read => ARRAY['any'],
                      created_at_column => 'created_at', updated_at_column => 'updated_at');
SQL
)

# say "running" only once the page and the relay answer (bounded: 30 s)
for _ in $(seq 300); do
  grep -q serving "$dir/http.log" && curl -sf "http://localhost:$RELAY_PORT/v1/health" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/http.log" >&2; exit 1; }
  sleep 0.1
done

echo
echo "pg_realtime demo is running."
echo "  PostgreSQL:  psql -h $dir -p $PORT -U postgres"
echo "  Browser:     http://localhost:$HTTP_PORT/  (examples/browser.html with the SDK, no internet needed)"
echo "  WebSocket:   ws://localhost:$RELAY_PORT/v1/realtime?project=demo  (Appwrite SDK endpoint http://localhost:$RELAY_PORT/v1)"
echo "  SSE:         curl -N -g 'http://localhost:$RELAY_PORT/v1/realtime?channels[]=documents'"
echo "  Health:      curl http://localhost:$RELAY_PORT/v1/health"
echo "Changes to public.orders are published on the channel $channel"
echo "as databases.postgres.collections.orders.documents.<id>.<action> events."
echo "Ctrl-C stops and removes the cluster."

# sleep in the background and wait for it: a trapped signal interrupts
# `wait` at once, where a foreground sleep would delay the trap until it ends
pause() { sleep "$1" & sleeper=$!; wait "$sleeper"; }
if [ "$TICK" = 0 ]; then
  while true; do pause 3600; done
fi
n=0
while true; do
  pause "$TICK"
  n=$((n + 1))
  case $((n % 3)) in
    0) psql -qAtc "INSERT INTO public.orders (customer, total) VALUES ('demo-$n', $n)" ;;
    1) psql -qAtc "UPDATE public.orders SET status = 'paid', updated_at = now() WHERE id = (SELECT max(id) FROM public.orders)" ;;
    2) psql -qAtc "DELETE FROM public.orders WHERE id = (SELECT min(id) FROM public.orders)" ;;
  esac
done
