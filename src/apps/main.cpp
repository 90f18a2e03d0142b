// symsweep — distributed parameter sweeps of SGD simulations.
//
//   mpirun -np 4 symsweep run jobs/sweeps/quickstart.ini -o results/quickstart.h5
//   symsweep inspect results/quickstart.h5
//   symsweep --help
//
// Only `run`, `resume`, `replicate` and `merge` initialise MPI (MPI_THREAD_FUNNELED: the master
// thread of each rank makes every MPI and HDF5 call), and `rerun` when it writes a dense trace;
// `inspect`, `status`, --help and --version run as plain processes.
#include <mpi.h>

#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "apps.hpp"
#include "symsweep/error.hpp"
#include "symsweep/version.hpp"
#include "text.hpp"

namespace {

constexpr const char* kUsage = R"(Usage:
  mpirun -np R symsweep run CONFIG.ini [--set section.key=value]... [-o OUT.h5] [--overwrite] [--quiet]
        Run the sweep CONFIG.ini describes: MPI ranks share the grid points (rank 0 hands out
        chunks on request; --schedule static: point p on rank p mod R), OpenMP threads
        (OMP_NUM_THREADS) run a rank's points, and every result goes into
        one HDF5 file written by all ranks, at checkpoints (--checkpoint SECONDS, default 60).
        --dry-run prints the points, the file size, the memory per rank and the free disk.
        `symsweep run --help` lists run's options. A [refine] section (refine.axes, ...: see
        the configuration below) runs an adaptive sweep: a coarse grid of the refined axes,
        then level by level only the cells whose corners disagree, into a point table
        (format symsweep-refine/1) that resume, inspect and symsweep_analysis read.
  mpirun -np R symsweep resume OUT.h5 [CONFIG.ini]
        Finish a result file that a run left unfinished (killed, interrupted, out of time): run
        the points not done, with the file's own config, on any number of ranks. The result is
        the file an uninterrupted run gives, bit for bit. An interrupted --overwrite run lives
        in OUT.h5.partial beside the old OUT.h5: resume OUT.h5 finds it and replaces OUT.h5 once
        it completes.
  mpirun -np R symsweep replicate OUT.h5 --seeds K -o REP.h5 [--first-seed S]
        Run the sweep of OUT.h5 again, from its stored config, into the new file REP.h5 with K
        new seeds in place of its sweep.seed axis (disjoint from OUT.h5's; recorded in REP.h5's
        attributes), for `symsweep_analysis compare --statistical OUT.h5 REP.h5`. An ordinary
        run otherwise (checkpoints, resume). `symsweep replicate --help` lists its options.
  mpirun -np R symsweep run CONFIG.ini --shard i/N
  symsweep merge OUT.h5 SHARD.h5...
        Split a sweep into N jobs (e.g. a SLURM array): each computes part i (0-based) of N
        contiguous parts of the grid into OUT.shard-i-of-N.h5 (resumable like any run); merge
        checks that the shards are of one config and build and cover the grid once, with every
        point done, and writes OUT.h5: /results and /traces equal a single run's bit for bit.
  symsweep inspect OUT.h5
        Summarise a result file: provenance, axes, the points per member of every enum field
        (status, outcome, ...) and the range of every real field, as the file declares them.
  symsweep rerun OUT.h5 --point KEY=VALUE,... | --index N [--trace-every K -o POINT.h5]
        Recompute one point from the file's own config and compare every field of /results
        and /traces with the stored values, bit for bit (exit 0 equal, 1 not); with
        --trace-every, also write the point's dense trace as a one-point result file.
  symsweep status OUT.h5 [--json]
        The live status of a run or resume (OUT.h5.status.json, rewritten every --status
        seconds): state, points done, outcomes, rate, time left, hosts, heartbeat; tells a run
        that died (kill -9, a lost node) from a live one.
  symsweep --help | --version

Exit status: 0 done; 1 failed points or a runtime failure (I/O, MPI; what was checkpointed
stays valid); 2 bad configuration or command line (the message names the key, the value and the
rule; no file was created or changed); 3 interrupted by SIGTERM, SIGINT or SIGUSR1: every
finished point was saved, continue with `symsweep resume OUT.h5`. (mpirun itself exits 1 when it
is sent SIGTERM or SIGINT, and kills the ranks 1 s later unless OMPI_MCA_odls_base_sigkill_timeout
is larger; it forwards SIGUSR1 to the ranks and then exits 3.)
)";

/// The MPI guard: the first object of a command that uses MPI, so that everything else (files
/// included) is closed before MPI_Finalize.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    if (provided < MPI_THREAD_FUNNELED) {
      throw symsweep::IoError("the MPI library does not provide MPI_THREAD_FUNNELED");
    }
  }
  ~MpiSession() { MPI_Finalize(); }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

int world_rank() {
  int init = 0;
  MPI_Initialized(&init);
  int rank = 0;
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

std::string quoted_command_line(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.find_first_of(" \t'\"") != std::string::npos) a = "'" + a + "'";
    line += (i ? " " : "") + a;
  }
  return line;
}

using MpiCommand = int (*)(const std::vector<std::string>&, const std::string&);

int mpi_command(int argc, char** argv, MpiCommand command) {
  const MpiSession mpi(argc, argv);
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    return command(args, quoted_command_line(argc, argv));
  } catch (const std::bad_alloc&) {
    symsweep::text::write_stderr(
        "symsweep: rank " + std::to_string(world_rank()) +
        ": error: out of memory; run fewer ranks per node, fewer threads per rank, or a smaller "
        "grid or model (symsweep run --dry-run prints the memory it will hold)\n");
    MPI_Abort(MPI_COMM_WORLD, symsweep::kExitFailure);
  } catch (const std::exception& e) {
    // A failure after the ranks parted ways (I/O, MPI): report once per rank, then stop them all.
    symsweep::text::write_stderr("symsweep: rank " + std::to_string(world_rank()) +
                                 ": error: " + e.what() + "\n");
    MPI_Abort(MPI_COMM_WORLD, symsweep::kExitFailure);
  }
  return symsweep::kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  try {
    if (command == "run") return mpi_command(argc, argv, symsweep::apps::run);
    if (command == "resume") return mpi_command(argc, argv, symsweep::apps::resume);
    if (command == "replicate") return mpi_command(argc, argv, symsweep::apps::replicate);
    if (command == "merge") return mpi_command(argc, argv, symsweep::apps::merge);
    if (command == "inspect") return symsweep::apps::inspect({argv + 2, argv + argc});
    if (command == "rerun")
      return symsweep::apps::rerun({argv + 2, argv + argc}, quoted_command_line(argc, argv));
    if (command == "status") return symsweep::apps::status({argv + 2, argv + argc});
    if (command == "--version" || command == "-V") {
      std::cout << symsweep::version_string() << "\n";
      return symsweep::kExitOk;
    }
    if (command == "--help" || command == "-h" || command == "help") {
      std::cout << symsweep::version_string()
                << " — distributed parameter sweeps of SGD simulations\n\n"
                << kUsage << "\n"
                << symsweep::apps::config_reference();
      return symsweep::kExitOk;
    }
    symsweep::text::write_stderr((command.empty() ? "symsweep: no command given"
                                                  : "symsweep: unknown command '" + command + "'") +
                                 "\n\n" + kUsage);
    return symsweep::kExitUsage;
  } catch (const symsweep::ConfigError& e) {
    symsweep::text::write_stderr(std::string("symsweep: error: ") + e.what() + "\n");
    return symsweep::kExitUsage;
  } catch (const std::exception& e) {
    symsweep::text::write_stderr(std::string("symsweep: error: ") + e.what() + "\n");
    return symsweep::kExitFailure;
  }
}
