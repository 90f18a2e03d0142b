"""Reading and plotting symsweep result files (format symsweep/1).

    from symsweep_analysis import load
    sweep = load("results/quickstart.h5")
    sweep.axes            # {"optimizer.eta": array([...]), "optimizer.batch": array([...])}
    sweep.results["outcome"]   # N-D array, one entry per grid point
    sweep.param("optimizer.eta")  # the value at every point, swept or fixed, broadcast to the grid
    sweep.enums["outcome"]     # the outcome's member names by code, as the file declares them

Everything here reads the file serially with Debian's h5py (run with /usr/bin/python3).
"""
from .load import Sweep, load

__all__ = ["Sweep", "load"]
