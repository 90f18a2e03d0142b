// SHA-256 (FIPS 180-4), for the config_sha256 provenance attribute (private to the library).
#pragma once

#include <string>
#include <string_view>

namespace symsweep {

/// Lower-case hex digest of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace symsweep
