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

Everything comes from the file: fields, enum members, descriptions and units are read, not
listed here, so fields added to symsweep need no change here. Reads serially with Debian's
xarray + h5netcdf (run with /usr/bin/python3).
"""
import configparser

import numpy as np
import xarray as xr

FORMAT = "symsweep/1"
GROUPS = (("results", ""), ("traces", "trace_"), ("run", "run_"))


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def open_sweep(path):
    """Reads a result file into memory as an xarray.Dataset; raises ValueError for a file that is
    not a symsweep/1 result file."""
    import h5py

    path = str(path)
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _text(v) for k, v in f.attrs.items()}
            groups = [g for g, _ in GROUPS if g in f]
            axes = list(f["axes"]) if "axes" in f else []
            # The grid order of the axes: the leading dimension labels of /results/status.
            order = [d.label for d in f["results/status"].dims][: len(axes)] \
                if "results/status" in f else axes
    except OSError as err:
        raise ValueError(f"{path}: not an HDF5 file ({err})") from None
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
    ds.attrs = attrs
    ds.attrs["axes"] = order  # grid order (xarray sorts nothing, but merging may reorder coords)
    ds.attrs["path"] = path
    return ds


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
