// The two-layer linear network: gradient and Hessian against finite differences, the exact
// symmetry, and the exact discrete identity of D (README, The science §2).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>

#include <Eigen/Eigenvalues>
#include <unsupported/Eigen/MatrixFunctions>

#include "../common/model_checks.hpp"
#include "alloc_counter.hpp"
#include "symsweep/data.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {
namespace {

/// G = (1/S) sum_s (U W x_s - y_s) x_s^T, computed here from the batch itself, independently of
/// the model's code.
Matrix residual_moment(const Matrix& u, const Matrix& w, const Batch& b) {
  Matrix g = Matrix::Zero(u.rows(), w.cols());
  for (Index s = 0; s < b.size(); ++s) {
    const Vector x = b.x.row(s).transpose();
    const Vector r = u * (w * x) - b.y.row(s).transpose();
    g += r * x.transpose();
  }
  return g / static_cast<double>(b.size());
}

struct Shape {
  Index dx, h, dy;
};

void PrintTo(const Shape& s, std::ostream* os) {
  *os << "dx=" << s.dx << " h=" << s.h << " dy=" << s.dy;
}

class Linear2Test : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    const Shape s = GetParam();
    model_ = std::make_unique<Linear2>(s.dx, s.h, s.dy, 1.0, 1.0);
    Stream init(1, 0, Purpose::init);
    model_->initialize(init, theta_);
    DataSpec ds;
    ds.dx = s.dx;
    ds.dy = s.dy;
    ds.x_decay = 0.7;
    ds.noise_var = 0.3;
    Stream data(1, 0, Purpose::data);
    set_ = Teacher(ds).sample(data, 9);
  }
  std::unique_ptr<Linear2> model_;
  Vector theta_;
  SampleSet set_;
};

TEST_P(Linear2Test, GradientMatchesCentralDifferences) {
  testing::expect_gradient_matches_central_differences(*model_, theta_, set_.batch());
}

TEST_P(Linear2Test, HessianMatchesDifferencesOfTheGradient) {
  Matrix h;
  model_->hessian(theta_, set_.batch(), h);
  EXPECT_LT((h - h.transpose()).norm(), 1e-12 * h.norm());
  testing::expect_hessian_columns_match_central_differences(*model_, theta_, set_.batch(), h);
  // Hessian-vector products along random directions against central differences of the
  // gradient along them (not against the dense Hessian: both come from the same product code),
  // with the columns' step and tolerance: the loss is a quartic in theta, so central differences
  // err by O(eps^2) ~ 1e-10 times its fourth derivative, plus rounding ~ 1e-16 / eps.
  Stream s(3, 3, Purpose::init);
  Vector v(model_->dim());
  for (int trial = 0; trial < 4; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    for (Index i = 0; i < v.size(); ++i) v[i] = s.normal();
    v.normalize();  // the columns' step, along v
    testing::expect_hessian_vector_matches_central_differences(*model_, theta_, set_.batch(), v);
  }
}

TEST_P(Linear2Test, LossIsInvariantAlongTheSymmetryAndGradientIsOrthogonalToIt) {
  const Shape s = GetParam();
  Stream rs(4, 4, Purpose::init);
  Matrix m(s.h, s.h);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rs.normal();
  m = (0.5 * (m + m.transpose())).eval();  // any symmetric generator
  const Matrix e = (0.3 * m).exp();
  const Matrix e_inv = (-0.3 * m).exp();
  Vector moved(model_->dim());
  Eigen::Map<Matrix>(moved.data(), s.dy, s.h) = model_->u(theta_) * e;
  Eigen::Map<Matrix>(moved.data() + s.dy * s.h, s.h, s.dx) = e_inv * model_->w(theta_);
  const double l0 = model_->loss(theta_, set_.batch());
  EXPECT_NEAR(model_->loss(moved, set_.batch()), l0, 1e-12 * std::max(1.0, l0));

  // d/dl at l = 0 of the orbit is (U M, -M W): the gradient of every batch is orthogonal to it.
  Vector tangent(model_->dim());
  Eigen::Map<Matrix>(tangent.data(), s.dy, s.h) = model_->u(theta_) * m;
  Eigen::Map<Matrix>(tangent.data() + s.dy * s.h, s.h, s.dx) = -m * model_->w(theta_);
  Vector grad(model_->dim());
  model_->loss_grad(theta_, set_.batch(), grad);
  EXPECT_NEAR(grad.dot(tangent), 0.0, 1e-12 * grad.norm() * tangent.norm());
}

TEST_P(Linear2Test, ConservedSpectrumIsDescendingEigenvaluesOfD) {
  Vector spec;
  model_->conserved(theta_, spec);
  const Matrix d = model_->conserved_matrix(theta_);
  ASSERT_EQ(spec.size(), GetParam().h);
  for (Index i = 1; i < spec.size(); ++i) EXPECT_GE(spec[i - 1], spec[i]);
  EXPECT_NEAR(spec.sum(), d.trace(), 1e-12 * (1 + d.norm()));
  EXPECT_NEAR(spec.squaredNorm(), d.squaredNorm(), 1e-12 * (1 + d.squaredNorm()));
}

// D_{k+1} = D_k + eta^2 (W G^T G W^T - U^T G G^T U), exactly, for every SGD step (gamma = 0).
TEST_P(Linear2Test, DiscreteIdentityOfDHoldsOverAThousandSgdSteps) {
  const Shape s = GetParam();
  DataSpec ds;
  ds.dx = s.dx;
  ds.dy = s.dy;
  ds.noise_var = 0.2;
  Stream data(5, 1, Purpose::data);
  const SampleSet set = Teacher(ds).sample(data, 32);
  OptimizerSpec opt;
  opt.eta = 0.05;
  opt.batch = 4;
  BatchSource batches(set, opt.batch, Stream(5, 1, Purpose::batches));
  // The identity needs G of the very batch the step uses: replay the same batch stream.
  BatchSource replay(set, opt.batch, Stream(5, 1, Purpose::batches));
  Sgd sgd(*model_, batches, opt);

  double worst = 0;
  for (int k = 0; k < 1000; ++k) {
    const Matrix d0 = model_->conserved_matrix(theta_);
    const Matrix u = model_->u(theta_), w = model_->w(theta_);
    const Matrix g = residual_moment(u, w, replay.next());
    sgd.step(theta_);
    const Matrix predicted =
        d0 + opt.eta * opt.eta *
                 (w * g.transpose() * g * w.transpose() - u.transpose() * g * g.transpose() * u);
    const Matrix actual = model_->conserved_matrix(theta_);
    // Relative to the size of the terms that cancel in D.
    const double scale = (u.transpose() * u).norm() + (w * w.transpose()).norm();
    worst = std::max(worst, (actual - predicted).norm() / scale);
  }
  EXPECT_LT(worst, 1e-12);
}

TEST_P(Linear2Test, FastPerSampleGradientsGeneratorFormsAndHessianOperatorEqualTheGenericOnes) {
  // At random theta (three draws) and both layers' penalties on or off.
  const Shape z = GetParam();
  Stream s(11, static_cast<std::uint64_t>(z.dx * 100 + z.h * 10 + z.dy), Purpose::data);
  DataSpec ds;
  ds.dx = z.dx;
  ds.dy = z.dy;
  ds.x_decay = 0.6;
  ds.noise_var = 0.2;
  const SampleSet other = Teacher(ds).sample(s, 4);
  for (int draw = 0; draw < 3; ++draw) {
    Linear2::Options o;
    if (draw > 0) {
      o.layer_decay = 0.3;
      o.decay_layer = draw - 1;
      o.break_strength = draw == 1 ? 0.2 : 0.0;
    }
    Linear2 model(z.dx, z.h, z.dy, 1.0, 1.5, o);
    Vector theta(model.dim());
    for (Index i = 0; i < theta.size(); ++i) theta[i] = (1.0 + draw) * s.normal();
    testing::expect_fast_paths_match_generic(model, theta, set_.batch(), other.batch(), s);
    // The online reference set of a diagonal teacher: a diagonal Sxx (the operator's scaling).
    const SampleSet reference = Teacher(ds).reference_set();
    const Matrix sxx = reference.x.transpose() * reference.x;
    ASSERT_EQ((sxx - Matrix(sxx.diagonal().asDiagonal())).cwiseAbs().maxCoeff(), 0.0);
    testing::expect_fast_paths_match_generic(model, theta, reference.batch(), other.batch(), s);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Linear2Test,
                         ::testing::Values(Shape{1, 1, 1}, Shape{3, 2, 4}, Shape{4, 4, 2},
                                           Shape{2, 5, 3}),
                         [](const ::testing::TestParamInfo<Shape>& p) {
                           return "dx" + std::to_string(p.param.dx) + "_h" +
                                  std::to_string(p.param.h) + "_dy" + std::to_string(p.param.dy);
                         });

// The scalar model u*w: u^2 - w^2 <- (1 - eta^2 G^2)(u^2 - w^2) exactly (README, The science §2,
// table).
TEST(Linear2Scalar, RescalingContractsExactly) {
  Linear2 model(1, 1, 1, 1, 1);
  Vector theta(2);
  theta << 1.7, 0.4;
  DataSpec ds;
  ds.noise_var = 0.5;
  Stream data(2, 2, Purpose::data);
  const SampleSet set = Teacher(ds).sample(data, 16);
  OptimizerSpec opt;
  opt.eta = 0.1;
  opt.batch = 3;
  BatchSource batches(set, opt.batch, Stream(2, 2, Purpose::batches));
  BatchSource replay(set, opt.batch, Stream(2, 2, Purpose::batches));
  Sgd sgd(model, batches, opt);
  for (int k = 0; k < 200; ++k) {
    const double c0 = theta[0] * theta[0] - theta[1] * theta[1];
    const Matrix u = model.u(theta), w = model.w(theta);
    const double g = residual_moment(u, w, replay.next())(0, 0);
    sgd.step(theta);
    const double c1 = theta[0] * theta[0] - theta[1] * theta[1];
    ASSERT_NEAR(c1, (1 - opt.eta * opt.eta * g * g) * c0, 1e-14 * (theta.squaredNorm() + 1));
  }
}

// The loop kernels of small shapes (Linear2::forward_small, gradient_small) against Eigen's
// products (Options::small_kernels = false), on random shapes, parameters and batches, the batch
// a strided view: the same loss and gradient bit for bit wherever no element is exactly zero,
// and equal values (a zero's sign may differ) at theta = 0.
bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

TEST(Linear2Kernels, SmallShapesGiveTheBitsOfEigensProducts) {
  Stream pick(21, 0, Purpose::data);
  Linear2::Options eigen_only;
  eigen_only.small_kernels = false;
  int compared = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const auto dim = [&](int n) { return 1 + static_cast<Index>(pick.below(n)); };
    const Index dx = dim(9), h = dim(9), dy = dim(9), s = dim(trial % 4 == 0 ? 40 : 12);
    Linear2 fast(dx, h, dy, 1, 1), general(dx, h, dy, 1, 1, eigen_only);
    const double scale = std::ldexp(1.0, static_cast<int>(pick.below(20)) - 10);
    Vector theta(fast.dim());
    for (Index i = 0; i < theta.size(); ++i) theta[i] = scale * pick.normal();
    if (trial % 10 == 9) theta.setZero();
    // A batch inside a wider matrix: its rows' stride differs from dx (and dy).
    RowMatrix xb(s, dx + 3), yb(s, dy + 2);
    for (Index i = 0; i < xb.size(); ++i) xb.data()[i] = pick.normal();
    for (Index i = 0; i < yb.size(); ++i) yb.data()[i] = pick.normal();
    const Batch batch{xb.middleCols(1, dx), yb.middleCols(2, dy)};
    Vector gf = Vector::Constant(fast.dim(), 7.0), gg = Vector::Constant(fast.dim(), 8.0);
    const double lf = fast.loss_grad(theta, batch, gf), lg = general.loss_grad(theta, batch, gg);
    const double l2 = fast.loss(theta, batch);
    if (theta.isZero()) {
      ASSERT_EQ(lf, lg);
      for (Index i = 0; i < gf.size(); ++i) ASSERT_EQ(gf[i], gg[i]) << i;
      continue;
    }
    ASSERT_TRUE(same_bits(lf, lg)) << dx << " " << h << " " << dy << " S=" << s;
    ASSERT_TRUE(same_bits(l2, lg));
    for (Index i = 0; i < gf.size(); ++i) {
      ASSERT_TRUE(same_bits(gf[i], gg[i])) << dx << " " << h << " " << dy << " S=" << s
                                           << " element " << i << ": " << gf[i] << " vs " << gg[i];
    }
    ++compared;
  }
  EXPECT_GT(compared, 300);
}

// The loop kernels of medium shapes (Linear2::forward_medium, gradient_medium) against Eigen's
// products (Options::medium_kernels = false), on random medium shapes (both gradient forms),
// parameters and strided batches: the same loss and gradient to 1e-13 relative (the sums are
// ordered otherwise); loss() gives loss_grad's loss bit for bit; and no allocation once warm.
TEST(Linear2Kernels, MediumShapesMatchEigensProducts) {
  Stream pick(23, 0, Purpose::data);
  Linear2::Options eigen_only;
  eigen_only.medium_kernels = false;
  int compared = 0, backprop = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const auto dim = [&](int n) { return 1 + static_cast<Index>(pick.below(n)); };
    const Index dx = dim(32), h = dim(32), dy = dim(32);
    const Index s = dim(trial % 3 == 0 ? 64 : 8);
    Linear2 fast(dx, h, dy, 1, 1), general(dx, h, dy, 1, 1, eigen_only);
    if (!fast.medium_products_for_tests(s)) continue;
    const double scale = std::ldexp(1.0, static_cast<int>(pick.below(20)) - 10);
    Vector theta(fast.dim());
    for (Index i = 0; i < theta.size(); ++i) theta[i] = scale * pick.normal();
    RowMatrix xb(s, dx + 3), yb(s, dy + 2);
    for (Index i = 0; i < xb.size(); ++i) xb.data()[i] = pick.normal();
    for (Index i = 0; i < yb.size(); ++i) yb.data()[i] = pick.normal();
    const Batch batch{xb.middleCols(1, dx), yb.middleCols(2, dy)};
    Vector gf = Vector::Constant(fast.dim(), 7.0), gg = Vector::Constant(fast.dim(), 8.0);
    const double lf = fast.loss_grad(theta, batch, gf), lg = general.loss_grad(theta, batch, gg);
    ASSERT_TRUE(same_bits(fast.loss(theta, batch), lf));
    ASSERT_LE(std::abs(lf - lg), 1e-13 * std::abs(lg)) << dx << " " << h << " " << dy << " S=" << s;
    // Each element to 1e-13 of the sum of its terms' magnitudes, bounded by the norms here.
    const double bound = 1e-13 * gg.cwiseAbs().maxCoeff();
    ASSERT_LE((gf - gg).cwiseAbs().maxCoeff(), bound) << dx << " " << h << " " << dy << " S=" << s;
    ASSERT_LE((gf - gg).norm(), 1e-13 * gg.norm());
    if (testing::kCountingSeesEverything && compared % 20 == 0) {
      testing::start_counting_allocations();
      fast.loss_grad(theta, batch, gf);
      fast.loss(theta, batch);
      EXPECT_EQ(testing::stop_counting_allocations(), 0) << dx << " " << h << " " << dy;
    }
    backprop += fast.backprop_form_for_tests(s) ? 1 : 0;
    ++compared;
  }
  EXPECT_GT(compared, 200);
  EXPECT_GT(backprop, 10);
  EXPECT_LT(backprop, compared - 10);
}

// Every gradient form loss_grad chooses by shape (the loop kernels, backpropagation, the G form)
// against the gradient built here from G = (1/S) sum_s r_s x_s^T: dL/dU = G W^T, dL/dW = U^T G,
// to rounding; the loss is loss()'s, bit for bit.
TEST(Linear2Kernels, EveryGradientFormMatchesTheResidualMoment) {
  Stream pick(22, 0, Purpose::data);
  for (int trial = 0; trial < 150; ++trial) {
    const auto dim = [&](int n) { return 1 + static_cast<Index>(pick.below(n)); };
    const Index dx = dim(40), h = dim(40), dy = dim(40), s = dim(trial % 3 == 0 ? 80 : 8);
    Linear2 model(dx, h, dy, 1, 1);
    Vector theta(model.dim());
    for (Index i = 0; i < theta.size(); ++i) theta[i] = pick.normal();
    RowMatrix x(s, dx), y(s, dy);
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = pick.normal();
    for (Index i = 0; i < y.size(); ++i) y.data()[i] = pick.normal();
    const Batch batch{x, y};
    Vector grad(model.dim());
    const double l = model.loss_grad(theta, batch, grad);
    ASSERT_TRUE(same_bits(l, model.loss(theta, batch)));
    const Matrix u = model.u(theta), w = model.w(theta);
    const Matrix g = residual_moment(u, w, batch);
    Vector expected(model.dim());
    Eigen::Map<Matrix>(expected.data(), dy, h) = g * w.transpose();
    Eigen::Map<Matrix>(expected.data() + dy * h, h, dx) = u.transpose() * g;
    const double scale = (u.norm() + w.norm()) * (g.norm() + 1) * std::sqrt(double(dx * h * dy));
    ASSERT_LE((grad - expected).cwiseAbs().maxCoeff(), 1e-14 * scale)
        << dx << " " << h << " " << dy << " S=" << s;
  }
}

// ------------------------------------------------------------------ sharpness at the two ends
/// A random problem: Sigma_x and Sigma_eps positive definite (Sigma_eps = sigma I when
/// isotropic), V of rank r, and a reference set whose second moments are exactly these.
struct Problem {
  Matrix sigma_x, v, sigma_eps;
  SampleSet ref;
};

Matrix random_matrix(Stream& s, Index rows, Index cols) {
  Matrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = s.normal();
  return m;
}

Problem random_problem(Stream& s, Index dx, Index dy, Index r, bool isotropic_noise) {
  Problem p;
  const Matrix ax = random_matrix(s, dx, dx), ae = random_matrix(s, dy, dy);
  p.sigma_x = ax * ax.transpose() / static_cast<double>(dx) + 0.2 * Matrix::Identity(dx, dx);
  p.sigma_eps =
      isotropic_noise
          ? Matrix(0.7 * Matrix::Identity(dy, dy))
          : Matrix(ae * ae.transpose() / static_cast<double>(dy) + 0.05 * Matrix::Identity(dy, dy));
  p.v = random_matrix(s, dy, r) * random_matrix(s, r, dx) / std::sqrt(static_cast<double>(r));
  // Rows sqrt(m) Lx^T (labels V x) and sqrt(m) Le^T (inputs 0): E x x^T = Sigma_x,
  // E y x^T = V Sigma_x, E y y^T = V Sigma_x V^T + Sigma_eps.
  const Index m = dx + dy;
  const Matrix lx = p.sigma_x.llt().matrixL(), le = p.sigma_eps.llt().matrixL();
  p.ref = SampleSet{RowMatrix::Zero(m, dx), RowMatrix::Zero(m, dy)};
  p.ref.x.topRows(dx) = std::sqrt(static_cast<double>(m)) * lx.transpose();
  p.ref.y.topRows(dx) = p.ref.x.topRows(dx) * p.v.transpose();
  p.ref.y.bottomRows(dy) = std::sqrt(static_cast<double>(m)) * le.transpose();
  return p;
}

/// Tr of the model's dense Hessian of the full objective at theta (an independent computation:
/// Hessian-vector products column by column, not the closed form).
double dense_trace(Linear2& model, const Vector& theta, const Batch& full) {
  Matrix hess;
  model.hessian(theta, full, hess);
  return hess.trace();
}

// The predicted noise equilibrium is a minimum (U W = V) in noise balance (W Sx W^T / Tr Sx =
// U^T Se U / Tr Se), its spectrum is eq_predicted's, its Tr H (the field's closed form) is the
// dense Hessian's trace there and the header's k^2 dy Tr S + k^-2 Tr Sx Tr(...), and with
// isotropic label noise no point of its symmetry orbit has a smaller Tr H.
TEST(Linear2Sharpness, NoiseEquilibriumPointIsABalancedMinimumWithTheDenseHessiansTrace) {
  Stream s(31, 0, Purpose::data);
  int isotropic_minimal = 0, anisotropic_lower = 0;
  for (int trial = 0; trial < 24; ++trial) {
    const Index dx = 1 + static_cast<Index>(s.below(4)), dy = 1 + static_cast<Index>(s.below(4));
    const Index r = 1 + static_cast<Index>(s.below(static_cast<std::uint64_t>(std::min(dx, dy))));
    const Index h = r + static_cast<Index>(s.below(2));  // rank V, or one more
    const bool isotropic = trial % 2 == 0;
    const Problem p = random_problem(s, dx, dy, r, isotropic);
    Vector theta;
    ASSERT_TRUE(Linear2::noise_equilibrium_point(p.sigma_x, p.v, p.sigma_eps, h, theta));
    Linear2 model(dx, h, dy, 1, 1);
    ASSERT_EQ(theta.size(), model.dim());
    const Matrix u = model.u(theta), w = model.w(theta);
    const double scale = p.v.norm() + 1;
    EXPECT_LT((u * w - p.v).norm(), 1e-10 * scale) << trial;
    const Matrix lhs = w * p.sigma_x * w.transpose() / p.sigma_x.trace();
    const Matrix rhs = u.transpose() * p.sigma_eps * u / p.sigma_eps.trace();
    EXPECT_LT((lhs - rhs).norm(), 1e-10 * (lhs.norm() + 1)) << trial;
    const Vector spectrum =
        Eigen::SelfAdjointEigenSolver<Matrix>(lhs).eigenvalues().reverse();  // descending
    const Vector predicted = Linear2::predicted_spectrum(p.sigma_x, p.v, p.sigma_eps, h);
    EXPECT_LT((spectrum - predicted).norm(), 1e-10 * (predicted.norm() + 1)) << trial;
    // Tr H: the closed form against the dense Hessian of the reference set at theta.
    const double closed = Linear2::moment_hessian_trace(p.sigma_x, dy, h, theta);
    EXPECT_NEAR(closed, dense_trace(model, theta, p.ref.batch()), 1e-10 * closed) << trial;
    // The header's formula, from the SVD of M = Se^{1/2} V Sx^{1/2} computed here.
    Eigen::SelfAdjointEigenSolver<Matrix> ex(p.sigma_x), ee(p.sigma_eps);
    const Matrix a = ex.operatorSqrt(), b = ee.operatorSqrt();
    Eigen::JacobiSVD<Matrix> svd(b * p.v * a, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Vector sv = svd.singularValues().head(r);
    const Matrix q = svd.matrixV().leftCols(r);
    const double k2 = std::sqrt(p.sigma_x.trace() / p.sigma_eps.trace());
    const Matrix inner = sv.cwiseSqrt().cwiseInverse().asDiagonal() * q.transpose() * a *
                         p.v.transpose() * p.v * a * q * sv.cwiseSqrt().cwiseInverse().asDiagonal();
    const double formula =
        k2 * static_cast<double>(dy) * sv.sum() + p.sigma_x.trace() * inner.trace() / k2;
    EXPECT_NEAR(closed, formula, 1e-10 * closed) << trial;
    // Along the orbit (U G^{-1}, G W), G = e^{t Z} for random Z: with isotropic noise every
    // such point is at least as sharp; with anisotropic noise some direction is flatter (the
    // first-order change of Tr H along symmetric Z is nonzero unless the balance is Tr H's).
    bool lower = false;
    for (int dir = 0; dir < 12; ++dir) {
      const Matrix z = random_matrix(s, h, h);
      for (const double t : {-0.05, 0.05}) {
        const Matrix g = (t * z).exp();
        Vector moved(theta.size());
        Eigen::Map<Matrix>(moved.data(), dy, h) = u * g.inverse();
        Eigen::Map<Matrix>(moved.data() + dy * h, h, dx) = g * w;
        const double other = Linear2::moment_hessian_trace(p.sigma_x, dy, h, moved);
        if (isotropic) {
          EXPECT_GE(other, closed * (1 - 1e-12)) << trial;
        }
        lower = lower || other < closed * (1 - 1e-6);
      }
    }
    if (isotropic) ++isotropic_minimal;
    if (!isotropic && lower) ++anisotropic_lower;
  }
  EXPECT_EQ(isotropic_minimal, 12);
  // (A random anisotropic case may sit close to Tr H's balance: dy = 1 makes Sigma_eps a scalar,
  // and a Rayleigh quotient of V's columns near Tr Sigma_eps / dy does too.)
  EXPECT_GE(anisotropic_lower, 6);
}

// The signs of the sweep's figure (jobs/sweeps/sharpening.ini): V = I, both ends on one orbit
// (GL(h), h = rank V). Anisotropic label noise alone makes the noise equilibrium sharper than
// the balanced minimum, anisotropic data alone flatter, the same anisotropy in both neither.
TEST(Linear2Sharpness, NoiseAnisotropySharpensAndDataAnisotropyFlattens) {
  const Matrix v = Matrix::Identity(2, 2);
  const auto diag = [](double a, double b) { return Matrix(Eigen::Vector2d(a, b).asDiagonal()); };
  const auto ratio = [&](const Matrix& sx, const Matrix& se) {
    Vector eq, balanced;
    EXPECT_TRUE(Linear2::noise_equilibrium_point(sx, v, se, 2, eq));
    EXPECT_TRUE(Linear2::balanced_minimum_point(v, 2, balanced));
    return Linear2::moment_hessian_trace(sx, 2, 2, eq) /
           Linear2::moment_hessian_trace(sx, 2, 2, balanced);
  };
  EXPECT_NEAR(ratio(diag(1, 1), diag(1, 1)), 1.0, 1e-12);
  EXPECT_NEAR(ratio(diag(1, 0.1), diag(1, 0.1)), 1.0, 1e-12);
  double last = 1.0;
  for (const double decay : {0.3, 0.1, 0.03, 0.01}) {
    const double sharper = ratio(diag(1, 1), diag(1, decay));
    const double flatter = ratio(diag(1, decay), diag(1, 1));
    EXPECT_GT(sharper, last) << decay;  // sharper the more anisotropic the noise
    EXPECT_LT(flatter, 1.0) << decay;
    last = sharper;
  }
}

// The balanced minimum is a minimum with U^T U = W W^T, and gradient descent at a small step from
// a small (near-balanced) start ends there: its dense Hessian's trace is the prediction's, to the
// start's imbalance.
TEST(Linear2Sharpness, GradientDescentFromASmallStartEndsAtTheBalancedMinimum) {
  Stream s(32, 0, Purpose::data);
  for (int trial = 0; trial < 6; ++trial) {
    const Index dx = 2 + static_cast<Index>(s.below(2)), dy = 2 + static_cast<Index>(s.below(2));
    const Index r = 2, h = 2 + static_cast<Index>(s.below(2));
    const Problem p = random_problem(s, dx, dy, r, trial % 2 == 0);
    Vector balanced;
    ASSERT_TRUE(Linear2::balanced_minimum_point(p.v, h, balanced));
    Linear2 model(dx, h, dy, 1e-3, 1e-3);
    const Matrix u = model.u(balanced), w = model.w(balanced);
    EXPECT_LT((u * w - p.v).norm(), 1e-10 * p.v.norm());
    EXPECT_LT((u.transpose() * u - w * w.transpose()).norm(), 1e-10 * p.v.norm());
    const double predicted = Linear2::moment_hessian_trace(p.sigma_x, dy, h, balanced);
    EXPECT_NEAR(predicted, dense_trace(model, balanced, p.ref.batch()), 1e-10 * predicted);

    Stream init(32, static_cast<std::uint64_t>(trial), Purpose::init);
    Vector theta;
    model.initialize(init, theta);
    const Batch full = p.ref.batch();
    model.reserve(full.size());
    Vector grad(model.dim());
    const double eta = 0.2 / dense_trace(model, balanced, full);  // well below 2 / lambda_max
    int steps = 0;
    for (; steps < 400000; ++steps) {
      model.loss_grad(theta, full, grad);
      if (grad.norm() < 1e-11) break;
      theta -= eta * grad;
    }
    ASSERT_LT(steps, 400000) << trial;
    const double measured = dense_trace(model, theta, full);
    EXPECT_NEAR(measured, predicted, 1e-3 * predicted) << trial << " after " << steps;
  }
}

// Where the points do not exist the functions say so: rank V > h (no minimum U W = V), and
// rank M < h with singular label noise (U's weight on the empty directions is not fixed).
TEST(Linear2Sharpness, PointsThatDoNotExistAreRefused) {
  Stream s(33, 0, Purpose::data);
  Problem p = random_problem(s, 3, 3, 3, false);
  Vector theta;
  EXPECT_FALSE(Linear2::balanced_minimum_point(p.v, 2, theta));
  EXPECT_FALSE(Linear2::noise_equilibrium_point(p.sigma_x, p.v, p.sigma_eps, 2, theta));
  EXPECT_TRUE(Linear2::noise_equilibrium_point(p.sigma_x, p.v, p.sigma_eps, 3, theta));
  p = random_problem(s, 3, 3, 2, false);
  Matrix singular = p.sigma_eps;
  const Vector e0 = Eigen::SelfAdjointEigenSolver<Matrix>(singular).eigenvectors().col(0);
  singular -= Eigen::SelfAdjointEigenSolver<Matrix>(singular).eigenvalues()[0] * e0 *
              e0.transpose();  // rank 2, still rank M = 2 generically
  EXPECT_TRUE(Linear2::noise_equilibrium_point(p.sigma_x, p.v, singular, 2, theta));
  EXPECT_FALSE(Linear2::noise_equilibrium_point(p.sigma_x, p.v, singular, 3, theta));
  EXPECT_TRUE(Linear2::noise_equilibrium_point(p.sigma_x, p.v, p.sigma_eps, 3, theta));
  EXPECT_FALSE(Linear2::noise_equilibrium_point(p.sigma_x, p.v, Matrix::Zero(3, 3), 2, theta));
}

}  // namespace
}  // namespace symsweep
