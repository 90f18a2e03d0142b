"""compare --statistical: per cell, the seeds of two files against each other (Fisher's exact,
a permutation chi-square, Mann-Whitney U), Benjamini-Hochberg, the power warning, the map; on
the shipped sgd_stability sweep reduced, its replicate, and a copy with a planted change."""
import itertools
import shutil

import h5py

import numpy as np
import pytest
from analysis_support import SWEEPS, cli, run_config
from conftest import symsweep

from symsweep_analysis.compare import (CHI2, FISHER, MANN_WHITNEY, MANN_WHITNEY_PERMUTATION,
                                       PERMUTATION, PERMUTATIONS,
                                       benjamini_hochberg, categorical_test, draw_map, power_warning,
                                       rank_test,
                                       seeds_needed, smallest_p, statistical_comparison)

# The boundary of sgd_stability at batch sizes 4 and 16, 6 seeds: 96 points.
REDUCED = ("axes.optimizer.eta=geomspace(0.8, 2, 8)", "axes.optimizer.batch=4, 16")
PLANTED = "model.h_max=5"  # larger curvatures: the boundary moves to smaller eta


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("statistical")
    cfg = SWEEPS / "sgd_stability.ini"
    a = run_config(cfg, d / "a.h5", *REDUCED, "axes.sweep.seed=range(0, 6)")
    out = {"dir": d, "a": a}
    for name, args in (("b", ("--seeds", 6)), ("two", ("--seeds", 2)),
                       ("two_more", ("--seeds", 2, "--first-seed", 50))):
        out[name] = d / f"{name}.h5"
        r = symsweep("replicate", a, *args, "-o", out[name], "--quiet", np=2)
        assert r.code == 0, r
    out["planted"] = run_config(cfg, d / "planted.h5", *REDUCED, PLANTED,
                                "axes.sweep.seed=range(100, 106)")
    return out


def test_a_file_against_itself_gives_p_1_everywhere_and_exit_0(files):
    r = statistical_comparison(files["a"], files["a"], ["outcome", "final_loss", "steps_run"])
    assert r["m"] > 0 and {t["p"] for t in r["tests"]} == {1.0}
    proc = cli("compare", "--statistical", files["a"], files["a"])
    assert proc.returncode == 0 and "AGREE" in proc.stdout, proc
    # Shared seeds give the same numbers: said, since such samples are not independent.
    assert "WARNING: A and B share" in proc.stdout and "not independent" in proc.stdout, proc


def test_the_replicate_agrees_with_its_original(files):
    proc = cli("compare", "--statistical", files["a"], files["b"], "--fields",
               "outcome,final_loss")
    assert proc.returncode == 0, proc
    assert "Fisher's exact" in proc.stdout and "Mann-Whitney U" in proc.stdout
    assert "non-finite value(s)" in proc.stdout  # diverged points have no final loss: said


def test_a_planted_change_is_flagged_where_every_seed_changed_outcome(files, tmp_path):
    out = tmp_path / "map.png"
    proc = cli("compare", "--statistical", files["a"], files["planted"], "--allow-difference",
               "model.h_max", "--map", out)
    assert proc.returncode == 1 and "DISAGREE" in proc.stdout, proc
    r = statistical_comparison(files["a"], files["planted"], allow=("model.h_max",))
    a, b = r["a"], r["b"]
    flipped, differ = set(), set()
    for t in r["tests"]:
        sel = {k: v for k, v in t["at"].items()}
        xa = a["outcome"].sel(sel).values.ravel()
        xb = b["outcome"].sel(sel).values.ravel()
        if len(set(xa)) == 1 and len(set(xb)) == 1 and xa[0] != xb[0]:
            flipped.add(t["index"])
        if sorted(xa) != sorted(xb):
            differ.add(t["index"])
    flagged = {t["index"] for t in r["tests"] if t["flagged"]}
    assert flipped, "the planted change moved no cell for every seed: pick a larger change"
    assert flipped <= flagged <= differ
    for t in r["tests"]:
        if t["flagged"]:
            assert f"{t['q']:.3g}" in proc.stdout
    # The map shows exactly the flagged cells.
    state = draw_map(r, tmp_path / "again.png")
    assert out.stat().st_size > 0 and (tmp_path / "again.png").stat().st_size > 0
    assert {t["index"] for t in r["tests"] if state[t["index"]] == 2} == flagged
    # Without --allow-difference the configs differ: unusable, naming the key.
    proc = cli("compare", "--statistical", files["a"], files["planted"])
    assert proc.returncode == 2 and "model.h_max" in proc.stderr, proc


def test_two_seeds_per_cell_warn_that_the_test_has_no_power(files):
    proc = cli("compare", "--statistical", files["two"], files["two_more"])
    assert proc.returncode == 0 and "WARNING: too few seeds" in proc.stdout, proc
    assert "cannot reach p <= alpha = 0.05" in proc.stdout
    r = statistical_comparison(files["two"], files["two_more"])
    assert all(t["smallest_p"] > r["alpha"] for t in r["tests"])  # 2 against 2: none can
    # 6 against 2 can reach alpha but not alpha/m: a lone cell cannot be flagged.
    r = statistical_comparison(files["a"], files["two"])
    assert all(r["alpha"] / r["m"] < t["smallest_p"] <= r["alpha"] for t in r["tests"])
    assert "cannot reach p <= alpha/m" in power_warning(r)
    assert all(t["p"] >= t["smallest_p"] for t in r["tests"])
    # 6 against 6 over these 16 cells can: no warning.
    r = statistical_comparison(files["a"], files["b"])
    assert all(t["smallest_p"] <= r["alpha"] / r["m"] for t in r["tests"])
    assert power_warning(r) is None


@pytest.mark.parametrize("test", [FISHER, PERMUTATION, MANN_WHITNEY])
def test_no_sample_beats_the_smallest_p_and_seeds_needed_is_the_least(test):
    rng = np.random.default_rng(1)
    for na, nb in ((2, 2), (3, 5), (6, 6)):
        low = smallest_p(test, na, nb)
        for _ in range(20):
            if test == MANN_WHITNEY:
                p, used = rank_test(rng.normal(size=na), rng.normal(2, size=nb))
            else:
                k = 2 if test == FISHER else 3
                p, used = categorical_test(rng.integers(0, k, na), rng.integers(0, k, nb))
                if used != test:  # fewer categories drawn than the test needs
                    continue
            assert p >= low * (1 - 1e-12), (na, nb, p, low)
        # Complete separation attains it.
        if test != PERMUTATION:
            sep = rank_test(np.arange(na), na + np.arange(nb))[0] if test == MANN_WHITNEY else \
                categorical_test(np.zeros(na), np.ones(nb))[0]
            assert sep == low
    for level in (0.05, 0.05 / 16, 1e-4):
        n = seeds_needed(test, level)
        if test == PERMUTATION and level < 1 / (PERMUTATIONS + 1):
            assert n is None
            continue
        assert smallest_p(test, n, n) <= level < smallest_p(test, n - 1, n - 1)


def test_benjamini_hochberg_matches_the_1995_paper_and_its_definition():
    # Benjamini & Hochberg (1995), section 4: the 15 p-values of a trial; at q* = 0.05 the
    # procedure rejects the four smallest.
    p = [0.0201, 0.0278, 0.0001, 0.0004, 0.0019, 0.0095, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
         0.5719, 0.6528, 0.7590, 1.0000]
    q = benjamini_hochberg(p)
    assert sorted(np.array(p)[q <= 0.05]) == [0.0001, 0.0004, 0.0019, 0.0095]
    # The step-up definition, directly: reject p_(1..k), k the largest i with p_(i) <= i q*/m.
    rng = np.random.default_rng(7)
    for m in (1, 2, 5, 40):
        for _ in range(50):
            p = np.round(rng.uniform(0, 0.2, m) ** rng.uniform(0.5, 3), 4)  # with ties
            q = benjamini_hochberg(p)
            for alpha in (0.01, 0.05, 0.1):
                s = np.sort(p)
                k = max([i for i in range(1, m + 1) if s[i - 1] <= i * alpha / m], default=0)
                expected = p <= s[k - 1] if k else np.zeros(m, bool)
                assert np.array_equal(q <= alpha, expected), (p, alpha)
            assert np.all((q >= p) & (q <= 1))


def test_the_permutation_test_of_three_outcomes_is_exact_for_small_samples():
    from scipy.stats import chi2_contingency

    def chi2(xa, xb, cats):
        table = np.array([[np.sum(xa == c) for c in cats], [np.sum(xb == c) for c in cats]])
        return chi2_contingency(table, correction=False)[0]

    rng = np.random.default_rng(3)
    for _ in range(5):
        xa, xb = rng.integers(0, 3, 4), rng.integers(1, 4, 5)
        cats = np.unique(np.concatenate([xa, xb]))
        if cats.size < 3:
            continue
        p, test = categorical_test(xa, xb)
        assert test == "permutation chi-square"
        pooled = np.concatenate([xa, xb])
        observed = chi2(xa, xb, cats)
        stats = []
        for pick in itertools.combinations(range(9), 4):  # every split: 126
            mask = np.zeros(9, bool)
            mask[list(pick)] = True
            stats.append(chi2(pooled[mask], pooled[~mask], cats))
        assert p == pytest.approx(np.mean(np.array(stats) >= observed - 1e-9), abs=1e-12)


def test_the_rank_test_with_ties_is_an_exact_permutation_test():
    # Ties (integer fields) make the normal approximation too liberal at small samples: [0,0,0]
    # against [1,1,1] would give p = 0.047; every split of the 6 values gives 2/20 = 0.1.
    assert rank_test([0, 0, 0], [1, 1, 1]) == (pytest.approx(0.1), MANN_WHITNEY_PERMUTATION)
    rng = np.random.default_rng(5)
    for _ in range(5):
        xa, xb = rng.integers(0, 3, 4).astype(float), rng.integers(1, 4, 5).astype(float)
        if np.unique(np.concatenate([xa, xb])).size in (1, 9):
            continue
        p, test = rank_test(xa, xb)
        assert test == MANN_WHITNEY_PERMUTATION
        pooled = np.concatenate([xa, xb])

        def u(x, y):
            from scipy.stats import rankdata
            r = rankdata(np.concatenate([x, y]))
            return r[:x.size].sum() - x.size * (x.size + 1) / 2 - x.size * y.size / 2

        observed = abs(u(xa, xb))
        splits = []
        for pick in itertools.combinations(range(9), 4):  # every split: 126
            mask = np.zeros(9, bool)
            mask[list(pick)] = True
            splits.append(abs(u(pooled[mask], pooled[~mask])))
        assert p == pytest.approx(np.mean(np.array(splits) >= observed - 1e-9), abs=1e-12)
        assert p >= smallest_p(MANN_WHITNEY_PERMUTATION, 4, 5)


def test_large_counts_use_the_chi_square_distribution():
    # Expected counts >= 5 in every cell of the 2 x 3 table: the asymptotic test, whose p goes
    # below the 1 / (PERMUTATIONS + 1) a permutation test stops at.
    xa = np.repeat([0, 1, 2], [40, 10, 10])
    xb = np.repeat([0, 1, 2], [5, 30, 25])
    p, test = categorical_test(xa, xb)
    assert test == CHI2 and p < 1 / (PERMUTATIONS + 1)


def test_bad_input_exits_2_with_one_line(files):
    other_grid = files["dir"] / "other.h5"  # a copy whose eta axis has another value
    shutil.copy(files["b"], other_grid)
    with h5py.File(other_grid, "r+") as f:
        f["optimizer.eta"][0] = 0.81
    a = files["a"]
    cases = [
        ((a, other_grid), "optimizer.eta has other values"),
        ((a, a, "--fields", "nope"), "--fields nope: not a field of A"),
        ((a, a, "--fields", "orbit"), "--fields orbit: has dimensions beyond the grid"),
        ((a, a, "--fields", "status"), "--fields status: says which points are done"),
        ((a, a, "--alpha", "1.5"), "--alpha 1.5"),
        ((a, a, "--outcome", "bogus"), "--outcome bogus: not a member of outcome"),
        ((a, a, "--rtol", "0.1"), "--rtol: a tolerance of the bitwise comparison"),
        ((a, files["dir"] / "missing.h5"), "no such file"),
    ]
    for args, message in cases:
        proc = cli("compare", "--statistical", *args)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc)
        assert len(proc.stderr.strip().splitlines()) == 1, proc
    proc = cli("compare", a, a, "--alpha", "0.1")
    assert proc.returncode == 2 and "--alpha needs --statistical" in proc.stderr, proc
