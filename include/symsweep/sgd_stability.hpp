// Stability of SGD near a reference minimum x* (README, The science §3; Wu, Ma & E, NeurIPS 2018;
// Mulayoff & Stich, COLT 2026, Thm 10, 11 and Prop. 6): the SGD half of the checks whose GD half
// (eta_gd, K) is in stability.hpp. Knows nothing of MPI or HDF5.
//
// Notation: n samples, batches B of S distinct samples drawn uniformly without replacement and
// independently every step ("iid batches"), H_i = Hessian of sample i's loss at x* plus gamma I
// (weight decay), H = mean_i H_i, H_B = mean over i in B of H_i, and
//     p = (n - S) / (S (n - 1))          (0 for S = n: full-batch GD).
// Every per-sample curvature is a Hessian-vector product of a one-row Batch (RowBatches below): no
// per-sample Hessian is ever formed, and the SGD map is SgdMap (optimizer.hpp) throughout.
//
// 1. eta_ms, the linear mean-square threshold. Linearised at x*, SGD's deviation e_t = x_t - x*
//    moves by e <- (I - eta H_B) e, so its second moment X_t = E[e_t e_t^T] moves by
//        M(eta) X = E[(I - eta H_B) X (I - eta H_B)]
//                 = X - eta (H X + X H) + eta^2 [(1 - p) H X H + p mean_i H_i X H_i]
//                 = X - eta A X + eta^2 B X,
//    the d^2 x d^2 matrix I (x) I - eta (H (x) I + I (x) H) + eta^2 E[H_B (x) H_B] acting on the
//    d x d matrix X (never formed: A and B are applied to d x d matrices through 2 n d
//    Hessian-vector products of one-row batches and dense d x d products with H). eta_ms is the
//    largest eta with spectral radius rho(M(eta)) <= 1. Two facts make it one eigenvalue problem
//    instead of a search:
//      - M(eta) maps positive semidefinite X to positive semidefinite ones (an expectation of
//        congruences), so rho(M) is an eigenvalue with a semidefinite eigenvector (Evans &
//        Hoegh-Krohn, J. London Math. Soc. 17, 1978); and M(eta) is self-adjoint in the trace
//        inner product <X, Y> = tr(X Y) (tr(Y C X C) = tr(C Y C X) for symmetric C), so its
//        spectrum is real and rho(M) = lambda_max(M) on symmetric matrices.
//      - Hence rho(M(eta)) <= 1 iff lambda_max(-eta A + eta^2 B) <= 0 iff eta B <= A (as
//        quadratic forms on symmetric X). A is positive definite iff H is (A's eigenvalues are
//        lambda_j + lambda_k), and then
//            rho(M(eta)) <= 1   iff   eta <= eta_ms = 1 / mu_max,
//            mu_max = lambda_max(A^-1/2 B A^-1/2)
//        (mu_max > 0: X = v v^T along H's top eigenvector gives <X, B X> > 0). So the stable
//        step sizes are exactly the interval (0, eta_ms]: monotone, no scan or bisection needed
//        (the unit tests check it against a dense scan of the explicit Kronecker matrix's
//        spectral radius). A^-1/2 is exact in H's eigenbasis (H = Q diag(lambda) Q^T):
//        A^-1/2 X = Q [(Q^T X Q)_jk / sqrt(lambda_j + lambda_k)] Q^T.
//    mu_max comes from top_eigenvalue (stability.hpp) on symmetric matrices as vectors of
//    D = d (d + 1) / 2 numbers (diagonal, then sqrt(2) times the upper triangle: an isometry):
//    exactly from the dense D x D matrix for D <= 64 (d <= 10), else thick-restart Lanczos to a
//    residual of 1e-10 (so eta_ms to about 1e-10 relative). Also M(eta) >= the GD map
//    X -> (I - eta H) X (I - eta H) in the semidefinite order (their difference is
//    eta^2 p mean_i (H_i - H) X (H_i - H)), so rho(M(eta)) >= max_j (1 - eta lambda_j)^2 and
//    eta_ms <= eta_gd = 2 / lambda_max(H); eta_ms is clamped to eta_gd against rounding. For
//    S = n (p = 0) eta_ms = eta_gd. In one dimension rho = 1 - 2 eta h + eta^2 (h^2 + p s^2)
//    (h = mean h_i, s^2 = mean (h_i - h)^2): eta_ms = 2 h / (h^2 + p s^2) (Wu, Ma & E).
//    Where H is singular (a continuous symmetry's zero modes, no weight decay) rho = 1 along them
//    for every eta: no threshold (NaN).
//    Cost: one dense eigensolve of H (d^3), then per product 2 n d Hessian-vector products of
//    one sample and O(d^3) dense work; D products for d <= 10, typically 100-300 (Lanczos and
//    its verification runs) above.
//
// 2. eta_worst_batch = min over batches B of 2 / lambda_max(H_B) (Mulayoff & Stich Thm 11: below
//    it SGD is stable in expectation near an interpolating minimum): every one of the C(n, S)
//    batches (in lexicographic order) when C(n, S) <= stability.batch_limit, else the minimum
//    over batch_limit batches drawn iid from the point's own stream (Purpose::worst_batch): an
//    upper bound of the true threshold, flagged (SgdNote::worst_batch_sampled). Cost: per batch
//    one dense Hessian of the batch (Model::hessian) and one eigenvalue solve of d x d.
//
// 3. The exact expectation by enumeration (Mulayoff & Stich Thm 10, Prop. 6: divergence in
//    expectation comes from rare runs of unstable batches, which sampled paths miss): every
//    sequence of batches of length t <= T from the run's start theta_0 has probability
//    C(n, S)^-t; the tree of all of them is walked depth first (memory: T + 1 iterates of d and
//    the T current batches), each node one SgdMap::step with the run's eta_t and weight decay and
//    WITHOUT the divergence bound. A path whose loss or iterate overflows (or whose distance to
//    x* is not finite) has distance +inf from there on, for every continuation. At each record
//    step t <= T:
//        E|x_t - x*|, E|x_t - x*|^2 (+inf as soon as one path overflowed), and
//        P(|x_t - x*| > bound)  (overflowed paths count as beyond).
//    Cost: sum_{t=1..T} m^t <= 2 m^T gradient evaluations (m = C(n, S) >= 2), at most 2^25 paths
//    (the config refuses more).
//
// Measured (tests/bench/bench_sgd_checks.cpp: poly with dense per-sample quadratics plus quartics,
// one core of the shared development machine, best of 3), seconds per point:
//     d   n   S    eta_ms    eta_worst_batch (batch_limit 1e5)
//     1   2   1    3e-6      7e-7    (2 batches)
//     1  64   8    2e-5      0.06    (1e5 drawn)
//    10   2   1    0.004     1e-5
//    10  64   1    0.10      5e-4    (64 batches)
//    10  64   8    0.10      1.7     (1e5 drawn)
//    64  64   8    39        44      (1e5 drawn; 1.3e6 Hessian-vector products for eta_ms)
// and the exact enumeration at 2^20 paths: 0.15 s (d = 1, n = 2, S = 1, T = 20), 1.1 s (d = 10).
// stability.sgd_checks = false skips all three (the shipped sweeps spend nothing measurable: their
// points are full-batch GD, or have no positive definite x*).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "symsweep/data.hpp"
#include "symsweep/model.hpp"
#include "symsweep/optimizer.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/types.hpp"

namespace symsweep {

struct MinimumCheck;

/// Why the SGD checks at x* are, or are not, numbers. Member names are the file's enum members;
/// codes never change (a new member goes last).
enum class SgdNote : std::uint8_t {
  not_checked = 0,            ///< the point did not run
  ok = 1,                     ///< eta_ms, and eta_worst_batch over every batch
  worst_batch_sampled = 2,    ///< as ok, eta_worst_batch over stability.batch_limit drawn batches
  full_batch = 3,             ///< S = n or method gd: p = 0, eta_ms = eta_worst_batch = eta_gd
  online = 4,                 ///< fresh samples every step: no finite set of batches (NaN)
  reshuffle = 5,              ///< batches are not iid: the formulas do not apply (NaN)
  not_positive_definite = 6,  ///< H at x* is singular or indefinite: no threshold (NaN)
  no_reference = 7,           ///< no x* (as stability_note)
  off = 8,                    ///< stability.sgd_checks = false
  too_large = 9,              ///< d above kMaxSgdDim
  not_smooth = 10,            ///< the loss has a kink within reach of x* (as stability_note)
};
const char* to_string(SgdNote note);
/// Every member in code order (the file's enum).
std::vector<SgdNote> all_sgd_notes();

/// The SGD checks run for d up to this (dense d x d work per batch and per product).
inline constexpr Index kMaxSgdDim = 64;
/// The most batch sequences the exact enumeration may walk (2^25).
inline constexpr double kMaxExactPaths = 33554432.0;

/// C(n, k) as a double: exact while below 2^53, +inf once above 1e300.
inline double binomial(Index n, Index k) {
  if (k < 0 || k > n) return 0;
  k = std::min(k, n - k);
  double c = 1;
  for (Index i = 1; i <= k; ++i) {
    c = c * static_cast<double>(n - k + i) / static_cast<double>(i);
    if (c > 1e300) return std::numeric_limits<double>::infinity();
  }
  return c;
}

/// p = (n - S) / (S (n - 1)), the weight of the per-sample spread in E[H_B (x) H_B]; 0 for S = n.
double batch_noise_factor(Index n, Index batch);

/// Batches made of chosen rows of a dataset (item 1 of issue 17): one sample's batch is a view of
/// its row; a batch of several rows is gathered into buffers sized once, so no call allocates.
class RowBatches {
 public:
  /// Batches of up to max_rows rows of `data` (which must outlive this).
  RowBatches(const SampleSet& data, Index max_rows);
  /// Sample i alone (a view of its row: valid while the dataset is).
  Batch row(Index i) const;
  /// Rows idx[0..count) in that order (a view for count = 1, else valid until the next call).
  Batch rows(const Index* idx, Index count);
  Index samples() const { return data_->size(); }

 private:
  const SampleSet* data_;
  RowMatrix x_, y_;
};

/// The linearised SGD second-moment map M(eta) = I - eta A + eta^2 B at x* (header comment),
/// matrix-free, and its threshold eta_ms.
class SecondMomentMap {
 public:
  /// At x* of the objective (mean loss over `data` + gamma/2 |x|^2), batches of `batch` samples.
  SecondMomentMap(Model& model, const SampleSet& data, const Vector& x_star, double gamma,
                  Index batch);

  Index dim() const { return d_; }
  double noise_factor() const { return p_; }
  /// True when H (weight decay included) is positive definite (A invertible).
  bool positive_definite() const { return positive_definite_; }
  /// out = A X = H X + X H (X symmetric d x d).
  void apply_a(const Matrix& x, Matrix& out) const;
  /// out = B X = (1 - p) H X H + p mean_i H_i X H_i (X symmetric; 2 n d Hessian-vector products).
  void apply_b(const Matrix& x, Matrix& out);
  /// out = M(eta) X.
  void apply(double eta, const Matrix& x, Matrix& out);
  /// rho(M(eta)) = lambda_max(M(eta)) on symmetric matrices (top_eigenvalue; `start`: Lanczos
  /// starts for d > 10).
  double radius(double eta, Stream& start);
  /// eta_ms = min(1 / lambda_max(A^-1/2 B A^-1/2), eta_gd); NaN when H is not positive definite.
  double threshold(Stream& start);
  /// Hessian-vector products of one sample made so far.
  std::int64_t products() const { return products_; }

 private:
  /// A^-1/2 x into out (exact in H's eigenbasis).
  void a_inverse_sqrt(const Matrix& x, Matrix& out) const;
  Model* model_;
  const SampleSet* data_;
  Vector x_star_;
  SgdMap map_;
  Index d_, n_;
  double p_;
  Matrix h_, q_;   // H (weight decay included) and its eigenvectors
  Vector lambda_;  // H's eigenvalues, ascending
  Matrix scale_;   // 1 / sqrt(lambda_j + lambda_k)
  bool positive_definite_ = false;
  Matrix y_, z_, hx_, t1_, t2_;  // scratch
  Vector u_, hu_;
  std::int64_t products_ = 0;
};

/// eta_worst_batch (header comment, item 2).
struct WorstBatch {
  double eta = std::numeric_limits<double>::quiet_NaN();     ///< min over batches of 2/lambda_max
  double lambda = std::numeric_limits<double>::quiet_NaN();  ///< the largest lambda_max(H_B)
  bool sampled = false;      ///< over `limit` drawn batches (an upper bound of the threshold)
  std::int64_t batches = 0;  ///< batches looked at
  std::vector<Index> worst;  ///< the worst batch's rows (ascending when enumerated)
};
/// Every batch of `batch` distinct samples when C(n, batch) <= limit, else `limit` batches drawn
/// from `stream` (pass Stream(seed, key, Purpose::worst_batch)).
WorstBatch worst_batch(Model& model, const SampleSet& data, const Vector& x_star, double gamma,
                       Index batch, std::int64_t limit, Stream stream);

/// The exact expectation over every batch sequence (header comment, item 3).
struct ExactExpectation {
  /// Per entry of `steps` passed in (NaN for steps > T): E|x_t - x*|, E|x_t - x*|^2 and
  /// P(|x_t - x*| > bound).
  std::vector<double> mean_dist, mean_sq_dist, p_beyond;
  std::int64_t evaluations = 0;  ///< SGD steps taken (gradient evaluations)
  double paths = 0;              ///< m^T
};
/// Walks every sequence of T batches of `batch` distinct rows of `data` (all rows for
/// method = gd or batch = n) from theta0 with the schedule and weight decay of `opt`; reports at
/// the record steps `steps` (ascending). Throws Error when m^T > kMaxExactPaths.
ExactExpectation exact_expectation(Model& model, const SampleSet& data, const OptimizerSpec& opt,
                                   const Vector& theta0, const Vector& x_star, std::int64_t T,
                                   const std::vector<std::int64_t>& steps, double bound);

/// The point's SGD checks at x* (eta_ms, eta_worst_batch and the note), from the GD checks there.
struct SgdCheck {
  SgdNote note = SgdNote::not_checked;
  double eta_ms = std::numeric_limits<double>::quiet_NaN();
  double eta_worst_batch = std::numeric_limits<double>::quiet_NaN();
};
/// The note's precedence: off, no_reference (x_star null), not_positive_definite (gd.note, or
/// too_large from check_minimum), full_batch, online, reshuffle, too_large, then ok or
/// worst_batch_sampled. `lanczos` and `worst`: the point's streams of those purposes.
SgdCheck check_sgd(Model& model, const SampleSet& data, const Vector* x_star,
                   const MinimumCheck& gd, const OptimizerSpec& opt, bool online, bool enabled,
                   std::int64_t batch_limit, Stream lanczos, Stream worst);

}  // namespace symsweep
