"""Reading and plotting symsweep result files (format symsweep/1), on xarray.

    import sys; sys.path.insert(0, "analysis")     # or PYTHONPATH=analysis
    from symsweep_analysis import open_sweep, outcome_fractions, plot_phase
    ds = open_sweep("results/quickstart.h5")      # an xarray.Dataset, coordinates = the axes;
                                                  # NaN where a point is not done (raw=True: not)
    ds.final_loss.median("sweep.seed")            # reductions over seeds are xarray one-liners
    outcome_fractions(ds).sel(outcome="diverged") # fraction of seeds per outcome, per cell
    plot_phase(ds, "optimizer.eta", "optimizer.batch").savefig("phase.png")

Command line: /usr/bin/python3 -m symsweep_analysis {phase,compare,report} --help
(with analysis/ on PYTHONPATH, or analysis/phase_diagram.py for the phase diagram alone).
Everything reads the file serially with Debian's h5py, xarray and h5netcdf (/usr/bin/python3).
"""
__version__ = "0.1.0"  # the symsweep project version (CMakeLists.txt)

from .compare import compare
from .dataset import (axes, code, config, decode, done, left_out, members, open_sweep,
                      outcome_fractions, param, status_counts)
from .phase import plot_phase, save
from .refine import to_grid
from .report import write_report
from .sgd import boundary_table, format_boundary_table, plot_expectation
from .trace import approach_rates, fit_exponents, plot_trace

__all__ = ["approach_rates", "axes", "boundary_table", "code", "compare", "config", "decode",
           "done", "fit_exponents", "format_boundary_table", "left_out", "members", "open_sweep",
           "outcome_fractions", "param", "plot_expectation", "plot_phase", "plot_trace", "save",
           "status_counts", "to_grid", "write_report"]
