"""Refined sweeps (format symsweep-refine/1, `[refine]` in the config): the point table and its
fine grid.

    ds = open_sweep("refined.h5")    # the point table: one row per point run, along `point`
    grid = to_grid(ds)               # the fine grid of [axes]: NaN (enum: member 0, status
                                     # pending) where a point is not resolved
    grid.outcome.sel({"model.beta": 0.1}, method="nearest")

The table's coordinates along `point`: its flat index in the whole grid (`point`), its `level`,
and the value of every axis. A fine-grid point is resolved when it was computed, or lies in a
cell (of the refinement's cells, coarse to fine) that was not split and whose corners are all done
and agree under the config's refine.rule on refine.field; to_grid gives it the values of its
nearest corner (the lower one, per axis, at a tie), as symsweep's refine.hpp defines it. The
rules mirror refine.hpp: equal (the same value at every point of the other axes, NaN equal to
NaN), sign, threshold, and fraction (the two-proportion rule over the seeds).
"""
import numpy as np
import xarray as xr

REFINE_FORMAT = "symsweep-refine/1"
GROUPS = (("results", ""), ("traces", "trace_"), ("run", "run_"))


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def read_table(path, attrs):
    """The planned rows of a point table as an xarray.Dataset along `point` (unmasked)."""
    import h5py

    with h5py.File(path, "r") as f:
        rows = int(f["refine/rows"][()])
        flat = f["point"][:rows].astype(np.int64)
        order = f["point"].attrs["axes"]
        order = _text(order).split() if len(_text(order)) else []
        axis_values = {key: f[key][()] for key in order}
        shape = tuple(len(axis_values[k]) for k in order)
        coords = np.unravel_index(flat, shape) if order else ()
        ds = xr.Dataset()
        ds.coords["point"] = ("point", flat)
        ds.coords["level"] = ("point", f["refine/level"][:rows].astype(np.int64))
        for k, key in enumerate(order):
            v = axis_values[key]
            if v.dtype.kind == "S":
                v = v.astype(str)
            ds.coords[key] = ("point", v[coords[k]])
        for group, prefix in GROUPS:
            if group not in f:
                continue
            for name, obj in f[group].items():
                if not isinstance(obj, h5py.Dataset) or "CLASS" in obj.attrs:
                    continue  # a link to a scale
                dims = ["point"] + [d.label or f"dim_{i}" for i, d in enumerate(obj.dims)][1:]
                data = obj[:rows]
                if h5py.check_enum_dtype(obj.dtype):
                    data = data.astype(np.uint8)
                var = xr.DataArray(data, dims=dims)
                var.attrs = {k: _text(v) for k, v in obj.attrs.items()
                             if k not in ("DIMENSION_LIST", "DIMENSION_LABELS", "REFERENCE_LIST")}
                ds[prefix + name] = var
        for dim in ds.dims:
            if dim != "point" and dim in f and dim not in ds.coords:
                ds.coords[dim] = (dim, f[dim][()])
    ds.attrs = dict(attrs)
    ds.attrs["grid_axes"] = order
    ds.attrs["grid_shape"] = list(shape)
    ds.attrs["axes"] = ["point"]
    ds.attrs["refined"] = 1
    return ds


def _config(ds):
    from .dataset import config

    return config(ds)


class _Rule:
    """refine.rule of the file's config (refine.hpp)."""

    def __init__(self, ds):
        cfg = _config(ds)
        self.field = cfg.get("refine.field", "outcome")
        self.rule = cfg.get("refine.rule", "equal")
        self.threshold = float(cfg.get("refine.threshold", "0"))
        self.z = float(cfg.get("refine.z", "2"))
        self.member = cfg.get("refine.member", "diverged")
        self.code = None
        if self.rule == "fraction":
            from .dataset import members

            self.code = members(ds[self.field]).index(self.member)

    def classes(self, v):
        if self.rule == "sign":
            return np.where(np.isnan(v), 3, np.sign(np.nan_to_num(v)) + 1)
        if self.rule == "threshold":
            return np.where(np.isnan(v), 3, (v > self.threshold).astype(float))
        return np.where(np.isnan(v), np.inf, v)  # equal: NaN equals NaN

    def disagree(self, corners, seed_axis):
        """corners: (corner, other axes...) values; seed_axis: the seed axis among the others."""
        c = np.asarray(corners, dtype=float)
        if self.rule == "fraction":
            n = c.shape[1 + seed_axis]
            k = (c == self.code).sum(axis=1 + seed_axis).reshape(len(c), -1)
            hi, lo = k.max(axis=0), k.min(axis=0)
            p = (hi + lo) / (2 * n)
            return bool(np.any((hi - lo) / n > self.z * np.sqrt(2 * p * (1 - p) / n)))
        cls = self.classes(c.reshape(len(c), -1))
        return bool(np.any(cls != cls[0]))


def structure(ds):
    """The refinement of a point table as refine.hpp walks it: (source, cells). source: for every
    location of the fine grid (refined axes, row-major), the flat location index whose values
    stand for it (-1: not resolved); cells: (origin, size, kind) of every cell not split, kind
    "agree", "disagree" (unsplit: the budget, or a corner not done) ."""
    from .dataset import code

    cfg = _config(ds)
    order = list(ds.attrs["grid_axes"])
    shape = tuple(ds.attrs["grid_shape"])
    refined = [k for k in cfg["refine.axes"].replace(",", " ").split() if k]
    rdims = [order.index(k) for k in order if k in refined]
    others = [d for d in range(len(order)) if d not in rdims]
    lengths = [shape[d] for d in rdims]
    levels = int(cfg.get("refine.levels", "4"))
    step = 2 ** levels
    rule = _Rule(ds)
    seed_axis = others.index(order.index("sweep.seed")) if "sweep.seed" in order and \
        order.index("sweep.seed") in others else 0
    # The field at every point of the grid, laid out (refined..., others...); NaN where not done.
    coords = np.unravel_index(ds["point"].values, shape)
    ok = ds["status"].values == code(ds["status"], "done")
    full = np.full(shape, np.nan)
    full[tuple(c[ok] for c in coords)] = ds[rule.field].values[ok].astype(float)
    alldone = np.zeros(shape, dtype=bool)
    alldone[tuple(c[ok] for c in coords)] = True
    present_pts = np.zeros(shape, dtype=bool)
    present_pts[coords] = True
    perm = rdims + others
    full = full.transpose(perm)
    k = len(rdims)
    other_shape = full.shape[k:]
    computed = alldone.transpose(perm).reshape(tuple(lengths) + (-1,)).all(axis=-1)
    present = present_pts.transpose(perm).reshape(tuple(lengths) + (-1,)).any(axis=-1)
    source = np.full(tuple(lengths), -1, dtype=np.int64)
    cells_out = []
    corner_offsets = np.array(np.meshgrid(*[[0, 1]] * k, indexing="ij")).reshape(k, -1).T
    cells = [tuple(c) for c in np.array(np.meshgrid(
        *[np.arange(0, n - step, step) for n in lengths], indexing="ij")).reshape(k, -1).T]
    size = step
    while cells and size >= 1:
        nxt = set()
        for origin in cells:
            o = np.array(origin)
            if size >= 2 and present[tuple(o + size // 2)]:
                for off in corner_offsets:
                    nxt.add(tuple(o + off * (size // 2)))
                continue
            corners = [tuple(o + off * size) for off in corner_offsets]
            known = all(computed[c] for c in corners)
            agree = known and not rule.disagree(
                np.stack([full[c].reshape(other_shape) for c in corners]), seed_axis)
            cells_out.append((origin, size, "agree" if agree else "disagree"))
            if not agree:
                continue
            idx = [np.arange(o[d], o[d] + size + 1) for d in range(k)]
            near = [np.where(i - o[d] <= size // 2, o[d], o[d] + size) for d, i in enumerate(idx)]
            box = np.ix_(*idx)
            src = np.ravel_multi_index(np.meshgrid(*near, indexing="ij"), tuple(lengths))
            sub = source[box]
            source[box] = np.where(sub < 0, src, sub)
        cells = sorted(nxt)
        size //= 2
    flat_all = np.arange(int(np.prod(lengths))).reshape(tuple(lengths))
    source[computed] = flat_all[computed]
    return source, cells_out, dict(order=order, shape=shape, rdims=rdims, others=others,
                                   lengths=lengths, perm=perm)


def to_grid(ds):
    """The point table resampled onto the fine grid of [axes] (see the module docstring): every
    field at every grid point, from its nearest computed point where it is resolved; where not,
    NaN in real and integer fields, member 0 in enum fields and status `pending` (so that every
    command draws it as no data). New variables: `resolved` and `computed` (booleans)."""
    from .dataset import _mask, code, done

    if not ds.attrs.get("refined"):
        raise ValueError(f"{ds.attrs.get('path')}: not a refined sweep's point table")
    source, _, g = structure(ds)
    order, shape, perm = g["order"], tuple(g["shape"]), g["perm"]
    k = len(g["rdims"])
    n_loc = int(np.prod(g["lengths"]))
    m = int(np.prod(shape)) // n_loc
    inverse = np.argsort(perm)
    resolved_loc = (source >= 0).reshape(-1)
    src = np.where(resolved_loc, source.reshape(-1), 0)
    ok = done(ds).values
    rows = ds["point"].values
    out = xr.Dataset()
    for key in order:
        values, attrs = _axis_values(ds, key)
        out.coords[key] = xr.DataArray(values, dims=key, attrs=attrs)
    for dim in ds.dims:
        if dim != "point" and dim in ds.coords:
            out.coords[dim] = ds.coords[dim]
    for name, var in ds.data_vars.items():
        tail = var.shape[1:]
        enum = "flag_meanings" in var.attrs
        fill = 0 if enum else np.nan
        dtype = var.dtype if enum else float
        full = np.full((int(np.prod(shape)),) + tail, fill, dtype=dtype)
        full[rows] = var.values
        if not enum and name != "status":
            full[rows[~ok]] = np.nan
        # (refined..., others..., tail) -> (locations, m, tail): copy each location's source.
        lay = full.reshape(shape + tail).transpose(perm + list(range(len(shape),
                                                                      len(shape) + len(tail))))
        lay = lay.reshape((n_loc, m) + tail).copy()
        if name == "status":
            lay = np.broadcast_to(np.where(resolved_loc, code(ds["status"], "done"), 0).reshape(
                (n_loc,) + (1,) * (lay.ndim - 1)), lay.shape).astype(dtype)
        else:
            lay = lay[src]
            lay[~resolved_loc] = fill
        back = lay.reshape(tuple(shape[p] for p in perm) + tail).transpose(
            list(inverse) + list(range(len(shape), len(shape) + len(tail))))
        out[name] = xr.DataArray(back, dims=order + list(var.dims[1:]), attrs=dict(var.attrs))
    lay = (source >= 0).reshape(g["lengths"] + [1] * (len(shape) - k))
    shape_perm = tuple(shape[p] for p in perm)
    out["resolved"] = xr.DataArray(np.broadcast_to(lay, shape_perm).transpose(inverse),
                                   dims=order)
    computed = np.zeros(int(np.prod(shape)), dtype=bool)
    computed[rows[ok]] = True
    out["computed"] = xr.DataArray(computed.reshape(shape), dims=order)
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in ("refined", "grid_axes",
                                                                 "grid_shape")}
    out.attrs["axes"] = order
    out.attrs["refined_points"] = int(ok.sum())
    return _mask(out) if ds.attrs.get("masked") else out


def _axis_values(ds, key):
    """An axis's values and its scale's attributes (expression, description)."""
    import h5py

    with h5py.File(ds.attrs["path"], "r") as f:
        v = f[key][()]
        attrs = {k: _text(a) for k, a in f[key].attrs.items() if k in ("expression",
                                                                         "description")}
    return (v.astype(str) if v.dtype.kind == "S" else v), attrs
