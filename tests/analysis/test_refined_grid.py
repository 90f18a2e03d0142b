"""A refined sweep read back: open_sweep gives the point table, to_grid the fine grid masked where
not resolved, phase draws it with its cells; at 65 x 65 on poly's L_beta (a boundary with no
feature smaller than a level-0 cell), every resolved point's outcome is the uniform sweep's."""
import re

import numpy as np
import pytest

from analysis_support import SWEEPS, cli, run_config, symsweep

# The shipped refined L_beta sweep (jobs/sweeps/l_beta_refined.ini) at 65 x 65, 4 levels, every
# point within the budget.
SHRINK = ["optimizer.steps=3000", "axes.model.beta=linspace(-0.5, 0.5, 65)",
          "axes.optimizer.eta=linspace(1.96, 2.06, 65)", "refine.levels=4", "refine.budget=0"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("refine65")
    out = {}
    for name, extra in (("refined", []), ("uniform", ["refine.axes="]),
                        ("budget", ["refine.budget=300"])):
        out[name] = run_config(SWEEPS / "l_beta_refined.ini", d / f"{name}.h5", *SHRINK, *extra)
    return out


def test_every_resolved_point_of_a_refined_sweep_has_the_uniform_sweeps_outcome(files):
    from symsweep_analysis import open_sweep, to_grid

    uniform = open_sweep(files["uniform"])
    for name in ("refined", "budget"):
        table = open_sweep(files[name])
        grid = to_grid(table)
        resolved = grid["resolved"].values
        assert resolved.any()
        assert (grid["outcome"].values[resolved] == uniform["outcome"].values[resolved]).all(), name
        # Computed points carry the uniform sweep's numbers in every field.
        computed = grid["computed"].values
        assert computed.sum() == table.sizes["point"]
        for field in ("final_loss", "K", "steps_run", "sharpness"):
            a, b = grid[field].values[computed], uniform[field].values[computed]
            assert a.tobytes() == b.tobytes(), (name, field)
    full = to_grid(open_sweep(files["refined"]))
    assert full["resolved"].values.all()  # no budget: every point resolved
    print(f"65 x 65 L_beta: {open_sweep(files['refined']).sizes['point']} points run of "
          f"{uniform['status'].size}")
    assert open_sweep(files["refined"]).sizes["point"] < uniform["status"].size / 2


def test_to_grid_masks_what_is_not_resolved_as_symsweep_inspect_counts_it(files):
    from symsweep_analysis import code, open_sweep, to_grid

    for name in ("refined", "budget"):
        grid = to_grid(open_sweep(files[name]))
        resolved = grid["resolved"].values
        r = symsweep("inspect", files[name])
        assert r.code == 0, r
        found = re.search(r"(\d+) computed, (\d+) resolved", r.out)
        assert found, r.out
        assert int(found.group(1)) == int(grid["computed"].sum()), name
        assert int(found.group(2)) == int(resolved.sum()), name
        assert "state: complete" in r.out
        if name == "budget":
            assert not resolved.all()  # the budget left cells unsplit
            assert (grid["status"].values[~resolved] == code(grid["status"], "pending")).all()
            assert (grid["outcome"].values[~resolved] == 0).all()
            assert np.isnan(grid["final_loss"].values[~resolved]).all()
        assert (grid["status"].values[resolved] == code(grid["status"], "done")).all()


def test_the_point_table_and_its_levels(files):
    import h5py
    from symsweep_analysis import open_sweep

    table = open_sweep(files["refined"])
    r = symsweep("inspect", files["refined"])
    levels = dict(re.findall(r" (\d+): (\d+);", r.out.split("points per level:")[1].split("\n")[0]))
    values, counts = np.unique(table["level"].values, return_counts=True)
    assert {str(v): str(c) for v, c in zip(values, counts)} == levels
    with h5py.File(files["refined"], "r") as f:
        shape = tuple(len(f[k]) for k in table.attrs["grid_axes"])
        idx = np.unravel_index(table["point"].values, shape)
        for k, key in enumerate(table.attrs["grid_axes"]):
            assert (table[key].values == f[key][()][idx[k]]).all()


def test_phase_draws_a_refined_sweep_with_its_cells(files, tmp_path):
    from matplotlib.collections import LineCollection
    from symsweep_analysis import open_sweep, plot_phase
    from symsweep_analysis.refine import structure

    for name in ("refined", "budget"):
        table = open_sweep(files[name])
        _, cells, _ = structure(table)
        fig = plot_phase(table, "optimizer.eta", "model.beta")
        outlines = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
        assert [len(c.get_segments()) for c in outlines] == [len(cells)]
        sizes = {size for _, size, _ in cells}
        assert len(sizes) > 1  # cells of different sizes
        assert "points run" in fig._suptitle.get_text()
    out = tmp_path / "budget.png"  # the command, with the boundary table of the fine grid
    ran = cli("phase", str(files["budget"]), "--table", "-o", str(out))
    assert ran.returncode == 0 and out.exists(), ran
    rows = [line for line in ran.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 65  # the header, then one row per model.beta of the fine grid


SGD = """
[sweep]
name = refine_sgd

[model]
name = poly
preset = spread
x0 = 0.01

[data]
n = 16

[optimizer]
steps = 300
tol = 1e-12
check_every = 50

[axes]
optimizer.eta = geomspace(0.3, 2.5, 17)
optimizer.batch = 1, 2, 3, 4, 5, 6, 7, 8, 9
sweep.seed = range(0, 4)

[refine]
axes = optimizer.eta, optimizer.batch
levels = 2
rule = fraction
z = 1
"""


def test_to_grid_of_a_sweep_with_seeds_decides_by_the_fraction_rule_as_symsweep_does(tmp_path):
    from symsweep_analysis import code, open_sweep, to_grid

    cfg = tmp_path / "sgd.ini"
    cfg.write_text(SGD)
    for name, extra in (("refined", []), ("uniform", ["--set", "refine.axes="])):
        r = symsweep("run", cfg, "-o", tmp_path / f"{name}.h5", *extra, "--quiet", np=2)
        assert r.code == 0, r
    grid = to_grid(open_sweep(tmp_path / "refined.h5"))
    uniform = open_sweep(tmp_path / "uniform.h5")
    assert grid["status"].dims == uniform["status"].dims
    r = symsweep("inspect", tmp_path / "refined.h5")
    found = re.search(r"(\d+) computed, (\d+) resolved", r.out)
    resolved = grid["resolved"].values
    # The seeds of a location are resolved together; the count is symsweep's (refine.hpp).
    assert (resolved == resolved[..., :1]).all()
    assert int(found.group(2)) * 4 == int(resolved.sum())
    assert int(found.group(1)) * 4 == int(grid["computed"].sum())
    assert ((grid["status"].values == code(grid["status"], "done")) == resolved).all()
    computed = grid["computed"].values
    assert (grid["outcome"].values[computed] == uniform["outcome"].values[computed]).all()
