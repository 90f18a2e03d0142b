#include "symsweep/data.hpp"

#include <cmath>

#include "detmath.hpp"
#include "symsweep/error.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/spec.hpp"

namespace symsweep {

DataSpec DataSpec::from(const ParamSet& p, Index dx, Index dy) {
  DataSpec s;
  s.online = p.text("data.mode") == "online";
  s.n = s.online ? 0 : p.integer("data.n");
  s.dx = dx;
  s.dy = dy;
  s.x_var = p.number("data.x_var");
  s.x_decay = p.number("data.x_decay");
  s.teacher_scale = p.number("data.teacher_scale");
  s.teacher_decay = p.number("data.teacher_decay");
  s.noise_var = p.number("data.noise_var");
  s.noise_decay = p.number("data.noise_decay");
  return s;
}

namespace {
/// scale * (1, ratio, ratio^2, ...), n terms.
Vector geometric(Index n, double scale, double ratio) {
  Vector v(n);
  for (Index i = 0; i < n; ++i) v[i] = scale * det::powi(ratio, static_cast<long>(i));
  return v;
}
}  // namespace

Teacher::Teacher(const DataSpec& spec)
    : x_var_(geometric(spec.dx, spec.x_var, spec.x_decay)),
      noise_var_(geometric(spec.dy, spec.noise_var, spec.noise_decay)),
      x_std_(x_var_.cwiseSqrt()),
      noise_std_(noise_var_.cwiseSqrt()),
      v_(Matrix::Zero(spec.dy, spec.dx)) {
  const Vector diag = geometric(std::min(spec.dx, spec.dy), spec.teacher_scale, spec.teacher_decay);
  for (Index i = 0; i < diag.size(); ++i) v_(i, i) = diag[i];
}

void Teacher::sample(NormalSource& normal, Eigen::Ref<RowMatrix> x, Eigen::Ref<RowMatrix> y) const {
  const Index dx = x_std_.size(), dy = noise_std_.size();
  SYMSWEEP_VERIFY(x.cols() == dx && y.cols() == dy && x.rows() == y.rows(),
                  "sample buffers have the wrong shape");
  for (Index s = 0; s < x.rows(); ++s) {
    for (Index j = 0; j < dx; ++j) x(s, j) = x_std_[j] * normal.normal();
    for (Index j = 0; j < dy; ++j) y(s, j) = noise_std_[j] * normal.normal();
  }
  y.noalias() += x * v_.transpose();
}

SampleSet Teacher::sample(NormalSource& normal, Index n) const {
  SampleSet set{RowMatrix(n, x_std_.size()), RowMatrix(n, noise_std_.size())};
  sample(normal, set.x, set.y);
  return set;
}

SampleSet Teacher::reference_set() const {
  const Index dx = x_std_.size(), dy = noise_std_.size(), m = dx + dy;
  const double root_m = std::sqrt(static_cast<double>(m));
  SampleSet set{RowMatrix::Zero(m, dx), RowMatrix::Zero(m, dy)};
  set.x.topRows(dx) = (root_m * x_std_).asDiagonal();
  set.y.topRows(dx) = set.x.topRows(dx) * v_.transpose();
  set.y.bottomRows(dy) = (root_m * noise_std_).asDiagonal();
  return set;
}

Matrix Teacher::input_cov() const {
  return x_var_.asDiagonal();
}
Matrix Teacher::noise_cov() const {
  return noise_var_.asDiagonal();
}

}  // namespace symsweep
