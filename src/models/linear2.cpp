// Two-layer linear network. The maths is in include/symsweep/models/linear2.hpp.
#include "symsweep/models/linear2.hpp"

#include <cmath>
#include <optional>
#include <string>

#include "symsweep/error.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {

Linear2::Linear2(Index dx, Index h, Index dy, double init_u_scale, double init_w_scale)
    : dx_(dx),
      h_(h),
      dy_(dy),
      init_u_scale_(init_u_scale),
      init_w_scale_(init_w_scale),
      g_(dy, dx),
      d_(h, h),
      d_eigen_(h) {
  SYMSWEEP_VERIFY(dx >= 1 && h >= 1 && dy >= 1, "linear2 needs positive dimensions");
}

void Linear2::reserve(Index max_batch) {
  if (z_.rows() < max_batch) {
    z_.resize(max_batch, h_);
    r_.resize(max_batch, dy_);
  }
}

double Linear2::forward(const Vector& theta, const Batch& batch) {
  const Index s = batch.size();
  SYMSWEEP_VERIFY(theta.size() == dim(), "theta has the wrong length");
  SYMSWEEP_VERIFY(batch.x.cols() == dx_ && batch.y.cols() == dy_ && batch.y.rows() == s,
                  "batch has the wrong shape");
  reserve(s);  // no-op once sized
  auto z = z_.topRows(s);
  auto r = r_.topRows(s);
  z.noalias() = batch.x * w(theta).transpose();
  r.noalias() = z * u(theta).transpose();
  r -= batch.y;
  g_.noalias() = r.transpose() * batch.x;
  const double inv_s = 1.0 / static_cast<double>(s);
  g_ *= inv_s;
  return 0.5 * inv_s * r.squaredNorm();
}

double Linear2::loss_grad(const Vector& theta, const Batch& batch, Vector& grad) {
  const double l = forward(theta, batch);
  SYMSWEEP_VERIFY(grad.size() == dim(), "grad has the wrong length");
  Eigen::Map<Matrix> gu(grad.data(), dy_, h_);
  Eigen::Map<Matrix> gw(grad.data() + dy_ * h_, h_, dx_);
  gu.noalias() = g_ * w(theta).transpose();
  gw.noalias() = u(theta).transpose() * g_;
  return l;
}

double Linear2::loss(const Vector& theta, const Batch& batch) {
  return forward(theta, batch);
}

namespace {

/// H v for the two-layer linear net given the batch's G and Sxx (see the header).
void linear2_hvp(const Eigen::Map<const Matrix>& u, const Eigen::Map<const Matrix>& w,
                 const Matrix& g, const Matrix& sxx, const Vector& v, Vector& out) {
  const Index dy = u.rows(), h = u.cols(), dx = w.cols();
  const Eigen::Map<const Matrix> du(v.data(), dy, h);
  const Eigen::Map<const Matrix> dw(v.data() + dy * h, h, dx);
  const Matrix dg = (du * w + u * dw) * sxx;
  out.resize(dy * h + h * dx);
  Eigen::Map<Matrix>(out.data(), dy, h) = dg * w.transpose() + g * dw.transpose();
  Eigen::Map<Matrix>(out.data() + dy * h, h, dx) = du.transpose() * g + u.transpose() * dg;
}

}  // namespace

void Linear2::hessian_vector(const Vector& theta, const Batch& batch, const Vector& v,
                             Vector& out) {
  SYMSWEEP_VERIFY(v.size() == dim(), "v has the wrong length");
  forward(theta, batch);
  const Matrix sxx = batch.x.transpose() * batch.x / static_cast<double>(batch.size());
  linear2_hvp(u(theta), w(theta), g_, sxx, v, out);
}

void Linear2::hessian(const Vector& theta, const Batch& batch, Matrix& hess) {
  forward(theta, batch);
  const Matrix sxx = batch.x.transpose() * batch.x / static_cast<double>(batch.size());
  hessian_from_products(
      dim(),
      [&](const Vector& e, Vector& col) { linear2_hvp(u(theta), w(theta), g_, sxx, e, col); },
      hess);
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

ModelInfo linear2_info() {
  const auto dim = [](std::string key, std::string help) {
    return ParamDef{
        std::move(key), ParamKind::Integer, "1", std::move(help), Range{1, 4096}, {}, true};
  };
  const auto scale = [](std::string key, std::string help) {
    return ParamDef{
        std::move(key), ParamKind::Real, "1", std::move(help), Range::at_least(0), {}, true};
  };
  ModelInfo info;
  info.name = "linear2";
  info.summary =
      "two-layer linear network f = U W x, l = 1/2 |f - y|^2; conserved D = U^T U - W W^T "
      "(dx = h = dy = 1: the scalar u*w model)";
  info.params = {
      dim("model.dx", "input dimension"),
      dim("model.h", "hidden width"),
      dim("model.dy", "output dimension"),
      scale("model.init_u_scale", "U entries ~ N(0, init_u_scale^2 / h)"),
      scale("model.init_w_scale", "W entries ~ N(0, init_w_scale^2 / dx)"),
  };
  info.conserved_size = [](const ParamSet& p) -> Index { return p.integer("model.h"); };
  info.create = [](const ParamSet& p) -> std::unique_ptr<Model> {
    return std::make_unique<Linear2>(p.integer("model.dx"), p.integer("model.h"),
                                     p.integer("model.dy"), p.number("model.init_u_scale"),
                                     p.number("model.init_w_scale"));
  };
  return info;
}

}  // namespace symsweep
