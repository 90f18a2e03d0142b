"""Shards and merge: `symsweep run --shard i/N` computes part i of N of the grid into a file of its
own, `symsweep merge OUT.h5 SHARD...` joins them into the file a single run writes."""
import os
import sys

import h5py
import numpy as np
import pytest

from conftest import (SOURCE_DIR, TINY, kill_9_all, sha256_of, start, symsweep, wait_for)

DETERMINISTIC_GROUPS = ("results", "traces")


def datasets(f):
    out = {}
    for group in DETERMINISTIC_GROUPS:
        if group in f:
            for name, obj in f[group].items():
                if isinstance(obj, h5py.Dataset) and "CLASS" not in obj.attrs:  # not a scale
                    out[f"{group}/{name}"] = obj[()]
    return out


def assert_same_results(path, ref):
    """Bit for bit in /results and /traces (NaN bits included), the same names, types, shapes."""
    with h5py.File(path, "r") as a, h5py.File(ref, "r") as b:
        da, db = datasets(a), datasets(b)
        assert sorted(da) == sorted(db)
        for name in db:
            assert da[name].dtype == db[name].dtype and da[name].shape == db[name].shape, name
            assert da[name].tobytes() == db[name].tobytes(), f"{path}: /{name} differs"


def shard_name(out, i, n):
    return out.parent / f"{out.stem}.shard-{i}-of-{n}.h5"


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """TINY (24 points) run directly at 1 rank, and as 3 shards at 3, 1 and 2 ranks."""
    d = tmp_path_factory.mktemp("shard")
    config = d / "tiny.ini"
    config.write_text(TINY)
    direct = d / "direct.h5"
    r = symsweep("run", config, "-o", direct, "--quiet", np=1)
    assert r.code == 0, r
    out = d / "out.h5"
    shards = []
    for i, np_ in zip(range(3), (3, 1, 2)):
        r = symsweep("run", config, "-o", out, "--shard", f"{i}/3", "--quiet", np=np_, threads=2)
        assert r.code == 0, r
        shards.append(shard_name(out, i, 3))
        assert shards[-1].exists() and not out.exists()
    return config, direct, out, shards


def test_shards_hold_their_contiguous_parts_and_merge_into_the_direct_file(sharded, tmp_path):
    config, direct, out, shards = sharded
    with h5py.File(direct, "r") as f:
        n = int(f.attrs["n_points"])
        direct_sha = f.attrs["config_sha256"]
    ends = []
    for i, path in enumerate(shards):
        with h5py.File(path, "r") as f:
            assert f.attrs["format"] == "symsweep-shard/1"
            assert (int(f.attrs["shard_index"]), int(f.attrs["shard_count"])) == (i, 3)
            a, b = int(f.attrs["shard_first"]), int(f.attrs["shard_end"])
            ends.append((a, b))
            assert f.attrs["config_sha256"] == direct_sha  # the config keeps the whole output
            assert list(f["point"][()]) == list(range(a, b))
            status = f["results/status"]
            assert status.shape == (b - a,) and (status[()] == 1).all()
            with h5py.File(direct, "r") as g:  # each point's values are the direct run's
                for name, values in datasets(f).items():
                    whole = g[name][()].reshape((n,) + values.shape[1:])
                    assert whole[a:b].tobytes() == values.tobytes(), name
    assert ends[0][0] == 0 and ends[-1][1] == n
    assert all(ends[k][1] == ends[k + 1][0] for k in range(len(ends) - 1))

    merged = tmp_path / "merged.h5"
    r = symsweep("merge", merged, *reversed(shards))  # any order
    assert r.code == 0, r
    assert_same_results(merged, direct)
    assert not os.path.exists(str(merged) + ".merging")
    with h5py.File(merged, "r") as f, h5py.File(direct, "r") as g:
        assert f.attrs["format"] == "symsweep/1"
        assert "shard_index" not in f.attrs
        assert f.attrs["config_sha256"] == g.attrs["config_sha256"]
        assert sorted(f.attrs.keys()) == sorted(list(g.attrs.keys()) + ["merged_from"])
        lines = f.attrs["merged_from"].splitlines()
        assert len(lines) == 3 and all(str(s.resolve()) in lines[k] for k, s in
                                       enumerate(shards))
        assert f["provenance/runs"][0]["kind"] == b"merge"
    r = symsweep("inspect", merged)
    assert r.code == 0 and "merged from:" in r.out, r


def test_inspect_and_open_sweep_say_a_file_is_a_shard(sharded):
    _, _, _, shards = sharded
    r = symsweep("inspect", shards[1])
    assert r.code == 0, r
    with h5py.File(shards[1], "r") as f:
        a, b = int(f.attrs["shard_first"]), int(f.attrs["shard_end"])
    assert f"SHARD 1 of 3 (0-based): points [{a}, {b}) of 24" in r.out, r.out
    assert "optimizer.eta: 4 value(s)" in r.out  # the grid's axes, in config order
    sys.path.insert(0, str(SOURCE_DIR / "analysis"))
    from symsweep_analysis.dataset import open_sweep
    with pytest.raises(ValueError, match="a shard file .*symsweep merge"):
        open_sweep(str(shards[1]))


@pytest.mark.parametrize("shard", ["3/3", "0/0", "a/b", "1", "0/25"])
def test_bad_shard_exits_2_and_creates_nothing(tiny_config, tmp_path, shard):
    out = tmp_path / "out.h5"
    for dry in ([], ["--dry-run"]) if shard in ("3/3", "0/25") else ([],):
        r = symsweep("run", tiny_config, "-o", out, "--shard", shard, *dry)
        assert r.code == 2, r
        assert "--shard" in r.err and len(r.err.strip().splitlines()) == 1, r.err
        assert os.listdir(tmp_path) == ["tiny.ini"]


def test_dry_run_of_a_shard_gives_its_part(tiny_config, tmp_path):
    r = symsweep("run", tiny_config, "-o", tmp_path / "out.h5", "--shard", "2/5", "--dry-run")
    assert r.code == 0, r
    assert "shard 2 of 5: points [" in r.out and "out.shard-2-of-5.h5" in r.out, r.out
    assert os.listdir(tmp_path) == ["tiny.ini"]


def test_resume_takes_no_shard(sharded):
    _, _, _, shards = sharded
    before = sha256_of(shards[0])
    r = symsweep("resume", shards[0], "--shard", "0/3")
    assert r.code == 2 and "--shard" in r.err, r
    assert sha256_of(shards[0]) == before


def refused(args, out, why):
    r = symsweep("merge", out, *args)
    assert r.code == 2, r
    assert why in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert not os.path.exists(str(out) + ".merging")
    return r


def test_merge_refusals_leave_nothing(sharded, tmp_path):
    config, direct, out, shards = sharded
    merged = tmp_path / "m.h5"
    r = refused([shards[0], shards[2]], merged, "do not cover the grid")
    with h5py.File(shards[1], "r") as f:
        assert f"points [{f.attrs['shard_first']}, {f.attrs['shard_end']})" in r.err
    refused([shards[0], shards[1], shards[1], shards[2]], merged, "the shards overlap")
    refused([direct], merged, "not a shard")
    assert not merged.exists()
    # Another config: the same grid, another number of steps.
    other = tmp_path / "other.h5"
    r = symsweep("run", config, "-o", other, "--shard", "1/3", "--set", "optimizer.steps=40",
                 "--quiet", np=1)
    assert r.code == 0, r
    refused([shards[0], shard_name(other, 1, 3), shards[2]], merged, "different sweeps")
    assert not merged.exists()
    # A shard with points not done: its first checkpoint fails (injected), every point pending.
    broken = tmp_path / "broken.h5"
    r = symsweep("run", config, "-o", broken, "--shard", "1/3", "--quiet", np=1,
                 env={"SYMSWEEP_INJECT_FAULT": "checkpoint:0:1"})
    assert r.code == 1, r
    with h5py.File(shard_name(broken, 1, 3), "r") as f:
        pending = int((f["results/status"][()] != 1).sum())
        held = int(f.attrs["shard_end"]) - int(f.attrs["shard_first"])
    assert pending == held
    r = refused([shards[0], shard_name(broken, 1, 3), shards[2]], merged,
                f"{pending} of {held} point(s) not done")
    assert f"symsweep resume {shard_name(broken, 1, 3)}" in r.err
    assert not merged.exists()
    # An existing output is never replaced.
    merged.write_bytes(b"precious")
    refused(shards, merged, "exists")
    assert merged.read_bytes() == b"precious"


# Points of about 0.05 s: a shard of 12 of them runs long enough to be killed part-way.
SLOW = """
[sweep]
name = slowshard

[model]
name = linear2
dx = 4
h = 4
dy = 4

[data]
n = 64
noise_var = 0.1

[optimizer]
steps = 40000
tol = 0

[record]
every = 8000

[axes]
optimizer.eta = logspace(-2.5, -1, 6)
optimizer.batch = 1, 4, 16, 64
"""


def done_count(path):
    with h5py.File(path, "r") as f:
        return int((f["results/status"][()] == 1).sum())


def test_a_killed_shard_resumes_its_own_part_then_merges(tmp_path):
    config = tmp_path / "slow.ini"
    config.write_text(SLOW)
    out = tmp_path / "slow.h5"
    shard1 = shard_name(out, 1, 2)
    p = start("run", config, "-o", out, "--shard", "1/2", "--checkpoint", "0.1", "--quiet")

    def some_done():
        try:
            return shard1.exists() and done_count(shard1) >= 2
        except OSError:  # being written
            return False
    wait_for(some_done, timeout=60)
    kill_9_all(p)
    done = done_count(shard1)
    r = symsweep("run", config, "-o", out, "--shard", "0/2", "--quiet", np=1)
    assert r.code == 0, r
    merged = tmp_path / "merged.h5"
    if done < 12:  # the kill came before the last checkpoint (almost always)
        refused([shard_name(out, 0, 2), shard1], merged,
                f"{12 - done} of 12 point(s) not done")
        assert f"symsweep resume {shard1}" in symsweep("merge", merged, shard_name(out, 0, 2),
                                                       shard1).err
    r = symsweep("resume", shard1, np=1)  # only its own part: the 12 - done left
    assert r.code == 0, r
    assert done_count(shard1) == 12
    r = symsweep("merge", merged, shard_name(out, 0, 2), shard1)
    assert r.code == 0, r
    direct = tmp_path / "direct.h5"
    r = symsweep("run", config, "-o", direct, "--quiet", np=2)
    assert r.code == 0, r
    assert_same_results(merged, direct)


BIG = """
[sweep]
name = big

[model]
name = linear2
dx = 3
h = 2
dy = 2

[data]
n = 16

[optimizer]
steps = 20
check_every = 10

[record]
every = 10

[axes]
optimizer.eta = logspace(-2, 0.5, 40)
optimizer.batch = 1, 4, 16
sweep.seed = range(0, 20)
"""


def test_a_shard_file_holds_only_its_part(tmp_path):
    config = tmp_path / "big.ini"
    config.write_text(BIG)
    out = tmp_path / "big.h5"
    r = symsweep("run", config, "-o", out, "--shard", "7/100", "--quiet", np=1)
    assert r.code == 0, r
    shard = shard_name(out, 7, 100)
    with h5py.File(shard, "r") as f:
        n = int(f.attrs["n_points"])
        held = int(f.attrs["shard_end"]) - int(f.attrs["shard_first"])
        per_point = 0
        for group in ("results", "traces", "run"):
            for obj in f[group].values():
                if isinstance(obj, h5py.Dataset) and "CLASS" not in obj.attrs:
                    assert obj.shape[0] == held
                    per_point += obj.dtype.itemsize * int(np.prod(obj.shape[1:], dtype=np.int64))
    assert n == 2400 and held == 24
    size = os.path.getsize(shard)
    print(f"shard of {held} of {n} points: {size} bytes; the whole grid's data "
          f"{per_point * n} bytes")
    assert size < per_point * n / 10
