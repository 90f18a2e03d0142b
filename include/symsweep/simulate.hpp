// One grid point, from its parameters to its values of the sweep's fields: build the model and
// data from the point's own random streams, run SGD, classify the outcome, and measure the final
// state.
//
// The core run's fields (declared in simulate.cpp, beside the code that fills them; README,
// The science §4):
//   /results/status       pending, done, failed (the store writes it last: crash consistency)
//   /results/outcome      converged (full-batch gradient norm <= optimizer.tol), diverged (|theta|
//                         above optimizer.divergence_bound or a non-finite loss), or moving
//                         (neither, within optimizer.steps)
//   /results/steps_run, diverged_at (the update after which divergence was seen; -1: none)
//   /results/final_loss, grad_norm, sharpness (lambda_max of the full-batch Hessian of L, weight
//                         decay not included), C_final (the conserved spectrum) — NaN if diverged
//   /traces/loss, C       full-batch loss and conserved spectrum at steps 0, k, 2k, ...
//                         (record.every = k), NaN after the run stopped
//   /run/seconds, rank    wall time and MPI rank of the point (not deterministic)
//   /results/x_star, lambda_max, eta_gd, K, amplitude_predicted, basin_radius_predicted,
//                         centre_shift_predicted, stability_note: the checks at the reference
//                         minimum (stability.hpp); period, amplitude (along v), orbit, lyapunov:
//                         the end of a deterministic run. Vectors along "coord": the first 8
//                         coordinates, or (d > 8) the projection on v in coord 0.
//   /results/eta_ms, eta_worst_batch, sgd_note: the SGD checks at x* (sgd_stability.hpp);
//   /traces/dist_to_min   |theta_t - x*| where x* is known before the run (given, or Newton's
//                         method from the start), for a Monte-Carlo over a seed axis;
//   /traces/exact_mean_dist, exact_mean_sq_dist, exact_p_beyond: the exact expectation over
//                         every batch sequence, steps <= stability.exact_steps (declared only
//                         when that is > 0).
// Which diagnostics a point measures, at the end and on the trace records, is record.diagnostics
// (spec.hpp's Diagnostics): those not asked for are neither computed nor declared. Online, the
// gradient-noise set of a measurement at step t is drawn from substream t of the `noise` stream
// (rng.hpp), so turning one measurement on or off moves no other stored number.
//   /results/theta_norm, hessian_trace, grad_noise (per "layer"), noether_flow (Tr[A_k Sigma]
//                         per "generator", the model's symmetry generators A_k, where no model of
//                         the grid has more than 64), noether_flow_trace and noether_flow_spectrum
//                         (per "symmetry" block b of generators, the trace and eigenvalues of its
//                         flow matrix F_b, model.hpp's ModelShape): the end, and the same on the
//                         trace schedule with /traces/sharpness (lambda_max, d <= 64).
//                         Sigma is the per-sample gradient covariance over the dataset, or online
//                         over record.noise_batch fresh samples (stream purpose noise).
// then the model's own fields (model.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "symsweep/grid.hpp"
#include "symsweep/schema.hpp"
#include "symsweep/spec.hpp"
#include "symsweep/types.hpp"

namespace symsweep {

/// Whether a point's results are in the file. Written last, after the data (crash consistency).
enum class Status : std::uint8_t { pending = 0, done = 1, failed = 2 };
/// What the run did.
/// What the run did. periodic and aperiodic are decided for deterministic runs (full-batch GD)
/// only (stability.hpp); a stochastic run that neither converged nor diverged is moving.
enum class Outcome : std::uint8_t {
  unknown = 0,
  converged = 1,
  diverged = 2,
  moving = 3,
  periodic = 4,
  aperiodic = 5,
};

const char* to_string(Status s);
const char* to_string(Outcome o);

/// The fields of one sweep: the core run's, then the model's, and the record schedule. Records
/// refer to its schema: it must outlive them (hence neither copied nor moved).
class SweepFields {
 public:
  /// Declares every field of `grid`'s sweep. Throws Error for a broken declaration.
  explicit SweepFields(const Grid& grid);
  SweepFields(const SweepFields&) = delete;
  SweepFields& operator=(const SweepFields&) = delete;

  const Schema& schema() const { return schema_; }
  /// Steps at which traces are recorded: 0, k, 2k, ... up to the largest optimizer.steps of the
  /// grid (record.every = k); empty without traces.
  const std::vector<std::int64_t>& record_steps() const { return record_steps_; }

  /// What record.diagnostics asks the points to measure.
  const Diagnostics& diagnostics() const { return diagnostics_; }

  /// Ids of the core run's fields. The diagnostics' fields (record.diagnostics) are -1 when not
  /// measured: they are then not in the schema.
  struct Core {
    FieldId status, outcome, steps_run, diverged_at, final_loss, grad_norm;
    FieldId sharpness = -1, conserved = -1;
    FieldId trace_loss = -1, trace_conserved = -1;
    FieldId seconds, rank;
    // The stability checks at x* and the orbit of a periodic run (stability.hpp).
    FieldId x_star, lambda_max, eta_gd, K, amplitude_predicted, basin_radius_predicted,
        centre_shift, note;
    // The SGD checks at x* (sgd_stability.hpp); the exact_* traces are -1 (absent) unless
    // stability.exact_steps > 0.
    FieldId eta_ms, eta_worst_batch, sgd_note;
    FieldId trace_dist_to_min = -1, trace_exact_mean_dist = -1, trace_exact_mean_sq_dist = -1,
            trace_exact_p_beyond = -1;
    FieldId period, amplitude, orbit, lyapunov;
    // Symmetry and noise diagnostics, at the end and on the trace schedule.
    FieldId theta_norm = -1, hessian_trace = -1, grad_noise = -1, noether_flow = -1,
            noether_flow_trace = -1, noether_flow_spectrum = -1;
    FieldId trace_theta_norm = -1, trace_hessian_trace = -1, trace_sharpness = -1,
            trace_grad_noise = -1, trace_noether_flow = -1, trace_noether_flow_trace = -1,
            trace_noether_flow_spectrum = -1;
  };
  const Core& core() const { return core_; }

  /// stream_key(params) of point `index` of the grid the fields were declared for (`params`:
  /// grid.params(index)), computed once per combination of the values of the axes whose keys
  /// enter the random streams (one for a sweep over seeds alone) and then remembered, up to
  /// 2^16 combinations (beyond them every point computes its own). Thread-safe.
  std::uint64_t stream_key(std::uint64_t index, const ParamSet& params) const;

  ~SweepFields();

 private:
  class StreamKeys;
  std::unique_ptr<StreamKeys> keys_;
  Schema schema_;
  std::vector<std::int64_t> record_steps_;
  Diagnostics diagnostics_;
  Core core_{};
};

/// One point's values of every field of the sweep.
struct PointResult {
  std::uint64_t index = 0;
  Record values;
  std::string error;  ///< why, when the status is failed
};

/// A point that raised an error: status failed, every other field at its fill value.
PointResult failed_point(const SweepFields& fields, std::uint64_t index, std::string error);

/// Runs point `index` of the grid: PointRun's three phases in one call. Never throws for
/// numerical trouble (overflow and NaN end the run as `diverged`); throws Error only for broken
/// invariants. The floating-point environment is restored afterwards, whatever the point did.
PointResult simulate_point(const Grid& grid, const SweepFields& fields, std::uint64_t index);

/// As above, in slices of SGD updates: between slices it calls `keep_going`, and as soon as that
/// returns false it abandons the point and returns false (`out` untouched). Returns true with the
/// point's result in `out` otherwise. The slicing changes no number. `sliced`, when given, is
/// called between slices too, with the updates made so far and the wall seconds they took.
bool simulate_point(const Grid& grid, const SweepFields& fields, std::uint64_t index,
                    const std::function<bool()>& keep_going, PointResult& out,
                    const std::function<void(std::int64_t, double)>& sliced = {});

/// An upper bound of the bytes one point with these parameters holds at its peak, on the thread
/// that runs it (the run's memory bound, sweep.hpp): the model's footprint (ModelInfo::footprint)
/// plus what the run holds around it -- the data set and batches, theta and the optimizer's
/// vectors, the per-sample gradient chunk, the trace records' dense Hessian (d <= 64), the window
/// of iterates of a deterministic run (d <= 4096, three copies: the ring, its ordered copy and
/// the period search's), the end-of-run Hessian (dense: ~5 d^2 doubles for d <= 4096, the matrix
/// and its eigensolver; else a Lanczos basis of kLanczosVectors vectors of d), one result record
/// and `record_bytes` -- times 1.25 for the allocator, plus 1 MiB. Negative when the model has no
/// footprint.
double point_memory_bound(const ParamSet& params, std::size_t record_bytes);

/// One point's run in three phases: set-up (the constructor: model, data, streams, every buffer),
/// the SGD loop (advance: allocation-free, resumable in slices), and the final measurements
/// (finish: Hessian, spectrum).
class PointRun {
 public:
  PointRun(const Grid& grid, const SweepFields& fields, std::uint64_t index);
  ~PointRun();
  PointRun(const PointRun&) = delete;
  PointRun& operator=(const PointRun&) = delete;

  /// Runs at most `max_updates` more SGD updates, recording traces and checking convergence and
  /// divergence on the way. Returns true once the run has ended (steps reached, converged or
  /// diverged). Allocates nothing.
  bool advance(std::int64_t max_updates);
  /// The final state's measurements. Call once, after advance returned true.
  PointResult finish();
  /// Bytes held for classifying a deterministic run's end (stability.hpp's EndWatch: at most
  /// 1 MiB + 24 d); 0 for a stochastic run, which has none.
  std::size_t classification_bytes() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace symsweep
