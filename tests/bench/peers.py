#!/usr/bin/python3
"""The peers of symsweep's linear2 SGD loop, and tests/bench/run.sh's report.

    peers.py measure OUT.tsv [--shape DX,H,DY,S]...
        SGD steps per second on one core of the two loops a researcher writes instead of a sweep
        with symsweep, on the same problem (linear2 f = U W x, l = |f - y|^2 / 2, y = V x + eps,
        Sigma_x = I, V = I, Sigma_eps = 0.1 I, eta = 0.01, U ~ N(0, 1/h), W ~ N(0, 1/dx)):
          NumPy  as a researcher writes it: X, Y drawn each step (online) or S distinct rows
                 of n = 256 (finite, rng.choice without replacement), two GEMMs forward and
                 three backward (dL/dU = R^T Z / S, dL/dW = (R U)^T X / S);
          Numba  as a speed-minded one writes it: one @njit loop, explicit small products per
                 sample, NumPy's RNG inside the JIT (np.random.standard_normal; a partial
                 Fisher-Yates with np.random.randint for the finite batches); compile time
                 excluded (a one-step call first).
        Neither computes the loss or |theta| (symsweep's loop does, for its divergence test).
        Rates are the best of 3 runs of at least 0.1 s. Run with OMP_NUM_THREADS=1
        OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 (run.sh does).
    peers.py report KERNELS.tsv PEERS.tsv PARALLEL.tsv
        The tables of run.sh from the three measurements, and which performance targets hold.
"""
import math
import os
import sys
import time

SHAPES = [(1, 1, 1, 1), (3, 2, 2, 1), (10, 10, 10, 16), (64, 64, 64, 64), (256, 256, 256, 128)]
STEPS = {(1, 1, 1, 1): 100000, (3, 2, 2, 1): 100000, (10, 10, 10, 16): 50000,
         (64, 64, 64, 64): 5000, (256, 256, 256, 128): 2000}  # the benchmark's steps per point
N = 256
ETA = 0.01
NOISE = math.sqrt(0.1)
TARGET = 0.1


def shape_name(z):
    return "x".join(str(v) for v in z)


# ----------------------------------------------------------------------------------- measure
def start(dx, h, dy, seed):
    """Both peers' generator and starting point: U ~ N(0, 1/h), W ~ N(0, 1/dx), the teacher V = I."""
    import numpy as np

    rng = np.random.default_rng(seed)
    U = rng.standard_normal((dy, h)) / np.sqrt(h)
    W = rng.standard_normal((h, dx)) / np.sqrt(dx)
    return rng, U, W, np.eye(dy, dx)


def numpy_loop(online):
    import numpy as np

    def run(dx, h, dy, S, steps, seed=1):
        rng, U, W, V = start(dx, h, dy, seed)
        if online:
            def batch():
                X = rng.standard_normal((S, dx))
                return X, X @ V.T + NOISE * rng.standard_normal((S, dy))
        else:
            Xd = rng.standard_normal((N, dx))
            Yd = Xd @ V.T + NOISE * rng.standard_normal((N, dy))

            def batch():
                idx = rng.choice(N, S, replace=False)
                return Xd[idx], Yd[idx]
        for _ in range(steps):
            X, Y = batch()
            Z = X @ W.T
            R = Z @ U.T - Y
            gU = R.T @ Z / S
            gW = (R @ U).T @ X / S
            U -= ETA * gU
            W -= ETA * gW
        return U[0, 0] + W[0, 0]

    return run


def numba_loops():
    import numba
    import numpy as np

    @numba.njit
    def sample_step(U, W, x, y, z, r, d, gU, gW):
        dy, h = U.shape
        dx = W.shape[1]
        for k in range(h):
            acc = 0.0
            for j in range(dx):
                acc += W[k, j] * x[j]
            z[k] = acc
        for i in range(dy):
            acc = 0.0
            for k in range(h):
                acc += U[i, k] * z[k]
            r[i] = acc - y[i]
        for k in range(h):
            acc = 0.0
            for i in range(dy):
                acc += U[i, k] * r[i]
            d[k] = acc
        for i in range(dy):
            for k in range(h):
                gU[i, k] += r[i] * z[k]
        for k in range(h):
            for j in range(dx):
                gW[k, j] += d[k] * x[j]

    @numba.njit
    def update(U, W, gU, gW, c):
        dy, h = U.shape
        dx = W.shape[1]
        for i in range(dy):
            for k in range(h):
                U[i, k] -= c * gU[i, k]
                gU[i, k] = 0.0
        for k in range(h):
            for j in range(dx):
                W[k, j] -= c * gW[k, j]
                gW[k, j] = 0.0

    @numba.njit
    def online(U, W, V, noise, S, steps, eta, seed):
        np.random.seed(seed)
        dy, h = U.shape
        dx = W.shape[1]
        x = np.empty(dx)
        y = np.empty(dy)
        z = np.empty(h)
        r = np.empty(dy)
        d = np.empty(h)
        gU = np.zeros((dy, h))
        gW = np.zeros((h, dx))
        for _ in range(steps):
            for _s in range(S):
                for j in range(dx):
                    x[j] = np.random.standard_normal()
                for i in range(dy):
                    acc = 0.0
                    for j in range(dx):
                        acc += V[i, j] * x[j]
                    y[i] = acc + noise * np.random.standard_normal()
                sample_step(U, W, x, y, z, r, d, gU, gW)
            update(U, W, gU, gW, eta / S)
        return U[0, 0] + W[0, 0]

    @numba.njit
    def finite(U, W, Xd, Yd, S, steps, eta, seed):
        np.random.seed(seed)
        dy, h = U.shape
        dx = W.shape[1]
        n = Xd.shape[0]
        perm = np.arange(n)
        z = np.empty(h)
        r = np.empty(dy)
        d = np.empty(h)
        gU = np.zeros((dy, h))
        gW = np.zeros((h, dx))
        for _ in range(steps):
            for s in range(S):  # partial Fisher-Yates: S distinct rows
                j = s + np.random.randint(0, n - s)
                t = perm[s]
                perm[s] = perm[j]
                perm[j] = t
                row = perm[s]
                sample_step(U, W, Xd[row], Yd[row], z, r, d, gU, gW)
            update(U, W, gU, gW, eta / S)
        return U[0, 0] + W[0, 0]

    def runner(is_online):
        def run(dx, h, dy, S, steps, seed=1):
            rng, U, W, V = start(dx, h, dy, seed)
            if is_online:
                return online(U, W, V, NOISE, S, steps, ETA, seed)
            Xd = rng.standard_normal((N, dx))
            Yd = Xd @ V.T + NOISE * rng.standard_normal((N, dy))
            return finite(U, W, Xd, Yd, S, steps, ETA, seed)

        return run

    return runner(True), runner(False)


def best_rate(run, z):
    """Steps per second: the best of 3 runs of at least TARGET seconds."""
    steps = 1
    while True:
        t0 = time.perf_counter()
        run(*z, steps)
        t = time.perf_counter() - t0
        if t >= TARGET / 4 or steps >= 1 << 30:
            break
        steps *= 16 if t < TARGET / 64 else 4
    steps = max(1, int(steps * TARGET / max(t, 1e-9)))
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        run(*z, steps)
        best = min(best, time.perf_counter() - t0)
    return steps / best


def blas_of_numpy():
    """The BLAS library NumPy's matmul runs on (from this process's mapped files)."""
    import numpy as np

    a = np.ones((64, 64))
    _ = a @ a
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if "/" in line else ""
            base = os.path.basename(path)
            if any(k in base for k in ("blas", "mkl", "blis", "atlas")):
                libs.add(os.path.realpath(path))
    return ", ".join(sorted(libs)) or "unknown"


def measure(out, shapes):
    import numpy as np

    rows = [("numpy.version", np.__version__), ("numpy.blas", blas_of_numpy())]
    try:
        import numba

        rows.append(("numba.version", numba.__version__))
        nb_online, nb_finite = numba_loops()
        t0 = time.perf_counter()
        nb_online(2, 2, 2, 1, 1)
        nb_finite(2, 2, 2, 1, 1)
        rows.append(("numba.compile_s", "%.3g" % (time.perf_counter() - t0)))
    except ImportError:
        numba = None
        rows.append(("numba.version", "not installed"))
    print("peers: NumPy %s on %s; Numba %s" % (np.__version__, rows[1][1], rows[2][1]), flush=True)
    for z in shapes:
        for mode in ("online", "finite"):
            key = "%s.%s" % (shape_name(z), mode)
            np_rate = best_rate(numpy_loop(mode == "online"), z)
            rows.append((key + ".numpy_sps", "%.6g" % np_rate))
            text = "%-16s %-6s NumPy %10.4g steps/s" % (shape_name(z), mode, np_rate)
            if numba is not None:
                nb_rate = best_rate(nb_online if mode == "online" else nb_finite, z)
                rows.append((key + ".numba_sps", "%.6g" % nb_rate))
                text += " | Numba %10.4g steps/s" % nb_rate
            print(text, flush=True)
    with open(out, "w") as f:
        for k, v in rows:
            f.write("%s\t%s\n" % (k, v))


# ------------------------------------------------------------------------------------ report
def read_tsv(path):
    values = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "\t" in line:
                    k, v = line.rstrip("\n").split("\t", 1)
                    try:
                        values[k] = float(v)
                    except ValueError:
                        values[k] = v
    return values


def fmt(v, spec="%.3g"):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return spec % v


def table(header, rows):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = "  ".join("%*s" % (w, h) for w, h in zip(widths, header))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join("%*s" % (w, c) for w, c in zip(widths, r)))
    print()


def report(kernels_path, peers_path, parallel_path):
    k = read_tsv(kernels_path)
    p = read_tsv(peers_path)
    par = read_tsv(parallel_path)
    numba_missing = p.get("numba.version") == "not installed"
    shapes = [z for z in SHAPES if "%s.online.loop_sps" % shape_name(z) in k]

    def get(d, key):
        v = d.get(key)
        return v if isinstance(v, float) else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    def runs(key):
        reps, batch = get(k, key + "point_reps"), get(k, key + "point_batch")
        if reps is None:
            return "-"
        if reps < 2:
            return "1 point"
        return "best of %.0f x %.0f" % (reps, batch or 1)

    print("== 1. SGD steps per second, one core (best of 3); x = symsweep / peer")
    print("   symsweep loop: PointRun::advance, record.every = 0, optimizer.tol = 0 (no checks)")
    rows = []
    for z in shapes:
        for mode in ("online", "finite"):
            key = "%s.%s." % (shape_name(z), mode)
            loop = get(k, key + "loop_sps")
            nump, numb = get(p, key + "numpy_sps"), get(p, key + "numba_sps")
            rows.append([shape_name(z), mode, fmt(loop), fmt(get(k, key + "sgd_sps")),
                         fmt(get(k, key + "grad_per_s")), fmt(get(k, key + "draw_per_s")),
                         fmt(nump), "not installed" if numba_missing else fmt(numb),
                         fmt(ratio(loop, nump)), fmt(ratio(loop, numb)),
                         fmt(get(k, key + "loop_allocs_per_step"), "%.3g")])
    table(["dx x h x dy x S", "data", "symsweep", "Sgd::step", "loss_grad/s", "draws/s",
           "NumPy", "Numba", "x NumPy", "x Numba", "allocs/step"], rows)

    print("== 2. One whole point: default diagnostics and end-of-run checks, the benchmark's steps")
    print("   (record.every = 0, tol = 1e-10 checked every 100 steps, Lanczos, noise, SGD checks)")
    print("   x peer per point = (steps / peer steps/s) / symsweep point seconds; short points are")
    print("   timed in runs of k back to back (at least 0.1 s, as every rate), the best of 3 runs")
    rows = []
    for z in shapes:
        for mode in ("online", "finite"):
            key = "%s.%s." % (shape_name(z), mode)
            steps = get(k, key + "point_steps")
            total = get(k, key + "point_s")
            end = get(k, key + "point_end_s")
            eff = steps / total if steps and total else None
            nump, numb = get(p, key + "numpy_sps"), get(p, key + "numba_sps")
            rows.append([shape_name(z), mode, fmt(steps, "%.0f"),
                         fmt(get(k, key + "point_setup_s")), fmt(get(k, key + "point_loop_s")),
                         fmt(end), fmt(total),
                         fmt(100 * end / total if end and total else None, "%.0f%%"), fmt(eff),
                         fmt(ratio(eff, nump)), fmt(ratio(eff, numb)),
                         "%s, %s" % (k.get(key + "point_outcome", "?"), runs(key)),
                         fmt(get(k, key + "point_end_allocs"), "%.0f")])
    table(["dx x h x dy x S", "data", "steps", "set-up s", "loop s", "end s", "point s",
           "end share", "steps/s", "x NumPy", "x Numba", "outcome, runs x points", "end allocs"],
          rows)

    print("== 3. GFLOP/s of a step (loop above) against Eigen's own GEMM rate at the same shapes")
    print("   linear2's products: Z = X W^T, R = Z U^T, G = R^T X, G W^T, U^T G; backprop's: Z, R,")
    print("   R^T Z, R U, (R U)^T X. % Eigen = symsweep GF/s / Eigen GF/s on linear2's products;")
    print("   t ratio = one step of Eigen's backprop products / one symsweep step")
    rows = []
    for z in shapes:
        name = shape_name(z)
        fl, fb = get(k, name + ".flops_linear2"), get(k, name + ".flops_backprop")
        for mode in ("online", "finite"):
            key = "%s.%s." % (name, mode)
            loop = get(k, key + "loop_sps")
            l2 = get(k, key + "gemm_linear2_per_s")
            bp = get(k, key + "gemm_backprop_per_s")
            mine = loop * fl / 1e9 if loop and fl else None
            eig = l2 * fl / 1e9 if l2 and fl else None
            rows.append([name, mode, fmt(fl, "%.4g"), fmt(fb, "%.4g"), fmt(mine), fmt(eig),
                         fmt(100 * mine / eig if mine and eig else None, "%.0f%%"),
                         fmt(bp * fb / 1e9 if bp and fb else None),
                         fmt(get(k, name + ".eigen_default.backprop_gflops")),
                         fmt(ratio(loop, bp), "%.2f")])
    table(["dx x h x dy x S", "data", "flops linear2", "flops backprop", "symsweep GF/s",
           "Eigen GF/s", "% Eigen", "Eigen bp GF/s", "bp default blk", "t ratio"], rows)

    print("== 4. The generator's ceiling: its rate / draws per step")
    normal = max(get(k, "rng.normal") or 0, get(k, "rng.normals_bulk") or 0)
    print("   normals: %s M/s one at a time (Stream::normal), %s M/s through NormalSource (as the"
          % (fmt(get(k, "rng.normal") / 1e6 if get(k, "rng.normal") else None),
             fmt(get(k, "rng.normal_virtual") / 1e6 if get(k, "rng.normal_virtual") else None)))
    print("   Teacher draws), %s M/s in blocks (Stream::normals); the ceiling uses the fastest, %s"
          " M/s;" % (fmt(get(k, "rng.normals_bulk") / 1e6 if get(k, "rng.normals_bulk") else None),
                     fmt(normal / 1e6)))
    below = get(k, "rng.below")
    print("   finite batches draw S bounded integers (Stream::below: %s M/s)"
          % fmt(below / 1e6 if below else None))
    rows = []
    for z in shapes:
        for mode in ("online", "finite"):
            key = "%s.%s." % (shape_name(z), mode)
            per = z[3] * (z[0] + z[2]) if mode == "online" else z[3]
            rate = normal if mode == "online" else below
            ceiling = rate / per if rate else None
            loop = get(k, key + "loop_sps")
            steps, total = get(k, key + "point_steps"), get(k, key + "point_s")
            eff = steps / total if steps and total else None
            rows.append([shape_name(z), mode, "%d %s" % (per, "normals" if mode == "online"
                                                         else "integers"),
                         fmt(ceiling), fmt(loop),
                         fmt(100 * loop / ceiling if loop and ceiling else None, "%.0f%%"),
                         fmt(100 * eff / ceiling if eff and ceiling else None, "%.0f%%")])
    table(["dx x h x dy x S", "data", "draws/step", "ceiling steps/s", "symsweep loop",
           "loop % ceiling", "point % ceiling"], rows)

    if par:
        print("== 5. Parallel efficiency: %s (best of 3)" % par.get("sweep", "?"))
        rows = []
        base_s, base_w = get(par, "1x1.symsweep_s"), get(par, "1x1.wall_s")
        for layout, label in (("1x1", "1 rank x 1 thread"), ("1x2", "1 rank x 2 threads"),
                              ("2x1", "2 ranks x 1 thread")):
            s, w = get(par, layout + ".symsweep_s"), get(par, layout + ".wall_s")
            inside = get(par, layout + ".inside_s")
            workers = 1 if layout == "1x1" else 2
            rows.append([label, fmt(s), fmt(ratio(base_s, s), "%.2fx"), fmt(w),
                         fmt(ratio(base_w, w), "%.2fx"), fmt(inside),
                         fmt(100 * inside / (workers * s) if inside and s else None, "%.0f%%")])
        table(["layout", "symsweep s", "speed-up", "wall s (mpirun)", "speed-up (wall)",
               "points' own s", "inside points"], rows)
        print("   inside points = the points' own seconds (/run/seconds, summed) / (workers x")
        print("   symsweep s): the time workers spent in points, whatever the machine's speed")
        print()

    print("== 6. Performance targets (per core, each point's end-of-run checks included: the")
    print("   whole-point rates of table 2; online data, finite in brackets)")

    def point_rate(z, mode):
        key = "%s.%s." % (shape_name(z), mode)
        steps, total = get(k, key + "point_steps"), get(k, key + "point_s")
        return steps / total if steps and total else None

    def check(label, z, value_of, goal, unit="x"):
        spec = "%.3g" + unit.replace("%", "%%")
        v, fin = (value_of(z, m) for m in ("online", "finite"))
        state = "-" if v is None else ("met" if v >= goal else "NOT met")
        extra = " [finite: %s]" % fmt(fin, spec) if fin is not None else ""
        print("   %-54s %-9s %s%s" % (label, fmt(v, spec), state, extra))

    def vs(peer):
        def f(z, mode):
            return ratio(point_rate(z, mode), get(p, "%s.%s.%s_sps" % (shape_name(z), mode, peer)))
        return f

    def ceiling_share(z, mode):
        per = z[3] * (z[0] + z[2]) if mode == "online" else z[3]
        rate = normal if mode == "online" else below
        eff = point_rate(z, mode)
        return 100 * eff / (rate / per) if eff and rate else None

    def eigen_share(z, mode):
        key = "%s.%s." % (shape_name(z), mode)
        r = ratio(get(k, key + "loop_sps"), get(k, key + "gemm_linear2_per_s"))
        return 100 * r if r is not None else None

    def eigen_bp_share(z, mode):
        key = "%s.%s." % (shape_name(z), mode)
        r = ratio(get(k, key + "loop_sps"), get(k, key + "gemm_backprop_per_s"))
        return 100 * r if r is not None else None

    z = (3, 2, 2, 1)
    if z in shapes:
        check("(3,2,2) S=1: >= 200x NumPy", z, vs("numpy"), 200)
        check("(3,2,2) S=1: >= 3x Numba", z, vs("numba"), 3)
        check("(3,2,2) S=1: >= 70% of the generator ceiling", z, ceiling_share, 70, "%")
    z = (10, 10, 10, 16)
    if z in shapes:
        check("(10,10,10) S=16: >= 70% of the ceiling", z, ceiling_share, 70, "%")
        check("(10,10,10) S=16: >= 4x Numba", z, vs("numba"), 4)
    z = (64, 64, 64, 64)
    if z in shapes:
        check("(64,64,64) S=64: >= 3x NumPy", z, vs("numpy"), 3)
    z = (256, 256, 256, 128)
    if z in shapes:
        check("(256,256,256) S=128: >= 1.5x NumPy", z, vs("numpy"), 1.5)
        check("(256,256,256): >= 70% of Eigen (loop, own products)", z, eigen_share, 70, "%")
        check("(256,256,256): >= 70% of Eigen (loop, backprop)", z, eigen_bp_share, 70, "%")

    def end_share(z, mode):
        key = "%s.%s." % (shape_name(z), mode)
        r = ratio(get(k, key + "point_end_s"), get(k, key + "point_s"))
        return 100 * r if r is not None else None

    for z in [z for z in shapes if z != (1, 1, 1, 1)]:  # item 2: end-of-run checks <= 10%
        v, fin = end_share(z, "online"), end_share(z, "finite")
        state = "-" if v is None else ("met" if v <= 10 else "NOT met")
        print("   %-54s %-9s %s [finite: %s]" % ("(%d,%d,%d) S=%d, %d steps: end checks <= 10%%"
                                                 % (z + (STEPS[z],)), fmt(v, "%.3g%%"), state,
                                                 fmt(fin, "%.3g%%")))
    if par:
        for layout, label in (("1x2", "2 threads"), ("2x1", "2 ranks")):
            s = ratio(get(par, "1x1.symsweep_s"), get(par, layout + ".symsweep_s"))
            w = ratio(get(par, "1x1.wall_s"), get(par, layout + ".wall_s"))
            state = "-" if s is None else ("met" if s >= 1.85 else "NOT met")
            print("   %-54s %-9s %s [wall, mpirun's start included: %s]"
                  % ("parallel: %s >= 1.85x one" % label, fmt(s, "%.2fx"), state,
                     fmt(w, "%.2fx")))


def main(argv):
    if len(argv) >= 2 and argv[0] == "measure":
        shapes = []
        rest = argv[2:]
        while rest:
            if rest[0] == "--shape" and len(rest) > 1:
                shapes.append(tuple(int(v) for v in rest[1].split(",")[:4]))
                rest = rest[2:]
            else:
                sys.exit("usage: peers.py measure OUT.tsv [--shape DX,H,DY,S]...")
        measure(argv[1], shapes or SHAPES)
    elif len(argv) == 4 and argv[0] == "report":
        report(argv[1], argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
