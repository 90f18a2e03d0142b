// How a run ends (stability.hpp's classification): periods, chaos and slow convergence of
// deterministic runs at any d, and stochastic runs, which are never classified.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "../common/point_values.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/models/poly.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/stability.hpp"

namespace symsweep {
namespace {

/// One point of a parsed spec, run by PointRun; the values of its stored fields by name.
struct EndRun : testing::PointValues {
  EndRun(const std::string& ini, const std::vector<std::string>& sets) : PointValues(ini, sets) {
    PointRun run(grid, fields, 0);
    run.advance(std::numeric_limits<std::int64_t>::max());
    bytes = run.classification_bytes();
    result = run.finish();
  }
  std::size_t bytes = 0;
};

const char* const kPoly =
    "[model]\nname = poly\n[data]\nn = 1\n[optimizer]\nbatch = 1\nsteps = 4000\n"
    "tol = 1e-13\ncheck_every = 50\n";
const char* const kLinear2 =
    "[model]\nname = linear2\n[data]\nn = 16\n[optimizer]\nbatch = 16\neta = 0.01\ntol = 0\n";

/// f- in coordinate 0 (x0^2/2 - x0^4/4) and c x_i^2 / 2 in every other coordinate of R^d: GD
/// moves coordinate 0 exactly as f- alone (the others contract to 0 for eta c < 2), in a d that
/// takes the projected window and the Hessian-vector exponent.
std::vector<std::string> f_minus_in(Index d, double eta, double c) {
  std::string rows = "0, 0.5, 0, 0, -1, -1; 0, -0.25, 0, 0, 0, 0";
  std::string x0 = "0.3";
  for (Index i = 1; i < d; ++i) {
    const std::string k = std::to_string(i);
    rows += "; 0, " + std::to_string(c / 2) + ", " + k + ", " + k + ", -1, -1";
    x0 += ", 0.1";
  }
  return {"model.preset=custom", "model.d=" + std::to_string(d), "model.monomials=" + rows,
          "model.x0=" + x0, "optimizer.eta=" + std::to_string(eta)};
}

// ------------------------------------------------------------------ slow convergence, any d
TEST(Classification, ConvergingLinear2GdIsMovingNotAperiodic) {
  // The reproduction of issue 15: full-batch GD on linear2 (dx = 8, dy = 2), a slow
  // convergence along flat symmetry directions, was labelled aperiodic (a NaN exponent at
  // d > 64, a small positive one at d = 60).
  for (const char* h : {"6", "7"}) {
    for (const char* steps : {"500", "3000"}) {
      const EndRun r(kLinear2, {"model.dx=8", "model.dy=2", std::string("model.h=") + h,
                                std::string("optimizer.steps=") + steps});
      EXPECT_EQ(r.member("outcome"), "moving") << "h = " << h << ", steps = " << steps;
      EXPECT_TRUE(std::isfinite(r.real("lyapunov"))) << h << " " << steps;
      EXPECT_LT(r.real("lyapunov"), 0.01) << h << " " << steps;  // far below chaos
    }
  }
}

TEST(Classification, ConvergingGdAtAnySizeIsNeverAperiodicAndHoldsBoundedMemory) {
  // d = h (dx + dy) from 60 to 5120, a few hundred steps of slow GD: moving, with a finite
  // exponent at every d (Hessian-vector products), and the classifier's memory within the
  // header's bound 1 MiB + 24 d bytes (no d x window matrix).
  struct Size {
    int dx, h, dy;
  };
  for (const Size z : {Size{8, 6, 2}, Size{8, 12, 8}, Size{16, 32, 16}, Size{40, 64, 40}}) {
    const Index d = static_cast<Index>(z.h) * (z.dx + z.dy);
    const EndRun r(kLinear2, {"model.dx=" + std::to_string(z.dx), "model.h=" + std::to_string(z.h),
                              "model.dy=" + std::to_string(z.dy), "optimizer.steps=300"});
    EXPECT_EQ(r.member("outcome"), "moving") << "d = " << d;
    EXPECT_TRUE(std::isfinite(r.real("lyapunov"))) << d;
    EXPECT_LT(r.real("lyapunov"), 10.0 / 240) << d;  // 300 steps: 240 measured
    EXPECT_GT(r.bytes, 0u) << d;
    EXPECT_LE(r.bytes, (std::size_t{1} << 20) + 24 * static_cast<std::size_t>(d)) << d;
  }
}

// ---------------------------------------------------------------------------------- chaos
TEST(Classification, FMinusChaoticBandIsAperiodicWithPositiveExponentAtAnyD) {
  // From x0 = 0.3 f- is chaotic at these step sizes (between the period-doubling cascade's end
  // near 3.3 and divergence at 4, away from the windows of period 6 at 3.46, 3 at 3.7 and 4
  // at 3.84). Embedded in d = 100 and d = 300 beside contracting coordinates, the run, the label
  // and the exponent are the same: coordinate 0 moves exactly as f- alone, and the tangent vector
  // aligns with it.
  for (double eta : {3.4, 3.6, 3.8, 3.96}) {
    const EndRun one(
        kPoly, {"model.preset=f_minus", "model.x0=0.3", "optimizer.eta=" + std::to_string(eta)});
    EXPECT_EQ(one.member("outcome"), "aperiodic") << eta;
    EXPECT_GT(one.real("lyapunov"), 0.05) << eta;
    EXPECT_EQ(one.integer("period"), -1) << eta;
    for (Index d : {100, 300}) {
      const EndRun many(kPoly, f_minus_in(d, eta, 0.3));
      EXPECT_EQ(many.member("outcome"), "aperiodic") << eta << " d = " << d;
      // The contracting directions' share of u shrinks by (0.19 / e^0.18)^256 < 1e-200 in the
      // alignment steps: what is left is rounding.
      EXPECT_NEAR(many.real("lyapunov"), one.real("lyapunov"), 1e-9) << eta << " d = " << d;
    }
  }
}

TEST(Classification, PeriodsAreFoundInTheProjectedWindowAboveD64) {
  // f-'s symmetric 2-cycle +-sqrt((eta - 2) / eta) and its period 4 at 3.26, in d = 100 and
  // 300: the signature (32 coordinates, 32 block projections) repeats as the iterate does.
  for (Index d : {100, 300}) {
    const EndRun two(kPoly, f_minus_in(d, 2.5, 0.3));
    ASSERT_EQ(two.member("outcome"), "periodic") << d;
    EXPECT_EQ(two.integer("period"), 2) << d;
    EXPECT_NEAR(two.real("amplitude"), std::sqrt(0.5 / 2.5), 1e-9) << d;
    std::vector<std::string> four = f_minus_in(d, 3.26, 0.3);
    EXPECT_EQ(EndRun(kPoly, four).integer("period"), 4) << d;
  }
}

TEST(Classification, AGeometricallyDecayingRunIsNeverAperiodicWhateverItsExponent) {
  // The step-length guard alone: an EndWatch whose tangent map expands (H = -1 everywhere, so
  // lambda = log(1 + eta) > 0) is fed iterates. Steps that decay geometrically, at rates from
  // 1e-2 to 1e-3 per step, are approaching a point (not aperiodic); stationary irregular steps
  // are aperiodic.
  Monomial m;
  m.coef = -0.5;
  m.idx = {{0, 0, -1, -1}};
  m.degree = 2;
  Poly model(1, 1, {m}, Vector::Zero(1));
  RowMatrix x, y;
  model.own_data(x, y);
  const Batch full{x, y};
  const std::int64_t steps = 2000;
  const auto watch = [&](const std::function<double(std::int64_t)>& path) {
    EndWatch w(1, steps, Stream(1, 2, Purpose::tangent));
    Vector theta(1);
    for (std::int64_t t = 0; t < steps; ++t) {
      theta[0] = path(t);
      w.before_update(t, model, full, theta, 0.5, 0.0);
      theta[0] = path(t + 1);
      w.after_update(t, theta);
    }
    return w.classify(1e-9);
  };
  for (double rate : {1e-2, 3e-3, 1e-3}) {
    const EndClass decaying = watch([&](std::int64_t t) {
      return (t % 2 ? 1.0 : -1.0) * std::pow(1 - rate, static_cast<double>(t));
    });
    EXPECT_NEAR(decaying.lyapunov, std::log(1.5), 1e-12) << rate;
    EXPECT_TRUE(decaying.approaching) << rate;
    EXPECT_FALSE(decaying.aperiodic) << rate;
  }
  const EndClass stationary =
      watch([](std::int64_t t) { return std::sin(static_cast<double>(t) * std::sqrt(2.0)); });
  EXPECT_FALSE(stationary.approaching);
  EXPECT_EQ(stationary.period, 0);
  EXPECT_TRUE(stationary.aperiodic);
}

// ------------------------------------------------------------------------ moved from stability
TEST(Classification, TheFMinusCascadeFromX0Point3) {
  const auto at = [](double eta) {
    return EndRun(kPoly,
                  {"model.preset=f_minus", "model.x0=0.3", "optimizer.eta=" + std::to_string(eta),
                   "optimizer.steps=20000", "optimizer.check_every=10"});
  };
  const EndRun fixed = at(1.5);
  EXPECT_EQ(fixed.member("outcome"), "converged");
  const EndRun sym = at(2.5);
  EXPECT_EQ(sym.member("outcome"), "periodic");
  EXPECT_EQ(sym.integer("period"), 2);
  EXPECT_NEAR(sym.real("orbit", 0) + sym.real("orbit", 8), 0.0, 1e-12);  // symmetric
  const EndRun asym = at(3.1);
  EXPECT_EQ(asym.integer("period"), 2);
  EXPECT_GT(std::fabs(asym.real("orbit", 0) + asym.real("orbit", 8)), 0.1);  // asymmetric
  const EndRun four = at(3.26);
  EXPECT_EQ(four.member("outcome"), "periodic");
  EXPECT_EQ(four.integer("period"), 4);
  const EndRun chaos = at(3.9);
  EXPECT_EQ(chaos.member("outcome"), "aperiodic");
  EXPECT_EQ(chaos.integer("period"), -1);
  EXPECT_NEAR(chaos.real("lyapunov"), 0.88, 0.05);
}

TEST(Classification, PeriodsAreRobustToRoundingButNotToSlowConvergence) {
  const int n = 200;
  RowMatrix cycle(n, 2), spiral(n, 2);
  Stream s(1, 2, Purpose::data);
  for (int t = 0; t < n; ++t) {
    const double sign = t % 2 ? 1.0 : -1.0;
    cycle.row(t) << sign * 0.5 + 1e-12 * s.normal(), 0.25 + 1e-12 * s.normal();
    const double r = std::pow(1 - 1e-5, t);  // a flip that decays by 1e-5 per step
    spiral.row(t) << sign * 0.5 * r, 0.25;
  }
  EXPECT_EQ(detect_period(cycle, n, 16, 1e-9), 2);
  EXPECT_EQ(detect_period(spiral, n, 16, 1e-9), 0);
  EXPECT_EQ(detect_period(cycle, 20, 16, 1e-9), 0);  // too few iterates to tell
}

// ------------------------------------------------------------------------------ stochastic
TEST(Classification, StochasticRunsHoldNoWindowAndAreNeverPeriodicOrAperiodic) {
  // SGD with label noise (batch 4 of 32) keeps moving; it holds no classifier memory, while
  // the same point with batch = n (deterministic) does, so the figure measures something.
  for (const char* seed : {"0", "1", "2"}) {
    const std::vector<std::string> common = {
        "model.dx=3",           "model.h=3",
        "model.dy=2",           "data.n=32",
        "data.noise_var=0.1",   "optimizer.eta=0.05",
        "optimizer.steps=2000", std::string("sweep.seed=") + seed};
    std::vector<std::string> sgd = common, gd = common;
    sgd.push_back("optimizer.batch=4");
    gd.push_back("optimizer.batch=32");
    const EndRun stochastic(kLinear2, sgd), deterministic(kLinear2, gd);
    EXPECT_EQ(stochastic.member("outcome"), "moving") << seed;
    EXPECT_EQ(stochastic.integer("period"), -1) << seed;
    EXPECT_TRUE(std::isnan(stochastic.real("lyapunov"))) << seed;
    EXPECT_EQ(stochastic.bytes, 0u) << seed;
    EXPECT_GT(deterministic.bytes, 0u) << seed;
  }
}

}  // namespace
}  // namespace symsweep
