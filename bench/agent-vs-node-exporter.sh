#!/usr/bin/env bash
# Gantry agent vs Prometheus node_exporter, side by side on loopback. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/agent-vs-node-exporter.sh [options]

Starts prometheus-node-exporter (defaults, --web.listen-address=127.0.0.1:PORT), the gantry
agent with --no-nvml (host metrics only: the comparable configuration) and, unless --no-sim,
a second gantry with --simulate-gpus N (the cost with GPU series), all on free loopback
ports. After a warm-up it measures, for each server, in this one run:

  1. CPU per 1000 scrapes: utime+stime of the server process (/proc/PID/stat, CLK_TCK)
     across N sequential scrapes over ONE keep-alive connection (one curl invocation),
     with 'Accept-Encoding: gzip' as Prometheus sends it, and again without it.
  2. p50 / p99 latency of those scrapes (curl %{time_total}).
  3. Scrapes per second under wrk (-t2 -c16 -d15s by default, gzip header), plus the
     server CPU per 1000 scrapes under that load.
  4. Idle CPU (no scrapes at all) over a window, after a settle pause: gantry samples in the
     background, so a deployment scraped every 15-60 s pays this as well as the per-scrape
     cost; the report adds both up for a 15 s scrape interval.
  5. VmRSS after warm-up and after the wrk load, and peak VmHWM (/proc/PID/status).

It prints a Markdown table (stdout; progress goes to stderr) with ratios gantry/node_exporter
and the targets: CPU per scrape <= 0.1x, p99 latency <= node_exporter's, RSS <= 1.5x.
Only loopback traffic. All processes it starts are stopped on exit.

Options:
  --gantry PATH          gantry binary to test (default: build it with
                         dotnet publish src/Gantry -c Release -r linux-x64 -p:PublishAot=true
                         into artifacts/bench/gantry, the NativeAOT release build)
  --node-exporter PATH   node_exporter binary (default: prometheus-node-exporter or
                         node_exporter on PATH)
  --scrapes N            sequential scrapes per measurement (default 1000)
  --warmup N             warm-up scrapes per server (default 300)
  --wrk-duration S       seconds of wrk load per server (default 15)
  --wrk-connections C    wrk connections (default 16)
  --wrk-threads T        wrk threads (default 2)
  --idle S               idle CPU window in seconds, 0 to skip (default 30)
  --idle-settle S        pause before the idle window, after the wrk load (default 15)
  --sim-gpus N           GPUs for the second gantry (default 8)
  --no-sim               do not run the --simulate-gpus configuration
  --env NAME=VALUE       set an environment variable for the gantry processes only
                         (repeatable), e.g. --env DOTNET_GCgen0size=0x400000
  --out FILE             also write the Markdown report to FILE
  --keep-logs            keep the temporary directory with server logs and raw timings
  -h, --help             this help

Needs: curl, wrk, prometheus-node-exporter, coreutils (timeout), awk; the .NET SDK only
to build gantry. On Debian/Ubuntu: apt-get install prometheus-node-exporter wrk curl
Runs in about 2-3 minutes with the defaults.
EOF
}

die() { echo "agent-vs-node-exporter: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GANTRY_BIN=""
NE_BIN=""
SCRAPES=1000
WARMUP=300
WRK_DURATION=15
WRK_CONNECTIONS=16
WRK_THREADS=2
IDLE=30
IDLE_SETTLE=15
SIM_GPUS=8
RUN_SIM=1
OUT=""
KEEP_LOGS=0
GANTRY_ENV=()

need_arg() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]] || die "$2 must be a non-negative integer, got '$1'"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --gantry) need_arg "$@"; GANTRY_BIN=$2; shift 2 ;;
    --node-exporter) need_arg "$@"; NE_BIN=$2; shift 2 ;;
    --scrapes) need_arg "$@"; is_uint "$2" "$1"; SCRAPES=$2; shift 2 ;;
    --warmup) need_arg "$@"; is_uint "$2" "$1"; WARMUP=$2; shift 2 ;;
    --wrk-duration) need_arg "$@"; is_uint "$2" "$1"; WRK_DURATION=$2; shift 2 ;;
    --wrk-connections) need_arg "$@"; is_uint "$2" "$1"; WRK_CONNECTIONS=$2; shift 2 ;;
    --wrk-threads) need_arg "$@"; is_uint "$2" "$1"; WRK_THREADS=$2; shift 2 ;;
    --idle) need_arg "$@"; is_uint "$2" "$1"; IDLE=$2; shift 2 ;;
    --idle-settle) need_arg "$@"; is_uint "$2" "$1"; IDLE_SETTLE=$2; shift 2 ;;
    --sim-gpus) need_arg "$@"; is_uint "$2" "$1"; SIM_GPUS=$2; shift 2 ;;
    --no-sim) RUN_SIM=0; shift ;;
    --env) need_arg "$@"; [[ $2 == *=* ]] || die "--env wants NAME=VALUE"; GANTRY_ENV+=("$2"); shift 2 ;;
    --out) need_arg "$@"; OUT=$2; shift 2 ;;
    --keep-logs) KEEP_LOGS=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
(( SCRAPES >= 10 )) || die "--scrapes must be at least 10"
(( WRK_DURATION >= 1 )) || die "--wrk-duration must be at least 1"
(( SIM_GPUS >= 1 )) || RUN_SIM=0

# ---------------------------------------------------------------- tools
INSTALL_HINT="install with: apt-get install prometheus-node-exporter wrk curl"
for tool in curl wrk awk timeout getconf sort; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH; $INSTALL_HINT"
done
if [[ -z $NE_BIN ]]; then
  NE_BIN=$(command -v prometheus-node-exporter || command -v node_exporter || true)
  [[ -n $NE_BIN ]] || die "node_exporter not found (prometheus-node-exporter or node_exporter on PATH); $INSTALL_HINT, or pass --node-exporter PATH"
fi
[[ -x $NE_BIN ]] || die "node_exporter '$NE_BIN' is not executable"
[[ -r /proc/self/stat ]] || die "/proc is needed (Linux only)"
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gantry-bench.XXXXXX")
declare -A PID PORT URL LABEL
SERVERS=()

cleanup() {
  local name pid
  for name in "${SERVERS[@]}"; do
    pid=${PID[$name]:-}
    [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null || true
  done
  for name in "${SERVERS[@]}"; do
    pid=${PID[$name]:-}
    [[ -z $pid ]] && continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if (( KEEP_LOGS )); then log "logs and raw timings kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build
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
[[ -x $GANTRY_BIN ]] || die "gantry binary '$GANTRY_BIN' is not executable"

# ---------------------------------------------------------------- servers
# A TCP port is free when nothing listens on it (state 0A in /proc/net/tcp{,6}) and we did
# not hand it out already. Binding can still race with another process: start_server retries.
port_listening() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v h="$hex" '$4 == "0A" && toupper(substr($2, length($2) - 4)) == h { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
pick_port() {
  local p n
  for n in $(seq 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    [[ " ${PORT[*]} " == *" $p "* ]] && continue
    port_listening "$p" || { echo "$p"; return 0; }
  done
  die "no free loopback port found"
}

# start_server NAME LABEL CMD... ; the literal PORT in CMD is replaced by the chosen port.
start_server() {
  local name=$1 label=$2; shift 2
  local attempt port pid args a i
  SERVERS+=("$name")
  for attempt in 1 2 3; do
    port=$(pick_port) || exit 1
    args=()
    for a in "$@"; do args+=("${a//PORT/$port}"); done
    "${args[@]}" >"$WORK/$name.log" 2>&1 &
    pid=$!
    PID[$name]=$pid; PORT[$name]=$port; URL[$name]="http://127.0.0.1:$port/metrics"; LABEL[$name]=$label
    for i in $(seq 300); do            # up to 30 s for the first sample
      kill -0 "$pid" 2>/dev/null || break
      if curl -fs -o /dev/null --max-time 2 "${URL[$name]}"; then
        if command -v ss >/dev/null 2>&1 && ! ss -Htlnp "sport = :$port" | grep -q "pid=$pid,"; then
          die "$label: port $port answers but is not held by pid $pid"
        fi
        log "$label: pid $pid on 127.0.0.1:$port"
        return 0
      fi
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$WORK/$name.log" >&2
      die "$label did not serve /metrics within 30 s"
    fi
    wait "$pid" 2>/dev/null || true
    PID[$name]=""
    if grep -qiE 'address already in use|cannot listen' "$WORK/$name.log"; then
      log "$label: port $port taken meanwhile, retrying"
      continue
    fi
    tail -n 20 "$WORK/$name.log" >&2
    die "$label exited during start-up"
  done
  die "$label: could not bind a free port"
}

cpu_ticks() {  # utime + stime; fields 14 and 15, counted after the ')' closing comm
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
ticks_to_ms() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1000 / hz }'; }

# curl config with COUNT transfers of URL to /dev/null: one process, one keep-alive connection.
write_curl_config() {  # URL COUNT FILE
  awk -v u="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "url = \"%s\"\noutput = \"/dev/null\"\n", u }' >"$3"
}

# scrape_seq NAME MODE(gzip|plain) COUNT TAG -> sets CPU_MS, P50, P99; timings in $WORK/NAME.TAG.times
scrape_seq() {
  local name=$1 mode=$2 count=$3 tag=$4 pid=${PID[$1]} before after cfg="$WORK/$1.$4.curl" times="$WORK/$1.$4.times"
  local hdr=(); [[ $mode == gzip ]] && hdr=(-H 'Accept-Encoding: gzip')
  write_curl_config "${URL[$name]}" "$count" "$cfg"
  before=$(cpu_ticks "$pid")
  timeout 300 curl -s "${hdr[@]}" --max-time 10 -w '%{time_total} %{num_connects} %{http_code}\n' -K "$cfg" >"$times" \
    || die "${LABEL[$name]}: curl failed during the $tag scrapes"
  after=$(cpu_ticks "$pid")
  awk -v n="$count" -v who="${LABEL[$name]}" '
    $3 != 200 { bad++ } { conns += $2 }
    END {
      if (NR != n) { printf "%s: %d of %d scrapes completed\n", who, NR, n > "/dev/stderr"; exit 1 }
      if (bad) { printf "%s: %d scrapes were not HTTP 200\n", who, bad > "/dev/stderr"; exit 1 }
      if (conns != 1) { printf "%s: curl opened %d connections, expected 1 (keep-alive)\n", who, conns > "/dev/stderr" }
    }' "$times" || die "bad scrape results"
  CPU_MS=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$count" 'BEGIN { printf "%.0f", t * 1000 / hz * 1000 / n }')
  read -r P50 P99 < <(awk '{ print $1 * 1000 }' "$times" | sort -g | awk '
    { v[NR] = $1 }
    END { i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
          printf "%.3f %.3f\n", v[i50], v[i99] }')
}

# ---------------------------------------------------------------- run
NE_VERSION=$("$NE_BIN" --version 2>&1 | head -n 1 | sed -E 's/^node_exporter, version ([^ ]+).*/\1/')
GANTRY_VERSION=$("$GANTRY_BIN" --version 2>/dev/null | head -n 1 || echo unknown)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
DOTNET_VERSION=$( (command -v dotnet >/dev/null && dotnet --list-runtimes 2>/dev/null | awk '/^Microsoft.NETCore.App/ { v = $2 } END { print v }') || true)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "starting servers"
start_server ne node_exporter "$NE_BIN" --web.listen-address=127.0.0.1:PORT
start_server g gantry env ${GANTRY_ENV[@]+"${GANTRY_ENV[@]}"} "$GANTRY_BIN" agent --listen 127.0.0.1:PORT --no-nvml
if (( RUN_SIM )); then
  start_server g8 "gantry sim$SIM_GPUS" env ${GANTRY_ENV[@]+"${GANTRY_ENV[@]}"} "$GANTRY_BIN" agent --listen 127.0.0.1:PORT --no-nvml --simulate-gpus "$SIM_GPUS"
fi

declare -A R   # results: R[name.key]
for s in "${SERVERS[@]}"; do
  curl -fs --max-time 10 "${URL[$s]}" >"$WORK/$s.body"
  curl -fs --max-time 10 -H 'Accept-Encoding: gzip' "${URL[$s]}" >"$WORK/$s.body.gz"
  R[$s.lines]=$(wc -l <"$WORK/$s.body")
  R[$s.bytes]=$(wc -c <"$WORK/$s.body")
  R[$s.series]=$(grep -cv '^#' "$WORK/$s.body" || true)
  R[$s.gzbytes]=$(wc -c <"$WORK/$s.body.gz")
done

log "warm-up: $WARMUP scrapes per server (gzip and plain), with a pause for tiered JIT"
for s in "${SERVERS[@]}"; do
  scrape_seq "$s" gzip $(( (WARMUP + 1) / 2 )) warm1
  scrape_seq "$s" plain $(( (WARMUP + 3) / 4 )) warm2
done
sleep 2
for s in "${SERVERS[@]}"; do scrape_seq "$s" gzip $(( (WARMUP + 3) / 4 )) warm3; done
sleep 1
for s in "${SERVERS[@]}"; do
  R[$s.rss_warm]=$(status_kb "${PID[$s]}" VmRSS)
done

for mode in gzip plain; do
  for s in "${SERVERS[@]}"; do
    log "${LABEL[$s]}: $SCRAPES sequential scrapes ($mode)"
    scrape_seq "$s" "$mode" "$SCRAPES" "seq-$mode"
    R[$s.cpu_$mode]=$CPU_MS; R[$s.p50_$mode]=$P50; R[$s.p99_$mode]=$P99
  done
done

for s in "${SERVERS[@]}"; do
  log "${LABEL[$s]}: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_DURATION}s (gzip)"
  before=$(cpu_ticks "${PID[$s]}")
  timeout $(( WRK_DURATION + 60 )) wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WRK_DURATION}s" --timeout 10s \
    -H 'Accept-Encoding: gzip' "${URL[$s]}" >"$WORK/$s.wrk" 2>&1 || { cat "$WORK/$s.wrk" >&2; die "wrk failed"; }
  after=$(cpu_ticks "${PID[$s]}")
  R[$s.rps]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WORK/$s.wrk")
  requests=$(awk '/requests in/ { print $1 }' "$WORK/$s.wrk")
  errors=$(awk '/Non-2xx|Socket errors/' "$WORK/$s.wrk")
  [[ -z $errors ]] || log "${LABEL[$s]}: wrk reported: $errors"
  R[$s.wrk_errors]=${errors:+yes}
  R[$s.cpu_wrk]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="${requests:-0}" 'BEGIN { if (n > 0) printf "%.0f", t * 1000 / hz * 1000 / n; else print "n/a" }')
  R[$s.rss_wrk]=$(status_kb "${PID[$s]}" VmRSS)
  R[$s.rss_anon]=$(status_kb "${PID[$s]}" RssAnon)
  R[$s.rss_file]=$(status_kb "${PID[$s]}" RssFile)
  R[$s.rss_shmem]=$(status_kb "${PID[$s]}" RssShmem)
  sleep 1
done
for s in "${SERVERS[@]}"; do
  R[$s.hwm]=$(status_kb "${PID[$s]}" VmHWM)
  R[$s.threads]=$(status_kb "${PID[$s]}" Threads)
done
# Idle: no scrapes at all, so this is the cost of gantry's own sampling loop (node_exporter
# does nothing between scrapes). Measured last, after a settle pause: right after load, .NET's
# tiered JIT recompiles the hot paths (tier-up) on a background thread for a few seconds, a
# one-off cost that would otherwise be counted as if it recurred every minute.
if (( IDLE > 0 )); then
  log "settling ${IDLE_SETTLE}s, then idle CPU over ${IDLE}s (no scrapes)"
  sleep "$IDLE_SETTLE"
  declare -A IDLE0
  for s in "${SERVERS[@]}"; do IDLE0[$s]=$(cpu_ticks "${PID[$s]}"); done
  sleep "$IDLE"
  for s in "${SERVERS[@]}"; do
    R[$s.idle]=$(awk -v t=$(( $(cpu_ticks "${PID[$s]}") - IDLE0[$s] )) -v hz="$CLK_TCK" -v w="$IDLE" 'BEGIN { printf "%.0f", t * 1000 / hz * 60 / w }')
    # What a Prometheus scraping every 15 s costs per minute: idle + 4 gzip scrapes.
    R[$s.per_min15]=$(awk -v i="${R[$s.idle]}" -v c="${R[$s.cpu_gzip]}" 'BEGIN { printf "%.0f", i + 4 * c / 1000 }')
  done
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.3g×", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
verdict() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { if (b + 0 == 0) print "n/a"; else print (a <= f * b) ? "**met**" : "**not met**" }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'; }

GS=(g); (( RUN_SIM )) && GS+=(g8)
row() {  # TITLE KEY [FORMAT-FN]
  local title=$1 key=$2 fn=${3:-} line v nev
  nev=${R[ne.$key]:-}
  line="| $title | $([[ -n $fn ]] && $fn "$nev" || echo "$nev")"
  for s in "${GS[@]}"; do
    v=${R[$s.$key]:-}
    line+=" | $([[ -n $fn ]] && $fn "$v" || echo "$v") | $(ratio "$v" "$nev")"
  done
  echo "$line |"
}

{
  echo "### Agent vs node_exporter — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- Machine: $(nproc) CPUs, ${CPU_MODEL:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
  echo "- node_exporter $NE_VERSION (defaults); gantry $GANTRY_VERSION (.NET ${DOTNET_VERSION:-?}, $GANTRY_BIN)"
  echo "- gantry env: ${GANTRY_ENV[*]:-(none)}"
  echo "- $SCRAPES sequential scrapes per mode over one keep-alive connection; wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_DURATION}s; CLK_TCK=$CLK_TCK (CPU resolution $(ticks_to_ms 1) ms per measurement)"
  echo "- load average at start / end: $LOAD_START / $LOAD_END"
  echo
  header="| | node_exporter"; sep="|---|---:"
  for s in "${GS[@]}"; do header+=" | ${LABEL[$s]} | ratio"; sep+="|---:|---:"; done
  echo "$header |"; echo "$sep|"
  row "/metrics lines" lines
  row "/metrics bytes" bytes
  row "/metrics bytes, gzip" gzbytes
  row "samples (non-comment lines)" series
  row "CPU ms / 1000 scrapes, gzip" cpu_gzip
  row "CPU ms / 1000 scrapes, plain" cpu_plain
  row "p50 latency ms, gzip" p50_gzip
  row "p99 latency ms, gzip" p99_gzip
  row "p50 latency ms, plain" p50_plain
  row "p99 latency ms, plain" p99_plain
  row "wrk scrapes/s, gzip" rps
  row "CPU ms / 1000 scrapes under wrk" cpu_wrk
  if (( IDLE > 0 )); then
    row "idle CPU ms / minute (no scrapes)" idle
    row "CPU ms / minute, scraped every 15 s (idle + 4 scrapes)" per_min15
  fi
  row "VmRSS MiB after warm-up" rss_warm mib
  row "VmRSS MiB after wrk" rss_wrk mib
  row "… RssAnon MiB (heap, stacks)" rss_anon mib
  row "… RssFile MiB (mapped binary, shared libs)" rss_file mib
  row "… RssShmem MiB" rss_shmem mib
  row "VmHWM MiB (peak)" hwm mib
  row "threads" threads
  echo
  echo "| Target |$(for s in "${GS[@]}"; do printf ' %s |' "${LABEL[$s]}"; done)"
  echo "|---|$(for s in "${GS[@]}"; do printf -- '---|'; done)"
  line="| CPU per scrape ≤ 0.1× node_exporter (gzip, sequential)"
  for s in "${GS[@]}"; do line+=" | $(ratio "${R[$s.cpu_gzip]}" "${R[ne.cpu_gzip]}") $(verdict "${R[$s.cpu_gzip]}" "${R[ne.cpu_gzip]}" 0.1)"; done
  echo "$line |"
  line="| p99 latency ≤ node_exporter (gzip)"
  for s in "${GS[@]}"; do line+=" | $(ratio "${R[$s.p99_gzip]}" "${R[ne.p99_gzip]}") $(verdict "${R[$s.p99_gzip]}" "${R[ne.p99_gzip]}" 1)"; done
  echo "$line |"
  line="| RSS ≤ 1.5× node_exporter (worse of after warm-up / after wrk)"
  for s in "${GS[@]}"; do
    a=$(awk -v a="${R[$s.rss_warm]}" -v b="${R[ne.rss_warm]}" -v c="${R[$s.rss_wrk]}" -v d="${R[ne.rss_wrk]}" 'BEGIN { x = a / b; y = c / d; print (x > y) ? x : y }')
    line+=" | $(awk -v x="$a" 'BEGIN { printf "%.3g×", x }') $(verdict "$a" 1 1.5)"
  done
  echo "$line |"
  for s in "${SERVERS[@]}"; do
    [[ -n ${R[$s.wrk_errors]:-} ]] && echo && echo "Note: wrk reported errors for ${LABEL[$s]} (see --keep-logs)."
  done
  true
} | tee ${OUT:+"$OUT"}
