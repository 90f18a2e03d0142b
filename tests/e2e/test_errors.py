"""Bad input: each case exits 2 with a message naming the key, and never touches an existing
result file. Replacing a file happens only when the new run completes."""
import os
import shutil
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
    ("integer past 2^53", ["optimizer.batch=99999999999999999999"],
     ["--set optimizer.batch = '99999999999999999999': too large; integers must be at most 2^53"]),
    # Explicit data matrices (TINY: linear2 with dx = 3, dy = 2) and optimizer choices.
    ("covariance of the wrong size", ["data.x_cov=1, 2"],
     ["data.x_cov = '1, 2'", "2 eigenvalue(s) but the model's dimension is 3", "dx = 3"]),
    ("covariance not symmetric", ["data.noise_cov=1, 0.5; 0.4, 1"],
     ["data.noise_cov = '1, 0.5; 0.4, 1'", "a covariance must be symmetric"]),
    ("covariance not semidefinite", ["data.noise_cov=1, 2; 2, 1"],
     ["data.noise_cov = '1, 2; 2, 1'", "not positive semidefinite"]),
    ("teacher of the wrong shape", ["data.teacher=1, 0; 0, 1"],
     ["data.teacher = '1, 0; 0, 1'", "is 2 x 2 but the teacher must be dy x dx = 2 x 3"]),
    ("matrix and the scalars it replaces", ["data.x_cov=1, 1, 1", "data.x_var=2"],
     ["data.x_cov = '1, 1, 1'", "data.x_var (2) must stay at its default"]),
    ("reshuffling online", ["data.mode=online", "optimizer.sampling=reshuffle"],
     ["optimizer.sampling = reshuffle", "needs data.mode = finite"]),
    ("unknown schedule", ["optimizer.schedule=cosine"],
     ["optimizer.schedule", "'cosine'", "one of constant, warmup, step"]),
    ("unknown diagnostic", ["record.diagnostics=loss, hessian"],
     ["record.diagnostics = 'loss, hessian'", "unknown diagnostic 'hessian'",
      "must be default, none, or a list of loss, C, theta_norm"]),
    ("diagnostic without a results field", ["record.diagnostics=results.dist_to_min"],
     ["record.diagnostics = 'results.dist_to_min'",
      "dist_to_min is measured on the trace records only"]),
]


# Config files a user may really write or pass: (name, file contents, the one-line message).
FILES = [
    ("bad line", "[model]\nname = linear2\nthis line has no equals sign\n",
     "bad.ini:3: 'this line has no equals sign': expected '[section]' or 'key = value'"),
    ("section in capitals", "[Model]\nname = linear2\n",
     "bad.ini:1: [Model]: unknown section; section names are lower case: [model]"),
    ("value on its line", "[model]\nname = linear2\n\n[optimizer]\neta = 0   # zero\n",
     "bad.ini:5: optimizer.eta = '0': must be > 0"),
    ("megabyte value", "[model]\nname = linear2\n[optimizer]\neta = " + "9" * 1200000 + "x\n",
     "bad.ini:4: optimizer.eta = '" + "9" * 120 + "...' (1200001 bytes): not a number"),
    ("binary file", "\x7fELF\x02\x01\x01\x00\x00\n",
     "bad.ini:1: '\\x7fELF\\x02\\x01\\x01\\x00\\x00': expected '[section]' or 'key = value'"),
]


@pytest.mark.parametrize("name,contents,expected", FILES, ids=[f[0] for f in FILES])
def test_bad_config_files_get_one_line_naming_file_and_line(tmp_path, name, contents, expected):
    config = tmp_path / "bad.ini"
    config.write_bytes(contents.encode("latin-1"))
    r = symsweep("run", config, "-o", tmp_path / "out.h5", cwd=tmp_path)
    assert r.code == 2, r
    assert r.err.startswith("symsweep: error: " + expected.replace("bad.ini", str(config))), r
    assert r.err.count("\n") == 1 and len(r.err) < 400, r.err
    assert all(32 <= ord(c) < 127 for c in r.err.strip()), "raw bytes in the message"
    assert not (tmp_path / "out.h5").exists()


def test_a_directory_is_not_a_config(tmp_path):
    r = symsweep("run", tmp_path, "-o", tmp_path / "out.h5")
    assert r.code == 2, r
    assert f"config file '{tmp_path}': is a directory; name an INI file" in r.err


def test_an_empty_output_name_is_refused(tmp_path, tiny_config):
    r = symsweep("run", tiny_config, "-o", "", cwd=tmp_path)
    assert r.code == 2, r
    assert "--output '': must name a file" in r.err
    assert not list(tmp_path.glob("*.h5")), "wrote <name>.h5 anyway"


@pytest.fixture(scope="module")
def finished_tiny(tmp_path_factory):
    """One finished run of TINY, made once for the module (each test gets its own copy)."""
    where = tmp_path_factory.mktemp("finished")
    config = where / "tiny.ini"
    config.write_text(TINY)
    out = where / "existing.h5"
    assert symsweep("run", config, "-o", out, "--quiet").code == 0
    return out


@pytest.fixture
def existing(tmp_path, finished_tiny):
    """A finished result file that no failed run may change (a copy of the module's run)."""
    out = tmp_path / "existing.h5"
    shutil.copyfile(finished_tiny, out)
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
    assert r.err.count("symsweep: error: --set optimizer.eta = '-1': must be > 0") == 1
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
    for command in (("run", tiny_config), ("resume", "x.h5")):
        r = symsweep(*command, "--schedule", "guided")
        assert r.code == 2 and "--schedule 'guided': must be dynamic or static" in r.err, r


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


def test_out_of_memory_is_one_line_per_cause(tmp_path):
    """Every point's dataset is too big for the address space the test allows: each point fails,
    the run says so once for all of them, exits 1, and the file marks them failed."""
    import resource

    config = tmp_path / "big.ini"
    # Small enough for the node (the up-front memory check passes: a bound of about 7 GB), too
    # big for the address space allowed here.
    config.write_text("[model]\nname = linear2\ndx = 3\nh = 2\ndy = 2\n[data]\nn = 50000000\n"
                      "[optimizer]\nbatch = 4\nsteps = 10\n[axes]\nsweep.seed = range(0, 6)\n")
    limit = 2 * 1024 ** 3  # 2 GiB of address space; a dataset needs 2 GB, the model's scratch 1.6

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    out = tmp_path / "big.h5"
    proc = subprocess.run([BIN, "run", str(config), "-o", str(out)], capture_output=True,
                          text=True, preexec_fn=cap, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "failed" in line]
    assert lines[0] == ("symsweep: rank 0: 6 point(s) failed (0, 1, 2, 3, 4, ...): out of memory "
                        "while building or running the point (its data, model and buffers did "
                        "not fit)"), proc.stderr
    assert len(lines) == 2 and "6 point(s) failed (status 'failed'" in lines[1]
    with h5py.File(out, "r") as f:
        assert (f["results/status"][()] == 2).all()
