// The run loop of a whole sweep, as a library call: a validated SweepSpec -> the grid's points on
// this communicator's ranks (static: point p on rank p mod R) and each rank's OpenMP threads ->
// one result file. `symsweep run` is a thin driver around run_sweep; tests call it directly, with
// models of their own (register_model, model.hpp).
//
// Every function here is collective over `comm`: all ranks call it with the same arguments.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <mpi.h>

#include "symsweep/spec.hpp"

namespace symsweep {

/// How run_sweep writes and reports.
struct SweepOptions {
  /// Replace an existing output. The new run is written beside it as <output>.partial and renamed
  /// over it only once it completes with no failed point, so a failed run leaves the old file.
  bool overwrite = false;
  /// The command line recorded in the file's provenance.
  std::string command_line;
  /// Where rank 0 prints the resolved sweep, its progress (every 5 s on long runs) and the
  /// summary; nullptr prints nothing. Other ranks never print.
  std::ostream* log = nullptr;
};

/// What a sweep did, summed over all ranks (identical on every rank).
struct SweepSummary {
  std::string path;                        ///< the file written
  std::vector<std::string> outcome_names;  ///< the outcome field's members, by code
  std::vector<long long> outcome_counts;   ///< points per outcome code (failed points excluded)
  long long failed = 0;                    ///< points whose status is failed
  double seconds = 0;                      ///< wall time of run_sweep
  bool ok() const { return failed == 0; }
};

/// Runs every point of `spec` and writes spec.output() (or, when replacing a file, as described
/// at SweepOptions::overwrite). Throws ConfigError on every rank, before any file is created,
/// when the output cannot be written (its directory is missing or read-only, it is a directory,
/// or it exists without `overwrite`); IoError for failures of the file system or HDF5.
SweepSummary run_sweep(const SweepSpec& spec, MPI_Comm comm, const SweepOptions& options);

/// Runs `fn` on every rank. When it throws ConfigError on any rank, throws ConfigError on every
/// rank, with the message of the lowest such rank: ranks never part ways over bad input.
void collective_check(MPI_Comm comm, const std::function<void()>& fn);

/// Broadcasts a string from `root` to every rank of `comm`.
void broadcast(std::string& s, MPI_Comm comm, int root = 0);

}  // namespace symsweep
