// A synthetic PointResult whose every number encodes its point index, so that a value written to
// the wrong place shows (used by the store tests and the store benchmark).
#pragma once

#include "symsweep/simulate.hpp"

namespace symsweep::testing {

inline PointResult fake_result(std::uint64_t p, const SweepLayout& layout) {
  PointResult r;
  r.index = p;
  r.status = Status::done;
  r.outcome = static_cast<Outcome>(1 + p % 3);
  r.steps_run = static_cast<std::int64_t>(p) * 10;
  r.diverged_at = p % 3 == 1 ? static_cast<std::int64_t>(p) : -1;
  r.final_loss = static_cast<double>(p) + 0.25;
  r.grad_norm = -static_cast<double>(p);
  r.sharpness = 1.0 / (1.0 + static_cast<double>(p));
  const auto pd = static_cast<double>(p);
  for (Index k = 0; k < layout.n_conserved; ++k) r.conserved.push_back(pd * 100.0 + k);
  for (Index j = 0; j < layout.n_records(); ++j) {
    r.trace_loss.push_back(pd * 1000.0 + j);
    for (Index k = 0; k < layout.n_conserved; ++k) {
      r.trace_conserved.push_back(pd * 1e4 + j * 10.0 + k);
    }
  }
  return r;
}

}  // namespace symsweep::testing
