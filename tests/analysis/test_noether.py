"""The shipped Noether sweeps (jobs/sweeps/noether_init.ini, noether_rate.ini,
scale_invariance.ini) at their shipped size through the real driver (about 5 s together on 2
ranks), and what `symsweep_analysis noether` reads from them (README, The science §2):

- init-independence: SGD ends every start at the one equilibrium (the spread of C across the
  starts falls below 5 % of the initial spread); GD keeps it, each C moving by no more than the
  drift the exact identity allows (eta (L_0 - L_end) / (1 - eta lambda / 2), from the file);
- rate: rate ~ eta^a S^b with a = 2, b = -1 within 0.1, each rate within 10 % of
  eta^2 sigma^2 / S, and the equilibrium within 5 % of eq_predicted at every (eta, S);
- scale invariance: the slope of |theta|^4 and |theta*|^4 within 5 % of their predictions.
"""
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_support import SOURCE_DIR, cli, symsweep  # noqa: E402
from symsweep_analysis import open_sweep  # noqa: E402
from symsweep_analysis.dataset import param  # noqa: E402
from symsweep_analysis.noether import (detect, init_independence, rate_numbers,  # noqa: E402
                                       scale_numbers)

SWEEPS = ("noether_init", "noether_rate", "scale_invariance")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("noether")
    out = {}
    for name in SWEEPS:
        path = d / f"{name}.h5"
        r = symsweep("run", SOURCE_DIR / "jobs" / "sweeps" / f"{name}.ini", "-o", path, "--quiet",
                     np=2)
        assert r.code == 0, r
        out[name] = path
    return out


def noether_cli(path, *args):
    png = Path(path).with_suffix(".png")
    proc = cli("noether", path, "-o", png, *args, cwd=SOURCE_DIR)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return proc.stdout


def test_each_file_names_its_analysis(files):
    assert [detect(open_sweep(files[n])) for n in SWEEPS] == ["init", "rate", "scale"]
    proc = cli("noether", SOURCE_DIR / "tests" / "compat" / "reference_v3.h5", "-o",
               files["noether_init"].with_name("x.png"), cwd=SOURCE_DIR)
    assert proc.returncode == 2 and "no Noether analysis applies" in proc.stderr


def test_sgd_forgets_the_initial_imbalance_and_gd_keeps_it(files):
    ds = open_sweep(files["noether_init"])
    numbers = init_independence(ds)
    sgd, gd = numbers["sgd"], numbers["gd"]
    assert sgd["initial"] > 1  # the starts differ by order one
    assert sgd["ratio"] < 0.05, sgd
    # GD: every C moves by at most its drift bound, a small part of the spread, so the spread stays.
    one = ds.sel({"optimizer.method": "gd"})
    eta = param(one, "optimizer.eta")
    lam = one["trace_sharpness"].max("step")
    allowed = eta * (one["trace_loss"].isel(step=0) - one["final_loss"]) / (1 - eta * lam / 2)
    assert (eta * lam < 2).all()
    moved = np.abs(one["C_final"] - one["trace_C"].isel(step=0)).max("k")
    assert (moved <= allowed).all(), (moved.values, allowed.values)
    assert 2 * gd["allowed"] < 0.25 * gd["initial"], gd
    assert gd["final"] >= gd["initial"] - 2 * gd["allowed"]
    assert gd["ratio_min"] > 0.75
    out = noether_cli(files["noether_init"])
    m = re.search(r"sgd: initial spread (\S+), final spread (\S+) ", out)
    assert m and float(m.group(1)) == pytest.approx(sgd["initial"], rel=1e-5)
    assert float(m.group(2)) == pytest.approx(sgd["final"], rel=1e-4)


def test_the_approach_rate_scales_as_eta_squared_over_s_and_the_equilibrium_stays(files):
    numbers = rate_numbers(open_sweep(files["noether_rate"]))
    # O(eta) corrections raise the rate by up to 6 % at eta = 0.02, S = 1 and about half that at
    # eta = 0.01: a factor-2 range of eta moves a by about log(1.03)/log(2) = 0.04, b by less.
    # 0.1 keeps a margin and still tells eta^2 / S from eta or eta^3, S^0 or S^-2.
    assert abs(numbers["a"] - 2) < 0.1 and abs(numbers["b"] + 1) < 0.1, numbers
    for eta, s, rate, predicted, eq_w, eq_u, eq_pred in numbers["cells"]:
        assert rate == pytest.approx(predicted, rel=0.10), (eta, s)
        assert eq_w == pytest.approx(eq_pred, rel=0.05), (eta, s)
        assert eq_u == pytest.approx(eq_pred, rel=0.05), (eta, s)
    assert numbers["eq_range"] < 0.05
    out = noether_cli(files["noether_rate"])
    m = re.search(r"a = (\S+), b = (\S+) \(predicted", out)
    assert m and float(m.group(1)) == pytest.approx(numbers["a"], abs=1e-4)
    assert float(m.group(2)) == pytest.approx(numbers["b"], abs=1e-4)


def test_scale_invariance_slope_and_fixed_point_match_the_prediction(files):
    rows = scale_numbers(open_sweep(files["scale_invariance"]))
    assert {r[2] for r in rows} == {"slope", "norm4"} and len(rows) == 6
    for gamma, s, kind, measured, predicted in rows:
        assert measured == pytest.approx(predicted, rel=0.05), (gamma, s, kind)
    out = noether_cli(files["scale_invariance"])
    assert len(re.findall(r"^\s+\S+\s+\d+ (slope \|th\|\^4|\|theta\*\|\^4)", out, re.M)) == 6


def test_the_noether_figures_keep_every_series_visible_and_legends_off_the_data(files):
    """noether_rate: the cells with equal eta^2/S (which a measured-against-predicted plot put on
    one spot) are apart, one panel per S; every figure's legends lie off the data; the log axis
    of |theta|^4 carries at least three labels."""
    from figcheck import (assert_labels_are_values, assert_legends_off_the_data,
                          assert_no_hidden_markers, plot_axes, visible_tick_labels)
    from symsweep_analysis.noether import ANALYSES

    figs = {name: ANALYSES[detect(open_sweep(files[name]))](open_sweep(files[name]))[0]
            for name in SWEEPS}
    for fig in figs.values():
        assert_legends_off_the_data(fig)
    rate = plot_axes(figs["noether_rate"])
    ds = open_sweep(files["noether_rate"])
    assert len(rate) == ds.sizes["optimizer.batch"] + 1
    ratio = rate[-1]
    assert_no_hidden_markers(ratio, pixels=3)
    points = sum(len(ln.get_xdata()) for ln in ratio.get_lines() if ln.get_marker() != "None")
    assert points == ds.sizes["optimizer.eta"] * ds.sizes["optimizer.batch"]
    assert_labels_are_values(visible_tick_labels(ratio, "x"))
    assert [t for _, t in visible_tick_labels(ratio, "x")] == ["0.01", "0.0141", "0.02"]
    scale = plot_axes(figs["scale_invariance"])[1]
    assert scale.get_yscale() == "log"
    labels = visible_tick_labels(scale, "y")
    assert len(labels) >= 3, labels
    assert_labels_are_values(labels)
