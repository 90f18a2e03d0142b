"""What a reviewer checks on a figure, read from the matplotlib Figure: legends off the data,
tick labels a reader can use, markers of different series not on top of each other."""
import re

import numpy as np


def renderer(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def plot_axes(fig):
    """The axes that hold data (not colour bars)."""
    return [a for a in fig.axes if not hasattr(a, "_colorbar") and a.get_label() != "<colorbar>"]


def legends(fig):
    out = [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    return out + list(fig.legends)


def assert_legends_off_the_data(fig):
    """Every legend lies outside every data axes (not one pixel of overlap)."""
    r = renderer(fig)
    boxes = [a.get_window_extent(r) for a in plot_axes(fig)]
    for leg in legends(fig):
        lb = leg.get_window_extent(r)
        for box in boxes:
            overlap = (min(lb.x1, box.x1) - max(lb.x0, box.x0),
                       min(lb.y1, box.y1) - max(lb.y0, box.y0))
            assert overlap[0] <= 0 or overlap[1] <= 0, (
                [t.get_text() for t in leg.get_texts()], lb, box)


def visible_tick_labels(ax, which="x"):
    """(position, text) of the major tick labels inside the view."""
    renderer(ax.figure)
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in axis.get_major_ticks():
        pos = tick.get_loc()
        text = tick.label1.get_text()
        if lo * (1 - 1e-9) <= pos <= hi * (1 + 1e-9) and tick.label1.get_visible() and text:
            out.append((pos, text))
    return out


def assert_labels_are_values(labels):
    """Every label is the number at its position, written with at most 6 significant digits."""
    for pos, text in labels:
        number = text.replace("\u2212", "-")
        assert re.fullmatch(r"-?[0-9.]+(e-?\d+)?", number), text
        digits = len(re.sub(r"e.*|[-.]", "", number).lstrip("0"))
        assert digits <= 6, text
        assert float(number) == float(f"{pos:.{max(digits, 1)}g}") or \
            np.isclose(float(number), pos, rtol=5e-3), (pos, text)


def assert_no_hidden_markers(ax, pixels=2.0):
    """No marker of one series lies within `pixels` of a marker of another series."""
    r = renderer(ax.figure)
    series = []
    for coll in ax.collections:
        off = coll.get_offsets()
        if len(off):
            series.append(coll.get_offset_transform().transform(np.asarray(off, dtype=float)))
    for line in ax.get_lines():
        if line.get_marker() not in ("None", None, "", " "):
            xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
            series.append(line.get_transform().transform(xy))
    series = [s[np.isfinite(s).all(axis=1)] for s in series]
    for i in range(len(series)):
        for j in range(i + 1, len(series)):
            if len(series[i]) and len(series[j]):
                d = np.linalg.norm(series[i][:, None, :] - series[j][None, :, :], axis=2)
                assert d.min() > pixels, (i, j, d.min())
    del r
