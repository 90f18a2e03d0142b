// The two-layer nonlinear network (include/symsweep/models/mlp2.hpp): gradients and Hessian-vector
// products at random theta against differences (relu away from its kinks, checked), relu's
// per-neuron symmetry (every per-sample loss invariant under e^{lambda A_j}, tanh's not; the exact
// one-step identity C' = C + eta^2 g^T A_j g, kinks crossed or not), the alignment on hand-built
// matrices and parameters, the refusal of online data, and the alignment fields through
// simulate_point. The symmetry interface (the dense A_j, the flow matrices, every SGD step's
// identity) is checked with the other models in tests/unit/test_symmetry.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "../common/model_checks.hpp"
#include "../common/point_values.hpp"
#include "alloc_counter.hpp"
#include "symsweep/data.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/models/mlp2.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/spec.hpp"
#include "symsweep/stability.hpp"

namespace symsweep {
// A named namespace: the unity build puts this file beside others with helpers of the same names.
namespace mlp2_tests {

using testing::random_vector;
using testing::teacher_samples;

struct Net {
  const char* name;
  Mlp2::Activation activation;
  bool bias;
};

std::vector<Net> nets() {
  return {{"relu_bias", Mlp2::Activation::relu, true},
          {"relu", Mlp2::Activation::relu, false},
          {"tanh_bias", Mlp2::Activation::tanh, true},
          {"tanh", Mlp2::Activation::tanh, false}};
}

Mlp2 make(const Net& net, Index dx = 3, Index h = 5, Index dy = 2) {
  Mlp2::Options o;
  o.activation = net.activation;
  o.bias = net.bias;
  return Mlp2(dx, h, dy, o);
}

/// The pre-activations Z = X W^T + 1 b^T of theta on the batch (S x h).
RowMatrix pre_activations(const Mlp2& m, const Vector& theta, const Batch& batch) {
  RowMatrix z = batch.x * m.w_matrix(theta).transpose();
  if (m.bias()) z.rowwise() += theta.segment(m.b_offset(), m.hidden()).transpose();
  return z;
}

/// The largest |change| of any pre-activation when theta moves by at most `step` along any
/// coordinate of v's support (|dz_sj| <= step (|v_wj|_1 |x_s|_inf + |v_bj|)), against the
/// smallest |z_sj|: true when the whole segment theta +- step v stays inside one kink-free region.
bool away_from_kinks(const Mlp2& m, const Vector& theta, const Batch& batch, const Vector& v,
                     double step) {
  const RowMatrix z = pre_activations(m, theta, batch);
  const auto w = m.w_matrix(v);
  for (Index s = 0; s < batch.size(); ++s) {
    const double x_inf = batch.x.row(s).cwiseAbs().maxCoeff();
    for (Index j = 0; j < m.hidden(); ++j) {
      double reach = w.row(j).cwiseAbs().sum() * x_inf;
      if (m.bias()) reach += std::fabs(v[m.b_offset() + j]);
      if (std::fabs(z(s, j)) <= step * reach) return false;
    }
  }
  return true;
}

// Gradient against central differences of the loss (each coordinate, step 1e-6) and H v against
// central differences of the gradient along v (step 1e-5), at random theta and v, for relu and
// tanh with and without biases; relu's checks assert first that no pre-activation of the batch
// comes within the steps of its kink (the derivatives hold on each kink-free region).
TEST(Mlp2, DerivativesAtRandomThetaMatchDifferences) {
  for (const Net& net : nets()) {
    SCOPED_TRACE(net.name);
    Mlp2 m = make(net);
    const SampleSet set = teacher_samples(3, 2, 11, 9);
    m.reserve(set.size());
    Stream s(11, 1, Purpose::data);
    for (int trial = 0; trial < 3; ++trial) {
      const Vector theta = random_vector(s, m.dim(), 0.9), v = random_vector(s, m.dim(), 1.0);
      const double h = 1e-5;
      if (net.activation == Mlp2::Activation::relu) {
        for (Index i = 0; i < m.dim(); ++i) {
          Vector e = Vector::Zero(m.dim());
          e[i] = 1;
          ASSERT_TRUE(away_from_kinks(m, theta, set.batch(), e, 1e-6)) << "trial " << trial;
        }
        ASSERT_TRUE(away_from_kinks(m, theta, set.batch(), v, h)) << "trial " << trial;
      }
      SCOPED_TRACE("trial " + std::to_string(trial));
      testing::expect_gradient_matches_central_differences(m, theta, set.batch());
      const Vector hv =
          testing::expect_hessian_vector_matches_central_differences(m, theta, set.batch(), v, h);
      EXPECT_GT(hv.norm(), 1e-3);
      // The dense Hessian is symmetric and its trace is the default hessian_trace.
      Matrix dense;
      m.hessian(theta, set.batch(), dense);
      EXPECT_NEAR(m.hessian_trace(theta, set.batch()), dense.trace(), 1e-12 * (1 + dense.norm()));
    }
  }
}

// The parameters' layout: theta = (vec W, b, vec U, c), b and c only with bias; layers (W, b) and
// (U, c); relu declares one size-1 block per neuron and h conserved values, tanh none.
TEST(Mlp2, ShapeFollowsActivationAndBias) {
  EXPECT_EQ(Mlp2::shape_for(3, 5, 2, Mlp2::Activation::relu, true),
            (ModelShape{5, {20, 12}, {1, 1, 1, 1, 1}}));
  EXPECT_EQ(Mlp2::shape_for(3, 5, 2, Mlp2::Activation::relu, false),
            (ModelShape{5, {15, 10}, {1, 1, 1, 1, 1}}));
  EXPECT_EQ(Mlp2::shape_for(3, 5, 2, Mlp2::Activation::tanh, true), (ModelShape{0, {20, 12}, {}}));
  for (const Net& net : nets()) {
    Mlp2 m = make(net);
    EXPECT_EQ(m.dim(), net.bias ? 32 : 25) << net.name;
    EXPECT_EQ(m.generator_count(), net.activation == Mlp2::Activation::relu ? 5 : 0) << net.name;
  }
}

// Every per-sample loss is unchanged by e^{lambda A_j} (w_j, b_j times e^lambda, u_j times
// e^{-lambda}) for relu, at several lambda per neuron; the same rescaling changes tanh's.
TEST(Mlp2, EveryPerSampleLossIsInvariantUnderEachNeuronsRescalingForReluOnly) {
  for (const Net& net : nets()) {
    SCOPED_TRACE(net.name);
    Mlp2 m = make(net);
    const SampleSet set = teacher_samples(3, 2, 12, 10);
    m.reserve(set.size());
    Stream s(12, 1, Purpose::data);
    const Vector theta = random_vector(s, m.dim(), 1.0);
    // diag(A_j), read from relu's generator (the same coordinates for tanh's rescaling).
    Mlp2 relu = make({"", Mlp2::Activation::relu, net.bias});
    double worst = 0, scale = 0;
    for (Index j = 0; j < m.hidden(); ++j) {
      Vector diag(m.dim());
      relu.apply_generator(j, Vector::Ones(m.dim()), diag);
      EXPECT_EQ(diag.cwiseAbs().sum(), static_cast<double>(3 + (net.bias ? 1 : 0) + 2));
      for (double lambda : {-0.8, 0.3, 1.1}) {
        const Vector moved = theta.cwiseProduct((lambda * diag).array().exp().matrix());
        for (Index i = 0; i < set.size(); ++i) {
          const Batch one{set.x.middleRows(i, 1), set.y.middleRows(i, 1)};
          const double l0 = m.loss(theta, one);
          worst = std::max(worst, std::fabs(m.loss(moved, one) - l0));
          scale = std::max(scale, l0);
        }
      }
    }
    if (net.activation == Mlp2::Activation::relu) {
      EXPECT_LT(worst, 1e-13 * std::max(1.0, scale));
    } else {
      EXPECT_GT(worst, 1e-2);
    }
  }
}

// conserved() is the C_j = |w_j|^2 + b_j^2 - |u_j|^2 in descending order; theta^T A_j theta (the
// dense generator) is C_j.
TEST(Mlp2, ConservedSpectrumIsEveryNeuronsBalanceDescending) {
  for (bool bias : {true, false}) {
    Mlp2 m = make({"", Mlp2::Activation::relu, bias});
    Stream s(13, 1, Purpose::data);
    const Vector theta = random_vector(s, m.dim(), 1.0);
    std::vector<double> want;
    for (Index j = 0; j < m.hidden(); ++j) {
      double c = m.w_matrix(theta).row(j).squaredNorm() - m.u_matrix(theta).col(j).squaredNorm();
      if (bias) c += std::pow(theta[m.b_offset() + j], 2);
      Vector a(m.dim());
      m.apply_generator(j, theta, a);
      EXPECT_NEAR(theta.dot(a), c, 1e-14 * theta.squaredNorm());
      want.push_back(c);
    }
    std::sort(want.begin(), want.end(), std::greater<double>());
    Vector c;
    m.conserved(theta, c);
    ASSERT_EQ(c.size(), m.hidden());
    for (Index j = 0; j < m.hidden(); ++j) {
      EXPECT_NEAR(c[j], want[static_cast<std::size_t>(j)], 1e-14 * theta.squaredNorm());
    }
    Mlp2 t = make({"", Mlp2::Activation::tanh, bias});
    t.conserved(theta, c);
    EXPECT_EQ(c.size(), 0);
  }
}

// One step theta' = theta - eta g on a batch moves every C_j by exactly eta^2 g^T A_j g: on a
// small step whose batch crosses no kink (checked), and on a large one that flips pre-activations
// (z relu'(z) = relu(z) holds at every z, so g^T A_j theta = 0 across kinks too). Without the
// eta^2 term the identity fails by far more than rounding.
TEST(Mlp2, OneStepMovesEachNeuronsBalanceByEtaSquaredGAg) {
  Mlp2 m = make({"", Mlp2::Activation::relu, true}, 3, 6, 2);
  const SampleSet set = teacher_samples(3, 2, 14, 16);
  m.reserve(set.size());
  Stream s(14, 1, Purpose::data);
  Vector grad(m.dim()), scratch(m.dim());
  for (double eta : {0.01, 0.8}) {
    SCOPED_TRACE(eta);
    bool any_crossed = false;
    for (Index first = 0; first + 4 <= set.size(); first += 4) {
      const Batch batch{set.x.middleRows(first, 4), set.y.middleRows(first, 4)};
      const Vector theta = random_vector(s, m.dim(), 1.0);
      m.loss_grad(theta, batch, grad);
      const Vector next = theta - eta * grad;
      const RowMatrix z0 = pre_activations(m, theta, batch), z1 = pre_activations(m, next, batch);
      const bool crossed = ((z0.array() > 0) != (z1.array() > 0)).any();
      if (eta == 0.01) {
        ASSERT_FALSE(crossed) << "batch " << first;
      }
      double worst = 0, moved = 0;
      for (Index j = 0; j < m.hidden(); ++j) {
        const double c0 = m.generator_quadratic(j, theta, scratch);
        const double c1 = m.generator_quadratic(j, next, scratch);
        const double gag = m.generator_quadratic(j, grad, scratch);
        worst = std::max(worst, std::fabs(c1 - (c0 + eta * eta * gag)));
        moved = std::max(moved, std::fabs(eta * eta * gag));
      }
      EXPECT_LT(worst, 1e-13 * theta.squaredNorm()) << "batch " << first;
      EXPECT_GT(moved, 1e3 * worst + 1e-10) << "batch " << first;
      any_crossed = any_crossed || crossed;
    }
    if (eta == 0.8) {
      EXPECT_TRUE(any_crossed) << "the large steps cross kinks";
    }
  }
}

// cos(P, Q) = <P, Q>_F / (|P| |Q|): 1 for proportional matrices, 0 for ones with disjoint
// supports, unchanged by positive scalings, NaN when either is zero.
TEST(Mlp2, CosineOfHandBuiltMatrices) {
  Matrix p(2, 2), q(2, 2);
  p << 2, 1, 1, 3;
  EXPECT_NEAR(Mlp2::cosine(p, 4.0 * p), 1.0, 1e-15);
  Matrix e0 = Matrix::Zero(2, 2), e1 = Matrix::Zero(2, 2);
  e0(0, 0) = 1;
  e1(1, 1) = 5;
  EXPECT_EQ(Mlp2::cosine(e0, e1), 0.0);
  q << 1, 0, 0, 2;
  const double c = Mlp2::cosine(p, q);
  EXPECT_GT(c, 0.5);
  EXPECT_LT(c, 0.99);
  EXPECT_NEAR(Mlp2::cosine(3.0 * p, 0.5 * q), c, 1e-15);
  EXPECT_NEAR(c, (2 * 1 + 3 * 2) / (std::sqrt(15.0) * std::sqrt(5.0)), 1e-15);
  EXPECT_TRUE(std::isnan(Mlp2::cosine(Matrix::Zero(2, 2), q)));
  EXPECT_TRUE(std::isnan(Mlp2::cosine(p, Matrix::Zero(2, 2))));
}

// The model's alignment cos(W Sx W^T, U^T U) on hand-built parameters, with a dataset whose Sx = I
// (rows sqrt(2) e_i): U = 3 W^T gives U^T U = 9 W W^T (aligned: 1); neuron 0 carrying all of W and
// neuron 1 all of U gives 0; scaling W and U leaves both; Sx enters (a dataset with Sx != I
// moves the aligned pair off 1); a zero U gives NaN.
TEST(Mlp2, AlignmentOnHandBuiltParameters) {
  Mlp2 m = make({"", Mlp2::Activation::relu, true}, 2, 2, 2);
  RowMatrix x(2, 2), y = RowMatrix::Zero(2, 2);
  x << std::sqrt(2.0), 0, 0, std::sqrt(2.0);
  m.prepare_diagnostics(Batch{x, y});
  Vector theta = Vector::Zero(m.dim());
  Eigen::Map<Matrix> w(theta.data(), 2, 2), u(theta.data() + m.b_offset() + 2, 2, 2);
  theta[m.b_offset()] = 0.7;  // biases are left out
  w << 1, 2, 0, 1;
  u = 3.0 * w.transpose();
  EXPECT_NEAR(m.alignment(theta), 1.0, 1e-14);
  const Vector scaled = 2.5 * theta;
  EXPECT_NEAR(m.alignment(scaled), 1.0, 1e-14);
  w << 1, -2, 0, 0;
  u << 0, 1, 0, 3;
  EXPECT_EQ(m.alignment(theta), 0.0);
  w << 1, 2, 0, 1;
  u = 3.0 * w.transpose();
  RowMatrix skewed(2, 2);
  skewed << 2, 0, 0, 0.5;
  m.prepare_diagnostics(Batch{skewed, y});
  EXPECT_LT(m.alignment(theta), 0.99);
  u.setZero();
  EXPECT_TRUE(std::isnan(m.alignment(theta)));
}

TEST(Mlp2, WhatRunsInTheLoopAllocatesNothing) {
  SYMSWEEP_SKIP_UNLESS_COUNTING_WORKS();
  for (const Net& net : nets()) {
    Mlp2 m = make(net);
    const SampleSet set = teacher_samples(3, 2, 15, 8), full = teacher_samples(3, 2, 16, 16);
    m.reserve(full.size());
    m.prepare_diagnostics(full.batch());
    Stream s(15, 1, Purpose::data);
    const Vector theta = random_vector(s, m.dim(), 1.0), v = random_vector(s, m.dim(), 1.0);
    Vector grad(m.dim()), hv(m.dim()), c(m.conserved_size()), scratch(m.dim());
    Matrix f = Matrix::Zero(1, 1);
    const auto work = [&] {
      m.loss_grad(theta, set.batch(), grad);
      m.loss(theta, set.batch());
      m.hessian_vector(theta, set.batch(), v, hv);
      m.conserved(theta, c);
      m.accumulate_window(theta);
      for (Index k = 0; k < m.generator_count(); ++k) {
        m.generator_quadratic(k, v, scratch);
        m.accumulate_flow_matrix(k, v, f, scratch);
      }
    };
    EXPECT_EQ(testing::allocations_once_warm(work), 0) << net.name;
  }
}

const char* const kNet = R"(
[model]
name = mlp2
dx = 3
h = 4
dy = 2
[data]
n = 64
noise_var = 0.2
[optimizer]
eta = 0.05
batch = 4
steps = 400
tol = 0
[record]
every = 100
diagnostics = loss, C, model
)";

std::string config_error(const std::vector<std::string>& sets) {
  return testing::config_error(kNet, sets);
}

TEST(Mlp2, OnlineDataIsRefusedWithTheKeyTheValueAndTheRule) {
  for (const char* activation : {"relu", "tanh"}) {
    const std::string e =
        config_error({"data.mode=online", std::string("model.activation=") + activation});
    EXPECT_NE(e.find("data.mode = 'online': model.name = mlp2 needs data.mode = finite"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("run it on finite data, data.n large for online-like"), std::string::npos)
        << e;
  }
  EXPECT_EQ(config_error({}), "");
  EXPECT_NE(config_error({"model.activation=sigmoid"}).find("model.activation"), std::string::npos);
}

/// One point of kNet through simulate_point.
struct NetRun : testing::SweepPoints {
  explicit NetRun(const std::vector<std::string>& sets) : SweepPoints(kNet, sets) {}
};

// Through the core: the traced alignment at each record lies in [0, 1]; with record.final_window
// = 0 the result is the final state's, the last trace record's value bit for bit; with a window
// it is the window's mean, which differs from the last value under sgd.
TEST(Mlp2, AlignmentFieldsThroughSimulate) {
  for (const char* activation : {"relu", "tanh"}) {
    SCOPED_TRACE(activation);
    const std::string act = std::string("model.activation=") + activation;
    const NetRun last({act, "record.final_window=0"});
    const PointResult p = last.point(0);
    ASSERT_EQ(last.fields.record_steps().size(), 5u);
    for (std::size_t r = 0; r < 5; ++r) {
      const double a = last.get(p, Group::traces, "mlp_alignment", r);
      EXPECT_GE(a, 0.0) << r;
      EXPECT_LE(a, 1.0) << r;
    }
    EXPECT_EQ(last.get(p, Group::results, "mlp_alignment"),
              last.get(p, Group::traces, "mlp_alignment", 4));
    const NetRun window({act, "record.final_window=100"});
    const PointResult q = window.point(0);
    const double mean = window.get(q, Group::results, "mlp_alignment");
    EXPECT_GE(mean, 0.0);
    EXPECT_LE(mean, 1.0);
    EXPECT_NE(mean, window.get(q, Group::traces, "mlp_alignment", 4));
    EXPECT_EQ(window.get(q, Group::traces, "mlp_alignment", 4),
              last.get(p, Group::traces, "mlp_alignment", 4));  // the same path
  }
}

}  // namespace mlp2_tests
}  // namespace symsweep

namespace symsweep {
namespace {

// A ReLU net is not smooth where a pre-activation is within reach of its kink: the checks at a
// minimum are then not made (stability_note not_smooth); a step beyond the reach they are; tanh is
// smooth everywhere.
TEST(Mlp2Kinks, TheStabilityChecksAreNotMadeWithinReachOfAKink) {
  const SampleSet set = testing::teacher_samples(3, 2, 11, 6);
  for (const bool relu : {true, false}) {
    Mlp2::Options o;
    o.activation = relu ? Mlp2::Activation::relu : Mlp2::Activation::tanh;
    Mlp2 model(3, 5, 2, o);
    Vector theta;
    Stream init(5, 0, Purpose::init);
    model.initialize(init, theta);
    // Neuron 2's bias puts sample 4's pre-activation exactly at the kink.
    const auto w = model.w_matrix(theta);
    theta[model.b_offset() + 2] = -w.row(2).dot(set.x.row(4));
    const double radius = 1e-3 * (1.0 + theta.cwiseAbs().maxCoeff());
    EXPECT_EQ(model.smooth_near(theta, set.batch(), radius), !relu);
    const MinimumCheck at = check_minimum(model, set.batch(), theta, 0.1, 0);
    EXPECT_EQ(at.note == StabilityNote::not_smooth, relu);
    if (relu) {
      EXPECT_TRUE(std::isnan(at.lambda_max) && std::isnan(at.K));
    }
    // Moved beyond the reach: smooth as far as the checks look.
    theta[model.b_offset() + 2] += 10 * radius * (set.x.row(4).cwiseAbs().sum() + 1.0);
    bool near_other_kink = false;
    for (Index s = 0; s < set.size(); ++s) {
      for (Index j = 0; j < 5; ++j) {
        const double z =
            model.w_matrix(theta).row(j).dot(set.x.row(s)) + theta[model.b_offset() + j];
        near_other_kink |= std::fabs(z) <= radius * (set.x.row(s).cwiseAbs().sum() + 1.0);
      }
    }
    ASSERT_FALSE(near_other_kink);
    EXPECT_TRUE(model.smooth_near(theta, set.batch(), radius));
    EXPECT_NE(check_minimum(model, set.batch(), theta, 0.1, 0).note, StabilityNote::not_smooth);
  }
}

}  // namespace
}  // namespace symsweep
