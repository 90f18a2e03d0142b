// `symsweep run`: config -> grid -> SGD on MPI ranks x OpenMP threads -> one parallel HDF5 file.
//
//   mpirun -np 2 symsweep run jobs/sweeps/quickstart.ini -o results/quickstart.h5
//   OMP_NUM_THREADS=4 mpirun -np 4 symsweep run sweep.ini --set optimizer.steps=100 --overwrite
//
// A bad configuration is found on every rank before anything is created: the run exits 2 and no
// file is touched. An existing output is replaced only with --overwrite, and then only once the new
// run has completed (it is written beside the old one as <output>.partial and renamed at the end).
#include <mpi.h>
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include <boost/program_options.hpp>

#include "apps.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/schedule.hpp"
#include "symsweep/simulate.hpp"
#include "symsweep/spec.hpp"
#include "symsweep/store.hpp"
#include "symsweep/version.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace symsweep::apps {

namespace {

struct RunOptions {
  std::string config;
  std::string output;  // empty: from the config
  std::vector<std::string> sets;
  bool overwrite = false;
  bool quiet = false;
  bool help = false;
};

po::options_description run_options_description(RunOptions& o) {
  po::options_description desc("Options of `symsweep run CONFIG.ini`");
  desc.add_options()("output,o", po::value(&o.output)->value_name("FILE"),
                     "result file to write (overrides [sweep] output)")(
      "set", po::value(&o.sets)->composing()->value_name("KEY=VALUE"),
      "override a config key, e.g. --set optimizer.eta=0.1 or --set axes.optimizer.batch=1,2,4;\n"
      "setting a swept key fixes it; may be repeated")(
      "overwrite", po::bool_switch(&o.overwrite),
      "replace an existing result file (the old file stays until the new run completes)")(
      "quiet,q", po::bool_switch(&o.quiet), "print only errors")("help,h", po::bool_switch(&o.help),
                                                                 "show this help");
  return desc;
}

RunOptions parse_run_options(const std::vector<std::string>& args) {
  RunOptions o;
  po::options_description desc = run_options_description(o);
  po::options_description hidden;
  hidden.add_options()("config", po::value(&o.config));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw ConfigError(std::string("command line: ") + e.what() +
                      " (symsweep run --help lists the options)");
  }
  if (!o.help && o.config.empty()) {
    throw ConfigError(
        "command line: missing CONFIG.ini (usage: symsweep run CONFIG.ini [options])");
  }
  return o;
}

/// Every rank runs `fn`, which may throw ConfigError; returns true on all ranks when it failed on
/// any, after rank 0 (or the lowest failing rank) printed the message once.
template <class Fn>
bool failed_anywhere(MPI_Comm comm, int rank, Fn&& fn) {
  std::string message;
  try {
    fn();
  } catch (const ConfigError& e) {
    message = e.what();
  }
  const int mine = message.empty() ? 0 : 1;
  int failing_rank = mine ? rank : INT32_MAX;
  int lowest = INT32_MAX;
  MPI_Allreduce(&failing_rank, &lowest, 1, MPI_INT, MPI_MIN, comm);
  if (lowest == INT32_MAX) return false;
  if (rank == lowest) std::cerr << "symsweep: error: " << message << std::endl;
  return true;
}

/// Broadcasts a string from rank 0.
void broadcast(std::string& s, MPI_Comm comm) {
  unsigned long long n = s.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
  s.resize(n);
  if (n > 0) MPI_Bcast(s.data(), static_cast<int>(n), MPI_CHAR, 0, comm);
}

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

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int run(const std::vector<std::string>& rank_args, const std::string& rank_command_line) {
  const auto t0 = std::chrono::steady_clock::now();
  // 1. Ranks. Every rank works from rank 0's command line, so that a launch that gives ranks
  //    different arguments cannot make them disagree inside a collective call.
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  std::string command_line = rank_command_line;
  broadcast(command_line, comm);
  std::string packed;
  for (const auto& a : rank_args) packed += a + '\0';
  broadcast(packed, comm);
  std::vector<std::string> args;
  for (std::size_t at = 0; at < packed.size();) {
    const std::size_t end = packed.find('\0', at);
    args.push_back(packed.substr(at, end - at));
    at = end + 1;
  }

  // 2. Command line and configuration, parsed identically on every rank (rank 0 reads the file
  //    and broadcasts its text, so all ranks see the same bytes).
  RunOptions opts;
  std::string ini_text;
  std::optional<SweepSpec> spec;
  if (failed_anywhere(comm, rank, [&] { opts = parse_run_options(args); })) return kExitUsage;
  if (opts.help) {
    if (rank == 0) {
      RunOptions scratch;
      std::cout << "Usage: mpirun -np R symsweep run CONFIG.ini [options]\n\n"
                << run_options_description(scratch) << "\n"
                << "The configuration keys and models are listed by `symsweep --help`.\n";
    }
    return kExitOk;
  }
  if (failed_anywhere(comm, rank, [&] {
        if (rank == 0) ini_text = read_config_file(opts.config);
      })) {
    return kExitUsage;
  }
  broadcast(ini_text, comm);
  std::vector<std::string> overrides = opts.sets;
  if (!opts.output.empty()) overrides.push_back("sweep.output=" + opts.output);
  if (failed_anywhere(comm, rank, [&] { spec.emplace(parse_spec(ini_text, overrides)); })) {
    return kExitUsage;
  }
  const std::string output = spec->output();
  if (failed_anywhere(comm, rank, [&] {
        if (rank == 0) check_output(output, opts.overwrite);
      })) {
    return kExitUsage;
  }

  // 3. The grid, the file layout and the points of this rank.
  const Grid grid(*spec);
  const SweepLayout layout = make_layout(grid);
  const std::vector<std::uint64_t> mine = static_points(grid.size(), rank, ranks);
  int threads = omp_get_max_threads();
  MPI_Allreduce(MPI_IN_PLACE, &threads, 1, MPI_INT, MPI_MAX, comm);  // provenance: the most
  if (rank == 0 && !opts.quiet) {
    std::cout << version_string() << "\n"
              << "sweep '" << spec->name() << "': model " << spec->model() << ", " << grid.size()
              << " point(s)";
    for (const auto& axis : grid.axes()) {
      std::cout << (&axis == &grid.axes().front() ? " over " : " x ") << axis.key << "["
                << axis.values.size() << "]";
    }
    // Results stay in memory until the end (and are routed to their writers): say how much.
    const double point_bytes =
        8.0 *
        static_cast<double>(layout.n_records() * (1 + layout.n_conserved) + layout.n_conserved + 8);
    const double file_mb = point_bytes * static_cast<double>(grid.size()) / 1e6;
    const double rank_mb = 2 * file_mb / ranks;
    std::cout << "\n"
              << "running on " << ranks << " rank(s) x " << threads << " thread(s); output "
              << output << " (about " << std::setprecision(3) << file_mb << " MB; up to " << rank_mb
              << " MB of results held per rank)\n"
              << std::setprecision(6) << std::flush;
  }

  // 4. The file, created collectively before any point runs. Replacing a file goes through
  //    <output>.partial so that the old results survive a failed run.
  int replacing_flag = rank == 0 && fs::exists(output) ? 1 : 0;
  MPI_Bcast(&replacing_flag, 1, MPI_INT, 0, comm);
  const bool replacing = replacing_flag != 0;
  const std::string target = replacing ? output + ".partial" : output;
  Provenance prov;
  prov.command_line = command_line;
  prov.hosts = gather_hosts(comm, rank, ranks);
  prov.created_utc = utc_now();
  broadcast(prov.created_utc, comm);
  prov.mpi_ranks = ranks;
  prov.omp_threads = threads;
  StoreOptions store_options;
  store_options.truncate = replacing;  // a stale <output>.partial of ours may be replaced
  ResultStore store = ResultStore::create(target, comm, grid, layout, prov, store_options);

  // 5. The points: OpenMP threads inside the rank; rank 0 reports its own progress.
  auto last_report = std::chrono::steady_clock::now();
  const ProgressFn progress = [&](std::size_t done) {
    if (rank != 0 || opts.quiet) return;
    const double since =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - last_report).count();
    if (since < 5.0 && done != mine.size()) return;
    last_report = std::chrono::steady_clock::now();
    const double elapsed = seconds_since(t0);
    const double share = static_cast<double>(done) / static_cast<double>(mine.size());
    std::printf("[%8.1f s] rank 0: %zu/%zu points (%.0f%%), about %.0f s left\n", elapsed, done,
                mine.size(), 100.0 * share, share > 0 ? elapsed * (1 - share) / share : 0.0);
    std::fflush(stdout);
  };
  const std::vector<PointResult> results = run_points(grid, layout, mine, progress);
  for (const auto& r : results) {
    if (r.status == Status::failed) {
      std::cerr << "symsweep: rank " << rank << ": point " << r.index << " failed: " << r.error
                << std::endl;
    }
  }

  // 6. Results into the file (data, flush, status, flush), then close on every rank.
  store.write(results, rank);
  store.close();

  // 7. Summary. A run with failed points is a failed run: it does not replace an existing file.
  std::vector<long long> counts(4 + 1, 0);  // outcomes + failed
  for (const auto& r : results) {
    if (r.status == Status::failed) {
      ++counts[4];
    } else {
      ++counts[static_cast<std::size_t>(r.outcome)];
    }
  }
  std::vector<long long> total(counts.size(), 0);
  MPI_Allreduce(counts.data(), total.data(), static_cast<int>(counts.size()), MPI_LONG_LONG,
                MPI_SUM, comm);
  const bool failed = total[4] > 0;
  if (replacing && !failed && rank == 0) fs::rename(target, output);
  MPI_Barrier(comm);
  if (rank == 0 && !opts.quiet) {
    std::cout << "done: " << total[1] << " converged, " << total[2] << " diverged, " << total[3]
              << " moving, " << total[4] << " failed; wrote " << (failed ? target : output)
              << " in " << seconds_since(t0) << " s\n";
  }
  if (rank == 0 && failed) {
    std::cerr << "symsweep: error: " << total[4] << " point(s) failed (status 'failed' in "
              << target << ")"
              << (replacing ? "; " + output + " was left unchanged" : std::string()) << std::endl;
  }
  return failed ? kExitFailure : kExitOk;
}

}  // namespace symsweep::apps
