#include "symsweep/optimizer.hpp"

#include <cmath>
#include <numeric>
#include <utility>

#include "symsweep/error.hpp"
#include "symsweep/spec.hpp"

namespace symsweep {

OptimizerSpec OptimizerSpec::from(const ParamSet& p) {
  OptimizerSpec s;
  s.eta = p.number("optimizer.eta");
  s.batch = p.integer("optimizer.batch");
  s.steps = p.integer("optimizer.steps");
  s.weight_decay = p.number("optimizer.weight_decay");
  s.tol = p.number("optimizer.tol");
  s.check_every = p.integer("optimizer.check_every");
  s.divergence_bound = p.number("optimizer.divergence_bound");
  return s;
}

BatchSource::BatchSource(const SampleSet& data, Index batch, Stream stream)
    : data_(&data), batch_(batch), stream_(stream) {
  SYMSWEEP_VERIFY(batch >= 1 && batch <= data.size(), "batch size must be in [1, n]");
  if (batch_ < data.size()) {
    perm_.resize(static_cast<std::size_t>(data.size()));
    std::iota(perm_.begin(), perm_.end(), Index{0});
    x_.resize(batch_, data.x.cols());
    y_.resize(batch_, data.y.cols());
  }
}

BatchSource::BatchSource(const Teacher& teacher, Index batch, Stream stream)
    : teacher_(&teacher), batch_(batch), stream_(stream) {
  SYMSWEEP_VERIFY(batch >= 1, "batch size must be >= 1");
  x_.resize(batch_, teacher.input_dim());
  y_.resize(batch_, teacher.output_dim());
}

Batch BatchSource::next() {
  if (teacher_ != nullptr) {
    teacher_->sample(stream_, x_, y_);
    return Batch{x_, y_};
  }
  const Index n = data_->size();
  if (batch_ == n) return data_->batch();
  // Partial Fisher–Yates: the first batch_ entries become a uniformly random ordered subset.
  for (Index i = 0; i < batch_; ++i) {
    const auto j = i + static_cast<Index>(stream_.below(static_cast<std::uint64_t>(n - i)));
    std::swap(perm_[static_cast<std::size_t>(i)], perm_[static_cast<std::size_t>(j)]);
    const Index row = perm_[static_cast<std::size_t>(i)];
    x_.row(i) = data_->x.row(row);
    y_.row(i) = data_->y.row(row);
  }
  return Batch{x_, y_};
}

Sgd::Sgd(Model& model, BatchSource& batches, const OptimizerSpec& spec)
    : model_(&model),
      batches_(&batches),
      eta_(spec.eta),
      weight_decay_(spec.weight_decay),
      grad_(model.dim()) {
  model.reserve(spec.batch);
}

double Sgd::step(Vector& theta) {
  const double loss = model_->loss_grad(theta, batches_->next(), grad_);
  if (!std::isfinite(loss)) return loss;  // diverged already: theta stays as it was
  if (weight_decay_ != 0.0) {
    theta -= eta_ * (grad_ + weight_decay_ * theta);
  } else {
    theta -= eta_ * grad_;
  }
  return loss;
}

}  // namespace symsweep
