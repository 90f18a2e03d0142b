#include "watchdog.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "symsweep/error.hpp"

namespace symsweep {

namespace {

struct Step {
  std::string what;
  std::chrono::steady_clock::time_point since;
  bool waiting = false;
};

struct State {
  std::mutex mutex;
  std::condition_variable stop;
  std::vector<Step> steps;  // innermost last
  bool running = false;
  bool stopping = false;
  double bound = 0;
  double longest = 0;
  int rank = 0;
  std::thread thread;
};

State& state() {
  static State s;
  return s;
}

void watch() {
  State& s = state();
  std::unique_lock<std::mutex> lock(s.mutex);
  while (!s.stopping) {
    s.stop.wait_for(lock, std::chrono::milliseconds(200));
    if (s.stopping || s.steps.empty()) continue;
    const Step& step = s.steps.back();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - step.since).count();
    if (seconds < s.bound) continue;
    std::fprintf(stderr,
                 "symsweep: rank %d: error: the collective I/O step '%s' has not returned after "
                 "%.0f s (%s; --io-timeout %g): stopping the job. Every point of the checkpoints "
                 "before it is saved; continue with symsweep resume\n",
                 s.rank, step.what.c_str(), seconds,
                 step.waiting ? "this rank's part is done, it waits for the other ranks"
                              : "this rank is inside it",
                 s.bound);
    std::fflush(stderr);
    std::_Exit(kExitFailure);  // no unwinding: the other threads may hold HDF5 or MPI
  }
}

}  // namespace

WatchedStep::WatchedStep(std::string what) {
  State& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  s.steps.push_back({std::move(what), std::chrono::steady_clock::now(), false});
}

WatchedStep::~WatchedStep() {
  State& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (s.steps.empty()) return;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - s.steps.back().since)
          .count();
  s.longest = std::max(s.longest, seconds);
  s.steps.pop_back();
}

double longest_watched_step() {
  State& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  return s.longest;
}

void WatchedStep::waiting() {
  State& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.steps.empty()) s.steps.back().waiting = true;
}

Watchdog::Watchdog(double bound_seconds, int rank) {
  State& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (bound_seconds <= 0 || s.running) return;
  s.bound = bound_seconds;
  s.longest = 0;
  s.rank = rank;
  s.stopping = false;
  s.running = true;
  s.thread = std::thread(watch);
  owner_ = true;
}

Watchdog::~Watchdog() {
  if (!owner_) return;
  State& s = state();
  {
    const std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.running) return;
    s.stopping = true;
  }
  s.stop.notify_all();
  s.thread.join();
  const std::lock_guard<std::mutex> lock(s.mutex);
  s.running = false;
}

}  // namespace symsweep
