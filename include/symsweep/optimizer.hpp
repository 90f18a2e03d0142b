// SGD as simulated (SCIENCE.md Sec. 1):
//     theta_{k+1} = theta_k - eta (g_k + gamma theta_k),   g_k = (1/S) sum_{i in B_k} grad
//     l_i(theta_k)
// B_k: S distinct indices drawn uniformly without replacement, independently every step ("iid
// batches"); S = n is full-batch GD. In online mode every batch is S fresh samples.
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
  double eta = 0.01;
  Index batch = 1;
  std::int64_t steps = 1000;
  double weight_decay = 0;
  double tol = 0;  ///< full-batch gradient norm that counts as converged (0: never)
  std::int64_t check_every = 100;
  double divergence_bound = 1e8;

  static OptimizerSpec from(const ParamSet& params);
};

/// Produces the batch of every step. Allocation-free after construction.
class BatchSource {
 public:
  /// Finite mode: batches of `batch` distinct rows of `data` (the whole set, without drawing any
  /// random number, when batch == data.size()).
  BatchSource(const SampleSet& data, Index batch, Stream stream);
  /// Online mode: `batch` fresh samples of `teacher` per step.
  BatchSource(const Teacher& teacher, Index batch, Stream stream);

  /// The next batch; valid until the next call.
  Batch next();
  /// Dataset rows of the last finite-mode batch, in draw order (empty for GD and online mode).
  std::vector<Index> last_indices() const {
    return perm_.empty() ? perm_ : std::vector<Index>(perm_.begin(), perm_.begin() + batch_);
  }

 private:
  const SampleSet* data_ = nullptr;
  const Teacher* teacher_ = nullptr;
  Index batch_;
  Stream stream_;
  std::vector<Index> perm_;  // persistent permutation for partial Fisher–Yates
  RowMatrix x_, y_;          // gathered or fresh batch
};

/// Plain SGD with weight decay and constant step size.
class Sgd {
 public:
  Sgd(Model& model, BatchSource& batches, const OptimizerSpec& spec);

  /// One update of theta in place; returns the batch loss at theta before the update. When that
  /// loss is not finite, theta is left unchanged (the run has diverged). Allocation-free.
  double step(Vector& theta);
  /// Minibatch gradient g_k of the last step (without weight decay).
  const Vector& last_gradient() const { return grad_; }

 private:
  Model* model_;
  BatchSource* batches_;
  double eta_, weight_decay_;
  Vector grad_;
};

}  // namespace symsweep
