// The poly model's exact derivatives, the stability checks at x* (eta_gd, K, the predicted 2-cycle)
// against hand-derived values and the orbits GD settles on (the classification of a run's end:
// test_classify.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include "symsweep/grid.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/models/poly.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/stability.hpp"

namespace symsweep {
namespace {

/// One GD run of the poly model; the values of its stored fields by name.
struct GdRun {
  explicit GdRun(const std::vector<std::string>& sets)
      : spec(parse_spec("[model]\nname = poly\n[data]\nn = 1\n[optimizer]\nbatch = 1\n"
                        "steps = 20000\ntol = 1e-13\ncheck_every = 10\n",
                        sets)),
        grid(spec),
        fields(grid),
        result(simulate_point(grid, fields, 0)) {}
  double real(const char* name, std::size_t i = 0) const {
    return result.values.real(fields.schema().id(Group::results, name), i);
  }
  std::int64_t integer(const char* name) const {
    return result.values.integer(fields.schema().id(Group::results, name));
  }
  std::string member(const char* name) const {
    const FieldId id = fields.schema().id(Group::results, name);
    return fields.schema().field(id).members[result.values.code(id)];
  }
  SweepSpec spec;
  Grid grid;
  SweepFields fields;
  PointResult result;
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

// ----------------------------------------------------------------------- lambda_max, any size
TEST(TopEigenvalue, LanczosAgreesWithTheDenseSolver) {
  const Index d = 300;
  Stream s(5, 5, Purpose::data);
  Matrix a(d, d);
  for (Index i = 0; i < d; ++i) {
    for (Index j = 0; j < d; ++j) a(i, j) = s.normal();
  }
  const Matrix h = (a + a.transpose()) / 2 + 3 * Matrix::Identity(d, d);
  Vector v;
  const double lanczos = top_eigenvalue([&](const Vector& u, Vector& hu) { hu = h * u; }, d, &v);
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(h);
  EXPECT_NEAR(lanczos, eig.eigenvalues()[d - 1], 1e-9 * std::fabs(lanczos));
  EXPECT_NEAR(std::fabs(v.dot(eig.eigenvectors().col(d - 1))), 1.0, 1e-8);
}

TEST(TopEigenvalue, Linear2AtAnySizeFromHessianVectorProductsAlone) {
  // linear2 with dx = h = dy = 16 (d = 512): Lanczos on Hessian-vector products equals the
  // dense Hessian's lambda_max; at (64, 64, 64), d = 8192, a whole point runs with it.
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
  const double lanczos = top_eigenvalue(
      [&](const Vector& u, Vector& hu) { model.hessian_vector(theta, batch, u, hu); }, model.dim());
  EXPECT_NEAR(lanczos, eig.eigenvalues()[model.dim() - 1], 1e-9 * std::fabs(lanczos));

  const SweepSpec spec = parse_spec(
      "[model]\nname = linear2\ndx = 64\nh = 64\ndy = 64\n[data]\nn = 64\n"
      "[optimizer]\nbatch = 64\nsteps = 3\neta = 0.01\n");
  const Grid grid(spec);
  const SweepFields fields(grid);
  const PointResult r = simulate_point(grid, fields, 0);
  EXPECT_EQ(r.values.code(fields.core().status), static_cast<std::uint8_t>(Status::done));
  EXPECT_GT(r.values.real(fields.core().sharpness), 0.0);
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
  EXPECT_TRUE(std::isnan(plus.real("amplitude_predicted")));  // no 2-cycle: A^2 < 0
  EXPECT_EQ(plus.member("outcome"), "diverged");              // f_plus diverges past 2
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
