// The poly model's `spread` preset (include/symsweep/models/poly.hpp): n samples h_i x^2/2 +
// q x^4/4 with log-uniform curvatures. Its loss, gradient, Hessian and higher derivatives against
// finite differences, per sample and per batch; the curvatures' spacing; x* = 0 as an
// interpolating minimum; the config rule on h_min / h_max; and the checks of a whole point at
// x* (lambda_max is the mean curvature). The other presets' derivatives: test_stability.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "symsweep/data.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/models/poly.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/spec.hpp"

namespace symsweep {
namespace {

const char* kSpread =
    "[model]\nname = poly\npreset = spread\nx0 = 0.1\n[data]\nn = 16\n"
    "[optimizer]\nbatch = 16\neta = 0.5\nsteps = 2000\ntol = 1e-12\ncheck_every = 10\n";

/// The spread model of a config, with its own data set (one row per sample).
struct Spread {
  explicit Spread(const std::vector<std::string>& sets = {})
      : spec(parse_spec(kSpread, sets)), grid(spec) {
    const ParamSet params = grid.params(0);
    model = find_model("poly")->create(params);
    EXPECT_TRUE(model->own_data(x, y));
    n = x.rows();
  }
  /// The batch of the given sample indices (rows of the model's own data).
  Batch batch_of(const std::vector<Index>& rows) {
    bx.resize(static_cast<Index>(rows.size()), 1);
    by = RowMatrix::Zero(static_cast<Index>(rows.size()), 1);
    for (std::size_t r = 0; r < rows.size(); ++r) bx.row(static_cast<Index>(r)) = x.row(rows[r]);
    return Batch{bx, by};
  }
  /// h_i: the Hessian of sample i alone at x* = 0.
  double curvature(Index i) {
    Matrix h;
    model->hessian(Vector::Zero(1), batch_of({i}), h);
    return h(0, 0);
  }
  SweepSpec spec;
  Grid grid;
  std::unique_ptr<Model> model;
  RowMatrix x, y, bx, by;
  Index n = 0;
};

TEST(PolySpread, HasDataNSamplesAndOneVariable) {
  for (int n : {1, 2, 7, 16}) {
    Spread s({"data.n=" + std::to_string(n), "optimizer.batch=1"});
    EXPECT_EQ(s.model->dim(), 1);
    EXPECT_EQ(s.n, n);
  }
}

TEST(PolySpread, CurvaturesAreLogUniformBetweenHMinAndHMax) {
  for (const auto& [lo, hi, n] : {std::tuple{0.5, 4.0, 16}, std::tuple{0.1, 10.0, 5},
                                  std::tuple{2.0, 2.0, 3}, std::tuple{1.0, 3.0, 2}}) {
    Spread s({"model.h_min=" + std::to_string(lo), "model.h_max=" + std::to_string(hi),
              "data.n=" + std::to_string(n), "optimizer.batch=1"});
    std::vector<double> h;
    for (Index i = 0; i < s.n; ++i) h.push_back(s.curvature(i));
    EXPECT_EQ(h.front(), lo);  // the ends exactly
    EXPECT_EQ(h.back(), hi);
    for (std::size_t i = 1; i < h.size(); ++i) {
      EXPECT_GE(h[i], h[i - 1]) << i;
      // log-uniform: every ratio of neighbours the same, (hi / lo)^(1 / (n - 1))
      EXPECT_NEAR(std::log(h[i] / h[i - 1]), std::log(hi / lo) / (n - 1), 1e-13) << i;
    }
  }
  Spread one({"data.n=1", "optimizer.batch=1", "model.h_min=0.7", "model.h_max=3"});
  EXPECT_EQ(one.curvature(0), 0.7);
}

TEST(PolySpread, EverySampleIsMinimisedAtZero) {
  // An interpolating minimum: loss 0 and gradient 0 for every sample, Hessian h_i > 0.
  Spread s({"model.q=2.5"});
  Vector g(1);
  for (Index i = 0; i < s.n; ++i) {
    const Batch b = s.batch_of({i});
    EXPECT_EQ(s.model->loss_grad(Vector::Zero(1), b, g), 0.0);
    EXPECT_EQ(g[0], 0.0);
    EXPECT_GT(s.curvature(i), 0.0);
    for (double x : {-0.7, -0.01, 0.3, 2.0}) {  // and the only one: h_i > 0, q >= 0
      EXPECT_GT(s.model->loss(Vector::Constant(1, x), b), 0.0) << i << " " << x;
    }
  }
}

TEST(PolySpread, DerivativesAgreeWithFiniteDifferencesPerSampleAndPerBatch) {
  Stream rng(5, 6, Purpose::data);
  for (double q : {0.0, 1.0, 3.7}) {
    Spread s({"model.q=" + std::to_string(q), "data.n=9", "optimizer.batch=9", "model.h_min=0.3",
              "model.h_max=5"});
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<Index> rows;  // a random batch of 1 to 9 distinct samples
      for (Index i = 0; i < s.n; ++i) {
        if (rng.below(2) == 1) rows.push_back(i);
      }
      if (rows.empty()) rows.push_back(static_cast<Index>(rng.below(9)));
      const Batch b = s.batch_of(rows);
      const Vector x = Vector::Constant(1, 1.5 * rng.normal());
      Vector g(1), gp(1), gm(1);
      const double loss = s.model->loss_grad(x, b, g);
      EXPECT_DOUBLE_EQ(loss, s.model->loss(x, b));
      const double h = 1e-6;
      const Vector e = Vector::Constant(1, h);
      const double fd = (s.model->loss(x + e, b) - s.model->loss(x - e, b)) / (2 * h);
      EXPECT_NEAR(g[0], fd, 1e-7 * (1 + std::fabs(fd))) << q << " " << trial;
      Matrix hess;
      s.model->hessian(x, b, hess);
      s.model->loss_grad(x + e, b, gp);
      s.model->loss_grad(x - e, b, gm);
      const double fd_h = (gp[0] - gm[0]) / (2 * h);
      EXPECT_NEAR(hess(0, 0), fd_h, 1e-6 * (1 + std::fabs(fd_h))) << q << " " << trial;
      Vector hv;
      s.model->hessian_vector(x, b, Vector::Ones(1), hv);
      EXPECT_NEAR(hv[0], hess(0, 0), 1e-13 * (1 + std::fabs(hv[0])));
      // T[v, v] and Q[v^4] (v = 1): differences of the Hessian along x.
      Vector t_vv;
      double qv = 0;
      ASSERT_TRUE(s.model->directional_derivatives(x, b, Vector::Ones(1), t_vv, qv));
      const double step = 1e-3;
      Matrix hp, hm;
      s.model->hessian(x + Vector::Constant(1, step), b, hp);
      s.model->hessian(x - Vector::Constant(1, step), b, hm);
      EXPECT_NEAR(t_vv[0], (hp(0, 0) - hm(0, 0)) / (2 * step), 1e-6 * (1 + std::fabs(t_vv[0])));
      EXPECT_NEAR(qv, (hp(0, 0) - 2 * hess(0, 0) + hm(0, 0)) / (step * step),
                  1e-4 * (1 + std::fabs(qv)));
      // The batch's loss is the mean of its samples' losses.
      double mean = 0;
      for (Index i : rows) mean += s.model->loss(x, s.batch_of({i}));
      EXPECT_NEAR(s.model->loss(x, s.batch_of(rows)), mean / static_cast<double>(rows.size()),
                  1e-13 * (1 + std::fabs(mean)));
    }
  }
}

TEST(PolySpread, HMaxBelowHMinIsRefusedNamingBothKeys) {
  try {
    Spread s({"model.h_min=2", "model.h_max=1"});
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.h_max = 1: must be >= model.h_min (2)"), std::string::npos) << msg;
  }
  for (const char* bad : {"model.h_min=0", "model.h_max=-1", "model.q=-0.5"}) {
    EXPECT_THROW(Spread({bad}), ConfigError) << bad;
  }
  // The other presets do not read h_min / h_max: any order is fine there.
  EXPECT_NO_THROW(parse_spec(kSpread, {"model.preset=f_plus", "data.n=1", "optimizer.batch=1",
                                       "model.h_min=2", "model.h_max=1"}));
}

TEST(PolySpread, TheChecksAtZeroSeeTheMeanCurvature) {
  // Full-batch GD below eta_gd converges to x* = 0, and the checks there find lambda_max = the
  // mean of the sample curvatures (each read from its own one-sample Hessian above).
  Spread s({"model.h_min=0.5", "model.h_max=4"});
  double mean = 0;
  for (Index i = 0; i < s.n; ++i) mean += s.curvature(i);
  mean /= static_cast<double>(s.n);
  SweepFields fields(s.grid);
  const PointResult r = simulate_point(s.grid, fields, 0);
  const Schema& schema = fields.schema();
  EXPECT_NEAR(r.values.real(schema.id(Group::results, "lambda_max")), mean, 1e-12 * mean);
  EXPECT_NEAR(r.values.real(schema.id(Group::results, "eta_gd")), 2 / mean, 1e-12 / mean);
  EXPECT_NEAR(r.values.real(schema.id(Group::results, "x_star")), 0.0, 1e-12);  // Newton
  const FieldId outcome = schema.id(Group::results, "outcome");
  EXPECT_EQ(schema.field(outcome).members[r.values.code(outcome)], "converged");
}

}  // namespace
}  // namespace symsweep
