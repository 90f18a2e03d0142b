// The result file: one HDF5 file per sweep, written by all ranks through MPI-IO.
//
// Format "symsweep/1" (README.md, "The result file", documents every field):
//
//   /                     attributes: format, symsweep_version, git_commit, created_utc,
//                         config_text (resolved INI), config_sha256, command_line, mpi_ranks,
//                         omp_threads, hosts, seed, name, model, n_points
//   /<key>, /axes/<key>   values of every swept parameter: a dimension scale at the root (where
//                         netCDF readers look), and a hard link to it under /axes
//   /k                    0 .. n_conserved-1, the scale of spectrum dimensions
//   /results/<field>      one dataset per summary field, shape = axis lengths (+ a trailing
//                         dimension for spectra): status, outcome, steps_run, diverged_at,
//                         final_loss, grad_norm, sharpness, C_final
//   /traces/step          steps at which traces were recorded (a dimension scale)
//   /traces/<quantity>    shape = axis lengths + (n_records[, n_conserved]): loss, C
//   /run/seconds, /run/rank  wall time and rank of every point (placement; not part of the
//                         determinism guarantee)
//
// Parallel HDF5 decides the shape of this code: every structural call is collective with
// identical arguments, so all datasets are created at full size when the file is created (fill
// values: status pending, NaN, -1). After that only raw data changes. write() is collective:
// every rank passes its own finished points (possibly none); they are packed into records and
// routed (MPI_Alltoallv) to the rank that owns their contiguous block of flat indices, so each
// rank writes a few large hyperslabs whatever the distribution of the computation; the data
// fields are written with collective MPI-IO, the file is flushed, then the points' status is
// written and flushed, so a point reads `done` only once its data is on disk.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <mpi.h>

#include "symsweep/grid.hpp"
#include "symsweep/simulate.hpp"

namespace symsweep {

/// Provenance recorded in the root attributes. Identical on every rank.
struct Provenance {
  std::string command_line;
  std::string hosts;        ///< comma-separated host names of the ranks
  std::string created_utc;  ///< ISO 8601
  int mpi_ranks = 1;
  int omp_threads = 1;
};

/// The file format this build writes.
inline constexpr const char* kFormat = "symsweep/1";

/// How the file is written. The defaults are the measured choice (tests/bench/bench_store.cpp).
struct StoreOptions {
  /// true: create with H5F_ACC_TRUNC; false: the file must not exist (H5F_ACC_EXCL).
  bool truncate = false;
  /// Raw-data transfers through collective MPI-IO (false: independent).
  bool collective = true;
  /// Store /traces chunked, one chunk per point (false: contiguous, like /results).
  bool chunk_traces = false;
};

class ResultStore {
 public:
  /// Creates `path` collectively over `comm` (every rank, identical arguments).
  static ResultStore create(const std::string& path, MPI_Comm comm, const Grid& grid,
                            const SweepLayout& layout, const Provenance& provenance,
                            const StoreOptions& options = {});

  ResultStore(ResultStore&&) noexcept;
  ResultStore& operator=(ResultStore&&) noexcept;
  ~ResultStore();

  /// Writes this rank's finished points (any subset of the grid, possibly empty). Collective.
  /// `rank` is recorded in /run/rank.
  void write(const std::vector<PointResult>& points, int rank);
  /// Closes the file collectively; throws IoError if HDF5 reports an error.
  void close();

  /// Raw-data writes so far, and how many of them MPI-IO did not perform collectively (as
  /// H5Pget_mpio_actual_io_mode reports): the test of the collective-I/O design.
  struct IoStats {
    long writes = 0;
    long not_collective = 0;
  };
  IoStats io_stats() const;

 private:
  struct Impl;
  explicit ResultStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// A human-readable summary of a result file (provenance, axes, status and outcome counts),
/// as printed by `symsweep inspect`. Opens the file read-only, serially.
std::string describe_file(const std::string& path);

}  // namespace symsweep
