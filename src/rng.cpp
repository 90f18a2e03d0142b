#include "symsweep/rng.hpp"

#include <Random123/philox.h>
#include <Random123/boxmuller.hpp>
#include <Random123/uniform.hpp>

#include "symsweep/error.hpp"

namespace symsweep {

namespace {
using Philox = r123::Philox4x64;
__extension__ typedef unsigned __int128 u128;  // NOLINT: GCC/Clang extension, exact 64x64 product
}  // namespace

Stream::Stream(std::uint64_t seed, std::uint64_t point, Purpose purpose)
    : key_{seed, point}, purpose_(static_cast<std::uint64_t>(purpose)) {}

void Stream::refill() {
  Philox::ctr_type ctr = {{block_, purpose_, 0, 0}};
  Philox::key_type key = {{key_[0], key_[1]}};
  const Philox::ctr_type out = Philox()(ctr, key);
  for (unsigned i = 0; i < 4; ++i) buf_[i] = out.v[i];
  ++block_;
  used_ = 0;
}

std::uint64_t Stream::next_u64() {
  if (used_ == 4) refill();
  ++drawn_;
  return buf_[used_++];
}

double Stream::uniform() {
  return r123::u01<double>(next_u64());
}

double Stream::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const std::uint64_t u0 = next_u64();
  const std::uint64_t u1 = next_u64();
  const r123::double2 z = r123::boxmuller(u0, u1);
  spare_ = z.y;
  has_spare_ = true;
  return z.x;
}

std::uint64_t Stream::below(std::uint64_t n) {
  SYMSWEEP_VERIFY(n >= 1, "Stream::below needs n >= 1");
  // Lemire, "Fast random integer generation in an interval", ACM TOMACS 2019.
  u128 m = static_cast<u128>(next_u64()) * n;
  auto low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<u128>(next_u64()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

}  // namespace symsweep
