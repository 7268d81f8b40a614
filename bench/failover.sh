#!/usr/bin/env bash
# Leader failover among gantry server replicas on one PostgreSQL database. See --help.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
Usage: bench/failover.sh [options]

Starts a throwaway PostgreSQL 15, REPLICAS `gantry server` replicas sharing it (each through a small
TCP proxy of this script's, so that a replica can be cut from the database), and AGENTS agents with
4 simulated GPUs each that list every replica. A submitter keeps one-GPU jobs coming throughout
(each job appends "JOB_ID ATTEMPT" to a file and sleeps 1 s). Then, ROUNDS times:

  1. find the leader (the replica whose /readyz answers 200);
  2. kill -9 it (even rounds), or cut it from PostgreSQL (odd rounds: its proxy drops every
     connection and refuses new ones; the leader must step down and exit by itself);
  3. submit a probe job through the CLI with every replica's URL and time from the kill or cut
     until the probe runs;
  4. start the replica again (as a standby) and let its proxy through again.

At the end it waits for every job to end and reports: kill-to-start latency (p50, max), jobs
submitted, jobs that did not succeed, jobs run more than once (more than one attempt, or more
than one line in the file), and node state changes to down in any replica's log. Targets
(issue 11): a new job starts within 10 s of a kill; 0 jobs lost, 0 started twice, 0 nodes down.

Options (or the environment variables in brackets):
  --rounds N        rounds (default 50) [ROUNDS]
  --replicas N      server replicas (default 3) [REPLICAS]
  --agents N        agents (default 3) [AGENTS]
  --gantry PATH     gantry binary [GANTRY_BENCH_BINARY]; default: the NativeAOT release build,
                    dotnet publish src/Gantry -c Release -r linux-x64 -p:PublishAot=true into
                    artifacts/bench/gantry
  --server-arg ARG  extra argument for every `gantry server` (repeatable), e.g. --leader-lease 6s
  --out FILE        also write the Markdown report to FILE
  --keep            keep the temporary folder (logs, the runs file)
  -h, --help        this help

Needs python3 (the proxy), curl, jq, and Debian's postgresql package (installed when missing).
EOF
}

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-50}
REPLICAS=${REPLICAS:-3}
AGENTS=${AGENTS:-3}
GANTRY_BIN=${GANTRY_BENCH_BINARY:-}
SERVER_ARGS=()
OUT=""
KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --replicas) REPLICAS=$2; shift 2 ;;
    --agents) AGENTS=$2; shift 2 ;;
    --gantry) GANTRY_BIN=$2; shift 2 ;;
    --server-arg) SERVER_ARGS+=("$2"); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

for tool in python3 curl jq; do command -v $tool >/dev/null || die "$tool is missing"; done
pgbin=/usr/lib/postgresql/15/bin
if [[ ! -x $pgbin/initdb ]]; then
  log "installing postgresql"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1 || die "cannot install postgresql"
fi

WORK=$(mktemp -d /tmp/gantry-failover.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for i in $(seq 0 $((REPLICAS - 1))); do [[ -f $WORK/r$i.pid ]] && kill -9 "$(cat "$WORK/r$i.pid")" 2>/dev/null || true; done
  if [[ -f $WORK/pg/data/postmaster.pid ]]; then
    (cd "$WORK/pg" && runuser -u postgres -- "$pgbin/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1) || true
  fi
  if [[ $KEEP -eq 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [[ -z $GANTRY_BIN ]]; then
  GANTRY_BIN=$REPO/artifacts/bench/gantry/gantry
  log "building gantry: dotnet publish src/Gantry -c Release -r linux-x64 -p:PublishAot=true (NativeAOT, a few minutes)"
  timeout 1200 dotnet publish "$REPO/src/Gantry" -c Release -r linux-x64 -p:PublishAot=true -o "$REPO/artifacts/bench/gantry" >"$WORK/publish.log" 2>&1 \
    || { tail -n 30 "$WORK/publish.log" >&2; die "dotnet publish failed"; }
fi
[[ -x $GANTRY_BIN ]] || die "no gantry binary at $GANTRY_BIN"
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# PostgreSQL: a throwaway server (the postgres user runs it; this script runs as root).
mkdir -p "$WORK/pg" && chown postgres: "$WORK/pg"
(cd "$WORK/pg" && runuser -u postgres -- "$pgbin/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 --locale=C -N) >"$WORK/initdb.log" 2>&1 || die "initdb failed"
PG_PORT=$(free_port)
cat >>"$WORK/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK/pg'
max_connections = 300
EOF
(cd "$WORK/pg" && runuser -u postgres -- "$pgbin/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -o "-p $PG_PORT" start) >/dev/null || die "PostgreSQL did not start"
log "PostgreSQL on port $PG_PORT"

# One proxy per replica: SIGUSR1 cuts (drops every connection, refuses new ones), SIGUSR2 lets through again.
cat >"$WORK/proxy.py" <<'EOF'
import asyncio, signal, sys
listen, target = int(sys.argv[1]), int(sys.argv[2])
cut = False
live = set()
async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()
async def handle(client_reader, client_writer):
    if cut:
        client_writer.close()
        return
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
    except Exception:
        client_writer.close()
        return
    live.add(client_writer); live.add(server_writer)
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
    live.discard(client_writer); live.discard(server_writer)
def set_cut(value):
    global cut
    cut = value
    if value:
        for w in list(live):
            w.transport.abort()
async def main():
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, set_cut, True)
    loop.add_signal_handler(signal.SIGUSR2, set_cut, False)
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()
asyncio.run(main())
EOF

JOIN=gjoin_failover-$(date +%s%N)
declare -a PORTS PROXY_PORTS PROXY_PIDS URLS
for i in $(seq 0 $((REPLICAS - 1))); do
  PORTS[i]=$(free_port); PROXY_PORTS[i]=$(free_port)
  URLS[i]="http://127.0.0.1:${PORTS[i]}"
  setsid python3 "$WORK/proxy.py" "${PROXY_PORTS[i]}" "$PG_PORT" 2>>"$WORK/proxy$i.log" &
  PROXY_PIDS[i]=$!; PIDS+=("$!")
done
ALL_URLS=$(IFS=,; echo "${URLS[*]}")
sleep 0.5

start_replica() {
  local i=$1
  # Each daemon in a session of its own, so that nothing it signals can reach this script.
  setsid "$GANTRY_BIN" server --store "postgres://postgres@127.0.0.1:${PROXY_PORTS[i]}/postgres" --listen "127.0.0.1:${PORTS[i]}" \
    --data-dir "$WORK/r$i" --join-token "$JOIN" "${SERVER_ARGS[@]}" >>"$WORK/r$i.log" 2>&1 &
  echo $! >"$WORK/r$i.pid"
}
leader() {
  local i
  for i in $(seq 0 $((REPLICAS - 1))); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${URLS[i]}/readyz") == 200 ]]; then echo "$i"; return 0; fi
  done
  return 1
}
wait_leader() {
  local deadline=$(( $(now_ms) + 60000 ))
  until leader >/dev/null; do
    [[ $(now_ms) -lt $deadline ]] || die "no leader within 60 s (see $WORK/r*.log)"
    sleep 0.05
  done
}

for i in $(seq 0 $((REPLICAS - 1))); do start_replica "$i"; [[ $i -eq 0 ]] && wait_leader; done
L=$(leader)
TOKEN=$(cat "$WORK/r$L/admin.token")
# The CLI finds the replicas and the token in the environment (flags would land after a job's command).
export GANTRY_SERVER=$ALL_URLS GANTRY_TOKEN=$TOKEN
gantry() { "$GANTRY_BIN" "$@"; }
log "replicas up; leader r$L"

for a in $(seq 0 $((AGENTS - 1))); do
  setsid "$GANTRY_BIN" agent --server "$ALL_URLS" --join-token "$JOIN" --simulate-gpus 4 --listen 127.0.0.1:0 \
    --state-dir "$WORK/agent$a" --node-name "agent$a" >"$WORK/agent$a.log" 2>&1 &
  PIDS+=("$!")
done
deadline=$(( $(now_ms) + 60000 ))
until [[ $(gantry nodes ls -o json 2>/dev/null | jq '[(if type == "array" then . else .items end)[] | select(.state == "ready")] | length' 2>/dev/null || echo 0) -eq $AGENTS ]]; do
  [[ $(now_ms) -lt $deadline ]] || die "agents did not become ready"
  sleep 0.2
done
log "$AGENTS agents ready"

RUNS=$WORK/runs
: >"$RUNS"
(
  while :; do
    gantry jobs submit --gpus 1 --cpus 0 --name steady --shell -- "echo \"\$GANTRY_JOB_ID \$GANTRY_ATTEMPT\" >> $RUNS; sleep 1" >>"$WORK/submitted" 2>>"$WORK/submit-errors" || true
    sleep 0.5
  done
) &
SUBMITTER=$!
PIDS+=("$SUBMITTER")

LATENCIES=()
for round in $(seq 1 "$ROUNDS"); do
  L=$(leader) || { wait_leader; L=$(leader); }
  if (( round % 2 == 0 )); then action=kill; else action=cut; fi
  t0=$(now_ms)
  if [[ $action == kill ]]; then
    kill -9 "$(cat "$WORK/r$L.pid")"
  else
    kill -USR1 "${PROXY_PIDS[L]}"
  fi
  # The probe: submitted as soon as some replica takes it, timed until it runs.
  probe=""
  until probe=$(gantry jobs submit --gpus 1 --cpus 0 --name probe -- true 2>/dev/null) && [[ -n $probe ]]; do
    [[ $(( $(now_ms) - t0 )) -lt 120000 ]] || die "round $round: no replica took a job within 120 s"
    sleep 0.1
  done
  probe=$(echo "$probe" | tail -n 1 | tr -dc 0-9)
  until state=$(gantry jobs show "$probe" -o json 2>/dev/null | jq -r .state) && [[ $state == running || $state == succeeded ]]; do
    [[ $(( $(now_ms) - t0 )) -lt 120000 ]] || die "round $round: probe $probe did not start within 120 s (state $state)"
    sleep 0.05
  done
  took=$(( $(now_ms) - t0 ))
  LATENCIES+=("$took")
  log "round $round: $action r$L; probe job $probe started after ${took} ms"
  if [[ $action == cut ]]; then
    # The cut leader must step down and exit by itself.
    pid=$(cat "$WORK/r$L.pid")
    deadline=$(( $(now_ms) + 30000 ))
    while kill -0 "$pid" 2>/dev/null; do
      [[ $(now_ms) -lt $deadline ]] || die "round $round: the cut leader r$L did not step down within 30 s"
      sleep 0.1
    done
    kill -USR2 "${PROXY_PIDS[L]}"
  fi
  start_replica "$L"
  sleep 1
done

log "stopping the submitter; waiting for every job to end"
kill "$SUBMITTER" 2>/dev/null || true
wait "$SUBMITTER" 2>/dev/null || true
deadline=$(( $(now_ms) + 300000 ))
while :; do
  LURL=${URLS[$(leader)]}
  live=$(curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" "$LURL/metrics" \
    | awk '/^gantry_server_jobs\{state="(pending|assigned|running)"\}/ {n += $2; seen++} END {print seen == 3 ? n : -1}')
  [[ $live -eq 0 ]] && break
  [[ $(now_ms) -lt $deadline ]] || die "jobs still live after 5 minutes"
  sleep 1
done

LURL=${URLS[$(leader)]}
all=$WORK/jobs.json
echo "[]" >"$all"
cursor=""
while :; do
  page=$(curl -s -H "Authorization: Bearer $TOKEN" "$LURL/api/v1/jobs?limit=1000${cursor:+&cursor=$cursor}")
  jq -s '.[0] + .[1].items' "$all" <(echo "$page") >"$all.new" && mv "$all.new" "$all"
  cursor=$(echo "$page" | jq -r '.nextCursor // empty')
  [[ -n $cursor ]] || break
done
total=$(jq length "$all")
not_ok=$(jq '[.[] | select(.state != "succeeded")] | length' "$all")
multi=$(jq '[.[] | select((.attempts | length) > 1)] | length' "$all")
twice=$(awk '{print $1}' "$RUNS" | sort | uniq -d | wc -l)
down=$(cat "$WORK"/r*.log | grep -c -- '-> Down' || true)
IFS=$'\n' sorted=($(printf '%s\n' "${LATENCIES[@]}" | sort -n)); unset IFS
p50=${sorted[$(( ${#sorted[@]} / 2 ))]}
max=${sorted[$(( ${#sorted[@]} - 1 ))]}
over=$(printf '%s\n' "${LATENCIES[@]}" | awk '$1 > 10000' | wc -l)

report=$(cat <<EOF
| Measure | Result | Target |
|---|---|---|
| rounds (kill -9 / cut from PostgreSQL) | $ROUNDS ($(( ROUNDS / 2 )) / $(( (ROUNDS + 1) / 2 ))) | 50 |
| kill or cut → a new job runs, p50 | $(awk -v v="$p50" 'BEGIN{printf "%.1f s", v/1000}') | |
| kill or cut → a new job runs, max | $(awk -v v="$max" 'BEGIN{printf "%.1f s", v/1000}') ($over of $ROUNDS over 10 s) | ≤ 10 s |
| jobs submitted | $total | |
| jobs not succeeded | $not_ok | 0 |
| jobs placed more than once (attempts > 1) | $multi | 0 |
| jobs that ran more than once (runs file) | $twice | 0 |
| node changes to down (replica logs) | $down | 0 |

$REPLICAS replicas, $AGENTS agents (4 simulated GPUs each), commit $COMMIT, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end.
Command: bench/failover.sh --rounds $ROUNDS --replicas $REPLICAS --agents $AGENTS ${SERVER_ARGS[*]:+--server-arg '${SERVER_ARGS[*]}'}
EOF
)
echo "$report"
[[ -n $OUT ]] && echo "$report" >"$OUT"
exit 0
