// Parsing a command's words (private to the executable): one place for the Boost.Program_options
// steps every command repeats, and for the message of a malformed command line.
#pragma once

#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace symsweep::apps {

/// Parses `args` (the words after the command's name) against the options `visible` lists in its
/// --help, the `hidden` ones and their `positional` order. A malformed command line is a
/// ConfigError (exit status 2): "command line: <what is wrong> (symsweep <command> --help lists
/// the options)".
boost::program_options::variables_map parse_command_line(
    const std::vector<std::string>& args,
    const boost::program_options::options_description& visible,
    const boost::program_options::options_description& hidden,
    const boost::program_options::positional_options_description& positional,
    const std::string& command);

}  // namespace symsweep::apps
