"""A symsweep result file as one xarray.Dataset.

    from symsweep_analysis import open_sweep
    ds = open_sweep("results/quickstart.h5")
    ds.final_loss.sel({"optimizer.batch": 64}).mean("sweep.seed")
    outcome_fractions(ds).sel(outcome="diverged")      # per cell, over the seeds

Variables: every field of /results under its own name, every field of /traces as trace_<name>
(with the `step` coordinate), every field of /run as run_<name>. Coordinates: the swept axes (in
grid order) and the trailing dimensions (k, step, and those a model declares). Enum fields keep
their codes, with `flag_values` and `flag_meanings` (CF) in their attributes: `members(da)` gives
the names, `decode(da)` the names per point. The file's root attributes (provenance, the resolved
`config_text`) are the Dataset's attributes; `param(ds, key)` gives any key's value at every point,
swept or fixed.

Masked by default (a change of contract from the first version, which returned the stored
values): a point's fields are results only once its status is done; the store leaves a point not
yet run (pending, e.g. a killed or still running sweep) with zeros and a failed one with the fill
values, and neither is a result. So at every point whose status is not done, open_sweep gives NaN
in every real field, every integer field (which therefore reads as float64, with the attribute
`stored_dtype` naming the stored type) and every /run field,
and member 0 in every enum field (the store's fill: `unknown` for outcome). `status` itself is
never masked. `open_sweep(path, raw=True)` gives the stored values unmasked, with their stored
types (compare uses it: it compares bits). `left_out(ds)` is the one line every command prints
about the points it left out.

A refined sweep's file (format symsweep-refine/1) opens as its point table: one row per point
run, along the dimension `point`, with every axis as a coordinate along it; `to_grid(ds)`
(refine.py) resamples it onto the grid of [axes], masked where a point is not resolved.

Everything comes from the file: fields, enum members, descriptions and units are read, not
listed here, so fields added to symsweep need no change here. Reads serially with Debian's
xarray + h5netcdf (run with /usr/bin/python3).
"""
import configparser

import numpy as np
import xarray as xr

FORMAT = "symsweep/1"
SHARD_FORMAT = "symsweep-shard/1"  # symsweep run --shard i/N: a part of a grid, to merge
REFINE_FORMAT = "symsweep-refine/1"  # [refine]: a point table (refine.py; to_grid)
GROUPS = (("results", ""), ("traces", "trace_"), ("run", "run_"))


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def open_sweep(path, raw=False):
    """Reads a result file into memory as an xarray.Dataset, masked by status (see the module
    docstring) unless raw; raises ValueError for a file that is missing or not a symsweep/1
    result file."""
    import os

    import h5py

    path = str(path)
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path}: a directory, not a result file")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _text(v) for k, v in f.attrs.items()}
            groups = [g for g, _ in GROUPS if g in f]
            axes = list(f["axes"]) if "axes" in f else []
            # The grid order of the axes: the leading dimension labels of /results/status.
            order = [d.label for d in f["results/status"].dims][: len(axes)] \
                if "results/status" in f else axes
            # HDF5 enum types: their members, for files written before the CF attributes
            enums = {}
            for group, prefix in GROUPS:
                for name, obj in (f[group].items() if group in f else ()):
                    mapping = h5py.check_enum_dtype(getattr(obj, "dtype", None)) \
                        if isinstance(obj, h5py.Dataset) else None
                    if mapping:
                        enums[prefix + name] = mapping
    except OSError as err:
        raise ValueError(f"{path}: not an HDF5 file ({err})") from None
    if attrs.get("format") == SHARD_FORMAT:
        raise ValueError(
            f"{path}: a shard file (part {attrs.get('shard_index')} of {attrs.get('shard_count')}: "
            f"points [{attrs.get('shard_first')}, {attrs.get('shard_end')}) of "
            f"{attrs.get('n_points')}, along one flat point dimension); merge the shards first: "
            "symsweep merge OUT.h5 SHARD.h5...")
    if attrs.get("format") == REFINE_FORMAT:  # a refined sweep: its point table (refine.py)
        from .refine import read_table

        ds = read_table(path, attrs)
        ds.attrs["path"] = path
        ds.attrs["masked"] = int(not raw)
        return ds if raw else _mask(ds)
    if attrs.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} result file (format={attrs.get('format')!r})")
    parts = []
    for group, prefix in GROUPS:
        if group not in groups:
            continue
        with xr.open_dataset(path, group=group, engine="h5netcdf") as part:
            part = part.load()
        part = part.rename({name: prefix + name for name in part.data_vars})
        parts.append(part)
    ds = xr.merge(parts, combine_attrs="override")
    for name in ds.data_vars:  # h5netcdf gives the dimension labels; keep only CF-style attributes
        ds[name].attrs = {k: _text(v) for k, v in ds[name].attrs.items()
                          if k not in ("DIMENSION_LABELS", "DIMENSION_LIST")}
        if name in enums and "flag_meanings" not in ds[name].attrs:
            pairs = sorted(enums[name].items(), key=lambda kv: kv[1])
            ds[name].attrs["flag_values"] = np.array([v for _, v in pairs], dtype=np.uint8)
            ds[name].attrs["flag_meanings"] = " ".join(k for k, _ in pairs)
    ds.attrs = attrs
    ds.attrs["axes"] = order  # grid order (xarray sorts nothing, but merging may reorder coords)
    ds.attrs["path"] = path
    if "status" not in ds:
        raise ValueError(f"{path}: not a {FORMAT} result file (no /results/status)")
    ds.attrs["masked"] = int(not raw)
    return ds if raw else _mask(ds)


def _is_enum(da):
    return "flag_meanings" in da.attrs


def _mask(ds):
    """NaN (or enum member 0) at every point whose status is not done."""
    ok = done(ds)
    if bool(ok.all()):
        ok = None  # nothing to mask; integer fields still become float64 (one type whatever data)
    for name in list(ds.data_vars):
        da = ds[name]
        if name == "status" or not set(ok.dims if ok is not None else ()) <= set(da.dims):
            continue
        if _is_enum(da):
            if ok is not None:
                ds[name] = da.where(ok, 0).astype(da.dtype)
                ds[name].attrs = da.attrs
            continue
        if da.dtype.kind not in "fiu":
            continue
        attrs = dict(da.attrs)
        if da.dtype.kind in "iu":
            attrs["stored_dtype"] = str(da.dtype)  # read as float64 for the NaN; stored integer
        ds[name] = (da.astype(float) if ok is None else da.where(ok)).astype(float)
        ds[name].attrs = attrs
    return ds


def status_counts(ds):
    """{member: number of points} of the status field (every member, zeros included)."""
    names = members(ds["status"])
    return {n: int((ds["status"] == k).sum()) for k, n in enumerate(names) if n is not None}


def left_out(ds, what="point(s)"):
    """One line about the points not done (left out of every number and figure), or None when
    every point is done."""
    counts = status_counts(ds)
    total = int(ds["status"].size)
    missing = {n: c for n, c in counts.items() if n != "done" and c}
    if not missing:
        return None
    why = ", ".join(f"{c} {n}" for n, c in missing.items())
    return (f"left out {sum(missing.values())} of {total} {what} whose status is not done "
            f"({why}): shown as no data, in no number")


def axes(ds):
    """The swept axes, in grid order."""
    return list(ds.attrs["axes"])


def members(da):
    """The member names of an enum field, by code."""
    meanings = da.attrs.get("flag_meanings")
    if meanings is None:
        raise ValueError(f"{da.name} is not an enum field (no flag_meanings)")
    names = meanings.split()
    codes = [int(c) for c in np.atleast_1d(da.attrs["flag_values"])]
    out = [None] * (max(codes) + 1)
    for code, name in zip(codes, names):
        out[code] = name
    return out


def code(da, member):
    """The code of an enum member, e.g. code(ds.status, "done")."""
    return members(da).index(member)


def decode(da):
    """An enum field's member names at every point (a DataArray of str)."""
    names = np.array(members(da), dtype=object)
    return xr.DataArray(names[da.values.astype(int)], coords=da.coords, dims=da.dims, name=da.name)


def config(ds):
    """The resolved configuration: {"optimizer.eta": "0.01", ...} (every key, axes as written)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(ds.attrs["config_text"])
    return {f"{s}.{k}": v for s in parser.sections() for k, v in parser[s].items()}


def param(ds, key):
    """The value of a numeric key at every grid point, swept or fixed, as a DataArray over the
    axes."""
    shape_like = ds["status"]
    if key in ds.coords and key in axes(ds):
        return ds[key].astype(float).broadcast_like(shape_like)
    value = config(ds).get(key)
    if value is None:
        raise KeyError(f"{key!r} is neither an axis nor a key of the resolved config")
    return xr.full_like(shape_like, float(value), dtype=float)


def values(ds, key):
    """The value of any key (numeric or text) at every grid point, swept or fixed, as a DataArray
    over the axes (text as str)."""
    shape_like = ds["status"]
    if key in ds.coords and key in axes(ds):
        v = ds[key]
        if v.dtype.kind == "S":
            v = v.astype(str)
        return v.broadcast_like(shape_like)
    value = config(ds).get(key)
    if value is None:
        raise KeyError(f"{key!r} is neither an axis nor a key of the resolved config")
    try:
        return xr.full_like(shape_like, float(value), dtype=float)
    except ValueError:
        return xr.full_like(shape_like, value.strip(), dtype=object)


def deterministic(ds):
    """True at the points whose run is deterministic: optimizer.method gd, or a finite data set
    with optimizer.batch >= data.n (full-batch GD); keys the file lacks take symsweep's defaults
    (sgd, finite)."""
    def text(key, default):
        try:
            return values(ds, key).astype(str)
        except KeyError:
            return xr.full_like(ds["status"], default, dtype=object).astype(str)

    gd = text("optimizer.method", "sgd") == "gd"
    finite = text("data.mode", "finite") == "finite"
    try:
        full = param(ds, "optimizer.batch") >= param(ds, "data.n")
    except (KeyError, ValueError):
        full = xr.zeros_like(ds["status"], dtype=bool)
    return gd | (finite & full)


def done(ds):
    """True where a point's results are in the file (status done)."""
    return ds["status"] == code(ds["status"], "done")


def outcome_fractions(ds, over=None):
    """The fraction of done points per outcome member, over the dimensions `over` (default: every
    axis that is not on a plane, i.e. sweep.seed when it is swept). New dimension `outcome`."""
    over = [d for d in (over if over is not None else ["sweep.seed"]) if d in ds.dims]
    names = members(ds["outcome"])
    ok = done(ds)
    parts = [((ds["outcome"] == k) & ok).sum(over) for k in range(len(names))]
    total = ok.sum(over)
    frac = xr.concat(parts, dim="outcome") / total.where(total > 0)
    return frac.assign_coords(outcome=names)
