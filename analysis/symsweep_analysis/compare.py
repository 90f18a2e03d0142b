"""Field-by-field comparison of two result files, for reproducibility studies.

    python3 -m symsweep_analysis compare a.h5 b.h5 [--rtol R] [--atol A] [--show N]

Every field of /results and /traces (not /run: timings and placement) is compared, bit for bit by
default, or within |a - b| <= atol + rtol |b| (NaN equal to NaN) when a tolerance is given. The
first differing points are listed by their axis values. Status first: points done in one file
and not in the other are named once, by their status (`status: 3 point(s) differ: done in A,
pending in B ...`), and every other field is compared only where both files have the point done
(a point not done holds no result: zeros or fill values). Exit status: 0 the same, 1 different,
2 unusable input (not a result file, other axes or fields, a negative or non-finite tolerance).

    python3 -m symsweep_analysis compare --statistical a.h5 b.h5 [--fields outcome,final_loss]
        [--alpha 0.05] [--map OUT.png] [--outcome MEMBER] [--allow-difference KEY]

For files whose seeds differ (a sweep and its `symsweep replicate`): per cell (the grid without
sweep.seed) and per field, a two-sample test of the done points of A's seeds against B's (an
enum field: Fisher's exact test, or a permutation chi-square test over more than two members; a
continuous field: Mann-Whitney U on its finite values), Benjamini-Hochberg over all the tests,
and a warning when the cells have too few seeds for a test to reach what BH needs. Exit status:
0 no cell flagged, 1 some flagged, 2 unusable input (compare_statistical).
"""
import math

import numpy as np

from .dataset import axes, done, members, open_sweep
from .phase import fmt

COMPARED = ("results", "traces")


def _fields(ds):
    return [n for n in ds.data_vars if not n.startswith("run_")]


def _differs(a, b, rtol, atol):
    """Boolean array: where a and b differ (bitwise when no tolerance)."""
    a, b = np.asarray(a), np.asarray(b)
    if rtol == 0 and atol == 0:
        if a.dtype.kind == "f":
            same = (a.view(np.uint64 if a.itemsize == 8 else np.uint32)
                    == b.view(np.uint64 if b.itemsize == 8 else np.uint32))
        else:
            same = a == b
        return ~same
    if a.dtype.kind != "f":
        return a != b
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = (a == b) | (np.abs(a - b) <= atol + rtol * np.abs(b))  # a == b: equal infinities
    return ~(close | both_nan)


def compare(path_a, path_b, rtol=0.0, atol=0.0, show=5):
    """Returns (exit status, report lines)."""
    for name, value in (("--rtol", rtol), ("--atol", atol)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            return 2, [f"unusable input: {name} {value}: a tolerance must be a finite number >= 0"]
    if not isinstance(show, int) or show < 0:
        return 2, [f"unusable input: --show {show}: must be a whole number >= 0"]
    try:
        a, b = open_sweep(path_a, raw=True), open_sweep(path_b, raw=True)
    except (OSError, ValueError) as err:
        return 2, [f"unusable input: {err}"]
    if axes(a) != axes(b):
        return 2, [f"unusable input: the files have other axes: {axes(a)} vs {axes(b)}"]
    for key in list(axes(a)) + [c for c in a.coords if c not in axes(a)]:
        if key not in b.coords or a[key].shape != b[key].shape or \
                not np.array_equal(a[key].values, b[key].values):
            return 2, [f"unusable input: the coordinate {key} has other values"]
    if sorted(_fields(a)) != sorted(_fields(b)):
        only_a = sorted(set(_fields(a)) - set(_fields(b)))
        only_b = sorted(set(_fields(b)) - set(_fields(a)))
        return 2, [f"unusable input: other fields (only in A: {only_a}; only in B: {only_b})"]
    lines, different = [], 0
    how = "bit for bit" if rtol == 0 and atol == 0 else f"within atol {atol:g} + rtol {rtol:g}"
    grid = axes(a)
    ok_a, ok_b = done(a).values, done(b).values
    status_a, status_b = members(a["status"]), members(b["status"])
    if (a["status"].values != b["status"].values).any():
        where = np.argwhere(a["status"].values != b["status"].values)
        different += 1
        lines.append(f"status: {len(where)} of {ok_a.size} point(s) differ (other fields are "
                     "compared where both are done)")
        for idx in where[:show]:
            at = ", ".join(f"{k} = {fmt(a[k].values[i])}" for k, i in zip(grid, idx))
            lines.append(f"    at {at}: {status_a[int(a['status'].values[tuple(idx)])]} in A, "
                         f"{status_b[int(b['status'].values[tuple(idx)])]} in B")
    both = ok_a & ok_b
    for name in sorted(_fields(a)):
        if name == "status":
            continue
        da, db = a[name], b[name]
        if da.shape != db.shape or da.dtype != db.dtype:
            lines.append(f"{name}: {da.dtype}{da.shape} vs {db.dtype}{db.shape}")
            different += 1
            continue
        diff = _differs(da.values, db.values, rtol, atol)
        if tuple(da.dims[: len(grid)]) == tuple(grid):  # per-point fields: only where both done
            diff &= both.reshape(both.shape + (1,) * (diff.ndim - len(grid)))
        if not diff.any():
            continue
        different += 1
        # A point differs when any of its elements (trailing dimensions) does.
        per_point = diff.reshape(diff.shape[: len(grid)] + (-1,)).any(axis=-1) \
            if diff.ndim > len(grid) else diff
        where = np.argwhere(per_point)
        lines.append(f"{name}: {len(where)} of {per_point.size} point(s) differ"
                     + (f" (of {int(both.sum())} done in both)" if not both.all() else ""))
        for idx in where[:show]:
            at = ", ".join(f"{k} = {fmt(a[k].values[i])}" for k, i in zip(grid, idx))
            va = np.asarray(da.values[tuple(idx)]).ravel()
            vb = np.asarray(db.values[tuple(idx)]).ravel()
            first = int(np.argmax(_differs(va, vb, rtol, atol)))
            lines.append(f"    at {at}: {va[first]!r} vs {vb[first]!r}")
    total = len(_fields(a))
    verdict = (f"SAME: {total} field(s) of {path_a} and {path_b} agree {how}" if not different
               else f"DIFFERENT: {different} of {total} field(s) differ ({how})")
    return (0 if not different else 1), lines + [verdict]


# ---------------------------------------------------------------------------------- statistical
SEED = "sweep.seed"
# Keys whose values say nothing about what a point computes (the name), or that are compared
# statistically, never by value (the seeds).
_NOT_COMPARED = {"sweep.name", "sweep.output", SEED, "axes." + SEED}
PERMUTATIONS = 9999  # random splits of the permutation test (exact when the splits are fewer)
FISHER = "Fisher's exact"
PERMUTATION = "permutation chi-square"
MANN_WHITNEY = "Mann-Whitney U"
MANN_WHITNEY_PERMUTATION = "permutation Mann-Whitney U"
CHI2 = "chi-square"


class Unusable(ValueError):
    """Input compare --statistical cannot test (exit status 2)."""


def benjamini_hochberg(p):
    """Benjamini-Hochberg adjusted p-values (q-values) of the p-values `p`: in ascending order,
    q_(i) = min over j >= i of p_(j) m / j, capped at 1. BH at false discovery rate alpha
    rejects the tests with q <= alpha. (scipy.stats.false_discovery_control computes the same
    from SciPy 1.11; Debian's SciPy may be older.)"""
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m / np.arange(1, m + 1))  # the largest exactly p_(m)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def chi2_statistic(categories):
    """The chi-square statistic of the 2 x C table of two samples of category codes (C =
    len(categories)), vectorised as scipy.stats.permutation_test passes samples (along `axis`)."""
    cats = np.asarray(categories)

    def statistic(x, y, axis=-1):
        x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
        obs = np.stack([(x[..., None] == cats).sum(-2), (y[..., None] == cats).sum(-2)], -2)
        expected = obs.sum(-1, keepdims=True) * obs.sum(-2, keepdims=True) \
            / obs.sum((-2, -1), keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            terms = np.where(expected > 0, (obs - expected) ** 2 / expected, 0.0)
        return terms.sum((-2, -1))

    return statistic


def categorical_test(xa, xb, member=None):
    """Two samples of enum codes -> (p, test). With `member`: that code against the rest,
    Fisher's exact test (two-sided). Otherwise over the codes present: one, p = 1; two, Fisher's
    exact test; more, a permutation test of the chi-square statistic, exact (every split) when
    the splits are at most PERMUTATIONS, else that many random splits drawn from a fixed seed
    (the same files give the same p)."""
    from scipy import stats

    xa, xb = np.asarray(xa, dtype=int), np.asarray(xb, dtype=int)
    if member is not None:
        a, b = int((xa == member).sum()), int((xb == member).sum())
        return float(stats.fisher_exact([[a, xa.size - a], [b, xb.size - b]])[1]), FISHER
    cats = np.unique(np.concatenate([xa, xb]))
    if cats.size <= 1:
        return 1.0, FISHER
    if cats.size == 2:
        table = [[int((xa == c).sum()) for c in cats], [int((xb == c).sum()) for c in cats]]
        return float(stats.fisher_exact(table)[1]), FISHER
    table = np.array([[int((xa == c).sum()) for c in cats], [int((xb == c).sum()) for c in cats]])
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    if expected.min() >= 5:
        # Large counts: the chi-square distribution, which reaches the small p that BH needs over
        # many cells (a permutation test stops at 1 / (PERMUTATIONS + 1)).
        return float(stats.chi2_contingency(table, correction=False)[1]), CHI2
    res = stats.permutation_test((xa, xb), chi2_statistic(cats), permutation_type="independent",
                                 vectorized=True, n_resamples=PERMUTATIONS, alternative="greater",
                                 random_state=np.random.default_rng(0))
    return float(res.pvalue), PERMUTATION


def u_statistic(x, y, axis=-1):
    """U of the first sample minus its mean n_x n_y / 2 (mid-ranks for ties), vectorised as
    scipy.stats.permutation_test passes samples."""
    from scipy import stats

    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    ranks = stats.rankdata(np.concatenate([x, y], axis=-1), axis=-1)
    nx, ny = x.shape[-1], y.shape[-1]
    return ranks[..., :nx].sum(-1) - nx * (nx + 1) / 2 - nx * ny / 2


def rank_test(xa, xb):
    """Two samples of finite numbers -> (p, test): the Mann-Whitney U test, two-sided; p = 1
    when every value of both samples is the same. Without ties SciPy's method "auto" (exact for
    small samples, else the normal approximation); with ties (integer fields such as steps_run)
    the normal approximation is too liberal at small samples, so a permutation test of U (exact
    when the splits are at most PERMUTATIONS, else that many random splits from a fixed seed)."""
    from scipy import stats

    xa, xb = np.asarray(xa, dtype=float), np.asarray(xb, dtype=float)
    pooled = np.concatenate([xa, xb])
    distinct = np.unique(pooled).size
    if distinct <= 1:
        return 1.0, MANN_WHITNEY
    if distinct == pooled.size:
        return float(stats.mannwhitneyu(xa, xb, alternative="two-sided").pvalue), MANN_WHITNEY
    # Two-sided as |U - n_a n_b / 2| at least the observed (the exact test's convention).
    res = stats.permutation_test((xa, xb), lambda x, y, axis=-1: np.abs(u_statistic(x, y, axis)),
                                 permutation_type="independent", vectorized=True,
                                 n_resamples=PERMUTATIONS, alternative="greater",
                                 random_state=np.random.default_rng(0))
    return float(min(res.pvalue, 1.0)), MANN_WHITNEY_PERMUTATION


def smallest_p(test, na, nb):
    """The smallest p `test` (FISHER, PERMUTATION, MANN_WHITNEY) gives two samples of na and nb
    points: at complete separation (each sample in a category of its own; every value of one
    below every value of the other, without ties), where a two-sample test's p is smallest. An
    exact permutation test counts the observed split (and, when na = nb, its mirror), so it is
    bounded like Fisher's; a random one by 1 / (PERMUTATIONS + 1) too."""
    from math import comb

    from scipy import stats

    if na < 1 or nb < 1:
        return 1.0
    if test == MANN_WHITNEY:
        return float(stats.mannwhitneyu(np.arange(na), na + np.arange(nb),
                                        alternative="two-sided").pvalue)
    if test == CHI2:  # used only at expected counts >= 5: not the binding limit
        return 0.0
    p = float(stats.fisher_exact([[na, 0], [0, nb]])[1])
    if test == MANN_WHITNEY_PERMUTATION:
        p = min(1.0, 2 / comb(na + nb, na))  # the two extreme splits of a two-sided test
    if test in (PERMUTATION, MANN_WHITNEY_PERMUTATION) and comb(na + nb, na) > PERMUTATIONS:
        p = max(p, 1 / (PERMUTATIONS + 1))
    return p


def seeds_needed(test, level, most=200):
    """The smallest n with smallest_p(test, n, n) <= level (None if above `most`)."""
    for n in range(1, most + 1):
        if smallest_p(test, n, n) <= level:
            return n
    return None


def _config_differences(a, b):
    """The keys whose resolved values differ, seeds and name aside: [(key, in A, in B)]."""
    from .dataset import config

    ca, cb = config(a), config(b)
    keys = [k for k in list(ca) + [k for k in cb if k not in ca] if k not in _NOT_COMPARED]
    return [(k, ca.get(k, "(not set)"), cb.get(k, "(not set)"))
            for k in keys if ca.get(k) != cb.get(k)]


def _arranged(da, cells):
    """A per-point array as (cells..., seeds): the seed axis last, of length 1 where absent."""
    if SEED not in da.dims:
        da = da.expand_dims(SEED, axis=-1)
    return da.transpose(*cells, SEED).values


def _summary(kind, x, names):
    if kind == "categorical":
        return ", ".join(f"{names[int(c)] or int(c)} {int((x == c).sum())}" for c in np.unique(x))
    return f"median {fmt(np.median(x), 4)} (n={x.size})"


def _check_fields(a, b, fields):
    """{field: "categorical" | "continuous"}; Unusable for a field the test does not take."""
    from .dataset import axes, members

    def testable(ds):
        return [n for n in ds.data_vars if n != "status" and not n.startswith(("run_", "trace_"))
                and set(ds[n].dims) <= set(axes(ds))]

    kinds = {}
    for name in fields:
        if name not in testable(a) or name not in testable(b):
            if name == "status":
                why = "says which points are done (only done points are tested)"
            elif name.startswith("run_"):
                why = "timings and placement are not results"
            elif name in a and name in b:
                why = ("has dimensions beyond the grid ("
                       + ", ".join(d for d in a[name].dims if d not in axes(a))
                       + "): the test takes per-point scalar fields")
            else:
                why = f"not a field of {'A' if name not in a else 'B'}"
            raise Unusable(f"--fields {name}: {why} (testable fields: "
                           f"{', '.join(n for n in testable(a) if n in testable(b))})")
        enum = "flag_meanings" in a[name].attrs
        if enum != ("flag_meanings" in b[name].attrs) or \
                (enum and members(a[name]) != members(b[name])):
            raise Unusable(f"--fields {name}: an enum in one file and not the other, or with "
                           "other members")
        kinds[name] = "categorical" if enum else "continuous"
    return kinds


def statistical_comparison(path_a, path_b, fields=None, alpha=0.05, allow=(), outcome=None):
    """The tests of compare --statistical, as data: a dict with `a`, `b` (the masked Datasets),
    `cells` (the axes but sweep.seed), `shape`, `m` (tests made), `alpha`, `notes` (lines about
    values left out and cells not tested) and `tests`: one dict per cell and field tested, with
    `index` (into `shape`), `at` ({axis: value}), `field`, `kind`, `test`, `p`, `q` (BH), `flagged`
    (q <= alpha), `n_a`, `n_b` (values tested), `summary_a`, `summary_b`, `smallest_p` (the
    least p the test could give those sample sizes). Raises Unusable for input it cannot test."""
    from .dataset import axes, done, left_out, members, open_sweep

    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise Unusable(f"--alpha {alpha}: the false discovery rate must be in (0, 1)")
    fields = list(fields) if fields else ["outcome"]
    if len(set(fields)) != len(fields):
        raise Unusable(f"--fields {','.join(fields)}: a field is named twice")
    try:
        a, b = open_sweep(path_a), open_sweep(path_b)
    except (OSError, ValueError) as err:
        raise Unusable(str(err)) from None
    cells = [k for k in axes(a) if k != SEED]
    cells_b = [k for k in axes(b) if k != SEED]
    if sorted(cells) != sorted(cells_b):
        raise Unusable(f"the grids differ beyond {SEED}: axes {', '.join(cells) or 'none'} in A, "
                       f"{', '.join(cells_b) or 'none'} in B")
    for key in cells:
        if a[key].shape != b[key].shape or not np.array_equal(a[key].values, b[key].values):
            raise Unusable(f"the grids differ beyond {SEED}: the axis {key} has other values "
                           f"({a[key].size} in A, {b[key].size} in B)")
    diffs = [d for d in _config_differences(a, b) if d[0] not in allow]
    if diffs:
        shown = "; ".join(f"{k} = {va} in A, {vb} in B" for k, va, vb in diffs[:5])
        more = f"; and {len(diffs) - 5} more" if len(diffs) > 5 else ""
        raise Unusable(f"the configs differ beyond the seeds: {shown}{more} (--allow-difference "
                       "KEY compares them anyway)")
    kinds = _check_fields(a, b, fields)
    member = None
    if outcome is not None:
        if "outcome" not in kinds:
            raise Unusable(f"--outcome {outcome}: needs outcome among --fields")
        names = members(a["outcome"])
        if outcome not in names:
            raise Unusable(f"--outcome {outcome}: not a member of outcome (members: "
                           f"{', '.join(n for n in names if n)})")
        member = names.index(outcome)

    notes = [f"compare: {tag}: {note}" for tag, ds in (("A", a), ("B", b))
             for note in [left_out(ds)] if note]
    # The same seed gives the same bits (streams are keyed by seed and parameters): samples that
    # share seeds are not independent, and their p-values mean nothing for those seeds.
    seeds_a = set(np.atleast_1d(a[SEED].values).tolist()) if SEED in a.coords else set()
    seeds_b = set(np.atleast_1d(b[SEED].values).tolist()) if SEED in b.coords else set()
    shared = sorted(seeds_a & seeds_b)
    if shared:
        listed = ", ".join(str(int(x)) for x in shared[:8]) + (", ..." if len(shared) > 8 else "")
        notes.append(f"compare: WARNING: A and B share {len(shared)} seed(s) ({listed}): a "
                     "shared seed gives the same numbers in both, so the samples are not "
                     "independent and the tests overstate agreement (replicate with other seeds: "
                     "symsweep replicate --first-seed)")
    shape = tuple(a.sizes[k] for k in cells)
    ok_a, ok_b = _arranged(done(a), cells), _arranged(done(b), cells)
    tests, pmin = [], {}
    for name in fields:
        kind = kinds[name]
        va, vb = _arranged(a[name], cells), _arranged(b[name], cells)
        names = members(a[name]) if kind == "categorical" else None
        dropped, untested = [0, 0], 0
        for idx in np.ndindex(shape):
            xa, xb = va[idx][ok_a[idx]], vb[idx][ok_b[idx]]
            if kind == "continuous":
                fa, fb = np.isfinite(xa), np.isfinite(xb)
                dropped = [dropped[0] + int((~fa).sum()), dropped[1] + int((~fb).sum())]
                xa, xb = xa[fa], xb[fb]
            if xa.size == 0 or xb.size == 0:
                untested += 1
                continue
            p, test = categorical_test(xa, xb, member if name == "outcome" else None) \
                if kind == "categorical" else rank_test(xa, xb)
            if (test, xa.size, xb.size) not in pmin:
                pmin[(test, xa.size, xb.size)] = smallest_p(test, xa.size, xb.size)
            tests.append(dict(index=idx, at={k: a[k].values[i] for k, i in zip(cells, idx)},
                              field=name, kind=kind, test=test, p=p, n_a=xa.size, n_b=xb.size,
                              summary_a=_summary(kind, xa, names),
                              summary_b=_summary(kind, xb, names),
                              smallest_p=pmin[(test, xa.size, xb.size)]))
        if sum(dropped):
            notes.append(f"compare: {name}: left out {dropped[0]} non-finite value(s) of A's done "
                         f"points and {dropped[1]} of B's (the rank test takes finite values)")
        if untested:
            notes.append(f"compare: {name}: {untested} cell(s) not tested (no "
                         f"{'done point' if kind == 'categorical' else 'finite value'} in A or "
                         "in B)")
    if not tests:
        raise Unusable("no cell has done points in both files: nothing to test")
    q = benjamini_hochberg([t["p"] for t in tests])
    for t, qi in zip(tests, q):
        t["q"] = float(qi)
        t["flagged"] = bool(qi <= alpha)
    return dict(a=a, b=b, cells=cells, shape=shape, m=len(tests), alpha=alpha, tests=tests,
                notes=notes, fields=fields, outcome=outcome)


def power_warning(result):
    """The warning line when some tests cannot reach what BH needs (None when all can): a lone
    disagreeing cell among m tests is flagged only if its p <= alpha/m, and no cell is flagged
    unless its p <= alpha; the smallest p a test can give is at complete separation."""
    alpha, m, tests = result["alpha"], result["m"], result["tests"]
    never = [t for t in tests if t["smallest_p"] > alpha]
    lone = [t for t in tests if t["smallest_p"] > alpha / m]
    if not lone:
        return None
    worst = max(lone, key=lambda t: t["smallest_p"])
    what = (f"{len(never)} of {m} test(s) cannot reach p <= alpha = {alpha:g} even when the two "
            "samples are completely separated: no such cell can be flagged" if never else
            f"{len(lone)} of {m} test(s) cannot reach p <= alpha/m = {alpha / m:.3g}: a lone "
            "disagreeing cell among them cannot be flagged (BH flags k cells only when k "
            "p-values are <= k alpha/m)")
    test = f"{FISHER} test" if worst["test"] == FISHER else f"the {worst['test']} test"
    need = seeds_needed(worst["test"], alpha / m)
    floor = 1 / (PERMUTATIONS + 1)
    if need:
        more = (f"; {need} values per cell in each file let a lone cell reach alpha/m "
                f"(symsweep replicate --seeds {need} where every seed gives a value)")
    elif worst["test"] in (PERMUTATION, MANN_WHITNEY_PERMUTATION) and alpha / m < floor:
        more = (f"; more seeds do not help: {PERMUTATIONS} random splits resolve p down to "
                f"{floor:.3g} only (fewer cells, fewer --fields, or a larger --alpha do)")
    else:
        more = ""
    return (f"WARNING: too few seeds per cell for the test to have power: {what} (e.g. "
            f"{worst['n_a']} against {worst['n_b']} value(s): {test} gives p >= "
            f"{worst['smallest_p']:.3g}){more}")


def compare_statistical(path_a, path_b, fields=None, alpha=0.05, map_path=None, allow=(),
                        outcome=None, show=50):
    """Per cell (the grid without sweep.seed) and per field, whether the seeds of A and those of
    B could come from one distribution (statistical_comparison), Benjamini-Hochberg over all the
    tests. Returns (exit status, report lines): 0 no test flagged, 1 some flagged, 2 unusable
    input (grids or configs that differ beyond the seeds and the keys in `allow`, a field missing
    or not a per-point scalar, a bad option)."""
    if not isinstance(show, int) or show < 0:
        return 2, [f"unusable input: --show {show}: must be a whole number >= 0"]
    try:
        r = statistical_comparison(path_a, path_b, fields, alpha, allow, outcome)
    except Unusable as err:
        return 2, [f"unusable input: {err}"]
    a, b, cells, tests, m = r["a"], r["b"], r["cells"], r["tests"], r["m"]
    ncells = int(np.prod(r["shape"]))
    used = {}
    for t in tests:
        used.setdefault(t["field"], set()).add(t["test"])
    how = ", ".join(f"{f} ({' / '.join(sorted(used.get(f, ['not tested'])))})"
                    for f in r["fields"])
    lines = [f"statistical comparison of {path_a} (A) and {path_b} (B): {ncells} cell(s) over "
             f"{', '.join(cells) or 'no axis'}; {a.sizes.get(SEED, 1)} seed(s) per cell in A, "
             f"{b.sizes.get(SEED, 1)} in B; field(s) {how}"
             + (f", outcome {outcome} against the rest" if outcome else "")
             + f"; Benjamini-Hochberg over {m} test(s) at FDR {alpha:g}"]
    lines += r["notes"]
    warning = power_warning(r)
    if warning:
        lines.append(warning)
    flagged = sorted((t for t in tests if t["flagged"]), key=lambda t: t["q"])
    if flagged:
        lines.append(f"cells that disagree (q <= {alpha:g}), by q:")
        header = cells + ["field", "A", "B", "p", "q"]
        rows = [[fmt(t["at"][k]) for k in cells]
                + [t["field"], t["summary_a"], t["summary_b"], f"{t['p']:.3g}", f"{t['q']:.3g}"]
                for t in flagged[:show]]
        widths = [max(len(row[c]) for row in rows + [header]) for c in range(len(header))]
        for row in [header] + rows:
            lines.append("    " + "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        if len(flagged) > show:
            lines.append(f"    ... and {len(flagged) - show} more (--show N lists more)")
    if map_path:
        draw_map(r, map_path, f"{path_a} against {path_b}")
        lines.append(f"wrote {map_path}")
    if flagged:
        verdict = (f"DISAGREE: {len(flagged)} of {m} test(s) flagged at FDR {alpha:g}, in "
                   f"{len({t['index'] for t in flagged})} of {ncells} cell(s)")
    else:
        verdict = (f"AGREE: none of {m} test(s) flagged at FDR {alpha:g} (smallest q "
                   f"{min(t['q'] for t in tests):.3g})")
    return (1 if flagged else 0), lines + [verdict]


def draw_map(result, out, what=""):
    """The cells over the two axes with the most values (ties: grid order), one panel per value
    of a third; red where a test of the cell is flagged (any field, any value of the axes beyond
    the third), white where tested and not flagged, grey where nothing was tested. Returns the
    cells' states over the grid without the seeds: 0 not tested, 1 agree, 2 flagged."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from .phase import save

    a, cells, alpha = result["a"], list(result["cells"]), result["alpha"]
    shape = result["shape"]
    state = np.zeros(shape, dtype=int)  # 0 not tested, 1 tested, 2 flagged
    for t in result["tests"]:
        state[t["index"]] = max(state[t["index"]], 2 if t["flagged"] else 1)
    drawn = state.copy()
    by_size = sorted(range(len(cells)), key=lambda d: (-shape[d], d))
    x, y, facet = (by_size + [None, None, None])[:3]
    rest = by_size[3:]
    if rest:
        state = state.max(axis=tuple(rest))
        kept = [d for d in range(len(cells)) if d not in rest]
    else:
        kept = list(range(len(cells)))
    order = [kept.index(d) for d in (x, y, facet) if d is not None]
    state = np.transpose(state, order) if order else state
    while state.ndim < 3:
        state = state[..., None]
    npanels = state.shape[2]
    ncol = min(npanels, 4)
    nrow = -(-npanels // ncol)
    fig, axs = plt.subplots(nrow, ncol, figsize=(4.4 * ncol + 2.2, 3.4 * nrow + 1.2),
                            squeeze=False)
    colors = np.array([[0.85, 0.85, 0.85], [1.0, 1.0, 1.0], [0.84, 0.15, 0.16]])

    def ticks(ax_set, d, n):
        if d is None:
            ax_set([], [])
            return
        labels = [fmt(v, 4) for v in a[cells[d]].values]
        step = max(1, -(-len(labels) // 12))
        ax_set(np.arange(n)[::step], labels[::step])

    for k in range(nrow * ncol):
        ax = axs[k // ncol][k % ncol]
        if k >= npanels:
            ax.axis("off")
            continue
        ax.imshow(colors[state[:, :, k].T], origin="lower", aspect="auto",
                  interpolation="nearest")
        ax.set_xticks(np.arange(state.shape[0]) - 0.5, minor=True)
        ax.set_yticks(np.arange(state.shape[1]) - 0.5, minor=True)
        ax.grid(which="minor", color="#bbbbbb", linewidth=0.4)
        ax.tick_params(which="minor", length=0)
        ticks(lambda t, l: ax.set_xticks(t, l, rotation=45, fontsize=7), x, state.shape[0])
        ticks(lambda t, l: ax.set_yticks(t, l, fontsize=7), y, state.shape[1])
        ax.set_xlabel(cells[x] if x is not None else "")
        ax.set_ylabel(cells[y] if y is not None else "")
        if facet is not None:
            ax.set_title(f"{cells[facet]} = {fmt(a[cells[facet]].values[k], 4)}", fontsize=9)
    fig.legend(handles=[Patch(facecolor=colors[2], label=f"disagree (q <= {alpha:g})"),
                        Patch(facecolor=colors[1], edgecolor="#999999", label="agree"),
                        Patch(facecolor=colors[0], label="not tested")],
               loc="center right", fontsize=8, frameon=False)
    beyond = f"; a cell disagrees when any value of {', '.join(cells[d] for d in rest)} does" \
        if rest else ""
    flagged = sum(t["flagged"] for t in result["tests"])
    fig.suptitle(f"{what}: cells whose seeds disagree ({', '.join(result['fields'])}; "
                 f"{flagged} of {result['m']} tests flagged by BH at FDR {alpha:g}){beyond}",
                 fontsize=9, wrap=True)
    fig.tight_layout(rect=(0, 0, 1 - 1.9 / (4.4 * ncol + 2.2), 0.92))
    save(fig, out)
    return drawn
