"""One self-contained HTML page about a result file: provenance, the outcome counts, a summary of
every field, and every figure that applies (figures embedded as PNG; also written as PNG or PDF
files on request).

    python3 -m symsweep_analysis report results/quickstart.h5 -o quickstart.html [--figures DIR]

Figures: the outcome phase diagram; a phase diagram of every scalar real field of /results (the
median over the reduced axes); the median and the 10-90 % band over all done points of every scalar
trace, against the step. Fields come from the file, so new fields get their figures here unasked.
Each figure has a caption from the field's long name, units and description (as the file
declares them) and what is reduced. Points not done are in no number and no figure (open_sweep
masks them); the page says how many were left out. Fields with no finite value at any done point
get no figure and no row of numbers: they are listed in one line under the table.
"""
import base64
import html
import io
import warnings
from pathlib import Path

import numpy as np

from .dataset import axes, done, left_out, members, open_sweep
from .phase import default_axes, plot_phase


def scalar_fields(ds):
    """Real fields of /results with one value per point (no trailing dimension); integer fields
    (read as float64 by the masking, attribute stored_dtype) are not."""
    return [n for n in ds.data_vars
            if not n.startswith(("trace_", "run_")) and ds[n].dtype.kind == "f"
            and "stored_dtype" not in ds[n].attrs
            and ds[n].dims == tuple(axes(ds))]


def scalar_traces(ds):
    """Trace fields with one value per point and step."""
    return [n for n in ds.data_vars
            if n.startswith("trace_") and ds[n].dims == tuple(axes(ds)) + ("step",)]


def plot_trace(ds, name):
    """Median and 10-90 % band of a scalar trace over every done point, against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    da = ds[name].where(done(ds)).stack(point=axes(ds)) if axes(ds) else ds[name].expand_dims(
        "point")
    da = da.isel(point=np.nonzero(done(ds).values.ravel())[0]) if axes(ds) else da
    steps = ds["step"].values
    with warnings.catch_warnings():  # steps where every point's record is NaN (diverged)
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, mid, hi = (np.nanquantile(da.transpose("step", "point").values, q, axis=1)
                       for q in (0.1, 0.5, 0.9))
    fig, ax = plt.subplots(figsize=(6.4, 4), constrained_layout=True)
    ax.fill_between(steps, lo, hi, alpha=0.3, label="10-90 % of points")
    ax.plot(steps, mid, label="median")
    lo_min = np.nanmin(lo) if np.isfinite(lo).any() else np.nan
    if lo_min > 0 and np.nanmax(hi) / lo_min > 100:
        ax.set_yscale("log")
        from .phase import dress_log

        ax.autoscale_view()
        dress_log(ax.yaxis)
    units = ds[name].attrs.get("units")
    ax.set_xlabel("step")
    ax.set_ylabel(ds[name].attrs.get("long_name", name) + (f" [{units}]" if units else ""))
    ax.set_title(f"{ds.attrs.get('name')}: {name} over {da.sizes['point']} done point(s)",
                 fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    return fig


def _described(da, name):
    units = da.attrs.get("units")
    text = da.attrs.get("long_name", name) + (f" [{units}]" if units else "")
    desc = da.attrs.get("description")
    return text + (f" ({desc})" if desc and desc != da.attrs.get("long_name") else "")


def caption(ds, title):
    """The caption of a report figure: what is drawn, from the file's declarations."""
    over = [a for a in axes(ds) if a not in default_axes(ds)] if axes(ds) else []
    reduced = f"; over {', '.join(over)}" if over else ""
    plane = " against ".join(a for a in reversed(default_axes(ds)) if a) if axes(ds) else ""
    if title == "outcome":
        return (f"Outcome of every cell of {plane}: the fraction of its done points in each "
                f"outcome as stacked bands{reduced}.")
    if title.startswith("trace_"):
        return (f"{_described(ds[title], title[6:])} against the step: the median and the "
                "10-90 % band over every done point.")
    return (f"{_described(ds[title], title)} over {plane}: the median of the done points of each "
            f"cell{reduced}.")


def figures(ds):
    """(title, figure) of every figure that applies to the file, one at a time (a generator: the
    caller closes each before the next is drawn, so a file with many fields never holds more
    than one figure open)."""
    if axes(ds):
        x, y = default_axes(ds)
        yield "outcome", plot_phase(ds, x, y)
        for name in scalar_fields(ds):
            if np.isfinite(ds[name].values).any():
                yield name, plot_phase(ds, x, y, color=name)
    for name in scalar_traces(ds):
        if np.isfinite(ds[name].values).any():
            yield name, plot_trace(ds, name)


def _table(rows, header=None):
    cells = "".join(f"<tr>{''.join(f'<td>{html.escape(str(c))}</td>' for c in row)}</tr>"
                    for row in rows)
    head = f"<tr>{''.join(f'<th>{html.escape(h)}</th>' for h in header)}</tr>" if header else ""
    return f"<table>{head}{cells}</table>"


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(path, out, figure_dir=None, formats=("png",)):
    """Writes the HTML page `out`; with figure_dir, every figure also as <dir>/<title>.<format>.
    Returns the titles of the figures."""
    import matplotlib.pyplot as plt

    ds = open_sweep(path)
    if ds.attrs.get("refined"):  # a refined sweep's point table: its fine grid
        from .refine import to_grid

        ds = to_grid(ds)
    ok = done(ds)
    names = members(ds["outcome"])
    counts = [[n, int(((ds["outcome"] == k) & ok).sum())] for k, n in enumerate(names)]
    status = members(ds["status"])
    counts += [[f"status {s}", int((ds["status"] == k).sum())] for k, s in enumerate(status)
               if s != "done"]
    summary, empty = [], []
    for name in scalar_fields(ds):
        v = ds[name].where(ok).values
        v = v[np.isfinite(v)]
        if not len(v):
            empty.append(name)
            continue
        summary.append([name, ds[name].attrs.get("long_name", ""), ds[name].attrs.get("units", ""),
                        len(v), f"{np.min(v):.4g}", f"{np.median(v):.4g}", f"{np.max(v):.4g}"])
    provenance = [[k, ds.attrs[k]] for k in ("format", "numerics_version", "symsweep_version",
                                             "git_commit", "created_utc", "command_line",
                                             "mpi_ranks", "omp_threads", "hosts", "n_points",
                                             "config_sha256") if k in ds.attrs]
    grid = [[a, ds.sizes[a], ds[a].attrs.get("expression", "")] for a in axes(ds)]
    parts = [f"<h1>{html.escape(str(ds.attrs.get('name')))} &mdash; model "
             f"{html.escape(str(ds.attrs.get('model')))}</h1>",
             f"<p>{html.escape(str(path))}: {int(ok.sum())} of {ds['status'].size} point(s) "
             "done." + (f" {html.escape(left_out(ds).capitalize())}."
                        if left_out(ds) else "") + "</p>",
             "<h2>Grid</h2>", _table(grid, ["axis", "values", "expression"]),
             "<h2>Outcomes</h2>", _table(counts, ["outcome", "points"]),
             "<h2>Fields</h2>",
             _table(summary, ["field", "long name", "units", "finite", "min", "median", "max"])]
    if empty:
        parts.append(f"<p>No finite value at any done point (no row, no figure): "
                     f"{html.escape(', '.join(empty))}.</p>")
    parts.append("<h2>Figures</h2>")
    titles = []
    for title, fig in figures(ds):
        titles.append(title)
        parts.append(f'<figure id="{html.escape(title)}"><img alt="{html.escape(title)}" '
                     f'src="data:image/png;base64,{_png(fig)}"><figcaption>'
                     f"<b>{html.escape(title)}</b>: {html.escape(caption(ds, title))}"
                     "</figcaption></figure>")
        if figure_dir:
            Path(figure_dir).mkdir(parents=True, exist_ok=True)
            for fmt in formats:
                fig.savefig(Path(figure_dir) / f"{title}.{fmt}", dpi=110)
        plt.close(fig)
    parts += ["<h2>Provenance</h2>", _table(provenance, ["attribute", "value"]),
              "<h2>Resolved configuration</h2>",
              f"<pre>{html.escape(ds.attrs.get('config_text', ''))}</pre>"]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;} "
             "table{border-collapse:collapse;margin:0.5em 0;} "
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;} "
             "img{max-width:100%;} figure{margin:1em 0;}")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(str(ds.attrs.get('name')))}</title><style>{style}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
    Path(out).write_text(page, encoding="utf-8")
    return titles

