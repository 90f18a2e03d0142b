// The deep linear network (include/symsweep/models/deeplinear.hpp): derivatives at random theta
// against differences, Tr H against the dense Hessian, the conserved matrices against the
// generators, depth 2 against linear2, the model.widths rule, and the per-pair noise equilibrium
// through simulate_point (online SGD closes every pair's gap; GD keeps it). The symmetry itself
// (e^{lambda A}, the exact one-step identity, the flow matrices, the fast paths) is checked with
// the other models in tests/unit/test_symmetry.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/model_checks.hpp"
#include "../common/point_values.hpp"
#include "alloc_counter.hpp"
#include "symsweep/data.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/models/deeplinear.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/spec.hpp"

namespace symsweep {
// A named namespace: the unity build puts this file beside others with helpers of the same names.
namespace deeplinear_tests {

std::vector<std::vector<Index>> shapes() {
  return {{3, 4, 2}, {2, 3, 1, 4, 3}, {1, 1, 1, 1}, {4, 2, 5, 3, 2, 1}};
}

using testing::random_vector;
using testing::teacher_samples;

DeepLinear make(const std::vector<Index>& widths) {
  return DeepLinear(widths, std::vector<double>(widths.size() - 1, 1.0), DeepLinear::Options{});
}

TEST(DeepLinear, DerivativesAtRandomThetaMatchDifferencesAndTrHIsTheDenseTrace) {
  std::uint64_t seed = 0;
  for (const auto& widths : shapes()) {
    SCOPED_TRACE("depth " + std::to_string(widths.size() - 1));
    DeepLinear model = make(widths);
    const SampleSet set = teacher_samples(model.input_dim(), model.output_dim(), ++seed, 9);
    Stream s(seed, 1, Purpose::data);
    const Index d = model.dim();
    for (int trial = 0; trial < 2; ++trial) {
      const Vector theta = random_vector(s, d, 0.8);
      testing::expect_gradient_matches_central_differences(model, theta, set.batch());
      testing::expect_hessian_vector_matches_central_differences(model, theta, set.batch(),
                                                                 random_vector(s, d, 1.0));
      // The dense Hessian from the products is symmetric (the products are exact), and Tr H in
      // closed form is its trace.
      Matrix h;
      model.hessian(theta, set.batch(), h);
      Matrix raw(d, d);
      Vector e = Vector::Zero(d), col(d);
      for (Index j = 0; j < d; ++j) {
        e[j] = 1;
        model.hessian_vector(theta, set.batch(), e, col);
        raw.col(j) = col;
        e[j] = 0;
      }
      EXPECT_LT((raw - raw.transpose()).norm(), 1e-12 * (1 + raw.norm()));
      EXPECT_NEAR(model.hessian_trace(theta, set.batch()), h.trace(), 1e-12 * (1 + h.norm()));
    }
  }
}

TEST(DeepLinear, ConservedSpectrumIsEveryDlsEigenvaluesAndTheGeneratorsReadDl) {
  for (const auto& widths : shapes()) {
    DeepLinear model = make(widths);
    Stream s(5, 0, Purpose::data);
    const Vector theta = random_vector(s, model.dim(), 1.0);
    Vector c;
    model.conserved(theta, c);
    ASSERT_EQ(c.size(), model.conserved_size());
    Vector a_theta(model.dim());
    Index at = 0, k = 0;
    for (Index l = 1; l < model.depth(); ++l) {
      const Matrix dl = model.conserved_matrix(theta, l);
      const Index h = dl.rows();
      ASSERT_EQ(h, widths[static_cast<std::size_t>(l)]);
      Eigen::SelfAdjointEigenSolver<Matrix> es(dl, Eigen::EigenvaluesOnly);
      const Vector want = es.eigenvalues().reverse();
      EXPECT_LT((c.segment(at, h) - want).norm(), 1e-12 * (1 + dl.norm())) << "layer " << l;
      at += h;
      // theta^T A_k theta: D_ii for E_ii, 2 D_ij for E_ij + E_ji, in ModelShape's order.
      for (Index i = 0; i < h; ++i, ++k) {
        model.apply_generator(k, theta, a_theta);
        EXPECT_NEAR(theta.dot(a_theta), dl(i, i), 1e-12 * (1 + dl.norm()));
      }
      for (Index i = 0; i < h; ++i) {
        for (Index j = i + 1; j < h; ++j, ++k) {
          model.apply_generator(k, theta, a_theta);
          EXPECT_NEAR(theta.dot(a_theta), 2 * dl(i, j), 1e-12 * (1 + dl.norm()));
        }
      }
    }
    EXPECT_EQ(k, model.generator_count());
  }
}

// What runs inside the SGD loop (the step, the conserved spectrum, the model's trace and window
// diagnostics) and the noise measurement's per-sample gradients and flow matrices allocate nothing
// once sized, at depth 4 with non-uniform widths.
TEST(DeepLinear, WhatRunsInTheLoopAllocatesNothing) {
  SYMSWEEP_SKIP_UNLESS_COUNTING_WORKS();
  DeepLinear model = make({3, 4, 2, 5, 2});
  const SampleSet set = teacher_samples(3, 2, 4, 8), full = teacher_samples(3, 2, 5, 16);
  model.reserve(full.size());
  model.prepare_diagnostics(full.batch());
  Stream s(4, 1, Purpose::data);
  const Vector theta = random_vector(s, model.dim(), 1.0), v = random_vector(s, model.dim(), 1.0);
  Vector grad(model.dim()), c(model.conserved_size()), gaps, scratch(model.dim());
  RowMatrix per(set.size(), model.dim());
  std::vector<Matrix> flows;
  for (Index b = 0; b + 1 < model.depth(); ++b) {
    flows.push_back(Matrix::Zero(model.widths()[static_cast<std::size_t>(b + 1)],
                                 model.widths()[static_cast<std::size_t>(b + 1)]));
  }
  const auto work = [&] {
    model.loss_grad(theta, set.batch(), grad);
    model.loss(theta, set.batch());
    model.conserved(theta, c);
    model.balance_gaps(theta, gaps);
    model.accumulate_window(theta);
    model.hessian_trace(theta, full.batch());
    model.sample_gradients(theta, set.batch(), per, scratch);
    for (Index b = 0; b + 1 < model.depth(); ++b) {
      model.accumulate_flow_matrix(b, v, flows[static_cast<std::size_t>(b)], scratch);
    }
    for (Index k = 0; k < model.generator_count(); ++k) model.generator_quadratic(k, v, scratch);
  };
  EXPECT_EQ(testing::allocations_once_warm(work), 0);
}

// Depth 2 is linear2 with W_1 = W, W_2 = U: the same loss, gradient, H v, Tr H and conserved
// spectrum at the mapped theta (linear2 stores (vec U, vec W), deeplinear (vec W_1, vec W_2)).
TEST(DeepLinear, DepthTwoIsLinear2) {
  for (const std::vector<Index>& w : std::vector<std::vector<Index>>{{3, 2, 2}, {1, 4, 3}}) {
    const Index dx = w[0], h = w[1], dy = w[2];
    DeepLinear deep = make(w);
    Linear2 two(dx, h, dy, 1.0, 1.0);
    const SampleSet set = teacher_samples(dx, dy, 9, 11);
    Stream s(9, 2, Purpose::data);
    const Vector t2 = random_vector(s, two.dim(), 0.9);
    const Index nu = dy * h, nw = h * dx;
    Vector td(deep.dim());
    td << t2.segment(nu, nw), t2.head(nu);
    const auto to_deep = [&](const Vector& v) {
      Vector out(v.size());
      out << v.segment(nu, nw), v.head(nu);
      return out;
    };
    Vector g2(two.dim()), gd(deep.dim());
    const double l2 = two.loss_grad(t2, set.batch(), g2);
    const double ld = deep.loss_grad(td, set.batch(), gd);
    EXPECT_NEAR(ld, l2, 1e-13 * (1 + l2));
    EXPECT_LT((gd - to_deep(g2)).norm(), 1e-12 * (1 + g2.norm()));
    const Vector v = random_vector(s, two.dim(), 1.0);
    Vector h2(two.dim()), hd(deep.dim());
    two.hessian_vector(t2, set.batch(), v, h2);
    deep.hessian_vector(td, set.batch(), to_deep(v), hd);
    EXPECT_LT((hd - to_deep(h2)).norm(), 1e-12 * (1 + h2.norm()));
    EXPECT_NEAR(deep.hessian_trace(td, set.batch()), two.hessian_trace(t2, set.batch()),
                1e-12 * (1 + two.hessian_trace(t2, set.batch())));
    Vector c2, cd;
    two.conserved(t2, c2);
    deep.conserved(td, cd);
    EXPECT_LT((cd - c2).norm(), 1e-12 * (1 + c2.norm()));
    // The balance gap of the one pair is linear2's eq_gap.
    two.prepare_diagnostics(set.batch());
    deep.prepare_diagnostics(set.batch());
    Vector ws(h), us(h), gaps;
    double gap2 = 0;
    two.equilibrium_spectra(t2, ws, us, gap2);
    deep.balance_gaps(td, gaps);
    ASSERT_EQ(gaps.size(), 1);
    EXPECT_NEAR(gaps[0], gap2, 1e-12 * (1 + gap2));
  }
}

const char* const kDeep = R"(
[model]
name = deeplinear
depth = 4
dx = 2
dy = 2
[data]
mode = online
noise_var = 0.5
[optimizer]
steps = 10
)";

std::string config_error(const std::vector<std::string>& sets) {
  return testing::config_error(kDeep, sets);
}

TEST(DeepLinear, WidthsMustGiveEveryHiddenLayerAWholeWidth) {
  const std::string wrong = config_error({"model.widths=8, 4"});
  EXPECT_NE(wrong.find("model.widths = '8, 4': must have model.depth - 1 = 3 value(s), one per "
                       "hidden layer (model.depth = 4)"),
            std::string::npos)
      << wrong;
  const std::string swept = config_error({"model.widths=8, 4, 8", "axes.model.depth=3, 4"});
  EXPECT_NE(swept.find("must have model.depth - 1 = 2 value(s)"), std::string::npos) << swept;
  const std::string fraction = config_error({"model.widths=8, 2.5, 8"});
  EXPECT_NE(fraction.find("element 2 (2.5) must be a whole number >= 1"), std::string::npos)
      << fraction;
  EXPECT_NE(config_error({"model.widths=8, 0, 8"}).find("model.widths"), std::string::npos);
  // A valid list overrides model.h layer by layer.
  const SweepSpec spec = parse_spec(kDeep, {"model.widths=5, 1, 3", "model.h=7"});
  const Grid grid(spec);
  const ModelShape shape = find_model("deeplinear")->shape(grid.params(0));
  EXPECT_EQ(shape, (ModelShape{9, {10, 5, 3, 6}, {5, 1, 3}}));
  const SweepSpec plain = parse_spec(kDeep);
  const ModelShape uniform = find_model("deeplinear")->shape(Grid(plain).params(0));
  EXPECT_EQ(uniform, (ModelShape{6, {4, 4, 4, 4}, {2, 2, 2}}));
}

// From an imbalanced start (W_1 and W_3 at three times the balanced scale), online SGD drives
// every pair to its noise equilibrium: the per-pair gap of the header's balance equation falls by
// a large factor, to the floor of its fluctuations at this eta, and each D_l moves by a large
// fraction of itself, until the end. GD (the exact population gradient, no noise) moves D_l only
// by the eta^2 grad L^T A grad L of its descent (tested step by step in test_symmetry.cpp) and
// then keeps it: it ends at a minimum of its orbit, far from the balance. The prediction is 0
// for SGD and NaN for GD.
TEST(DeepLinearEquilibrium, OnlineSgdClosesEveryPairsGapAndGdKeepsEveryDl) {
  const char* const ini = R"(
[sweep]
common_random = optimizer.method
[model]
name = deeplinear
depth = 3
dx = 2
h = 2
dy = 2
init_first_scale = 3
init_last_scale = 3
[data]
mode = online
noise_var = 0.5
[optimizer]
eta = 0.02
batch = 1
steps = 150000
tol = 0
[record]
every = 50000
final_window = 50000
diagnostics = loss, C, model
[axes]
optimizer.method = sgd, gd
)";
  const testing::SweepPoints r(ini, {});
  ASSERT_EQ(r.fields.record_steps().size(), 4u);  // steps 0, 50000, 100000, 150000
  const PointResult sgd = r.point(0), gd = r.point(1);
  const std::size_t pairs = 2, h = 2, pairs_dim = 2, conserved = 4;
  for (std::size_t pair = 0; pair < pairs; ++pair) {
    const double start = r.get(sgd, Group::traces, "dl_gap", pair);
    ASSERT_EQ(start, r.get(gd, Group::traces, "dl_gap", pair));  // the same start
    const double end_sgd = r.get(sgd, Group::results, "dl_gap", pair);
    const double end_gd = r.get(gd, Group::results, "dl_gap", pair);
    // How far D_l's spectrum moved from trace record `from` to the end, relative to its size.
    const auto moved = [&](const PointResult& p, std::size_t from) {
      double change = 0, norm = 0;
      for (std::size_t i = pair * h; i < (pair + 1) * h; ++i) {
        const double c0 = r.get(p, Group::traces, "C", from * conserved + i);
        change += std::pow(r.get(p, Group::results, "C_final", i) - c0, 2);
        norm += c0 * c0;
      }
      return std::sqrt(change / norm);
    };
    std::printf(
        "deeplinear pair %zu: gap %.4g at the start; sgd %.4g at the end (%.3g%%), D_l moved "
        "%.3g%% (%.3g%% after step 50000); gd %.4g at the end, D_l moved %.3g%% (%.3g%% after "
        "step 50000)\n",
        pair + 1, start, end_sgd, 100 * end_sgd / start, 100 * moved(sgd, 0), 100 * moved(sgd, 1),
        end_gd, 100 * moved(gd, 0), 100 * moved(gd, 1));
    ASSERT_GT(start, 1.0);
    EXPECT_LT(end_sgd, 0.05 * start) << "pair " << pair;
    EXPECT_GT(moved(sgd, 0), 0.5) << "pair " << pair;
    EXPECT_GT(moved(sgd, 1), 1e-3) << "pair " << pair;  // the noise keeps moving it
    EXPECT_LT(moved(gd, 1), 1e-9) << "pair " << pair;   // no noise: D_l stays where descent left it
    EXPECT_GT(end_gd, 10 * end_sgd) << "pair " << pair;
    EXPECT_EQ(r.get(sgd, Group::results, "dl_gap_predicted", pair), 0.0);
    EXPECT_TRUE(std::isnan(r.get(gd, Group::results, "dl_gap_predicted", pair)));
    // The trace records' gap at the last record is near the window's mean for sgd.
    EXPECT_LT(r.get(sgd, Group::traces, "dl_gap", 3 * pairs_dim + pair), 0.05 * start);
  }
  for (std::size_t l = 0; l < 3; ++l) EXPECT_GT(r.get(sgd, Group::results, "dl_layer_norm", l), 0);
}

TEST(DeepLinearEquilibrium, PredictionIsNaNOutsideItsSettings) {
  const std::vector<std::vector<std::string>> outside = {
      {"optimizer.method=gd"},           {"optimizer.weight_decay=0.01"},
      {"data.mode=finite", "data.n=64"}, {"data.noise_var=0"},  // no label noise: no equilibrium
      {"model.widths=2, 1, 2"},  // a width below rank V: the minimum does not fit y = V x
  };
  for (std::vector<std::string> sets : outside) {
    sets.insert(sets.end(), {"optimizer.eta=0.02", "optimizer.steps=300", "record.final_window=100",
                             "optimizer.tol=0"});
    const testing::SweepPoints r(kDeep, sets);
    const PointResult p = r.point(0);
    for (std::size_t pair = 0; pair < 3; ++pair) {
      EXPECT_TRUE(std::isnan(r.get(p, Group::results, "dl_gap_predicted", pair))) << sets[0];
    }
    EXPECT_TRUE(std::isfinite(r.get(p, Group::results, "dl_layer_norm", 0))) << sets[0];
  }
  // Inside: 0 for every pair, NaN past the depth of a shallower point of the same grid.
  const testing::SweepPoints r(kDeep, {"optimizer.eta=0.02", "optimizer.steps=300",
                                       "optimizer.tol=0", "axes.model.depth=4, 2"});
  const PointResult deep = r.point(0), shallow = r.point(1);
  for (std::size_t pair = 0; pair < 3; ++pair) {
    EXPECT_EQ(r.get(deep, Group::results, "dl_gap_predicted", pair), 0.0);
    EXPECT_EQ(std::isnan(r.get(shallow, Group::results, "dl_gap_predicted", pair)), pair > 0);
  }
  EXPECT_TRUE(std::isnan(r.get(shallow, Group::results, "dl_layer_norm", 2)));
}

}  // namespace deeplinear_tests
}  // namespace symsweep
