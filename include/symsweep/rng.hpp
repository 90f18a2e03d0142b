// Counter-based random streams (Philox4x64-10, Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC'11, via Random123).
//
// A stream is keyed by (sweep seed, flat point index) and its counter space is split by purpose
// (data, init, batches): counter = (block, purpose, 0, 0). A point's numbers are therefore a pure
// function of (seed, point, purpose, position in the stream) and never depend on which rank or
// thread runs it, nor on how many numbers another purpose consumed.
#pragma once

#include <array>
#include <cstdint>

namespace symsweep {

/// What a stream's numbers are for. Each purpose has its own counter space.
enum class Purpose : std::uint64_t {
  data = 1,     ///< the finite dataset (inputs and label noise)
  init = 2,     ///< initial parameters
  batches = 3,  ///< minibatch indices, or fresh samples in online mode
};

/// A source of standard normal numbers (the models' initialisers draw from it).
class NormalSource {
 public:
  virtual ~NormalSource() = default;
  virtual double normal() = 0;
};

/// One point's stream for one purpose. Cheap to create and copy; deterministic.
class Stream final : public NormalSource {
 public:
  Stream(std::uint64_t seed, std::uint64_t point, Purpose purpose);

  /// Next 64 uniformly random bits.
  std::uint64_t next_u64();
  /// Uniform in (0, 1] (never 0, so log() is safe).
  double uniform();
  /// Standard normal (Box–Muller; numbers come in pairs, the second is kept for the next call).
  double normal() override;
  /// Uniform integer in [0, n), n >= 1, without modulo bias (Lemire's method).
  std::uint64_t below(std::uint64_t n);

  /// Number of 64-bit words drawn so far (for tests and diagnostics).
  std::uint64_t words_drawn() const { return drawn_; }

 private:
  void refill();
  std::array<std::uint64_t, 2> key_;
  std::uint64_t purpose_;
  std::uint64_t block_ = 0;             // next counter block
  std::array<std::uint64_t, 4> buf_{};  // outputs of the current block
  unsigned used_ = 4;                   // words of buf_ consumed
  std::uint64_t drawn_ = 0;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace symsweep
