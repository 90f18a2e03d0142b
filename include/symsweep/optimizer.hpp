// SGD as simulated (README, The science §1):
//     theta_{k+1} = theta_k - eta_k (g_k + gamma theta_k),   g_k = (1/S) sum_{i in B_k} grad
//     l_i(theta_k)
// B_k: S distinct indices drawn uniformly without replacement, independently every step ("iid
// batches"), or (sampling = reshuffle) consecutive S-blocks of a uniformly random permutation of
// the n samples drawn afresh at the start of every epoch, the last block of an epoch holding the
// n mod S left over when S does not divide n, so that every sample is used exactly once per epoch.
// S = n is full-batch GD, without drawing any random number. In online mode every batch is S
// fresh samples. method = gd takes the exact full-batch gradient every step: of the dataset, or
// in online mode of the population, through its moment-matched reference set (data.hpp; exact
// only for models whose loss is quadratic in the data).
//
// The step-size schedule, for update k = 0, 1, ...:
//     constant   eta_k = eta
//     warmup     eta_k = eta * min(1, (k + 1) / warmup_steps)           (linear warmup)
//     step       eta_k = eta * decay_factor^floor(k / decay_every)      (step decay)
//
// One home for the update: SgdMap holds the map theta -> theta - eta (g_B(theta) + gamma theta)
// of one batch B and its linearisation u -> (I - eta (H_B(theta) + gamma)) u. The run (Sgd), the
// tangent map of a deterministic run's Lyapunov exponent (stability.hpp's EndWatch), the checks
// at a reference minimum (stability.hpp, sgd_stability.hpp) and the exact enumeration of batch
// sequences (sgd_stability.hpp) all call it and write the update nowhere else, so that another
// optimizer (momentum, Adam) is one new map beside it, with its own state.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "symsweep/data.hpp"
#include "symsweep/model.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {

class ParamSet;

/// The [optimizer] section at one point.
struct OptimizerSpec {
  enum class Schedule { constant, warmup, step };
  enum class Sampling { iid, reshuffle };
  enum class Method { sgd, gd };

  double eta = 0.01;
  Index batch = 1;
  Method method = Method::sgd;
  Sampling sampling = Sampling::iid;
  Schedule schedule = Schedule::constant;
  std::int64_t warmup_steps = 100;  ///< schedule warmup
  std::int64_t decay_every = 1000;  ///< schedule step
  double decay_factor = 0.1;        ///< schedule step
  std::int64_t steps = 1000;
  double weight_decay = 0;
  double tol = 0;  ///< full-batch gradient norm that counts as converged (0: never)
  std::int64_t check_every = 100;
  double divergence_bound = 1e8;

  static OptimizerSpec from(const ParamSet& params);
  /// eta_k, the step size of update k (k = 0 is the first), by the schedule above.
  double eta_at(std::int64_t k) const;
};

/// Produces the batch of every step. Allocation-free after construction.
class BatchSource {
 public:
  /// Finite mode: batches of `batch` distinct rows of `data`, iid or reshuffled (the whole set,
  /// without drawing any random number, when batch == data.size()).
  BatchSource(const SampleSet& data, Index batch, Stream stream,
              OptimizerSpec::Sampling sampling = OptimizerSpec::Sampling::iid);
  /// Online mode: `batch` fresh samples of `teacher` per step.
  BatchSource(const Teacher& teacher, Index batch, Stream stream);

  /// The next batch; valid until the next call.
  Batch next();
  /// Dataset rows of the last finite-mode batch, in draw order (empty for GD and online mode).
  std::vector<Index> last_indices() const {
    return perm_.empty() ? perm_
                         : std::vector<Index>(perm_.begin() + last_start_,
                                              perm_.begin() + last_start_ + last_size_);
  }
  /// The largest batch next() returns.
  Index batch_size() const { return batch_; }

 private:
  const SampleSet* data_ = nullptr;
  const Teacher* teacher_ = nullptr;
  Index batch_;
  Stream stream_;
  bool reshuffle_ = false;
  std::vector<Index> perm_;  // persistent permutation for (partial) Fisher–Yates
  Index pos_ = 0;            // reshuffle: where the next batch starts in perm_ (0: a new epoch)
  Index last_start_ = 0, last_size_ = 0;  // the last batch's part of perm_
  RowMatrix x_, y_;                       // gathered or fresh batch
};

/// The SGD update of one batch and its linearisation (see the header comment). Stateless but for
/// gamma; every method is allocation-free when the model's loss_grad and hessian_vector are.
struct SgdMap {
  double weight_decay = 0;  ///< gamma

  /// theta <- theta - eta (g_B(theta) + gamma theta), g_B the mean gradient over `batch` (left in
  /// `grad`, without weight decay). Returns the batch loss at theta before the update; when it is
  /// not finite theta is left unchanged (the run has diverged).
  double step(Model& model, const Batch& batch, double eta, Vector& theta, Vector& grad) const {
    const double loss = model.loss_grad(theta, batch, grad);
    if (!std::isfinite(loss)) return loss;
    if (weight_decay != 0.0) {
      theta -= eta * (grad + weight_decay * theta);
    } else {
      theta -= eta * grad;
    }
    return loss;
  }
  /// hu = (H_B(theta) + gamma) u: the curvature of the update's linearisation at theta.
  void curvature(Model& model, const Batch& batch, const Vector& theta, const Vector& u,
                 Vector& hu) const {
    model.hessian_vector(theta, batch, u, hu);
    hu += weight_decay * u;
  }
  /// u <- (I - eta (H_B(theta) + gamma)) u: the Jacobian of step() at theta applied to u; hu is
  /// left holding (H_B(theta) + gamma) u.
  void tangent(Model& model, const Batch& batch, const Vector& theta, double eta, Vector& u,
               Vector& hu) const {
    curvature(model, batch, theta, u, hu);
    u -= eta * hu;
  }
  /// h = H_B(theta) + gamma I, dense (d x d): the linearisation's matrix.
  void curvature_matrix(Model& model, const Batch& batch, const Vector& theta, Matrix& h) const {
    model.hessian(theta, batch, h);
    h.diagonal().array() += weight_decay;
  }
};

/// Plain SGD with weight decay and a step-size schedule: SgdMap on the batches of a BatchSource.
class Sgd {
 public:
  Sgd(Model& model, BatchSource& batches, const OptimizerSpec& spec);

  /// One update of theta in place; returns the batch loss at theta before the update. When that
  /// loss is not finite, theta is left unchanged (the run has diverged). Allocation-free.
  double step(Vector& theta);
  /// Minibatch gradient g_k of the last step (without weight decay).
  const Vector& last_gradient() const { return grad_; }
  /// Updates applied so far (the k of the next update's eta_k).
  std::int64_t updates() const { return k_; }

 private:
  Model* model_;
  BatchSource* batches_;
  OptimizerSpec spec_;
  SgdMap map_;
  std::int64_t k_ = 0;
  Vector grad_;
};

}  // namespace symsweep
