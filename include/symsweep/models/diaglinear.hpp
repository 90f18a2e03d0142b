// "diaglinear": the diagonal linear network f(x) = sum_j u_j v_j x_j, l = 1/2 (f - y)^2, u, v in
// R^m (m = model.dx, dy = 1). theta = (u, v).
//
// Batch quantities (S samples, r_s = f(x_s) - y_s, c = X^T r / S):
//     dL/du = c o v,   dL/dv = c o u
//     H (du, dv) = ( X^T(X (du o v + u o dv)) / S o v + c o dv,  ... o u + c o du )
//     Tr H = sum_j q_j (u_j^2 + v_j^2),  q_j = mean_s x_sj^2
// Symmetry (README, The science §2, table): per coordinate, u_j -> e^l u_j, v_j -> e^-l v_j;
// generator A_j = diag(e_j, -e_j), C_j = u_j^2 - v_j^2 (conserved(): the m values, descending); one
// SGD step moves C_j by exactly eta^2 ((g_u)_j^2 - (g_v)_j^2). Layers: 0 = u, 1 = v. Noise
// equilibrium: Var[dl/du_j] = Var[dl/dv_j], i.e. (where the noise loads coordinate j) u_j^2 =
// v_j^2, with u_j v_j = beta_j, beta = Sigma_x^{-1} E[x y] the least-squares weights: the model
// stores the time-averaged balance u_j^2 - v_j^2 and product u_j v_j beside beta. beta is the
// minimum of the full objective itself (any w = u o v is reachable), so the prediction u_j v_j =
// beta_j holds for every optimizer that ends at (or, under SGD, fluctuates around) a minimum: gd or
// sgd, online or finite data (beta from the dataset's moments), any sampling, batch and schedule.
// It assumes the objective is the plain squared loss: no weight decay (optimizer.weight_decay or
// model.layer_decay shrink the minimum) and no break_strength; NaN otherwise. The noise only
// decides the balance (zero under SGD, kept under GD).
//
// Symmetry parameters (model.<x>, sweepable, inert at their defaults): init_imbalance rho (u ~
// init_scale rho N(0, 1), v ~ init_scale / rho N(0, 1)), layer_decay on decay_layer (u or v), and
// break_strength (adds beta sum_i theta_i / sqrt(d) to the loss).
#pragma once

#include "symsweep/model.hpp"

namespace symsweep {

/// Registry entry of the diagonal linear network ("diaglinear").
ModelInfo diaglinear_info();

class DiagLinear final : public Model {
 public:
  struct Options {
    double init_scale = 1, init_imbalance = 1;
    double layer_decay = 0;
    int decay_layer = 1;  ///< 0: u, 1: v
    double break_strength = 0;
    double weight_decay = 0;  ///< optimizer.weight_decay (the prediction is NaN when nonzero)
  };
  DiagLinear(Index m, const Options& options);

  Index dim() const override { return 2 * m_; }
  Index input_dim() const override { return m_; }
  Index output_dim() const override { return 1; }
  SYMSWEEP_MODEL_OVERRIDES();
  double hessian_trace(const Vector& theta, const Batch& batch) override;
  bool quadratic_in_data() const override { return true; }
  /// The shape of an m-coordinate net: conserved m (u_j^2 - v_j^2), layers u and v, m symmetry
  /// blocks of size 1 (the rescaling of each coordinate pair).
  static ModelShape shape_for(Index m) {
    return ModelShape{m, {m, m}, std::vector<Index>(static_cast<std::size_t>(m), 1)};
  }

  /// v_k^2 - v_{m+k}^2: O(1), not O(d).
  double generator_quadratic(Index k, const Vector& v, Vector& scratch) const override;
  /// Block k (1 x 1): f += v_k^2 - v_{m+k}^2.
  void accumulate_flow_matrix(Index b, const Vector& v, Matrix& f, Vector& scratch) const override;

  void prepare_diagnostics(const Batch& full) override;

 private:
  /// Fills r_ and c_; returns the mean data loss.
  double forward(const Vector& theta, const Batch& batch);
  double penalty(const Vector& theta) const;
  Index m_;
  Options o_;
  Vector r_, c_, z_, t_, w_;  // residuals, X^T r / S, X w (S), X^T X w / S, w (m)
  Vector beta_, balance_sum_, product_sum_;
  std::int64_t window_count_ = 0;
  FieldId f_balance_ = -1, f_product_ = -1, f_beta_ = -1;
};

}  // namespace symsweep
