"""`symsweep rerun`: one point recomputed from a file's own config and compared bit for bit.

A shipped GD stability sweep (jobs/sweeps/bifurcation.ini, shrunk with --set) run on 2 ranks, with
one point failed by SYMSWEEP_INJECT_FAULT=point:<index>, gives points of every outcome; reruns of a
sample across the grid must match the stored bits, an altered stored value must be found, and
--point must find exactly the point its values name. The dense trace (--trace-every) is checked
against the file with h5py, on that sweep and on an online one whose gradient-noise measurements
draw from their own keyed streams (record.every must move no other number).
"""
import fcntl
import re
import shutil

import h5py
import numpy as np
import pytest

from conftest import MPIEXEC, MPIEXEC_FLAGS, SOURCE_DIR, sha256_of, symsweep

SHIPPED = SOURCE_DIR / "jobs" / "sweeps" / "bifurcation.ini"
SHRINK = ["--set", "axes.optimizer.eta=linspace(1, 4.2, 9)", "--set", "record.every=100"]
FAILED = 53  # the last point (f_plus, x0 = 0.6, eta = 4.2) fails in the run


def table(out):
    """The rows of rerun's table: {field path: (equal, stored, recomputed)}; equal is None for a
    field the file's build (another commit) did not store."""
    rows, inside = {}, False
    for line in out.splitlines():
        if line.startswith("  field "):
            inside = True
            cols = [m.start() for m in re.finditer(r"\S+", line)]
            continue
        if inside and not line.strip():
            break
        if inside:
            field = line[2:cols[1]].split()[0].rstrip(",")
            end = line.rstrip()
            equal = True if end.endswith("yes") else None if end.endswith("file's build)") \
                else False
            rows[field] = (equal, line[cols[1]:cols[2]].strip(), line[cols[2]:cols[3]].strip())
            assert line.startswith("! ") == (equal is False), line  # unequal rows are marked
    return rows


def fields_of(f):
    """The fields of /results and /traces of an open file (not the scales linked there)."""
    return {f"{g}/{name}" for g in ("results", "traces") if g in f for name, ds in f[g].items()
            if ds.attrs.get("CLASS") != b"DIMENSION_SCALE"}


@pytest.fixture(scope="module")
def bif(tmp_path_factory):
    out = tmp_path_factory.mktemp("rerun") / "bif.h5"
    r = symsweep("run", SHIPPED, *SHRINK, "-o", out, "--quiet", np=2,
                 env={"SYMSWEEP_INJECT_FAULT": f"point:{FAILED}"})
    assert r.code == 1 and f"failed ({FAILED})" in r.err, r  # the injected failure, alone
    with h5py.File(out, "r") as f:
        status, outcome = f["results/status"][()].ravel(), f["results/outcome"][()].ravel()
        names = {v: k for k, v in h5py.check_enum_dtype(f["results/outcome"].dtype).items()}
        axes = {key: f["axes"][key][()] for key in f["axes"]}
    return out, status, [names[c] for c in outcome], axes


def test_reruns_of_points_across_the_grid_match_the_file_bit_for_bit(bif):
    out, status, outcomes, _ = bif
    by_outcome = {}
    for p, (s, o) in enumerate(zip(status, outcomes)):
        if s == 1:
            by_outcome.setdefault(o, []).append(p)
    # The shrunk sweep holds the regimes a rerun must reproduce: GD converging, diverging and on
    # a stable orbit (and the failed point).
    assert {"converged", "diverged", "periodic"} <= set(by_outcome), by_outcome
    assert status[FAILED] == 2 and (status == 1).sum() == len(status) - 1
    sample = sorted({p for ps in by_outcome.values() for p in (ps[0], ps[len(ps) // 2], ps[-1])})
    with h5py.File(out, "r") as f:
        stored_fields = fields_of(f)
    for p in sample:
        r = symsweep("rerun", out, "--index", p)
        assert r.code == 0, r
        assert f"point {p} of {len(status)}" in r.out and f"outcome {outcomes[p]}" in r.out
        rows = table(r.out)
        assert set(rows) == stored_fields  # every stored field compared, /run left out
        assert all(equal for equal, _, _ in rows.values()), r.out
        assert f"equal: all {len(rows)} fields" in r.out

    # The failed point fails again under the same fault, and is compared as such.
    r = symsweep("rerun", out, "--index", FAILED, env={"SYMSWEEP_INJECT_FAULT": f"point:{FAILED}"})
    assert r.code == 0, r
    assert "recomputed: failed" in r.out and "injected fault" in r.out
    assert table(r.out)["results/status"] == (True, "failed", "failed")
    # Without it the point computes: its status (and every field) differs from the file's.
    r = symsweep("rerun", out, "--index", FAILED)
    assert r.code == 1, r
    rows = table(r.out)
    assert rows["results/status"] == (False, "failed", "done")
    assert "NOT EQUAL" in r.out


def test_an_altered_stored_value_is_unequal_and_named(bif, tmp_path):
    out, status, outcomes, _ = bif
    p = outcomes.index("periodic")
    altered = tmp_path / "altered.h5"
    shutil.copy(out, altered)
    with h5py.File(altered, "r+") as f:
        shape = f["results/status"].shape
        at = np.unravel_index(p, shape)
        loss = float(f["results/final_loss"][at])
        f["results/final_loss"][at] = np.nextafter(loss, np.inf)  # one unit in the last place
        trace = f["traces/loss"][at]
        trace[7] = np.nextafter(trace[7], -np.inf)
        f["traces/loss"][at] = trace
        # A NaN of another payload at another done point: the same text, other bits.
        q, nan_field = next((q, name) for q in range(len(status)) if status[q] == 1 and q != p
                            for name in sorted(fields_of(f)) if name.startswith("results/")
                            and f[name].dtype == np.float64 and f[name].ndim == len(shape)
                            and np.isnan(f[name][np.unravel_index(q, shape)]))
        f[nan_field][np.unravel_index(q, shape)] = np.uint64(0x7ff8000000000001).view(np.float64)
    r = symsweep("rerun", altered, "--index", p)
    assert r.code == 1, r
    rows = table(r.out)
    assert {name for name, (equal, _, _) in rows.items() if not equal} == {"results/final_loss",
                                                                          "traces/loss"}
    assert float(rows["results/final_loss"][1]) == np.nextafter(loss, np.inf)
    assert float(rows["results/final_loss"][2]) == loss
    assert "step=700" in rows["traces/loss"][1]  # the record that differs, by its step
    assert f"NOT EQUAL: 2 of {len(rows)} fields of point {p}" in r.out
    r = symsweep("rerun", altered, "--index", q)
    assert r.code == 1, r
    rows = table(r.out)
    assert {name for name, (equal, _, _) in rows.items() if not equal} == {nan_field}
    assert rows[nan_field][1:] == ("nan (0x7ff8000000000001)", "nan (0x7ff8000000000000)")
    # The original file still matches at those points.
    assert symsweep("rerun", out, "--index", p).code == 0
    assert symsweep("rerun", out, "--index", q).code == 0
    # A field missing from a file of this very build is a difference, not a new field.
    with h5py.File(altered, "r+") as f:
        del f["results/theta_norm"]
    r = symsweep("rerun", altered, "--index", q)
    rows = table(r.out)
    assert r.code == 1 and rows["results/theta_norm"] == (False, "(not in the file)",
                                                          "(computed)"), r
    assert "\nnew: " not in r.out


def test_point_lookup_exact_rounded_and_refused(bif, tmp_path):
    out, status, outcomes, axes = bif
    presets = [v.decode() for v in axes["model.preset"]]
    x0s = [v.decode() for v in axes["model.x0"]]
    etas = axes["optimizer.eta"]
    shape = (len(presets), len(x0s), len(etas))

    def index_of(r):
        m = re.search(r"point (\d+) of", r.out)
        assert r.code == 0 and m, r
        return int(m.group(1))

    for i, j, k in [(0, 1, 5), (1, 2, 7), (0, 0, 0)]:
        want = int(np.ravel_multi_index((i, j, k), shape))
        exact = f"model.preset={presets[i]},model.x0={x0s[j]},optimizer.eta={float(etas[k])!r}"
        assert index_of(symsweep("rerun", out, "--point", exact)) == want
        # Rounded (within relative 1e-9), repeated --point options, a vector in another spelling.
        r = symsweep("rerun", out, "--point", f"optimizer.eta={etas[k] * (1 + 4e-10):.12g}",
                     "--point", f"model.x0={float(x0s[j]):.3f}, model.preset = {presets[i]}")
        assert index_of(r) == want
    # A fixed key may be given at its value.
    assert index_of(symsweep("rerun", out, "--point",
                             f"model.preset={presets[0]},model.x0={x0s[0]},optimizer.eta=1,"
                             "data.n=1")) == 0

    def refused(*args):
        r = symsweep("rerun", out, *args)
        assert r.code == 2 and r.out == "", r
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("symsweep: error: "), r
        return lines[0]

    base = f"model.preset={presets[0]},model.x0={x0s[0]}"
    off = float(etas[4]) * (1 + 1e-8)
    line = refused("--point", f"{base},optimizer.eta={off!r}")
    assert "optimizer.eta" in line and repr(off) in line and "not a grid value" in line
    m = re.search(r"between the grid values (\S+) and (\S+) ", line)
    assert m and (float(m[1]), float(m[2])) == (etas[4], etas[5]), line  # the nearest, exactly
    line = refused("--point", f"{base},optimizer.eta=9")
    m = re.search(r"above the largest grid value (\S+) ", line)
    assert m and float(m[1]) == etas[-1], line
    line = refused("--point", f"model.preset={presets[0]},optimizer.eta=1")
    assert "missing model.x0" in line and all(x in line for x in x0s)
    line = refused("--point", f"{base},optimizer.eta=1,model.preset={presets[1]}")
    assert "given twice" in line
    line = refused("--point", f"model.preset=f_middle,model.x0={x0s[0]},optimizer.eta=1")
    assert "'f_middle'" in line and all(p in line for p in presets)
    line = refused("--point", f"{base},optimizer.eta=1,data.n=2")
    assert "data.n" in line and "not swept" in line
    line = refused("--index", str(len(status)))
    assert f"[0, {len(status)})" in line
    refused("--index", "1", "--point", base)
    refused()

    # A pending point has nothing to compare with.
    pending = tmp_path / "pending.h5"
    shutil.copy(out, pending)
    with h5py.File(pending, "r+") as f:
        s = f["results/status"][()]
        s.flat[3] = 0
        f["results/status"][...] = s
    r = symsweep("rerun", pending, "--index", 3)
    assert r.code == 2 and "is pending" in r.err and "symsweep resume" in r.err, r


def test_ambiguous_values_and_the_dense_trace_bound(tmp_path):
    # Two grid values within relative 1e-9 of each other; runs of 2 million steps (they converge
    # early), whose every-step trace would exceed the 10^6 records a dense trace may hold.
    out = tmp_path / "close.h5"
    r = symsweep("run", SHIPPED, "--set", "model.preset=f_minus", "--set", "model.x0=0.3",
                 "--set", "axes.optimizer.eta=1, 1.0000000005", "--set", "optimizer.steps=2000000",
                 "-o", out, "--quiet")
    assert r.code == 0, r
    r = symsweep("rerun", out, "--point", "optimizer.eta=1.00000000025")
    assert r.code == 2 and "ambiguous" in r.err and "1, 1.0000000005" in r.err, r
    assert symsweep("rerun", out, "--point", "optimizer.eta=1.0000000005").code == 0
    for k in (1, 2):
        r = symsweep("rerun", out, "--index", 0, "--trace-every", k, "-o", tmp_path / "dense.h5")
        assert r.code == 2 and "K >= 3" in r.err and r.out == "", r
    assert not (tmp_path / "dense.h5").exists()


def same_values(stored, alone, name):
    """A point's values in a sweep's file equal its values alone: a trailing dimension is as long
    as the largest point of its grid needs, so the sweep's may be longer, the rest at the fill
    value (NaN, -1)."""
    assert stored.ndim == alone.ndim and all(n <= m for n, m in zip(alone.shape, stored.shape))
    block = tuple(slice(0, n) for n in alone.shape)
    assert stored[block].tobytes() == alone.tobytes(), name
    rest = np.ones(stored.shape, bool)
    rest[block] = False
    fill = np.isnan(stored[rest]) if stored.dtype.kind == "f" else stored[rest] == -1
    assert fill.all(), name


def check_dense(original, index, dense, every):
    """The dense file holds the point alone: its /results are the original's, its traces are
    recorded every `every` steps and equal the original's at the steps both record."""
    with h5py.File(original, "r") as f, h5py.File(dense, "r") as d:
        assert d.attrs["n_points"] == 1 and len(d.get("axes", {})) == 0
        assert f"\n[record]\nevery = {every}\n" in d.attrs["config_text"]
        assert fields_of(f) == fields_of(d)
        at = np.unravel_index(index, f["results/status"].shape)
        for name in sorted(n for n in fields_of(f) if n.startswith("results/")):
            same_values(np.asarray(f[name][at]), np.asarray(d[name][()]), name)
        steps = int(re.search(r"^steps = (\d+)$", d.attrs["config_text"], re.M).group(1))
        np.testing.assert_array_equal(d["step"][()], np.arange(0, steps + 1, every))
        shared = np.isin(f["step"][()], d["step"][()])
        where = np.isin(d["step"][()], f["step"][()])
        assert shared.sum() == where.sum() > 1
        for name in sorted(n for n in fields_of(f) if n.startswith("traces/")):
            same_values(f[name][at][shared], d[name][()][where], name)
        return len(d["step"])


def test_the_dense_trace_is_the_point_alone_every_k_steps(bif, tmp_path):
    out, status, outcomes, _ = bif
    p = outcomes.index("periodic")
    dense = tmp_path / "point.h5"
    r = symsweep("rerun", out, "--index", p, "--trace-every", 10, "-o", dense)
    assert r.code == 0, r
    assert "its /results equal the stored point's: yes" in r.out
    assert check_dense(out, p, dense, 10) == 4000 // 10 + 1
    # inspect reads it; a second rerun never replaces it, nor writes a file another run holds.
    assert symsweep("inspect", dense).code == 0
    before = sha256_of(dense)
    r = symsweep("rerun", out, "--index", p, "--trace-every", 10, "-o", dense)
    assert r.code == 2 and "exists" in r.err and r.out == "", r
    assert sha256_of(dense) == before
    held = tmp_path / "held.h5"
    with open(str(held) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = symsweep("rerun", out, "--index", p, "--trace-every", 10, "-o", held)
    assert r.code == 2 and "another symsweep run" in r.err and r.out == "", r
    assert not held.exists()


ONLINE = """
[sweep]
name = online
[model]
name = linear2
dx = 3
dy = 2
[data]
mode = online
noise_var = 0.1
[optimizer]
steps = 60
check_every = 10
[record]
every = 20
noise_batch = 64
[axes]
optimizer.eta = 0.01, 0.3
sweep.seed = 0, 1
model.h = 2, 3
"""


def test_online_gradient_noise_is_unmoved_by_a_dense_trace(tmp_path):
    # Online SGD measures the gradient noise on fresh samples at every record and at the end;
    # each measurement draws from its own step's substream, so recording at every step moves no
    # other number. The width h is swept: the point with h = 2 alone has shorter trailing
    # dimensions (the conserved spectrum, the generators) than the sweep's file.
    config = tmp_path / "online.ini"
    config.write_text(ONLINE)
    out = tmp_path / "online.h5"
    assert symsweep("run", config, "-o", out, "--quiet").code == 0
    with h5py.File(out, "r") as f:
        assert {"results/grad_noise", "traces/grad_noise", "results/noether_flow"} <= fields_of(f)
    p = 6  # eta = 0.3, seed 1, h = 2
    dense = tmp_path / "point.h5"
    r = symsweep("rerun", out, "--index", p, "--trace-every", 1, "-o", dense)
    assert r.code == 0, r
    assert "h = 2" in r.out.splitlines()[0]
    assert check_dense(out, p, dense, 1) == 61
    with h5py.File(out, "r") as f, h5py.File(dense, "r") as d:
        assert d["results/C_final"].shape[-1] < f["results/C_final"].shape[-1]


def test_a_field_the_point_alone_does_not_declare_is_compared_with_its_fill(tmp_path):
    # The shipped SGD sweep, shrunk: batch 16 = n is full-batch GD, for which the sweep declares
    # the periodic orbit; an SGD point alone (batch 1) does not declare it, and its stored orbit
    # is the fill value: the dense file's /results equal the stored point's.
    out = tmp_path / "sgd.h5"
    r = symsweep("run", SOURCE_DIR / "jobs" / "sweeps" / "sgd_stability.ini", "-o", out,
                 "--quiet", "--set", "axes.optimizer.eta=1.2, 1.6", "--set",
                 "axes.optimizer.batch=1, 16", "--set", "sweep.seed=3")
    assert r.code == 0, r
    dense = tmp_path / "cell.h5"
    r = symsweep("rerun", out, "--point", "optimizer.eta=1.6,optimizer.batch=1", "--trace-every",
                 50, "-o", dense)
    assert r.code == 0, r
    assert "its /results equal the stored point's: yes" in r.out, r.out
    with h5py.File(out, "r") as f, h5py.File(dense, "r") as d:
        assert "orbit" in f["results"] and "orbit" not in d["results"]


def test_the_pinned_reference_file_reruns_bit_for_bit_and_older_builds_are_reported(bif):
    # tests/compat/reference_v<N>.h5: a sweep of 12 linear2 points made by an earlier build of
    # this numerics version on 2 ranks, pinned bit for bit. Every point of it reruns equal.
    compat = SOURCE_DIR / "tests" / "compat"
    r = symsweep("rerun", bif[0], "--index", 0)
    this = int(re.search(r"^this: .*numerics version (\d+)", r.out, re.M).group(1))
    reference = compat / f"reference_v{this}.h5"
    with h5py.File(reference, "r") as f:
        n = int(f.attrs["n_points"])
    for p in range(n):
        r = symsweep("rerun", reference, "--index", p)
        assert r.code == 0 and "build: differs" not in r.out, r
        # Fields added since its build are listed as new, and only those the file lacks.
        with h5py.File(reference, "r") as f:
            lacks = {name for name, (equal, stored, _) in table(r.out).items()
                     if stored == "(not in the file)"}
            assert all(name not in f for name in lacks)
        new = {name for name, (equal, _, _) in table(r.out).items() if equal is None}
        assert new == lacks, (new, lacks)
        if new:
            assert f"new: {len(new)} field(s) this build computes are not in the file" in r.out
    # A file of an earlier numerics version: the difference is said, the numbers that changed
    # since differ (exit 1), and --strict refuses before computing anything.
    older = compat / f"reference_v{this - 1}.h5"
    r = symsweep("rerun", older, "--index", 0)
    assert r.code == 1 and "NOT EQUAL" in r.out, r
    assert f"build: differs from the file's (numerics version {this - 1} in the file" in r.out
    r = symsweep("rerun", older, "--index", 0, "--strict")
    assert r.code == 2 and "--strict" in r.err and r.out == "", r


def test_a_build_signature_difference_is_reported_and_refused_under_strict(bif):
    # The test hook makes this build's signature differ in one entry (what -mavx2 would change):
    # rerun says so and recomputes anyway (this build computes the same bits in truth), --strict
    # refuses before computing; a compiler version alone is no difference.
    out = bif[0]
    other = {"SYMSWEEP_TEST_BUILD_OVERRIDE": "simd=AVX (4 doubles per packet)"}
    r = symsweep("rerun", out, "--index", 0, env=other)
    assert r.code == 0, r
    assert re.search(r"^build: differs from the file's \(build signature: simd: .* -> AVX \(4 "
                     r"doubles per packet\)\)", r.out, re.M), r.out
    r = symsweep("rerun", out, "--index", 0, "--strict", env=other)
    assert r.code == 2 and "simd: " in r.err and "--strict refuses" in r.err and r.out == "", r
    r = symsweep("rerun", out, "--index", 0, "--strict",
                 env={"SYMSWEEP_TEST_BUILD_OVERRIDE": "compiler=GNU 99.1.0"})
    assert r.code == 0 and "build: differs" not in r.out and "GNU 99.1.0" in r.out, r


def test_more_than_one_rank_is_refused(bif):
    out = bif[0]
    r = symsweep("rerun", out, "--index", 0, np=2)
    assert r.code != 0 and r.err.count("runs as one process, started on 2 ranks") == 1, r
    assert "point 0" not in r.out
