"""Production runs: checkpoints, kill -9 and resume, signals, one writer per output, errors that
never hang, big grids (README, "Interruptions and resume").

Every run here is the real driver under the real mpiexec; every file is read with h5py. The
reference of each comparison is an uninterrupted run of the same config.
"""
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import (BIN, MPIEXEC, MPIEXEC_FLAGS, kill_9_all, sha256_of,
                      start, symsweep, tmpfs, wait_for)

# About 2.8 s on 2 ranks x 1 thread (the 2-core development machine): 48 points of about 0.1 s,
# so that checkpoints every 0.1 s catch the run at many different stages.
SLOW = """
[sweep]
name = slow

[model]
name = linear2
dx = 4
h = 4
dy = 4

[data]
n = 64
noise_var = 0.1

[optimizer]
steps = 90000
tol = 0

[record]
every = 9000

[axes]
optimizer.eta = logspace(-2.5, -1, 6)
optimizer.batch = 1, 4, 16, 64
sweep.seed = 0, 1
"""

DETERMINISTIC_GROUPS = ("results", "traces")  # /run holds timings and placement


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    """The slow config and its uninterrupted reference file (the static schedule: the runs compared
    with it mostly use the dynamic default, so the two schedules are checked against each other)."""
    d = tmp_path_factory.mktemp("slow")
    config = d / "slow.ini"
    config.write_text(SLOW)
    ref = d / "reference.h5"
    r = symsweep("run", config, "-o", ref, "--quiet", "--schedule", "static", np=2)
    assert r.code == 0, r
    return config, ref


def done_count(path):
    with h5py.File(path, "r") as f:
        return int((f["results/status"][()] == 1).sum())


def datasets(f):
    out = {}
    for group in DETERMINISTIC_GROUPS:
        if group in f:
            for name, obj in f[group].items():
                if isinstance(obj, h5py.Dataset) and "CLASS" not in obj.attrs:  # not a scale
                    out[f"{group}/{name}"] = obj[()]
    return out


def assert_same_results(path, ref):
    """Bit for bit in /results and /traces (NaN bits included)."""
    with h5py.File(path, "r") as a, h5py.File(ref, "r") as b:
        da, db = datasets(a), datasets(b)
        assert sorted(da) == sorted(db)
        for name in db:
            assert da[name].dtype == db[name].dtype and da[name].shape == db[name].shape, name
            assert da[name].tobytes() == db[name].tobytes(), f"{path}: /{name} differs"


def assert_done_points_final(path, ref):
    """The file opens, and every point it marks done holds the reference's values."""
    with h5py.File(path, "r") as a, h5py.File(ref, "r") as b:
        done = a["results/status"][()] == 1
        da, db = datasets(a), datasets(b)
        for name in db:
            assert np.array_equal(da[name][done].view(np.uint8), db[name][done].view(np.uint8)), \
                f"{path}: a done point's /{name} differs from the uninterrupted run"
        return int(done.sum())


def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_file(slow, tmp_path):
    config, ref = slow
    seed = int(os.environ.get("SYMSWEEP_KILL_SEED", "20261127"))
    rng = random.Random(seed)
    trials = int(os.environ.get("SYMSWEEP_KILL_TRIALS", "10"))
    stages = []
    for trial in range(trials):
        out = tmp_path / f"kill{trial}.h5"
        np_run, np_resume = rng.choice([1, 2, 3]), rng.choice([1, 2, 3])
        delay = rng.uniform(0.05, 2.0)
        # Mostly the dynamic default; a static run or resume now and then (the schedules mix).
        sched_run, sched_resume = (rng.choice(["dynamic"] * 3 + ["static"]) for _ in range(2))
        p = start("run", config, "-o", out, "--quiet", "--checkpoint", "0.1", "--schedule",
                  sched_run, np=np_run)
        time.sleep(delay)
        kill_9_all(p)
        if out.exists():
            done = assert_done_points_final(out, ref)
            r = symsweep("resume", out, "--quiet", "--schedule", sched_resume, np=np_resume)
            assert r.code == 0, (seed, trial, r)
        else:  # killed before the file was valid: nothing at the output path, a new run starts
            done = -1
            r = symsweep("run", config, "-o", out, "--quiet", "--schedule", sched_resume,
                         np=np_resume)
            assert r.code == 0, (seed, trial, r)
        assert_same_results(out, ref)
        stages.append((round(delay, 2), np_run, np_resume, done, sched_run, sched_resume))
    print(f"kill -9 trials (seed {seed}): (delay s, ranks, resume ranks, points done, schedules) "
          f"{stages}")
    # The trials must have caught runs at different stages, some with work saved and some not.
    assert len({s[3] for s in stages}) >= 3, stages
    assert any(0 < s[3] < 48 for s in stages), stages


@pytest.mark.parametrize("how", ["usr1_to_mpiexec", "term_to_ranks", "int_to_single_process"])
def test_signal_checkpoints_and_exits_3_within_seconds(slow, tmp_path, how):
    config, ref = slow
    out = tmp_path / "sig.h5"
    p = start("run", config, "-o", out, "--checkpoint", "1000", np=None if "single" in how else 2)
    wait_for(lambda: out.exists())
    time.sleep(0.7)
    sent = time.time()
    if how == "usr1_to_mpiexec":
        os.kill(p.pid, signal.SIGUSR1)  # mpiexec forwards it to every rank
    elif how == "term_to_ranks":  # as SLURM signals every task of a step
        ranks = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
        pids = [int(x) for x in ranks.stdout.split()]
        assert len(pids) == 2, ranks.stdout
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
    else:
        os.kill(p.pid, signal.SIGINT)
    out_text, err = p.communicate(timeout=30)
    took = time.time() - sent
    assert p.returncode == 3, (p.returncode, out_text, err)
    assert took < 5, took
    name = {"usr1_to_mpiexec": "SIGUSR1", "term_to_ranks": "SIGTERM"}.get(how, "SIGINT")
    assert f"interrupted by {name}" in err and f"symsweep resume {out}" in err, err
    # Nothing was checkpointed before the signal (--checkpoint 1000): what is saved is what the
    # signal's checkpoint wrote.
    saved = assert_done_points_final(out, ref)
    assert 0 < saved < 48, saved
    assert f"{saved} of 48 point(s) are saved" in err, err
    r = symsweep("resume", out, np=1)
    assert r.code == 0 and f"{saved} of 48 point(s) done, {48 - saved} to run" in r.out, r
    assert_same_results(out, ref)


def test_two_runs_on_one_output_one_refuses_and_the_file_stays_whole(slow, tmp_path):
    config, ref = slow
    out = tmp_path / "one.h5"
    # One rank (about 5 s); the others are single processes (MPI singletons). The first run is
    # stopped (SIGSTOP) while they try, so that it cannot finish first however slow they start
    # on a busy machine: a stopped process still holds its lock.
    first = start("run", config, "-o", out, "--quiet", "--checkpoint", "0.1", np=1)
    wait_for(lambda: out.exists() and done_count(out) > 0)
    subprocess.run(["pkill", "-STOP", "-s", str(first.pid)], check=True)
    for args in (["run", config, "-o", out], ["run", config, "-o", out, "--overwrite"],
                 ["resume", out]):
        r = symsweep(*args)
        assert r.code == 2, r
        assert "another symsweep run or resume is writing it" in r.err and "pid" in r.err, r
    assert first.poll() is None  # it was running all along
    kill_9_all(first)
    saved = assert_done_points_final(out, ref)  # the first run's, readable, nothing mixed in
    assert 0 < saved < 48
    assert not Path(str(out) + ".partial").exists()
    r = symsweep("resume", out, "--quiet", np=2)
    assert r.code == 0, r
    assert_same_results(out, ref)


def test_killed_overwrite_keeps_the_old_file_and_resumes_into_it(slow, tmp_path):
    config, ref = slow
    out = tmp_path / "old.h5"
    r = symsweep("run", config, "-o", out, "--quiet", "--set", "optimizer.steps=10",
                 "--set", "record.every=5", np=2)
    assert r.code == 0, r
    old = sha256_of(out)
    partial = Path(str(out) + ".partial")
    replacing = start("run", config, "-o", out, "--overwrite", "--quiet", "--checkpoint", "0.1",
                      np=1)
    wait_for(lambda: partial.exists() and done_count(partial) > 0)
    second = symsweep("run", config, "-o", out, "--overwrite")  # while the first holds it
    assert second.code == 2 and "another symsweep run" in second.err, second
    assert replacing.poll() is None
    kill_9_all(replacing)
    assert sha256_of(out) == old  # the old results, untouched
    assert_done_points_final(partial, ref)
    r = symsweep("resume", out, np=3)  # finds the .partial, finishes it, replaces the old file
    assert r.code == 0 and f"resuming the unfinished --overwrite run in {partial}" in r.out, r
    assert not partial.exists()
    assert_same_results(out, ref)


def test_resume_refuses_another_numerics_version_or_config(slow, tmp_path):
    config, ref = slow
    out = tmp_path / "r.h5"
    r = symsweep("run", config, "-o", out, "--quiet", "--set", "optimizer.steps=100",
                 "--set", "record.every=10", np=2)
    assert r.code == 0, r
    # A config given beside the file must be the file's: the first difference is named.
    r = symsweep("resume", out, config, "--set", "optimizer.steps=100", "--set", "record.every=10",
                 np=1)
    assert r.code == 0 and "48 of 48 point(s) done, 0 to run" in r.out, r
    r = symsweep("resume", out, config, "--set", "optimizer.steps=100", "--set", "record.every=20",
                 np=1)
    assert r.code == 2, r
    assert "differs from the one" in r.err, r
    assert "[record] every: the file has 10, the config given has 20" in r.err, r
    # Another numerics version: named, with the build that can resume it; the file untouched.
    with h5py.File(out, "r+") as f:
        f.attrs["numerics_version"] = np.int64(2)
    before = sha256_of(out)
    r = symsweep("resume", out, np=2)
    assert r.code == 2 and "numerics version 2" in r.err and "computes version" in r.err, r
    assert sha256_of(out) == before
    r = symsweep("resume", tmp_path / "missing.h5", np=1)
    assert r.code == 2 and "no such file" in r.err, r
    (tmp_path / "text.h5").write_text("not hdf5")
    r = symsweep("resume", tmp_path / "text.h5", np=1)
    assert r.code == 2 and "not an HDF5 file" in r.err, r


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_io_error_at_a_checkpoint_stops_every_rank_and_keeps_what_was_saved(slow, tmp_path,
                                                                             ranks):
    config, ref = slow
    out = tmp_path / "fault.h5"
    # The last rank fails in the 2nd checkpoint in which it writes points, after the data and
    # before the status: whatever the timing, its first checkpoint's points are saved and the
    # failing one's are not (the failing one may be the final checkpoint; more often it is not).
    fault = f"checkpoint:{ranks - 1}:2"
    t0 = time.time()
    r = symsweep("run", config, "-o", out, "--checkpoint", "0.1", np=ranks,
                 env={"SYMSWEEP_INJECT_FAULT": fault}, timeout=120)
    took = time.time() - t0
    assert r.code == 1, r
    assert took < 30, took
    errors = [line for line in r.err.splitlines() if line.startswith("symsweep: ")]
    assert len(errors) == 1 and "injected fault" in errors[0], r.err
    if ranks > 1:
        assert f"rank {ranks - 1}:" in errors[0]
    saved = assert_done_points_final(out, ref)
    assert 0 < saved < 48, saved
    r = symsweep("resume", out, "--quiet", np=2)
    assert r.code == 0, r
    assert_same_results(out, ref)


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_full_disk_at_creation_is_one_clear_error_without_hanging(slow, tmp_path, ranks):
    config, _ = slow
    disk = tmp_path / "disk"
    tmpfs(disk, "64k")  # the file takes about 135 kB
    try:
        out = disk / "full.h5"
        # Up front: a file that cannot fit is refused before anything is created.
        r = symsweep("run", config, "-o", out, np=ranks)
        assert r.code == 2 and "the file needs about" in r.err and "free" in r.err, r
        assert sorted(p.name for p in disk.iterdir()) == []
        # Past the check (as when another program fills the disk meanwhile): the write that
        # fails stops every rank with one message, within seconds, and leaves no file behind.
        t0 = time.time()
        r = symsweep("run", config, "-o", out, np=ranks, timeout=120,
                     env={"SYMSWEEP_TEST_SKIP_ROOM_CHECK": "1"})
        took = time.time() - t0
        assert r.code == 1, r
        assert took < 30, took
        errors = [line for line in r.err.splitlines() if line.startswith("symsweep: ")]
        assert len(errors) == 1 and "is full" in errors[0], r.err
        assert "HDF5-DIAG" not in r.err  # no raw HDF5 error stack
        assert sorted(p.name for p in disk.iterdir()) == ["full.h5.lock"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_dry_run_of_a_huge_grid_and_a_grid_that_cannot_fit(tmp_path):
    huge = tmp_path / "huge.ini"
    huge.write_text("[model]\nname = linear2\n[axes]\noptimizer.eta = linspace(0.01, 1, 10000)\n"
                    "sweep.seed = range(0, 10000)\n")
    t0 = time.time()
    r = symsweep("run", huge, "-o", tmp_path / "huge.h5", "--dry-run", np=1)
    assert r.code == 0, r
    assert time.time() - t0 < 20
    assert "100000000 point(s)" in r.out and "per point" in r.out, r
    assert "memory per rank" in r.out and "free disk at" in r.out, r
    assert not (tmp_path / "huge.h5").exists()
    # 10^10 points need terabytes: refused before anything is made, naming both sizes.
    r = symsweep("run", huge, "-o", tmp_path / "huger.h5",
                 "--set", "axes.sweep.seed=range(0, 1000000)", np=2)
    assert r.code == 2 and "the file needs about" in r.err and "TB" in r.err, r
    assert list(tmp_path.glob("huger.h5*")) in ([], [tmp_path / "huger.h5.lock"])


def test_checkpoints_bound_what_a_rank_holds(slow, tmp_path):
    """Points reach the file during the run, not only at its end."""
    config, ref = slow
    out = tmp_path / "cp.h5"
    p = start("run", config, "-o", out, "--checkpoint", "0.2", np=2)
    wait_for(lambda: out.exists())
    seen = set()
    while p.poll() is None:
        seen.add(done_count(out))
        time.sleep(0.05)
    out_text, err = p.communicate()
    assert p.returncode == 0, (out_text, err)
    assert len([n for n in seen if 0 < n < 48]) >= 3, seen  # the file filled up step by step
    assert_same_results(out, ref)


# ------------------------------------------------------------------ signals inside a long point
# The test driver (symsweep_test_driver: the real driver plus the test model "delay",
# tests/common/delay_model.hpp) builds, steps and finishes points for as long as the config says,
# in 2 ms cancellable pieces or in one uncancellable block. A signal must end the run within the
# bound the README states ("Interruptions and resume") whatever the point is doing, leave the
# points in progress pending (never failed), and the file must resume to the uninterrupted run.
DRIVER = os.environ.get("SYMSWEEP_TEST_DRIVER",
                        str(Path(BIN).with_name("tests") / "symsweep_test_driver"))

# The README's bound from a signal to the exit of every rank, beyond the longest uncancellable
# piece of a point: one agreement (0.2 s), the final checkpoint and close, MPI_Finalize. Measured
# 0.13-0.36 s on 2 cores shared with other builds (load 8-12), but 2.1-2.3 s more than once with
# the suite running beside it: the README states 1.5 s for an idle machine, and the tests assert
# 10 s, which still fails the run loop without cancellation (30 s in set-up or finish). The
# linear2 test below asserts a ratio instead. mpirun itself then takes up to a few seconds to
# report the ranks' exit status: not the run's time, and not bounded here.
SIGNAL_BOUND = 10.0

DELAY = """
[sweep]
name = delay

[model]
name = delay
{keys}

[data]
n = 4

[optimizer]
eta = 0.1
batch = 2
steps = {steps}
tol = 0

[record]
every = 10

[axes]
sweep.seed = 0, 1, 2, 3
"""

PHASES = {  # phase: (model keys, optimizer.steps); each point would take about 30 s
    "build": ("build_seconds = 30", 40),
    "sgd": ("step_seconds = 0.01", 3000),
    "finish": ("finish_seconds = 30", 40),
}


def driver(*args, np=2, env=None, timeout=120):
    cmd = [MPIEXEC, "-np", str(np), *MPIEXEC_FLAGS, DRIVER, *map(str, args)]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)


def signal_ranks_when(p, marker, sig=signal.SIGTERM, settle=0.3):
    """Sends `sig` to every rank of mpiexec `p` (as SLURM signals the tasks of a step) once the
    marker file exists and `settle` s later; returns the seconds from the signal until every rank
    has exited."""
    wait_for(lambda: marker.exists(), timeout=60)
    time.sleep(settle)
    ranks = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
    pids = [int(x) for x in ranks.stdout.split()]
    assert pids, ranks.stdout
    sent = time.time()
    for pid in pids:
        os.kill(pid, sig)

    def gone(pid):  # exited: reaped, or a zombie until mpiexec reaps it
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        except OSError:
            return True

    wait_for(lambda: all(gone(pid) for pid in pids), timeout=60)
    return time.time() - sent


@pytest.mark.parametrize("phase,sleep", [("build", "pieces"), ("sgd", "pieces"),
                                         ("finish", "pieces"), ("build", "block"),
                                         ("finish", "block")])
def test_signal_inside_a_long_point_exits_3_within_the_bound(tmp_path, phase, sleep):
    if not Path(DRIVER).exists():
        pytest.skip(f"no test driver at {DRIVER}")
    keys, steps = PHASES[phase]
    block = 1.5  # the uncancellable piece of the block variant, in seconds
    if sleep == "block":  # (an SGD step is short: no block variant)
        keys = f"{keys.split('=')[0]}= {block}\nsleep = block"
    config = tmp_path / "delay.ini"
    config.write_text(DELAY.format(keys=keys, steps=steps))
    ref = tmp_path / "ref.h5"
    r = driver("run", config, "-o", ref, "--quiet", env={"SYMSWEEP_TEST_DELAY_SCALE": "0"})
    assert r.returncode == 0, r.stderr

    out = tmp_path / "sig.h5"
    markers = tmp_path / "markers"
    markers.mkdir()
    # One rank for the block variant: ranks start seconds apart on a loaded machine, and the
    # bound is from the start of the last rank's block.
    p = start_driver("run", config, "-o", out, "--checkpoint", "1000",
                     np=2 if sleep == "pieces" else 1, env={"SYMSWEEP_TEST_MARKERS": str(markers)})
    took = signal_ranks_when(p, markers / phase, settle=0.3 if sleep == "pieces" else 0.1)
    out_text, err = p.communicate(timeout=60)
    print(f"signal during {phase} ({sleep}): every rank exited {took:.2f} s after SIGTERM")
    assert p.returncode == 3, (p.returncode, out_text, err)
    assert "interrupted by SIGTERM" in err, err
    if sleep == "pieces":
        assert took < SIGNAL_BOUND, took
    else:  # the rest of the uncancellable piece, then the same bound
        assert took < block + SIGNAL_BOUND, took
    with h5py.File(out, "r") as f:
        status = f["results/status"][()]
    if sleep == "pieces":  # every point was in progress: cancelled, pending, none failed
        assert (status == 0).all(), status
    else:
        assert not (status == 2).any(), status
    r = driver("resume", out, "--quiet", np=1, env={"SYMSWEEP_TEST_DELAY_SCALE": "0"})
    assert r.returncode == 0, r.stderr
    assert_same_results(out, ref)


def start_driver(*args, np=2, env=None):
    return start(*args, np=np, env=env, binary=DRIVER)


LINEAR2_FINISH = """
[sweep]
name = big_finish

[model]
name = linear2
dx = 4
h = 4
dy = 4

[data]
n = 3000000
noise_var = 0.1

[optimizer]
eta = 0.01
batch = 16
steps = 20
tol = 0

[record]
every = 0

[axes]
sweep.seed = 0
"""


def test_signal_in_the_final_measurements_of_a_real_linear2_point(tmp_path):
    """The real model's finish (a dense Hessian from 32 products over 3M samples, then the
    gradient noise over every sample) takes over a second; its loops reach cancellation points."""
    config = tmp_path / "big.ini"
    config.write_text(LINEAR2_FINISH)
    ref = tmp_path / "ref.h5"
    r = symsweep("run", config, "-o", ref, "--quiet")
    assert r.code == 0, r
    with h5py.File(ref, "r") as f:
        point_seconds = float(f["run/seconds"][0])
    # Set-up draws the 3M samples (about 7% of the point), the 20 steps take microseconds: the
    # rest of the point is its final measurements. The signal comes 30% into the point, so that
    # a run loop that waits for the point to end takes 70% of it (about 1.5 s, idle) to exit.
    assert point_seconds > 1.0, point_seconds
    out = tmp_path / "sig.h5"
    p = start("run", config, "-o", out, "--checkpoint", "1000", np=None)
    wait_for(lambda: out.exists())
    time.sleep(0.3 * point_seconds)
    sent = time.time()
    os.kill(p.pid, signal.SIGTERM)
    out_text, err = p.communicate(timeout=60)
    took = time.time() - sent
    print(f"linear2 (point of {point_seconds:.1f} s): exit {p.returncode} {took:.2f} s after "
          f"SIGTERM in its final measurements")
    assert p.returncode == 3, (p.returncode, out_text, err)
    # Waiting for the point would take the 70% of it that is left (plus the checkpoint); the
    # cancelled point exits in a fraction of that (0.22-0.79 s of a 2.2 s point, idle). A ratio,
    # since a loaded machine slows the point and the exit alike.
    assert took < 0.5 * point_seconds, (took, point_seconds)
    with h5py.File(out, "r") as f:
        assert f["results/status"][0] == 0  # cancelled: pending, not failed
    r = symsweep("resume", out, "--quiet")
    assert r.code == 0, r
    assert_same_results(out, ref)
