"""Figures a researcher would put in a paper draft, checked on the matplotlib Figure objects the
commands draw from real result files: log axes labelled at the grid values (or enough per
decade), legends off the data, diverged cells drawn as a result (not as "no data"), a trace over
many values readable (a colour scale, not a legend that squeezes the plot), legend values written
as the axis writes them, report captions that say what is drawn."""
import re
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_support import run_sweep  # noqa: E402
from conftest import TINY  # noqa: E402
from figcheck import (assert_labels_are_values, assert_legends_off_the_data,  # noqa: E402
                      plot_axes, renderer, visible_tick_labels)
from symsweep_analysis import members, open_sweep, plot_phase, plot_trace  # noqa: E402
from symsweep_analysis.phase import dress_log, outcome_colors  # noqa: E402
from symsweep_analysis.report import write_report  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """TINY with 12 step sizes (2 decades), 3 batch sizes, 2 seeds: every outcome of SGD,
    diverged cells at large eta."""
    return run_sweep(tmp_path_factory.mktemp("figures"), "tiny", TINY,
                     "axes.optimizer.eta=geomspace(0.01, 3, 12)")


def test_log_axes_are_labelled_at_the_grid_values_or_enough_per_decade(tiny):
    ds = open_sweep(tiny)
    fig = plot_phase(ds, "optimizer.eta", "optimizer.batch")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"  # 1, 4, 16
    ys = visible_tick_labels(ax, "y")
    assert [p for p, _ in ys] == [1, 4, 16] and [t for _, t in ys] == ["1", "4", "16"]
    xs = visible_tick_labels(ax, "x")  # 12 values over 2.5 decades: 1, 2, 5 per decade
    assert len(xs) >= 6, xs
    assert_labels_are_values(xs)
    # Batch sizes 16 and 32 (the quickstart's) are told apart; 31 values over 2 decades get
    # labels at 1, 2, 5 per decade; a data axis within one decade gets more than one label.
    import matplotlib.pyplot as plt

    for values, least in (([1, 2, 4, 8, 16, 32, 64], 7), (np.geomspace(0.01, 1, 31), 7)):
        f, a = plt.subplots()
        a.set_xscale("log")
        a.set_xlim(min(values) / 1.2, max(values) * 1.2)
        dress_log(a.xaxis, values)
        labels = visible_tick_labels(a, "x")
        assert len(labels) >= least, labels
        assert_labels_are_values(labels)
        plt.close(f)
    f, a = plt.subplots()
    a.semilogy([0, 1], [0.3, 2.5])
    dress_log(a.yaxis)
    labels = visible_tick_labels(a, "y")
    assert len(labels) >= 3, labels
    assert_labels_are_values(labels)


def test_field_maps_draw_diverged_cells_as_a_result_and_keep_the_colour_bar_close(tiny):
    ds = open_sweep(tiny)
    fig = plot_phase(ds, "optimizer.eta", "optimizer.batch", color="final_loss")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    with h5py.File(tiny, "r") as f:
        outcome = f["results/outcome"][()]  # (eta, batch, seed)
        loss = f["results/final_loss"][()]
        names = members(ds["outcome"])
    all_diverged = (outcome == names.index("diverged")).all(axis=2)
    assert all_diverged.any(), "the sweep needs a cell where every seed diverged"
    assert np.isnan(loss[all_diverged]).all()  # no value there: the old map drew "no data"
    assert "diverged (every point of the cell)" in labels
    assert not any(t.startswith("no data") for t in labels)  # every point is done
    # One hatched rectangle per all-diverged cell, in the outcome's colour.
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import to_hex

    colour = outcome_colors(names)[names.index("diverged")]
    hatched = [c for c in ax.collections if isinstance(c, PatchCollection)
               and c.get_hatch() == "xx"]
    assert len(hatched) == 1 and to_hex(hatched[0].get_facecolor()[0]) == colour
    assert len(hatched[0].get_paths()) == int(all_diverged.sum())
    # Legend below the plot, off the data; the colour bar right next to the axes.
    assert_legends_off_the_data(fig)
    r = renderer(fig)
    bar = [a for a in fig.axes if a not in plot_axes(fig)][0]
    gap = bar.get_window_extent(r).x0 - ax.get_window_extent(r).x1
    assert 0 < gap < 0.05 * fig.bbox.width, gap
    assert "final loss" in bar.get_ylabel()  # the field's long name, not its bare name


def test_outcome_maps_and_traces_keep_legends_off_the_data(tiny):
    ds = open_sweep(tiny)
    assert_legends_off_the_data(plot_phase(ds, "optimizer.eta", "optimizer.batch"))
    fig = plot_trace(ds, "trace_loss", {"optimizer.batch": "4", "optimizer.eta": "0.01"},
                     predicted="0.1")
    assert_legends_off_the_data(fig)


def test_a_trace_over_many_values_gets_a_colour_scale_and_legends_write_values_as_axes(tiny):
    ds = open_sweep(tiny)
    # 12 step sizes at one batch: a colour scale over eta, the plot keeps its height.
    fig = plot_trace(ds, "trace_loss", {"optimizer.batch": "4"})
    r = renderer(fig)
    main = plot_axes(fig)
    assert len(main) == 1
    bars = [a for a in fig.axes if a not in main]
    assert len(bars) == 1 and bars[0].get_ylabel() == "optimizer.eta"
    assert main[0].get_window_extent(r).height > 0.6 * fig.bbox.height
    assert main[0].get_legend() is None or all(
        not t.get_text().startswith("optimizer") for t in main[0].get_legend().get_texts())
    # 3 step sizes x 3 batch sizes: 9 series, a legend; values as the axes write them.
    sub = ds.isel({"optimizer.eta": [0, 5, 11]})
    fig = plot_trace(sub, "trace_loss", {"sweep.seed": "0"})
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(texts) == 9
    for text in texts:
        for value in re.findall(r"= ([^,]+)", text):
            assert len(re.sub(r"[-.]|e.*", "", value).lstrip("0")) <= 4, text  # not 0.0116591..
    assert_legends_off_the_data(fig)
    # 12 step sizes x 3 batch sizes: a panel per batch size, one colour scale over eta.
    fig = plot_trace(ds, "trace_loss")
    assert [a.get_title() for a in plot_axes(fig)] == [f"optimizer.batch = {b}"
                                                       for b in (1, 4, 16)]
    assert len(fig.axes) == 4


def test_the_report_captions_say_what_is_drawn_and_list_empty_fields_apart(tiny, tmp_path):
    page = tmp_path / "r.html"
    titles = write_report(tiny, page)
    html = page.read_text()
    ds = open_sweep(tiny)
    captions = dict(re.findall(r"<figcaption><b>([^<]+)</b>: ([^<]+)</figcaption>", html))
    assert sorted(captions) == sorted(titles)
    for title, text in captions.items():
        if title in ds and title != "outcome":
            assert ds[title].attrs["long_name"] in text, (title, text)
        assert "median" in text or "fraction" in text, text
    rows = re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", html.split("<h2>Fields</h2>")[1]
                      .split("<h2>Figures</h2>")[0])
    with h5py.File(tiny, "r") as f:
        grid = f["results/status"].shape
        empty = sorted(n for n, d in f["results"].items() if d.shape == grid
                       and d.dtype.kind == "f" and not np.isfinite(d[()]).any())
    assert empty, "the sweep needs a field with no finite value (e.g. lambda_max for linear2)"
    listed = [name for name, _ in rows]
    assert not set(empty) & set(listed)
    assert f"(no row, no figure): {', '.join(empty)}." in html
