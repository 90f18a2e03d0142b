#include "symsweep/error.hpp"

namespace symsweep::detail {

void verify_failed(const char* expr, const char* file, int line, const std::string& msg) {
  throw Error(std::string("internal check failed: ") + expr + " at " + file + ":" +
              std::to_string(line) + (msg.empty() ? "" : ": " + msg));
}

}  // namespace symsweep::detail
