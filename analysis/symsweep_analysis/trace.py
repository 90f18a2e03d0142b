"""Time series of recorded traces, and the rate at which they approach equilibrium.

    sub = select(ds, {"optimizer.batch": "4"})        # axis values as text or numbers
    fig = plot_trace(ds, "trace_C", {"optimizer.batch": 4}, predicted="C_final")
    rates = approach_rates(ds, "trace_C")             # per point: -slope of log|q(t) - q_final|
    a, b, c = fit_exponents(rates)                    # log rate = a log eta + b log S + c

`plot_trace`: one line per point against the file's `step` coordinate; points differing in an
axis other than the seed get their own colour and a legend entry, seeds are drawn thin with their
mean thick. A predicted value (a results field, evaluated per point and averaged over the seeds
like the trace, or a number) is drawn dashed in the same colour.

`approach_rates`: per point, q_final is the known equilibrium where one is given (`final`: a
number or a results field; the command line passes --predicted), else the mean of the last
`tail` fraction of the finite records (a noisy equilibrium is averaged; a converged one is its
end); the rate r is minus the
least-squares slope of log|q(t) - q_final| over the records before that tail (after `skip`
records of start-up transient) whose distance exceeds 10 times the spread of the tail and
`floor` (1e-10) times the largest distance (below it, q is rounding: e.g. C = u^2 - w^2 from
u, w of order one is never closer to 0 than about 1e-16), so that |q(t) - q_final| ~ exp(-r t)
per step. NaN where fewer than 3 records qualify.

`fit_exponents`: least squares of log rate on log eta and log S (the axes optimizer.eta and
optimizer.batch, or any two given) over the points with a finite positive rate, seeds averaged
in log space first.
"""
import numpy as np
import xarray as xr

from .dataset import axes

SEED = "sweep.seed"


def _matching(coord, text):
    """The coordinate value of `coord` that `text` names: numbers to 1e-9 relative, text exactly."""
    values = coord.values
    if np.issubdtype(values.dtype, np.number):
        try:
            x = float(text)
        except ValueError:
            raise ValueError(f"{coord.name} = {text!r}: not a number; values: "
                             f"{', '.join(str(v) for v in values)}") from None
        hit = np.nonzero(np.isclose(values.astype(float), x, rtol=1e-9, atol=0))[0]
    else:
        norm = " ".join(str(text).split())
        hit = np.nonzero([" ".join(str(v).split()) == norm for v in values])[0]
    if len(hit) == 0:
        raise ValueError(f"{coord.name} = {text!r}: no such value; values: "
                         f"{', '.join(str(v) for v in values)}")
    return values[hit[0]]


def select(ds, selection):
    """`ds` at the given values of axes or trailing dimensions ({"optimizer.batch": "4", "k": 0});
    the selected dimensions are dropped."""
    out = ds
    for key, text in (selection or {}).items():
        if key not in ds.dims:
            raise ValueError(f"{key!r} is not an axis or dimension of {ds.attrs.get('path')}; "
                             f"axes: {', '.join(axes(ds))}; dimensions: {', '.join(ds.dims)}")
        out = out.sel({key: _matching(ds[key], text)})
    return out


def _series(ds, var, selection):
    """The trace `var` at the selection, as (point, step), and the point labels' axes."""
    if var not in ds:
        traces = [v for v in ds.data_vars if v.startswith("trace_")]
        raise ValueError(f"{var!r} is not a variable of {ds.attrs.get('path')}; traces: "
                         f"{', '.join(traces) or 'none (record.every = 0)'}")
    da = select(ds, selection)[var]
    if "step" not in da.dims:
        raise ValueError(f"{var} has no step dimension: it is not a trace")
    extra = [d for d in da.dims if d != "step" and d not in axes(ds)]
    for d in extra:
        if da.sizes[d] == 1:
            da = da.isel({d: 0})
        else:
            raise ValueError(f"{var} has a dimension {d!r} of {da.sizes[d]}: pick one with "
                             f"--select {d}=VALUE")
    return da


def _groups(da):
    """(label, DataArray over [seed,] step) for every combination of the non-seed axes left;
    values in the labels as the axes' tick labels write them."""
    from .phase import formatter

    others = [d for d in da.dims if d not in ("step", SEED)]
    if not others:
        return [(None, da)]
    labels = {d: formatter(da[d].values) for d in others}
    stacked = da.stack(_point=others)
    out = []
    for j in range(stacked.sizes["_point"]):
        one = stacked.isel(_point=j)
        values = np.atleast_1d(stacked["_point"].values[j])
        label = ", ".join(f"{k} = {labels[k](v)}" for k, v in zip(others, values))
        out.append((label, one.drop_vars(["_point", *others], errors="ignore")))
    return out


def _field_at(ds, name, selection):
    """A results field at the selection (its trailing dimensions selected too)."""
    if name not in ds:
        raise ValueError(f"--predicted {name!r}: neither a number nor a field of "
                         f"{ds.attrs.get('path')}")
    field = select(ds, {k: v for k, v in (selection or {}).items() if k in ds[name].dims})[name]
    for d in [d for d in field.dims if d not in axes(ds)]:
        if field.sizes[d] != 1:
            raise ValueError(f"--predicted {name} has a dimension {d!r}: select it")
        field = field.isel({d: 0})
    return field


def _predicted_values(ds, predicted, selection, da):
    """The predicted value per group (same order as _groups(da)), or None."""
    if predicted is None:
        return None
    try:
        value = float(predicted)
        return [value] * len(_groups(da))
    except (TypeError, ValueError):
        pass
    field = _field_at(ds, predicted, selection).broadcast_like(da.isel(step=0, drop=True))
    if SEED in field.dims:
        field = field.mean(SEED)
    return [float(g) for _, g in _groups(field.expand_dims(step=[0]))]


MAX_LEGEND = 10  # series told apart by a legend; more get a colour scale (and panels)
MAX_PANELS = 12


def _with_units(da, fallback):
    units = da.attrs.get("units")
    return da.attrs.get("long_name", fallback) + (f" [{units}]" if units else "")


def _layout(da):
    """(colour axis or None, panel axes): up to MAX_LEGEND series share one axes with a legend;
    more are coloured along the axis with the most values (a colour bar), one panel per value of
    the other axes (up to MAX_PANELS, in rows of 4, else ValueError naming --select)."""
    others = [d for d in da.dims if d not in ("step", SEED)]
    n = int(np.prod([da.sizes[d] for d in others])) if others else 1
    if n <= MAX_LEGEND:
        return None, []
    colour = max(others, key=lambda d: da.sizes[d])
    rest = [d for d in others if d != colour]
    panels = int(np.prod([da.sizes[d] for d in rest])) if rest else 1
    if panels > MAX_PANELS or da[colour].dtype.kind not in "fiu":
        raise ValueError(f"{n} series ({' x '.join(f'{d} ({da.sizes[d]})' for d in others)}) are "
                         "too many to tell apart in one figure: pick values with --select "
                         f"KEY=VALUE (e.g. --select {rest[0] if rest else colour}="
                         f"{da[rest[0] if rest else colour].values[0]})")
    return colour, rest


def plot_trace(ds, var, selection=None, predicted=None):
    """The trace `var` of the selected points against the step; see the module docstring."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, Normalize

    from .phase import dress_log, formatter, is_log_axis

    da = _series(ds, var, selection)
    steps = ds["step"].values
    colour_axis, panel_axes = _layout(da)
    values = _predicted_values(ds, predicted, selection, da)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    panel_groups = _groups(da.isel({colour_axis: 0}, drop=True)) if colour_axis and panel_axes \
        else [(None, None)]
    cols = min(len(panel_groups), 4)
    rows = -(-len(panel_groups) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(7 + 4 * (cols - 1), 4.4 + 3.2 * (rows - 1)),
                             squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    for extra in grid.ravel()[len(panel_groups):]:
        extra.remove()
    axs = list(grid.ravel()[: len(panel_groups)])
    norm = None
    if colour_axis:
        cv = da[colour_axis].values.astype(float)
        norm = (LogNorm(cv.min(), cv.max()) if is_log_axis(ds, colour_axis) and cv.min() > 0
                else Normalize(cv.min(), cv.max()))
        cmap = matplotlib.colormaps["viridis"]
    series = _groups(da)
    for n, (label, one) in enumerate(series):
        if colour_axis:
            # which panel and which colour: the point's values of the panel axes and colour axis
            at = dict(zip([d for d in da.dims if d not in ("step", SEED)],
                          np.atleast_1d(da.stack(_p=[d for d in da.dims
                                                     if d not in ("step", SEED)])["_p"].values[n])))
            panel = 0
            if panel_axes:
                key = ", ".join(f"{k} = {formatter(da[k].values)(at[k])}" for k in panel_axes)
                panel = [g for g, _ in panel_groups].index(key)
            ax, color, label = axs[panel], cmap(norm(float(at[colour_axis]))), None
        else:
            ax, color = axs[0], cycle[n % len(cycle)]
        if SEED in one.dims and one.sizes[SEED] > 1:
            for s_ in range(one.sizes[SEED]):
                ax.plot(steps, one.isel({SEED: s_}).values, color=color, lw=0.6, alpha=0.35)
            mean = one.mean(SEED).values
        else:
            mean = one.squeeze().values
        ax.plot(steps, mean, color=color, lw=1.8, label=label)
        if values is not None:
            ax.axhline(values[n], color=color, ls="--", lw=1.2,
                       label=f"predicted ({predicted})" if n == 0 else None)
    name = var[len("trace_"):] if var.startswith("trace_") else var
    for n, (ax, (panel_label, _)) in enumerate(zip(axs, panel_groups)):
        if n + cols >= len(axs):  # the lowest panel of its column
            ax.set_xlabel("step")
            ax.tick_params(labelbottom=True)
        if panel_label:
            ax.set_title(panel_label, fontsize="medium")
        if n % cols == 0:
            ax.set_ylabel(_with_units(ds[var], name))
    title = ", ".join(f"{k} = {v}" for k, v in (selection or {}).items())
    seeds = f"; {ds.sizes[SEED]} seeds thin, their mean thick" if SEED in da.dims \
        and da.sizes[SEED] > 1 else ""
    fig.suptitle(f"{ds.attrs.get('name')}: {var}" + (f" at {title}" if title else "") + seeds,
                 fontsize=10)
    if colour_axis:
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        bar = fig.colorbar(sm, ax=list(axs), label=colour_axis, pad=0.02)
        if isinstance(norm, LogNorm):
            dress_log(bar.ax.yaxis, da[colour_axis].values)
    handles = [h for h in axs[0].get_lines() if not h.get_label().startswith("_")]
    if handles and colour_axis:  # below: the colour bar holds the right
        axs[-1].legend(handles=handles, fontsize="small", loc="upper left",
                       bbox_to_anchor=(0, -0.14 if rows == 1 else -0.2), frameon=False)
    elif handles:  # outside the axes, on the right: it never covers a line
        axs[-1].legend(handles=handles, fontsize="small", loc="upper left",
                       bbox_to_anchor=(1.02, 1), frameon=False)
    return fig


def approach_rate(steps, q, tail=0.2, skip=1, floor=1e-10, final=None):
    """The rate r of |q(t) - q_final| ~ exp(-r t), per step (see the module docstring); `final`
    gives q_final when it is known (e.g. a predicted equilibrium), and then every record after
    `skip` may enter the fit."""
    steps = np.asarray(steps, dtype=float)
    q = np.asarray(q, dtype=float)
    ok = np.isfinite(q)
    steps, q = steps[ok], q[ok]
    n = len(q)
    if n < 3 + skip:  # e.g. a point not done (masked: every record NaN)
        return np.nan
    if final is not None and np.isfinite(final):
        n_tail, q_final, spread = 0, float(final), 0.0
    else:
        n_tail = max(1, int(np.ceil(tail * n)))
        end = q[-n_tail:]
        q_final, spread = end.mean(), end.std()
    if n - n_tail - skip < 3:
        return np.nan
    t, d = steps[skip:n - n_tail], np.abs(q[skip:n - n_tail] - q_final)
    use = (d > 10 * spread) & (d > floor * d.max())
    if use.sum() < 3:
        return np.nan
    slope = np.polyfit(t[use], np.log(d[use]), 1)[0]
    return -slope


def approach_rates(ds, var, selection=None, tail=0.2, skip=1, final=None):
    """approach_rate of every selected point (every axis left, seeds included) as a DataArray.
    `final`: the known equilibrium, a number or a results field (per point), as --predicted."""
    da = _series(ds, var, selection)
    steps = ds["step"].values
    if final is None:
        finals = xr.full_like(da.isel(step=0, drop=True), np.nan, dtype=float)
    else:
        try:
            finals = xr.full_like(da.isel(step=0, drop=True), float(final), dtype=float)
        except (TypeError, ValueError):
            finals = _field_at(ds, final, selection).broadcast_like(da.isel(step=0, drop=True))
    rates = xr.apply_ufunc(lambda q, f: approach_rate(steps, q, tail, skip, final=f), da, finals,
                           input_core_dims=[["step"], []], vectorize=True)
    rates.name = f"rate({var})"
    rates.attrs = {"long_name": f"approach rate of {var} per step"}
    return rates


def fit_exponents(rates, x="optimizer.eta", y="optimizer.batch"):
    """(a, b, c) of the least-squares fit log rate = a log x + b log y + c over the points with a
    finite positive rate (seeds averaged in log space first)."""
    for key in (x, y):
        if key not in rates.dims:
            raise ValueError(f"{key!r} is not an axis of the rates (axes: {', '.join(rates.dims)})")
    log_rate = np.log(rates.where(rates > 0))
    if SEED in log_rate.dims:
        log_rate = log_rate.mean(SEED)
    log_rate = log_rate.transpose(x, y, ...)
    xs, ys = np.meshgrid(np.log(rates[x].values.astype(float)),
                         np.log(rates[y].values.astype(float)), indexing="ij")
    values = log_rate.values.reshape(xs.shape[0], xs.shape[1], -1)
    rows, rhs = [], []
    for i in range(xs.shape[0]):
        for j in range(xs.shape[1]):
            for v in values[i, j]:
                if np.isfinite(v):
                    rows.append([xs[i, j], ys[i, j], 1.0])
                    rhs.append(v)
    if len(rows) < 3:
        raise ValueError(f"only {len(rows)} point(s) with a finite rate; the fit needs 3")
    (a, b, c), *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return float(a), float(b), float(c)
