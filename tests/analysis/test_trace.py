"""The `trace` command on files written by the driver: the plotted lines are the file's traces
and predicted values, the approach rate of GD on a quadratic is -2 log(1 - eta) exactly, and the
Noether flow of u^2 - w^2 (scalar two-layer net, online SGD with label noise) approaches its
equilibrium 0 at eta^2 sigma^2 / S per step (README, The science §2)."""
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_support import SOURCE_DIR, cli, run_sweep  # noqa: E402
from conftest import TINY  # noqa: E402
from symsweep_analysis import open_sweep  # noqa: E402
from symsweep_analysis.trace import approach_rates, fit_exponents, plot_trace  # noqa: E402

QUADRATIC = """
[sweep]
name = quadratic
[model]
name = poly
preset = custom
d = 1
monomials = 0, 0.5, 0, 0, -1, -1
x0 = 1
[data]
n = 1
[optimizer]
batch = 1
steps = 8000
tol = 0
[record]
every = 10
[axes]
optimizer.eta = 0.05, 0.1, 0.2
"""

# u w x with y = x + eps, sigma_x^2 = sigma_eps^2 = 1: C = u^2 - w^2 <- (1 - eta^2 G^2) C exactly,
# E G^2 = sigma^2 / S at the minimum.
NOETHER = """
[sweep]
name = noether
[model]
name = linear2
dx = 1
h = 1
dy = 1
[data]
mode = online
noise_var = 1
[optimizer]
steps = 100000
tol = 0
[record]
every = 500
[axes]
optimizer.eta = 0.01, 0.02
optimizer.batch = 1, 4
sweep.seed = 0, 1
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("trace")
    return {"tiny": run_sweep(d, "tiny", TINY), "quadratic": run_sweep(d, "quadratic", QUADRATIC),
            "noether": run_sweep(d, "noether", NOETHER)}


def trace_cli(*args):
    return cli("trace", *args, cwd=SOURCE_DIR)


def test_lines_are_the_traces_and_the_dashes_the_predicted_field(files):
    ds = open_sweep(files["tiny"])
    fig = plot_trace(ds, "trace_C", {"optimizer.batch": "4", "k": "0"}, predicted="C_final")
    ax = fig.axes[0]
    solid = [l for l in ax.get_lines() if l.get_linestyle() == "-" and l.get_linewidth() > 1]
    dashed = [l for l in ax.get_lines() if l.get_linestyle() == "--"]
    at = ds.sel({"optimizer.batch": 4, "k": 0})
    etas = at["optimizer.eta"].values
    assert len(solid) == len(dashed) == len(etas)
    finite = 0
    for line, dash, eta in zip(solid, dashed, etas):
        one = at.sel({"optimizer.eta": eta})
        np.testing.assert_array_equal(line.get_xdata(), ds["step"].values)
        np.testing.assert_array_equal(line.get_ydata(), one["trace_C"].mean("sweep.seed").values)
        expected = float(one["C_final"].mean("sweep.seed"))  # NaN where a seed diverged
        np.testing.assert_allclose(dash.get_ydata()[0], expected, rtol=1e-12, equal_nan=True)
        finite += np.isfinite(expected)
        assert f"optimizer.eta = {eta:.3g}" in line.get_label()  # 4 values tell apart at 3 digits
    assert finite >= 2
    # Thin lines: one per seed and eta.
    thin = [l for l in ax.get_lines() if l.get_linewidth() < 1]
    assert len(thin) == len(etas) * ds.sizes["sweep.seed"]


def test_the_command_draws_a_png_and_names_bad_input(files, tmp_path):
    png = tmp_path / "c.png"
    proc = trace_cli(files["tiny"], "--var", "trace_loss", "--select", "optimizer.batch=16",
                     "--select", "optimizer.eta=0.01", "--predicted", "0.05", "-o", png)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = trace_cli(files["tiny"], "--var", "trace_nope", "-o", png)
    assert proc.returncode == 2 and "'trace_nope' is not a variable" in proc.stderr
    assert "trace_loss" in proc.stderr
    proc = trace_cli(files["tiny"], "--var", "trace_loss", "--select", "optimizer.batch=3",
                     "-o", png)
    assert proc.returncode == 2
    assert "optimizer.batch = '3': no such value; values: 1, 4, 16" in proc.stderr
    proc = trace_cli(files["tiny"], "--var", "trace_C", "-o", png)
    assert proc.returncode == 2 and "--select k=VALUE" in proc.stderr


def test_gd_on_a_quadratic_approaches_its_minimum_at_minus_two_log_one_minus_eta(files):
    # x <- (1 - eta) x, loss = x^2 / 2: |loss(t) - 0| = 1/2 (1 - eta)^(2t) exactly.
    ds = open_sweep(files["quadratic"])
    exact = -2 * np.log(1 - ds["optimizer.eta"].values)
    known = approach_rates(ds, "trace_loss", final=0)  # the equilibrium given
    np.testing.assert_allclose(known.values, exact, rtol=1e-9)
    estimated = approach_rates(ds, "trace_loss")  # q_final from the last records
    np.testing.assert_allclose(estimated.values, exact, rtol=1e-9)


def test_noether_flow_approaches_equilibrium_at_eta_squared_over_s(files):
    ds = open_sweep(files["noether"])
    rates = approach_rates(ds, "trace_C", final=0).mean("sweep.seed")
    eta, s = ds["optimizer.eta"], ds["optimizer.batch"]
    predicted = eta ** 2 / s
    # Corrections are O(eta): the product uw fluctuates about v by ~eta / S, which adds
    # about (1 + 2/S) eta to E G^2 / (sigma^2 / S): at most 6 % here.
    np.testing.assert_allclose(rates.transpose(*predicted.dims).values, predicted.values,
                               rtol=0.10)
    a, b, _ = fit_exponents(approach_rates(ds, "trace_C", final=0))
    assert abs(a - 2) < 0.1 and abs(b + 1) < 0.1, (a, b)
    # The command line prints the same exponents.
    proc = trace_cli(files["noether"], "--var", "trace_C", "--predicted", "0", "--fit-rate",
                     "-o", files["noether"].with_suffix(".png"))
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"a = (\S+), b = (\S+) ", proc.stdout)
    assert m, proc.stdout
    assert float(m.group(1)) == pytest.approx(a, abs=1e-4)
    assert float(m.group(2)) == pytest.approx(b, abs=1e-4)
    assert proc.stdout.count("sweep.seed = ") == 8
