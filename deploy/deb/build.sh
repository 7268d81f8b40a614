#!/usr/bin/env bash
# Builds a Debian package of Gantry from a published build. See --help.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'USAGE'
Usage: deploy/deb/build.sh [--binary-dir DIR] [--version V] [--arch ARCH] [--out DIR] [--compression xz|gzip|none]

Packages a published gantry build (default: dist/, as the README's release build writes it:
dotnet publish src/Gantry -c Release -r linux-x64 -p:PublishAot=true -o dist) as
gantry_VERSION_ARCH.deb in --out (default: dist/):

  /usr/lib/gantry/         the build: gantry and what lies beside it (libe_sqlite3.so); debug
                           symbols (*.pdb, *.dbg) and XML docs are left out
  /usr/bin/gantry          a link to /usr/lib/gantry/gantry
  /lib/systemd/system/     gantry-server.service, gantry-agent.service (deploy/systemd)
  /usr/share/doc/gantry/   README.md and docs/

Installing it creates the 'gantry' system user (the server's unit runs as it) and reloads systemd
when systemd runs; it enables and starts nothing: configure /etc/gantry/server.env or agent.env and
run systemctl enable --now gantry-server (or gantry-agent), or use 'gantry install' (docs/deploy.md).
Removing it stops both units; purging it also deletes /etc/gantry/*.env (the state in
/var/lib/gantry and /var/lib/gantry-agent stays: delete it by hand).

  --version V      the package version [the <Version> in Directory.Build.props]
  --arch ARCH      Debian architecture [dpkg --print-architecture]
  --compression C  dpkg-deb compression [xz]

Needs dpkg-deb (dpkg). Prints the package's path on its last line.
USAGE
}

root="$(cd "$(dirname "$0")/../.." && pwd)"
binary_dir="$root/dist"
version=""
arch=""
out=""
compression="xz"
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --binary-dir) binary_dir="${2:?--binary-dir needs a directory}"; shift 2 ;;
    --version) version="${2:?--version needs a value}"; shift 2 ;;
    --arch) arch="${2:?--arch needs a value}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --compression) compression="${2:?--compression needs a value}"; shift 2 ;;
    *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "build.sh: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is not installed (apt-get install dpkg)"
[ -x "$binary_dir/gantry" ] || die "$binary_dir/gantry is missing: publish first (dotnet publish src/Gantry -c Release -r linux-x64 -p:PublishAot=true -o dist) or give --binary-dir"
case "$compression" in xz|gzip|none) ;; *) echo "build.sh: --compression must be xz, gzip or none" >&2; exit 2 ;; esac
[ -n "$version" ] || version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props" | head -n1)"
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "version '$version' is not a Debian version"
[ -n "$arch" ] || arch="$(dpkg --print-architecture)"
[ -n "$out" ] || out="$root/dist"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/gantry"
mkdir -p "$pkg/DEBIAN" "$pkg/usr/lib/gantry" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/usr/share/doc/gantry"

# The build, without debug symbols and XML docs.
(cd "$binary_dir" && find . \( -name '*.pdb' -o -name '*.dbg' -o -name '*.xml' \) -prune -o -type f -print) | while read -r f; do
  install -D -m "$([ "$f" = ./gantry ] && echo 0755 || echo 0644)" "$binary_dir/$f" "$pkg/usr/lib/gantry/$f"
done
ln -s ../lib/gantry/gantry "$pkg/usr/bin/gantry"
install -m 0644 "$root"/deploy/systemd/gantry-server.service "$root"/deploy/systemd/gantry-agent.service "$pkg/lib/systemd/system/"
install -m 0644 "$root/README.md" "$pkg/usr/share/doc/gantry/"
cp -r "$root/docs" "$pkg/usr/share/doc/gantry/docs"
find "$pkg/usr/share/doc" -type d -exec chmod 0755 {} + && find "$pkg/usr/share/doc" -type f -exec chmod 0644 {} +

size_kib="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: gantry
Version: $version
Architecture: $arch
Maintainer: Gantry developers <gantry@localhost>
Installed-Size: $size_kib
Depends: libc6, adduser, util-linux
Section: admin
Priority: optional
Description: GPU fleet agent and control plane
 Gantry runs GPU machines as one fleet: an agent on every machine measures
 the host and its GPUs (NVML, procfs, sysfs, RAPL), serves Prometheus
 metrics and runs jobs; the server keeps the fleet's leases, queues and
 places jobs, keeps telemetry history and alerts, with a web dashboard.
 .
 This package installs the binary and the systemd units gantry-server and
 gantry-agent (not enabled), and creates the gantry system user.
CONTROL

cat > "$pkg/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd gantry >/dev/null; then
    adduser --system --group --home /var/lib/gantry --no-create-home --shell /usr/sbin/nologin --quiet gantry
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
  fi
fi
SCRIPT

cat > "$pkg/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop gantry-agent.service gantry-server.service || true
fi
SCRIPT

cat > "$pkg/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -f /etc/gantry/server.env /etc/gantry/agent.env
  rmdir /etc/gantry 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
SCRIPT
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

deb="$out/gantry_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compression" --build "$pkg" "$deb" >/dev/null
echo "$deb"
