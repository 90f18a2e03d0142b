// Stability of GD near a minimum (README, The science §3; Mulayoff & Stich, COLT 2026, Thm 7; Chen
// & Bruna, ICML 2023), and the classification of a deterministic run's end (Sec. 4). Knows nothing
// of MPI or HDF5.
//
// At a reference minimum x* of the objective L + gamma/2 |x|^2, with H its Hessian (weight decay
// included), lambda_max and v (|v| = 1) its top eigenpair, T and Q the third and fourth
// derivatives of L:
//     eta_gd = 2 / lambda_max                               the linear GD threshold
//     g = T[v, v],  K = 3 g^T H^-1 g - Q[v, v, v, v]        the nonlinear coefficient
// As eta passes eta_gd from below, a stable 2-cycle exists near x* iff K > 0; the flip's normal
// form x <- -(1 + mu) x + c x^3 has mu = eta lambda_max - 2 and c = (eta / 6) K, so to leading
// order the orbit is x* + delta +- A v with
//     A^2 = mu / c,   delta = -1/2 H^-1 g A^2
// Past eta_gd with K > 0 (supercritical) this is the stable 2-cycle GD settles on: its half-width
// A is amplitude_predicted. Below eta_gd with K < 0 (subcritical) A^2 > 0 too, but the cycle is
// the unstable one that bounds x*'s basin along v: its half-width is basin_radius_predicted (for
// f = x^2/2 + x^4/4 exactly sqrt((2 - eta) / eta)). Elsewhere (mu and K of one sign) there is no
// such orbit and both are NaN.
// The reduction to one mode needs a simple top eigenvalue: at a relative gap
// (lambda_max - lambda_2) / lambda_max below kMinRelativeGap = 1e-6 the note is degenerate_top and
// K and the predictions are NaN (lambda_max and eta_gd stay numbers). Why 1e-6: v is fixed by H
// only to about (rounding of H) / gap, ~1e-13 / 1e-6 = 1e-7 for a Hessian summed over samples, and
// the one-mode normal form holds only while the second mode's multiplier 1 - eta lambda_2 stays
// away from -1, i.e. within |mu| << 2 gap of the threshold: below 1e-6 that is no step size a
// sweep resolves. (A repeated top, e.g. x0^2/2 + x1^2/2 + x0^4/4 - x1^4/4, leaves v arbitrary.)
// The checks need a positive definite H (an isolated minimum): at the non-isolated minima of a
// model with a continuous symmetry they are NaN, and the note says why.
//
// x* from Newton's method: x <- x - H^-1 grad until |grad| <= 1e-13 |H|_inf (1 + |x|), a test
// relative to the gradient's own scale (grad ~ H (x - x*)), so that scaling the loss by any
// factor finds the same x* (an absolute test never stops at a loss scaled by 1e5, whose gradient
// rounds to ~1e-11, and stops at once at one scaled by 1e-14).
//
// lambda_max of any symmetric operator from products v -> H v (top_eigenvalue): the dense
// matrix for d <= 64; above, thick-restart Lanczos (Wu & Simon, SIAM J. Matrix Anal. Appl. 22,
// 2000) with full reorthogonalisation inside a basis of at most kBasis = 24 columns, keeping the
// 8 best Ritz vectors at a restart; the start is a random unit vector from the point's own stream
// (Purpose::lanczos), so that no eigenvector is missed for being orthogonal to a fixed start and
// the bits stay a function of the point's parameters. A breakdown (an invariant subspace) goes on
// from a fresh random vector orthogonal to the basis (twice at most: with a random start an
// invariant Krylov space holds a component of every eigenspace). A run ends when the Ritz
// residual |H x - theta x| is below a tolerance times the operator's scale (the largest |H q|
// seen, or the largest Ritz value in magnitude), checked on an explicit product.
// Then a second run from an independent random start, kept orthogonal to the vector found,
// gives the largest eigenvalue on its complement: if larger, the first run missed the top and
// the two swap roles; else it is lambda_2, equal to lambda_max when the top is repeated.
// Tolerances (TopEigenTolerance): by default 1e-10 for both runs. A Ritz value with residual r
// is within r of an eigenvalue, and within r^2 / gap when the gap to the rest of the spectrum is
// resolved, so a looser tolerance trades digits for products (Lanczos's residual falls by a
// roughly constant factor per restart, e.g. 10-50x per 16 products on linear2's Hessian at
// 256^3). The stored sharpness (kSharpnessTolerance) uses 1e-6 for the value (to r^2 / gap:
// 1e-12 / (relative gap) relative, e.g. 1e-10 at a 1% gap; 1e-6 at worst, a top cluster not
// resolved) and 1e-2 for the verification: it asks only whether anything lies above the value,
// and a random start's component along a larger eigenvalue grows past the Ritz value found
// long before the residual falls to 1e-2 (a Ritz value above the value + 1e-6 scale sends the
// run on to 1e-6 and the swap above). Its `second` is then lambda_2 to about 1e-4 / (relative
// gap) only. Both runs estimate their residual every 4 columns once they have made 16
// products (check_every), rather than only when the basis is full, so that each stops within
// 4 products of its tolerance.
// Memory: at most 24 d doubles (the basis) plus 4 work vectors of d (the product's input and
// output, the Ritz vector, the found vector) and O(24^2) small matrices, whatever d; besides
// whatever the product itself holds.
//
// Classification of a deterministic run (full-batch GD) that neither converged nor diverged
// within optimizer.steps, by an EndWatch that sees the run's last steps online:
//   - the window: the last 1024 iterates, each as a signature of 64 numbers — the iterate itself
//     for d <= 64, else its first 32 coordinates and its projections on 32 fixed random unit
//     vectors, each supported on one of 32 contiguous blocks of coordinates (so that every
//     coordinate enters, and a non-periodic difference cannot vanish in all of them but on a set
//     of measure zero). The smallest k in [1, 16] such that every signature equals the last one
//     of its phase (x_t vs x_{last - j k}) to tol (1 + |x|) (max norm) over the whole window is
//     the period (k = 1: it stopped moving). A slow drift adds up over the window and is no
//     period; a 2-cycle repeating to rounding is.
//   - the Lyapunov exponent, from Hessian-vector products at any d: GD's tangent map at x_t is
//     u <- u - eta_t (H(x_t) + gamma) u. A random unit u (stream purpose tangent) is carried
//     through the last min(steps, 1280) updates; the first fifth of them (256 in a long run)
//     only align u with the most expanding direction and are discarded, and lambda is the mean
//     of log |u| (renormalised every step) over the rest (N = 1024 in a long run).
//   - the step lengths s_t = |sig(x_{t+1}) - sig(x_t)|_max over the window: the run approaches a
//     point when the largest step of the window's last quarter is below half the largest of its
//     first quarter (a geometric decay; a chaotic orbit's steps are stationary).
// Without a period the run is aperiodic only when lambda > 10 / N (the tangent vector grew by
// more than e^10 over the measured steps: a converging run's transient alignment, or the zero
// modes of a continuous symmetry, give |lambda| of order 1 / N, f-'s chaos about 0.1 to 1) and
// it is not approaching a point; otherwise it is moving (a slowly converging run).
// Memory (any d): 1024 x 64 doubles of window (512 KiB), the tangent u and H u (2 d doubles),
// the projection weights (d doubles, d > 64 only), and for d <= 4096 a ring of the last 16
// iterates (16 d doubles <= 512 KiB) for the orbit fields: at most 1 MiB + 24 d bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>

#include "symsweep/model.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/types.hpp"

namespace symsweep {

/// Why the checks at x* are (or are not) numbers. Member names are the file's enum members.
enum class StabilityNote : std::uint8_t {
  not_checked = 0,   ///< the point did not run
  ok = 1,            ///< every check computed
  no_reference = 2,  ///< no x*: none given, Newton did not find one, the run did not converge
  not_positive_definite = 3,  ///< H at x* is singular or indefinite (e.g. a continuous symmetry)
  no_derivatives = 4,         ///< lambda_max only: the derivatives along v were not finite
  too_large = 5,              ///< d above the dense limit (Lanczos comes later)
  degenerate_top = 6,         ///< lambda_max repeated to a relative gap below 1e-6: v, K undefined
  /// the loss is not twice differentiable within the checks' reach of x* (Model::smooth_near: a
  /// ReLU kink): no Hessian-based number means anything there, so none is reported (NaN)
  not_smooth = 7,
};
const char* to_string(StabilityNote note);

/// Below this relative gap (lambda_max - lambda_2) / lambda_max the top eigenvalue counts as
/// repeated (see the header comment for why 1e-6).
inline constexpr double kMinRelativeGap = 1e-6;

/// The checks at one reference minimum.
struct MinimumCheck {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  StabilityNote note = StabilityNote::not_checked;
  double lambda_max = kNaN, eta_gd = kNaN, K = kNaN;
  double lambda_2 = kNaN;      ///< the second eigenvalue of H (-inf for d = 1)
  double amplitude = kNaN;     ///< A of the stable 2-cycle: eta > eta_gd and K > 0 only
  double basin_radius = kNaN;  ///< A of the unstable 2-cycle: eta < eta_gd and K < 0 only
  Vector v;                    ///< top eigenvector of H (empty when not computed)
  Vector centre_shift;         ///< delta of the stable 2-cycle (empty when there is none)
};

/// The checks above at x* for step size eta and weight decay gamma (dense Hessian, d <= 4096).
/// The predictions (amplitude, basin_radius, centre_shift) assume full-batch GD at step eta.
MinimumCheck check_minimum(Model& model, const Batch& full, const Vector& x_star, double eta,
                           double gamma);

/// Newton's method on the objective from x0: the minimum it reaches (gradient ~ 0 relative to
/// the Hessian's scale, see above, and a positive definite Hessian), or nothing. Up to 100 steps,
/// and nothing as soon as 10 steps in a row did not halve the best gradient norm (no isolated
/// minimum to converge to: each step costs a dense Hessian, minutes at d ~ 1000 on large data);
/// calls cancellation_point() at each. The steps taken go to *steps when given.
std::optional<Vector> newton_minimum(Model& model, const Batch& full, Vector x0, double gamma,
                                     int* steps = nullptr);

/// The smallest period k in [1, max_period] of the last `count` iterates (rows of `window`, in
/// order, oldest first), or 0 when there is none. Needs count >= 2 max_period.
int detect_period(const RowMatrix& window, Index count, int max_period, double tol);

/// The top of the spectrum of a symmetric operator, as top_eigenvalue finds it.
struct TopEigen {
  double value = MinimumCheck::kNaN;  ///< lambda_max (the best Ritz value when not converged)
  /// The largest eigenvalue on the complement of `vector`: lambda_2, equal to value (to about
  /// TopEigenTolerance::second relative, 1e-10 by default) when the top is repeated; -inf for
  /// d = 1.
  double second = MinimumCheck::kNaN;
  bool converged = false;  ///< every run's residual below its tolerance
  Index products = 0;      ///< operator applications made
  Vector vector;           ///< a unit eigenvector of value
};

/// The Ritz-residual tolerances of top_eigenvalue's Lanczos runs, relative to the operator's
/// scale (see the header comment).
struct TopEigenTolerance {
  /// The run that finds lambda_max, and a verification run whose value passes it.
  double value = 1e-10;
  /// A verification run that finds no larger value (so its value is `second`): at least `value`.
  double second = 1e-10;
  /// 0: the residual is estimated when the basis is full (every 16 products after the first
  /// 24); k > 0: also after every k-th column once the run has made 16 products, so that it
  /// stops within k products of where its tolerance is met (an eigensolve of the projection,
  /// at most 24 x 24, each time).
  Index check_every = 0;
};

/// The tolerances of the end-of-run sharpness (simulate.cpp; see the header comment).
inline constexpr TopEigenTolerance kSharpnessTolerance{1e-6, 1e-2, 4};

/// The largest eigenvalue of the symmetric operator `product` (v -> H v) on R^d, verified (see
/// the header comment): exactly from the dense matrix for d <= 64 (`start` unused), else by
/// thick-restart Lanczos from random unit vectors drawn from `start` (pass the point's
/// Stream(seed, key, Purpose::lanczos)), up to 3000 products per run. Memory: at most 24 d + 4 d
/// doubles above d = 64, any d. Calls cancellation_point() once per Lanczos iteration.
TopEigen top_eigenvalue(const std::function<void(const Vector&, Vector&)>& product, Index d,
                        Stream& start, const TopEigenTolerance& tolerance = {});

/// How a deterministic run ended (EndWatch::classify).
struct EndClass {
  int period = 0;                                              ///< 1 stopped moving, 2..16, or 0
  double lyapunov = std::numeric_limits<double>::quiet_NaN();  ///< NaN: not measured
  bool approaching = false;  ///< the step lengths decay: the run approaches a point
  bool aperiodic = false;    ///< no period, lambda > chaos_threshold() and not approaching
};

/// The last steps of one deterministic GD run of `steps` updates on a d-dimensional model, seen
/// online (header comment). Every buffer is sized in the constructor; the calls per update
/// allocate nothing.
class EndWatch {
 public:
  static constexpr Index kRows = 1024;         ///< iterates in the window
  static constexpr Index kWidth = 64;          ///< numbers per iterate's signature
  static constexpr Index kOrbit = 16;          ///< iterates kept whole (the orbit fields)
  static constexpr Index kOrbitMaxDim = 4096;  ///< ... for d up to this
  static constexpr std::int64_t kSpan = 1280;  ///< updates the tangent vector is carried
  static constexpr double kGrowth = 10;        ///< lambda > kGrowth / N for chaos

  /// `stream`: the point's tangent stream (the tangent's start and the projection weights).
  EndWatch(Index d, std::int64_t steps, Stream stream);

  /// Before update t (0-based) from x = theta_t with step size eta: carries the tangent vector
  /// when t is among the last updates (a Hessian-vector product), else nothing.
  void before_update(std::int64_t t, Model& model, const Batch& full, const Vector& x, double eta,
                     double gamma);
  /// After update t: x = theta_{t+1}, kept when it is among the last kRows iterates.
  void after_update(std::int64_t t, const Vector& x);

  /// The end of a run that made all `steps` updates (period_tol: stability.period_tol).
  EndClass classify(double period_tol) const;
  /// lambda's threshold: kGrowth over the number of measured updates.
  double chaos_threshold() const;
  /// The last n <= iterates_kept() iterates, oldest first, as rows (d <= kOrbitMaxDim).
  RowMatrix last_iterates(Index n) const;
  Index iterates_kept() const;
  /// Bytes held by the watch's buffers (the memory bound of the header comment).
  std::size_t bytes() const;

 private:
  Index d_;
  std::int64_t steps_, first_tangent_, first_measured_;
  RowMatrix window_;  // ring of signatures
  RowMatrix orbit_;   // ring of whole iterates (d <= kOrbitMaxDim), else empty
  Vector weights_;    // projection weights (d > kWidth), unit norm per block
  Vector u_, hu_;     // the tangent vector and H u
  Index window_count_ = 0, orbit_count_ = 0;
  double log_growth_ = 0;
  std::int64_t measured_ = 0;
  bool tangent_failed_ = false;
};

}  // namespace symsweep
