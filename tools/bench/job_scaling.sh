#!/usr/bin/env bash
# Start-up and teardown of a whole job against its size (a benchmark, never a test):
#   tools/bench/job_scaling.sh [BUILD_DIR] [SIZES...]     (default: build, 64 128 256 512 1024)
# For each size, the median of 3 runs of build/bench/job_scaling:
#   start    = parrun started -> every rank joined and past a first barrier
#   teardown = that barrier -> parrun exited (all ranks finalized and gone)
# On a 2-core machine large sizes are heavily oversubscribed: that is the point (laptops, CI).
set -euo pipefail
build=${1:-build}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 128 256 512 1024)
prog="$build/bench/job_scaling"
parrun="$build/bin/parrun"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%6s %10s %12s\n' ranks start_s teardown_s
for n in "${sizes[@]}"; do
  starts=() downs=()
  for _ in 1 2 3; do
    t0=$(date +%s%N)
    joined=$("$parrun" -n "$n" --timeout 300 "$prog" | awk '/^joined/ {print $2}')
    t2=$(date +%s%N)
    starts+=("$(awk -v a="$t0" -v b="$joined" 'BEGIN {printf "%.3f", (b - a) / 1e9}')")
    downs+=("$(awk -v a="$joined" -v b="$t2" 'BEGIN {printf "%.3f", (b - a) / 1e9}')")
  done
  printf '%6d %10s %12s\n' "$n" "$(printf '%s\n' "${starts[@]}" | median)" "$(printf '%s\n' "${downs[@]}" | median)"
done
