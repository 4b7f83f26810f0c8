#!/usr/bin/env bash
# Runs parrun's benchmarks next to Open MPI's, MPICH's and raw ZeroMQ's, in one run on this machine,
# and prints a ratio table, the issue-8 targets table, writes every raw number as JSON and draws
# latency and bandwidth against message size (log-log) as one PNG.
#
#   tools/bench/compare.sh [--quick] [--json FILE] [--png FILE] [--only LIST] [--build-dir DIR]
#     --quick      fewer sizes, 25 ms per measurement, fewer start-up runs (about 2 minutes);
#                  the default run takes about 5 minutes on the 2-core VM
#     --json FILE  where the raw numbers go   (default BUILD_DIR/bench/compare.json)
#     --png FILE   where the picture goes     (default BUILD_DIR/bench/compare.png)
#     --only LIST  comma-separated subset of p2p,collectives,startup,heat (default: all four)
#     --build-dir  the CMake build to use     (default build; configured as Release if absent)
#
# Columns: "parrun (shm)" and "parrun (zmq)" are the same parrun programs run with
# PARRUN_TRANSPORT=shm (shared memory) and PARRUN_TRANSPORT=zmq (every peer on ZeroMQ); "Open MPI"
# and "MPICH" are mpi_bench.cpp built with each one's mpicxx; "raw ZeroMQ" is zmq_bench.cpp (cppzmq PUSH/PULL over ipc://, point to point
# only). Methods: tools/bench/README.md and the comment header of each program.
#
# Benchmark-only dependencies (never needed to build or test parrun): openmpi-bin libopenmpi-dev
# mpich libmpich-dev gnuplot-nox, installed with apt-get when missing (as root, or with sudo).
# A runtime that cannot be installed or fails is reported as "-" and the rest still runs.
# Numbers are only comparable within one run on one quiet machine; ratios are more stable.
set -uo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

quick=0 json="" png="" only="p2p,collectives,startup,heat" build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --json) json=$(realpath -m "${2:?--json needs a file}"); shift ;;
    --png) png=$(realpath -m "${2:?--png needs a file}"); shift ;;
    --only) only=${2:?--only needs a list}; shift ;;
    --build-dir) build=$(realpath -m "${2:?--build-dir needs a directory}"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/../.." || exit 1
out="$build/bench"
mkdir -p "$out"
json=${json:-$out/compare.json}
png=${png:-$out/compare.png}
log="$out/compare.log"
: >"$log"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
results="$tmp/results.tsv"  # runtime-id, np, key, value, unit, samples (comma-separated)
: >"$results"
wants() { [[ ",$only," == *",$1,"* ]]; }
note() { echo "compare.sh: $*" >&2; }
started=$(date +%s)
load() { cut -d" " -f1 /proc/loadavg 2>/dev/null || echo null; }
load_start=$(load)
busy() { awk -v l="$1" -v c="$(nproc)" 'BEGIN {exit !(l + 0 > c / 2)}'; }
busy "$load_start" && note "load average $load_start on $(nproc) cores: something else is running, the numbers will be noisy"

# --- benchmark-only dependencies ---------------------------------------------------------------
missing=()
command -v mpicxx.openmpi >/dev/null || missing+=(openmpi-bin libopenmpi-dev)
command -v mpicxx.mpich >/dev/null || missing+=(mpich libmpich-dev)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  note "installing ${missing[*]} (benchmark-only)"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
      --no-install-recommends "${missing[@]}"; } >>"$log" 2>&1 || note "could not install them (see $log)"
fi

# --- build -------------------------------------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1 || { note "cmake failed (see $log)"; exit 1; }
fi
note "building parrun_launcher parrun_bench zmq_bench 00_hello 06_heat_equation in $build"
cmake --build "$build" -j"$(nproc)" --target parrun_launcher parrun_bench zmq_bench 00_hello 06_heat_equation \
  >>"$log" 2>&1 || { note "build failed (see $log)"; exit 1; }
parrun="$build/bin/parrun"
have=(shm zmq)
for impl in openmpi mpich; do
  bin="$out/mpi_bench.$impl"
  command -v "mpicxx.$impl" >/dev/null || { note "no mpicxx.$impl: its column stays empty"; continue; }
  if [ ! "$bin" -nt tools/bench/mpi_bench.cpp ] || [ ! "$bin" -nt tools/bench/bench_harness.hpp ]; then
    "mpicxx.$impl" -O2 -std=c++20 -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX tools/bench/mpi_bench.cpp -o "$bin" \
      >>"$log" 2>&1 || { note "mpicxx.$impl failed (see $log)"; continue; }
  fi
  case $impl in openmpi) have+=(ompi) ;; mpich) have+=(mpich) ;; esac
done
[ -x "$out/zmq_bench" ] && have+=(raw)
has() { [[ " ${have[*]} " == *" $1 "* ]]; }

label() {
  case $1 in shm) echo "parrun (shm)" ;; zmq) echo "parrun (zmq)" ;; ompi) echo "Open MPI" ;;
    mpich) echo "MPICH" ;; raw) echo "raw ZeroMQ" ;; esac
}

# launch ID NP: sets L to the command line that starts a program of runtime ID on NP ranks.
launch() {
  case $1 in
    shm|zmq) L=(env "PARRUN_TRANSPORT=$1" "$parrun" -n "$2") ;;
    ompi) L=(mpirun.openmpi --allow-run-as-root --oversubscribe -n "$2") ;;
    mpich) L=(mpirun.mpich -n "$2") ;;
    raw) L=() ;;
  esac
}
bench_of() {
  case $1 in shm|zmq) echo "$out/parrun_bench" ;; ompi) echo "$out/mpi_bench.openmpi" ;;
    mpich) echo "$out/mpi_bench.mpich" ;; raw) echo "$out/zmq_bench" ;; esac
}

# collect ID NP COMMAND...: runs it (5 minutes at most) and files its "key value unit" lines,
# each with the batches of its "# key b1 b2 ..." line.
collect() {
  local id=$1 np=$2
  shift 2
  echo "== $(label "$id") -n $np: $*" >>"$log"
  timeout 300 "$@" 2>>"$log" | tee -a "$log" |
    awk -v id="$id" -v np="$np" '
      $1 == "#" && NF > 2 { s = $3; for (i = 4; i <= NF; ++i) s = s "," $i; samples[$2] = s; next }
      NF == 3 && $2 ~ /^[0-9.]+$/ { key[++n] = $1; line[n] = id "\t" np "\t" $1 "\t" $2 "\t" $3 "\t" }
      END { for (i = 1; i <= n; ++i) print line[i] samples[key[i]] }' >>"$results"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || note "$(label "$id") -n $np $*: exit status $rc (see $log)"
}

median() { sort -g | awk '{a[NR] = $1} END {if (NR) printf "%.6g", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# timed_runs ID NP KEY RUNS COMMAND...: wall time (ms) of each run, files the median and the runs.
timed_runs() {
  local id=$1 np=$2 key=$3 runs=$4 samples=() t0 t1
  shift 4
  echo "== $(label "$id") -n $np: $runs x $*" >>"$log"
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    if ! timeout 300 "$@" >/dev/null 2>>"$log"; then
      note "$(label "$id") -n $np $*: failed (see $log)"
      return
    fi
    t1=$(date +%s%N)
    samples+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e6}')")
  done
  local med
  med=$(printf '%s\n' "${samples[@]}" | median)
  printf '%s\t%s\t%s\t%s\tms\t%s\n' "$id" "$np" "$key" "$med" "$(IFS=,; echo "${samples[*]}")" >>"$results"
}

q=()
[ $quick -eq 1 ] && q=(--quick)

# --- point to point: latency, bandwidth, bidirectional bandwidth at -n 2 -------------------------
if wants p2p; then
  # parrun (zmq) runs right before raw ZeroMQ, which it is compared with.
  for id in shm ompi mpich zmq raw; do
    has "$id" || continue
    note "p2p: $(label "$id")"
    launch "$id" 2
    collect "$id" 2 "${L[@]}" "$(bench_of "$id")" p2p "${q[@]}"
  done
fi

# --- collectives at -n 2, 4, 8 -------------------------------------------------------------------
if wants collectives; then
  for np in 2 4 8; do
    for id in "${have[@]}"; do
      [ "$id" = raw ] && continue
      note "collectives -n $np: $(label "$id")"
      launch "$id" "$np"
      collect "$id" "$np" "${L[@]}" "$(bench_of "$id")" collectives "${q[@]}"
    done
  done
fi

# --- job start: launch to exit of a hello world ----------------------------------------------------
if wants startup; then
  if [ $quick -eq 1 ]; then plan="8:3 128:1"; else plan="8:10 32:5 128:3"; fi
  for step in $plan; do
    np=${step%%:*} runs=${step##*:}
    for id in "${have[@]}"; do
      [ "$id" = raw ] && continue
      note "start-up -n $np ($runs runs): $(label "$id")"
      launch "$id" "$np"
      case $id in
        shm|zmq) timed_runs "$id" "$np" hello "$runs" "${L[@]}" "$build/examples/00_hello" ;;
        *) timed_runs "$id" "$np" hello "$runs" "${L[@]}" "$(bench_of "$id")" hello ;;
      esac
    done
  done
fi

# --- 06_heat_equation: its own reported time on 1, 2 (and 4) ranks --------------------------------
if wants heat; then
  if [ $quick -eq 1 ]; then ranks="1 2" runs=1; else ranks="1 2 4" runs=3; fi
  for np in $ranks; do
    for id in shm zmq; do
      note "06_heat_equation -n $np ($runs runs): $(label "$id")"
      samples=()
      launch "$id" "$np"
      for _ in $(seq $runs); do
        s=$(timeout 300 "${L[@]}" "$build/examples/06_heat_equation" 2>>"$log" | sed -n 's/^(\([0-9]*\) ranks[^,]*, \([0-9.]*\) s)$/\2/p')
        [ -n "$s" ] && samples+=("$s")
      done
      [ ${#samples[@]} -gt 0 ] || { note "06_heat_equation -n $np failed (see $log)"; continue; }
      printf '%s\t%s\theat_equation\t%s\ts\t%s\n' "$id" "$np" "$(printf '%s\n' "${samples[@]}" | median)" \
        "$(IFS=,; echo "${samples[*]}")" >>"$results"
    done
  done
fi

# --- the tables ------------------------------------------------------------------------------------
elapsed=$(( $(date +%s) - started ))
echo
echo "parrun vs Open MPI vs MPICH vs raw ZeroMQ, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $([ $quick -eq 1 ] && echo "--quick, ")${elapsed} s"
load_end=$(load)
echo "load average (1 min) at start $load_start, at end $load_end$(busy "$load_end" && echo ": the machine was busy, expect noise")"
echo "Ratios are parrun / the other (shm/OMPI = parrun (shm) / Open MPI, zmq/raw = parrun (zmq) / raw ZeroMQ):"
echo "for us, ms and s above 1x means parrun is slower; for MB/s below 1x means parrun is slower."
awk -F'\t' '
  function fmt(v) {
    if (v == "") return "-"
    return v >= 100 ? sprintf("%.0f", v) : v >= 10 ? sprintf("%.1f", v) : v >= 1 ? sprintf("%.2f", v) : sprintf("%.3f", v)
  }
  function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf(a / b >= 100 ? "%.0fx" : "%.2fx", a / b) }
  {
    row = $2 SUBSEP $3
    if (!(row in seen)) { seen[row] = 1; order[++n] = row }
    v[$1, row] = $4; unit[row] = $5
  }
  END {
    f = "%-29s %12s %12s %11s %11s %11s %9s %9s %9s\n"
    printf f, "measurement", "parrun(shm)", "parrun(zmq)", "Open MPI", "MPICH", "raw ZeroMQ", "shm/OMPI", "shm/MPICH", "zmq/raw"
    for (i = 1; i <= n; ++i) {
      split(order[i], k, SUBSEP)
      name = k[2]; sub(/_/, " ", name)
      if (name == "heat equation") name = "06_heat_equation"
      lbl = sprintf("%s -n %s (%s)", name, k[1], unit[order[i]])
      r = order[i]
      printf f, lbl, fmt(v["shm", r]), fmt(v["zmq", r]), fmt(v["ompi", r]), fmt(v["mpich", r]), fmt(v["raw", r]),
        ratio(v["shm", r], v["ompi", r]), ratio(v["shm", r], v["mpich", r]), ratio(v["zmq", r], v["raw", r])
    }
  }' "$results"

echo
echo "Targets (issue 8; parrun = parrun (shm) unless the row says zmq; same run)"
awk -F'\t' '
  function fmt(v) {
    if (v == "") return "-"
    return v >= 100 ? sprintf("%.0f", v) : v >= 10 ? sprintf("%.1f", v) : v >= 1 ? sprintf("%.2f", v) : sprintf("%.3f", v)
  }
  { v[$1, $2, $3] = $4; unit[$3] = $5 }
  # want NAME, ID, NP, KEY, REF-ID (or "const"), REF-NP (or the constant), REF-KEY, OP, MUST, GOAL
  # (for REF-ID "const", REF-KEY is the unit of the constant)
  function want(name, id, np, key, rid, rnp, rkey, op, must, goal,   a, b, r, ok, good, refname, au, bu) {
    a = v[id, np, key]; au = unit[key]
    if (rid == "const") { b = rnp; bu = rkey; refname = "issue: today" }
    else {
      b = v[rid, rnp, rkey]; bu = unit[rkey]
      refname = (rid == "ompi" ? "Open MPI" : rid == "raw" ? "raw ZeroMQ" : rid == "shm" ? "parrun -n " rnp : "parrun(zmq) -n " rnp)
    }
    if (a == "" || b == "" || b == 0) {
      printf fmtrow, name, fmt(a), refname, fmt(b), "-", op must "x", (goal == "" ? "" : op goal "x"), "n/a (not measured)"
      return
    }
    r = a / b
    ok = (op == "<=") ? r <= must : (op == ">=") ? r >= must : r < must
    good = (goal == "") ? "" : (((op == ">=") ? r >= goal : r <= goal) ? ", goal met" : ", goal not met")
    printf fmtrow, name, fmt(a) " " au, refname, fmt(b) " " bu, sprintf("%.2fx", r),
      op must "x", (goal == "" ? "" : op goal "x"), (ok ? "yes" : "NO") good
  }
  END {
    fmtrow = "%-36s %13s %-15s %13s %8s %7s %7s %s\n"
    printf fmtrow, "target", "parrun", "against", "value", "ratio", "must", "goal", "must met?"
    want("latency 8 B", "shm", 2, "latency_8B", "ompi", 2, "latency_8B", "<=", 2, 1)
    want("latency 1 MiB", "shm", 2, "latency_1MiB", "ompi", 2, "latency_1MiB", "<=", 1, 0.9)
    want("latency 16 MiB", "shm", 2, "latency_16MiB", "ompi", 2, "latency_16MiB", "<=", 1, 0.9)
    want("bandwidth 16 MiB", "shm", 2, "bandwidth_16MiB", "ompi", 2, "bandwidth_16MiB", ">=", 1, 1.2)
    for (np = 2; np <= 8; np *= 2) {
      want("allreduce 8 B -n " np, "shm", np, "allreduce_8B", "ompi", np, "allreduce_8B", "<=", 1, 0.9)
      want("allreduce 8 MiB -n " np, "shm", np, "allreduce_8MiB", "ompi", np, "allreduce_8MiB", "<=", 1, 0.9)
      want("broadcast 1 MiB -n " np, "shm", np, "broadcast_1MiB", "ompi", np, "broadcast_1MiB", "<=", 1, 0.9)
    }
    want("zmq lane: latency 8 B", "zmq", 2, "latency_8B", "raw", 2, "latency_8B", "<=", 1.2, "")
    want("zmq lane: latency 1 MiB", "zmq", 2, "latency_1MiB", "raw", 2, "latency_1MiB", "<=", 1.2, "")
    want("zmq lane: latency 16 MiB", "zmq", 2, "latency_16MiB", "raw", 2, "latency_16MiB", "<=", 1.2, "")
    want("zmq lane: bandwidth 16 MiB", "zmq", 2, "bandwidth_16MiB", "raw", 2, "bandwidth_16MiB", ">=", 0.8, "")
    want("06_heat_equation 2 ranks vs 1", "shm", 2, "heat_equation", "shm", 1, "heat_equation", "<", 1, "")
    want("06_heat_equation 2 ranks vs 1 (zmq)", "zmq", 2, "heat_equation", "zmq", 1, "heat_equation", "<", 1, "")
    want("hello -n 8, start to exit", "shm", 8, "hello", "const", 24, "ms", "<=", 1, "")
    want("hello -n 128, start to exit", "shm", 128, "hello", "const", 310, "ms", "<=", 1, "")
    want("hello -n 8 vs Open MPI (info)", "shm", 8, "hello", "ompi", 8, "hello", "<=", 1, "")
    want("hello -n 128 vs Open MPI (info)", "shm", 128, "hello", "ompi", 128, "hello", "<=", 1, "")
  }' "$results"
echo "(-n 1024 / -n 4096 start-up: tools/bench/job_scaling.sh build 1024 4096)"

# --- JSON: every number, with the runs behind each median ------------------------------------------
version() { "$@" 2>/dev/null | head -n1 | sed 's/.*[[:space:]]//' | tr -cd '[:alnum:]._-'; }
{
  printf '{\n  "generated": "%s",\n  "host": "%s",\n  "cores": %s,\n  "quick": %s,\n  "seconds": %s,\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(hostname)" "$(nproc)" "$([ $quick -eq 1 ] && echo true || echo false)" "$elapsed"
  printf '  "load_average": {"start": %s, "end": %s},\n' "$load_start" "$load_end"
  printf '  "versions": {"parrun": "%s", "openmpi": "%s", "mpich": "%s", "zeromq": "%s"},\n' \
    "$(git rev-parse --short HEAD 2>/dev/null)" "$(version mpirun.openmpi --version)" \
    "$(version mpichversion)" "$(pkg-config --modversion libzmq 2>/dev/null)"
  printf '  "runtimes": {"shm": "parrun (shm)", "zmq": "parrun (zmq)", "ompi": "Open MPI", "mpich": "MPICH", "raw": "raw ZeroMQ"},\n'
  printf '  "method": "tools/bench/README.md: point-to-point and collectives are medians of 5 timed batches after a calibrated warm-up; start-up is the median wall time of several runs; heat_equation the program'"'"'s own time",\n'
  printf '  "results": [\n'
  awk -F'\t' '
    function bytes(key,   s, n) {
      if (!match(key, /_[0-9]+(B|KiB|MiB)$/)) return "null"
      s = substr(key, RSTART + 1); n = s + 0
      return s ~ /MiB$/ ? n * 1048576 : s ~ /KiB$/ ? n * 1024 : n
    }
    {
      bench = $3; sub(/_[0-9]+(B|KiB|MiB)$/, "", bench)
      printf "%s    {\"runtime\": \"%s\", \"np\": %d, \"name\": \"%s\", \"benchmark\": \"%s\", \"bytes\": %s, \"value\": %s, \"unit\": \"%s\", \"samples\": [%s]}",
        (NR > 1 ? ",\n" : ""), $1, $2, $3, bench, bytes($3), $4, $5, $6
    }
    END { print "" }' "$results"
  printf '  ]\n}\n'
} >"$json"
echo "JSON: $json"

# --- PNG: latency and bandwidth against message size, log-log --------------------------------------
if ! command -v gnuplot >/dev/null; then
  note "no gnuplot: no picture"
  exit 0
fi
for id in shm zmq ompi mpich raw; do
  for what in latency bandwidth; do
    awk -F'\t' -v id="$id" -v what="$what" '
      $1 == id && $2 == 2 && $3 ~ "^" what "_[0-9]+(B|KiB|MiB)$" {
        s = $3; sub(/^[a-z]+_/, "", s); n = s + 0
        print (s ~ /MiB$/ ? n * 1048576 : s ~ /KiB$/ ? n * 1024 : n), $4
      }' "$results" | sort -g >"$tmp/$id.$what"
  done
done
# Line styles by runtime, fixed whatever is missing.
styles="set style line 1 lc rgb '#d62728' lw 2 pt 7 ps 0.8
set style line 2 lc rgb '#ff7f0e' lw 2 pt 5 ps 0.8 dt 2
set style line 3 lc rgb '#1f77b4' lw 2 pt 9 ps 0.8
set style line 4 lc rgb '#2ca02c' lw 2 pt 11 ps 0.8
set style line 5 lc rgb '#7f7f7f' lw 2 pt 13 ps 0.8 dt 3"
ls_of() { case $1 in shm) echo 1 ;; zmq) echo 2 ;; ompi) echo 3 ;; mpich) echo 4 ;; raw) echo 5 ;; esac; }
plot_of() {
  local what=$1 list=""
  for id in shm zmq ompi mpich raw; do
    [ -s "$tmp/$id.$what" ] && list+="${list:+, }'$tmp/$id.$what' using 1:2 with linespoints ls $(ls_of "$id") title '$(label "$id")'"
  done
  echo "$list"
}
lat=$(plot_of latency) bw=$(plot_of bandwidth)
if [ -z "$lat$bw" ]; then
  note "no point-to-point numbers: no picture"
  exit 0
fi
gnuplot >>"$log" 2>&1 <<EOF || note "gnuplot failed (see $log)"
set terminal pngcairo size 1400,560 font 'Sans,11'
set output '$png'
$styles
set logscale xy
set grid xtics ytics mxtics mytics lc rgb '#dddddd'
set xtics ('8 B' 8, '64 B' 64, '512 B' 512, '4 KiB' 4096, '32 KiB' 32768, '256 KiB' 262144, '2 MiB' 2097152, '16 MiB' 16777216)
set xrange [6:22000000]
set key top left box opaque
set multiplot layout 1,2 title "parrun vs MPI, -n 2 on one host ($(nproc) cores, $(date -u +%Y-%m-%d)$([ $quick -eq 1 ] && echo ', --quick'))"
set title 'one-way latency (ping-pong / 2)'
set xlabel 'message size'
set ylabel 'microseconds'
set format y '%g'
${lat:+plot $lat}
set title 'unidirectional bandwidth (window of isends)'
set ylabel 'MB/s (10^6 bytes per second)'
set key bottom right box opaque
${bw:+plot $bw}
unset multiplot
EOF
[ -s "$png" ] && echo "PNG: $png"
echo "log: $log"
