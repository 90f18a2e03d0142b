"""Command line: /usr/bin/python3 -m symsweep_analysis COMMAND ... (analysis/ on PYTHONPATH).

    phase   FILE.h5 [-o OUT.png|.pdf] [--x KEY] [--y KEY] [--color outcome|FIELD] [--facet KEY]
            [--table]      --table: also the thresholds against the measured divergence boundary
    compare A.h5 B.h5 [--rtol R] [--atol A] [--show N]     exit 0 same, 1 different, 2 unusable
    compare --statistical A.h5 B.h5 [--fields F,...] [--alpha Q] [--map OUT.png] [--outcome M]
            [--allow-difference KEY ...]   per cell (the grid without sweep.seed): do the seeds
            of A and B agree? Exit 0 no cell flagged, 1 some flagged, 2 unusable
    report  FILE.h5 [-o OUT.html] [--figures DIR] [--format png,pdf]
    bifurcation FILE.h5 [-o OUT.png] [--x KEY] [--facet KEY]    orbit points against eta
    amplitudes  FILE.h5 [-o OUT.png]                            measured vs predicted 2-cycles
    eos         FILE.h5 [-o OUT.png] [--x KEY]                  final sharpness against 2/eta
    trace       FILE.h5 --var trace_NAME [--select KEY=VALUE ...] [--predicted FIELD|NUMBER]
                [--fit-rate] [-o OUT.png]        time series per point; approach rates, exponents
    expectation FILE.h5 [-o OUT.png]     E|x_t - x*| against t per eta: exact enumeration and
                the Monte-Carlo over seeds (stability.exact_steps > 0)
    noether     FILE.h5 [--kind init|rate|scale] [-o OUT.png]   the Noether-flow sweeps' figure
                and their predicted-against-measured table
    sharpening  FILE.h5 [--x KEY] [-o OUT.png]    Tr H(SGD) / Tr H(GD) from the same start against
                the anisotropy, the predicted ratio, the norm balance, and their table
    warmup      FILE.h5 [-o OUT.png]    steps to equilibrate and divergence against the warm-up
                length, with the eta^2/S prediction where it applies, and their table
    alignment   FILE.h5 [-o OUT.png]    mlp2's representation alignment at the end against
                eta / S, SGD against GD, with the seeds' range, and its table
    inspect     FILE.h5        provenance, axes, points per enum member, range of every field
    --version

Every command prints one line about the points it left out (status not done: pending, failed)
and why. Exit status 2, with one line naming what is missing, for a file the command does not fit
(no such file, not a result file, a figure whose fields or axes the file lacks, bad options).
"""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m symsweep_analysis",
        description="Phase diagrams, comparisons and reports from symsweep result files.")
    from . import __version__

    parser.add_argument("--version", action="version",
                        version=f"symsweep_analysis {__version__} (reads result files of format "
                        "symsweep/1)")
    sub = parser.add_subparsers(dest="command", required=True)
    phase = sub.add_parser("phase", help="phase diagram of two swept axes (PNG or PDF)",
                           description="Two swept axes as a plane, coloured by outcome (fractions "
                           "over the other axes) or by a field (median), with the predicted "
                           "boundaries on top.")
    phase.add_argument("file", help="result file (.h5)")
    phase.add_argument("-o", "--output", help="figure to write (default: FILE with .png)")
    phase.add_argument("--x", help="axis on the horizontal (default optimizer.eta)")
    phase.add_argument("--y", help="axis on the vertical (default optimizer.batch, or the next)")
    phase.add_argument("--color", default="outcome",
                       help="'outcome' (default) or a field of /results, e.g. sharpness")
    phase.add_argument("--facet", help="a third axis: one panel per value")
    phase.add_argument("--table", action="store_true",
                       help="also print, per value of --y, the thresholds eta_worst_batch, eta_ms, "
                       "eta_gd against the measured boundary along --x: the largest value with no "
                       "diverged seed (there and below) and the smallest with every seed diverged")
    comp = sub.add_parser(
        "compare", help="compare two result files field by field, or statistically",
        description="Field by field, bit for bit or within --rtol/--atol; or, with "
        "--statistical, per cell (the grid without sweep.seed) and per field, a two-sample test "
        "of A's seeds against B's: an enum field such as outcome by Fisher's exact test (two "
        "members present, or --outcome MEMBER against the rest) or a permutation test of the "
        "chi-square statistic (more members; exact up to 9999 splits, else 9999 random splits "
        "from a fixed seed), a continuous field by the Mann-Whitney U test on its finite values "
        "(the others are counted and left out); then Benjamini-Hochberg over every test (cells "
        "x fields) at false discovery rate --alpha. Only done points count. The files must "
        "have the same grid apart from sweep.seed (their seeds may differ: a replicate's do) "
        "and the same config apart from the seeds and the keys of --allow-difference. A "
        "warning says when the cells have too few seeds for a test to reach what BH needs "
        "(p <= alpha/m for a lone cell among m tests). Exit status: 0 the same (no cell "
        "flagged), 1 different (some flagged), 2 unusable input.")
    comp.add_argument("a")
    comp.add_argument("b")
    comp.add_argument("--rtol", type=float, help="relative tolerance (default: bits)")
    comp.add_argument("--atol", type=float, help="absolute tolerance")
    comp.add_argument("--show", type=int,
                      help="differing points listed per field (default 5); with --statistical, "
                      "flagged tests listed (default 50)")
    comp.add_argument("--statistical", action="store_true",
                      help="per cell, a two-sample test of the seeds of A against those of B")
    comp.add_argument("--fields", help="--statistical: comma-separated per-point fields to test "
                      "(default: outcome), e.g. outcome,final_loss,sharpness")
    comp.add_argument("--alpha", type=float, help="--statistical: the false discovery rate of "
                      "Benjamini-Hochberg (default 0.05)")
    comp.add_argument("--map", metavar="OUT.png", help="--statistical: draw the cells that "
                      "disagree over the two axes with the most values (a third as panels)")
    comp.add_argument("--outcome", metavar="MEMBER", help="--statistical: test this member of "
                      "outcome against the rest (Fisher's exact test), e.g. diverged")
    comp.add_argument("--allow-difference", action="append", default=[], metavar="KEY",
                      help="--statistical: compare files whose configs differ in KEY (e.g. a "
                      "planted change of model.h_max); repeatable")
    rep = sub.add_parser("report", help="one self-contained HTML page with every figure")
    rep.add_argument("file")
    rep.add_argument("-o", "--output", help="HTML to write (default: FILE with .html)")
    rep.add_argument("--figures", help="also write every figure into this directory")
    rep.add_argument("--format", default="png", help="formats of --figures: png, pdf or png,pdf")
    bif = sub.add_parser("bifurcation", help="orbit points of GD against a step-size axis",
                         description="Where each deterministic run ends (its orbit, its last "
                         "iterates, or its fixed point) against --x (default optimizer.eta).")
    bif.add_argument("file")
    bif.add_argument("-o", "--output")
    bif.add_argument("--x", default="optimizer.eta")
    bif.add_argument("--facet", help="one panel per value (default model.preset when swept)")
    amp = sub.add_parser("amplitudes", help="measured against predicted 2-cycle amplitudes")
    amp.add_argument("file")
    amp.add_argument("-o", "--output")
    eos = sub.add_parser("eos", help="final sharpness of converged runs against 2/eta")
    eos.add_argument("file")
    eos.add_argument("-o", "--output")
    eos.add_argument("--x", default="optimizer.eta")
    tr = sub.add_parser("trace", help="time series of a trace for chosen points",
                        description="The trace against the step for the points at the --select "
                        "values (colour per remaining axis, seeds thin with their mean), the "
                        "predicted value dashed. --fit-rate prints each point's approach rate to "
                        "equilibrium (exponential fit of |q(t) - q_final|, q_final the --predicted "
                        "value where given, else the mean of the last records) and, where "
                        "optimizer.eta and optimizer.batch are axes, the exponents a, b of "
                        "rate ~ eta^a S^b.")
    tr.add_argument("file")
    tr.add_argument("--var", required=True, help="a trace variable, e.g. trace_C or trace_loss")
    tr.add_argument("--select", action="append", default=[], metavar="KEY=VALUE",
                    help="an axis (or trailing dimension, e.g. k) at one value; repeatable")
    tr.add_argument("--predicted", help="a results field (per point) or a number: drawn dashed")
    tr.add_argument("--fit-rate", action="store_true",
                    help="print the approach rate per point and the exponents of eta and S")
    tr.add_argument("--tail", type=float, default=0.2,
                    help="fraction of the last records that estimates q_final (default 0.2)")
    tr.add_argument("-o", "--output")
    ex = sub.add_parser("expectation", help="E|x_t - x*| per eta: exact and Monte-Carlo",
                        description="The exact expectation of the distance to x* over every batch "
                        "sequence (the exact_mean_dist trace of stability.exact_steps > 0), solid, "
                        "with the mean (dashed) and median (dotted) of dist_to_min over the seed "
                        "axis, one curve per optimizer.eta, one panel per value of the other axes; "
                        "the thresholds eta_worst_batch, eta_ms, eta_gd under each panel; +inf "
                        "and off-scale values in a band above each panel. Prints the values "
                        "left off the scale and a line per panel and eta.")
    ex.add_argument("file")
    ex.add_argument("-o", "--output")
    no = sub.add_parser("noether", help="figure and predicted-vs-measured table of a Noether sweep",
                        description="jobs/sweeps/noether_init.ini (spread of C across starts "
                        "under SGD and GD), noether_rate.ini (approach rate ~ eta^a S^b and the "
                        "equilibrium across eta, S), scale_invariance.ini (|theta|^4 slope and "
                        "fixed point): the kind is taken from the file's model and axes unless "
                        "--kind says.")
    no.add_argument("file")
    no.add_argument("--kind", choices=("init", "rate", "scale"),
                    help="init-independence, rate, or scale invariance (default: from the file)")
    no.add_argument("-o", "--output")
    sh = sub.add_parser("sharpening", help="SGD's Tr H over GD's from the same start, against "
                        "the anisotropy (jobs/sweeps/sharpening.ini)",
                        description="Pairs every optimizer.method = sgd point with the gd point "
                        "at the same value of every other axis and draws Tr H(SGD) / Tr H(GD) "
                        "(the model's window mean eq_hessian_trace where the file has it, else "
                        "hessian_trace), lambda_max's ratio and the norm balance between the "
                        "first and last layers against the anisotropy (--x, default the first "
                        "swept of data.noise_decay, data.x_decay, data.x_cov, data.noise_cov), "
                        "one series per value of the other axes; the predicted ratio "
                        "(hessian_trace_eq_predicted / hessian_trace_gf_predicted) where the "
                        "model stores it. Prints the predicted-against-measured table.")
    sh.add_argument("file")
    sh.add_argument("--x", help="the anisotropy axis on the horizontal")
    sh.add_argument("-o", "--output")
    wu = sub.add_parser("warmup", help="steps to equilibrate and divergence against the warm-up "
                        "length (jobs/sweeps/warmup.ini)",
                        description="Over an optimizer.warmup_steps axis (and seeds): the "
                        "equilibrium gap's decay, eta_t lambda_max(t), the steps until eq_gap "
                        "falls to 0.1 of its start (eq_gap_steps) and the fraction of seeds that "
                        "diverged, with the step predicted from the eta^2 sigma_x^2 sigma_eps^2 "
                        "/ S rate where it applies (linear2 with dx = dy = 1, online SGD, no "
                        "weight decay). Prints the table.")
    wu.add_argument("file")
    wu.add_argument("-o", "--output")
    al = sub.add_parser("alignment", help="representation alignment against eta / S, SGD "
                        "against GD (jobs/sweeps/alignment.ini)",
                        description="The model mlp2's mlp_alignment, cos(W Sx W^T, U^T U) "
                        "averaged over the final window, per cell (every axis but sweep.seed): "
                        "SGD's against its noise scale eta / S with the seeds' range, GD's as a "
                        "band (its batch size does not enter), the value at the start (the trace "
                        "record at step 0) as a line; one panel per value of the other axes "
                        "(model.activation). Diverged points count in no number. Prints the "
                        "table.")
    al.add_argument("file")
    al.add_argument("-o", "--output")
    ins = sub.add_parser("inspect", help="a summary of a result file, like symsweep inspect",
                         description="Provenance, axes, the points per member of every enum field "
                         "and the range (over done points) of every real field.")
    ins.add_argument("file")
    args = parser.parse_args(argv)

    from .dataset import left_out
    from .dataset import open_sweep as _open
    from .phase import plot_phase, save
    from .report import write_report

    def open_sweep(path):
        """The masked file, and the one line about the points left out; a refined sweep's point
        table on its fine grid (to_grid) for every command but phase, which draws its cells."""
        ds = _open(path)
        note = left_out(ds)
        if note:
            print(f"{args.command}: {note}")
        if ds.attrs.get("refined") and args.command != "phase":
            from .refine import to_grid

            ds = to_grid(ds)
        return ds

    try:
        if args.command == "inspect":
            from .inspect import describe

            print(describe(args.file))
            return 0
        if args.command == "compare":
            status, lines = _compare(args)
            print("\n".join(lines), file=sys.stdout if status < 2 else sys.stderr)
            return status
        if args.command == "phase":
            out = args.output or args.file.rsplit(".", 1)[0] + ".png"
            ds = open_sweep(args.file)
            if args.table:  # checked before the figure: a file without the axes draws nothing
                from .phase import default_axes
                from .refine import to_grid
                from .sgd import boundary_table, format_boundary_table

                grid = to_grid(ds) if ds.attrs.get("refined") else ds
                x, y = default_axes(grid, args.x, args.y)
                table = format_boundary_table(boundary_table(grid, x, y))
            save(plot_phase(ds, args.x, args.y, args.color, args.facet), out)
            if args.table:
                print("\n".join(table))
            print(f"wrote {out}")
            return 0
        if args.command == "expectation":
            from .sgd import plot_expectation

            out = args.output or args.file.rsplit(".", 1)[0] + "_expectation.png"
            ds = open_sweep(args.file)
            fig, lines = plot_expectation(ds)
            save(fig, out)
            for line in lines:
                print(f"expectation: {line}" if line.startswith("left out") else line)
            print(f"wrote {out}")
            return 0
        if args.command in ("bifurcation", "amplitudes", "eos"):
            from .stability import plot_amplitudes, plot_bifurcation, plot_eos

            out = args.output or args.file.rsplit(".", 1)[0] + f"_{args.command}.png"
            ds = open_sweep(args.file)
            if args.command == "bifurcation":
                fig = plot_bifurcation(ds, args.x, args.facet)
            elif args.command == "eos":
                fig = plot_eos(ds, args.x)
            else:
                fig, note = plot_amplitudes(ds, with_note=True)
                if note:
                    print(f"amplitudes: {note}")
            save(fig, out)
            print(f"wrote {out}")
            return 0
        if args.command == "trace":
            return _trace(args, open_sweep, save)
        if args.command == "noether":
            from .noether import ANALYSES, detect

            ds = open_sweep(args.file)
            kind = args.kind or detect(ds)
            out = args.output or args.file.rsplit(".", 1)[0] + f"_{kind}.png"
            fig, lines = ANALYSES[kind](ds)
            save(fig, out)
            print("\n".join(lines))
            print(f"wrote {out}")
            return 0
        if args.command == "alignment":
            from .alignment import plot_alignment

            out = args.output or args.file.rsplit(".", 1)[0] + "_alignment.png"
            ds = open_sweep(args.file)
            fig, lines = plot_alignment(ds)
            save(fig, out)
            print("\n".join(lines))
            print(f"wrote {out}")
            return 0
        if args.command in ("sharpening", "warmup"):
            from .sharpening import plot_sharpening, plot_warmup

            out = args.output or args.file.rsplit(".", 1)[0] + f"_{args.command}.png"
            ds = open_sweep(args.file)
            fig, lines = plot_sharpening(ds, args.x) if args.command == "sharpening" \
                else plot_warmup(ds)
            save(fig, out)
            print("\n".join(lines))
            print(f"wrote {out}")
            return 0
        out = args.output or args.file.rsplit(".", 1)[0] + ".html"
        titles = write_report(args.file, out, args.figures, tuple(f.strip() for f in args.format.split(",")))
        note = left_out(_open(args.file))
        if note:
            print(f"report: {note}")
        print(f"wrote {out} ({len(titles)} figure(s): {', '.join(titles)})")
        return 0
    except (OSError, ValueError, KeyError) as err:
        print(f"symsweep_analysis: error: {err}", file=sys.stderr)
        return 2


def _compare(args):
    """compare, or compare --statistical: (exit status, lines)."""
    from .compare import compare, compare_statistical

    statistical_only = {"--fields": args.fields, "--alpha": args.alpha, "--map": args.map,
                        "--outcome": args.outcome,
                        "--allow-difference": args.allow_difference or None}
    if args.statistical:
        for name, value in (("--rtol", args.rtol), ("--atol", args.atol)):
            if value is not None:
                return 2, [f"unusable input: {name}: a tolerance of the bitwise comparison; "
                           "--statistical tests the seeds' distributions"]
        fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields \
            else None
        if args.fields is not None and not fields:
            return 2, [f"unusable input: --fields {args.fields!r}: name at least one field"]
        return compare_statistical(args.a, args.b, fields,
                                   0.05 if args.alpha is None else args.alpha, args.map,
                                   tuple(args.allow_difference), args.outcome,
                                   50 if args.show is None else args.show)
    for name, value in statistical_only.items():
        if value is not None:
            return 2, [f"unusable input: {name} needs --statistical"]
    return compare(args.a, args.b, args.rtol or 0.0, args.atol or 0.0,
                   5 if args.show is None else args.show)


def _trace(args, open_sweep, save):
    from .trace import approach_rates, fit_exponents, plot_trace

    selection = {}
    for item in args.select:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--select {item!r}: expected KEY=VALUE")
        selection[key.strip()] = value.strip()
    ds = open_sweep(args.file)
    out = args.output or args.file.rsplit(".", 1)[0] + f"_{args.var}.png"
    save(plot_trace(ds, args.var, selection, args.predicted), out)
    print(f"wrote {out}")
    if args.fit_rate:
        rates = approach_rates(ds, args.var, selection, tail=args.tail, final=args.predicted)
        flat = rates.stack(_p=rates.dims) if rates.dims else rates.expand_dims(_p=[0])
        print(f"approach rate of {args.var} per step (|q(t) - q_final| ~ exp(-rate step)):")
        from .dataset import done
        from .phase import fmt
        from .trace import select

        status = done(select(ds, selection)).broadcast_like(rates)
        status = status.stack(_p=rates.dims) if rates.dims else status.expand_dims(_p=[0])
        for j in range(flat.sizes["_p"]):
            where = ", ".join(f"{d} = {fmt(flat[d].values[j])}" for d in rates.dims) \
                or "the point"
            value = f"{float(flat.values[j]):.6g}" if bool(status.values[j]) \
                else "not done (left out)"
            print(f"  {where}: {value}")
        if all(k in rates.dims for k in ("optimizer.eta", "optimizer.batch")):
            a, b, c = fit_exponents(rates)
            print(f"rate ~ eta^a S^b: a = {a:.4f}, b = {b:.4f} (log prefactor {c:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
