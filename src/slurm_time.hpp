// A point longer than what is left of a SLURM allocation (private to the library).
//
// A point is not checkpointed inside itself: a checkpoint writes finished points only, so a point
// still running when the job ends (SIGTERM, then SIGKILL) is computed again from its first step
// by the next run (README, "Running under SLURM"). Rank 0 warns once, in one line, when the
// longest point of the grid looks longer than the time left; the run goes on either way.
//
// The time left: SLURM_JOB_END_TIME (epoch seconds, set by SLURM in the job's environment), else
// `squeue -h -j $SLURM_JOB_ID -o %L`, else nothing is known and nothing is said. Both are read
// once, when the run starts.
// The estimate of the longest point: there is no timing before a run, so it is made once per
// rank, from whichever comes first there: a point whose SGD loop has run for kMeasureSeconds (its
// seconds per update so far x the grid's largest optimizer.steps), or a point that ran all of its
// own optimizer.steps (its wall seconds, set-up and measurements included, x the grid's largest
// optimizer.steps / its steps; a point that diverged or converged early is not used: a few
// updates' timing says little). Under MPI (sweep.cpp) rank 0 reads the time left and every rank
// checks its own points (under the dynamic schedule the longest point may run anywhere); the
// ranks agree at their next tick on the lowest rank holding a warning, which alone prints it, and
// then every rank's check is off: one line for the run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace symsweep {

class Grid;

/// Seconds in squeue's %L (time left): "[D-]HH:MM:SS", "MM:SS" or "SS"; nothing for
/// "UNLIMITED", "NOT_SET", "INVALID" or any other text.
std::optional<double> parse_slurm_time_left(std::string_view text);

/// What is left of this job's allocation, and where that was read: SLURM_JOB_END_TIME minus the
/// clock, else squeue's %L for SLURM_JOB_ID (bounded to 10 s), else nothing (not under SLURM,
/// no squeue, an unlimited job).
struct SlurmTimeLeft {
  double seconds = 0;
  std::string source;  ///< "SLURM_JOB_END_TIME" or "squeue"
};
std::optional<SlurmTimeLeft> slurm_time_left();

/// The one check of a run (rank 0): armed with the time left when the run starts; the first
/// point that ran all of its steps makes the estimate and, when it exceeds what is left then,
/// the warning. Thread-safe (the workers call observe); after the first such point, inert.
class LongPointCheck {
 public:
  /// `left`: slurm_time_left() when the run starts (nothing: the check is off); `max_steps`: the
  /// grid's largest optimizer.steps; `write`: the warning goes to standard error (else it is
  /// only returned).
  LongPointCheck(std::optional<SlurmTimeLeft> left, double max_steps, bool write = true);
  /// For a grid: its largest optimizer.steps, with `left` (off when nothing is left to know).
  LongPointCheck(const Grid& grid, std::optional<SlurmTimeLeft> left, bool write);

  bool armed() const { return armed_.load(std::memory_order_relaxed); }
  /// Off from now on (another rank's warning was printed). Thread-safe.
  void disarm();
  /// The warning this check decided on and has not written (write = false), once: "" after the
  /// first call, or when there is none. Thread-safe.
  std::string take_warning();
  bool has_warning();
  /// A finished point: its wall seconds, the steps it ran and its own optimizer.steps. Returns
  /// the warning ("" when none).
  std::string observe(double seconds, std::int64_t steps_run, std::int64_t steps);

  /// A point still in its SGD loop: `updates` made in `seconds` so far. Once `seconds` reaches
  /// kMeasureSeconds, makes the estimate (and the warning) as observe does. Thread-safe.
  std::string running(std::int64_t updates, double seconds);
  static constexpr double kMeasureSeconds = 1;

  /// The warning for an estimate of `estimate` seconds from a point of `seconds` s and `steps`
  /// steps, with `left` seconds left; "" when the estimate fits.
  std::string warning(double estimate, double seconds, std::int64_t steps, double left) const;

 private:
  /// The one decision: estimate from `seconds` for `steps` updates, scaled to the largest steps.
  std::string decide(double seconds, std::int64_t steps);

  std::atomic<bool> armed_{false};
  std::mutex mutex_;
  std::optional<SlurmTimeLeft> left_;
  double max_steps_ = 0;
  bool write_ = true;
  std::chrono::steady_clock::time_point start_;
  std::string warning_;  // decided and not written (write_ false), until taken
};

}  // namespace symsweep
