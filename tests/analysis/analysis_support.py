"""What the analysis tests share: the source tree on sys.path, a sweep run by the real driver
under mpiexec, and the analysis command line run in this process (a process of its own per
command would import xarray and matplotlib again each time: about a second of CPU per command).
The command itself is still run as a process by a few tests (test_phase.py: `--help`, the
scripts), so that `python3 -m symsweep_analysis` is tested as a user types it."""
import contextlib
import io
import os
import sys
import warnings
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("SYMSWEEP_SOURCE_DIR", Path(__file__).resolve().parents[2]))
for _path in (SOURCE_DIR / "tests" / "e2e", SOURCE_DIR / "analysis"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from conftest import symsweep  # noqa: E402  (tests/e2e/conftest.py: the driver under mpiexec)

# For the commands still run as processes.
ENV = dict(os.environ, PYTHONPATH=str(SOURCE_DIR / "analysis"))
SWEEPS = SOURCE_DIR / "jobs" / "sweeps"


class Ran:
    """A command's end, as subprocess.run gives it."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __repr__(self):
        return f"Ran(returncode={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def cli(*args, cwd=None):
    """`python3 -m symsweep_analysis ARGS` in this process, from directory `cwd`: exit status,
    stdout, stderr; every warning is turned into text on stderr, as a process would print it."""
    import matplotlib.pyplot as plt
    from symsweep_analysis.__main__ import main

    plt.close("all")  # a command starts in a process of its own, with no figure open
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        try:
            code = main([str(a) for a in args])
        except SystemExit as done:  # argparse: --version, --help, usage errors
            code = done.code
    plt.close("all")
    text = err.getvalue() + "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
    return Ran(code, out.getvalue(), text)


def run_config(config, out, *sets, np_=2):
    """Runs `config` (a path) to `out` under mpiexec with `--set` overrides; returns `out`."""
    args = ["run", config, "-o", out, "--quiet"]
    for s in sets:
        args += ["--set", s]
    r = symsweep(*args, np=np_)
    assert r.code == 0, r
    return out


def run_sweep(directory, name, text, *sets, np_=2):
    """Writes config `text` to DIRECTORY/NAME.ini and runs it to DIRECTORY/NAME.h5."""
    cfg = directory / f"{name}.ini"
    cfg.write_text(text)
    return run_config(cfg, directory / f"{name}.h5", *sets, np_=np_)
