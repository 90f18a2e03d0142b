#include "symsweep/schedule.hpp"

#include <atomic>
#include <exception>
#include <new>

#include <omp.h>

#include "symsweep/error.hpp"

namespace symsweep {

std::vector<std::uint64_t> static_points(std::uint64_t n_points, int rank, int ranks) {
  SYMSWEEP_VERIFY(ranks >= 1 && rank >= 0 && rank < ranks, "bad rank");
  std::vector<std::uint64_t> points;
  for (auto p = static_cast<std::uint64_t>(rank); p < n_points;
       p += static_cast<std::uint64_t>(ranks)) {
    points.push_back(p);
  }
  return points;
}

std::vector<PointResult> run_points(const Grid& grid, const SweepFields& fields,
                                    const std::vector<std::uint64_t>& points,
                                    const ProgressFn& progress) {
  std::vector<PointResult> results(points.size());
  // A point that throws leaves its exception here; nothing inside the parallel region may throw
  // past it (that would terminate the process), and building the failed point's Record may
  // itself need memory, so that happens after the region, on the calling thread.
  std::vector<std::exception_ptr> errors(points.size());
  std::atomic<std::size_t> finished{0};
  const auto n = static_cast<long long>(points.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (long long i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    try {
      results[k] = simulate_point(grid, fields, points[k]);
    } catch (...) {
      errors[k] = std::current_exception();
    }
    const std::size_t done = ++finished;
    if (progress && omp_get_thread_num() == 0) progress(done);
  }
  for (std::size_t k = 0; k < errors.size(); ++k) {
    if (errors[k]) results[k] = failed_point(fields, points[k], errors[k]);
  }
  return results;
}

PointResult failed_point(const SweepFields& fields, std::uint64_t index,
                         const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::bad_alloc&) {
    return failed_point(fields, index,
                        "out of memory while building or running the point (its data, model and "
                        "buffers did not fit)");
  } catch (const std::exception& e) {
    return failed_point(fields, index, e.what());
  } catch (...) {
    return failed_point(fields, index, "an exception that is not a std::exception");
  }
}

}  // namespace symsweep
