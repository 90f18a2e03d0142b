#!/usr/bin/env bash
# A real one-node SLURM cluster for the tests of jobs/, private to one directory:
#
#   tests/slurm/cluster.sh start DIR    # writes DIR/slurm.conf, starts munged (if needed),
#                                       # slurmctld and slurmd; waits until the node is idle
#   tests/slurm/cluster.sh stop DIR     # stops the daemons it started
#   SLURM_CONF=DIR/slurm.conf sbatch ...
#
# It never touches /etc/slurm: the daemons and clients read DIR/slurm.conf, use their own ports and
# keep state, spool, logs and pid files under DIR. Needs root and Debian's slurmctld, slurmd,
# slurm-client and munge; without them it exits 77 (CTest: skipped) and says why.
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: cluster.sh start|stop DIR}" && cd "$2" && pwd)
conf=$dir/slurm.conf
export SLURM_CONF=$conf

skip() {
  rm -f "$conf"  # a stale configuration must not make the tests think a cluster is up
  echo "SKIP: $*" >&2
  exit 77
}

stop_pidfile() {
  local f=$1
  if [[ -f $f ]]; then
    local pid
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  fi
}

case $cmd in
  stop)
    stop_pidfile "$dir/slurmd.pid"
    stop_pidfile "$dir/slurmctld.pid"
    if [[ -f $dir/munged.started ]]; then
      stop_pidfile /run/munge/munged.pid
      rm -f "$dir/munged.started"
    fi
    exit 0
    ;;
  start) ;;
  *) echo "usage: cluster.sh start|stop DIR" >&2; exit 2 ;;
esac

[[ $(id -u) -eq 0 ]] || skip "a test SLURM cluster needs root"
trap 'echo "cluster.sh: failed at line $LINENO: $BASH_COMMAND" >&2; tail -n 20 "$dir"/*.log >&2 2>/dev/null' ERR
for b in slurmctld slurmd sbatch sinfo munged munge; do
  command -v "$b" >/dev/null || skip "$b not installed (Debian: slurmctld slurmd slurm-client munge)"
done

# 1. munge: reuse a running daemon, or start one with the packaged key.
if ! munge -n >/dev/null 2>&1; then
  [[ -f /etc/munge/munge.key ]] || { mungekey --create >/dev/null 2>&1 || /usr/sbin/create-munge-key -f; }
  chown munge:munge /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
  touch "$dir/munged.started"
fi

# 2. The configuration: this node, one partition, private ports and directories.
stop_pidfile "$dir/slurmd.pid"  # leftovers of an earlier start in this directory
stop_pidfile "$dir/slurmctld.pid"
# A test cluster of another build directory left running (its run was killed) holds the private
# ports: the new daemons could not bind them, and sinfo would answer from the old cluster, whose
# state directory may be gone ("I/O error writing script" at sbatch). Stop it first.
for daemon in slurmd slurmctld; do
  pkill -TERM -f "^$daemon -f .*/slurm-cluster/slurm.conf\$" 2>/dev/null || true
  for _ in $(seq 50); do
    pgrep -f "^$daemon -f .*/slurm-cluster/slurm.conf\$" >/dev/null || break
    sleep 0.1
  done
  pkill -KILL -f "^$daemon -f .*/slurm-cluster/slurm.conf\$" 2>/dev/null || true
done
mkdir -p "$dir/state" "$dir/spool"
# Addresses are given as 127.0.0.1 so that the cluster works without the host name resolving.
host=$(hostname -s)
node="$(slurmd -C | head -n 1) NodeAddr=127.0.0.1 NodeHostname=$host"
cat >"$conf" <<CONF
ClusterName=symsweep-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits cred_expire seconds before it may start again (120 by default, which made
# the requeue test wait 2 minutes per requeue); the scheduler's periodic pass, which starts a job
# whose begin time has come, runs every few seconds instead of every minute. A test cluster only.
AuthInfo=cred_expire=10
SchedulerParameters=sched_interval=3,bf_interval=3
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
$node
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF

# 3. The daemons, then wait for the node.
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 100); do
  if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
    echo "SLURM test cluster up: $(sinfo -h -o '%P %D %T %C')"
    exit 0
  fi
  sleep 0.2
done
echo "SLURM did not come up; logs:" >&2
tail -n 20 "$dir"/slurmctld.log "$dir"/slurmd.log >&2 || true
exit 1
