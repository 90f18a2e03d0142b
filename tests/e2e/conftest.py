"""Fixtures for the end-to-end tests: the built driver, mpiexec, and a way to run both.

CTest sets SYMSWEEP_BIN, SYMSWEEP_MPIEXEC, SYMSWEEP_MPIEXEC_FLAGS and SYMSWEEP_SOURCE_DIR. Run by
hand: SYMSWEEP_BIN=build/symsweep /usr/bin/python3 -m pytest tests/e2e
"""
import hashlib
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

SOURCE_DIR = Path(os.environ.get("SYMSWEEP_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BIN = os.environ.get("SYMSWEEP_BIN", str(SOURCE_DIR / "build" / "symsweep"))
MPIEXEC = os.environ.get("SYMSWEEP_MPIEXEC", "mpiexec")
MPIEXEC_FLAGS = shlex.split(os.environ.get("SYMSWEEP_MPIEXEC_FLAGS", "--oversubscribe"))
if os.geteuid() == 0 and "--allow-run-as-root" not in MPIEXEC_FLAGS:
    MPIEXEC_FLAGS.append("--allow-run-as-root")


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def symsweep(*args, np=None, threads=1, cwd=None, timeout=300, env=None):
    """Runs the driver, under mpiexec with `np` ranks when np is given."""
    cmd = [BIN, *map(str, args)]
    if np is not None:
        cmd = [MPIEXEC, "-np", str(np), *MPIEXEC_FLAGS, *cmd]
    full_env = dict(os.environ, OMP_NUM_THREADS=str(threads), **(env or {}))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=full_env)
    return Result(proc)


def wait_for(predicate, timeout=30.0):
    """Polls `predicate` every 20 ms until it holds; fails the test after `timeout` seconds."""
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def start(*args, np=2, env=None, binary=BIN):
    """Starts `binary` (the driver unless given) under mpiexec with `np` ranks (plainly when np is
    None), one thread per rank, in a session of its own, without waiting for it."""
    cmd = [binary, *map(str, args)]
    if np is not None:
        cmd = [MPIEXEC, "-np", str(np), *MPIEXEC_FLAGS, *cmd]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, start_new_session=True)


def kill_9_all(p):
    """kill -9 of mpiexec and every rank at once (a process started by start()). Open MPI puts
    each rank in a process group of its own (and ranks outlive a killed mpiexec), so this kills
    the whole session, and waits until none of it is left."""
    subprocess.run(["pkill", "-KILL", "-s", str(p.pid)], check=False)
    p.communicate()
    wait_for(lambda: subprocess.run(["pgrep", "-s", str(p.pid)],
                                    capture_output=True).returncode != 0)


def tmpfs(path, size):
    """Mounts a tmpfs of `size` at the new directory `path` (a small disk that fills up); skips
    the test where that is not allowed."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def axis_ends(expr):
    """First and last values of an axis expression (the grammar of include/symsweep/grid.hpp)."""
    expr = expr.strip()
    if "|" in expr:  # vector and matrix values
        values = [v.strip() for v in expr.split("|")]
        return values[0], values[-1]
    if "(" not in expr:
        values = [v.strip() for v in expr.split(",")]
        return values[0], values[-1]
    fn, args = expr.split("(", 1)
    a = [float(x) for x in args.rstrip(")").split(",")]
    fn = fn.strip()
    if fn == "linspace":
        return repr(a[0]), repr(a[1])
    if fn == "logspace":
        return repr(10 ** a[0]), repr(10 ** a[1])
    if fn == "geomspace":
        return repr(a[0]), repr(a[1])
    if fn == "range":
        step = a[2] if len(a) > 2 else 1.0
        n = len(range(0, int((a[1] - a[0]) / step - 1e-9) + 1))
        return repr(a[0]), repr(a[0] + (n - 1) * step)
    raise ValueError(f"unknown axis expression {expr!r}")


@pytest.fixture
def run():
    return symsweep


TINY = """
[sweep]
name = tiny

[model]
name = linear2
dx = 3
h = 2
dy = 2

[data]
n = 16
noise_var = 0.1

[optimizer]
steps = 60
check_every = 10

[record]
every = 20

[axes]
optimizer.eta = logspace(-2, 0.5, 4)
optimizer.batch = 1, 4, 16
sweep.seed = 0, 1
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.ini"
    path.write_text(TINY)
    return path
