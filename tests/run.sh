#!/usr/bin/env bash
# Builds symsweep (installing missing Debian packages, warnings as errors) and runs the whole test
# suite in stages: the CTest suite (unit, MPI at np = 1, 2, 3, end-to-end, analysis, SLURM, lint);
# then the unit and MPI tests again under AddressSanitizer + UndefinedBehaviorSanitizer
# (build-sanitize/), the MPI ones over TCP (the transport between nodes); then a fuzz run of the
# config parser (tests/fuzz/run.sh, 30 s). The sanitizer tree, the unit tests under it, the fuzz
# target and the fuzz run are done in the background, at the lowest priority, beside the CTest
# suite and the stages after it; those stages wait for them and report. Every stage runs even
# when an earlier one failed, so one failing test hides nothing; the script ends with a table of
# the stages (status and time) and fails if any stage failed.
#
#   tests/run.sh                 # everything (about 13 minutes on the 2-core development machine)
#   tests/run.sh --quick         # the fast labels only (unit, mpi, lint), no sanitizers, no fuzzing
#   tests/run.sh -L e2e          # extra arguments go to the first ctest
#
# SYMSWEEP_SANITIZE=0 or SYMSWEEP_FUZZ_SECONDS=0 leave those stages out.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SYMSWEEP_BUILD_DIR:-$root/build}
quick=0
ctest_args=()
for a in "$@"; do
  if [[ $a == --quick ]]; then quick=1; else ctest_args+=("$a"); fi
done
if ((quick)); then
  ctest_args=(-L 'unit|mpi|lint' "${ctest_args[@]}")
  SYMSWEEP_SANITIZE=0
  SYMSWEEP_FUZZ_SECONDS=0
fi

# The SLURM tests need a real one-node cluster (tests/slurm/cluster.sh starts it); the fuzz target
# needs clang with its libFuzzer runtime and OpenMP.
export SYMSWEEP_OPTIONAL_PACKAGES="slurmctld slurmd slurm-client munge clang-14 libclang-rt-14-dev libomp-14-dev ${SYMSWEEP_OPTIONAL_PACKAGES:-}"

names=() results=() times=()
failed=0
# stage NAME COMMAND...: runs one stage, records its status and wall time.
stage() {
  local name=$1
  shift
  local t0=$SECONDS rc=0
  echo "== $name"
  "$@" || rc=$?
  names+=("$name")
  times+=($((SECONDS - t0)))
  if ((rc == 0)); then
    results+=(passed)
  elif ((rc == 77)); then
    results+=(skipped)
  else
    results+=("FAILED (exit $rc)")
    failed=1
  fi
  return 0
}

summary() {
  echo
  echo "== stages"
  local i
  for i in "${!names[@]}"; do
    printf '   %-48s %-18s %5d s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
  done
  local passed=0 bad=0 skipped=0 r
  for r in "${results[@]}"; do
    case $r in passed) passed=$((passed + 1)) ;; skipped) skipped=$((skipped + 1)) ;; *) bad=$((bad + 1)) ;; esac
  done
  echo "stages: $passed passed, $bad failed, $skipped skipped"
}

stage "build (cmake/bootstrap.sh)" "$root/cmake/bootstrap.sh"
if [[ ${results[0]} != passed ]]; then
  summary
  exit 1
fi

sanitize=$root/build-sanitize
fuzz_dir=${SYMSWEEP_FUZZ_DIR:-$root/build-fuzz}
sanitize_on=$([[ ${SYMSWEEP_SANITIZE:-1} != 0 ]] && echo 1 || echo 0)
fuzz_on=$([[ ${SYMSWEEP_FUZZ_SECONDS:-30} != 0 ]] && echo 1 || echo 0)

# The sanitizer tree: cmake/sanitize.cmake's settings (ASan and UBSan at -O1 with line tables, a
# unity build), only what the unit and MPI tests run (no test driver, no benchmarks). The unit
# tests' own code is not instrumented (SYMSWEEP_SANITIZE_UNIT_TESTS=OFF): the library it calls
# is, and the tests' templates took half the tree's compile time (242 of 546 CPU seconds; 101
# uninstrumented).
# The tree is built with clang when clang++-14 links a libFuzzer target with OpenMP (Debian:
# clang-14 libclang-rt-14-dev libomp-14-dev): the fuzz target of the config parser is then one
# more target of it (SYMSWEEP_FUZZ=ON), instead of a second sanitized build of the parser (125 CPU
# seconds); otherwise with GCC, and the fuzz stage is skipped.
clang_fuzzer_links() {
  command -v clang++-14 >/dev/null || return 1
  local t rc=0
  t=$(mktemp -d)
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$t/f.cpp"
  clang++-14 -fopenmp -fsanitize=fuzzer,address,undefined "$t/f.cpp" -o "$t/f" >/dev/null 2>&1 ||
    rc=1
  rm -rf "$t"
  return "$rc"
}
build_sanitized() {
  local cc=gcc cxx=g++ fuzz=OFF targets=()
  if clang_fuzzer_links; then
    cc=clang-14 cxx=clang++-14 fuzz=ON targets=(symsweep_fuzz_spec)
  fi
  # A tree configured with the other compiler is configured afresh (CMake cannot switch one).
  # (The cache holds the compiler by its full path, or as given here.)
  local cached=
  [[ -f $sanitize/CMakeCache.txt ]] &&
    cached=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$sanitize/CMakeCache.txt")
  if [[ -n $cached && ${cached##*/} != "$cxx" ]]; then
    rm -rf "$sanitize/CMakeCache.txt" "$sanitize/CMakeFiles"
  fi
  echo "the sanitizer tree: $cxx, fuzz target $fuzz"
  # Two compile jobs more than cores: at the lowest priority the build takes only what the suite
  # leaves idle, and with as many jobs as cores it left some of that idle too (a few big unity
  # batches: at times one job ran alone), finishing 80 s after the suite.
  cmake -S "$root" -B "$sanitize" -C "$root/cmake/sanitize.cmake" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_CXX_COMPILER="$cxx" -DSYMSWEEP_WERROR=ON -DSYMSWEEP_SANITIZE_UNIT_TESTS=OFF \
    -DSYMSWEEP_FAULT_TRIALS=5 -DSYMSWEEP_FUZZ="$fuzz" &&
    cmake --build "$sanitize" -j "$(($(nproc) + 2))" --target symsweep_cli symsweep_unit_tests \
      symsweep_mpi_store_test symsweep_mpi_sweep_test symsweep_store_unwind \
      symsweep_mpi_faults_test symsweep_mpi_io_hints_test ${targets[@]+"${targets[@]}"}
}

# sanitizer_env COMMAND...: runs COMMAND with the sanitizers' settings. Open MPI's and HDF5's own
# allocations that live until exit are not ours: suppressed by name (tests/sanitize/lsan.supp),
# leak detection stays on for everything else. Open MPI keeps its plugins loaded so that their
# frames have names to suppress by.
sanitizer_env() {
  env OMPI_MCA_mca_base_component_disable_dlclose=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
    LSAN_OPTIONS="suppressions=$root/tests/sanitize/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$@"
}
# Left out under the sanitizers: Lanczos at d = 400 and 8192, the long SGD runs to the noise
# equilibrium, the chaotic band's Lyapunov exponents and the normals' tail statistics (seconds
# each at -O1 under ASan), whose code paths shorter tests run; the suite above runs them all.
heavy_numerics='d400_|D8192|Linear2Equilibrium|FMinusChaoticBand|Normals.TheFarTail|Normals.Moments'

# The unit tests under the sanitizers, in one process (each test in a process of its own pays
# ASan's start-up: 290 of them took twice as long). Nothing in them is timed.
sanitized_unit() {
  (cd "$sanitize/tests" && sanitizer_env ./symsweep_unit_tests --gtest_brief=1 \
    --gtest_filter="-$(sed 's/\([^|]*\)/*\1*/g; s/|/:/g' <<<"$heavy_numerics")")
}

# Work that runs in the background, at the lowest priority, while the CTest suite runs: most of
# its tests wait on mpirun, signals and SLURM, and this takes only what they leave idle. The
# sanitizer build, then side by side the unit tests under it and the fuzz run with its fuzz
# target (without the sanitizer tree, tests/fuzz/run.sh builds a clang tree of its own). Each step
# writes its log and, when done, "STATUS SECONDS" to DIR/STEP.rc for the stage that needs it.
mkdir -p "$sanitize" "$fuzz_dir"
rm -f "$sanitize"/build.rc "$sanitize"/unit.rc "$fuzz_dir"/run.rc
# step DIR NAME COMMAND...: runs one step, its output to DIR/NAME.log, its status to DIR/NAME.rc.
step() {
  local dir=$1 name=$2 t0=$SECONDS rc=0
  shift 2
  "$@" >"$dir/$name.log" 2>&1 || rc=$?
  echo "$rc $((SECONDS - t0))" >"$dir/$name.rc"
  return "$rc"
}
sanitizer_chain() { step "$sanitize" build build_sanitized && step "$sanitize" unit sanitized_unit; }
no_fuzz_target() {
  echo "fuzz: skipped: the sanitizer tree has no fuzz target: it was built with GCC (clang-14," \
    "libclang-rt-14-dev and libomp-14-dev make it a clang tree with one), or its build failed" \
    "($sanitize/build.log)"
  return 77
}
fuzz_chain() {
  local secs=${SYMSWEEP_FUZZ_SECONDS:-30}
  if ((!sanitize_on)); then
    step "$fuzz_dir" run "$root/tests/fuzz/run.sh" "$secs"
  elif [[ -x $sanitize/tests/symsweep_fuzz_spec ]]; then
    step "$fuzz_dir" run env SYMSWEEP_FUZZ_BIN="$sanitize/tests/symsweep_fuzz_spec" \
      "$root/tests/fuzz/run.sh" --prebuilt "$secs"
  else
    step "$fuzz_dir" run no_fuzz_target
  fi
}
background() {
  local tree=
  if ((sanitize_on)); then
    sanitizer_chain &
    tree=$!
  fi
  if ((fuzz_on)); then
    {
      while [[ -n $tree && ! -s $sanitize/build.rc ]] && kill -0 "$tree" 2>/dev/null; do
        sleep 1
      done
      fuzz_chain
    } &
  fi
  wait
}
if ((sanitize_on || fuzz_on)); then
  export root sanitize fuzz_dir sanitize_on fuzz_on heavy_numerics
  export -f clang_fuzzer_links build_sanitized sanitizer_env sanitized_unit step sanitizer_chain \
    no_fuzz_target fuzz_chain background
  # Its own session, so that the trap below stops all of it if this script is stopped. A new
  # session is a new scheduling autogroup where the kernel has them (Linux's
  # sched_autogroup_enabled): nice alone would then not lower its share against the tests, so the
  # group's own nice value is set too.
  setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null; exec nice -n 19 bash -c background' &
  background_pid=$!
  trap 'kill -- -$background_pid 2>/dev/null' EXIT
fi

# waited DIR STEP WHAT: waits for a background step; prints its log's tail (all of it when it
# failed) and returns its status (77: skipped).
waited() {
  local dir=$1 name=$2 what=$3
  while [[ ! -s $dir/$name.rc ]]; do
    kill -0 "$background_pid" 2>/dev/null || break
    sleep 1
  done
  local rc secs
  read -r rc secs <"$dir/$name.rc" 2>/dev/null || { rc=1 secs=?; }
  if ((rc == 0)); then
    echo "$what: passed in the background in ${secs} s (log: $dir/$name.log)"
  elif ((rc == 77)); then
    tail -3 "$dir/$name.log"
  else
    echo "$what: FAILED (exit $rc; log: $dir/$name.log):" >&2
    tail -60 "$dir/$name.log" >&2
  fi
  return "$rc"
}

# One test per core: the timed tests (signals, kills, locks) act on runs they start and need
# their own process to wake on time; at one test more than cores, four of them failed.
stage "test suite (ctest ${ctest_args[*]})" \
  ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "${ctest_args[@]}"

# The MPI tests under the sanitizers run here, in the foreground: Open MPI's ranks yield while
# they wait, and at the lowest priority beside the suite they would starve. The fault-injection
# tests run 5 trials per rank count here (50 in the suite above): under ASan over TCP a trial
# takes seconds (7 s at 3 ranks), and these trials were the longest part of this stage.
# They run over the transport used between nodes: Open MPI's TCP BTL in place of shared memory
# (vader), one-sided windows through pt2pt (osc/sm is shared memory; osc/rdma makes no window over
# TCP in Open MPI 4.1), TCP over the loopback interface (which the TCP BTL leaves out by default:
# a machine without another interface would have none). The suite above runs them over shared
# memory; between the two nothing relies on either.
tcp_env=(OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_osc=pt2pt)
sanitized() {
  waited "$sanitize" build "build-sanitize" || return
  local rc=0
  sanitizer_env env "${tcp_env[@]}" ctest --test-dir "$sanitize" --output-on-failure \
    -j "$(nproc)" -L mpi || rc=1
  waited "$sanitize" unit "unit tests under ASan/UBSan (one process)" || rc=1
  grep -E "^\[  (PASSED|FAILED) +\]" "$sanitize/unit.log" 2>/dev/null
  return "$rc"
}
if ((sanitize_on)); then
  stage "unit, mpi over TCP, ASan/UBSan (build-sanitize/)" sanitized
fi

fuzzed() {
  waited "$fuzz_dir" run "fuzzing" || return
  grep -E "^(stat::number_of_executed_units|fuzz:)" "$fuzz_dir/run.log"
}
if ((fuzz_on)); then
  stage "fuzzing the config parser (${SYMSWEEP_FUZZ_SECONDS:-30} s, in the background)" fuzzed
fi

summary
exit "$failed"
