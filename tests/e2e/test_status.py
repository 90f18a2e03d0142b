"""The live status of a run: OUT.h5.status.json, `symsweep status`, and the progress line
(README, "Watching a run").

Every run is the real driver under the real mpiexec; the status file is read as a poller would,
while the run rewrites it, and compared with the result file read by h5py at the end.
"""
import json
import os
import pty
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import (BIN, MPIEXEC, MPIEXEC_FLAGS, kill_9_all, sha256_of,
                      start, symsweep, wait_for)

# About 1.3 s on 2 ranks x 1 thread: 48 points, long enough for several status rewrites.
CONFIG = """
[sweep]
name = watched

[model]
name = linear2
dx = 4
h = 4
dy = 4

[data]
n = 64
noise_var = 0.1

[optimizer]
steps = 45000
tol = 0

[record]
every = 9000

[axes]
optimizer.eta = logspace(-2.5, -1, 6)
optimizer.batch = 1, 4, 16, 64
sweep.seed = 0, 1
"""


@pytest.fixture()
def config(tmp_path):
    path = tmp_path / "watched.ini"
    path.write_text(CONFIG)
    return path


def status_of(out):
    return out.parent / (out.name + ".status.json")


def read_status(out):
    """The status file as a poller reads it: whole, or not there yet."""
    try:
        text = status_of(out).read_text()
    except FileNotFoundError:
        return None
    return json.loads(text)  # a torn file would raise here


def outcome_counts(out):
    with h5py.File(out, "r") as f:
        d = f["results/outcome"]
        names = d.attrs["flag_meanings"].split()
        codes = d.attrs["flag_values"]
        values = d[...].ravel()
        status = f["results/status"][...].ravel()
    return {str(n): int(np.sum(values == c)) for n, c in zip(names, codes) if c != 0}, status


def test_the_status_follows_a_run_whole_and_ends_complete(config, tmp_path):
    out = tmp_path / "w.h5"
    # Six times the steps (about 8 s): `status` and `inspect` below take seconds on a loaded
    # machine, and the poller must still see the run between its start and its end. They run
    # once the running state has been read twice, the second time with some points done but not
    # all (on a loaded machine they took the whole run when they ran at the first read, which was
    # then the only one; and when they ran at a second read of 0 points done, the next read was
    # the complete run's).
    p = start("run", config, "-o", out, "--status", "0.2", "--set", "optimizer.steps=270000")
    seen = []
    alive_seen = False
    while p.poll() is None:
        s = read_status(out)
        if s is not None:
            seen.append(s)
            running_so_far = sum(x["state"] == "running" for x in seen)
            if s["state"] == "running" and running_so_far >= 2 and 0 < s["done"] < 48 \
                    and not alive_seen:
                r = symsweep("status", out)
                assert r.code == 0, r
                alive_seen = "alive: pid" in r.out
                r = symsweep("inspect", out)
                assert r.code == 0, r
                if p.poll() is None:
                    assert "state: possibly running: pid" in r.out or \
                        "state: complete" in r.out, r.out
        time.sleep(0.05)
    stdout, stderr = p.communicate()
    assert p.returncode == 0, stderr
    final = read_status(out)
    seen.append(final)
    running = [s for s in seen if s["state"] == "running"]
    assert len(running) >= 2, [s["done"] for s in seen]
    assert alive_seen
    # Points done and the heartbeat never go back; every rewrite is a whole JSON object.
    dones = [s["done"] for s in seen]
    beats = [s["heartbeat"] for s in seen]
    assert dones == sorted(dones) and beats == sorted(beats), (dones, beats)
    assert any(0 < d < 48 for d in dones), dones
    for s in running:
        assert s["done"] == s["failed"] + sum(s["outcomes"].values())
        assert s["rate"] >= 0 and s["ranks"] == 2 and s["points"] == 48
    assert final["state"] == "complete" and final["done"] == 48 and final["failed"] == 0
    assert final["file"] == str(out.resolve())
    assert final["checkpoints"] >= 1 and final["last_checkpoint_utc"]
    counts, status = outcome_counts(out)
    assert final["outcomes"] == counts, (final["outcomes"], counts)
    r = symsweep("status", out)
    assert r.code == 0 and "complete; 48 of 48 point(s) done" in r.out, r
    r = symsweep("status", out, "--json")
    assert r.code == 0 and json.loads(r.out) == final, r
    r = symsweep("inspect", out)
    assert r.code == 0 and "\n  state: complete (48 of 48 point(s) done)\n" in r.out, r


def test_a_killed_run_is_told_from_a_live_one_and_resume_completes_it(config, tmp_path):
    out = tmp_path / "k.h5"
    # Three times the steps (about 4 s): the kill lands after the first checkpoint, well before
    # the end, even on a loaded machine.
    p = start("run", config, "-o", out, "--status", "0.2", "--checkpoint", "0.2",
              "--set", "optimizer.steps=135000")
    wait_for(lambda: (read_status(out) or {}).get("checkpoints", 0) >= 1, timeout=60)
    kill_9_all(p)
    left = read_status(out)
    assert left["state"] == "running"  # nothing could write the end
    r = symsweep("status", out)
    assert r.code == 0, r
    assert "not running" in r.out and "symsweep resume" in r.out, r.out
    r = symsweep("inspect", out)
    assert r.code == 0 and "\n  state: interrupted (" in r.out, r
    assert f"continue with: symsweep resume {out}" in r.out, r.out
    # Seen from another host (the lock file names the host that took it): the lock tells
    # nothing there, the heartbeat does: recent, alive; old, stale; no status file, unknown.
    lock = out.parent / (out.name + ".lock")
    taken = lock.read_text()
    lock.write_text("pid 4242 on another-node since 2026-01-01T00:00:00Z")
    r = symsweep("status", out)
    assert r.code == 0 and "alive: by its heartbeat" in r.out and "another-node" in r.out, r.out
    stale = dict(left, heartbeat=left["heartbeat"] - 3600)
    status_of(out).write_text(json.dumps(stale))
    r = symsweep("status", out)
    assert r.code == 0 and "not running: stale: no heartbeat for 36" in r.out, r.out
    status_of(out).unlink()
    r = symsweep("inspect", out)
    assert "state: interrupted, or running elsewhere: its lock was taken on another-node" in \
        r.out, r.out
    lock.write_text(taken)
    _, status = outcome_counts(out)
    saved = int(np.sum(status == 1))
    r = symsweep("resume", out, "--quiet", "--status", "0.2", np=2)
    assert r.code == 0, r
    final = read_status(out)
    assert final["state"] == "complete" and final["done"] == 48
    assert final["done_before"] == saved and 0 < saved < 48, saved
    assert sum(final["outcomes"].values()) == 48 - saved


def test_a_signal_ends_interrupted_and_a_failed_checkpoint_ends_failed(config, tmp_path):
    out = tmp_path / "s.h5"
    # Ten times the steps (about 13 s whole, 0.5 s a point): the signal ends it long before its
    # end however loaded the machine (at 1.3 s, a loaded CI machine once finished all 48 first).
    p = start("run", config, "-o", out, "--status", "0.2", "--set", "optimizer.steps=450000")
    wait_for(lambda: (read_status(out) or {}).get("done", 0) >= 1, timeout=60)
    os.killpg(p.pid, signal.SIGUSR1)
    p.communicate()
    s = read_status(out)
    assert s["state"] == "interrupted" and "symsweep resume" in s["message"], s
    assert s["done"] < 48
    r = symsweep("status", out)
    assert r.code == 0 and "interrupted" in r.out and "not running" not in r.out, r

    out = tmp_path / "f.h5"
    r = symsweep("run", config, "-o", out, "--checkpoint", "0.1", np=2,
                 env={"SYMSWEEP_INJECT_FAULT": "checkpoint:1:1"})
    assert r.code == 1, r
    s = read_status(out)
    assert s["state"] == "failed" and "injected fault" in s["message"], s


SHORT = ["--set", "optimizer.steps=900", "--set", "record.every=300"]


def test_status_options_and_errors(config, tmp_path):
    short = SHORT
    out = tmp_path / "n.h5"
    r = symsweep("run", config, "-o", out, "--quiet", "--status", "0", *short)
    assert r.code == 0, r
    assert not status_of(out).exists()
    r = symsweep("status", out)
    assert r.code == 2 and "no status file" in r.err and str(status_of(out).name) in r.err, r
    r = symsweep("run", config, "-o", tmp_path / "x.h5", "--status", "-1")
    assert r.code == 2 and "--status -1" in r.err and "[0, 1e9]" in r.err, r
    # A refused run leaves an existing status file as it was.
    out = tmp_path / "kept.h5"
    assert symsweep("run", config, "-o", out, "--quiet", *short).code == 0
    before = sha256_of(status_of(out))
    r = symsweep("run", config, "-o", out, *short)
    assert r.code == 2 and "exists" in r.err, r
    assert sha256_of(status_of(out)) == before
    status_of(out).write_text("{\"format\": \"other/9\"}")
    r = symsweep("status", out)
    assert r.code == 2 and "format 'other/9'" in r.err and "symsweep-status/1" in r.err, r
    status_of(out).write_text("{\"format\": ")
    r = symsweep("status", out)
    assert r.code == 2 and "not a symsweep status file" in r.err, r
    r = symsweep("status", out, "--verbose")
    assert r.code == 2 and "unknown option '--verbose'" in r.err, r


def test_the_progress_is_one_line_on_a_terminal_and_lines_in_a_log(config, tmp_path):
    def run(out, stdout):
        cmd = [MPIEXEC, "-np", "2", *MPIEXEC_FLAGS, BIN, "run", str(config), "-o", str(out),
               *SHORT]
        return subprocess.run(cmd, stdout=stdout, stderr=subprocess.STDOUT, timeout=120,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))
    log = tmp_path / "log.txt"
    with open(log, "wb") as f:
        assert run(tmp_path / "a.h5", f).returncode == 0
    text = log.read_bytes()
    assert b"\r" not in text and b"\x1b[K" not in text
    assert text.count(b"points (") >= 1  # today's lines, every 5 s, and the last
    master, slave = pty.openpty()
    r = run(tmp_path / "b.h5", slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert r.returncode == 0
    screen = b"".join(chunks)
    # Updated in place: each progress line returns to the start of the line and clears it.
    updates = screen.count(b"\x1b[K")
    assert updates >= 1 and screen.count(b"\r[") == updates, screen[-400:]


def test_a_rank_stuck_in_a_collective_step_ends_the_job_and_the_file_resumes(config, tmp_path):
    """The watchdog (--io-timeout): rank 1 never returns from its 2nd checkpoint with points,
    inside the step after the data; rank 0 waits for it in the same step. Both stuck for good,
    as when no rank returns from a collective HDF5 call."""
    ref = tmp_path / "ref.h5"
    assert symsweep("run", config, "-o", ref, "--quiet", np=2).code == 0
    out = tmp_path / "hung.h5"
    t0 = time.time()
    r = symsweep("run", config, "-o", out, "--checkpoint", "0.1", "--io-timeout", "2", np=2,
                 env={"SYMSWEEP_INJECT_FAULT": "hang:1:2"}, timeout=120)
    took = time.time() - t0
    assert r.code == 1, r
    lines = [l for l in r.err.splitlines() if "has not returned after" in l]
    assert lines, r.err
    assert all("the collective I/O step 'checkpoint " in l and "flushing the data'" in l
               and "--io-timeout 2" in l for l in lines), lines
    print(f"MEASURED the stuck job ended {took:.1f} s after it started (bound 2 s)")
    assert took < 30, took
    s = read_status(out)
    assert s["state"] == "running"  # ended from outside: like kill -9, and said so by status
    r = symsweep("resume", out, "--quiet", np=2)
    assert r.code == 0, r
    with h5py.File(out, "r") as a, h5py.File(ref, "r") as b:
        for group in ("results", "traces"):
            for name in b[group]:
                x, y = a[f"{group}/{name}"][...], b[f"{group}/{name}"][...]
                assert x.tobytes() == y.tobytes(), name
