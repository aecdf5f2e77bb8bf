#!/usr/bin/env bash
# Installs kinesalite (a Kinesis emulator on Node.js) into $1 (default: $KAPPA_TOOLS/kinesalite, else
# <repo>/.tools/kinesalite). Idempotent: does nothing when the pinned version is already there.
# Needs node and npm on PATH; kinesalite's leveldown ships a prebuilt binary, so no compiler is used.
set -euo pipefail

version=3.3.3
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-${KAPPA_TOOLS:-$repo/.tools}/kinesalite}
pkg=$dir/node_modules/kinesalite/package.json

if [[ -f $pkg ]] && node -e "process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)" "$pkg" "$version"; then
	exit 0
fi
for tool in node npm; do
	if ! command -v "$tool" >/dev/null; then
		echo "install-kinesalite: $tool is not on PATH; install Node.js 20 or newer with npm" >&2
		exit 1
	fi
done
mkdir -p "$dir"
echo "install-kinesalite: installing kinesalite@$version into $dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "kinesalite@$version"
node -e "require(process.argv[1])" "$dir/node_modules/kinesalite" # fails loudly if the native module did not load
