// Diagonal linear network. The maths is in include/symsweep/models/diaglinear.hpp.
#include "symsweep/models/diaglinear.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "prediction_settings.hpp"
#include "symsweep/eigen_solvers.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {

DiagLinear::DiagLinear(Index m, const Options& options)
    : Model(shape_for(m)), m_(m), o_(options), c_(m), t_(m), w_(m) {
  SYMSWEEP_VERIFY(m >= 1, "diaglinear needs m >= 1");
}

void DiagLinear::reserve(Index max_batch) {
  if (r_.size() < max_batch) {
    r_.resize(max_batch);
    z_.resize(max_batch);
  }
}

double DiagLinear::forward(const Vector& theta, const Batch& batch) {
  const Index s = batch.size();
  SYMSWEEP_VERIFY(theta.size() == dim() && batch.x.cols() == m_ && batch.y.cols() == 1,
                  "diaglinear: wrong shapes");
  reserve(s);
  w_ = theta.head(m_).cwiseProduct(theta.tail(m_));
  auto r = r_.head(s);
  r.noalias() = batch.x * w_;
  r -= batch.y.col(0);
  c_.noalias() = batch.x.transpose() * r;
  c_ /= static_cast<double>(s);
  return 0.5 * r.squaredNorm() / static_cast<double>(s);
}

double DiagLinear::penalty(const Vector& theta) const {
  double p = 0;
  if (o_.layer_decay != 0.0) {
    p += 0.5 * o_.layer_decay * theta.segment(o_.decay_layer * m_, m_).squaredNorm();
  }
  if (o_.break_strength != 0.0) {
    p += o_.break_strength * theta.sum() / std::sqrt(static_cast<double>(dim()));
  }
  return p;
}

double DiagLinear::loss_grad(const Vector& theta, const Batch& batch, Vector& grad) {
  const double l = forward(theta, batch);
  SYMSWEEP_VERIFY(grad.size() == dim(), "grad has the wrong length");
  grad.head(m_) = c_.cwiseProduct(theta.tail(m_));
  grad.tail(m_) = c_.cwiseProduct(theta.head(m_));
  if (o_.layer_decay != 0.0) {
    grad.segment(o_.decay_layer * m_, m_) +=
        o_.layer_decay * theta.segment(o_.decay_layer * m_, m_);
  }
  if (o_.break_strength != 0.0) {
    grad.array() += o_.break_strength / std::sqrt(static_cast<double>(dim()));
  }
  return l + penalty(theta);
}

double DiagLinear::loss(const Vector& theta, const Batch& batch) {
  return forward(theta, batch) + penalty(theta);
}

void DiagLinear::hessian_vector(const Vector& theta, const Batch& batch, const Vector& v,
                                Vector& out) {
  SYMSWEEP_VERIFY(v.size() == dim(), "v has the wrong length");
  forward(theta, batch);
  const Index s = batch.size();
  w_ = v.head(m_).cwiseProduct(theta.tail(m_));
  w_ += theta.head(m_).cwiseProduct(v.tail(m_));
  auto z = z_.head(s);
  z.noalias() = batch.x * w_;
  t_.noalias() = batch.x.transpose() * z;
  t_ /= static_cast<double>(s);
  out.resize(dim());
  out.head(m_) = t_.cwiseProduct(theta.tail(m_)) + c_.cwiseProduct(v.tail(m_));
  out.tail(m_) = t_.cwiseProduct(theta.head(m_)) + c_.cwiseProduct(v.head(m_));
  if (o_.layer_decay != 0.0) {
    out.segment(o_.decay_layer * m_, m_) += o_.layer_decay * v.segment(o_.decay_layer * m_, m_);
  }
}

double DiagLinear::hessian_trace(const Vector& theta, const Batch& batch) {
  const double inv = 1.0 / static_cast<double>(batch.size());
  double t = 0;
  for (Index j = 0; j < m_; ++j) {
    const double q = batch.x.col(j).squaredNorm() * inv;
    t += q * (theta[j] * theta[j] + theta[m_ + j] * theta[m_ + j]);
  }
  if (o_.layer_decay != 0.0) t += o_.layer_decay * static_cast<double>(m_);
  return t;
}

void DiagLinear::conserved(const Vector& theta, Vector& out) const {
  out.resize(m_);
  for (Index j = 0; j < m_; ++j) out[j] = theta[j] * theta[j] - theta[m_ + j] * theta[m_ + j];
  std::sort(out.data(), out.data() + m_, std::greater<double>());
}

void DiagLinear::initialize(NormalSource& normal, Vector& theta) const {
  theta.resize(dim());
  for (Index j = 0; j < m_; ++j) theta[j] = o_.init_scale * o_.init_imbalance * normal.normal();
  for (Index j = 0; j < m_; ++j)
    theta[m_ + j] = o_.init_scale / o_.init_imbalance * normal.normal();
}

void DiagLinear::apply_generator(Index k, const Vector& v, Vector& out) const {
  SYMSWEEP_VERIFY(k >= 0 && k < m_ && v.size() == dim() && out.size() == dim(),
                  "diaglinear: bad generator or vector length");
  out.setZero();
  out[k] = v[k];
  out[m_ + k] = -v[m_ + k];
}

double DiagLinear::generator_quadratic(Index k, const Vector& v, Vector& /*scratch*/) const {
  SYMSWEEP_VERIFY(k >= 0 && k < m_ && v.size() == 2 * m_, "diaglinear: generator out of range");
  return v[k] * v[k] - v[m_ + k] * v[m_ + k];
}

void DiagLinear::accumulate_flow_matrix(Index b, const Vector& v, Matrix& f,
                                        Vector& scratch) const {
  SYMSWEEP_VERIFY(f.rows() == 1 && f.cols() == 1, "diaglinear: blocks are 1 x 1");
  f(0, 0) += generator_quadratic(b, v, scratch);
}

// ------------------------------------------------------------------------- noise equilibrium
void DiagLinear::prepare_diagnostics(const Batch& full) {
  const double inv = 1.0 / static_cast<double>(full.size());
  const Matrix sxx = full.x.transpose() * full.x * inv;
  const Vector sxy = full.x.transpose() * full.y.col(0) * inv;
  beta_ = sxx.ldlt().solve(sxy);
  balance_sum_ = Vector::Zero(m_);
  product_sum_ = Vector::Zero(m_);
  window_count_ = 0;
}

void DiagLinear::accumulate_window(const Vector& theta) {
  for (Index j = 0; j < m_; ++j) {
    balance_sum_[j] += theta[j] * theta[j] - theta[m_ + j] * theta[m_ + j];
    product_sum_[j] += theta[j] * theta[m_ + j];
  }
  ++window_count_;
}

void DiagLinear::bind_fields(const Schema& schema) {
  f_balance_ = schema.id(Group::results, "diag_balance");
  f_product_ = schema.id(Group::results, "diag_product");
  f_beta_ = schema.id(Group::results, "diag_product_predicted");
}

void DiagLinear::record_final(const Vector& theta, const Batch& /*full*/,
                              const EndMeasurements& /*measured*/, Record& out) {
  // beta is the minimum of the plain squared loss only (see the header).
  const bool plain = o_.weight_decay == 0.0 && o_.layer_decay == 0.0 && o_.break_strength == 0.0;
  for (Index j = 0; j < m_; ++j) {
    double balance = theta[j] * theta[j] - theta[m_ + j] * theta[m_ + j];
    double product = theta[j] * theta[m_ + j];
    if (window_count_ > 0) {
      balance = balance_sum_[j] / static_cast<double>(window_count_);
      product = product_sum_[j] / static_cast<double>(window_count_);
    }
    const auto i = static_cast<std::size_t>(j);
    out.set(f_balance_, balance, i);
    out.set(f_product_, product, i);
    out.set(f_beta_, beta_.size() == m_ && plain ? beta_[j] : std::nan(""), i);
  }
}

// ------------------------------------------------------------------------------------ registry
namespace {

void declare_diaglinear_fields(const Grid& grid, Schema& schema) {
  Index m = 0;
  grid.for_each_combination([](const std::string& key) { return key == "model.dx"; },
                            [&](const ParamSet& p) { m = std::max(m, p.integer("model.dx")); });
  std::vector<std::int64_t> j(static_cast<std::size_t>(m));
  for (std::size_t k = 0; k < j.size(); ++k) j[k] = static_cast<std::int64_t>(k);
  schema.add_dim({"unit", "a coordinate j of the diagonal network (u_j, v_j)", j});
  const std::string averaged =
      ", averaged over the last record.final_window steps (the final state when 0)";
  schema.add(real_field(Group::results, "diag_balance", "u_j^2 - v_j^2",
                        "the conserved quantity of coordinate j" + averaged +
                            "; zero at the noise equilibrium where the noise loads coordinate j",
                        "", {"unit"}));
  schema.add(real_field(Group::results, "diag_product", "u_j v_j",
                        "the effective weight of coordinate j" + averaged, "", {"unit"}));
  schema.add(real_field(Group::results, "diag_product_predicted", "least-squares weight beta_j",
                        "beta = Sigma_x^{-1} E[x y] from the moments of the full objective: "
                        "u_j v_j at a minimum; with the balance zero (SGD's noise equilibrium), "
                        "|u_j| = |v_j| = sqrt(|beta_j|). Holds for any optimizer.method, "
                        "data.mode, sampling, batch and schedule; assumes "
                        "optimizer.weight_decay = 0, model.layer_decay = 0 and "
                        "model.break_strength = 0 (NaN otherwise)",
                        "", {"unit"}));
}

}  // namespace

ModelInfo diaglinear_info() {
  using models_detail::real_key;
  ModelInfo info;
  info.name = "diaglinear";
  info.summary =
      "diagonal linear network f = sum_j u_j v_j x_j, l = 1/2 (f - y)^2; conserved u_j^2 - v_j^2 "
      "per coordinate";
  info.params = {
      models_detail::dimension_key("model.dx", "1", "input dimension m (dy must be 1)"),
      real_key("model.init_scale", "1", Range::at_least(0),
               "u_j ~ N(0, (init_scale init_imbalance)^2), v_j ~ N(0, (init_scale / "
               "init_imbalance)^2)"),
      real_key("model.init_imbalance", "1", Range::above(0),
               "the initial imbalance rho: u scaled by rho, v by 1/rho (C_j = u_j^2 - v_j^2)"),
      real_key("model.layer_decay", "0", Range::at_least(0),
               "an L2 penalty layer_decay/2 |layer|^2 on model.decay_layer alone (weight decay "
               "on one layer)"),
      ParamDef{"model.decay_layer",
               ParamKind::Choice,
               "v",
               "the layer model.layer_decay acts on: u or v",
               {},
               {"u", "v"},
               true},
      models_detail::break_strength_key(),
  };
  info.shape = [](const ParamSet& p) { return DiagLinear::shape_for(p.integer("model.dx")); };
  info.declare_fields = &declare_diaglinear_fields;
  // Doubles held: the data moments of prepare_diagnostics and their LDLT (~4 m^2), per-coordinate
  // vectors (~16 m), the batch scratch r_, z_ (twice).
  info.footprint = [](const ParamSet& p, Index max_batch) {
    const Index m = p.integer("model.dx");
    const double md = static_cast<double>(m);
    ModelFootprint f;
    f.dim = 2 * m;
    f.input_dim = m;
    f.output_dim = 1;
    f.bytes = 8.0 * (4 * md * md + 16 * md + 4.0 * static_cast<double>(max_batch));
    return f;
  };
  info.create = [](const ParamSet& p) -> std::unique_ptr<Model> {
    DiagLinear::Options o;
    o.init_scale = p.number("model.init_scale");
    o.init_imbalance = p.number("model.init_imbalance");
    o.layer_decay = p.number("model.layer_decay");
    o.decay_layer = p.text("model.decay_layer") == "u" ? 0 : 1;
    o.break_strength = p.number("model.break_strength");
    o.weight_decay = p.number("optimizer.weight_decay");
    return std::make_unique<DiagLinear>(p.integer("model.dx"), o);
  };
  return info;
}

}  // namespace symsweep
