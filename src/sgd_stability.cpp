// SGD stability checks at x*. The maths is in include/symsweep/sgd_stability.hpp.
#include "symsweep/sgd_stability.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "detmath.hpp"
#include "symsweep/cancel.hpp"
#include "symsweep/eigen_solvers.hpp"
#include "symsweep/error.hpp"
#include "symsweep/stability.hpp"

namespace symsweep {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// The next combination of `k` indices out of [0, n) in lexicographic order; false after the
/// last one.
bool next_combination(Index* c, Index k, Index n) {
  Index i = k - 1;
  while (i >= 0 && c[i] == n - k + i) --i;
  if (i < 0) return false;
  ++c[i];
  for (Index j = i + 1; j < k; ++j) c[j] = c[j - 1] + 1;
  return true;
}

/// A symmetric d x d matrix as D = d (d + 1) / 2 numbers (diagonal, then sqrt(2) times the upper
/// triangle by rows): an isometry from the trace inner product to the Euclidean one.
void pack(const Matrix& x, Vector& v) {
  const Index d = x.rows();
  Index k = 0;
  for (Index j = 0; j < d; ++j) v[k++] = x(j, j);
  for (Index j = 0; j < d; ++j) {
    for (Index l = j + 1; l < d; ++l) v[k++] = std::sqrt(2.0) * 0.5 * (x(j, l) + x(l, j));
  }
}
void unpack(const Vector& v, Matrix& x) {
  const Index d = x.rows();
  Index k = 0;
  for (Index j = 0; j < d; ++j) x(j, j) = v[k++];
  for (Index j = 0; j < d; ++j) {
    for (Index l = j + 1; l < d; ++l) x(j, l) = x(l, j) = v[k++] / std::sqrt(2.0);
  }
}
}  // namespace

const char* to_string(SgdNote note) {
  switch (note) {
    case SgdNote::not_checked:
      return "not_checked";
    case SgdNote::ok:
      return "ok";
    case SgdNote::worst_batch_sampled:
      return "worst_batch_sampled";
    case SgdNote::full_batch:
      return "full_batch";
    case SgdNote::online:
      return "online";
    case SgdNote::reshuffle:
      return "reshuffle";
    case SgdNote::not_positive_definite:
      return "not_positive_definite";
    case SgdNote::no_reference:
      return "no_reference";
    case SgdNote::off:
      return "off";
    case SgdNote::too_large:
      return "too_large";
    case SgdNote::not_smooth:
      return "not_smooth";
  }
  return "?";
}

std::vector<SgdNote> all_sgd_notes() {
  return {SgdNote::not_checked,
          SgdNote::ok,
          SgdNote::worst_batch_sampled,
          SgdNote::full_batch,
          SgdNote::online,
          SgdNote::reshuffle,
          SgdNote::not_positive_definite,
          SgdNote::no_reference,
          SgdNote::off,
          SgdNote::too_large,
          SgdNote::not_smooth};
}

double batch_noise_factor(Index n, Index batch) {
  SYMSWEEP_VERIFY(batch >= 1 && batch <= n, "batch size must be in [1, n]");
  if (batch == n) return 0;
  return static_cast<double>(n - batch) / (static_cast<double>(batch) * static_cast<double>(n - 1));
}

// ------------------------------------------------------------------------------------ RowBatches
RowBatches::RowBatches(const SampleSet& data, Index max_rows)
    : data_(&data), x_(max_rows, data.x.cols()), y_(max_rows, data.y.cols()) {}

Batch RowBatches::row(Index i) const {
  return Batch{data_->x.middleRows(i, 1), data_->y.middleRows(i, 1)};
}

Batch RowBatches::rows(const Index* idx, Index count) {
  if (count == 1) return row(idx[0]);
  SYMSWEEP_VERIFY(count <= x_.rows(), "RowBatches: more rows than reserved");
  for (Index r = 0; r < count; ++r) {
    x_.row(r) = data_->x.row(idx[r]);
    y_.row(r) = data_->y.row(idx[r]);
  }
  return Batch{x_.topRows(count), y_.topRows(count)};
}

// ------------------------------------------------------------------------------ SecondMomentMap
SecondMomentMap::SecondMomentMap(Model& model, const SampleSet& data, const Vector& x_star,
                                 double gamma, Index batch)
    : model_(&model),
      data_(&data),
      x_star_(x_star),
      map_{gamma},
      d_(model.dim()),
      n_(data.size()),
      p_(batch_noise_factor(data.size(), batch)) {
  map_.curvature_matrix(model, data.batch(), x_star_, h_);
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(h_);
  q_ = eig.eigenvectors();
  lambda_ = eig.eigenvalues();
  positive_definite_ = eig.info() == Eigen::Success && std::isfinite(lambda_[d_ - 1]) &&
                       lambda_[0] > 1e-12 * std::fabs(lambda_[d_ - 1]);
  scale_.resize(d_, d_);
  for (Index j = 0; j < d_; ++j) {
    for (Index k = 0; k < d_; ++k) scale_(j, k) = 1.0 / std::sqrt(lambda_[j] + lambda_[k]);
  }
  y_.resize(d_, d_);
  z_.resize(d_, d_);
  hx_.resize(d_, d_);
  t1_.resize(d_, d_);
  t2_.resize(d_, d_);
  u_.resize(d_);
  hu_.resize(d_);
}

void SecondMomentMap::apply_a(const Matrix& x, Matrix& out) const {
  out.noalias() = h_ * x;
  out += out.transpose().eval();  // H X + X H (X symmetric)
}

void SecondMomentMap::apply_b(const Matrix& x, Matrix& out) {
  // mean_i H_i X H_i: Y = H_i X column by column, then H_i X H_i = H_i Y^T (X and H_i
  // symmetric); H X = mean_i Y on the way.
  out.setZero(d_, d_);
  hx_.setZero();
  for (Index i = 0; i < n_; ++i) {
    cancellation_point();
    const Batch one{data_->x.middleRows(i, 1), data_->y.middleRows(i, 1)};
    for (Index j = 0; j < d_; ++j) {
      u_ = x.col(j);
      map_.curvature(*model_, one, x_star_, u_, hu_);
      y_.col(j) = hu_;
    }
    hx_ += y_;
    for (Index j = 0; j < d_; ++j) {
      u_ = y_.row(j).transpose();
      map_.curvature(*model_, one, x_star_, u_, hu_);
      z_.col(j) = hu_;
    }
    out += z_;
    products_ += 2 * d_;
  }
  const double inv = 1.0 / static_cast<double>(n_);
  hx_ *= inv;
  out *= p_ * inv;
  if (p_ < 1) {
    z_.noalias() = hx_ * h_;  // H X H
    out += (1 - p_) * z_;
  }
  z_ = out.transpose();
  out = 0.5 * (out + z_);  // symmetric to rounding
}

void SecondMomentMap::apply(double eta, const Matrix& x, Matrix& out) {
  apply_b(x, out);
  apply_a(x, t1_);
  out = x - eta * t1_ + (eta * eta) * out;
}

void SecondMomentMap::a_inverse_sqrt(const Matrix& x, Matrix& out) const {
  Matrix t = q_.transpose() * x * q_;
  t = t.cwiseProduct(scale_);
  out.noalias() = q_ * t * q_.transpose();
}

double SecondMomentMap::radius(double eta, Stream& start) {
  const Index dd = d_ * (d_ + 1) / 2;
  Matrix xm(d_, d_), mx(d_, d_);
  const TopEigen top = top_eigenvalue(
      [&](const Vector& v, Vector& out) {
        unpack(v, xm);
        apply(eta, xm, mx);
        out.resize(dd);
        pack(mx, out);
      },
      dd, start);
  return top.converged ? top.value : kNaN;
}

double SecondMomentMap::threshold(Stream& start) {
  if (!positive_definite_) return kNaN;
  const Index dd = d_ * (d_ + 1) / 2;
  Matrix xm(d_, d_), ym(d_, d_), bm(d_, d_);
  const TopEigen top = top_eigenvalue(
      [&](const Vector& v, Vector& out) {
        unpack(v, xm);
        a_inverse_sqrt(xm, ym);
        apply_b(ym, bm);
        a_inverse_sqrt(bm, xm);
        out.resize(dd);
        pack(xm, out);
      },
      dd, start);
  if (!top.converged || !(top.value > 0)) return kNaN;
  const double eta_gd = 2.0 / lambda_[d_ - 1];
  return std::min(1.0 / top.value, eta_gd);
}

// ---------------------------------------------------------------------------------- worst batch
WorstBatch worst_batch(Model& model, const SampleSet& data, const Vector& x_star, double gamma,
                       Index batch, std::int64_t limit, Stream stream) {
  WorstBatch w;
  const Index n = data.size(), d = model.dim();
  SYMSWEEP_VERIFY(batch >= 1 && batch <= n, "worst_batch: batch size must be in [1, n]");
  const SgdMap map{gamma};
  Matrix h(d, d);
  Eigen::SelfAdjointEigenSolver<Matrix> eig(d);
  double top = -kInf;  // NaN once a batch's curvature is not finite
  const auto lambda_of = [&](const Batch& b) {
    map.curvature_matrix(model, b, x_star, h);
    eig.compute(h, Eigen::EigenvaluesOnly);
    ++w.batches;
    return eig.info() == Eigen::Success ? eig.eigenvalues()[d - 1] : kNaN;
  };
  // True when lambda is the new largest (the caller keeps the batch's rows).
  const auto worse = [&](double lambda) {
    if (std::isnan(top)) return false;
    if (!std::isnan(lambda) && lambda <= top) return false;
    top = lambda;
    return true;
  };
  if (binomial(n, batch) <= static_cast<double>(limit)) {
    RowBatches gather(data, batch);
    std::vector<Index> c(static_cast<std::size_t>(batch));
    std::iota(c.begin(), c.end(), Index{0});
    do {
      if (w.batches % 256 == 0) cancellation_point();
      if (worse(lambda_of(gather.rows(c.data(), batch)))) w.worst = c;
    } while (next_combination(c.data(), batch, n));
  } else {
    w.sampled = true;
    BatchSource draws(data, batch, stream);
    for (std::int64_t k = 0; k < limit; ++k) {
      if (k % 256 == 0) cancellation_point();
      if (worse(lambda_of(draws.next()))) w.worst = draws.last_indices();
    }
  }
  w.lambda = top;
  if (std::isnan(top)) return w;
  w.eta = top > 0 ? 2.0 / top : kInf;  // no batch has positive curvature: no threshold
  return w;
}

// ---------------------------------------------------------------------------- exact expectation
ExactExpectation exact_expectation(Model& model, const SampleSet& data, const OptimizerSpec& opt,
                                   const Vector& theta0, const Vector& x_star, std::int64_t T,
                                   const std::vector<std::int64_t>& steps, double bound) {
  const Index n = data.size(), d = model.dim();
  const Index s = opt.method == OptimizerSpec::Method::gd ? n : opt.batch;
  SYMSWEEP_VERIFY(s >= 1 && s <= n, "exact_expectation: batch size must be in [1, n]");
  SYMSWEEP_VERIFY(T >= 0, "exact_expectation: negative depth");
  const double m = binomial(n, s);
  const double paths = std::pow(m, static_cast<double>(T));
  SYMSWEEP_VERIFY(paths <= kMaxExactPaths,
                  "exact_expectation: " + std::to_string(paths) + " paths, more than 2^25");
  ExactExpectation r;
  r.paths = paths;
  const std::size_t n_steps = steps.size();
  r.mean_dist.assign(n_steps, kNaN);
  r.mean_sq_dist.assign(n_steps, kNaN);
  r.p_beyond.assign(n_steps, kNaN);
  // slot[t]: the entry of `steps` that records depth t, or -1.
  std::vector<std::ptrdiff_t> slot(static_cast<std::size_t>(T + 1), -1);
  for (std::size_t k = 0; k < n_steps; ++k) {
    if (steps[k] >= 0 && steps[k] <= T) slot[static_cast<std::size_t>(steps[k])] = k;
  }
  std::vector<double> sum(n_steps, 0.0), sum_sq(n_steps, 0.0), beyond(n_steps, 0.0);
  const auto record = [&](std::int64_t t, double dist) {
    const std::ptrdiff_t k = slot[static_cast<std::size_t>(t)];
    if (k < 0) return;
    sum[static_cast<std::size_t>(k)] += dist;
    sum_sq[static_cast<std::size_t>(k)] += dist * dist;
    if (dist > bound) beyond[static_cast<std::size_t>(k)] += 1;
  };
  // A path that overflowed after update t (iterate t + 1): every continuation of it is +inf at
  // every depth u > t, m^(u - t - 1) paths at depth u.
  const auto overflowed = [&](std::int64_t t) {
    double count = 1;
    for (std::int64_t u = t + 1; u <= T; ++u, count *= m) {
      const std::ptrdiff_t k = slot[static_cast<std::size_t>(u)];
      if (k < 0) continue;
      sum[static_cast<std::size_t>(k)] = kInf;
      sum_sq[static_cast<std::size_t>(k)] = kInf;
      beyond[static_cast<std::size_t>(k)] += count;
    }
  };

  const SgdMap map{opt.weight_decay};
  std::vector<Vector> theta(static_cast<std::size_t>(T + 1), Vector(d));
  Vector grad(d);
  theta[0] = theta0;
  record(0, (theta0 - x_star).norm());
  if (T > 0) {
    RowBatches gather(data, s);
    // comb[t * s, (t + 1) * s): the batch of update t on the current path.
    std::vector<Index> comb(static_cast<std::size_t>(T * s));
    const auto first = [&](std::int64_t t) {
      std::iota(comb.begin() + t * s, comb.begin() + (t + 1) * s, Index{0});
    };
    first(0);
    std::int64_t t = 0;  // the depth whose children are being walked
    for (bool more = true; more;) {
      if (r.evaluations % 4096 == 0) cancellation_point();
      const auto u = static_cast<std::size_t>(t);
      theta[u + 1] = theta[u];
      const Batch b = s == n ? data.batch() : gather.rows(comb.data() + t * s, s);
      const double loss = map.step(model, b, opt.eta_at(t), theta[u + 1], grad);
      ++r.evaluations;
      const double dist = (theta[u + 1] - x_star).norm();
      if (!std::isfinite(loss) || !std::isfinite(dist)) {
        overflowed(t);
      } else {
        record(t + 1, dist);
        if (t + 1 < T) {
          first(++t);
          continue;
        }
      }
      // The next sibling, or up until there is one.
      while (!next_combination(comb.data() + t * s, s, n)) {
        if (t == 0) {
          more = false;
          break;
        }
        --t;
      }
    }
  }
  for (std::size_t k = 0; k < n_steps; ++k) {
    if (steps[k] < 0 || steps[k] > T) continue;
    const double count = std::pow(m, static_cast<double>(steps[k]));
    r.mean_dist[k] = sum[k] / count;
    r.mean_sq_dist[k] = sum_sq[k] / count;
    r.p_beyond[k] = beyond[k] / count;
  }
  return r;
}

// ------------------------------------------------------------------------------------- the point
SgdCheck check_sgd(Model& model, const SampleSet& data, const Vector* x_star,
                   const MinimumCheck& gd, const OptimizerSpec& opt, bool online, bool enabled,
                   std::int64_t batch_limit, Stream lanczos, Stream worst) {
  SgdCheck c;
  if (!enabled) {
    c.note = SgdNote::off;
    return c;
  }
  if (x_star == nullptr) {
    c.note = SgdNote::no_reference;
    return c;
  }
  if (gd.note == StabilityNote::not_positive_definite) {
    c.note = SgdNote::not_positive_definite;
    return c;
  }
  if (gd.note == StabilityNote::too_large) {
    c.note = SgdNote::too_large;
    return c;
  }
  if (gd.note == StabilityNote::not_smooth) {
    c.note = SgdNote::not_smooth;
    return c;
  }
  const bool full =
      opt.method == OptimizerSpec::Method::gd || (!online && opt.batch >= data.size());
  if (full) {  // one batch, the whole objective: p = 0
    c.note = SgdNote::full_batch;
    c.eta_ms = c.eta_worst_batch = gd.eta_gd;
    return c;
  }
  if (online) {
    c.note = SgdNote::online;
    return c;
  }
  if (opt.sampling == OptimizerSpec::Sampling::reshuffle) {
    c.note = SgdNote::reshuffle;
    return c;
  }
  if (model.dim() > kMaxSgdDim) {
    c.note = SgdNote::too_large;
    return c;
  }
  SecondMomentMap ms(model, data, *x_star, opt.weight_decay, opt.batch);
  if (!ms.positive_definite()) {
    c.note = SgdNote::not_positive_definite;
    return c;
  }
  c.eta_ms = ms.threshold(lanczos);
  const WorstBatch w =
      worst_batch(model, data, *x_star, opt.weight_decay, opt.batch, batch_limit, worst);
  c.eta_worst_batch = w.eta;
  c.note = w.sampled ? SgdNote::worst_batch_sampled : SgdNote::ok;
  return c;
}

}  // namespace symsweep
