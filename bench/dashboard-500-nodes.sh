#!/usr/bin/env bash
# The dashboard with 500 nodes of 8 GPUs, measured in headless Chromium. See --help.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  cat <<'USAGE'
Usage: bench/dashboard-500-nodes.sh [--nodes N] [--gpus G] [--heartbeat S] [--loads N] [--observe S]

Starts `gantry server` on a free loopback port with a temporary data dir, registers N synthetic
nodes (default 500) with G GPUs each (default 8) through POST /api/v1/nodes/register with the join
token, and heartbeats every node every S seconds (default 5) from the benchmark with per-GPU
figures that change every round (tests/Gantry.Testing/SyntheticNodes.cs). Then, in Debian's
Chromium driven by Playwright (bench/Gantry.DashboardBench):

  - logs in and loads /nodes and / --loads times each (default 5): time to first byte,
    DOMContentLoaded and load from the Navigation Timing entry, the HTML's size, and the time from
    navigation until <html data-live="open"> (and, on /nodes, until all N rows are in the table);
  - keeps /nodes open for --observe seconds (default 60) and records every SSE message the page
    receives (DevTools protocol, Network.eventSourceMessageReceived): size and interval;
  - times the page's own EventSource handlers (an init script wraps them) and the time from the
    event to the next animation frame, and counts long tasks (> 50 ms);
  - reads the server's CPU (utime+stime) over the observation window.

Prints a Markdown table on stdout (progress on stderr). Needs /usr/bin/chromium
(apt-get install chromium). Results and the machine they came from: docs/benchmarks.md.
USAGE
  exit 0
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "error: /usr/bin/chromium is missing: apt-get install chromium" >&2
  exit 1
fi

dotnet build bench/Gantry.DashboardBench -c Release -nologo -clp:ErrorsOnly -v:q >&2
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(/usr/bin/chromium --version 2>/dev/null | head -n1); gantry at $(git rev-parse --short HEAD)" >&2
exec dotnet bench/Gantry.DashboardBench/bin/Release/net10.0/Gantry.DashboardBench.dll "$@"
