"""Results never silently wrong: a sweep killed with kill -9 after its first checkpoint, read by
every analysis command. No point whose status is not done may appear as a value (open_sweep masks
by status unless raw=True), every command says in one line how many points it left out and why,
and commands that do not fit a file refuse it with exit status 2 and one line naming what the
file lacks."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_support import ENV, cli  # noqa: E402
from conftest import BIN, MPIEXEC, MPIEXEC_FLAGS, TINY, symsweep  # noqa: E402
from symsweep_analysis import members, open_sweep  # noqa: E402
from symsweep_analysis.phase import plot_phase  # noqa: E402
from symsweep_analysis.trace import plot_trace  # noqa: E402

# 2 ranks x 60 points of a few tens of ms, checkpoints every 0.05 s: killed at the first
# checkpoint, most points are pending. Batch 16 = data.n is full-batch GD (eos applies); the
# large step sizes diverge.
KILLED = TINY.replace("steps = 60", "steps = 40000\ntol = 0") \
    .replace("optimizer.eta = logspace(-2, 0.5, 4)", "optimizer.eta = logspace(-2, 0.5, 5)") \
    .replace("optimizer.batch = 1, 4, 16", "optimizer.batch = 1, 4, 16") \
    .replace("sweep.seed = 0, 1", "sweep.seed = 0, 1, 2, 3")
assert "steps = 40000" in KILLED and "logspace(-2, 0.5, 5)" in KILLED


def status_of(path):
    with h5py.File(path, "r") as f:
        return f["results/status"][()]


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A result file of a run killed by kill -9 after its first checkpoint: some points done,
    the others pending."""
    d = tmp_path_factory.mktemp("killed")
    config = d / "killed.ini"
    config.write_text(KILLED)
    out = d / "killed.h5"
    cmd = [MPIEXEC, "-np", "2", *MPIEXEC_FLAGS, BIN, "run", str(config), "-o", str(out),
           "--quiet", "--checkpoint", "0.05"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"), start_new_session=True)
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            if out.exists():
                try:
                    if (status_of(out) == 1).any():
                        break
                except OSError:  # the file is being created
                    pass
            assert p.poll() is None, f"the run ended before a checkpoint: {p.communicate()}"
            time.sleep(0.01)
    finally:  # kill -9 of mpiexec and its ranks (the session this test started)
        subprocess.run(["pkill", "-KILL", "-s", str(p.pid)], check=False)
        p.communicate()
        # Ranks can outlive mpiexec for a moment (each in its own process group) and write one
        # more checkpoint: wait until none of the session is left, or the file would change
        # under the tests.
        while subprocess.run(["pgrep", "-s", str(p.pid)], capture_output=True).returncode == 0:
            assert time.time() < deadline + 30, "the killed run's ranks did not end"
            time.sleep(0.02)
    status = status_of(out)
    assert 0 < (status == 1).sum() < status.size, "the kill must leave done and pending points"
    return out


def pending_mask(path):
    return status_of(path) != 1


def test_open_sweep_masks_every_field_at_points_not_done(killed):
    raw = open_sweep(killed, raw=True)
    ds = open_sweep(killed)
    pending = pending_mask(killed)
    # The defect: the stored values of a pending point read as results (0.0 loss). Not every
    # one reads 0: a kill -9 inside a checkpoint can leave a point's values written and its status
    # (written last, the commit) still pending; those must be masked just the same.
    assert (raw["final_loss"].values[pending] == 0).any()
    assert ds.attrs["masked"] == 1 and raw.attrs["masked"] == 0
    checked = 0
    for name in ds.data_vars:
        if name == "status":
            continue
        da = ds[name]
        values = da.values[pending]  # leading dimensions are the axes
        if "flag_meanings" in da.attrs:  # enums: member 0, the store's fill ("unknown")
            assert (values == 0).all(), name
            assert members(da)[0] == members(raw[name])[0]
        else:
            assert da.dtype.kind == "f" and np.isnan(values).all(), name
        # Done points keep their stored values exactly.
        kept = da.values[~pending]
        stored = raw[name].values[~pending]
        assert np.array_equal(kept, stored.astype(kept.dtype), equal_nan=True), name
        checked += 1
    assert checked > 10
    assert (ds["status"].values == raw["status"].values).all()  # status is never masked
    # outcome: no pending point counted as an outcome
    names = members(ds["outcome"])
    assert names[0] == "unknown"


def left_out_line(stdout, n_pending, total):
    return f"left out {n_pending} of {total} point(s) whose status is not done ({n_pending} " \
        "pending)" in stdout


@pytest.mark.parametrize("args", [
    ("phase",), ("phase", "--color", "final_loss"), ("report",), ("eos",),
    ("trace", "--var", "trace_loss", "--select", "optimizer.batch=16", "--fit-rate"),
    ("inspect",),
])
def test_every_command_says_what_it_left_out_and_never_shows_a_pending_value(killed, tmp_path,
                                                                            args):
    pending = pending_mask(killed)
    out = ["-o", tmp_path / "out.png"] if args[0] not in ("report", "inspect") else (
        ["-o", tmp_path / "out.html"] if args[0] == "report" else [])
    proc = cli(args[0], killed, *args[1:], *out)
    assert proc.returncode == 0, proc.stderr
    assert left_out_line(proc.stdout, int(pending.sum()), pending.size), proc.stdout
    assert "Warning" not in proc.stderr, proc.stderr  # no NumPy warnings
    if args[0] == "trace":
        ds = open_sweep(killed)
        rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("  optimizer.eta")]
        at16 = pending[:, list(ds["optimizer.batch"].values).index(16), :].ravel()
        assert len(rows) == at16.size
        for row, is_pending in zip(rows, at16):
            value = row.rsplit(": ", 1)[1]
            assert (value == "not done (left out)") == bool(is_pending), row


def test_a_trace_plot_draws_no_pending_point(killed):
    ds = open_sweep(killed)
    raw = open_sweep(killed, raw=True)
    pending = pending_mask(killed)
    fig = plot_trace(ds, "trace_loss", {"optimizer.batch": "16", "sweep.seed": "0"})
    at = pending[:, list(ds["optimizer.batch"].values).index(16), 0]
    thick = [ln for ln in fig.axes[0].get_lines() if ln.get_linewidth() > 1]
    assert len(thick) == len(at)
    for line, is_pending in zip(thick, at):
        y = np.asarray(line.get_ydata(), dtype=float)
        assert np.isnan(y).all() == bool(is_pending)
    # Unmasked, the same points draw a loss of exactly 0 (what the issue saw).
    fig = plot_trace(raw, "trace_loss", {"optimizer.batch": "16", "sweep.seed": "0"})
    thick = [ln for ln in fig.axes[0].get_lines() if ln.get_linewidth() > 1]
    assert any((np.asarray(ln.get_ydata()) == 0).all() for ln, p in zip(thick, at) if p)


def test_phase_diagrams_show_pending_cells_as_no_data_only(killed):
    ds = open_sweep(killed)
    fig = plot_phase(ds, "optimizer.eta", "optimizer.batch", color="final_loss")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    cell_done = (~pending_mask(killed)).any(axis=2)  # (eta, batch)
    assert ("no data (no point done)" in labels) == (not cell_done.all())


def test_compare_names_status_and_compares_only_done_points(killed, tmp_path):
    # The same file with every point marked done: the pending points' stored zeros now read as
    # results in B, and differ from A's masked ones; compare must name status, not flood values.
    ref = tmp_path / "ref.h5"
    ref.write_bytes(killed.read_bytes())
    with h5py.File(ref, "a") as f:
        f["results/status"][...] = np.ones_like(f["results/status"][()])
    proc = cli("compare", killed, ref, "--show", "1000")
    assert proc.returncode == 1, proc.stderr
    pending = pending_mask(killed)
    assert f"status: {int(pending.sum())} of {pending.size} point(s) differ" in proc.stdout
    assert proc.stdout.count("pending in A, done in B") == int(pending.sum())
    assert " vs " not in proc.stdout  # done points agree bit for bit: no field differs
    # From the shell too (one process: the exit status and the stream).
    shell = subprocess.run(["/usr/bin/python3", "-m", "symsweep_analysis", "compare", str(killed),
                            str(ref)], capture_output=True, text=True, env=ENV)
    assert shell.returncode == 1 and "status:" in shell.stdout
    assert "DIFFERENT: 1 of" in proc.stdout


def test_commands_that_do_not_fit_the_file_exit_2_with_one_line(killed, tmp_path):
    png = tmp_path / "x.png"
    cases = [
        (("bifurcation", killed, "-o", png), "sweeps neither model.x0 nor model.preset"),
        (("amplitudes", killed, "-o", png), "no periodic point of period 2"),
        (("noether", killed, "-o", png), "no Noether analysis applies"),
        (("compare", killed, killed, "--rtol", "-1"), "--rtol -1.0: a tolerance must be"),
        (("compare", killed, killed, "--atol", "nan"), "--atol nan: a tolerance must be"),
        (("phase", tmp_path / "missing.h5"), "missing.h5: no such file"),
        (("inspect", tmp_path / "missing.h5"), "missing.h5: no such file"),
    ]
    for args, message in cases:
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(errors) == 1 and message in errors[0], (args, proc.stderr)
    proc = cli("--version")
    assert proc.returncode == 0 and re.match(r"symsweep_analysis \d+\.\d+\.\d+ ", proc.stdout)


def test_eos_refuses_a_stochastic_sweep(tmp_path):
    cfg = tmp_path / "sgd.ini"
    cfg.write_text(TINY)
    out = tmp_path / "sgd.h5"
    r = symsweep("run", cfg, "-o", out, "--quiet", "--set", "axes.optimizer.batch=1, 4",
                 "--set", "axes.sweep.seed=0", np=2)
    assert r.code == 0, r
    proc = cli("eos", out, "-o", tmp_path / "eos.png")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("is stochastic") and "eos needs deterministic runs" \
        in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_inspect_counts_like_the_driver(killed):
    proc = cli("inspect", killed)
    assert proc.returncode == 0, proc.stderr
    status = status_of(killed)
    assert f"status: pending {int((status == 0).sum())}, done {int((status == 1).sum())}, " \
        f"failed {int((status == 2).sum())}" in proc.stdout
    driver = symsweep("inspect", killed)
    assert driver.code == 0
    for a in ("optimizer.eta", "optimizer.batch", "sweep.seed"):
        assert a in proc.stdout and a in driver.out
