// `symsweep inspect FILE.h5`: a summary of a result file (no MPI needed).
#include <filesystem>
#include <iostream>

#include "apps.hpp"
#include "symsweep/error.hpp"
#include "symsweep/store.hpp"

namespace symsweep::apps {

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
  std::cout << describe_file(args[0]);
  return kExitOk;
}

}  // namespace symsweep::apps
