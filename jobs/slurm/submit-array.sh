#!/bin/bash
# Submits a sweep as a job array of N shards and a merge job that runs once every task succeeded:
#
#   jobs/slurm/submit-array.sh CONFIG.ini OUT.h5 N [sbatch options for the array tasks...]
#   jobs/slurm/submit-array.sh sweep.ini /scratch/me/sweep.h5 16 --ntasks=8 --time=04:00:00
#
# Task i (jobs/slurm/array.sbatch) writes OUT.shard-i-of-N.h5; the merge job
# (--dependency=afterok:<array job>, one task) runs `symsweep merge OUT.h5` on the N shards and
# writes OUT.h5. A task that requeues itself (time limit, preemption) delays the merge until it
# completes; a task that fails leaves the merge pending forever (SLURM's DependencyNeverSatisfied):
# scancel it, fix the cause, resume the shard (symsweep resume OUT.shard-i-of-N.h5) and merge by
# hand. Prints the two job ids. SYMSWEEP_BIN as in array.sbatch; SYMSWEEP_ARRAY_SCRIPT and
# SYMSWEEP_MERGE_OPTIONS (sbatch options of the merge job, e.g. "--time=00:30:00") may be set.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 CONFIG.ini OUT.h5 N [sbatch options for the array tasks...]" >&2
  exit 2
fi
config=$1 out=$2 n=$3
shift 3
if ! [[ $n =~ ^[0-9]+$ ]] || [[ $n -lt 1 ]]; then
  echo "$0: N = '$n': must be a number of shards >= 1" >&2
  exit 2
fi
if [[ -e $out ]]; then
  echo "$0: $out exists; the merge would refuse to replace it (remove it or choose another name)" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script=${SYMSWEEP_ARRAY_SCRIPT:-$here/array.sbatch}
bin=${SYMSWEEP_BIN:-$PWD/build/symsweep}
export SYMSWEEP_BIN=$bin SYMSWEEP_SHARDS=$n

array=$(sbatch --parsable --array="0-$((n - 1))" "$@" "$script" "$config" "$out")
array=${array%%;*}  # "id;cluster" on a federation
shards=()
for ((i = 0; i < n; i++)); do shards+=("${out%.h5}.shard-$i-of-$n.h5"); done
# One process (mpirun -np 1, as the array's tasks start theirs).
launch=(mpirun -q -np 1)
[[ $(id -u) -eq 0 ]] && launch+=(--allow-run-as-root)
# shellcheck disable=SC2086
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=no --ntasks=1 \
  --job-name=symsweep-merge --output="symsweep-merge-%j.out" ${SYMSWEEP_MERGE_OPTIONS:-} \
  --wrap="$(printf '%q ' "${launch[@]}" "$bin" merge "$out" "${shards[@]}")")
merge=${merge%%;*}
echo "array job $array ($n task(s)); merge job $merge (after every task succeeded) writes $out"
