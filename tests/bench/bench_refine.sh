#!/usr/bin/env bash
# Benchmark of adaptive refinement (not in CTest: it times runs). The L_beta phase diagram of
# jobs/sweeps/l_beta_refined.ini (poly, model.beta x optimizer.eta, GD from x0 = (0.01, 0)) at
# 257 x 257 and STEPS steps (default 3000), with no budget, run uniformly and refined ([refine]
# over both axes, 6 levels: a 5 x 5 coarse grid halved six times) in one run, at 2 ranks x 1
# thread. Prints, for each: the simulations run and the wall time (mpirun's whole
# run), then their ratios, and checks that every point the refined sweep resolves has the
# uniform sweep's outcome (symsweep_analysis.to_grid).
#   tests/bench/bench_refine.sh [BUILD_DIR] [OUT_DIR] [STEPS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$root/build/bench-refine}
steps=${3:-3000}
bin=$build/symsweep
mkdir -p "$out"
flags=(-q --oversubscribe)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
export OMP_NUM_THREADS=1

# The shipped refined L_beta sweep at STEPS steps, every point of the grid within the budget.
config=$root/jobs/sweeps/l_beta_refined.ini
shrink=(--set "optimizer.steps=$steps" --set refine.budget=0)

run() {  # name, extra args: prints "<seconds> <points run>"
  local name=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  mpirun "${flags[@]}" -np 2 "$bin" run "$config" -o "$out/$name.h5" --overwrite --quiet \
    "${shrink[@]}" "$@"
  t1=$(date +%s.%N)
  local points
  points=$(/usr/bin/python3 -c "
import h5py, sys
with h5py.File(sys.argv[1], 'r') as f:
    print(int(f['refine/rows'][()]) if 'refine' in f else f['results/status'].size)" \
    "$out/$name.h5")
  echo "$(echo "$t1 - $t0" | bc -l) $points"
}

read -r t_uni n_uni < <(run uniform --set refine.axes=)
read -r t_ref n_ref < <(run refined)
printf 'uniform 257 x 257: %d simulations, %.2f s\n' "$n_uni" "$t_uni"
printf 'refined (6 levels): %d simulations, %.2f s\n' "$n_ref" "$t_ref"
printf 'ratio: %.1fx fewer simulations, %.1fx less wall time\n' \
  "$(echo "$n_uni / $n_ref" | bc -l)" "$(echo "$t_uni / $t_ref" | bc -l)"
PYTHONPATH="$root/analysis" /usr/bin/python3 - "$out/refined.h5" "$out/uniform.h5" <<'EOF3'
import sys

from symsweep_analysis import open_sweep, to_grid

grid, uniform = to_grid(open_sweep(sys.argv[1])), open_sweep(sys.argv[2])
ok = grid["resolved"].values
wrong = int((grid["outcome"].values[ok] != uniform["outcome"].values[ok]).sum())
print(f"resolved: {int(ok.sum())} of {ok.size} grid points; outcome differs from the uniform "
      f"sweep's at {wrong} of them")
EOF3
