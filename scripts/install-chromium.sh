#!/usr/bin/env bash
# Installs Debian's chromium (headless browser for the status page test in runners/local/status, driven by chromedp).
# Idempotent: does nothing when a chromium binary is already on PATH. Needs apt-get and root (or sudo); on a
# machine without apt-get it says what to install and fails.
set -euo pipefail

for bin in chromium chromium-browser google-chrome google-chrome-stable; do
	if command -v "$bin" >/dev/null; then
		exit 0
	fi
done
if ! command -v apt-get >/dev/null; then
	echo "install-chromium: no chromium on PATH and no apt-get; install Chromium or Google Chrome (the status page test drives it headless)" >&2
	exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null; then
		echo "install-chromium: run as root or install sudo: apt-get install -y chromium" >&2
		exit 1
	fi
	sudo=(sudo)
fi
echo "install-chromium: installing Debian's chromium (about 150 MB download)"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y --no-install-recommends chromium >/dev/null; then
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y --no-install-recommends chromium >/dev/null
fi
chromium --version
