// Deep linear network f(x) = W_L ... W_1 x, depth L >= 2, per-sample loss l = 1/2 |f - y|^2.
// Widths n_0 = dx, n_1 .. n_{L-1} (the hidden layers), n_L = dy; W_l is n_l x n_{l-1}.
//
// Notation: F_l = W_l ... W_1 (the map to hidden layer l, F_0 = I) and B_l = W_L ... W_{l+1} (from
// layer l to the output, B_L = I). Batch quantities (S samples as rows of X, Y):
//     Z_0 = X, Z_l = Z_{l-1} W_l^T (S x n_l), R = Z_L - Y, L = |R|^2 / 2S
//     backpropagation: Delta_L = R / S, dL/dW_l = Delta_l^T Z_{l-1}, Delta_{l-1} = Delta_l W_l
//     Hessian-vector product along (dW_1, ..., dW_L), forward over reverse: the tangents
//         dZ_0 = 0, dZ_l = dZ_{l-1} W_l^T + Z_{l-1} dW_l^T, dDelta_L = dZ_L / S,
//         dDelta_{l-1} = dDelta_l W_l + Delta_l dW_l,
//         (H v)_l = dDelta_l^T Z_{l-1} + Delta_l^T dZ_{l-1}
//     Tr H = sum_l |B_l|_F^2 Tr(F_{l-1} Sxx F_{l-1}^T), Sxx = X^T X / S: the Gauss-Newton part.
//     f is linear in each W_l alone, so the residual part (sum_i r_i d^2 f_i) has zero diagonal
//     blocks and adds nothing to the trace (it lives in the blocks between two layers).
//
// Symmetry, one block per hidden layer l = 1 .. L-1 (size n_l): W_{l+1} -> W_{l+1} e^{lM},
// W_l -> e^{-lM} W_l for every symmetric n_l x n_l matrix M leaves every l_i unchanged. The
// generator A_M theta is -M W_l at layer l, W_{l+1} M at layer l + 1 and zero elsewhere;
// theta^T A_M theta = Tr[M D_l] with
//     D_l = W_{l+1}^T W_{l+1} - W_l W_l^T,
// conserved by gradient flow, and one SGD step moves it by exactly eta^2 (dW_{l+1}^T dW_{l+1} -
// dW_l dW_l^T) over the step's gradient. Generators per block: E_ii (i = 0..n_l-1), then
// E_ij + E_ji for i < j, row by row; blocks in the order of l. conserved() reports each D_l's
// eigenvalues in descending order, block after block (sum_l n_l values). The flow matrix of block l
// over v = (dW_1, ..., dW_L) is dW_{l+1}^T dW_{l+1} - dW_l dW_l^T.
//
// Noise equilibrium of each pair (README, The science §2). At a minimum with online data, y = V x
// + eps with eps independent of x, the residual is r = -eps (this needs F_L = V reachable: every
// hidden width >= rank V), and the per-sample gradients are
//     dW_{l+1} = B_{l+1}^T r (F_l x)^T,   dW_l = B_l^T r (F_{l-1} x)^T.
// E[dW_{l+1}^T dW_{l+1}] = Tr(B_{l+1}^T Se B_{l+1}) F_l Sx F_l^T and E[dW_l dW_l^T] =
// Tr(F_{l-1} Sx F_{l-1}^T) B_l^T Se B_l, so Tr[A_M Sigma] = 0 for every M of block l is
//     F_l Sx F_l^T / Tr(F_{l-1} Sx F_{l-1}^T) = B_l^T Se B_l / Tr(B_{l+1}^T Se B_{l+1})   (n_l x
//     n_l)
// (Sx = E x x^T, Se = the label-noise covariance). At L = 2 this is linear2's W Sx W^T / Tr Sx =
// U^T Se U / Tr Se. The model stores, per pair l, the Frobenius norm of the difference of the two
// sides (zero at the equilibrium), averaged over the run's final window like linear2's eq_gap; its
// prediction, zero, assumes what the derivation does (NaN outside: Options::equilibrium_settings):
// gradient noise (optimizer.method = sgd: under gd every D_l keeps its start), online data (the
// fourth moments of a finite set do not factor), no weight decay (it adds -2 gamma D_l to the
// flow), label noise (Tr Se > 0) and every hidden width >= rank V. The equilibrium's location does
// not depend on eta or S; the gap measured at finite eta is O(eta) above zero.
//
// theta = (vec W_1, ..., vec W_L), each column-major; layers: one per W_l, in that order.
#pragma once

#include <optional>
#include <vector>

#include "symsweep/eigen_solvers.hpp"
#include "symsweep/model.hpp"

namespace symsweep {

/// Registry entry of the deep linear network ("deeplinear").
ModelInfo deeplinear_info();

class DeepLinear final : public Model {
 public:
  struct Options {
    /// The settings of the equilibrium prediction hold (online SGD without weight decay: see
    /// above); false makes dl_gap_predicted NaN. The registry sets it from the keys.
    bool equilibrium_settings = true;
  };

  /// widths = (dx, n_1, ..., n_{L-1}, dy), at least three entries; init_scales has one entry per
  /// layer: W_l's entries ~ N(0, init_scales[l-1]^2 / n_{l-1}).
  DeepLinear(std::vector<Index> widths, std::vector<double> init_scales, const Options& options);

  /// The shape of the network with these widths (dx, hidden..., dy): conserved sum of the hidden
  /// widths, one layer per W_l (n_l n_{l-1}), one symmetry block per hidden layer (n_l).
  static ModelShape shape_for(const std::vector<Index>& widths);
  /// The widths (dx, n_1, ..., n_{L-1}, dy) of a point's keys: model.widths when given, else
  /// model.h at every hidden layer. Throws ConfigError naming the key, the value and the rule
  /// when model.widths has the wrong length or a value that is not a whole number.
  static std::vector<Index> widths_of(const ParamSet& p);
  /// The problem with model.widths at a point, or nothing (the registry's cross rule).
  static std::optional<std::string> widths_problem(const ParamSet& p);

  Index depth() const { return static_cast<Index>(n_.size()) - 1; }
  const std::vector<Index>& widths() const { return n_; }
  Index dim() const override { return d_; }
  Index input_dim() const override { return n_.front(); }
  Index output_dim() const override { return n_.back(); }

  SYMSWEEP_MODEL_OVERRIDES();
  double hessian_trace(const Vector& theta, const Batch& batch) override;
  bool quadratic_in_data() const override { return true; }

  /// D_l = W_{l+1}^T W_{l+1} - W_l W_l^T (n_l x n_l), l = 1 .. L-1.
  Matrix conserved_matrix(const Vector& theta, Index l) const;

  /// v^T A_k v from the two layers the generator touches: O(n_{l-1} + n_{l+1}).
  double generator_quadratic(Index k, const Vector& v, Vector& scratch) const override;
  /// dW_{l+1}^T dW_{l+1} - dW_l dW_l^T for block b = l - 1.
  void accumulate_flow_matrix(Index b, const Vector& v, Matrix& f, Vector& scratch) const override;
  /// Per sample: a forward pass of vectors, then dL/dW_l = delta_l z_{l-1}^T with delta_L = r,
  /// delta_{l-1} = W_l^T delta_l (O(d) a sample). Allocation-free.
  void sample_gradients(const Vector& theta, const Batch& batch, RowMatrix& out,
                        Vector& scratch) override;

  void prepare_diagnostics(const Batch& full) override;
  void record_traces(const Vector& theta, Record& out, std::size_t slot) override;
  /// The balance gap of every pair (L - 1 values, see above) at theta. Needs
  /// prepare_diagnostics. Allocation-free.
  void balance_gaps(const Vector& theta, Vector& gaps);

  using ConstMap = Eigen::Map<const Matrix>;
  /// W_l (l = 1 .. L) inside theta (or any vector of length dim()).
  ConstMap layer_matrix(const Vector& theta, Index l) const {
    return ConstMap(theta.data() + offset_[static_cast<std::size_t>(l - 1)], width(l),
                    width(l - 1));
  }

 private:
  Index width(Index l) const { return n_[static_cast<std::size_t>(l)]; }
  /// The batch size, after checking the shapes and reserve()-ing.
  Index checked_batch(const Vector& theta, const Batch& batch);
  /// Z_1 .. Z_{L-1} into z_, the residuals into z_[L]; returns the mean loss.
  double forward(const Vector& theta, const Batch& batch);
  /// Z_{l} for l >= 0 (Z_0 = the batch's inputs), first s rows.
  Eigen::Ref<const RowMatrix> input(const Batch& batch, Index l, Index s) const;
  /// Generator k's block (hidden layer l, 1-based) and pair (i, j) of M = E_ij + E_ji.
  void generator_site(Index k, Index& l, Index& i, Index& j) const;

  std::vector<Index> n_;       // widths n_0 .. n_L
  std::vector<Index> offset_;  // offset of W_l in theta at [l - 1]
  Index d_ = 0;
  std::vector<double> init_scales_;
  Options options_;
  // Batch scratch per level l = 0 .. L (index 0 unused where the batch is read directly).
  std::vector<RowMatrix> z_, delta_, dz_, ddelta_;
  // Per-sample scratch.
  std::vector<Vector> zs_, ds_;
  // Tr H scratch: B_l (n_L x n_l).
  std::vector<Matrix> b_;
  // conserved(): D_l and its solver per hidden layer (runs in the SGD loop: preallocated).
  mutable std::vector<Matrix> dmat_;
  mutable std::vector<Eigen::SelfAdjointEigenSolver<Matrix>> deig_;
  // Equilibrium diagnostics.
  Matrix sigma_x_, v_, sigma_eps_;
  Index v_rank_ = 0;
  bool equilibrium_exists_ = false;  // prepare_diagnostics: Sigma_x PD, rank(Se^{1/2} V) = rank V
  std::vector<Matrix> kx_, ke_, tx_, te_;  // F_l Sx F_l^T, B_l^T Se B_l and their temporaries
  Vector gaps_, gap_sum_, norms_, norm_sum_;
  std::int64_t window_count_ = 0;
  FieldId f_gap_ = -1, f_pred_ = -1, f_norm_ = -1, f_trace_gap_ = -1;
  std::size_t trace_pairs_ = 0;  // length of the traces' pair dimension
};

}  // namespace symsweep
