#!/usr/bin/env bash
# bench/trigger/run.sh - what an event trigger costs a writer: rows/s and
# commit rate with no trigger, contrib tcn, a PL/pgSQL trigger building the
# same event, and pg_realtime, sealed (the default) and plaintext
# (pg_realtime.seal = off), all in one run on a throwaway cluster.
#
#   bench/trigger/run.sh        writes bench/trigger/results.md and prints it
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]         length of each rows/s run
#   BENCH_ROUNDS [3]           rows/s runs per variant and workload (median)
#   BENCH_COMMIT_SECONDS [8]   length of each commit-rate run
#   BENCH_COMMIT_ROUNDS [3]    commit-rate runs per variant and client count
#   BENCH_CLIENTS ["1 16 64"]  client counts of the commit-rate part
#   BENCH_PORT [55490]         port of the throwaway cluster
#   BENCH_OUT [bench/trigger/results.md]
#   BENCH_PROFILE [0]          1: after the measured runs, one more bulk
#                              pg_realtime run under perf record; the
#                              report goes to bench/trigger/profile.txt
#   PG_REALTIME_INSTALL_SQL    a script to run instead of CREATE EXTENSION
#                              pg_realtime, to measure a build that is not
#                              installed (schema realtime, functions pointing
#                              at that build's .so)
#   BENCH_OTHER_SO             another build's pg_realtime.so (e.g. the last
#                              release): its trigger on a sixth table, a
#                              variant of its own ("other"), plaintext as that
#                              build sends it; BENCH_OTHER_LABEL names it
#
# Needs pgbench, a C compiler and libpq headers (for the LISTEN consumer),
# and the pg_realtime and tcn extensions installed.  Run as root, the server
# runs as user postgres (test/cluster.sh).  Takes about 9 minutes with the
# defaults.  A benchmark, not a test: nothing here fails on slow numbers.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
COMMAND="${BENCH_COMMAND_LINE:-bench/trigger/run.sh}"

SECONDS_RUN=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
COMMIT_SECONDS=${BENCH_COMMIT_SECONDS:-8}
COMMIT_ROUNDS=${BENCH_COMMIT_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-"1 16 64"}
PORT=${BENCH_PORT:-55490}
OUT=${BENCH_OUT:-$ROOT/bench/trigger/results.md}
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
PGBENCH=$PGBIN/pgbench
PSQL=$PGBIN/psql

VARIANTS=${BENCH_VARIANTS:-"none tcn plpgsql realtime plain wal"}
COMMIT_VARIANTS=${BENCH_COMMIT_VARIANTS:-"none realtime wal plain plpgsql"}
declare -A LABEL=([none]="no trigger" [tcn]="contrib tcn" [plpgsql]="PL/pgSQL + pg_notify" [realtime]="pg_realtime"
                  [plain]="pg_realtime, seal = off" [wal]="pg_realtime, wal")
declare -A CHANNEL=([tcn]=bench_tcn [plpgsql]=bench_plpgsql [realtime]=pg_realtime [plain]=bench_plain)
# session options of a variant's writers: the plaintext one sends on its own
# channel, one notification per row as before sealing; wal is the same
# trigger with the wal transport
declare -A VOPTS=([plain]="-c pg_realtime.seal=off -c pg_realtime.channel=bench_plain"
                  [wal]="-c pg_realtime.transport=wal")

tmp=$(mktemp -d /tmp/pg_realtime_bench.XXXXXX)
chmod 755 "$tmp"
cluster=$tmp/cluster
consumer_pid=
relay_pid=
cleanup() {
  [ -n "$consumer_pid" ] && kill "$consumer_pid" 2>/dev/null
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null
  test/cluster.sh stop "$cluster" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
sql() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# --- cluster: durable commits, no checkpoint or autovacuum inside a run ---
log "starting cluster on port $PORT"
test/cluster.sh start "$cluster" "$PORT" \
  "fsync = on" "synchronous_commit = on" "full_page_writes = on" \
  "shared_buffers = 1GB" "wal_buffers = 64MB" \
  "max_wal_size = 32GB" "min_wal_size = 1GB" "checkpoint_timeout = 1h" \
  "autovacuum = off" "jit = off" "timezone = 'UTC'" "max_connections = 200" \
  "wal_level = logical" "max_replication_slots = 4" "max_wal_senders = 4"
eval "$(test/cluster.sh env "$cluster" "$PORT")"

cc -O2 -Wall -Wextra -o "$tmp/listen" bench/trigger/listen.c \
  -I"$("$PG_CONFIG" --includedir)" -L"$("$PG_CONFIG" --libdir)" -lpq

# --- schema: four identical orders tables, one per variant ---
if [ -n "${PG_REALTIME_INSTALL_SQL:-}" ]; then
  sql -f "$PG_REALTIME_INSTALL_SQL" >/dev/null
else
  sql -c "CREATE EXTENSION pg_realtime"
fi
sql -c "CREATE EXTENSION tcn"
sql -f bench/trigger/schema.sql >/dev/null
if [ -n "${BENCH_OTHER_SO:-}" ]; then
  # the other build's trigger function under a schema of its own; each run is
  # a backend of its own, so the two builds never meet in one process
  cp "$BENCH_OTHER_SO" "$tmp/other.so"
  chmod 755 "$tmp/other.so"
  sql >/dev/null <<SQL
CREATE SCHEMA bench_other;
CREATE FUNCTION bench_other.notify_trigger() RETURNS trigger AS '$tmp/other.so', 'realtime_notify_trigger' LANGUAGE C;
CREATE TABLE orders_other (LIKE orders_none INCLUDING ALL);
CREATE TRIGGER orders_other_notify AFTER INSERT OR UPDATE OR DELETE ON orders_other FOR EACH ROW
  EXECUTE FUNCTION bench_other.notify_trigger('collection=ordero', 'read=any',
    'created_at_column=created_at', 'updated_at_column=updated_at');
SQL
  VARIANTS="$VARIANTS other"
  LABEL[other]=${BENCH_OTHER_LABEL:-"other build"}
  CHANNEL[other]=bench_other
  VOPTS[other]="-c pg_realtime.channel=bench_other"
  others_table=", orders_other"
fi

# pgbench scripts: the same rows for every variant; a bulk statement writes
# 100 rows, a single-row statement one.
for v in $VARIANTS; do
  cat >"$tmp/bulk_$v.sql" <<EOF
INSERT INTO orders_$v (customer, status, amount, paid, details)
SELECT 'customer-' || g, 'pending', g * 1.25, g % 2 = 0,
       jsonb_build_object('sku', 'SKU-' || g, 'qty', g % 5 + 1, 'note', 'gift wrap')
  FROM generate_series(1, 100) g;
EOF
  cat >"$tmp/single_$v.sql" <<EOF
\set g random(1, 100)
INSERT INTO orders_$v (customer, status, amount, paid, details)
VALUES ('customer-' || :g, 'pending', :g::int * 1.25, :g::int % 2 = 0,
        jsonb_build_object('sku', 'SKU-' || :g, 'qty', :g::int % 5 + 1, 'note', 'gift wrap'));
EOF
done
declare -A ROWS_PER_TX=([bulk]=100 [single]=1)

# --- the consumer: LISTEN on every channel, drained all along ---
"$tmp/listen" "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" \
  bench_tcn bench_plpgsql pg_realtime bench_plain bench_other >"$tmp/consumer.out" 2>"$tmp/consumer.err" &
consumer_pid=$!
for _ in $(seq 50); do grep -q listening "$tmp/consumer.out" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$tmp/consumer.out" || { cat "$tmp/consumer.err" >&2; exit 1; }

# results: one line per run, "part workload variant clients round value extra"
raw=$tmp/raw.tsv
: >"$raw"
declare -A EXPECTED=()   # events each channel must have received
max_queue=0

# variant_of SCRIPT: the variant a script is for (bulk_plain.sql -> plain)
variant_of() { basename "$1" .sql | sed 's/^[a-z]*_//'; }

# pgbench_tps SCRIPT CLIENTS SECONDS [PGOPTIONS]: run, print the tps
pgbench_tps() {
  local jobs=$(( $2 < 2 ? 1 : 2 ))
  PGOPTIONS="${4:-} ${VOPTS[$(variant_of "$1")]:-}" "$PGBENCH" -n -M prepared -c "$2" -j "$jobs" -T "$3" -f "$1" 2>"$tmp/pgbench.err" \
    | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' \
    || { cat "$tmp/pgbench.err" >&2; return 1; }
}

# pgbench_cpu SCRIPT SECONDS [OPTIONS]: one client with synchronous_commit = off;
# prints "tps cpus", cpus being the share of a CPU that the client's backend
# used (perf stat task-clock; empty without perf).  CPU per row divides it by
# the rows/s, which other load on the machine disturbs much less than rows/s.
pgbench_cpu() {
  local bench pid= tps cpus= start
  start=$(date -u '+%Y-%m-%d %H:%M:%S.%N+00')
  PGAPPNAME=bench_run PGOPTIONS="-c synchronous_commit=off ${VOPTS[$(variant_of "$1")]:-}" \
    "$PGBENCH" -n -M prepared -c 1 -j 1 -T "$2" -f "$1" >"$tmp/pgbench.out" 2>"$tmp/pgbench.err" &
  bench=$!
  if command -v perf >/dev/null; then
    for _ in $(seq 100); do
      pid=$(sql -c "SELECT pid FROM pg_stat_activity
                     WHERE application_name = 'bench_run' AND backend_start >= '$start'")
      [ -n "$pid" ] && break
      sleep 0.02
    done
    [ -n "$pid" ] && perf stat -e task-clock -x, -p "$pid" -o "$tmp/perfstat" 2>/dev/null \
      && cpus=$(awk -F, '$3 == "task-clock" { print $6 }' "$tmp/perfstat")
  fi
  wait "$bench" || { cat "$tmp/pgbench.err" >&2; return 1; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$tmp/pgbench.out")
  echo "$tps $cpus"
}

# reset_tables: empty all four tables so every run starts alike
reset_tables() {
  sql -c "TRUNCATE orders_none, orders_tcn, orders_plpgsql, orders_realtime, orders_plain, orders_wal${others_table:-} RESTART IDENTITY"
}

# --- the wal transport's consumer: a pg_realtime_relay reading slot "bench" ---
# It runs only during wal runs: before each, the slot is advanced past the
# other variants' WAL (outside the measured time), so the decoder decodes
# just the run's own WAL, and the other variants run without a decoder.
# --replay-events 0: the relay keeps no window and confirms at once.
wal_events=0
sql -c "SELECT pg_create_logical_replication_slot('bench', 'pgoutput')" >/dev/null
proc_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
wal_consumer_start() {
  sql -c "SELECT pg_replication_slot_advance('bench', pg_current_wal_lsn())" >/dev/null
  "$PGBIN/pg_realtime_relay" --port 18790 --listen-addresses 127.0.0.1 --transport wal --slot-name bench \
    --replay-events 0 "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" >"$tmp/relay.log" 2>&1 &
  relay_pid=$!
  walsender=
  for _ in $(seq 100); do
    walsender=$(sql -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'bench' AND active")
    [ -n "$walsender" ] && break
    sleep 0.05
  done
  [ -n "$walsender" ] || { cat "$tmp/relay.log" >&2; exit 1; }
  ws_ticks0=$(proc_ticks "$walsender"); relay_ticks0=$(proc_ticks "$relay_pid")
}
# wal_consumer_stop ROWS: wait until the decoder has confirmed all WAL, then
# set ws_us and relay_us (CPU µs per row of the walsender and of the relay)
# and lag (seconds it needed after the writers ended).  Not in a subshell:
# it keeps wal_events.
wal_consumer_stop() {
  local end t0 caught ws rl
  end=$(sql -c "SELECT pg_current_wal_lsn()")
  t0=$(date +%s.%N)
  for _ in $(seq 1200); do
    caught=$(sql -c "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'bench'")
    [ "$caught" = t ] && break
    sleep 0.05
  done
  lag=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  ws=$(( $(proc_ticks "$walsender") - ws_ticks0 )); rl=$(( $(proc_ticks "$relay_pid") - relay_ticks0 ))
  got=$(curl -s http://127.0.0.1:18790/v1/health | sed -n 's/.*"received":\([0-9]*\).*/\1/p')
  wal_events=$(( wal_events + ${got:-0} ))
  kill "$relay_pid"; wait "$relay_pid" 2>/dev/null || true; relay_pid=
  # µs per row from clock ticks (USER_HZ = 100)
  ws_us=$(awk -v t="$ws" -v n="$1" 'BEGIN { printf "%.2f", (n > 0 ? t * 10000 / n : 0) }')
  relay_us=$(awk -v t="$rl" -v n="$1" 'BEGIN { printf "%.2f", (n > 0 ? t * 10000 / n : 0) }')
}

# after_run VARIANT: count the rows written (the events to expect) and check
# that the consumer keeps the notification queue empty
after_run() {
  local n q
  n=$(sql -c "SELECT count(*) FROM orders_$1")
  [ "$1" != none ] && EXPECTED[$1]=$(( ${EXPECTED[$1]:-0} + n ))
  return 0
  sleep 0.5
  q=$(sql -c "SELECT round((pg_notification_queue_usage() * 100)::numeric, 4)")
  max_queue=$(awk -v a="$max_queue" -v b="$q" 'BEGIN { print (b > a) ? b : a }')
}

# rotate N WORDS...: the words rotated left by N, so the order of variants
# changes from round to round and drift does not favour one of them
rotate() {
  local n=$1; shift
  local words=("$@") k=${#words[@]} i
  for ((i = 0; i < k; i++)); do printf '%s ' "${words[$(( (i + n) % k ))]}"; done
}

# the source the installed extension was presumably built from
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src sql 2>/dev/null || rev="$rev + uncommitted changes in src/ or sql/"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')

# --- part 1: rows/s, one client, commits not waiting for the disk ---
log "warm-up"
for v in $VARIANTS; do
  for w in bulk single; do
    reset_tables
    pgbench_tps "$tmp/${w}_$v.sql" 1 2 "-c synchronous_commit=off ${VOPTS[$v]:-}" >/dev/null
    # no relay reads the slot during the warm-up: its wal events are not expected
    [ "$v" = wal ] || after_run "$v"
  done
done
for r in $(seq "$ROUNDS"); do
  for w in bulk single; do
    for v in $(rotate $((r - 1)) $VARIANTS); do
      reset_tables
      [ "$v" = wal ] && wal_consumer_start
      out=$(pgbench_cpu "$tmp/${w}_$v.sql" "$SECONDS_RUN" "${VOPTS[$v]:-}")
      read -r tps cpus <<<"$out"
      rows=$(awk -v t="$tps" -v n="${ROWS_PER_TX[$w]}" 'BEGIN { printf "%.0f", t * n }')
      us=$(awk -v r="$rows" -v c="${cpus:-0}" 'BEGIN { printf "%.2f", (r > 0 && c > 0) ? c * 1e6 / r : 0 }')
      extra=
      if [ "$v" = wal ]; then
        written=$(sql -c "SELECT count(*) FROM orders_wal")
        wal_consumer_stop "$written"
        printf 'walsender\t%s\t%s\t1\t%s\t%s\t\n' "$w" "$v" "$r" "$ws_us" >>"$raw"
        printf 'relaycpu\t%s\t%s\t1\t%s\t%s\t\n' "$w" "$v" "$r" "$relay_us" >>"$raw"
        printf 'catchup\t%s\t%s\t1\t%s\t%s\t\n' "$w" "$v" "$r" "$lag" >>"$raw"
        extra=" walsender $ws_us µs/row, relay $relay_us µs/row, decoder done ${lag}s after the writer"
      fi
      after_run "$v"
      log "rows/s round $r $w $v: $rows (backend ${cpus:-?} CPUs, $us µs/row)$extra"
      printf 'rows\t%s\t%s\t1\t%s\t%s\t\n' "$w" "$v" "$r" "$rows" >>"$raw"
      [ -n "$cpus" ] && printf 'cpu\t%s\t%s\t1\t%s\t%s\t\n' "$w" "$v" "$r" "$us" >>"$raw"
    done
  done
done

# --- part 2: commit rate, synchronous_commit = on ---
# Each run also counts WAL flushes (pg_stat_wal.wal_sync): commits per flush
# above 1 means group commit coalesced; and samples what the clients wait on.
for r in $(seq "$COMMIT_ROUNDS"); do
  for c in $CLIENTS; do
    for v in $(rotate $((r - 1)) $COMMIT_VARIANTS); do
      reset_tables
      sql -c "SELECT pg_stat_reset_shared('wal')" >/dev/null
      waits=
      if [ "$c" -ge 16 ] && [ "$r" = 1 ]; then
        ( sleep $(( COMMIT_SECONDS / 2 )); for _ in 1 2 3 4 5; do
            sql -F ' ' -c "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*)
                             FROM pg_stat_activity WHERE application_name = 'pgbench' GROUP BY 1"
            sleep 0.3; done ) >"$tmp/waits" &
        waits=$!
      fi
      [ "$v" = wal ] && wal_consumer_start
      tps=$(pgbench_tps "$tmp/single_$v.sql" "$c" "$COMMIT_SECONDS" "${VOPTS[$v]:-}")
      [ "$v" = wal ] && wal_consumer_stop 1
      [ -n "$waits" ] && wait "$waits"
      after_run "$v"
      syncs=$(sql -c "SELECT wal_sync FROM pg_stat_wal")
      per_sync=$(awk -v t="$tps" -v s="$COMMIT_SECONDS" -v n="$syncs" \
                 'BEGIN { printf "%.1f", (n > 0) ? t * s / n : 0 }')
      extra=
      if [ -n "$waits" ]; then
        extra=$(awk '{ n[$1] += $2; t += $2 } END { for (k in n) printf "%d %s\n", 100 * n[k] / t + 0.5, k }' "$tmp/waits" \
                | sort -nr | awk '$1 > 0 { printf "%s%s %d%%", (n++ ? "; " : ""), $2, $1 }')
      fi
      log "commits/s round $r clients $c $v: $tps ($per_sync commits per WAL flush) $extra"
      printf 'commit\tsingle\t%s\t%s\t%s\t%s\t%s|%s\n' "$v" "$c" "$r" "$tps" "$per_sync" "$extra" >>"$raw"
    done
  done
done

# --- optional: where the writing backend spends its time with pg_realtime ---
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
  log "profiling a bulk pg_realtime run"
  reset_tables
  PGAPPNAME=bench_profile PGOPTIONS="-c synchronous_commit=off" "$PGBENCH" -n -M prepared -c 1 -T $(( SECONDS_RUN + 2 )) \
    -f "$tmp/bulk_realtime.sql" >/dev/null 2>&1 &
  bench_pid=$!
  sleep 1
  backend=$(sql -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_profile'")
  perf record -F 999 -g -p "$backend" -o "$tmp/perf.data" -- sleep "$SECONDS_RUN" 2>/dev/null
  wait "$bench_pid"
  after_run realtime
  {
    echo "# perf profile of the backend during a bulk pg_realtime run ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo "# inclusive (children) share of the backend's samples, top entries"
    perf report -i "$tmp/perf.data" --children --sort symbol --stdio -g none --percent-limit 0.5 2>/dev/null \
      | grep '%' | grep -v '0x0000' | head -60 || true
    echo
    echo "# calls made by realtime_notify_trigger"
    perf report -i "$tmp/perf.data" --children --sort symbol --stdio -g caller,0.5 2>/dev/null \
      | awk '/\] realtime_notify_trigger /{p=1} p{print} p && /^$/{exit}' | head -60 || true
  } >"$ROOT/bench/trigger/profile.txt"
fi

# --- every event must have reached the consumer ---
sql -c "NOTIFY bench_done"
wait "$consumer_pid" || true
consumer_pid=
delivery=
delivered=
for v in $VARIANTS $COMMIT_VARIANTS; do
  case " none $delivered " in *" $v "*) continue ;; esac
  delivered+=" $v"
  if [ "$v" = wal ]; then
    delivery+="| ${LABEL[$v]} (relay over the slot) | ${EXPECTED[$v]:-0} | $wal_events | |"$'\n'
    continue
  fi
  got=$(awk -v ch="${CHANNEL[$v]}" '$1 == ch { print $2 }' "$tmp/consumer.out")
  bytes=$(awk -v ch="${CHANNEL[$v]}" '$1 == ch { print $3 }' "$tmp/consumer.out")
  avg=$(awk -v b="$bytes" -v n="$got" 'BEGIN { printf "%.0f", (n > 0) ? b / n : 0 }')
  delivery+="| ${LABEL[$v]} | ${EXPECTED[$v]:-0} | ${got:-0} | $avg | ${bytes:-0} |"$'\n'
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ---
pgversion=$(sql -c "SHOW server_version")
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)

# median KIND WORKLOAD VARIANT CLIENTS: median value of the matching runs
median() {
  awk -F'\t' -v k="$1" -v w="$2" -v v="$3" -v c="$4" \
    '$1 == k && $2 == w && $3 == v && $4 == c { print $6 }' "$raw" \
    | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
runs() {
  awk -F'\t' -v k="$1" -v w="$2" -v v="$3" -v c="$4" \
    '$1 == k && $2 == w && $3 == v && $4 == c { printf "%s%s", (n++ ? ", " : ""), (k != "rows" && k != "commit") ? $6 : sprintf("%.0f", $6) }' "$raw"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0) ? "%.2f" : "-", a / b }'; }
fmt() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }
verdict() { awk -v a="$1" -v t="$2" 'BEGIN { print (a >= t) ? "met" : "missed" }'; }

{
  echo "# pg_realtime trigger benchmark"
  echo
  echo "- date: $started; machine: $(nproc) CPUs ($cpu), $(free -g | awk '/^Mem:/ { print $2 }') GB RAM"
  echo "- PostgreSQL $pgversion; pg_realtime at $rev"
  echo "- load average (1, 5, 15 min): $load_before before, $load_after after"
  echo "- command: \`$COMMAND\` (BENCH_SECONDS=$SECONDS_RUN BENCH_ROUNDS=$ROUNDS BENCH_COMMIT_SECONDS=$COMMIT_SECONDS BENCH_COMMIT_ROUNDS=$COMMIT_ROUNDS)"
  echo "- cluster: fsync = on, shared_buffers = 1GB, no checkpoint or autovacuum during runs; tables emptied before each run"
  echo
  echo "## Rows per second, one client"
  echo
  echo "pgbench -M prepared, 1 client, ${SECONDS_RUN} s a run, median of $ROUNDS interleaved runs;"
  echo "synchronous_commit = off for this part so that the disk does not hide the trigger's CPU cost."
  echo "Bulk: one INSERT ... SELECT of 100 rows a transaction; single: one 1-row INSERT a transaction."
  echo "CPU µs/row: CPU time of the writing backend per row (perf stat), median; \"× by CPU\" is no trigger's"
  echo "CPU per row over the variant's, the throughput ratio the backend's own work allows, which load from"
  echo "other processes on the machine disturbs much less than rows/s."
  echo
  echo "| variant | bulk rows/s | × no trigger | bulk CPU µs/row | × by CPU | single-row rows/s | × no trigger | single CPU µs/row | × by CPU |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  bn=$(median rows bulk none 1); sn=$(median rows single none 1)
  bcn=$(median cpu bulk none 1); scn=$(median cpu single none 1)
  for v in $VARIANTS; do
    b=$(median rows bulk "$v" 1); s=$(median rows single "$v" 1)
    bc=$(median cpu bulk "$v" 1); sc=$(median cpu single "$v" 1)
    echo "| ${LABEL[$v]} | $(fmt "$b") | $(ratio "$b" "$bn") | $bc | $(ratio "$bcn" "$bc") | $(fmt "$s") | $(ratio "$s" "$sn") | $sc | $(ratio "$scn" "$sc") |"
  done
  br=$(median rows bulk realtime 1); bp=$(median rows bulk plpgsql 1)
  sr=$(median rows single realtime 1); sp=$(median rows single plpgsql 1)
  bpl=$(median rows bulk plain 1); spl=$(median rows single plain 1)
  echo
  echo "pg_realtime vs the PL/pgSQL trigger: **$(ratio "$br" "$bp")×** bulk, **$(ratio "$sr" "$sp")×** single-row."
  echo
  seal_cost=$(awk -v p="$bpl" -v r="$br" -v n="$bn" 'BEGIN { printf "%.3f", (n > 0) ? (p - r) / n : 0 }')
  echo "Sealing (pg_realtime, sealed, vs seal = off in the same run), bulk: $(ratio "$br" "$bn")× vs $(ratio "$bpl" "$bn")× no trigger,"
  echo "a cost of **${seal_cost}×** of the no-trigger rate (target ≤ 0.05×: $(awk -v c="$seal_cost" 'BEGIN { print (c <= 0.05) ? "met" : "missed" }')); single-row: $(ratio "$sr" "$sn")× vs $(ratio "$spl" "$sn")×."
  if [ -n "${BENCH_OTHER_SO:-}" ]; then
    bo=$(median rows bulk other 1); bco=$(median cpu bulk other 1); bcr=$(median cpu bulk realtime 1)
    echo
    echo "Sealed vs ${LABEL[other]} (plaintext), bulk: $(ratio "$br" "$bn")× vs $(ratio "$bo" "$bn")× no trigger, a cost of"
    echo "**$(awk -v o="$bo" -v r="$br" -v n="$bn" 'BEGIN { printf "%.3f", (n > 0) ? (o - r) / n : 0 }')×** of the no-trigger rate;"
    echo "by CPU per row $(ratio "$bcn" "$bcr")× vs $(ratio "$bcn" "$bco")×, a cost of **$(awk -v n="$bcn" -v r="$bcr" -v o="$bco" 'BEGIN { printf "%.3f", (r > 0 && o > 0) ? n / o - n / r : 0 }')×**."
  fi
  echo
  echo "Targets (bulk): pg_realtime ≥ 0.70× no trigger: $(ratio "$br" "$bn")×, $(verdict "$(ratio "$br" "$bn")" 0.70);"
  echo "≥ 5× PL/pgSQL: $(ratio "$br" "$bp")×, $(verdict "$(ratio "$br" "$bp")" 5)."
  echo
  if [[ " $VARIANTS " == *" wal "* ]]; then
    echo "### The wal transport's decoder"
    echo
    echo "During each wal run a pg_realtime_relay read the slot (pgoutput), from the run's first WAL on."
    echo "CPU per row of the writing backend (above), of the walsender decoding the WAL and of the relay, from"
    echo "/proc ticks over the run and its catch-up; \"catch-up\" is how long after the writer ended the slot"
    echo "was confirmed up to the end of the WAL (0 when the decoder kept up). Medians."
    echo
    echo "| workload | writer CPU µs/row | walsender CPU µs/row | relay CPU µs/row | catch-up s |"
    echo "|---|---:|---:|---:|---:|"
    for w in bulk single; do
      echo "| $w | $(median cpu "$w" wal 1) | $(median walsender "$w" wal 1) | $(median relaycpu "$w" wal 1) | $(median catchup "$w" wal 1) |"
    done
    echo
    echo "Targets (bulk): wal ≥ 0.75× no trigger in rows/s: $(ratio "$(median rows bulk wal 1)" "$bn")×;"
    echo "writer side (CPU) ≥ 0.85×: $(ratio "$bcn" "$(median cpu bulk wal 1)")×."
    echo
  fi
  echo "## Commits per second, synchronous_commit = on"
  echo
  echo "Single-row INSERT transactions, pgbench -M prepared, ${COMMIT_SECONDS} s a run, median of $COMMIT_ROUNDS interleaved runs."
  echo "\"per flush\" is commits per WAL flush (pg_stat_wal.wal_sync) in the median run: above 1, group commit coalesced commits."
  echo
  printf '| clients |'; for v in $COMMIT_VARIANTS; do printf ' %s commits/s |' "${LABEL[$v]}"; [ "$v" != none ] && printf ' × no trigger |'; printf ' per flush |'; done; echo
  printf '|---:|'; for v in $COMMIT_VARIANTS; do printf -- '---:|'; [ "$v" != none ] && printf -- '---:|'; printf -- '---:|'; done; echo
  for c in $CLIENTS; do
    cn=$(median commit single none "$c")
    printf '| %s |' "$c"
    for v in $COMMIT_VARIANTS; do
      m=$(median commit single "$v" "$c")
      per=$(awk -F'\t' -v v="$v" -v c="$c" -v m="$m" '$1 == "commit" && $3 == v && $4 == c && $6 == m { split($7, a, "|"); print a[1]; exit }' "$raw")
      printf ' %s |' "$(fmt "$m")"
      [ "$v" != none ] && printf ' %s |' "$(ratio "$m" "$cn")"
      printf ' %s |' "$per"
    done
    echo
  done
  echo
  echo "What the clients waited on during the first round's runs (5 samples of pg_stat_activity):"
  echo
  awk -F'\t' '$1 == "commit" && $4 >= 16 && $5 == 1 { split($7, a, "|"); printf "- %s clients, %s: %s\n", $4, $3, a[2] }' "$raw" \
    | sed -e 's/: none:/: no trigger:/' -e "s/, none:/, no trigger:/" -e "s/, realtime:/, pg_realtime:/" -e "s/, plpgsql:/, PL\/pgSQL:/"
  echo
  echo "## Delivery"
  echo
  echo "A LISTEN consumer (bench/trigger/listen.c) drained every channel during all runs;"
  echo "highest pg_notification_queue_usage() after a run: ${max_queue}%."
  echo
  echo "Sealed pg_realtime sends a transaction's events together, several to a notification: its"
  echo "\"received\" counts notifications (opened by the relay, not here), the others count events."
  echo
  echo "| variant | events expected (rows written) | notifications received | average payload bytes | payload bytes in all |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s' "$delivery"
  echo
  echo "## Every run"
  echo
  echo "| part | workload | variant | clients | runs |"
  echo "|---|---|---|---:|---|"
  for v in $VARIANTS; do for w in bulk single; do
    echo "| rows/s | $w | ${LABEL[$v]} | 1 | $(runs rows "$w" "$v" 1) |"
    echo "| CPU µs/row | $w | ${LABEL[$v]} | 1 | $(runs cpu "$w" "$v" 1) |"
    if [ "$v" = wal ]; then
      echo "| walsender CPU µs/row | $w | ${LABEL[$v]} | 1 | $(runs walsender "$w" "$v" 1) |"
      echo "| catch-up s | $w | ${LABEL[$v]} | 1 | $(runs catchup "$w" "$v" 1) |"
    fi
  done; done
  for c in $CLIENTS; do for v in $COMMIT_VARIANTS; do
    echo "| commits/s | single | ${LABEL[$v]} | $c | $(runs commit single "$v" "$c") |"
  done; done
} >"$OUT"
cat "$OUT"
