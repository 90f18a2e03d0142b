// Stability checks and run classification. The maths is in include/symsweep/stability.hpp.
#include "symsweep/stability.hpp"

#include <algorithm>
#include <cmath>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include "detmath.hpp"
#include "symsweep/cancel.hpp"
#include "symsweep/error.hpp"

namespace symsweep {

namespace {
constexpr Index kMaxDense = 4096;
}  // namespace

const char* to_string(StabilityNote note) {
  switch (note) {
    case StabilityNote::not_checked:
      return "not_checked";
    case StabilityNote::ok:
      return "ok";
    case StabilityNote::no_reference:
      return "no_reference";
    case StabilityNote::not_positive_definite:
      return "not_positive_definite";
    case StabilityNote::no_derivatives:
      return "no_derivatives";
    case StabilityNote::too_large:
      return "too_large";
  }
  return "?";
}

MinimumCheck check_minimum(Model& model, const Batch& full, const Vector& x_star, double eta,
                           double gamma) {
  MinimumCheck c;
  const Index d = model.dim();
  if (d > kMaxDense) {
    c.note = StabilityNote::too_large;
    return c;
  }
  Matrix h;
  model.hessian(x_star, full, h);
  h.diagonal().array() += gamma;
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(h);
  const double lo = eig.eigenvalues()[0], hi = eig.eigenvalues()[d - 1];
  if (!(lo > 1e-12 * std::fabs(hi)) || !std::isfinite(hi)) {
    c.note = StabilityNote::not_positive_definite;
    return c;
  }
  c.lambda_max = hi;
  c.eta_gd = 2.0 / hi;
  c.v = eig.eigenvectors().col(d - 1);
  Index big = 0;
  c.v.cwiseAbs().maxCoeff(&big);
  if (c.v[big] < 0) c.v = -c.v;  // a fixed sign, so that runs agree bit for bit
  Vector g;
  double q = 0;
  if (!model.directional_derivatives(x_star, full, c.v, g, q)) {
    c.note = StabilityNote::no_derivatives;
    return c;
  }
  const Eigen::LDLT<Matrix> solve(h);
  const Vector hg = solve.solve(g);
  c.K = 3.0 * g.dot(hg) - q;
  const double a2 = (eta * hi - 2.0) / ((eta / 6.0) * c.K);
  if (a2 > 0 && std::isfinite(a2)) {
    c.amplitude = std::sqrt(a2);
    c.centre_shift = -0.5 * a2 * hg;
  }
  c.note = StabilityNote::ok;
  return c;
}

std::optional<Vector> newton_minimum(Model& model, const Batch& full, Vector x, double gamma) {
  const Index d = model.dim();
  if (d > kMaxDense) return std::nullopt;
  Vector grad(d);
  Matrix h;
  for (int it = 0; it < 100; ++it) {
    model.loss_grad(x, full, grad);
    grad += gamma * x;
    if (!grad.allFinite()) return std::nullopt;
    model.hessian(x, full, h);
    h.diagonal().array() += gamma;
    if (grad.norm() <= 1e-13 * (1.0 + x.norm())) {
      const Eigen::SelfAdjointEigenSolver<Matrix> eig(h, Eigen::EigenvaluesOnly);
      if (eig.eigenvalues()[0] > 1e-12 * std::fabs(eig.eigenvalues()[d - 1])) return x;
      return std::nullopt;  // a saddle or a degenerate point
    }
    x -= h.ldlt().solve(grad);
  }
  return std::nullopt;
}

int detect_period(const RowMatrix& window, Index count, int max_period, double tol) {
  if (count < 2 * max_period) return 0;
  const Index first = window.rows() - count, last = window.rows() - 1;
  for (int k = 1; k <= max_period; ++k) {
    // Every iterate equals the last one of its phase (t = last - j k): a slow drift adds up over
    // the window and is not taken for a period.
    bool repeats = true;
    for (Index t = first; t <= last - k && repeats; ++t) {
      const Index ref = last - (last - t) % k;
      const double scale = 1.0 + window.row(ref).cwiseAbs().maxCoeff();
      repeats = (window.row(t) - window.row(ref)).cwiseAbs().maxCoeff() <= tol * scale;
    }
    if (repeats) return k;
  }
  return 0;
}

double top_eigenvalue(const std::function<void(const Vector&, Vector&)>& product, Index d,
                      Vector* vector) {
  if (d <= 64) {  // small: the dense matrix, exactly
    Matrix h;
    Model::hessian_from_products(d, product, h);
    const Eigen::SelfAdjointEigenSolver<Matrix> eig(h);
    if (vector) *vector = eig.eigenvectors().col(d - 1);
    return eig.eigenvalues()[d - 1];
  }
  const Index m_max = std::min<Index>(d, 300);
  Matrix q(d, m_max);  // the Lanczos basis, reorthogonalised in full (deterministic, no restarts)
  std::vector<double> alpha, beta;
  Vector w(d);
  q.col(0) = Vector::Ones(d) / std::sqrt(static_cast<double>(d));
  double lambda = 0;
  Vector y;
  for (Index k = 0; k < m_max; ++k) {
    product(q.col(k), w);
    alpha.push_back(q.col(k).dot(w));
    w -= q.leftCols(k + 1) * (q.leftCols(k + 1).transpose() * w);  // against every earlier vector
    w -= q.leftCols(k + 1) * (q.leftCols(k + 1).transpose() * w);  // twice is enough
    const double b = w.norm();
    Matrix t = Matrix::Zero(k + 1, k + 1);
    for (Index i = 0; i <= k; ++i) {
      t(i, i) = alpha[static_cast<std::size_t>(i)];
      if (i < k) t(i, i + 1) = t(i + 1, i) = beta[static_cast<std::size_t>(i)];
    }
    const Eigen::SelfAdjointEigenSolver<Matrix> eig(t);
    lambda = eig.eigenvalues()[k];
    y = eig.eigenvectors().col(k);
    const bool done = b * std::fabs(y[k]) <= 1e-10 * std::fabs(lambda) || b == 0 || k + 1 == m_max;
    if (done) {
      if (vector) *vector = (q.leftCols(k + 1) * y).normalized();
      return lambda;
    }
    beta.push_back(b);
    q.col(k + 1) = w / b;
  }
  return lambda;
}

EndWatch::EndWatch(Index d, std::int64_t steps, Stream stream)
    : d_(d),
      steps_(steps),
      first_tangent_(steps - std::min(steps, kSpan)),
      first_measured_(first_tangent_ + std::min(steps, kSpan) / 5),
      window_(std::min<Index>(kRows, steps), std::min(d, kWidth)),
      u_(d),
      hu_(d) {
  if (d <= kOrbitMaxDim) orbit_.resize(std::min<Index>(kOrbit, steps), d);
  // Normals in chunks, with a cancellation point between them (d may be 1e7 or more).
  constexpr Index kChunk = Index{1} << 16;
  const auto draw = [&](Vector& out) {
    for (Index i = 0; i < out.size(); i += kChunk) {
      cancellation_point();
      stream.normals(out.data() + i, static_cast<std::size_t>(std::min(kChunk, out.size() - i)));
    }
  };
  draw(u_);
  u_.normalize();
  if (d > kWidth) {
    weights_.resize(d);
    draw(weights_);
    for (Index b = 0; b < kWidth / 2; ++b) {
      const Index begin = b * d / (kWidth / 2), end = (b + 1) * d / (kWidth / 2);
      weights_.segment(begin, end - begin).normalize();
    }
  }
}

void EndWatch::before_update(std::int64_t t, Model& model, const Batch& full, const Vector& x,
                             double eta, double gamma) {
  if (t < first_tangent_ || tangent_failed_) return;
  model.hessian_vector(x, full, u_, hu_);
  hu_ += gamma * u_;
  u_ -= eta * hu_;  // the Jacobian of GD's step at x_t, applied to u
  const double n = u_.norm();
  if (!(n > 0) || !std::isfinite(n)) {
    tangent_failed_ = true;  // lambda stays NaN
    return;
  }
  u_ /= n;
  if (t >= first_measured_) {
    log_growth_ += det::log(n);
    ++measured_;
  }
}

void EndWatch::after_update(std::int64_t t, const Vector& x) {
  // x = theta_{t+1}; the iterates t + 1 = steps - rows + 1, ..., steps are kept.
  const Index rows = window_.rows();
  if (t + 1 <= steps_ - rows) return;
  auto row = window_.row(window_count_ % rows);
  if (d_ <= kWidth) {
    row = x.transpose();
  } else {
    const Index half = kWidth / 2;
    row.head(half) = x.head(half).transpose();
    for (Index b = 0; b < half; ++b) {
      const Index begin = b * d_ / half, end = (b + 1) * d_ / half;
      row[half + b] = weights_.segment(begin, end - begin).dot(x.segment(begin, end - begin));
    }
  }
  ++window_count_;
  if (orbit_.rows() > 0 && t + 1 > steps_ - orbit_.rows()) {
    orbit_.row(orbit_count_ % orbit_.rows()) = x.transpose();
    ++orbit_count_;
  }
}

double EndWatch::chaos_threshold() const {
  return measured_ > 0 ? kGrowth / static_cast<double>(measured_) : MinimumCheck::kNaN;
}

EndClass EndWatch::classify(double period_tol) const {
  EndClass c;
  const Index count = std::min(window_count_, window_.rows());
  // The window oldest first (the ring is full, or was filled from row 0).
  RowMatrix w(count, window_.cols());
  for (Index i = 0; i < count; ++i)
    w.row(i) = window_.row((window_count_ - count + i) % window_.rows());
  c.period = detect_period(w, count, static_cast<int>(kOrbit), period_tol);
  if (c.period == 1) return c;
  if (!tangent_failed_ && measured_ > 0) c.lyapunov = log_growth_ / static_cast<double>(measured_);
  if (c.period >= 2 || count < 8) return c;
  // Largest step of the first and of the last quarter of the window.
  const Index q = (count - 1) / 4;
  double first = 0, last = 0;
  for (Index i = 0; i < q; ++i) {
    first = std::max(first, (w.row(i + 1) - w.row(i)).cwiseAbs().maxCoeff());
    const Index j = count - 2 - i;
    last = std::max(last, (w.row(j + 1) - w.row(j)).cwiseAbs().maxCoeff());
  }
  c.approaching = !(last >= 0.5 * first);
  c.aperiodic = c.lyapunov > chaos_threshold() && !c.approaching;
  return c;
}

Index EndWatch::iterates_kept() const {
  return std::min(orbit_count_, orbit_.rows());
}

RowMatrix EndWatch::last_iterates(Index n) const {
  SYMSWEEP_VERIFY(n <= iterates_kept(), "EndWatch: fewer iterates kept than asked for");
  const Index rows = orbit_.rows();
  RowMatrix out(n, d_);
  for (Index i = 0; i < n; ++i) out.row(i) = orbit_.row((orbit_count_ - n + i) % rows);
  return out;
}

std::size_t EndWatch::bytes() const {
  const auto size = static_cast<std::size_t>(window_.size() + orbit_.size() + weights_.size() +
                                             u_.size() + hu_.size());
  return size * sizeof(double);
}

}  // namespace symsweep
