#!/usr/bin/env bash
# Builds tests/fuzz/fuzz_spec.cpp with clang (libFuzzer, ASan, UBSan) and fuzzes the config parser
# for SYMSWEEP_FUZZ_SECONDS (default 60), starting from every shipped and test config. A crash, a
# sanitizer report or a config text that does not round-trip fails the run (its input is kept in
# build-fuzz/ and printed, to become a unit test); an input that is merely slow is reported only.
#   tests/fuzz/run.sh [seconds]
#   tests/fuzz/run.sh --build-only      # builds build-fuzz/fuzz_spec and stops
#   tests/fuzz/run.sh --prebuilt [seconds]   # fuzzes with the fuzz_spec already built
# (tests/run.sh builds it while the CTest suite runs, then fuzzes with --prebuilt.)
set -euo pipefail

mode=build-and-run
case ${1:-} in
  --build-only) mode=build; shift ;;
  --prebuilt) mode=run; shift ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${SYMSWEEP_FUZZ_DIR:-$root/build-fuzz}
seconds=${1:-${SYMSWEEP_FUZZ_SECONDS:-60}}
clang=$(command -v clang++-14 || command -v clang++ || true)
if [[ -z $clang ]]; then
  echo "fuzz: clang++ not found (Debian: clang-14 libclang-rt-14-dev); skipped" >&2
  exit 77
fi
mkdir -p "$out/corpus" "$out/artifacts"
src=$root/src
# The parser, at -O1: what the fuzzer runs most. The models' sources hold their config rules too
# (each model's keys), but mostly their mathematics, never run here: at -O0 they build in half
# the time, instrumented alike.
parser=("$src/spec.cpp" "$src/grid.cpp" "$src/text.cpp" "$src/error.cpp" "$src/model.cpp"
        "$src/schema.cpp" "$src/sha256.cpp" "$src/refine.cpp")
models=("$src/models/linear2.cpp" "$src/models/poly.cpp" "$src/models/diaglinear.cpp"
        "$src/models/scaleinv.cpp" "$src/models/deeplinear.cpp" "$src/models/mlp2.cpp"
        "$src/data.cpp" "$src/rng.cpp"
        "$src/detmath.cpp" "$src/eigen_solvers.cpp" "$src/optimizer.cpp")
if [[ $mode != run ]]; then
  echo "== building the fuzz target with $clang"
  # One object per source, $(nproc) at a time. UBSan without its alignment and null checks, as in
  # build-sanitize/ (tests/run.sh): they instrument every load and store, double the compile
  # time, and a null dereference still stops the fuzzer (SIGSEGV).
  flags=(-std=c++17 -gline-tables-only -fsanitize=fuzzer,address,undefined
         -fno-sanitize=alignment,null -fno-sanitize-recover=all -ffp-contract=off
         -DEIGEN_DONT_PARALLELIZE -I "$root/include" -I "$src" -isystem /usr/include/eigen3)
  rm -rf "$out/obj" && mkdir -p "$out/obj"
  export clang out
  { printf -- '-O1 %s\n' "$root/tests/fuzz/fuzz_spec.cpp" "${parser[@]}"
    printf -- '-O0 %s\n' "${models[@]}"; } |
    xargs -P "$(nproc)" -L 1 bash -c \
      'n=$#; o=$out/obj/$(basename "${!n}" .cpp).o; "$clang" "${@:1:n-2}" "${@:n-1}" -c -o "$o"' \
      _ "${flags[@]}"
  "$clang" "${flags[@]}" "$out"/obj/*.o -o "$out/fuzz_spec"
fi
[[ $mode == build ]] && exit 0
if [[ ! -x $out/fuzz_spec ]]; then
  echo "fuzz: $out/fuzz_spec is not built" >&2
  exit 1
fi
cp "$root"/jobs/sweeps/*.ini "$root"/tests/mpi/*.ini "$root"/tests/compat/*.ini "$out/corpus/"
echo "== fuzzing the config parser for ${seconds} s"
set +e
"$out/fuzz_spec" "$out/corpus" -max_total_time="$seconds" -max_len=4096 -timeout=20 \
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
