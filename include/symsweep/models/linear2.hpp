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
//     D' = D + eta^2 (W G^T G W^T - U^T G G^T U)         (README, The science §2).
// conserved() reports D's eigenvalues in descending order. The generators (Model::apply_generator)
// are A_M theta = (U M, -M W) for the basis M of symmetric h x h matrices: E_ii (k = 0..h-1, C_k =
// D_ii), then E_ij + E_ji for i < j (row by row, C_k = 2 D_ij). Layers: 0 = U, 1 = W.
//
// Symmetry parameters (keys model.<x>, each sweepable; at their defaults nothing changes):
//   init_u_scale / init_w_scale   the initial imbalance (D_0 ~ init_u_scale^2 dy/h - ... );
//   layer_decay, decay_layer      an L2 penalty layer_decay/2 |layer|^2 on U or W alone: weight
//                                 decay on one layer (optimizer.weight_decay decays both);
//   break_strength                the explicit symmetry-breaking term beta sum_i theta_i / sqrt(d).
// Penalties are added to every sample's loss (they do not move Sigma).
//
// Noise equilibrium (README, The science §2, online data at a minimum): with the data moments of
// the full objective (Sigma_x = E x x^T, V = E[y x^T] Sigma_x^{-1}, Sigma_eps = E y y^T - V Sigma_x
// V^T; exact population moments online),
//     W Sigma_x W^T / Tr Sigma_x = U^T Sigma_eps U / Tr Sigma_eps,
// and (h = rank V) the nonzero eigenvalues of either side are
//     sigma_i(Sigma_eps^{1/2} V Sigma_x^{1/2}) / sqrt(Tr Sigma_x Tr Sigma_eps).
// The model stores both measured spectra (descending), the Frobenius norm of their matrices'
// difference (zero at the equilibrium; invariant under the O(h) rotation the equilibrium leaves
// free), averaged over the run's final window (record.final_window), and the predicted spectrum.
// The prediction assumes what its derivation does (NaN outside, Options::equilibrium_settings):
// gradient noise (optimizer.method = sgd: under gd D keeps its start); online data (at the
// minimum the residual is the label noise, independent of x, so the per-sample gradient
// covariance factors into Sigma_eps (x) Sigma_x; the fourth moments of a finite set do not
// factor); no weight decay (it adds -2 gamma D to the flow of D and moves the minimum); the
// symmetry intact (model.layer_decay = model.break_strength = 0). Any batch size, schedule and
// step size: the equilibrium's location does not depend on eta or S (README, The science §2), only
// the rate of approach (eta^2 / S per step) does.
//
// Sharpness at the two ends (the symmetry paper's Fig. 3). Everywhere, not only at a minimum,
//     Tr H = dy Tr(W Sxx W^T) + |U|_F^2 Tr Sxx                (Sxx = X^T X / S of the batch)
// (the diagonal blocks of H; G enters only the off-diagonal ones). With a = Sigma_x^{1/2},
// b = Sigma_eps^{1/2}, M = b V a = P S Q^T (thin SVD, r = rank M) and k^4 = Tr Sigma_x / Tr
// Sigma_eps, the noise equilibrium on the minimum manifold (U W = V) is, up to a rotation R in
// O(h) that moves neither Tr H nor the layer norms,
//     W a = k R S^{1/2} Q^T,   b U = k^{-1} P S^{1/2} R^T,   U = k^{-1} V a Q S^{-1/2} R^T:
// W a and U~ = b U satisfy (W a)(W a)^T / Tr Sigma_x = U~^T U~ / Tr Sigma_eps and U~ (W a) = M,
// i.e. (k U~, (W a) / k) is the balanced factorisation of M. Hence
//     Tr(W Sigma_x W^T) = k^2 Tr S,   |U|_F^2 = k^{-2} Tr(S^{-1/2} Q^T a V^T V a Q S^{-1/2}).
// It exists when Sigma_x is positive definite (W is W a a^{-1}; directions x never takes keep
// their start), Tr Sigma_eps > 0, and either r = h or Sigma_eps is positive definite (then the
// equilibrium puts no weight of U on the h - r directions W a leaves empty). With isotropic
// label noise it is the least-Tr H point of the orbit; with anisotropic data or noise it is not,
// which is how SGD ends sharper or flatter than GD (noise_equilibrium_point).
// Gradient flow conserves D = U^T U - W W^T; from a balanced start (D = 0) it ends at the
// balanced minimum U = P_V S_V^{1/2} R^T, W = R S_V^{1/2} Q_V^T (V = P_V S_V Q_V^T, rank V <= h;
// zero columns of U and rows of W past rank V), unique up to R (balanced_minimum_point). For
// h >= 2 a start with D_0 != 0 does not determine the end by D_0 alone (the minima with a given D
// form a family of dimension h(h - 1)/2 along which Tr H varies); the prediction assumes D_0 = 0
// and is off by O(|D_0|_F) from a near-balanced start: the model stores |D_0|_F (d0_norm) so
// that the assumption can be checked. GD at step eta moves D by eta^2 grad L^T A grad L per step
// as well (zero at a stationary point).
//
// Warm-up diagnostic: after every update of the final window (accumulate_window, so at no cost
// beyond eq_gap's own there), the first step t at which eq_gap(theta_t) <= kGapFraction
// eq_gap(theta_0) (eq_gap_steps; a window of optimizer.steps watches the whole run). It is not
// taken on the trace schedule: a point's /results never depend on record.every. For dx = dy = 1
// (any h) the gap is |D|_F and one step moves D by exactly D <- (1 - eta_k^2 G_k^2) D, with
// E G_k^2 = sigma_x^2 sigma_eps^2 / S at the minimum: the noise alone brings the gap to that
// fraction once sum_k eta_k^2 sigma_x^2 sigma_eps^2 / S reaches ln(1 / kGapFraction) (the
// drift's part of G_k^2 only adds to it).
//
// theta = (vec U, vec W), both column-major.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "symsweep/eigen_solvers.hpp"
#include "symsweep/model.hpp"

namespace symsweep {

/// Registry entry of the two-layer linear network ("linear2").
ModelInfo linear2_info();

class Linear2 final : public Model {
 public:
  /// The symmetry parameters (see above); defaults leave the model symmetric.
  struct Options {
    double layer_decay = 0;  ///< L2 penalty strength on one layer
    int decay_layer = 1;     ///< 0: U, 1: W
    double break_strength = 0;
    /// The optimizer settings of the equilibrium prediction hold (online SGD without weight
    /// decay: see above); false makes eq_predicted NaN. The registry sets it from the keys.
    bool equilibrium_settings = true;
    /// No gradient noise and no weight decay (optimizer.method = gd, or a full batch of a finite
    /// set, with optimizer.weight_decay = 0): gradient flow's conserved D holds up to O(eta^2),
    /// and hessian_trace_gf_predicted applies. The registry sets it from the keys.
    bool flow_settings = false;
    /// The step t of theta_t at the final window's first accumulate_window call:
    /// max(optimizer.steps - record.final_window, 0) + 1 (eq_gap_steps counts from it).
    std::int64_t window_first_step = 1;
    /// loss and loss_grad through forward_small/gradient_small where small_products() holds;
    /// false: Eigen's products of the G form there (the tests compare the two).
    bool small_kernels = true;
    /// loss and loss_grad through forward_medium/gradient_medium where medium_products() holds;
    /// false: Eigen's products there (the tests compare the two).
    bool medium_kernels = true;
  };
  /// eq_gap_steps: the fraction of eq_gap at step 0 that the gap must reach.
  static constexpr double kGapFraction = 0.1;
  /// The widest dimension (dx, h, dy) and the largest batch of medium_products().
  static constexpr Index kMediumWidth = 32, kMediumBatch = 64;

  Linear2(Index dx, Index h, Index dy, double init_u_scale, double init_w_scale);
  Linear2(Index dx, Index h, Index dy, double init_u_scale, double init_w_scale,
          const Options& options);

  Index dim() const override { return dy_ * h_ + h_ * dx_; }
  Index input_dim() const override { return dx_; }
  Index output_dim() const override { return dy_; }

  void reserve(Index max_batch) override;
  double loss_grad(const Vector& theta, const Batch& batch, Vector& grad) override;
  double loss(const Vector& theta, const Batch& batch) override;
  void hessian_vector(const Vector& theta, const Batch& batch, const Vector& v,
                      Vector& out) override;
  void hessian(const Vector& theta, const Batch& batch, Matrix& h) override;
  /// The forward pass's G and Sxx computed once, held by the operator: each product is then the
  /// seven GEMMs of the header comment's H v alone (six and a column scaling when Sxx is
  /// diagonal, as online with a diagonal teacher).
  std::function<void(const Vector&, Vector&)> hessian_operator(const Vector& theta,
                                                               const Batch& batch) override;
  bool quadratic_in_data() const override { return true; }

  /// The shape of a (dx, h, dy) network: conserved h (D's eigenvalues), layers U (dy h) and W
  /// (h dx), one symmetry block of size h (the generators of the header comment).
  static ModelShape shape_for(Index dx, Index h, Index dy) {
    return ModelShape{h, {dy * h, h * dx}, {h}};
  }
  void conserved(const Vector& theta, Vector& out) const override;
  /// D = U^T U - W W^T (h x h).
  Matrix conserved_matrix(const Vector& theta) const;

  /// Draws theta and remembers |D_0|_F of the start (d0_norm) and, after prepare_diagnostics,
  /// its eq_gap (eq_gap_steps' reference). Allocates.
  void initialize(NormalSource& normal, Vector& theta) const override;
  /// Keeps |D_0|_F and eq_gap at theta_0 (after prepare_diagnostics; else NaN) for d0_norm and
  /// eq_gap_steps.
  void start(const Vector& theta0) override;

  void apply_generator(Index k, const Vector& v, Vector& out) const override;
  /// v^T A_k v = <dU, dU M> - <dW, M dW> with v = (dU, dW): for M = E_ii |dU_:i|^2 - |dW_i:|^2,
  /// for E_ij + E_ji 2 (dU_:i . dU_:j - dW_i: . dW_j:): O(dx + dy), not O(d).
  double generator_quadratic(Index k, const Vector& v, Vector& scratch) const override;
  /// Per sample, with z = W x and r = U z - y: grad_U = r z^T and grad_W = (U^T r) x^T (three
  /// matrix-vector products and the d entries), penalties included; the same values as the
  /// default (loss_grad on one-row batches, whose G form costs 4 dx h dy a sample) up to
  /// rounding. Allocation-free.
  void sample_gradients(const Vector& theta, const Batch& batch, RowMatrix& out,
                        Vector& scratch) override;
  /// F = dU^T dU - dW dW^T with v = (dU, dW) (h x h): the generator quadratics at once.
  void accumulate_flow_matrix(Index b, const Vector& v, Matrix& f, Vector& scratch) const override;
  /// Over a set of n samples, from the forward pass (z_s = W x_s, r_s = U z_s - y_s, q_s = U^T
  /// r_s; the per-sample gradients are r_s z_s^T and q_s x_s^T, outer products):
  ///     F = (1/n) (Z^T diag|r_s|^2 Z - Q^T diag|x_s|^2 Q) - (Gu^T Gu - Gw Gw^T)
  /// with the mean gradients Gu = R^T Z / n, Gw = Q^T X / n (the penalties add the same to every
  /// sample's gradient and cancel). O(n h (h + dx + dy)) flops where the per-sample form costs
  /// O(n h^2 (dx + dy)); equal to it up to rounding (tests/unit/test_symmetry.cpp).
  bool flow_matrices(const Vector& theta, const Batch& set, std::vector<Matrix>& flows) override;
  double hessian_trace(const Vector& theta, const Batch& batch) override;

  void bind_fields(const Schema& schema) override;
  void record_traces(const Vector& theta, Record& out, std::size_t slot) override;
  void record_final(const Vector& theta, const Batch& full, const EndMeasurements& measured,
                    Record& out) override;
  void prepare_diagnostics(const Batch& full) override;
  void accumulate_window(const Vector& theta) override;

  /// The predicted equilibrium spectrum, h values, descending (zeros past min(dx, dy)).
  static Vector predicted_spectrum(const Matrix& sigma_x, const Matrix& v, const Matrix& sigma_eps,
                                   Index h);
  /// The predicted noise equilibrium on the minimum manifold (see above, R = I) as theta = (vec
  /// U, vec W), from the data moments; false (theta untouched) where it does not exist: Sigma_x
  /// not positive definite, Tr Sigma_eps = 0, rank M > h, or rank M < h with Sigma_eps not
  /// positive definite (ranks and definiteness to a relative 1e-10).
  static bool noise_equilibrium_point(const Matrix& sigma_x, const Matrix& v,
                                      const Matrix& sigma_eps, Index h, Vector& theta);
  /// The balanced minimum (U^T U = W W^T, U W = V; R = I) as theta; false where rank V > h.
  static bool balanced_minimum_point(const Matrix& v, Index h, Vector& theta);
  /// Tr H of the objective with input second moment sigma_x at theta = (vec U, vec W) of an h x
  /// dx W: dy Tr(W Sigma_x W^T) + |U|_F^2 Tr Sigma_x (no penalty).
  static double moment_hessian_trace(const Matrix& sigma_x, Index dy, Index h, const Vector& theta);
  /// Spectra (descending) of W Sigma_x W^T / Tr Sigma_x and U^T Sigma_eps U / Tr Sigma_eps at
  /// theta, and the Frobenius norm of the difference of the two matrices. Needs
  /// prepare_diagnostics. Allocation-free.
  void equilibrium_spectra(const Vector& theta, Vector& w_side, Vector& u_side, double& gap);

  /// The kernel choices at batch size s (for the tests).
  bool medium_products_for_tests(Index s) const { return medium_products(s); }
  bool backprop_form_for_tests(Index s) const { return backprop_form(s); }

  using ConstMap = Eigen::Map<const Matrix>;
  ConstMap u(const Vector& theta) const { return ConstMap(theta.data(), dy_, h_); }
  ConstMap w(const Vector& theta) const { return ConstMap(theta.data() + dy_ * h_, h_, dx_); }

 private:
  /// The batch's size, after checking theta's and the batch's shapes and reserve()-ing for it.
  Index checked_batch(const Vector& theta, const Batch& batch);
  /// Fills z_ (S x h: X W^T) and r_ (S x dy residuals) for the batch; returns the mean loss.
  double residuals(const Vector& theta, const Batch& batch);
  /// residuals(), then g_ (G = R^T X / S); returns the mean loss.
  double forward(const Vector& theta, const Batch& batch);
  /// Whether every product of forward and loss_grad at batch size s is one that Eigen evaluates
  /// coefficient by coefficient (rows + columns + depth < 20, Eigen's threshold for dynamic
  /// sizes; above it Eigen runs its blocked GEMM, whose sums are ordered otherwise).
  bool small_products(Index s) const {
    return s + std::max({dx_ + h_, h_ + dy_, dy_ + dx_}) < 20 && dx_ + h_ + dy_ < 20;
  }
  /// forward() and the gradient's products for small_products() shapes, as plain loops without
  /// Eigen's per-call dispatch, each element summed in the order Eigen's coefficient-based
  /// products sum it (the inner index ascending; U^T G in Eigen's vectorised reduction order).
  /// The same numbers as the Eigen expressions but for the sign of an element that is exactly
  /// zero (tests/unit/test_linear2.cpp). loss_grad's gradient goes to grad.
  double forward_small(const Vector& theta, const Batch& batch);
  /// Whether loss_grad takes the gradient by backpropagation, dL/dU = R^T Z / S and dL/dW =
  /// (R U)^T X / S (4 S dx h + 6 S h dy flops with the forward pass), rather than through G
  /// (G W^T, U^T G: 2 S (dx h + h dy + dy dx) + 4 dx h dy), whichever costs fewer flops at this
  /// shape (backpropagation when S is small against the widths). small_products() shapes take
  /// the G form. A pure function of the shape, so a point's numbers never depend on anything
  /// else.
  bool backprop_form(Index s) const {
    return 4 * s * dx_ * h_ + 6 * s * h_ * dy_ <
           2 * s * (dx_ * h_ + h_ * dy_ + dy_ * dx_) + 4 * dx_ * h_ * dy_;
  }
  void gradient_small(const Vector& theta, Vector& grad) const;
  /// Whether loss and loss_grad take the loop kernels of medium shapes: every dimension up to
  /// kMediumWidth, the batch up to kMediumBatch, and not small_products(). A pure function of
  /// the shape and the batch size, like the forms above.
  bool medium_products(Index s) const {
    return options_.medium_kernels && !small_products(s) && s <= kMediumBatch &&
           std::max({dx_, h_, dy_}) <= kMediumWidth;
  }
  /// forward() and loss_grad's gradient (in the form backprop_form() picks) for
  /// medium_products() shapes: plain loops whose every element is summed in a fixed order (the
  /// inner index ascending, src/models/linear2.cpp), vectorised over an independent index, so
  /// the same bits on every CPU and build; not Eigen's order (equal to its products to rounding,
  /// tests/unit/test_linear2.cpp). Allocation-free once reserve()d.
  double forward_medium(const Vector& theta, const Batch& batch);
  void gradient_medium(const Vector& theta, const Batch& batch, Vector& grad);
  /// Chooses the kernels of forward_small/gradient_small for this shape (once, at construction):
  /// fixed-size ones for the tiniest shapes, else the general loops (src/models/linear2.cpp).
  void select_small_kernels();
  using SmallForward = void (*)(Index dx, Index h, Index dy, const double* u, const double* w,
                                const double* x, Index x_stride, const double* y, Index y_stride,
                                Index s, double* z, double* r, double* g);
  using SmallGradient = void (*)(Index dx, Index h, Index dy, const double* u, const double* w,
                                 const double* g, double* gu, double* gw);
  SmallForward small_forward_ = nullptr;
  SmallGradient small_gradient_ = nullptr;
  /// H v from G and Sxx (see the header comment), penalties included; sxx_diagonal: Sxx's
  /// off-diagonal entries are exact zeros. Allocation-free.
  void hvp(const Vector& theta, const Matrix& g, const Matrix& sxx, bool sxx_diagonal,
           const Vector& v, Vector& out);
  /// aw_ = W Sigma_x W^T / Tr Sigma_x and au_ = U^T Sigma_eps U / Tr Sigma_eps at theta;
  /// returns Tr(W Sigma_x W^T). Allocation-free once prepare_diagnostics ran.
  double equilibrium_products(const Vector& theta);
  /// equilibrium_spectra's spectra and gap from aw_ and au_ (which it leaves changed).
  void spectra_of_products(Vector& w_side, Vector& u_side, double& gap);
  /// Tr H from the moments of prepare_diagnostics, Tr(W Sigma_x W^T) given, penalties included
  /// (the closed form of hessian_trace). Allocation-free.
  double window_hessian_trace(const Vector& theta, double tr_wsw) const;
  /// Generator k's pair (i, j) of M = E_ij + E_ji (i = j: E_ii).
  void generator_pair(Index k, Index& i, Index& j) const;
  /// The penalties' loss (0 at the defaults) and their gradient, added to grad.
  double penalty(const Vector& theta) const;
  void add_penalty_gradient(const Vector& theta, Vector& grad) const;

  Index dx_, h_, dy_;
  double init_u_scale_, init_w_scale_;
  Options options_;
  // hvp's scratch
  Matrix sxx_, p_, dg_;
  // sample_gradients' scratch, one sample: W x, U W x - y, U^T r.
  Vector sample_z_, sample_r_, sample_q_;
  // Equilibrium diagnostics (prepare_diagnostics, accumulate_window).
  Matrix sigma_x_, sigma_eps_, v_;
  double tr_x_ = 0, tr_eps_ = 0;
  Matrix wsx_, aw_, ueps_, au_;
  std::optional<Eigen::SelfAdjointEigenSolver<Matrix>> aw_eigen_, au_eigen_;
  Vector w_spec_, u_spec_, w_sum_, u_sum_;
  double gap_sum_ = 0;
  // Sharpness and layer norms over the final window, the start's |D_0|_F, and the warm-up
  // diagnostic's state (the gap at step 0; whether eq_gap_steps was set).
  double trace_sum_ = 0, u_norm_sum_ = 0, w_norm_sum_ = 0;
  double d0_norm_ = std::numeric_limits<double>::quiet_NaN();  // start(): |D_0|_F
  double gap0_ = std::numeric_limits<double>::quiet_NaN();     // start(): eq_gap at theta_0
  std::int64_t gap_step_ = -1;
  std::int64_t window_count_ = 0;
  FieldId f_w_spec_ = -1, f_u_spec_ = -1, f_gap_ = -1, f_pred_ = -1, f_trace_gap_ = -1;
  FieldId f_eq_trace_ = -1, f_eq_norms_ = -1, f_trace_eq_pred_ = -1, f_trace_gf_pred_ = -1,
          f_norms_pred_ = -1, f_d0_ = -1, f_gap_steps_ = -1;
  // Scratch, sized by reserve(); row s belongs to sample s.
  RowMatrix z_;   // S x h: X W^T
  RowMatrix r_;   // S x dy: residuals
  RowMatrix ru_;  // S x h: R U (backprop_form)
  // flow_matrices' scratch, sized by reserve(): rows scaled by |r_s|^2 and Q = R U (S x h), the
  // weights (S), the mean gradients (dy x h, h x dx).
  RowMatrix flow_zw_, flow_q_;
  Vector flow_weight_;
  Matrix flow_gu_, flow_gw_;
  Matrix g_;   // dy x dx
  Matrix ut_;  // h x dy: U^T (medium_products shapes)
  // conserved() runs inside the SGD loop (trace records): its scratch is preallocated too.
  mutable Matrix d_;                                       // h x h
  mutable Eigen::SelfAdjointEigenSolver<Matrix> d_eigen_;  // sized for h
};

}  // namespace symsweep
