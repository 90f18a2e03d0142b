#include "symsweep/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "detmath.hpp"
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
  s.method = p.text("optimizer.method") == "gd" ? Method::gd : Method::sgd;
  s.sampling = p.text("optimizer.sampling") == "reshuffle" ? Sampling::reshuffle : Sampling::iid;
  const std::string& schedule = p.text("optimizer.schedule");
  s.schedule = schedule == "warmup" ? Schedule::warmup
               : schedule == "step" ? Schedule::step
                                    : Schedule::constant;
  s.warmup_steps = p.integer("optimizer.warmup_steps");
  s.decay_every = p.integer("optimizer.decay_every");
  s.decay_factor = p.number("optimizer.decay_factor");
  return s;
}

double OptimizerSpec::eta_at(std::int64_t k) const {
  switch (schedule) {
    case Schedule::constant:
      return eta;
    case Schedule::warmup:
      return k + 1 >= warmup_steps
                 ? eta
                 : eta * (static_cast<double>(k + 1) / static_cast<double>(warmup_steps));
    case Schedule::step:
      return eta * det::powi(decay_factor, static_cast<long>(k / decay_every));
  }
  return eta;
}

BatchSource::BatchSource(const SampleSet& data, Index batch, Stream stream,
                         OptimizerSpec::Sampling sampling)
    : data_(&data),
      batch_(batch),
      stream_(stream),
      reshuffle_(sampling == OptimizerSpec::Sampling::reshuffle) {
  SYMSWEEP_VERIFY(batch >= 1 && batch <= data.size(), "batch size must be in [1, n]");
  last_size_ = batch_;
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
  if (reshuffle_) {
    if (pos_ == 0) {  // a new epoch: a uniformly random permutation (Fisher–Yates)
      for (Index i = 0; i + 1 < n; ++i) {
        const auto j = i + static_cast<Index>(stream_.below(static_cast<std::uint64_t>(n - i)));
        std::swap(perm_[static_cast<std::size_t>(i)], perm_[static_cast<std::size_t>(j)]);
      }
    }
    last_start_ = pos_;
    last_size_ = std::min(batch_, n - pos_);
    for (Index i = 0; i < last_size_; ++i) {
      const Index row = perm_[static_cast<std::size_t>(pos_ + i)];
      x_.row(i) = data_->x.row(row);
      y_.row(i) = data_->y.row(row);
    }
    pos_ = pos_ + last_size_ == n ? 0 : pos_ + last_size_;
    return Batch{x_.topRows(last_size_), y_.topRows(last_size_)};
  }
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
    : model_(&model), batches_(&batches), spec_(spec), map_{spec.weight_decay}, grad_(model.dim()) {
  model.reserve(batches.batch_size());
}

double Sgd::step(Vector& theta) {
  const double loss = map_.step(*model_, batches_->next(), spec_.eta_at(k_), theta, grad_);
  if (std::isfinite(loss)) ++k_;  // diverged already: theta stays as it was, no update counted
  return loss;
}

}  // namespace symsweep
