// What the model registry entries share (private to src/models/): the optimizer settings of a
// point, as the models' closed-form predictions need them (each predicted field states which of
// them it assumes and is NaN outside), and the definitions of the model keys that several models
// declare alike.
//
// Gradient noise (README, The science §1). One step's minibatch gradient g at theta has
//     E |g|^2 = |grad L|^2 + p Tr Sigma(theta)
// with the noise factor p:
//     online                     p = 1/S (S fresh samples)
//     finite, iid batches        p = (n - S) / (S (n - 1))   (S distinct samples; exact)
//     finite, reshuffle          the same per batch, with the epoch's last batch of r = n - (b - 1)
//     S
//                                samples (b = ceil(n / S) batches per epoch): averaged over the
//                                epoch, p = ((b - 1) p(S) + p(r)) / b. Each batch of an epoch is
//                                marginally a uniform subset of its size, so at leading order in
//                                eta the per-step mean is the iid one's; the permutation only
//                                correlates the steps.
//     method gd, or S = n        p = 0 (no noise: every step takes the full objective's gradient).
//
// The step size a prediction uses is the one in force over the final window it is compared with:
// the updates k = steps - final_window ... steps - 1 (the last update when record.final_window is
// 0). Every schedule (optimizer.hpp) is monotone in k, so eta_k is constant over that range iff
// its two ends agree; where the schedule changes eta inside the window the predictions that scale
// with eta are NaN (an average of eta^2 over the window would be a number no theory gives).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "symsweep/optimizer.hpp"
#include "symsweep/spec.hpp"

namespace symsweep {
namespace models_detail {

struct PredictionSettings {
  bool noisy = false;   ///< method sgd with p > 0 (not gd, not a full batch of a finite set)
  bool online = false;  ///< data.mode = online
  double eta = std::numeric_limits<double>::quiet_NaN();  ///< over the window; NaN if it changes
  double noise_factor = 0;                                ///< p above (0 without noise)
  double weight_decay = 0;                                ///< optimizer.weight_decay (gamma)
};

inline PredictionSettings prediction_settings(const ParamSet& p) {
  const OptimizerSpec opt = OptimizerSpec::from(p);
  PredictionSettings s;
  s.online = p.text("data.mode") == "online";
  s.weight_decay = opt.weight_decay;
  const std::int64_t window = p.integer("record.final_window");
  const std::int64_t last = std::max<std::int64_t>(opt.steps - 1, 0);
  const std::int64_t first =
      std::max<std::int64_t>(opt.steps - std::max<std::int64_t>(window, 1), 0);
  const double eta_first = opt.eta_at(first), eta_last = opt.eta_at(last);
  if (eta_first == eta_last) s.eta = eta_last;
  if (opt.method == OptimizerSpec::Method::gd) return s;  // p = 0
  if (s.online) {
    s.noise_factor = 1.0 / static_cast<double>(opt.batch);
  } else {
    const std::int64_t n = p.integer("data.n"), size = opt.batch;
    const auto factor = [n](std::int64_t b) {
      return n > 1 ? static_cast<double>(n - b) / static_cast<double>(b * (n - 1)) : 0.0;
    };
    if (size >= n) {
      s.noise_factor = 0.0;
    } else if (opt.sampling == OptimizerSpec::Sampling::reshuffle) {
      const std::int64_t batches = (n + size - 1) / size, rest = n - (batches - 1) * size;
      s.noise_factor = (static_cast<double>(batches - 1) * factor(size) + factor(rest)) /
                       static_cast<double>(batches);
    } else {
      s.noise_factor = factor(size);
    }
  }
  s.noisy = s.noise_factor > 0;
  return s;
}

// ---- Model keys (ModelInfo::params): sweepable, and in the random streams' keys.
/// A real key with its default and range.
inline ParamDef real_key(std::string key, std::string def, Range range, std::string help) {
  return ParamDef{
      std::move(key), ParamKind::Real, std::move(def), std::move(help), range, {}, true};
}
/// A dimension (model.dx, model.h, ...): a whole number in [1, 4096].
inline ParamDef dimension_key(std::string key, std::string def, std::string help) {
  return ParamDef{std::move(key),
                  ParamKind::Integer,
                  std::move(def),
                  std::move(help),
                  Range{1, 4096},
                  {},
                  true};
}
/// An initialisation scale: a real >= 0, default 1.
inline ParamDef scale_key(std::string key, std::string help) {
  return real_key(std::move(key), "1", Range::at_least(0), std::move(help));
}
/// model.break_strength, the explicit symmetry breaking of the models that have it.
inline ParamDef break_strength_key() {
  return real_key("model.break_strength", "0", Range::any(),
                  "explicit symmetry breaking: adds break_strength * sum_i theta_i / sqrt(d) to "
                  "the loss");
}

}  // namespace models_detail
}  // namespace symsweep
