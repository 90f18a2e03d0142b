"""Sharpening and flattening from anisotropy, and warm-up from an imbalanced start (README, The
science §2; jobs/sweeps/sharpening.ini, warmup.ini): their figures and predicted-against-measured
tables.

    ds = open_sweep("sharpening.h5")
    rows = sharpening_numbers(ds)            # one dict per cell (every axis but method, seed)
    fig, lines = plot_sharpening(ds)         # the figure and the printed table
    rows = warmup_numbers(ds)                # one dict per warm-up length
    fig, lines = plot_warmup(ds)

`sharpening` needs an optimizer.method axis holding sgd and gd; every SGD point is paired with
the GD point at the same value of every other axis (the seed and the weight decay included), and
sweep.common_random should name optimizer.method so that both start from the same draw (the
table prints whether their starts' |D_0|_F agree). The measured Tr H of a point is the model's
window mean `eq_hessian_trace` where the file has it, else the mean of its trace records of Tr H
in the final window (record.final_window; the end's where a run stopped before it), else the
core's `hessian_trace` at the end; lambda_max is the core's `sharpness` at the end. The norm
balance is the ratio of the first and last layers' squared norms in the model's order
(`eq_layer_norm2`, linear2: |U|_F^2 / |W|_F^2; `dl_layer_norm`, deeplinear: |W_1|_F^2 /
|W_L|_F^2), where the file has it. The prediction (Tr H at the noise equilibrium over Tr H at
the balanced minimum gradient flow ends at) is drawn wherever the model stores
`hessian_trace_eq_predicted`
and `hessian_trace_gf_predicted` and they are finite (linear2: no weight decay); nothing in here
names a model, so another model's file draws what its fields allow. The anisotropy axis is --x,
else the first swept of data.noise_decay, data.x_decay, data.x_cov, data.noise_cov; the other
axes (but method and seed) make the series.

`warmup` needs an optimizer.warmup_steps axis (optimizer.schedule = warmup). Per warm-up length:
how many seeds diverged, and the steps until the equilibrium gap fell to 0.1 of its start
(`eq_gap_steps`, else the first record of trace_eq_gap at or below 0.1 of its step-0 value) over
the seeds that did not diverge. The eta^2/S prediction of that step, the first t with
sum_{k<t} eta_k^2 sigma_x^2 sigma_eps^2 / S >= ln 10 under the file's schedule, is drawn where it
applies: a model whose gap is |D|_F with D <- (1 - eta^2 G^2) D per step (linear2 with dx = dy
= 1), online SGD without weight decay, data.x_var / data.noise_var (no x_cov, noise_cov).
It counts the noise alone: the drift's part of G^2 and the fluctuations' (larger where eta times
the sharpness is not small) only shorten the approach, so the measured steps lie at or below it.
"""
import math

import numpy as np

from .dataset import axes, config, param, values
from .phase import dress_log, formatter
from .trace import SEED

METHOD = "optimizer.method"
ANISOTROPY_KEYS = ("data.noise_decay", "data.x_decay", "data.x_cov", "data.noise_cov")
WARMUP = "optimizer.warmup_steps"
GAP_FRACTION = 0.1  # linear2's kGapFraction (the eq_gap_steps field's description says it)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def _path(ds):
    return ds.attrs.get("path", "the file")


def _raw(ds, key, text):
    """The stored axis value of `key` whose text is `text`."""
    for v in ds[key].values:
        if _label(v) == text:
            return v
    raise ValueError(f"{_path(ds)}: axis {key} has no value {text!r} (it has "
                     f"{', '.join(_label(v) for v in ds[key].values)})")


def _diverged(ds):
    return ds["diverged_at"] >= 0


# ------------------------------------------------------------------------------------- sharpening
def anisotropy_axis(ds, x=None):
    ax = axes(ds)
    if x is not None:
        if x not in ax:
            raise ValueError(f"{_path(ds)}: --x {x} is not a swept axis ({', '.join(ax)})")
        return x
    for key in ANISOTROPY_KEYS:
        if key in ax:
            return key
    raise ValueError(f"{_path(ds)}: no anisotropy axis ({', '.join(ANISOTROPY_KEYS)}); name one "
                     "with --x")


def _pairs(ds):
    """(sgd, gd): the two halves of the file along optimizer.method, aligned on every other
    axis; the points of either that are not done or diverged are NaN in the numeric fields."""
    if METHOD not in axes(ds):
        raise ValueError(f"{_path(ds)}: no {METHOD} axis (sharpening pairs sgd with gd points)")
    halves = []
    for name in ("sgd", "gd"):
        one = ds.sel({METHOD: _raw(ds, METHOD, name)})
        halves.append(one.where(~_diverged(one)))
    return halves


def _measured_trace(one):
    """The model's window mean of Tr H; else the mean of the trace records of Tr H in the final
    window (record.final_window steps before optimizer.steps; those after a run stopped are NaN),
    the end's Tr H where a run has none there (GD converged before it); else the end's."""
    if "eq_hessian_trace" in one:
        return one["eq_hessian_trace"]
    end = one["hessian_trace"]
    if "trace_hessian_trace" not in one:
        return end
    window = param(one, "record.final_window")
    steps = param(one, "optimizer.steps")
    traced = one["trace_hessian_trace"]
    inside = traced.where(traced["step"] > steps - window)
    mean = inside.mean("step", skipna=True)
    return mean.where(np.isfinite(mean), end)


def _first_over_last(one, norms):
    """Each point's first layer's entry over its last finite one (a shallower point of a grid
    with swept depth is NaN-padded past its own last layer)."""
    dim = [d for d in norms.dims if d not in one["status"].dims][0]
    last = norms.isel({dim: -1})
    for i in range(norms.sizes[dim] - 2, -1, -1):
        last = last.fillna(norms.isel({dim: i}))
    return norms.isel({dim: 0}) / last


def _balance(one):
    """|first layer|^2 / |last layer|^2 in the model's order (window means), or None."""
    name = next((n for n in ("eq_layer_norm2", "dl_layer_norm") if n in one), None)
    return None if name is None else _first_over_last(one, one[name])


def balance_label(ds):
    """What the balance is, by the model's layer order: linear2's (U, W) is output over input,
    deeplinear's (W_1 .. W_L) input over output."""
    if "eq_layer_norm2" in ds:
        return "|U|^2 / |W|^2 (output / input layer)"
    if "dl_layer_norm" in ds:
        return "|W_1|^2 / |W_L|^2 (input / output layer)"
    return "|first layer|^2 / |last layer|^2"


def _predicted_balance(one):
    if "layer_norm2_predicted" not in one:
        return None
    return _first_over_last(one, one["layer_norm2_predicted"])


def sharpening_numbers(ds, x=None):
    """One dict per cell (the axes but optimizer.method and sweep.seed): "cell" {axis: value},
    the anisotropy "x", "ratio" (seed mean of Tr H(SGD) / Tr H(GD)), "ratio_seeds" (per seed),
    "ratio_predicted", "lambda_ratio" (seed mean of lambda_max(SGD) / lambda_max(GD)),
    "trace_sgd", "trace_gd", "trace_sgd_predicted", "trace_gd_predicted" (seed means),
    "balance_sgd", "balance_gd", "balance_sgd_predicted", "balance_gd_predicted" (seed means of
    the norm ratio), "gd_end_imbalance" (largest |D|_F of GD's end over the seeds, from C_final),
    "d0" (largest |D_0|_F) and "same_start" (the pair's |D_0|_F equal at every seed)."""
    sgd, gd = _pairs(ds)
    xkey = anisotropy_axis(ds, x)
    t_sgd, t_gd = _measured_trace(sgd), _measured_trace(gd)
    ratio = t_sgd / t_gd
    lam = sgd["sharpness"] / gd["sharpness"] if "sharpness" in ds else None
    pred = None
    if "hessian_trace_eq_predicted" in ds and "hessian_trace_gf_predicted" in ds:
        pred = sgd["hessian_trace_eq_predicted"] / gd["hessian_trace_gf_predicted"]
    b_sgd, b_gd = _balance(sgd), _balance(gd)
    pb_sgd, pb_gd = _predicted_balance(sgd), _predicted_balance(gd)
    imbalance = None
    if "C_final" in gd:
        c = gd["C_final"]
        imbalance = np.sqrt((c ** 2).sum([d for d in c.dims if d not in gd["status"].dims]))
    cells = [a for a in axes(ds) if a not in (METHOD, SEED)]

    def mean(da):
        return da.mean(SEED) if da is not None and SEED in da.dims else da

    def at(da, sel, reduce=mean):
        if da is None:
            return math.nan
        return float(reduce(da).sel(sel)) if sel else float(reduce(da))

    rows = []
    grid = [dict(zip(cells, combo)) for combo in np.ndindex(*[ds.sizes[a] for a in cells])]
    for index in grid:
        sel = {a: ds[a].values[i] for a, i in index.items()}
        seeds = ratio.sel(sel) if sel else ratio
        same = True
        if "d0_norm" in ds:  # the raw starts: a diverged pair's start is still its start
            d0 = ds["d0_norm"]
            d_s, d_g = (d0.sel({METHOD: _raw(ds, METHOD, m)}) for m in ("sgd", "gd"))
            same = bool(((d_s.sel(sel) if sel else d_s) == (d_g.sel(sel) if sel else d_g)).all())
        rows.append({
            "cell": {a: sel[a] for a in cells}, "x": sel.get(xkey),
            "ratio": at(ratio, sel), "ratio_seeds": np.atleast_1d(seeds.values).astype(float),
            "ratio_predicted": at(pred, sel),
            "lambda_ratio": at(lam, sel),
            "trace_sgd": at(t_sgd, sel), "trace_gd": at(t_gd, sel),
            "trace_sgd_predicted": at(sgd.get("hessian_trace_eq_predicted"), sel),
            "trace_gd_predicted": at(gd.get("hessian_trace_gf_predicted"), sel),
            "balance_sgd": at(b_sgd, sel), "balance_gd": at(b_gd, sel),
            "balance_sgd_predicted": at(pb_sgd, sel), "balance_gd_predicted": at(pb_gd, sel),
            "gd_end_imbalance": at(imbalance, sel,
                                   lambda da: da.max(SEED) if SEED in da.dims else da),
            "d0": at(sgd.get("d0_norm"), sel, lambda da: da.max(SEED) if SEED in da.dims else da),
            "same_start": same,
        })
    return xkey, rows


def _series_key(row, xkey):
    return tuple((k, v) for k, v in row["cell"].items() if k != xkey)


def _series_label(key):
    def text(v):
        return _label(v) if isinstance(v, bytes) else formatter([v])(v)

    return ", ".join(f"{k.split('.')[-1]} = {text(v)}" for k, v in key) or "all"


def _numeric_x(ds, xkey, v):
    """A position on the horizontal axis: the value of a numeric axis, else its index."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float(list(ds[xkey].values).index(v))


def plot_sharpening(ds, x=None):
    xkey, rows = sharpening_numbers(ds, x)
    plt = _plt()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    series = []
    for row in rows:
        key = _series_key(row, xkey)
        if key not in series:
            series.append(key)
    panels = [("trace", "Tr H(SGD) / Tr H(GD), same start")]
    if rows and any(np.isfinite(r["lambda_ratio"]) for r in rows):
        panels.append(("lambda", "lambda_max(SGD) / lambda_max(GD) at the end"))
    if rows and any(np.isfinite(r["balance_sgd"]) for r in rows):
        panels.append(("balance", "norm balance " + balance_label(ds)))
    fig, axs = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 5.0), squeeze=False,
                            constrained_layout=True)
    axs = axs[0]
    numeric = ds[xkey].dtype.kind in "fiu"
    log = numeric and (ds[xkey].values > 0).all()
    decay = xkey.endswith("_decay")
    # Series dodged along x (by 3 % per series on a log axis, else 3 % of the spacing) so that
    # equal values of two series (e.g. every ratio near 1 at isotropy) do not hide each other.
    spacing = np.diff(np.unique([_numeric_x(ds, xkey, v) for v in ds[xkey].values]))
    step = float(spacing.min()) if len(spacing) else 1.0

    def dodge(xs, m):
        shift = m - (2 * len(series) - 1) / 2
        return xs * 1.03 ** shift if log else xs + 0.03 * step * shift

    for n, key in enumerate(series):
        mine = [r for r in rows if _series_key(r, xkey) == key]
        xs = np.array([_numeric_x(ds, xkey, r["x"]) for r in mine])
        order = np.argsort(xs)
        xs = xs[order]
        xg = dodge(xs, 2 * n + 1)  # GD's norm balance beside SGD's
        xs = dodge(xs, 2 * n)
        mine = [mine[i] for i in order]
        color = colors[n % len(colors)]
        label = _series_label(key)
        for kind, ax in zip([p[0] for p in panels], axs):
            if kind == "trace":
                for xv, r in zip(xs, mine):
                    ax.plot([xv] * len(r["ratio_seeds"]), r["ratio_seeds"], ".", color=color,
                            alpha=0.45, ms=5)
                ax.plot(xs, [r["ratio"] for r in mine], "o-", color=color, lw=1.4, label=label)
                pred = np.array([r["ratio_predicted"] for r in mine])
                if np.isfinite(pred).any():
                    ax.plot(xs, pred, "--", color=color, lw=1.2, marker="x", ms=7)
            elif kind == "lambda":
                ax.plot(xs, [r["lambda_ratio"] for r in mine], "o-", color=color, lw=1.4,
                        label=label)
            else:
                ax.plot(xs, [r["balance_sgd"] for r in mine], "o-", color=color, lw=1.4,
                        label=f"sgd, {label}")
                ax.plot(xg, [r["balance_gd"] for r in mine], "s:", color=color, lw=1.0, ms=4,
                        label=f"gd, {label}")
                pred = np.array([r["balance_sgd_predicted"] for r in mine])
                if np.isfinite(pred).any():
                    ax.plot(xs, pred, "--", color=color, lw=1.2, marker="x", ms=7)
    from matplotlib.lines import Line2D

    for (kind, title), ax in zip(panels, axs):
        ax.axhline(1.0, color="k", lw=0.8)
        if log:
            ax.set_xscale("log")
            dress_log(ax.xaxis, ds[xkey].values)
        if decay:
            ax.invert_xaxis()  # anisotropy grows to the right
        ax.set_xlabel(xkey + (" (anisotropy grows to the right)" if decay else "") +
                      "\n(series dodged by 3 % each)")
        ax.set_title(title, fontsize="medium")
        if kind == "balance":
            ax.set_yscale("log")
            dress_log(ax.yaxis)
    handles = axs[0].get_lines()
    extra = [Line2D([], [], color="grey", ls="", marker=".", label="each seed")]
    if any(math.isfinite(r["ratio_predicted"]) for r in rows):
        extra.append(Line2D([], [], color="grey", ls="--", marker="x",
                            label="predicted: Tr H at the noise equilibrium / at the balanced "
                            "minimum"))
    axs[0].legend(handles=[h for h in handles if not h.get_label().startswith("_")] + extra,
                  fontsize="small", loc="upper left", bbox_to_anchor=(0, -0.2), frameon=False)
    if len(panels) > 2:
        axs[-1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(0, -0.2),
                       frameon=False, ncol=2)
    axs[0].set_ylabel("ratio (1: as flat as GD; above: SGD sharper)")
    fig.suptitle(f"{ds.attrs.get('model', '')}: SGD against GD from the same start, over "
                 f"{xkey} (above 1: SGD sharpened; below: flattened)", fontsize=10)
    source = ("eq_hessian_trace, the final window's mean" if "eq_hessian_trace" in ds
              else "the trace records of Tr H in the final window (the end's where a run "
              "stopped before it)" if "trace_hessian_trace" in ds else "hessian_trace at the end")
    lines = [f"sharpening ({xkey}; each row: the seed mean of the pairs sgd/gd at one cell; Tr H "
             f"from {source}):"]
    cols = [a for a in rows[0]["cell"]] if rows else []
    head = "  " + " ".join(f"{c.split('.')[-1]:>12}" for c in cols) + \
        f" {'TrH ratio':>10} {'predicted':>10} {'seeds min..max':>15} {'lmax ratio':>10}" \
        f" {'TrH sgd':>8} {'pred':>8} {'TrH gd':>8} {'pred':>8} {'bal sgd':>8} {'pred':>8}" \
        f" {'bal gd':>8}"
    lines.append(head)
    for r in rows:
        seeds = r["ratio_seeds"][np.isfinite(r["ratio_seeds"])]
        span = f"{seeds.min():.4f}..{seeds.max():.4f}" if len(seeds) else "nan"
        cells = " ".join(f"{_label(v) if isinstance(v, bytes) else formatter([v])(v):>12}"
                         for v in r["cell"].values())
        lines.append(
            f"  {cells} {r['ratio']:10.4f} {r['ratio_predicted']:10.4f} {span:>15} "
            f"{r['lambda_ratio']:10.4f} {r['trace_sgd']:8.4f} {r['trace_sgd_predicted']:8.4f} "
            f"{r['trace_gd']:8.4f} {r['trace_gd_predicted']:8.4f} {r['balance_sgd']:8.4f} "
            f"{r['balance_sgd_predicted']:8.4f} {r['balance_gd']:8.4f}")
    finite = [r for r in rows if np.isfinite(r["ratio_predicted"]) and np.isfinite(r["ratio"])]
    if finite:
        signs = sum(np.sign(r["ratio"] - 1) == np.sign(r["ratio_predicted"] - 1) for r in finite
                    if abs(r["ratio_predicted"] - 1) > 1e-9)
        tested = sum(abs(r["ratio_predicted"] - 1) > 1e-9 for r in finite)
        worst = max(abs(r["ratio"] / r["ratio_predicted"] - 1) for r in finite)
        lines.append(f"predicted cells: {len(finite)}; SGD sharper/flatter as predicted in "
                     f"{signs} of {tested} (the others predicted equal); largest |measured / "
                     f"predicted - 1| = {100 * worst:.3g} %")
    d0 = [r["d0"] for r in rows if np.isfinite(r["d0"])]
    gd_end = [r["gd_end_imbalance"] for r in rows if np.isfinite(r["gd_end_imbalance"])]
    if d0:
        shared = "share" if all(r["same_start"] for r in rows) else "DO NOT share"
        lines.append(f"start: |D_0|_F <= {max(d0):.3g} (the balanced prediction's assumption); "
                     f"sgd and gd {shared} their starts")
    if gd_end:
        lines.append(f"GD's end: |D|_F <= {max(gd_end):.3g} (weight decay included)")
    return fig, lines


# ------------------------------------------------------------------------------------------ warm-up
def _eta_schedule(cfg, eta, steps):
    """eta_k for k = 0 .. steps - 1 under the file's optimizer.schedule."""
    k = np.arange(steps, dtype=float)
    kind = cfg.get("optimizer.schedule", "constant").strip()
    if kind == "warmup":
        w = float(cfg.get("optimizer.warmup_steps", "100"))
        return eta * np.minimum(1.0, (k + 1) / w)
    if kind == "step":
        every = float(cfg.get("optimizer.decay_every", "1000"))
        factor = float(cfg.get("optimizer.decay_factor", "0.1"))
        return eta * factor ** np.floor(k / every)
    return np.full(steps, eta)


def prediction_applies(ds):
    """None where the eta^2/S prediction of the approach applies, else the reason it does not."""
    cfg = config(ds)

    def text(key, default=""):
        return cfg.get(key, default).strip()

    if ds.attrs.get("model") != "linear2" or text("model.dx") != "1" or text("model.dy") != "1":
        return "the eta^2/S law of the gap holds for linear2 with dx = dy = 1 (D <- (1 - eta^2 " \
               "G^2) D)"
    for key, want in (("data.mode", "online"), ("optimizer.method", "sgd")):
        if key in axes(ds) or text(key, "sgd" if key == METHOD else "finite") != want:
            return f"needs {key} = {want} throughout"
    for key in ("optimizer.weight_decay", "model.layer_decay", "model.break_strength"):
        if key in axes(ds) or float(text(key, "0") or 0) != 0:
            return f"needs {key} = 0"
    for key in ("data.x_cov", "data.noise_cov"):
        if key in axes(ds) or text(key):
            return f"needs data.x_var and data.noise_var ({key} given)"
    return None


def predicted_steps(ds):
    """The predicted steps to 0.1 of the start per point (DataArray over the axes; NaN where the
    prediction does not apply or the run is too short)."""
    cfg = config(ds)
    out = param(ds, "optimizer.eta") * np.nan
    if prediction_applies(ds) is not None:
        return out
    target = math.log(1 / GAP_FRACTION)
    flat = out.stack(_p=out.dims) if out.dims else out.expand_dims(_p=[0])
    eta = param(ds, "optimizer.eta")
    rate = param(ds, "data.x_var") * param(ds, "data.noise_var") / param(ds, "optimizer.batch")
    steps = param(ds, "optimizer.steps")
    result = []
    for j in range(flat.sizes["_p"]):
        where = {d: flat[d].values[j] for d in out.dims}
        one = dict(cfg)
        for key in axes(ds):
            one[key] = str(_label(where[key]))
        e = float(eta.sel(where)) if where else float(eta)
        n = int(steps.sel(where)) if where else int(steps)
        r = float(rate.sel(where)) if where else float(rate)
        total = np.cumsum(_eta_schedule(one, e, n) ** 2 * r)  # after update k: sum_{<=k}
        hit = np.nonzero(total >= target)[0]
        result.append(float(hit[0] + 1) if len(hit) else np.nan)
    flat = flat.copy(data=np.array(result))
    return flat.unstack("_p") if out.dims else flat.isel(_p=0)


def _steps_to_equilibrate(ds):
    """eq_gap_steps (NaN for -1), else from trace_eq_gap."""
    if "eq_gap_steps" in ds:
        s = ds["eq_gap_steps"].astype(float)
        return s.where(s >= 0)
    if "trace_eq_gap" not in ds:
        raise ValueError(f"{_path(ds)} has neither eq_gap_steps nor trace_eq_gap")
    g = ds["trace_eq_gap"]
    below = (g <= GAP_FRACTION * g.isel(step=0)) & (g["step"] > 0)
    first = below.argmax("step")
    steps = ds["step"].values[first.values]
    return first.copy(data=np.where(below.any("step").values, steps, np.nan).astype(float))


def warmup_numbers(ds):
    """One dict per warm-up length: "warmup", "diverged" (seeds), "seeds", "steps" (the values
    of the seeds that did not diverge and reached 0.1 of the gap), "median", "predicted"
    (predicted steps, NaN where it does not apply), "not_reached" (seeds that neither diverged
    nor reached)."""
    if WARMUP not in axes(ds):
        raise ValueError(f"{_path(ds)}: no {WARMUP} axis (optimizer.schedule = warmup over the "
                         "warm-up length)")
    others = [a for a in axes(ds) if a not in (WARMUP, SEED)]
    if others:
        raise ValueError(f"{_path(ds)}: warmup draws one series over {WARMUP} (and seeds); the "
                         f"file also sweeps {', '.join(others)}")
    if values(ds, "optimizer.schedule").astype(str).values.ravel()[0] != "warmup":
        raise ValueError(f"{_path(ds)}: optimizer.schedule is not warmup")
    steps = _steps_to_equilibrate(ds)
    div = _diverged(ds)
    pred = predicted_steps(ds)
    rows = []
    for w in ds[WARMUP].values:
        s = steps.sel({WARMUP: w})
        d = div.sel({WARMUP: w})
        ok = np.atleast_1d(s.where(~d).values)
        reached = ok[np.isfinite(ok)]
        p = pred.sel({WARMUP: w})
        rows.append({
            "warmup": int(w), "diverged": int(np.atleast_1d(d.values).sum()),
            "seeds": int(np.atleast_1d(d.values).size), "steps": reached,
            "median": float(np.median(reached)) if len(reached) else math.nan,
            "predicted": float(p.max()) if p.size else math.nan,
            "not_reached": int((~np.atleast_1d(d.values)).sum() - len(reached)),
        })
    return rows


def plot_warmup(ds):
    rows = warmup_numbers(ds)
    why_not = prediction_applies(ds)
    plt = _plt()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    have_trace = "trace_eq_gap" in ds
    have_sharp = "trace_sharpness" in ds
    n_panels = 2 + int(have_trace) + int(have_sharp)
    fig, axs = plt.subplots(1, n_panels, figsize=(5.0 * n_panels, 4.8), squeeze=False,
                            constrained_layout=True)
    axs = list(axs[0])
    ws = np.array([r["warmup"] for r in rows], dtype=float)
    cfg = config(ds)
    eta = float(cfg.get("optimizer.eta"))
    label_of = formatter(ws)
    if have_trace:  # the gap against the step, seed median of the runs that did not diverge
        ax = axs.pop(0)
        steps = ds["step"].values
        g = ds["trace_eq_gap"]
        rel = (g / g.isel(step=0)).where(~_diverged(ds))
        sigma = float(param(ds, "data.x_var").max() * param(ds, "data.noise_var").max() /
                      param(ds, "optimizer.batch").max())
        for n, w in enumerate(ds[WARMUP].values):
            med = rel.sel({WARMUP: w})
            med = med.median(SEED) if SEED in med.dims else med
            color = colors[n % len(colors)]
            ax.semilogy(steps, med.values, color=color, lw=1.3, label=f"warm-up {label_of(w)}")
            if why_not is None:
                one = dict(cfg, **{WARMUP: str(int(w))})
                sched = _eta_schedule(one, eta, int(steps.max()) + 1)
                cum = np.concatenate([[0.0], np.cumsum(sched ** 2 * sigma)])
                ax.semilogy(steps, np.exp(-cum[steps]), color=color, ls="--", lw=0.9)
        ax.axhline(GAP_FRACTION, color="k", lw=0.8, ls=":")
        ax.set_ylim(1e-3, 3)
        ax.set_xscale("symlog", linthresh=100)
        ax.set_xlim(0, steps.max())
        ax.set_xlabel("step (linear to 100, then log)")
        ax.set_ylabel("eq_gap / its start (seed median, diverged runs left out)")
        ax.set_title("the imbalance's decay" + ("; dashed: exp(-sum eta_k^2 sigma^2 / S)"
                                                 if why_not is None else ""), fontsize="medium")
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(0, -0.16), ncol=2,
                  frameon=False)
    if have_sharp:  # eta_t lambda_max(t) against 2: why the short warm-ups diverge
        ax = axs.pop(0)
        steps = ds["step"].values
        lam = ds["trace_sharpness"]
        for n, w in enumerate(ds[WARMUP].values):
            one = dict(cfg, **{WARMUP: str(int(w))})
            sched = _eta_schedule(one, eta, int(steps.max()) + 1)
            prod = lam.sel({WARMUP: w}) * sched[steps]
            med = prod.median(SEED) if SEED in prod.dims else prod
            ax.semilogy(steps, med.values, color=colors[n % len(colors)], lw=1.3)
        ax.axhline(2.0, color="k", lw=0.8, ls="--", label="eta lambda = 2 (GD's edge)")
        if why_not is None:
            s_batch = float(param(ds, "optimizer.batch").max())
            ax.axhline(2 * s_batch / (s_batch + 2), color="k", lw=0.8, ls=":",
                       label="eta lambda = 2S / (S + 2) (online SGD's mean-square edge, "
                       "Gaussian x)")
        ax.set_ylim(1e-3, 1e2)
        ax.set_xscale("symlog", linthresh=100)
        ax.set_xlim(0, steps.max())
        ax.set_xlabel("step (linear to 100, then log)")
        ax.set_ylabel("eta_t lambda_max(t) (seed median)")
        ax.set_title("step size times sharpness", fontsize="medium")
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(0, -0.16), frameon=False)
    ax = axs.pop(0)
    for j, r in enumerate(rows):
        ax.plot([r["warmup"]] * len(r["steps"]), r["steps"], ".", color="C0", alpha=0.5, ms=5)
    ax.plot(ws, [r["median"] for r in rows], "o-", color="C0", label="measured (median)")
    pred = np.array([r["predicted"] for r in rows])
    if np.isfinite(pred).any():
        ax.plot(ws, pred, "k--", lw=1.2, label="predicted from eta^2 sigma^2 / S (noise alone)")
    ax.plot(ws, ws, color="grey", ls=":", lw=1, label="t = warm-up length")
    ax.set_xscale("log")
    ax.set_yscale("log")
    dress_log(ax.xaxis, ws)
    ax.set_xlabel(WARMUP)
    ax.set_ylabel(f"steps until eq_gap <= {GAP_FRACTION} of its start")
    ax.set_title("steps to equilibrate (runs that did not diverge)", fontsize="medium")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(0, -0.16), frameon=False)
    ax = axs.pop(0)
    frac = [r["diverged"] / r["seeds"] for r in rows]
    ax.plot(ws, frac, "o-", color="C3")
    ax.set_xscale("log")
    dress_log(ax.xaxis, ws)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(WARMUP)
    ax.set_ylabel("fraction of seeds diverged")
    ax.set_title(f"divergence (eta = {eta:g})", fontsize="medium")
    fig.suptitle(f"{ds.attrs.get('model', '')}: warm-up from an imbalanced start", fontsize=10)
    lines = [f"warm-up (eta = {eta:g}; steps until eq_gap <= {GAP_FRACTION} of its start, over "
             "the seeds that did not diverge; predicted: the first t with sum_{k<t} eta_k^2 "
             "sigma_x^2 sigma_eps^2 / S >= ln 10):",
             f"  {'warmup':>7} {'diverged':>9} {'median':>8} {'min..max':>13} {'predicted':>9} "
             f"{'median/pred':>11}"]
    for r in rows:
        span = (f"{r['steps'].min():.0f}..{r['steps'].max():.0f}" if len(r["steps"]) else "-")
        lines.append(f"  {r['warmup']:7d} {r['diverged']:4d} of {r['seeds']:<2d} "
                     f"{r['median']:8.0f} {span:>13} {r['predicted']:9.0f} "
                     f"{r['median'] / r['predicted']:11.3f}"
                     + (f"   ({r['not_reached']} seed(s) never reached it)" if r["not_reached"]
                        else ""))
    if why_not is not None:
        lines.append(f"no prediction drawn: {why_not}")
    return fig, lines
