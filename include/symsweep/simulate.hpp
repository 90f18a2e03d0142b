// One grid point, from its parameters to its PointResult: build the model and data from the point's
// own random streams, run SGD, classify the outcome, and measure the final state.
//
// Per point (SCIENCE.md Sec. 4, the parts built so far):
//   steps_run    updates applied;
//   outcome      converged (full-batch gradient norm <= optimizer.tol), diverged (|theta| above
//                optimizer.divergence_bound or a non-finite loss; diverged_at = the update after
//                which that was seen), or moving (neither, within optimizer.steps);
//   final_loss, grad_norm, sharpness (lambda_max of the full-batch Hessian of L, weight decay not
//                included), C_final (the conserved spectrum) — NaN for diverged points;
//   traces       full-batch loss and conserved spectrum at steps 0, k, 2k, ... (record.every = k),
//                NaN after the run stopped.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "symsweep/grid.hpp"
#include "symsweep/types.hpp"

namespace symsweep {

/// Whether a point's results are in the file. Written last, after the data (crash consistency).
enum class Status : std::uint8_t { pending = 0, done = 1, failed = 2 };
/// What the run did.
enum class Outcome : std::uint8_t { unknown = 0, converged = 1, diverged = 2, moving = 3 };

const char* to_string(Status s);
const char* to_string(Outcome o);

/// Shapes shared by every point of a sweep (per-point arrays are padded to these with NaN).
struct SweepLayout {
  Index n_conserved = 0;                   ///< longest conserved spectrum over the grid
  std::vector<std::int64_t> record_steps;  ///< steps at which traces are recorded (may be empty)
  Index n_records() const { return static_cast<Index>(record_steps.size()); }
};

/// The layout of a grid: record steps 0, k, ... up to the largest optimizer.steps on the grid.
SweepLayout make_layout(const Grid& grid);

struct PointResult {
  std::uint64_t index = 0;
  Status status = Status::pending;
  Outcome outcome = Outcome::unknown;
  std::int64_t steps_run = -1;
  /// k when theta_k (after k updates) was the first state found diverged: |theta_k| above the
  /// bound, or a non-finite batch loss at theta_k; -1: did not diverge.
  std::int64_t diverged_at = -1;
  double final_loss = std::numeric_limits<double>::quiet_NaN();
  double grad_norm = std::numeric_limits<double>::quiet_NaN();
  double sharpness = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> conserved;        ///< n_conserved
  std::vector<double> trace_loss;       ///< n_records
  std::vector<double> trace_conserved;  ///< n_records x n_conserved, row-major
  double seconds = 0;                   ///< wall time of the point
  std::string error;                    ///< why, when status == failed
};

/// Runs point `index` of the grid: PointRun's three phases in one call. Never throws for
/// numerical trouble (that is an outcome); throws Error only for broken invariants.
PointResult simulate_point(const Grid& grid, const SweepLayout& layout, std::uint64_t index);

/// One point's run in three phases: set-up (the constructor: model, data, streams, every buffer),
/// the SGD loop (advance: allocation-free, resumable in slices), and the final measurements
/// (finish: Hessian, spectrum).
class PointRun {
 public:
  PointRun(const Grid& grid, const SweepLayout& layout, std::uint64_t index);
  ~PointRun();
  PointRun(const PointRun&) = delete;
  PointRun& operator=(const PointRun&) = delete;

  /// Runs at most `max_updates` more SGD updates, recording traces and checking convergence and
  /// divergence on the way. Returns true once the run has ended (steps reached, converged or
  /// diverged). Allocates nothing.
  bool advance(std::int64_t max_updates);
  /// The final state's measurements. Call once, after advance returned true.
  PointResult finish();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace symsweep
