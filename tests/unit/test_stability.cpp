// The poly model's exact derivatives, the finite-difference T[v,v] and Q[v^4] on a non-polynomial
// loss, lambda_max (dense and Lanczos) against the dense solver and closed forms, the stability
// checks at x* (eta_gd, K, the predicted 2-cycle, the basin radius, a repeated top, Newton at any
// scale of the loss) against hand-derived values, and the orbits GD settles on (the
// classification of a run's end: test_classify.cpp).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <Eigen/QR>

#include "../common/point_values.hpp"
#include "symsweep/cancel.hpp"
#include "symsweep/data.hpp"
#include "symsweep/eigen_solvers.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/models/poly.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/stability.hpp"

namespace symsweep {
namespace {

/// One GD run of the poly model; the values of its stored fields by name.
struct GdRun : testing::SimulatedPoint {
  explicit GdRun(const std::vector<std::string>& sets)
      : SimulatedPoint(
            "[model]\nname = poly\n[data]\nn = 1\n[optimizer]\nbatch = 1\n"
            "steps = 20000\ntol = 1e-13\ncheck_every = 10\n",
            sets) {}
  bool is_nan_vector(const char* name) const {  // every "coord" of a vector field is NaN
    for (std::size_t i = 0; i < 8; ++i) {
      if (!std::isnan(real(name, i))) return false;
    }
    return true;
  }
};

// ---------------------------------------------------------------------------------- the model
/// A random polynomial of degree 4 in 3 variables over 2 samples, and a batch of both samples.
struct RandomPoly {
  RandomPoly() {
    Stream s(11, 22, Purpose::data);
    std::vector<Monomial> ms;
    for (int k = 0; k < 30; ++k) {
      Monomial m;
      m.sample = static_cast<Index>(s.below(2));
      m.coef = s.normal();
      m.degree = 1 + static_cast<int>(s.below(4));
      for (int a = 0; a < m.degree; ++a) {
        m.idx[static_cast<std::size_t>(a)] = static_cast<Index>(s.below(3));
      }
      ms.push_back(m);
    }
    model = std::make_unique<Poly>(3, 2, ms, Vector::Zero(3));
    model->own_data(x, y);
    for (int i = 0; i < 3; ++i) theta[i] = s.normal() * 0.7;
    for (int i = 0; i < 3; ++i) v[i] = s.normal();
    v.normalize();
  }
  Batch batch() const { return Batch{x, y}; }
  std::unique_ptr<Poly> model;
  RowMatrix x, y;
  Vector theta = Vector::Zero(3), v = Vector::Zero(3);
};

TEST(Poly, GradientHessianAndHigherDerivativesAgreeWithFiniteDifferences) {
  RandomPoly p;
  Vector g(3), gp(3), gm(3);
  p.model->loss_grad(p.theta, p.batch(), g);
  const double h = 1e-6;
  for (int i = 0; i < 3; ++i) {  // gradient: central differences of the loss
    Vector e = Vector::Zero(3);
    e[i] = h;
    const double fd =
        (p.model->loss(p.theta + e, p.batch()) - p.model->loss(p.theta - e, p.batch())) / (2 * h);
    EXPECT_NEAR(g[i], fd, 1e-7 * (1 + std::fabs(fd))) << i;
  }
  Matrix hess;
  p.model->hessian(p.theta, p.batch(), hess);
  EXPECT_LT((hess - hess.transpose()).norm(), 1e-14);
  for (int i = 0; i < 3; ++i) {  // Hessian: differences of the gradient
    Vector e = Vector::Zero(3);
    e[i] = h;
    p.model->loss_grad(p.theta + e, p.batch(), gp);
    p.model->loss_grad(p.theta - e, p.batch(), gm);
    const Vector fd = (gp - gm) / (2 * h);
    EXPECT_LT((hess.col(i) - fd).norm(), 1e-6 * (1 + fd.norm())) << i;
  }
  Vector hv;
  p.model->hessian_vector(p.theta, p.batch(), p.v, hv);
  EXPECT_LT((hv - hess * p.v).norm(), 1e-13 * (1 + hv.norm()));
  // T[v, v] and Q[v, v, v, v]: second differences of Hessian-vector products along v.
  Vector t_vv;
  double q = 0;
  ASSERT_TRUE(p.model->directional_derivatives(p.theta, p.batch(), p.v, t_vv, q));
  const double s = 1e-3;
  Vector hp, hm, h0;
  p.model->hessian_vector(p.theta + s * p.v, p.batch(), p.v, hp);
  p.model->hessian_vector(p.theta - s * p.v, p.batch(), p.v, hm);
  p.model->hessian_vector(p.theta, p.batch(), p.v, h0);
  // d/ds H(theta + s v) v = T[., v, v]; d2/ds2 v^T H(theta + s v) v = Q[v, v, v, v].
  const Vector fd_t = (hp - hm) / (2 * s);
  const double fd_q = p.v.dot(hp - 2 * h0 + hm) / (s * s);
  EXPECT_LT((t_vv - fd_t).norm(), 1e-5 * (1 + t_vv.norm()));
  EXPECT_NEAR(q, fd_q, 1e-5 * (1 + std::fabs(q)));
}

TEST(Poly, FiniteDifferencesOfHessianVectorProductsMatchTheExactHigherDerivatives) {
  // Every model without exact ones gets T[v, v] and Q[v^4] from Model's default: check it on
  // poly, whose exact values are known.
  RandomPoly p;
  Vector exact_t, fd_t;
  double exact_q = 0, fd_q = 0;
  ASSERT_TRUE(p.model->directional_derivatives(p.theta, p.batch(), p.v, exact_t, exact_q));
  ASSERT_TRUE(p.model->Model::directional_derivatives(p.theta, p.batch(), p.v, fd_t, fd_q));
  EXPECT_LT((fd_t - exact_t).norm(), 1e-5 * (1 + exact_t.norm()));
  EXPECT_NEAR(fd_q, exact_q, 1e-5 * (1 + std::fabs(exact_q)));
  EXPECT_TRUE(p.model->exact_derivatives());
}

/// A non-polynomial loss with hand-derived derivatives of every order (no data):
///     L(theta) = sum_j a_j exp(b_j theta_j) + c tanh(u . theta).
/// With e_j = a_j exp(b_j theta_j), s = tanh(z), z = u . theta, p = u . v and the derivatives of
/// tanh s' = 1 - s^2, s'' = -2 s s', s''' = s' (6 s^2 - 2), s'''' = s s' (16 - 24 s^2):
///     grad_j = b_j e_j + c s' u_j,          (H v)_j = b_j^2 e_j v_j + c s'' p u_j,
///     T[v, v]_j = b_j^3 e_j v_j^2 + c s''' p^2 u_j,   Q[v^4] = sum_j b_j^4 e_j v_j^4 + c s''''
///     p^4.
/// Its Hessian-vector product is exact, so Model's finite differences of it are what is tested.
class ExpTanh final : public Model {
 public:
  explicit ExpTanh(Index d) : Model(ModelShape{}), a_(d), b_(d), u_(d) {
    Stream s(3, 4, Purpose::data);
    for (Index j = 0; j < d; ++j) {
      a_[j] = 0.5 + std::fabs(s.normal());
      b_[j] = s.normal();
      u_[j] = s.normal();
    }
  }
  Index dim() const override { return a_.size(); }
  Index input_dim() const override { return 1; }
  Index output_dim() const override { return 1; }
  void reserve(Index /*max_batch*/) override {}
  void initialize(NormalSource& normal, Vector& theta) const override {
    theta.resize(dim());
    for (Index j = 0; j < dim(); ++j) theta[j] = normal.normal();
  }
  double loss(const Vector& theta, const Batch& /*batch*/) override {
    return exps(theta).sum() + c_ * std::tanh(u_.dot(theta));
  }
  double loss_grad(const Vector& theta, const Batch& batch, Vector& grad) override {
    const double s = std::tanh(u_.dot(theta));
    grad = b_.cwiseProduct(exps(theta)) + c_ * (1 - s * s) * u_;
    return loss(theta, batch);
  }
  void hessian_vector(const Vector& theta, const Batch& /*batch*/, const Vector& v,
                      Vector& out) override {
    const double s = std::tanh(u_.dot(theta)), s1 = 1 - s * s;
    out = b_.array().square().matrix().cwiseProduct(exps(theta)).cwiseProduct(v) +
          c_ * (-2 * s * s1) * u_.dot(v) * u_;
  }
  /// The hand-derived T[v, v] and Q[v^4] above.
  void exact(const Vector& theta, const Vector& v, Vector& t_vv, double& q) const {
    const double s = std::tanh(u_.dot(theta)), s1 = 1 - s * s, p = u_.dot(v);
    const Vector e = exps(theta);
    t_vv = b_.array().cube().matrix().cwiseProduct(e).cwiseProduct(v.cwiseAbs2()) +
           c_ * s1 * (6 * s * s - 2) * p * p * u_;
    q = (b_.array().square().square() * e.array() * v.array().square().square()).sum() +
        c_ * s * s1 * (16 - 24 * s * s) * p * p * p * p;
  }

 private:
  Vector exps(const Vector& theta) const {
    return a_.cwiseProduct((b_.cwiseProduct(theta)).array().exp().matrix());
  }
  Vector a_, b_, u_;
  double c_ = 1.7;
};

TEST(FiniteDifferences, HigherDerivativesOfANonPolynomialLossMatchTheHandDerivedOnes) {
  // Central differences of a quartic are exact, so poly alone cannot catch a bad step: on exp and
  // tanh the default's O(h^2) truncation (h = 1e-3 (1 + |theta|_inf)) and its rounding
  // (~1e-16 |Hv| / h^2 in Q) are both visible. 1e-5 relative: the truncation is ~1e-7 of the
  // fifth and sixth derivatives, which reach ~10^2 here; a step 30x larger (truncation) or 1000x
  // smaller (rounding) fails.
  for (std::uint64_t trial = 0; trial < 20; ++trial) {
    ExpTanh model(5);
    Stream s(7, trial, Purpose::init);
    Vector theta(5), v(5);
    for (Index j = 0; j < 5; ++j) theta[j] = 0.8 * s.normal();
    for (Index j = 0; j < 5; ++j) v[j] = s.normal();
    v.normalize();
    const RowMatrix none(1, 1);
    const Batch batch{none, none};
    // The hand-derived gradient and Hessian-vector product agree with differences of the loss
    // (so the reference below is the loss's own).
    Vector g, gp, gm, hv;
    model.loss_grad(theta, batch, g);
    model.hessian_vector(theta, batch, v, hv);
    const double h = 1e-5;
    EXPECT_NEAR(g.dot(v),
                (model.loss(theta + h * v, batch) - model.loss(theta - h * v, batch)) / (2 * h),
                1e-7 * (1 + g.norm()));
    model.loss_grad(theta + h * v, batch, gp);
    model.loss_grad(theta - h * v, batch, gm);
    EXPECT_LT((hv - (gp - gm) / (2 * h)).norm(), 1e-6 * (1 + hv.norm()));
    Vector exact_t, fd_t;
    double exact_q = 0, fd_q = 0;
    model.exact(theta, v, exact_t, exact_q);
    ASSERT_TRUE(model.Model::directional_derivatives(theta, batch, v, fd_t, fd_q));
    EXPECT_LT((fd_t - exact_t).norm(), 1e-5 * (1 + exact_t.norm())) << trial;
    EXPECT_NEAR(fd_q, exact_q, 1e-5 * (1 + std::fabs(exact_q))) << trial;
  }
}

// ----------------------------------------------------------------------- lambda_max, any size
/// The symmetric matrix U diag(lambda) U^T with orthogonal U: column 0 of U is the ones vector
/// (eigenvalue 0.5, in the bulk), so that the planted top eigenspace (the next `top` columns,
/// eigenvalue 3) is orthogonal to it; nearly_orthogonal tilts column 0 by 1e-12 towards the top
/// vector instead. The rest have eigenvalues uniform in [-2, 2.7]. A Krylov space started from
/// the ones vector is invariant (or nearly) and holds no top vector.
struct Planted {
  enum Kind { orthogonal, nearly_orthogonal, double_top, triple_top };
  Planted(Index d, Kind kind) {
    Stream s(static_cast<std::uint64_t>(d), static_cast<std::uint64_t>(kind), Purpose::data);
    Matrix g(d, d);
    for (Index i = 0; i < d; ++i) {
      for (Index j = 0; j < d; ++j) g(i, j) = s.normal();
    }
    top = kind == double_top ? 2 : kind == triple_top ? 3 : 1;
    g.col(0).setConstant(1.0);
    if (kind == nearly_orthogonal)
      g.col(0) += 1e-12 * std::sqrt(static_cast<double>(d)) * g.col(1).normalized();
    const Matrix u = Eigen::HouseholderQR<Matrix>(g).householderQ();
    Vector lambda(d);
    for (Index i = 0; i < d; ++i) {
      lambda[i] = i == 0 ? 0.5 : i <= top ? 3.0 : -2.0 + 4.7 * s.uniform();
    }
    h = u * lambda.asDiagonal() * u.transpose();
    h = (h + h.transpose()) / 2;
  }
  Index top = 1;
  Matrix h;
};

class TopEigenvalueProperty : public ::testing::TestWithParam<std::tuple<Index, Planted::Kind>> {};

TEST_P(TopEigenvalueProperty, LanczosFindsThePlantedTopAndItsMultiplicityAsTheDenseSolverDoes) {
  const auto [d, kind] = GetParam();
  const Planted p(d, kind);
  const Eigen::SelfAdjointEigenSolver<Matrix> dense(p.h);
  const double truth = dense.eigenvalues()[d - 1], second = dense.eigenvalues()[d - 2];
  Stream start(9, static_cast<std::uint64_t>(d), Purpose::lanczos);
  const TopEigen top = top_eigenvalue([&](const Vector& u, Vector& hu) { hu = p.h * u; }, d, start);
  ASSERT_TRUE(top.converged);
  EXPECT_NEAR(top.value, truth, 1e-9 * std::fabs(truth));
  EXPECT_NEAR(top.second, second, 1e-9 * std::fabs(truth));  // = truth when repeated
  if (p.top > 1) {
    EXPECT_NEAR(top.second, top.value, 1e-9 * std::fabs(truth));
  } else {
    EXPECT_LT(top.second, top.value - 0.01);
  }
  // The vector lies in the dense solver's top eigenspace (the eigenvalues within 1e-9 of it).
  Index in_top = 0;
  while (in_top < d && dense.eigenvalues()[d - 1 - in_top] > truth - 1e-9) ++in_top;
  EXPECT_EQ(in_top, p.top);
  const Matrix basis = dense.eigenvectors().rightCols(in_top);
  EXPECT_NEAR(top.vector.norm(), 1.0, 1e-12);
  EXPECT_NEAR((basis.transpose() * top.vector).norm(), 1.0, 1e-8);
}

std::string planted_name(const ::testing::TestParamInfo<std::tuple<Index, Planted::Kind>>& param) {
  static const char* const kinds[] = {"orthogonal", "nearly_orthogonal", "double_top",
                                      "triple_top"};
  return "d" + std::to_string(std::get<0>(param.param)) + "_" + kinds[std::get<1>(param.param)];
}

INSTANTIATE_TEST_SUITE_P(
    PlantedTops, TopEigenvalueProperty,
    ::testing::Combine(::testing::Values(Index{65}, Index{100}, Index{257}, Index{400}),
                       ::testing::Values(Planted::orthogonal, Planted::nearly_orthogonal,
                                         Planted::double_top, Planted::triple_top)),
    planted_name);

TEST_P(TopEigenvalueProperty, TheSharpnessTolerancesFindThePlantedTopToTheirStatedPrecision) {
  // kSharpnessTolerance (the stored sharpness): the value to r^2 / gap with r = 1e-6 scale, here
  // about 1e-12 relative (gap 0.3 of 3, scale ~3); the vector in the top eigenspace to about
  // r / gap; the verification never above the value (nothing missed), and lambda_2 to its own
  // tolerance 1e-2 (r'^2 / gap' < 1e-2 here).
  const auto [d, kind] = GetParam();
  const Planted p(d, kind);
  const Eigen::SelfAdjointEigenSolver<Matrix> dense(p.h);
  const double truth = dense.eigenvalues()[d - 1], second = dense.eigenvalues()[d - 2];
  Stream start(9, static_cast<std::uint64_t>(d), Purpose::lanczos);
  Index products = 0;
  const TopEigen top = top_eigenvalue(
      [&](const Vector& u, Vector& hu) {
        ++products;
        hu = p.h * u;
      },
      d, start, kSharpnessTolerance);
  ASSERT_TRUE(top.converged);
  EXPECT_EQ(top.products, products);
  EXPECT_NEAR(top.value, truth, 1e-10 * std::fabs(truth));
  EXPECT_LE(top.second, top.value + 1e-9 * std::fabs(truth));
  EXPECT_NEAR(top.second, second, 1e-2 * std::fabs(truth));
  Index in_top = 0;
  while (in_top < d && dense.eigenvalues()[d - 1 - in_top] > truth - 1e-9) ++in_top;
  const Matrix basis = dense.eigenvectors().rightCols(in_top);
  EXPECT_NEAR(top.vector.norm(), 1.0, 1e-12);
  EXPECT_NEAR((basis.transpose() * top.vector).norm(), 1.0, 1e-9);
  // Fewer products than at the default tolerances, from the same start.
  Stream again(9, static_cast<std::uint64_t>(d), Purpose::lanczos);
  const TopEigen tight =
      top_eigenvalue([&](const Vector& u, Vector& hu) { hu = p.h * u; }, d, again);
  EXPECT_LE(top.products, tight.products);
}

/// An operator whose top is hidden from the first run: H = B + top e e^T, with e orthogonal to
/// the first run's start (the first d normals of the Lanczos stream, known in advance) and B's
/// spectrum lambda_2 = 2 and the rest in [-2, 1) on e's complement (the start itself no
/// eigenvector). A Krylov space started orthogonally to e sees e only through rounding, which a
/// floating-point product amplifies; the product here drops e's part when |e . u| < 1e-13 (an
/// error below 1e-13 top in H u), so the first run sees B alone and settles on lambda_2, and
/// only the verification, from an independent start, can find the top.
struct HiddenTop {
  HiddenTop(Index d, std::uint64_t seed, double top_in) : top(top_in) {
    Stream probe(seed, static_cast<std::uint64_t>(d), Purpose::lanczos);
    Vector u0(d);
    probe.normals(u0.data(), static_cast<std::size_t>(d));
    Stream s(seed, 99, Purpose::data);
    Matrix g(d, d);
    for (Index i = 0; i < d; ++i) {
      for (Index j = 0; j < d; ++j) g(i, j) = s.normal();
    }
    g.col(0) = u0;
    const Matrix q = Eigen::HouseholderQR<Matrix>(g).householderQ();  // q_0 ~ u0
    e = q.col(1);                                                     // orthogonal to u0
    // e's complement, [q_0, q_2, ...], turned by a random rotation: u0 has a component along
    // every eigenvector of B there (no small invariant Krylov space).
    Matrix others(d, d - 1);
    others << q.col(0), q.rightCols(d - 2);
    Matrix r(d - 1, d - 1);
    for (Index i = 0; i < d - 1; ++i) {
      for (Index j = 0; j < d - 1; ++j) r(i, j) = s.normal();
    }
    others = others * Matrix(Eigen::HouseholderQR<Matrix>(r).householderQ());
    Vector lambda(d - 1);
    for (Index i = 0; i < d - 1; ++i) lambda[i] = i == 0 ? 2.0 : -2.0 + 3.0 * s.uniform();
    rest = others * lambda.asDiagonal() * others.transpose();
    rest = (rest + rest.transpose()) / 2;
  }
  void product(const Vector& u, Vector& hu) const {
    hu = rest * u;
    const double along = e.dot(u);
    if (std::fabs(along) >= 1e-13) hu += top * along * e;
  }
  double top;
  Vector e;
  Matrix rest;
};

TEST(TopEigenvalue, ATopHiddenFromTheFirstRunIsFoundByTheVerificationAtEveryTolerance) {
  for (Index d : {Index{100}, Index{400}}) {
    for (double top : {2.2, 2.05}) {
      for (std::uint64_t seed : {1, 2}) {
        const HiddenTop h(d, seed, top);
        for (bool sharpness : {false, true}) {
          Stream start(seed, static_cast<std::uint64_t>(d), Purpose::lanczos);
          const TopEigen found =
              top_eigenvalue([&](const Vector& u, Vector& hu) { h.product(u, hu); }, d, start,
                             sharpness ? kSharpnessTolerance : TopEigenTolerance{});
          const std::string at = std::to_string(d) + " " + std::to_string(top) + " " +
                                 std::to_string(seed) + (sharpness ? " sharpness" : " default");
          ASSERT_TRUE(found.converged) << at;
          EXPECT_NEAR(found.value, top, 1e-9) << at;
          EXPECT_NEAR(std::fabs(found.vector.dot(h.e)), 1.0, 1e-9) << at;
          EXPECT_NEAR(found.second, 2.0, sharpness ? 1e-2 : 1e-9) << at;
        }
      }
    }
  }
}

TEST(TopEigenvalue, IdentityPlusARankOneBumpOrthogonalToOnesIsSix) {
  // H = I + 5 w w^T, w = (e0 - e1)/sqrt 2, d = 100: eigenvalues 6 (once) and 1. The ones vector
  // is an eigenvector (of 1): a Krylov space started there never sees 6.
  const Index d = 100;
  Vector w = Vector::Zero(d);
  w[0] = 1 / std::sqrt(2.0);
  w[1] = -w[0];
  for (std::uint64_t seed : {1, 2, 3}) {
    Stream start(seed, 0, Purpose::lanczos);
    const TopEigen top =
        top_eigenvalue([&](const Vector& u, Vector& hu) { hu = u + 5 * w.dot(u) * w; }, d, start);
    ASSERT_TRUE(top.converged);
    EXPECT_NEAR(top.value, 6.0, 1e-12);
    EXPECT_NEAR(top.second, 1.0, 1e-12);
    EXPECT_NEAR(std::fabs(top.vector.dot(w)), 1.0, 1e-12);
  }
}

TEST(TopEigenvalue, ClosedFormOperatorsAtD8192) {
  // Lanczos at d = 8192 on explicit operators whose top is known in closed form:
  // (a) I + sum_k c_k w_k w_k^T with orthonormal w_k orthogonal to the ones vector: top 1 + max c;
  // (b) 4096 blocks [[a, b], [b, a]]: eigenvalues a +- b, the top from one block (and repeated
  //     when two blocks share it).
  const Index d = 8192;
  Stream s(17, 18, Purpose::data);
  Matrix w(d, 4);
  for (Index i = 0; i < d; ++i) {
    for (Index k = 0; k < 4; ++k) w(i, k) = s.normal();
  }
  w.col(0).setConstant(1.0);  // made orthogonal to the rest, then dropped: the ones direction
  w = Eigen::HouseholderQR<Matrix>(w).householderQ() * Matrix::Identity(d, 4);
  const Matrix low = w.rightCols(3);
  const Vector c = (Vector(3) << 2.5, 7.0, 6.5).finished();
  Stream start(1, 1, Purpose::lanczos);
  const TopEigen a = top_eigenvalue(
      [&](const Vector& u, Vector& hu) { hu = u + low * c.cwiseProduct(low.transpose() * u); }, d,
      start);
  ASSERT_TRUE(a.converged);
  EXPECT_NEAR(a.value, 8.0, 1e-10);
  EXPECT_NEAR(a.second, 7.5, 1e-10);
  EXPECT_NEAR(std::fabs(a.vector.dot(low.col(1))), 1.0, 1e-9);

  for (bool repeated : {false, true}) {
    Vector diag(d / 2), off(d / 2);
    for (Index i = 0; i < d / 2; ++i) {
      diag[i] = 0.5 * s.normal();
      off[i] = 0.5 * s.normal();
    }
    diag[100] = 3.0;  // top 5, eigenvector (e_200 - e_201)/sqrt 2
    off[100] = -2.0;
    if (repeated) {  // 5 again, eigenvector (e_6000 + e_6001)/sqrt 2
      diag[3000] = 2.0;
      off[3000] = 3.0;
    }
    double second = -1e300;
    for (Index i = 0; i < d / 2; ++i) {
      if (i != 100) second = std::max(second, diag[i] + std::fabs(off[i]));
    }
    if (repeated) {
      ASSERT_EQ(second, 5.0);
    } else {
      ASSERT_LT(second, 4.9);  // the draw leaves a gap
    }
    Stream start2(2, repeated ? 1 : 0, Purpose::lanczos);
    const TopEigen b = top_eigenvalue(
        [&](const Vector& u, Vector& hu) {
          hu.resize(d);
          for (Index i = 0; i < d / 2; ++i) {
            hu[2 * i] = diag[i] * u[2 * i] + off[i] * u[2 * i + 1];
            hu[2 * i + 1] = off[i] * u[2 * i] + diag[i] * u[2 * i + 1];
          }
        },
        d, start2);
    ASSERT_TRUE(b.converged) << repeated;
    EXPECT_NEAR(b.value, 5.0, 1e-10) << repeated;
    EXPECT_NEAR(b.second, second, 1e-9) << repeated;
  }
}

/// A whole point: its stored sharpness, and the full-batch Hessian of its model at theta = 0
/// rebuilt from the point's own data stream (the dense truth).
struct ZeroStartPoint {
  explicit ZeroStartPoint(const std::string& config)
      : spec(parse_spec(config)),
        grid(spec),
        fields(grid),
        result(simulate_point(grid, fields, 0)) {
    const ParamSet params = grid.params(0);
    model = find_model(spec.model())->create(params);
    const DataSpec data = DataSpec::from(params, model->input_dim(), model->output_dim());
    Stream stream(static_cast<std::uint64_t>(params.integer("sweep.seed")), stream_key(params),
                  Purpose::data);
    set = Teacher(data).sample(stream, data.n);
    model->reserve(set.size());
  }
  double sharpness() const { return result.values.real(fields.core().sharpness); }
  SweepSpec spec;
  Grid grid;
  SweepFields fields;
  PointResult result;
  std::unique_ptr<Model> model;
  SampleSet set;
};

TEST(TopEigenvalue, DiagLinearAtZeroHasTheDenseSharpnessOnEitherPath) {
  // diaglinear at theta = 0 (init_scale = 0; GD stays there): H = [[0, -C], [-C, 0]],
  // C = diag(mean y x_j), whose top eigenvectors (e_j, -+e_j)/sqrt 2 sum to zero or nearly. d =
  // 64 takes the dense path, 66 and 80 Lanczos.
  for (int dx : {32, 33, 40}) {
    const ZeroStartPoint p("[model]\nname = diaglinear\ndx = " + std::to_string(dx) +
                           "\ninit_scale = 0\n[data]\nn = 64\n[optimizer]\nbatch = 64\n"
                           "steps = 3\neta = 0.01\n");
    Matrix h;
    p.model->hessian(Vector::Zero(p.model->dim()), p.set.batch(), h);
    const Eigen::SelfAdjointEigenSolver<Matrix> dense(h, Eigen::EigenvaluesOnly);
    const double truth = dense.eigenvalues()[h.rows() - 1];
    EXPECT_NEAR(p.sharpness(), truth, 1e-10 * truth) << dx;
    EXPECT_GT(truth, 0.5) << dx;  // a real top, not a degenerate zero
  }
}

TEST(TopEigenvalue, Linear2AtD8192AtZeroIsTheTopSingularValueOfTheCrossCovariance) {
  // linear2 dx = h = dy = 64 (d = 8192) at theta = 0 (both init scales 0; GD stays there): the
  // Hessian couples only dU with dW through G = -(1/n) sum y x^T, H(dU, dW) = (G dW^T, dU^T G),
  // so its eigenvalues are +- the singular values of G, each h times: lambda_max = sigma_max(G),
  // 64-fold. The point's stored sharpness (Lanczos) against the SVD of its own data.
  const ZeroStartPoint p(
      "[model]\nname = linear2\ndx = 64\nh = 64\ndy = 64\ninit_u_scale = 0\ninit_w_scale = 0\n"
      "[data]\nn = 256\n[optimizer]\nbatch = 256\nsteps = 3\neta = 0.01\n");
  ASSERT_EQ(p.model->dim(), 8192);
  const Matrix g = p.set.y.transpose() * p.set.x / static_cast<double>(p.set.size());
  const double truth = Eigen::JacobiSVD<Matrix>(g).singularValues()[0];
  EXPECT_NEAR(p.sharpness(), truth, 1e-9 * truth);
}

TEST(TopEigenvalue, Linear2LanczosFromHessianVectorProductsEqualsTheDenseHessian) {
  // linear2 with dx = h = dy = 16 (d = 512) at a random theta: no closed form, the dense
  // Hessian's lambda_max (and lambda_2) from the model's own dense Hessian.
  Linear2 model(16, 16, 16, 1.0, 1.0);
  Stream data(1, 2, Purpose::data), init(1, 2, Purpose::init);
  RowMatrix x(64, 16), y(64, 16);
  for (Index i = 0; i < 64; ++i) {
    for (Index j = 0; j < 16; ++j) {
      x(i, j) = data.normal();
      y(i, j) = data.normal();
    }
  }
  const Batch batch{x, y};
  Vector theta;
  model.initialize(init, theta);
  Matrix h;
  model.hessian(theta, batch, h);
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(h, Eigen::EigenvaluesOnly);
  Stream start(3, 4, Purpose::lanczos);
  const TopEigen top = top_eigenvalue(
      [&](const Vector& u, Vector& hu) { model.hessian_vector(theta, batch, u, hu); }, model.dim(),
      start);
  ASSERT_TRUE(top.converged);
  EXPECT_NEAR(top.value, eig.eigenvalues()[model.dim() - 1], 1e-9 * std::fabs(top.value));
  EXPECT_NEAR(top.second, eig.eigenvalues()[model.dim() - 2], 1e-9 * std::fabs(top.value));
}

TEST(TopEigenvalue, TheSameStartGivesTheSameBitsAndAnotherStartTheSameValue) {
  const Planted p(150, Planted::orthogonal);
  const auto run = [&](std::uint64_t seed) {
    Stream start(seed, 1, Purpose::lanczos);
    return top_eigenvalue([&](const Vector& u, Vector& hu) { hu = p.h * u; }, 150, start);
  };
  const TopEigen a = run(1), b = run(1), c = run(2);
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(a.products, b.products);
  EXPECT_EQ((a.vector - b.vector).cwiseAbs().maxCoeff(), 0.0);
  EXPECT_NEAR(c.value, a.value, 1e-10);
}

TEST(TopEigenvalue, LanczosAndNewtonStopWhenThePointIsCancelled) {
  const std::atomic<bool> stop{true};
  const CancelScope scope(&stop);
  const Planted p(100, Planted::orthogonal);
  Stream start(1, 1, Purpose::lanczos);
  Index products = 0;
  EXPECT_THROW(top_eigenvalue(
                   [&](const Vector& u, Vector& hu) {
                     ++products;
                     hu = p.h * u;
                   },
                   100, start),
               Cancelled);
  EXPECT_EQ(products, 0);
  RandomPoly poly;
  EXPECT_THROW(newton_minimum(*poly.model, poly.batch(), poly.theta, 0.0), Cancelled);
}

// Newton on f' = x^3 - 2x + 2 (f = x^4/4 - x^2 + 2x) from 0 cycles 0, 1, 0, 1, ... for ever:
// it gives up after 10 steps that do not halve the gradient instead of computing 100 Hessians
// (each a dense d x d matrix: minutes for linear2 at d ~ 1000 on 5000 samples); from 2 it still
// finds the minimum, a root of x^3 - 2x + 2 near -1.77, in a few steps.
TEST(Newton, GivesUpOnACycleInsteadOfRunningAllItsSteps) {
  std::vector<Monomial> ms(3);
  ms[0].coef = 0.25, ms[0].degree = 4, ms[0].idx = {0, 0, 0, 0};
  ms[1].coef = -1.0, ms[1].degree = 2, ms[1].idx = {0, 0, -1, -1};
  ms[2].coef = 2.0, ms[2].degree = 1, ms[2].idx = {0, -1, -1, -1};
  Poly model(1, 1, ms, Vector::Zero(1));
  RowMatrix x, y;
  model.own_data(x, y);
  const Batch all{x, y};
  int steps = 0;
  EXPECT_FALSE(newton_minimum(model, all, Vector::Zero(1), 0.0, &steps).has_value());
  EXPECT_LE(steps, 11);
  const auto found = newton_minimum(model, all, Vector::Constant(1, 2.0), 0.0, &steps);
  ASSERT_TRUE(found.has_value());
  const double r = (*found)[0];
  EXPECT_NEAR(r * r * r - 2 * r + 2, 0.0, 1e-12);
  EXPECT_LT(steps, 20);
}

// ------------------------------------------------------------------ checks at x*, by hand
TEST(Checks, FPlusAndFMinusHaveTheHandDerivedThresholdAndK) {
  // f = x^2/2 +- x^4/4 at x* = 0: L'' = 1, L''' = 0, L'''' = +-6, so eta_gd = 2 and
  // K = 3 L'''^2 / L'' - L'''' = -+6: f_minus supercritical, f_plus subcritical.
  const GdRun minus({"model.preset=f_minus", "optimizer.eta=2.5", "model.x0=0.3"});
  EXPECT_EQ(minus.member("stability_note"), "ok");
  EXPECT_EQ(minus.real("x_star"), 0.0);
  EXPECT_DOUBLE_EQ(minus.real("lambda_max"), 1.0);
  EXPECT_DOUBLE_EQ(minus.real("eta_gd"), 2.0);
  EXPECT_DOUBLE_EQ(minus.real("K"), 6.0);
  const GdRun plus({"model.preset=f_plus", "optimizer.eta=2.1", "model.x0=0.3"});
  EXPECT_DOUBLE_EQ(plus.real("K"), -6.0);
  EXPECT_TRUE(std::isnan(plus.real("amplitude_predicted")));     // no 2-cycle: A^2 < 0
  EXPECT_TRUE(std::isnan(plus.real("basin_radius_predicted")));  // past eta_gd: no basin
  EXPECT_EQ(plus.member("outcome"), "diverged");                 // f_plus diverges past 2
}

TEST(Checks, LBetaHasKEqualTo60BetaSquaredMinus2Point4) {
  // L = x1^2/2 + x2^2/10 + beta x1^2 x2 + x1^4/10: H = diag(1, 0.2), v = e1, g = (0, 2 beta),
  // Q[v^4] = 2.4, so K = 3 (2 beta)^2 / 0.2 - 2.4 = 60 beta^2 - 2.4.
  for (double beta : {0.1, 0.2, 0.3, -0.5}) {
    const GdRun r({"model.preset=L_beta", "model.beta=" + std::to_string(beta), "optimizer.eta=1.5",
                   "model.x0=0.01, 0"});
    EXPECT_NEAR(r.real("K"), 60 * beta * beta - 2.4, 1e-12) << beta;
    EXPECT_DOUBLE_EQ(r.real("eta_gd"), 2.0);
  }
}

/// "%.17g": every bit of a double, for a key's text.
std::string exact(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

TEST(Checks, ARepeatedTopEigenvalueLeavesKAndThePredictionsUndefined) {
  // x0^2/2 + x1^2/2 + x0^4/4 - x1^4/4 at x* = 0: H = I, so v is any unit vector and K (+6 along
  // e0, -6 along e1) means nothing. A top repeated to a relative gap below 1e-6 (stability.hpp)
  // is degenerate_top; just above, a simple top.
  const auto run = [](double x1_curvature) {
    return GdRun({"model.preset=custom", "model.d=2",
                  "model.monomials=0, 0.5, 0, 0, -1, -1; 0, " + exact(x1_curvature / 2) +
                      ", 1, 1, -1, -1; 0, 0.25, 0, 0, 0, 0; 0, -0.25, 1, 1, 1, 1",
                  "optimizer.eta=2.2", "model.x0=0.01, 0.02", "optimizer.steps=2000"});
  };
  for (double gap : {0.0, 1e-9, 5e-7}) {
    const GdRun r = run(1 - gap);
    EXPECT_EQ(r.member("stability_note"), "degenerate_top") << gap;
    EXPECT_DOUBLE_EQ(r.real("lambda_max"), 1.0);  // lambda_max and eta_gd stay numbers
    EXPECT_DOUBLE_EQ(r.real("eta_gd"), 2.0);
    EXPECT_TRUE(std::isnan(r.real("K"))) << gap;
    EXPECT_TRUE(std::isnan(r.real("amplitude_predicted"))) << gap;
    EXPECT_TRUE(std::isnan(r.real("basin_radius_predicted"))) << gap;
    EXPECT_TRUE(r.is_nan_vector("centre_shift_predicted")) << gap;
    EXPECT_NEAR(r.real("x_star", 0), 0.0, 1e-12);
  }
  // Gap 2e-6: v = e0 (x0's curvature 1 is the larger), K = -Q = -6 < 0; at eta = 2.2 > eta_gd
  // there is no 2-cycle and no basin radius either.
  const GdRun simple = run(1 - 2e-6);
  EXPECT_EQ(simple.member("stability_note"), "ok");
  EXPECT_DOUBLE_EQ(simple.real("K"), -6.0);
}

TEST(Checks, FPlusBasinRadiusIsTheUnstableTwoCycleAndBoundsTheBasin) {
  // f_plus = x^2/2 + x^4/4, K = -6 < 0: below eta_gd = 2 GD's unstable 2-cycle +-r, r^2 =
  // (2 - eta)/eta exactly (x - eta (x + x^3) = -x), bounds the basin of 0. The stored radius
  // is that r (to rounding: A^2 = mu / c is exact for this cubic map); starts 0.1% inside
  // converge, 0.1% outside diverge. amplitude_predicted (a stable cycle) is NaN.
  for (double eta : {1.5, 1.9}) {
    const std::string at = "optimizer.eta=" + exact(eta);
    const GdRun probe({"model.preset=f_plus", at, "model.x0=0.1"});
    const double r = probe.real("basin_radius_predicted");
    EXPECT_NEAR(r, std::sqrt((2 - eta) / eta), 1e-14) << eta;
    EXPECT_TRUE(std::isnan(probe.real("amplitude_predicted"))) << eta;
    EXPECT_TRUE(probe.is_nan_vector("centre_shift_predicted")) << eta;
    const GdRun inside({"model.preset=f_plus", at, "model.x0=" + exact(r * (1 - 1e-3))});
    EXPECT_EQ(inside.member("outcome"), "converged") << eta;
    const GdRun outside({"model.preset=f_plus", at, "model.x0=" + exact(r * (1 + 1e-3))});
    EXPECT_EQ(outside.member("outcome"), "diverged") << eta;
    EXPECT_EQ(outside.real("basin_radius_predicted"), r);  // a property of x*, not of the start
  }
}

TEST(Checks, ThePredictionsAreForFullBatchGdOnly) {
  // prop6 (x^2/2 + x^4/4 and a x^2/2, two samples, a = 1 so H = 1, K = -3): at eta = 1.5 the
  // basin radius is a number for full-batch GD (batch 2) and NaN for SGD (batch 1); K,
  // lambda_max and eta_gd are properties of the loss at x*, the same for both.
  const auto run = [](int batch) {
    return GdRun({"model.preset=prop6", "data.n=2", "optimizer.batch=" + std::to_string(batch),
                  "model.a=1", "optimizer.eta=1.5", "model.x0=0.1", "optimizer.steps=200"});
  };
  const GdRun gd = run(2), sgd = run(1);
  EXPECT_NEAR(gd.real("basin_radius_predicted"), std::sqrt((2 - 1.5) / 1.5 * 2), 1e-14);
  EXPECT_TRUE(std::isnan(sgd.real("basin_radius_predicted")));
  EXPECT_TRUE(std::isnan(sgd.real("amplitude_predicted")));
  EXPECT_EQ(sgd.real("K"), gd.real("K"));
  EXPECT_EQ(sgd.real("lambda_max"), gd.real("lambda_max"));
  EXPECT_DOUBLE_EQ(gd.real("K"), -3.0);
}

TEST(Checks, NewtonFindsXStarAtAnyScaleOfTheLoss) {
  // L_beta moved to c = (1, -2) and scaled by s: s [y1^2/2 + y2^2/10 + beta y1^2 y2 + y1^4/10],
  // y = x - c, written out as monomials (so that the gradient at x* rounds to ~1e-16 s |terms|).
  // At every scale Newton finds x* = c, and lambda_max / s = 1, K / lambda_max = 60 beta^2 - 2.4.
  const double beta = 0.3, c1 = 1, c2 = -2;
  for (double s : {1.0, 1e3, 1e5, 1e-3, 1e-14}) {
    struct Term {
      double coef;
      int i1, i2, i3, i4;
    };
    const Term terms[] = {
        {0.5, 0, 0, -1, -1},
        {-c1, 0, -1, -1, -1},
        {0.1, 1, 1, -1, -1},
        {-c2 / 5, 1, -1, -1, -1},
        {beta, 0, 0, 1, -1},
        {-beta * c2, 0, 0, -1, -1},
        {-2 * beta * c1, 0, 1, -1, -1},
        {2 * beta * c1 * c2, 0, -1, -1, -1},
        {beta * c1 * c1, 1, -1, -1, -1},
        {0.1, 0, 0, 0, 0},
        {-0.4 * c1, 0, 0, 0, -1},
        {0.6 * c1 * c1, 0, 0, -1, -1},
        {-0.4 * c1 * c1 * c1, 0, -1, -1, -1},
    };
    std::string rows;
    for (const Term& t : terms) {
      rows += (rows.empty() ? "0, " : "; 0, ") + exact(s * t.coef) + ", " + std::to_string(t.i1) +
              ", " + std::to_string(t.i2) + ", " + std::to_string(t.i3) + ", " +
              std::to_string(t.i4);
    }
    const GdRun r({"model.preset=custom", "model.d=2", "model.monomials=" + rows,
                   "optimizer.eta=" + exact(0.5 / s), "model.x0=1.05, -1.9", "optimizer.steps=10"});
    ASSERT_EQ(r.member("stability_note"), "ok") << s;
    EXPECT_NEAR(r.real("x_star", 0), c1, 1e-12) << s;
    EXPECT_NEAR(r.real("x_star", 1), c2, 1e-12) << s;
    EXPECT_NEAR(r.real("lambda_max") / s, 1.0, 1e-12) << s;
    EXPECT_NEAR(r.real("K") / r.real("lambda_max"), 60 * beta * beta - 2.4, 1e-9) << s;
  }
}

// ------------------------------------------------------------------- measured against predicted
TEST(Orbits, FMinusSymmetricTwoCycleIsPlusMinusSqrtOfEtaMinus2OverEta) {
  for (double eta : {2.2, 2.5, 2.8}) {
    const GdRun r({"model.preset=f_minus", "optimizer.eta=" + std::to_string(eta), "model.x0=0.05",
                   "optimizer.steps=5000"});
    ASSERT_EQ(r.member("outcome"), "periodic") << eta;
    EXPECT_EQ(r.integer("period"), 2);
    const double a = std::sqrt((eta - 2) / eta);
    EXPECT_NEAR(std::fabs(r.real("orbit", 0)), a, 1e-9) << eta;  // orbit point 0, coord 0
    EXPECT_NEAR(r.real("orbit", 8), -r.real("orbit", 0), 1e-9);  // orbit point 1
    EXPECT_NEAR(r.real("amplitude"), a, 1e-9);
    EXPECT_NEAR(r.real("amplitude_predicted"), a, 1e-12);  // exact for f_minus
  }
}

TEST(Orbits, LBetaAmplitudeMatchesThePredictionJustPastTheThreshold) {
  // At eta = 2.01 the measured half-width along v equals A = sqrt(mu / c) to 1e-6 relative for
  // |beta| > 0.2 (the reduced map is cubic there), the orbit's x2 has the sign opposite to beta,
  // and |beta| < 0.2 (K < 0) diverges.
  for (double beta : {0.25, 0.3, 0.5, -0.3}) {
    const GdRun r({"model.preset=L_beta", "model.beta=" + std::to_string(beta),
                   "optimizer.eta=2.01", "model.x0=0.01, 0", "optimizer.steps=200000",
                   "optimizer.check_every=100"});
    ASSERT_EQ(r.member("outcome"), "periodic") << beta;
    EXPECT_EQ(r.integer("period"), 2);
    EXPECT_NEAR(r.real("amplitude") / r.real("amplitude_predicted"), 1.0, 1e-6) << beta;
    const double x2 = r.real("orbit", 1);  // orbit point 0, coordinate 1
    EXPECT_LT(x2 * beta, 0) << beta;
    EXPECT_NEAR(x2, r.real("centre_shift_predicted", 1), 1e-6 * std::fabs(x2));
  }
  const GdRun weak({"model.preset=L_beta", "model.beta=0.1", "optimizer.eta=2.01",
                    "model.x0=0.01, 0", "optimizer.steps=200000"});
  EXPECT_EQ(weak.member("outcome"), "diverged");
  EXPECT_LT(weak.real("K"), 0);
}

// The classification of a run's end: tests/unit/test_classify.cpp.

}  // namespace
}  // namespace symsweep
