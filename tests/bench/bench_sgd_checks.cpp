// Seconds per point of the SGD checks at x* (sgd_stability.hpp) at the sizes sweeps use: eta_ms,
// eta_worst_batch (stability.batch_limit = 1e5) and the exact enumeration at 2^20 paths, on
// per-sample quadratics plus a quartic (poly custom monomials: H_i random positive definite,
// l_i(x) = x^T H_i x / 2 + sum_j x_j^4 / 4, x* = 0). One core. Not a test: it prints its figures.
//   build/tests/symsweep_bench_sgd_checks
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "symsweep/models/poly.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/sgd_stability.hpp"

namespace {

using namespace symsweep;
using Clock = std::chrono::steady_clock;

struct Problem {
  Problem(Index d, Index n) {
    Stream s(1, static_cast<std::uint64_t>(d * 1000 + n), Purpose::data);
    std::vector<Monomial> ms;
    for (Index i = 0; i < n; ++i) {
      Matrix g(d, d);
      for (Index j = 0; j < d; ++j)
        for (Index k = 0; k < d; ++k) g(j, k) = s.normal();
      const Matrix h = g * g.transpose() / static_cast<double>(d) + 0.2 * Matrix::Identity(d, d);
      for (Index j = 0; j < d; ++j) {
        for (Index k = j; k < d; ++k) {
          ms.push_back(Monomial{i, j == k ? 0.5 * h(j, j) : h(j, k), {{j, k, -1, -1}}, 2});
        }
        ms.push_back(Monomial{i, 0.25, {{j, j, j, j}}, 4});
      }
    }
    model = std::make_unique<Poly>(d, n, ms, Vector::Zero(d));
    model->own_data(data.x, data.y);
  }
  std::unique_ptr<Poly> model;
  SampleSet data;
};

template <class Fn>
double seconds(Fn&& fn) {
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {  // the best of three: the machine is shared
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main() {
  std::printf("%4s %4s %4s  %12s %10s  %12s %10s %9s\n", "d", "n", "S", "eta_ms [s]", "HVPs",
              "worst [s]", "batches", "sampled");
  const Index sizes[][3] = {{1, 2, 1},   {1, 64, 1},  {1, 64, 8}, {10, 2, 1},
                            {10, 64, 1}, {10, 64, 8}, {64, 64, 8}};
  for (const auto& z : sizes) {
    const Index d = z[0], n = z[1], batch = z[2];
    Problem p(d, n);
    std::int64_t products = 0;
    double eta = 0;
    const double t_ms = seconds([&] {
      SecondMomentMap map(*p.model, p.data, Vector::Zero(d), 0.0, batch);
      Stream start(1, 1, Purpose::lanczos);
      eta = map.threshold(start);
      products = map.products();
    });
    WorstBatch w;
    const double t_worst = seconds([&] {
      w = worst_batch(*p.model, p.data, Vector::Zero(d), 0.0, batch, 100000,
                      Stream(1, 1, Purpose::worst_batch));
    });
    std::printf("%4ld %4ld %4ld  %12.3g %10ld  %12.3g %10ld %9s   (eta_ms %.4g, worst %.4g)\n",
                static_cast<long>(d), static_cast<long>(n), static_cast<long>(batch), t_ms,
                static_cast<long>(products), t_worst, static_cast<long>(w.batches),
                w.sampled ? "yes" : "no", eta, w.eta);
  }
  std::printf("\nexact enumeration, 2^20 paths:\n%4s %4s %4s %4s  %10s %12s\n", "d", "n", "S", "T",
              "seconds", "evaluations");
  const Index runs[][4] = {{1, 2, 1, 20}, {1, 4, 1, 10}, {10, 2, 1, 20}, {10, 4, 1, 10}};
  for (const auto& z : runs) {
    const Index d = z[0], n = z[1], batch = z[2], t = z[3];
    Problem p(d, n);
    OptimizerSpec opt;
    opt.eta = 0.3;
    opt.batch = batch;
    std::vector<std::int64_t> steps;
    for (std::int64_t k = 0; k <= t; ++k) steps.push_back(k);
    ExactExpectation e;
    const double sec = seconds([&] {
      e = exact_expectation(*p.model, p.data, opt, Vector::Constant(d, 0.5), Vector::Zero(d), t,
                            steps, 1e8);
    });
    std::printf("%4ld %4ld %4ld %4ld  %10.3g %12ld\n", static_cast<long>(d), static_cast<long>(n),
                static_cast<long>(batch), static_cast<long>(t), sec,
                static_cast<long>(e.evaluations));
  }
  return 0;
}
