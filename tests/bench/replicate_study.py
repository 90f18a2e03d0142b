#!/usr/bin/python3
"""The false-positive rate and the power of `compare --statistical` on replicates of one sweep
(README, "compare --statistical").

    tests/bench/replicate_study.py [--build DIR] [--pairs 40] [--planted-files 10]
        [--planted model.h_max=4.4] [--np 2] [--keep DIR]     # 40 pairs: about 7 minutes, 2 cores

The sweep: jobs/sweeps/sgd_stability.ini with its step sizes around the divergence boundary
(optimizer.eta = geomspace(0.8, 2, 15); batch 1, 2, 4, 8, 16; 20 seeds: 75 cells, 1500 points a
file). It is run once (seeds 0-19), then replicated with `symsweep replicate` 2 x PAIRS times,
replicate i with --first-seed 1000 + 20 i, so that every file's seeds are disjoint from every
other's. Pair i is (replicate 2i, replicate 2i + 1): independent files of one distribution.

False positives: the fraction of pairs with any cell flagged (outcome, Benjamini-Hochberg at FDR
0.05 over the cells), with its 95 % Clopper-Pearson interval, against the nominal level (BH
controls the probability of any false flag at alpha when every cell agrees; with discrete tests
it is below).

Power: PLANTED-FILES runs of the same config with one key changed (default model.h_max = 4.4,
curvatures up to 4.4 instead of 4: the boundary moves to smaller step sizes), seeds 5000 + 20 j,
each compared with replicate j (--allow-difference for that key). Per file: the fraction of
pairs with a cell flagged; per cell: how often it is flagged, against how far its fraction of
diverged seeds moved (pooled over every replicate and over every planted file: 2 x PAIRS x 20
and PLANTED-FILES x 20 seeds), so that the flagged cells can be seen to be those at the moved
boundary. (Replicate j also belongs to a null pair: the two questions share files.)
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SOURCE / "analysis"))

from symsweep_analysis import open_sweep, outcome_fractions  # noqa: E402
from symsweep_analysis.compare import statistical_comparison  # noqa: E402
from symsweep_analysis.phase import fmt  # noqa: E402

SETS = ["axes.optimizer.eta=geomspace(0.8, 2, 15)", "axes.optimizer.batch=1, 2, 4, 8, 16",
        "axes.sweep.seed=range(0, 20)"]


def clopper_pearson(k, n, level=0.95):
    """The exact binomial interval of k successes in n trials."""
    from scipy.stats import beta

    a = 1 - level
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=str(SOURCE / "build"))
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--planted-files", type=int, default=10)
    ap.add_argument("--planted", default="model.h_max=4.4")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--keep", help="write the files here (default: a temporary directory)")
    args = ap.parse_args()
    binary = str(Path(args.build) / "symsweep")
    key = args.planted.split("=")[0]
    mpirun = ["mpirun", "-q", "--oversubscribe", "-np", str(args.np)]
    if os.geteuid() == 0:
        mpirun.insert(1, "--allow-run-as-root")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.time()

    def symsweep(*words):
        subprocess.run(mpirun + [binary, *map(str, words)], check=True, env=env)

    with tempfile.TemporaryDirectory() as scratch:
        d = Path(args.keep or scratch)
        d.mkdir(parents=True, exist_ok=True)
        cfg = SOURCE / "jobs" / "sweeps" / "sgd_stability.ini"
        original = d / "original.h5"
        sets = [w for s in SETS for w in ("--set", s)]
        symsweep("run", cfg, "-o", original, "--quiet", *sets)
        reps = []
        for i in range(2 * args.pairs):
            reps.append(d / f"rep{i:02d}.h5")
            symsweep("replicate", original, "--seeds", 20, "--first-seed", 1000 + 20 * i, "-o",
                     reps[-1], "--quiet")
        planted = []
        for j in range(args.planted_files):
            planted.append(d / f"planted{j:02d}.h5")
            symsweep("run", cfg, "-o", planted[-1], "--quiet", *sets, "--set", args.planted,
                     "--set", f"axes.sweep.seed=range({5000 + 20 * j}, {5020 + 20 * j})")
        t_runs = time.time() - t0

        # False positives: independent pairs of replicates.
        null = [statistical_comparison(reps[2 * i], reps[2 * i + 1], alpha=args.alpha)
                for i in range(args.pairs)]
        any_flag = [any(t["flagged"] for t in r["tests"]) for r in null]
        k, n = sum(any_flag), len(null)
        lo, hi = clopper_pearson(k, n)
        m = null[0]["m"]
        informative = [sum(t["p"] < 1 for t in r["tests"]) for r in null]
        flags = sum(sum(t["flagged"] for t in r["tests"]) for r in null)
        print(f"sweep: sgd_stability, {' '.join(SETS)}; {m} cells x 20 seeds a file; "
              f"{2 * args.pairs} replicates with disjoint seeds, {n} independent pairs")
        print(f"false positives: {k} of {n} pairs with any cell flagged at FDR {args.alpha:g} "
              f"= {k / n:.3f}, 95 % Clopper-Pearson [{lo:.3f}, {hi:.3f}] (nominal at most "
              f"{args.alpha:g}); {flags} of {n * m} cell tests flagged; cells with p < 1 per "
              f"pair: median {int(np.median(informative))} (min {min(informative)}, max "
              f"{max(informative)}); smallest q per pair: median "
              f"{np.median([min(t['q'] for t in r['tests']) for r in null]):.3g}")

        # Power: planted file j against replicate j.
        runs = [statistical_comparison(reps[j], planted[j], alpha=args.alpha, allow=(key,))
                for j in range(args.planted_files)]
        hits = sum(any(t["flagged"] for t in r["tests"]) for r in runs)
        lo, hi = clopper_pearson(hits, len(runs))
        print(f"power ({args.planted}): {hits} of {len(runs)} planted files have a cell flagged "
              f"= {hits / len(runs):.2f}, 95 % Clopper-Pearson [{lo:.3f}, {hi:.3f}]")

        # Per cell: times flagged against the move of the pooled fraction of diverged seeds.
        def pooled(paths):
            fr = [outcome_fractions(open_sweep(p)).sel(outcome="diverged") for p in paths]
            return sum(f.values for f in fr) / len(fr)

        before, after = pooled(reps), pooled(planted)
        a = runs[0]["a"]
        cells = runs[0]["cells"]
        count = np.zeros(runs[0]["shape"], dtype=int)
        false_null = np.zeros(runs[0]["shape"], dtype=int)
        for r in runs:
            for t in r["tests"]:
                count[t["index"]] += t["flagged"]
        for r in null:
            for t in r["tests"]:
                false_null[t["index"]] += t["flagged"]
        moved = np.abs(after - before)
        print(f"per cell (rows {cells[1]}, columns {cells[0]}): flagged in how many of the "
              f"{len(runs)} planted pairs / the pooled diverged fraction, null -> planted "
              "(* where it moved by more than 0.2)")
        etas = [fmt(v, 3) for v in a[cells[0]].values]
        print(f"{cells[1]:>15} " + "".join(f"{e:>13}" for e in etas))
        for yi, y in enumerate(a[cells[1]].values):
            row = "".join(f"{count[xi, yi]:>2}{'*' if moved[xi, yi] > 0.2 else ' '}"
                          f"{before[xi, yi]:.2f}>{after[xi, yi]:.2f}".rjust(13)
                          for xi in range(len(etas)))
            print(f"{fmt(y):>15} " + row)
        big = moved > 0.2
        print(f"cells that moved by more than 0.2: {int(big.sum())}; flagged there "
              f"{int(count[big].sum())} of {int(big.sum()) * len(runs)} times; elsewhere "
              f"{int(count[~big].sum())} of {int((~big).sum()) * len(runs)} (and in the null "
              f"pairs {int(false_null.sum())} of {false_null.size * n})")
        files = 2 * args.pairs + 1 + args.planted_files
        print(f"wall time {time.time() - t0:.0f} s (runs {t_runs:.0f} s: {files} files on "
              f"{args.np} ranks)")


if __name__ == "__main__":
    main()
