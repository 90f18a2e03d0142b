"""The shipped alignment sweep (jobs/sweeps/alignment.ini) at a reduced size through the real
driver (a second or two on 2 ranks), and what `symsweep_analysis alignment` reads from it
(README, Models: mlp2):

- GD takes the full gradient, so its points repeat bit for bit across the batch size (the
  figure draws them as one band per step size);
- the table's numbers are the seeds' mean, min and max of /results/mlp_alignment over the points
  that did not diverge, read here with h5py alone; a point not done counts in no number;
- from the same start, SGD at the larger noise scale eta / S aligns the layers more than GD at
  every seed, and more than SGD at the smaller noise scale, for both nets;
- a file without the field is refused with exit 2 and one line.
"""
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_support import SWEEPS, cli, run_config  # noqa: E402
from symsweep_analysis import open_sweep  # noqa: E402
from symsweep_analysis.alignment import alignment_numbers  # noqa: E402

AXES = ("model.activation", "optimizer.eta", "optimizer.batch", "optimizer.method", "sweep.seed")


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    return run_config(SWEEPS / "alignment.ini", tmp_path_factory.mktemp("alignment") / "al.h5",
                      "data.n=128", "optimizer.steps=4000", "record.every=1000",
                      "record.final_window=1000", "axes.optimizer.eta=0.05",
                      "axes.optimizer.batch=1, 16", "axes.sweep.seed=0, 1")


def by_axes(path):
    """{field: array over the grid} and {axis: values as text}, with h5py alone."""
    with h5py.File(path, "r") as f:
        order = [d.label for d in f["results/status"].dims][:len(AXES)]
        assert tuple(order) == AXES
        values = {a: [v.decode() if isinstance(v, bytes) else str(v) for v in f["axes"][a][()]]
                  for a in AXES}
        fields = {n: f["results/" + n][()] for n in ("mlp_alignment", "diverged_at", "status")}
        fields["trace"] = f["traces/mlp_alignment"][()]
    return fields, values


def test_gd_repeats_bit_for_bit_across_the_batch_size(path):
    fields, values = by_axes(path)
    gd = values["optimizer.method"].index("gd")
    for name in ("mlp_alignment", "trace"):
        a = fields[name][:, :, :, gd]
        for s in range(1, a.shape[2]):
            assert a[:, :, s].tobytes() == a[:, :, 0].tobytes(), name


def test_the_table_is_the_seeds_of_the_file_and_pending_points_count_in_none(path, tmp_path):
    fields, values = by_axes(path)
    rows = alignment_numbers(open_sweep(path))
    assert len(rows) == int(np.prod(fields["status"].shape[:-1]))
    for r in rows:
        at = tuple(values[a].index(r["cell"][a]) for a in AXES[:-1])
        seeds = fields["mlp_alignment"][at][fields["diverged_at"][at] < 0]
        assert r["seeds"] == len(seeds) == 2
        assert r["end"] == pytest.approx(seeds.mean(), rel=1e-12)
        assert (r["end_min"], r["end_max"]) == (seeds.min(), seeds.max())
        assert r["start"] == pytest.approx(fields["trace"][at][:, 0].mean(), rel=1e-12)
    # One point made pending: it leaves its cell's numbers, and the command says so.
    copy = tmp_path / "pending.h5"
    shutil.copy(path, copy)
    with h5py.File(copy, "r+") as f:
        status = f["results/status"][()]
        status[0, 0, 0, 0, 0] = 0
        f["results/status"][()] = status
    row = next(r for r in alignment_numbers(open_sweep(copy))
               if tuple(values[a].index(r["cell"][a]) for a in AXES[:-1]) == (0, 0, 0, 0))
    assert row["seeds"] == 1 and row["end"] == fields["mlp_alignment"][0, 0, 0, 0, 1]
    png = tmp_path / "pending.png"
    proc = cli("alignment", copy, "-o", png)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"left out 1 of {fields['status'].size} point(s) whose status is not done " \
        "(1 pending)" in proc.stdout
    table = [line for line in proc.stdout.splitlines() if line.startswith(("relu", "tanh"))]
    assert len(table) == len(rows)


def test_sgd_at_the_larger_noise_scale_aligns_more_than_gd_from_the_same_start(path):
    rows = alignment_numbers(open_sweep(path))
    for act in ("relu", "tanh"):
        mine = [r for r in rows if r["cell"]["model.activation"] == act]
        gd = [r for r in mine if r["method"] == "gd"]
        loud, quiet = sorted((r for r in mine if r["method"] == "sgd"), key=lambda r: -r["noise"])
        assert loud["noise"] > quiet["noise"]
        assert loud["end_min"] > max(r["end_max"] for r in gd), (act, loud, gd)
        assert loud["end"] > quiet["end"], (act, loud, quiet)
        assert len({r["start"] for r in mine}) == 1  # one start for every method and batch size


def test_a_file_without_the_field_is_refused(path, tmp_path):
    copy = tmp_path / "no_field.h5"
    shutil.copy(path, copy)
    with h5py.File(copy, "r+") as f:
        del f["results/mlp_alignment"]
    proc = cli("alignment", copy, "-o", tmp_path / "x.png")
    assert proc.returncode == 2
    assert "no /results/mlp_alignment" in proc.stderr and proc.stderr.count("\n") == 1, proc
