#!/usr/bin/env bash
# The streaming anomaly detector on the Numenta Anomaly Benchmark (NAB). See --help.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
Usage: [NAB_DATA=DIR] bench/nab.sh [--help] [GANTRY.NAB-ARG...]

Scores Gantry's streaming anomaly detector (src/Gantry.Core/Anomalies, one parameter set, one detector
per file, fed row by row) on the NAB files in NAB_DATA with NAB v1.1's scoring (bench/Gantry.Nab):
anomaly windows, the scaled sigmoid of a detection's position in or after a window, the probationary
period (15 % of each file, at most 750 rows), the three profiles (standard, reward_low_FP_rate,
reward_low_FN_rate), one threshold per profile optimised over all files as NAB's optimiser does, and
normalisation against the null and the perfect detector: 100 x (raw - null) / (perfect - null).

First it checks the scorer: NAB's sigmoid and window rules on synthetic files, the null and the perfect
detector (0 and 100), and NAB's published results for its windowedGaussian detector (every file's score
and counts at NAB's threshold, and the 35-file score the data's README quotes). A failed check stops it.

Prints Markdown: a table per profile (threshold, raw score, windows detected, false positives, score), one
per category, the detections on the artificialNoAnomaly files, and one row per file (standard profile).

  NAB_DATA   the NAB folder (data/, labels/combined_windows.json, config/profiles.json)
             [../shared/data/nab next to the repository]

Arguments go to bench/Gantry.Nab, e.g. --detector windowedGaussian (NAB's reference detector instead of
Gantry's), --write DIR (also write each file's scores as NAB results CSVs), --no-check. Needs the .NET SDK;
takes a few seconds after the build.
EOF
}

[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAB_DATA=${NAB_DATA:-$(cd "$REPO/.." && pwd)/shared/data/nab}
[[ -f $NAB_DATA/labels/combined_windows.json ]] || { echo "nab: no NAB corpus in $NAB_DATA (set NAB_DATA)" >&2; exit 2; }

echo "Building bench/Gantry.Nab (Release)..." >&2
dotnet build "$REPO/bench/Gantry.Nab" -c Release -nologo -clp:ErrorsOnly -v quiet >&2
echo "Commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'), $(date -u '+%Y-%m-%d %H:%M UTC'), data $NAB_DATA"
exec dotnet "$REPO/bench/Gantry.Nab/bin/Release/net10.0/Gantry.Nab.dll" --data "$NAB_DATA" "$@"
