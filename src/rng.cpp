#include "symsweep/rng.hpp"

#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "detmath.hpp"
#include "sha256.hpp"
#include "symsweep/error.hpp"
#include "symsweep/spec.hpp"
#include "text.hpp"

namespace symsweep {

namespace {
using Philox = r123::Philox4x64;
__extension__ typedef unsigned __int128 u128;  // NOLINT: GCC/Clang extension, exact 64x64 product

// ------------------------------------------------------------------------------- the stream key
std::string canonical_real(double v) {
  if (v == 0) return "0";  // -0 too
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::string canonical(const ParamDef& def, const Value& v) {
  switch (def.kind) {
    case ParamKind::Integer:
      return std::to_string(static_cast<long long>(v.numbers.front()));
    case ParamKind::Real:
      return canonical_real(v.numbers.front());
    case ParamKind::Text:
    case ParamKind::Choice:
      return v.text;
    case ParamKind::Vector:
    case ParamKind::Matrix: {
      std::string out = std::to_string(v.rows) + "x" + std::to_string(v.cols) + ":";
      for (std::size_t i = 0; i < v.numbers.size(); ++i) {
        out += (i ? "," : "") + canonical_real(v.numbers[i]);
      }
      return out;
    }
  }
  return v.text;
}

/// The canonical default of a key, or nothing when its default is not a valid value (a
/// required key).
bool parse_canonical_default(const ParamDef& def, std::string& out) {
  try {
    out = canonical(def, parse_value(def, def.default_text));
    return true;
  } catch (const ConfigError&) {
    return false;
  }
}

/// parse_canonical_default, remembered per thread: its result depends on the kind, the range,
/// the choices and the default's text alone (parse_value and canonical read nothing else), so
/// those, byte for byte, are the cache's key. Parsing a default (and the exception of a required
/// key) costs microseconds; stream_key asks for every key of the schema at every point.
bool canonical_default(const ParamDef& def, std::string& out) {
  std::string id(1, static_cast<char>(def.kind));
  const auto append_double = [&id](double v) {
    char bytes[sizeof v];
    std::memcpy(bytes, &v, sizeof v);
    id.append(bytes, sizeof v);
  };
  append_double(def.range.lo);
  append_double(def.range.hi);
  id += def.range.lo_open ? '1' : '0';
  id += def.range.hi_open ? '1' : '0';
  for (const std::string& c : def.choices) id += std::to_string(c.size()) + ":" + c;
  id += "|" + def.default_text;
  thread_local std::unordered_map<std::string, std::optional<std::string>> cache;
  auto it = cache.find(id);
  if (it == cache.end()) {
    std::string value;
    std::optional<std::string> entry;
    if (parse_canonical_default(def, value)) entry = std::move(value);
    it = cache.emplace(std::move(id), std::move(entry)).first;
  }
  if (!it->second) return false;
  out = *it->second;
  return true;
}

// ------------------------------------------------------------------------------------ ziggurat
// Layer i (1..255) spans [x[i-1]... ] as in Marsaglia & Tsang: w[i] = x_i / 2^53 scales a 53-bit
// integer to the layer's abscissa, k[i] = floor(2^53 x_{i-1} / x_i) is the integer below which a
// point is inside the layer's rectangle for sure, f[i] = exp(-x_i^2 / 2). Layer 0 is the base
// strip with the tail beyond r.
struct Ziggurat {
  static constexpr double kR = 3.6541528853610088;  // start of the tail
  static constexpr double kV = 4.92867323399e-3;    // area of every layer
  static constexpr double kM = 9007199254740992.0;  // 2^53
  std::array<std::uint64_t, 256> k{};
  std::array<double, 256> w{}, f{};

  Ziggurat() {
    double dn = kR, tn = kR;
    const double q = kV / det::exp(-0.5 * dn * dn);
    k[0] = static_cast<std::uint64_t>((dn / q) * kM);
    k[1] = 0;
    w[0] = q / kM;
    w[255] = dn / kM;
    f[0] = 1.0;
    f[255] = det::exp(-0.5 * dn * dn);
    for (int i = 254; i >= 1; --i) {
      dn = std::sqrt(-2.0 * det::log(kV / dn + det::exp(-0.5 * dn * dn)));
      k[static_cast<std::size_t>(i) + 1] = static_cast<std::uint64_t>((dn / tn) * kM);
      tn = dn;
      f[static_cast<std::size_t>(i)] = det::exp(-0.5 * dn * dn);
      w[static_cast<std::size_t>(i)] = dn / kM;
    }
  }
};

// Built during static initialisation (before main), from det:: functions only.
const Ziggurat kZiggurat;

/// x (>= 0) with the sign chosen by bit 8 of u: exactly `(u & 0x100) ? -x : x`, without a branch
/// (the sign is a coin flip, so a branch would be mispredicted every other draw).
inline double with_sign(double x, std::uint64_t u) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  bits ^= (u & 0x100) << 55;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

/// The ziggurat's fast path (about 99 draws in 100): the normal of word u when u falls inside
/// its layer's rectangle. j < 2^53 converts exactly through a signed integer (one instruction,
/// where an unsigned 64-bit conversion is a branchy sequence without AVX-512).
inline bool normal_fast(std::uint64_t u, double& out) {
  const std::size_t i = u & 0xFF;
  const std::uint64_t j = u >> 11;  // 53 bits
  if (j >= kZiggurat.k[i]) return false;
  out = with_sign(static_cast<double>(static_cast<std::int64_t>(j)) * kZiggurat.w[i], u);
  return true;
}

}  // namespace

double detail::normal_tail(Stream& s) {
  // Marsaglia (1964): x = r - log(U1) / r, accepted when -2 log(U2) > (x - r)^2.
  double x, y;
  do {
    x = -det::log(s.uniform()) / Ziggurat::kR;
    y = -det::log(s.uniform());
  } while (y + y < x * x);
  return Ziggurat::kR + x;
}

double detail::normal_tail_start() {
  return Ziggurat::kR;
}

std::uint64_t stream_key(const ParamSet& params) {
  const SweepSpec& spec = params.spec();
  std::vector<std::string> common;
  if (spec.find("sweep.common_random") >= 0) {
    for (auto k : text::split(spec.text("sweep.common_random"), ',')) {
      if (!k.empty()) common.emplace_back(k);
    }
  }
  std::vector<std::string> entries;
  for (const ParamDef& def : spec.schema()) {
    if (!def.enters_streams) continue;
    if (std::find(common.begin(), common.end(), def.key) != common.end()) continue;
    const std::string value = canonical(def, params.value(def.key));
    std::string fallback;
    if (canonical_default(def, fallback) && fallback == value) continue;
    entries.push_back(def.key + "=" + std::to_string(value.size()) + ":" + value + "\n");
  }
  std::sort(entries.begin(), entries.end());
  const auto digest = sha256(text::join(entries, ""));
  std::uint64_t key = 0;
  for (int i = 7; i >= 0; --i) key = (key << 8) | digest[static_cast<std::size_t>(i)];
  return key;
}

Stream::Stream(std::uint64_t seed, std::uint64_t key, Purpose purpose, std::uint64_t substream)
    : key_{seed, key}, purpose_(static_cast<std::uint64_t>(purpose)), substream_(substream) {}

void Stream::refill() {
  // kBlocks consecutive counter blocks at once: their rounds are independent, so the CPU overlaps
  // them (the words and their order are those of one block at a time).
  const Philox::key_type key = {{key_[0], key_[1]}};
  Philox philox;
  for (unsigned b = 0; b < kBlocks; ++b) {
    const Philox::ctr_type ctr = {{block_ + b, purpose_, substream_, 0}};
    const Philox::ctr_type out = philox(ctr, key);
    for (unsigned i = 0; i < 4; ++i) buf_[4 * b + i] = out.v[i];
  }
  block_ += kBlocks;
  used_ = 0;
}

std::uint64_t Stream::next_u64() {
  if (used_ == kWords) refill();
  ++drawn_;
  return buf_[used_++];
}

double Stream::uniform() {
  return r123::u01<double>(next_u64());
}

double Stream::normal() {
  const std::uint64_t u = next_u64();
  double x;
  if (normal_fast(u, x)) return x;  // inside layer i's rectangle: about 99 draws in 100
  return normal_slow(u);
}

double Stream::normal_slow(std::uint64_t u) {
  const Ziggurat& z = kZiggurat;
  while (true) {
    const std::size_t i = u & 0xFF;
    const std::uint64_t j = u >> 11;
    const bool negative = (u & 0x100) != 0;
    if (j < z.k[i]) {
      const double x = static_cast<double>(j) * z.w[i];
      return negative ? -x : x;
    }
    if (i == 0) {
      const double x = detail::normal_tail(*this);
      return negative ? -x : x;
    }
    const double x = static_cast<double>(j) * z.w[i];
    if (z.f[i] + uniform() * (z.f[i - 1] - z.f[i]) < det::exp(-0.5 * x * x)) {
      return negative ? -x : x;
    }
    u = next_u64();
  }
}

void Stream::normals(double* out, std::size_t n) {
  std::size_t at = 0;
  while (at < n) {
    if (used_ == kWords) refill();
    // The rest of the buffered words, each through the fast path; a draw that needs the slow
    // path (which may take further words) goes through normal() semantics exactly.
    const std::size_t take = std::min<std::size_t>(kWords - used_, n - at);
    std::size_t k = 0;
    for (; k < take; ++k) {
      if (!normal_fast(buf_[used_ + k], out[at + k])) break;
    }
    used_ += static_cast<unsigned>(k);
    drawn_ += k;
    at += k;
    if (k < take) {  // word used_ needs the slow path
      const std::uint64_t u = buf_[used_++];
      ++drawn_;
      out[at++] = normal_slow(u);
    }
  }
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
