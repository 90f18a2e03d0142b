#!/usr/bin/env bash
# jobs/slurm/sweep.sbatch on the real test cluster (tests/slurm/cluster.sh): submits a small sweep
# with 2 ranks x 1 thread, waits, and checks that the job succeeded and the file is complete and
# bit-identical to the same sweep run directly under mpiexec.
#   test_sbatch.sh CLUSTER_DIR SYMSWEEP_BIN SOURCE_DIR OUT_DIR
set -euo pipefail
cluster=$1 bin=$(realpath "$2") src=$3 out=$4
export SLURM_CONF=$cluster/slurm.conf
if [[ ! -f $SLURM_CONF ]] || ! sinfo -h >/dev/null 2>&1; then
  echo "SKIP: no test cluster running at $cluster (tests/slurm/cluster.sh start)" >&2
  exit 77
fi
mkdir -p "$out"
rm -f "$out"/slurm.h5 "$out"/direct.h5 "$out"/symsweep-*.out
config=$src/tests/mpi/determinism_finite.ini

job=$(SYMSWEEP_BIN=$bin sbatch --parsable --wait --ntasks=2 --chdir="$out" \
  "$src/jobs/slurm/sweep.sbatch" "$config" "$out/slurm.h5" --quiet) || {
  echo "the job failed; its output:" >&2
  cat "$out"/symsweep-*.out >&2 || true
  exit 1
}
echo "job $job finished:"
cat "$out/symsweep-$job.out"
grep -q "2 rank(s) x 1 thread(s)" "$out/symsweep-$job.out"

flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
OMP_NUM_THREADS=1 mpiexec -np 1 "${flags[@]}" "$bin" run "$config" -o "$out/direct.h5" --quiet
/usr/bin/python3 "$src/tests/mpi/compare_results.py" "$out/direct.h5" "$out/slurm.h5"
/usr/bin/python3 - "$out/slurm.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["mpi_ranks"] == 2, f.attrs["mpi_ranks"]
    assert (f["results/status"][()] == 1).all()
    print("slurm.h5: 2 ranks, every point done")
PY
