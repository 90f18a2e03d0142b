// Fault injection into the run loop (src/sweep.cpp): in each trial one point fails at a moment
// drawn for that trial (while it is built, at a given SGD step, or in its final measurements),
// in one of four ways: it throws a std::exception or an exception of no std type (the point is
// failed, the run goes on), the failed point cannot be recorded (SYMSWEEP_INJECT_FAULT=record:R:
// a worker's failure, which stops every rank), or a signal reaches its rank only. No trial may
// hang (a watchdog ends the job when one takes longer than kTrialSeconds), every trial ends as
// its fault says, and its file, resumed, is the uninterrupted run's: the files are left as
// OUT_tNN.h5 beside OUT_reference.h5 for compare_results.py (a CTest of its own). The trials
// alternate between the dynamic and the static schedule (runs and resumes), and the reference is
// the dynamic schedule's.
//   mpiexec -np N symsweep_mpi_faults_test OUT   (SYMSWEEP_FAULT_TRIALS, SYMSWEEP_FAULT_SEED)
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "../common/delay_model.hpp"
#include "../common/mpi_gtest_main.hpp"
#include "symsweep/error.hpp"
#include "symsweep/sweep.hpp"

namespace symsweep {
namespace {

std::string g_out;  // from the command line: the prefix of the files

// 8 points of 60 steps of about 1 ms and 50 ms of final measurements; the failing point waits
// up to 0.3 s before it fails: faults land before, between and during agreements, on workers of
// every rank, while other ranks are inside the agreement or busy.
const char* const kIni = R"(
[sweep]
name = faults
[model]
name = delay
step_seconds = 0.001
finish_seconds = 0.02
[data]
n = 4
[optimizer]
eta = 0.1
batch = 2
steps = 40
tol = 0
[record]
every = 20
[axes]
sweep.seed = range(0, 8)
)";
constexpr long long kPoints = 8, kSteps = 40;
// A trial takes well under 1 s in a release build, a few seconds under the sanitizers (-O1); on a
// loaded machine Open MPI's ranks, which yield while they wait, can be starved for tens of seconds
// (seen: the reference run past 30 s while two compilers held both cores). 120 s is a hang.
constexpr double kTrialSeconds = 120;

/// Ends the job (every rank: mpiexec stops the others) when a trial outlives its deadline.
class Watchdog {
 public:
  Watchdog() : thread_([this] { watch(); }) {}
  ~Watchdog() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void arm(const std::string& what) {
    const std::lock_guard<std::mutex> lock(mutex_);
    what_ = what;
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(kTrialSeconds));
    armed_ = true;
    cv_.notify_all();
  }
  void disarm() {
    const std::lock_guard<std::mutex> lock(mutex_);
    armed_ = false;
  }

 private:
  void watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!quit_) {
      if (armed_ && std::chrono::steady_clock::now() > deadline_) {
        std::fprintf(stderr, "HANG: %s did not end within %.0f s\n", what_.c_str(), kTrialSeconds);
        std::fflush(stderr);
        std::_Exit(124);
      }
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  bool armed_ = false, quit_ = false;
  std::string what_;
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

const char* moment_name(testing::FaultPlan::Moment m) {
  switch (m) {
    case testing::FaultPlan::Moment::build:
      return "build";
    case testing::FaultPlan::Moment::step:
      return "step";
    case testing::FaultPlan::Moment::finish:
      return "finish";
  }
  return "?";
}

TEST(MpiFaults, AnExceptionOfNoStdTypeOnOneRankReachesEveryRank) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  Watchdog watchdog;
  watchdog.arm("collective_check of a foreign exception");
  std::string message;
  try {
    collective_check(MPI_COMM_WORLD, [&] {
      if (rank == ranks - 1) throw 7;
    });
  } catch (const SharedError& e) {
    message = e.what();
  }
  watchdog.disarm();
  EXPECT_NE(message.find("an exception that is not a std::exception"), std::string::npos)
      << "rank " << rank << ": '" << message << "'";
}

TEST(MpiFaults, WorkersFailingAtRandomMomentsNeverHangAndTheirFilesResumeToTheReference) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const char* trials_env = std::getenv("SYMSWEEP_FAULT_TRIALS");
  const char* seed_env = std::getenv("SYMSWEEP_FAULT_SEED");
  const int trials = trials_env ? std::atoi(trials_env) : 50;
  const unsigned long long seed = seed_env ? std::strtoull(seed_env, nullptr, 10) : 20261129ULL;
  Watchdog watchdog;
  const auto t0 = std::chrono::steady_clock::now();

  SweepOptions options;
  options.overwrite = true;
  options.checkpoint_seconds = 0.3;  // checkpoints inside the runs too
  watchdog.arm("the reference run");
  const SweepSummary ref = run_sweep(parse_spec(kIni, {"sweep.output=" + g_out + "_reference.h5"}),
                                     MPI_COMM_WORLD, options);
  watchdog.disarm();
  ASSERT_TRUE(ref.ok());

  int counts[4] = {0, 0, 0, 0};  // per action: error, foreign, unrecordable, signal
  int moments[3] = {0, 0, 0};
  for (int trial = 0; trial < trials; ++trial) {
    // The same draw on every rank (the plan is process-global; only the failing point's rank
    // acts on it).
    std::mt19937_64 rng(seed + static_cast<unsigned long long>(trial));
    testing::FaultPlan plan;
    plan.seed = static_cast<long long>(rng() % kPoints);
    plan.moment = static_cast<testing::FaultPlan::Moment>(rng() % 3);
    plan.step = static_cast<long long>(rng() % kSteps);
    plan.wait = static_cast<double>(rng() % 250) * 1e-3;  // fail at any time of the run
    const int action = static_cast<int>(rng() % 4);
    plan.action = action == 3   ? testing::FaultPlan::Action::signal
                  : action == 1 ? testing::FaultPlan::Action::foreign
                                : testing::FaultPlan::Action::error;
    ++counts[action];
    ++moments[static_cast<int>(plan.moment)];
    // The static schedule deals point p to rank p mod R (sweep.seed = p here); under the dynamic
    // one any rank may run it, so every rank arms the fault on itself.
    options.schedule = trial % 2 == 0 ? Schedule::dynamic : Schedule::static_;
    const int owner =
        options.schedule == Schedule::static_ ? static_cast<int>(plan.seed % ranks) : rank;
    if (action == 2)
      setenv("SYMSWEEP_INJECT_FAULT", ("record:" + std::to_string(owner)).c_str(), 1);
    testing::fault_plan() = plan;
    char name[32];
    std::snprintf(name, sizeof name, "_t%02d.h5", trial);
    const std::string out = g_out + name;
    const std::string what = "trial " + std::to_string(trial) + " (point " +
                             std::to_string(plan.seed) + ", " + moment_name(plan.moment) +
                             ", action " + std::to_string(action) + ", " +
                             (options.schedule == Schedule::static_ ? "static" : "dynamic") + ")";
    const SweepSpec spec = parse_spec(kIni, {"sweep.output=" + out});

    watchdog.arm(what);
    bool shared_error = false;
    std::string message;
    SweepSummary summary;
    try {
      summary = run_sweep(spec, MPI_COMM_WORLD, options);
    } catch (const SharedError& e) {
      shared_error = true;
      message = e.what();
    }
    watchdog.disarm();
    testing::fault_plan() = testing::FaultPlan{};
    unsetenv("SYMSWEEP_INJECT_FAULT");
    request_interrupt(0);

    switch (action) {
      case 0:
      case 1:  // the point failed; the others ran
        EXPECT_FALSE(shared_error) << what << ": " << message;
        EXPECT_EQ(summary.failed, 1) << what;
        EXPECT_EQ(summary.pending, 1) << what;  // failed counts as not done
        EXPECT_FALSE(summary.interrupted()) << what;
        break;
      case 2:  // every rank learns the worker's failure, with its message
        EXPECT_TRUE(shared_error) << what;
        EXPECT_NE(message.find("injected fault (SYMSWEEP_INJECT_FAULT=record:"), std::string::npos)
            << what << ": " << message;
        break;
      case 3:  // one rank's signal stops every rank; nothing is failed
        EXPECT_FALSE(shared_error) << what << ": " << message;
        EXPECT_TRUE(summary.interrupted()) << what;
        EXPECT_EQ(summary.signal, SIGTERM) << what;
        EXPECT_EQ(summary.failed, 0) << what;
        break;
    }

    watchdog.arm(what + ", resumed");
    const SweepSummary resumed = resume_sweep(out, nullptr, MPI_COMM_WORLD, options);
    watchdog.disarm();
    EXPECT_TRUE(resumed.ok()) << what;
    EXPECT_EQ(resumed.pending, 0) << what;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rank == 0) {
    std::printf(
        "%d trials at np %d in %.1f s (seed %llu): %d error, %d foreign, %d unrecordable, %d "
        "signal; moments %d build, %d step, %d finish\n",
        trials, ranks, seconds, seed, counts[0], counts[1], counts[2], counts[3], moments[0],
        moments[1], moments[2]);
  }
  // The draws must have covered every kind of fault and moment.
  if (trials >= 20) {
    for (int c : counts) EXPECT_GT(c, 0);
    for (int m : moments) EXPECT_GT(m, 0);
  }
}

}  // namespace
}  // namespace symsweep

int main(int argc, char** argv) {
  return symsweep::testing::mpi_test_main(
      argc, argv, [](std::string path) { symsweep::g_out = std::move(path); },
      [] { symsweep::testing::DelayModel::ensure_registered(); });
}
