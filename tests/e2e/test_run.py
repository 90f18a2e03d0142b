"""The driver end to end: a real sweep under mpiexec, read back with h5py."""
import configparser
import hashlib
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import BIN, SOURCE_DIR, axis_ends, symsweep

sys.path.insert(0, str(SOURCE_DIR / "tests" / "mpi"))
import compare_results  # noqa: E402

RESULT_FIELDS = {
    "status": (), "outcome": (), "steps_run": (), "diverged_at": (), "final_loss": (),
    "grad_norm": (), "sharpness": (), "C_final": ("k",),
}
AXES = {
    "optimizer.eta": 10 ** np.linspace(-2, 0.5, 4),
    "optimizer.batch": np.array([1, 4, 16]),
    "sweep.seed": np.array([0, 1]),
}


def test_tiny_sweep_under_mpiexec_reads_back_with_h5py(tmp_path, tiny_config):
    out = tmp_path / "tiny.h5"
    r = symsweep("run", tiny_config, "-o", out, np=2, threads=2)
    assert r.code == 0, r
    assert "done:" in r.out and "wrote" in r.out
    grid = (4, 3, 2)
    with h5py.File(out, "r") as f:
        a = f.attrs
        assert a["format"] == "symsweep/1"
        assert re.fullmatch(r"\d+\.\d+\.\d+", a["symsweep_version"])
        assert a["git_commit"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a["created_utc"])
        assert a["mpi_ranks"] == 2 and a["omp_threads"] == 2
        assert a["n_points"] == 24 and a["seed"] == 0  # the base seed; the axis overrides it
        assert a["name"] == "tiny" and a["model"] == "linear2"
        assert a["hosts"]
        assert "run" in a["command_line"] and str(tiny_config) in a["command_line"]
        text = a["config_text"]
        assert a["config_sha256"] == hashlib.sha256(text.encode()).hexdigest()
        assert "[axes]\noptimizer.eta = logspace(-2, 0.5, 4)\n" in text

        # Axes: values in order, integer keys as integers, dimension scales of every dataset.
        assert list(f["axes"]) == sorted(AXES)
        np.testing.assert_array_equal(f["k"][()], [0, 1])
        for key, values in AXES.items():
            ds = f["axes"][key]
            np.testing.assert_allclose(ds[()], values, rtol=1e-15)
            assert ds.dtype == (np.int64 if key != "optimizer.eta" else np.float64)
            assert ds.attrs["CLASS"] == b"DIMENSION_SCALE"
        for name, trailing in RESULT_FIELDS.items():
            ds = f["results"][name]
            assert ds.shape == grid + ((2,) if trailing else ()), name
            assert ds.attrs["description"] and ds.attrs["long_name"]
            labels = [d.label for d in ds.dims]
            assert labels == list(AXES) + list(trailing), name
            for i, key in enumerate(AXES):
                assert ds.dims[i][0] == f["axes"][key]  # the same object as /<key>
                assert f[key] == f["axes"][key]
                assert f["results"][key] == f[key]  # linked where netCDF readers look
            if trailing:
                assert ds.dims[len(AXES)][0] == f["k"] == f["results/k"]
        assert f["results/steps_run"].attrs["units"] == "steps"
        assert "units" not in f["results/final_loss"].attrs  # dimensionless

        status = f["results/status"]
        assert h5py.check_enum_dtype(status.dtype) == {"pending": 0, "done": 1, "failed": 2}
        assert (status[()] == 1).all(), "every point done"
        outcomes = h5py.check_enum_dtype(f["results/outcome"].dtype)
        assert outcomes == {"unknown": 0, "converged": 1, "diverged": 2, "moving": 3,
                            "periodic": 4, "aperiodic": 5}
        for name, enum in (("status", {"pending": 0, "done": 1, "failed": 2}), ("outcome", outcomes)):
            attrs = f["results"][name].attrs  # CF conventions for categorical data
            assert list(attrs["flag_values"]) == list(enum.values())
            assert attrs["flag_meanings"] == " ".join(enum)
        outcome = f["results/outcome"][()]
        assert set(np.unique(outcome)) <= {1, 2, 3, 4, 5} and 2 in outcome  # eta = 3.16 diverges
        # Only full-batch GD (batch 16 = n) can end periodic or aperiodic; SGD never does.
        assert set(np.unique(outcome[:, :2, :])) <= {1, 2, 3}
        diverged = outcome == 2
        assert (f["results/diverged_at"][()][diverged] >= 1).all()
        assert np.isnan(f["results/final_loss"][()][diverged]).all()
        assert np.isfinite(f["results/final_loss"][()][~diverged]).all()
        assert (f["results/steps_run"][()][~diverged] <= 60).all()

        # Traces: records at 0, 20, 40, 60; /traces/step is their scale.
        np.testing.assert_array_equal(f["traces/step"][()], [0, 20, 40, 60])
        assert f["traces/loss"].shape == grid + (4,)
        assert f["traces/C"].shape == grid + (4, 2)
        assert [d.label for d in f["traces/C"].dims] == list(AXES) + ["step", "k"]
        assert f["traces/C"].dims[3][0] == f["traces/step"] == f["step"]
        assert np.isfinite(f["traces/loss"][()][..., 0]).all()

        # Placement: the dynamic schedule (the default) hands points to ranks 0 and 1 on request.
        rank = f["run/rank"][()].reshape(-1)
        assert set(rank.tolist()) <= {0, 1}, rank
        assert (f["run/seconds"][()] >= 0).all()


def test_a_choice_axis_round_trips(tmp_path, tiny_config):
    """data.mode swept: a string scale in the file, a text coordinate in xarray, and each point
    run in its own mode (online points see the population, so their final loss differs)."""
    out = tmp_path / "modes.h5"
    r = symsweep("run", tiny_config, "-o", out, "--set", "axes.data.mode=online, finite",
                 "--set", "optimizer.eta=0.1", np=2)
    assert r.code == 0, r
    with h5py.File(out, "r") as f:
        scale = f["axes/data.mode"]
        assert scale.dtype.kind == "S" and scale.attrs["_Encoding"] == "utf-8"
        assert [v.decode() for v in scale[()]] == ["online", "finite"]
        assert [d.label for d in f["results/final_loss"].dims][-1] == "data.mode"
        assert "data.mode = online, finite" in f.attrs["config_text"]
        loss = f["results/final_loss"][()]
        assert not np.array_equal(loss[..., 0], loss[..., 1])
    xr = pytest.importorskip("xarray")
    results = xr.open_dataset(out, group="results", engine="h5netcdf")
    assert list(results.coords["data.mode"].values) == ["online", "finite"]


def test_help_shows_every_value_form():
    r = symsweep("--help")
    assert r.code == 0
    for form in ("a vector 'a, b, c'", "a matrix 'a, b; c, d'", "(choice and text keys)",
                 "'|' between values", "mode = finite  *"):
        assert form in r.out, form


def test_xarray_reads_labelled_dimensions(tmp_path, tiny_config):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    out = tmp_path / "tiny.h5"
    assert symsweep("run", tiny_config, "-o", out, "--quiet").code == 0
    root = xr.open_dataset(out, engine="h5netcdf")
    np.testing.assert_allclose(root["optimizer.eta"].values, AXES["optimizer.eta"], rtol=1e-15)
    results = xr.open_dataset(out, group="results", engine="h5netcdf")
    assert results["final_loss"].dims == tuple(AXES)
    for key, values in AXES.items():  # the axes are coordinates of /results itself
        np.testing.assert_allclose(results.coords[key].values, values, rtol=1e-15)
    assert results["outcome"].attrs["flag_meanings"] == \
        "unknown converged diverged moving periodic aperiodic"
    assert results["C_final"].dims == tuple(AXES) + ("k",)
    traces = xr.open_dataset(out, group="traces", engine="h5netcdf")
    assert traces["C"].dims == tuple(AXES) + ("step", "k")
    np.testing.assert_array_equal(traces["step"].values, [0, 20, 40, 60])
    np.testing.assert_array_equal(traces.coords["step"].values, [0, 20, 40, 60])
    np.testing.assert_array_equal(traces.coords["sweep.seed"].values, AXES["sweep.seed"])
    # Coordinates come from the root: assign them and select by value.
    loss = results["final_loss"].assign_coords({k: root[k] for k in AXES})
    assert loss.sel({"optimizer.batch": 16, "sweep.seed": 1}).shape == (4,)


def test_the_stored_config_reproduces_the_file(tmp_path, tiny_config):
    first = tmp_path / "first.h5"
    assert symsweep("run", tiny_config, "-o", first, np=3).code == 0
    with h5py.File(first, "r") as f:
        text = f.attrs["config_text"]
    again = tmp_path / "again.ini"
    again.write_text(text)
    second = tmp_path / "second.h5"
    r = symsweep("run", again, "-o", second, "--quiet")  # no mpiexec: a singleton MPI process
    assert r.code == 0, r
    assert r.out == ""
    assert compare_results.main([str(first), str(second)]) == 0


def test_set_overrides_and_fixes_a_swept_key(tmp_path, tiny_config):
    out = tmp_path / "fixed.h5"
    r = symsweep("run", tiny_config, "-o", out, "--set", "optimizer.eta=0.05",
                 "--set", "axes.optimizer.batch=2,8")
    assert r.code == 0, r
    with h5py.File(out, "r") as f:
        assert list(f["axes"]) == ["optimizer.batch", "sweep.seed"]
        np.testing.assert_array_equal(f["axes/optimizer.batch"][()], [2, 8])
        assert f["results/status"].shape == (2, 2)
        assert "eta = 0.05" in f.attrs["config_text"]


def test_without_traces_there_is_no_traces_group(tmp_path, tiny_config):
    out = tmp_path / "notrace.h5"
    assert symsweep("run", tiny_config, "-o", out, "--set", "record.every=0").code == 0
    with h5py.File(out, "r") as f:
        assert "traces" not in f
        assert (f["results/status"][()] == 1).all()
    r = symsweep("inspect", out)
    assert r.code == 0 and "traces: none" in r.out


def _fields(group):
    """A group's fields, without the dimension scales linked into it."""
    return {k for k, v in group.items() if v.attrs.get("CLASS") != b"DIMENSION_SCALE"}


@pytest.mark.parametrize("mode", ["finite", "online"])
def test_diagnostics_not_measured_are_not_in_the_file(tmp_path, tiny_config, mode):
    """record.diagnostics: the file declares what was measured, and every other field holds the
    same bits as with every diagnostic (online too: the noise draws are keyed by step)."""
    full, some = tmp_path / "full.h5", tmp_path / "some.h5"
    common = ["--set", f"data.mode={mode}", "--set", "record.noise_batch=64"]
    assert symsweep("run", tiny_config, "-o", full, *common, np=2).code == 0
    r = symsweep("run", tiny_config, "-o", some, *common, "--set",
                 "record.diagnostics=loss, results.sharpness, traces.grad_noise", np=2)
    assert r.code == 0, r
    with h5py.File(full, "r") as f, h5py.File(some, "r") as g:
        dropped = {"C_final", "theta_norm", "hessian_trace", "grad_noise", "noether_flow",
                   "noether_flow_trace", "noether_flow_spectrum"}
        assert _fields(g["results"]) == _fields(f["results"]) - dropped
        assert _fields(g["traces"]) == {"loss", "grad_noise"}
        assert "noether_flow" in _fields(f["traces"]) and "eq_gap" in _fields(f["traces"])
        for group in ("results", "traces"):
            for name in _fields(g[group]):
                a, b = f[group][name][()], g[group][name][()]
                assert a.tobytes() == b.tobytes(), f"{group}/{name}"
        assert "diagnostics = loss, results.sharpness, traces.grad_noise" in g.attrs["config_text"]


def test_the_readme_config_example_runs(tmp_path):
    readme = (SOURCE_DIR / "README.md").read_text()
    blocks = re.findall(r"```ini\n(.*?)```", readme, re.S)
    assert len(blocks) == 1, "expected one INI example in the README"
    cfg = tmp_path / "example.ini"
    cfg.write_text(blocks[0])
    r = symsweep("run", cfg, "-o", tmp_path / "example.h5", "--set", "optimizer.steps=10",
                 "--set", "record.every=10",
                 "--set", "axes.optimizer.eta=0.01, 1", "--set", "axes.sweep.seed=0")
    assert r.code == 0, r


def test_axis_ends_helper_follows_the_grammar():
    assert axis_ends("1, 2, 4") == ("1", "4")
    assert axis_ends("linspace(0.5, 2, 7)") == ("0.5", "2.0")
    assert axis_ends("logspace(-2, 0, 31)") == ("0.01", "1.0")
    assert axis_ends("range(0, 3)") == ("0.0", "2.0")
    assert axis_ends("range(1, 10, 4)") == ("1.0", "9.0")


def test_static_schedule_places_p_mod_r_and_writes_the_same_bits(tmp_path, tiny_config):
    """--schedule static runs point p on rank p mod R; its /results and /traces are the dynamic
    default's bit for bit (compare_results leaves /run, where rank and seconds differ)."""
    files = []
    for schedule in ("dynamic", "static"):
        out = tmp_path / f"{schedule}.h5"
        r = symsweep("run", tiny_config, "-o", out, "--schedule", schedule, np=3)
        assert r.code == 0, r
        files.append(out)
    with h5py.File(files[1], "r") as f:
        rank = f["run/rank"][()].reshape(-1)
        np.testing.assert_array_equal(rank, np.arange(rank.size) % 3)
    assert compare_results.main([str(p) for p in files]) == 0


def test_a_sweep_without_axes_has_scalar_results(tmp_path):
    cfg = tmp_path / "one.ini"
    cfg.write_text("[model]\nname = linear2\n[optimizer]\nsteps = 20\n[record]\nevery = 10\n")
    out = tmp_path / "one.h5"
    r = symsweep("run", cfg, "-o", out, np=2)  # rank 1 has nothing to do
    assert r.code == 0, r
    with h5py.File(out, "r") as f:
        assert len(f["axes"]) == 0
        assert f["results/status"].shape == ()
        assert f["results/status"][()] == 1
        assert f["traces/loss"].shape == (3,)
        assert f.attrs["n_points"] == 1


def test_online_mode_runs(tmp_path, tiny_config):
    out = tmp_path / "online.h5"
    r = symsweep("run", tiny_config, "-o", out, "--set", "data.mode=online", np=2)
    assert r.code == 0, r
    with h5py.File(out, "r") as f:
        assert (f["results/status"][()] == 1).all()
        loss = f["results/final_loss"][()]
        finite = np.isfinite(loss)
        # The population loss is at least 1/2 tr(Sigma_eps) = 0.1.
        assert (loss[finite] >= 0.1 - 1e-12).all()


def test_inspect_summarises_a_file(tmp_path, tiny_config):
    out = tmp_path / "tiny.h5"
    assert symsweep("run", tiny_config, "-o", out, np=2).code == 0
    r = symsweep("inspect", out)
    assert r.code == 0, r
    assert "symsweep/1" in r.out
    assert "grid: 24 point(s)" in r.out
    assert "optimizer.eta: 4 value(s) = logspace(-2, 0.5, 4)" in r.out
    assert "status: 0 pending, 24 done, 0 failed" in r.out
    assert re.search(r"outcome: 0 unknown, \d+ converged, \d+ diverged, \d+ moving", r.out)
    assert re.search(r"final_loss: \d+ finite, min \S+, median \S+, max \S+", r.out)
    assert re.search(r"numerics version \d+\n", r.out)
    assert ("trailing dimensions: coord (8: 0 .. 7), flow_eig (2: 0 .. 1), generator (3: 0 .. 2), "
            "hidden (2: 0 .. 1), k (2: 0 .. 1), layer (2: 0 .. 1), model_layer (2: 0 .. 1), "
            "orbit_point (16: 0 .. 15), step (4: 0 .. 60), symmetry (1: 0 .. 0)") in r.out
    assert ("traces: C, dist_to_min, eq_gap, grad_noise, hessian_trace, loss, noether_flow, "
            "noether_flow_spectrum, noether_flow_trace, sharpness, theta_norm") in r.out
    assert "seed swept" in r.out


def test_inspect_rejects_what_is_not_a_result_file(tmp_path):
    assert symsweep("inspect", tmp_path / "missing.h5").code == 2
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    r = symsweep("inspect", other)
    assert r.code == 2 and "not a symsweep result file (no format attribute)" in r.err, r
    text = tmp_path / "text.h5"
    text.write_text("hello")
    r = symsweep("inspect", text)
    assert r.code == 2 and "not an HDF5 file" in r.err


@pytest.mark.parametrize("format_,expected", [
    ("netcdf", "not a symsweep result file (its format is 'netcdf')"),
    ("symsweep/2", "written in format 'symsweep/2', which this build (reading symsweep/1) does "
                   "not know"),
])
def test_inspect_refuses_a_foreign_format(tmp_path, tiny_config, format_, expected):
    out = tmp_path / "tiny.h5"
    assert symsweep("run", tiny_config, "-o", out, "--quiet").code == 0
    with h5py.File(out, "a") as f:
        f.attrs["format"] = format_
    r = symsweep("inspect", out)
    assert r.code == 2 and expected in r.err, r
    assert r.err.count("\n") == 1, "one line"


def test_inspect_of_a_truncated_file_says_so_in_one_line(tmp_path, tiny_config):
    out = tmp_path / "tiny.h5"
    assert symsweep("run", tiny_config, "-o", out, "--quiet").code == 0
    data = out.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 3])
    r = symsweep("inspect", cut)
    assert r.code == 2, r
    assert "cannot be opened as HDF5 (truncated, damaged, or still being written?)" in r.err
    assert r.err.count("\n") == 1 and "#0" not in r.err, "HDF5's raw error stack leaked"


def test_help_lists_models_keys_and_grammar():
    r = symsweep("--help")
    assert r.code == 0
    for part in ("symsweep run CONFIG.ini", "symsweep inspect", "Exit status", "[optimizer]",
                 "eta = 0.01  *", "logspace(a, b, n)", "linear2:", "init_u_scale", "n = 256  *",
                 "finite, online"):
        assert part in r.out, part
    r = symsweep("run", "--help")
    assert r.code == 0 and "--overwrite" in r.out and "--set" in r.out
    r = symsweep("--version")
    assert r.code == 0 and r.out.startswith("symsweep ")


def test_every_shipped_sweep_runs_at_a_tiny_size(tmp_path):
    configs = sorted((SOURCE_DIR / "jobs" / "sweeps").glob("*.ini"))
    assert configs, "no shipped sweeps"
    for cfg in configs:
        # Each axis shrunk to its two end values, 20 steps: the config's own keys and ranges.
        parser = configparser.ConfigParser(inline_comment_prefixes=("#",))
        parser.read(cfg)
        sets = ["--set", "optimizer.steps=20"]
        for key in ("every", "final_window"):  # must not exceed the steps (issue 15, item 11)
            if parser.has_section("record") and int(parser["record"].get(key, "0")) > 20:
                sets += ["--set", f"record.{key}=20"]
        axes = parser["axes"] if parser.has_section("axes") else {}
        # A refined sweep's refined axes keep 3 values (2^1 + 1), refined over one level.
        refined = parser["refine"].get("axes", "") if parser.has_section("refine") else ""
        refined = [k.strip() for k in refined.split(",") if k.strip()]
        if refined:
            # (two seeds: refine.z = 1 lets the fraction rule split, as it needs n > z^2 / 2)
            sets += ["--set", "refine.levels=1", "--set", "refine.budget=0", "--set", "refine.z=1"]
        for key, expr in axes.items():
            lo, hi = axis_ends(expr)
            sep = " | " if "|" in expr else ", "
            if key in refined:
                sets += ["--set", f"axes.{key}=linspace({lo}, {hi}, 3)"]
                continue
            sets += ["--set", f"axes.{key}={lo}" + (f"{sep}{hi}" if hi != lo else "")]
        out = tmp_path / (cfg.stem + ".h5")
        r = symsweep("run", cfg, "-o", out, *sets, np=2)
        assert r.code == 0, (cfg, r)
        with h5py.File(out, "r") as f:
            rows = int(f["refine/rows"][()]) if refined else f["results/status"].size
            assert rows > 0 and (f["results/status"][:rows] == 1).all(), cfg
            assert rows <= 2 ** (len(axes) - len(refined)) * 3 ** len(refined), cfg


def test_run_local_script_writes_the_file_and_the_picture(tmp_path):
    env = {"SYMSWEEP_BIN": BIN, "SYMSWEEP_RESULTS": str(tmp_path), "NP": "2"}
    proc = subprocess.run([str(SOURCE_DIR / "jobs" / "run-local.sh")], capture_output=True,
                          text=True, timeout=300, env={**__import__("os").environ, **env})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    h5 = tmp_path / "quickstart.h5"
    png = tmp_path / "quickstart.png"
    assert h5.exists() and png.exists()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "status: 0 pending, 651 done, 0 failed" in proc.stdout
    assert "sweep wall time" in proc.stdout
