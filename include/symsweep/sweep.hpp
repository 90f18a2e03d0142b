// The run loop of a whole sweep, as a library call: a validated SweepSpec -> the grid's points on
// this communicator's ranks (SweepOptions::schedule: chunks handed out on request, or point p on
// rank p mod R) and each rank's OpenMP threads -> one result file, written at checkpoints.
// `symsweep run` is a thin driver around run_sweep; tests call it directly, with models of their
// own (register_model, model.hpp).
//
// Every function here is collective over `comm`: all ranks call it with the same arguments.
// run_sweep and resume_sweep must be called from the thread that initialised MPI (FUNNELED): that
// thread makes every MPI and HDF5 call and computes no point; OMP_NUM_THREADS worker threads of
// its own compute them (src/sweep.cpp, its header comment, describes the protocol).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include <mpi.h>

#include "symsweep/spec.hpp"

namespace symsweep {

/// How the points are shared among the ranks (the results are the same bits either way).
enum class Schedule {
  /// Rank 0's communication thread hands out chunks of points on request, sized by the measured
  /// cost per point (src/chunking.hpp): no rank idles while another has a queue.
  dynamic,
  /// Point p on rank p mod R (a resume: the k-th point not done on rank k mod R).
  static_,
};

/// How run_sweep and resume_sweep write and report.
struct SweepOptions {
  /// How the ranks share the points.
  Schedule schedule = Schedule::dynamic;
  /// Replace an existing output. The new run is written beside it as <output>.partial and renamed
  /// over it only once it completes with no failed point, so a failed or interrupted run leaves
  /// the old file (and the .partial can be resumed: resume_sweep).
  bool overwrite = false;
  /// The command line recorded in the file's provenance.
  std::string command_line;
  /// resume_sweep: resume a file whose build signature (version.hpp) differs from this build's
  /// (refused otherwise); the change is recorded in the file's runs list.
  bool allow_build_change = false;
  /// Where rank 0 prints the resolved sweep, its progress (every 5 s on long runs) and the
  /// summary; nullptr prints nothing. Other ranks never print.
  std::ostream* log = nullptr;
  /// Every this many seconds (and at the end, and when interrupted) each rank's finished points
  /// go into the file and leave memory.
  double checkpoint_seconds = 60;
  /// A rank holding more finished points than this (bytes) checkpoints early: memory per rank is
  /// bounded by the work between checkpoints, never by the grid.
  std::size_t max_held_bytes = std::size_t{128} << 20;
  /// Rank 0 rewrites <output>.status.json (state, points done, outcomes, rate, heartbeat) at most
  /// this often, and at the end; 0: no status file.
  double status_seconds = 10;
  /// A collective I/O step (creating, opening, a checkpoint's write or flush, closing the file)
  /// that has not returned after this many seconds ends the job with exit status 1, naming the
  /// step and the rank (watchdog.hpp); 0: never.
  double io_timeout_seconds = 600;
  /// The progress is one line updated in place (a terminal) rather than a line every 5 s (a log).
  bool progress_in_place = false;
  /// Text attributes (name, value) that run_sweep adds to the root of the file it creates, beside
  /// the provenance, e.g. `symsweep replicate`'s replicate_of (StoreOptions::root_attributes).
  std::vector<std::pair<std::string, std::string>> root_attributes;
  /// run_sweep: compute only part shard_index (0-based) of shard_count contiguous parts of the
  /// grid (shard_range, store.hpp) into its own file, shard_output(spec.output(), ...), of format
  /// kShardFormat; 0: the whole grid. `symsweep merge` joins the parts.
  std::uint64_t shard_index = 0, shard_count = 0;
};

/// The file of part `index` of `count` of a sweep whose output is `output`: "out.h5" ->
/// "out.shard-<index>-of-<count>.h5" (a name without ".h5" gets the suffix appended).
std::string shard_output(const std::string& output, std::uint64_t index, std::uint64_t count);

/// What a sweep did, summed over all ranks (identical on every rank).
struct SweepSummary {
  std::string path;                        ///< the file written
  std::vector<std::string> outcome_names;  ///< the outcome field's members, by code
  std::vector<long long> outcome_counts;   ///< points this run finished, per outcome code
  long long failed = 0;                    ///< points this run finished with status failed
  long long points = 0;                    ///< points of the grid
  long long done_before = 0;               ///< points already done when it began (resume)
  long long pending = 0;                   ///< points not done when it ended
  long checkpoints = 0;                    ///< checkpoints written
  int signal = 0;                          ///< the signal that interrupted it; 0: none
  double seconds = 0;                      ///< wall time
  double hdf5_seconds = 0;   ///< in the result file's calls (IoStats), the slowest rank's
  double point_seconds = 0;  ///< inside points (their /run/seconds), summed over ranks
  bool interrupted() const { return signal != 0; }
  bool ok() const { return failed == 0 && !interrupted(); }
};

/// Runs every point of `spec` and writes spec.output() (or, when replacing a file, as described
/// at SweepOptions::overwrite; with SweepOptions::shard_count, only its part, into
/// shard_output(spec.output(), ...): ConfigError when the part is not one of the grid). A fresh
/// output is created under <output>.creating and appears at its path once it is a valid result file
/// (every point pending); from then on a kill at any moment leaves a file whose done points are
/// final, and resume_sweep finishes it. Throws ConfigError on every rank, before any file is
/// created, when the output cannot be written (its directory is missing or read-only, it is a
/// directory, it exists without `overwrite`, another run holds it, or its file system has no room
/// for it); IoError for failures of the file system or HDF5, on every rank alike. A signal
/// (install_signal_handlers) stops it with a checkpoint: the points in progress are cancelled (they
/// stay pending, never failed) and the summary is interrupted(). A worker's failure that is not a
/// point's (a failed point that cannot be recorded) stops every rank after a checkpoint and throws
/// SharedError on every rank.
SweepSummary run_sweep(const SweepSpec& spec, MPI_Comm comm, const SweepOptions& options);

/// Finishes the result file `file`: runs the points whose status is not done, with the config
/// stored in the file, and gives the same /results and /traces as an uninterrupted run, whatever
/// the rank counts of each part. When <file>.partial exists (an unfinished --overwrite run), that
/// is the run resumed, and it replaces `file` once complete; `file` may also name the .partial.
/// Throws ConfigError on every rank when the file is not a symsweep file, was computed with
/// another numerics version or (unless options.allow_build_change) by a build of another
/// signature (build_signature(), naming the difference; a compiler version alone is warned
/// about on stderr, not refused), or `given` (a config named beside it; may be null) resolves to
/// another config, naming the first difference; or when another run holds the output.
SweepSummary resume_sweep(const std::string& file, const SweepSpec* given, MPI_Comm comm,
                          const SweepOptions& options);

/// What run_sweep would do, without doing it: the points (a shard's part), the file's size, the
/// memory each rank holds, and the free space where the file goes. Not collective. Throws
/// ConfigError for a shard that is not a part of the grid, as run_sweep would.
std::string describe_plan(const SweepSpec& spec, int ranks, const SweepOptions& options);

/// Makes SIGTERM, SIGINT and SIGUSR1 interrupt a running sweep (stop, checkpoint, close, return
/// an interrupted summary) instead of killing the process. Call once, before run_sweep.
void install_signal_handlers();
/// The interrupting signal received so far (0: none).
int pending_signal();
/// Interrupts the sweep running in this process as if `signal` had arrived (tests).
void request_interrupt(int signal);

/// Runs `fn` on every rank. When it throws on any rank, throws on every rank, with the message of
/// the lowest such rank: ConfigError when that was one, SharedError otherwise. Ranks never part
/// ways over bad input or a failed check.
void collective_check(MPI_Comm comm, const std::function<void()>& fn);

/// Broadcasts a string from `root` to every rank of `comm`.
void broadcast(std::string& s, MPI_Comm comm, int root = 0);

}  // namespace symsweep
