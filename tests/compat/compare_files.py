#!/usr/bin/python3
"""Checks that NEW.h5 holds everything OLD.h5 holds, unchanged: for every dataset of OLD (axes,
results, traces, run, scales), the same type (enum members included), shape, values (bit for bit),
fill value, dimension labels and attributes; and the same root attributes. What NEW adds (datasets,
links, attributes) is listed, not judged.

New enum members are additions (an old member must keep its code).

Usage: compare_files.py [--layout] OLD.h5 NEW.h5   (exit 0: nothing of OLD changed; 1: it did)

--layout compares everything but the values of /results, /traces and /run and the root
attributes that follow from the numbers' version (numerics_version): for a file of an earlier
numerics version, whose numbers are meant to differ.

The resolved config is compared key by key: every key of OLD's config_text with the same value in
NEW's (keys added since are listed; config_sha256 is compared only when the texts are equal).
Documentation attributes (description, long_name) that were reworded are listed, not judged.
Attributes that describe one run rather than its results (created_utc, git_commit, command_line,
hosts, mpi_ranks, omp_threads, the build's and the hosts' CPUs), the values of /run (wall times,
placement) and of /provenance (the runs that wrote the file) may differ; HDF5's own
bookkeeping of dimension scales (DIMENSION_LIST, REFERENCE_LIST: object references) is compared
through the labels and the scales themselves.
"""
import configparser
import sys

import h5py
import numpy as np

RUN_SPECIFIC = {"created_utc", "git_commit", "command_line", "hosts", "mpi_ranks", "omp_threads",
                "git_dirty", "host_cpus",
                # the build (README "Random numbers and reproducibility"): another machine's
                # build may differ in any of them and still give the reference's bits
                "compiler", "build_type", "build_flags", "eigen_simd", "build_signature",
                "build_signature_hash", "mpi_runtime", "mpi_compiled", "hdf5_runtime",
                "hdf5_compiled", "eigen_version", "boost_version", "random123_version",
                "openmp_version"}
PROVENANCE = {"provenance/runs", "provenance/run_count"}  # the runs that wrote the file
DOCUMENTATION = {"description", "long_name"}
REFERENCES = {"DIMENSION_LIST", "REFERENCE_LIST"}
PLACEMENT = {"run/seconds", "run/rank"}
VALUES = {"results", "traces", "run"}  # groups whose values --layout does not compare


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


def config(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return {f"{s}.{k}": v for s in parser.sections() for k, v in parser[s].items()}


def compare_config(old_text, new_text, problems, added):
    old, new = config(old_text), config(new_text)
    for key, value in old.items():
        if key not in new:
            problems.append(f"/: config key {key} missing")
        elif new[key] != value:
            problems.append(f"/: config {key} = {new[key]!r}, was {value!r}")
    added += [f"/: config key {k} = {new[k]!r}" for k in new if k not in old]


def grown(old, new):
    """True when the CF flags `new` are `old` with members appended."""
    old_items = old.split() if isinstance(old, str) else list(np.asarray(old))
    new_items = new.split() if isinstance(new, str) else list(np.asarray(new))
    return len(new_items) > len(old_items) and new_items[: len(old_items)] == old_items


def compare_attrs(where, old, new, problems, added, skip=frozenset()):
    for key, value in old.attrs.items():
        if key in skip or key in REFERENCES:
            continue
        if key not in new.attrs:
            problems.append(f"{where}: attribute {key} missing")
        elif key == "config_text":
            compare_config(value, new.attrs[key], problems, added)
        elif key == "config_sha256" and old.attrs["config_text"] != new.attrs["config_text"]:
            continue  # follows from config_text, compared key by key
        elif key in ("flag_meanings", "flag_values") and grown(value, new.attrs[key]):
            continue  # an enum's new members, listed with the enum
        elif not same(value, new.attrs[key]):
            line = f"{where}: attribute {key} = {new.attrs[key]!r}, was {value!r}"
            (added if key in DOCUMENTATION else problems).append(
                ("reworded " if key in DOCUMENTATION else "") + line)
    added += [f"{where}: attribute {k}" for k in new.attrs if k not in old.attrs]


def main(argv):
    layout = "--layout" in argv
    argv = [a for a in argv if a != "--layout"]
    if len(argv) != 2:
        sys.exit(__doc__)
    problems, added = [], []
    with h5py.File(argv[0], "r") as old, h5py.File(argv[1], "r") as new:
        compare_attrs("/", old, new, problems, added,
                      RUN_SPECIFIC | ({"numerics_version"} if layout else set()))
        old_sets, new_sets = datasets(old), datasets(new)
        for path, a in sorted(old_sets.items()):
            b = new_sets.get(path)
            if b is None:
                problems.append(f"/{path}: missing")
                continue
            old_enum, new_enum = h5py.check_enum_dtype(a.dtype), h5py.check_enum_dtype(b.dtype)
            if a.dtype != b.dtype or (old_enum is None) != (new_enum is None):
                problems.append(f"/{path}: type {b.dtype}, was {a.dtype}")
            elif old_enum is not None and old_enum != new_enum:
                # Members may be added (the file names them); an old member keeps its code.
                if any(new_enum.get(name) != code for name, code in old_enum.items()):
                    problems.append(f"/{path}: enum {new_enum}, was {old_enum}")
                else:
                    added.append(f"/{path}: enum members "
                                 f"{sorted(set(new_enum) - set(old_enum))}")
            if a.shape != b.shape:
                problems.append(f"/{path}: shape {b.shape}, was {a.shape}")
            elif path not in PLACEMENT | PROVENANCE \
                    and not (layout and path.split("/")[0] in VALUES) and not same(a[()], b[()]):
                problems.append(f"/{path}: values differ")
            if not same(a.fillvalue, b.fillvalue):
                problems.append(f"/{path}: fill {b.fillvalue!r}, was {a.fillvalue!r}")
            if [d.label for d in a.dims] != [d.label for d in b.dims]:
                problems.append(f"/{path}: labels {[d.label for d in b.dims]}, "
                                f"were {[d.label for d in a.dims]}")
            compare_attrs(f"/{path}", a, b, problems, added)
        added += [f"/{p}" for p in sorted(set(new_sets) - set(old_sets))]
    for line in added:
        print(line if line.startswith("reworded") else "added " + line)
    for line in problems:
        print("CHANGED", line)
    print(f"compared {len(old_sets)} datasets of {argv[0]} with {argv[1]}: "
          f"{len(problems)} change(s), {len(added)} addition(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
