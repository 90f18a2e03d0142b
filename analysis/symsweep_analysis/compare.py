"""Field-by-field comparison of two result files, for reproducibility studies.

    python3 -m symsweep_analysis compare a.h5 b.h5 [--rtol R] [--atol A] [--show N]

Every field of /results and /traces (not /run: timings and placement) is compared, bit for bit by
default, or within |a - b| <= atol + rtol |b| (NaN equal to NaN) when a tolerance is given. The
first differing points are listed by their axis values. Status first: points done in one file
and not in the other are named once, by their status (`status: 3 point(s) differ: done in A,
pending in B ...`), and every other field is compared only where both files have the point done
(a point not done holds no result: zeros or fill values). Exit status: 0 the same, 1 different,
2 unusable input (not a result file, other axes or fields, a negative or non-finite tolerance).
"""
import math

import numpy as np

from .dataset import axes, done, members, open_sweep
from .phase import fmt

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
    for name, value in (("--rtol", rtol), ("--atol", atol)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            return 2, [f"unusable input: {name} {value}: a tolerance must be a finite number >= 0"]
    if not isinstance(show, int) or show < 0:
        return 2, [f"unusable input: --show {show}: must be a whole number >= 0"]
    try:
        a, b = open_sweep(path_a, raw=True), open_sweep(path_b, raw=True)
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
    grid = axes(a)
    ok_a, ok_b = done(a).values, done(b).values
    status_a, status_b = members(a["status"]), members(b["status"])
    if (a["status"].values != b["status"].values).any():
        where = np.argwhere(a["status"].values != b["status"].values)
        different += 1
        lines.append(f"status: {len(where)} of {ok_a.size} point(s) differ (other fields are "
                     "compared where both are done)")
        for idx in where[:show]:
            at = ", ".join(f"{k} = {fmt(a[k].values[i])}" for k, i in zip(grid, idx))
            lines.append(f"    at {at}: {status_a[int(a['status'].values[tuple(idx)])]} in A, "
                         f"{status_b[int(b['status'].values[tuple(idx)])]} in B")
    both = ok_a & ok_b
    for name in sorted(_fields(a)):
        if name == "status":
            continue
        da, db = a[name], b[name]
        if da.shape != db.shape or da.dtype != db.dtype:
            lines.append(f"{name}: {da.dtype}{da.shape} vs {db.dtype}{db.shape}")
            different += 1
            continue
        diff = _differs(da.values, db.values, rtol, atol)
        if tuple(da.dims[: len(grid)]) == tuple(grid):  # per-point fields: only where both done
            diff &= both.reshape(both.shape + (1,) * (diff.ndim - len(grid)))
        if not diff.any():
            continue
        different += 1
        # A point differs when any of its elements (trailing dimensions) does.
        per_point = diff.reshape(diff.shape[: len(grid)] + (-1,)).any(axis=-1) \
            if diff.ndim > len(grid) else diff
        where = np.argwhere(per_point)
        lines.append(f"{name}: {len(where)} of {per_point.size} point(s) differ"
                     + (f" (of {int(both.sum())} done in both)" if not both.all() else ""))
        for idx in where[:show]:
            at = ", ".join(f"{k} = {fmt(a[k].values[i])}" for k, i in zip(grid, idx))
            va = np.asarray(da.values[tuple(idx)]).ravel()
            vb = np.asarray(db.values[tuple(idx)]).ravel()
            first = int(np.argmax(_differs(va, vb, rtol, atol)))
            lines.append(f"    at {at}: {va[first]!r} vs {vb[first]!r}")
    total = len(_fields(a))
    verdict = (f"SAME: {total} field(s) of {path_a} and {path_b} agree {how}" if not different
               else f"DIFFERENT: {different} of {total} field(s) differ ({how})")
    return (0 if not different else 1), lines + [verdict]
