#!/usr/bin/env bash
# Benchmark of the schedules (not in CTest: it times runs). A linear2 sweep of 1152 points whose
# costs span far more than 100x, clustered by phase in grid order (row-major, the step size
# slowest: small step sizes converge late and run long, the large ones diverge within a few steps;
# the batch, 1 or 64, the fastest axis), at 2 ranks x 1 thread, with --schedule dynamic and
# --schedule static side by side, the step sizes ascending (grid order) and descending, REPEATS
# times. For each run: the makespan (the run's time less the time before the points and after
# them, from the driver's "time:" line) against total work / workers (the points' /run/seconds
# summed, over 2 workers), the work per rank, and the spread of the point costs.
#   tests/bench/bench_schedule.sh [BUILD_DIR] [OUT_DIR] [REPEATS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$root/build/bench-schedule}
repeats=${3:-2}
bin=$build/symsweep
mkdir -p "$out"
flags=(-q --oversubscribe)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
export OMP_NUM_THREADS=1

cat >"$out/phased.ini" <<'EOF'
# Costs clustered by phase along the step size (the slowest axis: small steps converge late, the
# largest diverge early), and by the batch (the fastest axis, two values: under the static
# schedule at 2 ranks every batch-64 point runs on rank 1).
[sweep]
name = bench_schedule
[model]
name = linear2
dx = 8
h = 8
dy = 4
[data]
n = 256
[optimizer]
steps = 40000
tol = 1e-13
check_every = 10
[record]
every = 0
[axes]
optimizer.eta = linspace(0.005, 0.3, 24)
sweep.seed = range(0, 24)
optimizer.batch = 1, 64
EOF

for ((r = 1; r <= repeats; r++)); do
  for order in ascending descending; do
    # descending: the cheap (diverging) points first, the hard order for a rule that sizes chunks
    # from the mean cost measured so far.
    sets=()
    [[ $order == descending ]] && sets=(--set "axes.optimizer.eta=linspace(0.3, 0.005, 24)")
    for schedule in dynamic static; do
      file=$out/phased_$schedule.h5
      log=$out/phased_$schedule.log
      mpiexec -np 2 "${flags[@]}" "$bin" run "$out/phased.ini" -o "$file" --overwrite \
        --schedule "$schedule" --status 0 "${sets[@]}" >"$log"
      /usr/bin/python3 - "$file" "$log" "$schedule $order" <<'EOF'
import re, sys
import h5py, numpy as np
path, log, schedule = sys.argv[1:]
with h5py.File(path, "r") as f:
    seconds = np.asarray(f["run/seconds"]).ravel()
    rank = np.asarray(f["run/rank"]).ravel()
text = open(log).read()
total = float(re.search(r"time: ([0-9.]+) s", text).group(1))
before = float(re.search(r"before the points ([0-9.]+) s", text).group(1))
after = float(re.search(r"after them ([0-9.]+) s", text).group(1))
makespan = total - before - after
ideal = seconds.sum() / 2
per_rank = [seconds[rank == r].sum() for r in (0, 1)]
print(f"{schedule:18s} makespan {makespan:7.3f} s, total work / workers {ideal:7.3f} s: "
      f"{100 * (makespan / ideal - 1):+6.1f}%; work per rank {per_rank[0]:.2f} s, {per_rank[1]:.2f} s; "
      f"point costs {seconds.min() * 1e3:.2f} ms to {seconds.max() * 1e3:.1f} ms, "
      f"10th to 90th percentile {np.percentile(seconds, 10) * 1e3:.2f} to "
      f"{np.percentile(seconds, 90) * 1e3:.1f} ms, {seconds.size} points")
EOF
    done
  done
done
