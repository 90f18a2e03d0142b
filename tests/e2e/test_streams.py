"""A point's numbers depend on its parameters alone: the same point in two sweeps (at different flat
indices) and alone via --set stores the same bits; common random numbers share data along the
named axes; and a sweep's bits do not depend on which libm versions glibc picks for this CPU."""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import SOURCE_DIR, symsweep

sys.path.insert(0, str(SOURCE_DIR / "tests" / "mpi"))
import compare_results  # noqa: E402

FIELDS = ("status", "outcome", "steps_run", "diverged_at", "final_loss", "grad_norm", "sharpness",
          "C_final")


def point(path, **coords):
    """Every result field and trace of the point at the given axis values."""
    with h5py.File(path, "r") as f:
        labels = [d.label for d in f["results/status"].dims]
        index = []
        for label in labels:
            values = list(f["axes"][label][()])
            index.append(values.index(coords[label]) if label in coords else 0)
        index = tuple(index)
        out = {name: f["results"][name][index] for name in FIELDS}
        out.update({f"trace_{n}": f["traces"][n][index] for n in ("loss", "C")})
    return out


def same_bits(a, b):
    return all(np.asarray(a[k]).tobytes() == np.asarray(b[k]).tobytes() for k in a)


def test_a_point_is_the_same_wherever_it_sits(tmp_path, tiny_config):
    big, other, alone = tmp_path / "big.h5", tmp_path / "other.h5", tmp_path / "alone.h5"
    # The tiny sweep (eta = logspace(-2, 0.5, 4), which holds 0.01 exactly); the same with other
    # axes (other step sizes around it, seeds reversed, one batch size), at another flat index;
    # and the single point eta = 0.01, batch = 4, seed = 1 alone.
    assert symsweep("run", tiny_config, "-o", big, "--quiet", np=2).code == 0
    r = symsweep("run", tiny_config, "-o", other, "--quiet",
                 "--set", "axes.sweep.seed=1, 0",
                 "--set", "axes.optimizer.eta=1, 0.1, 0.05, 0.01",
                 "--set", "axes.optimizer.batch=4", np=3)
    assert r.code == 0, r
    r = symsweep("run", tiny_config, "-o", alone, "--quiet", "--set", "optimizer.eta=0.01",
                 "--set", "optimizer.batch=4", "--set", "sweep.seed=1")
    assert r.code == 0, r
    at = {"optimizer.eta": 0.01, "optimizer.batch": 4, "sweep.seed": 1}
    a, b, c = point(big, **at), point(other, **at), point(alone)
    assert a["status"] == 1 and np.isfinite(a["final_loss"])
    assert same_bits(a, b), "the same point at another flat index stored other numbers"
    assert same_bits(a, c), "the point alone via --set stored other numbers"
    # ... and a neighbour is another realisation.
    d = point(big, **dict(at, **{"sweep.seed": 0}))
    assert d["final_loss"] != a["final_loss"]


def initial_loss(path):
    """The full-batch loss at step 0 of every point: a function of the dataset and the
    initialisation alone."""
    with h5py.File(path, "r") as f:
        return f["traces/loss"][()][..., 0]


def test_common_random_numbers_share_data_and_init_along_the_named_axes(tmp_path, tiny_config):
    shared, independent = tmp_path / "shared.h5", tmp_path / "independent.h5"
    r = symsweep("run", tiny_config, "-o", shared, "--quiet",
                 "--set", "sweep.common_random=optimizer.eta, optimizer.batch", np=2)
    assert r.code == 0, r
    assert symsweep("run", tiny_config, "-o", independent, "--quiet", np=2).code == 0
    start = initial_loss(shared)  # axes: eta (4) x batch (3) x seed (2)
    for seed in range(2):
        assert np.all(start[:, :, seed] == start[0, 0, seed]), "data or init differ along eta, batch"
    assert start[0, 0, 0] != start[0, 0, 1], "two seeds share their data"
    # Without the option, every point draws its own.
    loose = initial_loss(independent)
    assert len(np.unique(loose[:, :, 0])) == loose[:, :, 0].size
    with h5py.File(shared, "r") as f:  # the file records the choice
        assert "common_random = optimizer.eta, optimizer.batch" in f.attrs["config_text"]


def glibc_log_bits(env):
    """Hex of glibc's log at many points, as Python's math.log (which calls it) computes them."""
    code = ("import math\n"
            "print(' '.join(math.log(1 + i / 997.0).hex() for i in range(1, 20000)))")
    out = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    return out.stdout


def test_bits_do_not_depend_on_the_cpu_dispatch_of_glibc(tmp_path):
    tunable = "glibc.cpu.hwcaps=-FMA,-AVX2"
    plain_env = dict(os.environ)
    plain_env.pop("GLIBC_TUNABLES", None)
    masked_env = dict(plain_env, GLIBC_TUNABLES=tunable)
    if glibc_log_bits(plain_env) == glibc_log_bits(masked_env):
        pytest.skip(f"GLIBC_TUNABLES={tunable} does not change glibc's log on this CPU (no FMA "
                    "dispatch to switch off), so the check has nothing to show here")
    config = SOURCE_DIR / "tests" / "mpi" / "determinism_online.ini"
    plain, masked = tmp_path / "plain.h5", tmp_path / "masked.h5"
    assert symsweep("run", config, "-o", plain, "--quiet", np=2, env=plain_env).code == 0
    r = symsweep("run", config, "-o", masked, "--quiet", np=2,
                 env={"GLIBC_TUNABLES": tunable})
    assert r.code == 0, r
    assert compare_results.main([str(plain), str(masked)]) == 0
