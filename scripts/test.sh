#!/usr/bin/env bash
# Runs every Gantry test. Installs what the tests need when it is missing (Debian/Ubuntu:
# gcc for the NVML test library, prometheus for promtool and a real Prometheus, prometheus-alertmanager for
# Alertmanager and amtool, tmux for gantry top, systemd for systemd-analyze, chromium for the dashboard's
# browser tests, postgresql for the PostgreSQL store's tests), builds, starts a throwaway PostgreSQL 15
# (GANTRY_TEST_POSTGRES; stopped and deleted at the end), runs `dotnet test` on the solution, then the
# server, end-to-end and browser tests again on PostgreSQL (GANTRY_TEST_STORE=postgres), and ends with one
# line counting both: `N passed, N failed, N skipped`.
#
#   scripts/test.sh                  everything
#   scripts/test.sh --filter Nvml    passed through to dotnet test
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
# promtool checks metrics, rules and deploy/prometheus; the prometheus server runs the dashboards' queries.
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || need+=(prometheus)
# Alert delivery's tests post to a real Alertmanager 0.25; amtool checks deploy/alertmanager.
{ command -v prometheus-alertmanager && command -v amtool; } >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# deploy/systemd's units are checked with systemd-analyze verify (systemd need not be PID 1).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# deploy/container's image is built and run with podman (as root, runc, cgroupfs: see ENVIRONMENT.md);
# busybox-static is the shell of the images the tests build from scratch.
{ command -v podman && command -v runc && [ -x /bin/busybox ]; } >/dev/null 2>&1 || need+=(podman runc busybox-static)
# Playwright drives Debian's Chromium at this path (no browser download is possible).
[ -x /usr/bin/chromium ] || need+=(chromium)
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/initdb" ] || need+=(postgresql)
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

# One throwaway PostgreSQL for the whole run; each test makes its own database on it
# (tests/Gantry.Testing/PostgresServer.cs). A GANTRY_TEST_POSTGRES already set (a server of your own)
# is used as it is. Where none can be started the tests that need it fail under CI=true and are
# skipped otherwise, told why by GANTRY_TEST_POSTGRES_ERROR.
pg_dir=""
pg_error=""
as_postgres() {
  # The server refuses to run as root: as root, run it as the postgres user the package creates.
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    su postgres -s /bin/sh -c 'exec "$0" "$@"' "$@"
  fi
}
stop_postgres() {
  [ -n "$pg_dir" ] || return 0
  if [ -f "$pg_dir/data/postmaster.pid" ]; then
    (cd "$pg_dir" && as_postgres "$pgbin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1)
  fi
  rm -rf "$pg_dir"
}
start_postgres() {
  [ -x "$pgbin/initdb" ] || { pg_error="$pgbin/initdb is missing (apt-get install postgresql)"; return 1; }
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { pg_error="there is no 'postgres' user to run the server as"; return 1; }
    # /tmp, not $TMPDIR: the postgres user must be able to reach the folder.
    pg_dir=$(mktemp -d /tmp/gantry-pg.XXXXXX) && chown postgres: "$pg_dir" || { pg_error="no temporary folder"; return 1; }
  else
    pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/gantry-pg.XXXXXX") || { pg_error="no temporary folder"; return 1; }
  fi
  # -N: no fsync of the new files; C locale: no locale lookups. Run from the folder: the postgres
  # user may not be able to enter the current one.
  (cd "$pg_dir" && as_postgres "$pgbin/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 --locale=C -N) \
    >"$pg_dir/initdb.log" 2>&1 || { pg_error="initdb failed: $(tail -n 3 "$pg_dir/initdb.log" | tr "\n" " ")"; return 1; }
  # Appending and truncating keep the files' owner (postgres). A throwaway: durability off.
  cat >>"$pg_dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pg_dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
EOF
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$pg_dir/data/pg_hba.conf"
  # A random port below the kernel's ephemeral range (what port 0 hands out to other tests);
  # one another process holds is tried again with another.
  local attempt port
  for attempt in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 12000))
    rm -f "$pg_dir/server.log"
    if (cd "$pg_dir" && as_postgres "$pgbin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 -o "-p $port" start) >/dev/null 2>&1; then
      export GANTRY_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
      return 0
    fi
    grep -q "already in use" "$pg_dir/server.log" || break
  done
  pg_error="the server did not start: $(tail -n 3 "$pg_dir/server.log" | tr "\n" " ")"
  return 1
}
trap stop_postgres EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -z "${GANTRY_TEST_POSTGRES:-}" ]; then
  unset GANTRY_TEST_POSTGRES_ERROR
  pg_start=$(date +%s%N)
  if start_postgres; then
    echo "PostgreSQL 15 for the tests at $GANTRY_TEST_POSTGRES (started in $(( ($(date +%s%N) - pg_start) / 1000000 )) ms)"
  else
    echo "warning: no PostgreSQL for the tests: $pg_error; tests that need it will fail (CI) or be skipped" >&2
    export GANTRY_TEST_POSTGRES_ERROR="scripts/test.sh could not start PostgreSQL 15: $pg_error"
  fi
fi

dotnet test Gantry.slnx -c Release --no-build --nologo \
  --logger "trx" --results-directory "$results" \
  --logger "console;verbosity=normal" "$@" 2>&1 | grep -vE "^\s*(Passed |Skipped )" 
status=${PIPESTATUS[0]}

# The server's API, end-to-end and browser tests a second time with the state in PostgreSQL
# (GANTRY_TEST_STORE=postgres: each server gets a database of its own), their results kept apart in
# $results/postgres. Without a PostgreSQL this pass is left out, except under CI=true, where it runs and fails.
if [ -n "${GANTRY_TEST_POSTGRES:-}" ] || [ "${CI:-}" = "true" ]; then
  for project in tests/Gantry.Server.Tests tests/Gantry.EndToEnd.Tests tests/Gantry.Browser.Tests; do
    echo "Again on PostgreSQL: $project"
    GANTRY_TEST_STORE=postgres dotnet test "$project" -c Release --no-build --nologo \
      --logger "trx" --results-directory "$results/postgres" \
      --logger "console;verbosity=normal" "$@" 2>&1 | grep -vE "^\s*(Passed |Skipped )"
    pg_status=${PIPESTATUS[0]}
    [ $pg_status -ne 0 ] && status=$pg_status
  done
else
  echo "warning: the PostgreSQL pass of the server, end-to-end and browser tests is left out: no PostgreSQL" >&2
fi

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx "$results"/postgres/*.trx; do
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
