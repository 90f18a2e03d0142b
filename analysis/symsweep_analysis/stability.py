"""Figures of the stability checks (SCIENCE.md Sec. 3; README "Stability checks").

    fig = plot_bifurcation(ds)        # orbit points against eta, a panel per preset
    fig = plot_amplitudes(ds)         # measured 2-cycle amplitude against the prediction

`bifurcation`: every periodic point's orbit and every aperiodic point's last iterates (the file's
`orbit`, coordinate 0 or the projection on v), and a converged point's end, against the step size;
one panel per value of a facet axis (model.preset when swept), one colour per value of the other
axes (e.g. the starting point). `amplitudes`: `amplitude` against `amplitude_predicted` for the
periodic points of period 2, with the line of equality.
"""
import numpy as np

from .dataset import axes, code, done, members


def _need(ds, *fields):
    missing = [f for f in fields if f not in ds]
    if missing:
        raise ValueError(f"{ds.attrs.get('path')} has no {', '.join(missing)}: it was not made by a "
                         "build with the stability checks")


def plot_bifurcation(ds, x="optimizer.eta", facet=None):
    """Orbit points against the axis x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _need(ds, "orbit", "x_star")
    if x not in axes(ds):
        raise ValueError(f"{x!r} is not an axis of {ds.attrs.get('path')}; axes: {axes(ds)}")
    if facet is None and "model.preset" in axes(ds) and ds.sizes["model.preset"] > 1:
        facet = "model.preset"
    panels = list(ds[facet].values) if facet else [None]
    others = [a for a in axes(ds) if a not in (x, facet)]
    fig, axs = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.4), squeeze=False,
                            sharey=True, constrained_layout=True)
    names = members(ds["outcome"])
    converged = names.index("converged")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, value in zip(axs[0], panels):
        sub = ds.sel({facet: value}) if facet else ds
        stacked = sub.stack(_other=others) if others else sub.expand_dims("_other")
        for n, j in enumerate(range(stacked.sizes["_other"])):
            one = stacked.isel(_other=j)
            ok = done(one)
            orbit = one["orbit"].isel(coord=0).where(ok)  # (x, orbit_point)
            xs = np.repeat(one[x].values[:, None], orbit.sizes["orbit_point"], axis=1)
            ys = orbit.transpose(x, "orbit_point").values
            end = one["x_star"].isel(coord=0).where(ok & (one["outcome"] == converged))
            label = ", ".join(f"{k} = {v}" for k, v in zip(others, np.atleast_1d(
                stacked["_other"].values[j]))) if others else None
            color = colors[n % len(colors)]
            ax.scatter(xs.ravel(), ys.ravel(), s=2, color=color, label=label)
            ax.scatter(one[x].values, end.values, s=2, color=color)
        ax.set_xlabel(x)
        if facet:
            ax.set_title(f"{facet} = {value}")
    axs[0][0].set_ylabel("orbit points (coordinate 0)")
    if others:
        axs[0][-1].legend(markerscale=4, fontsize=8, frameon=False, loc="upper left",
                          bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"{ds.attrs.get('name')}: where GD ends, against {x}", fontsize=10)
    return fig


def plot_amplitudes(ds):
    """Measured against predicted 2-cycle amplitude, for the periodic points of period 2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _need(ds, "amplitude", "amplitude_predicted", "period")
    two = done(ds) & (ds["outcome"] == code(ds["outcome"], "periodic")) & (ds["period"] == 2)
    measured = ds["amplitude"].where(two).values.ravel()
    predicted = ds["amplitude_predicted"].where(two).values.ravel()
    keep = np.isfinite(measured) & np.isfinite(predicted)
    fig, ax = plt.subplots(figsize=(5.2, 4.6), constrained_layout=True)
    ax.scatter(predicted[keep], measured[keep], s=10, label=f"{int(keep.sum())} periodic point(s)")
    if keep.any():
        hi = max(predicted[keep].max(), measured[keep].max())
        ax.plot([0, hi], [0, hi], "k--", linewidth=1, label="measured = predicted")
    ax.set_xlabel(r"predicted $A=\sqrt{(\eta\lambda_{\max}-2)/c}$")
    ax.set_ylabel("measured half-width along v")
    ax.legend(fontsize=8, frameon=False)
    fig.suptitle(f"{ds.attrs.get('name')}: 2-cycle amplitude", fontsize=10)
    return fig


def plot_eos(ds, x="optimizer.eta"):
    """The edge of stability: the final sharpness of every converged run against the step size,
    one colour per value of the other axes, with the curve 2 / eta (GD can end only at minima with
    eta lambda_max <= 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _need(ds, "sharpness")
    if x not in axes(ds):
        raise ValueError(f"{x!r} is not an axis of {ds.attrs.get('path')}; axes: {axes(ds)}")
    others = [a for a in axes(ds) if a != x]
    conv = done(ds) & (ds["outcome"] == code(ds["outcome"], "converged"))
    sharp = ds["sharpness"].where(conv)
    stacked = sharp.stack(_other=others) if others else sharp.expand_dims("_other")
    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    eta = ds[x].values.astype(float)
    for j in range(stacked.sizes["_other"]):
        label = ", ".join(f"{k} = {v}" for k, v in zip(others, np.atleast_1d(
            stacked["_other"].values[j]))) if others else "converged runs"
        ax.plot(eta, stacked.isel(_other=j).transpose(x).values, "o-", markersize=3,
                linewidth=0.8, label=label)
    grid = np.geomspace(eta.min(), eta.max(), 200)
    ax.plot(grid, 2 / grid, "k--", linewidth=1.2, label=r"$2/\eta$")
    finite = sharp.values[np.isfinite(sharp.values)]
    if finite.size:
        ax.set_ylim(0, 1.3 * finite.max())
    ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(r"final sharpness $\lambda_{\max}$ (converged runs)")
    ax.legend(fontsize=8, frameon=False)
    fig.suptitle(f"{ds.attrs.get('name')}: the edge of stability", fontsize=10)
    return fig
