// SHA-256 (FIPS 180-4), for the config_sha256 provenance attribute and the random streams' keys
// (private to the library).
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace symsweep {

/// The 32-byte digest of `data`.
std::array<unsigned char, 32> sha256(std::string_view data);
/// Lower-case hex digest of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace symsweep
