// `symsweep run`: config -> grid -> SGD on MPI ranks x OpenMP threads -> one parallel HDF5 file.
//
//   mpirun -np 2 symsweep run jobs/sweeps/quickstart.ini -o results/quickstart.h5
//   OMP_NUM_THREADS=4 mpirun -np 4 symsweep run sweep.ini --set optimizer.steps=100 --overwrite
//
// The work is the library's run_sweep (include/symsweep/sweep.hpp); this driver parses the
// command line and the config identically on every rank and reports. A bad configuration is found
// on every rank before anything is created: the run exits 2 and no file is touched.
#include <mpi.h>

#include <iostream>
#include <optional>

#include <boost/program_options.hpp>

#include "apps.hpp"
#include "symsweep/error.hpp"
#include "symsweep/spec.hpp"
#include "symsweep/sweep.hpp"

namespace po = boost::program_options;

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
  if (vm.count("output") && o.output.empty()) {
    throw ConfigError(
        "command line: --output '': must name a file (or leave -o out to use "
        "[sweep] output)");
  }
  if (!o.help && o.config.empty()) {
    throw ConfigError(
        "command line: missing CONFIG.ini (usage: symsweep run CONFIG.ini [options])");
  }
  return o;
}

}  // namespace

int run(const std::vector<std::string>& rank_args, const std::string& command_line) {
  // 1. Ranks. Every rank works from rank 0's command line, so that a launch that gives ranks
  //    different arguments cannot make them disagree inside a collective call.
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::string packed;
  for (const auto& a : rank_args) packed += a + '\0';
  broadcast(packed, comm);
  std::vector<std::string> args;
  for (std::size_t at = 0; at < packed.size();) {
    const std::size_t end = packed.find('\0', at);
    args.push_back(packed.substr(at, end - at));
    at = end + 1;
  }

  try {
    // 2. Command line and configuration, parsed identically on every rank (rank 0 reads the
    //    file and broadcasts its text, so all ranks see the same bytes).
    RunOptions opts;
    collective_check(comm, [&] { opts = parse_run_options(args); });
    if (opts.help) {
      if (rank == 0) {
        RunOptions scratch;
        std::cout << "Usage: mpirun -np R symsweep run CONFIG.ini [options]\n\n"
                  << run_options_description(scratch) << "\n"
                  << "The configuration keys and models are listed by `symsweep --help`.\n";
      }
      return kExitOk;
    }
    std::string ini_text;
    collective_check(comm, [&] {
      if (rank == 0) ini_text = read_config_file(opts.config);
    });
    broadcast(ini_text, comm);
    std::vector<std::string> overrides = opts.sets;
    if (!opts.output.empty()) overrides.push_back("sweep.output=" + opts.output);
    std::optional<SweepSpec> spec;
    collective_check(comm, [&] { spec.emplace(parse_spec(ini_text, overrides, opts.config)); });

    // 3. The sweep.
    SweepOptions options;
    options.overwrite = opts.overwrite;
    options.command_line = command_line;
    options.log = opts.quiet ? nullptr : &std::cout;
    return run_sweep(*spec, comm, options).ok() ? kExitOk : kExitFailure;
  } catch (const ConfigError& e) {  // thrown on every rank alike: report once
    if (rank == 0) std::cerr << "symsweep: error: " << e.what() << std::endl;
    return kExitUsage;
  }
}

}  // namespace symsweep::apps
