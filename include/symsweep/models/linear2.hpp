// Two-layer linear network f(x) = U W x, U: dy x h, W: h x dx, per-sample loss
// l = 1/2 |U W x - y|^2 (dx = h = dy = 1 is the scalar u*w model).
//
// Batch quantities (S samples as rows of X, Y; r_s = U W x_s - y_s):
//     G = (1/S) sum_s r_s x_s^T                          (dy x dx)
//     L = (1/2S) sum_s |r_s|^2,  dL/dU = G W^T,  dL/dW = U^T G
//     Hessian-vector product along (dU, dW), with P = dU W + U dW and Sxx = X^T X / S:
//         H(dU, dW) = ( (P Sxx) W^T + G dW^T ,  dU^T G + U^T (P Sxx) )
// Symmetry (Ziyin et al. 2024, the paper's Sec. 4): U -> U e^{lM}, W -> e^{-lM} W for every
// symmetric M leaves every l_i unchanged; gradient flow conserves D = U^T U - W W^T, and one SGD
// step moves it by exactly
//     D' = D + eta^2 (W G^T G W^T - U^T G G^T U)         (SCIENCE.md Sec. 2).
// conserved() reports D's eigenvalues in descending order.
//
// theta = (vec U, vec W), both column-major.
#pragma once

#include <Eigen/Eigenvalues>

#include "symsweep/model.hpp"

namespace symsweep {

/// Registry entry of the two-layer linear network ("linear2").
ModelInfo linear2_info();

class Linear2 final : public Model {
 public:
  Linear2(Index dx, Index h, Index dy, double init_u_scale, double init_w_scale);

  Index dim() const override { return dy_ * h_ + h_ * dx_; }
  Index input_dim() const override { return dx_; }
  Index output_dim() const override { return dy_; }

  void reserve(Index max_batch) override;
  double loss_grad(const Vector& theta, const Batch& batch, Vector& grad) override;
  double loss(const Vector& theta, const Batch& batch) override;
  void hessian_vector(const Vector& theta, const Batch& batch, const Vector& v,
                      Vector& out) override;
  void hessian(const Vector& theta, const Batch& batch, Matrix& h) override;
  bool quadratic_in_data() const override { return true; }

  Index conserved_size() const override { return h_; }
  void conserved(const Vector& theta, Vector& out) const override;
  /// D = U^T U - W W^T (h x h).
  Matrix conserved_matrix(const Vector& theta) const;

  void initialize(NormalSource& normal, Vector& theta) const override;

  using ConstMap = Eigen::Map<const Matrix>;
  ConstMap u(const Vector& theta) const { return ConstMap(theta.data(), dy_, h_); }
  ConstMap w(const Vector& theta) const { return ConstMap(theta.data() + dy_ * h_, h_, dx_); }

 private:
  /// Fills r_ (S x dy residuals) and g_ (G) for the batch; returns the mean loss.
  double forward(const Vector& theta, const Batch& batch);

  Index dx_, h_, dy_;
  double init_u_scale_, init_w_scale_;
  // Scratch, sized by reserve(); row s belongs to sample s.
  RowMatrix z_;  // S x h: X W^T
  RowMatrix r_;  // S x dy: residuals
  Matrix g_;     // dy x dx
  // conserved() runs inside the SGD loop (trace records): its scratch is preallocated too.
  mutable Matrix d_;                                       // h x h
  mutable Eigen::SelfAdjointEigenSolver<Matrix> d_eigen_;  // sized for h
};

}  // namespace symsweep
