"""Adaptive sweeps ([refine]): a refined sweep's points are the uniform sweep's points bit for bit,
its file is the same whatever the ranks and the schedule, and resume continues an interrupted
level or the next one to the same file; bad [refine] input exits 2 with one line."""
import os
import shutil
import signal
import time

import h5py
import numpy as np
import pytest

from conftest import kill_9_all, start, symsweep, wait_for

# L_beta (poly): a sharp boundary in (beta, eta) between converging, periodic and diverging GD.
L_BETA = """
[sweep]
name = refine_lb

[model]
name = poly
preset = L_beta
x0 = 0.01, 0

[data]
n = 1

[optimizer]
batch = 1
steps = 3000
tol = 1e-13
check_every = 100

[axes]
model.beta = linspace(-0.5, 0.5, 17)
optimizer.eta = linspace(1.96, 2.06, 33)

[refine]
axes = model.beta, optimizer.eta
levels = 3
"""

# SGD with seeds (poly spread): the fraction of seeds diverged decides, by the binomial rule.
SGD = """
[sweep]
name = refine_sgd

[model]
name = poly
preset = spread
h_min = 0.5
h_max = 4
q = 1
x0 = 0.01

[data]
n = 16

[optimizer]
steps = 300
tol = 1e-12
check_every = 50

[axes]
optimizer.eta = geomspace(0.3, 2.5, 17)
optimizer.batch = 1, 2, 3, 4, 5, 6, 7, 8, 9
sweep.seed = range(0, 6)

[refine]
axes = optimizer.eta, optimizer.batch
levels = 2
rule = fraction
member = diverged
z = 1
"""



def payload(path):
    """Every dataset but /run and /provenance (placement, timing, the runs list), by path."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            top = name.split("/")[0]
            if isinstance(obj, h5py.Dataset) and top not in ("run", "provenance"):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def assert_same_file(path, ref):
    a, b = payload(path), payload(ref)
    assert sorted(a) == sorted(b)
    for name in b:
        assert np.asarray(a[name]).tobytes() == np.asarray(b[name]).tobytes(), f"{path}: /{name}"


def table_of(path):
    """(rows planned, their flat indices, status) of a point table."""
    with h5py.File(path, "r") as f:
        n = int(f["refine/rows"][()])
        return n, f["point"][:n], f["results/status"][:n]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("refine")
    out = {}
    for name, text in (("lb", L_BETA), ("sgd", SGD)):
        cfg = d / f"{name}.ini"
        cfg.write_text(text)
        out[f"{name}.ini"] = cfg
        r = symsweep("run", cfg, "-o", d / f"{name}_np1.h5", "--quiet", np=1, threads=2)
        assert r.code == 0, r
        r = symsweep("run", cfg, "-o", d / f"{name}_uniform.h5", "--set", "refine.axes=",
                     "--quiet", np=2)
        assert r.code == 0, r
    for np_, schedule in ((2, "static"), (3, "dynamic")):
        r = symsweep("run", out["lb.ini"], "-o", d / f"lb_np{np_}.h5", "--schedule", schedule,
                     "--quiet", np=np_)
        assert r.code == 0, r
    r = symsweep("run", out["sgd.ini"], "-o", d / "sgd_np3.h5", "--quiet", np=3)
    assert r.code == 0, r
    out["dir"] = d
    return out


@pytest.mark.parametrize("name", ["lb", "sgd"])
def test_refined_points_are_the_uniform_sweeps_points_bit_for_bit(runs, name):
    d = runs["dir"]
    n, flat, status = table_of(d / f"{name}_np1.h5")
    with h5py.File(d / f"{name}_np1.h5", "r") as r, h5py.File(d / f"{name}_uniform.h5", "r") as u:
        assert r.attrs["format"] == "symsweep-refine/1"
        assert u.attrs["format"] == "symsweep/1"
        grid = u["results/outcome"].shape
        assert n < np.prod(grid)  # it refined: fewer points than the grid
        assert (status == 1).all() and len(np.unique(flat)) == n
        for group in ("results", "traces"):
            for key, ds in r.get(group, {}).items():
                if "CLASS" in ds.attrs:
                    continue
                whole = u[group][key][()]
                whole = whole.reshape((-1,) + whole.shape[len(grid):])
                assert ds[:n].tobytes() == whole[flat].tobytes(), f"{group}/{key}"
        # Each row's coordinates are its grid values.
        coords = np.unravel_index(flat, grid)
        axes = r["point"].attrs["axes"].split()
        for key in r.attrs["refine_axes"].split():
            assert (r["refine"][key][:n] == u[key][()][coords[axes.index(key)]]).all()
        # Rows not planned say so.
        assert (r["point"][n:] == -1).all() and (r["refine/level"][n:] == -1).all()


def test_the_file_is_the_same_whatever_the_ranks_and_schedule(runs):
    d = runs["dir"]
    for other in ("lb_np2.h5", "lb_np3.h5"):
        assert_same_file(d / other, d / "lb_np1.h5")
    assert_same_file(d / "sgd_np3.h5", d / "sgd_np1.h5")


def rewind(path, rows=None, pending_from=None):
    """Puts a complete refined file back where a kill leaves it: the table's count back to `rows`
    (the kill came after a level's rows were written, before their count), or the status of its
    rows from `pending_from` on back to pending (a kill inside a level, after their data)."""
    with h5py.File(path, "r+") as f:
        if rows is not None:
            f["refine/rows"][()] = rows
            status = f["results/status"][()]
            status[rows:] = 0
            f["results/status"][()] = status
        if pending_from is not None:
            status = f["results/status"][()]
            status[pending_from:int(f["refine/rows"][()])] = 0
            f["results/status"][()] = status


def test_resume_continues_an_interrupted_level_or_the_next_one(runs, tmp_path):
    d = runs["dir"]
    ref = d / "lb_np1.h5"
    with h5py.File(ref, "r") as f:
        n = int(f["refine/rows"][()])
        level = f["refine/level"][:n]
    ends = [int(np.flatnonzero(level <= k).max()) + 1 for k in range(level.max())]
    # The table grows level by level (no cell was left unsplit for the budget here).
    assert (np.diff(level) >= 0).all() and level.max() == 3
    cases = [dict(rows=e) for e in (ends[0], ends[-1])]  # between levels
    cases += [dict(pending_from=e - (e // 3)) for e in (ends[1], n)]  # inside one
    for k, case in enumerate(cases):
        path = tmp_path / f"case{k}.h5"
        shutil.copy(ref, path)
        rewind(path, **case)
        r = symsweep("resume", path, "--quiet", np=1 + k % 3, threads=1 + k % 2)
        assert r.code == 0, (case, r)
        assert_same_file(path, ref)


def test_sigkill_and_sigterm_during_a_refined_run_resume_to_the_same_file(runs, tmp_path):
    ref = tmp_path / "slow_ref.h5"
    slow = ["--set", "optimizer.steps=100000", "--set", "optimizer.tol=0"]
    r = symsweep("run", runs["lb.ini"], "-o", ref, *slow, "--quiet", np=2)
    assert r.code == 0, r
    total = table_of(ref)[0]
    interrupted = 0
    for k, (how, delay) in enumerate((("term", 0.4), ("kill", 0.15))):
        path = tmp_path / f"killed{k}.h5"
        p = start("run", runs["lb.ini"], "-o", path, *slow, "--checkpoint", "0.2", "--quiet",
                  np=2)
        wait_for(path.exists)  # the file is valid from here on (every point pending)
        time.sleep(delay)
        if how == "term":
            os.killpg(p.pid, signal.SIGTERM)
            p.communicate(timeout=60)
        else:
            kill_9_all(p)
        n, _, status = table_of(path)
        interrupted += int((status == 1).sum()) < total
        r = symsweep("resume", path, "--quiet", np=3 - k % 2)
        assert r.code == 0, r
        assert_same_file(path, ref)
    assert interrupted > 0, "every run ended before its signal"


def test_bad_refine_input_exits_2_with_one_line_and_writes_nothing(runs, tmp_path):
    cfg = runs["lb.ini"]
    out = tmp_path / "bad.h5"
    cases = [
        (["--set", "refine.axes=model.beta"], "refine.axes"),
        (["--set", "refine.levels=5"], "axes.model.beta"),
        (["--set", "refine.field=no_such_field"], "refine.field"),
        (["--set", "refine.rule=fraction"], "refine.rule"),
        (["--set", "refine.rule=sign"], "refine.rule"),
        (["--set", "refine.budget=3"], "refine.budget"),
        (["--shard", "0/2"], "--shard"),
    ]
    for args, key in cases:
        r = symsweep("run", cfg, "-o", out, *args)
        assert r.code == 2, (args, r)
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and key in lines[0], (args, r)
        assert not out.exists() and not list(tmp_path.glob("bad.shard*"))
    # An existing file is never damaged by bad input.
    good = tmp_path / "good.h5"
    shutil.copy(runs["dir"] / "lb_np1.h5", good)
    before = good.read_bytes()
    r = symsweep("run", cfg, "-o", good, "--overwrite", "--set", "refine.axes=model.beta")
    assert r.code == 2 and good.read_bytes() == before, r


def test_help_explains_the_refine_keys():
    r = symsweep("--help")
    assert r.code == 0
    section = "\n" + r.out.split("\n[refine]\n")[1].split("\n[axes]\n")[0]
    for key in ("axes", "field", "rule", "member", "threshold", "z", "levels", "budget"):
        assert f"\n  {key} = " in section, key
