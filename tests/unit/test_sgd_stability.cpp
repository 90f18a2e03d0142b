// The SGD checks at x* (sgd_stability.hpp): eta_ms against Prop. 6 by hand, the univariate closed
// form and the explicit Kronecker matrix (its spectral radius scanned and bisected densely, which
// also checks that the stable step sizes form one interval); eta_worst_batch against brute force
// over bitmasks, and its sampled path; the exact expectation against paths written out by hand,
// a Monte-Carlo of sampled paths, and its overflow; the fields and notes of whole points.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../common/point_values.hpp"
#include "alloc_counter.hpp"
#include "symsweep/data.hpp"
#include "symsweep/eigen_solvers.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/models/poly.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/sgd_stability.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/stability.hpp"

namespace symsweep {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ------------------------------------------------------------------------------------ helpers
/// The per-sample quadratics l_i(x) = x^T H_i x / 2 as a poly model (monomials H_jj/2 x_j^2 and
/// H_jk x_j x_k), with its own dataset.
struct Quadratics {
  explicit Quadratics(const std::vector<Matrix>& hs) : h(hs) {
    const Index d = hs[0].rows();
    std::vector<Monomial> ms;
    for (std::size_t i = 0; i < hs.size(); ++i) {
      for (Index j = 0; j < d; ++j) {
        for (Index k = j; k < d; ++k) {
          Monomial m;
          m.sample = static_cast<Index>(i);
          m.coef = j == k ? 0.5 * hs[i](j, j) : hs[i](j, k);
          m.idx[0] = j;
          m.idx[1] = k;
          m.degree = 2;
          ms.push_back(m);
        }
      }
    }
    model = std::make_unique<Poly>(d, static_cast<Index>(hs.size()), ms, Vector::Zero(d));
    model->own_data(data.x, data.y);
  }
  std::vector<Matrix> h;
  std::unique_ptr<Poly> model;
  SampleSet data;
};

/// n random symmetric d x d matrices: G G^T / d + 0.2 I (positive definite), or, when
/// `indefinite`, shifted by -1 and +1 in turn (the odd ones mostly indefinite; the mean shifts by
/// 0 or +1/n, so it stays positive definite).
std::vector<Matrix> random_hessians(std::uint64_t seed, Index d, Index n, bool indefinite) {
  Stream s(seed, 7, Purpose::data);
  std::vector<Matrix> hs;
  for (Index i = 0; i < n; ++i) {
    Matrix g(d, d);
    for (Index j = 0; j < d; ++j)
      for (Index k = 0; k < d; ++k) g(j, k) = s.normal();
    Matrix h = g * g.transpose() / static_cast<double>(d) + 0.2 * Matrix::Identity(d, d);
    if (indefinite) h += (i % 2 == 1 ? -1.0 : 1.0) * Matrix::Identity(d, d);
    hs.push_back(h);
  }
  return hs;
}

Matrix kron(const Matrix& a, const Matrix& b) {
  Matrix k(a.rows() * b.rows(), a.cols() * b.cols());
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < a.cols(); ++j)
      k.block(i * b.rows(), j * b.cols(), b.rows(), b.cols()) = a(i, j) * b;
  return k;
}

/// The explicit d^2 x d^2 matrix I (x) I - eta (H (x) I + I (x) H) + eta^2 E[H_B (x) H_B] of
/// README, The science §3, from the matrices themselves (weight decay added to each).
Matrix kronecker_map(const std::vector<Matrix>& hs, double gamma, Index batch, double eta) {
  const Index d = hs[0].rows(), n = static_cast<Index>(hs.size());
  const Matrix id = Matrix::Identity(d, d);
  Matrix mean = Matrix::Zero(d, d), mean_kron = Matrix::Zero(d * d, d * d);
  for (const Matrix& h : hs) {
    const Matrix hg = h + gamma * id;
    mean += hg / static_cast<double>(n);
    mean_kron += kron(hg, hg) / static_cast<double>(n);
  }
  const double p = batch == n ? 0.0
                              : static_cast<double>(n - batch) /
                                    (static_cast<double>(batch) * static_cast<double>(n - 1));
  return kron(id, id) - eta * (kron(mean, id) + kron(id, mean)) +
         eta * eta * ((1 - p) * kron(mean, mean) + p * mean_kron);
}

/// Spectral radius: the largest modulus of any eigenvalue, negative ones included (the matrix is
/// symmetric, E[A (x) A] with A symmetric; checked).
double radius_of(const Matrix& k) {
  EXPECT_LT((k - k.transpose()).norm(), 1e-14 * k.norm());
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(k, Eigen::EigenvaluesOnly);
  return eig.eigenvalues().cwiseAbs().maxCoeff();
}

/// One point of a sweep; its stored values by name.
using Point = testing::SimulatedPoint;

const std::string kProp6 =
    "[model]\nname = poly\npreset = prop6\n[data]\nn = 2\n[optimizer]\nbatch = 1\nsteps = 20\n"
    "tol = 0\n";

// ------------------------------------------------------------------------------------- eta_ms
TEST(SgdThresholds, Prop6ByHand) {
  // f+ = x^2/2 + x^4/4 and a x^2 / 2, S = 1 of n = 2 (p = 1), x* = 0: h = (1, a), so
  // rho = 1 - eta (1 + a) + eta^2 (1 + a^2) / 2 and eta_ms = 2 (1 + a) / (1 + a^2); the worst
  // batch is the stiffer sample: 2 / max(1, a).
  for (double a : {0.0, 0.3, 0.5, 0.9, 2.0}) {
    const Point p(kProp6, {"model.a=" + std::to_string(a)});
    EXPECT_EQ(p.member("sgd_note"), "ok") << a;
    EXPECT_NEAR(p.real("eta_ms"), 2 * (1 + a) / (1 + a * a), 1e-12) << a;
    EXPECT_NEAR(p.real("eta_worst_batch"), 2 / std::max(1.0, a), 1e-12) << a;
    EXPECT_NEAR(p.real("eta_gd"), 4 / (1 + a), 1e-12) << a;
  }
}

TEST(SgdThresholds, UnivariateClosedFormMatchesTheOperator) {
  // d = 1: M(eta) = 1 - 2 eta h + eta^2 (h^2 + p s^2), eta_ms = 2 h / (h^2 + p s^2) (Wu, Ma & E),
  // h and s^2 the mean and variance of the per-sample curvatures (weight decay included).
  Stream s(5, 5, Purpose::data);
  for (Index n : {2, 3, 7, 16}) {
    for (Index batch : {Index{1}, Index{2}, n - 1}) {
      if (batch < 1 || batch >= n) continue;
      for (double gamma : {0.0, 0.3}) {
        std::vector<Matrix> hs;
        for (Index i = 0; i < n; ++i) hs.push_back(Matrix::Constant(1, 1, 0.1 + 3 * s.uniform()));
        const Quadratics q(hs);
        SecondMomentMap map(*q.model, q.data, Vector::Zero(1), gamma, batch);
        double mean = 0, var = 0;
        for (const Matrix& h : hs) mean += (h(0, 0) + gamma) / static_cast<double>(n);
        for (const Matrix& h : hs)
          var += std::pow(h(0, 0) + gamma - mean, 2) / static_cast<double>(n);
        const double p = static_cast<double>(n - batch) /
                         (static_cast<double>(batch) * static_cast<double>(n - 1));
        const Matrix one = Matrix::Identity(1, 1);
        Matrix out;
        for (double eta : {0.1, 0.7, 1.3}) {
          map.apply(eta, one, out);
          EXPECT_NEAR(out(0, 0), 1 - 2 * eta * mean + eta * eta * (mean * mean + p * var), 1e-13)
              << n << " " << batch << " " << gamma << " " << eta;
        }
        Stream start(1, 1, Purpose::lanczos);
        const double eta_ms = map.threshold(start);
        EXPECT_NEAR(eta_ms, 2 * mean / (mean * mean + p * var), 1e-12 * eta_ms)
            << n << " " << batch << " " << gamma;
        EXPECT_LE(eta_ms, 2 / mean);
      }
    }
  }
}

struct KroneckerCase {
  Index d, n, batch;
  double gamma;
  bool indefinite;
};

class SecondMoment : public ::testing::TestWithParam<KroneckerCase> {};

TEST_P(SecondMoment, OperatorIsTheKroneckerMatrixAndEtaMsItsThreshold) {
  const KroneckerCase c = GetParam();
  const std::vector<Matrix> hs =
      random_hessians(static_cast<std::uint64_t>(c.d * 100 + c.n), c.d, c.n, c.indefinite);
  const Quadratics q(hs);
  SecondMomentMap map(*q.model, q.data, Vector::Zero(c.d), c.gamma, c.batch);
  ASSERT_TRUE(map.positive_definite());
  Stream s(3, 3, Purpose::data);
  // 1. The matrix-free map applied to a random symmetric X is the Kronecker matrix times vec X.
  Matrix x(c.d, c.d), out;
  for (Index j = 0; j < c.d; ++j)
    for (Index k = 0; k <= j; ++k) x(j, k) = x(k, j) = s.normal();
  for (double eta : {0.3, 1.1}) {
    map.apply(eta, x, out);
    const Matrix k = kronecker_map(hs, c.gamma, c.batch, eta);
    const Vector expect = k * Eigen::Map<const Vector>(x.data(), x.size());
    EXPECT_LT((Eigen::Map<const Vector>(out.data(), out.size()) - expect).norm(),
              1e-12 * expect.norm());
  }
  // 2. eta_ms against the Kronecker matrix's spectral radius: bisected densely to 1e-13 between
  // a stable and an unstable step, and scanned over (0, 1.5 eta_gd] so that no stable step lies
  // above eta_ms and no unstable one below (the stable set is one interval).
  Stream start(4, 4, Purpose::lanczos);
  const double eta_ms = map.threshold(start);
  Matrix mean = Matrix::Zero(c.d, c.d);
  for (const Matrix& h : hs)
    mean += (h + c.gamma * Matrix::Identity(c.d, c.d)) / static_cast<double>(c.n);
  const double eta_gd = 2 / Eigen::SelfAdjointEigenSolver<Matrix>(mean).eigenvalues().maxCoeff();
  const auto rho = [&](double eta) { return radius_of(kronecker_map(hs, c.gamma, c.batch, eta)); };
  double lo = 0.01 * eta_gd, hi = eta_gd * 1.0001;
  ASSERT_LE(rho(lo), 1.0);
  ASSERT_GT(rho(hi), 1.0);
  while (hi - lo > 1e-13 * hi) {
    const double mid = 0.5 * (lo + hi);
    (rho(mid) <= 1.0 ? lo : hi) = mid;
  }
  EXPECT_NEAR(eta_ms, lo, 1e-9 * lo);
  EXPECT_LT(eta_ms, eta_gd);
  if (c.d <= 6) {
    const int points = 400;
    for (int k = 1; k <= points; ++k) {
      const double eta = 1.5 * eta_gd * k / points;
      if (std::fabs(eta - eta_ms) < 1e-7 * eta_ms) continue;  // rho = 1 to rounding there
      EXPECT_EQ(rho(eta) <= 1.0 + 1e-12, eta < eta_ms)
          << "eta = " << eta << ", eta_ms = " << eta_ms;
    }
  }
  // 3. The matrix-free spectral radius at a few step sizes (dense up to d = 10, Lanczos above).
  for (double f : {0.5, 0.99, 1.01, 1.3}) {
    Stream st(5, 5, Purpose::lanczos);
    const double eta = f * eta_ms;
    EXPECT_NEAR(map.radius(eta, st), rho(eta), 1e-9) << f;
  }
}

INSTANTIATE_TEST_SUITE_P(RandomPerSampleHessians, SecondMoment,
                         ::testing::Values(KroneckerCase{2, 3, 1, 0.0, false},
                                           KroneckerCase{3, 5, 2, 0.1, false},
                                           KroneckerCase{4, 4, 3, 0.0, true},
                                           KroneckerCase{6, 8, 2, 0.0, false},
                                           KroneckerCase{6, 6, 1, 0.2, true},
                                           // D = 78 > 64: eta_ms from Lanczos
                                           KroneckerCase{12, 5, 2, 0.0, false}),
                         [](const ::testing::TestParamInfo<KroneckerCase>& i) {
                           return "d" + std::to_string(i.param.d) + "_n" +
                                  std::to_string(i.param.n) + "_S" + std::to_string(i.param.batch) +
                                  (i.param.gamma > 0 ? "_decay" : "") +
                                  (i.param.indefinite ? "_indefinite" : "");
                         });

TEST(SgdThresholds, FullBatchIsGdAndASingularHessianHasNoThreshold) {
  const std::vector<Matrix> hs = random_hessians(9, 3, 4, false);
  const Quadratics q(hs);
  SecondMomentMap full(*q.model, q.data, Vector::Zero(3), 0.0, 4);
  Stream start(1, 1, Purpose::lanczos);
  Matrix mean = Matrix::Zero(3, 3);
  for (const Matrix& h : hs) mean += h / 4;
  EXPECT_NEAR(full.threshold(start),
              2 / Eigen::SelfAdjointEigenSolver<Matrix>(mean).eigenvalues().maxCoeff(), 1e-12);
  // A zero mode (every sample flat along e_2): rho = 1 there for every eta.
  std::vector<Matrix> flat = hs;
  for (Matrix& h : flat) {
    h.row(2).setZero();
    h.col(2).setZero();
  }
  const Quadratics qf(flat);
  SecondMomentMap singular(*qf.model, qf.data, Vector::Zero(3), 0.0, 1);
  EXPECT_FALSE(singular.positive_definite());
  EXPECT_TRUE(std::isnan(singular.threshold(start)));
}

// -------------------------------------------------------------------------------- worst batch
TEST(WorstBatch, EnumerationIsTheBruteForceMinimumAndSamplingAnUpperBound) {
  const Index n = 9, d = 3, batch = 4;
  const std::vector<Matrix> hs = random_hessians(21, d, n, true);
  const Quadratics q(hs);
  const double gamma = 0.05;
  // Brute force: every bitmask with `batch` bits.
  double top = -kInf;
  unsigned worst = 0;
  int count = 0;
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    if (__builtin_popcount(mask) != batch) continue;
    ++count;
    Matrix hb = gamma * Matrix::Identity(d, d);
    for (Index i = 0; i < n; ++i)
      if (mask & (1u << i)) hb += hs[static_cast<std::size_t>(i)] / static_cast<double>(batch);
    const double l = Eigen::SelfAdjointEigenSolver<Matrix>(hb).eigenvalues().maxCoeff();
    if (l > top) {
      top = l;
      worst = mask;
    }
  }
  const WorstBatch all = worst_batch(*q.model, q.data, Vector::Zero(d), gamma, batch, 1000,
                                     Stream(1, 2, Purpose::worst_batch));
  EXPECT_FALSE(all.sampled);
  EXPECT_EQ(all.batches, count);
  EXPECT_NEAR(all.eta, 2 / top, 1e-12 * all.eta);
  unsigned found = 0;
  for (Index i : all.worst) found |= 1u << i;
  EXPECT_EQ(found, worst);
  // Fewer allowed than there are (126): drawn, flagged, never below the true threshold, and the
  // same draws every time.
  const WorstBatch drawn = worst_batch(*q.model, q.data, Vector::Zero(d), gamma, batch, 20,
                                       Stream(1, 2, Purpose::worst_batch));
  EXPECT_TRUE(drawn.sampled);
  EXPECT_EQ(drawn.batches, 20);
  EXPECT_GE(drawn.eta, all.eta);
  const WorstBatch again = worst_batch(*q.model, q.data, Vector::Zero(d), gamma, batch, 20,
                                       Stream(1, 2, Purpose::worst_batch));
  EXPECT_EQ(again.eta, drawn.eta);
  EXPECT_EQ(again.worst, drawn.worst);
}

TEST(RowBatches, GathersRowsWithoutAllocating) {
  SYMSWEEP_SKIP_UNLESS_COUNTING_WORKS();
  SampleSet data;
  data.x = RowMatrix::Random(6, 3);
  data.y = RowMatrix::Random(6, 2);
  RowBatches rows(data, 3);
  const Index pick[3] = {4, 0, 5};
  testing::start_counting_allocations();
  const Batch b = rows.rows(pick, 3);
  const Batch one = rows.row(2);
  double sum = 0;
  for (Index r = 0; r < 3; ++r) sum += b.x(r, 0) + b.y(r, 1);
  sum += one.x(0, 2);
  EXPECT_EQ(testing::stop_counting_allocations(), 0);
  EXPECT_EQ(sum, data.x(4, 0) + data.x(0, 0) + data.x(5, 0) + data.y(4, 1) + data.y(0, 1) +
                     data.y(5, 1) + data.x(2, 2));
  EXPECT_EQ(one.x.data(), data.x.row(2).data());  // one sample: a view, no copy
}

// -------------------------------------------------------------------------- exact expectation
/// prop6 as a model: sample 0 f+ = x^2/2 + x^4/4, sample 1 a x^2 / 2.
struct Prop6 {
  explicit Prop6(double a) {
    std::vector<Monomial> ms(3);
    ms[0] = Monomial{0, 0.5, {{0, 0, -1, -1}}, 2};
    ms[1] = Monomial{0, 0.25, {{0, 0, 0, 0}}, 4};
    ms[2] = Monomial{1, 0.5 * a, {{0, 0, -1, -1}}, 2};
    model = std::make_unique<Poly>(1, 2, ms, Vector::Zero(1));
    model->own_data(data.x, data.y);
  }
  std::unique_ptr<Poly> model;
  SampleSet data;
};

TEST(ExactExpectation, Prop6PathsWrittenOutByHand) {
  // Warmup over 3 steps and weight decay: update k uses eta_k = eta min(1, (k + 1) / 3), the
  // f+ batch maps x to x - eta_k (x + x^3 + g x), the a batch to x - eta_k (a x + g x).
  const double a = 0.4, eta = 1.9, g = 0.1, x0 = 0.7;
  const Prop6 p(a);
  OptimizerSpec opt;
  opt.eta = eta;
  opt.batch = 1;
  opt.weight_decay = g;
  opt.schedule = OptimizerSpec::Schedule::warmup;
  opt.warmup_steps = 3;
  const auto e = [&](int k) { return eta * std::min(1.0, (k + 1) / 3.0); };
  const auto f = [&](double x, int k) { return x - e(k) * (x + x * x * x + g * x); };
  const auto h = [&](double x, int k) { return x - e(k) * (a * x + g * x); };
  const double f1 = f(x0, 0), h1 = h(x0, 0);
  const double ff = f(f1, 1), hf = h(f1, 1), fh = f(h1, 1), hh = h(h1, 1);
  const std::vector<double> t1 = {f1, h1}, t2 = {ff, hf, fh, hh},
                            t3 = {f(ff, 2), h(ff, 2), f(hf, 2), h(hf, 2),
                                  f(fh, 2), h(fh, 2), f(hh, 2), h(hh, 2)};
  const auto mean_abs = [](const std::vector<double>& v, int power) {
    double s = 0;
    for (double x : v) s += std::pow(std::fabs(x), power);
    return s / static_cast<double>(v.size());
  };
  const ExactExpectation r = exact_expectation(*p.model, p.data, opt, Vector::Constant(1, x0),
                                               Vector::Zero(1), 3, {0, 1, 2, 3, 4}, 1e8);
  EXPECT_EQ(r.evaluations, 2 + 4 + 8);
  EXPECT_DOUBLE_EQ(r.mean_dist[0], x0);
  EXPECT_NEAR(r.mean_dist[1], mean_abs(t1, 1), 1e-14 * mean_abs(t1, 1));
  EXPECT_NEAR(r.mean_dist[2], mean_abs(t2, 1), 1e-14 * mean_abs(t2, 1));
  EXPECT_NEAR(r.mean_dist[3], mean_abs(t3, 1), 1e-14 * mean_abs(t3, 1));
  EXPECT_NEAR(r.mean_sq_dist[3], mean_abs(t3, 2), 1e-14 * mean_abs(t3, 2));
  EXPECT_TRUE(std::isnan(r.mean_dist[4]));  // past T
  EXPECT_EQ(r.p_beyond[3], 0);
  // With a bound below some of the 8 endpoints, P is their share.
  const double bound = 0.2;
  double beyond = 0;
  for (double x : t3) beyond += std::fabs(x) > bound ? 1.0 / 8 : 0;
  const ExactExpectation rb = exact_expectation(*p.model, p.data, opt, Vector::Constant(1, x0),
                                                Vector::Zero(1), 3, {3}, bound);
  EXPECT_EQ(rb.p_beyond[0], beyond);
  EXPECT_GT(beyond, 0);
  EXPECT_LT(beyond, 1);
}

TEST(ExactExpectation, AgreesWithAMonteCarloOfSampledPaths) {
  // d = 2, n = 4, S = 2 (6 batches): E|x_t - x*| for t <= 4 (1296 paths) against 1e5 paths of
  // SgdMap on batches drawn by BatchSource, within 4 standard errors.
  const std::vector<Matrix> hs = random_hessians(31, 2, 4, false);
  const Quadratics q(hs);
  OptimizerSpec opt;
  opt.eta = 1.2;
  opt.batch = 2;
  const Vector x0 = (Vector(2) << 1.0, -0.5).finished();
  const ExactExpectation exact =
      exact_expectation(*q.model, q.data, opt, x0, Vector::Zero(2), 4, {1, 2, 3, 4}, 1e8);
  const int paths = 100000;
  std::vector<double> sum(4, 0), sum_sq(4, 0), sum_4(4, 0);
  BatchSource batches(q.data, 2, Stream(8, 8, Purpose::batches));
  const SgdMap map{0.0};
  Vector x(2), grad(2);
  for (int k = 0; k < paths; ++k) {
    x = x0;
    for (int t = 0; t < 4; ++t) {
      map.step(*q.model, batches.next(), opt.eta, x, grad);
      sum[static_cast<std::size_t>(t)] += x.norm();
      sum_sq[static_cast<std::size_t>(t)] += x.squaredNorm();
      sum_4[static_cast<std::size_t>(t)] += x.squaredNorm() * x.squaredNorm();
    }
  }
  for (std::size_t t = 0; t < 4; ++t) {
    const double mean = sum[t] / paths;
    const double se = std::sqrt((sum_sq[t] / paths - mean * mean) / paths);
    EXPECT_NEAR(exact.mean_dist[t], mean, 4 * se) << "t = " << t + 1;
    const double mean_sq = sum_sq[t] / paths;
    const double se_sq = std::sqrt((sum_4[t] / paths - mean_sq * mean_sq) / paths);
    EXPECT_NEAR(exact.mean_sq_dist[t], mean_sq, 4 * se_sq) << "t = " << t + 1;
    EXPECT_GT(se, 0);
  }
}

TEST(ExactExpectation, Prop6PastTwoOverflowsInExpectationWhileMostPathsConverge) {
  // eta = 2.5 > 2 from x0 = 1 (Mulayoff & Stich, Prop. 6): runs of f+ batches blow up
  // super-geometrically and overflow, so E|x_t| is +inf from some t <= 20 on, while the a = 0.5
  // batch contracts and most paths converge.
  const Point p(kProp6,
                {"optimizer.eta=2.5", "model.x0=1", "stability.exact_steps=20", "record.every=1"});
  int first_inf = -1;
  for (int t = 0; t <= 20 && first_inf < 0; ++t) {
    if (std::isinf(p.trace("exact_mean_dist", static_cast<std::size_t>(t)))) first_inf = t;
  }
  ASSERT_GT(first_inf, 0);
  for (int t = 0; t < first_inf; ++t)
    EXPECT_TRUE(std::isfinite(p.trace("exact_mean_dist", static_cast<std::size_t>(t))));
  EXPECT_TRUE(std::isinf(p.trace("exact_mean_sq_dist", static_cast<std::size_t>(first_inf))));
  EXPECT_GT(p.trace("exact_p_beyond", 20), 0);
  EXPECT_LT(p.trace("exact_p_beyond", 20), 0.5);
  EXPECT_TRUE(std::isinf(p.trace("exact_mean_dist", 20)));
  // The run itself (one sampled path of the same tree) converged: dist_to_min is |x_t|.
  EXPECT_LT(p.trace("dist_to_min", 20), 1e-3);
  EXPECT_EQ(p.trace("dist_to_min", 0), 1.0);
}

// ------------------------------------------------------------------------------ whole points
TEST(SgdPoint, DistToMinFollowsTheRunToAnXStarAwayFromZero) {
  // l = (x - 1)^2 / 2 = x^2/2 - x + 1/2, one sample: GD gives x_t - 1 = (1 - eta)^t (x0 - 1).
  const Point p(
      "[model]\nname = poly\npreset = custom\nd = 1\nmonomials = 0, 0.5, 0, 0, -1, -1; 0, -1, 0, "
      "-1, -1, -1; 0, 0.5, -1, -1, -1, -1\nx0 = 3\n[data]\nn = 1\n[optimizer]\nbatch = 1\neta = "
      "0.3\nsteps = 10\ntol = 0\n[record]\nevery = 2\n",
      {});
  for (int k = 0; k <= 5; ++k) {
    EXPECT_NEAR(p.trace("dist_to_min", static_cast<std::size_t>(k)), 2 * std::pow(0.7, 2 * k),
                1e-13)
        << k;
  }
  EXPECT_EQ(p.member("sgd_note"), "full_batch");
  EXPECT_EQ(p.real("eta_ms"), p.real("eta_gd"));
  EXPECT_EQ(p.real("eta_worst_batch"), p.real("eta_gd"));
}

TEST(SgdPoint, NotesSayWhyThereIsNoNumber) {
  const auto nan_pair = [](const Point& p) {
    return std::isnan(p.real("eta_ms")) && std::isnan(p.real("eta_worst_batch"));
  };
  const Point off(kProp6, {"stability.sgd_checks=false"});
  EXPECT_EQ(off.member("sgd_note"), "off");
  EXPECT_TRUE(nan_pair(off));
  const Point reshuffle(kProp6, {"optimizer.sampling=reshuffle"});
  EXPECT_EQ(reshuffle.member("sgd_note"), "reshuffle");
  EXPECT_TRUE(nan_pair(reshuffle));
  // x0^2 / 2 in d = 2 (x1 flat) at a given x* = 0: H singular.
  const std::string flat =
      "[model]\nname = poly\npreset = custom\nd = 2\nmonomials = 0, 0.5, 0, 0, -1, -1; 1, 1, 0, "
      "0, -1, -1\nx0 = 0.1, 0.1\n[data]\nn = 2\n[optimizer]\nbatch = 1\nsteps = 5\n";
  const Point singular(flat, {"stability.x_star=0, 0"});
  EXPECT_EQ(singular.member("sgd_note"), "not_positive_definite");
  EXPECT_TRUE(nan_pair(singular));
  const Point none(flat, {});  // Newton finds no isolated minimum, the run does not converge
  EXPECT_EQ(none.member("sgd_note"), "no_reference");
  EXPECT_TRUE(nan_pair(none));
  // Online: linear2 with no teacher, no noise, weight decay: H = gamma I at x* = 0.
  const Point online(
      "[model]\nname = linear2\ndx = 2\nh = 1\ndy = 1\n[data]\nmode = online\nteacher_scale = "
      "0\n[optimizer]\nbatch = 2\nsteps = 5\nweight_decay = 0.1\n[stability]\nx_star = 0, 0, 0\n",
      {});
  EXPECT_EQ(online.member("sgd_note"), "online");
  EXPECT_TRUE(nan_pair(online));
  // The worst batch over fewer batches than there are: drawn.
  const Point sampled(kProp6, {"stability.batch_limit=1"});
  EXPECT_EQ(sampled.member("sgd_note"), "worst_batch_sampled");
  EXPECT_GE(sampled.real("eta_worst_batch"), 2.0);  // the exact value is 2 / max(1, a) = 2
}

TEST(SgdPoint, TooLargeAboveTheDenseLimit) {
  std::string rows;
  for (Index j = 0; j <= kMaxSgdDim; ++j) {
    rows += (j ? "; " : "") + std::to_string(j % 2) + ", 0.5, " + std::to_string(j) + ", " +
            std::to_string(j) + ", -1, -1";
  }
  std::string zeros;
  for (Index j = 0; j <= kMaxSgdDim; ++j) zeros += j ? ", 0" : "0";
  const Point p("[model]\nname = poly\npreset = custom\nd = " + std::to_string(kMaxSgdDim + 1) +
                    "\nmonomials = " + rows + "\nx0 = " + zeros +
                    "\n[data]\nn = 2\n[optimizer]\nbatch = 1\nsteps = 2\n",
                {});
  EXPECT_EQ(p.member("sgd_note"), "too_large");
  EXPECT_FALSE(std::isnan(p.real("eta_gd")));
}

TEST(SgdPoint, ExactTracesAreDeclaredOnlyWhenAsked) {
  const Point without(kProp6, {"record.every=5"});
  EXPECT_LT(without.fields.schema().find(Group::traces, "exact_mean_dist"), 0);
  EXPECT_GE(without.fields.schema().find(Group::traces, "dist_to_min"), 0);
  const Point with(kProp6, {"record.every=5", "stability.exact_steps=10"});
  for (const char* name : {"exact_mean_dist", "exact_mean_sq_dist", "exact_p_beyond"}) {
    EXPECT_GE(with.fields.schema().find(Group::traces, name), 0) << name;
  }
  // Steps 0, 5, 10 enumerated (2^10 paths), 15 and 20 past exact_steps.
  EXPECT_FALSE(std::isnan(with.trace("exact_mean_dist", 2)));
  EXPECT_TRUE(std::isnan(with.trace("exact_mean_dist", 3)));
  EXPECT_TRUE(std::isnan(with.trace("exact_p_beyond", 4)));
}

}  // namespace
}  // namespace symsweep
