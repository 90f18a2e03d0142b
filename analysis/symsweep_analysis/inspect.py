"""`python3 -m symsweep_analysis inspect FILE.h5`: a summary of a result file, as `symsweep inspect`
prints it (provenance: the build, its signature, the hosts' CPUs, a DIRTY BUILD line for a build
from uncommitted changes, the runs that wrote the file; axes, the points per member of every enum field, the range of every real
field), read with h5py and xarray alone: no symsweep build needed. Ranges are over the done
points (open_sweep masks the others); the status counts say how many those are.
"""
import numpy as np

from .dataset import axes, left_out, members, open_sweep

PROVENANCE = ("format", "numerics_version", "symsweep_version", "git_commit", "created_utc",
              "command_line", "mpi_ranks", "omp_threads", "hosts", "n_points", "config_sha256")
# The build (files made before symsweep recorded it have none of these).
BUILD = ("compiler", "build_type", "build_flags", "eigen_simd", "build_signature",
         "build_signature_hash", "mpi_runtime", "mpi_compiled", "hdf5_runtime", "hdf5_compiled",
         "eigen_version", "boost_version", "random123_version", "openmp_version")
SIMD_PREFIXES = ("sse", "ssse", "avx", "sve")


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def simd_flags(flags):
    """The flags of a /proc/cpuinfo flags line that name SIMD instruction sets."""
    return [f for f in flags.split() if f.startswith(SIMD_PREFIXES) or f in ("fma", "asimd")]


def runs(path):
    """The runs list (/provenance/runs): (run_count, capacity, [dict per slot in use]); None for a
    file made before symsweep kept it."""
    import h5py

    with h5py.File(path, "r") as f:
        if "provenance/runs" not in f or "provenance/run_count" not in f:
            return None
        table = f["provenance/runs"][()]
        count = int(f["provenance/run_count"][()])
    used = table[: min(count, len(table))]
    return count, len(table), [{k: (_text(r[k]) if isinstance(r[k], bytes) else int(r[k]))
                                for k in table.dtype.names} for r in used]


def provenance_lines(path, attrs):
    """The build, the hosts' CPUs and the runs, as `symsweep inspect` shows them."""
    out = []
    if str(attrs.get("git_commit", "")).endswith("-dirty"):
        out.append(f"  DIRTY BUILD: git commit {attrs['git_commit']}: built from a working tree "
                   "with uncommitted changes; the commit does not say which code computed these "
                   "numbers")
    for line in str(attrs.get("host_cpus", "")).splitlines():
        hosts_model, _, flags = line.partition("; flags ")
        out.append(f"  cpu {hosts_model}; SIMD flags {' '.join(simd_flags(flags)) or 'none'}")
    if "build_signature" not in attrs:
        out.append("  build: not recorded (a file written before symsweep recorded its build)")
    else:
        out += [f"  {k}: {attrs[k]}" for k in BUILD if k in attrs]
    listed = runs(path)
    if listed is None:
        out.append("  runs: not recorded (a file written before symsweep kept its runs list)")
        return out
    count, capacity, slots = listed
    note = (f"; {count - capacity} earlier run(s) overwritten: the last slot holds the latest"
            if count > capacity else "")
    out.append(f"  runs: {count} ({capacity} slots{note})")
    for k, r in enumerate(slots):
        number = count if k + 1 == len(slots) else k + 1
        end = f"{r['end_utc']} {r['ended']}" if r["end_utc"] else             "(no end: killed, or stopped by an error)"
        saved = f"; {r['points_finished']} point(s) saved" if r["points_finished"] >= 0 else ""
        dirty = ", DIRTY" if r["git_commit"].endswith("-dirty") else ""
        out.append(f"    #{number} {r['kind']} {r['start_utc']} .. {end}; {r['mpi_ranks']} "
                   f"rank(s) x {r['omp_threads']} thread(s) on {r['hosts']}{saved}; "
                   f"{r['compiler']}, symsweep {r['symsweep_version']} ({r['git_commit']}{dirty})")
        if r["build_change"]:
            allowed = " (--allow-build-change)" if r["allow_build_change"] else ""
            out.append(f"       BUILD CHANGED{allowed}: {r['build_change']}")
    return out


def describe(path):
    """The summary as text."""
    ds = open_sweep(path)
    out = [f"{path}: sweep {ds.attrs.get('name')}, model {ds.attrs.get('model')}"]
    out += [f"  {k}: {ds.attrs[k]}" for k in PROVENANCE if k in ds.attrs]
    out += provenance_lines(path, ds.attrs)
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
