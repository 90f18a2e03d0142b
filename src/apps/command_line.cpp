#include "command_line.hpp"

#include "symsweep/error.hpp"

namespace symsweep::apps {

namespace po = boost::program_options;

po::variables_map parse_command_line(const std::vector<std::string>& args,
                                     const po::options_description& visible,
                                     const po::options_description& hidden,
                                     const po::positional_options_description& positional,
                                     const std::string& command) {
  po::options_description all;
  all.add(visible).add(hidden);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw ConfigError(std::string("command line: ") + e.what() + " (symsweep " + command +
                      " --help lists the options)");
  }
  return vm;
}

}  // namespace symsweep::apps
