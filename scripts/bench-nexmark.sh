#!/usr/bin/env bash
# Nexmark through kappa (examples/nexmark): every query at NEXMARK_N events (q0–q2 at 10 × NEXMARK_N), on 1 and
# 2 workers (GOMAXPROCS = workers), batch mode, results counted (Beam's COUNT_ONLY sink). Prints a Markdown
# table: events/s, events/s per core (wall clock / workers), events per CPU-second (user + system time of the
# process: what a machine shared with other work does not hide), peak RSS, and the ratio of the per-core rate to
# Flink's published per-core figure.
#
#   scripts/bench-nexmark.sh                          # 1e7 events (q0–q2: 1e8)
#   NEXMARK_N=1000000 scripts/bench-nexmark.sh        # a quick run
#   NEXMARK_QUERIES="q5 q7" NEXMARK_WORKERS=2 scripts/bench-nexmark.sh
#
# The generator runs at Flink's Nexmark rate (-rate 10000000: event times 0.1 µs apart, as nexmark.yaml's
# 10M TPS) and q5 slides every 2 s (Flink's HOP); NEXMARK_FLAGS replaces the generator flags.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${NEXMARK_N:-10000000}
N_STATELESS=${NEXMARK_N_STATELESS:-$((N * 10))}
QUERIES=${NEXMARK_QUERIES:-"q0 q1 q2 q3 q4 q5 q6 q7 q8 q11 q12"}
WORKERS=${NEXMARK_WORKERS:-"1 2"}
FLAGS=${NEXMARK_FLAGS:-"-rate 10000000"}

bin=$(mktemp -d)/nexmark
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./examples/nexmark

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs, $(go version | cut -d' ' -f3)"
echo
echo "| query | events | workers | events/s | per core | per CPU-second | peak RSS | results | Flink per core | ratio (per core) | ratio (per CPU-s) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for q in $QUERIES; do
	n=$N
	case $q in q0 | q1 | q2) n=$N_STATELESS ;; esac
	extra=""
	[ "$q" = q5 ] && extra="-window-period 2s"
	for w in $WORKERS; do
		# shellcheck disable=SC2086
		line=$(GOMAXPROCS=$w "$bin" -query "$q" -events "$n" -workers "$w" -bench -sink count $FLAGS $extra)
		flink=$(field flink_per_core "$line")
		percore=$(field per_core "$line")
		percpu=$(field per_cpu_s "$line")
		if [ -n "$flink" ]; then
			r1=$(awk -v a="$percore" -v b="$flink" 'BEGIN{printf "%.1f×", a/b}')
			r2=$(awk -v a="$percpu" -v b="$flink" 'BEGIN{printf "%.1f×", a/b}')
			flink=$(awk -v b="$flink" 'BEGIN{printf "%.0fK", b/1000}')
		else
			flink="—" r1="—" r2="—"
		fi
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" "$q" "$n" "$w" "$(field rate "$line")" \
			"$percore" "$percpu" "$(field peak_rss "$line")" "$(field results "$line")" "$flink" "$r1" "$r2"
	done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
