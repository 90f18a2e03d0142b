#!/usr/bin/env bash
# jobs/slurm/submit-array.sh on the real test cluster (tests/slurm/cluster.sh): a small sweep as a
# job array of 3 shards and the merge job that depends on it; checks that every task and the merge
# succeeded and that the merged file is bit-identical to the same sweep run directly.
#   test_array.sh CLUSTER_DIR SYMSWEEP_BIN SOURCE_DIR OUT_DIR
set -euo pipefail
cluster=$1 bin=$(realpath "$2") src=$3 out=$4
export SLURM_CONF=$cluster/slurm.conf
if [[ ! -f $SLURM_CONF ]] || ! sinfo -h >/dev/null 2>&1; then
  echo "SKIP: no test cluster running at $cluster (tests/slurm/cluster.sh start)" >&2
  exit 77
fi
rm -rf "$out"
mkdir -p "$out"
config=$src/tests/mpi/determinism_finite.ini

cd "$out"
line=$(SYMSWEEP_BIN=$bin "$src/jobs/slurm/submit-array.sh" "$config" "$out/merged.h5" 3 \
  --ntasks=1 --chdir="$out")
echo "$line"
array=$(sed -E 's/^array job ([0-9]+) .*/\1/' <<<"$line")
merge=$(sed -E 's/.*merge job ([0-9]+) .*/\1/' <<<"$line")
[[ $array =~ ^[0-9]+$ && $merge =~ ^[0-9]+$ ]]
# The merge waits for the array: it is held by its dependency while any task is queued or running.
scontrol show job "$merge" | grep -q "Dependency=afterok:${array}_\*\|Dependency=afterok:$array"

# Wait for the merge job to leave the queue (a dependency never satisfied would keep it there).
for _ in $(seq 600); do
  [[ -z $(squeue -h -j "$merge" 2>/dev/null) ]] && break
  sleep 0.2
done
for f in symsweep-"${array}"_*.out symsweep-merge-"$merge".out; do
  echo "--- $f"
  cat "$f"
done
if [[ ! -f $out/merged.h5 ]]; then
  echo "no merged.h5: the array or the merge failed (logs above)" >&2
  exit 1
fi
for i in 0 1 2; do
  grep -q -- "--shard $i/3" symsweep-"${array}"_"$i".out
  [[ -f $out/merged.shard-$i-of-3.h5 ]]
done

flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
OMP_NUM_THREADS=1 mpiexec -np 1 "${flags[@]}" "$bin" run "$config" -o "$out/direct.h5" --quiet
/usr/bin/python3 "$src/tests/mpi/compare_results.py" "$out/direct.h5" "$out/merged.h5"
/usr/bin/python3 - "$out/merged.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["format"] == "symsweep/1"
    assert len(f.attrs["merged_from"].splitlines()) == 3
    assert (f["results/status"][()] == 1).all()
    print("merged.h5: 3 shards, every point done")
PY
