"""The shipped sharpening and warm-up sweeps (jobs/sweeps/sharpening.ini, warmup.ini) at a reduced
size through the real driver (about 2 s together on 2 ranks), and what `symsweep_analysis
sharpening` and `warmup` read from them (README, The science §2):

- sharpening: SGD and GD of a seed start from the same draw (common random numbers across the
  method); GD from the small start ends at the balanced minimum's Tr H (hessian_trace_gf_predicted,
  to the start's imbalance); SGD ends sharper than GD where the predicted ratio is above 1 and
  flatter where it is below, within 15 % of it (eta = 0.04 here: the O(eta) bias is a few per
  cent); the window's closed-form Tr H is the core's hessian_trace where no window was averaged;
- warm-up: without a warm-up every seed diverges, with a long one none does; eq_gap_steps is the
  first step at which the gap fell to 0.1 of its start (the trace records agree with it) and
  comes no later than the noise-only eta^2/S prediction, which bounds it from above.
"""
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_support import SWEEPS, cli, run_config  # noqa: E402
from symsweep_analysis import open_sweep  # noqa: E402
from symsweep_analysis.sharpening import (_raw, predicted_steps,  # noqa: E402
                                          sharpening_numbers, warmup_numbers)

METHOD = "optimizer.method"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sharpening")
    sharp = run_config(SWEEPS / "sharpening.ini", d / "sharpening.h5",
                       "optimizer.steps=100000", "record.final_window=50000",
                       "optimizer.eta=0.04", "axes.data.noise_decay=1, 0.03",
                       "axes.sweep.seed=0, 1", "record.every=20000")
    warm = run_config(SWEEPS / "warmup.ini", d / "warmup.h5", "optimizer.steps=3000",
                      "record.final_window=3000", "axes.optimizer.warmup_steps=1, 1000",
                      "axes.sweep.seed=0, 1, 2, 3")
    deep = run_config(SWEEPS / "sharpening_deep.ini", d / "sharpening_deep.h5",
                      "optimizer.steps=100000", "record.final_window=50000",
                      "optimizer.eta=0.04", "axes.data.noise_decay=1, 0.03",
                      "axes.optimizer.weight_decay=0", "axes.sweep.seed=0, 1",
                      "record.every=5000")
    return {"sharpening": sharp, "warmup": warm, "deep": deep}


def run_cli(command, path, *args):
    png = Path(path).with_suffix(".png")
    proc = cli(command, path, "-o", png, *args)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return proc.stdout


def test_sgd_and_gd_share_their_start_and_gd_ends_at_the_balanced_minimum(files):
    ds = open_sweep(files["sharpening"])
    sgd, gd = (ds.sel({METHOD: _raw(ds, METHOD, m)}) for m in ("sgd", "gd"))
    assert (sgd["d0_norm"].values == gd["d0_norm"].values).all()
    assert (sgd["trace_C"].isel(step=0).values == gd["trace_C"].isel(step=0).values).all()
    d0 = float(ds["d0_norm"].max())
    assert 0 < d0 < 0.05  # a small, nearly balanced start
    nodecay = gd.sel({"optimizer.weight_decay": 0.0})
    measured, predicted = nodecay["eq_hessian_trace"], nodecay["hessian_trace_gf_predicted"]
    assert np.isfinite(predicted).all() and predicted.min() > 1
    assert (abs(measured / predicted - 1) < 5e-3).all(), (measured.values, predicted.values)
    # GD converged before the window: eq_hessian_trace is the closed form at the end, which is the
    # core's hessian_trace there (moments of the reference set against the batch: rounding).
    assert (gd["outcome"] == 1).all()
    assert np.allclose(gd["eq_hessian_trace"], gd["hessian_trace"], rtol=1e-10, atol=0)
    # the predictions are NaN outside their settings: weight decay, and the other method's
    assert np.isnan(gd.sel({"optimizer.weight_decay": 0.01})["hessian_trace_gf_predicted"]).all()
    assert np.isnan(gd["hessian_trace_eq_predicted"]).all()
    assert np.isnan(sgd["hessian_trace_gf_predicted"]).all()


def test_sgd_sharpens_and_flattens_as_predicted(files):
    ds = open_sweep(files["sharpening"])
    xkey, rows = sharpening_numbers(ds)
    assert xkey == "data.noise_decay"
    predicted = [r for r in rows if np.isfinite(r["ratio_predicted"])]
    assert len(predicted) == 4  # the cells without weight decay
    assert all(np.isnan(r["ratio_predicted"]) for r in rows
               if r["cell"]["optimizer.weight_decay"] > 0)
    directions = set()
    for r in predicted:
        p = r["ratio_predicted"]
        if abs(p - 1) < 0.05:
            continue
        directions.add(np.sign(p - 1))
        assert (np.sign(r["ratio_seeds"] - 1) == np.sign(p - 1)).all(), r
        assert abs(r["ratio"] / p - 1) < 0.15, r
        # the norm balance moves the same way as its prediction
        b, pb = r["balance_sgd"], r["balance_sgd_predicted"]
        assert np.sign(np.log(b)) == np.sign(np.log(pb)) and abs(np.log(b / pb)) < 0.2, r
    assert directions == {1.0, -1.0}  # both sharpening and flattening are tested
    out = run_cli("sharpening", files["sharpening"])
    assert "SGD sharper/flatter as predicted in 3 of 3" in out
    assert "sgd and gd share their starts" in out
    first = next(r for r in rows if r["cell"]["data.noise_decay"] == 0.03
                 and r["cell"]["data.x_decay"] == 1 and r["cell"]["optimizer.weight_decay"] == 0)
    m = re.search(r"^\s+0\.03\s+1\s+0\s+(\S+)\s+(\S+)", out, re.M)
    assert m and float(m.group(1)) == pytest.approx(first["ratio"], abs=1e-4)
    assert float(m.group(2)) == pytest.approx(first["ratio_predicted"], abs=1e-4)


def test_warmup_prevents_divergence_and_eq_gap_steps_is_the_first_crossing(files):
    ds = open_sweep(files["warmup"])
    rows = {r["warmup"]: r for r in warmup_numbers(ds)}
    assert rows[1]["diverged"] == rows[1]["seeds"] == 4
    assert rows[1000]["diverged"] == 0 and len(rows[1000]["steps"]) == 4
    pred = predicted_steps(ds).sel({"optimizer.warmup_steps": 1000})
    assert np.isfinite(pred).all()
    long = ds.sel({"optimizer.warmup_steps": 1000})
    steps = long["eq_gap_steps"].values
    assert (steps > 0).all() and (steps <= pred.values).all(), (steps, pred.values)
    assert (ds.sel({"optimizer.warmup_steps": 1})["eq_gap_steps"] == -1).all()  # diverged
    # The trace records: none before eq_gap_steps is at 0.1 of the start, and the first at or
    # after it is within one record interval of a crossing (the gap may rise again in between).
    gap = long["trace_eq_gap"]
    record = ds["step"].values
    for j, t in enumerate(steps):
        g = gap.isel({"sweep.seed": j}).values
        before = record < t
        assert (g[before][1:] > 0.1 * g[0] * (1 - 1e-9)).all(), (t, g[before])
    out = run_cli("warmup", files["warmup"])
    m = re.search(r"^\s+1000\s+0 of 4\s+(\S+)\s+\S+\s+(\S+)", out, re.M)
    assert m and float(m.group(1)) == pytest.approx(np.median(steps), abs=0.5)
    assert float(m.group(2)) == pytest.approx(float(pred.max()), abs=0.5)


def test_figures_keep_their_legends_off_the_data_and_label_the_grid(files):
    from figcheck import (assert_labels_are_values, assert_legends_off_the_data,
                          visible_tick_labels)
    from symsweep_analysis.sharpening import plot_sharpening, plot_warmup

    fig, _ = plot_sharpening(open_sweep(files["sharpening"]))
    assert_legends_off_the_data(fig)
    assert sorted(t for _, t in visible_tick_labels(fig.axes[0], "x")) == ["0.03", "1"]
    fig, _ = plot_warmup(open_sweep(files["warmup"]))
    assert_legends_off_the_data(fig)
    assert_labels_are_values(visible_tick_labels(fig.axes[2], "x"))


def test_commands_refuse_files_they_do_not_fit(files):
    proc = cli("warmup", files["sharpening"], "-o", files["sharpening"].with_name("x.png"))
    assert proc.returncode == 2 and "no optimizer.warmup_steps axis" in proc.stderr
    proc = cli("sharpening", files["warmup"], "-o", files["warmup"].with_name("y.png"))
    assert proc.returncode == 2 and "no optimizer.method axis" in proc.stderr


def test_the_deep_net_sharpens_under_noise_anisotropy_and_flattens_under_data_anisotropy(files):
    """sharpening_deep.ini (no closed form): Tr H from the trace records of the final window, the
    balance from dl_layer_norm, and the directions the linear net's theory gives, at every seed."""
    ds = open_sweep(files["deep"])
    xkey, rows = sharpening_numbers(ds)
    cell = {(r["cell"]["data.noise_decay"], r["cell"]["data.x_decay"]): r for r in rows}
    assert all(np.isnan(r["ratio_predicted"]) for r in rows)
    assert (cell[(0.03, 1.0)]["ratio_seeds"] > 1.1).all(), cell[(0.03, 1.0)]
    assert (cell[(1.0, 0.1)]["ratio_seeds"] < 0.9).all(), cell[(1.0, 0.1)]
    # Noise anisotropy moves the balance |W_1|^2 / |W_3|^2 below GD's (about 1 from this start).
    assert cell[(0.03, 1.0)]["balance_sgd"] < 0.8 < cell[(0.03, 1.0)]["balance_gd"]
    # The measured Tr H is the mean of the window's trace records, not the end's single iterate.
    sgd = ds.sel({METHOD: _raw(ds, METHOD, "sgd")})
    window = sgd["trace_hessian_trace"].where(sgd["step"] > 50000).mean("step")
    gd = ds.sel({METHOD: _raw(ds, METHOD, "gd")})
    first = {a: ds[a].values[0] for a in ("data.noise_decay", "data.x_decay", "sweep.seed",
                                          "optimizer.weight_decay")}
    r = cell[(float(first["data.noise_decay"]), float(first["data.x_decay"]))]
    assert r["ratio_seeds"][0] == pytest.approx(float(window.sel(first) / gd["hessian_trace"]
                                                      .sel(first)), rel=1e-12)
    out = run_cli("sharpening", files["deep"])
    assert "Tr H from the trace records of Tr H in the final window" in out
    assert "predicted: Tr H" not in out
