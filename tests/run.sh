#!/usr/bin/env bash
# Builds symsweep (installing missing Debian packages, warnings as errors) and runs the whole test
# suite: unit, MPI (np = 1, 2, 3), end-to-end, analysis and SLURM tests. Extra arguments go to ctest,
# e.g. tests/run.sh -L unit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SYMSWEEP_BUILD_DIR:-$root/build}
# The SLURM tests need a real one-node cluster (tests/slurm/cluster.sh starts it).
export SYMSWEEP_OPTIONAL_PACKAGES="slurmctld slurmd slurm-client munge ${SYMSWEEP_OPTIONAL_PACKAGES:-}"
SYMSWEEP_CMAKE_ARGS="-DSYMSWEEP_WERROR=ON ${SYMSWEEP_CMAKE_ARGS:-}" "$root/cmake/bootstrap.sh"
echo "== running the test suite"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"
