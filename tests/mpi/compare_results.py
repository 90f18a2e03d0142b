#!/usr/bin/python3
"""Checks that result files are bit-identical in /axes, /results and /traces.

Usage: compare_results.py A.h5 B.h5 [C.h5 ...]   (exit 0 when every file matches A)

/run (timings, placement) and the provenance attributes that describe the run (created_utc,
mpi_ranks, omp_threads, hosts, command_line) may differ; config_sha256 may not.
"""
import sys

import h5py
import numpy as np

COMPARED_GROUPS = ("axes", "results", "traces")


def datasets(f):
    out = {}
    for group in COMPARED_GROUPS:
        if group in f:
            f[group].visititems(
                lambda name, obj, g=group: out.__setitem__(f"{g}/{name}", obj)
                if isinstance(obj, h5py.Dataset) else None)
    return out


def main(paths):
    if len(paths) < 2:
        sys.exit(__doc__)
    with h5py.File(paths[0], "r") as ref:
        ref_sets = {k: (v.dtype, v.shape, v[()]) for k, v in datasets(ref).items()}
        ref_sha = ref.attrs["config_sha256"]
        done = np.asarray(ref["results/status"][()])
        if not (done == 1).all():
            sys.exit(f"{paths[0]}: not every point is done")
    total_bytes = sum(np.asarray(v[2]).nbytes for v in ref_sets.values())
    failures = []
    for path in paths[1:]:
        with h5py.File(path, "r") as f:
            if f.attrs["config_sha256"] != ref_sha:
                failures.append(f"{path}: config_sha256 differs")
            sets = datasets(f)
            if sorted(sets) != sorted(ref_sets):
                failures.append(f"{path}: datasets {sorted(sets)} != {sorted(ref_sets)}")
                continue
            for name, (dtype, shape, data) in ref_sets.items():
                other = sets[name]
                if other.dtype != dtype or other.shape != shape:
                    failures.append(f"{path}:/{name}: {other.dtype}{other.shape} != {dtype}{shape}")
                elif np.asarray(other[()]).tobytes() != np.asarray(data).tobytes():
                    failures.append(f"{path}:/{name}: contents differ")
    for line in failures:
        print("DIFFERENT", line)
    print(f"compared {len(ref_sets)} datasets ({total_bytes} bytes per file) across {len(paths)} files:"
          f" {'all bit-identical' if not failures else f'{len(failures)} difference(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
