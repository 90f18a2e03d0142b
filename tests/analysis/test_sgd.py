"""The SGD half of the stability checks through the real driver (README "SGD stability sweeps"):
Prop. 6 of Mulayoff & Stich (jobs/sweeps/prop6.ini, reduced) and its expectation figure; the
phase diagram of jobs/sweeps/sgd_stability.ini (reduced) with the three thresholds per batch
size and the table of predicted against measured boundaries; and Thm 11 (every batch stable =>
stable in expectation) on the spread preset and on random per-sample quadratics."""
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_support import SWEEPS, cli, run_config  # noqa: E402
from figcheck import assert_legends_off_the_data, plot_axes  # noqa: E402
from symsweep_analysis import (boundary_table, format_boundary_table, open_sweep,  # noqa: E402
                               plot_expectation, plot_phase)

DIVERGED = 2  # the outcome's code (members: unknown, converged, diverged, ...)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# ------------------------------------------------------------------------------------ Prop. 6
@pytest.fixture(scope="module")
def prop6(tmp_path_factory):
    """prop6.ini with eta below 2, between 2 and eta_ms, and past eta_gd (of a = 0.6); 60 seeds,
    16 enumerated steps (2^16 paths), 40 steps."""
    return run_config(SWEEPS / "prop6.ini", tmp_path_factory.mktemp("prop6") / "prop6.h5",
               "axes.optimizer.eta=1.8, 2.2, 2.6", "axes.sweep.seed=range(0, 60)",
               "stability.exact_steps=16", "optimizer.steps=40")


def test_prop6_past_the_worst_batch_the_exact_mean_diverges_while_the_median_converges(prop6):
    with h5py.File(prop6, "r") as f:
        eta = f["axes/optimizer.eta"][()]
        a = f["axes/model.a"][()]
        step = f["traces/step"][()]
        exact = f["traces/exact_mean_dist"][()]  # (eta, a, seed, step)
        beyond = f["traces/exact_p_beyond"][()]
        dist = f["traces/dist_to_min"][()]
        outcome = f["results/outcome"][()]
        wb, ms, gd = (f[f"results/{k}"][()] for k in ("eta_worst_batch", "eta_ms", "eta_gd"))
    T = int(step[np.nonzero(~np.isnan(exact[0, 0, 0]))[0][-1]])
    assert T == 16
    # The enumeration does not depend on the seed (the start is model.x0).
    np.testing.assert_array_equal(exact, np.broadcast_to(exact[:, :, :1], exact.shape))
    for j in range(len(a)):
        # 2 = the worst batch's threshold < 2.2 < the mean-square threshold, for both a: the
        # linear theory calls eta = 2.2 stable in mean square.
        assert wb[0, j, 0] == pytest.approx(2.0) and ms[0, j, 0] > 2.2 > wb[0, j, 0]
        for i, e in enumerate(eta):
            first, last = exact[i, j, 0, 0], exact[i, j, 0, T]
            median = np.median(np.where(np.isnan(dist[i, j]), np.inf, dist[i, j]), axis=0)
            if e < wb[i, j, 0]:  # every batch stable: the expectation decays, no seed diverges
                assert last < first / 10, (e, a[j], first, last)
                assert beyond[i, j, 0, T] == 0
                assert not (outcome[i, j] == DIVERGED).any()
            else:  # one unstable batch decides the mean (Thm 10) ...
                assert last > first, (e, a[j], first, last)
                # ... while the typical run still converges: fast below the mean-square
                # threshold, slowly past it (a = 0.6, eta = 2.6: also past GD's threshold, the
                # geometric mean of |1 - eta h_B| is sqrt(1.6 x 0.56) = 0.95 per step)
                fast = e < ms[i, j, 0]
                assert median[-1] < median[0] / (100 if fast else 1), (e, a[j], median)
    # Past GD's own threshold (a = 0.6, eta = 2.6 > 4/1.6) too the median converges: the
    # mixture of f+ (expanding) and a x^2/2 (contracting) batches contracts on a typical path.
    assert gd[2, 1, 0] < 2.6


def test_the_expectation_command_draws_and_counts_what_the_file_holds(prop6, tmp_path):
    png = tmp_path / "prop6.png"
    proc = cli("expectation", prop6, "-o", png)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with h5py.File(prop6, "r") as f:
        exact = f["traces/exact_mean_dist"][()][:, :, 0]  # (eta, a, step): one seed suffices
        eta = f["axes/optimizer.eta"][()]
        a = f["axes/model.a"][()]
        thresholds = {k: f[f"results/{k}"][()][0, :, 0]
                      for k in ("eta_worst_batch", "eta_ms", "eta_gd")}
    top = 1e4 * 1e8  # OFF_SCALE x the default divergence bound
    n_inf, n_above = int(np.isinf(exact).sum()), int((np.isfinite(exact) & (exact > top)).sum())
    assert n_inf > 0, "no enumerated path overflowed: the test needs one"
    out = proc.stdout.splitlines()
    left = [ln for ln in out if ln.startswith("expectation: left out")]
    assert len(left) == 1 and f"exact mean: {n_inf} value(s) +inf" in left[0], left
    assert f"and {n_above} finite above 1e+12" in left[0]
    for j, av in enumerate(a):
        for i, e in enumerate(eta):
            line = [ln for ln in out if ln.startswith(f"model.a = {av:g}, optimizer.eta = {e:g}:")]
            assert len(line) == 1, (av, e, out)
            verdict = ("the exact mean decays" if e < 2 else
                       "the median converges while the exact mean diverges")
            assert line[0].endswith(verdict), line
        told = [ln for ln in out if ln.startswith(f"model.a = {av:g}: eta_worst_batch")]
        assert told == [f"model.a = {av:g}: " + ", ".join(
            f"{k} = {v[j]:.4g}" for k, v in thresholds.items())], told

    fig, lines = plot_expectation(open_sweep(prop6))
    assert out[:len(lines)] == [("expectation: " if ln.startswith("left out") else "") + ln
                                for ln in lines]
    assert_legends_off_the_data(fig)
    mains = [ax for ax in plot_axes(fig) if ax.get_yscale() == "log"]
    bands = [ax for ax in plot_axes(fig) if ax.get_title()]
    strips = [ax for ax in plot_axes(fig) if ax.get_xlabel() == "optimizer.eta"]
    # each panel's title names its value of model.a and its three thresholds, from the file
    assert [b.get_title() for b in bands] == [
        f"model.a = {v:g}: " + ", ".join(f"$\\eta_{{{k}}}$ = {thresholds[f][j]:.4g}" for k, f in
                                        (("wb", "eta_worst_batch"), ("ms", "eta_ms"),
                                         ("gd", "eta_gd"))) for j, v in enumerate(a)]
    assert len(mains) == len(strips) == len(a)
    for j, (main, band, strip) in enumerate(zip(mains, bands, strips)):
        # one solid line per eta: the file's exact mean where it is on the scale
        solid = [ln for ln in main.get_lines() if ln.get_linestyle() == "-"]
        assert len(solid) == len(eta)
        for i, ln in enumerate(solid):
            want = np.where(np.isfinite(exact[i, j]) & (exact[i, j] <= top), exact[i, j], np.nan)
            # the mean over the seeds of one value: equal up to the rounding of the mean
            np.testing.assert_allclose(np.asarray(ln.get_ydata(), dtype=float), want, rtol=1e-14)
        # every off-scale value of the exact mean is a marker in the band: filled +inf, hollow
        # finite above the top
        tri = [ln for ln in band.get_lines() if ln.get_marker() == "^"]
        filled = sum(len(ln.get_xdata()) for ln in tri if ln.get_markerfacecolor() != "none")
        hollow = sum(len(ln.get_xdata()) for ln in tri if ln.get_markerfacecolor() == "none")
        assert filled == int(np.isinf(exact[:, j]).sum())
        assert hollow == int((np.isfinite(exact[:, j]) & (exact[:, j] > top)).sum())
        # the strip: ticks at the step sizes, the three thresholds where the file has them
        assert [t.get_text() for t in strip.get_xticklabels()] == [f"{e:g}" for e in eta]
        vertical = sorted(float(ln.get_xdata()[0]) for ln in strip.get_lines()
                          if len(ln.get_xdata()) == 2 and ln.get_xdata()[0] == ln.get_xdata()[1])
        assert vertical == sorted(float(v[j]) for v in thresholds.values())
    labels = [t.get_text() for ax in fig.axes if ax.get_legend()
              for t in ax.get_legend().get_texts()]
    for want in ("exact E|x_t - x*|", "Monte-Carlo mean", "Monte-Carlo median", "worst batch",
                 "mean-square", "(GD)", "off scale: +inf"):
        assert any(want in t for t in labels), (want, labels)


def test_the_expectation_command_refuses_a_file_without_the_enumeration(tmp_path):
    out = run_config(SWEEPS / "prop6.ini", tmp_path / "plain.h5", "stability.exact_steps=0",
              "optimizer.steps=5", "axes.sweep.seed=0, 1", "axes.optimizer.eta=1.8, 2.2")
    proc = cli("expectation", out, "-o", tmp_path / "x.png")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "has no exact_* traces" in proc.stderr, proc.stderr
    assert not (tmp_path / "x.png").exists()


# ------------------------------------------------------------------------- SGD phase diagram
@pytest.fixture(scope="module")
def sgd_phase(tmp_path_factory):
    """sgd_stability.ini with 14 step sizes, batch sizes 1, 4, 16 (= n), 6 seeds, 600 steps."""
    return run_config(SWEEPS / "sgd_stability.ini", tmp_path_factory.mktemp("sgd") / "sgd.h5",
               "axes.optimizer.eta=geomspace(0.3, 2.5, 14)", "axes.optimizer.batch=1, 4, 16",
               "axes.sweep.seed=range(0, 6)", "optimizer.steps=600")


def test_the_phase_diagram_draws_the_three_thresholds_of_each_row(sgd_phase):
    ds = open_sweep(sgd_phase)
    with h5py.File(sgd_phase, "r") as f:
        rows = {k: f[f"results/{k}"][()] for k in ("eta_worst_batch", "eta_ms", "eta_gd")}
        batch = f["axes/optimizer.batch"][()]
    for k, v in rows.items():  # one value per row (a property of the loss and S at x*)
        np.testing.assert_array_equal(v, np.broadcast_to(v[:1, :, :1], v.shape), err_msg=k)
    wb, ms, gd = (rows[k][0, :, 0] for k in ("eta_worst_batch", "eta_ms", "eta_gd"))
    assert (wb[:-1] < ms[:-1]).all() and (ms[:-1] < gd[:-1]).all()  # S < n
    assert wb[-1] == pytest.approx(gd[-1], rel=1e-12) and ms[-1] == pytest.approx(gd[-1],
                                                                                   rel=1e-12)
    assert (np.diff(wb) > 0).all() and (np.diff(ms) > 0).all()  # larger batches: larger steps
    fig = plot_phase(ds, "optimizer.eta", "optimizer.batch")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for name, field in (("GD threshold", gd), ("SGD mean-square threshold", ms),
                        ("worst-batch threshold", wb)):
        assert sum(t.startswith(name) for t in labels) == 1, (name, labels)
        line = [ln for ln in ax.get_lines() if ln.get_label().startswith(name)]
        assert len(line) == 1
        xs = np.asarray(line[0].get_xdata(), dtype=float)
        # one vertical segment per row, in row order; the SGD lines leave out the full-batch row
        # (S = n), where both equal eta_gd and the GD line is drawn
        rows_drawn = field if name == "GD threshold" else field[:-1]
        assert len(xs[~np.isnan(xs)]) == 2 * len(rows_drawn), (name, xs)
        np.testing.assert_allclose(xs[~np.isnan(xs)][::2], rows_drawn, rtol=1e-12, err_msg=name)
    assert len(batch) == 3
    assert_legends_off_the_data(fig)


def test_a_full_batch_sweep_gets_the_gd_line_alone(tmp_path):
    """On a GD sweep (L_beta, S = n) eta_ms = eta_worst_batch = eta_gd: no SGD lines, no SGD
    entries in the legend."""
    out = run_config(SWEEPS / "l_beta.ini", tmp_path / "gd.h5", "axes.model.beta=-0.3, 0.3",
              "axes.optimizer.eta=1.9, 2.1")
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["results/eta_ms"][()], f["results/eta_gd"][()], rtol=1e-12)
    fig = plot_phase(open_sweep(out), "model.beta", "optimizer.eta")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("GD threshold") for t in labels), labels
    assert not any("SGD" in t or "worst-batch" in t for t in labels), labels


def test_the_boundary_table_is_the_measured_boundary_of_the_file(sgd_phase, tmp_path):
    ds = open_sweep(sgd_phase)
    rows = boundary_table(ds)
    with h5py.File(sgd_phase, "r") as f:
        outcome = f["results/outcome"][()]  # (eta, batch, seed)
        eta = f["axes/optimizer.eta"][()]
        wb = f["results/eta_worst_batch"][()][0, :, 0]
        ms = f["results/eta_ms"][()][0, :, 0]
    diverged = (outcome == DIVERGED).sum(axis=2)
    seeds = outcome.shape[2]
    assert [r["value"] for r in rows] == [1, 4, 16]
    for j, r in enumerate(rows):
        assert r["eta_worst_batch"] == wb[j] and r["eta_ms"] == ms[j]
        # no seed diverged at stable_to and below; some did at the next step size
        assert r["stable_to"] is not None
        k = int(np.nonzero(eta == r["stable_to"])[0][0])
        assert (diverged[: k + 1, j] == 0).all()
        assert k + 1 == len(eta) or diverged[k + 1, j] > 0
        # every seed diverged at all_from; at no smaller step size did they all
        assert r["all_from"] is not None
        m = int(np.nonzero(eta == r["all_from"])[0][0])
        assert diverged[m, j] == seeds and (diverged[:m, j] < seeds).all()
        # Thm 11: below the worst batch's threshold no seed diverges
        assert r["stable_to"] >= eta[eta < wb[j]].max()
    table = format_boundary_table(rows)
    proc = cli("phase", sgd_phase, "--table", "-o", tmp_path / "p.png")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[: len(table)] == table
    assert table[0].startswith("| optimizer.batch | eta_worst_batch | eta_ms | eta_gd |")


# ----------------------------------------------------------------------- Thm 11, checked
SPREAD = """
[sweep]
name = thm11
[model]
name = poly
preset = spread
h_min = 0.5
h_max = 4
q = 1
x0 = 0.3
[data]
n = 4
[optimizer]
steps = 200
tol = 0
[record]
every = 1
[axes]
sweep.seed = range(0, 5)
"""


def random_quadratics(seed=17, d=3, n=4):
    """`poly` custom monomials of n per-sample quadratics x^T H_i x / 2, H_i random positive
    definite, and the start."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        m = rng.normal(size=(d, d))
        h = m @ m.T / d + 0.1 * np.eye(d)
        for j in range(d):
            rows.append(f"{i}, {h[j, j] / 2!r}, {j}, {j}, -1, -1")
            for k in range(j + 1, d):
                rows.append(f"{i}, {h[j, k]!r}, {j}, {k}, -1, -1")
    x0 = ", ".join(repr(v) for v in rng.normal(size=d) * 0.5)
    return (f"[sweep]\nname = quadratics\n[model]\nname = poly\npreset = custom\nd = {d}\n"
            f"monomials = {'; '.join(rows)}\nx0 = {x0}\n[data]\nn = {n}\n[optimizer]\n"
            "steps = 200\ntol = 0\n[record]\nevery = 1\n[axes]\nsweep.seed = range(0, 5)\n")


@pytest.mark.parametrize("family", ["spread", "quadratics"])
def test_every_batch_stable_means_stable_in_expectation(family, tmp_path):
    cfg = tmp_path / f"{family}.ini"
    cfg.write_text(SPREAD if family == "spread" else random_quadratics())
    for batch, steps in ((1, 8), (2, 6)):  # 4^8 and 6^6 enumerated paths
        sets = [f"optimizer.batch={batch}", f"stability.exact_steps={steps}"]
        probe = run_config(cfg, tmp_path / f"probe{batch}.h5", *sets, "optimizer.steps=8",
                    "optimizer.eta=0.01", "axes.sweep.seed=0")
        with h5py.File(probe, "r") as f:
            wb = float(f["results/eta_worst_batch"][()].ravel()[0])
            note = f["results/sgd_note"]
            names = h5py.check_enum_dtype(note.dtype)
            assert {v: k for k, v in names.items()}[int(note[()].ravel()[0])] == "ok"
        factors = (0.5, 0.9, 0.99) + ((1.5,) if family == "spread" and batch == 1 else ())
        out = run_config(cfg, tmp_path / f"{family}{batch}.h5", *sets,
                  "axes.optimizer.eta=" + ", ".join(repr(f_ * wb) for f_ in factors))
        with h5py.File(out, "r") as f:
            # the axes in the config's order (seed, then the eta added by --set): eta first here
            exact = f["traces/exact_mean_dist"][()].swapaxes(0, 1)  # (eta, seed, step)
            outcome = f["results/outcome"][()].T
            dist = f["traces/dist_to_min"][()].swapaxes(0, 1)
            assert [d.label for d in f["results/outcome"].dims] == ["sweep.seed", "optimizer.eta"]
        for i, factor in enumerate(factors):
            first, last = exact[i, 0, 0], exact[i, 0, steps]
            if factor < 1:  # Thm 11: every batch stable
                assert last < first, (family, batch, factor, first, last)
                assert not (outcome[i] == DIVERGED).any(), (family, batch, factor)
                assert np.nanmax(dist[i, :, -1]) < np.nanmax(dist[i, :, 0])
            else:  # the check can fail: one unstable batch (q > 0) and the mean grows
                assert last > first, (family, batch, factor, first, last)
