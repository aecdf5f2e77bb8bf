#!/usr/bin/env bash
# W1 through kappa and through a plain Go loop in the same process, for N events, on one and two cores, in batch
# and stream mode, fixed and sliding windows. Prints one markdown table row per run.
# Usage: scripts/bench.sh N [N ...]   (make bench runs 1e6 and 1e7; BENCH_N="1000000 10000000 100000000" for 1e8)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/windowsum
go build -o "$bin" ./examples/windowsum
echo "| N | cores | mode | window | kappa events/s | plain loop events/s | ratio | peak RSS | checksum |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "$@"; do
  for cores in 1 2; do
    for spec in "batch fixed" "stream fixed" "batch sliding"; do
      set -- $spec
      mode=$1 window=$2
      # Three runs; the row shows the run with the median kappa rate (the machine is shared: medians, not bests).
      runs=()
      for _ in 1 2 3; do
        runs+=("$(GOMAXPROCS=$cores "$bin" -n "$n" -mode "$mode" -window "$window" -bench | tr '\n' '|')")
      done
      rate() { sed 's/[^|]* rate=\([0-9]*\).*/\1/' <<<"$1"; }
      out=$(for r in "${runs[@]}"; do echo "$(rate "$r") $r"; done | sort -n | sed -n 2p | cut -d' ' -f2-)
      kappa=$(cut -d'|' -f1 <<<"$out")
      plain=$(cut -d'|' -f2 <<<"$out")
      ratio=$(cut -d'|' -f3 <<<"$out" | sed 's/ratio=\([0-9.]*\).*/\1/')
      r1() { sed 's/.* rate=\([0-9]*\).*/\1/' <<<"$1"; }
      rss=$(sed 's/.*peak_rss=\([^ ]*\).*/\1/' <<<"$kappa")
      sum=$(sed 's/.*checksum=\([0-9a-f]*\).*/\1/' <<<"$kappa")
      printf "| %s | %s | %s | %s | %'d | %'d | %s | %s | %s |\n" "$n" "$cores" "$mode" "$window" "$(r1 "$kappa")" "$(r1 "$plain")" "$ratio" "$rss" "$sum"
      set -- "${@:3}"
    done
  done
done
