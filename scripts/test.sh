#!/usr/bin/env bash
# Runs every Gantry test. Installs what the tests need when it is missing (Debian/Ubuntu:
# gcc for the NVML test library, prometheus for promtool, tmux for gantry top, chromium for the dashboard's
# browser tests), builds, runs `dotnet test` on the
# solution and ends with one line: `N passed, N failed, N skipped`.
#
#   scripts/test.sh                  everything
#   scripts/test.sh --filter Nvml    passed through to dotnet test
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# Playwright drives Debian's Chromium at this path (no browser download is possible).
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing test dependencies: ${need[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
      || echo "warning: could not install ${need[*]}; tests that need them will fail (CI) or be skipped" >&2
  else
    echo "warning: cannot install ${need[*]} here (no apt-get or no root); tests that need them will fail (CI) or be skipped" >&2
  fi
fi

results="$(pwd)/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

dotnet build Gantry.slnx -c Release -warnaserror -nologo -clp:ErrorsOnly
build=$?
if [ $build -ne 0 ]; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

dotnet test Gantry.slnx -c Release --no-build --nologo \
  --logger "trx" --results-directory "$results" \
  --logger "console;verbosity=normal" "$@" 2>&1 | grep -vE "^\s*(Passed |Skipped )" 
status=${PIPESTATUS[0]}

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${t:-0} - ${e:-0}))
done

if [ $status -ne 0 ] && [ $failed -eq 0 ]; then
  # dotnet test failed without a failed test (a crashed test host, say): count it.
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $status -eq 0 ] && [ $failed -eq 0 ]
