// The scale-invariant model. The maths is in include/symsweep/models/scaleinv.hpp.
#include "symsweep/models/scaleinv.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "prediction_settings.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {

ScaleInv::ScaleInv(Index m, const Options& options)
    : Model(shape_for(m)), m_(m), o_(options), th_(m), c_(m), t_(m) {
  SYMSWEEP_VERIFY(m >= 1, "scaleinv needs m >= 1");
}

void ScaleInv::reserve(Index max_batch) {
  if (r_.size() < max_batch) {
    r_.resize(max_batch);
    z_.resize(max_batch);
  }
}

double ScaleInv::forward(const Vector& theta, const Batch& batch) {
  const Index s = batch.size();
  SYMSWEEP_VERIFY(theta.size() == m_ && batch.x.cols() == m_ && batch.y.cols() == 1,
                  "scaleinv: wrong shapes");
  reserve(s);
  th_ = theta / theta.norm();
  auto r = r_.head(s);
  r.noalias() = batch.x * th_;
  r -= batch.y.col(0);
  c_.noalias() = batch.x.transpose() * r;
  c_ /= static_cast<double>(s);
  return 0.5 * r.squaredNorm() / static_cast<double>(s);
}

double ScaleInv::penalty(const Vector& theta) const {
  return o_.break_strength != 0.0
             ? o_.break_strength * theta.sum() / std::sqrt(static_cast<double>(m_))
             : 0.0;
}

double ScaleInv::loss_grad(const Vector& theta, const Batch& batch, Vector& grad) {
  const double l = forward(theta, batch);
  SYMSWEEP_VERIFY(grad.size() == m_, "grad has the wrong length");
  const double rho = theta.norm();
  grad = c_ - th_ * th_.dot(c_);  // P c
  grad /= rho;
  if (o_.break_strength != 0.0) {
    grad.array() += o_.break_strength / std::sqrt(static_cast<double>(m_));
  }
  return l + penalty(theta);
}

double ScaleInv::loss(const Vector& theta, const Batch& batch) {
  return forward(theta, batch) + penalty(theta);
}

void ScaleInv::hessian_vector(const Vector& theta, const Batch& batch, const Vector& v,
                              Vector& out) {
  SYMSWEEP_VERIFY(v.size() == m_, "v has the wrong length");
  forward(theta, batch);
  const Index s = batch.size();
  const double rho2 = theta.squaredNorm();
  const double tc = th_.dot(c_), tv = th_.dot(v);
  out.resize(m_);
  // P Sxx P v
  t_ = v - th_ * tv;
  auto z = z_.head(s);
  z.noalias() = batch.x * t_;
  out.noalias() = batch.x.transpose() * z;
  out /= static_cast<double>(s);
  out -= th_ * th_.dot(out);
  // - (theta_hat^T c) P v - P c (theta_hat^T v) - theta_hat (P c)^T v, with P c = c - tc th
  out -= tc * t_;
  t_ = c_ - th_ * tc;
  out -= t_ * tv;
  out -= th_ * t_.dot(v);
  out /= rho2;
}

double ScaleInv::hessian_trace(const Vector& theta, const Batch& batch) {
  forward(theta, batch);
  const Index s = batch.size();
  const double inv = 1.0 / static_cast<double>(s);
  const double tr_sxx = batch.x.squaredNorm() * inv;
  auto z = z_.head(s);
  z.noalias() = batch.x * th_;
  const double t_sxx_t = z.squaredNorm() * inv;
  return (tr_sxx - t_sxx_t - static_cast<double>(m_ - 1) * th_.dot(c_)) / theta.squaredNorm();
}

void ScaleInv::conserved(const Vector& theta, Vector& out) const {
  out.resize(1);
  out[0] = theta.squaredNorm();
}

void ScaleInv::initialize(NormalSource& normal, Vector& theta) const {
  theta.resize(m_);
  for (Index i = 0; i < m_; ++i) theta[i] = normal.normal();
  theta *= o_.init_norm / theta.norm();
}

void ScaleInv::apply_generator(Index k, const Vector& v, Vector& out) const {
  SYMSWEEP_VERIFY(k == 0 && v.size() == m_ && out.size() == m_, "scaleinv: generator 0 is I");
  out = v;
}

double ScaleInv::generator_quadratic(Index k, const Vector& v, Vector& /*scratch*/) const {
  SYMSWEEP_VERIFY(k == 0 && v.size() == m_, "scaleinv: generator 0 is I");
  return v.squaredNorm();
}

// --------------------------------------------------------------------------------- predictions
double ScaleInv::predicted_slope(double tr_sigma_hat, double grad_hat2) const {
  if (o_.weight_decay != 0.0 || o_.break_strength != 0.0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return 2 * o_.eta * o_.eta * (grad_hat2 + o_.noise_factor * tr_sigma_hat);
}

double ScaleInv::predicted_norm4(double tr_sigma_hat, double grad_hat2) const {
  if (o_.weight_decay == 0.0 || o_.noise_factor == 0.0 || o_.break_strength != 0.0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return o_.eta * (grad_hat2 + o_.noise_factor * tr_sigma_hat) / (2 * o_.weight_decay);
}

void ScaleInv::accumulate_window(const Vector& theta) {
  const double n2 = theta.squaredNorm();
  last_norm4_ = n2 * n2;
  if (window_count_ == 0) first_norm4_ = last_norm4_;
  norm4_sum_ += last_norm4_;
  ++window_count_;
}

void ScaleInv::bind_fields(const Schema& schema) {
  // The three fields computed from the core's grad_noise exist only where it is measured at the
  // end (record.diagnostics).
  f_tr_sigma_hat_ = schema.find(Group::results, "si_tr_sigma_hat");
  f_slope_pred_ = schema.find(Group::results, "si_norm4_slope_predicted");
  f_norm4_pred_ = schema.find(Group::results, "si_norm4_predicted");
  f_slope_ = schema.id(Group::results, "si_norm4_slope");
  f_norm4_ = schema.id(Group::results, "si_norm4_mean");
}

void ScaleInv::record_final(const Vector& theta, const Batch& full, const EndMeasurements& measured,
                            Record& out) {
  if (f_tr_sigma_hat_ >= 0 && measured.layer_noise.size() == 1) {
    record_noise_predictions(theta, full, measured.layer_noise[0], out);
  }
  if (window_count_ >= 2) {
    out.set(f_slope_, (last_norm4_ - first_norm4_) / static_cast<double>(window_count_ - 1));
  }
  if (window_count_ >= 1) out.set(f_norm4_, norm4_sum_ / static_cast<double>(window_count_));
}

void ScaleInv::record_noise_predictions(const Vector& theta, const Batch& full, double tr_sigma,
                                        Record& out) {
  // Sigma(theta) = Sigma(theta_hat) / |theta|^2; the core measured Tr Sigma(theta) (one layer).
  const double rho2 = theta.squaredNorm();
  const double tr_sigma_hat = rho2 * tr_sigma;
  out.set(f_tr_sigma_hat_, tr_sigma_hat);
  // |grad L(theta_hat)|^2 = |theta|^2 |grad L(theta)|^2 (the gradient scales as 1/|theta|), of
  // the full objective, without the symmetry-breaking term (the predictions are NaN with it).
  forward(theta, full);
  t_ = c_ - th_ * th_.dot(c_);  // P c = grad L(theta_hat)
  const double grad_hat2 = t_.squaredNorm();
  out.set(f_slope_pred_, predicted_slope(tr_sigma_hat, grad_hat2));
  out.set(f_norm4_pred_, predicted_norm4(tr_sigma_hat, grad_hat2));
}

// ------------------------------------------------------------------------------------ registry
namespace {

void declare_noise_fields(Schema& schema) {
  const Group R = Group::results;
  schema.add(real_field(R, "si_tr_sigma_hat", "Tr Sigma(theta_hat)",
                        "trace of the gradient noise at the unit vector theta_hat = |theta|^2 "
                        "Tr Sigma(theta) (the core's grad_noise), at the end"));
  const std::string eta =
      "eta is the step size of the updates of the final record.final_window steps (the last "
      "update when 0; NaN when the schedule changes it inside the window)";
  const std::string noise =
      "p = 1/S online, (n - S)/(S (n - 1)) for iid batches of a finite set, the epoch average of "
      "that over the batches under optimizer.sampling = reshuffle (the last one smaller when S "
      "does not divide n), 0 under optimizer.method = gd or a full batch";
  const std::string slope =
      "2 eta^2 (|grad L(theta_hat)|^2 + p Tr Sigma(theta_hat)) per step at the end: the "
      "noise-driven 2 eta^2 Tr Sigma(theta_hat)/S at a minimum of the direction, GD's "
      "2 eta^2 |grad L(theta_hat)|^2 without noise; ";
  schema.add(real_field(R, "si_norm4_slope_predicted", "predicted slope of |theta|^4",
                        slope + noise + "; " + eta +
                            ". Assumes optimizer.weight_decay = 0 and model.break_strength = 0 "
                            "(NaN otherwise)",
                        "1/steps"));
  const std::string norm4 =
      "eta (|grad L(theta_hat)|^2 + p Tr Sigma(theta_hat)) / (2 gamma) at the end, gamma = "
      "optimizer.weight_decay: eta Tr Sigma(theta_hat)/(2 S gamma) at a minimum of the "
      "direction; ";
  schema.add(real_field(R, "si_norm4_predicted", "predicted |theta*|^4",
                        norm4 + noise + "; " + eta +
                            ". Assumes gamma > 0, gradient noise (p > 0: NaN under gd or a full "
                            "batch) and model.break_strength = 0 (NaN otherwise)"));
}

void declare_scaleinv_fields(const Grid& grid, Schema& schema) {
  const Group R = Group::results;
  // Tr Sigma(theta_hat) and the predictions built on it need the core's grad_noise at the end.
  if (parse_diagnostics(grid.spec().text("record.diagnostics")).end(Diagnostics::grad_noise))
    declare_noise_fields(schema);
  schema.add(real_field(R, "si_norm4_slope", "measured slope of |theta|^4",
                        "(|theta|^4 at the last step - at the first) / (steps - 1) over the last "
                        "record.final_window steps (NaN when 0)",
                        "1/steps"));
  schema.add(real_field(R, "si_norm4_mean", "mean |theta|^4",
                        "|theta|^4 averaged over the last record.final_window steps (NaN when 0)"));
}

}  // namespace

ModelInfo scaleinv_info() {
  ModelInfo info;
  info.name = "scaleinv";
  info.summary =
      "scale-invariant normalised linear predictor f = (theta/|theta|)^T x, l = 1/2 (f - y)^2; "
      "A = I, C = |theta|^2 grows";
  info.params = {
      models_detail::dimension_key("model.dx", "2", "input dimension m = d (dy must be 1)"),
      models_detail::real_key("model.init_norm", "1", Range::above(0),
                              "|theta_0| (the initial C; the direction is random)"),
      models_detail::break_strength_key(),
  };
  info.shape = [](const ParamSet& p) { return ScaleInv::shape_for(p.integer("model.dx")); };
  info.declare_fields = &declare_scaleinv_fields;
  // Doubles held: per-coordinate vectors (th_, c_, t_ and temporaries, ~16 m), any data moments
  // (~4 m^2), the batch scratch r_, z_ (twice).
  info.footprint = [](const ParamSet& p, Index max_batch) {
    const Index m = p.integer("model.dx");
    const double md = static_cast<double>(m);
    ModelFootprint f;
    f.dim = m;
    f.input_dim = m;
    f.output_dim = 1;
    f.bytes = 8.0 * (4 * md * md + 16 * md + 4.0 * static_cast<double>(max_batch));
    return f;
  };
  info.create = [](const ParamSet& p) -> std::unique_ptr<Model> {
    ScaleInv::Options o;
    o.init_norm = p.number("model.init_norm");
    o.break_strength = p.number("model.break_strength");
    const models_detail::PredictionSettings settings = models_detail::prediction_settings(p);
    o.eta = settings.eta;
    o.weight_decay = settings.weight_decay;
    o.noise_factor = settings.noise_factor;
    return std::make_unique<ScaleInv>(p.integer("model.dx"), o);
  };
  return info;
}

}  // namespace symsweep
