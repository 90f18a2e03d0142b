// Two-layer nonlinear network f(x) = U sigma(W x + b) + c, sigma = relu or tanh, per-sample loss
// l = 1/2 |f - y|^2. W is h x dx, U is dy x h; the biases b (h) and c (dy) exist only with
// model.bias = true.
//
// Batch quantities (S samples as rows of X, Y):
//     Z = X W^T + 1 b^T, A = sigma(Z) (S x h), R = A U^T + 1 c^T - Y (S x dy), L = |R|^2 / 2S
//     backpropagation: Do = R / S, dL/dU = Do^T A, dL/dc = colsum Do, Da = Do U,
//     Dz = Da .* sigma'(Z), dL/dW = Dz^T X, dL/db = colsum Dz
//     Hessian-vector product along (dW, db, dU, dc), forward over reverse: the tangents
//         dZ = X dW^T + 1 db^T, dA = sigma'(Z) .* dZ, dDo = (dA U^T + A dU^T + 1 dc^T) / S,
//         (H v)_U = dDo^T A + Do^T dA, (H v)_c = colsum dDo, dDa = dDo U + Do dU,
//         dDz = dDa .* sigma'(Z) + Da .* sigma''(Z) .* dZ, (H v)_W = dDz^T X, (H v)_b = colsum dDz.
// relu: sigma' = 1[z > 0] (0 at z = 0), sigma'' = 0: the derivatives of the loss on the open
// region where no pre-activation of the batch is 0; at a kink they are those of the active side
// and mean nothing beyond it. tanh: sigma' = 1 - t^2, sigma'' = -2 t (1 - t^2).
//
// Symmetry (relu only): relu(e^l z) = e^l relu(z), so w_j -> e^l w_j, b_j -> e^l b_j, u_j ->
// e^{-l} u_j (w_j = row j of W, u_j = column j of U) leaves every l_i unchanged, for each hidden
// neuron j separately: one symmetry block of size 1 per neuron, generator A_j = diag(+1 on w_j and
// b_j, -1 on u_j), conserved C_j = |w_j|^2 + b_j^2 - |u_j|^2. Since z relu'(z) = relu(z) for
// every z (at 0 too), g^T A_j theta = 0 for every per-sample gradient, kinks or not, and one SGD
// step moves C_j by exactly eta^2 g^T A_j g. conserved() reports the C_j in descending order. tanh
// has no exact continuous symmetry (only the discrete sign flips): no block, no conserved value.
//
// Representation alignment: cos(W Sx W^T, U^T U) = <P, Q>_F / (|P|_F |Q|_F) with P = W Sx W^T,
// Q = U^T U (h x h, biases left out) and Sx = X^T X / n the second moment of the full objective's
// inputs (the dataset); NaN when P or Q is zero. Both are positive semidefinite, so it lies in
// [0, 1].
//
// The loss is not quadratic in the data: the model runs on finite data only (the registry refuses
// data.mode = online).
//
// theta = (vec W, b, vec U, c), W and U column-major, b and c only with bias; layers: (W, b) then
// (U, c).
#pragma once

#include <cstdint>
#include <string>

#include "symsweep/model.hpp"

namespace symsweep {

/// Registry entry of the two-layer nonlinear network ("mlp2").
ModelInfo mlp2_info();

class Mlp2 final : public Model {
 public:
  enum class Activation { relu, tanh };
  struct Options {
    Activation activation = Activation::relu;
    bool bias = true;
    double init_w_scale = 1;  ///< W entries (and b) ~ N(0, init_w_scale^2 / dx)
    double init_u_scale = 1;  ///< U entries ~ N(0, init_u_scale^2 / h); c starts at 0
  };

  Mlp2(Index dx, Index h, Index dy, const Options& options);

  /// conserved h and one size-1 block per neuron for relu, none for tanh; layers (W, b), (U, c).
  static ModelShape shape_for(Index dx, Index h, Index dy, Activation activation, bool bias);
  /// <P, Q>_F / (|P|_F |Q|_F); NaN when either is zero.
  static double cosine(const Matrix& p, const Matrix& q);

  Index dim() const override { return d_; }
  Index input_dim() const override { return dx_; }
  Index output_dim() const override { return dy_; }
  Index hidden() const { return h_; }
  bool bias() const { return options_.bias; }

  SYMSWEEP_MODEL_OVERRIDES();

  /// |w_k|^2 + b_k^2 - |u_k|^2 of v: O(dx + dy).
  double generator_quadratic(Index k, const Vector& v, Vector& scratch) const override;
  void accumulate_flow_matrix(Index b, const Vector& v, Matrix& f, Vector& scratch) const override;

  void prepare_diagnostics(const Batch& full) override;
  void record_traces(const Vector& theta, Record& out, std::size_t slot) override;
  /// cos(W Sx W^T, U^T U) at theta. Needs prepare_diagnostics. Allocation-free.
  double alignment(const Vector& theta);

  /// tanh: true. ReLU: false when a pre-activation z_sj = w_j . x_s + b_j of `batch` is within
  /// reach of 0: |z_sj| <= radius (|x_s|_1 + 1), the most a change of theta by `radius` in the
  /// max norm moves it (stability_note not_smooth). Allocation-free.
  bool smooth_near(const Vector& theta, const Batch& batch, double radius) override;
  using ConstMap = Eigen::Map<const Matrix>;
  ConstMap w_matrix(const Vector& theta) const { return ConstMap(theta.data(), h_, dx_); }
  ConstMap u_matrix(const Vector& theta) const { return ConstMap(theta.data() + off_u_, dy_, h_); }
  /// Offsets of b and c in theta (-1 without bias).
  Index b_offset() const { return options_.bias ? off_b_ : -1; }
  Index c_offset() const { return options_.bias ? off_c_ : -1; }

 private:
  Index checked_batch(const Vector& theta, const Batch& batch);
  /// Z, A = sigma(Z), sigma'(Z) (and sigma''(Z) for tanh), the residuals R; returns the loss.
  double forward(const Vector& theta, const Batch& batch);
  /// Generator k's block: one neuron, k < h (relu only).
  void check_generator(Index k, const Vector& v) const;

  Index dx_, h_, dy_;
  Options options_;
  Index d_ = 0, off_b_ = 0, off_u_ = 0, off_c_ = 0;
  RowMatrix z_, a_, s1_, s2_, r_, da_, dz_, tz_, ta_, tr_, tda_, tdz_;
  // Diagnostics.
  Matrix sigma_x_, ws_, p_, q_;
  double align_sum_ = 0;
  std::int64_t window_count_ = 0;
  FieldId f_align_ = -1, f_trace_align_ = -1;
};

}  // namespace symsweep
