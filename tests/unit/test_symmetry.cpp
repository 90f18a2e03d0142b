// The models with a continuous symmetry (linear2, diaglinear, scaleinv, deeplinear, mlp2 with
// relu) through the symmetry interface of model.hpp: derivatives against finite differences, the
// symmetry itself, the exact discrete identity C_{k+1} = C_k + eta^2 g^T A g at every step
// (README, The science §2), and the quantitative closed forms: linear2's equilibrium spectrum with
// a non-diagonal teacher, the scale-invariant model's |theta|^4 slope and fixed point, and
// init-independence of the equilibrium under SGD (not under GD).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <unsupported/Eigen/MatrixFunctions>

#include "../common/model_checks.hpp"
#include "symsweep/data.hpp"
#include "symsweep/eigen_solvers.hpp"
#include "symsweep/models/deeplinear.hpp"
#include "symsweep/models/diaglinear.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/models/mlp2.hpp"
#include "symsweep/models/scaleinv.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/simulate.hpp"

namespace symsweep {
namespace {

struct Case {
  const char* name;
  std::function<std::unique_ptr<Model>()> make;
  bool symmetric;  // false: a symmetry-breaking or one-layer decay key is on
};

std::vector<Case> cases() {
  Linear2::Options l2_break;
  l2_break.break_strength = 0.3;
  l2_break.layer_decay = 0.2;
  l2_break.decay_layer = 0;
  DiagLinear::Options dl;
  dl.init_imbalance = 1.5;
  DiagLinear::Options dl_break = dl;
  dl_break.layer_decay = 0.1;
  dl_break.break_strength = -0.2;
  ScaleInv::Options si, si_break;
  si_break.break_strength = 0.4;
  Mlp2::Options relu_bias, relu_plain;
  relu_plain.bias = false;
  relu_plain.init_u_scale = 1.4;
  return {
      {"linear2", [] { return std::make_unique<Linear2>(3, 2, 2, 1.0, 0.7); }, true},
      {"linear2_broken",
       [l2_break] { return std::make_unique<Linear2>(3, 2, 2, 1.0, 0.7, l2_break); }, false},
      {"diaglinear", [dl] { return std::make_unique<DiagLinear>(4, dl); }, true},
      {"diaglinear_broken", [dl_break] { return std::make_unique<DiagLinear>(4, dl_break); },
       false},
      {"scaleinv", [si] { return std::make_unique<ScaleInv>(4, si); }, true},
      {"scaleinv_broken", [si_break] { return std::make_unique<ScaleInv>(4, si_break); }, false},
      // Deep linear nets: uniform hidden widths, non-uniform ones, depth 4; imbalanced scales.
      {"deeplinear_depth3",
       [] {
         return std::make_unique<DeepLinear>(std::vector<Index>{3, 2, 2, 2},
                                             std::vector<double>{1.5, 1.0, 0.6},
                                             DeepLinear::Options{});
       },
       true},
      {"deeplinear_widths",
       [] {
         return std::make_unique<DeepLinear>(std::vector<Index>{3, 4, 2, 2},
                                             std::vector<double>{1.0, 0.8, 1.2},
                                             DeepLinear::Options{});
       },
       true},
      {"deeplinear_depth4",
       [] {
         return std::make_unique<DeepLinear>(std::vector<Index>{2, 3, 2, 3, 2},
                                             std::vector<double>{0.7, 1.0, 1.0, 1.4},
                                             DeepLinear::Options{});
       },
       true},
      // Two-layer ReLU nets: one size-1 block per neuron (tanh has no symmetry: test_mlp2.cpp).
      {"mlp2_relu_bias", [relu_bias] { return std::make_unique<Mlp2>(3, 4, 2, relu_bias); }, true},
      {"mlp2_relu", [relu_plain] { return std::make_unique<Mlp2>(2, 3, 3, relu_plain); }, true},
  };
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class SymmetryTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    model_ = GetParam().make();
    Stream init(7, 0, Purpose::init);
    model_->initialize(init, theta_);
    DataSpec ds;
    ds.dx = model_->input_dim();
    ds.dy = model_->output_dim();
    ds.x_decay = 0.8;
    ds.noise_var = 0.3;
    ds.teacher_scale = 0.9;
    Stream data(7, 0, Purpose::data);
    set_ = Teacher(ds).sample(data, 12);
    model_->reserve(set_.size());
  }
  /// The dense generator A_k, column by column from apply_generator.
  Matrix generator(Index k) const {
    const Index d = model_->dim();
    Matrix a(d, d);
    Vector e = Vector::Zero(d), col(d);
    for (Index j = 0; j < d; ++j) {
      e[j] = 1;
      model_->apply_generator(k, e, col);
      a.col(j) = col;
      e[j] = 0;
    }
    return a;
  }
  std::unique_ptr<Model> model_;
  Vector theta_;
  SampleSet set_;
};

TEST_P(SymmetryTest, GradientMatchesCentralDifferences) {
  testing::expect_gradient_matches_central_differences(*model_, theta_, set_.batch());
}

TEST_P(SymmetryTest, HessianVectorProductsAndTraceMatchDifferencesOfTheGradient) {
  const Index d = model_->dim();
  Matrix h;
  model_->hessian(theta_, set_.batch(), h);
  testing::expect_hessian_columns_match_central_differences(*model_, theta_, set_.batch(), h);
  EXPECT_NEAR(model_->hessian_trace(theta_, set_.batch()), h.trace(), 1e-12 * (1 + h.norm()));
  // Per-sample gradients average to the batch gradient.
  RowMatrix per(set_.size(), d);
  Vector scratch(d), grad(d);
  model_->sample_gradients(theta_, set_.batch(), per, scratch);
  model_->loss_grad(theta_, set_.batch(), grad);
  EXPECT_LT((per.colwise().mean().transpose() - grad).norm(), 1e-13 * (1 + grad.norm()));
}

TEST_P(SymmetryTest, LossIsInvariantUnderEveryGeneratorAndGradientsAreOrthogonalToIt) {
  ASSERT_GE(model_->generator_count(), 1);
  const Index d = model_->dim();
  RowMatrix per(set_.size(), d);
  Vector scratch(d), a_theta(d);
  model_->sample_gradients(theta_, set_.batch(), per, scratch);
  const double l0 = model_->loss(theta_, set_.batch());
  double worst_loss = 0, worst_dot = 0;
  for (Index k = 0; k < model_->generator_count(); ++k) {
    const Matrix a = generator(k);
    EXPECT_LT((a - a.transpose()).norm(), 1e-15) << "A_" << k << " is symmetric";
    const Vector moved = (0.4 * a).exp() * theta_;
    worst_loss = std::max(worst_loss, std::fabs(model_->loss(moved, set_.batch()) - l0));
    model_->apply_generator(k, theta_, a_theta);
    for (Index s = 0; s < set_.size(); ++s) {
      const double dot = per.row(s).dot(a_theta);
      worst_dot = std::max(worst_dot, std::fabs(dot) / (per.row(s).norm() * a_theta.norm()));
    }
  }
  if (GetParam().symmetric) {
    EXPECT_LT(worst_loss, 1e-12 * std::max(1.0, l0));
    EXPECT_LT(worst_dot, 1e-12);
  } else {  // the breaking keys break it, visibly
    EXPECT_GT(worst_loss, 1e-3);
    EXPECT_GT(worst_dot, 1e-3);
  }
}

TEST_P(SymmetryTest, FastPerSampleGradientsGeneratorFormsAndHessianOperatorEqualTheGenericOnes) {
  Stream s(7, 1, Purpose::data);
  DataSpec ds;
  ds.dx = model_->input_dim();
  ds.dy = model_->output_dim();
  ds.noise_var = 0.5;
  const SampleSet other = Teacher(ds).sample(s, 5);
  testing::expect_fast_paths_match_generic(*model_, theta_, set_.batch(), other.batch(), s);
}

// The flow matrix of each symmetry block (model.hpp's ModelShape): for random symmetric M and
// random v, Tr[M F(v)] from accumulate_flow_matrix equals v^T A_M v with the dense A_M = sum_i M_ii
// A_{E_ii} + sum_{i<j} M_ij A_{E_ij + E_ji} built column by column from apply_generator.
TEST_P(SymmetryTest, FlowMatrixOfEveryBlockGivesTheQuadraticOfEverySymmetricM) {
  const ModelShape& shape = model_->shape();
  ASSERT_FALSE(shape.symmetry_blocks.empty());
  ASSERT_EQ(shape.generator_count(), model_->generator_count());
  const Index d = model_->dim();
  Stream s(7, 2, Purpose::data);
  Vector scratch(d);
  for (Index b = 0; b < static_cast<Index>(shape.symmetry_blocks.size()); ++b) {
    const Index m = shape.symmetry_blocks[static_cast<std::size_t>(b)];
    for (int trial = 0; trial < 3; ++trial) {
      Vector v(d);
      for (Index i = 0; i < d; ++i) v[i] = s.normal();
      Matrix mm(m, m);
      for (Index i = 0; i < m; ++i) {
        for (Index j = i; j < m; ++j) mm(i, j) = mm(j, i) = s.normal();
      }
      Matrix a_m = Matrix::Zero(d, d);
      Index k = shape.first_generator(b);
      for (Index i = 0; i < m; ++i) a_m += mm(i, i) * generator(k++);
      for (Index i = 0; i < m; ++i) {
        for (Index j = i + 1; j < m; ++j) a_m += mm(i, j) * generator(k++);
      }
      Matrix f = Matrix::Constant(m, m, 0.25);  // it adds to what is there
      model_->accumulate_flow_matrix(b, v, f, scratch);
      f.array() -= 0.25;
      EXPECT_LT((f - f.transpose()).norm(), 1e-14 * (1 + f.norm())) << "block " << b;
      const double want = v.dot(a_m * v);
      EXPECT_NEAR((mm * f).trace(), want, 1e-12 * (1 + v.squaredNorm() * mm.norm()))
          << "block " << b << ", trial " << trial;
    }
  }
}

// A model's flow matrices over a whole set (flow_matrices, where it has them) equal the mean of
// accumulate_flow_matrix over the per-sample gradient deviations, the core's other path.
TEST_P(SymmetryTest, FlowMatricesOverASetEqualThePerSampleOnes) {
  const ModelShape& shape = model_->shape();
  const Index d = model_->dim(), n = set_.size();
  std::vector<Matrix> bulk, per_sample;
  for (Index m : shape.symmetry_blocks) {
    bulk.push_back(Matrix::Constant(m, m, 7.0));  // overwritten, not added to
    per_sample.push_back(Matrix::Zero(m, m));
  }
  // Away from the start, so that the mean gradient is not small against the noise.
  Vector theta = theta_ * 1.3;
  if (!model_->flow_matrices(theta, set_.batch(), bulk)) {
    GTEST_SKIP() << GetParam().name << " has no closed form over a set (the per-sample one)";
  }
  RowMatrix per(n, d);
  Vector scratch(d), grad(d);
  model_->sample_gradients(theta, set_.batch(), per, scratch);
  model_->loss_grad(theta, set_.batch(), grad);
  for (Index s = 0; s < n; ++s) {
    const Vector v = per.row(s).transpose() - grad;
    for (std::size_t b = 0; b < per_sample.size(); ++b) {
      model_->accumulate_flow_matrix(static_cast<Index>(b), v, per_sample[b], scratch);
    }
  }
  for (std::size_t b = 0; b < per_sample.size(); ++b) {
    per_sample[b] /= static_cast<double>(n);
    // Relative to F itself: the closed form subtracts the mean gradient's part from the
    // second moments (E[F(g)] - F(mean g)), which loses digits where |mean g|^2 >> |F|.
    const double scale = (per.squaredNorm() / static_cast<double>(n)) + grad.squaredNorm();
    EXPECT_LT((bulk[b] - per_sample[b]).norm(), 1e-10 * per_sample[b].norm()) << "block " << b;
    EXPECT_GT(per_sample[b].norm(), 1e-6 * scale) << "block " << b << " is not trivially zero";
  }
}

// C_k(theta_{t+1}) = C_k(theta_t) + eta^2 g_t^T A_k g_t, every step, every generator (gamma = 0).
TEST_P(SymmetryTest, DiscreteIdentityOfEveryConservedQuantityHoldsAtEveryStep) {
  OptimizerSpec opt;
  opt.eta = 0.05;
  opt.batch = 3;
  BatchSource batches(set_, opt.batch, Stream(8, 1, Purpose::batches));
  Sgd sgd(*model_, batches, opt);
  const Index d = model_->dim();
  Vector a_theta(d), a_g(d);
  double worst = 0;
  for (int t = 0; t < 500; ++t) {
    std::vector<double> before, scale;
    for (Index k = 0; k < model_->generator_count(); ++k) {
      model_->apply_generator(k, theta_, a_theta);
      before.push_back(theta_.dot(a_theta));
      scale.push_back(theta_.squaredNorm());
    }
    sgd.step(theta_);
    const Vector& g = sgd.last_gradient();
    for (Index k = 0; k < model_->generator_count(); ++k) {
      model_->apply_generator(k, theta_, a_theta);
      model_->apply_generator(k, g, a_g);
      const double predicted = before[static_cast<std::size_t>(k)] + opt.eta * opt.eta * g.dot(a_g);
      worst = std::max(
          worst, std::fabs(theta_.dot(a_theta) - predicted) / scale[static_cast<std::size_t>(k)]);
    }
  }
  if (GetParam().symmetric) {
    EXPECT_LT(worst, 1e-13);
  } else {  // the breaking terms move C by more than eta^2 g^T A g
    EXPECT_GT(worst, 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, SymmetryTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           return std::string(p.param.name);
                         });

// ----------------------------------------------------------------------------- quantitative

/// x = Lx z, y = V x + Le xi: a teacher with any V, Sigma_x, Sigma_eps (the data keys' teacher is
/// diagonal; this one is built here).
struct GeneralTeacher {
  Matrix v, sigma_x, sigma_eps, lx, le;
  void sample(Stream& s, RowMatrix& x, RowMatrix& y) const {
    Vector z(lx.cols()), xi(le.cols());
    for (Index r = 0; r < x.rows(); ++r) {
      for (Index i = 0; i < z.size(); ++i) z[i] = s.normal();
      for (Index i = 0; i < xi.size(); ++i) xi[i] = s.normal();
      const Vector xr = lx * z;
      x.row(r) = xr.transpose();
      y.row(r) = (v * xr + le * xi).transpose();
    }
  }
  /// A moment-matched reference set (rows' second moments = the population's).
  SampleSet reference() const {
    const Index dx = v.cols(), dy = v.rows(), m = dx + dy;
    const double root = std::sqrt(static_cast<double>(m));
    SampleSet set{RowMatrix::Zero(m, dx), RowMatrix::Zero(m, dy)};
    set.x.topRows(dx) = root * lx.transpose();
    set.y.topRows(dx) = set.x.topRows(dx) * v.transpose();
    set.y.bottomRows(dy) = root * le.transpose();
    return set;
  }
};

TEST(Linear2Equilibrium, OnlineSgdReachesThePredictedSpectrumWithANonDiagonalTeacher) {
  GeneralTeacher t;
  t.v.resize(2, 3);
  t.v << 1.0, 0.5, -0.3, 0.2, -0.8, 0.6;
  t.sigma_x.resize(3, 3);
  t.sigma_x << 1.0, 0.3, 0.1, 0.3, 0.7, -0.2, 0.1, -0.2, 0.5;
  t.sigma_eps.resize(2, 2);
  t.sigma_eps << 0.5, 0.15, 0.15, 0.2;
  t.lx = t.sigma_x.llt().matrixL();
  t.le = t.sigma_eps.llt().matrixL();
  const Index h = 2;  // = rank V
  Linear2 model(3, h, 2, 1.0, 1.0);
  const SampleSet ref = t.reference();
  model.prepare_diagnostics(ref.batch());
  // The moments the model reads back from the reference set are the teacher's.
  Matrix sx, v, se;
  data_moments(ref.batch(), sx, v, se);
  ASSERT_LT((v - t.v).norm(), 1e-12);
  ASSERT_LT((se - t.sigma_eps).norm(), 1e-12);
  const Vector predicted = Linear2::predicted_spectrum(t.sigma_x, t.v, t.sigma_eps, h);

  Stream init(11, 0, Purpose::init), batches(11, 0, Purpose::batches);
  Vector theta;
  model.initialize(init, theta);
  const Index batch = 1;
  // The equilibrium is that of the continuous limit: finite-eta corrections are O(eta).
  const double eta = 0.01;
  const int steps = 600000, window = 400000;
  RowMatrix x(batch, 3), y(batch, 2);
  Vector grad(model.dim()), ws(h), us(h), w_sum = Vector::Zero(h), u_sum = Vector::Zero(h);
  double gap = 0, gap_sum = 0;
  for (int k = 0; k < steps; ++k) {
    t.sample(batches, x, y);
    model.loss_grad(theta, Batch{x, y}, grad);
    theta -= eta * grad;
    if (k >= steps - window) {
      model.equilibrium_spectra(theta, ws, us, gap);
      w_sum += ws;
      u_sum += us;
      gap_sum += gap;
    }
  }
  const Vector w_mean = w_sum / window, u_mean = u_sum / window;
  for (Index i = 0; i < h; ++i) {
    const double ew = std::fabs(w_mean[i] - predicted[i]) / predicted[i];
    const double eu = std::fabs(u_mean[i] - predicted[i]) / predicted[i];
    std::printf(
        "linear2 equilibrium sigma_%ld: predicted %.5f, W side %.5f (%.2f%%), U side "
        "%.5f (%.2f%%)\n",
        static_cast<long>(i), predicted[i], w_mean[i], 100 * ew, u_mean[i], 100 * eu);
    EXPECT_LT(ew, 0.05);
    EXPECT_LT(eu, 0.05);
  }
  std::printf("linear2 equilibrium: mean gap %.5f vs |spectrum| %.5f\n", gap_sum / window,
              predicted.norm());
}

// The noise equilibrium does not remember the start: from four imbalances C_0 = u^2 - v^2 of the
// diagonal net (one coordinate, u v ~ beta at every start), SGD ends at the same C to within 5% of
// the initial spread; full-batch GD keeps the spread, moving each C only by the
// sum of eta^2 grad L^T A grad L that the exact identity allows.
TEST(InitIndependence, SgdForgetsTheImbalanceAndGdKeepsIt) {
  DataSpec ds;
  ds.dx = 1;
  ds.dy = 1;
  ds.noise_var = 0.5;
  Stream data(21, 0, Purpose::data);
  const SampleSet set = Teacher(ds).sample(data, 64);
  const std::vector<std::pair<double, double>> starts = {
      {2.0, 0.5}, {1.0, 1.0}, {0.5, 2.0}, {1.6, 0.6}};
  const auto spread = [](const std::vector<double>& c) {
    return *std::max_element(c.begin(), c.end()) - *std::min_element(c.begin(), c.end());
  };
  for (const bool full_batch : {false, true}) {
    std::vector<double> c0, c1;
    double allowed = 0;  // the largest sum of |eta^2 g^T A g| of any start
    for (std::size_t i = 0; i < starts.size(); ++i) {
      DiagLinear model(1, DiagLinear::Options{});
      OptimizerSpec opt;
      opt.eta = 0.05;
      opt.batch = full_batch ? set.size() : 1;
      BatchSource batches(set, opt.batch, Stream(21, i, Purpose::batches));
      Sgd sgd(model, batches, opt);
      Vector theta(2), ag(2);
      theta << starts[i].first, starts[i].second;
      c0.push_back(theta[0] * theta[0] - theta[1] * theta[1]);
      double drift = 0;
      for (int t = 0; t < 20000; ++t) {
        sgd.step(theta);
        model.apply_generator(0, sgd.last_gradient(), ag);
        drift += opt.eta * opt.eta * std::fabs(sgd.last_gradient().dot(ag));
      }
      c1.push_back(theta[0] * theta[0] - theta[1] * theta[1]);
      allowed = std::max(allowed, drift);
      EXPECT_LE(std::fabs(c1.back() - c0.back()), drift * (1 + 1e-9) + 1e-12);
    }
    std::printf("%s: spread of C from %.4f to %.6f (%.3f%%); largest allowed drift %.6f\n",
                full_batch ? "GD" : "SGD", spread(c0), spread(c1), 100 * spread(c1) / spread(c0),
                allowed);
    if (full_batch) {
      EXPECT_GE(spread(c1), spread(c0) - 2 * allowed);
      EXPECT_LT(2 * allowed, 0.05 * spread(c0));  // GD keeps (nearly all of) the spread
    } else {
      EXPECT_LT(spread(c1), 0.05 * spread(c0));
    }
  }
}

/// A sweep of one or more points, run through simulate.
struct SweepRun {
  SweepRun(const std::string& ini, const std::vector<std::string>& sets)
      : spec(parse_spec(ini, sets)), grid(spec), fields(grid) {}
  PointResult point(std::uint64_t i) const { return simulate_point(grid, fields, i); }
  double get(const PointResult& p, const char* name, std::size_t i = 0) const {
    return p.values.real(fields.schema().id(Group::results, name), i);
  }
  SweepSpec spec;
  Grid grid;
  SweepFields fields;
};

const char* const kScaleInv = R"(
[model]
name = scaleinv
dx = 4
[data]
mode = online
noise_var = 0.5
[optimizer]
eta = 0.02
batch = 4
tol = 0
[record]
noise_batch = 65536
)";

// The same non-diagonal teacher through the config keys data.teacher, data.x_cov and
// data.noise_cov and simulate_point: the driver's path (its data, its window average and its
// eq_predicted from the population moments) reaches the predicted spectrum too.
TEST(Linear2Equilibrium, TheDataKeysAndSimulatePointReachThePredictedSpectrum) {
  const SweepRun r(R"(
[model]
name = linear2
dx = 3
h = 2
dy = 2
[data]
mode = online
teacher = 1, 0.5, -0.3; 0.2, -0.8, 0.6
x_cov = 1, 0.3, 0.1; 0.3, 0.7, -0.2; 0.1, -0.2, 0.5
noise_cov = 0.5, 0.15; 0.15, 0.2
[optimizer]
eta = 0.01
batch = 1
steps = 600000
tol = 0
check_every = 100000
[record]
final_window = 400000
)",
                   {});
  const PointResult p = r.point(0);
  // eq_predicted is computed from the keys alone, independently of the file's fields.
  Matrix v(2, 3), sx(3, 3), se(2, 2);
  v << 1.0, 0.5, -0.3, 0.2, -0.8, 0.6;
  sx << 1.0, 0.3, 0.1, 0.3, 0.7, -0.2, 0.1, -0.2, 0.5;
  se << 0.5, 0.15, 0.15, 0.2;
  const Vector predicted = Linear2::predicted_spectrum(sx, v, se, 2);
  for (Index i = 0; i < 2; ++i) {
    const double pred = r.get(p, "eq_predicted", static_cast<std::size_t>(i));
    EXPECT_NEAR(pred, predicted[i], 1e-12 * predicted[i]);
    const double w = r.get(p, "eq_w_spectrum", static_cast<std::size_t>(i));
    const double u = r.get(p, "eq_u_spectrum", static_cast<std::size_t>(i));
    const double ew = std::fabs(w - pred) / pred, eu = std::fabs(u - pred) / pred;
    std::printf(
        "linear2 equilibrium through the keys sigma_%ld: predicted %.5f, W side %.5f "
        "(%.2f%%), U side %.5f (%.2f%%)\n",
        static_cast<long>(i), pred, w, 100 * ew, u, 100 * eu);
    EXPECT_LT(ew, 0.05);
    EXPECT_LT(eu, 0.05);
  }
}

TEST(ScaleInvariant, NormToTheFourthGrowsWithThePredictedSlope) {
  const SweepRun r(kScaleInv, {"optimizer.steps=60000", "record.final_window=30000"});
  const PointResult p = r.point(0);
  const double slope = r.get(p, "si_norm4_slope");
  const double predicted = r.get(p, "si_norm4_slope_predicted");
  const double err = std::fabs(slope - predicted) / predicted;
  std::printf("scaleinv slope of |theta|^4: measured %.6g, predicted %.6g (%.2f%%)\n", slope,
              predicted, 100 * err);
  EXPECT_LT(err, 0.05);
}

TEST(ScaleInvariant, WeightDecayStopsTheNormWhereThePredictionSays) {
  const SweepRun r(kScaleInv, {"optimizer.steps=80000", "record.final_window=60000",
                               "optimizer.weight_decay=0.005"});
  const PointResult p = r.point(0);
  const double norm4 = r.get(p, "si_norm4_mean");
  const double predicted = r.get(p, "si_norm4_predicted");
  const double err = std::fabs(norm4 - predicted) / predicted;
  std::printf("scaleinv |theta*|^4: measured %.6g, predicted %.6g (%.2f%%)\n", norm4, predicted,
              100 * err);
  EXPECT_LT(err, 0.05);
}

// ------------------------------------------------------------------------------------------
// Every predicted field holds under the optimizer settings its description names, and is NaN
// outside them (src/models/prediction_settings.hpp).

bool is_nan(double x) {
  return std::isnan(x);
}

// Under gradient descent there is no noise: |theta|^2 moves by eta^2 |grad L|^2 per step, zero
// once the direction has converged, so the measured slope of |theta|^4 is zero and so must the
// prediction be (the noise-driven 2 eta^2 Tr Sigma / S would be wrong by its whole size).
// Property over step sizes, dimensions and both data modes.
TEST(ScaleInvariant, UnderGdThePredictedSlopeIsTheNoiseFreeOne) {
  for (const char* mode : {"online", "finite"}) {
    for (const char* eta : {"0.01", "0.03"}) {
      for (const char* dx : {"2", "4"}) {
        const SweepRun r(kScaleInv, {"optimizer.method=gd", std::string("data.mode=") + mode,
                                     std::string("optimizer.eta=") + eta,
                                     std::string("model.dx=") + dx, "optimizer.steps=20000",
                                     "record.final_window=10000", "record.noise_batch=4096"});
        const PointResult p = r.point(0);
        const double slope = r.get(p, "si_norm4_slope");
        const double predicted = r.get(p, "si_norm4_slope_predicted");
        // The scale the error is judged against: the noise-driven slope a batch of one would
        // give at the same point (2 eta^2 Tr Sigma(theta_hat)), some 1e-4.
        const double e = std::stod(eta);
        const double scale = 2 * e * e * r.get(p, "si_tr_sigma_hat");
        std::printf(
            "scaleinv gd %s eta %s dx %s: slope measured %.3g, predicted %.3g (scale %.3g)\n", mode,
            eta, dx, slope, predicted, scale);
        ASSERT_GT(scale, 0.0);
        EXPECT_LT(std::fabs(slope - predicted), 1e-6 * scale) << mode << " eta " << eta;
        EXPECT_TRUE(is_nan(r.get(p, "si_norm4_predicted")));  // no weight decay
      }
    }
  }
}

// With a schedule, the prediction uses the step size of the updates of the final window it is
// compared with (not the base eta); where the schedule changes eta inside the window it is NaN.
TEST(ScaleInvariant, ThePredictedSlopeUsesTheStepSizeOfTheWindow) {
  const std::vector<std::vector<std::string>> constant_in_window = {
      // step decay at 20000 and 40000: the window (updates 40000..59999) runs at eta / 4
      {"optimizer.schedule=step", "optimizer.decay_every=20000", "optimizer.decay_factor=0.5"},
      // one decay at 30000: eta * 0.7 over the window
      {"optimizer.schedule=step", "optimizer.decay_every=30000", "optimizer.decay_factor=0.7"},
      // warmup long over before the window: the base eta
      {"optimizer.schedule=warmup", "optimizer.warmup_steps=1000"},
  };
  for (std::vector<std::string> sets : constant_in_window) {
    sets.insert(sets.end(),
                {"optimizer.eta=0.04", "optimizer.steps=60000", "record.final_window=20000"});
    const SweepRun r(kScaleInv, sets);
    const PointResult p = r.point(0);
    const double slope = r.get(p, "si_norm4_slope");
    const double predicted = r.get(p, "si_norm4_slope_predicted");
    const double err = std::fabs(slope - predicted) / predicted;
    std::printf("scaleinv %s: slope measured %.6g, predicted %.6g (%.2f%%)\n", sets[1].c_str(),
                slope, predicted, 100 * err);
    EXPECT_LT(err, 0.05) << sets[1];  // the tolerance of the constant-eta test above
  }
  // A decay at update 50000, inside the window: no single eta to predict with.
  const SweepRun r(kScaleInv,
                   {"optimizer.schedule=step", "optimizer.decay_every=25000", "optimizer.eta=0.04",
                    "optimizer.steps=60000", "record.final_window=20000"});
  const PointResult p = r.point(0);
  EXPECT_TRUE(std::isfinite(r.get(p, "si_norm4_slope")));
  EXPECT_TRUE(is_nan(r.get(p, "si_norm4_slope_predicted")));
}

// Finite data with reshuffled batches: when S does not divide n, every epoch ends with a smaller,
// noisier batch, and the slope follows the epoch-averaged noise factor; iid batches at the same
// (n, S) follow (n - S) / (S (n - 1)).
TEST(ScaleInvariant, FiniteDataSlopeFollowsTheSamplingScheme) {
  for (const char* batch : {"6", "8"}) {
    for (const char* sampling : {"iid", "reshuffle"}) {
      const SweepRun r(kScaleInv,
                       {"data.mode=finite", "data.n=20", std::string("optimizer.batch=") + batch,
                        std::string("optimizer.sampling=") + sampling, "optimizer.eta=0.05",
                        "optimizer.steps=60000", "record.final_window=40000"});
      const PointResult p = r.point(0);
      const double slope = r.get(p, "si_norm4_slope");
      const double predicted = r.get(p, "si_norm4_slope_predicted");
      const double err = std::fabs(slope - predicted) / predicted;
      std::printf("scaleinv finite n 20 S %s %s: slope measured %.6g, predicted %.6g (%.2f%%)\n",
                  batch, sampling, slope, predicted, 100 * err);
      EXPECT_LT(err, 0.05) << "S " << batch << " " << sampling;
    }
  }
}

TEST(ScaleInvariant, PredictionsAreNaNOutsideTheirSettings) {
  const std::vector<std::string> short_run = {"optimizer.steps=2000", "record.final_window=1000",
                                              "record.noise_batch=1024"};
  const auto run = [&](std::vector<std::string> sets) {
    sets.insert(sets.end(), short_run.begin(), short_run.end());
    const SweepRun r(kScaleInv, sets);
    const PointResult p = r.point(0);
    return std::make_pair(r.get(p, "si_norm4_slope_predicted"), r.get(p, "si_norm4_predicted"));
  };
  for (const char* gamma : {"0.005", "0.02"}) {
    // weight decay: the growth slope does not apply (the norm settles), |theta*|^4 does
    const auto [slope, norm4] = run({std::string("optimizer.weight_decay=") + gamma});
    EXPECT_TRUE(is_nan(slope)) << gamma;
    EXPECT_TRUE(std::isfinite(norm4) && norm4 > 0) << gamma;
    // ... but not without noise: under gd there is nothing for the decay to balance
    const auto [gd_slope, gd_norm4] =
        run({std::string("optimizer.weight_decay=") + gamma, "optimizer.method=gd"});
    EXPECT_TRUE(is_nan(gd_slope) && is_nan(gd_norm4)) << gamma;
  }
  for (const char* beta : {"0.1", "-0.4"}) {  // the symmetry is broken: C is not conserved
    const auto [slope, norm4] = run({std::string("model.break_strength=") + beta});
    EXPECT_TRUE(is_nan(slope) && is_nan(norm4)) << beta;
    const auto [slope_wd, norm4_wd] =
        run({std::string("model.break_strength=") + beta, "optimizer.weight_decay=0.01"});
    EXPECT_TRUE(is_nan(slope_wd) && is_nan(norm4_wd)) << beta;
  }
}

const char* const kScalarLinear2 = R"(
[model]
name = linear2
init_u_scale = 2
init_w_scale = 0.5
[data]
mode = online
noise_var = 1
[optimizer]
tol = 0
[record]
final_window = 20000
)";

// linear2's equilibrium spectrum assumes online SGD without weight decay and with the symmetry
// intact; its location does not depend on eta or S (README, The science §2), so any batch size and
// schedule is inside. Property: teachers, batch sizes and schedules, against the measured
// window average.
TEST(Linear2Equilibrium, PredictionHoldsForAnyBatchAndSchedule) {
  const std::vector<std::vector<std::string>> cases = {
      {"data.teacher_scale=1", "optimizer.batch=1"},
      {"data.teacher_scale=0.6", "optimizer.batch=2"},
      {"data.teacher_scale=1.5", "optimizer.batch=1", "optimizer.schedule=step",
       "optimizer.decay_every=30000", "optimizer.decay_factor=0.5"},
      {"data.teacher_scale=0.8", "optimizer.batch=4", "optimizer.schedule=warmup",
       "optimizer.warmup_steps=5000"},
  };
  for (std::vector<std::string> sets : cases) {
    sets.insert(sets.end(), {"optimizer.eta=0.04", "optimizer.steps=60000"});
    const SweepRun r(kScalarLinear2, sets);
    const PointResult p = r.point(0);
    const double pred = r.get(p, "eq_predicted");
    const double w = r.get(p, "eq_w_spectrum"), u = r.get(p, "eq_u_spectrum");
    std::printf("linear2 %s %s: predicted %.5f, w^2 %.5f, u^2 %.5f\n", sets[0].c_str(),
                sets[1].c_str(), pred, w, u);
    // The teacher's |V| in closed form for the scalar net: sigma(Se^1/2 V Sx^1/2)/sqrt(Sx Se).
    EXPECT_NEAR(pred, std::fabs(std::stod(sets[0].substr(sets[0].find('=') + 1))), 1e-12);
    EXPECT_LT(std::fabs(w - pred) / pred, 0.05) << sets[0];  // the tolerance of the tests above
    EXPECT_LT(std::fabs(u - pred) / pred, 0.05) << sets[0];
  }
}

TEST(Linear2Equilibrium, PredictionIsNaNOutsideItsSettings) {
  const std::vector<std::vector<std::string>> outside = {
      {"optimizer.method=gd"},              // no noise: D keeps its start
      {"optimizer.weight_decay=0.01"},      // D decays: a different balance
      {"optimizer.weight_decay=0.001"},     //
      {"data.mode=finite", "data.n=64"},    // fourth moments of a finite set do not factor
      {"data.mode=finite", "data.n=1000"},  //
      {"model.layer_decay=0.1"},            // the symmetry is broken
      {"model.break_strength=0.2"},         //
  };
  for (std::vector<std::string> sets : outside) {
    sets.insert(sets.end(),
                {"optimizer.eta=0.04", "optimizer.steps=500", "record.final_window=100"});
    const SweepRun r(kScalarLinear2, sets);
    const PointResult p = r.point(0);
    EXPECT_TRUE(is_nan(r.get(p, "eq_predicted"))) << sets[0];
    EXPECT_TRUE(std::isfinite(r.get(p, "eq_w_spectrum"))) << sets[0];  // measured: kept
  }
}

const char* const kDiag = R"(
[model]
name = diaglinear
dx = 2
[data]
x_decay = 0.5
noise_var = 0.5
teacher = 1, -0.7
[optimizer]
eta = 0.05
tol = 0
steps = 20000
[record]
final_window = 10000
)";

// diag_product_predicted is the minimum of the full objective: reached by GD and SGD alike, any
// data mode, sampling or schedule (the noise only moves the balance); property over them.
TEST(DiagLinearPrediction, TheProductReachesTheLeastSquaresWeightsUnderEveryMethod) {
  const std::vector<std::vector<std::string>> cases = {
      {"optimizer.method=sgd", "data.mode=online"},
      {"optimizer.method=gd", "data.mode=online"},
      {"optimizer.method=sgd", "data.mode=finite", "data.n=32", "optimizer.batch=4"},
      {"optimizer.method=sgd", "data.mode=finite", "data.n=32", "optimizer.batch=4",
       "optimizer.sampling=reshuffle", "optimizer.schedule=step", "optimizer.decay_every=5000"},
      {"optimizer.method=gd", "data.mode=finite", "data.n=32"},
  };
  for (std::vector<std::string> sets : cases) {
    const SweepRun r(kDiag, sets);
    const PointResult p = r.point(0);
    for (std::size_t j = 0; j < 2; ++j) {
      const double pred = r.get(p, "diag_product_predicted", j);
      const double product = r.get(p, "diag_product", j);
      std::printf("diaglinear %s %s j %zu: product %.5f, predicted %.5f\n", sets[0].c_str(),
                  sets[1].c_str(), j, product, pred);
      // SGD's window average sits O(eta) from the minimum: the tolerance of the linear2 tests.
      EXPECT_LT(std::fabs(product - pred), 0.05 * std::fabs(pred)) << sets[0] << " " << sets[1];
    }
  }
}

TEST(DiagLinearPrediction, IsNaNOutsideItsSettings) {
  const std::vector<std::vector<std::string>> outside = {
      {"optimizer.weight_decay=0.01"}, {"optimizer.weight_decay=0.1", "optimizer.method=gd"},
      {"model.layer_decay=0.05"},      {"model.layer_decay=0.2", "model.decay_layer=u"},
      {"model.break_strength=0.3"},
  };
  for (std::vector<std::string> sets : outside) {
    sets.insert(sets.end(), {"optimizer.steps=500", "record.final_window=100"});
    const SweepRun r(kDiag, sets);
    const PointResult p = r.point(0);
    for (std::size_t j = 0; j < 2; ++j) {
      EXPECT_TRUE(is_nan(r.get(p, "diag_product_predicted", j))) << sets[0];
    }
  }
}

}  // namespace
}  // namespace symsweep
