// `symsweep run` and `symsweep resume`: config -> grid -> SGD on MPI ranks x OpenMP threads -> one
// parallel HDF5 file, written at checkpoints; and the continuation of a file a run left unfinished.
//
//   mpirun -np 2 symsweep run jobs/sweeps/quickstart.ini -o results/quickstart.h5
//   OMP_NUM_THREADS=4 mpirun -np 4 symsweep run sweep.ini --set optimizer.steps=100 --overwrite
//   mpirun -np 8 symsweep resume results/quickstart.h5
//
// The work is the library's run_sweep / resume_sweep (include/symsweep/sweep.hpp); this driver
// parses the command line and the config identically on every rank and reports. A bad
// configuration is found on every rank before anything is created: the run exits 2 and no file
// is touched. SIGTERM, SIGINT and SIGUSR1 stop a run with a checkpoint: exit 3, resumable.
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <vector>

#include <boost/program_options.hpp>

#include "apps.hpp"
#include "command_line.hpp"
#include "io_hints.hpp"
#include "symsweep/error.hpp"
#include "symsweep/spec.hpp"
#include "symsweep/sweep.hpp"
#include "text.hpp"

namespace po = boost::program_options;

namespace symsweep::apps {

namespace {

struct RunOptions {
  std::string config;
  std::string file;    // resume: the result file
  std::string output;  // empty: from the config
  std::vector<std::string> sets;
  double checkpoint = 60;
  double status = 10;
  double io_timeout = 600;
  std::string schedule = "dynamic";
  bool overwrite = false;
  std::string shard;  // run: "i/N"
  std::uint64_t shard_index = 0, shard_count = 0;
  bool allow_build_change = false;  // resume
  bool dry_run = false;
  bool quiet = false;
  bool help = false;
};

po::options_description run_options_description(RunOptions& o, bool resume) {
  po::options_description desc(resume ? "Options of `symsweep resume OUT.h5 [CONFIG.ini]`"
                                      : "Options of `symsweep run CONFIG.ini`");
  if (!resume) {
    desc.add_options()("output,o", po::value(&o.output)->value_name("FILE"),
                       "result file to write (overrides [sweep] output)");
  }
  desc.add_options()(
      "set", po::value(&o.sets)->composing()->value_name("KEY=VALUE"),
      resume ? "an override of CONFIG.ini, given to check that it is the file's config"
             : "override a config key, e.g. --set optimizer.eta=0.1 or --set "
               "axes.optimizer.batch=1,2,4;\nsetting a swept key fixes it; may be repeated")(
      "checkpoint", po::value(&o.checkpoint)->value_name("SECONDS")->default_value(60),
      "write finished points into the file (and free their memory) at least this often")(
      "status", po::value(&o.status)->value_name("SECONDS")->default_value(10),
      "rewrite OUT.h5.status.json (state, points done, outcomes, rate, heartbeat; read it with "
      "`symsweep status OUT.h5`) at most this often; 0: no status file")(
      "io-timeout", po::value(&o.io_timeout)->value_name("SECONDS")->default_value(600),
      "end the job (exit 1, naming the step and the rank) when a collective I/O step has not "
      "returned after this long: a rank stuck inside HDF5 or MPI-IO; 0: never")(
      "schedule", po::value(&o.schedule)->value_name("dynamic|static")->default_value("dynamic"),
      "how the ranks share the points: dynamic (rank 0 hands out chunks on request, sized by the "
      "measured cost per point: no rank idles while another has points left) or static (point p "
      "on rank p mod R); the results are the same bits either way");
  if (!resume) {
    desc.add_options()("overwrite", po::bool_switch(&o.overwrite),
                       "replace an existing result file (the old file stays until the new run "
                       "completes; an interrupted replacement is resumed with `symsweep resume`)")(
        "dry-run,n", po::bool_switch(&o.dry_run),
        "print the points, the file's size, the memory per rank and the free disk, and stop")(
        "shard", po::value(&o.shard)->value_name("i/N"),
        "compute only part i (0-based) of N near-equal contiguous parts of the grid, into a file "
        "of its own beside the output, OUT.shard-i-of-N.h5 (resumable with symsweep resume); "
        "`symsweep merge OUT.h5 SHARD...` joins the N files into OUT.h5");
  }
  if (resume) {
    desc.add_options()("allow-build-change", po::bool_switch(&o.allow_build_change),
                       "resume a file whose build signature (compiler flags, SIMD width, Eigen "
                       "and numerics versions: `symsweep inspect` shows it) differs from this "
                       "build's, which is refused otherwise; the change is recorded in the "
                       "file's runs list");
  }
  desc.add_options()("quiet,q", po::bool_switch(&o.quiet), "print only errors")(
      "help,h", po::bool_switch(&o.help), "show this help");
  return desc;
}

RunOptions parse_run_options(const std::vector<std::string>& args, bool resume) {
  RunOptions o;
  po::options_description desc = run_options_description(o, resume);
  po::options_description hidden;
  po::positional_options_description positional;
  if (resume) {
    hidden.add_options()("file", po::value(&o.file))("config", po::value(&o.config));
    positional.add("file", 1).add("config", 1);
    hidden.add_options()("shard", po::value(&o.shard));  // refused below, with the reason
  } else {
    hidden.add_options()("config", po::value(&o.config));
    positional.add("config", 1);
  }
  const po::variables_map vm =
      parse_command_line(args, desc, hidden, positional, resume ? "resume" : "run");
  if (vm.count("output") && o.output.empty()) {
    throw ConfigError(
        "command line: --output '': must name a file (or leave -o out to use "
        "[sweep] output)");
  }
  if (!(o.checkpoint > 0 && o.checkpoint <= 1e9)) {
    throw ConfigError("command line: --checkpoint " + text::format_double(o.checkpoint) +
                      ": must be a number of seconds in (0, 1e9]");
  }
  if (!(o.status >= 0 && o.status <= 1e9)) {
    throw ConfigError("command line: --status " + text::format_double(o.status) +
                      ": must be a number of seconds in [0, 1e9] (0: no status file)");
  }
  if (!(o.io_timeout >= 0 && o.io_timeout <= 1e9)) {
    throw ConfigError("command line: --io-timeout " + text::format_double(o.io_timeout) +
                      ": must be a number of seconds in [0, 1e9] (0: never)");
  }
  if (resume && vm.count("shard")) {
    throw ConfigError("command line: --shard " + o.shard +
                      ": symsweep resume takes no --shard (a shard file resumes its own part: "
                      "symsweep resume OUT.shard-i-of-N.h5)");
  }
  if (vm.count("shard")) {
    // "i/N": two decimal integers, 0 <= i < N (N <= the grid's points is checked with the grid).
    const std::size_t slash = o.shard.find('/');
    const auto number = [](const std::string& t, std::uint64_t& v) {
      if (t.empty() || t.size() > 18 || t.find_first_not_of("0123456789") != std::string::npos) {
        return false;
      }
      v = std::stoull(t);
      return true;
    };
    if (slash == std::string::npos || !number(o.shard.substr(0, slash), o.shard_index) ||
        !number(o.shard.substr(slash + 1), o.shard_count) || o.shard_count < 1 ||
        o.shard_index >= o.shard_count) {
      throw ConfigError("command line: --shard " + text::quote(o.shard) +
                        ": must be i/N, two integers with N >= 1 and 0 <= i < N (part i, "
                        "0-based, of N), e.g. --shard 0/4");
    }
  }
  if (o.schedule != "dynamic" && o.schedule != "static") {
    throw ConfigError("command line: --schedule " + text::quote(o.schedule) +
                      ": must be dynamic or static");
  }
  if (o.help) return o;
  if (resume && o.file.empty()) {
    throw ConfigError(
        "command line: missing OUT.h5 (usage: symsweep resume OUT.h5 [CONFIG.ini] [options])");
  }
  if (!resume && o.config.empty()) {
    throw ConfigError(
        "command line: missing CONFIG.ini (usage: symsweep run CONFIG.ini [options])");
  }
  if (resume && o.config.empty() && !o.sets.empty()) {
    throw ConfigError(
        "command line: --set needs CONFIG.ini beside OUT.h5 (a resume runs the "
        "file's own config; a config given is only compared with it)");
  }
  return o;
}

/// Whether the progress goes to a terminal. Under mpirun a rank's standard output is a
/// pseudo-terminal of Open MPI's whatever mpirun's own is, so the launcher's (the parent's, on
/// the node where mpirun runs) tells: a terminal there, or a file or pipe (a log).
bool output_is_terminal() {
  if (::isatty(STDOUT_FILENO) != 1) return false;
  if (std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr) return true;
  char target[256] = {0};
  const std::string fd = "/proc/" + std::to_string(::getppid()) + "/fd/1";
  const ssize_t n = ::readlink(fd.c_str(), target, sizeof target - 1);
  if (n <= 0) return false;
  const std::string t(target, static_cast<std::size_t>(n));
  return t.rfind("/dev/pts/", 0) == 0 || t.rfind("/dev/tty", 0) == 0;
}

/// Rank 0 reads the file; every rank parses the same bytes. Collective.
SweepSpec parse_config(const RunOptions& opts, MPI_Comm comm, int rank) {
  std::string ini_text;
  collective_check(comm, [&] {
    if (rank == 0) ini_text = read_config_file(opts.config);
  });
  broadcast(ini_text, comm);
  std::vector<std::string> overrides = opts.sets;
  if (!opts.output.empty()) overrides.push_back("sweep.output=" + opts.output);
  std::optional<SweepSpec> spec;
  collective_check(comm, [&] { spec.emplace(parse_spec(ini_text, overrides, opts.config)); });
  return *spec;
}

int exit_status(const SweepSummary& summary) {
  if (summary.interrupted()) return kExitInterrupted;
  return summary.ok() ? kExitOk : kExitFailure;
}

int command(const std::vector<std::string>& rank_args, const std::string& command_line,
            bool resume) {
  // 1. Ranks. Every rank works from rank 0's command line, so that a launch that gives ranks
  //    different arguments cannot make them disagree inside a collective call.
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
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
    // 2. Command line and configuration, parsed identically on every rank.
    RunOptions opts;
    collective_check(comm, [&] { opts = parse_run_options(args, resume); });
    if (opts.help) {
      if (rank == 0) {
        RunOptions scratch;
        std::cout << (resume ? "Usage: mpirun -np R symsweep resume OUT.h5 [CONFIG.ini] [options]\n"
                               "Runs the points of OUT.h5 that are not done, with the config "
                               "stored in the file (a CONFIG.ini given is compared with it).\n\n"
                             : "Usage: mpirun -np R symsweep run CONFIG.ini [options]\n"
                               "A config with [refine] axes runs an adaptive sweep: level by "
                               "level, only where the phase changes (symsweep --help, [refine]); "
                               "resume continues its level or plans the next.\n\n")
                  << run_options_description(scratch, resume) << "\n"
                  << "Exit status: 0 done; 1 failed points or a runtime failure; 2 bad input "
                     "(nothing changed: e.g. resume of a file another build signature wrote); 3 "
                     "interrupted by SIGTERM, SIGINT or SIGUSR1 after "
                     "saving every finished point (continue with symsweep resume OUT.h5).\n"
                  << "Environment: " << kIoHintsVariable
                  << "='key=value, ...': MPI-IO hints for the result file (collective "
                     "buffering, Lustre striping), checked at start (README, \"Across nodes and "
                     "file systems\"). Under SLURM, rank 0 warns once when a point looks longer "
                     "than the time left in the allocation (SLURM_JOB_END_TIME, else squeue).\n"
                  << "The configuration keys and models are listed by `symsweep --help`.\n";
      }
      return kExitOk;
    }
    std::optional<SweepSpec> spec;
    if (!opts.config.empty()) spec.emplace(parse_config(opts, comm, rank));
    // MPI-IO hints from the environment (io_hints.hpp), checked before anything is written; the
    // store applies them to every open of the file.
    std::vector<IoHint> hints;
    collective_check(comm, [&] { hints = io_hints_from_environment(); });

    SweepOptions options;
    options.overwrite = opts.overwrite;
    options.shard_index = opts.shard_index;
    options.shard_count = opts.shard_count;
    options.allow_build_change = opts.allow_build_change;
    options.command_line = command_line;
    options.log = opts.quiet ? nullptr : &std::cout;
    options.checkpoint_seconds = opts.checkpoint;
    options.status_seconds = opts.status;
    options.io_timeout_seconds = opts.io_timeout;
    options.schedule = opts.schedule == "static" ? Schedule::static_ : Schedule::dynamic;
    options.progress_in_place = !opts.quiet && rank == 0 && output_is_terminal();
    if (opts.dry_run) {
      std::string plan;  // every rank: a bad --shard is refused by all alike
      collective_check(comm, [&] { plan = describe_plan(*spec, ranks, options); });
      if (rank == 0) std::cout << plan;
      return kExitOk;
    }
    if (!hints.empty() && options.log != nullptr && rank == 0) {
      *options.log << "MPI-IO hints (" << kIoHintsVariable << "): " << io_hints_text(hints)
                   << std::endl;
    }
    // 3. The sweep. From here a signal stops it with a checkpoint instead of killing it.
    install_signal_handlers();
    const SweepSummary summary =
        resume ? resume_sweep(opts.file, spec ? &*spec : nullptr, comm, options)
               : run_sweep(*spec, comm, options);
    return exit_status(summary);
  } catch (const ConfigError& e) {  // thrown on every rank alike: report once
    if (rank == 0) text::write_stderr(std::string("symsweep: error: ") + e.what() + "\n");
    return kExitUsage;
  } catch (const SharedError& e) {
    // Every rank raised it together (none waits for another), but the result file may still be
    // open in HDF5 after a failed write, and HDF5 would try to close it inside MPI_Finalize
    // (crashing, or waiting on a rank that gave up). What was checkpointed is on disk already:
    // leave without closing anything (the same exit status and mpirun report as a return).
    if (rank == 0) text::write_stderr(std::string("symsweep: error: ") + e.what() + "\n");
    std::cout.flush();
    std::fflush(nullptr);
    ::_exit(kExitFailure);
  }
}

}  // namespace

int run(const std::vector<std::string>& args, const std::string& command_line) {
  return command(args, command_line, false);
}

int resume(const std::vector<std::string>& args, const std::string& command_line) {
  return command(args, command_line, true);
}

}  // namespace symsweep::apps
