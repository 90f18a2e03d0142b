// A point longer than the SLURM time left (slurm_time.hpp) and the MPI-IO hints
// (io_hints.hpp): squeue's time format, the one estimate (from a point in its loop or a finished
// one) and its warning, the hints' rules.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <random>
#include <string>

#include "io_hints.hpp"
#include "slurm_time.hpp"
#include "symsweep/error.hpp"

namespace symsweep {
namespace {

// --------------------------------------------------------------------------- SLURM time left
TEST(SlurmTimeLeft, SqueueFormatsReadBackToTheirSeconds) {
  std::mt19937_64 gen(20);
  for (int trial = 0; trial < 2000; ++trial) {
    const long long d = gen() % 3 == 0 ? static_cast<long long>(gen() % 400) : 0;
    const long long h = static_cast<long long>(gen() % 24), m = static_cast<long long>(gen() % 60),
                    s = static_cast<long long>(gen() % 60);
    char text[64];
    if (d > 0) {
      std::snprintf(text, sizeof text, "%lld-%02lld:%02lld:%02lld", d, h, m, s);
    } else if (h > 0) {
      std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", h, m, s);
    } else if (m > 0) {
      std::snprintf(text, sizeof text, "%lld:%02lld", m, s);
    } else {
      std::snprintf(text, sizeof text, "%lld", s);
    }
    const auto left = parse_slurm_time_left(std::string(text) + "\n");  // as squeue prints it
    ASSERT_TRUE(left) << text;
    EXPECT_EQ(*left, static_cast<double>(((d * 24 + h) * 60 + m) * 60 + s)) << text;
  }
}

TEST(SlurmTimeLeft, NoTimeFromWhatIsNotATime) {
  for (const char* text : {"UNLIMITED", "NOT_SET", "INVALID", "", "\n", "1:2:3:4", "-1:00", "1-",
                           "a:00", "1:-2", "1 2:00", "1-2-3"}) {
    EXPECT_FALSE(parse_slurm_time_left(text)) << text;
  }
}

/// Sets an environment variable for a scope, restoring what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(SlurmTimeLeft, FromSlurmJobEndTimeElseNothingOutsideSlurm) {
  const ScopedEnv job("SLURM_JOB_ID", nullptr);
  {
    const std::string end = std::to_string(std::time(nullptr) + 5000);
    const ScopedEnv env("SLURM_JOB_END_TIME", end.c_str());
    const auto left = slurm_time_left();
    ASSERT_TRUE(left);
    EXPECT_EQ(left->source, "SLURM_JOB_END_TIME");
    EXPECT_LE(left->seconds, 5000);
    EXPECT_GT(left->seconds, 4000);
  }
  for (const char* bad : {"soon", "", "-5", "1e9"}) {
    const ScopedEnv env("SLURM_JOB_END_TIME", bad);
    EXPECT_FALSE(slurm_time_left()) << bad;
  }
  const ScopedEnv env("SLURM_JOB_END_TIME", nullptr);
  EXPECT_FALSE(slurm_time_left());
}

// ------------------------------------------------------------------------- the one estimate
TEST(LongPointCheck, WarnsOnceWhenTheScaledPointExceedsTheTimeLeft) {
  std::mt19937_64 gen(21);
  std::uniform_real_distribution<double> unit(0.001, 1);
  for (int trial = 0; trial < 300; ++trial) {
    const double left = 1e4 * unit(gen), max_steps = std::floor(1e7 * unit(gen)) + 1;
    const auto steps = static_cast<std::int64_t>(1 + gen() % 100000);
    const double seconds = unit(gen);
    LongPointCheck check(SlurmTimeLeft{left, "SLURM_JOB_END_TIME"}, max_steps, false);
    ASSERT_TRUE(check.armed());
    // A point that ended before its own steps (diverged, converged) makes no estimate.
    EXPECT_EQ(check.observe(seconds, steps - 1, steps), "");
    EXPECT_EQ(check.observe(seconds, 0, 0), "");
    ASSERT_TRUE(check.armed());
    const double estimate = seconds * max_steps / static_cast<double>(steps);
    // The time left is taken when the check was armed; the clock has run a little since.
    if (std::abs(estimate - left) < 1) continue;
    const std::string line = check.observe(seconds, steps, steps);
    EXPECT_EQ(!line.empty(), estimate > left) << estimate << " vs " << left;
    EXPECT_FALSE(check.armed());
    EXPECT_EQ(check.observe(1e9, steps, steps), "");  // once
    // Not written (write = false): held for the run to print once, then gone.
    EXPECT_EQ(check.has_warning(), !line.empty());
    EXPECT_EQ(check.take_warning(), line);
    EXPECT_FALSE(check.has_warning());
    EXPECT_EQ(check.take_warning(), "");
    if (!line.empty()) {
      EXPECT_EQ(line.find('\n'), line.size() - 1) << line;  // one line
      EXPECT_NE(line.find("SLURM_JOB_END_TIME"), std::string::npos) << line;
      EXPECT_NE(line.find("not checkpointed inside itself"), std::string::npos) << line;
    }
  }
}

TEST(LongPointCheck, APointInItsLoopDecidesOnceItHasRunForTheMeasuringTime) {
  std::mt19937_64 gen(22);
  std::uniform_real_distribution<double> unit(0.001, 1);
  for (int trial = 0; trial < 300; ++trial) {
    const double left = 1e4 * unit(gen), max_steps = std::floor(1e9 * unit(gen)) + 1;
    const auto updates = static_cast<std::int64_t>(1 + gen() % 10000000);
    LongPointCheck check(SlurmTimeLeft{left, "squeue"}, max_steps, false);
    // Before the measuring time, however many updates: no decision.
    EXPECT_EQ(check.running(updates, LongPointCheck::kMeasureSeconds * unit(gen) * 0.999), "");
    EXPECT_EQ(check.running(0, 10), "");
    ASSERT_TRUE(check.armed());
    const double seconds = LongPointCheck::kMeasureSeconds * (1 + 10 * unit(gen));
    const double estimate = seconds * max_steps / static_cast<double>(updates);
    if (std::abs(estimate - left) < 1) continue;
    const std::string line = check.running(updates, seconds);
    EXPECT_EQ(!line.empty(), estimate > left) << estimate << " vs " << left;
    EXPECT_FALSE(check.armed());
    EXPECT_EQ(check.running(updates, 1e9), "");           // once
    EXPECT_EQ(check.observe(1e9, updates, updates), "");  // whichever comes first
    if (!line.empty()) {
      EXPECT_NE(line.find("(squeue)"), std::string::npos) << line;
    }
  }
}

TEST(LongPointCheck, DisarmedByAnotherRanksWarningItDecidesNothing) {
  LongPointCheck check(SlurmTimeLeft{1, "squeue"}, 1e12, false);
  ASSERT_TRUE(check.armed());
  check.disarm();
  EXPECT_FALSE(check.armed());
  EXPECT_EQ(check.observe(10, 10, 10), "");
  EXPECT_EQ(check.running(10, 1e6), "");
  EXPECT_FALSE(check.has_warning());
}

TEST(LongPointCheck, OffWithoutATimeLeft) {
  LongPointCheck check(std::nullopt, 1e9, false);
  EXPECT_FALSE(check.armed());
  EXPECT_EQ(check.observe(1e6, 10, 10), "");
  EXPECT_EQ(check.running(10, 1e6), "");
}

// ------------------------------------------------------------------------------ MPI-IO hints
TEST(IoHints, WellFormedHintsReadBackInOrder) {
  const auto hints = parse_io_hints(
      " romio_cb_write=enable, cb_buffer_size = 16777216,striping_factor=8, "
      "romio_ds_write=disable, cray_cb_nodes_multiplier=2, IBM_largeblock_io=true",
      "X");
  ASSERT_EQ(hints.size(), 6u);
  EXPECT_EQ(io_hints_text(hints),
            "romio_cb_write=enable, cb_buffer_size=16777216, striping_factor=8, "
            "romio_ds_write=disable, cray_cb_nodes_multiplier=2, IBM_largeblock_io=true");
  EXPECT_TRUE(parse_io_hints("", "X").empty());
  EXPECT_TRUE(parse_io_hints("  ", "X").empty());
}

std::string error_of(const std::string& text) {
  try {
    parse_io_hints(text, "SYMSWEEP_MPIIO_HINTS");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(IoHints, EveryBadHintIsOneLineNamingTheKeyTheValueAndTheRule) {
  struct Case {
    std::string text, names, rule;
  };
  const Case cases[] = {
      {"romio_cb_write=yes", "romio_cb_write = 'yes'", "enable, disable or automatic"},
      {"romio_ds_write=on", "romio_ds_write = 'on'", "enable, disable or automatic"},
      {"cb_nodes=0", "cb_nodes = '0'", "a whole number >= 1"},
      {"cb_nodes=-4", "cb_nodes = '-4'", "a whole number >= 1"},
      {"cb_buffer_size=16M", "cb_buffer_size = '16M'", "bytes >= 1 (no unit)"},
      {"striping_unit=1.5e6", "striping_unit = '1.5e6'", "bytes >= 1"},
      {"romio_no_indep_rw=1", "romio_no_indep_rw = '1'", "true or false"},
      {"romio_cb_wrte=enable", "romio_cb_wrte = 'enable'", "did you mean romio_cb_write?"},
      {"cb_node=4", "cb_node = '4'", "did you mean cb_nodes?"},
      {"striping_facotr=4", "striping_facotr = '4'", "did you mean striping_factor?"},
      {"romio_cb_write", "'romio_cb_write'", "is not key=value"},
      {"cb_nodes=4;cb_buffer_size=1", "cb_nodes = '4;cb_buffer_size=1'", "one word"},
      {"cb nodes=4", "'cb nodes'", "not a hint name"},
      {"=4", "''", "not a hint name"},
      {"cb_nodes=", "cb_nodes = ''", "one word"},
      {"cb_nodes=2, cb_nodes=4", "cb_nodes", "given twice"},
  };
  for (const Case& c : cases) {
    const std::string e = error_of(c.text);
    EXPECT_EQ(e.rfind("SYMSWEEP_MPIIO_HINTS = '" + c.text + "': ", 0), 0u) << c.text << ": " << e;
    EXPECT_NE(e.find(c.names), std::string::npos) << c.text << ": " << e;
    EXPECT_NE(e.find(c.rule), std::string::npos) << c.text << ": " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST(IoHints, OneEditFromADocumentedHintIsAMisspelling) {
  // Every deletion, doubling and neighbour swap of every letter of a documented hint.
  const char* known[] = {"romio_cb_write",  "romio_ds_write", "cb_buffer_size",   "cb_nodes",
                         "striping_factor", "striping_unit",  "romio_no_indep_rw"};
  for (const std::string key : known) {
    ASSERT_EQ(error_of(key + "=1").find("did you mean"), std::string::npos) << key;
    for (std::size_t i = 0; i < key.size(); ++i) {
      std::string deleted = key, doubled = key, swapped = key;
      deleted.erase(i, 1);
      doubled.insert(i, 1, key[i]);
      if (i + 1 < key.size()) std::swap(swapped[i], swapped[i + 1]);
      for (const std::string& typo : {deleted, doubled, swapped}) {
        if (typo == key) continue;
        const std::string e = error_of(typo + "=enable");
        EXPECT_NE(e.find("did you mean "), std::string::npos) << typo << ": " << e;
      }
    }
  }
}

}  // namespace
}  // namespace symsweep
