#include "symsweep/model.hpp"

#include <cmath>

#include "symsweep/cancel.hpp"
#include "symsweep/error.hpp"
#include "symsweep/models/diaglinear.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/models/poly.hpp"
#include "symsweep/models/scaleinv.hpp"

namespace symsweep {

void Model::hessian(const Vector& theta, const Batch& batch, Matrix& h) {
  hessian_from_products(
      dim(), [&](const Vector& e, Vector& col) { hessian_vector(theta, batch, e, col); }, h);
}

void Model::hessian_from_products(Index d,
                                  const std::function<void(const Vector&, Vector&)>& product,
                                  Matrix& h) {
  h.resize(d, d);
  Vector e = Vector::Zero(d);
  Vector col(d);
  for (Index j = 0; j < d; ++j) {
    cancellation_point();
    e[j] = 1.0;
    product(e, col);
    h.col(j) = col;
    e[j] = 0.0;
  }
  // Exactly symmetric (products of a symmetric operator are symmetric up to rounding).
  h = (0.5 * (h + h.transpose())).eval();
}

std::function<void(const Vector&, Vector&)> Model::hessian_operator(const Vector& theta,
                                                                    const Batch& batch) {
  return [this, &theta, &batch](const Vector& v, Vector& out) {
    hessian_vector(theta, batch, v, out);
  };
}

bool Model::directional_derivatives(const Vector& theta, const Batch& batch, const Vector& v,
                                    Vector& t_vv, double& q_vvvv) {
  const double h = 1e-3 * (1.0 + theta.cwiseAbs().maxCoeff());
  Vector plus, minus, centre;
  hessian_vector(theta + h * v, batch, v, plus);
  hessian_vector(theta - h * v, batch, v, minus);
  hessian_vector(theta, batch, v, centre);
  t_vv = (plus - minus) / (2 * h);
  q_vvvv = v.dot(plus - 2 * centre + minus) / (h * h);
  return t_vv.allFinite() && std::isfinite(q_vvvv);
}

void Model::conserved(const Vector& /*theta*/, Vector& out) const {
  out.resize(0);
}

void Model::apply_generator(Index k, const Vector& /*v*/, Vector& /*out*/) const {
  SYMSWEEP_VERIFY(false, "generator " + std::to_string(k) + " of a model without symmetry");
}

double Model::generator_quadratic(Index k, const Vector& v, Vector& scratch) const {
  apply_generator(k, v, scratch);
  return v.dot(scratch);
}

void Model::layer(Index l, Index& /*first*/, Index& /*size*/) const {
  SYMSWEEP_VERIFY(false, "layer " + std::to_string(l) + " of a model without layers");
}

void Model::sample_gradients(const Vector& theta, const Batch& batch, RowMatrix& out,
                             Vector& scratch) {
  SYMSWEEP_VERIFY(out.rows() >= batch.size() && out.cols() == dim() && scratch.size() == dim(),
                  "sample_gradients: buffers have the wrong shape");
  for (Index s = 0; s < batch.size(); ++s) {
    loss_grad(theta, Batch{batch.x.middleRows(s, 1), batch.y.middleRows(s, 1)}, scratch);
    out.row(s) = scratch.transpose();
  }
}

double Model::hessian_trace(const Vector& theta, const Batch& batch) {
  if (trace_e_.size() != dim()) {
    trace_e_ = Vector::Zero(dim());
    trace_col_.resize(dim());
  }
  double t = 0;
  for (Index i = 0; i < dim(); ++i) {
    cancellation_point();
    trace_e_[i] = 1.0;
    hessian_vector(theta, batch, trace_e_, trace_col_);
    t += trace_col_[i];
    trace_e_[i] = 0.0;
  }
  return t;
}

namespace {
std::vector<ModelInfo>& registry() {
  // Built-in models are listed explicitly: self-registration through static initialisers is
  // dropped by the linker when the library is static.
  static std::vector<ModelInfo> models = {linear2_info(), poly_info(), diaglinear_info(),
                                          scaleinv_info()};
  return models;
}
}  // namespace

const std::vector<ModelInfo>& model_registry() {
  return registry();
}

void register_model(ModelInfo info) {
  SYMSWEEP_VERIFY(!info.name.empty() && info.create && info.conserved_size,
                  "a model needs a name, a factory and conserved_size");
  SYMSWEEP_VERIFY(find_model(info.name) == nullptr,
                  "model '" + info.name + "' is already registered");
  registry().push_back(std::move(info));
}

const ModelInfo* find_model(const std::string& name) {
  for (const auto& info : model_registry()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

}  // namespace symsweep
