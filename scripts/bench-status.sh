#!/usr/bin/env bash
# The cost of the status page: W1 in stream mode through examples/windowsum with and without -status, runs
# alternated (the machine is shared: pairs, then medians). Reports events per second of wall time and events per
# second of CPU time (user + system of the process: less sensitive to other load on a shared machine).
# Usage: scripts/bench-status.sh [RUNS] N [N ...]   e.g. scripts/bench-status.sh 9 10000000
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-9}
shift || true
[[ $# -gt 0 ]] || set -- 10000000
bin=$(mktemp -d)/windowsum
go build -o "$bin" ./examples/windowsum
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# one N [flags...]: prints "wall_rate cpu_rate" of one run.
one() {
  local n=$1 out cpu
  shift
  TIMEFORMAT="%U %S"
  { time GOMAXPROCS=2 "$bin" -n "$n" -mode stream "$@" >"$tmp/out"; } 2>"$tmp/time"
  out=$(sed 's/.* rate=\([0-9]*\).*/\1/' "$tmp/out")
  cpu=$(awk '{print $1 + $2}' "$tmp/time")
  echo "$out $(echo "$n / $cpu" | bc -l)"
}
tmp=$(mktemp -d)
echo "| N | cores | runs | without: events/s (wall) | with -status: events/s (wall) | ratio | without: events per CPU-s | with: events per CPU-s | ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "$@"; do
  offw=() onw=() offc=() onc=()
  for ((i = 0; i < runs; i++)); do
    read -r w c < <(one "$n")
    offw+=("$w") offc+=("$c")
    read -r w c < <(one "$n" -status 127.0.0.1:0)
    onw+=("$w") onc+=("$c")
  done
  a=$(printf '%s\n' "${offw[@]}" | median) b=$(printf '%s\n' "${onw[@]}" | median)
  c=$(printf '%s\n' "${offc[@]}" | median) d=$(printf '%s\n' "${onc[@]}" | median)
  printf "| %s | 2 | %s | %'d | %'d | %.3f | %'d | %'d | %.3f |\n" "$n" "$runs" "$a" "$b" "$(echo "$b / $a" | bc -l)" \
    "${c%.*}" "${d%.*}" "$(echo "$d / $c" | bc -l)"
  echo "wall without: ${offw[*]}" >&2
  echo "wall with:    ${onw[*]}" >&2
  echo "cpu without:  ${offc[*]}" >&2
  echo "cpu with:     ${onc[*]}" >&2
done
