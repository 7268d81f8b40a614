#!/usr/bin/env bash
# A fleet of simulated nodes over real HTTP against one gantry server. See --help.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
Usage: bench/fleet.sh [-h] [--] [SERVER-ARG...]

Starts `gantry server` (the NativeAOT release build) on a free loopback port with a temporary data
dir, and drives a fleet of simulated 8-GPU nodes against it over HTTP from one process
(bench/Gantry.FleetBench: heartbeats go over its own lean HTTP/1.1 client, one thread driving a
fixed pool of keep-alive connections with epoll, requests encoded in advance, so that the driver
takes little of the CPU it shares with the server). Each node registers with the join token and
heartbeats with its own credential every interval, spread evenly; the schedule is open-loop, so
latency counts from each heartbeat's due time and a server that falls behind shows up as latency,
not as a lower rate. Two runs, each against a fresh server:

  small  NODES nodes (default 10,000): steady, blip, placement
  large  NODES_LARGE nodes (default 25,000): steady, blip

  register   rate over the whole registration and per 1,000 nodes (the registered nodes are
             already heartbeating meanwhile)
  steady     DURATION seconds of heartbeats: achieved rate, latency p50/p99/max, server CPU and RSS
  blip       every node silent for BLIP_PAUSE seconds (default 3 intervals, past the lease of 2,
             so the server marks them suspect; DOWN_AFTER is raised so that none goes down), then
             all of them at once: latency of that burst, time until every node was answered
             "ready" and until /metrics counted them all ready, whether nodes went suspect again
             (heartbeats answered later than the lease) and when the fleet settled, and the
             latency of the schedule after the burst (RECOVERY seconds, longer until settled)
  placement  `gantry jobs submit --array 1-JOBS --gpus 1 --cpus 0 -- true` while the fleet
             heartbeats; placements/s from gantry_server_placements_total (/metrics, admin token)
             until it stops rising (NODES x 8 GPUs hold 80,000 of the 100,000: simulated nodes never
             run or end a job)

During each phase the driver samples the server's CPU (utime+stime, /proc/PID/stat), its peak RSS
(VmRSS), its own CPU, the machine's busy share and the load average. The table (Markdown, stdout;
progress on stderr) gives each figure against its target: 25,000 nodes every 5 s (5,000/s) with
p99 < 50 ms, and 10,000 nodes with 100,000 pending placing >= 1,000 jobs/s.

Arguments are passed to `gantry server` after the script's own (--listen, --data-dir, --join-token,
--heartbeat-interval, --down-after), e.g. `bench/fleet.sh --store postgres://gantry@db/bench`.
A PostgreSQL database must be empty at each run's start: run one at a time (RUNS=small, then
RUNS=large) against a fresh database each.

Environment (defaults in brackets; scale down for development):
  GANTRY_BENCH_BINARY  gantry binary to test [build: dotnet publish src/Gantry -c Release -r linux-x64
                       -p:PublishAot=true -o artifacts/bench/gantry]
  RUNS                 small, large or small,large [small,large]
  NODES / NODES_LARGE  nodes of the small / large run [10000 / 25000]
  GPUS                 GPUs per node [8]
  DURATION             seconds of the steady phase [60]
  JOBS                 array size of the placement phase [100000]
  HEARTBEAT_INTERVAL   the server's --heartbeat-interval [5s]
  DOWN_AFTER           the server's --down-after [60s; its default, 20s, is too short for a blip
                       of 3 intervals plus the time the fleet takes to come back]
  BLIP_PAUSE           seconds of silence in the blip [3 intervals]
  RECOVERY             seconds measured after the blip's burst [3 intervals]
  CONNECTIONS          keep-alive connections for the driver's heartbeats [128]
  REGISTER_PARALLEL    registrations in flight [16]
  SCENARIOS            the scenarios of every run, e.g. placement [each run's list above]
  PERF                 1: perf record the server during each run (with PERF_ARGS, default
                       "-F 199 -g"; "-F 49 --call-graph dwarf" sees through libe_sqlite3), perf
                       report in the kept directory [0]
  OUT                  also write the Markdown report to this file
  KEEP                 1: keep the temporary directory (server logs, raw results) [0]

Needs curl, awk, coreutils and the .NET SDK (the driver, and the binary unless given). The driver
and the server share the machine: the table gives the driver's CPU and the machine's load, and
the time from due to request start says how late the driver itself started heartbeats (plus, for
a heartbeat that fell due while its node's previous one was unanswered, the wait for that
answer). Not simulated: the assignment long poll each real agent keeps open (one connection per
node; 25,000 of them would exceed the open-files limit of 20,000 per process here), and jobs
running (nothing starts or ends).
EOF
}

die() { echo "fleet: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
[[ ${1:-} == -- ]] && shift
SERVER_ARGS=("$@")

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-small,large}
NODES=${NODES:-10000}
NODES_LARGE=${NODES_LARGE:-25000}
GPUS=${GPUS:-8}
DURATION=${DURATION:-60}
JOBS=${JOBS:-100000}
HEARTBEAT_INTERVAL=${HEARTBEAT_INTERVAL:-5s}
DOWN_AFTER=${DOWN_AFTER:-60s}
BLIP_PAUSE=${BLIP_PAUSE:-}
RECOVERY=${RECOVERY:-}
CONNECTIONS=${CONNECTIONS:-128}
REGISTER_PARALLEL=${REGISTER_PARALLEL:-16}
SCENARIOS=${SCENARIOS:-}
PERF=${PERF:-0}
read -r -a PERF_ARGS <<<"${PERF_ARGS:--F 199 -g}"
OUT=${OUT:-}
KEEP=${KEEP:-0}
for v in NODES NODES_LARGE GPUS DURATION JOBS CONNECTIONS REGISTER_PARALLEL; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive whole number, got '${!v}'"
done
[[ $RUNS =~ ^(small|large)(,(small|large))?$ ]] || die "RUNS must be small, large or small,large, got '$RUNS'"
for tool in curl awk dotnet; do command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH"; done
[[ -r /proc/self/stat ]] || die "/proc is needed (Linux only)"

# Each connection is a file descriptor on both sides; registration and /metrics add a few.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] || (( CONNECTIONS + 100 <= NOFILE )) \
  || die "CONNECTIONS=$CONNECTIONS needs more open files than the limit ($NOFILE, hard $(ulimit -Hn))"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gantry-fleet-bench.XXXXXX")
SERVER_PID=""
PERF_PID=""
stop_pid() {  # PID: TERM, up to 15 s, then KILL
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  [[ -n $PERF_PID ]] && { kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; }
  [[ -n $SERVER_PID ]] && stop_pid "$SERVER_PID"
  if (( KEEP )); then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build
GANTRY=${GANTRY_BENCH_BINARY:-}
if [[ -z $GANTRY ]]; then
  GANTRY=$REPO/artifacts/bench/gantry/gantry
  log "building gantry: dotnet publish src/Gantry -c Release -r linux-x64 -p:PublishAot=true (NativeAOT, minutes)"
  dotnet publish "$REPO/src/Gantry" -c Release -r linux-x64 -p:PublishAot=true -o "$REPO/artifacts/bench/gantry" \
    >"$WORK/publish.log" 2>&1 || { tail -n 30 "$WORK/publish.log" >&2; die "dotnet publish failed"; }
fi
[[ -x $GANTRY ]] || die "gantry binary '$GANTRY' is missing or not executable"
"$GANTRY" server --help 2>&1 | grep -q -- --heartbeat-interval || die "'$GANTRY server' has no --heartbeat-interval"
GANTRY_VERSION=$("$GANTRY" --version 2>/dev/null | head -n 1 || echo unknown)
log "building the driver: dotnet build bench/Gantry.FleetBench -c Release"
dotnet build "$REPO/bench/Gantry.FleetBench" -c Release -nologo -clp:ErrorsOnly -v:q >"$WORK/driver-build.log" 2>&1 \
  || { tail -n 30 "$WORK/driver-build.log" >&2; die "building the driver failed"; }
DRIVER=$REPO/bench/Gantry.FleetBench/bin/Release/net10.0/Gantry.FleetBench.dll

port_listening() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v h="$hex" '$4 == "0A" && toupper(substr($2, length($2) - 4)) == h { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
pick_port() {
  local p
  for _ in $(seq 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    port_listening "$p" || { echo "$p"; return 0; }
  done
  die "no free loopback port found"
}

# run NAME NODES SCENARIOS: a fresh server, the driver, the server stopped; figures in $WORK/NAME.results
run() {
  local name=$1 nodes=$2 scenarios=$3 dir=$WORK/$1 port url token i
  mkdir -p "$dir/data"
  port=$(pick_port)
  url=http://127.0.0.1:$port
  token=gjoin_fleet-bench-$RANDOM$RANDOM$RANDOM
  log "$name: gantry server on $url (--heartbeat-interval $HEARTBEAT_INTERVAL --down-after $DOWN_AFTER${SERVER_ARGS[*]:+ ${SERVER_ARGS[*]}})"
  "$GANTRY" server --listen "127.0.0.1:$port" --data-dir "$dir/data" --join-token "$token" \
    --heartbeat-interval "$HEARTBEAT_INTERVAL" --down-after "$DOWN_AFTER" ${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"} \
    >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  for i in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$dir/server.log" >&2; die "$name: gantry server exited during start-up"; }
    [[ -s $dir/data/admin.token ]] && curl -fs -o /dev/null --max-time 2 "$url/readyz" && break
    (( i < 300 )) || die "$name: gantry server not ready within 30 s"
    sleep 0.1
  done
  if (( PERF )); then
    command -v perf >/dev/null 2>&1 || die "PERF=1 needs perf"
    perf record "${PERF_ARGS[@]}" -p "$SERVER_PID" -o "$dir/perf.data" >"$dir/perf.log" 2>&1 &
    PERF_PID=$!
  fi
  local args=(--server "$url" --join-token "$token" --admin-token "$(<"$dir/data/admin.token")"
    --nodes "$nodes" --gpus "$GPUS" --connections "$CONNECTIONS" --register-parallel "$REGISTER_PARALLEL"
    --scenarios "$scenarios" --duration "$DURATION" --jobs "$JOBS" --gantry "$GANTRY"
    --server-pid "$SERVER_PID" --results "$WORK/$name.results")
  [[ -n $BLIP_PAUSE ]] && args+=(--blip-pause "$BLIP_PAUSE")
  [[ -n $RECOVERY ]] && args+=(--recovery "$RECOVERY")
  dotnet "$DRIVER" "${args[@]}" || die "$name: the driver failed (server log: $dir/server.log; KEEP=1 keeps it)"
  if [[ -n $PERF_PID ]]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
  fi
  stop_pid "$SERVER_PID"
  SERVER_PID=""
  if [[ -f $dir/perf.data ]]; then
    perf report -i "$dir/perf.data" --stdio --children -g none --sort sym --percent-limit 0.5 >"$dir/perf.txt" 2>/dev/null || true
    log "$name: perf report in $dir/perf.txt"
  fi
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
[[ $RUNS == *small* ]] && run small "$NODES" "${SCENARIOS:-steady,blip,placement}"
[[ $RUNS == *large* ]] && run large "$NODES_LARGE" "${SCENARIOS:-steady,blip}"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
get() {  # RUN KEY -> value, or "–"
  local f=$WORK/$1.results v=""
  [[ -f $f ]] && v=$(awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$f")
  echo "${v:-–}"
}
verdict() {  # VALUE OP LIMIT
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v == "–" || v == "" || v == "never") { print "–"; exit }
    ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 < l + 0)
    print ok ? "**met**" : "**not met**" }'
}
rate_target() {  # NODES -> heartbeats/s the schedule asks for
  awk -v n="$1" -v i="$(get "$2" fleet.interval_s)" 'BEGIN { if (i + 0 > 0) printf "%.0f", n / i; else print "–" }'
}
row() {  # TITLE KEY [TARGET-SMALL] [TARGET-LARGE]
  echo "| $1 | $(get small "$2") | $(get large "$2") | ${3:-} | ${4:-} |"
}
row2() {  # TITLE KEY-A KEY-B: "a / b" in each column
  echo "| $1 | $(get small "$2") / $(get small "$3") | $(get large "$2") / $(get large "$3") | | |"
}
{
  echo "### A fleet over HTTP — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- Machine: \`nproc\` = $(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r); open files $(ulimit -n)"
  echo "- Gantry: $GANTRY_VERSION ($GANTRY), at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "- Server: \`gantry server --heartbeat-interval $HEARTBEAT_INTERVAL --down-after $DOWN_AFTER${SERVER_ARGS[*]:+ ${SERVER_ARGS[*]}}\`, store: $([[ " ${SERVER_ARGS[*]:-} " == *" --store "* ]] && echo PostgreSQL || echo SQLite)"
  echo "- Driver: $GPUS GPUs per node, $CONNECTIONS connections, $REGISTER_PARALLEL registrations in flight, steady phase ${DURATION} s; heartbeat body $(get small fleet.heartbeat_body_bytes) bytes"
  echo "- Load average at start / end: $LOAD_START / $LOAD_END"
  echo
  echo "| | small | large | target (small) | target (large) |"
  echo "|---|---:|---:|---|---|"
  row "nodes × GPUs" fleet.nodes
  row "registration: nodes/s (whole run)" register.rate
  row "registration: seconds" register.seconds
  row "registration: server CPU, % of a core" register.server_cpu_pct
  echo "| steady: heartbeats/s answered (schedule asks) | $(get small steady.rate) ($(rate_target "$NODES" small)) | $(get large steady.rate) ($(rate_target "$NODES_LARGE" large)) | | $(verdict "$(get large steady.rate)" ">=" "$(awk -v t="$(rate_target "$NODES_LARGE" large)" 'BEGIN { print t * 0.99 }')") |"
  row "steady: latency p50, ms" steady.p50_ms
  echo "| steady: latency p99, ms | $(get small steady.p99_ms) | $(get large steady.p99_ms) | < 50 $(verdict "$(get small steady.p99_ms)" "<" 50) | < 50 $(verdict "$(get large steady.p99_ms)" "<" 50) |"
  row2 "steady: latency p99.9 / max, ms" steady.p999_ms steady.max_ms
  row2 "steady: heartbeats failed / sent late behind the node's previous one" steady.failed steady.coalesced
  row "steady: heartbeats dropped (a node already had one waiting)" steady.skipped
  row "steady: due → request started p99, ms (the driver's own delay, plus waits behind a node's unanswered heartbeat)" steady.lag_p99_ms
  row "steady: server CPU, % of a core" steady.server_cpu_pct
  row "steady: server CPU per heartbeat, µs (load-independent)" steady.server_cpu_us_per_heartbeat
  row "steady: server peak RSS, MiB" steady.server_rss_mb
  row "steady: driver CPU, % of a core" steady.driver_cpu_pct
  row "steady: machine busy, % of all cores" steady.machine_busy_pct
  row "steady: telemetry summaries dropped" steady.telemetry_dropped
  row "steady: load average (start -> end)" steady.load
  row "blip: nodes suspect before the fleet came back" blip.before_suspect
  row2 "blip: burst latency p50 / p99, ms" blip.p50_ms blip.p99_ms
  row "blip: burst latency max, ms" blip.max_ms
  row "blip: every node answered ready after, s" blip.all_ready_s
  row "blip: /metrics counts every node ready after, s" blip.server_all_ready_s
  row "blip: most nodes suspect again after that (answers later than the lease)" blip.suspect_again_max
  row "blip: all ready for good (2 intervals in a row) from, s" blip.stable_s
  row "blip: failed heartbeats in the burst" blip.failed
  row2 "blip: the schedule after the burst: heartbeats/s / p99 ms" recovery.rate recovery.p99_ms
  row "blip: server CPU, % of a core" blip.server_cpu_pct
  row "placement: submit call, s" placement.submit_s
  row "placement: first placement after, s" placement.first_s
  row2 "placement: placed / expected" placement.placed placement.expected
  echo "| placement: jobs/s (submit → last placement) | $(get small placement.rate) | | ≥ 1,000 $(verdict "$(get small placement.rate)" ">=" 1000) | |"
  row "placement: jobs/s, busiest 10 s" placement.rate_best_10s
  row "placement: scheduling passes, mean ms" placement.pass_mean_ms
  row "placement: server CPU per 1,000 placed, ms (submit → last placement, heartbeats included)" placement.server_cpu_ms_per_1000
  row2 "placement: heartbeats/s / latency p99, ms" placing.rate placing.p99_ms
  row "placement: server CPU, % of a core" placement.server_cpu_pct
  row "placement: server peak RSS, MiB" placement.server_rss_mb
  echo
  for r in small large; do
    [[ -f $WORK/$r.results ]] || continue
    echo "- $r: registrations/s per 1,000 nodes: $(get $r register.rate_per_1000)"
    [[ $(get $r placement.timeline) != "–" ]] && echo "- $r: placements over time (s:placed): $(get $r placement.timeline)"
    for k in steady.errors blip.errors recovery.errors placing.errors; do
      [[ $(get $r $k) != "–" ]] && echo "- $r: $k: $(get $r $k)"
    done
  done
  true
} | tee ${OUT:+"$OUT"}
if (( KEEP )); then
  for r in small large; do [[ -f $WORK/$r.results ]] && log "raw figures: $WORK/$r.results"; done
fi
