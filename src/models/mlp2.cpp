// Two-layer nonlinear network. The maths is in include/symsweep/models/mlp2.hpp.
#include "symsweep/models/mlp2.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "prediction_settings.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/rng.hpp"
#include "text.hpp"

namespace symsweep {

ModelShape Mlp2::shape_for(Index dx, Index h, Index dy, Activation activation, bool bias) {
  ModelShape s;
  s.layers = {h * dx + (bias ? h : 0), dy * h + (bias ? dy : 0)};
  if (activation == Activation::relu) {
    s.conserved = h;
    s.symmetry_blocks.assign(static_cast<std::size_t>(h), 1);
  }
  return s;
}

double Mlp2::cosine(const Matrix& p, const Matrix& q) {
  const double np = p.norm(), nq = q.norm();
  if (np == 0.0 || nq == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return p.cwiseProduct(q).sum() / (np * nq);
}

Mlp2::Mlp2(Index dx, Index h, Index dy, const Options& options)
    : Model(shape_for(dx, h, dy, options.activation, options.bias)),
      dx_(dx),
      h_(h),
      dy_(dy),
      options_(options) {
  SYMSWEEP_VERIFY(dx >= 1 && h >= 1 && dy >= 1, "mlp2 needs positive dimensions");
  off_b_ = h * dx;
  off_u_ = off_b_ + (options_.bias ? h : 0);
  off_c_ = off_u_ + dy * h;
  d_ = off_c_ + (options_.bias ? dy : 0);
}

// ------------------------------------------------------------------------------ the objective
void Mlp2::reserve(Index max_batch) {
  if (z_.rows() >= max_batch) return;
  for (RowMatrix* m : {&z_, &a_, &s1_, &s2_, &da_, &dz_, &tz_, &ta_, &tda_, &tdz_}) {
    m->resize(max_batch, h_);
  }
  r_.resize(max_batch, dy_);
  tr_.resize(max_batch, dy_);
}

Index Mlp2::checked_batch(const Vector& theta, const Batch& batch) {
  const Index s = batch.size();
  SYMSWEEP_VERIFY(theta.size() == d_, "theta has the wrong length");
  SYMSWEEP_VERIFY(batch.x.cols() == dx_ && batch.y.cols() == dy_ && batch.y.rows() == s,
                  "batch has the wrong shape");
  reserve(s);
  return s;
}

double Mlp2::forward(const Vector& theta, const Batch& batch) {
  const Index s = checked_batch(theta, batch);
  auto z = z_.topRows(s);
  auto a = a_.topRows(s);
  auto s1 = s1_.topRows(s);
  auto s2 = s2_.topRows(s);
  z.noalias() = batch.x * w_matrix(theta).transpose();
  if (options_.bias) z.rowwise() += theta.segment(off_b_, h_).transpose();
  if (options_.activation == Activation::relu) {
    a = z.cwiseMax(0.0);
    s1 = (z.array() > 0.0).cast<double>().matrix();
    s2.setZero();
  } else {
    a = z.array().tanh().matrix();
    s1 = (1.0 - a.array().square()).matrix();
    s2 = (-2.0 * a.array() * s1.array()).matrix();
  }
  auto r = r_.topRows(s);
  r.noalias() = a * u_matrix(theta).transpose();
  if (options_.bias) r.rowwise() += theta.segment(off_c_, dy_).transpose();
  r -= batch.y;
  return 0.5 * r.squaredNorm() / static_cast<double>(s);
}

double Mlp2::loss(const Vector& theta, const Batch& batch) {
  return forward(theta, batch);
}

double Mlp2::loss_grad(const Vector& theta, const Batch& batch, Vector& grad) {
  SYMSWEEP_VERIFY(grad.size() == d_, "grad has the wrong length");
  const double l0 = forward(theta, batch);
  const Index s = batch.size();
  const double inv_s = 1.0 / static_cast<double>(s);
  auto r = r_.topRows(s);
  r *= inv_s;  // Do
  Eigen::Map<Matrix> gu(grad.data() + off_u_, dy_, h_);
  gu.noalias() = r.transpose() * a_.topRows(s);
  if (options_.bias) grad.segment(off_c_, dy_) = r.colwise().sum().transpose();
  auto da = da_.topRows(s);
  da.noalias() = r * u_matrix(theta);
  auto dz = dz_.topRows(s);
  dz = da.cwiseProduct(s1_.topRows(s));
  Eigen::Map<Matrix> gw(grad.data(), h_, dx_);
  gw.noalias() = dz.transpose() * batch.x;
  if (options_.bias) grad.segment(off_b_, h_) = dz.colwise().sum().transpose();
  return l0;
}

void Mlp2::hessian_vector(const Vector& theta, const Batch& batch, const Vector& v, Vector& out) {
  SYMSWEEP_VERIFY(v.size() == d_, "v has the wrong length");
  forward(theta, batch);
  const Index s = batch.size();
  const double inv_s = 1.0 / static_cast<double>(s);
  auto r = r_.topRows(s);
  r *= inv_s;  // Do
  const auto a = a_.topRows(s);
  const auto s1 = s1_.topRows(s);
  auto da = da_.topRows(s);
  da.noalias() = r * u_matrix(theta);
  // Tangent forward pass.
  auto tz = tz_.topRows(s);
  tz.noalias() = batch.x * w_matrix(v).transpose();
  if (options_.bias) tz.rowwise() += v.segment(off_b_, h_).transpose();
  auto ta = ta_.topRows(s);
  ta = tz.cwiseProduct(s1);
  auto tr = tr_.topRows(s);
  tr.noalias() = ta * u_matrix(theta).transpose();
  tr.noalias() += a * u_matrix(v).transpose();
  if (options_.bias) tr.rowwise() += v.segment(off_c_, dy_).transpose();
  tr *= inv_s;  // dDo
  out.resize(d_);
  Eigen::Map<Matrix> ou(out.data() + off_u_, dy_, h_);
  ou.noalias() = tr.transpose() * a;
  ou.noalias() += r.transpose() * ta;
  if (options_.bias) out.segment(off_c_, dy_) = tr.colwise().sum().transpose();
  auto tda = tda_.topRows(s);
  tda.noalias() = tr * u_matrix(theta);
  tda.noalias() += r * u_matrix(v);
  auto tdz = tdz_.topRows(s);
  tdz = tda.cwiseProduct(s1);
  if (options_.activation == Activation::tanh) {
    tdz.array() += da.array() * s2_.topRows(s).array() * tz.array();
  }
  Eigen::Map<Matrix> ow(out.data(), h_, dx_);
  ow.noalias() = tdz.transpose() * batch.x;
  if (options_.bias) out.segment(off_b_, h_) = tdz.colwise().sum().transpose();
}

// ------------------------------------------------------------------------------ the symmetry
void Mlp2::conserved(const Vector& theta, Vector& out) const {
  out.resize(conserved_size());
  if (options_.activation != Activation::relu) return;
  SYMSWEEP_VERIFY(theta.size() == d_, "theta has the wrong length");
  Vector scratch;
  for (Index j = 0; j < h_; ++j) out[j] = generator_quadratic(j, theta, scratch);
  std::sort(out.data(), out.data() + out.size(), std::greater<double>());
}

void Mlp2::check_generator(Index k, const Vector& v) const {
  SYMSWEEP_VERIFY(k >= 0 && k < generator_count(), "mlp2: bad generator");
  SYMSWEEP_VERIFY(v.size() == d_, "mlp2: bad vector length");
}

void Mlp2::apply_generator(Index k, const Vector& v, Vector& out) const {
  check_generator(k, v);
  SYMSWEEP_VERIFY(out.size() == d_, "mlp2: bad vector length");
  out.setZero();
  for (Index i = 0; i < dx_; ++i) out[i * h_ + k] = v[i * h_ + k];
  if (options_.bias) out[off_b_ + k] = v[off_b_ + k];
  out.segment(off_u_ + k * dy_, dy_) = -v.segment(off_u_ + k * dy_, dy_);
}

double Mlp2::generator_quadratic(Index k, const Vector& v, Vector& /*scratch*/) const {
  check_generator(k, v);
  double q = 0;
  for (Index i = 0; i < dx_; ++i) q += v[i * h_ + k] * v[i * h_ + k];
  if (options_.bias) q += v[off_b_ + k] * v[off_b_ + k];
  return q - v.segment(off_u_ + k * dy_, dy_).squaredNorm();
}

void Mlp2::accumulate_flow_matrix(Index b, const Vector& v, Matrix& f, Vector& scratch) const {
  SYMSWEEP_VERIFY(f.rows() == 1 && f.cols() == 1, "mlp2: bad symmetry block or matrix size");
  f(0, 0) += generator_quadratic(b, v, scratch);
}

void Mlp2::initialize(NormalSource& normal, Vector& theta) const {
  theta.resize(d_);
  const double sw = options_.init_w_scale / std::sqrt(static_cast<double>(dx_));
  const double su = options_.init_u_scale / std::sqrt(static_cast<double>(h_));
  for (Index i = 0; i < off_u_; ++i) theta[i] = sw * normal.normal();  // W, then b
  for (Index i = off_u_; i < off_c_; ++i) theta[i] = su * normal.normal();
  for (Index i = off_c_; i < d_; ++i) theta[i] = 0.0;
}

// ------------------------------------------------------------------------------ alignment
void Mlp2::prepare_diagnostics(const Batch& full) {
  const Index n = full.size();
  sigma_x_.resize(dx_, dx_);
  sigma_x_.noalias() = full.x.transpose() * full.x;
  if (n > 0) sigma_x_ /= static_cast<double>(n);
  ws_.resize(h_, dx_);
  p_.resize(h_, h_);
  q_.resize(h_, h_);
  align_sum_ = 0;
  window_count_ = 0;
}

double Mlp2::alignment(const Vector& theta) {
  SYMSWEEP_VERIFY(sigma_x_.rows() == dx_, "mlp2: alignment before prepare_diagnostics");
  const ConstMap w = w_matrix(theta), u = u_matrix(theta);
  ws_.noalias() = w * sigma_x_;
  p_.noalias() = ws_ * w.transpose();
  q_.noalias() = u.transpose() * u;
  return cosine(p_, q_);
}

void Mlp2::accumulate_window(const Vector& theta) {
  align_sum_ += alignment(theta);
  ++window_count_;
}

void Mlp2::bind_fields(const Schema& schema) {
  f_align_ = schema.id(Group::results, "mlp_alignment");
  f_trace_align_ = schema.find(Group::traces, "mlp_alignment");
}

void Mlp2::record_traces(const Vector& theta, Record& out, std::size_t slot) {
  if (f_trace_align_ < 0 || !out.schema().present(f_trace_align_)) return;
  out.set(f_trace_align_, alignment(theta), slot);
}

void Mlp2::record_final(const Vector& theta, const Batch& /*full*/,
                        const EndMeasurements& /*measured*/, Record& out) {
  out.set(f_align_,
          window_count_ > 0 ? align_sum_ / static_cast<double>(window_count_) : alignment(theta));
}

bool Mlp2::smooth_near(const Vector& theta, const Batch& batch, double radius) {
  if (options_.activation != Activation::relu) return true;
  const ConstMap w = w_matrix(theta);
  for (Index s = 0; s < batch.size(); ++s) {
    const double reach = radius * (batch.x.row(s).cwiseAbs().sum() + 1.0);
    for (Index j = 0; j < h_; ++j) {
      double z = w.row(j).dot(batch.x.row(s));
      if (options_.bias) z += theta[off_b_ + j];
      if (std::fabs(z) <= reach) return false;
    }
  }
  return true;
}

// ------------------------------------------------------------------------------ the registry
namespace {
const char* const kAlignment =
    "cos(W Sx W^T, U^T U) = <P, Q>_F / (|P|_F |Q|_F) with P = W Sx W^T and Q = U^T U (h x h, "
    "the biases left out) and Sx = X^T X / n the second moment of the dataset's inputs: 1 when "
    "the hidden layer's input representation and its output weights are aligned (proportional), "
    "in [0, 1] (both are positive semidefinite); NaN when W Sx W^T or U^T U is zero";

void declare_mlp2_fields(const Grid& grid, Schema& schema) {
  schema.add(real_field(Group::results, "mlp_alignment", "representation alignment",
                        std::string(kAlignment) +
                            ", averaged over the last record.final_window steps (the final state "
                            "when 0 or when the run ended before); NaN if diverged",
                        ""));
  if (parse_diagnostics(grid.spec().text("record.diagnostics")).traced(Diagnostics::model)) {
    schema.add(real_field(Group::traces, "mlp_alignment", "representation alignment",
                          "mlp_alignment (unaveraged) at /traces/step", "", {"step"}));
  }
}

std::optional<std::string> online_problem(const ParamSet& p) {
  if (p.text("data.mode") != "online") return std::nullopt;
  return text::setting("data.mode", "online") +
         ": model.name = mlp2 needs data.mode = finite (its loss is not quadratic in the data, "
         "so the population has no exact moment-matched objective): run it on finite data, "
         "data.n large for online-like";
}
}  // namespace

ModelInfo mlp2_info() {
  using models_detail::dimension_key;
  using models_detail::scale_key;
  ModelInfo info;
  info.name = "mlp2";
  info.summary =
      "two-layer network f = U sigma(W x + b) + c, sigma = relu or tanh, l = 1/2 |f - y|^2; relu: "
      "conserved C_j = |w_j|^2 + b_j^2 - |u_j|^2 per hidden neuron (finite data only)";
  info.params = {
      dimension_key("model.dx", "2", "input dimension"),
      dimension_key("model.h", "4", "hidden width"),
      dimension_key("model.dy", "2", "output dimension"),
      ParamDef{"model.activation",
               ParamKind::Choice,
               "relu",
               "the hidden nonlinearity sigma: relu (per-neuron rescaling symmetry) or tanh (none)",
               {},
               {"relu", "tanh"},
               true},
      ParamDef{"model.bias",
               ParamKind::Choice,
               "true",
               "true: the biases b (hidden) and c (output) are parameters; false: none",
               {},
               {"true", "false"},
               true},
      scale_key("model.init_w_scale", "W and b entries ~ N(0, init_w_scale^2 / dx)"),
      scale_key("model.init_u_scale", "U entries ~ N(0, init_u_scale^2 / h); c starts at 0"),
  };
  info.rules = {{{"data.mode"}, &online_problem}};
  const auto activation = [](const ParamSet& p) {
    return p.text("model.activation") == "tanh" ? Mlp2::Activation::tanh : Mlp2::Activation::relu;
  };
  info.shape = [activation](const ParamSet& p) {
    return Mlp2::shape_for(p.integer("model.dx"), p.integer("model.h"), p.integer("model.dy"),
                           activation(p), p.text("model.bias") == "true");
  };
  info.declare_fields = &declare_mlp2_fields;
  // Doubles held: ten S x h and two S x dy batch buffers, Sx, W Sx and the two h x h matrices.
  info.footprint = [](const ParamSet& p, Index max_batch) {
    const Index dx = p.integer("model.dx"), h = p.integer("model.h"), dy = p.integer("model.dy");
    const bool bias = p.text("model.bias") == "true";
    ModelFootprint f;
    f.dim = h * dx + dy * h + (bias ? h + dy : 0);
    f.input_dim = dx;
    f.output_dim = dy;
    const auto s = static_cast<double>(max_batch), hd = static_cast<double>(h);
    const auto xd = static_cast<double>(dx), yd = static_cast<double>(dy);
    f.bytes = 8.0 * (s * (10 * hd + 2 * yd) + xd * xd + hd * xd + 2 * hd * hd);
    return f;
  };
  info.create = [activation](const ParamSet& p) -> std::unique_ptr<Model> {
    Mlp2::Options o;
    o.activation = activation(p);
    o.bias = p.text("model.bias") == "true";
    o.init_w_scale = p.number("model.init_w_scale");
    o.init_u_scale = p.number("model.init_u_scale");
    return std::make_unique<Mlp2>(p.integer("model.dx"), p.integer("model.h"),
                                  p.integer("model.dy"), o);
  };
  return info;
}

}  // namespace symsweep
