// Stability of GD near a minimum (SCIENCE.md Sec. 3; Mulayoff & Stich, COLT 2026, Thm 7; Chen &
// Bruna, ICML 2023), and the classification of a deterministic run's end (Sec. 4). Knows nothing
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
// residual is below 1e-10 of the largest Ritz value in magnitude, checked on an explicit product.
// Then a second run from an independent random start, kept orthogonal to the vector found,
// gives the largest eigenvalue on its complement: if larger, the first run missed the top and
// the two swap roles; else it is lambda_2, equal to lambda_max when the top is repeated.
// Memory: at most 24 d doubles (the basis) plus 4 work vectors of d (the product's input and
// output, the Ritz vector, the found vector) and O(24^2) small matrices, whatever d; besides
// whatever the product itself holds.
//
// Classification of a deterministic run (full-batch GD) that neither converged nor diverged: the
// last iterates are kept in a window; the smallest k in [1, 16] such that every iterate equals
// the last iterate of its phase (x_t vs x_{last - j k}) to tol (1 + |x|) (max norm) over the
// whole window is the period (k = 1: it stopped moving). A slow drift adds up over the window and
// is no period; a 2-cycle repeating to rounding is. Without a period the run is aperiodic when
// its Lyapunov exponent along the window is positive, or cannot be computed (d > 64), and still
// moving (slowly converging) when it is negative.
#pragma once

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
/// the Hessian's scale, see above, and a positive definite Hessian), or nothing. Up to 100 steps;
/// calls cancellation_point() at each.
std::optional<Vector> newton_minimum(Model& model, const Batch& full, Vector x0, double gamma);

/// The smallest period k in [1, max_period] of the last `count` iterates (rows of `window`, in
/// order, oldest first), or 0 when there is none. Needs count >= 2 max_period.
int detect_period(const RowMatrix& window, Index count, int max_period, double tol);

/// The top of the spectrum of a symmetric operator, as top_eigenvalue finds it.
struct TopEigen {
  double value = MinimumCheck::kNaN;  ///< lambda_max (the best Ritz value when not converged)
  /// The largest eigenvalue on the complement of `vector`: lambda_2, equal to value (to about
  /// 1e-10 relative) when the top is repeated; -inf for d = 1.
  double second = MinimumCheck::kNaN;
  bool converged = false;  ///< every run's residual below its tolerance
  Index products = 0;      ///< operator applications made
  Vector vector;           ///< a unit eigenvector of value
};

/// The largest eigenvalue of the symmetric operator `product` (v -> H v) on R^d, verified (see
/// the header comment): exactly from the dense matrix for d <= 64 (`start` unused), else by
/// thick-restart Lanczos from random unit vectors drawn from `start` (pass the point's
/// Stream(seed, key, Purpose::lanczos)), up to 3000 products per run. Memory: at most 24 d + 4 d
/// doubles above d = 64, any d. Calls cancellation_point() once per Lanczos iteration.
TopEigen top_eigenvalue(const std::function<void(const Vector&, Vector&)>& product, Index d,
                        Stream& start);

/// The largest Lyapunov exponent of GD's map x <- x - eta (grad L(x) + gamma x) along the iterates
/// (rows of `window`, oldest first): the mean log growth per step of a tangent vector.
double lyapunov_exponent(Model& model, const Batch& full, const RowMatrix& window, Index count,
                         double eta, double gamma);

}  // namespace symsweep
