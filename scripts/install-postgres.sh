#!/usr/bin/env bash
# Installs PostgreSQL (Debian's postgresql package) for the tests that start a private cluster
# (internal/testsvc/pgtest). Idempotent: does nothing when initdb and postgres are already there.
# The package's own cluster is not needed: the tests run initdb in a temporary folder on a free port.
set -euo pipefail

have() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/initdb && -x $d/postgres ]] && return 0
	done
	return 1
}

if have; then
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	echo "install-postgres: apt-get not found; install PostgreSQL (initdb and postgres) and set KAPPA_PG_BIN to its bin folder" >&2
	exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null; then
		echo "install-postgres: not root and no sudo; run: apt-get install -y postgresql" >&2
		exit 1
	fi
	sudo=(sudo)
fi
echo "install-postgres: installing Debian's postgresql package"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
have || { echo "install-postgres: postgresql installed but no initdb/postgres under /usr/lib/postgresql/*/bin" >&2; exit 1; }
