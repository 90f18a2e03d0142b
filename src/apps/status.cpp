// `symsweep status OUT.h5 [--json]`: the live status of a run (status.hpp), without MPI and
// without opening the result file (which the run is writing).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "apps.hpp"
#include "lock.hpp"
#include "status.hpp"
#include "symsweep/error.hpp"
#include "text.hpp"

namespace symsweep::apps {

namespace {

std::string duration_text(double s) {
  char buf[48];
  if (s < 10) {
    std::snprintf(buf, sizeof buf, "%.2g s", s);
  } else if (s < 120) {
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%.0f min", s / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  }
  return buf;
}

}  // namespace

int status(const std::vector<std::string>& args) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::cout
        << "Usage: symsweep status OUT.h5 [--json]\n"
           "Prints the status a run or resume keeps in OUT.h5.status.json (rewritten every\n"
           "--status seconds, default 10, and at its end): running, interrupted, complete or\n"
           "failed; points done of the grid, outcomes, rate, time left, ranks, hosts, heartbeat,\n"
           "last checkpoint. A status 'running' whose run died (kill -9, a lost node) is told\n"
           "apart from a live run: on the host where it took the output's lock (rank 0's), by\n"
           "whether a process holds that lock; elsewhere, by the heartbeat's age (stale beyond\n"
           "3 intervals + 60 s, + --io-timeout while a checkpoint is written).\n"
           "--json prints the file as it is. Exit status: 0 printed; 2 no or no valid status "
           "file.\n";
    return kExitOk;
  }
  bool json = false;
  std::string out;
  for (const std::string& a : args) {
    if (a == "--json") {
      json = true;
    } else if (!a.empty() && a[0] == '-') {
      throw ConfigError("status: unknown option " + text::quote(a) +
                        " (symsweep status --help lists the options)");
    } else if (out.empty()) {
      out = a;
    } else {
      throw ConfigError("usage: symsweep status OUT.h5 [--json]");
    }
  }
  if (out.empty()) throw ConfigError("usage: symsweep status OUT.h5 [--json]");
  const std::string path = status_path(out);
  std::ifstream in(path);
  if (!in) {
    throw ConfigError("status: no status file " + text::quote(path) +
                      " (no run has written OUT.h5 yet, the run was started with --status 0, or "
                      "by a symsweep without status files)");
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const RunStatus s = parse_status(buffer.str(), path);
  if (json) {
    std::cout << buffer.str();
    return kExitOk;
  }
  const double age = std::difftime(std::time(nullptr), s.heartbeat);
  std::string state = s.state;
  std::string verdict;
  if (s.state == "running") {
    const Liveness alive = judge_liveness(out, &s);
    if (alive.kind == Liveness::kAlive) {
      verdict = "alive: " + alive.why;
    } else if (alive.kind == Liveness::kDead) {
      state = "not running";
      verdict = "not running: " + alive.why + "; continue with: symsweep resume " + out;
    } else {
      verdict = "unknown: " + alive.why;
    }
  }
  char line[256];
  const double share = s.points > 0 ? 100.0 * static_cast<double>(s.done) / s.points : 100;
  std::snprintf(line, sizeof line, "%s: %s; %lld of %lld point(s) done (%.1f%%)", out.c_str(),
                state.c_str(), s.done, s.points, share);
  std::cout << line;
  if (s.done_before > 0) std::cout << ", " << s.done_before << " before this run";
  std::cout << "\n  this run: ";
  for (const auto& [name, count] : s.outcomes) std::cout << count << " " << name << ", ";
  std::cout << s.failed << " failed";
  if (s.rate > 0) {
    std::snprintf(line, sizeof line, "; %.3g point(s)/s", s.rate);
    std::cout << line;
  }
  if (s.state == "running" && s.seconds_left >= 0) {
    std::cout << ", about " << duration_text(s.seconds_left) << " left";
  }
  std::cout << "\n  " << s.ranks << " rank(s) x " << s.threads << " thread(s) on " << s.hosts;
  if (!s.slurm_job.empty()) std::cout << ", SLURM job " << s.slurm_job;
  std::cout << "; sweep '" << s.sweep << "', file " << s.file << "\n  started " << s.started_utc
            << ", heartbeat " << s.heartbeat_utc << " (" << duration_text(std::max(age, 0.0))
            << " ago, every " << duration_text(s.every) << "), " << s.checkpoints
            << " checkpoint(s)";
  if (!s.last_checkpoint_utc.empty()) std::cout << ", the last " << s.last_checkpoint_utc;
  std::cout << "\n";
  if (!s.message.empty()) std::cout << "  " << s.message << "\n";
  if (!verdict.empty()) std::cout << "  " << verdict << "\n";
  return kExitOk;
}

}  // namespace symsweep::apps
