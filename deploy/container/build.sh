#!/usr/bin/env bash
# Builds the Gantry container image from a published build. See --help.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'USAGE'
Usage: deploy/container/build.sh [--binary-dir DIR] [--tag TAG] [--base IMAGE] [--runtime podman|docker]
                                 [-- EXTRA BUILD ARGUMENTS...]

Builds deploy/container/Containerfile around a published gantry build (default: dist/, as the
README's release build writes it: dotnet publish src/Gantry -c Release -r linux-x64
-p:PublishAot=true -o dist). The build is staged into a temporary context without debug symbols
(*.pdb, *.dbg) or XML docs, and lands in /usr/lib/gantry in the image.

  --binary-dir DIR   the published build [dist/]
  --tag TAG          the image's name [gantry:VERSION, VERSION from Directory.Build.props]
  --base IMAGE       the base image: glibc, OpenSSL, CA certificates and /bin/sh
                     [mcr.microsoft.com/dotnet/runtime-deps:10.0]; name a copy in your own
                     registry when the machine cannot reach that one
  --runtime R        podman or docker [podman if installed, else docker]

Arguments after -- go to 'podman build' (or 'docker build') as they are (--platform, --label...).
Prints the image's tag on its last line.
USAGE
}

root="$(cd "$(dirname "$0")/../.." && pwd)"
binary_dir="$root/dist"
tag=""
base=""
runtime=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --binary-dir) binary_dir="${2:?--binary-dir needs a directory}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --base) base="${2:?--base needs an image}"; shift 2 ;;
    --runtime) runtime="${2:?--runtime needs podman or docker}"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "build.sh: $*" >&2; exit 1; }
case "$runtime" in
  "") if command -v podman >/dev/null 2>&1; then runtime=podman; elif command -v docker >/dev/null 2>&1; then runtime=docker; else die "neither podman nor docker is installed (apt-get install podman)"; fi ;;
  podman|docker) command -v "$runtime" >/dev/null 2>&1 || die "$runtime is not installed" ;;
  *) echo "build.sh: --runtime must be podman or docker" >&2; exit 2 ;;
esac
[ -x "$binary_dir/gantry" ] || die "$binary_dir/gantry is missing: publish first (dotnet publish src/Gantry -c Release -r linux-x64 -p:PublishAot=true -o dist) or give --binary-dir"
if [ -z "$tag" ]; then
  version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props" | head -n1)"
  tag="gantry:${version:-latest}"
fi

context="$(mktemp -d "${TMPDIR:-/tmp}/gantry-image-XXXXXX")"
trap 'rm -rf "$context"' EXIT
mkdir "$context/gantry-build"
# The build as it is, less what only a debugger or an IDE reads.
cp -a "$binary_dir/." "$context/gantry-build/"
find "$context/gantry-build" \( -name '*.pdb' -o -name '*.dbg' -o -name '*.xml' \) -delete
cp "$root/deploy/container/Containerfile" "$context/Containerfile"

args=(build -f "$context/Containerfile" -t "$tag")
[ -z "$base" ] || args+=(--build-arg "BASE=$base")
"$runtime" "${args[@]}" "${extra[@]}" "$context" >&2
echo "$tag"
