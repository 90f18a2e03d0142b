// The `symsweep` driver's commands (private to the executable).
#pragma once

#include <string>
#include <vector>

namespace symsweep::apps {

/// `symsweep run CONFIG [options]` — args are the words after "run". Needs MPI initialised.
int run(const std::vector<std::string>& args, const std::string& command_line);
/// `symsweep resume OUT.h5 [CONFIG] [options]` — args are the words after "resume". Needs MPI.
int resume(const std::vector<std::string>& args, const std::string& command_line);
/// `symsweep rerun OUT.h5 --point KEY=VALUE,... | --index N [--trace-every K -o POINT.h5]`: one
/// point recomputed and compared with the file. Initialises MPI itself, for --trace-every only.
int rerun(const std::vector<std::string>& args, const std::string& command_line);
/// `symsweep replicate OUT.h5 --seeds K -o REP.h5 [options]` — args are the words after
/// "replicate". Needs MPI.
int replicate(const std::vector<std::string>& args, const std::string& command_line);
/// `symsweep merge OUT.h5 SHARD...`: the whole grid's file from the shards of `run --shard`.
/// Needs MPI (one rank).
int merge(const std::vector<std::string>& args, const std::string& command_line);
/// `symsweep inspect FILE`.
int inspect(const std::vector<std::string>& args);
/// `symsweep status OUT.h5 [--json]`.
int status(const std::vector<std::string>& args);
/// The configuration reference printed by --help: every section, key, default and rule, and every
/// model with its parameters.
std::string config_reference();

}  // namespace symsweep::apps
