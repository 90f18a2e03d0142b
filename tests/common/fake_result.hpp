// A synthetic PointResult whose every number encodes its point index, so that a value written to
// the wrong place shows (used by the store tests and the store benchmark).
#pragma once

#include "symsweep/simulate.hpp"

namespace symsweep::testing {

inline PointResult fake_result(std::uint64_t p, const SweepFields& fields) {
  const SweepFields::Core& c = fields.core();
  const Schema& schema = fields.schema();
  PointResult r;
  r.index = p;
  r.values = Record(schema);
  Record& v = r.values;
  const auto pd = static_cast<double>(p);
  v.set_code(c.status, static_cast<std::uint8_t>(Status::done));
  v.set_code(c.outcome, static_cast<std::uint8_t>(1 + p % 3));
  v.set_integer(c.steps_run, static_cast<std::int64_t>(p) * 10);
  v.set_integer(c.diverged_at, p % 3 == 1 ? static_cast<std::int64_t>(p) : -1);
  v.set(c.final_loss, pd + 0.25);
  v.set(c.grad_norm, -pd);
  v.set(c.sharpness, 1.0 / (1.0 + pd));
  const std::size_t nk = schema.find_dim("k")->coords.size();
  const std::size_t nrec = fields.record_steps().size();
  for (std::size_t k = 0; k < nk; ++k) v.set(c.conserved, pd * 100.0 + static_cast<double>(k), k);
  for (std::size_t j = 0; j < nrec; ++j) {
    v.set(c.trace_loss, pd * 1000.0 + static_cast<double>(j), j);
    for (std::size_t k = 0; k < nk; ++k) {
      v.set(c.trace_conserved, pd * 1e4 + static_cast<double>(j) * 10.0 + static_cast<double>(k),
            j * nk + k);
    }
  }
  v.set(c.seconds, 0.5);
  v.set_integer(c.rank, 0);
  return r;
}

}  // namespace symsweep::testing
