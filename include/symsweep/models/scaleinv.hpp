// "scaleinv": a scale-invariant model, the normalised linear predictor f(x) = theta_hat^T x,
// theta_hat = theta / |theta|, l = 1/2 (f - y)^2, theta in R^m (m = model.dx, dy = 1).
//
// With rho = |theta|, P = I - theta_hat theta_hat^T, F(w) = (1/2S)|X w - y|^2 and
// c = grad F(theta_hat) = X^T (X theta_hat - y) / S:
//     grad L = P c / rho
//     H d = ( P Sxx P d - (theta_hat^T c) P d - P c (theta_hat^T d) - theta_hat (P c)^T d ) / rho^2
//     Tr H = ( tr Sxx - theta_hat^T Sxx theta_hat - (m - 1) theta_hat^T c ) / rho^2
// Symmetry: A = I (l(e^l theta) = l(theta)); C = |theta|^2, and one SGD step moves it by exactly
// eta^2 |g|^2 (g is orthogonal to theta). There is no noise equilibrium: |theta|^4 grows linearly
// with slope 2 eta^2 Tr Sigma(theta_hat) / S per step, and with weight decay gamma it settles at
// |theta*|^4 = eta Tr Sigma(theta_hat) / (2 S gamma) (README, The science §2, table). Sigma(theta)
// = Sigma(theta_hat) / rho^2, so Tr Sigma(theta_hat) = |theta|^2 Tr Sigma(theta), taken from the
// core's grad_noise at the end.
//
// The predictions follow the optimizer (src/models/prediction_settings.hpp). From the exact step
// rho'^2 = (1 - eta gamma)^2 rho^2 + eta^2 |g|^2, with E|g(theta_hat)|^2 = |grad L(theta_hat)|^2 +
// p Tr Sigma(theta_hat) (p = 1/S online, (n - S) / (S (n - 1)) for iid batches of a finite set,
// the epoch average under reshuffling, 0 under gd or a full batch):
//     gamma = 0:  slope of rho^4 = 2 eta^2 (|grad L(theta_hat)|^2 + p Tr Sigma(theta_hat))
//     gamma > 0:  rho*^4 = eta (|grad L(theta_hat)|^2 + p Tr Sigma(theta_hat)) / (2 gamma)
// to leading order in eta. At a minimum of the direction the gradient term is zero and these are
// the table's formulas; without noise the slope is GD's (README, The science §2, the discrete-time
// caveat: GD moves C by eta^2 |grad L|^2 per step, zero at a stationary point). Without noise
// there is no |theta*|^4 prediction: the decay then balances only the deterministic gradient,
// which GD keeps alive by its own oscillation, so one final point says nothing of its time
// average and the theory (README, The science §2) gives no closed form (NaN). eta is the step size
// of the final window's updates (NaN where the schedule changes it there); the slope assumes gamma
// = 0 (NaN otherwise: the norm settles), |theta*|^4 assumes gamma > 0; both assume the symmetry
// (break_strength = 0).
//
// Keys: model.init_norm (|theta_0|, the imbalance of A = I; the direction is a random normal),
// model.break_strength (adds beta sum_i theta_i / sqrt(d), breaking the scale invariance).
#pragma once

#include "symsweep/model.hpp"

namespace symsweep {

/// Registry entry of the scale-invariant model ("scaleinv").
ModelInfo scaleinv_info();

class ScaleInv final : public Model {
 public:
  struct Options {
    double init_norm = 1;
    double break_strength = 0;
    // For the predictions, from the point's optimizer and data keys (see above).
    double eta = 0;           ///< over the final window; NaN when the schedule changes it there
    double weight_decay = 0;  ///< gamma
    double noise_factor = 0;  ///< p (0 without gradient noise: gd, or a full batch)
  };
  ScaleInv(Index m, const Options& options);

  Index dim() const override { return m_; }
  Index input_dim() const override { return m_; }
  Index output_dim() const override { return 1; }
  /// Of these, record_final's si_* noise predictions read the core's Tr Sigma of the one layer
  /// (measured.layer_noise; NaN where it was not measured).
  SYMSWEEP_MODEL_OVERRIDES();
  double hessian_trace(const Vector& theta, const Batch& batch) override;
  bool quadratic_in_data() const override { return true; }
  /// The shape of an m-vector theta: conserved 1 (|theta|^2), one layer, one symmetry block of
  /// size 1 (A = I).
  static ModelShape shape_for(Index m) { return ModelShape{1, {m}, {1}}; }

  /// |v|^2 (A = I), without the scratch copy.
  double generator_quadratic(Index k, const Vector& v, Vector& scratch) const override;

  /// The predicted slope of |theta|^4 per step (NaN under weight decay), and |theta*|^4 under
  /// weight decay (NaN without, or without noise), given Tr Sigma(theta_hat) and
  /// |grad L(theta_hat)|^2 of the full objective; NaN where the symmetry is broken or eta is.
  double predicted_slope(double tr_sigma_hat, double grad_hat2) const;
  double predicted_norm4(double tr_sigma_hat, double grad_hat2) const;

 private:
  /// Fills th_ (theta_hat), r_ and c_; returns the mean data loss.
  double forward(const Vector& theta, const Batch& batch);
  double penalty(const Vector& theta) const;
  /// si_tr_sigma_hat and the predictions built on it, from the core's grad_noise at the end.
  void record_noise_predictions(const Vector& theta, const Batch& full, double tr_sigma,
                                Record& out);
  Index m_;
  Options o_;
  Vector th_, c_, t_, r_, z_;
  double first_norm4_ = 0, last_norm4_ = 0, norm4_sum_ = 0;
  std::int64_t window_count_ = 0;
  FieldId f_slope_pred_ = -1, f_norm4_pred_ = -1, f_slope_ = -1, f_norm4_ = -1,
          f_tr_sigma_hat_ = -1;
};

}  // namespace symsweep
