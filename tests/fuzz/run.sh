#!/usr/bin/env bash
# Builds tests/fuzz/fuzz_spec.cpp with clang (libFuzzer, ASan, UBSan) and fuzzes the config parser
# for SYMSWEEP_FUZZ_SECONDS (default 60), starting from every shipped and test config. A crash, a
# sanitizer report or a config text that does not round-trip fails the run (its input is kept in
# build-fuzz/ and printed, to become a unit test); an input that is merely slow is reported only.
#   tests/fuzz/run.sh [seconds]
#   tests/fuzz/run.sh --build-only      # builds build-fuzz/tests/symsweep_fuzz_spec and stops
#   tests/fuzz/run.sh --prebuilt [seconds]   # fuzzes with the target already built
# The target is CMake's symsweep_fuzz_spec (-DSYMSWEEP_FUZZ=ON, tests/CMakeLists.txt): the fuzz
# input goes through the whole library, built with clang under ASan and UBSan and with libFuzzer's
# coverage. tests/run.sh builds it in its sanitizer tree (build-sanitize/, which then is a clang
# tree) and fuzzes with --prebuilt and SYMSWEEP_FUZZ_BIN set to it.
set -euo pipefail

mode=build-and-run
case ${1:-} in
  --build-only) mode=build; shift ;;
  --prebuilt) mode=run; shift ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${SYMSWEEP_FUZZ_DIR:-$root/build-fuzz}
seconds=${1:-${SYMSWEEP_FUZZ_SECONDS:-60}}
bin=${SYMSWEEP_FUZZ_BIN:-$out/tests/symsweep_fuzz_spec}
mkdir -p "$out/corpus" "$out/artifacts"
if [[ $mode != run ]]; then
  clang=$(command -v clang++-14 || command -v clang++ || true)
  if [[ -z $clang ]]; then
    echo "fuzz: clang++ not found (Debian: clang-14 libclang-rt-14-dev libomp-14-dev); skipped" >&2
    exit 77
  fi
  echo "== building the fuzz target with $clang in $out"
  # The sanitizer settings of build-sanitize/ (cmake/sanitize.cmake; a null dereference still
  # stops the fuzzer: SIGSEGV).
  CC=${clang/clang++/clang} CXX=$clang cmake -S "$root" -B "$out" \
    -C "$root/cmake/sanitize.cmake" -DSYMSWEEP_FUZZ=ON >/dev/null
  cmake --build "$out" -j "$(nproc)" --target symsweep_fuzz_spec
fi
[[ $mode == build ]] && exit 0
if [[ ! -x $bin ]]; then
  echo "fuzz: $bin is not built" >&2
  exit 1
fi
cp "$root"/jobs/sweeps/*.ini "$root"/tests/mpi/*.ini "$root"/tests/compat/*.ini "$out/corpus/"
echo "== fuzzing the config parser for ${seconds} s"
set +e
"$bin" "$out/corpus" -max_total_time="$seconds" -max_len=4096 -timeout=20 \
  -rss_limit_mb=2048 -timeout_exitcode=70 -error_exitcode=77 -print_final_stats=1 \
  -artifact_prefix="$out/artifacts/" 2>"$out/fuzz.log"
rc=$?
set -e
grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|fuzz_spec:|ERROR:|SUMMARY:" \
  "$out/fuzz.log" || true
case $rc in
  0) echo "fuzz: no crash in ${seconds} s" ;;
  70) echo "fuzz: an input took over 20 s (kept in $out/artifacts/); not a crash" ;;
  *)
    echo "fuzz: FAILED (exit $rc); the input:" >&2
    for f in "$out"/artifacts/crash-* "$out"/artifacts/leak-* "$out"/artifacts/oom-*; do
      [[ -e $f ]] && { echo "-- $f" >&2; od -c "$f" | head -20 >&2; }
    done
    tail -40 "$out/fuzz.log" >&2
    exit 1
    ;;
esac
