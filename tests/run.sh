#!/usr/bin/env bash
# Builds symsweep (installing missing Debian packages, warnings as errors) and runs the whole test
# suite: unit, MPI (np = 1, 2, 3), end-to-end and analysis tests. Extra arguments go to ctest,
# e.g. tests/run.sh -L unit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SYMSWEEP_BUILD_DIR:-$root/build}
SYMSWEEP_CMAKE_ARGS="-DSYMSWEEP_WERROR=ON ${SYMSWEEP_CMAKE_ARGS:-}" "$root/cmake/bootstrap.sh"
echo "== running the test suite"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"
