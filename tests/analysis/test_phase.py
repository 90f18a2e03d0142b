"""The analysis package on a real result file written by the driver."""
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

SOURCE_DIR = Path(os.environ.get("SYMSWEEP_SOURCE_DIR", Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(SOURCE_DIR / "analysis"))
sys.path.insert(0, str(SOURCE_DIR / "tests" / "e2e"))

from conftest import TINY, symsweep  # noqa: E402
from symsweep_analysis import load  # noqa: E402
from symsweep_analysis.phase import default_axes, outcome_plane, stability_plane  # noqa: E402


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    d = tmp_path_factory.mktemp("analysis")
    cfg = d / "tiny.ini"
    cfg.write_text(TINY)
    out = d / "tiny.h5"
    r = symsweep("run", cfg, "-o", out, np=2)
    assert r.code == 0, r
    return out


def test_load_gives_axes_in_grid_order_and_every_field(result):
    sweep = load(result)
    assert list(sweep.axes) == ["optimizer.eta", "optimizer.batch", "sweep.seed"]
    assert sweep.shape == (4, 3, 2)
    assert sweep.results["final_loss"].shape == (4, 3, 2)
    assert sweep.traces["C"].shape == (4, 3, 2, 4, 2)
    np.testing.assert_array_equal(sweep.steps, [0, 20, 40, 60])
    assert sweep.fixed("data.n") == 16
    eta = sweep.param("optimizer.eta")
    assert eta.shape == (4, 3, 2) and (eta[1] == sweep.axes["optimizer.eta"][1]).all()
    assert (sweep.param("data.noise_var") == 0.1).all()
    # Fields and enum members come from the file; the scales linked into the groups are not fields.
    assert set(sweep.results) == {"status", "outcome", "steps_run", "diverged_at", "final_loss",
                                  "grad_norm", "sharpness", "C_final"}
    assert set(sweep.traces) == {"loss", "C"}
    assert sweep.enums["outcome"] == ("unknown", "converged", "diverged", "moving")
    assert sweep.code("status", "done") == 1


def test_a_choice_axis_loads_as_text(tmp_path):
    cfg = tmp_path / "tiny.ini"
    cfg.write_text(TINY)
    out = tmp_path / "modes.h5"
    r = symsweep("run", cfg, "-o", out, "--set", "axes.data.mode=finite, online", "--quiet")
    assert r.code == 0, r
    sweep = load(out)
    assert list(sweep.axes["data.mode"]) == ["finite", "online"]
    assert sweep.shape[-1] == 2 and sweep.results["status"].shape == sweep.shape


def test_planes_agree_with_the_raw_file(result):
    sweep = load(result)
    x, y = default_axes(sweep)
    assert (x, y) == ("optimizer.eta", "optimizer.batch")
    plane = outcome_plane(sweep, x, y)
    assert plane.shape == (3, 4)  # rows: batch, columns: eta
    with h5py.File(result, "r") as f:
        outcome = f["results/outcome"][()]
        sharp = f["results/sharpness"][()]
        eta = f["axes/optimizer.eta"][()]
    for i in range(4):
        for j in range(3):
            values = list(outcome[i, j, :])
            counts = [values.count(k) for k in range(len(sweep.enums["outcome"]))]
            assert plane[j, i] == int(np.argmax(counts))
    stab = stability_plane(sweep, x, y)
    assert np.isnan(sharp).any() and np.isfinite(sharp).any()  # both kinds of cell occur
    for i in range(4):
        for j in range(3):
            finite = [eta[i] * v for v in sharp[i, j, :] if np.isfinite(v)]
            if finite:
                assert stab[j, i] == pytest.approx(float(np.median(finite)), rel=1e-15)
            else:
                assert np.isnan(stab[j, i])


def test_the_script_draws_a_png(result, tmp_path):
    png = tmp_path / "phase.png"
    proc = subprocess.run([sys.executable, str(SOURCE_DIR / "analysis" / "phase_diagram.py"),
                           str(result), "-o", str(png)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000


def test_the_script_explains_bad_axes(result, tmp_path):
    proc = subprocess.run([sys.executable, str(SOURCE_DIR / "analysis" / "phase_diagram.py"),
                           str(result), "-o", str(tmp_path / "x.png"), "--x", "model.h"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "'model.h' is not an axis" in proc.stderr


def test_load_refuses_other_files(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something/else"
    with pytest.raises(ValueError, match="not a symsweep/1 result file"):
        load(other)
