// "poly": a d-dimensional polynomial loss of degree at most 4 per sample (README, The science §3),
//     l_s(x) = sum over the monomials m of sample s of  c_m x_{i1} x_{i2} ... x_{ik},  k <= 4,
// so that every SGD batch has its own potential and GD (batch = n) runs on their mean. Its
// derivatives are exact: gradient, Hessian, and the directional third and fourth derivatives
// T[v, v] (a vector) and Q[v, v, v, v] that the nonlinear stability criterion needs.
//
// Every derivative of a monomial is a sum over ordered tuples of distinct factor positions:
//     D^r m [u_1, ..., u_r] = c sum_{(a_1..a_r) distinct} prod_t u_t[i_{a_t}] prod_{b not in a}
//     x_{i_b}
// (at most 4! = 24 tuples).
//
// Presets (model.preset), each parameter sweepable:
//     f_plus   x^2/2 + x^4/4                          d = 1, n = 1 (Mulayoff & Stich, f+)
//     f_minus  x^2/2 - x^4/4                          d = 1, n = 1 (f-)
//     L_beta   x1^2/2 + x2^2/10 + beta x1^2 x2 + x1^4/10   d = 2, n = 1
//     prop6    sample 0: x^2/2 + x^4/4, sample 1: (a/2) x^2     d = 1, n = 2 (their Prop. 6)
//     spread   sample i: h_i x^2/2 + q x^4/4, i = 0 .. n-1     d = 1, n = data.n
//              h_i = h_min (h_max/h_min)^(i/(n-1)), log-uniform over [model.h_min, model.h_max]
//              (n = 1: h_0 = h_min), q = model.q >= 0. Every sample is minimised at x* = 0 (an
//              interpolating minimum, where Mulayoff & Stich's Thm 11 applies); a batch B has
//              curvature mean_{i in B} h_i there, so eta_gd = 2 / mean h_i, the worst batch of S
//              is the S stiffest samples, and with q > 0 an unstable batch diverges
//              super-geometrically, as f_plus does. No random draws.
//     custom   model.monomials: one row per monomial, "sample, coefficient, i1, i2, i3, i4" with
//              -1 for unused factors (e.g. "0, 0.5, 0, 0, -1, -1" is x0^2/2 for sample 0);
//              d = model.d
// The data are the samples themselves: the model's own dataset has one row per sample, whose x
// holds the sample's index (data.n must equal the number of samples, data.mode finite). The
// run starts at model.x0.
#pragma once

#include <array>
#include <vector>

#include "symsweep/model.hpp"

namespace symsweep {

/// Registry entry of the polynomial potentials ("poly").
ModelInfo poly_info();

struct Monomial {
  Index sample = 0;
  double coef = 0;
  std::array<Index, 4> idx{{-1, -1, -1, -1}};
  int degree = 0;  ///< number of factors (0..4)
};

class Poly final : public Model {
 public:
  Poly(Index d, Index samples, std::vector<Monomial> monomials, Vector x0);

  Index dim() const override { return d_; }
  Index input_dim() const override { return 1; }
  Index output_dim() const override { return 1; }
  Index samples() const { return n_; }

  void reserve(Index) override {}
  double loss_grad(const Vector& theta, const Batch& batch, Vector& grad) override;
  double loss(const Vector& theta, const Batch& batch) override;
  void hessian_vector(const Vector& theta, const Batch& batch, const Vector& v,
                      Vector& out) override;
  void hessian(const Vector& theta, const Batch& batch, Matrix& h) override;
  bool directional_derivatives(const Vector& theta, const Batch& batch, const Vector& v,
                               Vector& t_vv, double& q_vvvv) override;
  bool exact_derivatives() const override { return true; }
  bool own_data(RowMatrix& x, RowMatrix& y) const override;
  bool quadratic_in_data() const override { return false; }
  void initialize(NormalSource& normal, Vector& theta) const override;

 private:
  /// The monomials of the sample in batch row s.
  const std::vector<Monomial>& of_row(const Batch& batch, Index s) const;
  Index d_, n_;
  std::vector<std::vector<Monomial>> by_sample_;
  Vector x0_;
};

}  // namespace symsweep
