#!/usr/bin/env bash
# jobs/slurm/sweep.sbatch under a time limit, on the real test cluster (tests/slurm/cluster.sh):
# a 1-minute limit with --signal=B:USR1@50 makes SIGUSR1 arrive mid-sweep, and, since SLURM's
# time-limit check runs only every 30 s (a 20–40 s sweep, as on a quiet machine, sometimes
# finished unsignalled), the first run also gets SIGUSR1 5 s after it starts from
# `scancel --signal=USR1 --batch`, which delivers it to the batch shell exactly as B: does; the
# job checkpoints, requeues itself and resumes until the sweep is complete (the sweep takes about
# 14 s on 2 ranks of the 2-core development machine). Points are short (about 0.15 s each): a
# point interrupted mid-run starts again from its beginning on resume, so points longer than the
# time between two signals would never finish (a busy machine made the earlier 2-second points
# livelock this test). The file must equal the same sweep run
# directly under mpiexec, bit for bit in /results and /traces.
#   test_requeue.sh CLUSTER_DIR SYMSWEEP_BIN SOURCE_DIR OUT_DIR
# SLURM makes a requeued job wait cred_expire seconds before it is eligible again: the test
# cluster sets 10 (tests/slurm/cluster.sh; the default, 120, made this test take 7 minutes).
set -euo pipefail
cluster=$1 bin=$(realpath "$2") src=$3 out=$4
export SLURM_CONF=$cluster/slurm.conf
if [[ ! -f $SLURM_CONF ]] || ! sinfo -h >/dev/null 2>&1; then
  echo "SKIP: no test cluster running at $cluster (tests/slurm/cluster.sh start)" >&2
  exit 77
fi
mkdir -p "$out"
rm -f "$out"/requeue.h5* "$out"/direct.h5* "$out"/symsweep-*.out
cat >"$out/requeue.ini" <<'INI'
[sweep]
name = requeue
[model]
name = linear2
dx = 4
h = 4
dy = 4
[data]
n = 64
noise_var = 0.1
[optimizer]
steps = 150000
tol = 0
[record]
every = 15000
[axes]
optimizer.eta = logspace(-2.5, -1.5, 6)
optimizer.batch = 1, 4, 16, 64
sweep.seed = range(0, 8)
INI

start=$(date +%s)
job=$(SYMSWEEP_BIN=$bin sbatch --parsable --ntasks=2 --time=1 --signal=B:USR1@50 \
  --chdir="$out" "$src/jobs/slurm/sweep.sbatch" "$out/requeue.ini" "$out/requeue.h5" \
  --checkpoint 5)
echo "submitted job $job"
state=
running_since=
for _ in $(seq 600); do
  state=$(scontrol show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
  case $state in
    COMPLETED | FAILED | TIMEOUT | CANCELLED | NODE_FAIL | OUT_OF_MEMORY) break ;;
    RUNNING)
      if [[ -z $running_since ]]; then
        running_since=$(date +%s)
      elif [[ $running_since != signalled ]] && (($(date +%s) - running_since >= 5)); then
        scancel --signal=USR1 --batch "$job"
        running_since=signalled
      fi
      ;;
  esac
  sleep 1
done
wall=$(($(date +%s) - start))
log=$out/symsweep-$job.out
echo "job $job ended $state after $wall s; its log:"
grep -v '^-\+$\|^$' "$log" | grep -v '^\[ \+[0-9.]\+ s\]' || true
restarts=$(scontrol show job "$job" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
[[ $state == COMPLETED ]] || { echo "FAIL: the job ended $state" >&2; exit 1; }
[[ $restarts -ge 1 ]] || { echo "FAIL: the job was never requeued (the sweep ended first)" >&2; exit 1; }
grep -q "interrupted by SIGUSR1" "$log"
grep -q "requeueing job $job to resume" "$log"
grep -q "symsweep resume $out/requeue.h5 $out/requeue.ini" "$log"
echo "job $job: requeued $restarts time(s), complete after $wall s"

flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
OMP_NUM_THREADS=1 mpiexec -np 2 "${flags[@]}" "$bin" run "$out/requeue.ini" -o "$out/direct.h5" --quiet
/usr/bin/python3 "$src/tests/mpi/compare_results.py" "$out/direct.h5" "$out/requeue.h5"
