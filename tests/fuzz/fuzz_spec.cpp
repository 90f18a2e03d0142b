// libFuzzer target over everything that parses user text: the INI reader, --set overrides, every
// value kind and the axis grammar (parse_spec), and the resolved config text, which must parse
// back to itself. Input: INI text, optionally followed by a line "--set" and one override per line.
//   tests/fuzz/run.sh            (builds with clang's -fsanitize=fuzzer,address,undefined, runs)
// Any exception other than ConfigError, any sanitizer report, or a config text that does not
// round-trip is a bug; each one found becomes a unit test (tests/unit/test_spec.cpp, "Fuzz").
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/spec.hpp"

namespace {

[[noreturn]] void bug(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_spec: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace symsweep;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view ini = input;
  std::vector<std::string> overrides;
  const std::size_t split = input.find("\n--set\n");
  if (split != std::string_view::npos) {
    ini = input.substr(0, split);
    std::string_view rest = input.substr(split + 7);
    while (!rest.empty()) {
      const std::size_t end = std::min(rest.find('\n'), rest.size());
      overrides.emplace_back(rest.substr(0, end));
      rest = rest.substr(std::min(end + 1, rest.size()));
    }
  }
  try {
    const SweepSpec spec = parse_spec(ini, overrides, "fuzz");
    const std::string text = spec.config_text();
    const Grid grid(spec);
    if (grid.size() > 0) grid.params(grid.size() - 1);
    try {
      const SweepSpec again = parse_spec(text, {"sweep.output=" + spec.output()}, "config_text");
      if (again.config_text() != text) bug("config_text does not round-trip", text);
    } catch (const ConfigError& e) {
      bug("config_text does not parse", std::string(e.what()) + "\n" + text);
    }
  } catch (const ConfigError&) {
    // Bad input, reported as such: what the parser is for.
  } catch (const std::exception& e) {
    bug("an exception that is not a ConfigError", e.what());
  }
  return 0;
}
