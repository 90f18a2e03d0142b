// The run loop of a sweep. See include/symsweep/sweep.hpp.
#include "symsweep/sweep.hpp"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <ostream>
#include <set>

#include "sha256.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/schedule.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/store.hpp"
#include "symsweep/version.hpp"
#include "text.hpp"

namespace fs = std::filesystem;

namespace symsweep {

void broadcast(std::string& s, MPI_Comm comm, int root) {
  unsigned long long n = s.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm);
  s.resize(n);
  if (n > 0) MPI_Bcast(s.data(), static_cast<int>(n), MPI_CHAR, root, comm);
}

void collective_check(MPI_Comm comm, const std::function<void()>& fn) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::string message;
  bool failed = false;
  try {
    fn();
  } catch (const ConfigError& e) {
    message = e.what();
    failed = true;
  }
  const int mine = failed ? rank : INT_MAX;
  int lowest = INT_MAX;
  MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm);
  if (lowest == INT_MAX) return;
  broadcast(message, comm, lowest);
  throw ConfigError(message);
}

namespace {

/// Checks the output path (rank 0's view of the file system). Throws ConfigError.
void check_output(const std::string& out, bool overwrite) {
  const fs::path path(out);
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw ConfigError("sweep.output = '" + out + "': the directory '" + dir.string() +
                      "' does not exist; create it first");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw ConfigError("sweep.output = '" + out + "': the directory '" + dir.string() +
                      "' is not writable");
  }
  if (fs::is_directory(path, ec)) {
    throw ConfigError("sweep.output = '" + out + "': is a directory; name a file");
  }
  if (fs::exists(path, ec) && !overwrite) {
    throw ConfigError("sweep.output = '" + out +
                      "': the file exists; pass --overwrite to replace it (the old file is kept "
                      "until the new run completes) or choose another name with -o");
  }
}

/// Host names of all ranks, unique, in rank order of first appearance.
std::string gather_hosts(MPI_Comm comm, int rank, int ranks) {
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  std::vector<char> all(rank == 0 ? static_cast<std::size_t>(ranks) * MPI_MAX_PROCESSOR_NAME : 1);
  MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
             0, comm);
  std::string hosts;
  if (rank == 0) {
    std::set<std::string> seen;
    for (int r = 0; r < ranks; ++r) {
      const std::string h(all.data() + static_cast<std::size_t>(r) * MPI_MAX_PROCESSOR_NAME);
      if (seen.insert(h).second) hosts += (hosts.empty() ? "" : ",") + h;
    }
  }
  broadcast(hosts, comm);
  return hosts;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Every rank parsed the same config text; the axis values it computed must be the same bits
/// everywhere (they are: symsweep computes them without CPU-dispatched libm functions, so only a
/// different build on some node could make them differ). Checked rather than broadcast: a rank
/// that computes other axis values would compute other points too. Throws IoError on every rank.
void check_same_axes(const SweepSpec& spec, MPI_Comm comm, int rank) {
  std::string bits = spec.config_text();
  for (const AxisSpec& axis : spec.axes()) {
    for (const Value& v : axis.values) {
      bits += v.text;
      bits.append(reinterpret_cast<const char*>(v.numbers.data()),
                  v.numbers.size() * sizeof(double));
    }
  }
  std::string root = sha256_hex(bits);
  const std::string mine = root;
  broadcast(root, comm);
  const int differs = mine != root ? rank : -1;
  int first = -1;
  MPI_Allreduce(&differs, &first, 1, MPI_INT, MPI_MAX, comm);
  if (first >= 0) {
    throw IoError("rank " + std::to_string(first) +
                  " computed other axis values (or another resolved config) than rank 0 from "
                  "the same config text: is a different symsweep build running on its node?");
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

SweepSummary run_sweep(const SweepSpec& spec, MPI_Comm comm, const SweepOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  std::ostream* log = rank == 0 ? options.log : nullptr;
  const std::string output = spec.output();
  collective_check(comm, [&] {
    if (rank == 0) check_output(output, options.overwrite);
  });
  check_same_axes(spec, comm, rank);

  // 1. The grid, its fields and the points of this rank.
  const Grid grid(spec);
  const SweepFields fields(grid);
  const Schema& schema = fields.schema();
  const SweepFields::Core& core = fields.core();
  const std::vector<std::uint64_t> mine = static_points(grid.size(), rank, ranks);
  int threads = omp_get_max_threads();
  MPI_Allreduce(MPI_IN_PLACE, &threads, 1, MPI_INT, MPI_MAX, comm);  // provenance: the most
  if (log) {
    *log << version_string() << "\n"
         << "sweep '" << spec.name() << "': model " << spec.model() << ", " << grid.size()
         << " point(s)";
    for (const auto& axis : grid.axes()) {
      *log << (&axis == &grid.axes().front() ? " over " : " x ") << axis.key << "["
           << axis.values.size() << "]";
    }
    // Results stay in memory until the end (and are routed to their writers): say how much.
    const double file_bytes =
        static_cast<double>(schema.record_bytes()) * static_cast<double>(grid.size());
    *log << "\nrunning on " << ranks << " rank(s) x " << threads << " thread(s); output " << output
         << " (about " << text::format_bytes(file_bytes) << "; up to "
         << text::format_bytes(2 * file_bytes / ranks) << " of results held per rank)" << std::endl;
  }

  // 2. The file, created collectively before any point runs. Replacing a file goes through
  //    <output>.partial so that the old results survive a failed run.
  std::error_code exists_error;
  int replacing_flag = rank == 0 && fs::exists(output, exists_error) ? 1 : 0;
  MPI_Bcast(&replacing_flag, 1, MPI_INT, 0, comm);
  const bool replacing = replacing_flag != 0;
  const std::string target = replacing ? output + ".partial" : output;
  Provenance prov;
  prov.command_line = options.command_line;
  broadcast(prov.command_line, comm);
  prov.hosts = gather_hosts(comm, rank, ranks);
  prov.created_utc = utc_now();
  broadcast(prov.created_utc, comm);
  prov.mpi_ranks = ranks;
  prov.omp_threads = threads;
  StoreOptions store_options;
  store_options.truncate = replacing;  // a stale <output>.partial of ours may be replaced
  ResultStore store = ResultStore::create(target, comm, grid, schema, prov, store_options);

  // 3. The points: OpenMP threads inside the rank; rank 0 reports its own progress.
  auto last_report = std::chrono::steady_clock::now();
  const ProgressFn progress = [&](std::size_t done) {
    if (!log) return;
    if (seconds_since(last_report) < 5.0 && done != mine.size()) return;
    last_report = std::chrono::steady_clock::now();
    const double elapsed = seconds_since(t0);
    const double share = static_cast<double>(done) / static_cast<double>(mine.size());
    char line[160];
    std::snprintf(line, sizeof line, "[%8.1f s] rank 0: %zu/%zu points (%.0f%%), about %.0f s left",
                  elapsed, done, mine.size(), 100.0 * share,
                  share > 0 ? elapsed * (1 - share) / share : 0.0);
    *log << line << std::endl;
  };
  std::vector<PointResult> results = run_points(grid, fields, mine, progress);
  // One line per cause, not per point: the points that failed with each message.
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> causes;
  for (auto& r : results) {
    r.values.set_integer(core.rank, rank);
    if (r.error.empty()) continue;
    auto c = std::find_if(causes.begin(), causes.end(),
                          [&](const auto& cause) { return cause.first == r.error; });
    if (c == causes.end()) c = causes.insert(causes.end(), {r.error, {}});
    c->second.push_back(r.index);
  }
  for (const auto& [message, points] : causes) {
    std::string list;
    for (std::size_t k = 0; k < std::min<std::size_t>(points.size(), 5); ++k) {
      list += (k ? ", " : "") + std::to_string(points[k]);
    }
    std::fprintf(stderr, "symsweep: rank %d: %zu point(s) failed (%s%s): %s\n", rank, points.size(),
                 list.c_str(), points.size() > 5 ? ", ..." : "",
                 text::quote(message, false, 400).c_str());
  }

  // 4. Results into the file (data, flush, status, flush), then close on every rank.
  store.write(results);
  store.close();

  // 5. Summary. A run with failed points is a failed run: it does not replace an existing file.
  SweepSummary summary;
  summary.outcome_names = schema.field(core.outcome).members;
  const std::size_t n_outcomes = summary.outcome_names.size();
  std::vector<long long> counts(n_outcomes + 1, 0);  // outcomes, then failed
  for (const auto& r : results) {
    if (r.values.code(core.status) == static_cast<std::uint8_t>(Status::failed)) {
      ++counts[n_outcomes];
    } else {
      ++counts[r.values.code(core.outcome)];
    }
  }
  MPI_Allreduce(MPI_IN_PLACE, counts.data(), static_cast<int>(counts.size()), MPI_LONG_LONG,
                MPI_SUM, comm);
  summary.failed = counts[n_outcomes];
  counts.pop_back();
  summary.outcome_counts = std::move(counts);
  // Rank 0 renames; every rank learns whether it worked, so none waits for another.
  std::string rename_error;
  if (replacing && summary.ok() && rank == 0) {
    std::error_code ec;
    fs::rename(target, output, ec);
    if (ec) rename_error = "cannot replace '" + output + "' by '" + target + "': " + ec.message();
  }
  broadcast(rename_error, comm);
  if (!rename_error.empty()) throw IoError(rename_error);
  summary.path = replacing && !summary.ok() ? target : output;
  summary.seconds = seconds_since(t0);
  if (log) {
    // Code 0 is the fill value (a point that did not run): it is never a run's outcome.
    *log << "done: ";
    for (std::size_t c = 1; c < n_outcomes; ++c) {
      *log << summary.outcome_counts[c] << " " << summary.outcome_names[c] << ", ";
    }
    char took[32];
    std::snprintf(took, sizeof took, "%.2f s", summary.seconds);
    *log << summary.failed << " failed; wrote " << summary.path << " in " << took << std::endl;
  }
  if (rank == 0 && !summary.ok()) {
    std::fprintf(stderr, "symsweep: error: %lld point(s) failed (status 'failed' in %s)%s\n",
                 summary.failed, target.c_str(),
                 replacing ? ("; " + output + " was left unchanged").c_str() : "");
  }
  return summary;
}

}  // namespace symsweep
