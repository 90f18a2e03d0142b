// `symsweep replicate`: a result file's sweep again, with new seeds, for a statistical check of
// its numbers (symsweep_analysis compare --statistical).
//
//   mpirun -np 4 symsweep replicate results/sgd_stability.h5 --seeds 20 -o results/rep.h5
//   PYTHONPATH=analysis python3 -m symsweep_analysis compare --statistical
//       results/sgd_stability.h5 results/rep.h5          (one command line)
//
// The replicate is an ordinary run of the file's own config (its config_text) whose sweep.seed
// axis is replaced by K seeds the file does not use: the K smallest whole numbers from
// --first-seed on (default: one more than the file's largest seed) that are not among the file's
// seeds. A file whose seed is fixed (no sweep.seed axis) gets a sweep.seed axis of K values, as
// its last axis. Every other key, the grid included, is the file's. The new file's config_text
// is that resolved config, so `symsweep resume REP.h5` finishes an interrupted replicate like any
// run; its root attributes replicate_of (the original's absolute path),
// replicate_of_config_sha256, replicate_of_seeds and replicate_seeds say what it replicates.
// Two replicates of one file with the same --first-seed have the same seeds, hence the same bits:
// give independent replicates disjoint seeds (e.g. --first-seed 1000, --first-seed 2000).
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>

#include <boost/program_options.hpp>

#include "apps.hpp"
#include "command_line.hpp"
#include "sha256.hpp"
#include "symsweep/error.hpp"
#include "symsweep/spec.hpp"
#include "symsweep/store.hpp"
#include "symsweep/sweep.hpp"
#include "symsweep/version.hpp"
#include "text.hpp"

namespace po = boost::program_options;

namespace symsweep::apps {

namespace {

constexpr long long kMaxSeeds = 1000000;          // the most values an axis holds (src/grid.cpp)
constexpr long long kMaxSeed = 9007199254740992;  // 2^53: sweep.seed's bound (src/spec.cpp)

struct ReplicateOptions {
  std::string file;    // the original
  std::string output;  // the replicate
  long long seeds = 0;
  long long first_seed = -1;  // -1: one more than the original's largest seed
  double checkpoint = 60;
  bool quiet = false;
  bool help = false;
};

po::options_description replicate_options_description(ReplicateOptions& o) {
  po::options_description desc("Options of `symsweep replicate OUT.h5 --seeds K -o REP.h5`");
  desc.add_options()("seeds", po::value(&o.seeds)->value_name("K"),
                     "number of new seeds (K >= 1): the replicate's sweep.seed axis")(
      "output,o", po::value(&o.output)->value_name("FILE"),
      "result file to write; it must not exist")(
      "first-seed", po::value(&o.first_seed)->value_name("S"),
      "the new seeds are the K smallest whole numbers >= S not used by OUT.h5 (default: one "
      "more than OUT.h5's largest seed)")(
      "checkpoint", po::value(&o.checkpoint)->value_name("SECONDS")->default_value(60),
      "write finished points into the file at least this often")(
      "quiet,q", po::bool_switch(&o.quiet), "print only errors")("help,h", po::bool_switch(&o.help),
                                                                 "show this help");
  return desc;
}

ReplicateOptions parse_replicate_options(const std::vector<std::string>& args) {
  ReplicateOptions o;
  po::options_description desc = replicate_options_description(o);
  po::options_description hidden;
  hidden.add_options()("file", po::value(&o.file));
  po::positional_options_description positional;
  positional.add("file", 1);
  const po::variables_map vm = parse_command_line(args, desc, hidden, positional, "replicate");
  if (o.help) return o;
  const std::string usage = " (usage: symsweep replicate OUT.h5 --seeds K -o REP.h5 [options])";
  if (o.file.empty()) throw ConfigError("command line: missing OUT.h5" + usage);
  if (!vm.count("seeds")) throw ConfigError("command line: missing --seeds K" + usage);
  if (o.seeds < 1 || o.seeds > kMaxSeeds) {
    throw ConfigError("command line: --seeds " + std::to_string(o.seeds) +
                      ": must be a whole number in [1, 1000000] (the number of new seeds; an "
                      "axis has at most 10^6 values)");
  }
  if (o.output.empty()) {
    throw ConfigError("command line: " + std::string(vm.count("output") ? "--output ''" : "-o") +
                      ": must name the replicate's file (a new file)" + usage);
  }
  if (vm.count("first-seed") && (o.first_seed < 0 || o.first_seed > kMaxSeed - 2 * kMaxSeeds)) {
    throw ConfigError("command line: --first-seed " + std::to_string(o.first_seed) +
                      ": must be a whole number in [0, 2^53 - 2000000] (seeds are below 2^53)");
  }
  if (!(o.checkpoint > 0 && o.checkpoint <= 1e9)) {
    throw ConfigError("command line: --checkpoint " + text::format_double(o.checkpoint) +
                      ": must be a number of seconds in (0, 1e9]");
  }
  return o;
}

/// The seeds of a sweep: its sweep.seed axis, or its one fixed seed.
std::vector<long long> seeds_of(const SweepSpec& spec) {
  std::vector<long long> seeds;
  for (const AxisSpec& axis : spec.axes()) {
    if (axis.key != "sweep.seed") continue;
    for (double v : axis.numbers()) seeds.push_back(static_cast<long long>(v));
    return seeds;
  }
  return {static_cast<long long>(spec.number("sweep.seed"))};
}

/// The K smallest whole numbers >= first not in `used`.
std::vector<long long> new_seeds(const std::vector<long long>& used, long long first, long long k) {
  const std::set<long long> taken(used.begin(), used.end());
  std::vector<long long> seeds;
  for (long long s = first; static_cast<long long>(seeds.size()) < k; ++s) {
    if (taken.count(s) == 0) seeds.push_back(s);
  }
  return seeds;
}

/// The axis expression of `seeds` (ascending): range(a, b) when they are consecutive, else the
/// list.
std::string seed_axis_text(const std::vector<long long>& seeds) {
  if (seeds.back() - seeds.front() + 1 == static_cast<long long>(seeds.size()) &&
      seeds.size() > 1) {
    return "range(" + std::to_string(seeds.front()) + ", " + std::to_string(seeds.back() + 1) + ")";
  }
  std::vector<std::string> items;
  for (long long s : seeds) items.push_back(std::to_string(s));
  return text::join(items, ", ");
}

std::string seed_list(const std::vector<long long>& seeds) {
  std::vector<std::string> items;
  for (long long s : seeds) items.push_back(std::to_string(s));
  return text::join(items, ", ");
}

/// Rank 0's arguments on every rank, so that ranks launched with different ones cannot part ways.
std::vector<std::string> rank0_args(const std::vector<std::string>& rank_args, MPI_Comm comm) {
  std::string packed;
  for (const auto& a : rank_args) packed += a + '\0';
  broadcast(packed, comm);
  std::vector<std::string> args;
  for (std::size_t at = 0; at < packed.size();) {
    const std::size_t end = packed.find('\0', at);
    args.push_back(packed.substr(at, end - at));
    at = end + 1;
  }
  return args;
}

}  // namespace

int replicate(const std::vector<std::string>& rank_args, const std::string& command_line) {
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const std::vector<std::string> args = rank0_args(rank_args, comm);
  try {
    // 1. The command line, parsed identically on every rank.
    ReplicateOptions opts;
    collective_check(comm, [&] { opts = parse_replicate_options(args); });
    if (opts.help) {
      if (rank == 0) {
        ReplicateOptions scratch;
        std::cout
            << "Usage: mpirun -np R symsweep replicate OUT.h5 --seeds K -o REP.h5 [options]\n"
               "Runs the sweep of OUT.h5 (its stored config) again into the new file REP.h5, "
               "with K new seeds\nin place of its sweep.seed axis (a file with one fixed seed "
               "gets a sweep.seed axis of K values,\nlast), disjoint from OUT.h5's seeds; every "
               "other key and the grid are OUT.h5's. REP.h5 is an\nordinary result file "
               "(checkpoints; `symsweep resume REP.h5` finishes it) whose root attributes\n"
               "replicate_of, replicate_of_config_sha256, replicate_of_seeds and replicate_seeds "
               "say what it\nreplicates. Replicates with the same seeds are the same bits: give "
               "independent replicates of\none file disjoint --first-seed ranges. Compare with "
               "`symsweep_analysis compare --statistical`.\n\n"
            << replicate_options_description(scratch) << "\n"
            << "Exit status: 0 done; 1 failed points or a runtime failure; 2 bad input (K < 1, "
               "REP.h5 exists,\nOUT.h5 missing or not a result file: nothing changed); 3 "
               "interrupted after saving every finished\npoint (continue with symsweep resume "
               "REP.h5).\n";
      }
      return kExitOk;
    }

    // 2. The original's config, read by rank 0, parsed by every rank; the new seeds.
    std::string config_text;
    collective_check(comm, [&] {
      if (rank != 0) return;
      std::error_code ec;
      if (!std::filesystem::exists(opts.file, ec)) {
        throw ConfigError(text::quote(opts.file) +
                          ": no such file (symsweep replicate reruns the sweep of a result file)");
      }
      if (std::filesystem::exists(opts.output, ec) ||
          std::filesystem::is_symlink(opts.output, ec)) {
        throw ConfigError("-o " + text::quote(opts.output) +
                          ": the file exists; a replicate is written to a new file only (it "
                          "never replaces one): name another");
      }
      const FileInfo info = read_file_info(opts.file);
      if (info.format == kShardFormat) {
        throw ConfigError(text::quote(opts.file) + ": a shard file (part " +
                          std::to_string(info.shard_index) + " of " +
                          std::to_string(info.shard_count) +
                          "); replicate the merged file (symsweep merge OUT.h5 SHARD...)");
      }
      config_text = info.config_text;
      if (info.numerics_version != kNumericsVersion) {
        text::write_stderr("symsweep: warning: " + text::quote(opts.file) +
                           " was computed with numerics version " +
                           std::to_string(info.numerics_version) + " (symsweep " +
                           info.symsweep_version + "), this symsweep computes version " +
                           std::to_string(kNumericsVersion) +
                           ": a difference between the two files may come from the builds, not "
                           "from the seeds\n");
      }
    });
    broadcast(config_text, comm);
    const std::string source = text::quote(opts.file) + " (config_text)";
    std::vector<long long> old_seeds, seeds;
    std::optional<SweepSpec> spec;
    collective_check(comm, [&] {
      const SweepSpec original = parse_spec(config_text, {}, source);
      old_seeds = seeds_of(original);
      std::sort(old_seeds.begin(), old_seeds.end());
      const long long first = opts.first_seed >= 0 ? opts.first_seed : old_seeds.back() + 1;
      seeds = new_seeds(old_seeds, first, opts.seeds);
      spec.emplace(parse_spec(
          config_text, {"axes.sweep.seed=" + seed_axis_text(seeds), "sweep.output=" + opts.output},
          source));
    });

    SweepOptions options;
    options.command_line = command_line;
    options.log = opts.quiet ? nullptr : &std::cout;
    options.checkpoint_seconds = opts.checkpoint;
    std::string original = opts.file;
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(opts.file, ec);
    if (!ec) original = absolute.lexically_normal().string();
    broadcast(original, comm);  // what rank 0 sees
    options.root_attributes = {{"replicate_of", original},
                               {"replicate_of_config_sha256", sha256_hex(config_text)},
                               {"replicate_of_seeds", seed_list(old_seeds)},
                               {"replicate_seeds", seed_list(seeds)}};
    if (rank == 0 && options.log) {
      *options.log << "replicate of " << opts.file << " (config sha256 "
                   << sha256_hex(config_text).substr(0, 12)
                   << "): sweep.seed = " << seed_axis_text(seeds)
                   << " (the file's: " << seed_axis_text(old_seeds) << ")" << std::endl;
    }

    // 3. The run, like `symsweep run` (a signal stops it with a checkpoint; resume finishes it).
    install_signal_handlers();
    const SweepSummary summary = run_sweep(*spec, comm, options);
    if (summary.interrupted()) return kExitInterrupted;
    return summary.ok() ? kExitOk : kExitFailure;
  } catch (const ConfigError& e) {  // thrown on every rank alike: report once
    if (rank == 0) text::write_stderr(std::string("symsweep: error: ") + e.what() + "\n");
    return kExitUsage;
  } catch (const SharedError& e) {  // as `symsweep run`: leave without closing (src/apps/run.cpp)
    if (rank == 0) text::write_stderr(std::string("symsweep: error: ") + e.what() + "\n");
    std::cout.flush();
    std::fflush(nullptr);
    ::_exit(kExitFailure);
  }
}

}  // namespace symsweep::apps
