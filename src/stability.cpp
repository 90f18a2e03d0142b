// Stability checks and run classification. The maths is in include/symsweep/stability.hpp.
#include "symsweep/stability.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "detmath.hpp"
#include "symsweep/cancel.hpp"
#include "symsweep/eigen_solvers.hpp"
#include "symsweep/error.hpp"
#include "symsweep/optimizer.hpp"

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
    case StabilityNote::degenerate_top:
      return "degenerate_top";
    case StabilityNote::not_smooth:
      return "not_smooth";
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
  // The Hessian there, and the derivatives along v by differences of Hessian-vector products at
  // x* +- h v (Model::directional_derivatives' step): meaningless across a kink.
  const double reach = 1e-3 * (1.0 + (x_star.size() ? x_star.cwiseAbs().maxCoeff() : 0.0));
  if (!model.smooth_near(x_star, full, reach)) {
    c.note = StabilityNote::not_smooth;
    return c;
  }
  Matrix h;
  SgdMap{gamma}.curvature_matrix(model, full, x_star, h);  // the linearisation at x*
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(h);
  const double lo = eig.eigenvalues()[0], hi = eig.eigenvalues()[d - 1];
  if (!(lo > 1e-12 * std::fabs(hi)) || !std::isfinite(hi)) {
    c.note = StabilityNote::not_positive_definite;
    return c;
  }
  c.lambda_max = hi;
  c.eta_gd = 2.0 / hi;
  c.lambda_2 = d > 1 ? eig.eigenvalues()[d - 2] : -std::numeric_limits<double>::infinity();
  if (hi - c.lambda_2 < kMinRelativeGap * hi) {  // v is arbitrary in the top eigenspace
    c.note = StabilityNote::degenerate_top;
    return c;
  }
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
  const double mu = eta * hi - 2.0;
  const double a2 = mu / ((eta / 6.0) * c.K);
  if (a2 > 0 && std::isfinite(a2)) {
    if (mu > 0 && c.K > 0) {  // supercritical, past the threshold: the stable 2-cycle
      c.amplitude = std::sqrt(a2);
      c.centre_shift = -0.5 * a2 * hg;
    } else if (mu < 0 && c.K < 0) {  // subcritical, below it: the unstable one
      c.basin_radius = std::sqrt(a2);
    }
  }
  c.note = StabilityNote::ok;
  return c;
}

std::optional<Vector> newton_minimum(Model& model, const Batch& full, Vector x, double gamma,
                                     int* steps) {
  const Index d = model.dim();
  if (d > kMaxDense) return std::nullopt;
  Vector grad(d);
  Matrix h;
  // Near an isolated minimum Newton halves the gradient at every step; ten steps in a row that do
  // not halve its best norm mean there is none to find (a continuous symmetry's flat valley, a
  // saddle region), and each step costs a dense Hessian: give up rather than run all 100.
  double best = std::numeric_limits<double>::infinity();
  int stalled = 0;
  for (int it = 0; it < 100; ++it) {
    if (steps) *steps = it + 1;
    cancellation_point();
    model.loss_grad(x, full, grad);
    grad += gamma * x;
    if (!grad.allFinite()) return std::nullopt;
    const double norm = grad.norm();
    if (norm < 0.5 * best) {
      best = norm;
      stalled = 0;
    } else if (++stalled >= 10) {
      return std::nullopt;
    }
    SgdMap{gamma}.curvature_matrix(model, full, x, h);  // the objective's Hessian, with decay
    // Relative to the gradient's scale: grad ~ H (x - x*), and |H|_inf (the largest absolute row
    // sum, >= every |eigenvalue|) scales with the loss, so the test does not depend on its units.
    const double scale = h.cwiseAbs().rowwise().sum().maxCoeff();
    if (!std::isfinite(scale)) return std::nullopt;
    if (grad.norm() <= 1e-13 * scale * (1.0 + x.norm())) {
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

namespace {

constexpr Index kBasis = 24;             // Lanczos basis columns at most (the memory bound)
constexpr Index kKeep = 8;               // Ritz vectors kept at a thick restart
constexpr double kBreakdown = 1e-12;     // |w| / |H q| below which the Krylov space is invariant
constexpr int kMaxFresh = 2;             // fresh random vectors after breakdowns, per run
constexpr Index kMaxProducts = 3000;     // per run
constexpr int kMaxVerifications = 3;     // deflated runs (a missed top swaps roles)
constexpr Index kRestartRows = 256;      // rows of the basis rotated at once at a restart
constexpr Index kMinEarlyProducts = 16;  // TopEigenTolerance::check_every: not before these

/// One thick-restart Lanczos run on H restricted to the complement of `lock` (a unit vector, or
/// empty): the largest eigenvalue there, its unit Ritz vector in x. q is the d x kBasis basis;
/// u and w are work vectors of length d. Numbers depend only on the operator and the stream.
struct Lanczos {
  const std::function<void(const Vector&, Vector&)>& product;
  Stream& start;
  const Vector& lock;
  Matrix& q;
  Vector &u, &w, &x;
  double tol;    // Ritz residual / scale at which the run ends
  double tight;  // ... once its value passes `above` (a verification that finds a larger value)
  double above = std::numeric_limits<double>::infinity();
  Index every = 0;  // > 0: the residual estimate also every `every` columns, not only when full
  Index products = 0;
  double anorm = 0;  // the largest |H q| seen: the scale of every tolerance

  /// Removes from v its components along lock and the first k columns of q (twice: enough).
  void orthogonalise(Vector& v, Index k) const {
    for (int pass = 0; pass < 2; ++pass) {
      if (lock.size() > 0) v -= lock.dot(v) * lock;
      if (k > 0) {
        const Vector c = q.leftCols(k).transpose() * v;
        v.noalias() -= q.leftCols(k) * c;
      }
    }
  }

  /// A random unit vector orthogonal to lock and the first k columns, into column k.
  bool fresh(Index k) {
    start.normals(u.data(), static_cast<std::size_t>(u.size()));
    orthogonalise(u, k);
    const double n = u.norm();
    if (!(n > 0)) return false;
    q.col(k) = u / n;
    return true;
  }

  /// Runs; returns whether it converged, the value into *value.
  bool run(double* value) {
    const Index d = q.rows();
    Matrix t = Matrix::Zero(kBasis, kBasis);  // Q^T H Q
    Eigen::SelfAdjointEigenSolver<Matrix> eig;
    double b = 0;
    int fresh_used = 0;
    Index n = 0;  // columns in use; the first `kept` are Ritz vectors of the last restart
    if (!fresh(0)) return false;
    for (;;) {
      // Expand the basis from column n: w = H q_j, orthogonalised against the basis, is the next
      // column; its projections are column j of T.
      Index j = n;
      bool early = false;  // stopped before the basis was full, to check a small residual
      for (; j < kBasis; ++j) {
        cancellation_point();
        u = q.col(j);
        product(u, w);
        ++products;
        if (lock.size() > 0) w -= lock.dot(w) * lock;  // stay in the complement of lock
        Vector h = q.leftCols(j + 1).transpose() * w;
        w.noalias() -= q.leftCols(j + 1) * h;
        const Vector h2 = q.leftCols(j + 1).transpose() * w;
        w.noalias() -= q.leftCols(j + 1) * h2;
        if (lock.size() > 0) w -= lock.dot(w) * lock;
        h += h2;
        t.col(j).head(j + 1) = h;
        t.row(j).head(j + 1) = h.transpose();
        b = w.norm();
        anorm = std::max(anorm, std::sqrt(h.squaredNorm() + b * b));
        if (!std::isfinite(anorm)) return false;
        if (j + 1 == kBasis) break;
        if (b > kBreakdown * anorm) {
          q.col(j + 1) = w / b;
        } else if (fresh_used < kMaxFresh && j + 1 < d && fresh(j + 1)) {
          ++fresh_used;  // an invariant subspace: go on from outside it
          b = 0;
        } else {
          b = 0;  // invariant, and the fresh vectors found nothing new: done
          break;
        }
        // Early estimates after 16 products at least: a random start's component along a
        // larger eigenvalue needs a few products to show (q.col(j + 1) is set: resumable).
        if (every > 0 && b > 0 && (j + 1) % every == 0 && products >= kMinEarlyProducts) {
          eig.compute(t.topLeftCorner(j + 1, j + 1));
          const double sc = std::max(anorm, eig.eigenvalues().cwiseAbs().maxCoeff());
          if (b * std::fabs(eig.eigenvectors()(j, j)) <= tol * sc) {
            early = true;
            break;
          }
        }
      }
      n = std::min(j + 1, kBasis);
      eig.compute(t.topLeftCorner(n, n));
      const double theta = eig.eigenvalues()[n - 1];
      const double scale = std::max(anorm, eig.eigenvalues().cwiseAbs().maxCoeff());
      *value = theta;
      const bool small = b * std::fabs(eig.eigenvectors()(n - 1, n - 1)) <= tol * scale;
      if (small || n < kBasis || products >= kMaxProducts) {
        // Check the estimate on an explicit product: r = |H x - theta x|.
        x.noalias() = q.leftCols(n) * eig.eigenvectors().col(n - 1);
        x.normalize();
        u = x;
        product(u, x);
        ++products;
        if (lock.size() > 0) x -= lock.dot(x) * lock;
        const double r = (x - theta * u).norm();
        x = u;
        if (r <= 10 * tol * scale) {
          // Converged, unless the value passed `above` at a looser tolerance than `tight`: then
          // it replaces the one found before and goes on to the tight tolerance.
          if (!(theta > above) || r <= 10 * tight * scale) return true;
          tol = tight;
        }
        if (products >= kMaxProducts) return false;
        if (early) continue;           // not confirmed: the basis grows on from column n
        if (n < kBasis) return false;  // a breakdown that the product does not confirm
      }
      // Thick restart: the kKeep best Ritz vectors replace the basis (in blocks of rows, so
      // that no d x kKeep temporary is made); the residual direction (or a fresh vector after a
      // breakdown) is the next column, and T becomes diagonal (its arrow comes with the next
      // column's projections).
      const Matrix y = eig.eigenvectors().rightCols(kKeep);
      for (Index r0 = 0; r0 < d; r0 += kRestartRows) {
        const Index rows = std::min(kRestartRows, d - r0);
        const Matrix block = q.middleRows(r0, rows) * y;
        q.middleRows(r0, rows).leftCols(kKeep) = block;
      }
      t.setZero();
      t.diagonal().head(kKeep) = eig.eigenvalues().tail(kKeep);
      if (b > kBreakdown * anorm) {
        q.col(kKeep) = w / b;  // orthogonal to the old basis, so to the kept vectors
      } else if (!fresh(kKeep)) {
        return false;
      }
      n = kKeep;
    }
  }
};

}  // namespace

TopEigen top_eigenvalue(const std::function<void(const Vector&, Vector&)>& product, Index d,
                        Stream& start, const TopEigenTolerance& tolerance) {
  TopEigen r;
  if (d <= 64) {  // small: the dense matrix, exactly
    Matrix h;
    Model::hessian_from_products(d, product, h);
    const Eigen::SelfAdjointEigenSolver<Matrix> eig(h);
    r.value = eig.eigenvalues()[d - 1];
    r.second = d > 1 ? eig.eigenvalues()[d - 2] : -std::numeric_limits<double>::infinity();
    r.vector = eig.eigenvectors().col(d - 1);
    r.converged = eig.info() == Eigen::Success;
    r.products = d;
    return r;
  }
  Matrix q(d, kBasis);
  Vector u(d), w(d), x(d), none;
  const double tight = tolerance.value;
  Lanczos first{product, start, none, q, u, w, x, tight, tight};
  first.every = tolerance.check_every;
  r.converged = first.run(&r.value);
  r.products = first.products;
  r.vector = x;
  double scale = first.anorm;
  // Verification: the largest eigenvalue on the complement of the vector found, from a new
  // random start. Larger means the first run missed the top (swap, and check again); else it is
  // lambda_2.
  for (int k = 0; k < kMaxVerifications; ++k) {
    double other = MinimumCheck::kNaN;
    Lanczos check{product, start, r.vector, q, u, w, x, std::max(tolerance.second, tight), tight};
    check.above = r.value + tight * scale;
    check.every = tolerance.check_every;
    const bool ok = check.run(&other);
    r.products += check.products;
    scale = std::max(scale, check.anorm);
    r.converged = r.converged && ok;
    if (!(other > r.value + tight * scale)) {
      r.second = other;
      return r;
    }
    r.second = r.value;  // a lower bound until the next check
    r.value = other;
    r.vector.swap(x);
  }
  r.converged = false;  // the deflated runs kept finding larger values
  return r;
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
  SgdMap{gamma}.tangent(model, full, x, eta, u_, hu_);  // GD's Jacobian at x_t, applied to u
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
