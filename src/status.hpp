// The live status of a run (private to the library): <output>.status.json, next to the result
// file and its lock, for scripts and dashboards that poll a running sweep.
//
// Rank 0's communication thread rewrites it from the values every rank agreed on (sweep.cpp), at
// most every `--status` seconds (default 10) and once at the end: a new file beside it, then
// rename(2) over it, so a reader sees the old status or the new one, never a part. Not every tick
// (200 ms): each rewrite is a create and a rename, which a parallel file system's metadata
// server pays for. A run killed by kill -9 leaves state "running" with a heartbeat that stops
// moving; `symsweep status` tells that apart from a live run (the heartbeat's age, and the
// output's lock, which the kernel drops when the run dies).
#pragma once

#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace symsweep {

struct RunStatus {
  std::string state;          ///< running, interrupted, complete, failed
  std::string file;           ///< the result file (its final path)
  std::string sweep;          ///< the sweep's name
  long long points = 0;       ///< points of the grid
  long long done = 0;         ///< finished (done or failed), the points done before included
  long long done_before = 0;  ///< done when this run began (resume)
  long long failed = 0;       ///< finished with status failed, this run
  std::vector<std::pair<std::string, long long>> outcomes;  ///< this run's finished points
  double rate = 0;                                          ///< points per second of this run
  double seconds_left = -1;                                 ///< estimate; -1 when unknown
  double elapsed = 0;                                       ///< seconds since this run started
  int ranks = 1;
  int threads = 1;  ///< worker threads per rank
  std::string hosts;
  std::string slurm_job;  ///< SLURM_JOB_ID (and array task), or ""
  std::string started_utc;
  std::string heartbeat_utc;
  std::time_t heartbeat = 0;  ///< the same, in seconds since the epoch
  double every = 10;          ///< the rewrite interval it promised, seconds
  long checkpoints = 0;
  std::string last_checkpoint_utc;     ///< "" before the first
  std::time_t checkpoint_started = 0;  ///< a checkpoint being written since then; 0: none
  double io_timeout = 600;             ///< --io-timeout: how long one of its steps may take
  std::string message;                 ///< state failed or interrupted: why
};

/// <output resolved as its lock is (lock.hpp)>.status.json.
std::string status_path(const std::string& output);
/// ISO 8601 UTC, seconds.
std::string utc_text(std::time_t t);
/// One JSON object (format "symsweep-status/1"), every field above.
std::string to_json(const RunStatus& status);
/// The inverse of to_json. Throws ConfigError naming `where` and what is wrong.
RunStatus parse_status(const std::string& json, const std::string& where);
/// Writes `status` to `path` atomically (a side file renamed over it). Throws IoError.
void write_status(const std::string& path, const RunStatus& status);

/// Whether the run that writes `output` is alive, as far as this host can tell: by the output's
/// lock when it was taken on this host (the kernel drops it when the process dies), else by the
/// heartbeat of `status` (nullptr: none read), stale beyond 3 intervals + 60 s (+ --io-timeout
/// while a checkpoint is being written).
struct Liveness {
  enum Kind { kAlive, kDead, kUnknown } kind = kUnknown;
  std::string why;  ///< a sentence saying how it was told
};
Liveness judge_liveness(const std::string& output, const RunStatus* status);

}  // namespace symsweep
