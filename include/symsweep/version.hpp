// Version and provenance of this build.
#pragma once

#include <string>

namespace symsweep {

/// "0.1.0"
const char* version();
/// The git commit this binary was built from ("<sha>[-dirty]" or "unknown").
const char* git_commit();
/// "symsweep 0.1.0 (<commit>)"
std::string version_string();

}  // namespace symsweep
