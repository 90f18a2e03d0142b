#!/usr/bin/env bash
# Benchmark of production-size runs (not in CTest: it needs tens of GB of disk and minutes).
#   tests/bench/bench_production.sh [BUILD_DIR] [OUT_DIR]
# Prints:
#   1. the creation time of a 10^8-point file (linear2, 344 B per point: 34 GB reserved), from
#      the start of `symsweep run` until the file appears at its path (it appears once valid),
#      then stops the run with SIGUSR1 (exit 3) and removes the file;
#   2. the peak memory of a rank in a 10^6-point sweep on 2 ranks (the driver prints it, the
#      largest over ranks), with checkpoints every 60 s (held results capped at 128 MiB per rank)
#      and every 1 s, beside the size of the results, which the run held in memory before
#      checkpoints existed, and the longest collective I/O step (a step past --io-timeout ends
#      the job).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$root/build/bench-production}
bin=$build/symsweep
mkdir -p "$out"
flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
export OMP_NUM_THREADS=1

printf '[model]\nname = linear2\n[record]\nevery = 0\n[axes]\noptimizer.eta = linspace(0.01, 1, 10000)\nsweep.seed = range(0, 10000)\n' >"$out/huge.ini"
"$bin" run "$out/huge.ini" -o "$out/huge.h5" --dry-run
rm -f "$out"/huge.h5*
start=$(date +%s.%N)
mpiexec -np 2 "${flags[@]}" "$bin" run "$out/huge.ini" -o "$out/huge.h5" --quiet &
pid=$!
while [[ ! -f $out/huge.h5 ]]; do
  kill -0 "$pid" 2>/dev/null || { echo "the run ended before creating the file" >&2; exit 1; }
  sleep 0.05
done
created=$(date +%s.%N)
kill -USR1 "$pid"
rc=0
wait "$pid" || rc=$?
echo "10^8 points: file created (34 GB reserved) in $(echo "$created - $start" | bc) s from the start of the run; stopped with exit $rc"
rm -f "$out"/huge.h5*

printf '[model]\nname = linear2\n[optimizer]\nsteps = 1\nbatch = 2\n[record]\nevery = 0\n[axes]\noptimizer.eta = linspace(0.01, 1, 1000)\nsweep.seed = range(0, 1000)\n' >"$out/million.ini"
for cp in 60 1; do
  rm -f "$out"/million.h5*
  log=$(mpiexec -np 2 "${flags[@]}" "$bin" run "$out/million.ini" -o "$out/million.h5" \
    --checkpoint "$cp")
  line=$(tail -n 1 <<<"$log")
  longest=$(sed -nE 's/.*the longest collective step ([0-9.]+ s).*/\1/p' <<<"$log")
  echo "10^6 points, --checkpoint $cp: ${line#*; wrote }; the longest collective I/O step $longest (--io-timeout: 600 s by default)"
done
size=$(stat -c %s "$out/million.h5")
echo "10^6 points: the file is $((size / 1000000)) MB; before checkpoints each rank held its half of the results (and twice that while routing them to their writers)"
rm -f "$out"/million.h5*
