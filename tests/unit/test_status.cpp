// The status file's JSON (status.hpp): every field survives a write and a read, whatever the text
// in its strings; a torn or foreign file is one clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "status.hpp"
#include "symsweep/error.hpp"

namespace symsweep {
namespace {

std::string random_text(std::mt19937_64& gen) {
  std::uniform_int_distribution<int> length(0, 40), byte(1, 127);
  std::string s(static_cast<std::size_t>(length(gen)), ' ');
  for (char& c : s) c = static_cast<char>(byte(gen));  // control characters, quotes, backslashes
  return s;
}

RunStatus random_status(std::mt19937_64& gen) {
  std::uniform_int_distribution<long long> count(0, 1LL << 40);
  std::uniform_real_distribution<double> real(0, 1e6);
  RunStatus s;
  s.state = random_text(gen);
  s.file = random_text(gen);
  s.sweep = random_text(gen);
  s.points = count(gen);
  s.done = count(gen);
  s.done_before = count(gen);
  s.failed = count(gen);
  for (int k = 0; k < static_cast<int>(gen() % 6); ++k) {
    s.outcomes.emplace_back(random_text(gen), count(gen));
  }
  s.rate = real(gen);
  s.seconds_left = gen() % 3 == 0 ? -1.0 : real(gen);
  s.elapsed = real(gen);
  s.ranks = static_cast<int>(gen() % 100000);
  s.threads = static_cast<int>(gen() % 256);
  s.hosts = random_text(gen);
  s.slurm_job = random_text(gen);
  s.started_utc = random_text(gen);
  s.heartbeat_utc = random_text(gen);
  s.heartbeat = static_cast<std::time_t>(count(gen));
  s.every = real(gen);
  s.checkpoints = static_cast<long>(count(gen));
  s.last_checkpoint_utc = random_text(gen);
  s.message = random_text(gen);
  return s;
}

/// Reals are written with 6 significant digits: equal to that precision.
void expect_close(double a, double b) {
  EXPECT_NEAR(a, b, 1e-5 * std::max(std::abs(b), 1.0));
}

TEST(StatusFile, EveryFieldSurvivesWriteAndRead) {
  std::mt19937_64 gen(7);
  for (int trial = 0; trial < 300; ++trial) {
    const RunStatus s = random_status(gen);
    const RunStatus r = parse_status(to_json(s), "trial");
    EXPECT_EQ(r.state, s.state);
    EXPECT_EQ(r.file, s.file);
    EXPECT_EQ(r.sweep, s.sweep);
    EXPECT_EQ(r.points, s.points);
    EXPECT_EQ(r.done, s.done);
    EXPECT_EQ(r.done_before, s.done_before);
    EXPECT_EQ(r.failed, s.failed);
    EXPECT_EQ(r.outcomes, s.outcomes);
    expect_close(r.rate, s.rate);
    expect_close(r.seconds_left, s.seconds_left);
    expect_close(r.elapsed, s.elapsed);
    EXPECT_EQ(r.ranks, s.ranks);
    EXPECT_EQ(r.threads, s.threads);
    EXPECT_EQ(r.hosts, s.hosts);
    EXPECT_EQ(r.slurm_job, s.slurm_job);
    EXPECT_EQ(r.started_utc, s.started_utc);
    EXPECT_EQ(r.heartbeat_utc, s.heartbeat_utc);
    EXPECT_EQ(r.heartbeat, s.heartbeat);
    expect_close(r.every, s.every);
    EXPECT_EQ(r.checkpoints, s.checkpoints);
    EXPECT_EQ(r.last_checkpoint_utc, s.last_checkpoint_utc);
    EXPECT_EQ(r.message, s.message);
  }
}

TEST(StatusFile, EveryTornPrefixIsOneClearError) {
  std::mt19937_64 gen(11);
  const std::string json = to_json(random_status(gen));
  for (std::size_t n = 0; n + 2 < json.size(); ++n) {  // the last bytes are "}\n"
    try {
      parse_status(json.substr(0, n), "torn.json");
      ADD_FAILURE() << "a prefix of " << n << " bytes parsed";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("torn.json: not a symsweep status file"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(StatusFile, TextIsValidUtf8AndEveryStandardEscapeReads) {
  RunStatus s;
  s.hosts =
      "n\xc3\xb6"
      "de-\xe2\x82\xac-\xf0\x9f\x98\x80";  // valid UTF-8: kept as it is
  s.file = std::string("bad\xff\xc3(") +
           "\x80"
           "end";  // not UTF-8: U+FFFD each
  s.message = "tab\tnew\nline \"q\" back\\";
  const std::string json = to_json(s);
  EXPECT_NE(json.find(R"("file": "bad\ufffd\ufffd(\ufffdend")"), std::string::npos) << json;
  const RunStatus r = parse_status(json, "utf8");
  EXPECT_EQ(r.hosts, s.hosts);
  EXPECT_EQ(r.file,
            "bad\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd"
            "end");
  EXPECT_EQ(r.message, s.message);
  // What another JSON writer may produce (Python's json.dumps with ensure_ascii): the escapes
  // \b \f \r \/ and \u, surrogate pairs included.
  std::string other = json;
  const std::string from = "\"sweep\": \"\"";
  other.replace(other.find(from), from.size(), "\"sweep\": \"\\u00e9\\b\\f\\r\\/\\ud83d\\ude00\"");
  EXPECT_EQ(parse_status(other, "python").sweep, "\xc3\xa9\b\f\r/\xf0\x9f\x98\x80");
  for (const std::string bad : {"\\u12g4", "\\ud83d", "\\ude00", "\\q"}) {
    std::string broken = json;
    broken.replace(broken.find(from), from.size(), "\"sweep\": \"" + bad + "\"");
    EXPECT_THROW(parse_status(broken, "bad"), ConfigError) << bad;
  }
  std::string fractional = json;
  fractional.replace(fractional.find("\"points\": 0"), 12, "\"points\": 0.5");
  EXPECT_THROW(parse_status(fractional, "bad"), ConfigError);
}

}  // namespace
}  // namespace symsweep
