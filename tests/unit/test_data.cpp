// Teacher–student data: covariances, the moment-matched reference set, and sample statistics.
#include <gtest/gtest.h>

#include <cmath>

#include <Eigen/Eigenvalues>

#include <cstring>

#include "alloc_counter.hpp"
#include "symsweep/data.hpp"
#include "symsweep/error.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {
namespace {

DataSpec spec(Index dx, Index dy) {
  DataSpec s;
  s.dx = dx;
  s.dy = dy;
  s.x_var = 2.0;
  s.x_decay = 0.5;
  s.teacher_scale = 1.5;
  s.teacher_decay = 0.8;
  s.noise_var = 0.3;
  s.noise_decay = 0.25;
  return s;
}

TEST(Teacher, CovariancesAndTeacherFollowTheSpec) {
  const Teacher t(spec(3, 2));
  EXPECT_EQ(t.input_cov().diagonal(), Vector((Vector(3) << 2.0, 1.0, 0.5).finished()));
  EXPECT_EQ(t.noise_cov().diagonal(), Vector((Vector(2) << 0.3, 0.075).finished()));
  Matrix v = Matrix::Zero(2, 3);
  v(0, 0) = 1.5;
  v(1, 1) = 1.2;
  EXPECT_LT((t.teacher() - v).norm(), 1e-15);
}

TEST(Teacher, ReferenceSetHasThePopulationSecondMoments) {
  for (auto [dx, dy] : {std::pair<Index, Index>{3, 2}, {1, 1}, {2, 4}}) {
    const Teacher t(spec(dx, dy));
    const SampleSet ref = t.reference_set();
    const double m = static_cast<double>(ref.size());
    const Matrix sx = t.input_cov(), v = t.teacher();
    const Matrix xx = ref.x.transpose() * ref.x / m;
    const Matrix yx = ref.y.transpose() * ref.x / m;
    const Matrix yy = ref.y.transpose() * ref.y / m;
    EXPECT_LT((xx - sx).norm(), 1e-14);
    EXPECT_LT((yx - v * sx).norm(), 1e-14);
    EXPECT_LT((yy - (v * sx * v.transpose() + t.noise_cov())).norm(), 1e-14);
  }
}

TEST(Teacher, PopulationLossThroughTheReferenceSetIsExact) {
  // E 1/2 |U W x - y|^2 = 1/2 tr((UW - V) Sx (UW - V)^T) + 1/2 tr(Seps).
  const Teacher t(spec(3, 2));
  Linear2 model(3, 4, 2, 1, 1);
  Vector theta;
  Stream init(3, 1, Purpose::init);
  model.initialize(init, theta);
  const Matrix e = model.u(theta) * model.w(theta) - t.teacher();
  const double exact =
      0.5 * (e * t.input_cov() * e.transpose()).trace() + 0.5 * t.noise_cov().trace();
  EXPECT_NEAR(model.loss(theta, t.reference_set().batch()), exact, 1e-13 * exact);
}

TEST(Teacher, SamplesHaveTheRightMoments) {
  const Teacher t(spec(3, 2));
  Stream s(8, 0, Purpose::data);
  const Index n = 200000;
  const SampleSet set = t.sample(s, n);
  const Matrix xx = set.x.transpose() * set.x / static_cast<double>(n);
  const Matrix yx = set.y.transpose() * set.x / static_cast<double>(n);
  const Matrix yy = set.y.transpose() * set.y / static_cast<double>(n);
  const Matrix v = t.teacher(), sx = t.input_cov();
  // Entrywise standard error of a second moment is at most ~ sqrt(2) sigma_i sigma_j / sqrt(n).
  const double tol = 6 * 2.0 * std::sqrt(2.0 / static_cast<double>(n)) * 2;
  EXPECT_LT((xx - sx).cwiseAbs().maxCoeff(), tol);
  EXPECT_LT((yx - v * sx).cwiseAbs().maxCoeff(), tol);
  EXPECT_LT((yy - (v * sx * v.transpose() + t.noise_cov())).cwiseAbs().maxCoeff(), tol);
}

TEST(Teacher, SameStreamSameSamples) {
  const Teacher t(spec(2, 2));
  Stream a(1, 5, Purpose::data), b(1, 5, Purpose::data);
  const SampleSet sa = t.sample(a, 50), sb = t.sample(b, 50);
  EXPECT_EQ(sa.x, sb.x);
  EXPECT_EQ(sa.y, sb.y);
}

// ---- Explicit Sigma_x, Sigma_eps and V (data.x_cov, data.noise_cov, data.teacher).

Matrix mat(Index rows, Index cols, std::initializer_list<double> values) {
  Matrix m(rows, cols);
  auto it = values.begin();
  for (Index r = 0; r < rows; ++r) {
    for (Index c = 0; c < cols; ++c) m(r, c) = *it++;
  }
  return m;
}

/// dx = 3, dy = 2: a full positive definite Sigma_x, a full Sigma_eps, a dense V.
DataSpec full_spec() {
  DataSpec s;
  s.dx = 3;
  s.dy = 2;
  s.x_cov = mat(3, 3, {2.0, 0.6, -0.3, 0.6, 1.0, 0.2, -0.3, 0.2, 0.5});
  s.noise_cov = mat(2, 2, {0.3, -0.1, -0.1, 0.2});
  s.teacher = mat(2, 3, {1.0, -0.5, 0.25, 0.3, 2.0, -1.0});
  return s;
}

/// A rank-deficient Sigma_x (x1 = x2 almost surely) and a list of noise eigenvalues.
DataSpec semidefinite_spec() {
  DataSpec s = full_spec();
  s.x_cov = mat(3, 3, {1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0});
  s.noise_cov = mat(1, 2, {0.4, 0.0});
  return s;
}

/// Whether two matrices hold the same doubles, bit for bit (signs of zeros included).
bool same_bits(const RowMatrix& a, const RowMatrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

/// Teacher::sample from a Stream (normals in blocks, the diagonal teacher's product per element)
/// against the same call through NormalSource (one normal at a time, the dense product).
void expect_stream_path_matches(const DataSpec& ds, Index rows, std::uint64_t key) {
  const Teacher t(ds);
  RowMatrix xa(rows, ds.dx), ya(rows, ds.dy), xb(rows, ds.dx), yb(rows, ds.dy);
  Stream a(3, key, Purpose::batches), b(3, key, Purpose::batches);
  for (int rep = 0; rep < 3; ++rep) {  // consecutive batches: the stream's position carries over
    t.sample(a, xa, ya);
    t.sample(static_cast<NormalSource&>(b), xb, yb);
    ASSERT_TRUE(same_bits(xa, xb)) << "dx " << ds.dx << " dy " << ds.dy << " rows " << rows;
    ASSERT_TRUE(same_bits(ya, yb)) << "dx " << ds.dx << " dy " << ds.dy << " rows " << rows;
    ASSERT_EQ(a.words_drawn(), b.words_drawn());
  }
}

TEST(Teacher, StreamPathGivesTheSameBitsAsOneNormalAtATime) {
  // Shapes from 1 x 1 to wider than one block of normals (4096: several blocks a batch), with
  // default (diagonal) and explicit (full) teachers and covariances.
  Stream pick(11, 0, Purpose::data);
  for (int trial = 0; trial < 60; ++trial) {
    DataSpec ds = spec(1 + static_cast<Index>(pick.below(trial < 50 ? 12 : 700)),
                       1 + static_cast<Index>(pick.below(trial < 50 ? 12 : 700)));
    ds.teacher_scale = trial % 7 == 3 ? 0.0 : 1.5;  // a zero teacher too
    const Index rows = 1 + static_cast<Index>(pick.below(trial < 50 ? 40 : 12));
    expect_stream_path_matches(ds, rows, static_cast<std::uint64_t>(trial));
  }
  DataSpec dense = spec(3, 2);
  dense.teacher = Matrix::Constant(2, 3, 0.7);
  expect_stream_path_matches(dense, 17, 99);
  expect_stream_path_matches(full_spec(), 17, 98);
}

TEST(Teacher, StreamPathIsAllocationFree) {
  SYMSWEEP_SKIP_UNLESS_COUNTING_WORKS();
  for (const DataSpec& ds : {spec(3, 2), spec(400, 300), full_spec()}) {
    const Teacher t(ds);
    RowMatrix x(64, ds.dx), y(64, ds.dy);
    Stream s(1, 2, Purpose::batches);
    t.sample(s, x, y);  // warm
    testing::start_counting_allocations();
    t.sample(s, x, y);
    EXPECT_EQ(testing::stop_counting_allocations(), 0) << ds.dx << " x " << ds.dy;
  }
}

TEST(Teacher, ExplicitMatricesAreUsedExactlyAsGiven) {
  const DataSpec s = full_spec();
  const Teacher t(s);
  EXPECT_EQ(t.input_cov(), s.x_cov);
  EXPECT_EQ(t.noise_cov(), s.noise_cov);
  EXPECT_EQ(t.teacher(), s.teacher);
  // The factors reproduce their covariances, semidefinite ones included.
  for (const DataSpec& d : {s, semidefinite_spec()}) {
    const Teacher u(d);
    const Matrix fx = u.input_factor(), fe = u.noise_factor();
    EXPECT_LT((fx * fx.transpose() - u.input_cov()).cwiseAbs().maxCoeff(), 1e-15);
    EXPECT_LT((fe * fe.transpose() - u.noise_cov()).cwiseAbs().maxCoeff(), 1e-15);
  }
  // A list of eigenvalues is the diagonal.
  EXPECT_EQ(Teacher(semidefinite_spec()).noise_cov(), mat(2, 2, {0.4, 0, 0, 0}));
}

TEST(Teacher, ReferenceSetIsExactForFullAndSemidefiniteMatrices) {
  for (const DataSpec& s : {full_spec(), semidefinite_spec()}) {
    const Teacher t(s);
    const SampleSet ref = t.reference_set();
    ASSERT_EQ(ref.size(), 5);
    const double m = static_cast<double>(ref.size());
    const Matrix sx = t.input_cov(), v = t.teacher();
    const Matrix xx = ref.x.transpose() * ref.x / m;
    const Matrix yx = ref.y.transpose() * ref.x / m;
    const Matrix yy = ref.y.transpose() * ref.y / m;
    EXPECT_LT((xx - sx).cwiseAbs().maxCoeff(), 1e-14);
    EXPECT_LT((yx - v * sx).cwiseAbs().maxCoeff(), 1e-14);
    EXPECT_LT((yy - (v * sx * v.transpose() + t.noise_cov())).cwiseAbs().maxCoeff(), 1e-14);
  }
}

TEST(Teacher, PopulationLossAndGradientThroughTheReferenceSetAreExactForFullMatrices) {
  // L = 1/2 tr(E Sx E^T) + 1/2 tr(Seps), E = U W - V; dL/dU = E Sx W^T, dL/dW = U^T E Sx.
  const Teacher t(full_spec());
  Linear2 model(3, 4, 2, 1, 1);
  Vector theta;
  Stream init(3, 1, Purpose::init);
  model.initialize(init, theta);
  const Matrix u = model.u(theta), w = model.w(theta);
  const Matrix e = u * w - t.teacher();
  const double exact =
      0.5 * (e * t.input_cov() * e.transpose()).trace() + 0.5 * t.noise_cov().trace();
  Vector grad(model.dim());
  model.reserve(5);
  EXPECT_NEAR(model.loss_grad(theta, t.reference_set().batch(), grad), exact, 1e-13 * exact);
  Vector expected(model.dim());
  Eigen::Map<Matrix>(expected.data(), 2, 4) = e * t.input_cov() * w.transpose();
  Eigen::Map<Matrix>(expected.data() + 8, 4, 3) = u.transpose() * e * t.input_cov();
  EXPECT_LT((grad - expected).norm(), 1e-13 * expected.norm());
}

TEST(Teacher, FullCovarianceSamplesHaveTheRightMoments) {
  for (const DataSpec& spec : {full_spec(), semidefinite_spec()}) {
    const Teacher t(spec);
    Stream s(8, 0, Purpose::data);
    const Index n = 200000;
    const SampleSet set = t.sample(s, n);
    const Matrix xx = set.x.transpose() * set.x / static_cast<double>(n);
    const Matrix yx = set.y.transpose() * set.x / static_cast<double>(n);
    const Matrix yy = set.y.transpose() * set.y / static_cast<double>(n);
    const Matrix v = t.teacher(), sx = t.input_cov();
    const Matrix syy = v * sx * v.transpose() + t.noise_cov();
    // Entrywise standard error of E[a b] is sqrt(Saa Sbb + Sab^2) / sqrt(n): 6 sigma.
    const auto check = [&](const Matrix& got, const Matrix& saa, const Matrix& sbb,
                           const Matrix& sab) {
      for (Index i = 0; i < got.rows(); ++i) {
        for (Index j = 0; j < got.cols(); ++j) {
          const double se =
              std::sqrt((saa(i, i) * sbb(j, j) + sab(i, j) * sab(i, j)) / static_cast<double>(n));
          EXPECT_LT(std::fabs(got(i, j) - sab(i, j)), 6 * se + 1e-15) << i << "," << j;
        }
      }
    };
    check(xx, sx, sx, sx);
    check(yx, syy, sx, v * sx);
    check(yy, syy, syy, syy);
    // x1 = x2 exactly where Sigma_x says they are perfectly correlated.
    if (sx(0, 1) == 1.0) {
      EXPECT_LT((set.x.col(0) - set.x.col(1)).cwiseAbs().maxCoeff(), 1e-15);
    }
  }
}

TEST(Teacher, EigenvaluesOrADiagonalMatrixSampleAsTheGeometricDiagonal) {
  // x_var = 2, x_decay = 0.5 is diag(2, 1, 0.5): the same numbers written three ways give the
  // same bits (and the geometric construction is what every existing config uses).
  DataSpec geometric;
  geometric.dx = 3;
  geometric.dy = 2;
  geometric.x_var = 2;
  geometric.x_decay = 0.5;
  geometric.noise_var = 0.3;
  geometric.noise_decay = 0.25;
  DataSpec list = full_spec(), diagonal = full_spec();
  list.x_cov = mat(1, 3, {2, 1, 0.5});
  list.noise_cov = mat(1, 2, {0.3, 0.075});
  list.teacher = diagonal.teacher = Matrix::Identity(2, 3);
  diagonal.x_cov = mat(3, 3, {2, 0, 0, 0, 1, 0, 0, 0, 0.5});
  diagonal.noise_cov = mat(2, 2, {0.3, 0, 0, 0.075});
  const auto draw = [](const DataSpec& d) {
    Stream s(5, 7, Purpose::data);
    return Teacher(d).sample(s, 64);
  };
  const SampleSet a = draw(geometric), b = draw(list), c = draw(diagonal);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(a.x, c.x);
  EXPECT_EQ(a.y, c.y);
}

TEST(Teacher, BadCovariancesAreRefusedWithTheRule) {
  EXPECT_FALSE(covariance_problem(Matrix(), 3));
  EXPECT_FALSE(covariance_problem(mat(2, 2, {1, 1, 1, 1}), 2));  // semidefinite is fine
  EXPECT_EQ(*covariance_problem(mat(2, 2, {1, 0.5, 0.4, 1})),
            "element (1, 2) = 0.5 but (2, 1) = 0.4; a covariance must be symmetric");
  EXPECT_EQ(*covariance_problem(mat(2, 2, {1, 2, 2, 1})),
            "not positive semidefinite (a pivot of its LDL^T factorisation is -3); a covariance "
            "must be symmetric positive semidefinite");
  EXPECT_EQ(*covariance_problem(mat(1, 2, {1, -0.5})),
            "eigenvalue 2 is -0.5; a covariance's eigenvalues must be >= 0");
  EXPECT_EQ(*covariance_problem(mat(2, 3, {1, 0, 0, 0, 1, 0})),
            "a 2 x 3 matrix; a covariance is one row of eigenvalues or a square matrix");
  EXPECT_EQ(*covariance_problem(mat(1, 2, {1, 2}), 3),
            "has 2 eigenvalue(s) but the model's dimension is 3; give 3 eigenvalue(s) or a 3 x 3 "
            "matrix");
  DataSpec wrong = full_spec();
  wrong.teacher = Matrix::Ones(3, 2);
  EXPECT_THROW(Teacher{wrong}, ConfigError);
}

}  // namespace
}  // namespace symsweep
