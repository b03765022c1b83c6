#!/usr/bin/env bash
# test/demo.sh - pg_realtime on a throwaway local cluster, with a demo table.
#
#   test/demo.sh              build, install, start PostgreSQL (port 55433) with
#                             the relay worker on http://localhost:8787, track
#                             public.orders, then change a row every 2 seconds
#                             until Ctrl-C, which stops and removes the cluster.
#   DEMO_TICK=0 test/demo.sh  the same without the ticker (waits for Ctrl-C)
#   test/demo.sh --transport wal
#                             the same with the wal transport (wal_level =
#                             logical; the worker reads replication slot
#                             "pg_realtime", so clients can resume)
#
# Needs root (or sudo) for apt and `make install`.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
PORT=${DEMO_PG_PORT:-55433}
RELAY_PORT=${DEMO_RELAY_PORT:-8787}
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

dir=$(mktemp -d /tmp/pg_realtime_demo.XXXXXX)
chmod 755 "$dir"
stop() { test/cluster.sh stop "$dir"; rm -rf "$dir"; echo "demo cluster stopped"; }
trap stop EXIT
trap 'exit 0' INT TERM
test/cluster.sh start "$dir" "$PORT" \
  "shared_preload_libraries = 'pg_realtime'" \
  "pg_realtime.port = $RELAY_PORT" ${extra[@]+"${extra[@]}"}
eval "$(test/cluster.sh env "$dir" "$PORT")"

psql -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pg_realtime;
CREATE TABLE public.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer text NOT NULL,
  status text NOT NULL DEFAULT 'new',
  total numeric(10,2) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT realtime.track('public.orders', read => ARRAY['any'],
                      created_at_column => 'created_at', updated_at_column => 'updated_at');
INSERT INTO public.orders (customer, total) VALUES ('ada', 12.50), ('grace', 99.00);
SQL

echo
echo "pg_realtime demo is running."
echo "  PostgreSQL:  psql -h $dir -p $PORT -U postgres"
echo "  WebSocket:   ws://localhost:$RELAY_PORT/v1/realtime?project=demo  (Appwrite SDK endpoint http://localhost:$RELAY_PORT/v1)"
echo "  SSE:         curl -N -g 'http://localhost:$RELAY_PORT/v1/realtime?channels[]=documents'"
echo "  Health:      curl http://localhost:$RELAY_PORT/v1/health"
echo "  Browser:     open examples/browser.html"
echo "Changes to public.orders are published as databases.postgres.collections.orders.documents.<id>.<action>."
echo "Ctrl-C stops and removes the cluster."

if [ "$TICK" = 0 ]; then
  while true; do sleep 3600; done
fi
n=0
while true; do
  sleep "$TICK"
  n=$((n + 1))
  case $((n % 3)) in
    0) psql -qAtc "INSERT INTO public.orders (customer, total) VALUES ('demo-$n', $n)" ;;
    1) psql -qAtc "UPDATE public.orders SET status = 'paid', updated_at = now() WHERE id = (SELECT max(id) FROM public.orders)" ;;
    2) psql -qAtc "DELETE FROM public.orders WHERE id = (SELECT min(id) FROM public.orders)" ;;
  esac
done
