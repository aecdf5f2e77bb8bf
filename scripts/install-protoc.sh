#!/usr/bin/env bash
# Installs Debian's protoc with the well-known types (protobuf-compiler, libprotobuf-dev): the schemareg tests
# compile the .proto text they register with it, and go generate in io/schemareg/internal/testpb uses it.
# Idempotent: does nothing when protoc and google/protobuf/timestamp.proto are already there. Needs apt-get and
# root (or sudo); on a machine without apt-get it says what to install and fails.
set -euo pipefail

if command -v protoc >/dev/null && [[ -f /usr/include/google/protobuf/timestamp.proto ]]; then
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	echo "install-protoc: no protoc on PATH and no apt-get; install protoc 3.x with its include files in /usr/include" >&2
	exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null; then
		echo "install-protoc: run as root or install sudo: apt-get install -y protobuf-compiler libprotobuf-dev" >&2
		exit 1
	fi
	sudo=(sudo)
fi
echo "install-protoc: installing Debian's protobuf-compiler and libprotobuf-dev"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev >/dev/null; then
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev >/dev/null
fi
protoc --version
