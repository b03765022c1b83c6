#!/usr/bin/env bash
# bench/relay/run.sh - pg_realtime's relay against the tutorial Node relay
#
# One run measures both relays the same way (README.md explains the method):
#   1. latency: 1,000 subscribers, steady LAT_RATE events/s
#   2. steps:   1,000 subscribers, rate stepped up until p99 > 50 ms
#   3. fan-out: 10,000 subscribers, idle RSS per connection, then a stream
#      of events: deliveries/s and relay CPU
#   4. users:   pg_realtime only: 1,000 subscribers each authenticated as
#      another user, events readable by one user, a team of 100, all users,
#      against guests with the same fan-out, alternating
# and writes results.md (and stdout).  Everything it starts is stopped on exit.
#
#   bench/relay/run.sh                      # ~8-12 minutes
#   QUICK=1 bench/relay/run.sh              # a smoke run, ~3 minutes
#   RELAYS="pg_realtime" bench/relay/run.sh  # one relay only (no ratios)
#   RELAYS="pg_realtime pg_realtime_plain" BASELINE=pg_realtime_plain bench/relay/run.sh
#                                           # sealed events against plaintext
#                                           # ones (pg_realtime.seal = off)
#   PHASES=users bench/relay/run.sh         # phase 4 only, into results-users.md
#   MODE=deflate bench/relay/run.sh         # compression: today's build (main),
#                                           # this build, this build with deflate
#                                           # clients; writes results-deflate.md
#   RELAYS="pg_realtime pg_realtime_wal" BASELINE=pg_realtime_wal LATENCY_ONLY=1 \
#     RESULTS=bench/relay/results-wal.md bench/relay/run.sh
#                                           # commit-to-subscriber latency of
#                                           # the notify and wal transports
#                                           # (wal_level = logical; phases 0-1)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# --- settings (environment) -----------------------------------------------
RELAYS=${RELAYS:-"pg_realtime node"}
BASELINE=${BASELINE:-node}                # the relay the ratios divide by
PLAIN_PORT=${PLAIN_PORT:-18789}
PHASES=${PHASES:-"compare users"}        # compare: phases 0-3; users: phase 4
WAL_PORT=${WAL_PORT:-18786}
LATENCY_ONLY=${LATENCY_ONLY:-0}           # 1: phases 0 and 1 only
PG_PORT=${PG_PORT:-55495}
RELAY_PORT=${RELAY_PORT:-18787}
NODE_PORT=${NODE_PORT:-18788}
RELAY_BIN=${RELAY_BIN:-$(pg_config --bindir)/pg_realtime_relay}
OUT=${OUT:-$here/out}
if [ "$PHASES" = users ]; then RESULTS=${RESULTS:-$here/results-users.md}; fi
RESULTS=${RESULTS:-$here/results.md}
PAYLOAD_BYTES=${PAYLOAD_BYTES:-64}       # the row's text column
SUBS=${SUBS:-1000}                        # subscribers, phases 1-2
LAT_RATE=${LAT_RATE:-100}                 # events/s, phase 1
LAT_SECS=${LAT_SECS:-20}
LAT_SWEEP=${LAT_SWEEP:-"1 100"}           # also measure latency with these subscriber counts
LAT_SWEEP_SECS=${LAT_SWEEP_SECS:-10}
STEP_RATES=${STEP_RATES:-"10 20 30 40 50 70 100 120 150 200 300 500 700 1000 1500 2000 3000 5000"}
STEP_SECS=${STEP_SECS:-6}
STEP_P99_MS=${STEP_P99_MS:-50}
FAN_SUBS=${FAN_SUBS:-10000}
FAN_RATE=${FAN_RATE:-50}                  # events/s offered to 10,000 subscribers
FAN_EVENTS=${FAN_EVENTS:-100}             # then wait for all deliveries
DRAIN_MAX=${DRAIN_MAX:-90}                # seconds to wait for a backlog
PIN=${PIN:-auto}                          # relay on RELAY_CPU, the rest elsewhere
RELAY_CPU=${RELAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PERF=${PERF:-0}                           # 1: perf record the relays' fan-out
USERS=${USERS:-1000}                      # phase 4: subscribers, one user each
TEAM=${TEAM:-100}                         # phase 4: users per team
USERS_REPEAT=${USERS_REPEAT:-3}           # phase 4: measurements of each case
BENCH_SECRET=bench-secret-for-the-relay-benchmark-0123
MODE=${MODE:-compare}                     # compare (with Node) or deflate
BASE_REF=${BASE_REF:-main}                # MODE=deflate: "today's build"
ROUNDS=${ROUNDS:-3}                       # MODE=deflate: latency phases per relay
RESULTS_DEFLATE=${RESULTS_DEFLATE:-$here/results-deflate.md}
if [ "$MODE" = deflate ]; then RELAYS="base pg_realtime deflate deflate_n"; fi
if [ "${QUICK:-0}" = 1 ]; then
  LAT_SECS=${LAT_SECS_QUICK:-5} STEP_SECS=3 STEP_RATES="20 100 300 1000 3000" LAT_SWEEP_SECS=3
  FAN_SUBS=${FAN_SUBS_QUICK:-2000} FAN_EVENTS=${FAN_EVENTS_QUICK:-50} DRAIN_MAX=30 USERS_REPEAT=1
fi
command_line="$0 $*"
env_line=$(env | grep -E '^(MODE|BASE_REF|ROUNDS|LATENCY_ONLY|RESULTS|RELAYS|BASELINE|PHASES|USERS|TEAM|USERS_REPEAT|PG_PORT|RELAY_PORT|NODE_PORT|RELAY_BIN|PAYLOAD_BYTES|SUBS|LAT_RATE|LAT_SECS|LAT_SWEEP|LAT_SWEEP_SECS|STEP_RATES|STEP_SECS|STEP_P99_MS|FAN_SUBS|FAN_RATE|FAN_EVENTS|DRAIN_MAX|PIN|RELAY_CPU|LOAD_CPU|PERF|QUICK)=' | sort | tr '\n' ' ' || true)

ncpu=$(nproc)
if [ "$PIN" = auto ]; then
  if [ "$ncpu" -ge 2 ]; then PIN=1; else PIN=0; fi
fi
relay_pin=() load_pin=()
if [ "$PIN" = 1 ]; then
  relay_pin=(taskset -c "$RELAY_CPU")
  load_pin=(taskset -c "$LOAD_CPU")
fi

mkdir -p "$OUT"
cluster=$OUT/cluster
conninfo="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
pids=()

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Stop everything this script started, then the cluster.
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$root/test/cluster.sh" stop "$cluster" >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

# kv LINE KEY: the value of key=value in a line
kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<" $1"; }

# ticks PID: utime+stime in clock ticks
ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# machine_ticks: busy clock ticks of all CPUs together
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
# pct TICKS T0 T1: ticks as percent of one CPU over the wall time T0..T1
pct() { awk -v c="$1" -v a="$2" -v b="$3" -v hz="$hz" 'BEGIN { printf "%.0f", 100 * c / hz / (b - a) }'; }

wait_port() {
  local port=$1 pid=$2
  for _ in $(seq 1 100); do
    ss -Hltn "sport = :$port" | grep -q . && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# wait_line FILE PATTERN SECONDS: wait until FILE has a line matching PATTERN
wait_line() {
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Per relay: its process, port, NOTIFY channel, and its load client.  The
# relays run side by side, each LISTENing on its own channel, and `use NAME`
# makes one of them current for the functions below.
declare -A RP RPORT WLP WLO WLREADY
declare -A CH=([pg_realtime]=rt_bench_pg [node]=rt_bench_node [pg_realtime_plain]=rt_bench_plain [pg_realtime_wal]=rt_bench_wal)
declare -A LABEL=([pg_realtime]="pg_realtime" [node]="Node baseline" [pg_realtime_plain]="pg_realtime, seal = off"
                  [pg_realtime_wal]="pg_realtime, wal transport")
# the writer's session options per relay: the plaintext one's writer and
# relay both run with pg_realtime.seal = off (the relay then accepts plaintext)
# and the wal one's writer sends with the wal transport (its relay reads a slot)
declare -A WOPTS=([pg_realtime]="" [node]="" [pg_realtime_plain]=" -cpg_realtime.seal=off"
                  [pg_realtime_wal]=" -cpg_realtime.transport=wal")
# MODE=deflate: today's build (base), this build for deflate clients
CH+=([base]=rt_bench_base [deflate]=rt_bench_deflate [deflate_n]=rt_bench_deflate_n)
LABEL+=([base]="today's build" [deflate]="deflate clients" [deflate_n]="deflate clients, not inflating")
WOPTS+=([base]="" [deflate]="" [deflate_n]="")
use() {
  CUR=$1
  RELAY_PID=${RP[$1]:-} PORT=${RPORT[$1]:-} WL_PID=${WLP[$1]:-} WL_OUT=${WLO[$1]:-}
}

# start_load CONNS TAG [WSLOAD OPTIONS]: the current relay's load client
start_load() {
  local out=$OUT/$2.wsload sources=$(( ($1 + 9999) / 10000 * 4 ))
  : >"$out"
  local z=()
  [ "$CUR" = deflate ] && z=(-z)    # offers permessage-deflate, inflates
  [ "$CUR" = deflate_n ] && z=(-z -n) # offers it, counts without inflating
  "${load_pin[@]}" "$OUT/wsload" -p "$PORT" -c "$1" -s "$sources" "${@:3}" "${z[@]}" >"$out" 2>"$out.err" &
  WLP[$CUR]=$! WLO[$CUR]=$out
  pids+=("${WLP[$CUR]}")
  use "$CUR"
  if ! wait_line "$out" '^ready' 120; then
    log "load client never got ready: $(tail -2 "$out.err")"
    return 1
  fi
  WLREADY[$CUR]=$(grep '^ready' "$out")
  log "  $CUR: ${WLREADY[$CUR]}"
}

stop_load() {
  stop_pid "$WL_PID"
  WLP[$CUR]=""
  use "$CUR"
}

# signal_line SIGNAL PREFIX: make the load client print a line, print it
signal_line() {
  local n
  n=$(grep -c "^$2" "$WL_OUT" || true)
  kill "-$1" "$WL_PID"
  for _ in $(seq 1 100); do
    [ "$(grep -c "^$2" "$WL_OUT" || true)" -gt "$n" ] && break
    sleep 0.05
  done
  grep "^$2" "$WL_OUT" | tail -1
}

# window: the load client's statistics since the last window; resets them
window() { signal_line USR1 window; }
progress_events() { kv "$(signal_line USR2 progress)" events; }

# drain EXPECTED MAXSECS: wait until EXPECTED deliveries arrived (status 0),
# or none arrived for 3 s or MAXSECS passed (status 1)
drain() {
  local expected=$1 deadline=$((SECONDS + $2)) last=-1 still=0 got
  while [ $SECONDS -lt $deadline ]; do
    got=$(progress_events)
    [ "${got:-0}" -ge "$expected" ] && return 0
    if [ "$got" = "$last" ]; then
      still=$((still + 1))
      [ $still -ge 15 ] && return 1
    else
      still=0
    fi
    last=$got
    sleep 0.2
  done
  return 1
}

# write_events RATE SECONDS: rows for the current relay; the writer's result
write_events() {
  "${load_pin[@]}" "$OUT/writer" -r "$1" -t "$2" -b "$PAYLOAD_BYTES" \
    "$conninfo options='-cpg_realtime.channel=${CH[$CUR]}${WOPTS[$CUR]}'"
}

start_relay() {
  # the load client's thousands of connections come from four addresses:
  # no per-address limits; tokens for phase 4 (a relay older than these
  # flags, RELAY_BIN of an earlier build, runs without them)
  local auth_flags=()
  if "$OUT/pg_realtime_relay" --help | grep -q -- --max-connections-per-ip; then
    auth_flags=(--max-connections-per-ip 0 --max-connects-per-minute 0 --jwt-secret "$BENCH_SECRET")
  fi
  case $1 in
  pg_realtime)
    "${relay_pin[@]}" "$OUT/pg_realtime_relay" --port "$RELAY_PORT" --listen-addresses 127.0.0.1 \
      --channel "${CH[$1]}" --max-connections $((FAN_SUBS + USERS + 1000)) "${auth_flags[@]}" \
      "$conninfo" >>"$OUT/$1.log" 2>&1 &
    RP[$1]=$! RPORT[$1]=$RELAY_PORT
    ;;
  pg_realtime_plain)
    "${relay_pin[@]}" "$OUT/pg_realtime_relay" --port "$PLAIN_PORT" --listen-addresses 127.0.0.1 \
      --channel "${CH[$1]}" --max-connections $((FAN_SUBS + USERS + 1000)) "${auth_flags[@]}" \
      "$conninfo options=-cpg_realtime.seal=off" >>"$OUT/$1.log" 2>&1 &
    RP[$1]=$! RPORT[$1]=$PLAIN_PORT
    ;;
  base | deflate | deflate_n)
    # base: today's build (BASE_REF); deflate(_n): this build, for deflate clients
    local bin=$OUT/pg_realtime_relay port=$((RELAY_PORT + 11))
    [ "$1" = base ] && bin=$OUT/base_relay port=$((RELAY_PORT + 10))
    [ "$1" = deflate_n ] && port=$((RELAY_PORT + 12))
    "${relay_pin[@]}" "$bin" --port "$port" --listen-addresses 127.0.0.1 \
      --channel "${CH[$1]}" --max-connections $((FAN_SUBS + 1000)) \
      --max-connections-per-ip 0 --max-connects-per-minute 0 "$conninfo" >>"$OUT/$1.log" 2>&1 &
    RP[$1]=$! RPORT[$1]=$port
    ;;
  pg_realtime_wal)
    "${relay_pin[@]}" "$OUT/pg_realtime_relay" --port "$WAL_PORT" --listen-addresses 127.0.0.1 \
      --transport wal --slot-name bench_wal --max-connections $((FAN_SUBS + 1000)) "${auth_flags[@]}" \
      "$conninfo" >>"$OUT/$1.log" 2>&1 &
    RP[$1]=$! RPORT[$1]=$WAL_PORT
    ;;
  node)
    (cd "$here/node-baseline" &&
      PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres PGDATABASE=postgres \
        exec "${relay_pin[@]}" node server.js "$NODE_PORT" "${CH[$1]}") >>"$OUT/$1.log" 2>&1 &
    RP[$1]=$! RPORT[$1]=$NODE_PORT
    ;;
  esac
  pids+=("${RP[$1]}")
  use "$1"
  wait_port "$PORT" "$RELAY_PID" || { log "$1 did not start:"; cat "$OUT/$1.log" >&2; return 1; }
  # the relay LISTENs once it logs so; give it a moment either way
  sleep 1
}

stop_relay() {
  stop_pid "$RELAY_PID"
  RP[$CUR]=""
  use "$CUR"
}

# --- build and set up -------------------------------------------------------
log "building the load client and the writer"
make -s -C "$here" OUT="$OUT" >/dev/null
if [[ " $RELAYS " == *" node "* ]] && [ ! -d "$here/node-baseline/node_modules" ]; then
  log "installing the Node baseline's packages (npm ci)"
  (cd "$here/node-baseline" && npm ci --no-audit --no-fund >/dev/null 2>&1)
fi
if [[ " $RELAYS " == *" pg_realtime"* ]]; then
  [ -x "$RELAY_BIN" ] || { echo "no relay at $RELAY_BIN: run make install in the repository" >&2; exit 1; }
  # a copy, so a make install during the run cannot swap the relay between phases
  relay_built=$(date -u -r "$RELAY_BIN" '+%Y-%m-%d %H:%M UTC')
  relay_sum=$(sha256sum "$RELAY_BIN" | cut -c1-12)
  cp "$RELAY_BIN" "$OUT/pg_realtime_relay"
fi
if [ "$MODE" = deflate ]; then
  log "building today's relay ($BASE_REF) for the same run"
  rm -rf "$OUT/base-src" && mkdir -p "$OUT/base-src"
  git -C "$root" archive "$BASE_REF" | tar -x -C "$OUT/base-src"
  make -s -C "$OUT/base-src" pg_realtime_relay >/dev/null
  cp "$OUT/base-src/pg_realtime_relay" "$OUT/base_relay"
  base_commit=$(git -C "$root" rev-parse --short "$BASE_REF")
fi

log "starting a throwaway cluster on port $PG_PORT"
"$root/test/cluster.sh" stop "$cluster" >/dev/null 2>&1 || true
rm -rf "$cluster"
wal_conf=()
[[ " $RELAYS " == *" pg_realtime_wal "* ]] && wal_conf=("wal_level = logical")
"$root/test/cluster.sh" start "$cluster" "$PG_PORT" ${wal_conf[@]+"${wal_conf[@]}"}
if [ "$PIN" = 1 ]; then
  # server processes (the writer's backend, the LISTEN backends) share the
  # load client's CPU, so the relay has one CPU to itself
  taskset -pc "$LOAD_CPU" "$(head -1 "$cluster/data/postmaster.pid")" >/dev/null
fi
psql -X -q -v ON_ERROR_STOP=1 "$conninfo" <<'SQL' >/dev/null
CREATE EXTENSION pg_realtime;
CREATE TABLE public.ticks (
  id bigserial PRIMARY KEY,
  sent_us bigint NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
  note text
);
SELECT realtime.track('public.ticks', read => ARRAY['any']);
-- phase 4: rows readable by the roles in perms only
CREATE TABLE public.uticks (
  id bigserial PRIMARY KEY,
  sent_us bigint NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
  note text,
  perms text[]
);
SELECT realtime.track('public.uticks', permissions_column => 'perms');
SQL

# cpu_busy SECONDS: percent of all CPUs busy over SECONDS (other users' load)
cpu_busy() {
  local a b
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
  sleep "$1"
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }'
}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
busy_start=$(cpu_busy 2)
others_start=$(top -bn1 -w 200 | awk 'NR > 7 && $9 + 0 >= 5 { printf "%s %s%%, ", $12, $9 }' | sed 's/, $//')
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')

# verdict VALUE OP LIMIT: met, **missed** or n/a
verdict() {
  case $1 in n/a | "") echo n/a; return ;; esac
  awk -v v="$1" -v lim="$3" "BEGIN { r = (v $2 lim) ? \"met\" : \"**missed**\"; print r }"
}

# --- phases -----------------------------------------------------------------
declare -A R     # R[relay.metric]
deflate_md=""

# MODE=deflate: the three relays side by side, SUBS subscribers each, then
# ROUNDS latency phases per relay, alternating; writes RESULTS_DEFLATE
deflate_mode() {
  local relay rss0 n
  log "== compression: $RELAYS, $SUBS subscribers each, $LAT_RATE ev/s, $ROUNDS rounds of ${LAT_SECS}s"
  for relay in $RELAYS; do start_relay "$relay"; done
  for relay in $RELAYS; do
    use "$relay"
    rss0=$(rss_kb "$RELAY_PID")
    start_load "$SUBS" "$relay-1k"
    sleep 2
    n=$(kv "${WLREADY[$relay]}" connected)
    R[$relay.rss_per_conn]=$(awk -v a="$rss0" -v b="$(rss_kb "$RELAY_PID")" -v n="$n" 'BEGIN { printf "%.2f", n ? (b - a) / n : 0 }')
    log "  $relay: idle RSS per connection ${R[$relay.rss_per_conn]} kB"
  done
  for round in $(seq 1 "$ROUNDS"); do
    for relay in $RELAYS; do use "$relay"; latency_phase; done
  done
  dget() { echo "${R[$1]:-0}"; }
  us() { awk -v c="$(dget "$1.sum_ticks")" -v hz="$hz" -v d="$(dget "$1.sum_events")" 'BEGIN { printf "%.2f", d ? 1e6 * c / hz / d : 0 }'; }
  per() { awk -v b="$(dget "$1.sum_$2")" -v e="$(dget "$1.sum_events")" 'BEGIN { printf "%d", e ? b / e : 0 }'; }
  rat() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
  local wire_ratio cpu_ratio cpu_ratio_plain
  local cpu_ratio_n
  wire_ratio=$(rat "$(per deflate wire)" "$(per base wire)")
  cpu_ratio=$(rat "$(us deflate)" "$(us base)")
  cpu_ratio_n=$(rat "$(us deflate_n)" "$(us base)")
  cpu_ratio_plain=$(rat "$(us pg_realtime)" "$(us base)")
  {
    echo "# Relay benchmark: permessage-deflate, in the same run as today's build"
    echo
    echo "- command: \`${env_line}${command_line}\`"
    echo "- date: $started; $(uname -sr); nproc $ncpu; load average $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
    echo "- $([ "$PIN" = 1 ] && echo "relay pinned to CPU $RELAY_CPU; load client, writer and PostgreSQL to CPU $LOAD_CPU" || echo "no pinning")"
    echo "- machine CPU busy before the benchmark started its processes: ${busy_start}% of $ncpu CPUs (${others_start:-nothing else above 5%})"
    echo "- base: \`$BASE_REF\` ($base_commit) built in this run; this build: \`$RELAY_BIN\` (sha256 ${relay_sum:-?}; repository at $(git -C "$root" log -1 --format=%h 2>/dev/null || echo '?'))"
    echo "- base and pg_realtime: clients without deflate (wsload); deflate: this build, clients offering permessage-deflate (wsload -z, which inflates every message); deflate_n: the same without inflating (wsload -z -n: no latency figures; see README.md for why the two differ)"
    echo "- $SUBS subscribers per relay, $LAT_RATE events/s, $ROUNDS rounds of ${LAT_SECS}s per relay, relays alternating; figures are sums over the rounds"
    echo
    echo "| metric | base (today) | pg_realtime, plain clients | deflate clients | deflate_n clients | deflate / base | deflate_n / base | target |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    echo "| wire bytes per delivery (frame header + payload) | $(per base wire) | $(per pg_realtime wire) | $(per deflate wire) | $(per deflate_n wire) | $wire_ratio | | ≤ 0.35: $(verdict "$wire_ratio" '<=' 0.35) |"
    echo "| message bytes per delivery (inflated) | $(per base bytes) | $(per pg_realtime bytes) | $(per deflate bytes) | (not inflated) | | | |"
    echo "| relay CPU per delivery (µs) | $(us base) | $(us pg_realtime) | $(us deflate) | $(us deflate_n) | $cpu_ratio | $cpu_ratio_n | ≤ 0.7: $(verdict "$cpu_ratio" '<=' 0.7) (deflate) |"
    echo "| … this build, plain clients / base | | $cpu_ratio_plain | | | | | |"
    echo "| idle RSS per connection (kB, $SUBS connections) | $(dget base.rss_per_conn) | $(dget pg_realtime.rss_per_conn) | $(dget deflate.rss_per_conn) | $(dget deflate_n.rss_per_conn) | | | |"
    echo
    echo "Each round (delivered / expected, relay µs per delivery (its CPU from the first write to the last delivery), wire bytes per delivery, relay and load client CPU %, latency):"
    echo
    echo "| relay | delivered / expected | µs / delivery | wire bytes / delivery | relay CPU % | load client CPU % | p50 ms | p99 ms |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s' "$deflate_md"
  } >"$RESULTS_DEFLATE.tmp"
  mv "$RESULTS_DEFLATE.tmp" "$RESULTS_DEFLATE"
  cat "$RESULTS_DEFLATE"
}

declare -A STEPPING ATTEMPT
steps_md=""
sweep_md=""

# sweep_row N LINE W: a row of the latency-by-subscribers table
sweep_row() {
  sweep_md+="| $CUR | $1 | $(kv "$2" p50_ms) | $(kv "$2" p99_ms) | $(kv "$2" max_ms) | $(kv "$2" first_p50_ms) / $(kv "$2" first_p99_ms) | $(kv "$2" spread_p50_ms) / $(kv "$2" spread_p99_ms) | $(kv "$2" events) / $(( $(kv "$3" n) * $1 )) |"$'\n'
}

# 0. latency with few subscribers: the floor, and how it grows
sweep_one() {
  local n=$1 w line
  start_load "$n" "$CUR-$n"
  write_events "$LAT_RATE" 1 >/dev/null   # warm-up
  drain "$LAT_RATE" 10 || true
  window >/dev/null
  w=$(write_events "$LAT_RATE" "$LAT_SWEEP_SECS")
  drain $(( $(kv "$w" n) * n )) "$DRAIN_MAX" || true
  line=$(window)
  log "  $CUR, $n subscribers, $LAT_RATE ev/s: p50 $(kv "$line" p50_ms) ms, p99 $(kv "$line" p99_ms) ms"
  sweep_row "$n" "$line" "$w"
  stop_load
}

# 1. latency at a steady rate, SUBS subscribers (already connected)
latency_phase() {
  local name=$CUR w line m0 r0 l0 t0 m1 r1 l1 t1 r2 drained=yes
  log "  $name: $SUBS subscribers, $LAT_RATE events/s for ${LAT_SECS}s"
  write_events "$LAT_RATE" 2 >/dev/null   # warm-up
  drain $((2 * LAT_RATE * SUBS)) "$DRAIN_MAX" || true
  window >/dev/null
  m0=$(machine_ticks) r0=$(ticks "$RELAY_PID") l0=$(ticks "$WL_PID") t0=$(date +%s.%N)
  w=$(write_events "$LAT_RATE" "$LAT_SECS")
  m1=$(machine_ticks) r1=$(ticks "$RELAY_PID") l1=$(ticks "$WL_PID") t1=$(date +%s.%N)
  R[$name.lat_cpu_pct]=$(pct "$((r1 - r0))" "$t0" "$t1")
  R[$name.lat_load_cpu_pct]=$(pct "$((l1 - l0))" "$t0" "$t1")
  R[$name.lat_other_cpu_pct]=$(pct "$((m1 - m0 - (r1 - r0) - (l1 - l0)))" "$t0" "$t1")
  drain $(( $(kv "$w" n) * SUBS )) "$DRAIN_MAX" || drained=no
  r2=$(ticks "$RELAY_PID")   # the relay's CPU until the last delivery
  line=$(window)
  log "  $w"
  log "  $line"
  # CPU per delivery: the relay's ticks from the first write to the last delivery
  R[$name.lat_cpu_us]=$(awk -v c="$((r2 - r0))" -v hz="$hz" -v d="$(kv "$line" events)" 'BEGIN { printf "%.2f", d ? 1e6 * c / hz / d : 0 }')
  if [ "$(kv "$line" events)" = 0 ] && [ "$(kv "$line" other)" != 0 ]; then
    log "$name sent $(kv "$line" other) frames that are not events (wsload -v shows them): is $RELAY_BIN a clean build?"
    exit 1
  fi
  R[$name.subs_ok]=$(kv "${WLREADY[$name]}" connected)
  R[$name.lat_p50]=$(kv "$line" p50_ms)
  R[$name.lat_p99]=$(kv "$line" p99_ms)
  R[$name.lat_max]=$(kv "$line" max_ms)
  R[$name.lat_first]="$(kv "$line" first_p50_ms) / $(kv "$line" first_p99_ms)"
  R[$name.lat_spread]="$(kv "$line" spread_p50_ms) / $(kv "$line" spread_p99_ms)"
  R[$name.lat_frame]=$(awk -v b="$(kv "$line" bytes)" -v e="$(kv "$line" events)" 'BEGIN { printf "%d", e ? b / e : 0 }')
  # sums over the rounds of MODE=deflate: relay CPU, deliveries, wire bytes
  R[$name.sum_ticks]=$(( ${R[$name.sum_ticks]:-0} + r2 - r0 ))
  R[$name.sum_events]=$(( ${R[$name.sum_events]:-0} + $(kv "$line" events) ))
  R[$name.sum_wire]=$(( ${R[$name.sum_wire]:-0} + $(kv "$line" wire_bytes) ))
  R[$name.sum_bytes]=$(( ${R[$name.sum_bytes]:-0} + $(kv "$line" bytes) ))
  deflate_md+="| $name | $(kv "$line" events) / $(( $(kv "$w" n) * SUBS )) | $(awk -v c="$((r2 - r0))" -v hz="$hz" -v d="$(kv "$line" events)" 'BEGIN { printf "%.2f", d ? 1e6 * c / hz / d : 0 }') | $(awk -v b="$(kv "$line" wire_bytes)" -v e="$(kv "$line" events)" 'BEGIN { printf "%d", e ? b / e : 0 }') | ${R[$name.lat_cpu_pct]} | ${R[$name.lat_load_cpu_pct]} | $(kv "$line" p50_ms) | $(kv "$line" p99_ms) |"$'\n'
  R[$name.lat_complete]=$(awk -v d="$(kv "$line" events)" -v x="$(( $(kv "$w" n) * SUBS ))" 'BEGIN { printf "%.2f", x ? 100 * d / x : 0 }')
  sweep_row "$SUBS" "$line" "$w"
  if [ $drained = no ]; then
    # still behind: new connections, so no backlog spills into the steps
    log "  $name: backlog left after ${DRAIN_MAX}s: reconnecting its subscribers"
    stop_load
    start_load "$SUBS" "$name-1k-steps"
  fi
}

# 2. one rate step for the current relay; clears STEPPING when it is done
step_one() {
  local name=$CUR rate=$1 w line written expected delivered p99 ok
  w=$(write_events "$rate" "$STEP_SECS")
  written=$(kv "$w" n)
  expected=$((written * SUBS))
  drain "$expected" "$DRAIN_MAX" || true
  line=$(window)
  delivered=$(kv "$line" events)
  p99=$(kv "$line" p99_ms)
  ok=$(awk -v p="$p99" -v lim="$STEP_P99_MS" -v d="$delivered" -v x="$expected" \
    -v wr="$(kv "$w" rate)" -v r="$rate" -v c="$(kv "$line" closes)" \
    'BEGIN { print (p <= lim && d >= 0.99 * x && c == 0) ? (wr >= 0.95 * r ? "yes" : "writer") : "no" }')
  log "  $name rate $rate (attempt ${ATTEMPT[$name]}): written $(kv "$w" rate)/s, p50 $(kv "$line" p50_ms) ms, p99 $p99 ms, delivered $delivered/$expected, closes $(kv "$line" closes) -> $ok"
  steps_md+="| $name | $rate | ${ATTEMPT[$name]} | $(kv "$w" rate) | $(kv "$line" p50_ms) | $p99 | $(kv "$line" max_ms) | $delivered / $expected | $(kv "$line" span_rate) | $(kv "$line" closes) | $ok |"$'\n'
  if [ "$ok" = yes ]; then
    R[$name.step_rate]=$(kv "$w" rate) R[$name.step_deliveries]=$(kv "$line" span_rate)
    ATTEMPT[$name]=done
  elif [ "$ok" = writer ]; then
    R[$name.step_note]=" (writer-limited at $rate/s)"
    STEPPING[$name]=0
  elif [ "${ATTEMPT[$name]}" = 1 ]; then
    ATTEMPT[$name]=2      # one retry: a neighbour's job can spoil one step
  else
    STEPPING[$name]=0
  fi
}

# 3. fresh relay: idle RSS per connection, then fan-out to FAN_SUBS
fanout_phase() {
  local name=$CUR w line rss0 rss1 t0 t1 m0 m1 wt0 wt1 c0 c1 wall span delivered expected perf_pid=""
  log "  $name: $FAN_SUBS subscribers, $FAN_EVENTS events at $FAN_RATE events/s"
  rss0=$(rss_kb "$RELAY_PID")
  start_load "$FAN_SUBS" "$name-10k"
  R[$name.fan_subs_ok]=$(kv "${WLREADY[$name]}" connected)
  sleep 3
  rss1=$(rss_kb "$RELAY_PID")
  R[$name.rss0]=$rss0
  R[$name.rss1]=$rss1
  R[$name.rss_per_conn]=$(awk -v a="$rss0" -v b="$rss1" -v n="${R[$name.fan_subs_ok]}" 'BEGIN { printf "%.2f", n ? (b - a) / n : 0 }')
  log "  RSS ${rss0} kB -> ${rss1} kB with ${R[$name.fan_subs_ok]} connections: ${R[$name.rss_per_conn]} kB each"
  window >/dev/null
  if [ "$PERF" = 1 ]; then
    perf record -g -o "$OUT/$name.perf.data" -p "$RELAY_PID" >/dev/null 2>&1 &
    perf_pid=$!
    pids+=("$perf_pid")
    sleep 0.5
  fi
  c0=$(ticks "$RELAY_PID") wt0=$(ticks "$WL_PID") t0=$(date +%s.%N) m0=$(machine_ticks)
  w=$(write_events "$FAN_RATE" "$(awk -v e="$FAN_EVENTS" -v r="$FAN_RATE" 'BEGIN { print e / r }')")
  expected=$(( $(kv "$w" n) * ${R[$name.fan_subs_ok]} ))
  drain "$expected" "$DRAIN_MAX" || true
  c1=$(ticks "$RELAY_PID") wt1=$(ticks "$WL_PID") t1=$(date +%s.%N) m1=$(machine_ticks)
  line=$(window)
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    forget_pid "$perf_pid"
  fi
  log "  $w"
  log "  $line"
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  # from the first commit to the last delivery
  span=$(awk -v f="$(kv "$line" min_sent_us)" -v l="$(kv "$line" last_recv_us)" 'BEGIN { print (l - f) / 1e6 }')
  delivered=$(kv "$line" events)
  R[$name.fan_delivered]="$delivered / $expected"
  R[$name.fan_rate]=$(awk -v d="$delivered" -v s="$span" 'BEGIN { printf "%d", (s > 0 ? d / s : 0) }')
  R[$name.fan_p50]=$(kv "$line" p50_ms)
  R[$name.fan_p99]=$(kv "$line" p99_ms)
  R[$name.fan_closes]=$(kv "$line" closes)
  R[$name.fan_cpu]=$(awk -v c="$((c1 - c0))" -v hz="$hz" 'BEGIN { printf "%.2f", c / hz }')
  R[$name.fan_cpu_pct]=$(pct "$((c1 - c0))" "$t0" "$t1")
  R[$name.fan_cpu_us]=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v d="$delivered" 'BEGIN { printf "%.2f", d ? 1e6 * c / hz / d : 0 }')
  R[$name.fan_load_cpu_pct]=$(pct "$((wt1 - wt0))" "$t0" "$t1")
  R[$name.fan_other_cpu_pct]=$(pct "$((m1 - m0 - (c1 - c0) - (wt1 - wt0)))" "$t0" "$t1")
  stop_load
}

if [ "$MODE" = deflate ]; then
  deflate_mode
  exit 0
fi

# Phases 0-2 run both relays side by side and alternate between them, so a
# neighbour's job on this shared machine spoils both alike, not one.
compare_phases() {
log "== latency and rate steps, relays alternating: $RELAYS"
for relay in $RELAYS; do start_relay "$relay"; done
for n in $LAT_SWEEP; do
  for relay in $RELAYS; do use "$relay"; sweep_one "$n"; done
done
for relay in $RELAYS; do use "$relay"; start_load "$SUBS" "$relay-1k"; done
for relay in $RELAYS; do use "$relay"; latency_phase; done
[ "$LATENCY_ONLY" = 1 ] && STEP_RATES=""
[ -n "$STEP_RATES" ] && log "  steps: $SUBS subscribers, ${STEP_SECS}s per rate, until p99 > ${STEP_P99_MS} ms"
for relay in $RELAYS; do STEPPING[$relay]=1 R[$relay.step_rate]=0 R[$relay.step_deliveries]=0; done
for rate in $STEP_RATES; do
  for relay in $RELAYS; do ATTEMPT[$relay]=1; done
  for attempt in 1 2; do
    for relay in $RELAYS; do
      [ "${STEPPING[$relay]}" = 1 ] && [ "${ATTEMPT[$relay]}" = "$attempt" ] || continue
      use "$relay"
      step_one "$rate"
    done
  done
  any=0
  for relay in $RELAYS; do [ "${STEPPING[$relay]}" = 1 ] && any=1; done
  [ $any = 1 ] || break
done
for relay in $RELAYS; do use "$relay"; stop_load; stop_relay; done
sleep 1

# 3. one relay at a time, each freshly started: memory freed by the phases
# before would hide what new connections cost
for relay in $RELAYS; do
  [ "$LATENCY_ONLY" = 1 ] && break
  log "== fan-out: $relay"
  start_relay "$relay"
  fanout_phase
  stop_relay
  sleep 1
done
}

# 4. per-user fan-out (pg_realtime only): the same relay, 1,000 subscribers
# each authenticated as another user (user uI of team t(I/TEAM)), against
# guests with the same fan-out, alternating case by case; rows of the same
# table for both (read("any") for guests).  Guests get a
# fan-out below 1,000 by subscribing the others to a channel no event has,
# so both walk 1,000 connections the way the relay did before its index.
users_md=""
# relay CPU in ns (schedstat: finer than clock ticks)
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }

mint_tokens() {
  node -e '
    const crypto = require("crypto");
    const [secret, n, team] = process.argv.slice(1);
    const b64 = (x) => Buffer.from(JSON.stringify(x)).toString("base64url");
    const head = b64({ alg: "HS256", typ: "JWT" });
    const exp = Math.floor(Date.now() / 1000) + 86400;
    for (let i = 0; i < +n; i++) {
      const input = head + "." + b64({ sub: "u" + i, teams: ["t" + Math.floor(i / +team)], exp });
      console.log(input + "." + crypto.createHmac("sha256", secret).update(input).digest("base64url"));
    }' "$BENCH_SECRET" "$USERS" "$TEAM" >"$OUT/tokens.txt"
}

# user_case KIND FANOUT EVENTS RATE: one measurement; sets UC (a result line)
user_case() {
  local kind=$1 fan=$2 events=$3 rate=$4 other="" w line c0 c1 expected delivered perm mod
  if [ "$kind" = guest ]; then
    start_load "$fan" "users-$kind-$fan"
    if [ "$fan" -lt "$USERS" ]; then
      "${load_pin[@]}" "$OUT/wsload" -p "$PORT" -c $((USERS - fan)) -s 4 \
        -u '/v1/realtime?project=bench&channels[]=files' >"$OUT/users-idle.wsload" 2>&1 &
      other=$!
      pids+=("$other")
      wait_line "$OUT/users-idle.wsload" '^ready' 120 || { log "idle load client never got ready"; return 1; }
    fi
  else
    start_load "$USERS" "users-$kind-$fan" -A "$OUT/tokens.txt"
  fi
  # the same table for both, so that frames are alike: rows readable by
  # "any" for guests, by the case's roles for users
  case $kind:$fan in
    guest:*) perm='read("any")' mod=1 ;;
    user:"$USERS") perm='read("users")' mod=1 ;;
    user:1) perm='read("user:u%d")' mod=$USERS ;;
    user:*) perm='read("team:t%d")' mod=$((USERS / fan)) ;;
  esac
  window >/dev/null
  c0=$(cpu_ns "$RELAY_PID")
  w=$("${load_pin[@]}" "$OUT/writer" -r "$rate" -t "$(awk -v e="$events" -v r="$rate" 'BEGIN { print e / r }')" \
    -b "$PAYLOAD_BYTES" -T public.uticks -P "$perm" -m "$mod" "$conninfo options=-cpg_realtime.channel=${CH[$CUR]}")
  expected=$(( $(kv "$w" n) * fan ))
  drain "$expected" "$DRAIN_MAX" || true
  c1=$(cpu_ns "$RELAY_PID")
  line=$(window)
  delivered=$(kv "$line" events)
  UC="delivered=$delivered expected=$expected rate=$(kv "$line" span_rate) p50=$(kv "$line" p50_ms) p99=$(kv "$line" p99_ms)"
  UC+=" cpu_us=$(awk -v c="$((c1 - c0))" -v d="$delivered" 'BEGIN { printf "%.2f", d ? c / 1000 / d : 0 }')"
  UC+=" event_us=$(awk -v c="$((c1 - c0))" -v n="$(kv "$w" n)" 'BEGIN { printf "%.1f", n ? c / 1000 / n : 0 }')"
  log "  $kind, fan-out $fan: $UC"
  stop_load
  [ -n "$other" ] && stop_pid "$other"
  return 0
}

users_phase() {
  local fan events rate rep g u best_g best_u
  log "== per-user fan-out: $USERS subscribers, teams of $TEAM"
  mint_tokens
  start_relay pg_realtime
  for spec in "$USERS:${USERS_EVENTS_ALL:-200}:400" "$TEAM:${USERS_EVENTS_TEAM:-1000}:2000" "1:${USERS_EVENTS_ONE:-3000}:3000"; do
    IFS=: read -r fan events rate <<<"$spec"
    best_g="" best_u=""
    for rep in $(seq 1 "$USERS_REPEAT"); do
      # alternate which goes first, so drift over time spoils both alike
      if [ $((rep % 2)) = 1 ]; then
        user_case guest "$fan" "$events" "$rate"; g=$UC
        user_case user "$fan" "$events" "$rate"; u=$UC
      else
        user_case user "$fan" "$events" "$rate"; u=$UC
        user_case guest "$fan" "$events" "$rate"; g=$UC
      fi
      users_md+="| $fan | $rep | $(kv "$g" rate) | $(kv "$u" rate) | $(kv "$g" cpu_us) | $(kv "$u" cpu_us) | $(kv "$g" event_us) | $(kv "$u" event_us) | $(kv "$g" p99) / $(kv "$u" p99) | $(kv "$g" delivered)/$(kv "$g" expected), $(kv "$u" delivered)/$(kv "$u" expected) |"$'\n'
      # the best of the repeats for each (least disturbed by neighbours)
      [ -z "$best_g" ] || awk -v a="$(kv "$g" cpu_us)" -v b="$(kv "$best_g" cpu_us)" 'BEGIN { exit !(a < b) }' && best_g=$g
      [ -z "$best_u" ] || awk -v a="$(kv "$u" cpu_us)" -v b="$(kv "$best_u" cpu_us)" 'BEGIN { exit !(a < b) }' && best_u=$u
    done
    R[users.$fan.g]=$best_g R[users.$fan.u]=$best_u
  done
  stop_relay
}

for phase in $PHASES; do
  case $phase in
    compare) compare_phases ;;
    users) users_phase ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
busy_end=$(cpu_busy 2)

# --- report -----------------------------------------------------------------
has_both=0
[[ " $RELAYS " == *" pg_realtime "* && " $RELAYS " == *" $BASELINE "* ]] && has_both=1
get() { echo "${R[$1]:-n/a}"; }
ratio() {
  [ $has_both = 1 ] || { echo "n/a"; return; }
  awk -v a="$(get "pg_realtime.$1")" -v b="$(get "$BASELINE.$1")" \
    'BEGIN { if (b + 0 > 0 && a != "n/a") printf "%.2f", a / b; else print "n/a" }'
}
row() { # label metric [target text, op, limit, value to check]
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$(get "pg_realtime.$2")" "$(get "$BASELINE.$2")" "$(ratio "$2")" "${3:-}"
}
pg_p99=$(get pg_realtime.lat_p99)
fan_ratio=$(ratio fan_rate)
step_ratio=$(ratio step_deliveries)
rss=$(get pg_realtime.rss_per_conn)
pin_text="no pinning"
[ "$PIN" = 1 ] && pin_text="relay pinned to CPU $RELAY_CPU; load client, writer and PostgreSQL to CPU $LOAD_CPU"

{
  if [ "$BASELINE" = node ]; then
    echo "# Relay benchmark: pg_realtime vs the tutorial Node relay"
  else
    echo "# Relay benchmark: pg_realtime vs ${LABEL[$BASELINE]}"
  fi
  echo
  echo "- command: \`${env_line}${command_line}\`"
  echo "- date: $started; $(uname -sr); nproc $ncpu; load average $load_start at start, $load_end at end"
  echo "- $pin_text"
  echo "- machine CPU busy before the benchmark started its processes: ${busy_start}% of $ncpu CPUs (${others_start:-nothing else above 5%}); after: ${busy_end}%"
  echo "- pg_realtime_relay: \`$RELAY_BIN\` (built ${relay_built:-?}, sha256 ${relay_sum:-?}; repository at $(git -C "$root" log -1 --format=%h 2>/dev/null || echo '?')); Node $(node --version 2>/dev/null || echo n/a) with pg $(cd "$here/node-baseline" && node -p 'require("pg/package.json").version' 2>/dev/null || echo n/a), ws $(cd "$here/node-baseline" && node -p 'require("ws/package.json").version' 2>/dev/null || echo n/a)"
  echo "- the load client shares the machine with the relay (see README.md: method)"
  if [[ " $PHASES " == *" compare "* ]]; then
  echo
  echo "| metric | pg_realtime | ${LABEL[$BASELINE]} | pg_realtime / ${LABEL[$BASELINE]} | target |"
  echo "|---|---:|---:|---:|---|"
  row "latency p50 (ms), $SUBS subs × $LAT_RATE ev/s" lat_p50
  row "latency p99 (ms), $SUBS subs × $LAT_RATE ev/s" lat_p99 "< 5 ms: $(verdict "$pg_p99" '<' 5)"
  row "latency max (ms), same" lat_max
  row "… first subscriber's latency p50 / p99 (ms)" lat_first
  row "… fan-out spread, first to last subscriber, p50 / p99 (ms)" lat_spread
  row "… relay CPU (% of one core)" lat_cpu_pct
  row "… relay CPU per delivery (µs)" lat_cpu_us
  row "… load client CPU (% of one core)" lat_load_cpu_pct
  row "… other processes' CPU (% of one core; PostgreSQL, writer, anything else)" lat_other_cpu_pct
  row "deliveries complete (%), same" lat_complete
  row "event frame (bytes)" lat_frame
  row "max sustained rate, $SUBS subs, p99 ≤ ${STEP_P99_MS} ms (ev/s)" step_rate
  row "… as deliveries/s" step_deliveries "≥ 5×: $(verdict "$step_ratio" '>=' 5)"
  row "fan-out to $FAN_SUBS subs: deliveries/s" fan_rate "≥ 5×: $(verdict "$fan_ratio" '>=' 5)"
  row "… delivered / expected" fan_delivered
  row "… p99 commit-to-receipt (ms)" fan_p99
  row "… relay CPU (s)" fan_cpu
  row "… relay CPU (% of one core)" fan_cpu_pct
  row "… relay CPU per delivery (µs)" fan_cpu_us
  row "… load client CPU (% of one core)" fan_load_cpu_pct
  row "… other processes' CPU (% of one core)" fan_other_cpu_pct
  row "… connections cut off" fan_closes
  row "idle RSS per connection at $FAN_SUBS (KB)" rss_per_conn "< 8 KB: $(verdict "$rss" '<' 8)"
  row "… relay RSS with them open (kB)" rss1
  row "… connections open / asked" fan_subs_ok
  echo
  echo "Latency by subscriber count at $LAT_RATE events/s (first = first subscriber's latency; spread = last − first subscriber, per event):"
  echo
  echo "| relay | subscribers | p50 ms | p99 ms | max ms | first p50 / p99 ms | spread p50 / p99 ms | delivered / expected |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s' "$sweep_md"
  echo
  echo "Rate steps ($SUBS subscribers, ${STEP_SECS} s each; pass = p99 ≤ ${STEP_P99_MS} ms, ≥ 99 % delivered, no cut-offs; a failed step is tried once more):"
  echo
  echo "| relay | target ev/s | attempt | written ev/s | p50 ms | p99 ms | max ms | delivered / expected | deliveries/s | cut off | pass |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  printf '%s' "$steps_md"
  for n in pg_realtime $BASELINE; do
    [ -n "${R[$n.step_note]:-}" ] && echo && echo "$n:${R[$n.step_note]}"
  done
  echo
  echo "Fan-out p50 for reference: pg_realtime $(get pg_realtime.fan_p50) ms, ${LABEL[$BASELINE]} $(get "$BASELINE.fan_p50") ms; RSS before: pg_realtime $(get pg_realtime.rss0) kB, ${LABEL[$BASELINE]} $(get "$BASELINE.rss0") kB."
  fi
  if [[ " $PHASES " == *" users "* ]]; then
    echo
    echo "## Per-user fan-out (pg_realtime)"
    echo
    echo "$USERS subscribers each authenticated as another user (teams of $TEAM), against guests with the same fan-out in the same relay, alternating (guests below $USERS: the others subscribed to a channel no event has). Best of $USERS_REPEAT by relay CPU per delivery; target: users ≥ 0.8× guests in deliveries/s and ≤ 1.25× in CPU per delivery."
    echo
    echo "| events readable by | fan-out | guests deliveries/s | users deliveries/s | users / guests | guests CPU/delivery µs | users CPU/delivery µs | guests / users (CPU) | target |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for spec in "$USERS:users (all $USERS)" "$TEAM:one team (team:tK)" "1:one user (user:uK)"; do
      fan=${spec%%:*} label=${spec#*:}
      g=${R[users.$fan.g]:-} u=${R[users.$fan.u]:-}
      awk -v l="$label" -v f="$fan" -v gr="$(kv "$g" rate)" -v ur="$(kv "$u" rate)" -v gc="$(kv "$g" cpu_us)" -v uc="$(kv "$u" cpu_us)" 'BEGIN {
        rr = gr > 0 ? ur / gr : 0; cr = uc > 0 ? gc / uc : 0
        printf "| %s | %s | %s | %s | %.2f× | %s | %s | %.2f× | %s |\n", l, f, gr, ur, rr, gc, uc, cr, (rr >= 0.8 && cr >= 0.8) ? "met" : "**missed**" }'
    done
    echo
    echo "Every measurement (relay CPU per event in µs; p99 commit-to-receipt in ms):"
    echo
    echo "| fan-out | run | guests deliveries/s | users deliveries/s | guests CPU/delivery µs | users CPU/delivery µs | guests CPU/event µs | users CPU/event µs | p99 guests / users | delivered/expected guests, users |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    printf '%s' "$users_md"
  fi
} >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
cat "$RESULTS"
