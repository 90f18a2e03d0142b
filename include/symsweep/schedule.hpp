// Which rank and which thread run which point.
//
// Static distribution: point p runs on rank p mod R (a sweep's `--schedule static`; its default,
// dynamic, hands chunks out on request: src/sweep.cpp). Inside a rank, threads take the rank's
// points one at a time (diverged points end early). run_points below runs points on OpenMP threads
// with no MPI at all; a sweep's run loop (src/sweep.cpp) runs them on worker threads while the
// thread that initialised MPI only communicates (the one thread of a rank that calls MPI and HDF5).
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <vector>

#include "symsweep/simulate.hpp"

namespace symsweep {

/// The points of `rank` out of `ranks` under static distribution: p = rank, rank + R, ...
std::vector<std::uint64_t> static_points(std::uint64_t n_points, int rank, int ranks);

/// Called on the master thread after it finishes a point: (points finished by this rank so far).
using ProgressFn = std::function<void(std::size_t done)>;

/// The failed point for `error`, thrown while point `index` was built or run: its reason is the
/// exception's message (or says it ran out of memory). Throws only if that itself fails.
PointResult failed_point(const SweepFields& fields, std::uint64_t index,
                         const std::exception_ptr& error);

/// Runs `points` on the OpenMP threads of this process; results come back in the order of
/// `points`, whatever thread ran each. A point that throws comes back with status failed.
std::vector<PointResult> run_points(const Grid& grid, const SweepFields& fields,
                                    const std::vector<std::uint64_t>& points,
                                    const ProgressFn& progress = {});

}  // namespace symsweep
