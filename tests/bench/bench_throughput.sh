#!/usr/bin/env bash
# Sweep throughput: what a point costs besides its SGD steps (not part of the test suite: it
# measures).
#   tests/bench/bench_throughput.sh [BUILD_DIR]     # default build/; about 4 minutes on 2 cores
# One rank x one worker (OMP_NUM_THREADS=1), each sweep the best of SYMSWEEP_BENCH_REPS runs
# (default 3), the sweeps taking turns so that a busy spell of a neighbour falls on all alike:
#   tiny        linear2 (1,1,1) S=1 online, one step a point, its default diagnostics,
#               SYMSWEEP_BENCH_POINTS points (default 10^5): scheduling, set-up, the end-of-run
#               checks and the I/O of a point, all but nothing of it SGD;
#   tiny-none   the same with record.diagnostics = none: scheduling, set-up and I/O alone;
#   tiny-322    linear2 (3,2,2) S=1 online, one step, default diagnostics;
#   ms          linear2 (3,2,2) S=1 online, 2000 steps, default diagnostics: points of about a
#               millisecond, for HDF5's share of them (5000 points).
# Printed per sweep, from its "time:" and "done:" lines: us per point (symsweep's own time over
# the points; the wall time with the process's start beside it), the points' own us (/run/seconds
# summed), HDF5's seconds and share of symsweep's time (the file's creation, the checkpoints, the
# close), and the seconds before the first point and after the last.
# Raw figures go to BUILD_DIR/bench-throughput/throughput.tsv.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath -m "${1:-${SYMSWEEP_BUILD_DIR:-$root/build}}")
work=$build/bench-throughput
points=${SYMSWEEP_BENCH_POINTS:-100000}
reps=${SYMSWEEP_BENCH_REPS:-3}
bin=$build/symsweep
[[ -x $bin ]] || { echo "no $bin: build the target symsweep_cli first" >&2; exit 1; }
mkdir -p "$work"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

ini() {  # NAME DX H DY S STEPS POINTS [DIAGNOSTICS]
  {
    printf '[sweep]\nname = %s\n[model]\nname = linear2\ndx = %s\nh = %s\ndy = %s\n' "$1" "$2" "$3" "$4"
    printf '[data]\nmode = online\nnoise_var = 0.1\n'
    printf '[optimizer]\neta = 0.01\nbatch = %s\nsteps = %s\ntol = 0\n' "$5" "$6"
    [[ -n ${8:-} ]] && printf '[record]\ndiagnostics = %s\n' "$8"
    printf '[axes]\nsweep.seed = range(0, %s)\n' "$7"
  } >"$work/$1.ini"
}
ini tiny 1 1 1 1 1 "$points"
ini tiny-none 1 1 1 1 1 "$points" none
ini tiny-322 3 2 2 1 1 "$points"
ini ms 3 2 2 1 2000 5000
names=(tiny tiny-none tiny-322 ms)

declare -A best line_of wall_of
for ((rep = 1; rep <= reps; ++rep)); do
  for name in "${names[@]}"; do
    t0=$EPOCHREALTIME
    out=$("$bin" run "$work/$name.ini" -o "$work/$name.h5" --overwrite 2>&1 | tail -n 2)
    wall=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
    secs=$(sed -nE 's/^time: ([0-9.]+) s;.*/\1/p' <<<"$out")
    [[ -n $secs ]] || { echo "unexpected output: $out" >&2; exit 1; }
    echo "   $name, round $rep: $secs s (wall $wall s)"
    if awk -v a="${best[$name]:-1e300}" -v b="$secs" 'BEGIN { exit !(b < a) }'; then
      best[$name]=$secs
      line_of[$name]=$(head -n 1 <<<"$out")
      wall_of[$name]=$wall
    fi
  done
done

tsv=$work/throughput.tsv
{
  echo -e "sweep\tpoints\tsymsweep_s\twall_s\tus_per_point\twall_us_per_point\tpoint_own_us\thdf5_s\thdf5_share\tbefore_s\tafter_s"
  for name in "${names[@]}"; do
    n=$(sed -nE 's/.*range\(0, ([0-9]+)\).*/\1/p' "$work/$name.ini")
    # time: T s; HDF5 H s (P%: the file F s, C checkpoint(s) W s, close X s; the longest
    # collective step L s); before the points
    # B s, after them A s, waiting for the other ranks at the end E s; workers inside points I%
    read -r t h b a inside < <(sed -nE 's/^time: ([0-9.]+) s; HDF5 ([0-9.]+) s .*before the points ([0-9.]+) s, after them ([0-9.]+) s, .*workers inside points ([0-9.]+)%.*/\1 \2 \3 \4 \5/p' <<<"${line_of[$name]}")
    awk -v name="$name" -v n="$n" -v t="$t" -v w="${wall_of[$name]}" -v h="$h" -v b="$b" \
      -v a="$a" -v in_="$inside" 'BEGIN {
        printf "%s\t%d\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t%.3f\t%.4f\t%.3f\t%.3f\n", name, n, t, w,
          1e6 * t / n, 1e6 * w / n, 1e6 * t * in_ / 100 / n, h, h / t, b, a }'
  done
} >"$tsv"

echo
echo "== sweep throughput: 1 rank x 1 worker, best of $reps (symsweep's own time)"
awk -F'\t' 'NR == 1 {
    printf "%-10s %8s %10s %9s %12s %12s %8s %7s %9s %8s\n", "sweep", "points", "symsweep s",
      "us/point", "wall us/pt", "points\x27 us", "HDF5 s", "HDF5", "before s", "after s"
    next }
  { printf "%-10s %8d %10.3f %9.2f %12.2f %12.2f %8.3f %6.2f%% %9.3f %8.3f\n", $1, $2, $3, $5,
      $6, $7, $8, 100 * $9, $10, $11 }' "$tsv"
cat <<'EOF'

   us/point = symsweep's time / points; wall us/pt adds the process's start (MPI, HDF5);
   points' us = the points' own wall time (/run/seconds, which starts after a point's model,
   data and optimizer are made) per point: the rest of us/point is scheduling, the rest of the
   set-up and the I/O; HDF5 = the file's creation + checkpoints + close, and its share of
   symsweep's time; before/after = seconds before the first point and after the last.
EOF
echo "raw figures in $tsv"
