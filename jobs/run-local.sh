#!/usr/bin/env bash
# Runs a sweep on this machine under mpirun, then draws its phase diagram.
#
#   jobs/run-local.sh                                   # jobs/sweeps/quickstart.ini
#   jobs/run-local.sh my_sweep.ini --set optimizer.steps=100
#   NP=4 OMP_NUM_THREADS=2 jobs/run-local.sh
#
# Writes results/<config name>.h5 (replacing an earlier one), its phase diagram
# results/<config name>.png and the report results/<config name>.html.
# Installs missing Debian packages and builds first (cmake/bootstrap.sh); set SYMSWEEP_BIN to use an
# already built binary instead, SYMSWEEP_RESULTS to write somewhere else.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config=$root/jobs/sweeps/quickstart.ini
if [[ $# -gt 0 && $1 != -* ]]; then
  config=$1
  shift
fi
if [[ -z ${SYMSWEEP_BIN:-} ]]; then
  "$root/cmake/bootstrap.sh"
  SYMSWEEP_BIN=${SYMSWEEP_BUILD_DIR:-$root/build}/symsweep
fi

name=$(basename "$config" .ini)
results=${SYMSWEEP_RESULTS:-$root/results}
mkdir -p "$results"
np=${NP:-$(nproc)}
# -q: no Open MPI banner after symsweep's own one-line error (the exit status is unchanged).
flags=(-q --oversubscribe --bind-to none)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)

echo "== running $config on $np rank(s) x ${OMP_NUM_THREADS:-1} thread(s)"
start=$(date +%s%N)
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} mpirun -np "$np" "${flags[@]}" \
  "$SYMSWEEP_BIN" run "$config" -o "$results/$name.h5" --overwrite "$@"
ms=$((($(date +%s%N) - start) / 1000000))
"$SYMSWEEP_BIN" inspect "$results/$name.h5"
/usr/bin/python3 "$root/analysis/phase_diagram.py" "$results/$name.h5" -o "$results/$name.png"
PYTHONPATH=$root/analysis /usr/bin/python3 -m symsweep_analysis report "$results/$name.h5" \
  -o "$results/$name.html"
printf '== sweep wall time (mpirun included): %d.%03d s\n' $((ms / 1000)) $((ms % 1000))
