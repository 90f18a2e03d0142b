#include "collective.hpp"

#include <chrono>
#include <climits>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "symsweep/error.hpp"
#include "symsweep/sweep.hpp"
#include "watchdog.hpp"

namespace symsweep {

void agree(const std::string& what, MPI_Comm comm, const std::function<void()>& step) {
  WatchedStep watched(what);
  agree(comm, [&] {
    try {
      step();
    } catch (...) {
      watched.waiting();
      throw;
    }
    watched.waiting();
  });
}

void agree(MPI_Comm comm, const std::function<void()>& step, double patience_seconds) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  enum Kind : int { kNone = 0, kConfig = 1, kIo = 2, kOther = 3 };
  int kind = kNone;
  std::string message;
  try {
    step();
  } catch (const ConfigError& e) {
    kind = kConfig;
    message = e.what();
  } catch (const IoError& e) {
    kind = kIo;
    message = e.what();
  } catch (const std::exception& e) {
    kind = kOther;
    message = e.what();
  } catch (...) {  // whatever it was, the other ranks must learn of it, or they wait forever
    kind = kOther;
    message = "an exception that is not a std::exception";
  }
  const int mine = kind == kNone ? INT_MAX : rank;
  int lowest = INT_MAX;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Iallreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm, &request);
  if (kind == kNone) {
    MPI_Wait(&request, MPI_STATUS_IGNORE);
  } else {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(patience_seconds);
    int done = 0;
    while (MPI_Test(&request, &done, MPI_STATUS_IGNORE), done == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr,
                     "symsweep: rank %d: error: %s\nsymsweep: rank %d: the other ranks did not "
                     "learn of it within %.0f s (stuck in a collective call); stopping the job\n",
                     rank, message.c_str(), rank, patience_seconds);
        std::fflush(stderr);
        MPI_Abort(comm, kExitFailure);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (lowest == INT_MAX) return;
  int shared_kind = kind;
  MPI_Bcast(&shared_kind, 1, MPI_INT, lowest, comm);
  broadcast(message, comm, lowest);
  if (shared_kind == kConfig) throw ConfigError(message);
  const std::string where = ranks > 1 ? "rank " + std::to_string(lowest) + ": " : "";
  throw SharedError(where + message);
}

}  // namespace symsweep
