#!/usr/bin/python3
"""Checks that NEW.h5 holds everything OLD.h5 holds, unchanged: for every dataset of OLD (axes,
results, traces, run, scales), the same type (enum members included), shape, values (bit for bit),
fill value, dimension labels and attributes; and the same root attributes. What NEW adds (datasets,
links, attributes) is listed, not judged.

Usage: compare_files.py OLD.h5 NEW.h5     (exit 0: nothing of OLD changed; 1: something did)

Attributes that describe one run rather than its results (created_utc, git_commit, command_line,
hosts, mpi_ranks, omp_threads) and the values of /run (wall times, placement) may differ; HDF5's own
bookkeeping of dimension scales (DIMENSION_LIST, REFERENCE_LIST: object references) is compared
through the labels and the scales themselves.
"""
import sys

import h5py
import numpy as np

RUN_SPECIFIC = {"created_utc", "git_commit", "command_line", "hosts", "mpi_ranks", "omp_threads"}
REFERENCES = {"DIMENSION_LIST", "REFERENCE_LIST"}
PLACEMENT = {"run/seconds", "run/rank"}


def datasets(f):
    """Every dataset by each of its paths (a linked scale appears under every name)."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj

    f.visititems(visit)
    # visititems lists an object once; hard links make it reachable under more names.
    for group_name in ["/"] + [n for n in f if isinstance(f[n], h5py.Group)]:
        for name, obj in f[group_name].items():
            if isinstance(obj, h5py.Dataset):
                out[(group_name.strip("/") + "/" + name).lstrip("/")] = obj
    return out


def same(a, b):
    """Equal type, shape and bits (strings held as Python objects: equal text)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == object or b.dtype == object:
        return a.dtype == b.dtype and a.shape == b.shape and a.tolist() == b.tolist()
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def compare_attrs(where, old, new, problems, added, skip=frozenset()):
    for key, value in old.attrs.items():
        if key in skip or key in REFERENCES:
            continue
        if key not in new.attrs:
            problems.append(f"{where}: attribute {key} missing")
        elif not same(value, new.attrs[key]):
            problems.append(f"{where}: attribute {key} = {new.attrs[key]!r}, was {value!r}")
    added += [f"{where}: attribute {k}" for k in new.attrs if k not in old.attrs]


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    problems, added = [], []
    with h5py.File(argv[0], "r") as old, h5py.File(argv[1], "r") as new:
        compare_attrs("/", old, new, problems, added, RUN_SPECIFIC)
        old_sets, new_sets = datasets(old), datasets(new)
        for path, a in sorted(old_sets.items()):
            b = new_sets.get(path)
            if b is None:
                problems.append(f"/{path}: missing")
                continue
            if a.dtype != b.dtype or h5py.check_enum_dtype(a.dtype) != h5py.check_enum_dtype(b.dtype):
                problems.append(f"/{path}: type {b.dtype}, was {a.dtype}")
            if a.shape != b.shape:
                problems.append(f"/{path}: shape {b.shape}, was {a.shape}")
            elif path not in PLACEMENT and not same(a[()], b[()]):
                problems.append(f"/{path}: values differ")
            if not same(a.fillvalue, b.fillvalue):
                problems.append(f"/{path}: fill {b.fillvalue!r}, was {a.fillvalue!r}")
            if [d.label for d in a.dims] != [d.label for d in b.dims]:
                problems.append(f"/{path}: labels {[d.label for d in b.dims]}, "
                                f"were {[d.label for d in a.dims]}")
            compare_attrs(f"/{path}", a, b, problems, added)
        added += [f"/{p}" for p in sorted(set(new_sets) - set(old_sets))]
    for line in added:
        print("added", line)
    for line in problems:
        print("CHANGED", line)
    print(f"compared {len(old_sets)} datasets of {argv[0]} with {argv[1]}: "
          f"{len(problems)} change(s), {len(added)} addition(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
