// The last hang closed (private to the library): a rank stuck inside a collective I/O step.
//
// agree() (collective.hpp) makes a failure on one rank reach every rank; it cannot help when no
// rank returns from the collective call (seen once with ENOSPC inside H5Fflush: every rank inside
// HDF5, waiting for the others). Each rank's watchdog thread watches the step its communication
// thread is in (every agree() is one), and when one has not returned within the bound
// (--io-timeout, default 600 s) prints which step on which rank and ends the process with exit
// status 1; mpirun (or srun) then stops the other ranks. What earlier checkpoints wrote stays
// valid, as after kill -9: the file's metadata is final at creation and a point's status is
// written after its data.
#pragma once

#include <string>

namespace symsweep {

/// While alive, the watchdog of this process watches `what`: the innermost step alive is the one
/// timed. Cheap (a mutex and a clock read); does nothing when no watchdog runs.
class WatchedStep {
 public:
  explicit WatchedStep(std::string what);
  ~WatchedStep();
  /// This rank's part of the step is done; it now waits for the other ranks.
  void waiting();
  WatchedStep(const WatchedStep&) = delete;
  WatchedStep& operator=(const WatchedStep&) = delete;
};

/// The longest a watched step of this process took so far, seconds (the time: line prints it, so
/// that a user can see how far a run stays from --io-timeout).
double longest_watched_step();

/// While alive, a thread that checks the watched step every 0.2 s; `bound_seconds` <= 0: none.
class Watchdog {
 public:
  Watchdog(double bound_seconds, int rank);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  bool owner_ = false;  // this one started the thread (one per process)
};

}  // namespace symsweep
