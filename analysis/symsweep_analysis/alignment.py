"""Representation alignment of two-layer nonlinear networks under SGD and GD (README, Models:
mlp2; jobs/sweeps/alignment.ini): its figure and table.

    ds = open_sweep("alignment.h5")
    rows = alignment_numbers(ds)     # one dict per cell (every axis but the seed)
    fig, lines = plot_alignment(ds)  # the figure and the printed table

The measured quantity is the model's `mlp_alignment`: cos(W Sx W^T, U^T U), the Frobenius cosine
of the first layer's representation of the data and the second layer's Gram matrix, averaged
over the final window; its value at the start is the trace record at step 0 (the first record).
A diverged point (diverged_at >= 0) and a point not done count in no number. The horizontal
axis is the noise scale eta / S of SGD (its steps' gradient-noise covariance is (eta^2 / S) times
the per-sample one); GD takes the full gradient at every step, so its batch size does not enter
and its cells are drawn as a band over the axis (min-max over every seed and batch size, one per
step size). Panels: one per value of every other swept axis (model.activation in the shipped
sweep).
"""
import math

import numpy as np

from .dataset import axes, param, values
from .sharpening import _label, _path
from .trace import SEED

FIELD = "mlp_alignment"
TRACE = "trace_mlp_alignment"
METHOD = "optimizer.method"
ETA = "optimizer.eta"
BATCH = "optimizer.batch"


def _check(ds):
    if FIELD not in ds:
        raise ValueError(f"{_path(ds)}: no /results/{FIELD} (a sweep of model mlp2, e.g. "
                         "jobs/sweeps/alignment.ini)")


def alignment_numbers(ds):
    """One dict per cell (every swept axis but sweep.seed): "cell" {axis: text}, "method", "eta",
    "batch", "noise" (eta / S; NaN for gd), "end" (seed mean of mlp_alignment), "end_min",
    "end_max", "start" (seed mean at step 0, NaN without traces), "loss" (seed mean of the final
    loss), "seeds" (seeds that count), "diverged" (seeds that diverged)."""
    _check(ds)
    end = ds[FIELD]
    ok = ds["diverged_at"] < 0
    start = ds[TRACE].isel(step=0) if TRACE in ds else None
    eta, batch = param(ds, ETA), param(ds, BATCH)
    method = values(ds, METHOD)
    cells = [a for a in axes(ds) if a != SEED]
    rows = []
    for index in np.ndindex(*[ds.sizes[a] for a in cells]):
        sel = {a: ds[a].values[i] for a, i in zip(cells, index)}

        def at(da):
            return da.sel(sel) if sel else da

        good = at(ok).values.ravel().astype(bool)
        e = at(end).values.ravel()[good]
        e = e[np.isfinite(e)]
        m = str(np.unique(at(method).values.ravel())[0])
        h = float(np.unique(at(eta).values.ravel())[0])
        s = float(np.unique(at(batch).values.ravel())[0])
        done = at(ds["status"]).values.ravel() == 1
        rows.append({
            "cell": {a: _label(v) for a, v in sel.items()}, "method": m, "eta": h, "batch": s,
            "noise": h / s if m == "sgd" else math.nan,
            "end": float(e.mean()) if e.size else math.nan,
            "end_min": float(e.min()) if e.size else math.nan,
            "end_max": float(e.max()) if e.size else math.nan,
            "start": float(np.nanmean(at(start).values)) if start is not None and
            np.isfinite(at(start).values).any() else math.nan,
            "loss": float(np.nanmean(at(ds["final_loss"]).values[at(ok).values]))
            if good.any() else math.nan,
            "seeds": int(e.size), "diverged": int((~good & done).sum()),
        })
    return rows


def _panel_key(row):
    return tuple((a, v) for a, v in row["cell"].items() if a not in (METHOD, ETA, BATCH))


def plot_alignment(ds):
    """The figure (one panel per value of the axes other than method, eta, S and the seed:
    alignment at the end against eta / S, SGD's cells with their seed range, GD's band) and the
    table's lines."""
    from .sharpening import _plt

    rows = alignment_numbers(ds)
    plt = _plt()
    panels = sorted({_panel_key(r) for r in rows}, key=str)
    fig, axs = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False,
                            sharey=True)
    batches = sorted({r["batch"] for r in rows if r["method"] == "sgd"})
    etas = sorted({r["eta"] for r in rows})
    cmap = plt.get_cmap("viridis")
    markers = "osD^v<>ph*"
    for ax, key in zip(axs[0], panels):
        mine = [r for r in rows if _panel_key(r) == key]
        sgd = [r for r in mine if r["method"] == "sgd" and r["seeds"]]
        noise = [r["noise"] for r in sgd]
        lo, hi = (min(noise) / 1.5, max(noise) * 1.5) if noise else (1e-3, 1.0)
        reds = plt.get_cmap("Reds")
        for i, h in enumerate(etas):
            gd = [r for r in mine if r["method"] == "gd" and r["eta"] == h and r["seeds"]]
            if gd:
                tone = reds(0.35 + 0.5 * i / max(1, len(etas) - 1))
                g_lo = min(r["end_min"] for r in gd)
                g_hi = max(r["end_max"] for r in gd)
                ax.axhspan(g_lo, g_hi, color=tone, alpha=0.15, lw=0)
                ax.axhline(float(np.mean([r["end"] for r in gd])), color=tone, ls="--", lw=1.5,
                           label=f"gd, eta = {h:g}: mean, band = seed range")
        for r in sgd:
            j = batches.index(r["batch"])
            # Cells of equal eta / S side by side: a small offset per batch size.
            ax.errorbar(r["noise"] * 1.07 ** (j - (len(batches) - 1) / 2), r["end"],
                        yerr=[[r["end"] - r["end_min"]], [r["end_max"] - r["end"]]],
                        fmt=markers[etas.index(r["eta"]) % len(markers)],
                        color=cmap(j / max(1, len(batches) - 1)), ms=6, capsize=2)
        starts = [r["start"] for r in mine if np.isfinite(r["start"])]
        if starts:
            ax.axhline(float(np.mean(starts)), color="k", ls=":", lw=1, label="at the start")
        for j, s in enumerate(batches):
            ax.plot([], [], "s", color=cmap(j / max(1, len(batches) - 1)), label=f"sgd, S = {s:g}")
        for i, h in enumerate(etas):
            ax.plot([], [], markers[i % len(markers)], color="0.3", label=f"eta = {h:g}")
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("eta / S")
        ax.set_title(", ".join(f"{a.split('.')[-1]} = {v}" for a, v in key) or "alignment")
        ax.grid(alpha=0.3)
    axs[0][0].set_ylabel("cos(W Sx W^T, U^T U), final window")
    axs[0][0].set_ylim(min(0.0, axs[0][0].get_ylim()[0]), 1.02)
    axs[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Representation alignment: SGD against GD")
    fig.tight_layout()
    lines = [f"{'cell':<28} {'method':<6} {'eta':>7} {'S':>4} {'eta/S':>9} {'start':>6} "
             f"{'end: mean (min-max)':>22} {'loss':>7} seeds"]
    for r in sorted(rows, key=lambda r: (str(_panel_key(r)), r["method"], r["eta"], r["batch"])):
        label = ", ".join(v for a, v in r["cell"].items() if a not in (METHOD, ETA, BATCH))
        rng = f"{r['end']:.3f} ({r['end_min']:.3f}-{r['end_max']:.3f})"
        lines.append(f"{label:<28} {r['method']:<6} {r['eta']:>7g} {r['batch']:>4g} "
                     f"{r['noise']:>9.4g} {r['start']:>6.3f} {rng:>22} {r['loss']:>7.3g} "
                     f"{r['seeds']}" + (f" ({r['diverged']} diverged)" if r["diverged"] else ""))
    return fig, lines
