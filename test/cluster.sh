#!/usr/bin/env bash
# test/cluster.sh - a throwaway PostgreSQL cluster for tests and the demo.
#
#   test/cluster.sh start DIR PORT ['conf line' ...]   initdb + start, loopback only
#   test/cluster.sh stop DIR                           fast shutdown
#   test/cluster.sh env DIR PORT                       print PGHOST/PGPORT/PGUSER exports
#
# initdb and postgres refuse to run as root, so when run as root the server
# runs as the unprivileged user $PG_OS_USER (default postgres).  Clients
# connect as database user postgres over the Unix socket in DIR.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
PG_OS_USER=${PG_OS_USER:-postgres}

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"; else "$@"; fi
}

cmd=${1:?usage: cluster.sh start|stop|env DIR [PORT]}
dir=${2:?cluster directory}

case $cmd in
start)
  port=${3:?port}
  shift 3
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown "$PG_OS_USER" "$dir"
  as_server_user "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "fsync = off"
    echo "max_connections = 200"
    echo "log_line_prefix = '%m [%p] %q%a '"
    for line in "$@"; do echo "$line"; done
  } >>"$dir/data/postgresql.conf"
  as_server_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_server_user "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
  fi
  ;;
env)
  port=${3:?port}
  echo "export PGHOST='$dir' PGPORT=$port PGUSER=postgres PGDATABASE=postgres"
  ;;
*)
  echo "unknown command: $cmd" >&2
  exit 2
  ;;
esac
