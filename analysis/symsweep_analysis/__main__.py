"""Command line: /usr/bin/python3 -m symsweep_analysis phase FILE.h5 -o FILE.png [--x KEY --y KEY]"""
import argparse
import sys

from .load import load
from .phase import plot_phase


def main(argv=None):
    parser = argparse.ArgumentParser(prog="symsweep_analysis",
                                     description="Plots from symsweep result files.")
    sub = parser.add_subparsers(dest="command", required=True)
    phase = sub.add_parser("phase", help="phase diagram of two swept axes (PNG)")
    phase.add_argument("file", help="result file (.h5)")
    phase.add_argument("-o", "--output", help="PNG to write (default: FILE with .png)")
    phase.add_argument("--x", help="axis on the horizontal (default optimizer.eta)")
    phase.add_argument("--y", help="axis on the vertical (default optimizer.batch)")
    args = parser.parse_args(argv)
    out = args.output or args.file.rsplit(".", 1)[0] + ".png"
    try:
        sweep = load(args.file)
        plot_phase(sweep, out, args.x, args.y)
    except (OSError, ValueError, KeyError) as err:
        print(f"symsweep_analysis: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
