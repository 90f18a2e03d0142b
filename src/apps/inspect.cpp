// `symsweep inspect FILE.h5`: a summary of a result file (no MPI needed).
#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <vector>

#include "apps.hpp"
#include "h5.hpp"
#include "lock.hpp"
#include "status.hpp"
#include "symsweep/error.hpp"
#include "symsweep/store.hpp"
#include "text.hpp"

namespace symsweep::apps {

namespace {

/// The points of each status code (0 pending, 1 done, 2 failed) in /results/status.
std::array<long long, 3> status_counts(const std::string& path) {
  h5::init();
  h5::Handle file = h5::file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  h5::Handle dset = h5::dataset_handle(H5Dopen2(file.get(), "results/status", H5P_DEFAULT),
                                       "open /results/status");
  std::size_t n = 1;
  for (hsize_t d : h5::dataset_shape(dset.get())) n *= static_cast<std::size_t>(d);
  // Read as the file's own bytes (the enum's codes): an enum does not convert to an integer.
  h5::Handle type = h5::type_handle(H5Dget_type(dset.get()), "status type");
  std::vector<unsigned char> codes(n);
  h5::check_status(H5Dread(dset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, codes.data()),
                   "read /results/status");
  // A point table: its planned rows alone (the rest hold no point yet).
  if (H5Lexists(file.get(), "refine", H5P_DEFAULT) > 0 &&
      H5Lexists(file.get(), "refine/rows", H5P_DEFAULT) > 0) {
    h5::Handle rows =
        h5::dataset_handle(H5Dopen2(file.get(), "refine/rows", H5P_DEFAULT), "open /refine/rows");
    std::int64_t planned = 0;
    h5::check_status(H5Dread(rows.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &planned),
                     "read /refine/rows");
    codes.resize(
        std::min(codes.size(), static_cast<std::size_t>(std::max<std::int64_t>(0, planned))));
  }
  std::array<long long, 3> counts{0, 0, 0};
  for (unsigned char c : codes) ++counts[c < 3 ? c : 0];
  return counts;
}

/// A refined sweep whose planned points are all done is complete only when its last run ended
/// so: a run stopped between levels has a next level to plan (resume plans it).
bool refinement_unfinished(const std::string& path) {
  if (read_file_info(path).format != kRefineFormat) return false;
  const std::vector<RunRecord> runs = read_runs(path);
  return runs.empty() || runs.back().ended != "complete";
}

/// complete, possibly running (a process on this host holds the output's lock, or the status
/// file's heartbeat is recent), or interrupted; with what to do next.
std::string state_line(const std::string& path) {
  // Whether a run is alive first, the file's counts after: a run that ends between the two reads
  // is then seen alive or complete, never as interrupted with the counts from before its final
  // checkpoint (its lock is released after the file is closed).
  std::optional<RunStatus> status;
  std::ifstream in(status_path(path));
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    try {
      status = parse_status(text.str(), status_path(path));
    } catch (const ConfigError&) {
      // no readable status: judged by the lock alone
    }
  }
  const Liveness alive = judge_liveness(path, status ? &*status : nullptr);
  const auto [pending, done, failed] = status_counts(path);
  const long long points = pending + done + failed;
  if (pending == 0 && failed == 0 && refinement_unfinished(path)) {
    return "state: interrupted between levels of the refinement (" + std::to_string(done) +
           " point(s) done); continue with: symsweep resume " + path +
           " (it plans the next level from the file)";
  }
  if (pending == 0 && failed == 0) {
    return "state: complete (" + std::to_string(done) + " of " + std::to_string(points) +
           " point(s) done)";
  }
  const std::string counts = std::to_string(done) + " of " + std::to_string(points) +
                             " point(s) done, " + std::to_string(pending) + " pending, " +
                             std::to_string(failed) + " failed";
  if (alive.kind == Liveness::kAlive) {
    return "state: possibly running: " + alive.why + " (" + counts +
           " at the last checkpoint; symsweep status " + path + " shows its progress)";
  }
  if (alive.kind == Liveness::kUnknown) {
    return "state: interrupted, or running elsewhere: " + alive.why + " (" + counts +
           "); if no run is alive there, continue with: symsweep resume " + path;
  }
  return "state: interrupted (" + counts + "); continue with: symsweep resume " + path +
         (failed > 0 ? " (failed points run again)" : "");
}

}  // namespace

int inspect(const std::vector<std::string>& args) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::cout
        << "Usage: symsweep inspect FILE.h5\n"
           "Prints provenance, axes, the points per member of every enum field and the range\n"
           "of every real field of a result file, as the file declares them. Provenance: the\n"
           "command line, the hosts and their CPUs (model, SIMD flags), the build (compiler,\n"
           "build type, flags, build signature, MPI, HDF5, Eigen, Boost, Random123 and OpenMP\n"
           "versions), a DIRTY BUILD line when it was built from uncommitted changes, and the\n"
           "runs that wrote the file (the run, each resume; a BUILD CHANGED line under a part\n"
           "computed by another build).\n";
    return kExitOk;
  }
  if (args.size() != 1) throw ConfigError("usage: symsweep inspect FILE.h5");
  if (!std::filesystem::exists(args[0])) {
    throw ConfigError("inspect: '" + args[0] + "' does not exist");
  }
  const std::string summary = describe_file(args[0]);
  // The state, after the first line (the file and its build).
  const std::size_t eol = summary.find('\n');
  std::cout << summary.substr(0, eol + 1) << "  " << state_line(args[0]) << "\n"
            << summary.substr(eol + 1);
  return kExitOk;
}

}  // namespace symsweep::apps
