"""`python3 -m symsweep_analysis inspect FILE.h5`: a summary of a result file, as `symsweep inspect`
prints it (provenance, axes, the points per member of every enum field, the range of every real
field), read with h5py and xarray alone: no symsweep build needed. Ranges are over the done
points (open_sweep masks the others); the status counts say how many those are.
"""
import numpy as np

from .dataset import axes, left_out, members, open_sweep

PROVENANCE = ("format", "numerics_version", "symsweep_version", "git_commit", "created_utc",
              "command_line", "mpi_ranks", "omp_threads", "hosts", "n_points", "config_sha256")


def describe(path):
    """The summary as text."""
    ds = open_sweep(path)
    out = [f"{path}: sweep {ds.attrs.get('name')}, model {ds.attrs.get('model')}"]
    out += [f"  {k}: {ds.attrs[k]}" for k in PROVENANCE if k in ds.attrs]
    out.append(f"axes ({' x '.join(str(ds.sizes[a]) for a in axes(ds)) or 'none'} = "
               f"{ds['status'].size} point(s)):")
    for a in axes(ds):
        expr = ds[a].attrs.get("expression", "")
        vals = ", ".join(str(v.decode() if isinstance(v, bytes) else v)
                         for v in ds[a].values[:6]) + (", ..." if ds.sizes[a] > 6 else "")
        out.append(f"  {a} = {expr or vals} ({ds.sizes[a]} value(s): {vals})")
    note = left_out(ds)
    if note:
        out.append(note)
    out.append("enum fields (points per member; outcome and the others over done points):")
    for name in ds.data_vars:
        da = ds[name]
        if "flag_meanings" not in da.attrs:
            continue
        ok = ds["status"] == members(ds["status"]).index("done")
        counts = []
        for k, m in enumerate(members(da)):
            if m is None:
                continue
            hit = (da == k) if name == "status" else ((da == k) & ok)
            counts.append(f"{m} {int(hit.sum())}")
        out.append(f"  {name}: {', '.join(counts)}")
    out.append("real fields (finite values at done points: min / median / max):")
    for name in ds.data_vars:
        da = ds[name]
        if "flag_meanings" in da.attrs or da.dtype.kind != "f" or name.startswith("run_"):
            continue
        v = da.values[np.isfinite(da.values)]
        units = da.attrs.get("units")
        label = f"{name}" + (f" [{units}]" if units else "")
        if v.size:
            out.append(f"  {label}: {v.size} finite of {da.size}: {np.min(v):.6g} / "
                       f"{np.median(v):.6g} / {np.max(v):.6g}")
        else:
            out.append(f"  {label}: no finite value")
    return "\n".join(out)
