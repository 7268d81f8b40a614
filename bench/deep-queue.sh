#!/usr/bin/env bash
# "A deep queue costs nothing" (issue 11), measured on the live server over HTTP. See --help.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
Usage: [VAR=VALUE ...] bench/deep-queue.sh [--help]

Measures the control plane with a deep queue, in one run, on this machine: one gantry server
(--data-dir in a temporary directory, --listen on a free loopback port) and one agent simulating
one 8-GPU node (--simulate-gpus 8), every job `true` with one GPU and no CPU
(--gpus 1 --cpus 0), everything over HTTP (the REST API, /metrics, the gantry CLI):

  1. Throughput with a shallow queue: a loop tops the queue up to SHALLOW pending jobs every
     TOPUP_EVERY s (GET /metrics, then POST /api/v1/jobs with an array of what is missing, plus
     half of what completed since the last round, so pending swings around SHALLOW); completed
     jobs per second = the rise of gantry_server_jobs{state="succeeded"} over WINDOW s, after
     WARMUP s.
  2. Throughput with a deep queue: PENDING jobs submitted as arrays of ARRAY tasks
     (gantry jobs submit --gpus 1 --cpus 0 --array 1-ARRAY -- true), then the same loop, topping
     up to PENDING (so both phases run the same loop and pending stays at PENDING). The shallow
     run is repeated on a fresh server after phase 4 (the machine's load drifts), and the ratio
     is deep / the mean of the two shallow runs.
  3. No node: the node is drained, its last jobs end, the agent is stopped and the node goes
     down; after SETTLE s, server CPU (utime+stime, /proc/PID/stat) over CPU_WINDOW s as % of one
     core, and VmRSS (/proc/PID/status).
  4. Restart: SIGTERM, then the server started again on the same data dir; time from exec to
     the first 200 from /readyz (polled every 10 ms), RESTARTS times; VmRSS after SETTLE s, and
     LS_CALLS `gantry jobs ls` calls with the deep queue (informative).
  5. Finished jobs: another server on an empty data dir gives the empty-store baseline (VmRSS
     after SETTLE s and after LS_CALLS `gantry jobs ls` calls); it is stopped, FINISHED succeeded
     jobs are inserted straight into its gantry.db with the sqlite3 CLI (generate_series, or a
     recursive CTE where the sqlite3 build lacks it; spec JSON copied from a real row of the
     first server; HISTORY says what else each job gets), it is started again, and VmRSS and
     the latency of LS_CALLS `gantry jobs ls` calls (first page, 100 jobs; each call timed from
     fork to exit, so process start is included: a `gantry --version` call before each one is
     timed too, the floor under the same load) are measured, plus the same page over one keep-alive connection with curl (server time).

It prints a Markdown report (stdout; progress goes to stderr): the targets with measured values
and met / not met, the raw figures, the command line, commit and load average. Every process it
starts is stopped on exit and the temporary directory is removed (KEEP=1 keeps it).

Settings (environment variables; defaults are the issue's sizes):
  GANTRY=PATH        gantry binary (default: build it with dotnet publish src/Gantry -c Release
                     -r linux-x64 -p:PublishAot=true into artifacts/bench/gantry, NativeAOT)
  PENDING=1000000    jobs in the deep queue
  ARRAY=100000       tasks per array of the deep queue (the API takes at most 100000)
  SHALLOW=100        pending jobs kept in the shallow phase
  WARMUP=20          seconds before each throughput window
  WINDOW=60          seconds of each throughput window
  TOPUP_EVERY=0.1    seconds between two rounds of the topping-up loop
  SETTLE=30          seconds before the RSS and CPU readings
  CPU_WINDOW=60      seconds of the no-node CPU reading
  RESTARTS=3         restarts timed with the deep queue (the target is judged on the median)
  FINISHED=10000000  succeeded jobs inserted into the store
  HISTORY=attempt    what each inserted job gets besides its row: attempt (one attempt and one
                     transition, Running -> Succeeded), full (one attempt and the four transitions
                     a real job has), transition (one transition), none
  INSERT_CHUNK=500000  jobs per INSERT transaction (progress is printed after each)
  LS_CALLS=200       `gantry jobs ls` calls per latency measurement
  SERVER_ARGS="..."  extra arguments for every `gantry server` (split on spaces), for experiments,
                     e.g. SERVER_ARGS="--scheduler-depth 100"
  PERF=1             profile the server with `perf record -g` (499 Hz) during each throughput
                     window and add the top symbols to the report (costs a few % of the CPU in
                     every window alike; leave it off for the figures of record)
  OUT=FILE           also write the report to FILE
  KEEP=1             keep the temporary directory (logs, databases, raw timings)
  NO_INSTALL=1       do not apt-get install sqlite3 / curl / jq when missing

For development, scale it down, e.g.
  PENDING=10000 ARRAY=5000 FINISHED=100000 WARMUP=5 WINDOW=20 SETTLE=5 CPU_WINDOW=10 bench/deep-queue.sh
At the issue's sizes a run took 11-12 minutes on 2 busy cores (2-3 of them inserting the
FINISHED jobs), plus the build when GANTRY is not given, and needs ~5 GB of disk in
${TMPDIR:-/tmp} (the 10,000,000-job database is 4.6 GB). Results: docs/benchmarks.md.

Needs: curl, jq, sqlite3, awk, coreutils, bash 5; the .NET SDK only to build gantry.
EOF
}

die() { echo "deep-queue: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

for arg in "$@"; do
  case $arg in
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$arg': settings are environment variables (see --help)" ;;
  esac
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GANTRY_BIN=${GANTRY:-}
PENDING=${PENDING:-1000000}
ARRAY=${ARRAY:-100000}
SHALLOW=${SHALLOW:-100}
WARMUP=${WARMUP:-20}
WINDOW=${WINDOW:-60}
TOPUP_EVERY=${TOPUP_EVERY:-0.1}
SETTLE=${SETTLE:-30}
CPU_WINDOW=${CPU_WINDOW:-60}
RESTARTS=${RESTARTS:-3}
FINISHED=${FINISHED:-10000000}
HISTORY=${HISTORY:-attempt}
INSERT_CHUNK=${INSERT_CHUNK:-500000}
LS_CALLS=${LS_CALLS:-200}
SERVER_ARGS=${SERVER_ARGS:-}
PERF=${PERF:-0}
OUT=${OUT:-}
KEEP=${KEEP:-0}
NO_INSTALL=${NO_INSTALL:-0}

is_uint() { [[ $1 =~ ^[0-9]+$ ]] || die "$2 must be a non-negative integer, got '$1'"; }
for v in PENDING ARRAY SHALLOW WARMUP WINDOW SETTLE CPU_WINDOW RESTARTS FINISHED INSERT_CHUNK LS_CALLS; do
  is_uint "${!v}" "$v"
done
[[ $TOPUP_EVERY =~ ^[0-9]*\.?[0-9]+$ ]] || die "TOPUP_EVERY wants seconds, got '$TOPUP_EVERY'"
[[ $HISTORY =~ ^(attempt|full|transition|none)$ ]] || die "HISTORY wants attempt, full, transition or none"
(( ARRAY >= 1 && ARRAY <= 100000 )) || die "ARRAY must be 1-100000 (the API's limit per array)"
(( PENDING >= 1 && SHALLOW >= 1 && WINDOW >= 1 && CPU_WINDOW >= 1 && RESTARTS >= 1 && INSERT_CHUNK >= 1 )) \
  || die "PENDING, SHALLOW, WINDOW, CPU_WINDOW, RESTARTS and INSERT_CHUNK must be at least 1"
(( LS_CALLS >= 2 )) || die "LS_CALLS must be at least 2"
(( PENDING > SHALLOW )) || die "PENDING must be larger than SHALLOW"
[[ $PERF =~ ^[01]$ ]] || die "PERF wants 0 or 1"
PERF_ARG=""; [[ $PERF == 1 ]] && PERF_ARG="PERF=1 "
COMMAND_LINE="${SERVER_ARGS:+SERVER_ARGS=\"$SERVER_ARGS\" }${PERF_ARG}PENDING=$PENDING ARRAY=$ARRAY SHALLOW=$SHALLOW WARMUP=$WARMUP WINDOW=$WINDOW TOPUP_EVERY=$TOPUP_EVERY SETTLE=$SETTLE CPU_WINDOW=$CPU_WINDOW RESTARTS=$RESTARTS FINISHED=$FINISHED HISTORY=$HISTORY LS_CALLS=$LS_CALLS${GANTRY:+ GANTRY=$GANTRY} bench/deep-queue.sh"

# ---------------------------------------------------------------- tools
[[ -r /proc/self/stat ]] || die "/proc is needed (Linux only)"
(( BASH_VERSINFO[0] >= 5 )) || die "bash 5 or newer is needed (EPOCHREALTIME)"
apt_install() {  # PACKAGE...
  (( NO_INSTALL == 0 )) || die "missing: $* (install with: apt-get install $*, or unset NO_INSTALL)"
  [[ $(id -u) == 0 ]] || die "missing: $*; run as root to install them, or: sudo apt-get install $*"
  log "installing $* (apt-get update; apt-get install)"
  apt-get update -qq >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || die "apt-get install $* failed"
}
missing=()
for tool in curl jq sqlite3; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
(( ${#missing[@]} == 0 )) || apt_install "${missing[@]}"
for tool in curl jq sqlite3 awk sort timeout getconf; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH"
done
if [[ $PERF == 1 ]]; then
  command -v perf >/dev/null 2>&1 || die "PERF=1 needs perf (apt-get install linux-perf)"
fi
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gantry-deep-queue.XXXXXX")
chmod 700 "$WORK"
declare -A PID    # process name -> pid (started by this script only)
declare -A R      # results

stop_pid() {  # PID: TERM, up to 30 s, then KILL
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local name
  for name in perf agent server; do
    [[ -n ${PID[$name]:-} ]] && stop_pid "${PID[$name]}"
  done
  if (( KEEP )); then log "logs, databases and raw timings kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_listening() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v h="$hex" '$4 == "0A" && toupper(substr($2, length($2) - 4)) == h { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
TAKEN_PORTS=" "
pick_port() {  # prints a loopback port nothing listens on and that we did not hand out already
  local p
  for _ in $(seq 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    [[ $TAKEN_PORTS == *" $p "* ]] && continue
    port_listening "$p" || { echo "$p"; return 0; }
  done
  die "no free loopback port found"
}

usec() { local t=${EPOCHREALTIME/./}; echo $(( 10#$t )); }   # wall clock in microseconds
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }   # utime + stime
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { if (k == "") print "n/a"; else printf "%.1f", k / 1024 }'; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "") print "n/a"; else printf f, v }'; }
quantiles() {  # FILE (one value a line) -> "p50 p99 max" (nearest rank)
  sort -g "$1" | awk '{ v[NR] = $1 }
    END { i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
          printf "%s %s %s\n", v[i50], v[i99], v[NR] }'
}
load_now() { cut -d' ' -f1-3 /proc/loadavg; }
LOADS=()   # "phase: load average" as the run goes
note_load() { LOADS+=("$1: $(load_now)"); }

# ---------------------------------------------------------------- build
if [[ -z $GANTRY_BIN ]]; then
  command -v dotnet >/dev/null 2>&1 || die "no GANTRY=PATH given and no .NET SDK (dotnet) to build it"
  GANTRY_BIN=$REPO/artifacts/bench/gantry/gantry
  log "building gantry: dotnet publish src/Gantry -c Release -r linux-x64 -p:PublishAot=true (NativeAOT, 2-3 min)"
  if ! timeout 1800 dotnet publish "$REPO/src/Gantry" -c Release -r linux-x64 -p:PublishAot=true \
      -o "$REPO/artifacts/bench/gantry" >"$WORK/publish.log" 2>&1; then
    tail -n 30 "$WORK/publish.log" >&2
    die "dotnet publish failed"
  fi
fi
[[ -f $GANTRY_BIN && -x $GANTRY_BIN ]] || die "gantry binary '$GANTRY_BIN' is not there or not executable"
# An unknown subcommand with --help prints the root help, so check that each help names its
# command and lists the options this script passes.
for sub in "server:--listen --data-dir" "agent:--server --join-token-file --state-dir --listen --simulate-gpus" \
           "jobs submit:--server --token --gpus --cpus --array" "jobs ls:--server --token"; do
  # shellcheck disable=SC2086 # ${sub%%:*} is one or two words on purpose
  help=$("$GANTRY_BIN" ${sub%%:*} --help 2>&1 || true)
  grep -q "gantry ${sub%%:*}" <<<"$help" || die "'$GANTRY_BIN' has no '${sub%%:*}' command"
  for opt in ${sub#*:}; do
    grep -q -- "$opt" <<<"$help" || die "'gantry ${sub%%:*}' has no $opt option, which this benchmark needs"
  done
done
GANTRY_VERSION=$("$GANTRY_BIN" --version 2>/dev/null | head -n 1 || echo unknown)
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$REPO" status --porcelain -- src 2>/dev/null) ]] && COMMIT+=" (src/ modified)"

# ---------------------------------------------------------------- processes
SERVER=""; TOKEN=""; DATA=""
# start_server DATA-DIR: starts gantry server there on a fresh port, waits for /readyz and the
# tokens; sets SERVER, TOKEN, DATA, PID[server] and START_US (microseconds from exec to ready).
start_server() {
  local dir=$1 port t0 i
  mkdir -p "$dir"
  port=$(pick_port); TAKEN_PORTS+="$port "
  SERVER=http://127.0.0.1:$port
  DATA=$dir
  t0=$(usec)
  # shellcheck disable=SC2086 # SERVER_ARGS is split on spaces on purpose
  "$GANTRY_BIN" server --data-dir "$dir" --listen "127.0.0.1:$port" $SERVER_ARGS >>"$dir.log" 2>&1 &
  PID[server]=$!
  for i in $(seq 6000); do   # up to ~60 s (more when curl is slow)
    if curl -fs -o /dev/null --max-time 1 "$SERVER/readyz"; then
      START_US=$(( $(usec) - t0 ))
      break
    fi
    kill -0 "${PID[server]}" 2>/dev/null || { tail -n 30 "$dir.log" >&2; die "gantry server exited during start-up"; }
    (( i < 6000 )) || { tail -n 30 "$dir.log" >&2; die "gantry server not ready within 60 s"; }
    sleep 0.01
  done
  [[ -s $dir/admin.token && -s $dir/join.token ]] || die "no admin.token / join.token in $dir"
  TOKEN=$(<"$dir/admin.token")
}
stop_server() {  # sets STOP_US
  local t0; t0=$(usec)
  stop_pid "${PID[server]}"
  STOP_US=$(( $(usec) - t0 ))
  PID[server]=""
}
api() {  # PATH [curl args...] -> body
  local path=$1; shift
  curl -fsS --max-time 30 -H "Authorization: Bearer $TOKEN" "$@" "$SERVER$path"
}
# metrics -> "pending assigned running succeeded failed cancelled lost"
metrics() {
  api /metrics | awk '
    /^gantry_server_jobs\{state="[a-z]+"\} / { match($0, /"[a-z]+"/); v[substr($0, RSTART + 1, RLENGTH - 2)] = $2 }
    END { printf "%d %d %d %d %d %d %d\n", v["pending"], v["assigned"], v["running"], v["succeeded"], v["failed"], v["cancelled"], v["lost"] }'
}
submit_json() {  # TASKS -> JSON body of an array of TASKS `true` jobs
  printf '{"command":["true"],"resources":{"gpus":1,"cpus":0},"array":{"start":1,"end":%d}}' "$1"
}
start_agent() {  # NAME: a fresh agent (state in $WORK/NAME) for the current server; sets NODE
  local name=$1 port i n
  port=$(pick_port); TAKEN_PORTS+="$port "
  mkdir -p "$WORK/$name"
  "$GANTRY_BIN" agent --server "$SERVER" --join-token-file "$DATA/join.token" --simulate-gpus 8 \
    --listen "127.0.0.1:$port" --state-dir "$WORK/$name" >>"$WORK/$name.log" 2>&1 &
  PID[agent]=$!
  for i in $(seq 300); do   # up to 30 s until the node is ready
    kill -0 "${PID[agent]}" 2>/dev/null || { tail -n 30 "$WORK/$name.log" >&2; die "gantry agent exited during start-up"; }
    NODE=$(api "/api/v1/nodes?state=ready&limit=10" 2>/dev/null | jq -r '.items[0].id // empty' 2>/dev/null || true)
    [[ -n $NODE ]] && break
    (( i < 300 )) || { tail -n 20 "$WORK/$name.log" >&2; die "no node ready within 30 s"; }
    sleep 0.1
  done
  n=$(api "/api/v1/nodes/$NODE" | jq '.gpus | length')
  log "agent ${PID[agent]}: node $NODE ready with $n GPUs"
}

# throughput TAG TARGET: every TOPUP_EVERY s reads the job gauges and submits what the queue lacks
# to hold TARGET pending on average (TARGET - pending, plus half of what completed since the last
# round, so pending swings around TARGET instead of below it); after WARMUP s, measures the rise of
# the succeeded gauge over WINDOW s. Both phases run this same loop. Sets R[TAG.*].
throughput() {
  local tag=$1 target=$2 t_start w0=0 s0=0 f0=0 now pend asg run succ fail canc lost need n prev=-1
  local pmin=-1 pmax=0 psum=0 pn=0 rounds=0 topups=0 topped=0
  t_start=$(usec)
  while :; do
    read -r pend asg run succ fail canc lost < <(metrics) || die "$tag: GET /metrics failed"
    now=$(usec)
    rounds=$((rounds + 1))
    need=$(( target - pend + (prev >= 0 ? (succ - prev) / 2 : 0) ))
    prev=$succ
    while (( need > 0 )); do   # at most ARRAY tasks per submission (the API takes at most 100000)
      n=$(( need < ARRAY ? need : ARRAY ))
      api /api/v1/jobs -o /dev/null -H 'Content-Type: application/json' --data "$(submit_json "$n")" \
        || die "$tag: POST /api/v1/jobs failed"
      need=$(( need - n )); topups=$((topups + 1)); topped=$((topped + n))
    done
    if (( w0 == 0 && now - t_start >= WARMUP * 1000000 )); then
      w0=$now; s0=$succ; f0=$(( fail + lost ))
      R[$tag.cpu0]=$(cpu_ticks "${PID[server]}")
      R[$tag.load]=$(load_now)
      if [[ $PERF == 1 ]]; then
        perf record -q -F 499 -g -p "${PID[server]}" -o "$WORK/$tag.perf.data" -- sleep "$WINDOW" >"$WORK/$tag.perf.log" 2>&1 &
        PID[perf]=$!
      fi
    fi
    if (( w0 > 0 )); then
      (( pmin < 0 || pend < pmin )) && pmin=$pend
      (( pend > pmax )) && pmax=$pend
      psum=$(( psum + pend )); pn=$((pn + 1))
      if (( now - w0 >= WINDOW * 1000000 )); then
        R[$tag.cpu1]=$(cpu_ticks "${PID[server]}")
        R[$tag.done]=$(( succ - s0 ))
        R[$tag.secs]=$(awk -v d=$(( now - w0 )) 'BEGIN { printf "%.2f", d / 1e6 }')
        R[$tag.rate]=$(awk -v n=$(( succ - s0 )) -v d=$(( now - w0 )) 'BEGIN { printf "%.1f", n / (d / 1e6) }')
        R[$tag.bad]=$(( fail + lost - f0 ))
        R[$tag.pmin]=$pmin; R[$tag.pmax]=$pmax
        R[$tag.pmean]=$(awk -v s="$psum" -v n="$pn" 'BEGIN { printf "%.0f", s / n }')
        R[$tag.rounds]=$rounds; R[$tag.topups]=$topups; R[$tag.topped]=$topped
        R[$tag.cpu]=$(awk -v t=$(( R[$tag.cpu1] - R[$tag.cpu0] )) -v hz="$CLK_TCK" -v d=$(( now - w0 )) 'BEGIN { printf "%.1f", t / hz / (d / 1e6) * 100 }')
        R[$tag.load]+=" → $(load_now)"
        if [[ $PERF == 1 ]]; then
          wait "${PID[perf]}" || log "$tag: perf record failed (see $WORK/$tag.perf.log)"
          PID[perf]=""
          perf report -i "$WORK/$tag.perf.data" --stdio --no-children --sort symbol -g none --percent-limit 0.7 2>/dev/null \
            | awk '/^ +[0-9.]+%/ { $1 = $1; print }' | head -n 20 >"$WORK/$tag.perf.top" || true
          perf report -i "$WORK/$tag.perf.data" --stdio --children --sort symbol -g none 2>/dev/null \
            | awk '/^ +[0-9.]+%/ { print $1, $4 }' >"$WORK/$tag.perf.children" || true
        fi
        log "$tag: ${R[$tag.rate]} jobs/s (${R[$tag.done]} in ${R[$tag.secs]} s, ${R[$tag.bad]} failed or lost; pending ${pmin}-${pmax}, mean ${R[$tag.pmean]}; $rounds rounds, $topups submissions; server ${R[$tag.cpu]} % of a core; load ${R[$tag.load]})"
        return 0
      fi
    fi
    sleep "$TOPUP_EVERY"
  done
}

# ls_latency TAG: LS_CALLS `gantry jobs ls` calls, each timed fork to exit, each after a
# `gantry --version` call timed the same way (the floor: process start, no request, measured under
# the same load); then the same page (GET /api/v1/jobs?limit=100) LS_CALLS times over one
# keep-alive connection with curl (the server's part).
ls_latency() {
  local tag=$1 i t0 t1 f="$WORK/$1.ls.us" fv="$WORK/$1.version.us" cfg="$WORK/$1.curl" q
  : >"$f"; : >"$fv"
  "$GANTRY_BIN" jobs ls --server "$SERVER" --token "$TOKEN" >"$WORK/$tag.ls.out" 2>&1 \
    || { cat "$WORK/$tag.ls.out" >&2; die "$tag: gantry jobs ls failed"; }
  R[$tag.ls_rows]=$(( $(wc -l <"$WORK/$tag.ls.out") - 1 ))
  for (( i = 0; i < LS_CALLS; i++ )); do
    t0=$(usec)
    "$GANTRY_BIN" --version >/dev/null
    t1=$(usec)
    echo $(( t1 - t0 )) >>"$fv"
    t0=$(usec)
    "$GANTRY_BIN" jobs ls --server "$SERVER" --token "$TOKEN" >/dev/null 2>"$WORK/$tag.ls.err" \
      || { cat "$WORK/$tag.ls.err" >&2; die "$tag: gantry jobs ls failed (call $i)"; }
    t1=$(usec)
    echo $(( t1 - t0 )) >>"$f"
  done
  read -r q "R[$tag.ls_p99]" "R[$tag.ls_max]" < <(quantiles "$f")
  R[$tag.ls_p50]=$q
  read -r q "R[$tag.v_p99]" _ < <(quantiles "$fv")
  R[$tag.v_p50]=$q
  awk -v u="$SERVER/api/v1/jobs?limit=100" -v n="$LS_CALLS" \
    'BEGIN { for (i = 0; i < n; i++) printf "url = \"%s\"\noutput = \"/dev/null\"\n", u }' >"$cfg"
  curl -fs --max-time 30 -H "Authorization: Bearer $TOKEN" -w '%{time_total} %{http_code}\n' -K "$cfg" >"$WORK/$tag.api.times" \
    || die "$tag: curl GET /api/v1/jobs failed"
  awk '$2 != 200 { bad++ } END { exit bad > 0 }' "$WORK/$tag.api.times" || die "$tag: GET /api/v1/jobs answered non-200"
  awk '{ print $1 * 1e6 }' "$WORK/$tag.api.times" >"$WORK/$tag.api.us"
  read -r q "R[$tag.api_p99]" "R[$tag.api_max]" < <(quantiles "$WORK/$tag.api.us")
  R[$tag.api_p50]=$q
  log "$tag: gantry jobs ls (${R[$tag.ls_rows]} rows) p50 $(fmt "${R[$tag.ls_p50]}" '%.0f') µs, p99 $(fmt "${R[$tag.ls_p99]}" '%.0f') µs (gantry --version p50 $(fmt "${R[$tag.v_p50]}" '%.0f') µs, p99 $(fmt "${R[$tag.v_p99]}" '%.0f') µs); GET /api/v1/jobs?limit=100 p50 $(fmt "${R[$tag.api_p50]}" '%.0f') µs, p99 $(fmt "${R[$tag.api_p99]}" '%.0f') µs"
}
rss() {  # TAG: VmRSS and its split now
  local p=${PID[server]}
  R[$1.rss]=$(status_kb "$p" VmRSS); R[$1.anon]=$(status_kb "$p" RssAnon); R[$1.file]=$(status_kb "$p" RssFile)
  R[$1.hwm]=$(status_kb "$p" VmHWM)
  log "$1: VmRSS $(mib "${R[$1.rss]}") MiB (anon $(mib "${R[$1.anon]}"), file $(mib "${R[$1.file]}"), peak $(mib "${R[$1.hwm]}"))"
}
idle_cpu() {  # TAG: % of one core over CPU_WINDOW s
  local c0 c1
  c0=$(cpu_ticks "${PID[server]}"); sleep "$CPU_WINDOW"; c1=$(cpu_ticks "${PID[server]}")
  R[$1.ticks]=$(( c1 - c0 ))
  R[$1.cpu]=$(awk -v t=$(( c1 - c0 )) -v hz="$CLK_TCK" -v w="$CPU_WINDOW" 'BEGIN { printf "%.2f", t / hz / w * 100 }')
  log "$1: server CPU ${R[$1.cpu]} % of a core over ${CPU_WINDOW}s (${R[$1.ticks]} ticks)"
}

LOAD_START=$(load_now)
T_START=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ================================================================= 1. shallow queue
log "server A: $WORK/a"
start_server "$WORK/a"
log "server ${PID[server]} ready on $SERVER in $(( START_US / 1000 )) ms"
start_agent agent-a
note_load "shallow"
log "throughput with ~$SHALLOW pending: warm-up ${WARMUP}s, window ${WINDOW}s"
throughput shallow "$SHALLOW"

# ================================================================= 2. deep queue
ARRAYS=$(( (PENDING + ARRAY - 1) / ARRAY ))
log "submitting $PENDING jobs: $ARRAYS x gantry jobs submit --gpus 1 --cpus 0 --array 1-N -- true"
: >"$WORK/submit.us"
left=$PENDING
for (( i = 0; i < ARRAYS; i++ )); do
  n=$(( left < ARRAY ? left : ARRAY )); left=$(( left - n ))
  t0=$(usec)
  "$GANTRY_BIN" jobs submit --server "$SERVER" --token "$TOKEN" --gpus 1 --cpus 0 --array "1-$n" -- true \
    >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; die "gantry jobs submit --array 1-$n failed"; }
  echo $(( $(usec) - t0 )) >>"$WORK/submit.us"
done
R[submit_ms]=$(awk '{ s += $1 } END { printf "%.0f", s / NR / 1000 }' "$WORK/submit.us")
read -r pend _ < <(metrics)
log "pending now $pend (a submit call of $ARRAY tasks took ${R[submit_ms]} ms on average)"
note_load "deep"
log "throughput with ~$PENDING pending: warm-up ${WARMUP}s, window ${WINDOW}s"
throughput deep "$PENDING"
rss busy

# ================================================================= 3. no node
log "draining node $NODE and stopping the agent"
api "/api/v1/nodes/$NODE/drain" -X POST -o /dev/null
for i in $(seq 600); do
  read -r pend asg run _ < <(metrics)
  (( asg + run == 0 )) && break
  (( i < 600 )) || die "jobs still assigned/running 60 s after the drain"
  sleep 0.1
done
stop_pid "${PID[agent]}"; PID[agent]=""
for i in $(seq 120); do   # the node goes down past --down-after (20 s by default)
  state=$(api "/api/v1/nodes/$NODE" | jq -r .state)
  [[ $state == down ]] && break
  (( i < 120 )) || die "node $NODE still '$state' 120 s after its agent stopped"
  sleep 1
done
read -r pend _ < <(metrics)
R[idle.pending]=$pend
log "node $NODE is down; $pend pending; settling ${SETTLE}s"
sleep "$SETTLE"
note_load "no node"
idle_cpu idle
rss idle

# ================================================================= 4. restart
: >"$WORK/restart.us"
for (( i = 1; i <= RESTARTS; i++ )); do
  read -r before _ < <(metrics)
  stop_server
  start_server "$WORK/a"
  read -r after _ < <(metrics)
  echo "$START_US" >>"$WORK/restart.us"
  R[restart.$i]=$(awk -v u="$START_US" 'BEGIN { printf "%.2f", u / 1e6 }')
  R[stop.$i]=$(awk -v u="$STOP_US" 'BEGIN { printf "%.2f", u / 1e6 }')
  log "restart $i: stopped in ${R[stop.$i]} s, ready again in ${R[restart.$i]} s; pending $before before, $after after"
  (( after == before )) || die "restart $i: $before pending before, $after after"
  R[restart.pending]=$after
done
read -r q _ "R[restart.max]" < <(quantiles "$WORK/restart.us")
R[restart.median]=$(awk -v u="$q" 'BEGIN { printf "%.2f", u / 1e6 }')
R[restart.max]=$(awk -v u="${R[restart.max]}" 'BEGIN { printf "%.2f", u / 1e6 }')
sleep "$SETTLE"
note_load "restarted"
rss restarted
ls_latency deepls
rss deepls_after

R[arrays]=$(grep -o 'Loaded [0-9]* live jobs and [0-9]* arrays' "$WORK/a.log" | tail -n 1 | awk '{ print $6 }')
stop_server
SPEC=$(sqlite3 "file:$WORK/a/gantry.db?mode=ro" "SELECT spec FROM jobs WHERE state = 'Succeeded' ORDER BY id LIMIT 1")
[[ -n $SPEC ]] || die "no succeeded job row in the first server's store to copy a spec from"
read -r ANODE AGPUS AUUIDS < <(sqlite3 -separator ' ' "file:$WORK/a/gantry.db?mode=ro" \
  "SELECT node_id, gpus, gpu_uuids FROM attempts WHERE state = 'Succeeded' ORDER BY job_id LIMIT 1")
[[ -n $ANODE ]] || die "no succeeded attempt in the first server's store to copy from"

# ================================================================= 5. shallow queue again
# On a fresh server C, so the deep figure is bracketed by two shallow ones (the machine's load
# drifts): the ratio is taken against their mean.
log "server C (shallow queue again): $WORK/c"
start_server "$WORK/c"
start_agent agent-c
note_load "shallow again"
log "throughput with ~$SHALLOW pending, again: warm-up ${WARMUP}s, window ${WINDOW}s"
throughput shallow2 "$SHALLOW"
stop_pid "${PID[agent]}"; PID[agent]=""
stop_server

# ================================================================= 6. finished jobs
log "server B (empty store): $WORK/b"
start_server "$WORK/b"
sleep "$SETTLE"
note_load "empty store"
rss empty
idle_cpu emptyidle
ls_latency emptyls
rss empty_after

stop_server
DB=$WORK/b/gantry.db
[[ -z $(sqlite3 "$DB" "SELECT id FROM jobs LIMIT 1") ]] || die "server B's store is not empty"
if [[ $(sqlite3 :memory: "SELECT count(*) FROM generate_series(1, 3)" 2>/dev/null || true) == 3 ]]; then
  series() { echo "SELECT value FROM generate_series($1, $2)"; }
  SERIES=generate_series
else
  series() { echo "WITH RECURSIVE s(value) AS (SELECT $1 UNION ALL SELECT value + 1 FROM s WHERE value < $2) SELECT value FROM s"; }
  SERIES="recursive CTE"
fi
sqlq() { printf "'%s'" "${1//\'/\'\'}"; }   # an SQL string literal
NOW_MS=$(( $(usec) / 1000 ))
T0_MS=$(( NOW_MS - FINISHED * 10 - 60000 ))   # job i ends at T0 + 10 i ms: the newest a minute ago, all within retention
log "inserting $FINISHED succeeded jobs into $DB ($SERIES, history: $HISTORY, $INSERT_CHUNK a transaction)"
note_load "insert"
t_ins=$(usec)
for (( lo = 1; lo <= FINISHED; lo += INSERT_CHUNK )); do
  hi=$(( lo + INSERT_CHUNK - 1 )); (( hi > FINISHED )) && hi=$FINISHED
  s=$(series "$lo" "$hi")
  {
    echo "PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; PRAGMA foreign_keys = OFF; BEGIN;"
    # submitted at T, assigned T+1, started T+2, ended T+5 (ms), exit code 0
    echo "INSERT INTO jobs (id, spec, array_index, state, reason, cancel_requested, submitted_at, queued_at, started_at, ended_at, exit_code, retries_used)
          SELECT value, $(sqlq "$SPEC"), NULL, 'Succeeded', 'exit code 0', 0, $T0_MS + value * 10, $T0_MS + value * 10, $T0_MS + value * 10 + 2, $T0_MS + value * 10 + 5, 0, 0 FROM ($s);"
    if [[ $HISTORY == attempt || $HISTORY == full ]]; then
      echo "INSERT INTO attempts (job_id, attempt, epoch, node_id, gpus, gpu_uuids, cpus, memory_bytes, state, assigned_at, started_at, ended_at, exit_code, signal, reason, ended_by_agent)
            SELECT value, 1, value, $(sqlq "$ANODE"), $(sqlq "$AGPUS"), $(sqlq "$AUUIDS"), 0, 0, 'Succeeded', $T0_MS + value * 10 + 1, $T0_MS + value * 10 + 2, $T0_MS + value * 10 + 5, 0, NULL, 'exit code 0', 1 FROM ($s);"
    fi
    if [[ $HISTORY == full ]]; then
      echo "INSERT INTO transitions (job_id, time, from_state, to_state, reason) SELECT value, $T0_MS + value * 10, NULL, 'Pending', 'submitted' FROM ($s);"
      echo "INSERT INTO transitions (job_id, time, from_state, to_state, reason) SELECT value, $T0_MS + value * 10 + 1, 'Pending', 'Assigned', $(sqlq "placed on node $ANODE (GPUs 0)") FROM ($s);"
      echo "INSERT INTO transitions (job_id, time, from_state, to_state, reason) SELECT value, $T0_MS + value * 10 + 2, 'Assigned', 'Running', $(sqlq "started on node $ANODE") FROM ($s);"
    fi
    if [[ $HISTORY != none ]]; then
      echo "INSERT INTO transitions (job_id, time, from_state, to_state, reason) SELECT value, $T0_MS + value * 10 + 5, 'Running', 'Succeeded', 'exit code 0' FROM ($s);"
    fi
    echo "COMMIT;"
  } | sqlite3 -bail "$DB" >/dev/null || die "inserting jobs $lo-$hi failed"
  el=$(( $(usec) - t_ins ))
  log "  $hi / $FINISHED jobs ($(awk -v e="$el" 'BEGIN { printf "%.0f", e / 1e6 }') s, $(awk -v n="$hi" -v e="$el" 'BEGIN { printf "%.0f", n / (e / 1e6) }') jobs/s; load $(load_now))"
done
R[insert_s]=$(awk -v e=$(( $(usec) - t_ins )) 'BEGIN { printf "%.0f", e / 1e6 }')
R[db_mib]=$(du -m "$DB" | cut -f1)
R[db_jobs]=$(sqlite3 "$DB" "SELECT COUNT(*) FROM jobs")
(( R[db_jobs] == FINISHED )) || die "expected $FINISHED job rows, found ${R[db_jobs]}"
log "inserted in ${R[insert_s]} s; $DB is ${R[db_mib]} MiB"

start_server "$WORK/b"
R[start10m]=$(awk -v u="$START_US" 'BEGIN { printf "%.2f", u / 1e6 }')
read -r _ _ _ succ _ < <(metrics)
log "server B with $FINISHED finished jobs ready in ${R[start10m]} s; succeeded gauge $succ"
(( succ == FINISHED )) || log "WARNING: succeeded gauge $succ, expected $FINISHED"
R[finished.succ]=$succ
sleep "$SETTLE"
note_load "finished store"
rss finished
ls_latency finishedls
rss finished_after
stop_server
LOAD_END=$(load_now)
T_END=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ================================================================= report
ms() { awk -v u="$1" 'BEGIN { if (u == "") print "n/a"; else printf "%.1f", u / 1000 }'; }
verdict() {  # VALUE OP LIMIT
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v == "" || v == "n/a") { print "pending"; exit }
    ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
    print ok ? "**met**" : "**not met**" }'
}
maxof() { printf '%s\n' "$@" | sort -g | tail -n 1; }
SHALLOW_MEAN=$(awk -v a="${R[shallow.rate]}" -v b="${R[shallow2.rate]}" 'BEGIN { printf "%.1f", (a + b) / 2 }')
RATIO=$(awk -v d="${R[deep.rate]}" -v s="$SHALLOW_MEAN" 'BEGIN { if (s > 0) printf "%.2f", d / s; else print "n/a" }')
RATIO1=$(awk -v d="${R[deep.rate]}" -v s="${R[shallow.rate]}" 'BEGIN { if (s > 0) printf "%.2f", d / s; else print "n/a" }')
RATIO2=$(awk -v d="${R[deep.rate]}" -v s="${R[shallow2.rate]}" 'BEGIN { if (s > 0) printf "%.2f", d / s; else print "n/a" }')
RSS_DEEP=$(maxof "${R[busy.rss]}" "${R[idle.rss]}" "${R[restarted.rss]}" "${R[deepls_after.rss]}")
RSS_R1=$(awk -v a="${R[finished.rss]}" -v b="${R[empty.rss]}" 'BEGIN { printf "%.3f", a / b }')
RSS_R2=$(awk -v a="${R[finished_after.rss]}" -v b="${R[empty_after.rss]}" 'BEGIN { printf "%.3f", a / b }')
# Judged on the settled readings: what the server holds because of the store. After the ls calls
# both have served pages, but the empty store's pages are empty, so that pair also measures the
# garbage of rendering 100 jobs (reported, not judged).
RSS_DEV=$(awk -v r="$RSS_R1" 'BEGIN { d = r - 1; if (d < 0) d = -d; printf "%.3f", d }')
RESTARTS_LIST=""
for (( i = 1; i <= RESTARTS; i++ )); do RESTARTS_LIST+="${RESTARTS_LIST:+, }${R[restart.$i]}"; done

{
  echo "### Deep queue — $T_START to $T_END"
  echo
  echo "- Command: \`$COMMAND_LINE\`"
  echo "- Commit: $COMMIT; gantry $GANTRY_VERSION ($GANTRY_BIN)"
  echo "- Machine: \`nproc\` = $(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)"
  echo "- Load average (1, 5, 15 min) at start: $LOAD_START; at end: $LOAD_END"
  echo "- Load average at each phase: $(IFS=';'; echo "${LOADS[*]}" | sed 's/;/; /g')"
  echo "- One server, one agent with --simulate-gpus 8; jobs \`true\` with --gpus 1 --cpus 0; $ARRAYS arrays of up to $ARRAY tasks; queue topped up every ${TOPUP_EVERY}s; warm-up ${WARMUP}s, window ${WINDOW}s; settle ${SETTLE}s; CPU window ${CPU_WINDOW}s (CLK_TCK $CLK_TCK)"
  echo
  echo "| Target | Measured | Verdict |"
  echo "|---|---|---|"
  echo "| throughput with $PENDING pending ≥ 0.9 × with $SHALLOW pending | ${R[deep.rate]} / $SHALLOW_MEAN jobs/s = **${RATIO}×** (against each shallow run: ${RATIO1}×, ${RATIO2}×) | $(verdict "$RATIO" ">=" 0.9) |"
  echo "| server CPU with $PENDING pending and no node ≤ 1 % of a core | **${R[idle.cpu]} %** | $(verdict "${R[idle.cpu]}" "<=" 1) |"
  echo "| server RSS with $PENDING pending ≤ 150 MiB (largest reading) | **$(mib "$RSS_DEEP") MiB** | $(verdict "$(mib "$RSS_DEEP")" "<=" 150) |"
  echo "| server RSS with $FINISHED finished jobs within 20 % of an empty store's (settled) | **$(mib "${R[finished.rss]}") vs $(mib "${R[empty.rss]}") MiB ($RSS_R1×)**; after $LS_CALLS \`jobs ls\`: $(mib "${R[finished_after.rss]}") vs $(mib "${R[empty_after.rss]}") MiB ($RSS_R2×, see below) | $(verdict "$RSS_DEV" "<=" 0.2) |"
  echo "| restart to /readyz 200 with $PENDING pending ≤ 2 s (median of $RESTARTS) | **${R[restart.median]} s** ($RESTARTS_LIST) | $(verdict "${R[restart.median]}" "<=" 2) |"
  echo "| \`gantry jobs ls\` (first page) p99 ≤ 50 ms with $FINISHED jobs in the store | **$(ms "${R[finishedls.ls_p99]}") ms** (p50 $(ms "${R[finishedls.ls_p50]}"); \`gantry --version\` in the same loop: p50 $(ms "${R[finishedls.v_p50]}"), p99 $(ms "${R[finishedls.v_p99]}")) | $(verdict "$(ms "${R[finishedls.ls_p99]}")" "<=" 50) |"
  echo
  echo "| Reading | Value |"
  echo "|---|---:|"
  for t in shallow deep shallow2; do
    case $t in shallow) l="1. shallow (server A)" ;; deep) l="2. deep (server A)" ;; *) l="3. shallow again (server C)" ;; esac
    echo "| $l: completed jobs / s; pending min–max, mean | ${R[$t.rate]}; ${R[$t.pmin]}–${R[$t.pmax]}, ${R[$t.pmean]} |"
    echo "| $l: completed in the window, failed or lost; server CPU, % of a core; load average | ${R[$t.done]} in ${R[$t.secs]} s, ${R[$t.bad]}; ${R[$t.cpu]}; ${R[$t.load]} |"
  done
  echo "| \`gantry jobs submit --array 1-$ARRAY\`, ms per call (mean of $ARRAYS) | ${R[submit_ms]} |"
  echo "| VmRSS MiB, $PENDING pending, node busy (end of the deep window) | $(mib "${R[busy.rss]}") |"
  echo "| VmRSS MiB, ${R[idle.pending]} pending, no node, settled (anon / file) | $(mib "${R[idle.rss]}") ($(mib "${R[idle.anon]}") / $(mib "${R[idle.file]}")) |"
  echo "| VmRSS MiB, after restart, settled (anon / file) | $(mib "${R[restarted.rss]}") ($(mib "${R[restarted.anon]}") / $(mib "${R[restarted.file]}")) |"
  echo "| VmRSS MiB, after restart and $LS_CALLS \`jobs ls\`; VmHWM | $(mib "${R[deepls_after.rss]}"); $(mib "${R[deepls_after.hwm]}") |"
  echo "| server CPU, no node, % of a core: ${R[idle.pending]} pending / empty store | ${R[idle.cpu]} / ${R[emptyidle.cpu]} |"
  echo "| restart: arrays with unstarted tasks loaded (the deep queue's plus the loop's top-ups) | ${R[arrays]:-n/a} |"
  echo "| restart: SIGTERM to exit, s | $(for (( i = 1; i <= RESTARTS; i++ )); do printf '%s%s' "${R[stop.$i]}" "$( (( i < RESTARTS )) && echo ', ')"; done) |"
  echo "| restart: exec to /readyz 200, s (max) | $RESTARTS_LIST (${R[restart.max]}) |"
  echo "| \`gantry jobs ls\` with ${R[restart.pending]} pending, ms p50 / p99 / max (\`gantry --version\` p50 / p99) | $(ms "${R[deepls.ls_p50]}") / $(ms "${R[deepls.ls_p99]}") / $(ms "${R[deepls.ls_max]}") ($(ms "${R[deepls.v_p50]}") / $(ms "${R[deepls.v_p99]}")) |"
  echo "| … GET /api/v1/jobs?limit=100 on one connection, ms p50 / p99 | $(ms "${R[deepls.api_p50]}") / $(ms "${R[deepls.api_p99]}") |"
  echo "| empty store: VmRSS MiB settled / after $LS_CALLS \`jobs ls\` (anon / file) | $(mib "${R[empty.rss]}") / $(mib "${R[empty_after.rss]}") ($(mib "${R[empty_after.anon]}") / $(mib "${R[empty_after.file]}")) |"
  echo "| empty store: \`gantry jobs ls\`, ms p50 / p99 (\`gantry --version\` p50 / p99) | $(ms "${R[emptyls.ls_p50]}") / $(ms "${R[emptyls.ls_p99]}") ($(ms "${R[emptyls.v_p50]}") / $(ms "${R[emptyls.v_p99]}")) |"
  echo "| … GET /api/v1/jobs?limit=100 on one connection, ms p50 / p99 | $(ms "${R[emptyls.api_p50]}") / $(ms "${R[emptyls.api_p99]}") |"
  echo "| insert $FINISHED succeeded jobs with sqlite3 ($SERIES; history: $HISTORY), s; database MiB | ${R[insert_s]}; ${R[db_mib]} |"
  echo "| start with $FINISHED finished jobs: exec to /readyz 200, s | ${R[start10m]} |"
  echo "| $FINISHED finished: VmRSS MiB settled / after $LS_CALLS \`jobs ls\` (anon / file); VmHWM | $(mib "${R[finished.rss]}") / $(mib "${R[finished_after.rss]}") ($(mib "${R[finished_after.anon]}") / $(mib "${R[finished_after.file]}")); $(mib "${R[finished_after.hwm]}") |"
  echo "| $FINISHED finished: \`gantry jobs ls\` (${R[finishedls.ls_rows]} rows), ms p50 / p99 / max (\`gantry --version\` p50 / p99) | $(ms "${R[finishedls.ls_p50]}") / $(ms "${R[finishedls.ls_p99]}") / $(ms "${R[finishedls.ls_max]}") ($(ms "${R[finishedls.v_p50]}") / $(ms "${R[finishedls.v_p99]}")) |"
  echo "| … GET /api/v1/jobs?limit=100 on one connection, ms p50 / p99 | $(ms "${R[finishedls.api_p50]}") / $(ms "${R[finishedls.api_p99]}") |"
  echo
  if [[ $PERF == 1 ]]; then
    echo
    echo "Server profile (perf record -F 499 -g in each window): share of the server's samples under each function, callees included"
    echo
    echo "| Function | shallow | deep | shallow again |"
    echo "|---|---:|---:|---:|"
    for f in SchedulerWorker__Pass JobQueue__TakePending Scheduling_SchedulingPass__Run JobQueue__Apply JobQueue__ArrayOf \
             JobQueue__Report JobQueue__Submit SqliteStateStore__Write JobQueue__ListJobs 'WKS::GCHeap::GarbageCollectGeneration'; do
      line="| \`${f//__/.}\`"
      for t in shallow deep shallow2; do
        line+=" | $(awk -v f="$f" 'index($2, f) { print $1; found = 1; exit } END { if (!found) print "–" }' "$WORK/$t.perf.children" 2>/dev/null || echo "–")"
      done
      echo "$line |"
    done
    for t in shallow deep shallow2; do
      echo
      echo "Server profile, $t window (perf record -F 499 -g; self time, symbols ≥ 0.7 %):"
      echo
      echo '```'
      cat "$WORK/$t.perf.top" 2>/dev/null || echo "(none)"
      echo '```'
    done
    echo
  fi
  echo "\`gantry jobs ls\` times are fork to exit of the CLI ($LS_CALLS calls, sequential), so they include process start: each follows a \`gantry --version\` call timed the same way, the floor under the same load; the GET rows are curl's time_total on one keep-alive connection. The finished-jobs RSS target is judged on the settled readings; after the \`jobs ls\` calls the empty store has served empty pages and the other 100 jobs a page, so that pair also counts the garbage of rendering pages."
} | tee ${OUT:+"$OUT"}
