#!/usr/bin/env bash
# Job throughput and latency, Gantry against Slurm, on this machine in one run. See --help.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
Usage: bench/jobs-vs-slurm.sh [options]

Runs the same workload through Slurm (Debian's slurm-wlm with munge: munged, slurmctld and
slurmd started by this script, one node offering this machine's cores) and through Gantry
(gantry server + gantry agent, separate processes), one system after the other, and reports:

  (a) N separate submit calls of a 1-core `true` job (sbatch --wrap=true /
      gantry jobs submit --cpus 1 -- true): submissions per second (N / submit-loop time) and
      end-to-end jobs per second (N / time from the first submit until no job is pending or
      running), after checking that all N succeeded.
  (b) one array of N tasks (sbatch --array=1-N / gantry jobs submit --array 1-N), each task
      running  sh -c 'test -n "$SLURM_ARRAY_TASK_ID"'  /  sh -c 'test -n "$GANTRY_ARRAY_INDEX"'
      so a task that does not see its index fails: same two figures.
  (c) latency with hyperfine: `srun true` against `gantry jobs submit --cpus 1 --wait -- true`
      (submit to recorded success), and one CLI call (`squeue`, `gantry jobs ls`) against the
      60 ms target.

Completion is detected the same way for both: the script polls every --poll seconds (squeue for
Slurm, GET /api/v1/jobs?state=pending|assigned|running for Gantry). Successes are counted from
Slurm's jobcomp/filetxt log (sacct needs slurmdbd) and from GET /api/v1/jobs?state=succeeded.

It prints a Markdown table (stdout; progress goes to stderr) with the targets: end-to-end
throughput >= 100x Slurm's, one job's submit-to-success <= `srun true`, a gantry CLI call < 60 ms.
Every process it starts is stopped on exit, and the temporary Slurm/Gantry state is removed.

Options:
  --only WHICH         slurm, gantry or both (default both); the missing column reads "pending"
  --jobs N             jobs per throughput measurement and array size (default 1000; Slurm's
                       default MaxArraySize is 1001, so at most 1000)
  --poll S             completion polling interval in seconds (default 0.1)
  --runs N             hyperfine runs per latency command (default 20)
  --warmup N           hyperfine warm-up runs (default 3)
  --max-wait S         give up when a throughput phase has not finished after S seconds
                       (default 3600)
  --slurm-settings S   default, tuned or both (default both): Slurm's own scheduler defaults,
                       and/or a second cluster with SchedulerParameters=--slurm-sched for the
                       throughput phases (a) and (b); the targets are judged against the defaults
  --slurm-sched PARAMS SchedulerParameters of the tuned run (default batch_sched_delay=0)
  --no-install         do not apt-get install slurm-wlm/munge/hyperfine when missing
  --gantry PATH        gantry binary (default: build it with dotnet publish src/Gantry -c Release
                       -r linux-x64 -p:PublishAot=true into artifacts/bench/gantry, the NativeAOT
                       release build)
  --agent-arg ARG      extra argument for `gantry agent` (repeatable)
  --out FILE           also write the Markdown report to FILE
  --keep-logs          keep the temporary directory (daemon logs, raw timings)
  -h, --help           this help

Needs root (Slurm daemons run as SlurmUser=root), curl, jq, hyperfine, awk, coreutils; apt-get
to install slurm-wlm, munge and hyperfine; the .NET SDK only to build gantry.
With --jobs 1000 on 2 cores the Slurm half takes about 35 minutes at Slurm's default settings
(about 0.9 jobs/s: see docs/benchmarks.md) and 13 more for the tuned run; --slurm-settings tuned
skips the slow one.
EOF
}

die() { echo "jobs-vs-slurm: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ONLY=both
JOBS=1000
POLL=0.1
RUNS=20
WARMUP=3
MAX_WAIT=3600
SLURM_SETTINGS=both
TUNED_SCHED=batch_sched_delay=0
INSTALL=1
GANTRY_BIN=""
AGENT_ARGS=()
OUT=""
KEEP_LOGS=0

need_arg() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]] || die "$2 must be a non-negative integer, got '$1'"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --only) need_arg "$@"; [[ $2 =~ ^(slurm|gantry|both)$ ]] || die "--only wants slurm, gantry or both"; ONLY=$2; shift 2 ;;
    --jobs) need_arg "$@"; is_uint "$2" "$1"; JOBS=$2; shift 2 ;;
    --poll) need_arg "$@"; [[ $2 =~ ^[0-9]*\.?[0-9]+$ ]] || die "--poll wants seconds, got '$2'"; POLL=$2; shift 2 ;;
    --runs) need_arg "$@"; is_uint "$2" "$1"; RUNS=$2; shift 2 ;;
    --warmup) need_arg "$@"; is_uint "$2" "$1"; WARMUP=$2; shift 2 ;;
    --max-wait) need_arg "$@"; is_uint "$2" "$1"; MAX_WAIT=$2; shift 2 ;;
    --slurm-settings) need_arg "$@"; [[ $2 =~ ^(default|tuned|both)$ ]] || die "--slurm-settings wants default, tuned or both"; SLURM_SETTINGS=$2; shift 2 ;;
    --slurm-sched) need_arg "$@"; TUNED_SCHED=$2; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --gantry) need_arg "$@"; GANTRY_BIN=$2; shift 2 ;;
    --agent-arg) need_arg "$@"; AGENT_ARGS+=("$2"); shift 2 ;;
    --out) need_arg "$@"; OUT=$2; shift 2 ;;
    --keep-logs) KEEP_LOGS=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
(( JOBS >= 1 )) || die "--jobs must be at least 1"
(( RUNS >= 2 )) || die "--runs must be at least 2"
RUN_SLURM=0; RUN_GANTRY=0
[[ $ONLY == slurm || $ONLY == both ]] && RUN_SLURM=1
[[ $ONLY == gantry || $ONLY == both ]] && RUN_GANTRY=1

# ---------------------------------------------------------------- tools
[[ -r /proc/self/stat ]] || die "/proc is needed (Linux only)"
(( BASH_VERSINFO[0] >= 5 )) || die "bash 5 or newer is needed (EPOCHREALTIME)"
apt_install() {  # PACKAGE...
  (( INSTALL )) || die "missing: $* (install with: apt-get install $*, or drop --no-install)"
  [[ $(id -u) == 0 ]] || die "missing: $*; run as root to install them, or: sudo apt-get install $*"
  log "installing $* (apt-get update; apt-get install)"
  apt-get update -qq >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || die "apt-get install $* failed"
}
missing=()
for tool in curl jq hyperfine; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if (( RUN_SLURM )); then
  [[ $(id -u) == 0 ]] || die "the Slurm half needs root (SlurmUser=root, munged); run with sudo or --only gantry"
  for tool in slurmctld slurmd sbatch srun squeue sinfo scancel; do
    command -v "$tool" >/dev/null 2>&1 || { missing+=(slurm-wlm); break; }
  done
  for tool in munged munge mungekey; do
    command -v "$tool" >/dev/null 2>&1 || { missing+=(munge); break; }
  done
fi
(( ${#missing[@]} == 0 )) || apt_install "${missing[@]}"
for tool in curl jq hyperfine awk timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gantry-jobs-bench.XXXXXX")
chmod 700 "$WORK"
declare -A PID    # daemon name -> pid, for cleanup (started by this script only)
DAEMONS=()
declare -A R      # results: R[system.key]

stop_pid() {  # PID: TERM, up to 10 s, then KILL
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local i name
  # Jobs of our private Slurm cluster first, so no slurmstepd outlives its slurmd.
  if [[ -n ${PID[slurmctld]:-} ]] && kill -0 "${PID[slurmctld]}" 2>/dev/null; then
    timeout 10 scancel --full --quiet --user root >/dev/null 2>&1 || true
    for _ in $(seq 50); do
      [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  for (( i = ${#DAEMONS[@]} - 1; i >= 0; i-- )); do   # reverse start order
    name=${DAEMONS[i]}
    [[ -n ${PID[$name]:-} ]] && stop_pid "${PID[$name]}"
  done
  if (( KEEP_LOGS )); then log "logs and raw timings kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_daemon NAME LOGFILE CMD... (runs in the foreground of a background job, so $! is its pid)
start_daemon() {
  local name=$1 logfile=$2; shift 2
  DAEMONS+=("$name")
  "$@" >>"$logfile" 2>&1 &
  PID[$name]=$!
}
alive_or_die() {  # NAME LOGFILE
  kill -0 "${PID[$1]}" 2>/dev/null && return 0
  tail -n 30 "$2" >&2
  die "$1 exited during start-up (log above)"
}

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

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s + 0 > 0) printf "%.2f", n / s; else print "n/a" }'; }

# wait_idle SYSTEM T0 LABEL: polls <SYSTEM>_active every $POLL s until it reports no live job;
# sets T_DONE (epoch seconds of the first poll that saw none) and POLLS/POLL_ERRORS.
wait_idle() {
  local system=$1 t0=$2 label=$3 rc deadline
  deadline=$(awk -v t="$t0" -v m="$MAX_WAIT" 'BEGIN { printf "%d", t + m }')
  POLLS=0; POLL_ERRORS=0
  while :; do
    POLLS=$((POLLS + 1))
    rc=0; "${system}_active" || rc=$?
    if (( rc == 1 )); then T_DONE=$(now); return 0; fi
    (( rc == 2 )) && POLL_ERRORS=$((POLL_ERRORS + 1))
    (( EPOCHSECONDS < deadline )) || die "$label: jobs still live after ${MAX_WAIT}s (--max-wait)"
    sleep "$POLL"
  done
}

# hyper KEY LABEL RUNS WARMUP CMD: hyperfine without a shell (-N); sets R[KEY.mean|sd|min|median] in ms
hyper() {
  local key=$1 label=$2 runs=$3 warm=$4 cmd=$5 json="$WORK/hyperfine.${1//./-}.json"
  log "$label: hyperfine -N --warmup $warm --runs $runs '$cmd'"
  hyperfine -N --style basic --warmup "$warm" --runs "$runs" --export-json "$json" "$cmd" >"$json.txt" 2>&1 \
    || { cat "$json.txt" >&2; die "$label: hyperfine failed (a run exited non-zero)"; }
  R[$key.mean]=$(jq -r '.results[0].mean * 1000 | . * 10 | round / 10' "$json")
  R[$key.sd]=$(jq -r '.results[0].stddev * 1000 | . * 10 | round / 10' "$json")
  R[$key.min]=$(jq -r '.results[0].min * 1000 | . * 10 | round / 10' "$json")
  R[$key.median]=$(jq -r '.results[0].median * 1000 | . * 10 | round / 10' "$json")
  log "$label: mean ${R[$key.mean]} ms ± ${R[$key.sd]} (median ${R[$key.median]}, min ${R[$key.min]})"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
MEM_KB=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
NPROC=$(nproc)
HOST=$(hostname -s)
[[ -n $HOST ]] || die "hostname -s is empty"

# ================================================================= Slurm
SLURM_VERSION=""
SD=$WORK/slurm
slurm_active() {  # 0: jobs pending/running/completing, 1: none, 2: squeue failed (counted as live)
  local out
  out=$(timeout 10 squeue -h -o %i -t PD,CF,R,CG,S,RQ,RS,RH 2>/dev/null) || return 2
  [[ -n $out ]] && return 0
  return 1
}
# Successes and failures among jobcomp records after line FROM: "ok fail"
slurm_count() {
  awk -v from="$1" 'NR > from {
      ok = ($0 ~ / JobState=COMPLETED / && $0 ~ / ExitCode=0:0( |$)/)
      if (ok) n++; else f++
    } END { printf "%d %d\n", n, f }' "$SD/jobcomp.log"
}
jobcomp_lines() { if [[ -f $SD/jobcomp.log ]]; then wc -l <"$SD/jobcomp.log"; else echo 0; fi; }
# Waits for jobcomp to hold WANT records after line FROM (slurmctld writes it as jobs end).
jobcomp_wait() {
  local from=$1 want=$2
  for _ in $(seq 100); do
    (( $(jobcomp_lines) - from >= want )) && return 0
    sleep 0.1
  done
}

slurm_conf() {  # TUNED(0|1) -> writes $SD/slurm.conf
  local tuned=$1 mem_mb
  mem_mb=$(( MEM_KB / 1024 ))
  cat >"$SD/slurm.conf" <<EOF
# Written by bench/jobs-vs-slurm.sh: one node, nothing but what a private cluster needs.
ClusterName=gantrybench
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$SLURMCTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SD/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$SD/state
SlurmdSpoolDir=$SD/spool
SlurmctldPidFile=$SD/slurmctld.pid
SlurmdPidFile=$SD/slurmd.pid
SlurmctldLogFile=$SD/slurmctld.log
SlurmdLogFile=$SD/slurmd.log
# proctrack/cgroup (Slurm's default) cannot start a job in this kind of container ("cgroup
# namespace 'freezer' not mounted"); linuxproc tracks processes by parent pid, as gantry does.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# No accounting database; completions go to a text file so successes can be counted.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$SD/jobcomp.log
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NPROC RealMemory=$mem_mb State=UNKNOWN
PartitionName=bench Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  if (( tuned )); then
    # Only the scheduler's own pacing changes; everything above is the same in both runs.
    echo "SchedulerParameters=$TUNED_SCHED" >>"$SD/slurm.conf"
  fi
}

slurm_start() {  # TUNED(0|1)
  local tuned=$1 state i
  rm -rf "$SD"
  mkdir -p "$SD"/{munge,state,spool,jobs}
  chmod 700 "$SD" "$SD/munge"
  SLURMCTLD_PORT=$(pick_port); TAKEN_PORTS+="$SLURMCTLD_PORT "
  SLURMD_PORT=$(pick_port); TAKEN_PORTS+="$SLURMD_PORT "

  mungekey --create --keyfile="$SD/munge/munge.key" >/dev/null 2>&1 \
    || dd if=/dev/urandom of="$SD/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$SD/munge/munge.key"
  start_daemon munged "$SD/munged.out" munged --foreground --force --socket="$SD/munge/munge.socket" \
    --key-file="$SD/munge/munge.key" --pid-file="$SD/munge/munged.pid" \
    --log-file="$SD/munge/munged.log" --seed-file="$SD/munge/munged.seed"
  for i in $(seq 100); do
    alive_or_die munged "$SD/munge/munged.log"
    munge -n -S "$SD/munge/munge.socket" 2>/dev/null | unmunge -S "$SD/munge/munge.socket" >/dev/null 2>&1 && break
    (( i < 100 )) || die "munged did not answer on $SD/munge/munge.socket within 10 s"
    sleep 0.1
  done

  slurm_conf "$tuned"
  export SLURM_CONF=$SD/slurm.conf
  # -D: stay in the foreground (our pid is the daemon's); -i: ignore state files (fresh start).
  start_daemon slurmctld "$SD/slurmctld.out" slurmctld -D -i -f "$SLURM_CONF"
  start_daemon slurmd "$SD/slurmd.out" slurmd -D -f "$SLURM_CONF" -N "$HOST"
  for i in $(seq 300); do          # up to 60 s until the node is idle
    alive_or_die slurmctld "$SD/slurmctld.log"
    alive_or_die slurmd "$SD/slurmd.log"
    state=$(timeout 5 sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    (( i < 300 )) || { tail -n 20 "$SD/slurmctld.log" "$SD/slurmd.log" >&2; die "node $HOST not idle after 60 s (state '$state')"; }
    sleep 0.2
  done
  log "slurm: munged ${PID[munged]}, slurmctld ${PID[slurmctld]} (port $SLURMCTLD_PORT), slurmd ${PID[slurmd]} (port $SLURMD_PORT); node $HOST idle, $NPROC CPUs$( (( tuned )) && echo ', tuned settings')"
}

slurm_stop() {
  local name
  timeout 10 scancel --full --quiet --user root >/dev/null 2>&1 || true
  for name in slurmd slurmctld munged; do
    [[ -n ${PID[$name]:-} ]] && stop_pid "${PID[$name]}"
    PID[$name]=""
  done
  unset SLURM_CONF
}

# slurm_throughput PREFIX: phases (a) and (b) into R[PREFIX.*]
slurm_throughput() {
  local p=$1 t0 t1 from ok fail i
  local sb=(sbatch --parsable --ntasks=1 --cpus-per-task=1 --output=/dev/null --chdir="$SD/jobs")

  log "slurm: (a) $JOBS x sbatch --wrap=true, one call per job"
  from=$(jobcomp_lines)
  : >"$WORK/$p.a.ids"
  t0=$(now)
  for (( i = 1; i <= JOBS; i++ )); do
    "${sb[@]}" --job-name=bench-a --wrap=true >>"$WORK/$p.a.ids" 2>>"$WORK/$p.a.err" \
      || { tail -n 5 "$WORK/$p.a.err" >&2; die "sbatch failed at job $i"; }
  done
  t1=$(now)
  wait_idle slurm "$t0" "slurm (a)"
  jobcomp_wait "$from" "$JOBS"
  read -r ok fail < <(slurm_count "$from")
  R[$p.a_submit_s]=$(elapsed "$t0" "$t1")
  R[$p.a_e2e_s]=$(elapsed "$t0" "$T_DONE")
  R[$p.a_ok]=$ok; R[$p.a_fail]=$fail
  R[$p.a_subs]=$(rate "$JOBS" "${R[$p.a_submit_s]}")
  R[$p.a_jps]=$(rate "$JOBS" "${R[$p.a_e2e_s]}")
  log "slurm (a): submit ${R[$p.a_submit_s]} s (${R[$p.a_subs]}/s), all done ${R[$p.a_e2e_s]} s (${R[$p.a_jps]} jobs/s), $ok succeeded, $fail not; $POLLS polls, $POLL_ERRORS squeue errors"
  (( ok == JOBS )) || log "slurm (a): WARNING only $ok of $JOBS jobs recorded as COMPLETED with exit code 0"

  log "slurm: (b) sbatch --array=1-$JOBS"
  from=$(jobcomp_lines)
  t0=$(now)
  # shellcheck disable=SC2016 # expanded by the job, not here
  "${sb[@]}" --job-name=bench-b --array="1-$JOBS" --wrap='test -n "$SLURM_ARRAY_TASK_ID"' \
    >"$WORK/$p.b.ids" 2>"$WORK/$p.b.err" || { cat "$WORK/$p.b.err" >&2; die "sbatch --array failed"; }
  t1=$(now)
  wait_idle slurm "$t0" "slurm (b)"
  jobcomp_wait "$from" "$JOBS"
  read -r ok fail < <(slurm_count "$from")
  R[$p.b_submit_s]=$(elapsed "$t0" "$t1")
  R[$p.b_e2e_s]=$(elapsed "$t0" "$T_DONE")
  R[$p.b_ok]=$ok; R[$p.b_fail]=$fail
  R[$p.b_subs]=$(rate "$JOBS" "${R[$p.b_submit_s]}")
  R[$p.b_jps]=$(rate "$JOBS" "${R[$p.b_e2e_s]}")
  log "slurm (b): submit ${R[$p.b_submit_s]} s (${R[$p.b_subs]} tasks/s), all done ${R[$p.b_e2e_s]} s (${R[$p.b_jps]} jobs/s), $ok succeeded, $fail not; $POLLS polls, $POLL_ERRORS squeue errors"
  (( ok == JOBS )) || log "slurm (b): WARNING only $ok of $JOBS array tasks recorded as COMPLETED with exit code 0"
}

slurm_latency() {  # PREFIX
  local p=$1
  hyper "$p".srun "slurm: srun true" "$RUNS" "$WARMUP" "srun --ntasks=1 --cpus-per-task=1 true"
  # sbatch --wait is the closest twin of `gantry jobs submit --wait` but polls with a back-off,
  # so it is informative only; the target compares against srun.
  hyper "$p".sbwait "slurm: sbatch --wait" "$(( RUNS < 5 ? RUNS : 5 ))" 1 \
    "sbatch --wait --quiet --ntasks=1 --cpus-per-task=1 --output=/dev/null --chdir=$SD/jobs --wrap=true"
  hyper "$p".cli "slurm: squeue" "$RUNS" "$WARMUP" "squeue"
  hyper "$p".version "slurm: squeue --version" "$RUNS" "$WARMUP" "squeue --version"
}

run_slurm() {
  SLURM_VERSION=$(slurmctld -V 2>/dev/null | awk '{ print $2 }' || true)
  local deb
  deb=$(dpkg-query -W -f '${Version}' slurm-wlm 2>/dev/null || true)
  [[ -n $deb ]] && SLURM_VERSION+=" (Debian $deb)"
  if [[ $SLURM_SETTINGS != tuned ]]; then
    slurm_start 0
    slurm_throughput slurm
    slurm_latency slurm
    slurm_stop
  fi
  if [[ $SLURM_SETTINGS != default ]]; then
    slurm_start 1
    slurm_throughput slurmt
    # Latency with the tuned settings too when they are all that runs (no default column).
    [[ $SLURM_SETTINGS == tuned ]] && slurm_latency slurmt
    slurm_stop
  fi
  true
}

# ================================================================= Gantry
GANTRY_VERSION=""
GD=$WORK/gantry
gantry_api() {  # PATH-AND-QUERY -> body on stdout
  curl -fsS --max-time 10 -H "Authorization: Bearer $GANTRY_TOKEN" "$GANTRY_SERVER$1"
}
gantry_active() {  # 0: some job pending/assigned/running, 1: none, 2: the API did not answer
  local n
  n=$(curl -fsS --max-time 10 -H "Authorization: Bearer $GANTRY_TOKEN" \
        "$GANTRY_SERVER/api/v1/jobs?state=pending&limit=1" \
        "$GANTRY_SERVER/api/v1/jobs?state=assigned&limit=1" \
        "$GANTRY_SERVER/api/v1/jobs?state=running&limit=1" 2>/dev/null \
      | jq -s 'if length == 3 then map(.items | length) | add else -1 end' 2>/dev/null) || return 2
  [[ $n =~ ^[0-9]+$ ]] || return 2
  (( n > 0 )) && return 0
  return 1
}
# Writes every job in STATE (all pages) as JSON lines {id, arrayIndex} to FILE.
gantry_jobs_in() {  # STATE FILE
  local cursor="" page="$WORK/page.json" q
  : >"$2"
  for _ in $(seq 100000); do
    q="/api/v1/jobs?state=$1&limit=1000"
    [[ -n $cursor ]] && q+="&cursor=$(jq -rn --arg c "$cursor" '$c | @uri')"
    gantry_api "$q" >"$page" || die "GET $q failed"
    jq -c '.items[] | {id, arrayIndex}' "$page" >>"$2"
    cursor=$(jq -r '.nextCursor // empty' "$page")
    [[ -z $cursor ]] && return 0
  done
  die "more pages than expected from GET /api/v1/jobs?state=$1"
}
# "succeeded notsucceeded" among the job ids in IDS-FILE (one per line)
gantry_count() {
  local ids=$1 s
  gantry_jobs_in succeeded "$WORK/succeeded.jsonl"
  s=$(jq -r '.id' "$WORK/succeeded.jsonl" | awk 'NR == FNR { ok[$1] = 1; next } ($1 in ok) { n++ } END { print n + 0 }' - "$ids")
  echo "$s $(( $(wc -l <"$ids") - s ))"
}

gantry_build() {
  if [[ -z $GANTRY_BIN ]]; then
    command -v dotnet >/dev/null 2>&1 || die "no --gantry PATH given and no .NET SDK (dotnet) to build it"
    GANTRY_BIN=$REPO/artifacts/bench/gantry/gantry
    log "building gantry: dotnet publish src/Gantry -c Release -r linux-x64 -p:PublishAot=true (NativeAOT, 2-3 min)"
    if ! timeout 900 dotnet publish "$REPO/src/Gantry" -c Release -r linux-x64 -p:PublishAot=true \
        -o "$REPO/artifacts/bench/gantry" >"$WORK/publish.log" 2>&1; then
      tail -n 30 "$WORK/publish.log" >&2
      die "dotnet publish failed"
    fi
  fi
  [[ -f $GANTRY_BIN ]] || die "gantry binary '$GANTRY_BIN' is not there (publish output missing?)"
  [[ -x $GANTRY_BIN ]] || die "gantry binary '$GANTRY_BIN' is not executable"
  # An unknown subcommand with --help prints the root help and exits 0, so look at what the help
  # says: its usage line names the subcommand, and the options this script passes are listed.
  local sub help opt
  for sub in "server:--listen --data-dir" "agent:--server --join-token --state-dir --listen" \
             "jobs submit:--cpus --array --wait" "jobs ls:--state --limit"; do
    # shellcheck disable=SC2086 # ${sub%%:*} is one or two words on purpose
    help=$("$GANTRY_BIN" ${sub%%:*} --help 2>&1 || true)
    grep -q "gantry ${sub%%:*}" <<<"$help" \
      || die "'$GANTRY_BIN' has no '${sub%%:*}' command (its help does not show 'gantry ${sub%%:*}'): the control plane has not landed in this build"
    for opt in ${sub#*:}; do
      grep -q -- "$opt" <<<"$help" || die "'gantry ${sub%%:*}' has no $opt option, which this benchmark needs"
    done
  done
  GANTRY_VERSION=$("$GANTRY_BIN" --version 2>/dev/null | head -n 1 || echo unknown)
}

gantry_start() {
  local port aport i n
  mkdir -p "$GD/server" "$GD/agent"
  port=$(pick_port); TAKEN_PORTS+="$port "
  aport=$(pick_port); TAKEN_PORTS+="$aport "
  start_daemon gantry-server "$GD/server.log" "$GANTRY_BIN" server --listen "127.0.0.1:$port" --data-dir "$GD/server"
  GANTRY_SERVER=http://127.0.0.1:$port
  for i in $(seq 300); do          # up to 30 s
    alive_or_die gantry-server "$GD/server.log"
    [[ -s $GD/server/admin.token && -s $GD/server/join.token ]] \
      && curl -fs -o /dev/null --max-time 2 "$GANTRY_SERVER/readyz" && break
    (( i < 300 )) || { tail -n 20 "$GD/server.log" >&2; die "gantry server not ready within 30 s (/readyz, admin.token, join.token)"; }
    sleep 0.1
  done
  GANTRY_TOKEN=$(<"$GD/server/admin.token")
  export GANTRY_SERVER GANTRY_TOKEN
  start_daemon gantry-agent "$GD/agent.log" "$GANTRY_BIN" agent --server "$GANTRY_SERVER" \
    --join-token "$(<"$GD/server/join.token")" --state-dir "$GD/agent" --listen "127.0.0.1:$aport" \
    ${AGENT_ARGS[@]+"${AGENT_ARGS[@]}"}
  for i in $(seq 300); do          # up to 30 s until one node is ready
    alive_or_die gantry-agent "$GD/agent.log"
    n=$(gantry_api "/api/v1/nodes?state=ready&limit=10" 2>/dev/null | jq '.items | length' 2>/dev/null || echo 0)
    (( n >= 1 )) && break
    (( i < 300 )) || { tail -n 20 "$GD/server.log" "$GD/agent.log" >&2; die "no gantry node ready within 30 s"; }
    sleep 0.1
  done
  log "gantry: server ${PID[gantry-server]} on $GANTRY_SERVER, agent ${PID[gantry-agent]} on 127.0.0.1:$aport; node ready"
}

gantry_stop() {
  local name
  for name in gantry-agent gantry-server; do
    [[ -n ${PID[$name]:-} ]] && stop_pid "${PID[$name]}"
    PID[$name]=""
  done
}

gantry_throughput() {
  local p=gantry t0 t1 ok fail i s distinct

  log "gantry: (a) $JOBS x gantry jobs submit --cpus 1 -- true, one call per job"
  : >"$WORK/$p.a.out"
  t0=$(now)
  for (( i = 1; i <= JOBS; i++ )); do
    "$GANTRY_BIN" jobs submit --cpus 1 -- true >>"$WORK/$p.a.out" 2>>"$WORK/$p.a.err" \
      || { tail -n 5 "$WORK/$p.a.err" >&2; die "gantry jobs submit failed at job $i"; }
  done
  t1=$(now)
  wait_idle gantry "$t0" "gantry (a)"
  # The first number on each line that jobs submit printed is a job id.
  awk 'match($0, /[0-9]+/) { print substr($0, RSTART, RLENGTH) }' "$WORK/$p.a.out" >"$WORK/$p.a.ids"
  (( $(wc -l <"$WORK/$p.a.ids") == JOBS )) \
    || die "gantry (a): expected $JOBS job ids from jobs submit, got $(wc -l <"$WORK/$p.a.ids") (see $WORK/$p.a.out)"
  read -r ok fail < <(gantry_count "$WORK/$p.a.ids")
  R[$p.a_submit_s]=$(elapsed "$t0" "$t1")
  R[$p.a_e2e_s]=$(elapsed "$t0" "$T_DONE")
  R[$p.a_ok]=$ok; R[$p.a_fail]=$fail
  R[$p.a_subs]=$(rate "$JOBS" "${R[$p.a_submit_s]}")
  R[$p.a_jps]=$(rate "$JOBS" "${R[$p.a_e2e_s]}")
  log "gantry (a): submit ${R[$p.a_submit_s]} s (${R[$p.a_subs]}/s), all done ${R[$p.a_e2e_s]} s (${R[$p.a_jps]} jobs/s), $ok succeeded, $fail not; $POLLS polls, $POLL_ERRORS API errors"
  (( ok == JOBS )) || log "gantry (a): WARNING only $ok of $JOBS jobs succeeded"

  log "gantry: (b) gantry jobs submit --array 1-$JOBS"
  gantry_jobs_in succeeded "$WORK/$p.b.before.jsonl"
  t0=$(now)
  # shellcheck disable=SC2016 # expanded by the job, not here
  "$GANTRY_BIN" jobs submit --array "1-$JOBS" --cpus 1 -- sh -c 'test -n "$GANTRY_ARRAY_INDEX"' \
    >"$WORK/$p.b.out" 2>"$WORK/$p.b.err" || { cat "$WORK/$p.b.err" >&2; die "gantry jobs submit --array failed"; }
  t1=$(now)
  wait_idle gantry "$t0" "gantry (b)"
  # The array's jobs: every job that succeeded or ended otherwise since (b) began, by arrayIndex.
  gantry_jobs_in succeeded "$WORK/$p.b.after.jsonl"
  ok=$(jq -r 'select(.arrayIndex != null) | .id' "$WORK/$p.b.after.jsonl" \
        | awk 'NR == FNR { seen[$1] = 1; next } !($1 in seen) { n++ } END { print n + 0 }' \
            <(jq -r '.id' "$WORK/$p.b.before.jsonl") -)
  distinct=$(jq -s '[.[] | select(.arrayIndex != null) | .arrayIndex] | unique | length' "$WORK/$p.b.after.jsonl")
  fail=0
  for s in failed cancelled lost; do
    gantry_jobs_in "$s" "$WORK/$p.b.$s.jsonl"
    fail=$(( fail + $(jq -s '[.[] | select(.arrayIndex != null)] | length' "$WORK/$p.b.$s.jsonl") ))
  done
  R[$p.b_submit_s]=$(elapsed "$t0" "$t1")
  R[$p.b_e2e_s]=$(elapsed "$t0" "$T_DONE")
  R[$p.b_ok]=$ok; R[$p.b_fail]=$fail
  R[$p.b_subs]=$(rate "$JOBS" "${R[$p.b_submit_s]}")
  R[$p.b_jps]=$(rate "$JOBS" "${R[$p.b_e2e_s]}")
  log "gantry (b): submit ${R[$p.b_submit_s]} s (${R[$p.b_subs]} tasks/s), all done ${R[$p.b_e2e_s]} s (${R[$p.b_jps]} jobs/s), $ok succeeded ($distinct distinct array indexes), $fail not; $POLLS polls, $POLL_ERRORS API errors"
  (( ok == JOBS )) || log "gantry (b): WARNING only $ok of $JOBS array tasks succeeded"
}

gantry_latency() {
  hyper gantry.srun "gantry: jobs submit --wait" "$RUNS" "$WARMUP" "$GANTRY_BIN jobs submit --cpus 1 --wait -- true"
  hyper gantry.cli "gantry: jobs ls" "$RUNS" "$WARMUP" "$GANTRY_BIN jobs ls"
  hyper gantry.version "gantry: --version" "$RUNS" "$WARMUP" "$GANTRY_BIN --version"
}

run_gantry() {
  gantry_start
  gantry_throughput
  gantry_latency
  gantry_stop
}

# ================================================================= run
(( RUN_GANTRY )) && gantry_build   # before Slurm's long half, so a missing binary fails at once
(( RUN_SLURM )) && run_slurm
(( RUN_GANTRY )) && run_gantry
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ================================================================= report
# A missing figure reads "pending" for Gantry (its half did not run: the control plane may not
# have landed) and "not run" for a Slurm configuration that was left out.
val() {  # KEY
  local v=${R[$1]:-}
  if [[ -n $v ]]; then echo "$v"; elif [[ $1 == gantry.* ]]; then echo pending; else echo "not run"; fi
}
num_ratio() {  # KEY-A KEY-B -> a/b as a plain number, or empty
  awk -v a="${R[$1]:-}" -v b="${R[$2]:-}" 'BEGIN { if (a != "" && a != "n/a" && b != "" && b != "n/a" && b + 0 > 0) printf "%.4g", a / b }'
}
ratio() {  # KEY-A KEY-B -> "1.23×" or "–"
  local r; r=$(num_ratio "$1" "$2")
  [[ -n $r ]] && echo "${r}×" || echo "–"
}
verdict() {  # VALUE OP LIMIT -> **met** / **not met** / pending
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v == "" || v == "n/a" || l == "" || l == "n/a") { print "pending"; exit }
    ok = (op == ">=") ? (v + 0 >= l + 0) : (op == "<=") ? (v + 0 <= l + 0) : (v + 0 < l + 0)
    print ok ? "**met**" : "**not met**" }'
}
ms() {  # KEY -> "mean ± sd"
  if [[ -n ${R[$1.mean]:-} ]]; then echo "${R[$1.mean]} ± ${R[$1.sd]}"; else val "$1.mean"; fi
}
okcount() { if [[ -n ${R[$1_ok]:-} ]]; then echo "${R[$1_ok]} / $JOBS"; else val "$1_ok"; fi; }
# row TITLE KEY FORMAT(val|ms|okcount) [RATIO(yes|no)]: Slurm defaults, Slurm tuned, Gantry, ratios
row() {
  local title=$1 key=$2 fmt=$3 withratio=${4:-yes} rk=$2 rd="" rt=""
  [[ $fmt == ms ]] && rk=$key.mean
  if [[ $withratio == yes ]]; then rd=$(ratio "gantry.$rk" "slurm.$rk"); rt=$(ratio "gantry.$rk" "slurmt.$rk"); fi
  local g; g=$($fmt "gantry.$key")
  [[ $key == sbwait ]] && g="–"   # no Gantry twin: --wait follows the job instead of polling
  echo "| $title | $($fmt "slurm.$key") | $($fmt "slurmt.$key") | $g | $rd | $rt |"
}

{
  echo "### Jobs: Gantry vs Slurm — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- Machine: \`nproc\` = $NPROC, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk -v k="$MEM_KB" 'BEGIN { printf "%.1f GiB", k / 1048576 }') RAM, kernel $(uname -r)"
  [[ -z $SLURM_VERSION ]] && echo "- Slurm: not run" || echo "- Slurm: $SLURM_VERSION; one node ($HOST, CPUs=$NPROC, cons_tres CR_Core, proctrack/linuxproc, task/none, jobcomp/filetxt, no slurmdbd); tuned = \`SchedulerParameters=$TUNED_SCHED\`, all else equal"
  echo "- Gantry: ${GANTRY_VERSION:-not run}${GANTRY_BIN:+ ($GANTRY_BIN)}; gantry server + gantry agent, separate processes"
  echo "- Command: \`bench/jobs-vs-slurm.sh --only $ONLY --slurm-settings $SLURM_SETTINGS --jobs $JOBS --poll $POLL --runs $RUNS --warmup $WARMUP\`; completion polled every $POLL s"
  echo "- Load average at start / end: $LOAD_START / $LOAD_END"
  echo
  echo "| | Slurm (defaults) | Slurm (tuned) | Gantry | Gantry / Slurm (defaults) | Gantry / Slurm (tuned) |"
  echo "|---|---:|---:|---:|---:|---:|"
  row "(a) $JOBS submit calls: submit loop, s" a_submit_s val
  row "(a) submissions / s" a_subs val
  row "(a) first submit → all done, s" a_e2e_s val
  row "(a) end-to-end jobs / s" a_jps val
  row "(a) succeeded" a okcount no
  row "(b) array of $JOBS: the submit call, s" b_submit_s val
  row "(b) submissions (tasks) / s" b_subs val
  row "(b) first submit → all done, s" b_e2e_s val
  row "(b) end-to-end jobs / s" b_jps val
  row "(b) succeeded (each task saw its index)" b okcount no
  row "(c) one job, submit → success, ms: \`srun true\` / \`gantry jobs submit --wait -- true\`" srun ms
  row "(c) \`sbatch --wait --wrap=true\`, ms (informative: sbatch polls with a back-off)" sbwait ms no
  row "(c) one CLI call, ms: \`squeue\` / \`gantry jobs ls\`" cli ms
  row "(c) process start floor, ms: \`squeue --version\` / \`gantry --version\`" version ms
  echo
  echo "Times in ms are hyperfine means ± standard deviation ($RUNS runs after $WARMUP warm-up runs; sbatch --wait: at most 5 runs after 1). (c) runs against the default-settings cluster unless only the tuned one ran."
  echo
  echo "| Target | vs Slurm (defaults) | vs Slurm (tuned) |"
  echo "|---|---|---|"
  for ph in a b; do
    line="| ($ph) end-to-end jobs/s ≥ 100× Slurm's"
    for s in slurm slurmt; do
      line+=" | $(ratio "gantry.${ph}_jps" "$s.${ph}_jps" | sed 's/^–$//') $(verdict "$(num_ratio "gantry.${ph}_jps" "$s.${ph}_jps")" ">=" 100)"
    done
    echo "$line |"
  done
  line="| (c) one job's submit → success ≤ \`srun true\`"
  for s in slurm slurmt; do
    line+=" | $(ratio gantry.srun.mean "$s.srun.mean" | sed 's/^–$//') $(verdict "${R[gantry.srun.mean]:-}" "<=" "${R[$s.srun.mean]:-}")"
  done
  echo "$line |"
  echo "| (c) \`gantry jobs ls\` < 60 ms | $([[ -n ${R[gantry.cli.mean]:-} ]] && echo "${R[gantry.cli.mean]} ms") $(verdict "${R[gantry.cli.mean]:-}" "<" 60) | |"
  for p in slurm slurmt gantry; do
    for ph in a b; do
      if [[ -n ${R[$p.${ph}_ok]:-} ]] && (( R[$p.${ph}_ok] != JOBS )); then
        echo; echo "Note: $p ($ph): only ${R[$p.${ph}_ok]} of $JOBS jobs succeeded."
      fi
    done
  done
  true
} | tee ${OUT:+"$OUT"}
