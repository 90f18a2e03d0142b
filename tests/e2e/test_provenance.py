"""Provenance that pins a number to its build (README, "Random numbers and reproducibility"): the
build's attributes, the build signature and resume's rule on it, the runs list (/provenance), and
what `inspect` says about them. Another build is injected with the test hook
SYMSWEEP_TEST_BUILD_OVERRIDE; the runs list's capacity with SYMSWEEP_TEST_RUNS_CAPACITY.
"""
import re
import shutil
import sys

import h5py
import numpy as np
import pytest

from conftest import SOURCE_DIR, TINY, sha256_of, symsweep

sys.path.insert(0, str(SOURCE_DIR / "analysis"))
from symsweep_analysis.inspect import describe  # noqa: E402

BUILD_ATTRIBUTES = ("compiler", "build_type", "build_flags", "eigen_simd", "build_signature",
                    "build_signature_hash", "mpi_runtime", "mpi_compiled", "hdf5_runtime",
                    "hdf5_compiled", "eigen_version", "boost_version", "random123_version",
                    "openmp_version", "host_cpus")
SIGNATURE_KEYS = ["numerics", "eigen", "simd", "isa", "opt", "arch", "fp-contract", "fast-math"]
CAPACITY = 32  # kRunsCapacity (include/symsweep/store.hpp), stated in the README


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def signature_entries(signature):
    return dict(item.split("=", 1) for item in signature.split("; "))


def runs_of(path):
    """(run_count, capacity, [dict per slot in use])."""
    with h5py.File(path, "r") as f:
        table = f["provenance/runs"][()]
        count = int(f["provenance/run_count"][()])
    rows = [{k: text(r[k]) if isinstance(r[k], bytes) else int(r[k]) for k in table.dtype.names}
            for r in table[: min(count, len(table))]]
    return count, len(table), rows


def results_of(path):
    with h5py.File(path, "r") as f:
        return {name: f["results"][name][()].tobytes() for name in f["results"]
                if "CLASS" not in f["results"][name].attrs}


def make_pending(path, n):
    """Marks the first n points pending (as a killed run leaves them)."""
    with h5py.File(path, "r+") as f:
        status = f["results/status"][()]
        flat = status.reshape(-1)
        flat[:n] = 0
        f["results/status"][()] = status


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A finished tiny sweep of 24 points, run on 2 ranks."""
    d = tmp_path_factory.mktemp("prov")
    config = d / "tiny.ini"
    config.write_text(TINY)
    out = d / "base.h5"
    r = symsweep("run", config, "-o", out, "--quiet", np=2)
    assert r.code == 0, r
    return config, out


@pytest.fixture
def copy(base, tmp_path):
    out = tmp_path / "copy.h5"
    shutil.copy(base[1], out)
    return out


def test_the_build_and_the_creating_run_are_in_the_file(base):
    config, out = base
    with h5py.File(out, "r") as f:
        attrs = {k: text(v) for k, v in f.attrs.items()}
    for name in BUILD_ATTRIBUTES:
        assert isinstance(attrs[name], str) and attrs[name].strip(), name
    entries = signature_entries(attrs["build_signature"])
    assert list(entries) == SIGNATURE_KEYS
    assert entries["numerics"] == str(attrs["numerics_version"])
    assert entries["eigen"] == attrs["eigen_version"]
    assert entries["simd"] == attrs["eigen_simd"]
    assert entries["fp-contract"] == "off" and "-ffp-contract=off" in attrs["build_flags"]
    assert entries["opt"] in attrs["build_flags"].split()
    assert re.fullmatch(r"[0-9a-f]{16}", attrs["build_signature_hash"])
    assert attrs["git_dirty"] == int(attrs["git_commit"].endswith("-dirty"))
    # Every host of the run has its CPU line: "<hosts>: <model>; flags <flags>".
    listed = {h for line in attrs["host_cpus"].splitlines() for h in line.split(":")[0].split(",")}
    assert listed == set(attrs["hosts"].split(","))
    assert all("; flags " in line for line in attrs["host_cpus"].splitlines())

    count, capacity, rows = runs_of(out)
    assert (count, capacity, len(rows)) == (1, CAPACITY, 1)
    run = rows[0]
    assert run["kind"] == "run" and run["ended"] == "complete"
    assert run["start_utc"] == attrs["created_utc"] and run["end_utc"] >= run["start_utc"]
    assert (run["mpi_ranks"], run["points_done_before"], run["points_finished"]) == (2, 0, 24)
    assert run["build_signature"] == attrs["build_signature"]
    assert run["compiler"] == attrs["compiler"] and run["git_commit"] == attrs["git_commit"]
    assert run["command_line"] == attrs["command_line"] and run["hosts"] == attrs["hosts"]
    assert (run["allow_build_change"], run["build_change"]) == (0, "")
    with h5py.File(out, "r") as f:  # the unused slots are zeros
        assert not any(f["provenance/runs"][1:].tobytes())

    r = symsweep("inspect", out)
    assert r.code == 0, r
    assert f"build signature {attrs['build_signature_hash']}: {attrs['build_signature']}" in r.out
    assert f"build: {attrs['compiler']}, {attrs['build_type']}, flags {attrs['build_flags']}" \
        in r.out
    assert f"runs: 1 ({CAPACITY} slots)" in r.out
    assert re.search(r"#1 run \S+ \.\. \S+ complete; 2 rank\(s\) x 1 thread\(s\) on .*; "
                     r"24 point\(s\) saved", r.out), r.out
    for name in ("mpi_runtime", "hdf5_runtime", "boost_version", "random123_version"):
        assert attrs[name] in r.out, name


@pytest.mark.parametrize("dirty", [True, False])
def test_inspect_says_dirty_loudly_and_only_then(copy, dirty):
    commit = "0123456789abcdef0123456789abcdef01234567" + ("-dirty" if dirty else "")
    with h5py.File(copy, "r+") as f:
        f.attrs["git_commit"] = commit
    r = symsweep("inspect", copy)
    assert r.code == 0, r
    python = describe(copy)
    for out in (r.out, python):
        assert (f"DIRTY BUILD: git commit {commit}" in out) == dirty, out
        assert "build_signature" in out or "build signature" in out


def test_resume_refuses_another_signature_untouched_and_allow_build_change_records_it(base,
                                                                                     copy):
    make_pending(copy, 2)
    before = sha256_of(copy)
    with h5py.File(copy, "r") as f:
        stored = signature_entries(text(f.attrs["build_signature"]))
    other = "AVX, SSE, SSE2 (4 doubles per packet)"
    env = {"SYMSWEEP_TEST_BUILD_OVERRIDE": f"simd={other}"}
    r = symsweep("resume", copy, env=env)
    assert r.code == 2, r
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) == 1, r
    assert f"simd: {stored['simd']} -> {other}" in lines[0] and "--allow-build-change" in lines[0]
    assert "opt:" not in lines[0]  # only what differs is named
    assert sha256_of(copy) == before
    assert not copy.with_name(copy.name + ".lock").exists()  # a refusal leaves nothing behind

    r = symsweep("resume", copy, "--allow-build-change", env=env)
    assert r.code == 0, r
    assert "warning" in r.err and f"simd: {stored['simd']} -> {other}" in r.err
    count, _, rows = runs_of(copy)
    assert count == 2
    run = rows[1]
    assert run["kind"] == "resume" and run["allow_build_change"] == 1
    assert run["build_change"] == f"simd: {stored['simd']} -> {other}"
    assert signature_entries(run["build_signature"])["simd"] == other
    assert (run["points_done_before"], run["points_finished"], run["ended"]) == (22, 2,
                                                                                 "complete")
    assert results_of(copy) == results_of(base[1])  # the same build in truth: the same bits
    r = symsweep("inspect", copy)
    assert f"BUILD CHANGED (--allow-build-change): simd: {stored['simd']} -> {other}" in r.out
    assert "runs: 2 (" in r.out


def test_a_compiler_change_alone_warns_resumes_and_is_recorded(base, copy):
    make_pending(copy, 1)
    with h5py.File(copy, "r") as f:
        old = text(f.attrs["compiler"])
    r = symsweep("resume", copy, "--quiet",
                 env={"SYMSWEEP_TEST_BUILD_OVERRIDE": "compiler=GNU 99.1.0"})
    assert r.code == 0, r
    assert f"warning: '{copy}' was written by {old}, this build is GNU 99.1.0" in r.err, r
    count, _, rows = runs_of(copy)
    assert count == 2
    assert rows[1]["compiler"] == "GNU 99.1.0" and rows[1]["allow_build_change"] == 0
    assert rows[1]["build_change"] == f"compiler: {old} -> GNU 99.1.0"
    assert rows[1]["build_signature"] == rows[0]["build_signature"]
    assert results_of(copy) == results_of(base[1])


def test_runs_list_through_a_failed_run_resumes_and_past_its_capacity(base, tmp_path):
    """A run stopped by an error (as a kill leaves it: no end), then two resumes, in a file made
    with 2 slots: the count goes on and the last slot holds the latest run."""
    config, ref = base
    out = tmp_path / "runs.h5"
    r = symsweep("run", config, "-o", out, "--quiet",
                 env={"SYMSWEEP_INJECT_FAULT": "checkpoint:0:1",
                      "SYMSWEEP_TEST_RUNS_CAPACITY": "2"})
    assert r.code == 1 and "injected fault" in r.err, r
    count, capacity, rows = runs_of(out)
    assert (count, capacity) == (1, 2)
    assert rows[0]["end_utc"] == "" and rows[0]["points_finished"] == -1
    r = symsweep("resume", out, "--quiet", np=2)
    assert r.code == 0, r
    count, _, rows = runs_of(out)
    assert count == 2 and rows[0]["end_utc"] == ""
    assert (rows[1]["kind"], rows[1]["mpi_ranks"], rows[1]["points_done_before"],
            rows[1]["points_finished"]) == ("resume", 2, 0, 24)
    make_pending(out, 3)
    r = symsweep("resume", out, "--quiet")
    assert r.code == 0, r
    count, capacity, rows = runs_of(out)
    assert (count, capacity, len(rows)) == (3, 2, 2)
    assert rows[0]["kind"] == "run" and rows[0]["end_utc"] == ""  # the first run stays
    assert (rows[1]["mpi_ranks"], rows[1]["points_done_before"],
            rows[1]["points_finished"]) == (1, 21, 3)  # the latest run, over the second
    assert results_of(out) == results_of(ref)
    r = symsweep("inspect", out)
    assert "runs: 3 (2 slots; 1 earlier run(s) overwritten: the last slot holds the latest)" \
        in r.out, r.out
    assert "#1 run" in r.out and "(no end: killed, or stopped by an error)" in r.out
    assert "#3 resume" in r.out and "#2 resume" not in r.out
    # A resume with nothing to run writes nothing and is not listed.
    before = sha256_of(out)
    assert symsweep("resume", out, "--quiet").code == 0
    assert sha256_of(out) == before


def test_a_file_from_before_the_build_was_recorded_resumes_with_a_note(tmp_path):
    old = SOURCE_DIR / "tests" / "compat" / "reference_v6.h5"
    out = tmp_path / "old.h5"
    shutil.copy(old, out)
    make_pending(out, 4)
    r = symsweep("resume", out, "--quiet")
    assert r.code == 0, r
    assert "records no build signature" in r.err and "not checked" in r.err, r
    # Fields added since its build (the per-block Noether flows) are computed, not stored.
    assert "field(s) this build computes (" in r.err and "results/noether_flow_trace" in r.err, r
    assert "resume computes but does not store them" in r.err, r
    with h5py.File(out, "r") as f, h5py.File(old, "r") as g:
        assert "provenance" not in f and "build_signature" not in f.attrs  # metadata as it was
        # Its enums keep their own members (this build's add not_smooth to stability_note).
        for name in ("outcome", "stability_note", "sgd_note"):
            assert h5py.check_enum_dtype(f["results/" + name].dtype) == \
                h5py.check_enum_dtype(g["results/" + name].dtype)
        assert "not_smooth" not in h5py.check_enum_dtype(f["results/stability_note"].dtype)
    assert results_of(out) == results_of(old)
    r = symsweep("inspect", out)
    assert r.code == 0 and "build: not recorded" in r.out and "runs: not recorded" in r.out
    assert "runs: not recorded" in describe(out)


def test_a_missing_field_is_refused_from_this_commit_and_skipped_from_another(base, copy):
    # A file of this very build without a field it writes is not what it wrote: refused, as a
    # file of another layout, untouched.
    make_pending(copy, 3)
    with h5py.File(copy, "r+") as f:
        del f["results/theta_norm"]
    before = sha256_of(copy)
    r = symsweep("resume", copy, "--quiet")
    assert r.code == 2 and "has no /results/theta_norm" in r.err and "another layout" in r.err, r
    assert sha256_of(copy) == before
    # The same file as another commit wrote it: a field added since that build, computed but
    # not stored, and the rest resumed to the bits of the finished run.
    with h5py.File(copy, "r+") as f:
        f.attrs["git_commit"] = "0" * 40
    r = symsweep("resume", copy, "--quiet")
    assert r.code == 0, r
    assert "without 1 field(s) this build computes (results/theta_norm)" in r.err, r
    done = results_of(base[1])
    del done["theta_norm"]
    assert results_of(copy) == done


def test_a_field_this_build_does_not_write_is_refused(copy):
    # The points resumed here would leave it at its fill beside the values of those done before.
    make_pending(copy, 3)
    with h5py.File(copy, "r+") as f:
        f["results/retired_field"] = np.zeros(f["results/status"].shape)
    before = sha256_of(copy)
    r = symsweep("resume", copy, "--quiet")
    assert r.code == 2 and "holds /results/retired_field, which this symsweep does not write" \
        in r.err and "another layout" in r.err, r
    assert sha256_of(copy) == before
