#!/usr/bin/env bash
# Runs parrun's benchmarks next to Open MPI's and MPICH's on this machine and prints a table.
#   tools/bench/compare.sh [startup|p2p|collectives|all]   (default all)
# Installs openmpi-bin and mpich (for comparison only) when missing. Expects a Release build in
# build/ (tools/build.sh). Numbers are only comparable within one run on one quiet machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
out=build/bench
mkdir -p "$out"
if ! command -v mpicxx.openmpi >/dev/null || ! command -v mpicxx.mpich >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    openmpi-bin libopenmpi-dev mpich libmpich-dev >/dev/null
fi
mpicxx.openmpi -O2 -std=c++20 tools/bench/mpi_bench.cpp -o "$out/mpi_bench.openmpi"
mpicxx.mpich -O2 -std=c++20 tools/bench/mpi_bench.cpp -o "$out/mpi_bench.mpich"

parrun=build/bin/parrun
ompi() { mpirun.openmpi --allow-run-as-root --oversubscribe -n "$1" "$out/mpi_bench.openmpi" "${@:2}"; }
mpich() { mpirun.mpich -n "$1" "$out/mpi_bench.mpich" "${@:2}"; }
prun() { "$parrun" -n "$1" "$out/parrun_bench" "${@:2}"; }

# Median wall time (ms) of 10 runs of a command.
median_ms() {
  local times=()
  for _ in $(seq 10); do
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n '5,6p' | awk '{s+=$1} END {printf "%.0f", s/2}'
}

row() { printf '%-22s %14s %14s %14s\n' "$@"; }
value() { awk -v k="$1" '$1 == k {print $2 " " $3}'; }

row "measurement" "parrun" "Open MPI" "MPICH"
if [ "$what" = startup ] || [ "$what" = all ]; then
  row "hello -n 8 (median/10)" "$(median_ms $parrun -n 8 build/examples/00_hello) ms" \
      "$(median_ms ompi 8 hello) ms" "$(median_ms mpich 8 hello) ms"
fi
if [ "$what" = p2p ] || [ "$what" = all ]; then
  for m in latency bandwidth; do
    p=$(prun 2 $m); o=$(ompi 2 $m); c=$(mpich 2 $m)
    key=$(echo "$p" | awk '{print $1}')
    row "$key" "$(echo "$p" | value "$key")" "$(echo "$o" | value "$key")" "$(echo "$c" | value "$key")"
  done
fi
if [ "$what" = collectives ] || [ "$what" = all ]; then
  for n in 2 4 8; do
    p=$(prun $n collectives); o=$(ompi $n collectives); c=$(mpich $n collectives)
    for key in allreduce_8B allreduce_8MiB broadcast_1MiB; do
      row "$key -n $n" "$(echo "$p" | value $key)" "$(echo "$o" | value $key)" "$(echo "$c" | value $key)"
    done
  done
fi
