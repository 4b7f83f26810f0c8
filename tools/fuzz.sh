#!/usr/bin/env bash
# Fuzzes everything that decodes bytes from outside the process (tests/fuzz/): builds the
# libFuzzer targets with clang, ASan and UBSan into build-fuzz/, then runs each for
# SECONDS_PER_TARGET (default 20) on a copy of its checked-in corpus (tests/fuzz/corpus/<t>)
# plus the inputs of crashes it once found (tests/fuzz/regressions/<t>). Exits nonzero when
# any target crashed, leaked, hung or allocated beyond the limits, naming the input that did.
# Installs nothing (tools/install-deps.sh brings clang and libclang-rt-14-dev).
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   e.g. tools/fuzz.sh 60 engine control
#   tools/fuzz.sh --seeds                             regenerate tests/fuzz/corpus/
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(decode_raw decode_cereal control envelope engine options shm_ring agent)
build=build-fuzz
work="$build/fuzz-work"

cxx="${CXX_FUZZ:-}"
if [ -z "$cxx" ]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null; then cxx="$c"; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "fuzz.sh: clang++ not found; install clang and libclang-rt-14-dev (tools/install-deps.sh)" >&2
  exit 2
fi

flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPARRUN_FUZZ=ON -DPARRUN_BUILD_TESTS=OFF -DPARRUN_BUILD_EXAMPLES=OFF -DPARRUN_BUILD_BENCHMARKS=OFF \
  -DCMAKE_CXX_FLAGS="$flags" >/dev/null
cmake --build "$build" --target parrun_fuzz_all -j "${PARRUN_FUZZ_JOBS:-$(nproc)}"

if [ "${1:-}" = "--seeds" ]; then
  rm -rf tests/fuzz/corpus
  "$build/tests/fuzz/fuzz_make_seeds" tests/fuzz/corpus
  echo "fuzz.sh: wrote $(find tests/fuzz/corpus -type f | wc -l) seeds to tests/fuzz/corpus/"
  exit 0
fi

seconds="${1:-20}"
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

# ASan's quarantine of freed memory (256 MB by default) counts against -rss_limit_mb: keep it
# small, so that the limit finds inputs that make the code hold memory, not the sanitizer.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=32}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

failed=()
for t in "${targets[@]}"; do
  exe="$build/tests/fuzz/fuzz_$t"
  [ -x "$exe" ] || { echo "fuzz.sh: no target '$t' (targets: ${all_targets[*]})" >&2; exit 2; }
  dir="$work/$t"
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
  if [ -d tests/fuzz/regressions/"$t" ]; then cp tests/fuzz/regressions/"$t"/* "$dir/corpus/" 2>/dev/null || true; fi
  extra=()
  [ -f tests/fuzz/"$t".dict ] && extra+=("-dict=tests/fuzz/$t.dict")
  # The engine warns on stderr about every frame it drops: keep libFuzzer's own reports only.
  [ "$t" = engine ] && extra+=(-close_fd_mask=2)
  set +e
  "$exe" -max_total_time="$seconds" -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "${extra[@]}" "$dir/corpus" >"$dir/log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  found=$(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if [ $rc -ne 0 ] || [ -n "$found" ]; then
    failed+=("$t")
    echo "fuzz.sh: $t FAILED after ${runs:-?} runs (exit $rc); from $dir/log:"
    # What happened, and where: the report's first line, then its frames in parrun's code.
    grep -m1 -E "runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|parrun fuzz .*BUG" "$dir/log" | sed 's/^/  /'
    grep -E "^    #[0-9]+ " "$dir/log" | grep -E "/work/|boost::|cereal/" | grep -vE "/include/c\+\+/|/build-fuzz/" | head -6 |
      sed -E 's/ \(BuildId: [0-9a-f]+\)//; s/^ +#[0-9]+ 0x[0-9a-f]+ in /    /' | cut -c1-220
    for f in $found; do
      echo "fuzz.sh: $t: the input: $f"
      echo "fuzz.sh:   reproduce: $exe $f"
    done
  else
    echo "fuzz.sh: $t ok: ${runs:-?} runs in ${seconds} s, corpus $(find "$dir/corpus" -type f | wc -l) inputs"
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]} (a new finding's input belongs in tests/fuzz/regressions/<target>/)"
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ok"
