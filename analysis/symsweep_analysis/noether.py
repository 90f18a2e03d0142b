"""The Noether-flow sweeps (README, The science §2; jobs/sweeps/noether_*.ini, scale_invariance.ini):
their figures and their predicted-against-measured numbers.

    ds = open_sweep("noether_init.h5")
    kind = detect(ds)                        # "init", "rate" or "scale", from the model and axes
    fig, lines = ANALYSES[kind](ds)          # a figure and the printed table
    numbers = init_independence(ds)          # the numbers alone (dicts), for tests

`init` (an optimizer.method axis and an initial-imbalance axis): per method, the spread of the
conserved spectrum C (trace_C) across the starts, max - min over the imbalance axis per seed and
spectrum index, at the first record and at the end (C_final). GD can move C only by
eta^2 grad L^T A grad L per step, which (|A| = 1, the descent lemma) sums to at most
eta (L_0 - L_end) / (1 - eta lambda / 2), lambda the largest sharpness recorded; that bound per
point is the `allowed` drift of each C, and the spread can change by at most twice its largest.

`rate` (optimizer.eta and optimizer.batch axes): approach_rates of trace_C to 0 (the equilibrium
C = 0) per point, the fit rate ~ eta^a S^b (trace.fit_exponents), the rate against
eta^2 sigma_x^2 sigma_eps^2 / S (data.x_var, data.noise_var of the file), and the final
equilibrium eq_w_spectrum, eq_u_spectrum (the first value, time-averaged) against eq_predicted
per (eta, S), with its relative range across them.

`scale` (model scaleinv): per point, si_norm4_slope against si_norm4_slope_predicted where the
weight decay is 0, si_norm4_mean against si_norm4_predicted where it is not (seeds averaged).
"""
import numpy as np

from .dataset import axes, param
from .phase import dress_log, fmt, formatter
from .trace import SEED, approach_rates, fit_exponents

METHOD = "optimizer.method"
IMBALANCE_KEYS = ("model.init_imbalance", "model.init_u_scale", "model.init_w_scale",
                  "model.init_norm")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def detect(ds):
    """Which Noether analysis applies to the file: "scale", "init" or "rate"."""
    ax = axes(ds)
    if ds.attrs.get("model") == "scaleinv":
        return "scale"
    if METHOD in ax and any(k in ax for k in IMBALANCE_KEYS):
        return "init"
    if "optimizer.eta" in ax and "optimizer.batch" in ax and "trace_C" in ds \
            and ds.sizes.get("k", 1) == 1:
        return "rate"
    raise ValueError(f"{ds.attrs.get('path')}: no Noether analysis applies (model "
                     f"{ds.attrs.get('model')}, axes {', '.join(ax) or 'none'}); expected model "
                     "scaleinv, an optimizer.method axis with an initial-imbalance axis, or "
                     "optimizer.eta and optimizer.batch axes with one conserved C traced")


def _need(ds, *names):
    missing = [n for n in names if n not in ds]
    if missing:
        raise ValueError(f"{ds.attrs.get('path')} has no {', '.join(missing)}")


def _label(v):
    return v.decode() if isinstance(v, bytes) else str(v)


# ------------------------------------------------------------------------------ init-independence
def _imbalance_axis(ds):
    for key in IMBALANCE_KEYS:
        if key in axes(ds):
            return key
    raise ValueError(f"{ds.attrs.get('path')}: no initial-imbalance axis "
                     f"({', '.join(IMBALANCE_KEYS)})")


def init_independence(ds):
    """{method: {"initial", "final": spreads (seed-mean of the largest over k), "ratio",
    "ratio_min": the largest and smallest final/initial over seeds and k, "allowed": the
    largest drift bound of any point, "imbalance": the axis}}."""
    _need(ds, "trace_C", "C_final", "trace_loss", "final_loss")
    imb = _imbalance_axis(ds)
    out = {}
    for method in ds[METHOD].values:
        one = ds.sel({METHOD: method})
        c0 = one["trace_C"].isel(step=0)
        c1 = one["C_final"]
        s0 = c0.max(imb) - c0.min(imb)  # per seed (and k)
        s1 = c1.max(imb) - c1.min(imb)
        eta = param(one, "optimizer.eta")
        lam = one["trace_sharpness"].max("step") if "trace_sharpness" in one else one["sharpness"]
        allowed = eta * (one["trace_loss"].isel(step=0) - one["final_loss"]) / \
            (1 - eta * lam / 2)
        allowed = allowed.where(eta * lam < 2, np.inf)
        reduce_k = [d for d in s0.dims if d != SEED]
        out[_label(method)] = {
            "initial": float(s0.max(reduce_k).mean()),
            "final": float(s1.max(reduce_k).mean()),
            "ratio": float((s1 / s0).max()),
            "ratio_min": float((s1 / s0).min()),
            "allowed": float(allowed.max()),
            "imbalance": imb,
        }
    return out


def plot_init(ds):
    numbers = init_independence(ds)
    plt = _plt()
    imb = _imbalance_axis(ds)
    methods = [_label(m) for m in ds[METHOD].values]
    steps = ds["step"].values
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axs = plt.subplots(1, len(methods), figsize=(6 * len(methods), 4.8), squeeze=False,
                            sharey=True, constrained_layout=True)
    label_of = formatter(ds[imb].values)
    for ax, method, raw in zip(axs[0], methods, ds[METHOD].values):
        one = ds.sel({METHOD: raw})
        if SEED in one.dims:
            one = one.isel({SEED: 0})
        trace = one["trace_C"]
        ks = trace["k"].values if "k" in trace.dims else [None]
        for n, rho in enumerate(one[imb].values):
            for j, k in enumerate(ks):
                q = trace.sel({imb: rho})
                q = q.sel(k=k) if k is not None else q
                ax.plot(steps, q.values, color=colors[n % len(colors)],
                        ls=("-", "--", ":", "-.")[j % 4], lw=1.5,
                        label=f"{imb} = {label_of(rho)}" if j == 0 else None)
        if method == "sgd":
            ax.axhline(0, color="k", ls="--", lw=1, label="predicted equilibrium C = 0")
        r = numbers[method]
        ax.set_title(f"{method}: spread of C across starts {r['initial']:.3g} -> {r['final']:.3g}"
                     f" ({100 * r['final'] / r['initial']:.2g} %)", fontsize="medium")
        ax.set_xlabel("step")
    axs[0][0].set_ylabel("conserved C (spectrum; k = 0 solid, 1 dashed)")
    from matplotlib.ticker import MaxNLocator

    handles = {}
    for a in axs[0]:
        a.xaxis.set_major_locator(MaxNLocator(5))
        for ln in a.get_lines():
            if not ln.get_label().startswith("_"):
                handles.setdefault(ln.get_label(), ln)  # one entry per label, both panels
    axs[0][0].legend(handles=list(handles.values()), fontsize="small", loc="upper left",
                     frameon=False, bbox_to_anchor=(0, -0.14), ncol=2)  # below: covers nothing
    lines = [f"init-independence ({imb} x {METHOD}; spread = max - min of C across the starts, "
             "per seed and spectrum index):"]
    for method, r in numbers.items():
        lines.append(f"  {method}: initial spread {r['initial']:.6g}, final spread "
                     f"{r['final']:.6g} (final/initial {100 * r['ratio_min']:.4g} to "
                     f"{100 * r['ratio']:.4g} %)"
                     + (f"; allowed drift per C {r['allowed']:.4g}" if method == "gd" else ""))
    return fig, lines


# ------------------------------------------------------------------------------------------ rate
def rate_numbers(ds):
    """{"a", "b", "c": the fit, "cells": [(eta, S, rate, predicted, eq_w, eq_u, eq_pred)],
    "eq_range": (max - min) / mean of the equilibrium over the cells}."""
    _need(ds, "trace_C")
    rates = approach_rates(ds, "trace_C", final=0)
    a, b, c = fit_exponents(rates)
    mean_rate = np.exp(np.log(rates.where(rates > 0)).mean(SEED)) if SEED in rates.dims else rates
    sigma2 = param(ds, "data.x_var") * param(ds, "data.noise_var")
    predicted = param(ds, "optimizer.eta") ** 2 * sigma2 / param(ds, "optimizer.batch")
    if SEED in predicted.dims:
        predicted = predicted.isel({SEED: 0}, drop=True)
    eq = {}
    for name in ("eq_w_spectrum", "eq_u_spectrum", "eq_predicted"):
        if name in ds:
            field = ds[name]
            for d in [d for d in field.dims if d not in axes(ds)]:
                field = field.isel({d: 0})
            eq[name] = field.mean(SEED) if SEED in field.dims else field
    cells = []
    for eta in ds["optimizer.eta"].values:
        for s in ds["optimizer.batch"].values:
            at = {"optimizer.eta": eta, "optimizer.batch": s}
            cells.append((float(eta), int(s), float(mean_rate.sel(at)), float(predicted.sel(at)),
                          *(float(eq[n].sel(at)) if n in eq else np.nan
                            for n in ("eq_w_spectrum", "eq_u_spectrum", "eq_predicted"))))
    eqs = np.array([[c[4], c[5]] for c in cells])
    eq_range = float((np.nanmax(eqs) - np.nanmin(eqs)) / np.nanmean(eqs)) if eq else np.nan
    return {"a": a, "b": b, "c": c, "rates": rates, "cells": cells, "eq_range": eq_range}


def plot_rate(ds):
    numbers = rate_numbers(ds)
    plt = _plt()
    steps = ds["step"].values
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    batches = sorted({cell[1] for cell in numbers["cells"]})
    etas = np.array(sorted({cell[0] for cell in numbers["cells"]}))
    # One panel per S (cells with equal eta^2/S, e.g. (0.01, 1) and (0.02, 4), fall on the same
    # line from the same start: in one panel they would hide each other), colour per eta.
    fig, axs = plt.subplots(1, len(batches) + 1, figsize=(4.2 * len(batches) + 5.5, 4.8),
                            constrained_layout=True,
                            gridspec_kw={"width_ratios": [1] * len(batches) + [1.3]})
    bx = axs[-1]
    c = ds["trace_C"]
    for d in [d for d in c.dims if d not in axes(ds) and d != "step"]:
        c = c.isel({d: 0})
    eta_label = formatter(ds["optimizer.eta"].values)
    from matplotlib.ticker import MaxNLocator

    for eta, s, rate, pred, *_r in numbers["cells"]:
        ax = axs[batches.index(s)]
        q = np.abs(c.sel({"optimizer.eta": eta, "optimizer.batch": s}, method="nearest"))
        q = q.where(q > 0)  # C exactly 0: u^2 = w^2 to the last bit, below the rounding floor
        q = np.exp(np.log(q).mean(SEED)) if SEED in q.dims else q
        color = colors[int(np.argmin(np.abs(etas - eta))) % len(colors)]
        ax.semilogy(steps, q.values, color=color, lw=1.5, label=f"eta = {eta_label(eta)}")
        ax.semilogy(steps, float(q.values[1]) * np.exp(-pred * (steps - steps[1])), color=color,
                    ls="--", lw=0.9)
        ax.set_title(f"S = {s}", fontsize="medium")
    for ax in axs[:-1]:
        ax.set_ylim(bottom=1e-16)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(4))
        if ax is not axs[0]:
            ax.sharey(axs[0])
            ax.tick_params(labelleft=False)
    axs[0].set_ylabel("|C| = |u^2 - w^2| (geometric mean over seeds)")
    handles = axs[0].get_lines()[::2]
    from matplotlib.lines import Line2D

    handles = list(handles) + [Line2D([], [], color="grey", ls="--", lw=0.9,
                                      label="predicted exp(-eta^2 sigma^2 t / S)")]
    axs[0].legend(handles=handles, fontsize="small", loc="upper left", frameon=False,
                  bbox_to_anchor=(0, -0.16), ncol=1)  # below: the lines fill every corner
    fig.suptitle("Noether flow of C = u^2 - w^2 to 0, one panel per batch size S", fontsize=10)
    # Right: measured / predicted per cell against eta, one series per S (dodged by a few % in
    # eta so none hides another): cells with equal eta^2/S, which a measured-against-predicted
    # plot puts on top of each other, stay apart.
    markers = "osD^v<>"
    for m, s in enumerate(batches):
        cells = [cell for cell in numbers["cells"] if cell[1] == s]
        x = np.array([cell[0] for cell in cells]) * 1.025 ** (m - (len(batches) - 1) / 2)
        ratio = np.array([cell[2] / cell[3] for cell in cells])
        bx.plot(x, ratio, marker=markers[m % 7], ls="-", lw=0.8, label=f"S = {s}")
    bx.axhline(1.0, color="k", ls="--", lw=1, label="measured = predicted")
    bx.set_xscale("log")
    dress_log(bx.xaxis, etas)
    bx.set_xlim(etas.min() / 1.15, etas.max() * 1.15)
    bx.set_xlabel("optimizer.eta (series dodged by 2.5 % per S)")
    bx.set_ylabel("measured rate / predicted rate")
    bx.set_title(f"predicted eta^2 sigma_x^2 sigma_eps^2 / S per step\nrate ~ eta^a S^b: "
                 f"a = {numbers['a']:.3f}, b = {numbers['b']:.3f} (predicted 2, -1)",
                 fontsize="medium")
    bx.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    lines = ["Noether flow rate (C = u^2 - w^2 -> 0; rate: |C(t)| ~ exp(-rate step), seeds "
             "averaged in log):",
             f"  {'eta':>8} {'S':>3} {'rate':>11} {'predicted':>11} {'ratio':>6}   "
             f"{'eq_w':>8} {'eq_u':>8} {'eq_predicted':>12}"]
    for eta, s, rate, pred, w, u, p in numbers["cells"]:
        lines.append(f"  {eta:8.4g} {s:3d} {rate:11.4e} {pred:11.4e} {rate / pred:6.3f}   "
                     f"{w:8.4f} {u:8.4f} {p:12.4f}")
    lines.append(f"rate ~ eta^a S^b: a = {numbers['a']:.4f}, b = {numbers['b']:.4f} "
                 f"(predicted a = 2, b = -1)")
    lines.append(f"equilibrium across (eta, S): relative range {100 * numbers['eq_range']:.3g} % "
                 "of its mean (eq_w_spectrum and eq_u_spectrum, first value)")
    return fig, lines


# ------------------------------------------------------------------------------- scale invariance
def scale_numbers(ds):
    """[(weight_decay, S, kind, measured, predicted)] per (weight decay, batch), seeds averaged;
    kind is "slope" where the weight decay is 0, else "norm4"."""
    _need(ds, "si_norm4_slope", "si_norm4_slope_predicted", "si_norm4_mean", "si_norm4_predicted")
    gamma = param(ds, "optimizer.weight_decay")
    others = [a for a in axes(ds) if a != SEED]

    def mean(da):
        return da.mean(SEED) if SEED in da.dims else da

    table = mean(ds[["si_norm4_slope", "si_norm4_slope_predicted", "si_norm4_mean",
                     "si_norm4_predicted"]].assign(gamma=gamma))
    flat = table.stack(_p=others) if others else table.expand_dims(_p=[0])
    rows = []
    batch = param(ds, "optimizer.batch")
    batch = mean(batch).stack(_p=others) if others else batch.expand_dims(_p=[0])
    for j in range(flat.sizes["_p"]):
        p = flat.isel(_p=j)
        g, s = float(p["gamma"]), int(batch.isel(_p=j))
        if g == 0:
            rows.append((g, s, "slope", float(p["si_norm4_slope"]),
                         float(p["si_norm4_slope_predicted"])))
        else:
            rows.append((g, s, "norm4", float(p["si_norm4_mean"]), float(p["si_norm4_predicted"])))
    return rows


def plot_scale(ds):
    rows = scale_numbers(ds)
    plt = _plt()
    steps = ds["step"].values
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axs = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    norm4 = ds["trace_C"] ** 2  # C = |theta|^2
    for d in [d for d in norm4.dims if d not in axes(ds) and d != "step"]:
        norm4 = norm4.isel({d: 0})
    gamma = param(ds, "optimizer.weight_decay")
    batch = param(ds, "optimizer.batch")
    others = [a for a in axes(ds) if a != SEED]
    stacked = norm4.stack(_p=others) if others else norm4.expand_dims(_p=[0])
    g_st = (gamma.stack(_p=others) if others else gamma.expand_dims(_p=[0]))
    s_st = (batch.stack(_p=others) if others else batch.expand_dims(_p=[0]))
    for j, (g, s, kind, measured, predicted) in enumerate(rows):
        one = stacked.isel(_p=j)
        gj = g_st.isel(_p=j)
        sj = s_st.isel(_p=j)
        if SEED in gj.dims:
            gj, sj = gj.isel({SEED: 0}), sj.isel({SEED: 0})
        assert float(gj) == g and int(sj) == s
        ax = axs[0] if kind == "slope" else axs[1]
        color = colors[j % len(colors)]
        mean = one.mean(SEED) if SEED in one.dims else one
        if SEED in one.dims:
            for k in range(one.sizes[SEED]):
                ax.plot(steps, one.isel({SEED: k}).values, color=color, lw=0.6, alpha=0.35)
        ax.plot(steps, mean.values, color=color, lw=1.8, label=f"gamma = {fmt(g)}, S = {s}")
        if kind == "slope":
            end = float(mean.values[-1])
            ax.plot(steps, end + predicted * (steps - steps[-1]), color=color, ls="--", lw=1.2)
        else:
            ax.axhline(predicted, color=color, ls="--", lw=1.2)
    axs[0].set_title("no weight decay: |theta|^4 grows\ndashed: predicted slope "
                     "2 eta^2 Tr Sigma(theta_hat) / S", fontsize="medium")
    axs[1].set_title("weight decay gamma: |theta|^4 stops\ndashed: predicted |theta*|^4 = "
                     "eta Tr Sigma(theta_hat) / (2 S gamma)", fontsize="medium")
    axs[1].set_yscale("log")
    for ax in axs:
        ax.set_xlabel("step")
        ax.set_ylabel("|theta|^4")
        if ax.lines:  # below the panel: the curves fill its corners
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(0, -0.14), ncol=2,
                      frameon=False)
    axs[1].autoscale_view()
    dress_log(axs[1].yaxis)
    lines = ["scale invariance (seeds averaged; slope per step over record.final_window):",
             f"  {'gamma':>7} {'S':>3} {'quantity':<14} {'measured':>12} {'predicted':>12} "
             f"{'error':>8}"]
    for g, s, kind, measured, predicted in rows:
        name = "slope |th|^4" if kind == "slope" else "|theta*|^4"
        lines.append(f"  {g:7g} {s:3d} {name:<14} {measured:12.5g} {predicted:12.5g} "
                     f"{100 * (measured - predicted) / predicted:+7.2f}%")
    return fig, lines


ANALYSES = {"init": plot_init, "rate": plot_rate, "scale": plot_scale}
