// Teacher–student data: covariances, the moment-matched reference set, and sample statistics.
#include <gtest/gtest.h>

#include <cmath>

#include "symsweep/data.hpp"
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

}  // namespace
}  // namespace symsweep
