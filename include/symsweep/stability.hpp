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
//     A^2 = mu / c,   delta = -1/2 H^-1 g A^2              (NaN where A^2 <= 0: no such orbit)
// The checks need a positive definite H (an isolated minimum): at the non-isolated minima of a
// model with a continuous symmetry they are NaN, and the note says why.
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
};
const char* to_string(StabilityNote note);

/// The checks at one reference minimum.
struct MinimumCheck {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  StabilityNote note = StabilityNote::not_checked;
  double lambda_max = kNaN, eta_gd = kNaN, K = kNaN, amplitude = kNaN;
  Vector v;             ///< top eigenvector of H (empty when not computed)
  Vector centre_shift;  ///< delta (empty when not computed)
};

/// The checks above at x* for step size eta and weight decay gamma (dense Hessian, d <= 4096).
MinimumCheck check_minimum(Model& model, const Batch& full, const Vector& x_star, double eta,
                           double gamma);

/// Newton's method on the objective from x0: the minimum it reaches (gradient ~ 0 and a positive
/// definite Hessian), or nothing.
std::optional<Vector> newton_minimum(Model& model, const Batch& full, Vector x0, double gamma);

/// The smallest period k in [1, max_period] of the last `count` iterates (rows of `window`, in
/// order, oldest first), or 0 when there is none. Needs count >= 2 max_period.
int detect_period(const RowMatrix& window, Index count, int max_period, double tol);

/// The largest eigenvalue of the symmetric operator `product` (v -> H v) on R^d, and its unit
/// eigenvector into *vector when given: exactly from the dense matrix for d <= 64, else by
/// Lanczos with full reorthogonalisation from a fixed start (deterministic), up to 300 steps or
/// a residual below 1e-10 |lambda|. Only Hessian-vector products: no d x d matrix, any d.
double top_eigenvalue(const std::function<void(const Vector&, Vector&)>& product, Index d,
                      Vector* vector = nullptr);

/// The largest Lyapunov exponent of GD's map x <- x - eta (grad L(x) + gamma x) along the iterates
/// (rows of `window`, oldest first): the mean log growth per step of a tangent vector.
double lyapunov_exponent(Model& model, const Batch& full, const RowMatrix& window, Index count,
                         double eta, double gamma);

}  // namespace symsweep
