"""Figures of the stability checks (README, The science §3; README "Stability checks").

    fig = plot_bifurcation(ds)        # orbit points against eta, a panel per preset
    fig = plot_amplitudes(ds)         # measured 2-cycle amplitude against the prediction

`bifurcation`: every periodic point's orbit and every aperiodic point's last iterates (the file's
`orbit`, coordinate 0 or the projection on v), and a converged point's end, against the step size;
one panel per value of a facet axis (model.preset when swept), one colour per value of the other
axes (e.g. the starting point). `amplitudes`: `amplitude` against `amplitude_predicted` for the
periodic points of period 2, with the line of equality.
"""
import numpy as np

from .dataset import axes, code, deterministic, done, members
from .phase import dress_log, formatter

STARTS = ("model.x0", "model.preset")
DIVERGED = "#d95f02"  # the outcome's colour in the phase diagrams  # axes a bifurcation diagram separates


def _need(ds, *fields):
    missing = [f for f in fields if f not in ds]
    if missing:
        raise ValueError(f"{ds.attrs.get('path')} has no {', '.join(missing)}: it was not made by a "
                         "build with the stability checks")


def _need_axis(ds, x):
    if x not in axes(ds):
        raise ValueError(f"{x!r} is not an axis of {ds.attrs.get('path')}; axes: {axes(ds)}")
    if ds.sizes[x] < 2:
        raise ValueError(f"{ds.attrs.get('path')}: the axis {x} has one value: nothing to draw "
                         "against it")


def _need_deterministic(ds, what):
    det = deterministic(ds)
    if not bool(det.any()):
        raise ValueError(f"{what} needs deterministic runs (optimizer.method = gd, or "
                         f"optimizer.batch >= data.n): every point of {ds.attrs.get('path')} is "
                         "stochastic")
    return det


def plot_bifurcation(ds, x="optimizer.eta", facet=None):
    """Orbit points against the axis x: one column per value of the facet (model.preset when
    swept), one row per start (the other axes, up to 4 combinations, else overlaid), every panel
    over the same x range; converged runs' ends are the same colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _need(ds, "orbit", "x_star")
    _need_axis(ds, x)
    if not any(k in axes(ds) for k in STARTS):
        raise ValueError(f"bifurcation draws GD over landscapes or starts: "
                         f"{ds.attrs.get('path')} sweeps neither {' nor '.join(STARTS)} "
                         f"(axes: {', '.join(axes(ds))})")
    if ds.sizes.get("orbit_point", 0) == 0:
        raise ValueError(f"{ds.attrs.get('path')} has no orbits (orbit_point has 0 values): no "
                         "deterministic run to draw")
    det = _need_deterministic(ds, "bifurcation")
    if facet is None and "model.preset" in axes(ds) and ds.sizes["model.preset"] > 1:
        facet = "model.preset"
    panels = list(ds[facet].values) if facet else [None]
    others = [a for a in axes(ds) if a not in (x, facet)]
    n_rows = int(np.prod([ds.sizes[a] for a in others])) if others else 1
    overlay = n_rows > 4
    rows = 1 if overlay else n_rows
    fig, axs = plt.subplots(rows, len(panels), figsize=(4.8 * len(panels) + 1.6, 2.4 * rows + 1),
                            squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    names = members(ds["outcome"])
    converged = names.index("converged")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels_of = {a: formatter(ds[a].values) for a in others}
    any_diverged = False
    xv = ds[x].values.astype(float)
    step = np.min(np.diff(np.unique(xv))) if len(np.unique(xv)) > 1 else 1.0
    for col, value in enumerate(panels):
        sub = ds.sel({facet: value}) if facet else ds
        ok_all = (done(sub) & (det.sel({facet: value}) if facet else det))
        stacked = sub.stack(_other=others) if others else sub.expand_dims("_other")
        ok_st = ok_all.stack(_other=others) if others else ok_all.expand_dims("_other")
        for j in range(stacked.sizes["_other"]):
            ax = axs[0 if overlay else j][col]
            one = stacked.isel(_other=j)
            ok = ok_st.isel(_other=j)
            orbit = one["orbit"].isel(coord=0).where(ok)  # (x, orbit_point)
            # Overlaid starts are dodged by a fraction of the grid step, so none hides another.
            dodge = ((j - (n_rows - 1) / 2) * 0.6 * step / n_rows) if overlay else 0.0
            xs = np.repeat(one[x].values[:, None].astype(float) + dodge,
                           orbit.sizes["orbit_point"], axis=1)
            ys = orbit.transpose(x, "orbit_point").values
            end = one["x_star"].isel(coord=0).where(ok & (one["outcome"] == converged))
            label = ", ".join(f"{k} = {labels_of[k](v)}" for k, v in zip(others, np.atleast_1d(
                stacked["_other"].values[j]))) if others else None
            color = colors[j % len(colors)]
            ax.scatter(xs.ravel(), ys.ravel(), s=3, color=color, linewidths=0,
                       label=label if col == 0 else None)
            ax.scatter(one[x].values.astype(float) + dodge, end.values, s=3, color=color,
                       linewidths=0)
            div = ok & (one["outcome"] == names.index("diverged")) if "diverged" in names \
                else None
            if div is not None and bool(div.any()):  # a result too: ticks along the bottom
                xd = one[x].values.astype(float)[div.transpose(x).values] + dodge
                ax.scatter(xd, np.full(len(xd), 0.02), marker="|", s=40, color=DIVERGED,
                           transform=ax.get_xaxis_transform(), label="_diverged")
                any_diverged = True
            if not overlay and label:
                ax.text(0.02, 0.95, label, transform=ax.transAxes, va="top", fontsize=8,
                        color=color)
            if col == 0:
                ax.set_ylabel("orbit points\n(coordinate 0)")
            if facet and (overlay or j == 0):
                ax.set_title(f"{facet} = {formatter(ds[facet].values)(value)}", fontsize=10)
    for ax in axs[-1]:
        ax.set_xlabel(x)
    pad = 0.5 * step
    axs[0][0].set_xlim(xv.min() - pad, xv.max() + pad)  # shared: every panel the same range
    handles = [h for h in axs[0][0].collections if not h.get_label().startswith("_")]
    if any_diverged:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], marker="|", ls="none", markersize=8, color=DIVERGED,
                              label="diverged (along the bottom)"))
    if handles and (overlay or any_diverged):
        axs[0][-1].legend(handles=handles if overlay else handles[-1:], markerscale=1.5,
                          fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"{ds.attrs.get('name')}: where GD ends (orbit points; converged: the "
                 f"minimum), against {x}", fontsize=10)
    return fig


def plot_amplitudes(ds, with_note=False):
    """Measured against predicted 2-cycle amplitude, for the periodic points of period 2; with
    with_note, also the line about the periodic points it does not draw (None when none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _need(ds, "amplitude", "amplitude_predicted", "period")
    periodic = done(ds) & (ds["outcome"] == code(ds["outcome"], "periodic"))
    two = periodic & (ds["period"] == 2)
    measured = ds["amplitude"].where(two).values.ravel()
    predicted = ds["amplitude_predicted"].where(two).values.ravel()
    keep = np.isfinite(measured) & np.isfinite(predicted)
    n_periodic = int(periodic.sum())
    if not keep.any():
        raise ValueError(f"{ds.attrs.get('path')}: no periodic point of period 2 with a measured "
                         f"and a predicted amplitude ({n_periodic} periodic point(s)): nothing "
                         "to compare")
    reasons = []
    other_period = int((periodic & (ds["period"] != 2)).sum())
    if other_period:
        periods = sorted({int(p) for p in ds["period"].where(periodic & (ds["period"] != 2))
                          .values.ravel() if np.isfinite(p)})
        reasons.append(f"{other_period} of period {', '.join(map(str, periods))}")
    no_pred = int((two.values.ravel() & ~np.isfinite(predicted)).sum())
    if no_pred:
        reasons.append(f"{no_pred} with no predicted amplitude (eta < eta_gd or K < 0: the "
                       "leading order predicts no 2-cycle)")
    no_meas = int((two.values.ravel() & np.isfinite(predicted) & ~np.isfinite(measured)).sum())
    if no_meas:
        reasons.append(f"{no_meas} with no measured amplitude")
    note = (f"{n_periodic - int(keep.sum())} of {n_periodic} periodic point(s) not drawn: "
            + "; ".join(reasons)) if reasons else None
    fig, ax = plt.subplots(figsize=(5.4, 4.8), constrained_layout=True)
    ax.scatter(predicted[keep], measured[keep], s=10,
               label=f"{int(keep.sum())} periodic point(s) of period 2")
    hi = 1.05 * max(predicted[keep].max(), measured[keep].max())
    ax.plot([0, hi], [0, hi], "k--", linewidth=1, label="measured = predicted")
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel(r"predicted amplitude $A=\sqrt{(\eta\lambda_{\max}-2)/c}$ (units of $\theta$)")
    ax.set_ylabel(r"measured half-width along $v$ (units of $\theta$)")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    title = f"{ds.attrs.get('name')}: 2-cycle amplitude"
    if note:
        title += "\n" + note.split(":")[0]
    fig.suptitle(title, fontsize=10)
    return (fig, note) if with_note else fig


def plot_eos(ds, x="optimizer.eta"):
    """The edge of stability: the final sharpness of every converged deterministic run against
    the step size, one colour per value of the other axes, with the curve 2 / eta (GD can end
    only at minima with eta lambda_max <= 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _need(ds, "sharpness")
    _need_axis(ds, x)
    det = _need_deterministic(ds, "eos")
    others = [a for a in axes(ds) if a != x]
    conv = done(ds) & det & (ds["outcome"] == code(ds["outcome"], "converged"))
    sharp = ds["sharpness"].where(conv)
    stacked = sharp.stack(_other=others) if others else sharp.expand_dims("_other")
    labels_of = {a: formatter(ds[a].values) for a in others}
    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    eta = ds[x].values.astype(float)
    markers = "osD^v<>"
    for j in range(stacked.sizes["_other"]):
        label = ", ".join(f"{k} = {labels_of[k](v)}" for k, v in zip(others, np.atleast_1d(
            stacked["_other"].values[j]))) if others else "converged runs"
        ax.plot(eta, stacked.isel(_other=j).transpose(x).values, marker=markers[j % 7],
                markersize=4, fillstyle="none", linewidth=0.8, label=label)
    grid = np.geomspace(eta.min(), eta.max(), 200)
    ax.plot(grid, 2 / grid, "k--", linewidth=1.2, label=r"$2/\eta$")
    finite = sharp.values[np.isfinite(sharp.values)]
    if finite.size:
        ax.set_ylim(0, 1.3 * finite.max())
    ax.set_xscale("log")
    dress_log(ax.xaxis, eta)
    ax.set_xlabel(x)
    ax.set_ylabel(r"final sharpness $\lambda_{\max}$ (converged runs)")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"{ds.attrs.get('name')}: the edge of stability", fontsize=10)
    return fig
