"""The analysis package on real result files written by the driver: the xarray loader, phase
diagrams (mixed cells, log axes, facets, the weight-decay boundary), compare and the HTML report."""
import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_support import ENV, SOURCE_DIR, cli, run_sweep, symsweep  # noqa: E402
from conftest import TINY  # noqa: E402
from symsweep_analysis import (axes, compare, decode, members, open_sweep,  # noqa: E402
                               outcome_fractions, param, plot_phase, write_report)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_sweep(tmp_path_factory.mktemp("analysis"), "tiny", TINY)


def test_open_sweep_gives_the_axes_as_coordinates_and_every_field(result):
    ds = open_sweep(result)
    assert axes(ds) == ["optimizer.eta", "optimizer.batch", "sweep.seed"]
    with h5py.File(result, "r") as f:
        for key in axes(ds):
            np.testing.assert_array_equal(ds[key].values, f["axes"][key][()])
        np.testing.assert_array_equal(ds["final_loss"].values, f["results/final_loss"][()])
        np.testing.assert_array_equal(ds["trace_C"].values, f["traces/C"][()])
        np.testing.assert_array_equal(ds["step"].values, f["traces/step"][()])
        assert ds.attrs["config_text"] == f.attrs["config_text"]
    assert ds["final_loss"].dims == ("optimizer.eta", "optimizer.batch", "sweep.seed")
    assert ds["trace_C"].dims[-2:] == ("step", "k")
    assert members(ds["outcome"])[:4] == ["unknown", "converged", "diverged", "moving"]
    assert set(decode(ds["status"]).values.ravel()) == {"done"}
    assert float(param(ds, "data.noise_var").max()) == 0.1  # a fixed key, at every point
    # A reduction over seeds is one line, and the fractions add up to one per cell.
    frac = outcome_fractions(ds)
    assert frac.dims == ("outcome", "optimizer.eta", "optimizer.batch")
    np.testing.assert_allclose(frac.sum("outcome").values, 1.0)


def test_the_package_runs_from_the_command_line_as_the_readme_says(result, tmp_path):
    png = tmp_path / "phase.png"
    proc = subprocess.run(["/usr/bin/python3", "-m", "symsweep_analysis", "phase", str(result),
                           "-o", str(png)], capture_output=True, text=True, env=ENV,
                          cwd=SOURCE_DIR)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = subprocess.run(["/usr/bin/python3", "-m", "symsweep_analysis", "--help"],
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0 and "compare" in proc.stdout and "report" in proc.stdout


def test_the_script_draws_a_png_and_explains_bad_axes(result, tmp_path):
    script = str(SOURCE_DIR / "analysis" / "phase_diagram.py")
    png = tmp_path / "phase.png"
    proc = subprocess.run([sys.executable, script, str(result), "-o", str(png)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(png.read_bytes()) > 10000
    proc = subprocess.run([sys.executable, script, str(result), "-o", str(tmp_path / "x.png"),
                           "--x", "model.h"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "'model.h' is not an axis" in proc.stderr


def test_phase_figures_carry_their_labels_scales_and_legends(result):
    ds = open_sweep(result)
    fig = plot_phase(ds, "optimizer.eta", "optimizer.batch")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "optimizer.eta" and ax.get_ylabel() == "optimizer.batch"
    assert ax.get_xscale() == "log"  # logspace(-2, 0.5, 4)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "diverged" in labels and any("GD threshold" in t for t in labels)
    fig = plot_phase(ds, "optimizer.eta", "optimizer.batch", color="sharpness")
    assert any("sharpness" in a.get_ylabel() for a in fig.axes[1:])  # the colour bar
    fig = plot_phase(ds, "optimizer.eta", "sweep.seed", facet="optimizer.batch")
    panels = [a for a in fig.axes if a.get_title()]
    assert [a.get_title() for a in panels] == [f"optimizer.batch = {b}" for b in (1, 4, 16)]
    with pytest.raises(ValueError, match="'nope' is not a field"):
        plot_phase(ds, color="nope")


def cell_bands(fig, edges_x, edges_y, log):
    """(colour, share of the cell's height) of the rectangles drawn in one cell; heights in log
    space on a log axis."""
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import to_hex

    scale = np.log if log else (lambda v: v)
    lo, hi = scale(edges_y[0]), scale(edges_y[1])
    bands = []
    for coll in fig.axes[0].collections:
        if not isinstance(coll, PatchCollection):
            continue
        for path, color in zip(coll.get_paths(), coll.get_facecolors()):
            v = path.vertices
            y0, y1 = scale(v[:, 1].min()), scale(v[:, 1].max())
            if np.isclose(v[:, 0].min(), edges_x[0]) and y0 >= lo - 1e-9 and y1 <= hi + 1e-9:
                bands.append((to_hex(color), round((y1 - y0) / (hi - lo), 9)))
    return sorted(bands)


def test_a_cell_whose_seeds_split_is_drawn_mixed(tmp_path):
    # SGD at batch 1 across its divergence onset, two seeds: cells where one seed diverges and
    # the other does not (a 1:1 split) exist, and each must show both outcomes, half and half.
    out = run_sweep(tmp_path, "split", TINY, "axes.optimizer.eta=linspace(0.2, 1.4, 13)",
                    "axes.optimizer.batch=1, 16", "optimizer.steps=200")
    ds = open_sweep(out)
    outcome = ds["outcome"].values  # (eta, batch, seed)
    split = [(i, j) for i in range(outcome.shape[0]) for j in range(outcome.shape[1])
             if outcome[i, j, 0] != outcome[i, j, 1]]
    assert split, "the sweep has no split cell: the test needs one"
    fig = plot_phase(ds, "optimizer.eta", "optimizer.batch")
    from symsweep_analysis.phase import _Axis, outcome_colors
    xa, ya = _Axis(ds, "optimizer.eta"), _Axis(ds, "optimizer.batch")
    colors = outcome_colors(members(ds["outcome"]))
    for i, j in split:
        bands = cell_bands(fig, xa.edges[i:i + 2], ya.edges[j:j + 2], ya.log)
        expected = sorted((colors[int(k)], 0.5) for k in outcome[i, j])
        assert sorted(bands) == expected, (i, j, bands)


def test_the_gd_threshold_moves_with_weight_decay_as_predicted(tmp_path):
    # Full-batch GD from a small initialisation on a fine step-size grid, without and with weight
    # decay gamma, every point with the same data and initialisation (common random numbers). The
    # line is drawn at eta* = 2 / (lambda_max + gamma) per row from the file's sharpness; GD never
    # diverges left of it; every point GD converged at is linearly stable for its eta,
    # eta (lambda + gamma) <= 2 (beyond eta* it finds flatter minima: the edge of stability); and
    # leaving gamma out (eta lambda = 2) would put the line past where GD really diverges.
    text = TINY.replace("[axes]", "[axes]\noptimizer.weight_decay = 0, 0.5")
    out = run_sweep(tmp_path, "decay", text, "axes.optimizer.eta=geomspace(0.1, 2, 40)",
                    "axes.optimizer.batch=16", "axes.sweep.seed=0", "optimizer.steps=3000",
                    "optimizer.tol=1e-9", "model.init_u_scale=0.1", "model.init_w_scale=0.1",
                    "sweep.common_random=optimizer.eta, optimizer.weight_decay")
    ds = open_sweep(out)
    fig = plot_phase(ds, "optimizer.eta", "optimizer.weight_decay")
    line = [ln for ln in fig.axes[0].get_lines() if "GD threshold" in ln.get_label()][0]
    xs = np.asarray(line.get_xdata(), dtype=float)
    drawn = xs[~np.isnan(xs)][::2]  # one vertical segment per row (gamma = 0, 0.5)
    with h5py.File(out, "r") as f:
        lam = f["results/sharpness"][()][:, :, 0, 0]  # (weight_decay, eta)
        at_min = f["results/lambda_max"][()][:, :, 0, 0]  # at x*, weight decay included
        outcome = f["results/outcome"][()][:, :, 0, 0]
        eta = f["axes/optimizer.eta"][()]
    converged, diverged = 1, 2
    # linear2's minima are not isolated (a rotation of the hidden units is a symmetry, with or
    # without weight decay): no lambda_max at x*, so the line comes from the sharpness.
    assert np.isnan(at_min).all()
    for row, gamma in enumerate([0.0, 0.5]):
        ok = outcome[row] != diverged
        finite = at_min[row][np.isfinite(at_min[row])]
        predicted = (2.0 / np.median(finite) if finite.size
                     else 2.0 / (np.median(lam[row, ok]) + gamma))
        assert drawn[row] == pytest.approx(predicted, rel=1e-12)
        assert not (outcome[row][eta < predicted] == diverged).any()
        assert (outcome[row] == diverged).any()
        conv = outcome[row] == converged
        assert (eta[conv] * (lam[row, conv] + gamma) <= 2 * (1 + 1e-3)).all()
    # With gamma = 0.5, eta lambda = 2 (no gamma) lies beyond the first diverged step size.
    lam_decay = np.median(lam[1, outcome[1] != diverged])
    first_diverged = eta[np.argmax(outcome[1] == diverged)]
    assert drawn[1] < first_diverged < 2.0 / lam_decay


def test_compare_passes_identical_files_and_catches_one_flipped_bit(result, tmp_path):
    same = tmp_path / "same.h5"
    shutil.copy(result, same)
    status, lines = compare(result, same)
    assert status == 0 and lines[-1].startswith("SAME")
    flipped = tmp_path / "flipped.h5"
    shutil.copy(result, flipped)
    with h5py.File(flipped, "a") as f:
        loss = f["results/final_loss"][()]
        finite = np.argwhere(np.isfinite(loss))[0]
        bits = loss.view(np.uint64)
        bits[tuple(finite)] ^= np.uint64(1)
        f["results/final_loss"][...] = loss
    status, lines = compare(result, flipped)
    assert status == 1 and lines[-1].startswith("DIFFERENT: 1 of")
    text = "\n".join(lines)
    assert "final_loss: 1 of 24 point(s) differ" in text
    eta = open_sweep(result)["optimizer.eta"].values[finite[0]]
    assert f"optimizer.eta = {eta:.6g}" in text  # as the axis's labels write it
    # Within a tolerance the flipped bit is no difference.
    assert compare(result, flipped, rtol=1e-12)[0] == 0
    # A file that is not a result file is unusable input: exit 2, from the command line too.
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    proc = cli("compare", result, junk)
    assert proc.returncode == 2 and "unusable input" in proc.stderr
    proc = cli("compare", result, flipped)
    assert proc.returncode == 1 and "DIFFERENT" in proc.stdout


def test_the_report_holds_every_figure(result, tmp_path):
    page = tmp_path / "report.html"
    titles = write_report(result, page, figure_dir=tmp_path / "figs", formats=("png", "pdf"))
    with h5py.File(result, "r") as f:  # every real per-point field with a finite value, by name
        grid = f["results/status"].shape
        fields = sorted(n for n, d in f["results"].items() if d.shape == grid
                        and d.dtype.kind == "f" and np.isfinite(d[()]).any())
        traces = sorted("trace_" + n for n, d in f["traces"].items()
                        if d.shape == grid + (f["step"].shape[0],) and d.dtype.kind == "f"
                        and np.isfinite(d[()]).any())
    assert "final_loss" in fields and "sharpness" in fields
    assert "trace_loss" in traces
    # outcome, then the results, then the scalar traces (loss, and the diagnostics of simulate.hpp)
    assert titles[0] == "outcome" and sorted(titles[1:len(titles) - len(traces)]) == fields
    assert sorted(titles[len(titles) - len(traces):]) == traces
    html = page.read_text()
    images = re.findall(r'<figure id="([^"]+)"><img alt="[^"]+" src="data:image/png;base64,'
                        r'([A-Za-z0-9+/=]+)"', html)
    assert [t for t, _ in images] == titles
    for _, data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    for t in titles:
        assert (tmp_path / "figs" / f"{t}.png").stat().st_size > 5000
        assert (tmp_path / "figs" / f"{t}.pdf").read_bytes()[:4] == b"%PDF"
    assert "config_sha256" in html and "<h2>Outcomes</h2>" in html and "diverged" in html


def test_the_plane_honours_the_axes_given_and_sorts_unordered_values(tmp_path, result):
    ds = open_sweep(result)
    fig = plot_phase(ds, y="sweep.seed")  # x filled in, y kept
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("optimizer.eta", "sweep.seed")
    with pytest.raises(ValueError, match="must be different axes"):
        plot_phase(ds, "optimizer.eta", "optimizer.eta")
    # Step sizes listed out of order are drawn in order: the cells of a row do not overlap.
    out = run_sweep(tmp_path, "unordered", TINY, "axes.optimizer.eta=3, 0.05, 0.5")
    fig = plot_phase(open_sweep(out), "optimizer.eta", "optimizer.batch")
    from matplotlib.collections import PatchCollection
    spans = sorted({(round(p.vertices[:, 0].min(), 12), round(p.vertices[:, 0].max(), 12))
                    for c in fig.axes[0].collections if isinstance(c, PatchCollection)
                    for p in c.get_paths()})
    assert len(spans) == 3 and all(a[1] <= b[0] + 1e-12 for a, b in zip(spans, spans[1:]))


def test_faceted_field_panels_share_one_colour_scale(result):
    fig = plot_phase(open_sweep(result), "optimizer.eta", "sweep.seed", color="final_loss",
                     facet="optimizer.batch")
    meshes = [c for a in fig.axes for c in a.collections if hasattr(c, "norm")
              and c.get_array() is not None and a.get_title()]
    assert len(meshes) == 3
    assert len({(m.norm.vmin, m.norm.vmax) for m in meshes}) == 1


def test_the_shipped_stability_sweeps_draw_their_figures(tmp_path):
    """jobs/sweeps/bifurcation.ini and l_beta.ini at a reduced size, through the commands their
    headers name."""
    bif = tmp_path / "bif.h5"
    r = symsweep("run", SOURCE_DIR / "jobs" / "sweeps" / "bifurcation.ini", "-o", bif, "--quiet",
                 "--set", "axes.optimizer.eta=linspace(1, 4.2, 33)", np=2)
    assert r.code == 0, r
    png = tmp_path / "bif.png"
    proc = cli("bifurcation", bif, "-o", png)
    assert proc.returncode == 0, proc.stderr
    assert png.stat().st_size > 10000
    from symsweep_analysis.stability import plot_amplitudes, plot_bifurcation
    ds = open_sweep(bif)
    fig = plot_bifurcation(ds)
    panels = [a for a in fig.axes if a.get_title()]
    assert [a.get_title() for a in panels] == ["model.preset = f_minus", "model.preset = f_plus"]
    # One row per starting point, one column per preset; the bottom row carries the axis label.
    grid = np.array(fig.axes).reshape(ds.sizes["model.x0"], ds.sizes["model.preset"])
    assert all(a.get_xlabel() == "optimizer.eta" for a in grid[-1])
    # f_minus: one point per step size below 2 (the fixed point), two per step size of the
    # 2-cycle: more points than step sizes, from every starting point (each in its own row).
    for row in grid:
        shown = sum(np.isfinite(c.get_offsets()[:, 1]).sum() for c in row[0].collections)
        assert shown > ds.sizes["optimizer.eta"]
    # Every panel over the same step sizes (f_plus diverges past 2: its panels used to end
    # there); one start per panel, so no start hides another; diverged points are marked.
    assert len({a.get_xlim() for a in fig.axes}) == 1
    lo, hi = fig.axes[0].get_xlim()
    assert lo < ds["optimizer.eta"].values.min() and hi > ds["optimizer.eta"].values.max()
    from figcheck import assert_legends_off_the_data
    assert_legends_off_the_data(fig)
    labels = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else \
        [t.get_text() for a in fig.axes if a.get_legend() for t in a.get_legend().get_texts()]
    assert labels == ["diverged (along the bottom)"]
    lb = tmp_path / "lb.h5"
    r = symsweep("run", SOURCE_DIR / "jobs" / "sweeps" / "l_beta.ini", "-o", lb, "--quiet",
                 "--set", "axes.model.beta=linspace(-0.5, 0.5, 11)",
                 "--set", "axes.optimizer.eta=2.01, 2.03", np=2)
    assert r.code == 0, r
    ds = open_sweep(lb)
    fig = plot_phase(ds, "model.beta", "optimizer.eta")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("K = 0") for t in labels) and "periodic" in labels
    fig, note = plot_amplitudes(ds, with_note=True)
    points = fig.axes[0].collections[0].get_offsets()
    periodic = int(((ds["outcome"] == 4) & (ds["period"] == 2)).sum())
    assert len(points) <= periodic and len(points) > 0
    # Every periodic point not drawn is counted, with its reason, in one line.
    all_periodic = int((ds["outcome"] == 4).sum())
    if len(points) < all_periodic:
        assert note.startswith(f"{all_periodic - len(points)} of {all_periodic} periodic point(s)"
                               " not drawn: "), note
    else:
        assert note is None
    # Past eta_gd by 0.5 and 1.5 %, measured and predicted amplitudes agree to a few percent.
    np.testing.assert_allclose(points[:, 1], points[:, 0], rtol=0.05)


def test_the_edge_of_stability_sweep_ends_below_two_over_eta(tmp_path):
    """jobs/sweeps/edge_of_stability.ini at a reduced size: every converged GD run ends at a
    minimum with eta lambda_max <= 2, and past the start's own threshold the sharpness follows
    2/eta down (it is below the sharpness of the small-eta runs); the figure draws 2/eta."""
    out = tmp_path / "eos.h5"
    r = symsweep("run", SOURCE_DIR / "jobs" / "sweeps" / "edge_of_stability.ini", "-o", out,
                 "--quiet", "--set", "axes.optimizer.eta=geomspace(0.2, 2.5, 16)",
                 "--set", "axes.sweep.seed=0", np=2)
    assert r.code == 0, r
    ds = open_sweep(out)
    conv = (ds["outcome"] == 1).values[:, 0]
    eta = ds["optimizer.eta"].values
    sharp = ds["sharpness"].values[:, 0]
    assert conv.sum() >= 8
    assert (eta[conv] * sharp[conv] <= 2 * (1 + 1e-3)).all()
    flatter = conv & (sharp < 0.95 * sharp[0])
    assert flatter.any(), "no run reached a flatter minimum: no edge of stability in the sweep"
    from symsweep_analysis.stability import plot_eos
    fig = plot_eos(ds)
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert r"$2/\eta$" in labels and fig.axes[0].get_xscale() == "log"
    from figcheck import assert_labels_are_values, assert_legends_off_the_data, visible_tick_labels
    assert_legends_off_the_data(fig)
    ticks = visible_tick_labels(fig.axes[0], "x")  # geomspace(0.2, 2.5): 0.2, 0.5, 1, 2
    assert len(ticks) >= 4, ticks
    assert_labels_are_values(ticks)
