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
#pragma once

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

/// Plain SGD with weight decay and a step-size schedule.
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
  double weight_decay_;
  std::int64_t k_ = 0;
  Vector grad_;
};

}  // namespace symsweep
