"""Production on a cluster: the warning for a point longer than the SLURM time left, and MPI-IO
hints from SYMSWEEP_MPIIO_HINTS (README, "Running under SLURM" and "Across nodes and file systems").

CTest runs this file over TCP (OMPI_MCA_btl=self,tcp: tests/CMakeLists.txt), the transport
between nodes.
"""
import json
import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import BIN, MPIEXEC, MPIEXEC_FLAGS, SOURCE_DIR, symsweep, wait_for

# Two points of one trajectory (optimizer.steps keys no random stream): the first runs all of its
# 300 steps (not converged yet); the second, allowed 10^12 steps, converges at about 2800. The
# estimate of the longest point is then the first's seconds x 10^12 / 300: hours for any machine.
LONG = """
[sweep]
name = long

[model]
name = linear2
dx = 2
h = 2
dy = 2

[data]
n = 16

[optimizer]
method = gd
eta = 0.01
tol = 1e-9
check_every = 10

[axes]
optimizer.steps = 300, 1000000000000
"""

WARNING = "symsweep: warning: the longest point may take about"


@pytest.fixture()
def clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("SLURM_"):
            monkeypatch.delenv(k)


def fake_squeue(tmp_path, prints):
    """A directory holding an `squeue` that answers `squeue -h -j 4242 -o %L` with `prints`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    squeue = bin_dir / "squeue"
    squeue.write_text('#!/bin/sh\n[ "$*" = "-h -j 4242 -o %L" ] || exit 1\n'
                      f'echo "{prints}"\n')
    squeue.chmod(0o755)
    return {"SLURM_JOB_ID": "4242", "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def long_run(tmp_path, env, np=2):
    config = tmp_path / "long.ini"
    config.write_text(LONG)
    out = tmp_path / "long.h5"
    # Under the dynamic default either rank may run the 300-step point (the other ends within a
    # second, too early to give an estimate): the warning comes from whichever did.
    r = symsweep("run", config, "-o", out, "--quiet", np=np, env=env)
    assert r.code == 0, r
    with h5py.File(out, "r") as f:
        steps_run = f["results/steps_run"][()]
        seconds = f["run/seconds"][()]
    # What the estimate rests on: the 300-step point ran all its steps, the other ended early.
    assert steps_run[0] == 300 and 300 < steps_run[1] < 10**6, steps_run
    return r, seconds


@pytest.mark.parametrize("source", ["SLURM_JOB_END_TIME", "squeue"])
def test_a_point_longer_than_the_time_left_is_one_warning_and_the_run_goes_on(tmp_path, clean_env,
                                                                              source):
    if source == "squeue":  # SLURM_JOB_END_TIME unset: squeue -h -j $SLURM_JOB_ID -o %L
        # Without mpiexec: mpiexec called by its full path puts its own directory first in the
        # ranks' PATH, where a real squeue may be installed.
        env, np = fake_squeue(tmp_path, "1:00:00"), None
    else:
        env, np = {"SLURM_JOB_END_TIME": str(int(time.time()) + 3600)}, 2
    r, seconds = long_run(tmp_path, env, np)
    lines = [line for line in r.err.splitlines() if line.startswith(WARNING)]
    assert len(lines) == 1, r  # once for the run
    line = lines[0]
    assert f"more than the 60 min left in the SLURM allocation ({source})" in line, line
    assert "the largest optimizer.steps is 1e+12" in line and "for 300 steps" in line, line
    assert "not checkpointed inside itself" in line, line
    # The estimate is the 300-step point's seconds scaled to 10^12 steps (the stored seconds of
    # the point, to the printed 3 digits).
    measured = float(line.split("a point here took ")[1].split(" s for")[0])
    assert measured == pytest.approx(seconds[0], rel=5e-3), (measured, seconds)


@pytest.mark.parametrize("schedule", ["dynamic", "static"])
def test_a_single_point_longer_than_the_allocation_is_seen_from_inside_it(tmp_path, clean_env,
                                                                          schedule):
    # One point of 10^12 updates that never converges: no point finishes, so the estimate comes
    # from its SGD loop after its first second; then SIGUSR1 to mpiexec, which forwards it as
    # jobs/slurm/sweep.sbatch does before the limit: the point is cancelled, not checkpointed
    # inside itself, and stays pending.
    config = tmp_path / "endless.ini"
    config.write_text(LONG.replace("[axes]\noptimizer.steps = 300, 1000000000000\n", "")
                      .replace("tol = 1e-9", "tol = 0\nsteps = 1000000000000"))
    out = tmp_path / "endless.h5"
    err = tmp_path / "err.txt"
    env = dict(os.environ, OMP_NUM_THREADS="1", SLURM_JOB_END_TIME=str(int(time.time()) + 3600))
    with open(err, "w") as stderr:
        # The one point runs on rank 0 (static) or on whichever rank asked first (dynamic): every
        # rank checks its own points, and the lowest holding a warning prints it.
        p = subprocess.Popen([MPIEXEC, "-np", "2", *MPIEXEC_FLAGS, BIN, "run", config, "-o", out,
                              "--quiet", "--schedule", schedule], stdout=subprocess.DEVNULL,
                             stderr=stderr, env=env, start_new_session=True)
        try:
            wait_for(lambda: WARNING in err.read_text(), timeout=60)
            os.kill(p.pid, signal.SIGUSR1)
            assert p.wait(timeout=60) == 3
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    lines = [line for line in err.read_text().splitlines() if line.startswith(WARNING)]
    assert len(lines) == 1, lines
    assert "(SLURM_JOB_END_TIME)" in lines[0] and "the largest optimizer.steps is 1e+12" in lines[0]
    seconds = float(lines[0].split("a point here took ")[1].split(" s for")[0])
    assert seconds >= 1, lines[0]  # measured once its loop had run for a second
    with h5py.File(out, "r") as f:
        assert f["results/status"][()] == 0  # pending: redone from its first step


STORM = """
[sweep]
name = storm

[model]
name = linear2
dx = 4
h = 4
dy = 4

[data]
n = 64

[optimizer]
steps = STEPS
tol = 0

[axes]
optimizer.eta = 0.01, 0.02
optimizer.batch = 1, 4, 16
"""


@pytest.mark.parametrize("script", ["sweep.sbatch", "array.sbatch"])
@pytest.mark.parametrize("until", ["start", "running", "complete"])
def test_a_job_script_exits_with_the_runs_own_status_under_a_storm_of_sigusr1(tmp_path, clean_env,
                                                                              until, script):
    # jobs/slurm/sweep.sbatch (or array.sbatch, as task 0 of 2) outside SLURM (it then exits with
    # the run's status instead of requeueing) gets SIGUSR1 every 5 ms from the moment the run's
    # status file says `until` to its end ("start": from its first line on). A signal passed to
    # mpirun can end mpirun itself whatever the ranks did: by the signal (status 138) as mpirun
    # starts or exits, or with status 255 as it stops the job of a rank that exited 3; and a
    # signal that interrupts the script's `wait` makes it return 138 too. The script must exit
    # with what the run did: 3 (interrupted and saved: requeue) or 0 (complete), never 138 or 255
    # (a job that SLURM would call FAILED, with its work saved). Under a storm, each of these
    # happened within tens of trials before the script read the run's status file.
    config = tmp_path / "storm.ini"
    config.write_text(STORM.replace("STEPS", "20000" if until == "complete" else "400000"))
    out = tmp_path / "storm.h5"
    log = tmp_path / "job.out"
    env = dict(os.environ, SYMSWEEP_BIN=BIN)
    written = out  # the file the run writes
    if script == "array.sbatch":
        env.update(SLURM_ARRAY_TASK_ID="0", SYMSWEEP_SHARDS="2")
        written = tmp_path / "storm.shard-0-of-2.h5"
    status = written.with_name(written.name + ".status.json")

    def state():
        try:
            return json.loads(status.read_text())["state"]
        except (OSError, ValueError):
            return None

    with open(log, "w") as stdout:
        p = subprocess.Popen(["bash", SOURCE_DIR / "jobs" / "slurm" / script, config, out,
                              "--status", "1"], stdout=stdout, stderr=subprocess.STDOUT,
                             env=env, cwd=tmp_path)
        try:
            if until == "start":
                wait_for(lambda: "start 1)" in log.read_text() or p.poll() is not None)
            else:
                wait_for(lambda: state() == until or p.poll() is not None, timeout=60)
            while p.poll() is None:
                os.kill(p.pid, signal.SIGUSR1)
                time.sleep(0.005)
        finally:
            if p.poll() is None:
                p.kill()
    text = log.read_text()
    assert "SIGUSR1 (time limit near)" in text, text  # the storm reached the script
    assert p.returncode == (0 if until == "complete" else 3), text
    if until == "running":
        assert "symsweep: interrupted by SIGUSR1" in text, text
        assert state() == "interrupted"
    elif until == "start":  # stopped before it ran, or as it started, or interrupted
        assert state() in (None, "running", "interrupted"), text
    else:
        assert state() == "complete"
        with h5py.File(written, "r") as f:
            assert (f["results/status"][()] == 1).all()


@pytest.mark.parametrize("end", ["ample", "unlimited", "absent"])
def test_no_warning_when_the_time_left_is_ample_or_unknown(tmp_path, clean_env, end):
    env = {}
    if end == "ample":
        env = {"SLURM_JOB_END_TIME": str(int(time.time()) + 10**11)}
    elif end == "unlimited":
        env = fake_squeue(tmp_path, "UNLIMITED")
    r, _ = long_run(tmp_path, env, None if end == "unlimited" else 2)
    assert "warning" not in r.err, r


TINY = """
[sweep]
name = hinted

[model]
name = linear2
dx = 2
h = 2
dy = 2

[data]
n = 16

[optimizer]
steps = 200

[axes]
optimizer.eta = 0.01, 0.02, 0.05
sweep.seed = 0, 1
"""


def test_hints_from_the_environment_are_applied_and_change_no_number(tmp_path):
    config = tmp_path / "hinted.ini"
    config.write_text(TINY)
    plain = tmp_path / "plain.h5"
    r = symsweep("run", config, "-o", plain, "--quiet", np=2)
    assert r.code == 0, r
    hints = "romio_cb_write=enable, cb_buffer_size=1048576, cb_nodes=1, romio_ds_write=disable"
    hinted = tmp_path / "hinted.h5"
    r = symsweep("run", config, "-o", hinted, np=2, env={"SYMSWEEP_MPIIO_HINTS": hints})
    assert r.code == 0, r
    assert ("MPI-IO hints (SYMSWEEP_MPIIO_HINTS): romio_cb_write=enable, cb_buffer_size=1048576, "
            "cb_nodes=1, romio_ds_write=disable\n") in r.out, r
    with h5py.File(plain, "r") as a, h5py.File(hinted, "r") as b:
        for name in a["results"]:
            np.testing.assert_array_equal(a["results"][name][()], b["results"][name][()], name)


BAD_HINTS = [
    ("romio_cb_wrte=enable",
     "romio_cb_wrte = 'enable': no such hint; did you mean romio_cb_write? (MPI-IO ignores the "
     "hints it does not know)"),
    ("cb_nodes=4, cb_buffer_size=16M",
     "cb_buffer_size = '16M': must be a whole number of bytes >= 1 (no unit)"),
]


def test_a_bad_hint_is_one_line_exit_2_and_the_file_stays_whole(tmp_path):
    config = tmp_path / "hinted.ini"
    config.write_text(TINY)
    out = tmp_path / "out.h5"
    r = symsweep("run", config, "-o", out, "--quiet", np=2)
    assert r.code == 0, r
    before = out.read_bytes()
    runs = [(["run", config, "-o", out, "--overwrite"], hints, expected)
            for hints, expected in BAD_HINTS]
    runs.append((["resume", out], "romio_ds_write",
                 "the item 'romio_ds_write' is not key=value (hints are separated by ',')"))
    runs.append((["replicate", out, "--seeds", "2", "-o", tmp_path / "rep.h5"], *BAD_HINTS[0]))
    for args, hints, expected in runs:
        r = symsweep(*args, np=2, env={"SYMSWEEP_MPIIO_HINTS": hints})
        assert r.code == 2, r
        ours = [line for line in r.err.splitlines() if line.startswith("symsweep")]
        assert ours == [f"symsweep: error: SYMSWEEP_MPIIO_HINTS = '{hints}': {expected}"], r
        assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hinted.ini", "out.h5", "out.h5.lock",
                                                          "out.h5.status.json"]
