"""Phase diagrams: two swept axes on a plane, coloured by outcome and by eta * sharpness."""
import warnings

import numpy as np

# Colours of the outcomes this package knows; members the file declares beyond them take the
# next colour of EXTRA_COLORS. Member 0 (unknown) also covers pending and failed points.
OUTCOME_COLORS = {
    "unknown": "#bdbdbd",
    "converged": "#1b9e77",
    "diverged": "#d95f02",
    "moving": "#7570b3",
}
EXTRA_COLORS = ("#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4", "#666666")


def outcome_colors(names):
    """A colour for every outcome member, in code order."""
    extra = iter(EXTRA_COLORS * (1 + len(names) // len(EXTRA_COLORS)))
    return [OUTCOME_COLORS.get(name) or next(extra) for name in names]


def _to_plane(values, sweep, x, y):
    """Moves the x and y axes of a grid-shaped array to the front and flattens the rest:
    returns shape (len x, len y or 1, points per cell)."""
    names = list(sweep.axes)
    order = [names.index(x)] + ([names.index(y)] if y else [])
    rest = [i for i in range(len(names)) if i not in order]
    moved = np.transpose(values, order + rest)
    ny = moved.shape[1] if y else 1
    return moved.reshape(moved.shape[0], ny, -1)


def outcome_plane(sweep, x, y=None):
    """The most frequent outcome per cell over all other axes, as codes of the file's outcome
    members (pending and failed points count as unknown; ties go to the lower code).
    Rows: y, columns: x."""
    done = sweep.results["status"] == sweep.code("status", "done")
    outcome = np.where(done, sweep.results["outcome"], 0).astype(int)
    cells = _to_plane(outcome, sweep, x, y)
    counts = np.stack([(cells == k).sum(axis=-1) for k in range(len(sweep.enums["outcome"]))],
                      axis=-1)
    return counts.argmax(axis=-1).T


def stability_plane(sweep, x, y=None):
    """Median over other axes of eta * sharpness (NaN where diverged or not run). Rows: y."""
    product = sweep.param("optimizer.eta") * sweep.results["sharpness"]
    product = np.where(sweep.results["status"] == sweep.code("status", "done"), product, np.nan)
    cells = _to_plane(product, sweep, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        return np.nanmedian(cells, axis=-1).T


def _ticks(ax, values, which):
    labels = [f"{v:.3g}" for v in values]
    step = max(1, len(values) // 8)
    positions = np.arange(len(values))[::step]
    if which == "x":
        ax.set_xticks(positions, [labels[i] for i in positions], rotation=45, ha="right")
    else:
        ax.set_yticks(positions, [labels[i] for i in positions])


def default_axes(sweep):
    """eta on x and batch on y when swept; otherwise the first two axes."""
    names = list(sweep.axes)
    if not names:
        raise ValueError("the sweep has no axes: nothing to draw on a plane")
    x = "optimizer.eta" if "optimizer.eta" in names else names[0]
    others = [n for n in names if n != x]
    y = "optimizer.batch" if "optimizer.batch" in others else (others[0] if others else None)
    return x, y


def plot_phase(sweep, out, x=None, y=None):
    """Draws the outcome map and the eta * lambda_max map side by side into `out` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    if x is None:
        x, y = default_axes(sweep)
    for key in (x, y):
        if key is not None and key not in sweep.axes:
            raise ValueError(f"{key!r} is not an axis of {sweep.path}; axes: {list(sweep.axes)}")
    xs = sweep.axes[x]
    ys = sweep.axes[y] if y else np.array([0])

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    outcomes = sweep.enums["outcome"]
    colors = outcome_colors(outcomes)
    cmap = ListedColormap(colors)
    norm = BoundaryNorm(np.arange(len(outcomes) + 1) - 0.5, cmap.N)
    cols, rows = np.arange(len(xs)), np.arange(len(ys))  # cells at integer positions
    left.pcolormesh(cols, rows, outcome_plane(sweep, x, y), cmap=cmap, norm=norm,
                    shading="nearest")
    present = sorted(set(outcome_plane(sweep, x, y).ravel()))
    left.legend(handles=[Patch(color=colors[k], label=outcomes[k])
                         for k in present], loc="upper left", bbox_to_anchor=(1.01, 1),
                fontsize=8, frameon=False)
    left.set_title("outcome" + (" (most frequent over other axes)" if len(sweep.axes) > 2 else ""))

    plane = stability_plane(sweep, x, y)
    mesh = right.pcolormesh(cols, rows, plane, cmap="viridis", shading="nearest")
    fig.colorbar(mesh, ax=right, label=r"$\eta\,\lambda_{\max}(H)$ at the end")
    if np.isfinite(plane).sum() >= 4 and y is not None:
        masked = np.ma.masked_invalid(plane)
        if masked.min() < 2 < masked.max():
            right.contour(cols, rows, masked, levels=[2.0], colors="white", linewidths=1.5)
    right.set_title(r"$\eta\,\lambda_{\max}$ (white: the linear GD threshold 2)")

    for ax in (left, right):
        _ticks(ax, xs, "x")
        ax.set_xlabel(x)
        if y:
            _ticks(ax, ys, "y")
            ax.set_ylabel(y)
        else:
            ax.set_yticks([])
    status = sweep.results["status"]
    done = int((status == sweep.code("status", "done")).sum())
    seed = "seeds " + ", ".join(map(str, sweep.axes["sweep.seed"])) if "sweep.seed" in sweep.axes \
        else f"seed {sweep.attrs.get('seed')}"
    fig.suptitle(f"{sweep.attrs.get('name')}: model {sweep.attrs.get('model')}, "
                 f"{done}/{status.size} points done, {seed}")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
