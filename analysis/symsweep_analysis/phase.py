"""Phase diagrams: any two swept axes as a plane, coloured by outcome or by any field, with the
predicted boundaries drawn on top.

    fig = plot_phase(ds, x="optimizer.eta", y="optimizer.batch")            # outcome
    fig = plot_phase(ds, x="optimizer.eta", y="optimizer.batch", color="sharpness")
    fig = plot_phase(ds, x="optimizer.eta", y="optimizer.weight_decay", facet="data.mode")

Every other axis (sweep.seed, ...) is reduced per cell: by outcome, a cell shows the fraction of
its points in each outcome as stacked bands (a cell whose seeds split 1:1 is half one colour, half
the other, never silently one outcome); by a field, the median over the cell's done points. Axes
whose values are log-spaced are drawn on a log scale; text-valued axes as categories. Cells with no
done point are hatched grey ("no data").

Boundaries, each in the legend: the linear GD threshold eta (lambda_max + gamma) = 2 where eta is
one of the plane's axes, per row from the checks' lambda_max at x* (weight decay included) where
the file has it, else from the measured sharpness (median over the points that did not diverge)
and the weight decay gamma; the SGD thresholds eta_ms (linear mean-square) and eta_worst_batch
(min over batches of 2 / lambda_max(H_B)) per row from the file's fields, where it has them; and
K = 0 (the nonlinear criterion of Mulayoff & Stich, Thm 7) where the file's K changes sign on the
plane.
"""
import warnings

import numpy as np

from .dataset import axes, done, members, outcome_fractions, param

# Colours of the outcomes this package knows; members the file declares beyond them take the next
# colour of EXTRA_COLORS.
OUTCOME_COLORS = {
    "unknown": "#bdbdbd",
    "converged": "#1b9e77",
    "diverged": "#d95f02",
    "moving": "#7570b3",
    "periodic": "#e7298a",
    "aperiodic": "#66a61e",
}
EXTRA_COLORS = ("#e6ab02", "#a6761d", "#1f78b4", "#666666", "#b2df8a", "#fb9a99")
NO_DATA = "#f0f0f0"
BOUNDARY = dict(color="black", linestyle="--", linewidth=1.6)


def fmt(value, digits=6):
    """An axis value as text: integers as integers, reals to `digits` significant digits (%g),
    text as text."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.{digits}g}"


def formatter(values):
    """fmt with the fewest significant digits (3 at least) that tell all `values` apart: the
    labels of an axis's ticks and of legends over it."""
    values = list(np.atleast_1d(values))
    for digits in range(3, 18):
        if len({fmt(v, digits) for v in values}) == len({repr(v) for v in values}):
            return lambda v, d=digits: fmt(v, d)
    return lambda v: fmt(v, 17)


def dress_log(axis, values=None):
    """Tick labels of a log axis a reader can use: at every grid value (`values`, up to 10 of
    them), else at 1, 2, 5 per decade (1 per decade past 3 decades); on a data axis (no values)
    spanning less than a decade, at 1 to 9 per decade. Labels as `formatter` writes them."""
    from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, NullFormatter,
                                   NullLocator)

    if values is not None:
        v = np.unique(np.asarray(values, dtype=float))
        v = v[np.isfinite(v) & (v > 0)]
        if len(v) == 0:
            return
        if len(v) <= 10 or v.max() / v.min() < 10:
            ticks = v if len(v) <= 10 else v[:: int(np.ceil(len(v) / 8))]
            axis.set_major_locator(FixedLocator(ticks))
            axis.set_minor_locator(NullLocator())
            label = formatter(ticks)
            axis.set_major_formatter(FuncFormatter(lambda x, pos: label(x)))
            return
        span = np.log10(v.max() / v.min())
    else:
        lo, hi = sorted(axis.get_view_interval())
        span = np.log10(hi / lo) if lo > 0 else 3
    subs = (1.0, 2.0, 5.0) if span <= 3 else (1.0,)
    if span < 1:
        subs = tuple(float(k) for k in range(1, 10))
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda x, pos: fmt(x, 3)))
    axis.set_minor_formatter(NullFormatter())


def outcome_colors(names):
    """A colour for every outcome member, in code order."""
    extra = iter(EXTRA_COLORS * (1 + len(names) // len(EXTRA_COLORS)))
    return [OUTCOME_COLORS.get(name) or next(extra) for name in names]


def is_log_axis(ds, key):
    """True when the axis was written as logspace/geomspace, or its values are positive with a
    constant ratio spanning at least a decade."""
    expr = str(ds[key].attrs.get("expression", "")).strip()
    if expr.startswith(("logspace", "geomspace")):
        return True
    v = np.asarray(ds[key].values)
    if v.dtype.kind not in "fiu" or len(v) < 3 or (v <= 0).any():
        return False
    ratios = v[1:] / v[:-1]
    return bool(np.allclose(ratios, ratios[0], rtol=1e-6) and v.max() / v.min() >= 10)


def _edges(values, log):
    """Cell edges around numeric centres (geometric midpoints on a log axis)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return (np.array([v[0] / 2, v[0] * 2]) if log and v[0] > 0
                else np.array([v[0] - 0.5, v[0] + 0.5]))
    if log:
        mid = np.sqrt(v[1:] * v[:-1])
        return np.concatenate([[v[0] ** 2 / mid[0]], mid, [v[-1] ** 2 / mid[-1]]])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


class _Axis:
    """Where the cells of one plane axis lie on the figure."""

    def __init__(self, ds, key):
        self.key = key
        self.values = np.asarray(ds[key].values) if key else np.array([0])
        self.categorical = key is not None and self.values.dtype.kind not in "fiu"
        self.log = key is not None and not self.categorical and is_log_axis(ds, key)
        if key is None or self.categorical:
            self.edges = np.arange(len(self.values) + 1) - 0.5
            self.centres = np.arange(len(self.values), dtype=float)
        else:
            self.edges = _edges(self.values, self.log)
            self.centres = self.values.astype(float)

    def band(self, i, lo, hi):
        """The part [lo, hi] (fractions of the cell) of cell i."""
        a, b = self.edges[i], self.edges[i + 1]
        if self.log:
            return a * (b / a) ** lo, a * (b / a) ** hi
        return a + (b - a) * lo, a + (b - a) * hi

    def dress(self, ax, which):
        """Label, scale, limits and ticks: at the grid values where there are up to 10 of them
        (as the legends write them), else enough per decade (dress_log)."""
        from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

        label = self.key or ""
        axis = ax.xaxis if which == "x" else ax.yaxis
        (ax.set_xlabel if which == "x" else ax.set_ylabel)(label)
        if self.key is None:
            axis.set_ticks([])
        elif self.categorical:
            axis.set_ticks(self.centres, [fmt(v) for v in self.values])
        elif self.log:
            (ax.set_xscale if which == "x" else ax.set_yscale)("log")
            dress_log(axis, self.values)
        elif len(self.values) <= 10:
            label_of = formatter(self.values)
            axis.set_major_locator(FixedLocator(self.centres))
            axis.set_major_formatter(FuncFormatter(lambda v, pos: label_of(v)))
        else:
            axis.set_major_locator(MaxNLocator(8, steps=[1, 2, 2.5, 5, 10]))
        (ax.set_xlim if which == "x" else ax.set_ylim)(self.edges[0], self.edges[-1])
        lo, hi = sorted((self.edges[0], self.edges[-1]))
        shown = [t for t in axis.get_major_locator()() if lo <= t <= hi]
        if which == "x" and (self.categorical or len(shown) > 6):
            ax.tick_params(axis="x", labelrotation=30)


def default_axes(ds, x=None, y=None):
    """Fills in the plane's axes the caller left out: eta on x and batch on y when they are swept
    with more than one value, otherwise the next axes in grid order (seeds last); y None when
    there is only one axis."""
    names = [a for a in axes(ds) if ds.sizes[a] > 1 and a != "sweep.seed"]
    names += [a for a in axes(ds) if a not in names]
    if not names:
        raise ValueError("the sweep has no axes: nothing to draw on a plane")
    if x is None:
        rest = [n for n in names if n != y]
        x = "optimizer.eta" if "optimizer.eta" in rest and ds.sizes["optimizer.eta"] > 1 \
            else rest[0]
    if y is None:
        rest = [n for n in names if n != x]
        y = ("optimizer.batch" if "optimizer.batch" in rest and ds.sizes["optimizer.batch"] > 1
             else (rest[0] if rest else None))
    return x, y


def _check(ds, *keys):
    given = [k for k in keys if k is not None]
    for key in given:
        if key not in axes(ds):
            raise ValueError(f"{key!r} is not an axis of {ds.attrs.get('path')}; axes: {axes(ds)}")
    if len(set(given)) != len(given):
        raise ValueError(f"the plane's axes and the facet must be different axes: {given}")


def _plane(da, x, y):
    """A DataArray over (y, x) (a dummy y of length 1 when y is None)."""
    if y is None:
        return da.expand_dims("_y").transpose("_y", x, ...)
    return da.transpose(y, x, ...)


def _draw_outcomes(ax, ds, sub, xa, ya, reduce):
    """Stacked bands of the outcome fractions per cell; returns the member codes drawn."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    names = members(ds["outcome"])
    colors = outcome_colors(names)
    frac = _plane(outcome_fractions(sub, over=reduce), xa.key, ya.key).transpose(..., "outcome")
    frac = np.nan_to_num(np.asarray(frac.values, dtype=float))  # (y, x, outcome)
    rects, faces, empty, seen = [], [], [], set()
    for j in range(len(ya.values)):
        for i in range(len(xa.values)):
            f = frac[j, i]
            x0, x1 = xa.edges[i], xa.edges[i + 1]
            if f.sum() == 0:
                empty.append(Rectangle((x0, ya.edges[j]), x1 - x0, ya.edges[j + 1] - ya.edges[j]))
                continue
            lo = 0.0
            for k, share in enumerate(f):
                if share <= 0:
                    continue
                y0, y1 = ya.band(j, lo, lo + share)
                rects.append(Rectangle((x0, y0), x1 - x0, y1 - y0))
                faces.append(colors[k])
                seen.add(k)
                lo += share
    ax.add_collection(PatchCollection(rects, facecolors=faces, edgecolors="none"))
    if empty:
        ax.add_collection(PatchCollection(empty, facecolor=NO_DATA, edgecolor="#c8c8c8",
                                          hatch="//", linewidth=0))
    return sorted(seen), bool(empty)


def _gd_threshold(ax, ds, sub, xa, ya):
    """Draws eta* = 2 / lambda* per row (or column) of the plane, lambda* the median over the row
    of the checks' lambda_max at x* (weight decay included) where the file has it, else of the
    measured sharpness + gamma over the points that did not diverge; returns True when it drew."""
    eta_key = "optimizer.eta"
    if "sharpness" not in ds or eta_key not in (xa.key, ya.key):
        return False
    other = ya if xa.key == eta_key else xa
    names = members(ds["outcome"])
    ok = done(sub) & (sub["outcome"] != names.index("diverged")) if "diverged" in names \
        else done(sub)
    lam = sub["sharpness"].where(ok)
    gamma = param(sub, "optimizer.weight_decay")
    reduce = [d for d in lam.dims if d != other.key]
    if reduce and float((gamma.max(reduce) - gamma.min(reduce)).max()) > 0:
        return False  # weight decay varies inside a row: no one line is right for it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lam_row = lam.median(reduce) if reduce else lam
        gamma_row = gamma.mean(reduce) if reduce else gamma
    star = 2.0 / (lam_row + gamma_row)
    if "lambda_max" in sub:  # the checks at x*, where there are any, are the better estimate
        at_min = sub["lambda_max"].where(done(sub))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            at_min_row = at_min.median(reduce) if reduce else at_min
        star = (2.0 / at_min_row).where(np.isfinite(at_min_row), star)
    values = np.atleast_1d(np.asarray(star.values, dtype=float))
    if not np.isfinite(values).any():
        return False
    # One segment per row, across the row's cell, so the line is honest about its resolution.
    xs, ys = [], []
    for j, v in enumerate(values):
        lo, hi = other.edges[j], other.edges[j + 1]
        xs += [v, v, np.nan]
        ys += [lo, hi, np.nan]
    if xa.key == eta_key:
        ax.plot(xs, ys, **BOUNDARY, label=r"GD threshold $\eta(\lambda_{\max}+\gamma)=2$")
    else:
        ax.plot(ys, xs, **BOUNDARY, label=r"GD threshold $\eta(\lambda_{\max}+\gamma)=2$")
    return True


# The SGD thresholds at x* (README "SGD stability sweeps"), drawn like the GD line: (field, style,
# legend label).
SGD_THRESHOLDS = (
    ("eta_ms", dict(color="black", linestyle="-.", linewidth=1.8),
     r"SGD mean-square threshold $\eta_{ms}$"),
    ("eta_worst_batch", dict(color="black", linestyle=":", linewidth=2.4),
     r"worst-batch threshold $\eta_{wb}=\min_B\,2/\lambda_{\max}(H_B)$"),
)


def _sgd_thresholds(ax, ds, sub, xa, ya):
    """Draws eta_ms and eta_worst_batch per row (or column) of the plane, each the median over
    the row's done points of the file's field, where eta is one of the plane's axes; returns the
    labels of the lines drawn (the worst batch's says so where the file's sgd_note says it was
    sampled: then it is an upper bound). Rows of full-batch points (sgd_note full_batch) are left
    out: there both equal eta_gd, whose line is drawn already, so a GD sweep gets no SGD lines."""
    eta_key = "optimizer.eta"
    if eta_key not in (xa.key, ya.key):
        return []
    other = ya if xa.key == eta_key else xa
    drawn = []
    for field, style, label in SGD_THRESHOLDS:
        if field not in sub:
            continue
        value = sub[field].where(done(sub))
        if "sgd_note" in sub and "full_batch" in members(sub["sgd_note"]):
            value = value.where(sub["sgd_note"] != members(sub["sgd_note"]).index("full_batch"))
        reduce = [d for d in value.dims if d != other.key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            row = value.median(reduce) if reduce else value
        values = np.atleast_1d(np.asarray(row.values, dtype=float))
        if not np.isfinite(values).any():
            continue
        if field == "eta_worst_batch" and "sgd_note" in sub:
            notes = members(sub["sgd_note"])
            if "worst_batch_sampled" in notes and bool(
                    (done(sub) & (sub["sgd_note"] == notes.index("worst_batch_sampled"))).any()):
                label += " (sampled batches: an upper bound)"
        xs, ys = [], []
        for j, v in enumerate(values):
            xs += [v, v, np.nan]
            ys += [other.edges[j], other.edges[j + 1], np.nan]
        if xa.key != eta_key:
            xs, ys = ys, xs
        ax.plot(xs, ys, **style, label=label)
        drawn.append(label)
    return drawn


def _plottable(ds):
    """Fields with one value per point (their dimensions are exactly the axes)."""
    return [n for n in ds.data_vars if ds[n].dims == tuple(axes(ds))]


def _k_boundary(ax, sub, xa, ya, reduce):
    """Draws K = 0 (Mulayoff & Stich, Thm 7) where the file's K changes sign on the plane;
    returns True when it drew something."""
    if "K" not in sub or ya.key is None or xa.categorical or ya.categorical:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        k = sub["K"].median(reduce) if reduce else sub["K"]
    plane = _plane(k, xa.key, ya.key).values.astype(float)
    if plane.shape[0] < 2 or plane.shape[1] < 2 or not np.isfinite(plane).any() \
            or not (np.nanmin(plane) < 0 < np.nanmax(plane)):
        return False
    ax.contour(xa.centres, ya.centres, np.ma.masked_invalid(plane), levels=[0.0], colors="white",
               linewidths=2.2)
    ax.contour(xa.centres, ya.centres, np.ma.masked_invalid(plane), levels=[0.0],
               colors="black", linestyles=":", linewidths=1.6)
    return True


DIVERGED_HATCH = dict(hatch="xx", edgecolor="white", linewidth=0)
NO_VALUE = "#ffffff"


def _field_gaps(ax, ds, sub, plane, xa, ya, reduce):
    """Over the cells of a field map with no finite median, what they are: "no data" (no point
    done), "diverged" (every done point diverged: a result, in the outcome's colour, hatched), or
    "no value" (done, not all diverged, the field NaN: e.g. lambda_max at a minimum that is not
    isolated). Draws them; returns the kinds drawn."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    names = members(ds["outcome"])
    ok = done(sub)
    n_done = _plane(ok.sum(reduce) if reduce else ok.astype(int), xa.key, ya.key).values
    if "diverged" in names:
        div = ok & (sub["outcome"] == names.index("diverged"))
        n_div = _plane(div.sum(reduce) if reduce else div.astype(int), xa.key, ya.key).values
    else:
        n_div = np.zeros_like(n_done)
    cells = {"no data": [], "diverged": [], "no value": []}
    for j in range(plane.shape[0]):
        for i in range(plane.shape[1]):
            if np.isfinite(plane[j, i]):
                continue
            kind = ("no data" if n_done[j, i] == 0 else
                    "diverged" if n_div[j, i] == n_done[j, i] else "no value")
            x0, x1, y0, y1 = xa.edges[i], xa.edges[i + 1], ya.edges[j], ya.edges[j + 1]
            cells[kind].append(Rectangle((x0, y0), x1 - x0, y1 - y0))
    div_color = outcome_colors(names)[names.index("diverged")] if "diverged" in names else "k"
    style = {"no data": dict(facecolor=NO_DATA, edgecolor="#c8c8c8", hatch="//", linewidth=0),
             "diverged": dict(facecolor=div_color, **DIVERGED_HATCH),
             "no value": dict(facecolor=NO_VALUE, edgecolor="#999999", hatch="..", linewidth=0)}
    for kind, rects in cells.items():
        if rects:
            ax.add_collection(PatchCollection(rects, **style[kind]))
    return {k for k, v in cells.items() if v}, style


def _outline_cells(ax, ds, cells, keys, xa, ya):
    """The refinement's cells not split, corner to corner: the sizes at which the plane was
    resolved (a refined sweep's own resolution)."""
    from matplotlib.collections import LineCollection

    values = [np.asarray(ds[k].values, dtype=float) for k in keys]
    segments = []
    for origin, size, _ in cells:
        lo = [v[o] for v, o in zip(values, origin)]
        hi = [v[o + size] for v, o in zip(values, origin)]
        corner = dict(zip(keys, zip(lo, hi)))
        (x0, x1), (y0, y1) = corner[xa.key], corner[ya.key]
        segments.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
    ax.add_collection(LineCollection(segments, colors="white", linewidths=0.4, alpha=0.8))


def plot_phase(ds, x=None, y=None, color="outcome", facet=None):
    """The phase diagram as a matplotlib Figure (one panel per value of `facet`)."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch

    cells = None
    if ds.attrs.get("refined"):  # a point table: drawn on its fine grid, its cells outlined
        from .refine import structure, to_grid

        _, cells, geometry = structure(ds)
        refined_keys = [geometry["order"][d] for d in geometry["rdims"]]
        ds = to_grid(ds)
    _check(ds, x, y, facet)
    x, y = default_axes(ds, x, y)
    _check(ds, x, y, facet)
    if color != "outcome" and color not in _plottable(ds):
        raise ValueError(f"{color!r} is not a field with one value per point of "
                         f"{ds.attrs.get('path')}; such fields: {_plottable(ds)}")
    # Cells are drawn between neighbouring values: put every numeric plane axis in order.
    for key in (x, y):
        if key is not None and ds[key].dtype.kind in "fiu":
            ds = ds.sortby(key)
    panels = list(ds[facet].values) if facet else [None]
    xa, ya = _Axis(ds, x), _Axis(ds, y)
    fig, axs = plt.subplots(1, len(panels), figsize=(5.6 * len(panels) + 1.8, 4.6),
                            squeeze=False, constrained_layout=True)
    reduce = [a for a in axes(ds) if a not in (x, y, facet)]
    subs = [ds.sel({facet: value}) if facet else ds for value in panels]
    planes, norm = [], None
    if color != "outcome":  # one colour scale for every panel
        for sub in subs:
            field = sub[color].where(done(sub))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                plane = field.median(reduce) if reduce else field
            planes.append(_plane(plane, x, y).values.astype(float))
        finite = np.concatenate([p[np.isfinite(p)] for p in planes])
        norm = Normalize(*(finite.min(), finite.max()) if finite.size else (0, 1))
    seen, empty, drew, drew_k, gaps = set(), False, False, False, set()
    sgd_labels = []
    for n, (ax, value, sub) in enumerate(zip(axs[0], panels, subs)):
        if color == "outcome":
            codes, has_empty = _draw_outcomes(ax, ds, sub, xa, ya, reduce)
            seen.update(codes)
            empty = empty or has_empty
        else:
            cmap = matplotlib.colormaps["viridis"].copy()
            cmap.set_bad(NO_DATA)
            mesh = ax.pcolormesh(xa.edges, ya.edges, np.ma.masked_invalid(planes[n]), cmap=cmap,
                                 norm=norm)
            kinds, gap_style = _field_gaps(ax, ds, sub, planes[n], xa, ya, reduce)
            gaps |= kinds
        drew = _gd_threshold(ax, ds, sub, xa, ya) or drew
        for label in _sgd_thresholds(ax, ds, sub, xa, ya):
            if label not in sgd_labels:
                sgd_labels.append(label)
        drew_k = _k_boundary(ax, sub, xa, ya, reduce) or drew_k
        if cells is not None and sorted(refined_keys) == sorted(k for k in (x, y) if k):
            _outline_cells(ax, ds, cells, refined_keys, xa, ya)
        xa.dress(ax, "x")
        ya.dress(ax, "y")
        if facet:
            ax.set_title(f"{facet} = {formatter(ds[facet].values)(value)}")
    handles = []
    if color == "outcome":
        names = members(ds["outcome"])
        colors = outcome_colors(names)
        handles += [Patch(color=colors[k], label=names[k]) for k in sorted(seen)]
    else:
        units = ds[color].attrs.get("units")
        label = ds[color].attrs.get("long_name", color) + (f" [{units}]" if units else "")
        fig.colorbar(mesh, ax=list(axs[0]), label=label + (" (median)" if reduce else ""),
                     pad=0.02)
        gap_labels = {"no data": "no data (no point done)",
                      "diverged": "diverged (every point of the cell)",
                      "no value": f"no finite {color}"}
        handles += [Patch(**gap_style[k], label=gap_labels[k])
                    for k in ("diverged", "no value", "no data") if k in gaps]
    if empty:
        handles.append(Patch(facecolor=NO_DATA, edgecolor="#c8c8c8", hatch="//",
                             label="no data (no point done)"))
    lines = [ln for a in axs[0] for ln in a.get_lines() if not ln.get_label().startswith("_")]
    if drew:
        handles += [ln for ln in lines if ln.get_label().startswith("GD threshold")][:1]
    for label in sgd_labels:
        handles += [ln for ln in lines if ln.get_label() == label][:1]
    if drew_k:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="black", linestyle=":", linewidth=1.6,
                              label="K = 0: a stable 2-cycle past eta_gd iff K > 0"))
    if handles and color == "outcome":
        axs[0][-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1),
                          fontsize=8, frameon=False)
    elif handles:  # below the plot: between the axes and the colour bar it would leave a gap
        # (two columns at most: a legend wider than the panel widens the layout, with a gap)
        axs[0][0].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                         ncol=min(len(handles), 2), fontsize=8, frameon=False)
    n_done = int(done(ds).sum())
    what = "outcome" if color == "outcome" else (
        f"{ds[color].attrs.get('long_name', color)} ({color})"
        if color not in ds[color].attrs.get("long_name", color) else
        ds[color].attrs.get("long_name", color))
    over = (f"; {'fractions' if color == 'outcome' else 'median'} over "
            + ", ".join(f"{r} ({ds.sizes[r]})" for r in reduce)) if reduce else ""
    title = (f"{ds.attrs.get('name')}: {what}, model {ds.attrs.get('model')}, "
             f"{n_done}/{ds['status'].size} points done{over}")
    if cells is not None:
        title = (f"{ds.attrs.get('name')}: {what}, model {ds.attrs.get('model')}, refined: "
                 f"{ds.attrs['refined_points']} points run, {n_done}/{ds['status'].size} "
                 f"resolved{over}")
    fig.suptitle("\n".join(textwrap.wrap(title, 60 + 40 * len(panels))), fontsize=10)
    return fig


def save(fig, out, dpi=110):
    """Writes a figure (PNG or PDF by the file's extension)."""
    import matplotlib.pyplot as plt

    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
