"""Field-by-field comparison of two result files, for reproducibility studies.

    python3 -m symsweep_analysis compare a.h5 b.h5 [--rtol R] [--atol A] [--show N]

Every field of /results and /traces (not /run: timings and placement) is compared, bit for bit by
default, or within |a - b| <= atol + rtol |b| (NaN equal to NaN) when a tolerance is given. The
first differing points are listed by their axis values. Exit status: 0 the same, 1 different,
2 unusable input (not a result file, other axes or fields).
"""
import numpy as np

from .dataset import axes, open_sweep

COMPARED = ("results", "traces")


def _fields(ds):
    return [n for n in ds.data_vars if not n.startswith("run_")]


def _differs(a, b, rtol, atol):
    """Boolean array: where a and b differ (bitwise when no tolerance)."""
    a, b = np.asarray(a), np.asarray(b)
    if rtol == 0 and atol == 0:
        if a.dtype.kind == "f":
            same = (a.view(np.uint64 if a.itemsize == 8 else np.uint32)
                    == b.view(np.uint64 if b.itemsize == 8 else np.uint32))
        else:
            same = a == b
        return ~same
    if a.dtype.kind != "f":
        return a != b
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = (a == b) | (np.abs(a - b) <= atol + rtol * np.abs(b))  # a == b: equal infinities
    return ~(close | both_nan)


def compare(path_a, path_b, rtol=0.0, atol=0.0, show=5):
    """Returns (exit status, report lines)."""
    try:
        a, b = open_sweep(path_a), open_sweep(path_b)
    except (OSError, ValueError) as err:
        return 2, [f"unusable input: {err}"]
    if axes(a) != axes(b):
        return 2, [f"unusable input: the files have other axes: {axes(a)} vs {axes(b)}"]
    for key in list(axes(a)) + [c for c in a.coords if c not in axes(a)]:
        if key not in b.coords or a[key].shape != b[key].shape or \
                not np.array_equal(a[key].values, b[key].values):
            return 2, [f"unusable input: the coordinate {key} has other values"]
    if sorted(_fields(a)) != sorted(_fields(b)):
        only_a = sorted(set(_fields(a)) - set(_fields(b)))
        only_b = sorted(set(_fields(b)) - set(_fields(a)))
        return 2, [f"unusable input: other fields (only in A: {only_a}; only in B: {only_b})"]
    lines, different = [], 0
    how = "bit for bit" if rtol == 0 and atol == 0 else f"within atol {atol:g} + rtol {rtol:g}"
    for name in sorted(_fields(a)):
        da, db = a[name], b[name]
        if da.shape != db.shape or da.dtype != db.dtype:
            lines.append(f"{name}: {da.dtype}{da.shape} vs {db.dtype}{db.shape}")
            different += 1
            continue
        diff = _differs(da.values, db.values, rtol, atol)
        if not diff.any():
            continue
        different += 1
        grid = axes(a)
        # A point differs when any of its elements (trailing dimensions) does.
        per_point = diff.reshape(diff.shape[: len(grid)] + (-1,)).any(axis=-1) \
            if diff.ndim > len(grid) else diff
        where = np.argwhere(per_point)
        lines.append(f"{name}: {len(where)} of {per_point.size} point(s) differ")
        for idx in where[:show]:
            at = ", ".join(f"{k} = {a[k].values[i]}" for k, i in zip(grid, idx))
            va = np.asarray(da.values[tuple(idx)]).ravel()
            vb = np.asarray(db.values[tuple(idx)]).ravel()
            first = int(np.argmax(_differs(va, vb, rtol, atol)))
            lines.append(f"    at {at}: {va[first]!r} vs {vb[first]!r}")
    total = len(_fields(a))
    verdict = (f"SAME: {total} field(s) of {path_a} and {path_b} agree {how}" if not different
               else f"DIFFERENT: {different} of {total} field(s) differ ({how})")
    return (0 if not different else 1), lines + [verdict]
