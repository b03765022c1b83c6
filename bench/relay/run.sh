#!/usr/bin/env bash
# bench/relay/run.sh - pg_realtime's relay against the tutorial Node relay
#
# One run measures both relays the same way (README.md explains the method):
#   1. latency: 1,000 subscribers, steady LAT_RATE events/s
#   2. steps:   1,000 subscribers, rate stepped up until p99 > 50 ms
#   3. fan-out: 10,000 subscribers, idle RSS per connection, then a stream
#      of events: deliveries/s and relay CPU
# and writes results.md (and stdout).  Everything it starts is stopped on exit.
#
#   bench/relay/run.sh                      # ~6-10 minutes
#   QUICK=1 bench/relay/run.sh              # a smoke run, ~2 minutes
#   RELAYS="pg_realtime" bench/relay/run.sh  # one relay only (no ratios)
#   RELAYS="pg_realtime pg_realtime_plain" BASELINE=pg_realtime_plain bench/relay/run.sh
#                                           # sealed events against plaintext
#                                           # ones (pg_realtime.seal = off)
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
WAL_PORT=${WAL_PORT:-18786}
LATENCY_ONLY=${LATENCY_ONLY:-0}           # 1: phases 0 and 1 only
PG_PORT=${PG_PORT:-55495}
RELAY_PORT=${RELAY_PORT:-18787}
NODE_PORT=${NODE_PORT:-18788}
RELAY_BIN=${RELAY_BIN:-$(pg_config --bindir)/pg_realtime_relay}
OUT=${OUT:-$here/out}
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
if [ "${QUICK:-0}" = 1 ]; then
  LAT_SECS=${LAT_SECS_QUICK:-5} STEP_SECS=3 STEP_RATES="20 100 300 1000 3000" LAT_SWEEP_SECS=3
  FAN_SUBS=${FAN_SUBS_QUICK:-2000} FAN_EVENTS=${FAN_EVENTS_QUICK:-50} DRAIN_MAX=30
fi
command_line="$0 $*"
env_line=$(env | grep -E '^(LATENCY_ONLY|RESULTS|RELAYS|BASELINE|PG_PORT|RELAY_PORT|NODE_PORT|RELAY_BIN|PAYLOAD_BYTES|SUBS|LAT_RATE|LAT_SECS|LAT_SWEEP|LAT_SWEEP_SECS|STEP_RATES|STEP_SECS|STEP_P99_MS|FAN_SUBS|FAN_RATE|FAN_EVENTS|DRAIN_MAX|PIN|RELAY_CPU|LOAD_CPU|PERF|QUICK)=' | sort | tr '\n' ' ' || true)

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
use() {
  CUR=$1
  RELAY_PID=${RP[$1]:-} PORT=${RPORT[$1]:-} WL_PID=${WLP[$1]:-} WL_OUT=${WLO[$1]:-}
}

# start_load CONNS TAG: the current relay's load client
start_load() {
  local out=$OUT/$2.wsload sources=$(( ($1 + 9999) / 10000 * 4 ))
  : >"$out"
  "${load_pin[@]}" "$OUT/wsload" -p "$PORT" -c "$1" -s "$sources" >"$out" 2>"$out.err" &
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
  case $1 in
  pg_realtime)
    "${relay_pin[@]}" "$OUT/pg_realtime_relay" --port "$RELAY_PORT" --listen-addresses 127.0.0.1 \
      --channel "${CH[$1]}" --max-connections $((FAN_SUBS + 1000)) "$conninfo" >>"$OUT/$1.log" 2>&1 &
    RP[$1]=$! RPORT[$1]=$RELAY_PORT
    ;;
  pg_realtime_plain)
    "${relay_pin[@]}" "$OUT/pg_realtime_relay" --port "$PLAIN_PORT" --listen-addresses 127.0.0.1 \
      --channel "${CH[$1]}" --max-connections $((FAN_SUBS + 1000)) \
      "$conninfo options=-cpg_realtime.seal=off" >>"$OUT/$1.log" 2>&1 &
    RP[$1]=$! RPORT[$1]=$PLAIN_PORT
    ;;
  pg_realtime_wal)
    "${relay_pin[@]}" "$OUT/pg_realtime_relay" --port "$WAL_PORT" --listen-addresses 127.0.0.1 \
      --transport wal --slot-name bench_wal --max-connections $((FAN_SUBS + 1000)) \
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

# --- phases -----------------------------------------------------------------
declare -A R     # R[relay.metric]
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
  r2=$(ticks "$RELAY_PID")
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

# Phases 0-2 run both relays side by side and alternate between them, so a
# neighbour's job on this shared machine spoils both alike, not one.
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
# verdict VALUE OP LIMIT: met, **missed** or n/a
verdict() {
  case $1 in n/a | "") echo n/a; return ;; esac
  awk -v v="$1" -v lim="$3" "BEGIN { r = (v $2 lim) ? \"met\" : \"**missed**\"; print r }"
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
} >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
cat "$RESULTS"
