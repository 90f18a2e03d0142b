// Kernel figures of linear2, one core, one thread, measured side by side
// in one run; tests/bench/run.sh puts them beside the NumPy and Numba peers. Not a test.
//   build/tests/symsweep_bench_kernels [--tsv FILE] [--no-points] [--shape DX,H,DY,S]...
// (--no-points: the rates alone, without the whole points, for quick side-by-side comparisons)
//
// For every shape (dx, h, dy, S) and data mode (online: S fresh samples a step; finite: S
// distinct rows of n = 256 drawn once), with data.noise_var = 0.1 and eta = 0.01 (so that SGD
// keeps moving and never converges nor diverges):
//   loop    steps/s of the library's own point loop, PointRun::advance (src/simulate.cpp), with
//           record.every = 0 and optimizer.tol = 0 (no traces, no convergence checks): the batch,
//           the gradient, the update, |theta| and the loop's bookkeeping; and its heap
//           allocations per step (malloc is counted: tests/unit/alloc_counter.cpp);
//   sgd     Sgd::step alone (BatchSource::next + Linear2::loss_grad + the update), and its two
//           parts alone: draw (BatchSource::next) and grad (loss_grad on a fixed batch);
//   gemm    Eigen's own rate on the products of a step at the same shapes, with symsweep's fixed
//           blocking (simulate.cpp's fix_eigen_blocking; Eigen's default blocking beside it):
//           the five products linear2 computes (Z = X W^T, R = Z U^T, G = R^T X, G W^T, U^T G)
//           and the five of ordinary backpropagation (Z, R, R^T Z, R U, (R U)^T X);
//   point   one whole point through PointRun (what simulate_point runs) with its default
//           diagnostics and end-of-run checks (record.every = 0, optimizer.tol = 1e-10 checked
//           every 100 steps, the final Lanczos, noise and SGD checks) at the benchmark's steps per
//           point: set-up, loop and end timed apart; the best of 3 runs of k points back to back
//           (k: a run takes at least kTarget seconds) where a point takes under kShortPoint
//           seconds, else one point (said in the output);
//   rng     normals per second of a point's stream (Stream::normal, through NormalSource as the
//           Teacher calls it, and Stream::normals in blocks), 64-bit words and bounded integers
//           (Stream::below, finite mode's batch draw), for the generator's ceiling.
// Every rate is the best of 3 repetitions of at least kTarget seconds (the machine is shared).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "symsweep/data.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/spec.hpp"

namespace {

using namespace symsweep;
using Clock = std::chrono::steady_clock;
using symsweep::testing::start_counting_allocations;
using symsweep::testing::stop_counting_allocations;

constexpr double kTarget = 0.1;      // seconds of one repetition of a rate
constexpr double kShortPoint = 2.0;  // whole points longer than this are run once
constexpr Index kN = 256;            // finite data set
bool g_points = true;                // --no-points clears it
volatile double g_sink = 0;          // keeps the measured work

struct Shape {
  Index dx, h, dy, s;
  std::int64_t point_steps;  // the benchmark's steps per point
};

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// The best of 3 of fn(n), n grown until one call takes about kTarget seconds: calls per second.
template <class Fn>
double best_rate(Fn&& fn) {
  long n = 1;
  double t = 0;
  for (;;) {
    const auto t0 = Clock::now();
    fn(n);
    t = since(t0);
    if (t >= kTarget / 4 || n >= (1L << 40)) break;
    n *= t < kTarget / 64 ? 16 : 4;
  }
  n = std::max(1L, static_cast<long>(static_cast<double>(n) * kTarget / std::max(t, 1e-9)));
  double best = std::numeric_limits<double>::infinity();
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    fn(n);
    best = std::min(best, since(t0));
  }
  return static_cast<double>(n) / best;
}

/// A one-point sweep of linear2 at a shape: its spec, grid and fields (as `symsweep run` builds
/// them for a config of one point).
struct OnePoint {
  OnePoint(const Shape& z, bool online, std::int64_t steps, bool loop_only)
      : spec(parse_spec(ini(z, online, steps, loop_only))), grid(spec), fields(grid) {}
  static std::string ini(const Shape& z, bool online, std::int64_t steps, bool loop_only) {
    std::string t = "[sweep]\nname = bench\nseed = 1\n[model]\nname = linear2\n";
    t += "dx = " + std::to_string(z.dx) + "\nh = " + std::to_string(z.h) +
         "\ndy = " + std::to_string(z.dy) + "\n";
    t += std::string("[data]\nmode = ") + (online ? "online" : "finite") +
         "\nn = " + std::to_string(kN) + "\nnoise_var = 0.1\n";
    t += "[optimizer]\neta = 0.01\nbatch = " + std::to_string(z.s) +
         "\nsteps = " + std::to_string(steps) + "\n";
    if (loop_only) t += "tol = 0\n";
    return t;
  }
  SweepSpec spec;
  Grid grid;
  SweepFields fields;
};

/// The step's parts built directly, as PointRun builds them.
struct Parts {
  Parts(const Shape& z, bool online)
      : model(z.dx, z.h, z.dy, 1, 1),
        spec(data_spec(z, online)),
        teacher(spec),
        data(online ? SampleSet{} : sampled(teacher)),
        batches(online ? BatchSource(teacher, z.s, Stream(1, 7, Purpose::batches))
                       : BatchSource(data, z.s, Stream(1, 7, Purpose::batches))),
        sgd(model, batches, optimizer(z)),
        grad(model.dim()) {
    Stream init(1, 7, Purpose::init);
    model.initialize(init, theta);
    const Batch b = batches.next();
    x = b.x;
    y = b.y;
  }
  static DataSpec data_spec(const Shape& z, bool online) {
    DataSpec d;
    d.online = online;
    d.n = online ? 0 : kN;
    d.dx = z.dx;
    d.dy = z.dy;
    d.noise_var = 0.1;
    return d;
  }
  static SampleSet sampled(const Teacher& t) {
    Stream s(1, 7, Purpose::data);
    return t.sample(s, kN);
  }
  static OptimizerSpec optimizer(const Shape& z) {
    OptimizerSpec o;
    o.eta = 0.01;
    o.batch = z.s;
    return o;
  }
  Linear2 model;
  DataSpec spec;
  Teacher teacher;
  SampleSet data;
  BatchSource batches;
  Sgd sgd;
  Vector theta, grad;
  RowMatrix x, y;  // one fixed batch
};

/// The products of one step at a shape, in plain Eigen (symsweep's types).
struct Gemms {
  explicit Gemms(const Shape& z)
      : x(RowMatrix::Random(z.s, z.dx)),
        zz(z.s, z.h),
        r(z.s, z.dy),
        dl(z.s, z.h),
        w(Matrix::Random(z.h, z.dx)),
        u(Matrix::Random(z.dy, z.h)),
        g(z.dy, z.dx),
        gu(z.dy, z.h),
        gw(z.h, z.dx) {}
  /// linear2's own products (src/models/linear2.cpp: forward and loss_grad).
  void linear2_form() {
    zz.noalias() = x * w.transpose();
    r.noalias() = zz * u.transpose();
    g.noalias() = r.transpose() * x;
    gu.noalias() = g * w.transpose();
    gw.noalias() = u.transpose() * g;
    g_sink = g_sink + gu(0, 0) + gw(0, 0);
  }
  /// Backpropagation: dL/dU = R^T Z / S, dL/dW = (R U)^T X / S.
  void backprop_form() {
    zz.noalias() = x * w.transpose();
    r.noalias() = zz * u.transpose();
    gu.noalias() = r.transpose() * zz;
    dl.noalias() = r * u;
    gw.noalias() = dl.transpose() * x;
    g_sink = g_sink + gu(0, 0) + gw(0, 0);
  }
  RowMatrix x, zz, r, dl;
  Matrix w, u, g, gu, gw;
};

double linear2_flops(const Shape& z) {
  const auto dx = static_cast<double>(z.dx), h = static_cast<double>(z.h),
             dy = static_cast<double>(z.dy), s = static_cast<double>(z.s);
  return 2 * s * (dx * h + h * dy + dy * dx) + 4 * dx * h * dy;
}
double backprop_flops(const Shape& z) {
  const auto dx = static_cast<double>(z.dx), h = static_cast<double>(z.h),
             dy = static_cast<double>(z.dy), s = static_cast<double>(z.s);
  return 4 * s * dx * h + 6 * s * h * dy;
}

/// Draws through the virtual interface, as Teacher::sample does.
__attribute__((noinline)) double draw_virtual(NormalSource& source, long n) {
  double acc = 0;
  for (long i = 0; i < n; ++i) acc += source.normal();
  return acc;
}

class Tsv {
 public:
  explicit Tsv(const char* path) : f_(path ? std::fopen(path, "w") : nullptr) {
    if (path && !f_) {
      std::fprintf(stderr, "cannot write %s\n", path);
      std::exit(1);
    }
  }
  ~Tsv() {
    if (f_) std::fclose(f_);
  }
  Tsv(const Tsv&) = delete;
  Tsv& operator=(const Tsv&) = delete;
  void put(const std::string& key, double v) {
    if (f_) std::fprintf(f_, "%s\t%.6g\n", key.c_str(), v);
  }
  void put(const std::string& key, const std::string& v) {
    if (f_) std::fprintf(f_, "%s\t%s\n", key.c_str(), v.c_str());
  }

 private:
  std::FILE* f_;
};

std::string name(const Shape& z) {
  return std::to_string(z.dx) + "x" + std::to_string(z.h) + "x" + std::to_string(z.dy) + "x" +
         std::to_string(z.s);
}

void generator(Tsv& tsv) {
  const double scalar = best_rate([](long n) {
    Stream s(1, 2, Purpose::batches);
    double acc = 0;
    for (long i = 0; i < n; ++i) acc += s.normal();
    g_sink = acc;
  });
  const double virt = best_rate([](long n) {
    Stream s(1, 2, Purpose::batches);
    g_sink = draw_virtual(s, n);
  });
  std::vector<double> buf(4096);
  const double bulk = best_rate([&](long n) {
                        Stream s(1, 2, Purpose::batches);
                        for (long i = 0; i < n; ++i) s.normals(buf.data(), buf.size());
                        g_sink = buf[0];
                      }) *
                      static_cast<double>(buf.size());
  const double words = best_rate([](long n) {
    Stream s(1, 2, Purpose::batches);
    std::uint64_t acc = 0;
    for (long i = 0; i < n; ++i) acc ^= s.next_u64();
    g_sink = static_cast<double>(acc & 1);
  });
  const double below = best_rate([](long n) {
    Stream s(1, 2, Purpose::batches);
    std::uint64_t acc = 0;
    for (long i = 0; i < n; ++i) acc += s.below(static_cast<std::uint64_t>(kN - (i & 127)));
    g_sink = static_cast<double>(acc);
  });
  std::printf(
      "generator, one core: normals %.1f M/s (Stream::normal), %.1f M/s (through "
      "NormalSource, as the Teacher draws), %.1f M/s (Stream::normals, blocks of 4096); "
      "words %.1f M/s; below(n) %.1f M/s\n",
      scalar / 1e6, virt / 1e6, bulk / 1e6, words / 1e6, below / 1e6);
  tsv.put("rng.normal", scalar);
  tsv.put("rng.normal_virtual", virt);
  tsv.put("rng.normals_bulk", bulk);
  tsv.put("rng.words", words);
  tsv.put("rng.below", below);
}

void eigen_default_blocking(const std::vector<Shape>& shapes, Tsv& tsv) {
  // Before any PointRun fixes the blocking: Eigen's own, from this CPU's cache sizes.
  for (const Shape& z : shapes) {
    Gemms g(z);
    tsv.put(name(z) + ".eigen_default.backprop_gflops", best_rate([&](long n) {
                                                          for (long i = 0; i < n; ++i)
                                                            g.backprop_form();
                                                        }) * backprop_flops(z) /
                                                            1e9);
  }
}

/// One point's phases through PointRun (what simulate_point runs), averaged over k points run back
/// to back; allocations are per point.
struct PointTimes {
  double setup = 0, loop = 0, end = 0, total = 0, loop_allocs = 0, end_allocs = 0;
  std::int64_t steps_run = 0;
  std::string outcome;
};

PointTimes run_points(const OnePoint& sweep, long k) {
  PointTimes t;
  const auto start = Clock::now();
  for (long i = 0; i < k; ++i) {
    const auto t0 = Clock::now();
    PointRun pr(sweep.grid, sweep.fields, 0);
    const auto t1 = Clock::now();
    start_counting_allocations();
    pr.advance(std::numeric_limits<std::int64_t>::max());
    t.loop_allocs += static_cast<double>(stop_counting_allocations());
    const auto t2 = Clock::now();
    start_counting_allocations();
    const PointResult r = pr.finish();
    t.end_allocs += static_cast<double>(stop_counting_allocations());
    t.setup += std::chrono::duration<double>(t1 - t0).count();
    t.loop += std::chrono::duration<double>(t2 - t1).count();
    t.end += since(t2);
    const SweepFields::Core& c = sweep.fields.core();
    t.steps_run = r.values.integer(c.steps_run);
    t.outcome = to_string(static_cast<Outcome>(r.values.code(c.outcome)));
  }
  t.total = since(start);
  const auto n = static_cast<double>(k);
  for (double* v : {&t.setup, &t.loop, &t.end, &t.total, &t.loop_allocs, &t.end_allocs}) *v /= n;
  return t;
}

void shape_mode(const Shape& z, bool online, Tsv& tsv) {
  const std::string key = name(z) + "." + (online ? "online" : "finite");
  const char* mode = online ? "online" : "finite";

  // The library's point loop, no traces, no convergence checks.
  OnePoint loop_sweep(z, online, 1000000000000LL, true);
  PointRun loop_run(loop_sweep.grid, loop_sweep.fields, 0);
  bool ended = false;
  const double loop = best_rate([&](long n) { ended = loop_run.advance(n) || ended; });
  start_counting_allocations();
  loop_run.advance(8);
  const double allocs = static_cast<double>(stop_counting_allocations()) / 8;

  Parts p(z, online);
  const double sgd = best_rate([&](long n) {
    for (long i = 0; i < n; ++i) g_sink = p.sgd.step(p.theta);
  });
  const double draw = best_rate([&](long n) {
    for (long i = 0; i < n; ++i) g_sink = p.batches.next().x(0, 0);
  });
  Stream init(1, 7, Purpose::init);
  p.model.initialize(init, p.theta);
  const Batch fixed{p.x, p.y};
  const double grad = best_rate([&](long n) {
    for (long i = 0; i < n; ++i) g_sink = p.model.loss_grad(p.theta, fixed, p.grad);
  });
  Gemms gm(z);
  const double gemm_l2 = best_rate([&](long n) {
    for (long i = 0; i < n; ++i) gm.linear2_form();
  });
  const double gemm_bp = best_rate([&](long n) {
    for (long i = 0; i < n; ++i) gm.backprop_form();
  });

  // One whole point with its default diagnostics and end-of-run checks: the best of 3 runs of k
  // points back to back, k such that a run takes at least kTarget seconds (as the rates above:
  // the best of many short runs would pick the machine's fast moments); one point when it takes
  // over kShortPoint seconds.
  OnePoint point_sweep(z, online, g_points ? z.point_steps : 1, false);
  PointTimes best = g_points ? run_points(point_sweep, 1) : PointTimes{};
  long batch = 1;
  int reps = 1;
  if (g_points && best.total <= kShortPoint) {
    batch = std::max(1L, static_cast<long>(std::ceil(kTarget / std::max(best.total, 1e-9))));
    reps = 3;
    best.total = std::numeric_limits<double>::infinity();
    for (int rep = 0; rep < reps; ++rep) {
      PointTimes t = run_points(point_sweep, batch);
      if (t.total < best.total) best = t;
    }
  }
  const double setup = best.setup, run = best.loop, end = best.end, point = best.total;
  const double loop_allocs = best.loop_allocs, end_allocs = best.end_allocs;
  const std::int64_t steps_run = best.steps_run;
  const std::string& outcome = best.outcome;

  std::printf(
      "%-16s %-6s loop %10.4g steps/s (%s%.3g allocs/step) | Sgd::step %10.4g | draw %10.4g | "
      "loss_grad %10.4g | Eigen GEMMs: linear2's %.3g GF/s, backprop %.3g GF/s\n",
      name(z).c_str(), mode, loop, ended ? "ENDED EARLY, " : "", allocs, sgd, draw, grad,
      gemm_l2 * linear2_flops(z) / 1e9, gemm_bp * backprop_flops(z) / 1e9);
  if (g_points)
    std::printf(
        "%-16s %-6s point of %lld steps: set-up %.4g s, loop %.4g s, end %.4g s, total "
        "%.4g s (best of %d run(s) of %ld point(s); %s, %lld steps run; allocations: %.0f in the "
        "loop, %.0f at the end)\n",
        name(z).c_str(), mode, static_cast<long long>(z.point_steps), setup, run, end, point, reps,
        batch, outcome.c_str(), static_cast<long long>(steps_run), loop_allocs, end_allocs);
  std::fflush(stdout);
  tsv.put(key + ".loop_sps", loop);
  tsv.put(key + ".loop_ended", ended ? 1.0 : 0.0);
  tsv.put(key + ".loop_allocs_per_step", allocs);
  tsv.put(key + ".sgd_sps", sgd);
  tsv.put(key + ".draw_per_s", draw);
  tsv.put(key + ".grad_per_s", grad);
  tsv.put(key + ".gemm_linear2_per_s", gemm_l2);
  tsv.put(key + ".gemm_backprop_per_s", gemm_bp);
  tsv.put(key + ".point_steps", static_cast<double>(z.point_steps));
  tsv.put(key + ".point_steps_run", static_cast<double>(steps_run));
  tsv.put(key + ".point_outcome", outcome);
  tsv.put(key + ".point_reps", reps);
  tsv.put(key + ".point_batch", static_cast<double>(batch));
  tsv.put(key + ".point_setup_s", setup);
  tsv.put(key + ".point_loop_s", run);
  tsv.put(key + ".point_end_s", end);
  tsv.put(key + ".point_s", point);
  tsv.put(key + ".point_loop_allocs", loop_allocs);
  tsv.put(key + ".point_end_allocs", end_allocs);
  tsv.put(name(z) + ".flops_linear2", linear2_flops(z));
  tsv.put(name(z) + ".flops_backprop", backprop_flops(z));
}

}  // namespace

int main(int argc, char** argv) {
  const char* tsv_path = nullptr;
  std::vector<Shape> shapes;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--tsv") == 0 && i + 1 < argc) {
      tsv_path = argv[++i];
    } else if (std::strcmp(argv[i], "--no-points") == 0) {
      g_points = false;
    } else if (std::strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
      long dx = 0, h = 0, dy = 0, s = 0, steps = 1000;
      if (std::sscanf(argv[++i], "%ld,%ld,%ld,%ld,%ld", &dx, &h, &dy, &s, &steps) < 4) {
        std::fprintf(stderr, "--shape DX,H,DY,S[,STEPS]\n");
        return 2;
      }
      shapes.push_back({dx, h, dy, s, steps});
    } else {
      std::fprintf(stderr, "usage: %s [--tsv FILE] [--no-points] [--shape DX,H,DY,S[,STEPS]]...\n",
                   argv[0]);
      return 2;
    }
  }
  if (shapes.empty()) {
    shapes = {{1, 1, 1, 1, 100000},
              {3, 2, 2, 1, 100000},
              {10, 10, 10, 16, 50000},
              {64, 64, 64, 64, 5000},
              {256, 256, 256, 128, 2000}};
  }
  Tsv tsv(tsv_path);
  eigen_default_blocking(shapes, tsv);
  generator(tsv);
  for (const Shape& z : shapes) {
    for (bool online : {true, false}) shape_mode(z, online, tsv);
  }
  return 0;
}
