#!/usr/bin/python3
"""Draws the phase diagram of a symsweep result file.

    /usr/bin/python3 analysis/phase_diagram.py results/quickstart.h5 -o results/quickstart.png

Same as `python3 -m symsweep_analysis phase ...` with analysis/ on the path.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from symsweep_analysis.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["phase"] + sys.argv[1:]))
