"""Bad input: each case exits 2 with a message naming the key, and never touches an existing
result file. Replacing a file happens only when the new run completes."""
import os
import signal
import subprocess
import time

import h5py
import pytest

from conftest import BIN, TINY, sha256_of, symsweep

# (name, --set overrides or a config text change, substrings the message must contain)
CASES = [
    ("unknown model", ["model.name=resnet"], ["model.name", "'resnet'", "unknown model", "linear2"]),
    ("unknown key", ["optimizer.lr=0.1"], ["optimizer.lr", "'0.1'", "unknown key", "eta"]),
    ("empty axis", ["axes.optimizer.eta=linspace(0.1, 1, 0)"],
     ["axes.optimizer.eta", "linspace(0.1, 1, 0)", "at least one value"]),
    ("negative step size", ["optimizer.eta=-0.5"], ["optimizer.eta", "'-0.5'", "must be > 0"]),
    ("batch larger than n", ["data.n=8"], ["optimizer.batch", "16", "must be <= data.n (8)"]),
    ("unparsable number", ["data.noise_var=0.1O"], ["data.noise_var", "'0.1O'", "not a number"]),
    ("fractional integer", ["optimizer.steps=10.5"],
     ["optimizer.steps", "'10.5'", "must be an integer"]),
    ("bad choice", ["data.mode=stream"], ["data.mode", "'stream'", "one of finite, online"]),
    ("swept key not sweepable", ["axes.record.every=1,2"],
     ["axes.record.every", "not a parameter that can be swept"]),
]


@pytest.fixture
def existing(tmp_path, tiny_config):
    """A finished result file that no failed run may change."""
    out = tmp_path / "existing.h5"
    assert symsweep("run", tiny_config, "-o", out, "--quiet").code == 0
    return out, sha256_of(out), os.stat(out).st_mtime_ns


def assert_untouched(existing):
    path, digest, mtime = existing
    assert sha256_of(path) == digest
    assert os.stat(path).st_mtime_ns == mtime
    assert not path.with_name(path.name + ".partial").exists()


@pytest.mark.parametrize("name,sets,expected", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_bad_config_exits_2_and_leaves_the_file_alone(name, sets, expected, overwrite,
                                                      tiny_config, existing):
    args = ["run", tiny_config, "-o", existing[0]]
    for s in sets:
        args += ["--set", s]
    if overwrite:
        args.append("--overwrite")
    r = symsweep(*args)
    assert r.code == 2, r
    for part in expected:
        assert part in r.err, (part, r.err)
    assert r.err.count("error:") == 1
    assert_untouched(existing)


def test_errors_propagate_through_mpiexec_and_print_once(tiny_config, existing):
    r = symsweep("run", tiny_config, "-o", existing[0], "--set", "optimizer.eta=-1", np=3)
    assert r.code == 2, r
    assert r.err.count("symsweep: error: optimizer.eta = '-1': must be > 0") == 1
    assert_untouched(existing)


def test_existing_output_needs_overwrite(tiny_config, existing):
    r = symsweep("run", tiny_config, "-o", existing[0], np=2)
    assert r.code == 2, r
    assert "sweep.output" in r.err and "exists" in r.err and "--overwrite" in r.err
    assert_untouched(existing)


def test_missing_output_directory(tmp_path, tiny_config):
    target = tmp_path / "no" / "such" / "dir" / "out.h5"
    r = symsweep("run", tiny_config, "-o", target)
    assert r.code == 2, r
    assert "sweep.output" in r.err and "does not exist" in r.err
    assert not (tmp_path / "no").exists()


def test_output_that_is_a_directory(tmp_path, tiny_config):
    r = symsweep("run", tiny_config, "-o", tmp_path)
    assert r.code == 2, r
    assert "sweep.output" in r.err and "is a directory" in r.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_output_directory_not_writable(tmp_path, tiny_config):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    r = symsweep("run", tiny_config, "-o", locked / "x.h5")
    assert r.code == 2, r
    assert "not writable" in r.err


def test_grid_too_large_is_a_config_error(tiny_config, existing):
    r = symsweep("run", tiny_config, "-o", existing[0], "--overwrite",
                 "--set", "axes.optimizer.eta=linspace(0.01, 1, 20000)",
                 "--set", "axes.optimizer.weight_decay=linspace(0, 1, 20000)",
                 "--set", "axes.data.noise_var=linspace(0, 1, 20000)", np=2)
    assert r.code == 2, r
    assert r.err.count("at most 2^40") == 1
    assert_untouched(existing)


def test_output_set_in_the_config_is_checked_too(tmp_path):
    cfg = tmp_path / "c.ini"
    cfg.write_text(TINY.replace("name = tiny", "name = tiny\noutput = missing_dir/x.h5"))
    r = symsweep("run", cfg, cwd=tmp_path)
    assert r.code == 2, r
    assert "sweep.output = 'missing_dir/x.h5'" in r.err


def test_missing_config_file(tmp_path):
    r = symsweep("run", tmp_path / "nope.ini")
    assert r.code == 2, r
    assert "nope.ini" in r.err and "cannot be opened" in r.err


def test_command_line_errors(tiny_config):
    assert symsweep().code == 2
    assert symsweep("frobnicate").code == 2
    r = symsweep("run")
    assert r.code == 2 and "missing CONFIG.ini" in r.err
    r = symsweep("run", tiny_config, "--bogus")
    assert r.code == 2 and "bogus" in r.err
    r = symsweep("run", tiny_config, "--set", "noequals")
    assert r.code == 2 and "--set 'noequals'" in r.err


def test_overwrite_replaces_the_file_only_when_the_run_completes(tmp_path, tiny_config, existing):
    path = existing[0]
    # A long run, killed mid-way: the old file is intact, the new one is only a .partial.
    slow = subprocess.Popen(
        [BIN, "run", str(tiny_config), "-o", str(path), "--overwrite", "--quiet",
         "--set", "optimizer.steps=2000000", "--set", "optimizer.tol=0",
         "--set", "axes.optimizer.eta=0.001, 0.002"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, OMP_NUM_THREADS="1"))
    partial = path.with_name(path.name + ".partial")
    deadline = time.time() + 30
    while not partial.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    assert partial.exists()
    assert sha256_of(path) == existing[1], "the old results were damaged"
    with h5py.File(partial, "r") as f:  # what the killed run left opens, with nothing done
        assert (f["results/status"][()] == 0).all()

    # A run that completes replaces the file and removes the partial.
    r = symsweep("run", tiny_config, "-o", path, "--overwrite", "--set", "optimizer.steps=30")
    assert r.code == 0, r
    assert not partial.exists()
    with h5py.File(path, "r") as f:
        assert "steps = 30" in f.attrs["config_text"]
