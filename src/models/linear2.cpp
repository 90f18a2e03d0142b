// Two-layer linear network. The maths is in include/symsweep/models/linear2.hpp.
#include "symsweep/models/linear2.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "prediction_settings.hpp"
#include "symsweep/data.hpp"
#include "symsweep/eigen_solvers.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {

Linear2::Linear2(Index dx, Index h, Index dy, double init_u_scale, double init_w_scale)
    : Linear2(dx, h, dy, init_u_scale, init_w_scale, Options{}) {}

Linear2::Linear2(Index dx, Index h, Index dy, double init_u_scale, double init_w_scale,
                 const Options& options)
    : Model(shape_for(dx, h, dy)),
      dx_(dx),
      h_(h),
      dy_(dy),
      init_u_scale_(init_u_scale),
      init_w_scale_(init_w_scale),
      options_(options),
      g_(dy, dx),
      d_(h, h),
      d_eigen_(h) {
  SYMSWEEP_VERIFY(dx >= 1 && h >= 1 && dy >= 1, "linear2 needs positive dimensions");
  select_small_kernels();
  if (std::max({dx, h, dy}) <= kMediumWidth) ut_.resize(h, dy);
  sxx_.resize(dx, dx);
  p_.resize(dy, dx);
  dg_.resize(dy, dx);
  sample_z_.resize(h);
  sample_r_.resize(dy);
  sample_q_.resize(h);
}

double Linear2::penalty(const Vector& theta) const {
  double p = 0;
  if (options_.layer_decay != 0.0) {
    Index first = 0, size = 0;
    layer(options_.decay_layer, first, size);
    p += 0.5 * options_.layer_decay * theta.segment(first, size).squaredNorm();
  }
  if (options_.break_strength != 0.0) {
    p += options_.break_strength * theta.sum() / std::sqrt(static_cast<double>(dim()));
  }
  return p;
}

void Linear2::add_penalty_gradient(const Vector& theta, Vector& grad) const {
  if (options_.layer_decay != 0.0) {
    Index first = 0, size = 0;
    layer(options_.decay_layer, first, size);
    grad.segment(first, size) += options_.layer_decay * theta.segment(first, size);
  }
  if (options_.break_strength != 0.0) {
    grad.array() += options_.break_strength / std::sqrt(static_cast<double>(dim()));
  }
}

bool Linear2::flow_matrices(const Vector& theta, const Batch& set, std::vector<Matrix>& flows) {
  SYMSWEEP_VERIFY(flows.size() == 1 && flows[0].rows() == h_ && flows[0].cols() == h_,
                  "linear2: one flow matrix of h x h");
  residuals(theta, set);  // z_ = X W^T, r_ = Z U^T - Y (reserve()d for the set)
  const Index n = set.size();
  const auto z = z_.topRows(n);
  const auto r = r_.topRows(n);
  auto zw = flow_zw_.topRows(n);
  auto q = flow_q_.topRows(n);
  auto weight = flow_weight_.head(n);
  q.noalias() = r * u(theta);
  Matrix& f = flows[0];
  weight = r.rowwise().squaredNorm();
  zw = weight.asDiagonal() * z;
  f.noalias() = z.transpose() * zw;
  weight = set.x.rowwise().squaredNorm();
  zw = weight.asDiagonal() * q;
  f.noalias() -= q.transpose() * zw;
  const double inv_n = 1.0 / static_cast<double>(n);
  f *= inv_n;
  flow_gu_.noalias() = r.transpose() * z;
  flow_gu_ *= inv_n;
  flow_gw_.noalias() = q.transpose() * set.x;
  flow_gw_ *= inv_n;
  f.noalias() -= flow_gu_.transpose() * flow_gu_;
  f.noalias() += flow_gw_ * flow_gw_.transpose();
  return true;
}

void Linear2::accumulate_flow_matrix(Index b, const Vector& v, Matrix& f,
                                     Vector& /*scratch*/) const {
  SYMSWEEP_VERIFY(b == 0 && v.size() == dim() && f.rows() == h_ && f.cols() == h_,
                  "linear2: one symmetry block of size h");
  const ConstMap du = u(v), dw = w(v);
  f.noalias() += du.transpose() * du;
  f.noalias() -= dw * dw.transpose();
}

void Linear2::generator_pair(Index k, Index& i, Index& j) const {
  // M = E_ii (k < h), else E_ij + E_ji for the (k - h)-th pair i < j, row by row.
  i = k;
  j = k;
  if (k >= h_) {
    Index rest = k - h_;
    i = 0;
    while (rest >= h_ - 1 - i) {
      rest -= h_ - 1 - i;
      ++i;
    }
    j = i + 1 + rest;
  }
}

void Linear2::apply_generator(Index k, const Vector& v, Vector& out) const {
  SYMSWEEP_VERIFY(k >= 0 && k < generator_count() && v.size() == dim() && out.size() == dim(),
                  "linear2: bad generator or vector length");
  Index i = 0, j = 0;
  generator_pair(k, i, j);
  out.setZero();
  const ConstMap vu(v.data(), dy_, h_), vw(v.data() + dy_ * h_, h_, dx_);
  Eigen::Map<Matrix> ou(out.data(), dy_, h_), ow(out.data() + dy_ * h_, h_, dx_);
  // (U M, -M W): U M's column j is U's column i (and i's is j's); M W's row i is W's row j.
  ou.col(j) = vu.col(i);
  ow.row(i) = -vw.row(j);
  if (i != j) {
    ou.col(i) = vu.col(j);
    ow.row(j) = -vw.row(i);
  }
}

double Linear2::generator_quadratic(Index k, const Vector& v, Vector& /*scratch*/) const {
  SYMSWEEP_VERIFY(k >= 0 && k < generator_count() && v.size() == dim(),
                  "linear2: bad generator or vector length");
  Index i = 0, j = 0;
  generator_pair(k, i, j);
  const ConstMap vu(v.data(), dy_, h_), vw(v.data() + dy_ * h_, h_, dx_);
  if (i == j) return vu.col(i).squaredNorm() - vw.row(i).squaredNorm();
  return 2.0 * (vu.col(i).dot(vu.col(j)) - vw.row(i).dot(vw.row(j)));
}

void Linear2::sample_gradients(const Vector& theta, const Batch& batch, RowMatrix& out,
                               Vector& /*scratch*/) {
  SYMSWEEP_VERIFY(theta.size() == dim() && out.rows() >= batch.size() && out.cols() == dim(),
                  "sample_gradients: buffers have the wrong shape");
  SYMSWEEP_VERIFY(batch.x.cols() == dx_ && batch.y.cols() == dy_, "batch has the wrong shape");
  const ConstMap uu = u(theta), ww = w(theta);
  const double break_term = options_.break_strength / std::sqrt(static_cast<double>(dim()));
  Index decay_first = 0, decay_size = 0;
  if (options_.layer_decay != 0.0) layer(options_.decay_layer, decay_first, decay_size);
  for (Index s = 0; s < batch.size(); ++s) {
    sample_z_.noalias() = ww * batch.x.row(s).transpose();
    sample_r_.noalias() = uu * sample_z_;
    sample_r_ -= batch.y.row(s).transpose();
    sample_q_.noalias() = uu.transpose() * sample_r_;
    Eigen::Map<Matrix> gu(out.row(s).data(), dy_, h_), gw(out.row(s).data() + dy_ * h_, h_, dx_);
    gu.noalias() = sample_r_ * sample_z_.transpose();
    gw.noalias() = sample_q_ * batch.x.row(s);
    // The penalties are every sample's (as loss_grad adds them).
    if (options_.layer_decay != 0.0) {
      out.row(s).segment(decay_first, decay_size) +=
          options_.layer_decay * theta.segment(decay_first, decay_size).transpose();
    }
    if (options_.break_strength != 0.0) out.row(s).array() += break_term;
  }
}

void Linear2::reserve(Index max_batch) {
  if (z_.rows() < max_batch) {
    z_.resize(max_batch, h_);
    r_.resize(max_batch, dy_);
  }
  // Backpropagation is chosen below a batch size (backprop_form): at batch 1 if ever.
  if (ru_.rows() < max_batch && backprop_form(1)) ru_.resize(max_batch, h_);
  if (flow_q_.rows() < max_batch) {
    flow_zw_.resize(max_batch, h_);
    flow_q_.resize(max_batch, h_);
    flow_weight_.resize(max_batch);
    flow_gu_.resize(dy_, h_);
    flow_gw_.resize(h_, dx_);
  }
}

Index Linear2::checked_batch(const Vector& theta, const Batch& batch) {
  const Index s = batch.size();
  SYMSWEEP_VERIFY(theta.size() == dim(), "theta has the wrong length");
  SYMSWEEP_VERIFY(batch.x.cols() == dx_ && batch.y.cols() == dy_ && batch.y.rows() == s,
                  "batch has the wrong shape");
  reserve(s);  // no-op once sized
  return s;
}

double Linear2::residuals(const Vector& theta, const Batch& batch) {
  const Index s = checked_batch(theta, batch);
  auto z = z_.topRows(s);
  auto r = r_.topRows(s);
  z.noalias() = batch.x * w(theta).transpose();
  r.noalias() = z * u(theta).transpose();
  r -= batch.y;
  const double inv_s = 1.0 / static_cast<double>(s);
  return 0.5 * inv_s * r.squaredNorm();
}

double Linear2::forward(const Vector& theta, const Batch& batch) {
  const double l = residuals(theta, batch);
  const Index s = batch.size();
  g_.noalias() = r_.topRows(s).transpose() * batch.x;
  g_ *= 1.0 / static_cast<double>(s);
  return l;
}

namespace {
/// The loop kernels of small shapes (Linear2::forward_small, gradient_small). DX, H, DY > 0 fix
/// the dimensions at compile time (fully unrolled loops, no per-call dispatch; the same sums in
/// the same order, as the compiler may not reorder them); 0 takes them from the arguments.
template <int DX, int H, int DY>
struct SmallKernel {
  /// Z = X W^T, R = Z U^T - Y (row-major, rows of h and dy), G = R^T X / S (column-major).
  static void forward(Index dx_, Index h_, Index dy_, const double* uu, const double* ww,
                      const double* x, Index xs, const double* y, Index ys, Index s, double* z,
                      double* r, double* g) {
    const Index dx = DX > 0 ? DX : dx_, h = H > 0 ? H : h_, dy = DY > 0 ? DY : dy_;
    for (Index n = 0; n < s; ++n) {
      const double* xn = x + n * xs;
      double* zn = z + n * h;
      for (Index k = 0; k < h; ++k) {  // Z = X W^T; W(k, j) = ww[k + j h]
        double acc = xn[0] * ww[k];
        for (Index j = 1; j < dx; ++j) acc += xn[j] * ww[k + j * h];
        zn[k] = acc;
      }
      const double* yn = y + n * ys;
      double* rn = r + n * dy;
      for (Index i = 0; i < dy; ++i) {  // R = Z U^T - Y; U(i, k) = uu[i + k dy]
        double acc = zn[0] * uu[i];
        for (Index k = 1; k < h; ++k) acc += zn[k] * uu[i + k * dy];
        rn[i] = acc;
      }
      for (Index i = 0; i < dy; ++i) rn[i] -= yn[i];
    }
    const double inv_s = 1.0 / static_cast<double>(s);
    for (Index j = 0; j < dx; ++j) {
      for (Index i = 0; i < dy; ++i) {  // G = R^T X / S
        double acc = r[i] * x[j];
        for (Index n = 1; n < s; ++n) acc += r[i + n * dy] * x[j + n * xs];
        g[i + j * dy] = acc * inv_s;
      }
    }
  }
  /// dL/dU = G W^T (column-major dy x h) into gu, dL/dW = U^T G (column-major h x dx) into gw.
  /// The orders are those of Eigen's coefficient-based products: G W^T's sums run over j in
  /// ascending order; U^T G's in packet_dot's order.
  static void gradient(Index dx_, Index h_, Index dy_, const double* uu, const double* ww,
                       const double* g, double* gu, double* gw) {
    const Index dx = DX > 0 ? DX : dx_, h = H > 0 ? H : h_, dy = DY > 0 ? DY : dy_;
    for (Index k = 0; k < h; ++k) {
      for (Index i = 0; i < dy; ++i) {
        double acc = g[i] * ww[k];
        for (Index j = 1; j < dx; ++j) acc += g[i + j * dy] * ww[k + j * h];
        gu[i + k * dy] = acc;
      }
    }
    for (Index j = 0; j < dx; ++j) {
      for (Index k = 0; k < h; ++k) gw[k + j * h] = packet_dot(dy, uu + k * dy, g + j * dy);
    }
  }
  /// sum_i a_i b_i (n = DY terms) in the order of Eigen's vectorised reduction, which U^T G's
  /// elements take (both factors are contiguous columns): two-double packets summed in two
  /// accumulators (elements 4m, 4m+1 and 4m+2, 4m+3), one more packet, the two lanes added, then
  /// the odd element. Sequential up to n = 3.
  static double packet_dot(Index dy_, const double* a, const double* b) {
    const Index n = DY > 0 ? DY : dy_;
    if (n < 2) return a[0] * b[0];
    const Index size2 = (n / 4) * 4, size1 = (n / 2) * 2;
    double p00 = a[0] * b[0], p01 = a[1] * b[1];
    if (size1 > 2) {
      double p10 = a[2] * b[2], p11 = a[3] * b[3];
      for (Index i = 4; i < size2; i += 4) {
        p00 += a[i] * b[i];
        p01 += a[i + 1] * b[i + 1];
        p10 += a[i + 2] * b[i + 2];
        p11 += a[i + 3] * b[i + 3];
      }
      p00 += p10;
      p01 += p11;
      if (size1 > size2) {
        p00 += a[size2] * b[size2];
        p01 += a[size2 + 1] * b[size2 + 1];
      }
    }
    double res = p00 + p01;
    for (Index i = size1; i < n; ++i) res += a[i] * b[i];
    return res;
  }
};

/// The kernels of one shape: fixed-size ones for every dimension up to kFixed, else the general.
constexpr int kFixed = 3;
template <int DX, int H, int DY, class Forward, class Gradient>
void pick_fixed(Index dx, Index h, Index dy, Forward& f, Gradient& g) {
  if constexpr (DX <= kFixed) {
    if (dx == DX && h == H && dy == DY) {
      f = &SmallKernel<DX, H, DY>::forward;
      g = &SmallKernel<DX, H, DY>::gradient;
      return;
    }
    if constexpr (DY < kFixed) {
      pick_fixed<DX, H, DY + 1>(dx, h, dy, f, g);
    } else if constexpr (H < kFixed) {
      pick_fixed<DX, H + 1, 1>(dx, h, dy, f, g);
    } else {
      pick_fixed<DX + 1, 1, 1>(dx, h, dy, f, g);
    }
  }
}

/// The loop kernels of medium shapes (Linear2::medium_products): every product is a sum of
/// scaled columns, out[k] = sum_j a[j as] b[k + j bs] (k < m), taken in this fixed order: j
/// ascending, left to right, the first term the first product. The loop over k is independent
/// of the order of the sums, so the compiler vectorises it without reassociating anything: the
/// same bits whatever the vector width (no -ffast-math, no contraction). Four columns per pass
/// keep out[k] in a register across them.
void scaled_columns(Index m, Index depth, const double* a, Index as, const double* b, Index bs,
                    double* __restrict out) {
  Index j = 0;
  if (depth >= 4) {
    const double a0 = a[0], a1 = a[as], a2 = a[2 * as], a3 = a[3 * as];
    const double* __restrict b0 = b;
    const double* __restrict b1 = b + bs;
    const double* __restrict b2 = b + 2 * bs;
    const double* __restrict b3 = b + 3 * bs;
    for (Index k = 0; k < m; ++k) out[k] = a0 * b0[k] + a1 * b1[k] + a2 * b2[k] + a3 * b3[k];
    j = 4;
  } else {
    const double a0 = a[0];
    const double* __restrict b0 = b;
    for (Index k = 0; k < m; ++k) out[k] = a0 * b0[k];
    j = 1;
  }
  for (; j + 4 <= depth; j += 4) {
    const double a0 = a[j * as], a1 = a[(j + 1) * as], a2 = a[(j + 2) * as], a3 = a[(j + 3) * as];
    const double* __restrict b0 = b + j * bs;
    const double* __restrict b1 = b0 + bs;
    const double* __restrict b2 = b0 + 2 * bs;
    const double* __restrict b3 = b0 + 3 * bs;
    for (Index k = 0; k < m; ++k)
      out[k] = out[k] + a0 * b0[k] + a1 * b1[k] + a2 * b2[k] + a3 * b3[k];
  }
  for (; j < depth; ++j) {
    const double a0 = a[j * as];
    const double* __restrict b0 = b + j * bs;
    for (Index k = 0; k < m; ++k) out[k] = out[k] + a0 * b0[k];
  }
}

/// Z = X W^T and R = Z U^T - Y (row-major, rows of h and dy) by scaled_columns.
void medium_forward(Index dx, Index h, Index dy, const double* uu, const double* ww,
                    const double* x, Index xs, const double* y, Index ys, Index s, double* z,
                    double* r) {
  for (Index n = 0; n < s; ++n) {
    double* zn = z + n * h;
    double* rn = r + n * dy;
    const double* yn = y + n * ys;
    scaled_columns(h, dx, x + n * xs, 1, ww, h, zn);  // z_n = sum_j x_nj W(:, j)
    scaled_columns(dy, h, zn, 1, uu, dy, rn);         // r_n = sum_k z_nk U(:, k)
    for (Index i = 0; i < dy; ++i) rn[i] -= yn[i];
  }
}
}  // namespace

void Linear2::select_small_kernels() {
  small_forward_ = &SmallKernel<0, 0, 0>::forward;
  small_gradient_ = &SmallKernel<0, 0, 0>::gradient;
  pick_fixed<1, 1, 1>(dx_, h_, dy_, small_forward_, small_gradient_);
}

double Linear2::forward_small(const Vector& theta, const Batch& batch) {
  const Index s = checked_batch(theta, batch);
  small_forward_(dx_, h_, dy_, theta.data(), theta.data() + dy_ * h_, batch.x.data(),
                 batch.x.outerStride(), batch.y.data(), batch.y.outerStride(), s, z_.data(),
                 r_.data(), g_.data());
  const double inv_s = 1.0 / static_cast<double>(s);
  return 0.5 * inv_s * r_.topRows(s).squaredNorm();
}

void Linear2::gradient_small(const Vector& theta, Vector& grad) const {
  small_gradient_(dx_, h_, dy_, theta.data(), theta.data() + dy_ * h_, g_.data(), grad.data(),
                  grad.data() + dy_ * h_);
}

double Linear2::forward_medium(const Vector& theta, const Batch& batch) {
  const Index s = checked_batch(theta, batch);
  medium_forward(dx_, h_, dy_, theta.data(), theta.data() + dy_ * h_, batch.x.data(),
                 batch.x.outerStride(), batch.y.data(), batch.y.outerStride(), s, z_.data(),
                 r_.data());
  const double inv_s = 1.0 / static_cast<double>(s);
  return 0.5 * inv_s * r_.topRows(s).squaredNorm();
}

void Linear2::gradient_medium(const Vector& theta, const Batch& batch, Vector& grad) {
  const Index s = batch.size();
  const double* uu = theta.data();
  const double* ww = uu + dy_ * h_;
  double* gu = grad.data();
  double* gw = gu + dy_ * h_;
  const double* x = batch.x.data();
  const Index xs = batch.x.outerStride();
  double* ut = ut_.data();  // U^T, column-major h x dy
  for (Index i = 0; i < dy_; ++i) {
    for (Index k = 0; k < h_; ++k) ut[k + i * h_] = uu[i + k * dy_];
  }
  const double inv_s = 1.0 / static_cast<double>(s);
  if (backprop_form(s)) {  // forward_medium's reserve() sized ru_
    const double* z = z_.data();
    const double* r = r_.data();
    double* ru = ru_.data();
    // dL/dU = R^T Z / S, R U, dL/dW = (R U)^T X / S.
    for (Index k = 0; k < h_; ++k) scaled_columns(dy_, s, z + k, h_, r, dy_, gu + k * dy_);
    for (Index n = 0; n < s; ++n) scaled_columns(h_, dy_, r + n * dy_, 1, ut, h_, ru + n * h_);
    for (Index j = 0; j < dx_; ++j) scaled_columns(h_, s, x + j, xs, ru, h_, gw + j * h_);
    grad *= inv_s;
  } else {
    // G = R^T X / S, dL/dU = G W^T, dL/dW = U^T G.
    double* g = g_.data();
    for (Index j = 0; j < dx_; ++j) scaled_columns(dy_, s, x + j, xs, r_.data(), dy_, g + j * dy_);
    g_ *= inv_s;
    for (Index k = 0; k < h_; ++k) scaled_columns(dy_, dx_, ww + k, h_, g, dy_, gu + k * dy_);
    for (Index j = 0; j < dx_; ++j) scaled_columns(h_, dy_, g + j * dy_, 1, ut, h_, gw + j * h_);
  }
}

double Linear2::loss_grad(const Vector& theta, const Batch& batch, Vector& grad) {
  SYMSWEEP_VERIFY(grad.size() == dim(), "grad has the wrong length");
  double l = 0;
  const bool small = small_products(batch.size());
  if (small && options_.small_kernels) {
    l = forward_small(theta, batch);
    gradient_small(theta, grad);
  } else if (medium_products(batch.size())) {
    l = forward_medium(theta, batch);
    gradient_medium(theta, batch, grad);
  } else if (!small && backprop_form(batch.size())) {
    l = residuals(theta, batch);  // reserve() sized ru_ too (backprop_form holds at batch 1)
    const Index s = batch.size();
    auto z = z_.topRows(s);
    auto r = r_.topRows(s);
    auto ru = ru_.topRows(s);
    const double inv_s = 1.0 / static_cast<double>(s);
    Eigen::Map<Matrix> gu(grad.data(), dy_, h_);
    Eigen::Map<Matrix> gw(grad.data() + dy_ * h_, h_, dx_);
    gu.noalias() = r.transpose() * z;
    gu *= inv_s;
    ru.noalias() = r * u(theta);
    gw.noalias() = ru.transpose() * batch.x;
    gw *= inv_s;
  } else {
    l = forward(theta, batch);
    Eigen::Map<Matrix> gu(grad.data(), dy_, h_);
    Eigen::Map<Matrix> gw(grad.data() + dy_ * h_, h_, dx_);
    gu.noalias() = g_ * w(theta).transpose();
    gw.noalias() = u(theta).transpose() * g_;
  }
  if (options_.layer_decay != 0.0 || options_.break_strength != 0.0) {
    add_penalty_gradient(theta, grad);
    return l + penalty(theta);
  }
  return l;
}

double Linear2::loss(const Vector& theta, const Batch& batch) {
  const Index s = batch.size();
  const double l = small_products(s) && options_.small_kernels ? forward_small(theta, batch)
                   : medium_products(s)                        ? forward_medium(theta, batch)
                                                               : residuals(theta, batch);
  return options_.layer_decay != 0.0 || options_.break_strength != 0.0 ? l + penalty(theta) : l;
}

void Linear2::hvp(const Vector& theta, const Matrix& g, const Matrix& sxx, bool sxx_diagonal,
                  const Vector& v, Vector& out) {
  const ConstMap uu = u(theta), ww = w(theta);
  const ConstMap du(v.data(), dy_, h_);
  const ConstMap dw(v.data() + dy_ * h_, h_, dx_);
  // Each product straight into its destination (no temporaries): the same sums, in the same
  // order, as evaluating the expressions P = dU W + U dW, H v = (P Sxx W^T + G dW^T, ...).
  p_.noalias() = du * ww;
  p_.noalias() += uu * dw;
  // A diagonal Sxx (online data from a diagonal teacher: its reference set's inputs are a
  // scaled identity) scales columns: the product's sums are that one term plus exact zeros, so
  // the numbers are the same.
  if (sxx_diagonal) {
    dg_.noalias() = p_ * sxx.diagonal().asDiagonal();
  } else {
    dg_.noalias() = p_ * sxx;
  }
  out.resize(dim());
  Eigen::Map<Matrix> ou(out.data(), dy_, h_), ow(out.data() + dy_ * h_, h_, dx_);
  ou.noalias() = dg_ * ww.transpose();
  ou.noalias() += g * dw.transpose();
  ow.noalias() = du.transpose() * g;
  ow.noalias() += uu.transpose() * dg_;
  if (options_.layer_decay != 0.0) {
    Index first = 0, size = 0;
    layer(options_.decay_layer, first, size);
    out.segment(first, size) += options_.layer_decay * v.segment(first, size);
  }
}

void Linear2::hessian_vector(const Vector& theta, const Batch& batch, const Vector& v,
                             Vector& out) {
  SYMSWEEP_VERIFY(v.size() == dim(), "v has the wrong length");
  forward(theta, batch);
  sxx_.noalias() = batch.x.transpose() * batch.x;
  sxx_ /= static_cast<double>(batch.size());
  hvp(theta, g_, sxx_, false, v, out);
}

std::function<void(const Vector&, Vector&)> Linear2::hessian_operator(const Vector& theta,
                                                                      const Batch& batch) {
  forward(theta, batch);
  // G and Sxx as hessian_vector computes them (the same products, so the same bits), kept by
  // the operator: no later call on the model can change them.
  struct Moments {
    Matrix g, sxx;
    bool diagonal = true;
  };
  auto m = std::make_shared<Moments>();
  m->g = g_;
  m->sxx.resize(dx_, dx_);
  m->sxx.noalias() = batch.x.transpose() * batch.x;
  m->sxx /= static_cast<double>(batch.size());
  for (Index j = 0; j < dx_ && m->diagonal; ++j) {
    for (Index i = 0; i < dx_; ++i) {
      if (i != j && m->sxx(i, j) != 0.0) {
        m->diagonal = false;
        break;
      }
    }
  }
  if (!m->sxx.allFinite()) m->diagonal = false;  // the product's NaNs as the general path's
  return [this, &theta, m](const Vector& v, Vector& out) {
    SYMSWEEP_VERIFY(v.size() == dim() && theta.size() == dim(), "v has the wrong length");
    hvp(theta, m->g, m->sxx, m->diagonal, v, out);
  };
}

void Linear2::hessian(const Vector& theta, const Batch& batch, Matrix& hess) {
  forward(theta, batch);
  sxx_.noalias() = batch.x.transpose() * batch.x;
  sxx_ /= static_cast<double>(batch.size());
  hessian_from_products(
      dim(), [&](const Vector& e, Vector& col) { hvp(theta, g_, sxx_, false, e, col); }, hess);
}

double Linear2::hessian_trace(const Vector& theta, const Batch& batch) {
  // Tr H = dy tr(W Sxx W^T) + |U|^2 tr(Sxx): the diagonal blocks (W Sxx W^T) (x) I_dy and
  // Sxx (x) U^T U; G enters only the off-diagonal blocks.
  forward(theta, batch);  // z_ = X W^T
  const Index s = batch.size();
  const double inv_s = 1.0 / static_cast<double>(s);
  double t = static_cast<double>(dy_) * z_.topRows(s).squaredNorm() * inv_s +
             u(theta).squaredNorm() * batch.x.squaredNorm() * inv_s;
  if (options_.layer_decay != 0.0) {
    Index first = 0, size = 0;
    layer(options_.decay_layer, first, size);
    t += options_.layer_decay * static_cast<double>(size);
  }
  return t;
}

Matrix Linear2::conserved_matrix(const Vector& theta) const {
  return u(theta).transpose() * u(theta) - w(theta) * w(theta).transpose();
}

void Linear2::conserved(const Vector& theta, Vector& out) const {
  d_.noalias() = u(theta).transpose() * u(theta);
  d_.noalias() -= w(theta) * w(theta).transpose();
  d_eigen_.compute(d_, Eigen::EigenvaluesOnly);
  out.resize(h_);
  out = d_eigen_.eigenvalues().reverse();
}

void Linear2::initialize(NormalSource& normal, Vector& theta) const {
  theta.resize(dim());
  const double su = init_u_scale_ / std::sqrt(static_cast<double>(h_));
  const double sw = init_w_scale_ / std::sqrt(static_cast<double>(dx_));
  const Index nu = dy_ * h_;
  for (Index i = 0; i < theta.size(); ++i) theta[i] = (i < nu ? su : sw) * normal.normal();
}

void Linear2::start(const Vector& theta) {
  d0_norm_ = conserved_matrix(theta).norm();
  gap0_ = std::numeric_limits<double>::quiet_NaN();
  if (sigma_x_.rows() == dx_) {  // prepare_diagnostics ran: eq_gap at theta_0
    const Matrix aw = w(theta) * sigma_x_ * w(theta).transpose() / tr_x_;
    const Matrix au = u(theta).transpose() * sigma_eps_ * u(theta) / tr_eps_;
    const double gap = (aw - au).norm();
    if (gap > 0 && std::isfinite(gap)) gap0_ = gap;
  }
}

// ------------------------------------------------------------------------- noise equilibrium
namespace {
/// The symmetric square root of a positive semi-definite matrix (negative rounding clipped).
Matrix psd_sqrt(const Matrix& a) {
  Eigen::SelfAdjointEigenSolver<Matrix> es(a);
  const Vector root = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * root.asDiagonal() * es.eigenvectors().transpose();
}
}  // namespace

Vector Linear2::predicted_spectrum(const Matrix& sigma_x, const Matrix& v, const Matrix& sigma_eps,
                                   Index h) {
  const Matrix m = psd_sqrt(sigma_eps) * v * psd_sqrt(sigma_x);
  const Vector sv = Eigen::JacobiSVD<Matrix>(m).singularValues();  // descending
  const double scale = std::sqrt(sigma_x.trace() * sigma_eps.trace());
  Vector out = Vector::Zero(h);
  for (Index i = 0; i < std::min(h, sv.size()); ++i) out[i] = sv[i] / scale;
  return out;
}

namespace {
/// Whether the symmetric PSD matrix a is positive definite to a relative 1e-10.
bool positive_definite(const Matrix& a) {
  const Vector e = Eigen::SelfAdjointEigenSolver<Matrix>(a, Eigen::EigenvaluesOnly).eigenvalues();
  return e.size() > 0 && e.minCoeff() > 1e-10 * std::max(e.maxCoeff(), 0.0);
}
/// The number of singular values above a relative 1e-10 of the largest (sv descending).
Index numerical_rank(const Vector& sv) {
  Index r = 0;
  while (r < sv.size() && sv[r] > 1e-10 * sv[0]) ++r;
  return r;
}
/// theta = (vec U, vec W) from an r-column U and an r-row W, padded with zeros to width h.
void pack(const Matrix& u, const Matrix& w, Index h, Vector& theta) {
  const Index dy = u.rows(), dx = w.cols(), r = u.cols();
  Matrix uh = Matrix::Zero(dy, h), wh = Matrix::Zero(h, dx);
  uh.leftCols(r) = u;
  wh.topRows(r) = w;
  theta.resize(dy * h + h * dx);
  theta.head(dy * h) = Eigen::Map<const Vector>(uh.data(), dy * h);
  theta.tail(h * dx) = Eigen::Map<const Vector>(wh.data(), h * dx);
}
}  // namespace

bool Linear2::noise_equilibrium_point(const Matrix& sigma_x, const Matrix& v,
                                      const Matrix& sigma_eps, Index h, Vector& theta) {
  const double tr_x = sigma_x.trace(), tr_eps = sigma_eps.trace();
  if (!(tr_eps > 0) || !positive_definite(sigma_x)) return false;
  const Matrix a = psd_sqrt(sigma_x);
  const Eigen::JacobiSVD<Matrix> svd(psd_sqrt(sigma_eps) * v * a,
                                     Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Index r = numerical_rank(svd.singularValues());
  if (r == 0 || r > h || (r < h && !positive_definite(sigma_eps))) return false;
  // U W = V needs rank V <= h, and the construction below reaches V only where the noise sees
  // all of it: rank(Se^{1/2} V Sx^{1/2}) = rank V (else U W = V a Q Q^T a^{-1} != V).
  if (numerical_rank(Eigen::JacobiSVD<Matrix>(v).singularValues()) != r) return false;
  const Vector s = svd.singularValues().head(r);
  const Matrix q = svd.matrixV().leftCols(r);
  const double k = std::sqrt(std::sqrt(tr_x / tr_eps));
  // W = k S^{1/2} Q^T a^{-1}; U = k^{-1} V a Q S^{-1/2}.
  const Matrix wa = k * s.cwiseSqrt().asDiagonal() * q.transpose();
  const Matrix w = a.llt().solve(wa.transpose()).transpose();  // a symmetric: W = wa a^{-1}
  const Matrix u = (v * a * q * s.cwiseSqrt().cwiseInverse().asDiagonal()) / k;
  pack(u, w, h, theta);
  return true;
}

bool Linear2::balanced_minimum_point(const Matrix& v, Index h, Vector& theta) {
  const Eigen::JacobiSVD<Matrix> svd(v, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Index r = numerical_rank(svd.singularValues());
  if (r > h) return false;
  const Vector root = svd.singularValues().head(r).cwiseSqrt();
  pack(svd.matrixU().leftCols(r) * root.asDiagonal(),
       root.asDiagonal() * svd.matrixV().leftCols(r).transpose(), h, theta);
  return true;
}

double Linear2::moment_hessian_trace(const Matrix& sigma_x, Index dy, Index h,
                                     const Vector& theta) {
  const Index dx = sigma_x.rows();
  const Eigen::Map<const Matrix> u(theta.data(), dy, h), w(theta.data() + dy * h, h, dx);
  return static_cast<double>(dy) * (w * sigma_x * w.transpose()).trace() +
         u.squaredNorm() * sigma_x.trace();
}

void Linear2::prepare_diagnostics(const Batch& full) {
  data_moments(full, sigma_x_, v_, sigma_eps_);
  tr_x_ = sigma_x_.trace();
  tr_eps_ = sigma_eps_.trace();
  wsx_.resize(h_, dx_);
  aw_.resize(h_, h_);
  ueps_.resize(h_, dy_);
  au_.resize(h_, h_);
  aw_eigen_.emplace(h_);  // (assigning a solver would copy its uninitialised info)
  au_eigen_.emplace(h_);
  w_spec_.resize(h_);
  u_spec_.resize(h_);
  w_sum_ = Vector::Zero(h_);
  u_sum_ = Vector::Zero(h_);
  gap_sum_ = 0;
  trace_sum_ = u_norm_sum_ = w_norm_sum_ = 0;
  window_count_ = 0;
  gap_step_ = -1;
}

double Linear2::equilibrium_products(const Vector& theta) {
  SYMSWEEP_VERIFY(aw_.rows() == h_, "linear2: equilibrium diagnostics before prepare_diagnostics");
  wsx_.noalias() = w(theta) * sigma_x_;
  aw_.noalias() = wsx_ * w(theta).transpose();
  const double tr_wsw = aw_.trace();
  aw_ /= tr_x_;
  ueps_.noalias() = u(theta).transpose() * sigma_eps_;
  au_.noalias() = ueps_ * u(theta);
  au_ /= tr_eps_;  // Tr Sigma_eps = 0 (no label noise): NaN, there is no equilibrium
  return tr_wsw;
}

double Linear2::window_hessian_trace(const Vector& theta, double tr_wsw) const {
  double t = static_cast<double>(dy_) * tr_wsw + u(theta).squaredNorm() * tr_x_;
  if (options_.layer_decay != 0.0) {
    Index first = 0, size = 0;
    layer(options_.decay_layer, first, size);
    t += options_.layer_decay * static_cast<double>(size);
  }
  return t;
}

void Linear2::equilibrium_spectra(const Vector& theta, Vector& w_side, Vector& u_side,
                                  double& gap) {
  equilibrium_products(theta);
  spectra_of_products(w_side, u_side, gap);
}

void Linear2::spectra_of_products(Vector& w_side, Vector& u_side, double& gap) {
  aw_eigen_->compute(aw_, Eigen::EigenvaluesOnly);
  au_eigen_->compute(au_, Eigen::EigenvaluesOnly);
  w_side = aw_eigen_->eigenvalues().reverse();
  u_side = au_eigen_->eigenvalues().reverse();
  aw_ -= au_;
  gap = aw_.norm();
}

void Linear2::accumulate_window(const Vector& theta) {
  const double tr_wsw = equilibrium_products(theta);
  trace_sum_ += window_hessian_trace(theta, tr_wsw);
  u_norm_sum_ += u(theta).squaredNorm();
  w_norm_sum_ += w(theta).squaredNorm();
  double gap = 0;
  spectra_of_products(w_spec_, u_spec_, gap);
  w_sum_ += w_spec_;
  u_sum_ += u_spec_;
  gap_sum_ += gap;
  ++window_count_;
  if (gap_step_ < 0 && gap <= kGapFraction * gap0_) {  // false while gap0_ is NaN
    gap_step_ = options_.window_first_step + window_count_ - 1;
  }
}

void Linear2::bind_fields(const Schema& schema) {
  f_w_spec_ = schema.id(Group::results, "eq_w_spectrum");
  f_u_spec_ = schema.id(Group::results, "eq_u_spectrum");
  f_gap_ = schema.id(Group::results, "eq_gap");
  f_pred_ = schema.id(Group::results, "eq_predicted");
  f_trace_gap_ = schema.find(Group::traces, "eq_gap");
  f_eq_trace_ = schema.id(Group::results, "eq_hessian_trace");
  f_eq_norms_ = schema.id(Group::results, "eq_layer_norm2");
  f_trace_eq_pred_ = schema.id(Group::results, "hessian_trace_eq_predicted");
  f_trace_gf_pred_ = schema.id(Group::results, "hessian_trace_gf_predicted");
  f_norms_pred_ = schema.id(Group::results, "layer_norm2_predicted");
  f_d0_ = schema.id(Group::results, "d0_norm");
  f_gap_steps_ = schema.id(Group::results, "eq_gap_steps");
}

void Linear2::record_traces(const Vector& theta, Record& out, std::size_t slot) {
  if (f_trace_gap_ < 0 || !out.schema().present(f_trace_gap_)) return;
  // The gap alone (no eigensolves): the same operations, so the same bits, as eq_gap's.
  equilibrium_products(theta);
  aw_ -= au_;
  out.set(f_trace_gap_, aw_.norm(), slot);
}

void Linear2::record_final(const Vector& theta, const Batch& /*full*/,
                           const EndMeasurements& /*measured*/, Record& out) {
  double gap = 0;
  if (window_count_ > 0) {
    const double inv = 1.0 / static_cast<double>(window_count_);
    w_spec_ = w_sum_ * inv;
    u_spec_ = u_sum_ * inv;
    gap = gap_sum_ * inv;
  } else {
    equilibrium_spectra(theta, w_spec_, u_spec_, gap);
  }
  const auto n = static_cast<std::size_t>(h_);
  out.set_reals(f_w_spec_, w_spec_.data(), n);
  out.set_reals(f_u_spec_, u_spec_.data(), n);
  out.set(f_gap_, gap);
  const bool symmetric = options_.layer_decay == 0.0 && options_.break_strength == 0.0;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Vector predicted = options_.equilibrium_settings && symmetric
                               ? predicted_spectrum(sigma_x_, v_, sigma_eps_, h_)
                               : Vector::Constant(h_, nan);
  out.set_reals(f_pred_, predicted.data(), n);

  // Sharpness and layer norms: measured (window-averaged), and at the predicted end.
  double norms[2] = {u(theta).squaredNorm(), w(theta).squaredNorm()};
  if (window_count_ > 0) {
    const double inv = 1.0 / static_cast<double>(window_count_);
    out.set(f_eq_trace_, trace_sum_ * inv);
    norms[0] = u_norm_sum_ * inv;
    norms[1] = w_norm_sum_ * inv;
  } else {
    out.set(f_eq_trace_, window_hessian_trace(theta, equilibrium_products(theta)));
  }
  out.set_reals(f_eq_norms_, norms, 2);
  out.set(f_d0_, d0_norm_);
  out.set_integer(f_gap_steps_, gap_step_);
  Vector end;
  double trace_eq = nan, trace_gf = nan;
  bool have_end = false;
  if (symmetric && options_.equilibrium_settings &&
      noise_equilibrium_point(sigma_x_, v_, sigma_eps_, h_, end)) {
    trace_eq = moment_hessian_trace(sigma_x_, dy_, h_, end);
    have_end = true;
  }
  if (symmetric && options_.flow_settings && balanced_minimum_point(v_, h_, end)) {
    trace_gf = moment_hessian_trace(sigma_x_, dy_, h_, end);
    have_end = true;
  }
  out.set(f_trace_eq_pred_, trace_eq);
  out.set(f_trace_gf_pred_, trace_gf);
  double predicted_norms[2] = {nan, nan};
  if (have_end) {
    predicted_norms[0] = end.head(dy_ * h_).squaredNorm();
    predicted_norms[1] = end.tail(h_ * dx_).squaredNorm();
  }
  out.set_reals(f_norms_pred_, predicted_norms, 2);
}

namespace {
void declare_linear2_fields(const Grid& grid, Schema& schema) {
  Index h = 0;
  grid.for_each_combination([](const std::string& key) { return key == "model.h"; },
                            [&](const ParamSet& p) { h = std::max(h, p.integer("model.h")); });
  std::vector<std::int64_t> i(static_cast<std::size_t>(h));
  for (std::size_t k = 0; k < i.size(); ++k) i[k] = static_cast<std::int64_t>(k);
  schema.add_dim({"hidden", "index of a hidden-layer spectrum (descending order)", i});
  const Group R = Group::results;
  const std::string averaged =
      ", averaged over the last record.final_window steps (the final state when 0 or when the "
      "run ended before)";
  schema.add(real_field(R, "eq_w_spectrum", "spectrum of W Sx W^T / Tr Sx",
                        "eigenvalues (descending) of W Sigma_x W^T / Tr Sigma_x" + averaged +
                            "; NaN-padded; NaN if diverged",
                        "", {"hidden"}));
  schema.add(real_field(R, "eq_u_spectrum", "spectrum of U^T Se U / Tr Se",
                        "eigenvalues (descending) of U^T Sigma_eps U / Tr Sigma_eps" + averaged +
                            "; NaN without label noise",
                        "", {"hidden"}));
  schema.add(real_field(R, "eq_gap", "|W Sx W^T / Tr Sx - U^T Se U / Tr Se|",
                        "Frobenius norm of the difference of the two matrices (zero at the noise "
                        "equilibrium)" +
                            averaged));
  schema.add(real_field(R, "eq_predicted", "predicted equilibrium spectrum",
                        "sigma_i(Sigma_eps^{1/2} V Sigma_x^{1/2}) / sqrt(Tr Sigma_x Tr Sigma_eps) "
                        "(zero past rank V), from the moments of the full objective (exact "
                        "population moments online): the noise equilibrium's spectrum of either "
                        "side when h = rank V (Ziyin et al. 2024). Assumes optimizer.method = sgd, "
                        "data.mode = online, optimizer.weight_decay = 0, model.layer_decay = 0 and "
                        "model.break_strength = 0 (NaN otherwise); any batch, schedule and step "
                        "size (the equilibrium does not depend on them, only the approach rate "
                        "does)",
                        "", {"hidden"}));
  schema.add_dim({"model_layer",
                  "a layer of the model, in its order in theta (linear2: 0 = U, 1 = W)",
                  {0, 1}});
  schema.add(real_field(R, "eq_hessian_trace", "Tr H (window mean)",
                        "Tr H of the full objective, dy Tr(W Sigma_x W^T) + |U|_F^2 Tr Sigma_x "
                        "from its moments (plus model.layer_decay times the decayed layer's size, "
                        "as hessian_trace; weight decay excluded)" +
                            averaged + "; NaN if diverged"));
  schema.add(real_field(R, "eq_layer_norm2", "squared layer norms (window mean)",
                        "|U|_F^2 (model_layer 0) and |W|_F^2 (1): the norm balance between the "
                        "layers" +
                            averaged + "; NaN if diverged",
                        "", {"model_layer"}));
  const std::string trace_formula =
      "dy Tr(W Sigma_x W^T) + |U|_F^2 Tr Sigma_x (the moments of the full objective; exact "
      "population moments online) at ";
  schema.add(real_field(
      R, "hessian_trace_eq_predicted", "predicted Tr H at the noise equilibrium",
      trace_formula +
          "the predicted noise equilibrium on the minimum manifold U W = V: W Sigma_x^{1/2} = "
          "k S^{1/2} Q^T, U = k^{-1} V Sigma_x^{1/2} Q S^{-1/2} with Sigma_eps^{1/2} V "
          "Sigma_x^{1/2} = P S Q^T and k^4 = Tr Sigma_x / Tr Sigma_eps (include/symsweep/models/"
          "linear2.hpp), i.e. k^2 dy Tr S + k^{-2} Tr Sigma_x Tr(S^{-1/2} Q^T Sigma_x^{1/2} V^T V "
          "Sigma_x^{1/2} Q S^{-1/2}): where online SGD ends. Assumes what eq_predicted does "
          "(optimizer.method = sgd, data.mode = online, optimizer.weight_decay = 0, "
          "model.layer_decay = 0, model.break_strength = 0; NaN otherwise) and that the point "
          "exists: Sigma_x positive definite, Tr Sigma_eps > 0, rank S <= h, and rank S = h "
          "unless Sigma_eps is positive definite (NaN otherwise); NaN if diverged"));
  schema.add(real_field(
      R, "hessian_trace_gf_predicted", "predicted Tr H at the balanced minimum",
      trace_formula +
          "the balanced minimum U = P_V S_V^{1/2}, W = S_V^{1/2} Q_V^T (V = P_V S_V Q_V^T; U^T U "
          "= W W^T), where gradient flow from a balanced start (D_0 = U^T U - W W^T = 0) ends "
          "(D is conserved; off by O(|D_0|_F) from a near-balanced start: see d0_norm). Assumes "
          "no gradient noise (optimizer.method = gd, or a full batch of a finite set), "
          "optimizer.weight_decay = 0, model.layer_decay = 0, model.break_strength = 0 and rank "
          "V <= h (NaN otherwise); NaN if diverged"));
  schema.add(real_field(R, "layer_norm2_predicted", "predicted squared layer norms",
                        "|U|_F^2 (model_layer 0) and |W|_F^2 (1) at the point of "
                        "hessian_trace_eq_predicted or hessian_trace_gf_predicted, whichever is "
                        "not NaN (NaN when both are)",
                        "", {"model_layer"}));
  schema.add(real_field(R, "d0_norm", "|D_0|_F",
                        "Frobenius norm of D = U^T U - W W^T at the start (the initial imbalance: "
                        "0 for a balanced start); NaN if diverged"));
  schema.add(integer_field(
      R, "eq_gap_steps", "steps until eq_gap <= 0.1 of its start",
      "the first step t of the final window (the updates t > optimizer.steps - "
      "record.final_window; record.final_window >= optimizer.steps watches the whole run) at "
      "which |W Sigma_x W^T / Tr Sigma_x - U^T Sigma_eps U / Tr Sigma_eps|_F (eq_gap "
      "unaveraged, at theta_t, checked after every update) is <= 0.1 times its value at the "
      "start theta_0; -1 when it never is in the window, without a final window, when the gap "
      "at theta_0 is 0 or not finite, and if diverged (a field of the end of a run)",
      "steps"));
  if (parse_diagnostics(grid.spec().text("record.diagnostics")).traced(Diagnostics::model)) {
    schema.add(real_field(Group::traces, "eq_gap", "equilibrium gap",
                          "eq_gap (unaveraged) at /traces/step", "", {"step"}));
  }
}
}  // namespace

ModelInfo linear2_info() {
  using models_detail::dimension_key;
  using models_detail::scale_key;
  ModelInfo info;
  info.name = "linear2";
  info.summary =
      "two-layer linear network f = U W x, l = 1/2 |f - y|^2; conserved D = U^T U - W W^T "
      "(dx = h = dy = 1: the scalar u*w model)";
  info.params = {
      dimension_key("model.dx", "1", "input dimension"),
      dimension_key("model.h", "1", "hidden width"),
      dimension_key("model.dy", "1", "output dimension"),
      scale_key("model.init_u_scale", "U entries ~ N(0, init_u_scale^2 / h)"),
      scale_key("model.init_w_scale", "W entries ~ N(0, init_w_scale^2 / dx)"),
      models_detail::real_key("model.layer_decay", "0", Range::at_least(0),
                              "an L2 penalty layer_decay/2 |layer|^2 on the layer "
                              "model.decay_layer alone (weight decay on one layer; "
                              "optimizer.weight_decay decays both)"),
      ParamDef{"model.decay_layer",
               ParamKind::Choice,
               "w",
               "the layer model.layer_decay acts on: u or w",
               {},
               {"u", "w"},
               true},
      models_detail::break_strength_key(),
  };
  info.shape = [](const ParamSet& p) {
    return Linear2::shape_for(p.integer("model.dx"), p.integer("model.h"), p.integer("model.dy"));
  };
  info.declare_fields = &declare_linear2_fields;
  // Doubles held: the data moments and their temporaries (sxx_, sigma_x_, the PSD square roots
  // and the SVD of the predicted spectrum: ~8 dx^2, 4 dy^2, 8 dx dy), the layer products and
  // their eigensolvers (wsx_, ueps_, aw_, au_: ~4 h dx, 4 h dy, 8 h^2), Hessian-vector
  // temporaries and the Hessian operator's own G and Sxx (dx dy + dx^2), the per-sample
  // gradients' vectors (2 h + dy), and the batch scratch z_, r_ (twice: forward and backward);
  // the predicted ends' temporaries at the end (Sigma_x^{1/2}, the SVD of M, U and W twice:
  // ~4 dx^2, 4 dx dy, 4 h dx, 4 h dy).
  info.footprint = [](const ParamSet& p, Index max_batch) {
    const double dx = static_cast<double>(p.integer("model.dx"));
    const double h = static_cast<double>(p.integer("model.h"));
    const double dy = static_cast<double>(p.integer("model.dy"));
    ModelFootprint f;
    f.dim =
        p.integer("model.dy") * p.integer("model.h") + p.integer("model.h") * p.integer("model.dx");
    f.input_dim = p.integer("model.dx");
    f.output_dim = p.integer("model.dy");
    f.bytes = 8.0 * (13 * dx * dx + 4 * dy * dy + 13 * dx * dy + 8 * h * dx + 8 * h * dy +
                     8 * h * h + 2 * h + dy + 2.0 * static_cast<double>(max_batch) * (h + dy) +
                     static_cast<double>(max_batch) * (2 * h + 1) + h * (dx + dy));
    return f;
  };
  info.create = [](const ParamSet& p) -> std::unique_ptr<Model> {
    Linear2::Options o;
    o.layer_decay = p.number("model.layer_decay");
    o.decay_layer = p.text("model.decay_layer") == "u" ? 0 : 1;
    o.break_strength = p.number("model.break_strength");
    const models_detail::PredictionSettings settings = models_detail::prediction_settings(p);
    o.equilibrium_settings = settings.noisy && settings.online && settings.weight_decay == 0.0;
    o.flow_settings = !settings.noisy && settings.weight_decay == 0.0;
    o.window_first_step =
        std::max<std::int64_t>(p.integer("optimizer.steps") - p.integer("record.final_window"), 0) +
        1;
    return std::make_unique<Linear2>(p.integer("model.dx"), p.integer("model.h"),
                                     p.integer("model.dy"), p.number("model.init_u_scale"),
                                     p.number("model.init_w_scale"), o);
  };
  return info;
}

}  // namespace symsweep
