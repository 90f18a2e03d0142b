// A point longer than what is left of a SLURM allocation. See slurm_time.hpp.
#include "slurm_time.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "symsweep/grid.hpp"
#include "text.hpp"

namespace symsweep {

namespace {

/// Digits only, as a whole number (no sign, no space); nothing otherwise.
std::optional<long long> whole_number(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  long long v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string seconds_text(double s) {
  char out[64];
  if (s >= 3 * 3600) {
    std::snprintf(out, sizeof out, "%.1f h", s / 3600);
  } else if (s >= 120) {
    std::snprintf(out, sizeof out, "%.0f min", s / 60);
  } else {
    std::snprintf(out, sizeof out, "%.0f s", s);
  }
  return out;
}

}  // namespace

std::optional<double> parse_slurm_time_left(std::string_view text) {
  text = text::trim(text);
  long long days = 0;
  const std::size_t dash = text.find('-');
  if (dash != std::string_view::npos) {
    const auto d = whole_number(text.substr(0, dash));
    if (!d) return std::nullopt;
    days = *d;
    text = text.substr(dash + 1);
  }
  const auto parts = text::split(text, ':');
  // squeue writes D-HH:MM:SS, HH:MM:SS, MM:SS or SS; D-HH and D-HH:MM, SLURM's other forms of a
  // time with days, are read too.
  if (parts.size() > 3) return std::nullopt;
  long long fields[3] = {0, 0, 0};  // hours, minutes, seconds
  const std::size_t first =
      dash != std::string_view::npos && parts.size() < 3 ? 0 : 3 - parts.size();
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const auto v = whole_number(parts[k]);
    if (!v) return std::nullopt;
    fields[first + k] = *v;
  }
  return static_cast<double>(((days * 24 + fields[0]) * 60 + fields[1]) * 60 + fields[2]);
}

std::optional<SlurmTimeLeft> slurm_time_left() {
  if (const char* end = std::getenv("SLURM_JOB_END_TIME")) {
    if (const auto at = whole_number(end)) {
      return SlurmTimeLeft{static_cast<double>(*at) - static_cast<double>(std::time(nullptr)),
                           "SLURM_JOB_END_TIME"};
    }
  }
  const char* job = std::getenv("SLURM_JOB_ID");
  if (job == nullptr || !whole_number(job)) return std::nullopt;  // also: nothing for the shell
  const std::string command =
      "timeout 10 squeue -h -j " + std::string(job) + " -o %L 2>/dev/null </dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return std::nullopt;
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe.get()) != nullptr) out += buffer;
  const auto left = parse_slurm_time_left(out);
  if (!left) return std::nullopt;
  return SlurmTimeLeft{*left, "squeue"};
}

LongPointCheck::LongPointCheck(std::optional<SlurmTimeLeft> left, double max_steps, bool write)
    : left_(std::move(left)),
      max_steps_(max_steps),
      write_(write),
      start_(std::chrono::steady_clock::now()) {
  armed_ = left_.has_value() && max_steps_ > 0;
}

namespace {
double largest_steps(const Grid& grid) {
  const SweepSpec& spec = grid.spec();
  double max_steps = spec.number("optimizer.steps");
  for (const AxisSpec& axis : spec.axes()) {
    if (axis.key == "optimizer.steps") {
      const auto steps = axis.numbers();
      max_steps = *std::max_element(steps.begin(), steps.end());
    }
  }
  return max_steps;
}
}  // namespace

LongPointCheck::LongPointCheck(const Grid& grid, std::optional<SlurmTimeLeft> left, bool write)
    : LongPointCheck(std::move(left), largest_steps(grid), write) {}

void LongPointCheck::disarm() {
  const std::lock_guard<std::mutex> lock(mutex_);
  armed_ = false;
}

std::string LongPointCheck::take_warning() {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::string line;
  line.swap(warning_);
  return line;
}

bool LongPointCheck::has_warning() {
  const std::lock_guard<std::mutex> lock(mutex_);
  return !warning_.empty();
}

std::string LongPointCheck::observe(double seconds, std::int64_t steps_run, std::int64_t steps) {
  if (!armed() || steps_run <= 0 || steps_run < steps || !std::isfinite(seconds)) return "";
  return decide(seconds, steps_run);
}

std::string LongPointCheck::running(std::int64_t updates, double seconds) {
  if (!armed() || updates <= 0 || !(seconds >= kMeasureSeconds)) return "";
  return decide(seconds, updates);
}

std::string LongPointCheck::decide(double seconds, std::int64_t steps) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (!armed()) return "";  // another worker's point made the estimate
  armed_ = false;
  const double estimate = seconds * max_steps_ / static_cast<double>(steps);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line = warning(estimate, seconds, steps, left_->seconds - elapsed);
  if (write_ && !line.empty()) text::write_stderr(line);
  if (!write_) warning_ = line;
  return line;
}

std::string LongPointCheck::warning(double estimate, double seconds, std::int64_t steps,
                                    double left) const {
  if (estimate <= left) return "";
  char measured[160];
  std::snprintf(measured, sizeof measured, "%.3g s for %lld steps", seconds,
                static_cast<long long>(steps));
  return "symsweep: warning: the longest point may take about " + seconds_text(estimate) +
         " (a point here took " + measured + "; the largest optimizer.steps is " +
         text::format_double(max_steps_) + "), more than the " +
         (left > 0 ? seconds_text(left) : std::string("0 s")) + " left in the SLURM allocation (" +
         left_->source +
         "): a point is not checkpointed inside itself, so one that has not finished when the job "
         "ends starts again from its first step in the next job; give the job more time or the "
         "points fewer steps\n";
}

}  // namespace symsweep
