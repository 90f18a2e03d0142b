#!/usr/bin/python3
"""What each diagnostic of record.diagnostics costs (README, "Diagnostics on request").

    tests/bench/bench_diagnostics.py [BUILD_DIR]      # default build/; about 2 minutes on 2 cores

linear2 4 x 4 x 4 (d = 32, the quickstart's model), finite data (n = 64) and online
(record.noise_batch = 1024), one process, one thread. Per trace record: 8 points of 2000 steps
with record.every = 1 (16 008 records) and record.diagnostics = traces.NAME; at the end: 400
one-step points with results.NAME. Each cost is the CPU time (user + sys) of the run, the least
of SYMSWEEP_BENCH_REPS runs (default 3), less that of the same sweep with record.diagnostics =
none, divided by the records or the points. The sweeps take turns, so that a busy spell of a
neighbour falls on all of them alike. Costs below the spread of the `none` runs are reported as
"< noise".
"""
import os
import resource
import subprocess
import sys
import tempfile

NAMES = ["loss", "C", "theta_norm", "hessian_trace", "sharpness", "grad_noise", "noether_flow",
         "dist_to_min", "model"]
RESULTS = {"C", "theta_norm", "hessian_trace", "sharpness", "grad_noise", "noether_flow"}
TRACE_POINTS, TRACE_STEPS = 8, 2000
END_POINTS = 400


def config(mode, steps, points, every, diagnostics):
    data = "n = 64\n" if mode == "finite" else "mode = online\n"
    return ("[sweep]\nname = diagnostics\n[model]\nname = linear2\ndx = 4\nh = 4\ndy = 4\n"
            f"[data]\n{data}x_decay = 0.5\nnoise_var = 0.1\n"
            f"[optimizer]\neta = 0.05\nbatch = 4\nsteps = {steps}\ntol = 0\n"
            f"[record]\nevery = {every}\nnoise_batch = 1024\ndiagnostics = {diagnostics}\n"
            f"[axes]\nsweep.seed = range(0, {points})\n")


def cpu_seconds(binary, ini, out):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([binary, "run", ini, "-o", out, "--overwrite", "--quiet"], check=True,
                   env=dict(os.environ, OMP_NUM_THREADS="1"))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build"))
    binary = os.path.join(build, "symsweep")
    if not os.access(binary, os.X_OK):
        sys.exit(f"no {binary}: build the target symsweep_cli first")
    reps = int(os.environ.get("SYMSWEEP_BENCH_REPS", "3"))
    work = tempfile.mkdtemp(prefix="bench_diagnostics_")
    runs = {}  # (mode, kind, diagnostics) -> ini
    for mode in ("finite", "online"):
        for name in ["none"] + NAMES:
            runs[(mode, "traces", name)] = config(
                mode, TRACE_STEPS, TRACE_POINTS, 1, "none" if name == "none" else f"traces.{name}")
            if name == "none" or name in RESULTS:
                runs[(mode, "results", name)] = config(
                    mode, 1, END_POINTS, 0, "none" if name == "none" else f"results.{name}")
        runs[(mode, "traces", "default")] = config(mode, TRACE_STEPS, TRACE_POINTS, 1, "default")
    times = {key: [] for key in runs}
    for key, text in runs.items():
        with open(os.path.join(work, "_".join(key) + ".ini"), "w") as f:
            f.write(text)
    for _ in range(reps):
        for key in runs:
            stem = os.path.join(work, "_".join(key))
            times[key].append(cpu_seconds(binary, stem + ".ini", stem + ".h5"))

    records = TRACE_POINTS * (TRACE_STEPS + 1)

    def cost(mode, kind, name):
        base = times[(mode, kind, "none")]
        noise = max(base) - min(base)
        extra = min(times[(mode, kind, name)]) - min(base)
        per = extra / (records if kind == "traces" else END_POINTS) * 1e6
        return "< noise" if extra <= noise else f"{per:.3g} µs"

    print(f"linear2 4x4x4, CPU s of the `none` runs: " + ", ".join(
        f"{mode} {kind} {min(times[(mode, kind, 'none')]):.3f}-"
        f"{max(times[(mode, kind, 'none')]):.3f}"
        for mode in ("finite", "online") for kind in ("traces", "results")))
    print("| diagnostic | per record, finite | per record, online | at the end, finite |"
          " at the end, online |")
    print("|---|---|---|---|---|")
    for name in NAMES + ["default"]:
        cells = [cost(mode, "traces", name) for mode in ("finite", "online")]
        cells += [cost(mode, "results", name) if (mode, "results", name) in runs else "—"
                  for mode in ("finite", "online")]
        print(f"| `{name}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
