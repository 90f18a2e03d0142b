// Counter-based random streams (Philox4x64-10, Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC'11, via Random123).
//
// A stream is keyed by (sweep seed, the point's stream key, purpose): the Philox key is
// (seed, stream key) and the counter space is split by purpose (the Purpose enum below):
// counter = (block, purpose, substream, 0). A point's numbers are therefore a pure function of its
// seed, its parameter values and the position in the stream: they never depend on which rank or
// thread runs it, on where it sits in the grid, or on how many numbers another purpose consumed. A
// purpose whose draws belong to one moment of the run takes a substream per moment: the
// gradient-noise measurement at step t draws from substream t of `noise` (numerics 5), so what is
// measured at one step, and how often, never moves the numbers measured at another.
//
// The stream key (stream_key below) is a hash of the values of the parameters that change the
// simulated path, in canonical form:
//   - which keys enter: every key whose ParamDef says enters_streams (all model and data keys,
//     the optimizer's eta, batch, weight decay, ...); not sweep.seed (it is the other half of the
//     Philox key), and not keys that only say how long to run or what to observe
//     (optimizer.steps, optimizer.tol, optimizer.check_every, optimizer.divergence_bound,
//     record.every, sweep.name, sweep.output), so extending a run keeps its numbers;
//   - a key at its default value does not enter, so a key added to symsweep later leaves every
//     existing point's numbers as they were;
//   - keys named in sweep.common_random do not enter either: points that differ only in those
//     keys share their data, initialisation and batch sequence (common random numbers);
//   - numbers are canonicalised: integers as exact decimal integers, reals rounded to 15
//     significant digits ("%.15g", -0 as 0), so that linspace(0, 0.3, 4) and a typed list agree on
//     0.1 and 0.3; vectors and matrices as "<rows>x<cols>:" and their elements so; text and
//     choices as their text;
//   - every entry is "<key>=<length>:<canonical value>\n", entries sorted by key, and the key is
//     the first 8 bytes (little-endian) of the SHA-256 of their concatenation.
//
// Normals come from a 256-layer ziggurat (Marsaglia & Tsang, J. Stat. Softw. 5(8), 2000) driven by
// 64-bit Philox words: 8 bits choose the layer, 1 the sign, 53 the abscissa; the layer tables are
// computed once from CPU-independent exp and log (detmath.hpp), so the same words give the same
// normals on every node.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace symsweep {

class ParamSet;

/// What a stream's numbers are for. Each purpose has its own counter space.
enum class Purpose : std::uint64_t {
  data = 1,     ///< the finite dataset (inputs and label noise)
  init = 2,     ///< initial parameters
  batches = 3,  ///< minibatch indices, or fresh samples in online mode
  /// online mode: the fresh large batch of the gradient-noise diagnostics, substream t for the
  /// measurement at step t (a trace record's, or the end's when the run ends at t)
  noise = 4,
  lanczos = 5,  ///< start vectors of Lanczos (stability.hpp's top_eigenvalue, d > 64)
  tangent = 6,  ///< a deterministic run's end: tangent vector's start, projection weights
  /// the batches drawn for eta_worst_batch when there are more than stability.batch_limit of
  /// them (sgd_stability.hpp); drawn at the end of a point, so no other purpose's numbers move
  worst_batch = 7,
};

/// The stream key of a point: see the header comment for what enters it and how.
std::uint64_t stream_key(const ParamSet& params);

/// A source of standard normal numbers (the models' initialisers draw from it).
class NormalSource {
 public:
  virtual ~NormalSource() = default;
  virtual double normal() = 0;
};

/// One point's stream for one purpose. Cheap to create and copy; deterministic.
class Stream final : public NormalSource {
 public:
  /// key: the point's stream_key; substream: the counter's third word (0: the purpose's own
  /// stream, as before substreams existed).
  Stream(std::uint64_t seed, std::uint64_t key, Purpose purpose, std::uint64_t substream = 0);

  /// Next 64 uniformly random bits.
  std::uint64_t next_u64();
  /// Uniform in (0, 1] (never 0, so log() is safe).
  double uniform();
  /// Standard normal (ziggurat).
  double normal() override;
  /// n standard normals into out: the same numbers as n calls of normal().
  void normals(double* out, std::size_t n);
  /// Uniform integer in [0, n), n >= 1, without modulo bias (Lemire's method).
  std::uint64_t below(std::uint64_t n);

  /// Number of 64-bit words drawn so far (for tests and diagnostics).
  std::uint64_t words_drawn() const { return drawn_; }

 private:
  void refill();
  double normal_slow(std::uint64_t u);  // wedges and tail: about 1 draw in 100
  std::array<std::uint64_t, 2> key_;
  std::uint64_t purpose_;
  std::uint64_t substream_;
  static constexpr unsigned kBlocks = 2;           // Philox blocks computed per refill
  static constexpr unsigned kWords = 4 * kBlocks;  // words of buf_
  std::uint64_t block_ = 0;                        // next counter block
  std::array<std::uint64_t, kWords> buf_{};        // outputs of blocks block_ - kBlocks, ...
  unsigned used_ = kWords;                         // words of buf_ consumed
  std::uint64_t drawn_ = 0;
};

namespace detail {
/// The ziggurat's tail: a standard normal conditioned on x > normal_tail_start(), drawn from `s`
/// (exposed so that tests can check the far tail, which direct sampling reaches too rarely).
double normal_tail(Stream& s);
double normal_tail_start();
}  // namespace detail

}  // namespace symsweep
