"""symsweep replicate: the grid of a result file again with new seeds, recorded; resumable; its
refusals."""
import hashlib
import os
import shutil

import h5py
import numpy as np
import pytest

from conftest import TINY, sha256_of, symsweep

SEEDLESS = TINY.replace("sweep.seed = 0, 1\n", "").replace("name = tiny\n", "name = tiny\nseed = 7\n")


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def datasets(path):
    """{group/name: array} of every dataset of /results and /traces."""
    out = {}
    with h5py.File(path, "r") as f:
        for group in ("results", "traces"):
            if group not in f:
                continue
            for name, obj in f[group].items():
                if isinstance(obj, h5py.Dataset) and obj.attrs.get("CLASS") != b"DIMENSION_SCALE":
                    out[f"{group}/{name}"] = obj[()]
    return out


def axes(path):
    """[(axis, values)] in grid order."""
    with h5py.File(path, "r") as f:
        labels = [d.label for d in f["results/status"].dims][: len(f["axes"])]
        return [(k, f["axes"][k][()].tolist()) for k in labels]


def same_bits(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    d = tmp_path_factory.mktemp("replicate")
    (d / "tiny.ini").write_text(TINY)
    out = d / "orig.h5"
    r = symsweep("run", d / "tiny.ini", "-o", out, "--quiet", np=2)
    assert r.code == 0, r
    return out


@pytest.fixture(scope="module")
def replicate(original):
    rep = original.parent / "rep.h5"
    r = symsweep("replicate", original, "--seeds", 3, "-o", rep, np=3)
    assert r.code == 0, r
    return rep


def test_the_replicate_has_the_grid_with_new_seeds_disjoint_from_the_files(original, replicate):
    (orig_axes, rep_axes) = axes(original), axes(replicate)
    assert [k for k, _ in orig_axes] == [k for k, _ in rep_axes]  # the seed axis stays in place
    for (k, va), (_, vb) in zip(orig_axes, rep_axes):
        if k != "sweep.seed":
            assert same_bits(va, vb), k
    old = dict(orig_axes)["sweep.seed"]
    new = dict(rep_axes)["sweep.seed"]
    assert len(new) == 3 and not set(new) & set(old)
    assert new == list(range(max(old) + 1, max(old) + 4))  # the default: after the file's largest
    with h5py.File(original, "r") as f, h5py.File(replicate, "r") as g:
        assert text(g.attrs["replicate_of"]) == os.path.abspath(original)
        assert text(g.attrs["replicate_of_config_sha256"]) == text(f.attrs["config_sha256"])
        assert [int(s) for s in text(g.attrs["replicate_of_seeds"]).split(",")] == old
        assert [int(s) for s in text(g.attrs["replicate_seeds"]).split(",")] == new
        config = text(g.attrs["config_text"])
        assert hashlib.sha256(config.encode()).hexdigest() == text(g.attrs["config_sha256"])
        # The stored config is the original's with the new seed axis, line for line otherwise.
        changed = set(config.splitlines()) ^ set(text(f.attrs["config_text"]).splitlines())
        assert {line.split("=")[0].strip() for line in changed} == {"sweep.seed"}
    r = symsweep("inspect", replicate)
    assert r.code == 0 and f"replicate of {os.path.abspath(original)}" in r.out, r


def test_the_replicate_is_the_run_of_the_same_config_with_those_seeds(original, replicate, tmp_path):
    # Any number of ranks (the replicate ran on 3): the same bits as `run` on one rank of the
    # original's config with the replicate's seeds.
    with h5py.File(replicate, "r") as g:
        seeds = text(g.attrs["replicate_seeds"])
    (tmp_path / "tiny.ini").write_text(TINY)
    direct = tmp_path / "direct.h5"
    r = symsweep("run", tmp_path / "tiny.ini", "-o", direct, "--quiet", "--set",
                 f"axes.sweep.seed={seeds}", np=1)
    assert r.code == 0, r
    a, b = datasets(replicate), datasets(direct)
    assert a.keys() == b.keys() and a
    for name in a:
        assert same_bits(a[name], b[name]), name
    # And not the original's numbers: other seeds, other draws.
    assert not same_bits(datasets(original)["results/final_loss"], a["results/final_loss"])


def test_resume_finishes_an_interrupted_replicate(replicate, tmp_path):
    part = tmp_path / "part.h5"
    shutil.copy(replicate, part)
    with h5py.File(part, "r+") as f:  # half of the points back to pending, their data zeroed
        status = f["results/status"]
        flat = status[()].reshape(-1).copy()
        flat[::2] = 0
        status[...] = flat.reshape(status.shape)
        f["results/final_loss"][...] = np.where(flat.reshape(status.shape) == 0, 0.0,
                                                f["results/final_loss"][()])
    r = symsweep("resume", part, "--quiet", np=2)
    assert r.code == 0, r
    a, b = datasets(replicate), datasets(part)
    for name in a:
        assert same_bits(a[name], b[name]), name
    with h5py.File(part, "r") as f, h5py.File(replicate, "r") as g:
        for key in ("replicate_of", "replicate_of_config_sha256", "replicate_seeds"):
            assert f.attrs[key] == g.attrs[key]


def test_a_file_with_one_seed_gets_a_seed_axis_last_and_first_seed_skips_its_seed(tmp_path):
    (tmp_path / "one.ini").write_text(SEEDLESS)
    one = tmp_path / "one.h5"
    assert symsweep("run", tmp_path / "one.ini", "-o", one, "--quiet", np=1).code == 0
    rep = tmp_path / "rep.h5"
    r = symsweep("replicate", one, "--seeds", 2, "--first-seed", 6, "-o", rep, "--quiet", np=2)
    assert r.code == 0, r
    orig_axes, rep_axes = axes(one), axes(rep)
    assert "sweep.seed" not in dict(orig_axes)
    assert rep_axes[:-1] == orig_axes and rep_axes[-1] == ("sweep.seed", [6, 8])  # 7 is the file's
    with h5py.File(rep, "r") as g:
        assert text(g.attrs["replicate_of_seeds"]) == "7"
        assert text(g.attrs["replicate_seeds"]) == "6, 8"


@pytest.mark.parametrize("case", ["seeds 0", "seeds missing", "output exists", "output is input",
                                  "no output", "input missing", "input not hdf5",
                                  "input not symsweep", "negative first seed"])
def test_bad_input_exits_2_in_one_line_and_changes_nothing(original, tmp_path, case):
    existing = tmp_path / "existing.h5"
    existing.write_bytes(b"not to be touched")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    new = tmp_path / "new.h5"
    args = {
        "seeds 0": (original, "--seeds", 0, "-o", new),
        "seeds missing": (original, "-o", new),
        "output exists": (original, "--seeds", 2, "-o", existing),
        "output is input": (original, "--seeds", 2, "-o", original),
        "no output": (original, "--seeds", 2),
        "input missing": (tmp_path / "nope.h5", "--seeds", 2, "-o", new),
        "input not hdf5": (text_file, "--seeds", 2, "-o", new),
        "input not symsweep": (foreign, "--seeds", 2, "-o", new),
        "negative first seed": (original, "--seeds", 2, "--first-seed", -1, "-o", new),
    }[case]
    before = {p: sha256_of(p) for p in (existing, original, foreign, text_file)}
    # Under mpiexec where it matters most (a file that exists); the others as one process.
    r = symsweep("replicate", *args, np=2 if case == "output exists" else None)
    assert r.code == 2, r
    # One line of ours (mpiexec may add its own report of the exit status).
    assert [line for line in r.err.splitlines() if line.startswith("symsweep")] == \
        [r.err.splitlines()[0]] and r.err.startswith("symsweep: error: "), r
    assert {p: sha256_of(p) for p in before} == before
    assert not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.h5", "foreign.h5", "notes.txt"]


def test_help_explains_replicate():
    r = symsweep("replicate", "--help")
    assert r.code == 0 and "--seeds K" in r.out and "--first-seed" in r.out, r
    assert "replicate_of" in r.out and "disjoint" in r.out
    r = symsweep("--help")
    assert "symsweep replicate OUT.h5 --seeds K -o REP.h5" in r.out
