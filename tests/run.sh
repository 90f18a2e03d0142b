#!/usr/bin/env bash
# Builds symsweep (installing missing Debian packages, warnings as errors) and runs the whole test
# suite: unit, MPI (np = 1, 2, 3), end-to-end, analysis and SLURM tests; then the unit and MPI
# tests again under AddressSanitizer + UndefinedBehaviorSanitizer (build-sanitize/), and a fuzz run
# of the config parser (tests/fuzz/run.sh, 60 s). Extra arguments go to the first ctest, e.g.
# tests/run.sh -L unit. SYMSWEEP_SANITIZE=0 or SYMSWEEP_FUZZ_SECONDS=0 leave those parts out.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SYMSWEEP_BUILD_DIR:-$root/build}
# The SLURM tests need a real one-node cluster (tests/slurm/cluster.sh starts it); the fuzz run
# needs clang with its runtime.
export SYMSWEEP_OPTIONAL_PACKAGES="slurmctld slurmd slurm-client munge clang-14 libclang-rt-14-dev ${SYMSWEEP_OPTIONAL_PACKAGES:-}"
"$root/cmake/bootstrap.sh"
echo "== running the test suite"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"

if [[ ${SYMSWEEP_SANITIZE:-1} != 0 ]]; then
  echo "== unit and MPI tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  sanitize=$root/build-sanitize
  cmake -S "$root" -B "$sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYMSWEEP_WERROR=ON \
    -DSYMSWEEP_SANITIZE=address,undefined >/dev/null
  cmake --build "$sanitize" -j "$(nproc)" >/dev/null
  # Open MPI's and HDF5's own allocations that live until exit are not ours: suppressed by name
  # (tests/sanitize/lsan.supp), leak detection stays on for everything else. Open MPI keeps its
  # plugins loaded so that their frames have names to suppress by.
  OMPI_MCA_mca_base_component_disable_dlclose=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
    LSAN_OPTIONS=suppressions=$root/tests/sanitize/lsan.supp:print_suppressions=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$sanitize" --output-on-failure -j "$(nproc)" -L "unit|mpi"
fi

if [[ ${SYMSWEEP_FUZZ_SECONDS:-60} != 0 ]]; then
  echo "== fuzzing the config parser"
  rc=0
  "$root/tests/fuzz/run.sh" "${SYMSWEEP_FUZZ_SECONDS:-60}" || rc=$?
  [[ $rc -eq 0 || $rc -eq 77 ]] || exit "$rc"
fi
