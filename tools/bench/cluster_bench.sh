#!/usr/bin/env bash
# Benchmarks parrun across (namespace) hosts next to Open MPI, in one run: it brings up the test
# cluster of tests/cluster/cluster.sh (4 hosts h1..h4 with sshd and slurmd), measures, prints two
# tables and the exact commands, writes every number as JSON, and takes the cluster down again.
#
#   tools/bench/cluster_bench.sh [--quick] [--runs N] [--perf] [--json FILE] [--build-dir DIR]
#     --quick      25 ms per point-to-point measurement instead of 100 ms (every size still runs;
#                  saves little: calibration of the large sizes and the start-up runs dominate)
#     --runs N     timed runs per start-up measurement (default 5; one more, untimed, warms up)
#     --perf       also profile one parrun bandwidth run with `perf record -a` and print where the
#                  CPU time went (by thread and by library); needs perf
#     --json FILE  where the raw numbers go (default BUILD_DIR/bench/cluster.json)
#     --build-dir  the CMake build to use (default build)
#   Needs root (network namespaces), openmpi-bin + libopenmpi-dev (installed with apt-get when
#   missing), and what cluster.sh --ssh --slurm needs (openssh-server, slurmd, slurmctld, munge).
#   Takes about 1.5 minutes (2 with --perf). Raw output of every command: BUILD_DIR/bench/cluster.log.
#
# What it measures:
#  1. Point to point, one rank on h1 and one on h2 (TCP across the bridge prbr0): ping-pong
#     latency (one way), bandwidth (window of isends) and bidirectional bandwidth, 8 B .. 16 MiB,
#     with parrun_bench / mpi_bench.cpp (bench_harness.hpp's method, see README.md):
#       parrun:   PARRUN_SSH=$PARRUN_CLUSTER_SSH parrun --host h1,h2 parrun_bench p2p
#       Open MPI: mpirun --host h1,h2 -np 2 ... --mca btl tcp,self ... mpi_bench.openmpi p2p
#     and, for reference, parrun's ZeroMQ lane on the head alone (PARRUN_TRANSPORT=zmq parrun -n 2:
#     the same ZeroMQ machinery over a unix socket, without TCP and without CurveZMQ encryption),
#     which tells apart what ZeroMQ costs from what TCP + encryption add.
#  2. Start to exit of a 16-rank hello world over 4 hosts (4 ranks per host), median of N runs:
#     parrun over ssh, parrun inside a Slurm allocation (salloc), srun --mpi=pmix direct launch
#     (no parrun), Open MPI's mpirun over the same ssh; references: parrun -n 16 and mpirun -n 16
#     on the head alone, and 4 parallel `ssh hI true` (the price of ssh itself).
#
# Caveats (read the numbers with these in mind):
#  - The VM has 2 cores. 16 ranks oversubscribe it 8x, so the start-up numbers are mostly CPU
#    time of 16 process starts, their runtimes' initialisation and (for ssh) 4 ssh handshakes.
#  - The "hosts" are network namespaces of one kernel: "TCP across the bridge" is a veth pair and a
#    software bridge, loopback-like in speed, with no NIC, no wire and no real latency. Both ranks
#    (and ZeroMQ's I/O threads) share the same 2 cores, so this compares software overheads, not
#    networks.
#  - Open MPI needs --bind-to none here: every orted sees the same 2 cores and binds its rank to
#    core 0, so both ping-pong ranks end up on one core and every message waits for a scheduler
#    tick (4 ms latency at every size). parrun does not bind.
#  - parrun encrypts everything between hosts (CurveZMQ, always on); Open MPI's TCP BTL sends in
#    the clear. Numbers vary between runs on this VM; compare within one run.
set -uo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

quick=0 runs=5 perf=0 json="" build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --perf) perf=1 ;;
    --json) json=$(realpath -m "${2:?--json needs a file}"); shift ;;
    --build-dir) build=${2:?--build-dir needs a directory}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "cluster_bench.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "cluster_bench.sh: --runs needs a positive number" >&2; exit 2; }
cd "$(dirname "$0")/../.." || exit 1
repo=$PWD
build=$(realpath -m "$build")  # absolute: the hosts run the same paths
out="$build/bench"
mkdir -p "$out" || exit 1
json=${json:-$out/cluster.json}
log="$out/cluster.log"
: >"$log"
note() { echo "cluster_bench.sh: $*" >&2; }
die() { note "$*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (the cluster is made of network namespaces)"

tmp=$(mktemp -d)
results="$tmp/results.tsv"  # id, key, value, unit, samples (comma-separated)
: >"$results"
cluster=$repo/tests/cluster/cluster.sh
cluster_started=0
cleanup() {
  if [ $cluster_started -eq 1 ]; then
    timeout -k 5 120 "$cluster" down >>"$log" 2>&1 || note "cluster.sh down failed (see $log)"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$(date +%s)
load() { cut -d" " -f1 /proc/loadavg 2>/dev/null || echo null; }
busy() { awk -v l="$1" -v c="$(nproc)" 'BEGIN {exit !(l + 0 > c / 2)}'; }
load_start=$(load)
busy "$load_start" && note "load average $load_start on $(nproc) cores: something else is running, the numbers will be noisy"

# --- dependencies and build -------------------------------------------------------------------
if ! command -v mpicxx.openmpi >/dev/null || ! command -v mpirun.openmpi >/dev/null; then
  note "installing openmpi-bin libopenmpi-dev (benchmark-only)"
  { timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq \
      --no-install-recommends openmpi-bin libopenmpi-dev; } >>"$log" 2>&1 || note "could not install Open MPI (see $log)"
fi
[ -f "$build/CMakeCache.txt" ] || die "no CMake build in $build (configure it first, e.g. cmake --preset release)"
note "building parrun_launcher parrun_bench 00_hello in $build"
timeout 1800 cmake --build "$build" -j"$(nproc)" --target parrun_launcher parrun_bench 00_hello >>"$log" 2>&1 ||
  die "build failed (see $log)"
parrun=$build/bin/parrun
hello=$build/examples/00_hello
pbench=$out/parrun_bench
mbench=$out/mpi_bench.openmpi
have_ompi=1
if ! command -v mpicxx.openmpi >/dev/null; then
  note "no mpicxx.openmpi: the Open MPI rows stay empty"; have_ompi=0
elif [ ! "$mbench" -nt tools/bench/mpi_bench.cpp ] || [ ! "$mbench" -nt tools/bench/bench_harness.hpp ]; then
  timeout 600 mpicxx.openmpi -O2 -std=c++20 -DOMPI_SKIP_MPICXX tools/bench/mpi_bench.cpp -o "$mbench" >>"$log" 2>&1 ||
    { note "mpicxx.openmpi failed (see $log): the Open MPI rows stay empty"; have_ompi=0; }
fi

# --- the cluster --------------------------------------------------------------------------------
note "bringing up the cluster: tests/cluster/cluster.sh up 4 --ssh --slurm"
cluster_started=1  # from here on, `down` at exit (safe even if `up` failed half-way)
timeout -k 5 180 "$cluster" up 4 --ssh --slurm >"$tmp/up.out" 2>&1
rc=$?
cat "$tmp/up.out" >>"$log"
if [ $rc -ne 0 ]; then
  tail -n 20 "$tmp/up.out" >&2
  [ $rc -eq 124 ] && note "cluster.sh up did not finish within 180 s"
  die "the cluster could not come up (cluster.sh up 4 --ssh --slurm: exit status $rc)"
fi
state=${PARRUN_CLUSTER_DIR:-/tmp/parrun-cluster}
[ -f "$state/env" ] || die "the cluster came up but $state/env is missing"
# shellcheck disable=SC1091
source "$state/env"
if [ -z "${PARRUN_CLUSTER_SSH:-}" ] || [ -z "${SLURM_CONF:-}" ]; then
  die "the cluster has no ssh or no Slurm ($state/env)"
fi
for h in h1 h2 h3 h4; do
  timeout 20 "$PARRUN_CLUSTER_SSH" "$h" true >>"$log" 2>&1 || die "the cluster is up but 'ssh $h true' fails (see $log)"
done
timeout 30 srun -N4 true >>"$log" 2>&1 || die "the cluster is up but 'srun -N4 true' fails (see $log)"
export PARRUN_SSH=$PARRUN_CLUSTER_SSH

# --- the commands -----------------------------------------------------------------------------
# shellcheck disable=SC2054  # the commas belong to the arguments (host lists, BTL lists)
ompi_net=(--mca plm_rsh_agent "$PARRUN_CLUSTER_SSH" --mca pml ob1 --mca btl tcp,self
  --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24)
# shellcheck disable=SC2054
ompi_p2p=(mpirun.openmpi --allow-run-as-root --bind-to none --host h1,h2 -np 2 "${ompi_net[@]}")
# shellcheck disable=SC2054
ompi_16=(mpirun.openmpi --allow-run-as-root --bind-to none --host h1:4,h2:4,h3:4,h4:4 -np 16 "${ompi_net[@]}")
ompi_head=(mpirun.openmpi --allow-run-as-root --bind-to none --oversubscribe -n 16)
p2p_args=(p2p)
[ $quick -eq 1 ] && p2p_args=(p2p --time 0.025)
declare -A cmd label
# cmdline ARGS...: the command as one line a shell would take back (single quotes where needed).
cmdline() {
  local s="" a q="'"
  for a in "$@"; do
    [[ "$a" =~ ^[][A-Za-z0-9_./:,=@%+-]+$ ]] || a="$q${a//$q/$q\\$q$q}$q"
    s+="${s:+ }$a"
  done
  echo "$s"
}
label[parrun_tcp]="parrun h1<->h2 (TCP, CurveZMQ)"
label[ompi_tcp]="Open MPI h1<->h2 (TCP BTL)"
label[parrun_zmq_head]="parrun zmq lane, head only (ref)"
label[parrun_ssh]="parrun --host h1:4,..,h4:4 (ssh)"
label[parrun_salloc]="salloc -N4 parrun (Slurm)"
label[srun_pmix]="srun --mpi=pmix -N4 (direct)"
label[ompi_ssh]="mpirun --host h1:4,..,h4:4 (ssh)"
label[parrun_head]="parrun -n 16, head only (ref)"
label[ompi_head]="mpirun -n 16, head only (ref)"
label[ssh4]="4 parallel 'ssh hI true' (ref)"

# collect ID COMMAND...: runs it (5 minutes at most), files its "key value unit" lines with the
# batches of their "# key b1 b2 ..." lines.
collect() {
  local id=$1
  shift
  cmd[$id]="$(cmdline "$@")"
  echo "== ${label[$id]}: ${cmd[$id]}" >>"$log"
  # shellcheck disable=SC2094  # both only append to the log
  timeout -k 5 300 "$@" 2>>"$log" | tee -a "$log" |
    awk -v id="$id" '
      $1 == "#" && NF > 2 { s = $3; for (i = 4; i <= NF; ++i) s = s "," $i; samples[$2] = s; next }
      NF == 3 && $2 ~ /^[0-9.]+$/ { key[++n] = $1; line[n] = id "\t" $1 "\t" $2 "\t" $3 "\t" }
      END { for (i = 1; i <= n; ++i) print line[i] samples[key[i]] }' >>"$results"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || note "${label[$id]}: exit status $rc (see $log)"
}

median() { sort -g | awk '{a[NR] = $1} END {if (NR) printf "%.6g", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# timed ID EXPECT COMMAND...: one untimed warm-up run, then $runs timed runs (wall ms, launch to
# exit); every run must exit 0 and print EXPECT lines "hello from rank" (EXPECT 0: no check).
timed() {
  local id=$1 expect=$2 samples=() t0 t1 i rc got
  shift 2
  cmd[$id]="$(cmdline "$@")"
  echo "== ${label[$id]}: 1 + $runs x ${cmd[$id]}" >>"$log"
  for ((i = 0; i <= runs; ++i)); do
    t0=$(date +%s%N)
    timeout -k 5 120 "$@" >"$tmp/run.out" 2>"$tmp/run.err"
    rc=$?
    t1=$(date +%s%N)
    cat "$tmp/run.err" >>"$log"
    got=$(grep -c '^hello from rank' "$tmp/run.out")
    if [ $rc -ne 0 ] || { [ "$expect" -gt 0 ] && [ "$got" -ne "$expect" ]; }; then
      { echo "-- run $i: exit status $rc, $got hello lines"; tail -n 20 "$tmp/run.out"; } >>"$log"
      note "${label[$id]}: failed (exit status $rc, $got of $expect hello lines; see $log)"
      return
    fi
    [ $i -eq 0 ] && continue  # the warm-up
    samples+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e6}')")
  done
  printf '%s\thello_16\t%s\tms\t%s\n' "$id" "$(printf '%s\n' "${samples[@]}" | median)" \
    "$(IFS=,; echo "${samples[*]}")" >>"$results"
}

# --- 1. point to point across two hosts --------------------------------------------------------
note "p2p: parrun h1<->h2"
collect parrun_tcp "$parrun" --host h1,h2 "$pbench" "${p2p_args[@]}"
if [ $have_ompi -eq 1 ]; then
  note "p2p: Open MPI h1<->h2"
  collect ompi_tcp "${ompi_p2p[@]}" "$mbench" "${p2p_args[@]}"
fi
note "p2p: parrun zmq lane on the head (reference)"
collect parrun_zmq_head env PARRUN_TRANSPORT=zmq "$parrun" -n 2 "$pbench" "${p2p_args[@]}"

# --- 2. start to exit, 16 ranks on 4 hosts ------------------------------------------------------
note "start-up: 16 ranks, 1 + $runs runs each"
timed parrun_ssh 16 "$parrun" --host h1:4,h2:4,h3:4,h4:4 "$hello"
timed parrun_salloc 16 salloc -N4 --ntasks-per-node=4 --quiet "$parrun" "$hello"
timed srun_pmix 16 srun --mpi=pmix -N4 --ntasks-per-node=4 "$hello"
[ $have_ompi -eq 1 ] && timed ompi_ssh 16 "${ompi_16[@]}" "$mbench" hello
timed parrun_head 16 "$parrun" -n 16 "$hello"
[ $have_ompi -eq 1 ] && timed ompi_head 16 "${ompi_head[@]}" "$mbench" hello
# shellcheck disable=SC2016  # expanded by the inner bash
timed ssh4 0 bash -c 'for h in h1 h2 h3 h4; do "$0" "$h" true & done; wait' "$PARRUN_CLUSTER_SSH"

# --- optional: where parrun's CPU time goes in the bandwidth run --------------------------------
perf_txt=""
if [ $perf -eq 1 ]; then
  if command -v perf >/dev/null; then
    note "perf: profiling one parrun h1<->h2 bandwidth run (perf record -a)"
    if timeout -k 5 300 perf record -q -a -o "$tmp/perf.data" -- \
        "$parrun" --host h1,h2 "$pbench" bandwidth --time 0.025 >>"$log" 2>&1; then
      perf_txt=$(
        echo "CPU samples of the whole machine during one parrun h1<->h2 bandwidth run (perf record -a):"
        echo "by thread name:"
        timeout 120 perf report -i "$tmp/perf.data" --no-children --sort comm 2>/dev/null | grep -v '^#' | grep . | head -n 6
        echo "by library:"
        timeout 120 perf report -i "$tmp/perf.data" --no-children --sort dso 2>/dev/null | grep -v '^#' | grep . | head -n 6
      )
    else
      note "perf record failed (see $log)"
    fi
  else
    note "--perf: no perf installed"
  fi
fi

# --- tables ----------------------------------------------------------------------------------
elapsed=$(( $(date +%s) - started ))
load_end=$(load)
echo
echo "parrun across namespace hosts vs Open MPI, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), ${elapsed} s$([ $quick -eq 1 ] && echo ", --quick")"
echo "load average (1 min) at start $load_start$(busy "$load_start" && echo " (something else was running: expect noise)"), at end $load_end (the benchmark's own load)"
echo "versions: parrun $(git rev-parse --short HEAD 2>/dev/null), $(mpirun.openmpi --version 2>/dev/null | head -n1),"\
  "$(srun --version 2>/dev/null), libzmq $(pkg-config --modversion libzmq 2>/dev/null)"
echo
echo "1. Point to point, one rank on h1 and one on h2 (medians of 5 batches; latency one way)"
echo "   ratio = parrun / Open MPI: above 1x parrun is slower for us, below 1x parrun is slower for MB/s"
awk -F'\t' '
  function fmt(v) {
    if (v == "") return "-"
    return v >= 100 ? sprintf("%.0f", v) : v >= 10 ? sprintf("%.1f", v) : v >= 1 ? sprintf("%.2f", v) : sprintf("%.3f", v)
  }
  function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf(a / b >= 100 ? "%.0fx" : "%.2fx", a / b) }
  { v[$1, $2] = $3; unit[$2] = $4 }
  END {
    f = "%-24s %16s %16s %9s %18s\n"
    printf f, "measurement", "parrun h1<->h2", "Open MPI h1<->h2", "ratio", "parrun zmq, head"
    n = split("latency bandwidth bibw", kinds, " ")
    m = split("8B 1KiB 64KiB 1MiB 16MiB", sizes, " ")
    for (i = 1; i <= n; ++i)
      for (j = 1; j <= m; ++j) {
        k = kinds[i] "_" sizes[j]
        if (!(k in unit)) continue
        printf f, kinds[i] " " sizes[j] " (" unit[k] ")", fmt(v["parrun_tcp", k]), fmt(v["ompi_tcp", k]),
          ratio(v["parrun_tcp", k], v["ompi_tcp", k]), fmt(v["parrun_zmq_head", k])
      }
    print "   (every size from 8 B to 16 MiB is in the JSON)"
  }' "$results"
echo
echo "2. Start to exit of a 16-rank hello world, 4 hosts x 4 ranks (wall ms, median of $runs after a warm-up)"
awk -F'\t' -v ids="parrun_ssh parrun_salloc srun_pmix ompi_ssh parrun_head ompi_head ssh4" \
  -v labels="$(for id in parrun_ssh parrun_salloc srun_pmix ompi_ssh parrun_head ompi_head ssh4; do printf '%s|' "${label[$id]}"; done)" '
  { v[$1] = $3; s[$1] = $5 }
  END {
    n = split(ids, id, " "); split(labels, lbl, "|")
    f = "%-36s %9s %9s  %s\n"
    printf f, "launch", "median", "vs ssh", "runs (ms)"
    for (i = 1; i <= n; ++i) {
      r = (v[id[i]] == "" || v["parrun_ssh"] == "") ? "-" : sprintf("%.2fx", v[id[i]] / v["parrun_ssh"])
      printf f, lbl[i], (v[id[i]] == "" ? "-" : sprintf("%.0f", v[id[i]])), r, s[id[i]]
    }
  }' "$results"
echo
echo "Commands (PARRUN_SSH=$PARRUN_CLUSTER_SSH and SLURM_CONF=$SLURM_CONF in the environment):"
for id in parrun_tcp ompi_tcp parrun_zmq_head parrun_ssh parrun_salloc srun_pmix ompi_ssh parrun_head ompi_head ssh4; do
  [ -n "${cmd[$id]:-}" ] && printf '  %-34s %s\n' "${label[$id]}:" "${cmd[$id]}"
done
if [ -n "$perf_txt" ]; then
  echo
  echo "$perf_txt"
fi

# --- JSON ----------------------------------------------------------------------------------------
jstr() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
{
  printf '{\n  "generated": "%s",\n  "host": "%s",\n  "cores": %s,\n  "quick": %s,\n  "runs": %s,\n  "seconds": %s,\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(hostname)" "$(nproc)" "$([ $quick -eq 1 ] && echo true || echo false)" "$runs" "$elapsed"
  printf '  "load_average": {"start": %s, "end": %s},\n' "$load_start" "$load_end"
  printf '  "versions": {"parrun": "%s", "openmpi": "%s", "slurm": "%s", "zeromq": "%s"},\n' \
    "$(git rev-parse --short HEAD 2>/dev/null)" "$(mpirun.openmpi --version 2>/dev/null | head -n1 | sed 's/.* //')" \
    "$(srun --version 2>/dev/null | sed 's/.* //')" "$(pkg-config --modversion libzmq 2>/dev/null)"
  printf '  "method": "tools/bench/cluster_bench.sh header and tools/bench/README.md: point to point is the median of 5 timed batches after a calibrated warm-up (latency one way, bandwidth in 10^6 bytes/s); hello_16 is the median wall time, launch to exit, of several runs after one warm-up run",\n'
  printf '  "runtimes": {\n'
  first=1
  for id in parrun_tcp ompi_tcp parrun_zmq_head parrun_ssh parrun_salloc srun_pmix ompi_ssh parrun_head ompi_head ssh4; do
    [ -n "${cmd[$id]:-}" ] || continue
    [ $first -eq 1 ] || printf ',\n'
    first=0
    printf '    "%s": {"label": "%s", "command": "%s"}' "$id" "$(jstr "${label[$id]}")" "$(jstr "${cmd[$id]}")"
  done
  printf '\n  },\n  "results": [\n'
  awk -F'\t' '
    function bytes(key,   s, n) {
      if (!match(key, /_[0-9]+(B|KiB|MiB)$/)) return "null"
      s = substr(key, RSTART + 1); n = s + 0
      return s ~ /MiB$/ ? n * 1048576 : s ~ /KiB$/ ? n * 1024 : n
    }
    {
      bench = $2; sub(/_[0-9]+(B|KiB|MiB)$/, "", bench)
      printf "%s    {\"runtime\": \"%s\", \"name\": \"%s\", \"benchmark\": \"%s\", \"bytes\": %s, \"value\": %s, \"unit\": \"%s\", \"samples\": [%s]}",
        (NR > 1 ? ",\n" : ""), $1, $2, bench, bytes($2), $3, $4, $5
    }
    END { print "" }' "$results"
  printf '  ]\n}\n'
} >"$json"
echo
echo "JSON: $json"
echo "log: $log"
