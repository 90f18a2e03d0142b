// Failures that every rank learns about together (private to the library).
//
// A step that runs on every rank (a collective HDF5 call, a check of the file system) may fail
// on some ranks only: a full disk shows to the rank whose write hit it. If that rank simply threw,
// the others would wait in the next collective call forever. agree() runs the step, then every
// rank learns whether it failed anywhere and, if so, throws the same exception (the lowest failing
// rank's) before any rank makes another collective call. A rank whose step failed waits a bounded
// time for the others; a rank that never arrives is stuck inside a collective call the failing
// rank left, and then the failing rank prints its error and ends the job with MPI_Abort (which
// stops every rank) rather than wait forever.
#pragma once

#include <functional>
#include <string>

#include <mpi.h>

namespace symsweep {

/// Runs `step` on this rank, then agrees with every rank of `comm` on whether it failed. When it
/// threw on any rank, throws on every rank ConfigError (when the lowest failing rank's was one)
/// or SharedError (anything else), with the lowest failing rank's message (prefixed with
/// "rank N: " for runtime failures on runs of several ranks). Collective.
void agree(MPI_Comm comm, const std::function<void()>& step, double patience_seconds = 20.0);
/// The same, for a step the watchdog (watchdog.hpp) names `what` when it does not return.
void agree(const std::string& what, MPI_Comm comm, const std::function<void()>& step);

}  // namespace symsweep
