"""SGD stability near a minimum x*: the expectation figure and the boundary table (README "SGD
stability sweeps"; The science §3).

    fig, lines = plot_expectation(ds)   # E|x_t - x*| against t, a curve per eta, a panel per
                                        # value of the other axes (e.g. model.a)
    rows = boundary_table(ds)           # per batch size: eta_worst_batch, eta_ms, eta_gd and the
    print("\\n".join(format_boundary_table(rows)))      # measured divergence boundary

`plot_expectation` needs the traces of `stability.exact_steps` > 0: `exact_mean_dist` is
E|x_t - x*| over every batch sequence of length t, enumerated exactly (+inf once one path
overflowed), drawn solid (averaged over the seeds: for a start that depends on the seed, the
expectation over the start too). Beside it, the Monte-Carlo over the seed axis of `dist_to_min`
(|theta_t - x*| of each run): its mean dashed, its median dotted. A run that diverged (its |theta|
passed optimizer.divergence_bound, after which it stops) counts as +inf from its diverged_at step
on: its distance is beyond the bound and its next unstable batch overflows it. A record missing
for another reason (a run that stopped converged at optimizer.tol, a point not done) is left out
of that step's statistics and counted. Values past the top of the scale (10^4 x the divergence
bound: only the exact mean reaches them finitely) or +inf are drawn in an "off scale" band above
each panel, one row per eta: a marker at every exact value (filled: +inf, hollow: finite), and for
the Monte-Carlo a line over the steps where it is +inf with a marker where that starts. The
printed lines count them, and say per eta whether the Monte-Carlo median converges (its last
value below its first) while the exact mean diverges (its last enumerated value above its first):
those curves are drawn thick, and ringed in the strip under each panel, which marks each eta's
colour and the panel's three thresholds (eta_worst_batch, eta_ms, eta_gd, from the file; the
median over the panel's points).

`boundary_table`: per value of the y axis (default optimizer.batch), the thresholds (median over
the row's done points) and the measured boundary along eta: the largest eta at which no seed
diverged, at it and at every smaller eta of the row ("stable up to"), and the smallest eta at
which every done seed diverged ("all diverged from").
"""
import warnings

import numpy as np

from .dataset import axes, done, members, param
from .phase import fmt, formatter

EXACT = "trace_exact_mean_dist"
MC = "trace_dist_to_min"
ETA = "optimizer.eta"
SEED = "sweep.seed"
# (field, name in the legend, colour in the strip, line style in the strip)
THRESHOLDS = (
    ("eta_worst_batch", r"$\eta_{wb}=\min_B 2/\lambda_{\max}(H_B)$ (worst batch)", "#e31a1c", "-"),
    ("eta_ms", r"$\eta_{ms}$ (linear mean-square, Wu-Ma-E)", "#1f78b4", "--"),
    ("eta_gd", r"$\eta_{gd}=2/\lambda_{\max}(H)$ (GD)", "black", ":"),
)
TITLE = {"eta_worst_batch": r"$\eta_{wb}$", "eta_ms": r"$\eta_{ms}$", "eta_gd": r"$\eta_{gd}$"}
OFF_SCALE = 1e4  # the top of the scale, times the largest divergence bound
MAX_PANELS = 12


def _path(ds):
    return ds.attrs.get("path")


def _need_exact(ds):
    if EXACT not in ds:
        raise ValueError(f"{_path(ds)} has no exact_* traces (exact_mean_dist): it was run with "
                         "stability.exact_steps = 0 or by a build without them; run it with "
                         "stability.exact_steps > 0 and record.every > 0")
    if ETA not in axes(ds):
        raise ValueError(f"expectation draws one curve per {ETA}: it is not an axis of "
                         f"{_path(ds)} (axes: {', '.join(axes(ds))})")


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def _mc_distances(ds):
    """dist_to_min with +inf from each diverged run's diverged_at step on; NaN where there is no
    record (not done, or the run stopped converged); and the count of such missing records of
    done runs."""
    dist = ds[MC]
    steps = ds["step"]
    ok = done(ds)
    if "diverged_at" in ds:
        div_at = ds["diverged_at"]
        gone = ok & (div_at >= 0) & (steps >= div_at)
        dist = dist.where(~gone, np.inf)
    missing = int((ok & dist.isnull()).sum())
    return dist, missing


def expectation_curves(ds):
    """{panel label: {eta: dict(exact, mc_mean, mc_median, n_seeds, n_diverged)}} over the
    file's steps (exact NaN past stability.exact_steps), the panels' thresholds and the counts
    the printed line reports. Panels: every combination of the axes other than eta and the seed."""
    _need_exact(ds)
    others = [a for a in axes(ds) if a not in (ETA, SEED)]
    n_panels = int(np.prod([ds.sizes[a] for a in others])) if others else 1
    if n_panels > MAX_PANELS:
        raise ValueError(f"{n_panels} panels ({' x '.join(f'{a} ({ds.sizes[a]})' for a in others)})"
                         f" are too many for one figure (at most {MAX_PANELS})")
    ok = done(ds)
    exact = ds[EXACT].where(ok)
    has_mc = MC in ds
    if has_mc:
        dist, missing = _mc_distances(ds)
        div = ok & (ds["diverged_at"] >= 0) if "diverged_at" in ds else ok & False
    else:
        missing = 0
    labels = {a: formatter(ds[a].values) for a in others}
    combos = [{}]
    for a in others:
        combos = [dict(c, **{a: v}) for c in combos for v in ds[a].values]
    panels = []
    for combo in combos:
        label = ", ".join(f"{a} = {labels[a](v)}" for a, v in combo.items())
        sel = ds.sel(combo) if combo else ds
        thresholds = {}
        for field, *_ in THRESHOLDS:
            if field in ds:
                v = _quiet(np.nanmedian, sel[field].where(done(sel)).values.astype(float))
                thresholds[field] = float(v)
        curves = {}
        for eta in ds[ETA].values:
            at = dict(combo, **{ETA: eta})
            e = exact.sel(at).transpose(..., "step").values.reshape(-1, ds.sizes["step"])
            # inf is a value here: the mean over seeds of +inf is +inf
            c = {"exact": np.asarray(_quiet(np.nanmean, e, axis=0), dtype=float),
                 "n_seeds": int(ok.sel(at).sum())}
            if has_mc:
                d = dist.sel(at).transpose(..., "step").values.reshape(-1, ds.sizes["step"])
                c["mc_mean"] = _quiet(np.nanmean, d, axis=0)
                c["mc_median"] = _quiet(np.nanmedian, d, axis=0)
                c["n_diverged"] = int(div.sel(at).sum())
            curves[float(eta)] = c
        panels.append((label, thresholds, curves))
    return panels, missing


def _verdict(c):
    """(exact diverges, MC median converges) for one curve: the exact mean's last enumerated value
    above its first; the median's last value below its first."""
    e = c["exact"]
    known = np.nonzero(~np.isnan(e))[0]
    diverges = bool(len(known) > 1 and e[known[-1]] > e[known[0]])
    converges = False
    if "mc_median" in c:
        m = c["mc_median"]
        seen = np.nonzero(~np.isnan(m))[0]
        converges = bool(len(seen) > 1 and np.isfinite(m[seen[-1]]) and m[seen[-1]] < m[seen[0]])
    return diverges, converges


def _g(v):
    return "inf" if np.isinf(v) else ("nan" if np.isnan(v) else f"{v:.4g}")


def plot_expectation(ds):
    """The figure and the lines to print (the off-scale count, then one line per panel and eta);
    see the module docstring."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    panels, missing = expectation_curves(ds)
    steps = ds["step"].values.astype(float)
    etas = np.sort(ds[ETA].values.astype(float))
    eta_label = formatter(etas)
    has_mc = MC in ds
    try:
        bound = float(np.nanmax(param(ds, "optimizer.divergence_bound").values))
    except (KeyError, ValueError):
        bound = 1e8
    top = OFF_SCALE * bound
    # the scale: every positive finite value up to the top
    values = np.concatenate([np.ravel(c[k]) for _, _, cs in panels for c in cs.values()
                             for k in ("exact", "mc_mean", "mc_median") if k in c])
    shown = values[np.isfinite(values) & (values > 0) & (values <= top)]
    if shown.size == 0:
        raise ValueError(f"{_path(ds)}: no finite positive distance to draw")
    lo, hi = shown.min() / 3, min(top, shown.max() * 3)
    # One band row per eta with an off-scale value in some panel (the smallest lowest), the same
    # rows in every panel.
    off = [float(e) for e in etas if any(
        np.any(np.isinf(c[k]) | (np.isfinite(c[k]) & (c[k] > top)))
        for _, _, cs in panels for k in ("exact", "mc_mean", "mc_median") if k in cs[float(e)]
        for c in [cs[float(e)]])]
    band_rows = {e: i for i, e in enumerate(off)}
    cmap = matplotlib.colormaps["plasma"]
    norm = Normalize(etas.min(), etas.max() + 0.18 * (etas.max() - etas.min() or 1))
    color = {float(e): cmap(norm(e)) for e in etas}
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig = plt.figure(figsize=(5.2 * cols + 3.2, 6.2 * rows), constrained_layout=True)
    grid = fig.add_gridspec(3 * rows, cols, height_ratios=[1.1, 5, 1.1] * rows)
    counts = {"exact_inf": 0, "exact_above": 0, "mc_inf": 0, "median_inf": 0}
    lines, thick_any = [], False
    first_main, legend_ax = None, None
    for n, (label, thresholds, curves) in enumerate(panels):
        r, col = divmod(n, cols)
        main = fig.add_subplot(grid[3 * r + 1, col], sharey=first_main)
        first_main = first_main or main
        band = fig.add_subplot(grid[3 * r, col], sharex=main)
        if r == 0:
            legend_ax = main  # the top row's last panel (the legend is shorter than it)
        told = ", ".join(f"{f} = {_g(thresholds[f])}" for f, *_ in THRESHOLDS if f in thresholds)
        if told:
            lines.append(f"{label or 'thresholds'}: {told}")
        strip = fig.add_subplot(grid[3 * r + 2, col])
        band.set_ylim(-0.5, max(len(band_rows), 1) - 0.5)
        band.set_facecolor("#f2f2f2")
        band.set_yticks(range(len(band_rows)), [eta_label(e) for e in band_rows], fontsize=7)
        band.set_ylabel("off scale\n(row: eta)", fontsize=8)
        band.tick_params(labelbottom=False)
        for k, eta in enumerate(etas):
            c = curves[float(eta)]
            diverges, converges = _verdict(c)
            thick = diverges and converges
            thick_any = thick_any or thick
            lw = 2.4 if thick else 1.1
            col_e = color[float(eta)]
            e = c["exact"]
            on = np.where(np.isfinite(e) & (e <= top), e, np.nan)
            main.plot(steps, on, color=col_e, lw=lw, ls="-")
            inf_e = np.isinf(e)
            above = np.isfinite(e) & (e > top)
            counts["exact_inf"] += int(inf_e.sum())
            counts["exact_above"] += int(above.sum())
            row = band_rows.get(float(eta), 0)
            if inf_e.any():
                band.plot(steps[inf_e], np.full(inf_e.sum(), row + 0.18), ls="none", marker="^",
                          ms=4, color=col_e)
            if above.any():
                band.plot(steps[above], np.full(above.sum(), row + 0.18), ls="none", marker="^",
                          ms=4, mfc="none", color=col_e)
            text = (f"{label + ', ' if label else ''}{ETA} = {eta_label(eta)}: exact "
                    f"E|x_t - x*| {_g(e[0])} at t = 0")
            known = np.nonzero(~np.isnan(e))[0]
            if len(known):
                text += f", {_g(e[known[-1]])} at t = {fmt(steps[known[-1]])}"
            if has_mc:
                for key, ls, shift, count in (("mc_mean", "--", -0.12, "mc_inf"),
                                              ("mc_median", ":", -0.3, "median_inf")):
                    m = c[key]
                    main.plot(steps, np.where(np.isfinite(m), m, np.nan), color=col_e, lw=lw,
                              ls=ls)
                    inf_m = np.isinf(m)
                    counts[count] += int(inf_m.sum())
                    if inf_m.any():
                        band.plot(steps[inf_m], np.full(inf_m.sum(), row + shift), ls=ls,
                                  color=col_e, lw=1.0)
                        start = np.nonzero(inf_m)[0][0]
                        band.plot([steps[start]], [row + shift], ls="none",
                                  marker="s" if key == "mc_mean" else "o", ms=3.5, color=col_e)
                last = np.nonzero(~np.isnan(c["mc_median"]))[0]
                if len(last):
                    j = last[-1]
                    text += (f"; Monte-Carlo over {c['n_seeds']} seed(s) at t = {fmt(steps[j])}: "
                             f"mean {_g(c['mc_mean'][j])} ({c['n_diverged']} diverged), median "
                             f"{_g(c['mc_median'][j])}")
            if diverges and converges:
                text += ": the median converges while the exact mean diverges"
            elif diverges:
                text += ": the exact mean diverges"
            elif len(known) > 1:
                text += ": the exact mean decays"
            lines.append(text)
        main.set_yscale("log")
        main.set_ylim(lo, hi)
        main.set_xlim(steps.min(), steps.max())
        main.set_xlabel("step t")
        if col == 0:
            main.set_ylabel(r"$|x_t - x^*|$: exact mean; mean, median over seeds")
        told = ", ".join(f"{TITLE[f]} = {_g(thresholds[f])}" for f, *_ in THRESHOLDS
                         if f in thresholds)
        band.set_title(f"{label}: {told}" if label and told else (label or told or None),
                       fontsize=10)
        # the strip: each eta's colour, the thresholds, the etas where the median converges
        # while the mean diverges ringed
        for eta in etas:
            c = curves[float(eta)]
            strip.plot([eta], [0], ls="none", marker="o", ms=7, color=color[float(eta)])
            if all(_verdict(c)):
                strip.plot([eta], [0], ls="none", marker="o", ms=13, mfc="none", mew=1.6,
                           color="black")
        xs = list(etas)
        for field, name, tcolor, tls in THRESHOLDS:
            v = thresholds.get(field)
            if v is not None and np.isfinite(v):
                strip.axvline(v, color=tcolor, ls=tls, lw=1.6)
                xs.append(v)
        pad = 0.06 * (max(xs) - min(xs) or 1)
        strip.set_xlim(min(xs) - pad, max(xs) + pad)
        strip.set_ylim(-1, 1)
        strip.set_yticks([])
        strip.set_xlabel(ETA, fontsize=9)
        strip.set_xticks(etas, [eta_label(e) for e in etas], fontsize=8)
    handles = [Line2D([], [], color="grey", ls="-", label="exact E|x_t - x*| (all batch "
                      "sequences)")]
    if has_mc:
        handles += [Line2D([], [], color="grey", ls="--", label=f"Monte-Carlo mean over "
                           f"{ds.sizes.get(SEED, 1)} seed(s)"),
                    Line2D([], [], color="grey", ls=":", label="Monte-Carlo median")]
    if thick_any:
        handles.append(Line2D([], [], color="grey", lw=2.4, label="thick / ringed: the median "
                              "converges while the exact mean diverges"))
    handles += [Line2D([], [], color="grey", ls="none", marker="^", label="off scale: +inf"),
                Line2D([], [], color="grey", ls="none", marker="^", mfc="none",
                       label=f"off scale: finite > {top:.0e}")]
    if has_mc:
        handles.append(Line2D([], [], color="grey", ls="none", marker="s",
                              label="Monte-Carlo mean +inf from here (a seed diverged)"))
    for field, name, tcolor, tls in THRESHOLDS:
        if field in ds:
            handles.append(Line2D([], [], color=tcolor, ls=tls, lw=1.6, label=name))
    legend_ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.03, 1), fontsize=8,
                 frameon=False)
    fig.suptitle(f"{ds.attrs.get('name')}: the distance to x* in expectation (exact) and per run "
                 "(Monte-Carlo); colour: " + ETA, fontsize=10)
    parts = []
    if counts["exact_inf"] or counts["exact_above"]:
        parts.append(f"exact mean: {counts['exact_inf']} value(s) +inf (a path overflowed) and "
                     f"{counts['exact_above']} finite above {top:.0e}")
    if counts["mc_inf"] or counts["median_inf"]:
        parts.append(f"Monte-Carlo mean: {counts['mc_inf']} and median: {counts['median_inf']} "
                     "value(s) +inf (a diverged seed counts as +inf)")
    note = []
    if parts:
        note.append("drawn in the off-scale band, not on the scale: " + "; ".join(parts))
    if missing:
        note.append(f"{missing} record(s) of done runs missing (stopped converged at "
                    "optimizer.tol): not in the Monte-Carlo at their steps")
    if not has_mc:
        note.append("no dist_to_min trace (x* not known before the run): no Monte-Carlo")
    head = ["left out: " + "; ".join(note)] if note else []
    return fig, head + lines


# ------------------------------------------------------------------------------ boundary table
def boundary_table(ds, x=None, y=None):
    """Per value of y (default optimizer.batch): its thresholds (median over the row's done
    points; NaN where the file lacks the field) and the measured boundary along x (default
    optimizer.eta): 'stable_to', the largest x with no diverged seed at it and every smaller x
    (None when the smallest already has one), and 'all_from', the smallest x at which every
    done seed diverged (None when there is none)."""
    x = x or ETA
    if y is None:
        y = "optimizer.batch" if "optimizer.batch" in axes(ds) else None
    for key in (x, y):
        if key is None or key not in axes(ds):
            raise ValueError(f"the boundary table needs the axes {x} and {y or 'a second one'}: "
                             f"{_path(ds)} has {', '.join(axes(ds))}")
    names = members(ds["outcome"])
    ok = done(ds)
    diverged = ok & (ds["outcome"] == names.index("diverged"))
    reduce = [a for a in axes(ds) if a not in (x, y)]
    n_ok = ok.sum(reduce) if reduce else ok.astype(int)
    n_div = diverged.sum(reduce) if reduce else diverged.astype(int)
    ds_sorted = ds.sortby(x)
    xs = ds_sorted[x].values.astype(float)
    out = []
    for yv in ds[y].values:
        row = {"y": y, "value": yv, "x": x}
        for field, *_ in THRESHOLDS:
            v = ds[field].sel({y: yv}).where(done(ds.sel({y: yv}))) if field in ds else None
            row[field] = float(_quiet(np.nanmedian, v.values)) if v is not None else np.nan
        if "sgd_note" in ds:
            codes = ds["sgd_note"].sel({y: yv}).where(done(ds.sel({y: yv}))).values.ravel()
            notes = members(ds["sgd_note"])
            row["sgd_note"] = ", ".join(sorted({notes[int(c)] for c in codes if np.isfinite(c)}))
        k_ok = n_ok.sel({y: yv}).sortby(x).values
        k_div = n_div.sel({y: yv}).sortby(x).values
        stable = None
        for i in range(len(xs)):
            if k_ok[i] == 0:
                continue  # no data: says nothing either way
            if k_div[i] > 0:
                break
            stable = float(xs[i])
        all_from = next((float(xs[i]) for i in range(len(xs))
                         if k_ok[i] > 0 and k_div[i] == k_ok[i]), None)
        row.update(stable_to=stable, all_from=all_from, x_min=float(xs[0]), x_max=float(xs[-1]))
        out.append(row)
    return out


def format_boundary_table(rows):
    """The table as Markdown lines (the README's)."""
    if not rows:
        return []
    y, x = rows[0]["y"], rows[0]["x"]
    label = formatter([r["value"] for r in rows])
    has_note = any("sgd_note" in r for r in rows)
    head = (f"| {y} | eta_worst_batch | eta_ms | eta_gd | measured: no seed diverged up to | "
            f"measured: every seed diverged from |" + (" sgd_note |" if has_note else ""))
    lines = [head, "|" + "---|" * (6 + has_note)]
    for r in rows:
        stable = (_g(r["stable_to"]) if r["stable_to"] is not None
                  else f"none (a seed diverged at {x} = {_g(r['x_min'])})")
        if r["stable_to"] is not None and r["stable_to"] == r["x_max"]:
            stable = f">= {_g(r['x_max'])} (none diverged)"
        every = (_g(r["all_from"]) if r["all_from"] is not None
                 else f"none up to {_g(r['x_max'])}")
        lines.append(f"| {label(r['value'])} | {_g(r['eta_worst_batch'])} | {_g(r['eta_ms'])} | "
                     f"{_g(r['eta_gd'])} | {stable} | {every} |"
                     + (f" {r.get('sgd_note', '')} |" if has_note else ""))
    return lines
