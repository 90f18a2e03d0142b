"""Production on a cluster: the warning for a point longer than the SLURM time left, and MPI-IO
hints from SYMSWEEP_MPIIO_HINTS (README, "Running under SLURM" and "Across nodes and file systems").

CTest runs this file over TCP (OMPI_MCA_btl=self,tcp: tests/CMakeLists.txt), the transport
between nodes.
"""
import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import BIN, MPIEXEC, MPIEXEC_FLAGS, symsweep, wait_for

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
